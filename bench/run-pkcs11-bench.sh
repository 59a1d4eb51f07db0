#!/bin/bash
# Runs bench-pkcs11 against throwaway SoftHSM2 tokens: makes the tokens,
# starts tessera-agent and `p11-kit server` on private sockets, logs the
# agent in, times P-256 and RSA-2048 signing through tessera-pkcs11.so,
# SoftHSM2 directly and p11-kit's remoting, warm and cold, and removes
# everything again.
#   bench/run-pkcs11-bench.sh [BUILD_DIR] [bench-pkcs11 options, e.g. --cold-runs 50]
# BENCH_CPU=N runs agent, p11-kit server and benchmark on CPU N alone
# (taskset), as bench/run-bench.sh does.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
BUILD=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  BUILD=$1
  shift
fi
BUILD=$(cd "$BUILD" && pwd)
MODULE=/usr/lib/softhsm/libsofthsm2.so
P11_KIT_CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
TOKEN=tessera-test-1
PIN=123456
AGENT="$BUILD/agent/tessera-agent"
CLI="$BUILD/client/tessera"
TESSERA_MODULE="$BUILD/client/pkcs11/tessera-pkcs11.so"
BENCH="$BUILD/bench/bench-pkcs11"

# Only what this benchmark runs: the rest of the tree may be mid-edit.
ninja -C "$BUILD" bench/bench-pkcs11 agent/tessera-agent client/tessera \
  client/pkcs11/tessera-pkcs11.so >/dev/null ||
  { echo "run-pkcs11-bench: build failed in $BUILD" >&2; exit 1; }
command -v p11-kit >/dev/null || { echo "run-pkcs11-bench: p11-kit (the tool) is missing" >&2; exit 1; }
[ -f "$P11_KIT_CLIENT" ] || { echo "run-pkcs11-bench: $P11_KIT_CLIENT is missing" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-pkcs11-bench.XXXXXX")
AGENT_PID=
P11_KIT_PID=
stop() { # stop PID: ends one process this script started
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop "$P11_KIT_PID"
  stop "$AGENT_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for_socket() { # wait_for_socket PATH PID LOG
  for _ in $(seq 100); do
    [ -S "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "run-pkcs11-bench: no socket at $1" >&2
  cat "$3" >&2
  exit 1
}

tests/make-tokens.sh "$WORK/tokens"
export SOFTHSM2_CONF="$WORK/tokens/softhsm2.conf"

PIN_CPU=()
if [ -n "${BENCH_CPU:-}" ]; then
  PIN_CPU=(taskset -c "$BENCH_CPU")
  echo "Agent, p11-kit server and benchmark pinned to CPU $BENCH_CPU"
fi

# The agent reads no configuration of the user's: an empty file of its own.
printf '[agent]\n' >"$WORK/agent.conf"
SOCKET="$WORK/agent.sock"
"${PIN_CPU[@]}" "$AGENT" --foreground --no-p11-kit --config "$WORK/agent.conf" \
  --module "$MODULE" --socket "$SOCKET" 2>"$WORK/agent.log" &
AGENT_PID=$!
wait_for_socket "$SOCKET" "$AGENT_PID" "$WORK/agent.log"
echo "$PIN" | "$CLI" --socket "$SOCKET" login --pin-stdin "$TOKEN" >/dev/null

# p11-kit server starts a p11-kit-remote per connection, which loads SoftHSM2.
P11_KIT_SOCKET="$WORK/p11-kit.sock"
"${PIN_CPU[@]}" p11-kit server --foreground --provider "$MODULE" --name "$P11_KIT_SOCKET" \
  "pkcs11:token=$TOKEN" >"$WORK/p11-kit.log" 2>&1 &
P11_KIT_PID=$!
wait_for_socket "$P11_KIT_SOCKET" "$P11_KIT_PID" "$WORK/p11-kit.log"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
"${PIN_CPU[@]}" "$BENCH" --pin "$PIN" --token "$TOKEN" --ec-key-id 03 --rsa-key-id 01 \
  --tessera-module "$TESSERA_MODULE" --tessera-socket "$SOCKET" \
  --softhsm-module "$MODULE" \
  --p11-kit-module "$P11_KIT_CLIENT" --p11-kit-socket "$P11_KIT_SOCKET" "$@"
echo "Load average afterwards: $(cut -d' ' -f1-3 /proc/loadavg)"
