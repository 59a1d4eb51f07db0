#!/bin/bash
# Smart-card benchmark: a private pcscd, one virtual EC PIV card and
# tessera-agent on OpenSC; times card insertion until the key is available
# (bench-insert), then watches the idle agent (card in, no client) for
# IDLE_SECONDS: its CPU time and wake-ups, in total and per thread.
# Removes everything it made again.
#   bench/run-card-bench.sh [BUILD_DIR]      (as root: pcscd needs a mount namespace)
# Environment: IDLE_SECONDS (60), ROUNDS (20), VCARD_PORT (36010; the
# readers use it and the next port), OPENSC_PKCS11.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
BUILD=${1:-build}
IDLE_SECONDS=${IDLE_SECONDS:-60}
ROUNDS=${ROUNDS:-20}
export VCARD_PORT=${VCARD_PORT:-36010}
MODULE=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
AGENT="$REPO/$BUILD/agent/tessera-agent"
CLI="$REPO/$BUILD/client/tessera"
BENCH="$REPO/$BUILD/bench/bench-insert"
VCARD="$REPO/tests/vcard"

[ "$(id -u)" = 0 ] || { echo "run-card-bench: run it as root (the private pcscd needs a mount namespace)" >&2; exit 2; }
for tool in pcscd unshare python3; do
  command -v "$tool" >/dev/null || { echo "run-card-bench: $tool is missing (tools/install-deps.sh)" >&2; exit 1; }
