#!/bin/sh
# contrib/mutt with real mutt: mutt in batch mode (`mutt -n -F RC -s ... < body`)
# sends through tessera-mutt-sendmail, which signs (and encrypts) with
# `tessera smime` on the real agent and SoftHSM2 tokens (make-tokens.sh
# --smime) and hands the result to a fake MTA that writes it to a file; the
# result is checked with `openssl cms -verify` / `-decrypt`. Then
# tessera-mutt-read, the reading macros' helper, on those messages. Prints
# TAP. Installs nothing: needs mutt (tools/install-deps.sh).
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, MAKE_TOKENS,
# SOFTHSM_MODULE, FAKE_PINENTRY, MUTT_CONTRIB.
set -u

: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${MAKE_TOKENS:?}" "${FAKE_PINENTRY:?}" "${MUTT_CONTRIB:?}"
MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

. "$(dirname "$0")/../tap.sh"
command -v mutt >/dev/null 2>&1 || bail "mutt is not installed (tools/install-deps.sh)"

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-mutt-test-XXXXXX")
AGENT_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...: the command must succeed
  desc=$1
  shift
  if "$@" >"$T/out" 2>"$T/err"; then ok "$desc"; else not_ok "$desc" "$T/err"; fi
}
check_fails() { # check_fails DESCRIPTION COMMAND...: the command must fail
  desc=$1
  shift
  if "$@" >"$T/out" 2>"$T/err"; then
    echo "succeeded, expected a failure" >>"$T/err"
    not_ok "$desc" "$T/err"
  else ok "$desc"; fi
}
check_grep() { # check_grep DESCRIPTION FILE PATTERN: FILE must match
  if grep -q -- "$3" "$2"; then ok "$1"; else
    { echo "no match for: $3"; cat "$2"; } >"$T/grep-err"
    not_ok "$1" "$T/grep-err"
  fi
}
tessera() { "$TESSERA_CLI" "$@"; }

# ---- the agent on the S/MIME token (as tests/smime/test-smime.sh does) --------
"$MAKE_TOKENS" "$T" --smime || bail "make-tokens.sh failed"
. "$T/env"
export HOME="$T/home" XDG_CONFIG_HOME="$T/config" XDG_DATA_HOME="$T/data"
mkdir -p "$HOME" "$XDG_CONFIG_HOME/tessera"
export TESSERA_SOCKET="$T/agent.sock"
export FAKE_PINENTRY_SCRIPT="$T/pinentry.script" FAKE_PINENTRY_LOG="$T/pinentry.log"
: >"$FAKE_PINENTRY_SCRIPT"
"$TESSERA_AGENT" --foreground --no-p11-kit --module "$MODULE" --socket "$TESSERA_SOCKET" \
  --pinentry "$FAKE_PINENTRY" 2>"$T/agent.log" &
AGENT_PID=$!
i=0
until tessera status >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 200 ] || { cat "$T/agent.log"; bail "the agent did not start"; }
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$T/agent.log"; bail "the agent exited"; }
  sleep 0.05
done
echo 123456 | tessera login tessera-smime --pin-stdin >/dev/null || bail "cannot log in"
CA=$T/ca.pem
cp "$CA" "$XDG_CONFIG_HOME/tessera/smime-ca.pem" # the trust anchors tessera uses

# ---- mutt's configuration: the shipped file, a fake MTA ----------------------
export TESSERA_CLI TESSERA_MUTT_MTA="$T/fake-mta"
cat >"$T/fake-mta" <<MTA
#!/bin/sh
# Writes the message to $T/sent.eml and its arguments to $T/sent.args.
printf '%s\n' "\$@" >"$T/sent.args"
cat >"$T/sent.eml"
MTA
chmod +x "$T/fake-mta"
cat >"$T/muttrc" <<RC
set my_tessera_mutt = "$MUTT_CONTRIB"
source "\$my_tessera_mutt/tessera-smime.muttrc"
set from = "alice@example.org"
set realname = "Alice Example"
set hostname = example.org
set record = ""
set charset = utf-8
set send_charset = "us-ascii:utf-8"
RC
mutt -n -F "$T/muttrc" -Q sendmail >"$T/q" 2>"$T/q.err"
if [ -s "$T/q.err" ]; then not_ok "the shipped muttrc loads without errors" "$T/q.err"; else
  ok "the shipped muttrc loads without errors"; fi
check_grep "\$sendmail is tessera-mutt-sendmail" "$T/q" "^sendmail=\"$MUTT_CONTRIB/tessera-mutt-sendmail -oem -oi\"\$"
# send SUBJECT RCPT [MUTT-ARGS...]: mutt in batch mode, the body from $T/body
send() {
  subject=$1 rcpt=$2
  shift 2
  rm -f "$T/sent.eml" "$T/sent.args"
  mutt -n -F "$T/muttrc" -s "$subject" "$@" -- "$rcpt" <"$T/body"
}
printf 'Hello Bob,\n\nthis mail was composed by mutt and signed by tessera.\nFrom here on a line starts with From.\n\nAlice\n' >"$T/body"

