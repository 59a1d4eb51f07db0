#!/bin/sh
# contrib/mutt with real mutt, the real agent and SoftHSM2 tokens
# (make-tokens.sh --smime); sent mail goes to a fake MTA that writes a file,
# checked with `openssl cms -verify`.
#  - tessera-smime.muttrc, mutt's own S/MIME with `tessera smime` behind its
#    smime_*_command hooks: mutt runs interactively in tmux (it never signs
#    in batch mode), composes, signs, signs and encrypts, and shows signed
#    and encrypted mail; then the bare-entity modes those hooks use, and
#    their errors.
#  - tessera-smime-sendmail.muttrc: mutt in batch mode (`mutt -n -F RC -s ...
#    < body`) sends through tessera-mutt-sendmail, which signs (and
#    encrypts) the whole message; then tessera-mutt-read, the reading
#    macros' helper.
#  - NeoMutt with both files: they load, and batch mode signs.
# Prints TAP. Installs nothing: needs mutt and tmux (tools/install-deps.sh).
#
# Environment (from meson): TESSERA_AGENT, TESSERA_CLI, MAKE_TOKENS,
# SOFTHSM_MODULE, FAKE_PINENTRY, MUTT_CONTRIB.
set -u

: "${TESSERA_AGENT:?}" "${TESSERA_CLI:?}" "${MAKE_TOKENS:?}" "${FAKE_PINENTRY:?}" "${MUTT_CONTRIB:?}"
MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

. "$(dirname "$0")/../tap.sh"
command -v mutt >/dev/null 2>&1 || bail "mutt is not installed (tools/install-deps.sh)"
command -v tmux >/dev/null 2>&1 || bail "tmux is not installed (tools/install-deps.sh)"

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-mutt-test-XXXXXX")
AGENT_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
  tmux -S "$T/tmux.sock" kill-server 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/../smime/common.sh"

# ---- the agent on the S/MIME token ---------------------------------------------
smime_tokens
export HOME="$T/home" XDG_CONFIG_HOME="$T/config" XDG_DATA_HOME="$T/data"
mkdir -p "$HOME/Mail" "$XDG_CONFIG_HOME/tessera" # mutt asks to create ~/Mail
smime_agent_start tessera-smime
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

# ---- mutt's own S/MIME through the hooks (tessera-smime.muttrc), in tmux -------
cat >"$T/hooks.muttrc" <<RC
set my_tessera_mutt = "$MUTT_CONTRIB"
source "\$my_tessera_mutt/tessera-smime.muttrc"
set smime_default_key = "alice@example.org"
set smime_certificates = "$T/mutt-certs"
set from = "alice@example.org"
set realname = "Alice Example"
set hostname = example.org
set sendmail = "$T/fake-mta"
set record = ""
set editor = "true"
set abort_unmodified = no
RC
# mutt's own certificate index for recipients (what smime_keys add_cert makes).
mkdir -p "$T/mutt-certs"
cp "$T/bob-ec.pem" "$T/mutt-certs/bob.pem"
echo "bob@example.org bob.pem bob-ec ? t e" >"$T/mutt-certs/.index"
mutt -n -F "$T/hooks.muttrc" -Q smime_sign_command >"$T/q" 2>"$T/q.err"
if [ -s "$T/q.err" ]; then not_ok "tessera-smime.muttrc loads without errors" "$T/q.err"; else
  ok "tessera-smime.muttrc loads without errors"; fi
check_grep "smime_sign_command is tessera's" "$T/q" 'smime sign --outform DER --signer %k'

