#!/bin/bash
# Interop tests: real third-party PKCS#11 programs load tessera-pkcs11.so
# and use keys the real agent holds. OpenSC's pkcs11-tool, GnuTLS (p11tool,
# certtool), NSS (certutil, modutil, cmsutil) and OpenSSL's pkcs11 engine
# (libp11). Every signature is verified with openssl against the key's
# certificate, every plaintext and shared secret compared with what openssl
# computed. Programs log in with C_Login and no PIN (the token has a
# protected authentication path): the agent asks the scripted pinentry.
# Prints TAP.
#
#   test-interop.sh softhsm PROBE   SoftHSM2 tokens (tests/make-tokens.sh)
#                                   behind the agent; and 50 programs that
#                                   sign at the same time
#   test-interop.sh card PROBE      two virtual PIV cards (tests/vcard, a
#                                   private pcscd, OpenSC) behind the agent;
#                                   and a card pulled out from under a
#                                   program's session (PROBE: session-probe)
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, TESSERA_PKCS11,
# MAKE_TOKENS, SOFTHSM_MODULE, FAKE_PINENTRY, VCARD_DIR. Optional:
# VCARD_PORT (36200; the second reader is +1), OPENSC_PKCS11, KEEP=1 keeps
# the temporary directory.
set -u

BACKEND=${1:-}
PROBE=${2:-}
case "$BACKEND" in
softhsm | card) ;;
*) echo "usage: $0 softhsm|card PROBE" >&2; exit 2 ;;
esac
: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${TESSERA_PKCS11:?}" "${FAKE_PINENTRY:?}"
M=$TESSERA_PKCS11
PIN=123456 # of the SoftHSM tokens and the virtual cards; must never reach a program
OPENSC_PKCS11=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
ENGINE=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so

# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
# shellcheck source=../agent.sh
. "$(dirname "$0")/../agent.sh"
# shellcheck source=sanitizers.sh
. "$(dirname "$0")/sanitizers.sh"

for tool in pkcs11-tool p11tool certtool certutil modutil cmsutil openssl python3 xxd flock; do
  command -v "$tool" >/dev/null || bail "$tool is missing (tools/install-deps.sh installs it)"
