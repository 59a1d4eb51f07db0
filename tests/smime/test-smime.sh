#!/bin/sh
# `tessera smime` end to end: the real agent on SoftHSM2 tokens (make-tokens.sh
# --smime: certificates with email addresses), messages checked by
# `openssl cms` and NSS's `cmsutil` in both directions, third-party samples
# (tests/data/smime: NSS/Thunderbird) decrypted through the agent with their
# keys imported into a token, and bad input. Prints TAP.
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, MAKE_TOKENS,
# SOFTHSM_MODULE, FAKE_PINENTRY, SMIME_DATA.
set -u

: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${MAKE_TOKENS:?}" "${FAKE_PINENTRY:?}" "${SMIME_DATA:?}"
MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-smime-XXXXXX")
AGENT_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/common.sh"
smime() { "$TESSERA_CLI" --no-prompt smime "$@"; }

smime_tokens
D=$SMIME_DATA
TB=$D/thunderbird

# The samples' keys on a token of their own (EC keys with CKA_DERIVE).
softhsm2-util --init-token --free --label tessera-samples --pin 123456 --so-pin 12345678 \
  >/dev/null || bail "cannot make the samples token"
import_p12() { # import_p12 P12 ID LABEL
  openssl pkcs12 -in "$1" -passin pass:nss -nocerts -nodes 2>/dev/null \
    | openssl pkey -out "$T/$3.key" || bail "cannot read $1"
  openssl pkcs12 -in "$1" -passin pass:nss -clcerts -nokeys 2>/dev/null \
    | openssl x509 -outform DER -out "$T/$3.der" || bail "cannot read $1's certificate"
  openssl x509 -inform DER -in "$T/$3.der" -out "$T/$3.pem"
  pkcs11-tool --module "$MODULE" --token-label tessera-samples --login --pin 123456 \
    --write-object "$T/$3.key" --type privkey --id "$2" --label "$3" --usage-decrypt \
    --usage-derive --usage-sign >/dev/null 2>&1 || bail "cannot import $3"
  pkcs11-tool --module "$MODULE" --token-label tessera-samples --login --pin 123456 \
    --write-object "$T/$3.der" --type cert --id "$2" --label "$3" >/dev/null 2>&1 \
    || bail "cannot import $3's certificate"
}
import_p12 "$TB/smime/Bob.p12" 41 tb-bob
import_p12 "$TB/smime-interop/Fran.p12" 42 tb-fran
import_p12 "$TB/smime-interop/Fran-ec.p12" 43 tb-fran-ec

export XDG_CONFIG_HOME="$T/no-config" XDG_DATA_HOME="$T/data"
smime_agent_start tessera-smime tessera-test-1 tessera-test-2 tessera-samples

CA=$T/ca.pem
# The test CA as the configured collection (a bundle in the config dir).
mkdir -p "$XDG_CONFIG_HOME/tessera"
cp "$CA" "$XDG_CONFIG_HOME/tessera/smime-ca.pem"

cat >"$T/msg.eml" <<'MSG'
From: Alice Example <alice@example.org>
To: Bob Example <bob@example.org>
Subject: =?utf-8?q?S/MIME_=E2=80=94_a_test?=
Date: Tue, 01 Dec 2026 22:00:00 +0000
Message-ID: <test-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hello Bob — this line has 8-bit characters.
From here on, a line that starts with From.
  Trailing spaces and tabs stay:   	
.
The end.
MSG
# body_of FILE: the text lines that matter, for comparisons.
body_of() { grep -E '^(Hello Bob|The end|From here)' "$1" | tr -d '\r'; }
printf 'Hello Bob =E2=80=94 this line has 8-bit characters.\nFrom here on, a line that starts with From.\nThe end.\n' >"$T/body.qp"

# --- sign, clear-signed by default ------------------------------------
check "sign (automatic key choice)" smime sign "$T/msg.eml" --out "$T/signed.eml"
check_grep "multipart/signed with SHA-256" "$T/signed.eml" 'multipart/signed; protocol="application/pkcs7-signature"; micalg="sha-256"'
check_grep "outer headers stay outside" "$T/signed.eml" '^Subject: =?utf-8?q?S/MIME'
check_grep "the body was made 7-bit (quoted-printable)" "$T/signed.eml" 'quoted-printable'
if LC_ALL=C grep -q '[^[:print:][:space:]]' "$T/signed.eml"; then
  not_ok "output is 7-bit"
else ok "output is 7-bit"; fi
check "openssl cms -verify accepts it" openssl cms -verify -in "$T/signed.eml" -CAfile "$CA" \
  -purpose smimesign -out "$T/openssl-content"
openssl cms -cmsout -print -in "$T/signed.eml" >"$T/print" 2>&1
check_grep "signed by alice-sign (the best key for the From address)" "$T/print" 'CN=alice-sign'
check_grep "SMIMECapabilities attribute" "$T/print" 'S/MIME Capabilities'
check_grep "SMIMEEncryptionKeyPreference attribute" "$T/print" 'id-smime-aa-encrypKeyPref'
check_grep "signing time attribute" "$T/print" 'signingTime'
check_grep "the encryption certificate travels along" "$T/print" 'CN=alice-enc,'

check "sign --explain" smime sign --explain "$T/msg.eml" --out /dev/null
check_grep "--explain names the chosen key" "$T/err" 'chosen:  alice-sign'
check_grep "--explain refuses the encryption-only key" "$T/err" 'refused: alice-enc (.*keyUsage allows neither'
check_grep "--explain refuses certificates for other addresses" "$T/err" 'bob-ec.*is for bob@example.org'
check_grep "--explain passes over the earlier-expiring key" "$T/err" 'passed over: alice-ec'

