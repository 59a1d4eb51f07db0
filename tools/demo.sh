#!/bin/bash
# Tessera demo: a throwaway SoftHSM2 token, the agent on a private socket,
# and signatures made through the agent that plain openssl verifies.
# Everything it starts or creates is removed on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
MODULE=/usr/lib/softhsm/libsofthsm2.so
PIN=123456
TOKEN=tessera-test-1
# Keys on the demo token: CKA_ID 01 is RSA-2048, 03 is EC P-256.
RSA_KEY="pkcs11:token=$TOKEN;id=%01"
EC_KEY="pkcs11:token=$TOKEN;id=%03"

say() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ndemo FAILED: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-demo.XXXXXX")
AGENT_PID=

cleanup() {
  local status=$?
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$WORK/agent.log" ]; then
    printf '\nLast lines of the agent log:\n' >&2
    tail -n 20 "$WORK/agent.log" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Reuse an already configured ./build; otherwise use a separate demo build dir.
if [ -f build/meson-private/coredata.dat ]; then
  BUILD=build
else
  BUILD=build-demo
fi
say "Building Tessera in $BUILD/ (meson + ninja; quiet unless it fails)..."
if [ ! -f "$BUILD/meson-private/coredata.dat" ]; then
  meson setup "$BUILD" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "meson setup"; }
fi
ninja -C "$BUILD" >>"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "build"; }
AGENT="$REPO/$BUILD/agent/tessera-agent"
CLI="$REPO/$BUILD/client/tessera"
[ -x "$AGENT" ] || fail "no agent binary at $AGENT"
[ -x "$CLI" ] || fail "no CLI binary at $CLI"

say "Creating a throwaway SoftHSM2 token (keys are generated on the token)..."
tests/make-tokens.sh "$WORK/tokens" || fail "tests/make-tokens.sh"
export SOFTHSM2_CONF="$WORK/tokens/softhsm2.conf"
echo "Token '$TOKEN' holds RSA-2048 (id 01) and EC P-256 (id 03) keys with certificates."

SOCKET="$WORK/agent.sock"
say "Starting tessera-agent on a private socket ($SOCKET)..."
"$AGENT" --foreground --no-p11-kit --module "$MODULE" --socket "$SOCKET" \
  >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
tessera() { "$CLI" --socket "$SOCKET" "$@"; }
# The socket is ready when a client gets an answer.
for _ in $(seq 100); do
  if tessera status >/dev/null 2>&1; then break; fi
  kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited during start-up"
  sleep 0.1
done
tessera status || fail "the agent does not answer on $SOCKET"

say "Tokens the agent sees:"
tessera tokens

say "Keys on token '$TOKEN':"
tessera keys "$TOKEN"

say "Logging in to '$TOKEN' (the PIN goes to the agent on stdin, never to a client)..."
printf '%s\n' "$PIN" | tessera login "$TOKEN" --pin-stdin
echo "Logged in."

echo "Tessera signed this file without the private key ever leaving the token." \
  >"$WORK/demo.txt"

# sign_and_verify NAME KEY CERT: signs demo.txt through the agent and checks the
# signature with openssl against the public key of the key's certificate.
sign_and_verify() {
  local name=$1 key=$2 cert=$3 tag=$4
  say "Signing demo.txt with the $name key on the token..."
  tessera sign "$key" --hash sha256 --in "$WORK/demo.txt" --out "$WORK/demo.$tag.sig"
  echo "Signature: $(wc -c <"$WORK/demo.$tag.sig") bytes in demo.$tag.sig"

  say "Verifying the $name signature with openssl and the certificate's public key..."
  openssl x509 -in "$cert" -pubkey -noout >"$WORK/$tag.pub"
  local verdict
  verdict=$(openssl dgst -sha256 -verify "$WORK/$tag.pub" -signature "$WORK/demo.$tag.sig" \
    "$WORK/demo.txt") || fail "openssl rejected the $name signature: $verdict"
  echo "openssl says: $verdict"
}
sign_and_verify RSA-2048 "$RSA_KEY" "$WORK/tokens/rsa2048.pem" rsa
sign_and_verify "EC P-256" "$EC_KEY" "$WORK/tokens/p256.pem" ec

for key in "$RSA_KEY" "$EC_KEY"; do
  say "Running the agent's self-test on $key..."
  tessera selftest "$key"
done

say "Logging out and stopping the agent..."
tessera logout "$TOKEN"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "the agent exited with status $? on SIGTERM"
AGENT_PID=
[ ! -e "$SOCKET" ] || fail "the agent left its socket behind"

say "Demo finished: both signatures verified with openssl. The token and the temp dir are removed."
