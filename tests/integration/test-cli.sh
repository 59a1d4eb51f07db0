#!/bin/sh
# The `tessera` CLI end to end against a real agent and SoftHSM2 tokens;
# every signature is checked with `openssl dgst -verify`, every plaintext
# and secret compared with what OpenSSL computed. Prints TAP.
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, MAKE_TOKENS,
# SOFTHSM_MODULE, FAKE_PINENTRY.
set -u

: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${MAKE_TOKENS:?}" "${FAKE_PINENTRY:?}"
MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-cli-XXXXXX")
AGENT_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/../checks.sh"
. "$(dirname "$0")/../agent.sh"

tessera() { "$TESSERA_CLI" "$@"; }
# to FILE COMMAND...: runs the command with its output kept in FILE.
to() {
  file=$1
  shift
  "$@" >"$file"
}

"$MAKE_TOKENS" "$T" || bail "make-tokens.sh failed"
. "$T/env"
export XDG_CONFIG_HOME="$T/no-config"
# The agent's PIN dialog: the scripted pinentry, which cancels when it has
# no answers left.
scripted_pinentry
agent_start "$MODULE" "$FAKE_PINENTRY"

# --- listing -----------------------------------------------------------
check "status" tessera status
check "tokens" tessera tokens
grep -q "tessera-test-1" "$T/out" && grep -q "tessera-test-2" "$T/out" \
  && ok "tokens lists both tokens" || not_ok "tokens lists both tokens"

check "keys --json" to "$T/keys.json" tessera keys --json
check "keys --json: the six keys with their certificates" python3 -c '
import base64, json, subprocess, sys
keys = {k["label"]: k for k in json.load(open(sys.argv[1]))}
want = {"rsa2048": ("RSA", 2048), "rsa3072": ("RSA", 3072), "p256": ("EC", 256),
        "p384": ("EC", 384), "rsa2048-b": ("RSA", 2048), "p256-b": ("EC", 256)}
assert sorted(keys) == sorted(want), sorted(keys)
for label, (typ, bits) in want.items():
    k = keys[label]
    assert (k["type"], k["bits"]) == (typ, bits), (label, k["type"], k["bits"])
    assert "sign" in k["ops"], (label, k["ops"])
    der = subprocess.run(["openssl", "x509", "-in", "%s/%s.pem" % (sys.argv[2], label),
                          "-outform", "DER"], capture_output=True, check=True).stdout
    assert base64.b64decode(k["certificate"]) == der, label
' "$T/keys.json" "$T"
check "keys TOKEN --json" to "$T/keys.json" tessera keys tessera-test-2 --json
check "keys TOKEN: two keys" python3 -c '
import json, sys
labels = sorted(k["label"] for k in json.load(open(sys.argv[1])))
assert labels == ["p256-b", "rsa2048-b"], labels' "$T/keys.json"

# --- login ---------------------------------------------------------------
check_exit 1 "login with a wrong PIN fails" sh -c \
  'echo 000000 | "$0" login tessera-test-1 --pin-stdin' "$TESSERA_CLI"
check "login --pin-stdin" sh -c 'echo 123456 | "$0" login tessera-test-1 --pin-stdin' "$TESSERA_CLI"
check "login --pin-fd" sh -c '"$0" login tessera-test-2 --pin-fd 3 3<<EOF
123456
EOF' "$TESSERA_CLI"

# --- sign ------------------------------------------------------------------
head -c 10000 /dev/urandom >"$T/msg"
printf 'other' >"$T/other"
# verify LABEL HASH SIG [openssl options...]
verify() {
  label=$1 hash=$2 sig=$3
  shift 3
  openssl dgst "-$hash" "$@" -verify "$T/$label.pub.pem" -signature "$sig" "$T/msg" \
    >"$T/verify.out" 2>&1 || return 1
  # A signature that verifies anything proves nothing.
  ! openssl dgst "-$hash" "$@" -verify "$T/$label.pub.pem" -signature "$sig" "$T/other" \
    >/dev/null 2>&1
}
for label in rsa2048 rsa3072 rsa2048-b; do
  for hash in sha256 sha384 sha512; do
    check "sign $label PKCS#1 $hash" tessera sign "$label" --hash $hash --in "$T/msg" \
      --out "$T/sig"
    check "openssl verifies $label PKCS#1 $hash" verify "$label" $hash "$T/sig"
    check "sign $label --pss $hash" tessera sign "$label" --pss --hash $hash --in "$T/msg" \
      --out "$T/sig"
    check "openssl verifies $label PSS $hash" verify "$label" $hash "$T/sig" \
      -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1
  done