# --- verify -------------------------------------------------------------
check "verify: good" smime verify "$T/signed.eml" --out "$T/verified.eml"
check_grep "verdict names signer and address" "$T/err" 'good signature from alice-sign <alice@example.org>'
check_grep "verdict names the trust anchor" "$T/err" 'trust anchor: CN=Tessera Test CA'
check_grep "verdict gives the signing time" "$T/err" 'signed at: 20'
check_grep "content keeps the outer headers" "$T/verified.eml" '^Message-ID: <test-1@example.org>'
body_of "$T/verified.eml" >"$T/v.body"
if cmp -s "$T/v.body" "$T/body.qp"; then ok "content is the message"; else not_ok "content is the message" "$T/v.body"; fi
check "verify from stdin" sh -c "'$TESSERA_CLI' smime verify <'$T/signed.eml' >/dev/null"
check "verify --json" smime verify --json "$T/signed.eml"
check_grep "json verdict good" "$T/out" '"verdict": "good"'
check_grep "json chain" "$T/out" '"anchor": "CN=Tessera Test CA"'

sed 's/this line has/this line had/' "$T/signed.eml" >"$T/tampered.eml"
check_exit 1 "verify: a tampered body fails" smime verify "$T/tampered.eml" --out /dev/null
check_grep "reason: bad signature" "$T/err" 'bad signature'
check_exit 1 "verify --json: tampered" smime verify --json "$T/tampered.eml"
check_grep "json verdict bad-signature" "$T/out" '"verdict": "bad-signature"'
XDG_CONFIG_HOME=$T/empty check_exit 1 "verify without the anchor: untrusted" smime verify "$T/signed.eml" --out /dev/null
check_grep "reason: untrusted" "$T/err" 'untrusted: unable to get local issuer'
XDG_CONFIG_HOME=$T/empty check "--ca adds an anchor for one run" smime verify --ca "$CA" "$T/signed.eml" --out /dev/null
sed 's/^From: Alice Example <alice@example.org>/From: Mallory <mallory@example.org>/' "$T/signed.eml" >"$T/forged.eml"
check_exit 1 "verify: From is not the certificate's address" smime verify "$T/forged.eml" --out /dev/null
check_grep "reason: address mismatch" "$T/err" 'address mismatch: the message is from mallory@example.org'
check_exit 1 "verify: an unsigned message" smime verify "$T/msg.eml" --out /dev/null
check_grep "reason: not signed" "$T/err" 'not signed'

# --- sign options ---------------------------------------------------------
check "sign --opaque --key alice-ec --hash sha384 (ECDSA)" smime sign --opaque --key alice-ec --hash sha384 "$T/msg.eml" --out "$T/opaque.eml"
check_grep "opaque signed-data" "$T/opaque.eml" 'application/pkcs7-mime; smime-type=signed-data'
check "openssl verifies the opaque one" openssl cms -verify -in "$T/opaque.eml" -CAfile "$CA" -out /dev/null
check "tessera verifies the opaque one" smime verify "$T/opaque.eml" --out "$T/opaque-content.eml"
check_grep "opaque: good signature from alice-ec" "$T/err" 'good signature from alice-ec'
body_of "$T/opaque-content.eml" >"$T/o.body"
if cmp -s "$T/o.body" "$T/body.qp"; then ok "opaque content is the message"; else not_ok "opaque content is the message" "$T/o.body"; fi
openssl cms -cmsout -print -in "$T/opaque.eml" >"$T/print" 2>&1
check_grep "SHA-384 digest" "$T/print" 'sha384'
check "sign --pss --hash sha512" smime sign --pss --hash sha512 "$T/msg.eml" --out "$T/pss.eml"
openssl cms -cmsout -print -in "$T/pss.eml" >"$T/print" 2>&1
check_grep "RSASSA-PSS" "$T/print" 'rsassaPss'
check "openssl verifies RSA-PSS" openssl cms -verify -in "$T/pss.eml" -CAfile "$CA" -out /dev/null
check "tessera verifies RSA-PSS" smime verify "$T/pss.eml" --out /dev/null
check_exit 1 "--pss with an EC key fails" smime sign --pss --key alice-ec "$T/msg.eml" --out /dev/null
check_exit 2 "unknown hash: usage error" smime sign --hash md5 "$T/msg.eml"
sed 's/^From: .*/From: nobody@example.org/' "$T/msg.eml" >"$T/nobody.eml"
check_exit 1 "no key for the sender fails" smime sign "$T/nobody.eml" --out /dev/null
check_grep "names the address and --explain" "$T/err" 'no key of yours can sign mail from nobody@example.org'
check_exit 1 "a full disk fails the output" smime sign "$T/msg.eml" --out /dev/full
check_grep "... and says so" "$T/err" "cannot write the output"
check_exit 2 "unknown subcommand" smime frobnicate
check_exit 3 "agent unreachable: exit 3" "$TESSERA_CLI" --socket "$T/none.sock" smime sign "$T/msg.eml"

# --- OpenSSL -> tessera ---------------------------------------------------
sed -n '/^MIME-Version/,$p' "$T/msg.eml" | sed 1d >"$T/entity"
# An OpenSSL signer with its own key and a certificate from a fresh CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/oca.key" \
  -out "$T/oca.pem" -subj "/CN=OpenSSL Side CA" -days 30 2>/dev/null
printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature, keyEncipherment" \
  "extendedKeyUsage = emailProtection" "subjectAltName = email:carol@example.org" >"$T/carol.cnf"
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/carol.key" -subj "/CN=Carol Example" \
  -out "$T/carol.csr" 2>/dev/null
openssl x509 -req -in "$T/carol.csr" -CA "$T/oca.pem" -CAkey "$T/oca.key" -set_serial 7 -days 30 \
  -extfile "$T/carol.cnf" -out "$T/carol.pem" 2>/dev/null
{ printf 'From: Carol <carol@example.org>\nTo: alice@example.org\nSubject: from openssl\n'
  openssl cms -sign -in "$T/entity" -signer "$T/carol.pem" -inkey "$T/carol.key"; } >"$T/ossl-signed.eml"
check "verify a message openssl signed (--ca)" smime verify --ca "$T/oca.pem" "$T/ossl-signed.eml" --out "$T/x"
check_grep "good signature from Carol" "$T/err" 'good signature from Carol Example <carol@example.org>'
{ printf 'From: Carol <carol@example.org>\nTo: alice@example.org\nSubject: from openssl\n'
  openssl cms -sign -nodetach -in "$T/entity" -signer "$T/carol.pem" -inkey "$T/carol.key"; } >"$T/ossl-opaque.eml"
