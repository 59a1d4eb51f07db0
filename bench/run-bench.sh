#!/bin/bash
# Runs bench-sign against throwaway SoftHSM2 tokens: makes the tokens, starts
# tessera-agent on a private socket, times P-256 and RSA-2048 signing directly
# and through the agent, and removes everything again.
#   bench/run-bench.sh [BUILD_DIR] [bench-sign options, e.g. --iterations 100]
# BENCH_CPU=N runs agent and benchmark on CPU N alone (taskset), which
# shows each CPU's figures on a VM whose virtual CPUs differ in speed.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
BUILD=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  BUILD=$1
  shift
fi
MODULE=/usr/lib/softhsm/libsofthsm2.so
AGENT="$REPO/$BUILD/agent/tessera-agent"
BENCH="$REPO/$BUILD/bench/bench-sign"

ninja -C "$BUILD" >/dev/null || { echo "run-bench: build failed in $BUILD" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench.XXXXXX")
AGENT_PID=
cleanup() {
  if [ -n "$AGENT_PID" ]; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

tests/make-tokens.sh "$WORK/tokens"
export SOFTHSM2_CONF="$WORK/tokens/softhsm2.conf"

PIN_CPU=()
if [ -n "${BENCH_CPU:-}" ]; then
  PIN_CPU=(taskset -c "$BENCH_CPU")
  echo "Agent and benchmark pinned to CPU $BENCH_CPU"
fi

SOCKET="$WORK/agent.sock"
"${PIN_CPU[@]}" "$AGENT" --foreground --no-p11-kit --module "$MODULE" --socket "$SOCKET" 2>"$WORK/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do
  [ -S "$SOCKET" ] && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log" >&2; exit 1; }
  sleep 0.1
done

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
"${PIN_CPU[@]}" "$BENCH" --module "$MODULE" --socket "$SOCKET" --token tessera-test-1 --pin 123456 \
  --ec-key-id 03 --rsa-key-id 01 "$@"