# ---- sign ---------------------------------------------------------------------
check "mutt sends a message through tessera-mutt-sendmail" send "Signed by mutt" bob@example.org
[ -s "$T/sent.eml" ] && ok "the MTA got the message" || not_ok "the MTA got the message"
check_grep "mutt's arguments reach the MTA" "$T/sent.args" '^bob@example.org$'
check_grep "it is multipart/signed" "$T/sent.eml" 'multipart/signed; protocol="application/pkcs7-signature"'
check_grep "the Subject is mutt's" "$T/sent.eml" '^Subject: Signed by mutt'
if grep -qi '^X-Tessera-SMIME:' "$T/sent.eml"; then
  not_ok "the X-Tessera-SMIME header is removed"
else ok "the X-Tessera-SMIME header is removed"; fi
check "openssl cms -verify accepts it" openssl cms -verify -in "$T/sent.eml" -CAfile "$CA" \
  -purpose smimesign -out "$T/content" -signer "$T/signer.pem"
check_grep "the body is intact" "$T/content" 'this mail was composed by mutt and signed by tessera'
check_grep "the body is intact (a line starting with From)" "$T/content" 'From here on a line starts with From'
from=$(sed -n '/^$/q; s/^From:.*<\(.*\)>.*/\1/p' "$T/sent.eml")
[ "$from" = alice@example.org ] && ok "From is alice@example.org" ||
  not_ok "From is alice@example.org (got '$from')"
openssl x509 -in "$T/signer.pem" -noout -ext subjectAltName >"$T/san" 2>&1
check_grep "the signer's certificate is for the From address" "$T/san" "email:$from\$"
openssl x509 -in "$T/signer.pem" -noout -subject >"$T/subject" 2>&1
check_grep "signed by alice-sign" "$T/subject" 'CN *= *alice-sign'

# Tampered: one character of the signed body changed.
sed 's/signed by tessera/signed by tesserb/' "$T/sent.eml" >"$T/tampered.eml"
if cmp -s "$T/sent.eml" "$T/tampered.eml"; then bail "could not tamper with the message"; fi
check_fails "openssl cms -verify rejects a tampered message" openssl cms -verify \
  -in "$T/tampered.eml" -CAfile "$CA" -purpose smimesign -out /dev/null
cp "$T/sent.eml" "$T/signed.eml"

# ---- sign-encrypt, chosen by a send-hook --------------------------------------
check "tessera smime import bob's certificate" tessera smime import "$T/bob-ec.pem"
check "mutt sends with a send-hook choosing sign-encrypt" send "Encrypted by mutt" \
  bob@example.org -e "send-hook '~t bob@example\\.org' 'my_hdr X-Tessera-SMIME: sign-encrypt'"
check_grep "it is application/pkcs7-mime enveloped-data" "$T/sent.eml" 'application/pkcs7-mime; .*enveloped-data'
if [ ! -s "$T/sent.eml" ] || grep -q 'composed by mutt' "$T/sent.eml"; then
  not_ok "the body is not readable"
else ok "the body is not readable"; fi
check "tessera smime decrypt (bob's key on the token) and openssl cms -verify" sh -c \
  "'$TESSERA_CLI' smime decrypt '$T/sent.eml' >'$T/decrypted.eml' &&
   openssl cms -verify -in '$T/decrypted.eml' -CAfile '$CA' -purpose smimesign -out '$T/content2'"
check_grep "the decrypted body is intact" "$T/content2" 'this mail was composed by mutt and signed by tessera'
cp "$T/sent.eml" "$T/encrypted.eml"

# ---- failures keep the message unsent -----------------------------------------
sed 's/^set from = .*/set from = "nobody@example.org"/' "$T/muttrc" >"$T/muttrc.nokey"
rm -f "$T/sent.eml"
check_fails "mutt reports failure when no key is for the From address" \
  mutt -n -F "$T/muttrc.nokey" -s "Unsigned" -- bob@example.org <"$T/body"
[ -e "$T/sent.eml" ] && not_ok "nothing reaches the MTA" || ok "nothing reaches the MTA"

# ---- reading: tessera-mutt-read, the macros' helper ---------------------------
check "tessera-mutt-read: a good signature" sh -c "'$MUTT_CONTRIB/tessera-mutt-read' <'$T/signed.eml'"
check_grep "tessera-mutt-read shows the body" "$T/out" 'this mail was composed by mutt'
check_fails "tessera-mutt-read: the tampered message" sh -c \
  "'$MUTT_CONTRIB/tessera-mutt-read' <'$T/tampered.eml'"
check "tessera-mutt-read: decrypts and verifies" sh -c \
  "'$MUTT_CONTRIB/tessera-mutt-read' <'$T/encrypted.eml'"
check_grep "tessera-mutt-read shows the decrypted body" "$T/out" 'this mail was composed by mutt'

tap_done