check "verify an opaque message openssl signed" smime verify --ca "$T/oca.pem" "$T/ossl-opaque.eml" --out /dev/null

# Expired and revoked signers, from the OpenSSL side CA (openssl ca for the
# dates and the CRL).
mkdir -p "$T/ocadb"
: >"$T/ocadb/index.txt"
echo 10 >"$T/ocadb/serial"
printf '%s\n' "[ca]" "default_ca = d" "[d]" "database = $T/ocadb/index.txt" \
  "new_certs_dir = $T/ocadb" "serial = $T/ocadb/serial" "default_md = sha256" \
  "policy = p" "default_crl_days = 1" "unique_subject = no" "[p]" "commonName = supplied" >"$T/oca.cnf"
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/dave.key" -subj "/CN=Dave Example" \
  -out "$T/dave.csr" 2>/dev/null
sed 's/carol@/dave@/' "$T/carol.cnf" >"$T/dave.cnf"
openssl ca -batch -config "$T/oca.cnf" -cert "$T/oca.pem" -keyfile "$T/oca.key" -in "$T/dave.csr" \
  -out "$T/dave-old.pem" -startdate 20200101000000Z -enddate 20210101000000Z -extfile "$T/dave.cnf" \
  -notext >/dev/null 2>&1 || bail "openssl ca failed"
openssl ca -batch -config "$T/oca.cnf" -cert "$T/oca.pem" -keyfile "$T/oca.key" -in "$T/dave.csr" \
  -out "$T/dave.pem" -days 5 -extfile "$T/dave.cnf" -notext >/dev/null 2>&1 || bail "openssl ca failed"
for c in dave-old dave; do
  { printf 'From: Dave <dave@example.org>\nTo: alice@example.org\nSubject: from dave\n'
    openssl cms -sign -in "$T/entity" -signer "$T/$c.pem" -inkey "$T/dave.key"; } >"$T/$c.eml"
done
check_exit 1 "verify: an expired signer" smime verify --ca "$T/oca.pem" "$T/dave-old.eml" --out /dev/null
check_grep "reason: expired" "$T/err" 'expired: certificate has expired'
openssl ca -batch -config "$T/oca.cnf" -cert "$T/oca.pem" -keyfile "$T/oca.key" -revoke "$T/dave.pem" \
  >/dev/null 2>&1 || bail "openssl ca -revoke failed"
openssl ca -batch -config "$T/oca.cnf" -cert "$T/oca.pem" -keyfile "$T/oca.key" -gencrl \
  -out "$T/oca.crl" >/dev/null 2>&1 || bail "openssl ca -gencrl failed"
check "verify: good before the CRL is given" smime verify --ca "$T/oca.pem" "$T/dave.eml" --out /dev/null
check_exit 1 "verify --crl: a revoked signer" smime verify --ca "$T/oca.pem" --crl "$T/oca.crl" "$T/dave.eml" --out /dev/null
check_grep "reason: revoked" "$T/err" 'revoked: certificate revoked'
check "verify --crl: carol is not revoked" smime verify --ca "$T/oca.pem" --crl "$T/oca.crl" "$T/ossl-signed.eml" --out /dev/null
# CRL directories: --crl DIR, $XDG_CONFIG_HOME/tessera/smime-crl/,
# $TESSERA_SMIME_CRL (files and directories); every regular file in a
# directory must be a CRL (PEM or DER).
mkdir -p "$T/crl-dir/subdir" "$T/crl-empty" "$T/crl-config/tessera/smime-crl"
openssl crl -in "$T/oca.crl" -outform DER -out "$T/crl-dir/oca.der" || bail "openssl crl failed"
cp "$T/oca.crl" "$T/crl-config/tessera/smime-crl/oca.pem"
crl_verify() { "$TESSERA_CLI" --no-prompt smime verify --ca "$T/oca.pem" "$@" --out /dev/null; }
check_exit 1 "verify --crl DIR (a DER CRL): a revoked signer" crl_verify --crl "$T/crl-dir" "$T/dave.eml"
check_grep "--crl DIR: reason revoked" "$T/err" 'revoked: certificate revoked'
check "verify --crl DIR: carol is not revoked" crl_verify --crl "$T/crl-dir" "$T/ossl-signed.eml"
check_exit 1 "verify with XDG_CONFIG_HOME/tessera/smime-crl: a revoked signer" \
  env XDG_CONFIG_HOME="$T/crl-config" "$TESSERA_CLI" --no-prompt smime verify --ca "$T/oca.pem" "$T/dave.eml" --out /dev/null
check_grep "smime-crl: reason revoked" "$T/err" 'revoked: certificate revoked'
check "verify with smime-crl: carol is not revoked" \
  env XDG_CONFIG_HOME="$T/crl-config" "$TESSERA_CLI" --no-prompt smime verify --ca "$T/oca.pem" "$T/ossl-signed.eml" --out /dev/null
check_exit 1 "verify with TESSERA_SMIME_CRL (a directory and a file): a revoked signer" \
  env TESSERA_SMIME_CRL="$T/crl-empty:$T/oca.crl" "$TESSERA_CLI" --no-prompt smime verify --ca "$T/oca.pem" "$T/dave.eml" --out /dev/null
check_grep "TESSERA_SMIME_CRL: reason revoked" "$T/err" 'revoked: certificate revoked'
check "an empty CRL directory turns no checking on" crl_verify --crl "$T/crl-empty" "$T/dave.eml"
# With CRL checking on, an issuer without a CRL: untrusted (alice's
# certificate is from the test CA, the only CRL is the side CA's).
check_exit 1 "CRL checking on, no CRL for the issuer: refused" smime verify --crl "$T/oca.crl" "$T/signed.eml" --out /dev/null
check_grep "no CRL: reason untrusted, unable to get the CRL" "$T/err" 'untrusted: unable to get certificate CRL'
cp -R "$T/crl-dir" "$T/crl-bad"
echo 'not a CRL' >"$T/crl-bad/junk.crl"
check_exit 1 "--crl DIR with a garbage file: bad input" crl_verify --crl "$T/crl-bad" "$T/ossl-signed.eml"
check_grep "names the garbage file" "$T/err" "crl-bad/junk.crl is not a CRL"
cp "$T/crl-bad/junk.crl" "$T/crl-config/tessera/smime-crl/"
check_exit 1 "a garbage file in smime-crl: bad input" \
  env XDG_CONFIG_HOME="$T/crl-config" "$TESSERA_CLI" --no-prompt smime verify --ca "$T/oca.pem" "$T/ossl-signed.eml" --out /dev/null
