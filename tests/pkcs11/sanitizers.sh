# tests/pkcs11/sanitizers.sh — sourced by the shell tests that load
# tessera-pkcs11.so into third-party programs.
#
# preload_sanitizers MODULE: when MODULE comes from an ASan build, programs
# that load it must start with ASan's runtime, so it goes into LD_PRELOAD;
# leaks are then not checked (they would be the programs', not ours: the
# module's own are checked by test-module).
preload_sanitizers() {
  _asan=$(ldd "$1" | awk '/libasan/ { print $3 }')
  [ -n "$_asan" ] || return 0
  export LD_PRELOAD="$_asan"
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}