done
[ -r "$ENGINE" ] || bail "$ENGINE is missing (libengine-pkcs11-openssl)"
[ -x "$PROBE" ] || bail "no session probe: $0 $BACKEND PROBE"

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-interop-$BACKEND-XXXXXX")
AGENT_PID=
PROBE_PID=
CARD_PIDS=()
cleanup() {
  [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  for p in "${CARD_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ "$BACKEND" = card ] && stop_pcscd
  if [ -n "${KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# No user configuration: no ~/.pki, no p11-kit or OpenSC settings of the user.
mkdir -p "$T/home"
export HOME="$T/home" XDG_CONFIG_HOME="$T/no-config" TESSERA_SOCKET="$T/agent.sock"

# ---- helpers -------------------------------------------------------------------

# run COMMAND...: stdout in $T/out, stderr in $T/err, both in $T/both and
# appended to $T/clients.log, which must never show the PIN. stdin is
# /dev/null (NSS's tools print "Error opening input terminal for read").
run() {
  "$@" >"$T/out" 2>"$T/err" </dev/null
  local rc=$?
  cat "$T/out" "$T/err" >"$T/both"
  { echo "\$ $*"; cat "$T/both"; } >>"$T/clients.log"
  return $rc
}
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
  local desc=$1
  shift
  if run "$@"; then ok "$desc"; else not_ok "$desc" "$T/both"; fi
}
# expect DESCRIPTION COMMAND...: a condition on what is already there (no run).
expect() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# section NAME: a TAP comment with the time the previous section took.
SECTION=setup SECTION_START=$(date +%s%N)
section() {
  local now
  now=$(date +%s%N)
  echo "# $SECTION took $(((now - SECTION_START) / 1000000)) ms"
  SECTION=$1 SECTION_START=$now
}

tessera() { "$TESSERA_CLI" "$@"; }
p11() { pkcs11-tool --module "$M" "$@"; }
uri_enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# The scripted pinentry (agent.sh): every dialog gets the PIN until the
# script runs out.
scripted_pinentry
pins_for_everything() {
  rm -f "$FAKE_PINENTRY_SCRIPT.pos"
  for _ in $(seq 200); do echo "pin $PIN"; done >"$FAKE_PINENTRY_SCRIPT"
}
getpins() { grep -c ' GETPIN$' "$FAKE_PINENTRY_LOG"; }
# dialogs_since N: the pinentry log from the N-th GETPIN on (all for 0).
dialogs_since() { awk -v since="$1" '/ GETPIN$/ { n++ } n >= since' "$FAKE_PINENTRY_LOG"; }
# dialog_by PROGRAMS N: a dialog since the N-th GETPIN named one of
# PROGRAMS (an extended regex: "p11tool|certtool").
dialog_by() { dialogs_since "$2" | grep -qE "SETDESC ($1) \(pid [0-9]+\) asks to "; }
# dialog_for_login N TOKEN: a dialog since the N-th GETPIN asked to log in to TOKEN.
# The agent quotes the label in typographic quotes.
# shellcheck disable=SC1111
dialog_for_login() { dialogs_since "$1" | grep -qF "asks to log in to the token “$2”"; }
# A fresh start: nobody logged in, PINs ready for every dialog.
logged_out() {
  tessera lock >/dev/null || bail "tessera lock failed"
  pins_for_everything
}

# ---- the keys ------------------------------------------------------------------

# KEYS: one "TOKEN|CKA_ID|rsa or ec|CERTIFICATE|USES|NAME" per key; USES
# are sign, decrypt, derive and always (the key needs the PIN for every
# use). The certificate's directory has the CA that issued it (ca.pem).
# RSA_KEY, EC_KEY: the indexes of the keys GnuTLS and the engine sign with;
# NSS_SIGN_KEYS: those cmsutil signs with (S/MIME signing keys);
# DECRYPT_KEY: the one NSS decrypts with.
key() { # key INDEX: sets K_TOKEN K_ID K_TYPE K_CERT K_USES K_NAME K_PUB K_CA
  IFS='|' read -r K_TOKEN K_ID K_TYPE K_CERT K_USES K_NAME <<<"${KEYS[$1]}"
  K_PUB="$T/keys/$1.pub.pem"
  K_CA="$(dirname "$K_CERT")/ca.pem"
}
uses() { [[ " $K_USES " == *" $1 "* ]]; }
key_uri() { echo "pkcs11:token=$(uri_enc "$K_TOKEN");id=%$K_ID;type=private"; }

setup_softhsm() {
  : "${MAKE_TOKENS:?}"
  AGENT_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
  "$MAKE_TOKENS" "$T" || bail "make-tokens.sh failed"
  . "$T/env"
  TOKENS=(tessera-test-1 tessera-test-2)
  KEYS=(
    "tessera-test-1|01|rsa|$T/rsa2048.pem|sign decrypt|rsa2048"
    "tessera-test-1|02|rsa|$T/rsa3072.pem|sign decrypt|rsa3072"
    "tessera-test-1|03|ec|$T/p256.pem|sign derive|p256"
    "tessera-test-1|04|ec|$T/p384.pem|sign derive|p384"
    "tessera-test-2|11|rsa|$T/rsa2048-b.pem|sign|rsa2048-b"
    "tessera-test-2|13|ec|$T/p256-b.pem|sign|p256-b"
  )
  RSA_KEY=0 EC_KEY=2 DECRYPT_KEY=0 NSS_SIGN_KEYS=(0 2)
}

setup_card() {
  : "${VCARD_DIR:?}"
  [ -r "$OPENSC_PKCS11" ] || bail "$OPENSC_PKCS11 is missing (opensc-pkcs11)"
  AGENT_MODULE=$OPENSC_PKCS11
  export VCARD_PORT=${VCARD_PORT:-36200}
  # shellcheck source=../vcard/pcscd-env.sh
  . "$VCARD_DIR/pcscd-env.sh"
  printf 'app default {\n  framework pkcs15 {\n    use_file_caching = no;\n  }\n}\n' >"$T/opensc.conf"
  export OPENSC_CONF="$T/opensc.conf"
  start_pcscd "$T/pcscd" 2>"$T/pcscd.err" || { cat "$T/pcscd.err"; bail "no private pcscd"; }
  # The token label is the CN of the 9A certificate: "<name> (PIV Authentication)".
  "$VCARD_DIR/make-card" --type rsa --serial 30000105 --name "RSA Card" "$T/rsa" >/dev/null ||
    bail "make-card rsa"
  "$VCARD_DIR/make-card" --type ec --serial 40000106 --name "EC Card" "$T/ec" >/dev/null ||
    bail "make-card ec"
  local name port=$VCARD_PORT
  for name in rsa ec; do
    "$VCARD_DIR/virtual-piv" --port "$port" --dir "$T/$name" --control "$T/$name.ctl" \
      >"$T/$name.out" 2>&1 &
    CARD_PIDS+=($!)
    port=$((port + 1))
  done
  RSA_TOKEN="RSA Card (PIV Authentication)"
  EC_TOKEN="EC Card (PIV Authentication)"
  TOKENS=("$RSA_TOKEN" "$EC_TOKEN")
  # 9A PIV Authentication, 9C Digital Signature (PIN for every use),
  # 9D Key Management, 9E Card Authentication.
  KEYS=(
    "$RSA_TOKEN|01|rsa|$T/rsa/9a.pem|sign|RSA card 9A"
    "$RSA_TOKEN|02|rsa|$T/rsa/9c.pem|sign always|RSA card 9C"
    "$RSA_TOKEN|03|rsa|$T/rsa/9d.pem|decrypt|RSA card 9D"
    "$RSA_TOKEN|04|rsa|$T/rsa/9e.pem|sign|RSA card 9E"
    "$EC_TOKEN|01|ec|$T/ec/9a.pem|sign|EC card 9A"
    "$EC_TOKEN|02|ec|$T/ec/9c.pem|sign always|EC card 9C"
    "$EC_TOKEN|03|ec|$T/ec/9d.pem|derive|EC card 9D"
    "$EC_TOKEN|04|ec|$T/ec/9e.pem|sign|EC card 9E"
  )
  # S/MIME signs with 9C (EKU emailProtection), whose PIN NSS asks for each use.
  RSA_KEY=0 EC_KEY=4 DECRYPT_KEY=2 NSS_SIGN_KEYS=(1 5)
}
control() { "$VCARD_DIR/virtual-piv" --control "$T/$1.ctl" --send "$2" >/dev/null; }

"setup_$BACKEND"
mkdir -p "$T/keys"
for i in "${!KEYS[@]}"; do
  key "$i"
  openssl x509 -in "$K_CERT" -pubkey -noout >"$K_PUB" || bail "no public key in $K_CERT"
done

agent_start "$AGENT_MODULE" "$FAKE_PINENTRY" --debug
for i in 1 2 3; do
  wait_keys "${#KEYS[@]}" && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$T/agent.log"; bail "the agent exited"; }
  [ "$i" -lt 3 ] || { tail -n 30 "$T/agent.log"; bail "the agent did not list ${#KEYS[@]} keys"; }
done

head -c 20000 /dev/urandom >"$T/msg"
printf 'another message' >"$T/other"
openssl dgst -sha256 -binary "$T/msg" >"$T/msg.sha256"
# DigestInfo of SHA-256 for CKM_RSA_PKCS.
{ echo 3031300d060960864801650304020105000420 | xxd -r -p; cat "$T/msg.sha256"; } >"$T/msg.di256"
head -c 100 /dev/urandom >"$T/plain"
# verify_sig HASH SIG [openssl dgst option...]: SIG is K's signature of msg
# (and not of another message: a check that passes anything proves nothing).
verify_sig() {
  local hash=$1 sig=$2
  shift 2
  openssl dgst "-$hash" "$@" -verify "$K_PUB" -signature "$sig" "$T/msg" || return 1
  ! openssl dgst "-$hash" "$@" -verify "$K_PUB" -signature "$sig" "$T/other" 2>/dev/null
}
PSS=(-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1)

# From here on programs load the module (set up above without: SoftHSM's
# tools hang with ASan's runtime preloaded).
preload_sanitizers "$M"

# ==== OpenSC pkcs11-tool ===========================================================
section pkcs11-tool
logged_out
check "pkcs11-tool -L" p11 -L
cp "$T/out" "$T/slots.txt"
expect "pkcs11-tool -L: one slot per token (${#TOKENS[@]})" \
  test "$(grep -c '^Slot ' "$T/slots.txt")" = "${#TOKENS[@]}"
for tok in "${TOKENS[@]}"; do
  expect "pkcs11-tool -L lists the token \"$tok\"" grep -qxF "  token label        : $tok" "$T/slots.txt"
done
expect "pkcs11-tool -L: every token has a protected authentication path (PIN pad present)" \
  test "$(grep -c 'token flags .*PIN pad present' "$T/slots.txt")" = "${#TOKENS[@]}"

# object_classes FILE ID: the classes pkcs11-tool -O listed with that CKA_ID.
object_classes() {
  awk -v id="$2" '/^[A-Z][a-z]+ (Key )?Object;/ { cls = $1 } $1 == "ID:" && $2 == id { print cls }' "$1" |
    sort | tr '\n' ' '
}
for tok in "${TOKENS[@]}"; do
  check "pkcs11-tool -O on \"$tok\" (not logged in)" p11 --token-label "$tok" -O
  cp "$T/out" "$T/objects.txt"
  grep 'label:' "$T/objects.txt" | sort >"$T/labels-$(uri_enc "$tok")"
  for i in "${!KEYS[@]}"; do
    key "$i"
    [ "$K_TOKEN" = "$tok" ] || continue
    classes=$(object_classes "$T/objects.txt" "$K_ID")
    expect "pkcs11-tool -O: certificate, public and private key of $K_NAME share ID $K_ID" \
      test "$classes" = "Certificate Private Public "
    rm -f "$T/cert.der"
    check "pkcs11-tool --read-object: the certificate of $K_NAME" \
      p11 --token-label "$tok" --read-object --type cert --id "$K_ID" -o "$T/cert.der"
    expect "it is the certificate issued for $K_NAME" \
      sh -c 'openssl x509 -in "$1" -outform DER | cmp -s - "$2"' sh "$K_CERT" "$T/cert.der"
  done
done

# The first --login on each token: the module's C_Login without a PIN makes
# the agent show its dialog, which names pkcs11-tool.
for tok in "${TOKENS[@]}"; do
  before=$(getpins)
  check "pkcs11-tool --login (no --pin) on \"$tok\"" p11 --token-label "$tok" --login -O
  expect "the agent asked for the PIN of \"$tok\" in one dialog" test "$(getpins)" = $((before + 1))
  expect "... asking to log in to \"$tok\"" dialog_for_login "$before" "$tok"
  expect "... for pkcs11-tool, the program named in the dialog" dialog_by pkcs11-tool "$before"
done

# p11_sign MECHANISM INPUT [pkcs11-tool option...]: K signs INPUT into $T/sig.
p11_sign() {
  local mech=$1 input=$2
  shift 2
  rm -f "$T/sig"
  check "pkcs11-tool --sign -m $mech with $K_NAME" p11 --token-label "$K_TOKEN" --login \
    --id "$K_ID" --sign -m "$mech" -i "$input" -o "$T/sig" "$@"
  signatures=$((signatures + 1))
}
for i in "${!KEYS[@]}"; do
  key "$i"
  uses sign || continue
  before=$(getpins)
  signatures=0
  if [ "$K_TYPE" = rsa ]; then
    p11_sign RSA-PKCS "$T/msg.di256"
    check "openssl verifies $K_NAME's RSA-PKCS signature of a SHA-256 DigestInfo" \
      verify_sig sha256 "$T/sig"
    for h in 256 384 512; do
      p11_sign "SHA$h-RSA-PKCS" "$T/msg"
      check "openssl verifies $K_NAME's SHA$h-RSA-PKCS signature" verify_sig "sha$h" "$T/sig"
    done
    p11_sign RSA-PKCS-PSS "$T/msg.sha256" --hash-algorithm SHA256 --mgf MGF1-SHA256
    check "openssl verifies $K_NAME's RSA-PKCS-PSS signature (SHA-256, salt 32)" \
      verify_sig sha256 "$T/sig" "${PSS[@]}"
    p11_sign SHA256-RSA-PKCS-PSS "$T/msg"
    check "openssl verifies $K_NAME's SHA256-RSA-PKCS-PSS signature" \
      verify_sig sha256 "$T/sig" "${PSS[@]}"
  else
    p11_sign ECDSA "$T/msg.sha256" --signature-format openssl
    check "openssl verifies $K_NAME's ECDSA signature of a SHA-256 digest" verify_sig sha256 "$T/sig"
    for h in 256 384; do
      p11_sign "ECDSA-SHA$h" "$T/msg" --signature-format openssl
      check "openssl verifies $K_NAME's ECDSA-SHA$h signature" verify_sig "sha$h" "$T/sig"
    done
  fi
  if uses always; then
    expect "each of the $signatures signatures with $K_NAME had its own PIN dialog" \
      test "$(getpins)" = $((before + signatures))
    expect "... saying the key needs the PIN for every use" \
      grep -q "This key needs the PIN for every use" "$FAKE_PINENTRY_LOG"
  else
    expect "no PIN dialog for the $signatures signatures with $K_NAME (logged in)" \
      test "$(getpins)" = "$before"
  fi
done

# decrypt_with PADDING-NAME [openssl pkeyutl option...] -- [pkcs11-tool option...]
decrypt_with() {
  local name=$1 enc=() dec=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do enc+=("$1"); shift; done
  shift
  dec=("$@")
  rm -f "$T/ct" "$T/dec"
  openssl pkeyutl -encrypt -pubin -inkey "$K_PUB" -in "$T/plain" -out "$T/ct" "${enc[@]}" ||
    bail "openssl pkeyutl -encrypt ($name) failed"
  check "pkcs11-tool --decrypt $name with $K_NAME" p11 --token-label "$K_TOKEN" --login \
    --id "$K_ID" --decrypt -i "$T/ct" -o "$T/dec" "${dec[@]}"
  expect "the $name plaintext is what openssl encrypted" cmp -s "$T/plain" "$T/dec"
}
for i in "${!KEYS[@]}"; do
  key "$i"
  uses decrypt || continue
  decrypt_with RSA-PKCS -- -m RSA-PKCS
  decrypt_with "RSA-PKCS-OAEP (SHA-1)" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 \
    -pkeyopt rsa_mgf1_md:sha1 -- -m RSA-PKCS-OAEP --hash-algorithm SHA-1 --mgf MGF1-SHA1
  decrypt_with "RSA-PKCS-OAEP (SHA-256)" -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -- \
    -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256
done

for i in "${!KEYS[@]}"; do
  key "$i"
  uses derive || continue
  curve=$(openssl pkey -pubin -in "$K_PUB" -noout -text | sed -n 's/^NIST CURVE: //p')
  openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" -out "$T/peer.key" 2>/dev/null &&
    openssl pkey -in "$T/peer.key" -pubout -outform DER -out "$T/peer.der" &&
    openssl pkeyutl -derive -inkey "$T/peer.key" -peerkey "$K_PUB" -out "$T/expected" ||
    bail "openssl: no $curve peer key or secret"
  rm -f "$T/secret"
  check "pkcs11-tool --derive -m ECDH1-DERIVE with $K_NAME ($curve)" p11 --token-label "$K_TOKEN" \
    --login --id "$K_ID" --derive -m ECDH1-DERIVE -i "$T/peer.der" -o "$T/secret"
  expect "the shared secret is the one openssl pkeyutl -derive computes" cmp -s "$T/expected" "$T/secret"
done

# Programs remember labels (NSS nicknames "token:label", object= in URIs):
# logged in, the objects must have the labels they had before.
for tok in "${TOKENS[@]}"; do
  run p11 --token-label "$tok" -O
  expect "pkcs11-tool -O on \"$tok\", logged in: the objects have the labels they had before" \
    sh -c 'grep "label:" "$1" | sort | cmp -s - "$2"' sh "$T/out" "$T/labels-$(uri_enc "$tok")"
done

# pkcs11-tool's own self-test. The module says no mechanism is CKF_HW (it
# cannot know what the token does in hardware): --allow-sw on both backends.
for tok in "${TOKENS[@]}"; do
  check "pkcs11-tool --login --test --allow-sw on \"$tok\"" p11 --token-label "$tok" --login \
    --test --allow-sw
  cp "$T/both" "$T/selftest.txt"
  expect "... says \"No errors\"" grep -qx "No errors" "$T/selftest.txt"
  expect "... prints no ERR or error line" sh -c \
    '! grep -v "^No errors\$" "$1" | grep -E "ERR|[Ee]rror"' sh "$T/selftest.txt"
  has_rsa_signer=false has_rsa_decrypter=false
  for i in "${!KEYS[@]}"; do
    key "$i"
    [ "$K_TOKEN" = "$tok" ] && [ "$K_TYPE" = rsa ] && uses sign && has_rsa_signer=true
    [ "$K_TOKEN" = "$tok" ] && [ "$K_TYPE" = rsa ] && uses decrypt && has_rsa_decrypter=true
  done
  # The self-test signs and decrypts with RSA keys only.
  if $has_rsa_signer; then
    expect "... and ran its signature tests" sh -c \
      'grep -q "^Signatures (currently only for RSA)" "$1" && grep -q "RSA-PKCS: OK" "$1"' \
      sh "$T/selftest.txt"
  fi
  if $has_rsa_decrypter; then
    expect "... and its decryption tests (RSA-PKCS and OAEP)" sh -c \
      'sed -n "/^Decryption/,\$p" "$1" | grep -q "RSA-PKCS: OK" &&
       sed -n "/^Decryption/,\$p" "$1" | grep -q "^OK"' sh "$T/selftest.txt"
  fi
done

# ==== GnuTLS ==========================================================================
section GnuTLS
logged_out
before=$(getpins)
for tok in "${TOKENS[@]}"; do
  check "p11tool --list-all pkcs11:token=$tok" p11tool --provider "$M" --list-all \
    "pkcs11:token=$(uri_enc "$tok")"
  cp "$T/out" "$T/gnutls-objects.txt"
  # p11tool logs in halfway (the token has CKF_LOGIN_REQUIRED) and then
  # looks for private keys again by their labels: when the labels changed
  # meanwhile (the label bug, depending on timing) it asks for the token.
  if grep -q "Please insert token" "$T/both"; then
    echo "# p11tool asked to insert the token \"$tok\" (labels changed at its login)"
  fi
  for i in "${!KEYS[@]}"; do
    key "$i"
    [ "$K_TOKEN" = "$tok" ] || continue
    for type in cert public private; do
      expect "p11tool lists $K_NAME's $type object (id=%$K_ID)" \
        grep -qiE "URL: pkcs11:.*;id=%$K_ID;.*type=$type\$" "$T/gnutls-objects.txt"
    done
  done
done

cat >"$T/template" <<'EOF'
cn = "Tessera interop self-signed"
serial = 42
expiration_days = 30
signing_key
EOF
for i in "$RSA_KEY" "$EC_KEY"; do
  key "$i"
  rm -f "$T/self.pem"
  check "certtool --generate-self-signed with $K_NAME's key" certtool --provider "$M" \
    --generate-self-signed --load-privkey "$(key_uri)" --template "$T/template" \
    --outfile "$T/self.pem"
  check "openssl verifies the certificate's self-signature" \
    openssl verify -check_ss_sig -CAfile "$T/self.pem" "$T/self.pem"
  expect "the certificate holds $K_NAME's public key" \
    sh -c 'openssl x509 -in "$1" -noout -pubkey | cmp -s - "$2"' sh "$T/self.pem" "$K_PUB"
  check "p11tool --test-sign with $K_NAME" p11tool --provider "$M" --test-sign \
    "pkcs11:token=$(uri_enc "$K_TOKEN");id=%$K_ID"
  expect "... verified against the public key in the token" \
    grep -q "Verifying against public key in the token... ok" "$T/both"
done
expect "GnuTLS logged in through the PIN dialog (p11tool or certtool named)" \
  dialog_by "p11tool|certtool" "$before"

# ==== NSS =================================================================================
section NSS
logged_out
before=$(getpins)
NSSDB="sql:$T/nss"
mkdir -p "$T/nss"
check "certutil -N: a new NSS database" certutil -N -d "$NSSDB" --empty-password
check "modutil -add tessera -libfile tessera-pkcs11.so" modutil -dbdir "$NSSDB" -add tessera \
  -libfile "$M" -force
check "certutil -L -h all" certutil -L -d "$NSSDB" -h all
# nss_cert: "NICKNAME<TAB>TRUST" of the certificate K_CERT as NSS lists it
# now under K's token (read back from NSS and compared byte for byte).
nss_cert() {
  python3 - "$NSSDB" "$K_TOKEN" "$K_CERT" <<'PY'
import re, subprocess, sys
db, token, cert = sys.argv[1:]
want = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                      capture_output=True, check=True).stdout
listing = subprocess.run(["certutil", "-L", "-d", db, "-h", "all"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True).stdout
for line in listing.splitlines():
    m = re.match(r"^(.*\S)\s+(\S*,\S*,\S*)$", line)
    if not m or not m.group(1).startswith(token + ":"):
        continue
    der = subprocess.run(["certutil", "-L", "-d", db, "-n", m.group(1), "-r"],
                         stdin=subprocess.DEVNULL, capture_output=True).stdout
    if der == want:
        print("%s\t%s" % m.groups())
        sys.exit(0)
sys.exit(1)
PY
}
for i in "${!KEYS[@]}"; do
  key "$i"
  if nss_cert >"$T/nss-cert"; then
    ok "NSS lists $K_NAME's certificate as \"$(cut -f1 "$T/nss-cert")\""
  else
    not_ok "NSS lists $K_NAME's certificate as \"$K_TOKEN:...\""
  fi
  expect "... paired with its private key (trust u,u,u)" \
    test "$(cut -f2 "$T/nss-cert")" = "u,u,u"
done
n_ca=0
for i in "${!KEYS[@]}"; do
  key "$i"
  grep -qxF "$K_CA" "$T/cas" 2>/dev/null && continue
  echo "$K_CA" >>"$T/cas"
  n_ca=$((n_ca + 1))
  check "certutil -A: the CA of $K_NAME, trusted C,C,C" certutil -A -d "$NSSDB" \
    -n "Tessera interop CA $n_ca" -t C,C,C -a -i "$K_CA"
done

printf 'Tessera interop message for NSS\n' >"$T/letter"
# -G: a signing-time attribute, as mail programs add. Without any signed
# attribute NSS (3.87, its own soft token as well) puts ECDSA's raw r || s
# into the SignerInfo instead of DER, which nobody can verify. -Y NONE: the
# signing certificate is no encryption certificate (cmsutil looks for one
# under the same nickname otherwise).
for i in "${NSS_SIGN_KEYS[@]}"; do
  key "$i"
  nss_cert >"$T/nss-cert"
  nick=$(cut -f1 "$T/nss-cert")
  rm -f "$T/signed.p7s"
  check "cmsutil -S -N \"$nick\"" cmsutil -S -d "$NSSDB" -N "$nick" -G -Y NONE \
    -i "$T/letter" -o "$T/signed.p7s"
  check "openssl cms -verify -CAfile ca.pem accepts $K_NAME's NSS signature" \
    openssl cms -verify -inform DER -in "$T/signed.p7s" -CAfile "$K_CA" -purpose any \
    -out "$T/content"
  expect "... with the message as content" cmp -s "$T/letter" "$T/content"
  check "cmsutil -D -h 2 on $K_NAME's signature" cmsutil -D -d "$NSSDB" -h 2 -i "$T/signed.p7s"
  expect "cmsutil reports signer0.status=GoodSignature" \
    grep -q "signer0.status=GoodSignature;" "$T/out"
  # The same signed message with one letter of its content changed.
  if python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
assert d.count(b"interop message") == 1
open(sys.argv[2], "wb").write(d.replace(b"interop message", b"interop messagE"))' \
    "$T/signed.p7s" "$T/tampered.p7s" 2>/dev/null; then
    run cmsutil -D -d "$NSSDB" -h 2 -i "$T/tampered.p7s"
    expect "cmsutil -D on the tampered message does not report GoodSignature" \
      sh -c 'grep -q "signer0.status=" "$1" && ! grep -q "signer0.status=GoodSignature" "$1"' \
      sh "$T/out"
  else
    not_ok "cmsutil -D on the tampered message (no signed message to tamper with)"
  fi
done
expect "NSS logged in through the PIN dialog (certutil or cmsutil named)" \
  dialog_by "certutil|cmsutil" "$before"

key "$DECRYPT_KEY"
head -c 3000 /dev/urandom >"$T/secret-letter"
openssl cms -encrypt -binary -aes256 -in "$T/secret-letter" -outform DER -out "$T/enveloped.p7m" \
  "$K_CERT" || bail "openssl cms -encrypt failed"
rm -f "$T/opened"
check "cmsutil -D decrypts a message openssl cms -encrypt -aes256 made for $K_NAME" \
  cmsutil -D -d "$NSSDB" -i "$T/enveloped.p7m" -o "$T/opened"
expect "... to the plaintext" cmp -s "$T/secret-letter" "$T/opened"

# ==== OpenSSL's pkcs11 engine (libp11) ======================================================
section "the pkcs11 engine"
logged_out
before=$(getpins)
# engine_sign NAME [openssl cms option...]: K signs letter, detached, into $T/engine.p7s.
engine_sign() {
  local name=$1
  shift
  rm -f "$T/engine.p7s"
  check "openssl cms -sign -engine pkcs11 with $K_NAME ($name)" env PKCS11_MODULE_PATH="$M" \
    openssl cms -sign -binary -engine pkcs11 -keyform engine -inkey "$(key_uri)" \
    -signer "$K_CERT" -in "$T/letter" -outform DER -out "$T/engine.p7s" "$@"
  check "openssl cms -verify accepts it (detached, -content)" openssl cms -verify -binary \
    -inform DER -in "$T/engine.p7s" -content "$T/letter" -CAfile "$K_CA" -purpose any \
    -out /dev/null
  run openssl cms -verify -binary -inform DER -in "$T/engine.p7s" -content "$T/other" \
    -CAfile "$K_CA" -purpose any -out /dev/null
  expect "... and refuses it for another content" test $? -ne 0
}
key "$RSA_KEY"
engine_sign "PKCS1 v1.5"
engine_sign PSS -keyopt rsa_padding_mode:pss
expect "... the signature is RSA-PSS" sh -c \
  'openssl cms -cmsout -print -inform DER -in "$1" | grep -q rsassaPss' sh "$T/engine.p7s"
key "$EC_KEY"
engine_sign ECDSA
expect "the engine logged in through the PIN dialog (openssl named)" dialog_by openssl "$before"

# ==== many programs at once (SoftHSM) =========================================================
if [ "$BACKEND" = softhsm ]; then
  section "50 programs at once"
  logged_out
  # The user takes a moment: the 50 logins arrive while the dialog is open.
  answers "slow pin $PIN"
  before=$(getpins)
  mkdir -p "$T/many"
  # The start line: the 50 wait for a shared lock while this shell holds it.
  exec 9>"$T/start.lock"
  flock 9
  pids=()
  for j in $(seq 50); do
    (
      exec 9>&-
      flock -s "$T/start.lock" true
      if [ $((j % 2)) = 0 ]; then
        set -- --id 01 -m SHA256-RSA-PKCS
      else
        set -- --id 03 -m ECDSA-SHA256 --signature-format openssl
      fi
      p11 --token-label tessera-test-1 --login --sign -i "$T/msg" -o "$T/many/$j.sig" "$@" \
        >"$T/many/$j.out" 2>&1 </dev/null
      echo $? >"$T/many/$j.rc"
    ) &
    pids+=($!)
  done
  sleep 1 # all 50 wait on the lock
  started=$(date +%s%N)
  flock -u 9
  exec 9>&-
  wait "${pids[@]}"
  elapsed_ms=$((($(date +%s%N) - started) / 1000000))
  cat "$T"/many/*.out >>"$T/clients.log"
  good=0 verified=0
  for j in $(seq 50); do
    [ "$(cat "$T/many/$j.rc" 2>/dev/null)" = 0 ] && good=$((good + 1))
    if [ $((j % 2)) = 0 ]; then key 0; else key 2; fi
    openssl dgst -sha256 -verify "$K_PUB" -signature "$T/many/$j.sig" "$T/msg" >/dev/null 2>&1 &&
      verified=$((verified + 1))
  done
  failed_out=$(for j in $(seq 50); do
    [ "$(cat "$T/many/$j.rc" 2>/dev/null)" = 0 ] || cat "$T/many/$j.out"
  done | head -n 5)
  [ -z "$failed_out" ] || echo "$failed_out" | sed 's/^/# /'
  expect "50 pkcs11-tool --login --sign started together all succeed (${elapsed_ms} ms)" \
    test "$good" = 50
  expect "openssl verifies all 50 signatures" test "$verified" = 50
  expect "their 50 logins shared one PIN dialog" test "$(getpins)" = $((before + 1))
fi

# ==== a card pulled out under a session (virtual card) ===========================================
if [ "$BACKEND" = card ]; then
  section "card removal"
  logged_out
  key 0 # RSA card 9A
  mkfifo "$T/probe.in" "$T/probe.out"
  "$PROBE" "$M" "$K_TOKEN" "$K_ID" <"$T/probe.in" >"$T/probe.out" 2>"$T/probe.err" &
  PROBE_PID=$!
  exec 7>"$T/probe.in" 8<"$T/probe.out"
  # probe_send LINE / probe_read: one command, one line of answer (in
  # $REPLY_LINE, 20 s at most); probe CMD... does both.
  probe_send() { echo "$*" >&7; echo "probe< $*" >>"$T/clients.log"; }
  probe_read() {
    REPLY_LINE=
    read -r -t 20 REPLY_LINE <&8
    echo "probe> $REPLY_LINE" >>"$T/clients.log"
  }
  probe() { probe_send "$@"; probe_read; }
  # replied DESCRIPTION PATTERN: the last answer matches the extended regex.
  replied() {
    if [[ "$REPLY_LINE" =~ $2 ]]; then ok "$1"; else not_ok "$1 (got: ${REPLY_LINE:-nothing})"; fi
  }

  probe_read
  replied "the probe (dlopen, C_Initialize) finds the RSA card's slot" '^ready slot=[0-9]+$'
  SLOT=${REPLY_LINE#ready slot=}
  probe open
  replied "C_OpenSession on the slot" '^open CKR_OK$'
  probe label
  replied "CKA_LABEL of the private key" '^label CKR_OK .'
  label_before=$REPLY_LINE
  probe login
  replied "C_Login with no PIN (the agent asks)" '^login CKR_OK$'
  probe sign "$T/msg" "$T/probe.sig"
  replied "C_Sign on the session" '^sign CKR_OK$'
  check "openssl verifies the probe's signature" verify_sig sha256 "$T/probe.sig"
  probe label
  expect "the private key kept its CKA_LABEL through C_Login (${label_before#label CKR_OK }, then ${REPLY_LINE#label CKR_OK })" \
    test "$REPLY_LINE" = "$label_before"
  probe drain
  replied "no slot events pending" '^drain CKR_NO_EVENT events=[0-9]+$'

  control rsa remove
  check "the card is removed: the agent lists its keys as unavailable" \
    wait_keys $((${#KEYS[@]} - 4))
  probe sign "$T/msg" "$T/probe.sig"
  replied "C_Sign on the session of the removed card: SESSION_HANDLE_INVALID or DEVICE_REMOVED" \
    '^sign (CKR_SESSION_HANDLE_INVALID|CKR_DEVICE_REMOVED)$'
  probe session
  replied "C_GetSessionInfo: the session is gone" \
    '^session (CKR_SESSION_HANDLE_INVALID|CKR_DEVICE_REMOVED|CKR_SESSION_CLOSED) '
  probe slot
  replied "C_GetSlotInfo: the slot stays, without a token" '^slot CKR_OK absent$'
  probe open
  replied "C_OpenSession while the card is out: TOKEN_NOT_PRESENT" \
    '^open (CKR_TOKEN_NOT_PRESENT|CKR_DEVICE_REMOVED)$'

  control rsa insert
  check "the card is back: the agent lists its keys" wait_keys "${#KEYS[@]}"
  probe slot
  replied "C_GetSlotInfo: the same slot id has the token again" '^slot CKR_OK present$'
  before=$(getpins)
  probe open
  replied "C_OpenSession on the same slot id" '^open CKR_OK$'
  probe login
  replied "C_Login again (the removal ended the login)" '^login CKR_OK$'
  expect "... with a new PIN dialog" test "$(getpins)" = $((before + 1))
  probe sign "$T/msg" "$T/probe.sig"
  replied "C_Sign on the new session" '^sign CKR_OK$'
  check "openssl verifies it" verify_sig sha256 "$T/probe.sig"

  # C_WaitForSlotEvent, blocked while the card goes and comes back.
  probe drain
  probe_send wait
  sleep 0.5
  control rsa remove
  probe_read
  replied "C_WaitForSlotEvent reports the RSA card's slot when the card is removed" \
    "^wait CKR_OK slot=$SLOT\$"
  probe sign "$T/msg" "$T/probe.sig"
  replied "C_Sign on the removed card's session: SESSION_HANDLE_INVALID or DEVICE_REMOVED" \
    '^sign (CKR_SESSION_HANDLE_INVALID|CKR_DEVICE_REMOVED)$'
  probe drain
  probe_send wait
  sleep 0.5
  control rsa insert
  probe_read
  replied "C_WaitForSlotEvent reports the slot when the card is inserted" \
    "^wait CKR_OK slot=$SLOT\$"
  probe slot
  replied "... and the token is present" '^slot CKR_OK present$'
  wait_keys "${#KEYS[@]}" >/dev/null
  probe open
  replied "C_OpenSession on the same slot id after the event" '^open CKR_OK$'
  probe login
  replied "C_Login" '^login CKR_OK$'
  probe sign "$T/msg" "$T/probe.sig"
  replied "C_Sign" '^sign CKR_OK$'
  check "openssl verifies it" verify_sig sha256 "$T/probe.sig"
  probe quit
  replied "C_Finalize" '^quit CKR_OK$'
  exec 7>&- 8<&-
  wait "$PROBE_PID"
  expect "the probe exits 0" test $? = 0
  PROBE_PID=
fi

# ==== the PIN stays with the agent ==================================================================
section end
expect "the agent showed PIN dialogs ($(getpins))" test "$(getpins)" -gt 0
expect "the PIN never appears in what the programs printed" \
  sh -c '! grep -q "$1" "$2"' sh "$PIN" "$T/clients.log"
expect "the agent's debug log holds no PIN" sh -c '! grep -q "$1" "$2"' sh "$PIN" "$T/agent.log"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
expect "the agent exits 0 on SIGTERM" test $? = 0
AGENT_PID=
tap_done
