#!/bin/sh
# make-tokens.sh DIR [--always-auth-token] — creates the SoftHSM2 test
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
#
# Keys are generated on the token (as on a real card); each certificate is
# stored on the token under its key's CKA_ID and label. User PIN 123456,
# SO PIN 12345678. Quiet on success; on failure prints the failing command's
# output and exits non-zero. Running it again rebuilds everything from scratch.
set -eu

ALWAYS_AUTH_TOKEN=false
if [ $# -eq 2 ] && [ "$2" = --always-auth-token ]; then
  ALWAYS_AUTH_TOKEN=true
elif [ $# -ne 1 ]; then
  echo "usage: $0 DIR [--always-auth-token]" >&2
  exit 2
fi

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

# make_key TOKEN ID LABEL KEYTYPE SERIAL USAGE...
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
    -CA "$DIR/ca.pem" -CAkey "$WORK/ca.key" -set_serial "$serial" -days 3650 \
    -extfile "$WORK/ext.cnf" -out "$DIR/$label.pem"
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
rm -rf "$WORK"