done
for label in p256 p384 p256-b; do
  for hash in sha256 sha384; do
    check "sign $label $hash" tessera sign "$label" --hash $hash --in "$T/msg" --out "$T/sig"
    check "openssl verifies $label ECDSA $hash" verify "$label" $hash "$T/sig"
  done
done
check "sign with the default hash (sha256)" tessera sign p256 --in "$T/msg" --out "$T/sig"
check "openssl verifies it with sha256" verify p256 sha256 "$T/sig"
# A key named by a PKCS#11 URI gets the mechanism of its type (EC here).
check "sign with a PKCS#11 URI of an EC key" tessera sign "pkcs11:token=tessera-test-1;id=%03" \
  --in "$T/msg" --out "$T/sig"
check "openssl verifies the URI-named EC signature" verify p256 sha256 "$T/sig"
check "sign with a PKCS#11 URI of an RSA key" tessera sign "pkcs11:token=tessera-test-1;id=%01" \
  --in "$T/msg" --out "$T/sig"
check "openssl verifies the URI-named RSA signature" verify rsa2048 sha256 "$T/sig"
check "selftest with a PKCS#11 URI" tessera selftest "pkcs11:token=tessera-test-1;id=%04"

# --- decrypt ---------------------------------------------------------------
head -c 100 /dev/urandom >"$T/plain"
for label in rsa2048 rsa3072; do
  openssl pkeyutl -encrypt -pubin -inkey "$T/$label.pub.pem" -in "$T/plain" -out "$T/ct" \
    || bail "openssl pkeyutl -encrypt failed"
  check "decrypt $label PKCS#1" tessera decrypt "$label" --in "$T/ct" --out "$T/dec"
  check "decrypt $label PKCS#1: plaintext" cmp "$T/plain" "$T/dec"
  rm -f "$T/dec"
  # SoftHSM 2.6 implements OAEP with SHA-1 only.
  openssl pkeyutl -encrypt -pubin -inkey "$T/$label.pub.pem" -in "$T/plain" -out "$T/ct" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 \
    || bail "openssl pkeyutl -encrypt (OAEP) failed"
  check "decrypt $label --oaep --hash sha1" tessera decrypt "$label" --oaep --hash sha1 \
    --in "$T/ct" --out "$T/dec"
  check "decrypt $label OAEP: plaintext" cmp "$T/plain" "$T/dec"
  rm -f "$T/dec"
  # With a label (bytes, a NUL inside): SoftHSM 2.6.1 takes it at init and
  # fails C_Decrypt; the agent decrypts raw and checks the padding itself.
  printf 'tessera\000label' >"$T/label"
  openssl pkeyutl -encrypt -pubin -inkey "$T/$label.pub.pem" -in "$T/plain" -out "$T/ct" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 \
    -pkeyopt rsa_oaep_label:"$(od -An -v -tx1 "$T/label" | tr -d ' \n')" \
    || bail "openssl pkeyutl -encrypt (OAEP with a label) failed"
  check "decrypt $label --oaep --hash sha1 --label-file" tessera decrypt "$label" --oaep \
    --hash sha1 --label-file "$T/label" --in "$T/ct" --out "$T/dec"
  check "decrypt $label OAEP with a label: plaintext" cmp "$T/plain" "$T/dec"
  rm -f "$T/dec"
  printf 'another label' >"$T/label2"
  check_exit 1 "decrypt $label OAEP with the wrong label fails" tessera decrypt "$label" --oaep \
    --hash sha1 --label-file "$T/label2" --in "$T/ct" --out "$T/dec"
  grep -q 'could not decrypt the data' "$T/err" && ok "the wrong label: a decryption error" \
    || not_ok "the wrong label: a decryption error" "$T/err"