TM="tmux -S $T/tmux.sock"
screen() { $TM capture-pane -p 2>/dev/null; }
# wait_for PATTERN: until mutt's screen shows it (30 s: CI may be loaded)
wait_for() {
  w=0
  until screen | grep -q -- "$1"; do
    w=$((w + 1))
    if [ $w -ge 300 ]; then
      { echo "mutt's screen never showed: $1"; screen | grep -v '^$'; } >"$T/screen"
      return 1
    fi
    sleep 0.1
  done
}
# mutt_in_tmux ARGS...: mutt with the hooks configuration on a terminal;
# $T/mutt.exit gets its exit status.
mutt_in_tmux() {
  $TM kill-server 2>/dev/null
  rm -f "$T/mutt.exit"
  # A server still exiting makes new-session fail: try again.
  for _ in 1 2 3 4 5; do
    $TM new-session -d -x 160 -y 50 \
      "${MUTT_PROG:-mutt} -n -F '$T/hooks.muttrc' $*; echo \$? >'$T/mutt.exit'; sleep 600" 2>/dev/null && break
    sleep 0.2
  done
}
mutt_exited() { # the exit status, within 10 s
  w=0
  while [ ! -s "$T/mutt.exit" ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
  [ -s "$T/mutt.exit" ] && cat "$T/mutt.exit"
}
# compose SUBJECT [KEY SCREEN]...: composes to bob; in the compose menu
# types each KEY and waits for its SCREEN; sends. mutt asks its "S/MIME
# passphrase", which tessera ignores: Enter.
compose() {
  subject=$1
  shift
  rm -f "$T/sent.eml"
  mutt_in_tmux -s "'$subject'" -i "'$T/body'" bob@example.org
  wait_for '^To: ' && $TM send-keys Enter && wait_for '^Subject: ' && $TM send-keys Enter &&
    wait_for 'Security: Sign (S/MIME)' || return 1
  while [ $# -ge 2 ]; do
    $TM send-keys "$1" && wait_for "$2" || return 1
    shift 2
  done
  $TM send-keys y && wait_for 'Enter S/MIME passphrase' && $TM send-keys Enter &&
    [ "$(mutt_exited)" = 0 ]
}
# show MBOX: mutt opens the folder's one message; $T/screen is what it shows
# once mutt's status line says how the signature went (or, unsigned, at once).
show() {
  mutt_in_tmux -R -f "'$1'"
  wait_for '^ *1 ' || return 1
  $TM send-keys Enter
  wait_for 'Enter S/MIME passphrase\|^-.*1/1: ' || return 1
  if screen | grep -q 'Enter S/MIME passphrase'; then
    $TM send-keys Enter && wait_for '^-.*1/1: ' || return 1
  fi
  wait_for 'S/MIME signature\|S/MIME certificate' 2>/dev/null
  screen >"$T/screen"
}
mbox() { { echo "From alice@example.org Tue Dec  1 22:00:00 2026"; cat "$1"; echo; } >"$2"; }
printf 'Hello Bob,\n\nthis mail was signed by mutt through the hooks.\n\nAlice\n' >"$T/body"
printf 'From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: opaque\nMIME-Version: 1.0\nContent-Type: text/plain\n\nan opaque message\n' >"$T/msg.eml"

# hooks_session PROG: PROG (mutt or neomutt) with tessera-smime.muttrc on a
# terminal: signs, shows good and tampered signatures, signs and encrypts,
# decrypts, verifies opaque signed-data.
hooks_session() {
  MUTT_PROG=$1
  if compose "Signed through the hooks"; then ok "$MUTT_PROG signs through smime_sign_command"; else
    not_ok "$MUTT_PROG signs through smime_sign_command" "$T/screen"; fi
  check_grep "it is multipart/signed" "$T/sent.eml" 'multipart/signed; protocol="application/x-pkcs7-signature"'
  check "openssl cms -verify accepts $MUTT_PROG's signed message" openssl cms -verify -in "$T/sent.eml" \
    -CAfile "$CA" -purpose smimesign -out "$T/content" -signer "$T/signer.pem"
  check_grep "the body is intact" "$T/content" 'this mail was signed by mutt through the hooks'
  openssl x509 -in "$T/signer.pem" -noout -subject >"$T/subject" 2>&1
  check_grep "signed by alice-sign, the key for smime_default_key" "$T/subject" 'CN *= *alice-sign'
  mbox "$T/sent.eml" "$T/signed.mbox"
  if show "$T/signed.mbox"; then ok "$MUTT_PROG shows the signed message"; else
    not_ok "$MUTT_PROG shows the signed message" "$T/screen"; fi
  check_grep "smime_verify_command: Verification successful" "$T/screen" '^Verification successful'
  check_grep "tessera's verdict in $MUTT_PROG" "$T/screen" 'good signature from alice-sign <alice@example.org>'
  check_grep "$MUTT_PROG: S/MIME signature successfully verified" "$T/screen" 'S/MIME signature successfully verified'
  sed 's/through the hooks/through the h00ks/' "$T/sent.eml" >"$T/tampered-hooks.eml"
  mbox "$T/tampered-hooks.eml" "$T/tampered.mbox"
  show "$T/tampered.mbox"
  check_grep "a tampered message: Verification failure" "$T/screen" '^Verification failure'
  check_grep "$MUTT_PROG: could NOT be verified" "$T/screen" 'S/MIME signature could NOT be verified'

  if compose "Encrypted through the hooks" S 'S/MIME (e)ncrypt' b 'Security: Sign, Encrypt'; then ok "$MUTT_PROG signs and encrypts through the hooks"; else
    not_ok "$MUTT_PROG signs and encrypts through the hooks" "$T/screen"; fi
  check_grep "it is enveloped-data" "$T/sent.eml" 'application/x-pkcs7-mime; smime-type=enveloped-data'
  openssl cms -cmsout -print -in "$T/sent.eml" >"$T/print" 2>&1
  [ "$(grep -c 'd.kari\|d.ktri' "$T/print")" -eq 2 ] && ok "encrypted to bob and to alice (self)" ||
    not_ok "encrypted to bob and to alice (self)" "$T/print"
  check "tessera smime decrypt (bob's key) and openssl cms -verify" sh -c \
    "'$TESSERA_CLI' smime decrypt '$T/sent.eml' >'$T/decrypted.eml' &&
     openssl cms -verify -in '$T/decrypted.eml' -CAfile '$CA' -purpose smimesign -out '$T/content2'"
  check_grep "the decrypted body is intact" "$T/content2" 'this mail was signed by mutt through the hooks'
  mbox "$T/sent.eml" "$T/encrypted.mbox"
  show "$T/encrypted.mbox"
  check_grep "$MUTT_PROG decrypts it through smime_decrypt_command" "$T/screen" 'decrypted with '
  check_grep "$MUTT_PROG shows the decrypted body" "$T/screen" 'this mail was signed by mutt through the hooks'
  check_grep "and verifies the signature inside" "$T/screen" '^Verification successful'
  # Opaque signed-data (smime_verify_opaque_command).
  tessera smime sign --opaque "$T/msg.eml" >"$T/opaque.eml" 2>"$T/err" || not_ok "sign --opaque" "$T/err"
  mbox "$T/opaque.eml" "$T/opaque.mbox"
  show "$T/opaque.mbox"
  check_grep "$MUTT_PROG shows opaque signed-data: Verification successful" "$T/screen" '^Verification successful'
  check_grep "... its content" "$T/screen" 'an opaque message'
  check_grep "... and marks it verified" "$T/screen" 'S/MIME signature successfully verified'
  ps -o comm= --ppid "$($TM display-message -p '#{pane_pid}')" >"$T/pane" 2>&1
  check_grep "(that terminal ran $MUTT_PROG)" "$T/pane" "^$MUTT_PROG\$"
  $TM kill-server 2>/dev/null
}
hooks_session mutt
if command -v neomutt >/dev/null 2>&1; then
  hooks_session neomutt
else
  ok "neomutt on a terminal # SKIP neomutt is not installed (tools/install-deps.sh installs it)"
fi

# ---- the bare modes the hooks use, and their errors ---------------------------
printf 'Content-Type: text/plain\n\nbare entity\n' >"$T/entity"
check "sign --outform DER --signer ADDRESS" sh -c \
  "'$TESSERA_CLI' smime sign --outform DER --signer alice@example.org '$T/entity' >'$T/entity.p7s'"
check "openssl verifies the detached DER signature" openssl cms -verify -inform DER \
  -in "$T/entity.p7s" -content "$T/entity" -CAfile "$CA" -purpose smimesign -out /dev/null
check_exit 2 "sign --outform DER without a signer: usage error" \
  tessera smime sign --outform DER "$T/entity"
check_grep "... which names --signer" "$T/err" 'give --signer, --from or --key'
check_exit 1 "verify --signature --from another address: mismatch" \
  tessera smime verify --from bob@example.org --signature "$T/entity.p7s" "$T/entity"
check_grep "... address mismatch" "$T/err" 'address mismatch: the message is from bob@example.org'
sed 's/bare entity/bare entitY/' "$T/entity" >"$T/entity-changed"
check_exit 1 "verify --signature over content with one byte changed" \
  tessera smime verify --status-line --signature "$T/entity.p7s" "$T/entity-changed"
check_grep "... Verification failure, bad signature" "$T/err" 'bad signature'
printf 'Content-Type: text/plain\r\n\r\nbare entity\r\n' >"$T/entity-crlf"
check "... but CRLF line ends are the same content (canonical form)" \
  tessera smime verify --signature "$T/entity.p7s" "$T/entity-crlf"
check_exit 2 "--signer with --key: usage error" \
  tessera smime sign --outform DER --signer alice@example.org --key alice-sign "$T/entity"
check_exit 2 "--signer naming nothing (mutt's %k without \$smime_default_key)" \
  tessera smime sign --outform DER --signer /some/dir/ "$T/entity"
head -c 300 "$T/entity.p7s" >"$T/truncated.p7s"
check_exit 1 "verify --signature of a truncated signature" \
  tessera smime verify --signature "$T/truncated.p7s" "$T/entity"
check_grep "... malformed" "$T/err" 'malformed: not valid CMS'
check_exit 1 "decrypt --inform DER of a signature: not encrypted" \
  tessera smime decrypt --inform DER "$T/entity.p7s"
check_grep "... says what it is" "$T/err" 'not encrypted (its CMS content is pkcs7-signedData)'
check_exit 2 "encrypt --outform DER without recipients: usage error" \
  tessera smime encrypt --outform DER "$T/entity"
check_grep "... which names what recipients can be" "$T/err" "needs recipients: certificate files after FILE"
check_exit 2 "... before the input is read or the agent asked" env TESSERA_SOCKET="$T/none.sock" \
  "$TESSERA_CLI" smime encrypt --outform DER "$T/no-such-entity"
check_exit 2 "an unknown --outform" tessera smime sign --outform PEM --signer alice@example.org "$T/entity"
check "sign --outform DER --opaque, verify --inform DER" sh -c \
  "'$TESSERA_CLI' smime sign --outform DER --opaque --signer alice@example.org '$T/entity' >'$T/opaque.p7m' &&
   '$TESSERA_CLI' smime verify --inform DER '$T/opaque.p7m' >'$T/opaque.out'"
check_grep "... writes the bare content" "$T/opaque.out" '^bare entity'

# ---- the sendmail wrapper (tessera-smime-sendmail.muttrc), batch mode ----------
cat >"$T/muttrc" <<RC
set my_tessera_mutt = "$MUTT_CONTRIB"
source "\$my_tessera_mutt/tessera-smime-sendmail.muttrc"
set from = "alice@example.org"
set realname = "Alice Example"
set hostname = example.org
set record = ""
set charset = utf-8
set send_charset = "us-ascii:utf-8"
RC
mutt -n -F "$T/muttrc" -Q sendmail >"$T/q" 2>"$T/q.err"
if [ -s "$T/q.err" ]; then not_ok "tessera-smime-sendmail.muttrc loads without errors" "$T/q.err"; else
  ok "tessera-smime-sendmail.muttrc loads without errors"; fi
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

# ---- neomutt: the same files ---------------------------------------------------
# NeoMutt reads mutt's smime_* settings; in batch mode it too sends through
# the wrapper, which signs.
if command -v neomutt >/dev/null 2>&1; then
  for rc in hooks.muttrc muttrc; do
    neomutt -n -F "$T/$rc" -Q smime_sign_command >"$T/q" 2>"$T/q.err"
    if [ -s "$T/q.err" ]; then not_ok "neomutt loads $rc without errors" "$T/q.err"; else
      ok "neomutt loads $rc without errors"; fi
  done
  neomutt -n -F "$T/hooks.muttrc" -Q smime_sign_command >"$T/q" 2>&1
  check_grep "neomutt's smime_sign_command is tessera's" "$T/q" 'smime sign --outform DER --signer %k'
  rm -f "$T/sent.eml"
  check "neomutt sends a message through tessera-mutt-sendmail" sh -c \
    "neomutt -n -F '$T/muttrc' -s 'Signed by neomutt' -- bob@example.org <'$T/body'"
  check "openssl cms -verify accepts neomutt's message" openssl cms -verify -in "$T/sent.eml" \
    -CAfile "$CA" -purpose smimesign -out "$T/content3"
  check_grep "... with neomutt's subject and body" "$T/sent.eml" '^Subject: Signed by neomutt'
  check_grep "... and its body intact" "$T/content3" 'this mail was composed by mutt and signed by tessera'
else
  ok "neomutt # SKIP neomutt is not installed (tools/install-deps.sh installs it)"
fi

# ---- the agent gone mid-operation: exit status 3 ------------------------------
# Logged out, the PIN dialog never answers; the agent dies while it is up.
tessera lock >/dev/null 2>&1
echo hang >"$FAKE_PINENTRY_SCRIPT"
rm -f "$FAKE_PINENTRY_SCRIPT.pos"
"$TESSERA_CLI" smime sign --outform DER --signer alice@example.org "$T/entity" \
  >/dev/null 2>"$T/lost.err" &
SIGN_PID=$!
w=0
until grep -q GETPIN "$FAKE_PINENTRY_LOG" 2>/dev/null || [ $w -ge 100 ]; do sleep 0.1; w=$((w + 1)); done
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
wait "$SIGN_PID"
rc=$?
[ "$rc" -eq 3 ] && ok "the agent gone during the PIN dialog: exit status 3" ||
  { echo "exit status $rc" >>"$T/lost.err"; not_ok "the agent gone during the PIN dialog: exit status 3" "$T/lost.err"; }
check_grep "... lost the connection" "$T/lost.err" 'lost the connection to tessera-agent'

tap_done
