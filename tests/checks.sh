# tests/checks.sh — the checks the shell tests share (POSIX sh; source it
# after tap.sh, with $T set). Each runs COMMAND with its output in $T/out
# and $T/err; on failure $T/err follows as TAP comments.
#
#   check DESCRIPTION COMMAND...           the command must succeed
#   check_fails DESCRIPTION COMMAND...     ... must fail
#   check_exit CODE DESCRIPTION COMMAND... ... must exit with CODE
#   check_grep DESCRIPTION FILE PATTERN    FILE must match PATTERN (grep)

check() {
  desc=$1
  shift
  if "$@" >"$T/out" 2>"$T/err"; then ok "$desc"; else not_ok "$desc" "$T/err"; fi
}

check_fails() {
  desc=$1
  shift
  if "$@" >"$T/out" 2>"$T/err"; then
    echo "succeeded, expected a failure" >>"$T/err"
    not_ok "$desc" "$T/err"
  else ok "$desc"; fi
}

check_exit() {
  want=$1 desc=$2
  shift 2
  "$@" >"$T/out" 2>"$T/err"
  got=$?
  if [ "$got" -eq "$want" ]; then ok "$desc"; else
    echo "exit status $got, expected $want" >>"$T/err"
    not_ok "$desc" "$T/err"
  fi
}

check_grep() {
  if grep -q -- "$3" "$2"; then ok "$1"; else
    { echo "no match for: $3"; cat "$2"; } >"$T/grep-err"
    not_ok "$1" "$T/grep-err"
  fi
}
