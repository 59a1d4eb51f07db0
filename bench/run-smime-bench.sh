#!/bin/bash
# Times `tessera smime sign` and `sign-encrypt` through the agent on a
# throwaway SoftHSM2 token against `openssl cms` with the same key as a PEM
# file, for a 1 KB and a 100 MB message and for "mixed" (the 100 MB
# attachment after a short text part, in a multipart/mixed), and prints a table: median wall
# time of each path, the ratio tessera/openssl and both peak RSS figures,
# and the verdict against the targets (ratio <= 1.1 and tessera's peak RSS
# <= 64 MB at 100 MB).
#   bench/run-smime-bench.sh [BUILD_DIR]
# The signing key (RSA-2048) is made as a PEM file first and imported into
# the token, so both paths sign with the same key; its certificate (from a
# CA of this run) has the From address as email SAN and allows
# keyEncipherment, so tessera also encrypts to the sender (encryption to
# self) and openssl is given the same two recipients. Both paths write
# AES-256-CBC EnvelopedData around a clear-signed SHA-256 message; openssl
# cms -encrypt gets -stream (without it, it reads all its input first: 200 MB
# RSS and twice the time at 100 MB).
# BENCH_CPU=N runs agent, tessera and openssl on CPU N alone (taskset), as
# bench/run-bench.sh does. SMIME_BENCH_RUNS_SMALL / _LARGE (default 5 / 3)
# set the runs per path and size. Needs GNU time (/usr/bin/time).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  BUILD=$1
  shift
fi
BUILD=$(cd "$BUILD" && pwd)
MODULE=/usr/lib/softhsm/libsofthsm2.so
AGENT="$BUILD/agent/tessera-agent"
CLI="$BUILD/client/tessera"
TOKEN=tessera-smime-bench
PIN=123456
RUNS_SMALL=${SMIME_BENCH_RUNS_SMALL:-5}
RUNS_LARGE=${SMIME_BENCH_RUNS_LARGE:-3}

