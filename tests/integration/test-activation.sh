#!/bin/sh
# Socket activation as systemd does it (systemd-socket-activate passes the
# listening socket on the first connection): the agent takes the socket,
# serves, and leaves it in place when it exits. Prints TAP.
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, MAKE_TOKENS,
# SOFTHSM_MODULE, FAKE_PINENTRY.
set -u
: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${MAKE_TOKENS:?}" "${FAKE_PINENTRY:?}"
MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

. "$(dirname "$0")/../tap.sh"
if ! command -v systemd-socket-activate >/dev/null; then
  echo "1..0 # SKIP systemd-socket-activate is not installed (package systemd)"
  exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-activation-XXXXXX")
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
"$MAKE_TOKENS" "$T" >/dev/null || { echo "Bail out! make-tokens.sh failed"; exit 1; }
. "$T/env"
export XDG_CONFIG_HOME="$T/no-config"
SOCKET="$T/run/tessera/agent.sock"
mkdir -p "$T/run/tessera"
chmod 700 "$T/run/tessera"

# Like systemd, it passes only the environment it is told to.
systemd-socket-activate -l "$SOCKET" -E SOFTHSM2_CONF -E XDG_CONFIG_HOME "$TESSERA_AGENT" --socket "$SOCKET" --no-p11-kit \
  --module "$MODULE" --pinentry "$FAKE_PINENTRY" 2>"$T/agent.log" &
PID=$!
for _ in $(seq 100); do [ -S "$SOCKET" ] && break; sleep 0.05; done
if "$TESSERA_CLI" --socket "$SOCKET" tokens >"$T/out" 2>&1 && grep -q tessera-test-1 "$T/out"; then
  ok "the first client starts the agent on systemd's socket and is served"
else
  not_ok "the first client starts the agent on systemd's socket and is served" "$T/agent.log"
fi
grep -q "socket from systemd" "$T/agent.log" && ok "the agent says it took systemd's socket" \
  || not_ok "the agent says it took systemd's socket"
# Without --foreground: under systemd the agent must not fork away.
kill -0 "$PID" 2>/dev/null && ok "the activated agent stays in the foreground" \
  || not_ok "the activated agent stays in the foreground"
echo 123456 | "$TESSERA_CLI" --socket "$SOCKET" login tessera-test-1 --pin-stdin >/dev/null 2>&1 \
  && ok "login through the activated agent" || not_ok "login through the activated agent"
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] && ok "the agent exits 0 on SIGTERM" || not_ok "the agent exits 0 on SIGTERM (status $rc)"
[ -S "$SOCKET" ] && ok "systemd's socket stays (it is systemd's to remove)" \
  || not_ok "systemd's socket stays (it is systemd's to remove)"
tap_done