check_grep "names it" "$T/err" "smime-crl/junk.crl is not a CRL"
check_exit 1 "TESSERA_SMIME_CRL naming a missing file: bad input" \
  env TESSERA_SMIME_CRL="$T/no-such.crl" "$TESSERA_CLI" --no-prompt smime verify --ca "$T/oca.pem" "$T/ossl-signed.eml" --out /dev/null
check_grep "names the missing file" "$T/err" "cannot read the CRL $T/no-such.crl"

# --- several signers: each SignerInfo judged on its own -------------------
# Carol's second key (ECDSA) for the same address, and a stray signer whose
# CA no one trusts.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/carol-ec.key" \
  -subj "/CN=Carol Example (EC)" -out "$T/carol-ec.csr" 2>/dev/null
openssl x509 -req -in "$T/carol-ec.csr" -CA "$T/oca.pem" -CAkey "$T/oca.key" -set_serial 8 -days 30 \
  -extfile "$T/carol.cnf" -out "$T/carol-ec.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/stray-ca.key" \
  -out "$T/stray-ca.pem" -subj "/CN=Stray CA" -days 30 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/stray.key" -subj "/CN=Stray Carol" \
  -out "$T/stray.csr" 2>/dev/null
openssl x509 -req -in "$T/stray.csr" -CA "$T/stray-ca.pem" -CAkey "$T/stray-ca.key" -set_serial 9 \
  -days 30 -extfile "$T/carol.cnf" -out "$T/stray.pem" 2>/dev/null
two_signed() { # two_signed OUT CERT1 KEY1 CERT2 KEY2 [openssl cms options]
  out=$1 c1=$2 k1=$3 c2=$4 k2=$5
  shift 5
  { printf 'From: Carol <carol@example.org>\nTo: alice@example.org\nSubject: two signers\n'
    openssl cms -sign -in "$T/entity" -signer "$c1" -inkey "$k1" -signer "$c2" -inkey "$k2" "$@"; } >"$out"
}
two_signed "$T/two-good.eml" "$T/carol.pem" "$T/carol.key" "$T/carol-ec.pem" "$T/carol-ec.key"
check "openssl: two signers (RSA and ECDSA) verify" openssl cms -verify -in "$T/two-good.eml" -CAfile "$T/oca.pem" -out /dev/null
check "verify two good signers (RSA and ECDSA)" smime verify --ca "$T/oca.pem" "$T/two-good.eml" --out /dev/null
# (DER sorts the SignerInfos' SET OF: the order is not the -signer order.)
check_grep "two good: a good signature" "$T/err" 'good signature from Carol Example'
check_grep "two good: the other signer good too" "$T/err" 'also signed by Carol Example.* <carol@example.org>: good$'
check_grep "two good: names the RSA signer" "$T/err" 'Carol Example <carol@example.org>'
check_grep "two good: names the ECDSA signer" "$T/err" 'Carol Example (EC) <carol@example.org>'
check "verify --json two good signers" smime verify --json --ca "$T/oca.pem" "$T/two-good.eml"
check_grep "json: overall good" "$T/out" '"verdict": "good"'
check_grep "json: signers array" "$T/out" '"signers": \['
if [ "$(grep -c '"verdict": "good"' "$T/out")" -eq 3 ]; then ok "json: both signers good"
else not_ok "json: both signers good" "$T/out"; fi
check_grep "json: the second signer's serial" "$T/out" '"serial": "08"'

two_signed "$T/two-stray.eml" "$T/stray.pem" "$T/stray.key" "$T/carol.pem" "$T/carol.key"
check "verify one good and one untrusted signer: good" smime verify --ca "$T/oca.pem" "$T/two-stray.eml" --out /dev/null
check_grep "good + untrusted: the good one is the verdict" "$T/err" 'good signature from Carol Example <carol@example.org>'
check_grep "good + untrusted: the untrusted one is reported" "$T/err" 'also signed by Stray Carol <carol@example.org>: untrusted: unable to get local issuer'
check "verify --json good + untrusted" smime verify --json --ca "$T/oca.pem" "$T/two-stray.eml"
check_grep "json: the stray signer untrusted" "$T/out" '"verdict": "untrusted"'
check_grep "json: the stray signer's issuer" "$T/out" '"issuer": "CN=Stray CA"'
# Two people: carol (From) and dave; dave's address is not the sender's.
two_signed "$T/two-people.eml" "$T/carol.pem" "$T/carol.key" "$T/dave.pem" "$T/dave.key"
check "verify two people: good (the sender signed)" smime verify --ca "$T/oca.pem" "$T/two-people.eml" --out /dev/null
check_grep "two people: the other is not the sender" "$T/err" 'also signed by Dave Example <dave@example.org>: address mismatch: the message is from carol@example.org'
XDG_CONFIG_HOME=$T/empty check_exit 1 "no signer trusted: the first signer's verdict" smime verify "$T/two-good.eml" --out /dev/null
check_grep "no signer trusted: untrusted" "$T/err" 'untrusted: unable to get local issuer'
check_grep "no signer trusted: the second reported too" "$T/err" 'also signed by Carol Example.*: untrusted: unable to get local issuer'

sed 's/this line has/this line had/' "$T/two-good.eml" >"$T/two-tampered.eml"
check_exit 1 "tampered content, two signers: bad signature" smime verify --ca "$T/oca.pem" "$T/two-tampered.eml" --out /dev/null
check_grep "tampered, two signers: reason" "$T/err" 'bad signature'
check_grep "tampered, two signers: the second is bad too" "$T/err" 'also signed by Carol Example.*: bad signature'

# One signature changed (Carol's RSA one), the other (ECDSA) still good: the
# message is bad-signature, not good.
openssl cms -sign -nodetach -binary -outform DER -in "$T/entity" -signer "$T/carol.pem" -inkey "$T/carol.key" \
  -signer "$T/carol-ec.pem" -inkey "$T/carol-ec.key" -out "$T/two.der"
