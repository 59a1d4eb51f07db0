#!/bin/bash
# Tessera with smart cards: the real agent, the real pcscd and OpenSC's
# PKCS#11 module, and two virtual PIV cards (tests/vcard/) in two readers,
# one RSA-2048 and one EC P-256. The agent asks for PINs through the
# scripted pinentry. Prints TAP.
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, FAKE_PINENTRY,
# VCARD_DIR (tests/vcard); optional OPENSC_PKCS11.
set -u

: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${FAKE_PINENTRY:?}" "${VCARD_DIR:?}"
OPENSC_PKCS11=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
VIRTUAL_PIV="$VCARD_DIR/virtual-piv"
export VCARD_PORT=${VCARD_PORT:-35996} # tests/vcard/test-vcard.sh uses 35990
READER_RSA="Virtual PCD 00 00"
READER_EC="Virtual PCD 00 01"

# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
# shellcheck source=../checks.sh
. "$(dirname "$0")/../checks.sh"
# shellcheck source=../agent.sh
. "$(dirname "$0")/../agent.sh"

for tool in pkcs11-tool openssl pcscd unshare python3; do
  command -v "$tool" >/dev/null || bail "$tool is missing (tools/install-deps.sh installs it)"
done
[ -r "$OPENSC_PKCS11" ] || bail "$OPENSC_PKCS11 is missing (opensc-pkcs11)"

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-card-XXXXXX")
AGENT_PID=
WATCH_PID=
CARD_PIDS=()
# shellcheck source=../vcard/pcscd-env.sh
. "$VCARD_DIR/pcscd-env.sh"
cleanup() {
  [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  for p in "${CARD_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  stop_pcscd
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# No OpenSC file cache, no user configuration.
mkdir -p "$T/home"
printf 'app default {\n  framework pkcs15 {\n    use_file_caching = no;\n  }\n}\n' >"$T/opensc.conf"
export OPENSC_CONF="$T/opensc.conf" HOME="$T/home" XDG_CONFIG_HOME="$T/no-config"
scripted_pinentry
getpins() { grep -c ' GETPIN' "$FAKE_PINENTRY_LOG"; }

start_pcscd "$T/pcscd" 2>"$T/pcscd.err" || { cat "$T/pcscd.err"; bail "no private pcscd"; }
"$VCARD_DIR/make-card" --type rsa --serial 30000003 "$T/rsa" >/dev/null 2>&1 || bail "make-card rsa"
"$VCARD_DIR/make-card" --type ec --serial 40000004 "$T/ec" >/dev/null 2>&1 || bail "make-card ec"
card() { # card NAME PORT
  "$VIRTUAL_PIV" --port "$2" --dir "$T/$1" --control "$T/$1.ctl" >"$T/$1.out" 2>&1 &
  CARD_PIDS+=($!)
}
control() { "$VIRTUAL_PIV" --control "$T/$1.ctl" --send "$2" >/dev/null; }
card rsa "$VCARD_PORT"
card ec "$((VCARD_PORT + 1))"

agent_start "$OPENSC_PKCS11" "$FAKE_PINENTRY" --debug
tessera() { "$TESSERA_CLI" "$@"; }
# key_id SERIAL_OF_TOKEN_TYPE CKAID: the agent's id of a card's key.
key_id() { # key_id rsa|ec HEXID
  python3 - "$T/keys.json" "$1" "$2" <<'PY'
import json, sys
keys, typ, ckaid = json.load(open(sys.argv[1])), sys.argv[2].upper(), sys.argv[3]
print([k["id"] for k in keys if k["type"] == typ and k["id"].endswith(";id=%%%s;type=private" % ckaid)][0])
PY
}
pub() { openssl x509 -in "$1" -pubkey -noout; }
verify() { # verify CERT SIG MSG
  pub "$1" >"$T/verify.pub" && openssl dgst -sha256 -verify "$T/verify.pub" -signature "$2" "$3"
}

# --- the cards appear -------------------------------------------------------
check "the agent sees both cards' keys" wait_keys 8
check "readers" tessera readers
grep -q "$READER_RSA  inserted" "$T/out" && grep -q "$READER_EC  inserted" "$T/out" \
  && ok "readers lists both readers with their cards" || not_ok "readers lists both readers with their cards"
RSA_9A=$(key_id rsa 01) RSA_9C=$(key_id rsa 02) RSA_9D=$(key_id rsa 03)
EC_9A=$(key_id ec 01) EC_9D=$(key_id ec 03)
cp "$T/keys.json" "$T/keys-before.json"

tessera watch --json >"$T/events" 2>/dev/null &
WATCH_PID=$!
sleep 0.3

# --- signatures, decryption, key agreement ------------------------------------
head -c 5000 /dev/urandom >"$T/msg"
answers "pin 123456"
check "sign with 9A (the agent asks for the PIN)" tessera sign "$RSA_9A" --in "$T/msg" --out "$T/sig"
check "openssl verifies the 9A signature" verify "$T/rsa/9a.pem" "$T/sig" "$T/msg"
check "sign with 9A again" tessera sign "$RSA_9A" --in "$T/msg" --out "$T/sig"
[ "$(getpins)" = 1 ] && ok "one PIN dialog for both 9A signatures" || not_ok "one PIN dialog for both 9A signatures (got $(getpins))"
answers "pin 123456" "pin 123456"
check "sign with 9C (PIN for every use)" tessera sign "$RSA_9C" --in "$T/msg" --out "$T/sig"
check "openssl verifies the 9C signature" verify "$T/rsa/9c.pem" "$T/sig" "$T/msg"
check "sign with 9C again" tessera sign "$RSA_9C" --in "$T/msg" --out "$T/sig"
[ "$(getpins)" = 3 ] && ok "each 9C signature had its own PIN dialog" \
  || not_ok "each 9C signature had its own PIN dialog (got $(getpins) dialogs, want 3)"
grep -q "This key needs the PIN for every use" "$FAKE_PINENTRY_LOG" \
  && ok "the 9C dialog says the key needs the PIN for every use" \
  || not_ok "the 9C dialog says the key needs the PIN for every use"

head -c 100 /dev/urandom >"$T/plain"
pub "$T/rsa/9d.pem" >"$T/9d.pub"
openssl pkeyutl -encrypt -pubin -inkey "$T/9d.pub" -in "$T/plain" -out "$T/ct"
check "RSA decrypt with 9D" tessera decrypt "$RSA_9D" --in "$T/ct" --out "$T/dec"
check "the plaintext is what openssl encrypted" cmp "$T/plain" "$T/dec"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.key" 2>/dev/null
openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
pub "$T/ec/9d.pem" >"$T/ec9d.pub"
openssl pkeyutl -derive -inkey "$T/peer.key" -peerkey "$T/ec9d.pub" -out "$T/expected"
answers "pin 123456"
check "ECDH with the EC card's 9D" tessera derive "$EC_9D" --peer "$T/peer.pub" --out "$T/secret"
check "the shared secret is OpenSSL's" cmp "$T/expected" "$T/secret"

# --- two cards in parallel ------------------------------------------------------
( tessera sign "$RSA_9A" --in "$T/msg" --out "$T/par-rsa" ) &
p1=$!
( tessera sign "$EC_9A" --in "$T/msg" --out "$T/par-ec" ) &
p2=$!
wait $p1 && wait $p2 && verify "$T/rsa/9a.pem" "$T/par-rsa" "$T/msg" >/dev/null 2>&1 \
  && verify "$T/ec/9a.pem" "$T/par-ec" "$T/msg" >/dev/null 2>&1 \
  && ok "both cards sign at the same time" || not_ok "both cards sign at the same time"

# --- OpenSC directly, while the agent runs ----------------------------------------
openssl dgst -sha256 -binary "$T/msg" >"$T/digest"
check "pkcs11-tool on OpenSC lists both cards while the agent runs" \
  sh -c "pkcs11-tool --module '$OPENSC_PKCS11' -L | grep -c 'token label' | grep -qx 2"
check "pkcs11-tool signs with the EC card's 9A while the agent runs" \
  pkcs11-tool --module "$OPENSC_PKCS11" --slot-index 1 --login --pin 123456 --sign --id 01 \
  -m ECDSA -i "$T/digest" -o "$T/p11.sig"

# --- another program resets the card: the login is lost, the agent asks again -------
answers "pin 123456"
check "sign with the EC card's 9A (logged in)" tessera sign "$EC_9A" --in "$T/msg" --out "$T/sig"
before_reset=$(getpins)
check "another program resets the EC card" opensc-tool -r 1 --reset cold
answers "pin 123456"
rm -f "$T/sig" # the one from before the reset would verify too
check "the agent notices the lost login and signs after a new PIN dialog" \
  tessera sign "$EC_9A" --in "$T/msg" --out "$T/sig"
check "openssl verifies it" verify "$T/ec/9a.pem" "$T/sig" "$T/msg"
[ "$(getpins)" = $((before_reset + 1)) ] && ok "exactly one new PIN dialog after the reset" \
  || not_ok "exactly one new PIN dialog after the reset (got $(( $(getpins) - before_reset )))"

# --- wrong and blocked PINs --------------------------------------------------------
tries() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pin_tries_left"])' "$T/$1/state.json"; }
tessera logout >/dev/null
answers "pin 000000" "pin 123456"
check "a wrong PIN, then the right one" tessera sign "$EC_9A" --in "$T/msg" --out "$T/sig"
grep -q "SETERROR Wrong PIN." "$FAKE_PINENTRY_LOG" && ok "the second dialog says the PIN was wrong" \
  || not_ok "the second dialog says the PIN was wrong"
grep -c "VERIFY" "$T/ec.out" >/dev/null 2>&1 || true
[ "$(tries ec)" = 3 ] && ok "the right PIN reset the card's counter" || not_ok "the right PIN reset the card's counter ($(tries ec) left)"
tessera logout >/dev/null
answers "pin 000000" "cancel"
tessera sign "$EC_9A" --in "$T/msg" --out "$T/sig" >/dev/null 2>&1
[ "$(tries ec)" = 2 ] && ok "one wrong PIN cost the card exactly one try" \
  || not_ok "one wrong PIN cost the card exactly one try ($(tries ec) left)"
answers "pin 111111" "pin 222222" "pin 333333"
tessera sign "$EC_9A" --in "$T/msg" --out "$T/sig" >"$T/out" 2>"$T/err"
grep -q "blocked" "$T/err" && ok "the PIN is blocked: the error says so" || not_ok "the PIN is blocked: the error says so"
grep -q "Last try before the card is blocked" "$FAKE_PINENTRY_LOG" \
  && ok "the dialog warned of the last try" || not_ok "the dialog warned of the last try"
before=$(getpins)
tessera sign "$EC_9A" --in "$T/msg" --out "$T/sig" >"$T/out" 2>"$T/err"
grep -q "blocked" "$T/err" && [ "$(getpins)" = "$before" ] \
  && ok "a blocked PIN gets no more dialogs" || not_ok "a blocked PIN gets no more dialogs"

# --- removal and insertion ----------------------------------------------------------
answers "pin 123456"
check "log in to the RSA card" tessera sign "$RSA_9A" --in "$T/msg" --out "$T/sig"
control rsa remove
check "the RSA card's keys become unavailable" wait_keys 4
tessera tokens >"$T/out" 2>&1
grep -q "absent" "$T/out" && ok "the RSA token is listed as absent" || not_ok "the RSA token is listed as absent"
tessera status | grep -q "logged in, ends" && not_ok "the removal ended the login" || ok "the removal ended the login"

answers "pin 123456"
( tessera sign "$RSA_9A" --in "$T/msg" --out "$T/waited"; echo $? >"$T/waited.rc" ) &
sleep 1
[ ! -s "$T/waited.rc" ] && ok "a request for the absent card waits" || not_ok "a request for the absent card waits"
control rsa insert
for _ in $(seq 200); do [ -s "$T/waited.rc" ] && break; sleep 0.05; done
[ "$(cat "$T/waited.rc" 2>/dev/null)" = 0 ] && ok "it completes once the card is in" || not_ok "it completes once the card is in"
grep -q "SETDESC Insert the smart card .* to sign with the key .* for tessera (pid" "$FAKE_PINENTRY_LOG" \
  && ok "meanwhile a message asked to insert the card, naming key and program" \
  || not_ok "meanwhile a message asked to insert the card, naming key and program"
check "openssl verifies the waited-for signature" verify "$T/rsa/9a.pem" "$T/waited" "$T/msg"
check "the keys are back" wait_keys 8
python3 - "$T/keys-before.json" "$T/keys.json" <<'PY' && ok "the card came back with the same key ids" || not_ok "the card came back with the same key ids"
import json, sys
a = sorted(k["id"] for k in json.load(open(sys.argv[1])))
b = sorted(k["id"] for k in json.load(open(sys.argv[2])))
sys.exit(0 if a == b else 1)
PY

tessera --card-timeout 0 logout >/dev/null
control rsa remove
wait_keys 4 >/dev/null
check "logout of every token while a card is out" tessera logout
tessera --card-timeout 0 sign "$RSA_9A" --in "$T/msg" --out "$T/sig" >"$T/out" 2>"$T/err"
grep -q "not inserted" "$T/err" && ok "--card-timeout 0 fails at once for an absent card" \
  || not_ok "--card-timeout 0 fails at once for an absent card"
control rsa insert
wait_keys 8 >/dev/null

# The card is pulled while its PIN dialog is open.
answers "hang"
( tessera sign "$RSA_9A" --in "$T/msg" --out "$T/sig" 2>"$T/pulled.err"; echo $? >"$T/pulled.rc" ) &
for _ in $(seq 200); do [ "$(getpins)" -gt "$before" ] && tail -n 1 "$FAKE_PINENTRY_LOG" | grep -q GETPIN && break; sleep 0.05; done
control rsa remove
for _ in $(seq 200); do [ -s "$T/pulled.rc" ] && break; sleep 0.05; done
[ "$(cat "$T/pulled.rc" 2>/dev/null)" = 1 ] && grep -q "removed" "$T/pulled.err" \
  && ok "pulling the card during its PIN dialog fails the request: card removed" \
  || not_ok "pulling the card during its PIN dialog fails the request: card removed"
control rsa insert
check "the keys are back again" wait_keys 8

# --- pcscd stops and comes back --------------------------------------------------------
stop_pcscd
check "without pcscd the keys are unavailable" wait_keys 0
check "pcscd starts again" start_pcscd "$T/pcscd"
check "pcscd is back: the agent finds the cards without a restart" wait_keys 8
answers "pin 123456"
rm -f "$T/sig"
check "and signs with them" tessera sign "$RSA_9A" --in "$T/msg" --out "$T/sig"
check "openssl verifies it" verify "$T/rsa/9a.pem" "$T/sig" "$T/msg"

# --- the event stream ---------------------------------------------------------------------
kill "$WATCH_PID" 2>/dev/null
WATCH_PID=
for e in card-removed card-inserted token-absent token-present key-unavailable key-available logged-in logged-out reader-removed reader-added; do
  grep -q "\"event\": \"$e\"" "$T/events" && ok "tessera watch saw $e" || not_ok "tessera watch saw $e"
done
grep -q "123456" "$T/agent.log" && not_ok "the agent's debug log holds no PIN" || ok "the agent's debug log holds no PIN"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
[ $? -eq 0 ] && ok "the agent exits 0" || not_ok "the agent exits 0"
AGENT_PID=
tap_done