# Only what this benchmark runs: the rest of the tree may be mid-edit.
ninja -C "$BUILD" agent/tessera-agent client/tessera >/dev/null ||
  { echo "run-smime-bench: build failed in $BUILD" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "run-smime-bench: GNU time (/usr/bin/time) is missing" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-smime-bench.XXXXXX")
AGENT_PID=
cleanup() {
  if [ -n "$AGENT_PID" ]; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

quiet() { # quiet COMMAND...: its output only if it fails
  if ! "$@" >"$WORK/quiet.log" 2>&1; then
    echo "run-smime-bench: failed: $*" >&2
    cat "$WORK/quiet.log" >&2
    exit 1
  fi
}

tests/make-tokens.sh "$WORK/tokens"
export SOFTHSM2_CONF="$WORK/tokens/softhsm2.conf"

# A CA of this run, the sender's key and certificate (the key into the
# token), the recipient's certificate (software only: encryption needs no key).
K=$WORK/keys
mkdir -p "$K"
quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$K/ca.key" -out "$K/ca.pem" -subj "/CN=Tessera S-MIME bench CA" -days 30
cert() { # cert NAME ADDRESS KEYUSAGE SERIAL
  printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, $3" \
    "extendedKeyUsage = emailProtection" "subjectAltName = email:$2" \
    "subjectKeyIdentifier = hash" >"$K/$1.cnf"
  quiet openssl req -new -newkey rsa:2048 -nodes -keyout "$K/$1.key" -subj "/CN=$1" -out "$K/$1.csr"
  quiet openssl x509 -req -in "$K/$1.csr" -CA "$K/ca.pem" -CAkey "$K/ca.key" -set_serial "$4" \
    -days 30 -extfile "$K/$1.cnf" -out "$K/$1.pem"
}
cert alice alice@bench.example "digitalSignature, nonRepudiation, keyEncipherment" 1
cert bob bob@bench.example keyEncipherment 2
quiet openssl x509 -in "$K/alice.pem" -outform DER -out "$K/alice.der"
quiet softhsm2-util --init-token --free --label "$TOKEN" --pin "$PIN" --so-pin 12345678
p11() { quiet pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --pin "$PIN" "$@"; }
p11 --write-object "$K/alice.key" --type privkey --id 61 --label bench-alice --usage-sign --usage-decrypt
p11 --write-object "$K/alice.der" --type cert --id 61 --label bench-alice

PIN_CPU=()
if [ -n "${BENCH_CPU:-}" ]; then
  PIN_CPU=(taskset -c "$BENCH_CPU")
  echo "Agent, tessera and openssl pinned to CPU $BENCH_CPU"
fi

# The agent and the CLI read no configuration or store of the user's.
export XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
printf '[agent]\n' >"$WORK/agent.conf"
SOCKET="$WORK/agent.sock"
"${PIN_CPU[@]}" "$AGENT" --foreground --no-p11-kit --config "$WORK/agent.conf" \
  --module "$MODULE" --socket "$SOCKET" 2>"$WORK/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do
  [ -S "$SOCKET" ] && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log" >&2; exit 1; }
  sleep 0.1
done
[ -S "$SOCKET" ] || { echo "run-smime-bench: the agent did not start" >&2; exit 1; }
echo "$PIN" | "$CLI" --socket "$SOCKET" login --pin-stdin "$TOKEN" >/dev/null

# The messages: outer headers, then the MIME entity openssl is given.
M=$WORK/msg
mkdir -p "$M"
headers() { # openssl writes MIME-Version itself
  printf '%s\n' "From: Alice <alice@bench.example>" "To: Bob <bob@bench.example>" \
    "Subject: S/MIME benchmark" "Date: Tue, 01 Dec 2026 22:00:00 +0000" \
    "Message-ID: <bench@bench.example>"
}
{ printf 'Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n'
  for i in $(seq 14); do printf 'Line %02d of a short 7-bit test message, about 1 KB in all.\n' "$i"; done
} >"$M/small.entity"
# 74,000,000 random bytes in base64 lines of 76: 99.96 MB.
{ printf 'Content-Type: application/octet-stream; name=data.bin\nContent-Transfer-Encoding: base64\n'
  printf 'Content-Disposition: attachment; filename=data.bin\n\n'
  head -c 74000000 /dev/urandom | base64 -w 76
} >"$M/large.entity"
# The same attachment after a short text part, in a multipart/mixed.
{ printf 'Content-Type: multipart/mixed; boundary="=-bench"\n\n--=-bench\n'
  printf 'Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n'
  printf 'The attachment follows.\n\n--=-bench\n'
  tail -n +2 "$M/large.entity"
  printf '\n--=-bench--\n'
} >"$M/mixed.entity"
for s in small large mixed; do
  { headers; echo "MIME-Version: 1.0"; cat "$M/$s.entity"; } >"$M/$s.eml"
done

# The two paths. Same key, same recipients (bob and, as tessera does, the
# sender), SHA-256, AES-256-CBC; openssl's output gets the outer headers too.
tessera_run() { # tessera_run OP MESSAGE OUT
  case $1 in
  sign) "${PIN_CPU[@]}" "$CLI" --socket "$SOCKET" --no-prompt smime sign --ca "$K/ca.pem" "$2" --out "$3" ;;
  sign-encrypt) "${PIN_CPU[@]}" "$CLI" --socket "$SOCKET" --no-prompt smime sign-encrypt \
    --ca "$K/ca.pem" --cert "$K/bob.pem" "$2" --out "$3" ;;
  esac
}
openssl_run() { # openssl_run OP ENTITY OUT
  case $1 in
  sign) { headers; "${PIN_CPU[@]}" openssl cms -sign -in "$2" -signer "$K/alice.pem" \
    -inkey "$K/alice.key" -md sha256; } >"$3" ;;
  sign-encrypt) { headers
    "${PIN_CPU[@]}" openssl cms -sign -in "$2" -signer "$K/alice.pem" -inkey "$K/alice.key" -md sha256 |
      "${PIN_CPU[@]}" openssl cms -encrypt -stream -aes256 "$K/bob.pem" "$K/alice.pem"; } >"$3" ;;
  esac
}
export -f headers tessera_run openssl_run
export CLI SOCKET K

