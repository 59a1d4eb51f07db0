#!/bin/sh
# make-tokens.sh DIR [--always-auth-token] [--smime] — creates the SoftHSM2 test
# tokens the integration tests and benchmarks run against:
#
#   DIR/softhsm2.conf, DIR/tokens/   SoftHSM2 configuration and token store
#   DIR/env                          `export SOFTHSM2_CONF=...` for sourcing
#   DIR/ca.pem                       throwaway CA that issued every certificate
#   DIR/<label>.pem, <label>.pub.pem certificate and public key of each key
#
#   token "tessera-test-1": rsa2048 (CKA_ID 01), rsa3072 (02), p256 (03), p384 (04)
#   token "tessera-test-2": rsa2048-b (11, sign only), p256-b (13, sign only)
#   with --always-auth-token also
#   token "tessera-test-3": p256-aa (21, sign only, CKA_ALWAYS_AUTHENTICATE)
#   with --smime also (certificates with subjectAltName email addresses,
#   keyUsage and extendedKeyUsage emailProtection, as S/MIME needs)
#   token "tessera-smime": alice-sign (31, RSA-2048, digitalSignature +
#     nonRepudiation, alice@example.org), alice-enc (32, RSA-2048,
#     keyEncipherment), alice-enc-old (33, RSA-2048, keyEncipherment, an
#     earlier certificate: shorter validity), alice-ec (34, P-256,
#     digitalSignature + keyAgreement, valid shorter than alice-sign),
#     bob-ec (35, P-256, digitalSignature + keyAgreement, bob@example.org)
#
# Keys are generated on the token (as on a real card); each certificate is
# stored on the token under its key's CKA_ID and label. User PIN 123456,
# SO PIN 12345678. Quiet on success; on failure prints the failing command's
# output and exits non-zero. Running it again rebuilds everything from scratch.
set -eu

ALWAYS_AUTH_TOKEN=false
SMIME_TOKEN=false
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [--always-auth-token] [--smime]" >&2
  exit 2
fi
TOKENS_DIR=$1
shift
for opt in "$@"; do
  case $opt in
  --always-auth-token) ALWAYS_AUTH_TOKEN=true ;;
  --smime) SMIME_TOKEN=true ;;
  *)
    echo "usage: $0 DIR [--always-auth-token] [--smime]" >&2
    exit 2
    ;;
  esac
done
set -- "$TOKENS_DIR"

MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
USER_PIN=123456
SO_PIN=12345678

mkdir -p "$1"
DIR=$(cd "$1" && pwd)
WORK="$DIR/.work"
rm -rf "$DIR/tokens" "$WORK"
mkdir -p "$DIR/tokens" "$WORK"

export SOFTHSM2_CONF="$DIR/softhsm2.conf"
cat >"$SOFTHSM2_CONF" <<EOF
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
printf 'export SOFTHSM2_CONF=%s\n' "$DIR/softhsm2.conf" >"$DIR/env"

# Runs a command with its output kept aside; shows it only if the command fails.
run() {
  log=$(mktemp "$WORK/log.XXXXXX")
  if ! "$@" >"$log" 2>&1; then
    echo "make-tokens.sh: failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
  rm -f "$log"
}

p11() { # p11 TOKEN ARGS... — pkcs11-tool logged in as user on TOKEN
  token=$1
  shift
  run pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin "$USER_PIN" "$@"
}

# The CA and a throwaway CSR key; certificates get the token's public key via
# -force_pubkey, so the CSR's own key never matters.
run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$WORK/ca.key" -out "$DIR/ca.pem" -subj "/CN=Tessera Test CA" -days 3650
run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/csr.key"
cat >"$WORK/ext.cnf" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment, keyAgreement
EOF

