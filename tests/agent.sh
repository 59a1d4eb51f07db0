# tests/agent.sh — a private tessera-agent for the shell tests (POSIX sh;
# source it after tap.sh, with $T, $TESSERA_AGENT and $TESSERA_CLI set).
#
#   scripted_pinentry          $FAKE_PINENTRY_SCRIPT and _LOG in $T, empty:
#                              the scripted pinentry cancels every dialog
#   answers LINE...            its answers from now on ("pin 123456", ...)
#   agent_start MODULE PINENTRY [AGENT_OPTION...]
#                              the agent (AGENT_PID, log in $T/agent.log)
#                              on TESSERA_SOCKET=$T/agent.sock (never the
#                              user's), once it answers `tessera status`
#   wait_keys N                until the agent lists N available keys, their
#                              list in $T/keys.json (10 s at most; else fails)
# The caller's cleanup kills $AGENT_PID.

scripted_pinentry() {
  export FAKE_PINENTRY_SCRIPT="$T/pinentry.script" FAKE_PINENTRY_LOG="$T/pinentry.log"
  : >"$FAKE_PINENTRY_SCRIPT"
  : >"$FAKE_PINENTRY_LOG"
}

answers() {
  rm -f "$FAKE_PINENTRY_SCRIPT.pos"
  printf '%s\n' "$@" >"$FAKE_PINENTRY_SCRIPT"
}

agent_start() {
  agent_module=$1 agent_pinentry=$2
  shift 2
  export TESSERA_SOCKET="$T/agent.sock"
  "$TESSERA_AGENT" --foreground --no-p11-kit --module "$agent_module" \
    --socket "$TESSERA_SOCKET" --pinentry "$agent_pinentry" "$@" >"$T/agent.log" 2>&1 &
  AGENT_PID=$!
  agent_wait=0
  until "$TESSERA_CLI" --socket "$TESSERA_SOCKET" status >/dev/null 2>&1; do
    agent_wait=$((agent_wait + 1))
    kill -0 "$AGENT_PID" 2>/dev/null || { tail -n 30 "$T/agent.log"; bail "the agent exited"; }
    [ "$agent_wait" -lt 200 ] || { tail -n 30 "$T/agent.log"; bail "the agent did not start"; }
    sleep 0.05
  done
}

wait_keys() {
  for _ in $(seq 200); do
    "$TESSERA_CLI" --socket "$TESSERA_SOCKET" keys --json >"$T/keys.json" 2>/dev/null &&
      [ "$(python3 -c 'import json, sys; print(sum(k["available"] for k in json.load(open(sys.argv[1]))))' "$T/keys.json")" = "$1" ] &&
      return 0
    sleep 0.05
  done
  return 1
}