# timed PATH OP SIZE: one run; prints "seconds peak-RSS-KB" (GNU time's %M
# is the largest process of the run: tessera, or the larger openssl).
timed() {
  local path=$1 op=$2 size=$3 t0 t1 in out=$WORK/out.$1
  if [ "$path" = tessera ]; then in=$M/$size.eml; else in=$M/$size.entity; fi
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%M' -o "$WORK/rss" bash -c "$(declare -p PIN_CPU); ${path}_run \"\$@\"" _ \
    "$op" "$in" "$out" 2>"$WORK/err.$path" ||
    { echo "run-smime-bench: $path $op $size failed" >&2; cat "$WORK/err.$path" >&2; exit 1; }
  t1=$EPOCHREALTIME
  echo "$(calc "$t1 - $t0") $(tail -1 "$WORK/rss")"
}
calc() { awk -v OFMT=%.6f "BEGIN { print $1 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Both paths' output must be what the other side accepts (checked on the 1 KB message).
check_outputs() {
  tessera_run sign "$M/small.eml" "$WORK/c.t.sign"
  quiet openssl cms -verify -in "$WORK/c.t.sign" -CAfile "$K/ca.pem" -out /dev/null
  tessera_run sign-encrypt "$M/small.eml" "$WORK/c.t.se"
  quiet openssl cms -decrypt -in "$WORK/c.t.se" -recip "$K/bob.pem" -inkey "$K/bob.key" -out "$WORK/c.t.dec"
  quiet openssl cms -verify -in "$WORK/c.t.dec" -CAfile "$K/ca.pem" -out /dev/null
  openssl_run sign-encrypt "$M/small.entity" "$WORK/c.o.se"
  quiet "$CLI" --socket "$SOCKET" --no-prompt smime decrypt "$WORK/c.o.se" --out "$WORK/c.o.dec"
  quiet "$CLI" --socket "$SOCKET" --no-prompt smime verify --ca "$K/ca.pem" "$WORK/c.o.dec" --out /dev/null
  "$CLI" --socket "$SOCKET" --no-prompt smime sign --explain --ca "$K/ca.pem" "$M/small.eml" \
    --out /dev/null 2>&1 | grep -q 'chosen: *bench-alice' ||
    { echo "run-smime-bench: tessera did not choose the imported key" >&2; exit 1; }
}
check_outputs
rm -f "$WORK"/c.*

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'Messages: 1 KB = %d bytes, 100 MB = %d bytes; medians of %d / %d runs, paths alternating\n\n' \
  "$(stat -c %s "$M/small.eml")" "$(stat -c %s "$M/large.eml")" "$RUNS_SMALL" "$RUNS_LARGE"
printf '%-6s %-13s %12s %12s %7s %12s %12s\n' size operation "tessera s" "openssl s" ratio \
  "tessera RSS" "openssl RSS"
VERDICT=$WORK/verdict
: >"$VERDICT"
for size in small large mixed; do
  runs=$RUNS_SMALL label="1 KB"
  [ "$size" = large ] && runs=$RUNS_LARGE label="100 MB"
  [ "$size" = mixed ] && runs=$RUNS_LARGE label="mixed"
  for op in sign sign-encrypt; do
    : >"$WORK/t.tessera"; : >"$WORK/t.openssl"
    for _ in $(seq "$runs"); do
      timed tessera "$op" "$size" >>"$WORK/t.tessera"
      timed openssl "$op" "$size" >>"$WORK/t.openssl"
    done
    ta=$(cut -d' ' -f1 "$WORK/t.tessera" | median)
    tb=$(cut -d' ' -f1 "$WORK/t.openssl" | median)
    ra=$(cut -d' ' -f2 "$WORK/t.tessera" | sort -n | tail -1)
    rb=$(cut -d' ' -f2 "$WORK/t.openssl" | sort -n | tail -1)
    ratio=$(calc "$ta / $tb")
    printf '%-6s %-13s %12.3f %12.3f %7.2f %9.1f MB %9.1f MB\n' "$label" "$op" "$ta" "$tb" \
      "$ratio" "$(calc "$ra / 1024")" "$(calc "$rb / 1024")"
    if [ "$size" != small ]; then
      t_ok=$(calc "$ratio <= 1.1") m_ok=$(calc "$ra <= 65536")
      printf '%-6s %-13s time ratio %.2f (target <= 1.1): %s; peak RSS %.1f MB (target <= 64 MB): %s\n' \
        "$label" "$op" "$ratio" "$([ "$t_ok" = 1 ] && echo met || echo MISSED)" "$(calc "$ra / 1024")" \
        "$([ "$m_ok" = 1 ] && echo met || echo MISSED)" >>"$VERDICT"
    fi
  done
done
echo
cat "$VERDICT"
echo "Agent peak RSS: $(awk '/VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$AGENT_PID/status")"
echo "Load average afterwards: $(cut -d' ' -f1-3 /proc/loadavg)"