# make_key TOKEN ID LABEL KEYTYPE SERIAL USAGE... — the certificate gets
# $EXT_FILE's extensions (default ext.cnf) and is valid $DAYS days (3650).
make_key() {
  token=$1 id=$2 label=$3 keytype=$4 serial=$5
  shift 5
  if [ "$1" = --usage-sign-only ]; then
    # pkcs11-tool leaves CKA_DECRYPT to SoftHSM's default (true) for RSA;
    # p11tool --mark-sign sets it false explicitly.
    bits=${keytype#rsa:}
    GNUTLS_PIN=$USER_PIN run p11tool --provider "$MODULE" --login --generate-privkey=rsa \
      --bits="$bits" --id="$id" --label="$label" --mark-sign "pkcs11:token=$token"
  else
    # EC keys: CKA_DERIVE stays false unless --usage-derive is given.
    p11 "$token" --keypairgen --key-type "$keytype" --id "$id" --label "$label" "$@"
  fi
  # p11tool, not pkcs11-tool --read-object: the latter cannot export P-384 keys.
  GNUTLS_PIN=$USER_PIN run p11tool --provider "$MODULE" --login --export-pubkey \
    "pkcs11:token=$token;id=%$id;type=public" --outfile "$DIR/$label.pub.pem"
  run openssl req -new -key "$WORK/csr.key" -subj "/CN=$label/O=Tessera tests" \
    -out "$WORK/$label.csr"
  run openssl x509 -req -in "$WORK/$label.csr" -force_pubkey "$DIR/$label.pub.pem" \
    -CA "$DIR/ca.pem" -CAkey "$WORK/ca.key" -set_serial "$serial" -days "${DAYS:-3650}" \
    -extfile "${EXT_FILE:-$WORK/ext.cnf}" -out "$DIR/$label.pem"
  run openssl x509 -in "$DIR/$label.pem" -outform DER -out "$WORK/$label.der"
  p11 "$token" --write-object "$WORK/$label.der" --type cert --id "$id" --label "$label"
}

init_token() { # init_token LABEL
  run softhsm2-util --init-token --free --label "$1" --pin "$USER_PIN" --so-pin "$SO_PIN"
}

init_token tessera-test-1
init_token tessera-test-2

# One process at a time: SoftHSM's file store is not safe against another
# process creating a token or objects while it scans the token directory.
T1=tessera-test-1
T2=tessera-test-2
make_key $T1 01 rsa2048 rsa:2048 1 --usage-sign --usage-decrypt
make_key $T1 02 rsa3072 rsa:3072 2 --usage-sign --usage-decrypt
make_key $T1 03 p256 EC:prime256v1 3 --usage-sign --usage-derive
make_key $T1 04 p384 EC:secp384r1 4 --usage-sign --usage-derive
make_key $T2 11 rsa2048-b rsa:2048 17 --usage-sign-only
make_key $T2 13 p256-b EC:prime256v1 19 --usage-sign
if $ALWAYS_AUTH_TOKEN; then
  init_token tessera-test-3
  make_key tessera-test-3 21 p256-aa EC:prime256v1 33 --usage-sign --always-auth
fi
if $SMIME_TOKEN; then
  TS=tessera-smime
  init_token $TS
  smime_ext() { # smime_ext FILE ADDRESS KEYUSAGE
    printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, $3" \
      "extendedKeyUsage = emailProtection" "subjectAltName = email:$2" \
      "subjectKeyIdentifier = hash" >"$1"
  }
  smime_ext "$WORK/alice-sign.cnf" alice@example.org "digitalSignature, nonRepudiation"
  smime_ext "$WORK/alice-enc.cnf" alice@example.org keyEncipherment
  smime_ext "$WORK/alice-ec.cnf" alice@example.org "digitalSignature, keyAgreement"
  smime_ext "$WORK/bob-ec.cnf" bob@example.org "digitalSignature, keyAgreement"
  EXT_FILE=$WORK/alice-sign.cnf make_key $TS 31 alice-sign rsa:2048 49 --usage-sign
  EXT_FILE=$WORK/alice-enc.cnf make_key $TS 32 alice-enc rsa:2048 50 --usage-decrypt
  EXT_FILE=$WORK/alice-enc.cnf DAYS=400 make_key $TS 33 alice-enc-old rsa:2048 51 --usage-decrypt
  EXT_FILE=$WORK/alice-ec.cnf DAYS=3000 make_key $TS 34 alice-ec EC:prime256v1 52 \
    --usage-sign --usage-derive
  EXT_FILE=$WORK/bob-ec.cnf make_key $TS 35 bob-ec EC:prime256v1 53 --usage-sign --usage-derive
fi
rm -rf "$WORK"
