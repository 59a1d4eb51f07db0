#!/bin/sh
# What `meson install` puts in place for the PKCS#11 module: the module in
# <libdir>/pkcs11, exporting the PKCS#11 entry points only and needing
# nothing but libc and OpenSSL (it is loaded into other programs), and
# p11-kit's registration naming exactly that file and keeping the agent out.
# Prints TAP.
#
# Environment (from meson): BUILD_ROOT.
set -u
: "${BUILD_ROOT:?}"
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/sanitizers.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-install-XXXXXX")
trap 'rm -rf "$T"' EXIT

meson install -C "$BUILD_ROOT" --destdir "$T/root" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
  bail "meson install failed: $(tail -n 5 "$T/install.log")"

registration=$(find "$T/root" -path '*/p11-kit/modules/tessera.module' | head -n 1)
[ -n "$registration" ] && ok "tessera.module is installed in p11-kit's module directory" ||
  bail "no tessera.module installed"

module_path=$(sed -n 's/^module: *//p' "$registration")
case $module_path in
/*/pkcs11/tessera-pkcs11.so) ok "the registration names the module by absolute path" ;;
*) not_ok "the registration names the module by absolute path ($module_path)" ;;
esac
[ -f "$T/root$module_path" ] && ok "the module is installed where the registration says" ||
  not_ok "the module is installed where the registration says ($module_path)"
grep -qx 'disable-in: tessera-agent' "$registration" && ok "the agent never loads it (disable-in)" ||
  not_ok "the agent never loads it (disable-in)" "$registration"

so="$T/root$module_path"
nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^C_' >"$T/extra-symbols"
[ -s "$T/extra-symbols" ] && not_ok "only C_* symbols are exported" "$T/extra-symbols" ||
  ok "only C_* symbols are exported"
nm -D --defined-only "$so" | grep -q ' C_GetFunctionList$' && ok "C_GetFunctionList is exported" ||
  not_ok "C_GetFunctionList is exported"
# (The sanitizer runtimes of an ASan/UBSan build are no dependency of ours.)
readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
  grep -v -e '^libc\.so' -e '^libcrypto\.so' -e '^libasan\.so' -e '^libubsan\.so' >"$T/extra-needed"
[ -s "$T/extra-needed" ] && not_ok "it needs only libc and OpenSSL (no GLib)" "$T/extra-needed" ||
  ok "it needs only libc and OpenSSL (no GLib)"

# Loadable as installed: OpenSC's pkcs11-tool reads its C_GetInfo (and,
# with no agent, finds no slots: its exit status says only that).
(preload_sanitizers "$so" && TESSERA_SOCKET="$T/no-agent.sock" \
  pkcs11-tool --module "$so" --show-info >"$T/info" 2>&1)
if grep -q 'Tessera agent forwarder' "$T/info"; then
  ok "the installed module loads and introduces itself"
else
  not_ok "the installed module loads and introduces itself" "$T/info"
fi

tap_done
