#!/bin/bash
# Tessera demo: a throwaway SoftHSM2 token and a virtual PIV smart card in
# a virtual reader of a private pcscd, the agent on a private socket,
# signatures made through the agent that plain openssl verifies, the agent
# asking for the card's PIN, and the card pulled out again.
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
CARD_PID=
OPENSC_MODULE=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
export VCARD_PORT=36020 # the demo's own virtual reader ports (36020, 36021)
# shellcheck source=../tests/vcard/pcscd-env.sh
. "$REPO/tests/vcard/pcscd-env.sh"

cleanup() {
  local status=$?
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  if [ -n "$CARD_PID" ]; then
    kill "$CARD_PID" 2>/dev/null || true
    wait "$CARD_PID" 2>/dev/null || true
  fi
  stop_pcscd
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
tests/make-tokens.sh "$WORK/tokens" --smime || fail "tests/make-tokens.sh"
export SOFTHSM2_CONF="$WORK/tokens/softhsm2.conf"
echo "Token '$TOKEN' holds RSA-2048 (id 01) and EC P-256 (id 03) keys with certificates."

say "Starting a private pcscd with a virtual smart-card reader (vsmartcard's vpcd)..."
start_pcscd "$WORK/pcscd" 2>"$WORK/pcscd.log" || { cat "$WORK/pcscd.log"; fail "pcscd"; }
echo "Readers: Virtual PCD 00 00 and 00 01, private to this demo."
mkdir -p "$WORK/home"
# OpenSC without its file cache: the demo's cards are new every time.
printf 'app default {\n  framework pkcs15 {\n    use_file_caching = no;\n  }\n}\n' >"$WORK/opensc.conf"
export OPENSC_CONF="$WORK/opensc.conf" HOME="$WORK/home"
# The agent asks for PINs through pinentry; here a scripted one answers for
# you, so the demo runs unattended. It is told the card's PIN below.
export FAKE_PINENTRY_SCRIPT="$WORK/pinentry.answers" FAKE_PINENTRY_LOG="$WORK/pinentry.log"
: >"$FAKE_PINENTRY_SCRIPT"

SOCKET="$WORK/agent.sock"
say "Starting tessera-agent on a private socket ($SOCKET), with SoftHSM2 and OpenSC..."
"$AGENT" --foreground --no-p11-kit --module "$MODULE" --module "$OPENSC_MODULE" \
  --socket "$SOCKET" --pinentry "$REPO/tests/pinentry/fake-pinentry" \
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

say "A program that knows only PKCS#11 (OpenSC's pkcs11-tool) signs through Tessera's module..."
MODULE="$BUILD/client/pkcs11/tessera-pkcs11.so"
TESSERA_SOCKET="$SOCKET" pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --list-objects \
  --type privkey 2>/dev/null | grep -E 'Private Key|label' || fail "pkcs11-tool saw no keys"
TESSERA_SOCKET="$SOCKET" pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login \
  --sign --mechanism ECDSA-SHA256 --signature-format openssl --id 03 \
  --input-file "$WORK/demo.txt" --output-file "$WORK/demo.p11.sig" >/dev/null 2>&1 ||
  fail "pkcs11-tool could not sign through tessera-pkcs11.so"
verdict=$(openssl dgst -sha256 -verify "$WORK/ec.pub" -signature "$WORK/demo.p11.sig" \
  "$WORK/demo.txt") || fail "openssl rejected the pkcs11-tool signature: $verdict"
echo "pkcs11-tool asked the agent, which was logged in; openssl says: $verdict"

say "An S/MIME mail from alice@example.org, signed with the key the agent picks for her address..."
printf '%s\n' "$PIN" | tessera login tessera-smime --pin-stdin >/dev/null
cat >"$WORK/mail.eml" <<'MAIL'
From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: Signed by the token
Date: Tue, 01 Dec 2026 12:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello Bob, this mail was signed through tessera-agent.
MAIL
TESSERA_SMIME_CA="$WORK/tokens/ca.pem" tessera smime sign --explain "$WORK/mail.eml" \
  >"$WORK/mail.signed.eml" 2>"$WORK/smime.log" || { cat "$WORK/smime.log"; fail "tessera smime sign"; }
grep 'chosen:' "$WORK/smime.log" | head -1
sed -n '/^Content-Type: multipart/p' "$WORK/mail.signed.eml"
verdict=$(openssl cms -verify -in "$WORK/mail.signed.eml" -CAfile "$WORK/tokens/ca.pem" \
  -purpose smimesign -out /dev/null 2>&1) || fail "openssl rejected the S/MIME signature: $verdict"
echo "openssl cms -verify says: $verdict"
TESSERA_SMIME_CA="$WORK/tokens/ca.pem" tessera smime verify "$WORK/mail.signed.eml" >/dev/null ||
  fail "tessera smime verify rejected its own signature"

say "Logging out of '$TOKEN'..."
tessera logout "$TOKEN"

# ---- the smart card -----------------------------------------------------------
say "Making a virtual PIV card (RSA-2048 keys, certificates from a throwaway CA)..."
"$REPO/tests/vcard/make-card" --type rsa --serial 60000006 "$WORK/card" >"$WORK/card.log" 2>&1 \
  || { cat "$WORK/card.log"; fail "make-card"; }
say "Inserting the card into the virtual reader..."
"$REPO/tests/vcard/virtual-piv" --port "$VCARD_PORT" --dir "$WORK/card" \
  --control "$WORK/card.ctl" >"$WORK/card.out" 2>&1 &
CARD_PID=$!
card_keys() { # card_keys ready|card out: waits until the card's four keys are in that state
  for _ in $(seq 200); do
    [ "$(tessera keys 2>/dev/null | grep -c "PIV\|SIGN\|KEY MAN\|CARD AUTH" )" = 4 ] &&
      [ "$(tessera keys | grep "PIV\|SIGN\|KEY MAN\|CARD AUTH" | grep -c "$1")" = 4 ] && return 0
    sleep 0.05
  done
  return 1
}
card_keys ready || fail "the card's keys did not appear"
say "The card's keys, as the agent lists them (no PIN needed to see them):"
tessera readers
tessera keys | sed -n '1p;/PIV\|SIGN\|KEY MAN\|CARD AUTH/p'
CARD_KEY=$(tessera keys --json | python3 -c '
import json, sys
print([k["id"] for k in json.load(sys.stdin) if k["id"].endswith(";id=%01;type=private") and "PIV" in k["label"]][0])')

say "Signing demo.txt with the card's PIV authentication key (slot 9A)..."
echo "The agent asks for the card's PIN in its PIN dialog; the demo's scripted pinentry"
echo "answers 123456 for you (with a real pinentry you would type it)."
printf 'pin 123456\n' >"$FAKE_PINENTRY_SCRIPT"
rm -f "$FAKE_PINENTRY_SCRIPT.pos"
tessera sign "$CARD_KEY" --hash sha256 --in "$WORK/demo.txt" --out "$WORK/demo.card.sig"
echo "The PIN dialog said:"
grep ' SETDESC ' "$FAKE_PINENTRY_LOG" | tail -n 1 | cut -d' ' -f3- | sed 's/%0A/\n/g; s/^/  /'
say "Verifying the card's signature with openssl and the card's certificate..."
openssl x509 -in "$WORK/card/9a.pem" -pubkey -noout >"$WORK/card.pub"
verdict=$(openssl dgst -sha256 -verify "$WORK/card.pub" -signature "$WORK/demo.card.sig" \
  "$WORK/demo.txt") || fail "openssl rejected the card's signature: $verdict"
echo "openssl says: $verdict"
tessera status | sed -n '/^token /p'

say "Pulling the card out of the reader..."
"$REPO/tests/vcard/virtual-piv" --control "$WORK/card.ctl" --send remove >/dev/null
card_keys "card out" || fail "the card's keys did not go unavailable"
tessera keys | sed -n '1p;/PIV\|SIGN\|KEY MAN\|CARD AUTH/p'
echo "The keys stay known with their ids, marked 'card out'; the card's login ended."

say "Stopping the agent, the card and pcscd..."
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "the agent exited with status $? on SIGTERM"
AGENT_PID=
[ ! -e "$SOCKET" ] || fail "the agent left its socket behind"

say "Demo finished: five signatures verified with openssl (one an S/MIME mail), one made through the PKCS#11 module, one by the smart card. Everything the demo made is removed."
