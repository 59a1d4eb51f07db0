# tests/tap.sh — TAP output for the shell test scripts (POSIX sh; source it).
#
#   ok DESCRIPTION
#   not_ok DESCRIPTION [FILE]   FILE's last lines follow as TAP comments
#   bail REASON                 "Bail out!" and exit 1
#   tap_done                    the plan line; exit status 1 after any not_ok

n=0
failed=0

ok() {
  n=$((n + 1))
  echo "ok $n - $1"
}

not_ok() {
  n=$((n + 1))
  failed=$((failed + 1))
  echo "not ok $n - $1"
  if [ $# -gt 1 ] && [ -s "$2" ]; then
    tail -n 20 "$2" | sed 's/^/# /'
  fi
  return 0
}

bail() {
  echo "Bail out! $*"
  exit 1
}

tap_done() {
  echo "1..$n"
  [ "$failed" -eq 0 ]
}