done
[ -r "$MODULE" ] || { echo "run-card-bench: $MODULE is missing (opensc-pkcs11)" >&2; exit 1; }
ninja -C "$BUILD" >/dev/null || { echo "run-card-bench: build failed in $BUILD" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-card-bench.XXXXXX")
AGENT_PID=
CARD_PID=
# shellcheck source=../tests/vcard/pcscd-env.sh
. "$VCARD/pcscd-env.sh"
cleanup() {
  if [ -n "$AGENT_PID" ]; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  if [ -n "$CARD_PID" ]; then
    kill -TERM "$CARD_PID" 2>/dev/null || true
    wait "$CARD_PID" 2>/dev/null || true
  fi
  stop_pcscd || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "run-card-bench: $*" >&2
  for log in "$WORK"/*.log; do
    [ -s "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

start_pcscd "$WORK/pcscd" 2>"$WORK/pcscd-env.log" || fail "no private pcscd"
"$VCARD/make-card" --type ec --serial 50000005 "$WORK/card" >"$WORK/make-card.log" 2>&1 || fail "make-card"
"$VCARD/virtual-piv" --port "$VCARD_PORT" --dir "$WORK/card" --control "$WORK/card.ctl" \
  >"$WORK/card.log" 2>&1 &
CARD_PID=$!
# OpenSC gives the token the last 8 bytes of the card's CHUID GUID as serial.
SERIAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["guid"][-16:])' "$WORK/card/card.json")

# No OpenSC file cache (each insertion reads the card, as a new card would
# be read) and no user configuration.
mkdir -p "$WORK/home"
printf 'app default {\n  framework pkcs15 {\n    use_file_caching = no;\n  }\n}\n' >"$WORK/opensc.conf"
export OPENSC_CONF="$WORK/opensc.conf" HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/no-config"

SOCKET="$WORK/agent.sock"
"$AGENT" --foreground --no-p11-kit --module "$MODULE" --socket "$SOCKET" \
  --pinentry "$REPO/tests/pinentry/fake-pinentry" 2>"$WORK/agent.log" &
AGENT_PID=$!

available_keys() {
  "$CLI" --socket "$SOCKET" keys --json 2>/dev/null |
    python3 -c 'import json,sys; print(sum(k["available"] for k in json.load(sys.stdin)))' 2>/dev/null ||
    echo 0
}
wait_keys() { # wait_keys N: up to 20 s for N available keys (a PIV card has 4)
  for _ in $(seq 200); do
    kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited"
    [ "$(available_keys)" = "$1" ] && return 0
    sleep 0.1
  done
  fail "the agent does not list $1 available keys"
}
wait_keys 4

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "Card: virtual PIV, EC P-256, token serial $SERIAL, reader port $VCARD_PORT"
"$BENCH" --socket "$SOCKET" --control "$WORK/card.ctl" --serial "$SERIAL" --rounds "$ROUNDS" ||
  fail "bench-insert failed"
wait_keys 4

# ---- the idle agent ----
# snapshot FILE: one line per thread: tid utime stime (ticks) run-ns
# wake-ups name. run-ns (schedstat: ns on a CPU) shows what the 10 ms
# ticks of utime/stime cannot: a thread that woke for a few microseconds.
snapshot() {
  local task tid line rest stat vol nonvol run
  : >"$1"
  for task in /proc/"$AGENT_PID"/task/*; do
    tid=${task##*/}
    line=$(cat "$task/stat" 2>/dev/null) || continue
    rest=${line##*) } # the name may hold spaces and parentheses
    read -r -a stat <<<"$rest"
    vol=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null) || continue
    nonvol=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null) || continue
    run=$(cut -d' ' -f1 "$task/schedstat" 2>/dev/null) || run=0
    # stat[11], stat[12]: utime, stime (fields 14 and 15 of the whole line)
    printf '%s %s %s %s %s %s\n' "$tid" "${stat[11]}" "${stat[12]}" "$run" "$((vol + nonvol))" \
      "$(cat "$task/comm" 2>/dev/null)" >>"$1"
  done
}
process_cpu_ticks() { # the whole process, threads that ended included
  local line rest stat
  line=$(cat "/proc/$AGENT_PID/stat")
  rest=${line##*) }
  read -r -a stat <<<"$rest"
  echo $((stat[11] + stat[12]))
}

# The tail of the last insertion (OpenSC reading the card, pcscd) is over
# long before this; the idle window starts with nothing under way.
sleep 2
TICK=$(getconf CLK_TCK)
cpu0=$(process_cpu_ticks)
snapshot "$WORK/idle.before"
t0=$(date +%s.%N)
sleep "$IDLE_SECONDS"
cpu1=$(process_cpu_ticks)
snapshot "$WORK/idle.after"
t1=$(date +%s.%N)
kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited while idle"

python3 - "$WORK/idle.before" "$WORK/idle.after" "$t0" "$t1" "$cpu0" "$cpu1" "$TICK" "$AGENT_PID" <<'PY'
import sys
before_f, after_f, t0, t1, cpu0, cpu1, tick, pid = sys.argv[1:]
secs = float(t1) - float(t0)
tick = int(tick)

def load(path):
    threads = {}
    for line in open(path):
        tid, ut, st, run, wakes, name = line.rstrip("\n").split(" ", 5)
        threads[tid] = (int(ut) + int(st), int(run), int(wakes), name)
    return threads

before, after = load(before_f), load(after_f)
cpu_ms = (int(cpu1) - int(cpu0)) * 1000 / tick
rows, wakes_total, run_total = [], 0, 0
for tid in sorted(set(before) | set(after), key=int):
    if tid in before and tid in after:
        b, a = before[tid], after[tid]
        wakes, run_us = a[2] - b[2], (a[1] - b[1]) / 1000
        wakes_total += wakes
        run_total += run_us
        rows.append((tid, a[3], "%d" % wakes, "%.3f" % (wakes / secs),
                     "%.1f" % ((a[0] - b[0]) * 1000 / tick), "%.0f" % run_us))
    elif tid in after:
        rows.append((tid, after[tid][3], "started", "", "", ""))
    else:
        rows.append((tid, before[tid][3], "ended", "", "", ""))
print("Idle agent (pid %s), card inserted, no client, %.1f s:" % (pid, secs))
print("  CPU time  %8.1f ms   %8.3f ms/s   (utime+stime, in %.0f ms ticks; on a CPU: %.0f us)"
      % (cpu_ms, cpu_ms / secs, 1000 / tick, run_total))
print("  wake-ups  %8d      %8.3f /s     (voluntary + nonvoluntary context switches)"
      % (wakes_total, wakes_total / secs))
print("  per thread:")
print("    %-8s %-16s %9s %8s %8s %9s" % ("tid", "name", "wake-ups", "per s", "CPU ms", "on-CPU us"))
for r in rows:
    print("    %-8s %-16s %9s %8s %8s %9s" % r)
PY