check "verify --inform DER: two good signers" smime verify --inform DER --from carol@example.org --ca "$T/oca.pem" "$T/two.der" --out /dev/null
# The RSA signature is the only 256-byte OCTET STRING; change its middle byte.
off=$(openssl asn1parse -inform DER -in "$T/two.der" | sed -n 's/^ *\([0-9]*\):d=[0-9]* *hl=\([0-9]*\) *l= *256 prim: OCTET STRING.*/\1 \2/p' | tail -n 1)
set -- $off
if [ $# -eq 2 ]; then
  pos=$(($1 + $2 + 128))
  cp "$T/two.der" "$T/two-badsig.der"
  byte=$(od -An -tu1 -j "$pos" -N1 "$T/two.der" | tr -d ' ')
  printf "\\$(printf %o $(((byte + 1) % 256)))" | dd of="$T/two-badsig.der" bs=1 seek="$pos" conv=notrunc 2>/dev/null
  check_exit 1 "one signature changed, the other good: bad signature" smime verify --inform DER --from carol@example.org --ca "$T/oca.pem" "$T/two-badsig.der" --out /dev/null
  check_grep "changed signature: the bad one is the verdict" "$T/err" 'bad signature'
  check_grep "changed signature: names the RSA signer" "$T/err" 'signer: CN=Carol Example <carol@example.org>'
  check_grep "changed signature: the ECDSA one is still good" "$T/err" 'also signed by Carol Example (EC) <carol@example.org>: good$'
else
  for d in "one signature changed" "changed signature: the bad one" "changed signature: names" "changed signature: the ECDSA one"; do
    not_ok "$d (no RSA signature found in the DER)"
  done
fi

# One signer's digestAlgorithm (not covered by its signature) made unknown:
# that signer cannot be checked, and the other's good signature must not
# make the message good.
last=$(openssl asn1parse -inform DER -in "$T/two.der" | sed -n 's/^ *\([0-9]*\):d=[0-9]* *hl=\([0-9]*\) *l= *9 prim: OBJECT *:sha256$/\1 \2/p' | tail -n 1)
set -- $last
if [ $# -eq 2 ]; then
  cp "$T/two.der" "$T/two-unknown-md.der"
  printf '\177' | dd of="$T/two-unknown-md.der" bs=1 seek=$(($1 + $2 + 8)) conv=notrunc 2>/dev/null
  check_exit 1 "a signer with an unknown digest beside a good one: not good" smime verify --inform DER \
    --from carol@example.org --ca "$T/oca.pem" "$T/two-unknown-md.der" --out /dev/null
  check_grep "... malformed" "$T/err" 'malformed'
else
  not_ok "a signer with an unknown digest beside a good one (no sha256 OID found in the DER)"
  not_ok "... malformed"
fi

# --harvest and import: the store encrypt finds recipients in.
check "verify --harvest adds Carol's certificate to the store" smime verify --harvest --ca "$T/oca.pem" "$T/ossl-signed.eml" --out /dev/null
sed 's/^To: .*/To: Carol <carol@example.org>/' "$T/msg.eml" >"$T/carol.eml"
check "encrypt finds carol in the store (To:)" smime encrypt --ca "$T/oca.pem" "$T/carol.eml" --out "$T/x"
check "openssl decrypts it with carol's key" openssl cms -decrypt -in "$T/x" -recip "$T/carol.pem" -inkey "$T/carol.key" -out /dev/null
sed 's/^To: .*/To: dave@example.org/' "$T/msg.eml" >"$T/dave-to.eml"
check_exit 1 "dave is not in the store yet" smime encrypt --ca "$T/oca.pem" "$T/dave-to.eml" --out /dev/null
check "smime import" smime import "$T/dave.pem"
check "encrypt finds the imported certificate" smime encrypt --ca "$T/oca.pem" "$T/dave-to.eml" --out "$T/x"
check "openssl decrypts it with dave's key" openssl cms -decrypt -in "$T/x" -recip "$T/dave.pem" -inkey "$T/dave.key" -out /dev/null

# The admin's configuration ($XDG_CONFIG_DIRS/tessera): a CA collection
# that trusts Carol's CA, and smime.conf errors that name the file.
mkdir -p "$T/xdg-admin/tessera" "$T/bad-config/tessera"
cp "$T/oca.pem" "$T/xdg-admin/tessera/smime-ca.pem"
check_exit 1 "without the admin's collection Carol's CA is untrusted" \
  smime verify "$T/ossl-signed.eml" --out /dev/null
check "the admin's CA collection (XDG_CONFIG_DIRS) trusts it" \
  env XDG_CONFIG_DIRS="$T/xdg-admin" "$TESSERA_CLI" --no-prompt smime verify "$T/ossl-signed.eml" --out /dev/null
# CA directories other than the system store are read whole, hashed
# (openssl rehash) or not.
mkdir -p "$T/ca-hashed" "$T/ca-plain"
cp "$T/oca.pem" "$T/ca-hashed/carol-ca.pem"
openssl rehash "$T/ca-hashed" 2>/dev/null
cp "$T/oca.pem" "$T/ca-plain/carol-ca.pem"
check "a hashed CA directory (TESSERA_SMIME_CA) trusts Carol's CA" \
  env TESSERA_SMIME_CA="$T/ca-hashed" "$TESSERA_CLI" --no-prompt smime verify "$T/ossl-signed.eml" --out /dev/null
check "a plain CA directory trusts it too" \
  env TESSERA_SMIME_CA="$T/ca-plain" "$TESSERA_CLI" --no-prompt smime verify "$T/ossl-signed.eml" --out /dev/null
printf '[directory]\nldap-url = ldap://ldap.example.org\n' >"$T/bad-config/tessera/smime.conf"
check_exit 1 "a misspelt key in smime.conf: encrypt fails" \
  env XDG_CONFIG_HOME="$T/bad-config" "$TESSERA_CLI" --no-prompt smime encrypt "$T/dave-to.eml" --out /dev/null
check_grep "... naming the file and the key" "$T/err" "bad-config/tessera/smime.conf: unknown key 'ldap-url'"
printf '[directory]\nstore = %s\n' "$T/conf-store" >"$T/bad-config/tessera/smime.conf"
check "smime.conf's store: import goes there" \
  env XDG_CONFIG_HOME="$T/bad-config" "$TESSERA_CLI" smime import "$T/dave.pem"
[ -n "$(ls "$T/conf-store" 2>/dev/null)" ] && ok "... the certificate is in the configured store" ||
  not_ok "... the certificate is in the configured store"

# --- NSS (cmsutil) both ways ---------------------------------------------
NSSDB=sql:$T/nss
mkdir -p "$T/nss"
certutil -N -d "$NSSDB" --empty-password
certutil -A -d "$NSSDB" -n tessera-ca -t "C,C,C" -i "$CA"
certutil -A -d "$NSSDB" -n openssl-ca -t "C,C,C" -i "$T/oca.pem"
openssl pkcs12 -export -in "$T/carol.pem" -inkey "$T/carol.key" -name carol -passout pass:x \
  -out "$T/carol.p12"
pk12util -i "$T/carol.p12" -d "$NSSDB" -W x >/dev/null 2>&1 || bail "pk12util failed"
openssl cms -cmsout -in "$T/signed.eml" -outform DER -out "$T/sig.der"
openssl cms -verify -noverify -binary -in "$T/signed.eml" -out "$T/content.bin" 2>/dev/null
sed 's/$/\r/' "$T/content.bin" >"$T/content.crlf"
check "cmsutil -D decodes our detached signature" cmsutil -D -i "$T/sig.der" -c "$T/content.crlf" -d "$NSSDB" -h 2 -n
check_grep "NSS: GoodSignature (clear-signed)" "$T/out" 'signer0.status=GoodSignature'
openssl cms -cmsout -in "$T/opaque.eml" -outform DER -out "$T/opaque.der"
check "cmsutil -D decodes our opaque signature" cmsutil -D -i "$T/opaque.der" -d "$NSSDB" -h 2 -o "$T/nss-content"
check_grep "NSS: GoodSignature (opaque ECDSA)" "$T/nss-content" 'signer0.status=GoodSignature'
check_grep "NSS: the content" "$T/nss-content" 'Hello Bob =E2=80=94'
# NSS signs (detached, signing time, capabilities); we wrap it in multipart/signed.
sed 's/$/\r/' "$T/entity" >"$T/entity.crlf"
check "cmsutil -S signs" cmsutil -S -N carol -T -G -P -H SHA256 -i "$T/entity.crlf" -d "$NSSDB" -o "$T/nss.p7s"
{
  printf 'From: Carol <carol@example.org>\nTo: alice@example.org\nSubject: from NSS\nMIME-Version: 1.0\n'
  printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b0undary"\n\n'
  printf -- '--b0undary\n'
  cat "$T/entity"
  printf -- '\n--b0undary\nContent-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\n\n'
  base64 "$T/nss.p7s"
  printf -- '\n--b0undary--\n'
} >"$T/nss-signed.eml"
check "verify a message NSS signed" smime verify --ca "$T/oca.pem" "$T/nss-signed.eml" --out /dev/null
check_grep "NSS signer: good" "$T/err" 'good signature from Carol Example'

# --- encrypt / decrypt ----------------------------------------------------
check "encrypt to --cert (EC) and to self" smime encrypt --cert "$T/bob-ec.pem" "$T/msg.eml" --out "$T/enc.eml"
check_grep "enveloped-data" "$T/enc.eml" 'smime-type=enveloped-data'
check_grep "outer headers stay outside (encrypted)" "$T/enc.eml" '^To: Bob Example <bob@example.org>'
openssl cms -cmsout -print -in "$T/enc.eml" >"$T/print" 2>&1
check_grep "AES-256-CBC" "$T/print" 'aes-256-cbc'
check_grep "ECDH key agreement for the EC recipient" "$T/print" 'dhSinglePass-stdDH-sha256kdf-scheme'
check_grep "RSA key transport for self (alice-enc)" "$T/print" 'rsaEncryption'
check "decrypt (self: alice-enc)" smime decrypt "$T/enc.eml" --out "$T/dec.eml"
body_of "$T/dec.eml" >"$T/d.body"
if cmp -s "$T/d.body" "$T/body.qp"; then ok "decrypted content"; else not_ok "decrypted content" "$T/d.body"; fi
check_grep "decrypted headers" "$T/dec.eml" '^Subject: =?utf-8?q?S/MIME'

# openssl encrypts, tessera decrypts: RSA to the old certificate, EC, GCM, OAEP.
{ printf 'From: carol@example.org\nTo: alice@example.org\nSubject: to the old cert\n'
  openssl cms -encrypt -aes256 -in "$T/entity" "$T/alice-enc-old.pem"; } >"$T/old.eml"
check "decrypt mail to a renewed certificate's predecessor" smime decrypt "$T/old.eml" --out "$T/x"
check_grep "found the old key" "$T/err" 'decrypted with alice-enc-old'
{ printf 'From: carol@example.org\nTo: bob@example.org\nSubject: ecdh\n'
  openssl cms -encrypt -aes256 -in "$T/entity" "$T/bob-ec.pem"; } >"$T/ec.eml"
check "decrypt ECDH (openssl's sha1kdf default) through the agent" smime decrypt "$T/ec.eml" --out "$T/x"
check_grep "with bob-ec" "$T/err" 'decrypted with bob-ec'
{ printf 'From: carol@example.org\nTo: bob@example.org\nSubject: oaep\n'
  openssl cms -encrypt -aes-256-gcm -in "$T/entity" -recip "$T/alice-enc.pem" -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256; } >"$T/oaep.eml"
check "decrypt AES-256-GCM AuthEnvelopedData with RSA-OAEP (openssl-made)" smime decrypt "$T/oaep.eml" --out "$T/x"
body_of "$T/x" >"$T/x.body"
if grep -q 'Hello Bob' "$T/x.body"; then ok "GCM/OAEP content"; else not_ok "GCM/OAEP content" "$T/x"; fi

check "encrypt --gcm --oaep to carol (--cert)" smime encrypt --gcm --oaep --cert "$T/carol.pem" "$T/carol.eml" --out "$T/gcm.eml"
check_grep "authEnveloped-data" "$T/gcm.eml" 'smime-type=authEnveloped-data'
check "openssl decrypts ours (carol's software key)" openssl cms -decrypt -in "$T/gcm.eml" -recip "$T/carol.pem" -inkey "$T/carol.key" -out "$T/x"
check_grep "openssl: content" "$T/x" 'Hello Bob =E2=80=94'
check "and tessera too (self)" smime decrypt "$T/gcm.eml" --out /dev/null
openssl cms -cmsout -in "$T/gcm.eml" -outform DER -out "$T/gcm.der"
smime encrypt --cert "$T/carol.pem" "$T/carol.eml" --out "$T/cbc.eml"
openssl cms -cmsout -in "$T/cbc.eml" -outform DER -out "$T/cbc.der"
check "cmsutil -D decrypts ours (carol in NSS)" cmsutil -D -i "$T/cbc.der" -d "$NSSDB" -o "$T/x"
check_grep "NSS: content" "$T/x" 'Hello Bob =E2=80=94'
certutil -A -d "$NSSDB" -n alice-enc -t ",," -i "$T/alice-enc.pem"
check "cmsutil -E encrypts to alice-enc" cmsutil -E -r alice-enc -i "$T/entity.crlf" -d "$NSSDB" -o "$T/nss-env.der"
{ printf 'From: carol@example.org\nTo: alice@example.org\nSubject: from NSS\nMIME-Version: 1.0\n'
  printf 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\nContent-Transfer-Encoding: base64\n\n'
  base64 "$T/nss-env.der"; } >"$T/nss-env.eml"
check "decrypt what NSS encrypted" smime decrypt "$T/nss-env.eml" --out "$T/x"
check_grep "NSS-encrypted content" "$T/x" 'Hello Bob'

# Recipients without certificates.
check_exit 1 "no certificate for any recipient: clear error" smime encrypt "$T/msg.eml" --out /dev/null
check_grep "names the recipient" "$T/err" 'no recipient has a usable certificate: bob@example.org'
sed 's/^To: .*/To: bob@example.org, dave@example.org/' "$T/msg.eml" >"$T/two.eml"
check_exit 1 "one recipient without a certificate: refused" smime encrypt --cert "$T/bob-ec.pem" "$T/two.eml" --out /dev/null
check_grep "names who lacks one" "$T/err" 'no usable certificate for dave@example.org'
check "--allow-partial encrypts to the others" smime encrypt --allow-partial --cert "$T/bob-ec.pem" "$T/two.eml" --out "$T/partial.eml"
check_grep "and warns" "$T/err" 'not encrypted to dave@example.org'
check_exit 1 "a --cert for signing only: refused" smime encrypt --cert "$T/alice-sign.pem" "$T/msg.eml" --out /dev/null
check_grep "and why" "$T/err" 'cannot encrypt to .*alice.*: keyUsage does not allow keyEncipherment'

# sign-encrypt
check "sign-encrypt" smime sign-encrypt --cert "$T/bob-ec.pem" "$T/msg.eml" --out "$T/se.eml"
check "decrypt it" smime decrypt "$T/se.eml" --out "$T/se-dec.eml"
check_grep "inside: multipart/signed" "$T/se-dec.eml" 'multipart/signed'
check "and verify the inner signature" smime verify "$T/se-dec.eml" --out "$T/se-content.eml"
check_grep "inner: good signature" "$T/err" 'good signature from alice-sign'
check "openssl decrypts+verifies sign-encrypt? (decrypt via tessera, verify via openssl)" openssl cms -verify -in "$T/se-dec.eml" -CAfile "$CA" -out /dev/null

check "sign-encrypt --opaque --gcm to carol" smime sign-encrypt --opaque --gcm --cert "$T/carol.pem" "$T/carol.eml" --out "$T/se2.eml"
check "openssl decrypts it with carol's key" openssl cms -decrypt -in "$T/se2.eml" -recip "$T/carol.pem" -inkey "$T/carol.key" -out "$T/se2-dec.eml"
check "and openssl verifies the inner opaque signature" openssl cms -verify -in "$T/se2-dec.eml" -CAfile "$CA" -out "$T/x"
check_grep "inner content" "$T/x" 'Hello Bob =E2=80=94'

# --- third-party samples: decrypt through the agent, verify ----------------
TBS=$TB/smime
check "Thunderbird alice.env.eml (RSA v1.5, AES-128) decrypts with Bob's key on the token" smime decrypt "$TBS/alice.env.eml" --out "$T/x"
check_grep "with tb-bob" "$T/err" 'decrypted with tb-bob'
# The label sample: SoftHSM 2.6.1 takes SHA-1 OAEP with a label and then
# fails C_Decrypt; the agent decrypts raw and unpads itself.
for f in fran-oaep_ossl.env fran-oaep-sha256hash-sha256mgf_ossl.env fran-oaep-label_ossl.env; do
  check "RSA-OAEP sample $f decrypts with Fran's key" smime decrypt "$TB/smime-interop/$f" --out "$T/x"
done
for f in fran-ec_ossl-aes128-sha256.env fran-ec_ossl-aes256-sha512.env; do
  check "ECDH P-384 sample $f decrypts with Fran-ec's key" smime decrypt "$TB/smime-interop/$f" --out "$T/x"
  check_grep "$f: with tb-fran-ec" "$T/err" 'decrypted with tb-fran-ec'
done
for h in SHA256 SHA384 SHA512; do
  check "NSS clear-signed $h verifies" smime verify --ca "$TBS/TestCA.pem" "$TBS/alice.dsig.$h.multipart.eml" --out /dev/null
done
check_grep "names Alice" "$T/err" 'good signature from'
check "NSS opaque signed verifies" smime verify --ca "$TBS/TestCA.pem" "$TBS/alice.sig.SHA256.opaque.eml" --out /dev/null
check_exit 1 "NSS tampered body: bad signature" smime verify --ca "$TBS/TestCA.pem" "$TBS/alice.dsig.SHA256.multipart.bad.eml" --out /dev/null
check_grep "bad signature reason" "$T/err" 'bad signature'
check_exit 1 "NSS mismatched eContent fails" smime verify --ca "$TBS/TestCA.pem" "$TBS/alice.dsig.SHA256.multipart.mismatch-econtent.eml" --out /dev/null
check "NSS signed-then-encrypted: decrypt" smime decrypt "$TBS/alice.dsig.SHA256.multipart.env.eml" --out "$T/x"
check "... then verify" smime verify --ca "$TBS/TestCA.pem" "$T/x" --out /dev/null
check "NSS opaque-signed-then-encrypted: decrypt" smime decrypt "$TBS/alice.sig.SHA256.opaque.env.eml" --out "$T/x"
check "... then verify" smime verify --ca "$TBS/TestCA.pem" "$T/x" --out /dev/null
check_exit 1 "OpenSSL's empty-digest-set sample fails cleanly" smime verify "$D/openssl/pkcs7-empty-digest-set.eml" --out /dev/null

# --- bad input -------------------------------------------------------------
printf 'no headers at all' >"$T/garbage"
check_exit 1 "not a message" smime verify "$T/garbage" --out /dev/null
head -c 1500 "$T/opaque.eml" >"$T/trunc.eml"
check_exit 1 "truncated opaque CMS" smime verify "$T/trunc.eml" --out /dev/null
check_grep "says malformed" "$T/err" 'malformed'
head -c 1200 "$T/enc.eml" >"$T/trunc-enc.eml"
check_exit 1 "truncated enveloped CMS" smime decrypt "$T/trunc-enc.eml" --out /dev/null
check_grep "says not valid CMS" "$T/err" 'not valid CMS'
{ printf 'From: carol@example.org\nTo: x@example.org\nSubject: not for us\n'
  openssl cms -encrypt -aes256 -in "$T/entity" "$T/carol.pem"; } >"$T/notours.eml"
check_exit 1 "wrong recipient: clear error" smime decrypt "$T/notours.eml" --out /dev/null
check_grep "names the recipient" "$T/err" 'not encrypted to any of your keys; it is encrypted to: issuer /CN=OpenSSL Side CA serial 07'
check_exit 1 "decrypting a signed message" smime decrypt "$T/signed.eml" --out /dev/null
check_exit 1 "--key of an unknown key" smime sign --key no-such-key "$T/msg.eml" --out /dev/null
sed 's/boundary="----/boundary="XX/' "$T/signed.eml" >"$T/broken-mime.eml"
check_exit 1 "malformed MIME (boundary does not match)" smime verify "$T/broken-mime.eml" --out /dev/null

# --- big messages stream: memory stays bounded -----------------------------
{ sed '/^$/q' "$T/msg.eml" | sed 's/8bit/base64/'
  head -c 60000000 /dev/zero | base64; } >"$T/big.eml"
# max_rss_kb COMMAND...: runs it (output to $T/out) and prints its peak RSS,
# or nothing when GNU time is missing.
max_rss_kb() {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M' -o "$T/rss" "$@" >"$T/out" 2>"$T/err" && cat "$T/rss"
  else
    "$@" >"$T/out" 2>"$T/err" && echo 0
  fi
}
# Sanitizer builds keep freed memory in quarantine: no bound to check there.
MEMCHECK=true
if ldd "$TESSERA_CLI" 2>/dev/null | grep -q 'libasan'; then MEMCHECK=false; fi
bounded() { # bounded DESCRIPTION COMMAND...: succeeds with a peak RSS under 64 MB
  desc=$1
  shift
  if ! rss=$(max_rss_kb "$@"); then not_ok "$desc" "$T/err"; return; fi
  if $MEMCHECK && [ "${rss:-0}" -gt 65536 ]; then
    echo "peak RSS ${rss} KB for an 80 MB message" >"$T/err"
    not_ok "$desc" "$T/err"
  else
    ok "$desc (peak RSS ${rss:-?} KB)"
  fi
}
bounded "sign an 80 MB message" "$TESSERA_CLI" smime sign "$T/big.eml" --out "$T/big-signed.eml"
check "openssl verifies the big one" openssl cms -verify -in "$T/big-signed.eml" -CAfile "$CA" -out /dev/null
bounded "verify it" "$TESSERA_CLI" smime verify "$T/big-signed.eml" --out /dev/null
bounded "sign it --opaque" "$TESSERA_CLI" smime sign --opaque "$T/big.eml" --out "$T/big-opaque.eml"
bounded "verify the opaque one (the content streams as detached content)" "$TESSERA_CLI" smime verify "$T/big-opaque.eml" --out "$T/big-opaque-content.eml"
check "openssl verifies the big opaque one" openssl cms -verify -in "$T/big-opaque.eml" -CAfile "$CA" -out /dev/null
bounded "encrypt it" "$TESSERA_CLI" smime encrypt --cert "$T/bob-ec.pem" "$T/big.eml" --out "$T/big-enc.eml"
bounded "decrypt it (the content streams as detached content)" "$TESSERA_CLI" smime decrypt "$T/big-enc.eml" --out "$T/big-dec.eml"
if sed 1,7d "$T/big-dec.eml" | cmp -s - "$(sed 1,7d "$T/big.eml" >"$T/big.body"; echo "$T/big.body")"; then
  ok "the big message decrypts to itself"
else not_ok "the big message decrypts to itself"; fi
bounded "encrypt --gcm it" "$TESSERA_CLI" smime encrypt --gcm --cert "$T/bob-ec.pem" "$T/big.eml" --out "$T/big-gcm.eml"
bounded "decrypt the GCM one" "$TESSERA_CLI" smime decrypt "$T/big-gcm.eml" --out /dev/null
# A changed byte in the middle of AES-GCM ciphertext: the tag check fails,
# and nothing is written.
# (A first character A becomes B, any other becomes A: always a change.)
sed '200000{s/^A/#/;s/^[^#]/A/;s/^#/B/}' "$T/big-gcm.eml" >"$T/big-gcm-bad.eml"
cmp -s "$T/big-gcm.eml" "$T/big-gcm-bad.eml" && bail "could not tamper with the GCM message"
check_exit 1 "tampered AES-GCM ciphertext fails" smime decrypt "$T/big-gcm-bad.eml" --out "$T/x"

tap_done
