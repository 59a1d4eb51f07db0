#!/bin/bash
# Installs every Debian 12 package Tessera needs to build, run the demo and
# run the tests. Run as root. Idempotent: does nothing when all packages are
# already installed, and runs `apt-get update` at most once per boot.
set -euo pipefail

# Build tools, libraries, the SoftHSM2 token and the PKCS#11 / crypto CLIs
# the demo and tests drive (with NSS's certutil/modutil/cmsutil and
# OpenSSL's pkcs11 engine for the module's interop tests), the real
# pinentry programs (tested under tmux), pcsc-lite with vsmartcard's virtual
# reader for the virtual PIV card, OpenLDAP's libldap for recipients'
# certificates with slapd and its clients for a throwaway directory in the
# tests, GMime for S/MIME messages, mutt and neomutt for the mutt S/MIME test; llvm brings llvm-symbolizer for
# readable sanitizer stack traces; GNU time for peak RSS in the benchmarks.
PACKAGES=(
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev llvm
  libglib2.0-dev libp11-kit-dev p11-kit libssl-dev openssl libgmime-3.0-dev
  softhsm2 opensc gnutls-bin libnss3-tools libengine-pkcs11-openssl
  pinentry-tty pinentry-curses tmux
  pcscd libpcsclite-dev vsmartcard-vpcd pcsc-tools python3-cryptography
  libldap2-dev slapd ldap-utils
  mutt neomutt
  udev systemd
  util-linux python3 procps xxd time
)

# One stamp per boot: a new boot may have stale package lists, the same boot
# does not need a second download.
STAMP_DIR=/var/cache/tessera
STAMP="$STAMP_DIR/apt-updated"

missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
      echo "$pkg"
    fi
  done
}

boot_id() {
  cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown-boot
}

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (it calls apt-get)" >&2
  exit 1
fi

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(boot_id)" ]; then
  echo "install-deps: package lists already updated in this boot"
else
  echo "install-deps: apt-get update"
  apt-get update
  mkdir -p "$STAMP_DIR"
  boot_id >"$STAMP"
fi

apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
