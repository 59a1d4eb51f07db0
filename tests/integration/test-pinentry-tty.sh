#!/bin/sh
# The real pinentry-tty (Debian's), with the PIN typed by a person: tmux
# gives the `tessera` CLI a terminal, the agent's pinentry-tty asks on that
# terminal, and tmux send-keys types the PIN. Prints TAP.
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, MAKE_TOKENS,
# SOFTHSM_MODULE.
set -u

: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${MAKE_TOKENS:?}"
MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PINENTRY=${PINENTRY_TTY:-/usr/bin/pinentry-tty}

. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/../agent.sh"

command -v tmux >/dev/null || bail "tmux is not installed (tools/install-deps.sh installs it)"
[ -x "$PINENTRY" ] || bail "$PINENTRY is not installed (tools/install-deps.sh installs it)"

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-tty-XXXXXX")
AGENT_PID=
TMUX_SOCK="$T/tmux.sock"
cleanup() {
  tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

"$MAKE_TOKENS" "$T" >/dev/null || bail "make-tokens.sh failed"
. "$T/env"
export XDG_CONFIG_HOME="$T/no-config"
agent_start "$MODULE" "$PINENTRY"
SOCKET=$TESSERA_SOCKET

printf 'signed after a PIN typed on a terminal\n' >"$T/msg"
# The CLI runs on the tmux terminal, so that is where the agent asks.
tmux -S "$TMUX_SOCK" new-session -d -s pin -x 160 -y 40 \
  "'$TESSERA_CLI' --socket '$SOCKET' sign p256 --in '$T/msg' --out '$T/sig'; echo \$? >'$T/exit'; sleep 60"

screen() { tmux -S "$TMUX_SOCK" capture-pane -p -t pin; }
# Waits until the screen shows the text; 0 when it did.
wait_screen() {
  i=0
  while [ $i -lt 200 ]; do
    screen | grep -q "$1" && return 0
    i=$((i + 1))
    sleep 0.05
  done
  return 1
}

if wait_screen "PIN"; then ok "pinentry-tty asks for the PIN on the client's terminal"
else not_ok "pinentry-tty asks for the PIN on the client's terminal"; screen | sed 's/^/# /'; fi
screen | grep -q "tessera (pid" && ok "the dialog names the program that asks" \
  || not_ok "the dialog names the program that asks"
screen | grep -q "tessera-test-1" && ok "the dialog names the token" \
  || not_ok "the dialog names the token"

tmux -S "$TMUX_SOCK" send-keys -t pin "123456" Enter
i=0
while [ ! -s "$T/exit" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
[ "$(cat "$T/exit" 2>/dev/null)" = "0" ] && ok "tessera sign succeeds after the typed PIN" \
  || { not_ok "tessera sign succeeds after the typed PIN"; screen | sed 's/^/# /'; }
screen | grep -q "123456" && not_ok "the PIN is not echoed" || ok "the PIN is not echoed"

openssl x509 -in "$T/p256.pem" -pubkey -noout >"$T/pub.pem"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig" "$T/msg" >/dev/null 2>&1 \
  && ok "openssl verifies the signature" || not_ok "openssl verifies the signature"
grep -q "123456" "$T/agent.log" && not_ok "the agent's log holds no PIN" \
  || ok "the agent's log holds no PIN"

tap_done
