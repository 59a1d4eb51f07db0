# tests/smime/common.sh — sourced by the S/MIME shell tests (tests/smime,
# tests/mutt), after tap.sh and with $T set: the checks they share, and the
# agent on SoftHSM2 tokens made by make-tokens.sh --smime.
#   check DESCRIPTION COMMAND...         the command must succeed
#   check_fails DESCRIPTION COMMAND...   ... must fail
#   check_exit CODE DESCRIPTION COMMAND... ... must exit with CODE
#   check_grep DESCRIPTION FILE PATTERN  FILE must match
#   smime_tokens                         the tokens in $T ($T/env, $T/ca.pem ...)
#   smime_agent_start TOKEN...           the agent (AGENT_PID) on $TESSERA_SOCKET
#                                        with the scripted pinentry, logged in
# The command's output is in $T/out and $T/err.

# Nothing of this machine's S/MIME configuration (the admin's in
# /etc/xdg/tessera, the environment's) changes the tests.
unset TESSERA_SMIME_CA TESSERA_SMIME_CRL
export XDG_CONFIG_DIRS="$T/no-system-config"

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
tessera() { "$TESSERA_CLI" "$@"; }

smime_tokens() {
  "$MAKE_TOKENS" "$T" --smime || bail "make-tokens.sh failed"
  . "$T/env"
}

# The caller has set XDG_CONFIG_HOME and XDG_DATA_HOME (no user's files).
smime_agent_start() {
  export TESSERA_SOCKET="$T/agent.sock"
  export FAKE_PINENTRY_SCRIPT="$T/pinentry.script" FAKE_PINENTRY_LOG="$T/pinentry.log"
  : >"$FAKE_PINENTRY_SCRIPT"
  "$TESSERA_AGENT" --foreground --no-p11-kit --module "$MODULE" --socket "$TESSERA_SOCKET" \
    --pinentry "$FAKE_PINENTRY" 2>"$T/agent.log" &
  AGENT_PID=$!
  i=0
  until tessera status >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 200 ] || { cat "$T/agent.log"; bail "the agent did not start"; }
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$T/agent.log"; bail "the agent exited"; }
    sleep 0.05
  done
  for tok in "$@"; do
    echo 123456 | tessera login "$tok" --pin-stdin >/dev/null || bail "cannot log in to $tok"
  done
}