done

# --- derive ------------------------------------------------------------------
for curve in P-256:p256 P-384:p384; do
  group=${curve%%:*} label=${curve#*:}
  openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$group" -out "$T/peer.key" 2>/dev/null
  openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pem"
  openssl pkeyutl -derive -inkey "$T/peer.key" -peerkey "$T/$label.pub.pem" -out "$T/expected"
  check "derive $label" tessera derive "$label" --peer "$T/peer.pem" --out "$T/secret"
  check "derive $label: the secret OpenSSL computes" cmp "$T/expected" "$T/secret"
done

# --- selftest ----------------------------------------------------------------
for label in rsa2048 rsa3072 p256 p384 rsa2048-b p256-b; do
  check "selftest $label" tessera selftest "$label"
done

# --- failures and exit codes ---------------------------------------------------
check "logout tessera-test-1" tessera logout tessera-test-1
check_exit 1 "sign --no-prompt after logout exits 1" tessera --no-prompt sign p256 \
  --in "$T/msg" --out "$T/sig"
grep -qi "log in\|login" "$T/err" && grep -q "tessera-test-1" "$T/err" \
  && ok "sign after logout says to log in to tessera-test-1" \
  || not_ok "sign after logout says to log in to tessera-test-1"
check_exit 1 "sign after logout, PIN dialog cancelled, exits 1" tessera sign p256 \
  --in "$T/msg" --out "$T/sig"
grep -q "cancelled" "$T/err" && ok "the cancelled dialog is reported" \
  || not_ok "the cancelled dialog is reported"
answers "pin 123456"
check "sign after logout asks for the PIN and signs" tessera sign p256 --in "$T/msg" \
  --out "$T/sig"
check "openssl verifies the signature made after the PIN dialog" verify p256 sha256 "$T/sig"
check "status" tessera status
grep -q "token    tessera-test-1: logged in, ends" "$T/out" \
  && ok "status says when the login of tessera-test-1 ends" \
  || not_ok "status says when the login of tessera-test-1 ends"
check "lock" tessera lock
check "status after lock" tessera status
grep -q "tessera-test-1: not logged in" "$T/out" && grep -q "tessera-test-2: not logged in" "$T/out" \
  && ok "lock logged out every token" || not_ok "lock logged out every token"
answers "pin 123456"
check "login asks for the PIN" tessera login tessera-test-1
grep -q "logged in to tessera-test-1" "$T/out" && ok "login says it logged in" \
  || not_ok "login says it logged in"
check "login again: already logged in, exit 0" tessera login tessera-test-1
grep -q "already logged in" "$T/out" && ok "login says the token is already logged in" \
  || not_ok "login says the token is already logged in"
check "login tessera-test-2 --pin-stdin again" sh -c \
  'echo 123456 | "$0" login tessera-test-2 --pin-stdin' "$TESSERA_CLI"
check "token 2 is still logged in" tessera sign p256-b --in "$T/msg" --out "$T/sig"
check_exit 1 "decrypt with the sign-only key exits 1" tessera decrypt rsa2048-b --in "$T/ct" \
  --out "$T/dec"
check_exit 1 "unknown key exits 1" tessera sign no-such-key --in "$T/msg" --out "$T/sig"
check_exit 2 "unknown command exits 2" tessera frobnicate
check_exit 2 "missing --in exits 2" tessera sign p256 --out "$T/sig"
check_exit 2 "bad --hash exits 2" tessera sign p256 --hash md5 --in "$T/msg" --out "$T/sig"
check_exit 3 "unreachable socket exits 3" tessera --socket "$T/nothing-here.sock" status
check_exit 3 "unreachable \$TESSERA_SOCKET exits 3" env TESSERA_SOCKET="$T/none.sock" \
  "$TESSERA_CLI" tokens

# --- shutdown ------------------------------------------------------------------
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
status=$?
AGENT_PID=
[ $status -eq 0 ] && ok "the agent exits 0 on SIGTERM" || not_ok "the agent exits 0 on SIGTERM"
[ ! -e "$TESSERA_SOCKET" ] && ok "the agent removed its socket" || not_ok "the agent removed its socket"

tap_done
