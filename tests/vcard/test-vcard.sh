#!/bin/bash
# test-vcard.sh: TAP test of tests/vcard/virtual-piv with the real stack:
# a private pcscd (pcscd-env.sh) + vsmartcard's vpcd driver + OpenSC's
# opensc-pkcs11.so driven by pkcs11-tool, results checked with openssl.
#
# Environment (all optional):
#   OPENSC_PKCS11  OpenSC's module   (/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)
#   VIRTUAL_PIV    the card emulator (tests/vcard/virtual-piv next to this file)
#   MAKE_CARD      the card maker    (tests/vcard/make-card)
#   PCSCD_ENV      the pcscd helper  (tests/vcard/pcscd-env.sh)
#   VCARD_PORT     first vpcd port   (35990; the second reader is +1)
#   VCARD_KEEP=1   keep the temporary directory (logs, cards) for debugging
# Needs: root (for the private mount namespace of pcscd), Debian packages
# pcscd, vsmartcard-vpcd, opensc, openssl, python3-cryptography.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OPENSC_PKCS11="${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}"
VIRTUAL_PIV="${VIRTUAL_PIV:-$HERE/virtual-piv}"
MAKE_CARD="${MAKE_CARD:-$HERE/make-card}"
PCSCD_ENV="${PCSCD_ENV:-$HERE/pcscd-env.sh}"
export VCARD_PORT="${VCARD_PORT:-35990}"
PORT_RSA="$VCARD_PORT"
PORT_EC="$((VCARD_PORT + 1))"
READER_RSA="Virtual PCD 00 00"
READER_EC="Virtual PCD 00 01"
PIN=123456
PUK=12345678
TRIES=3

START_TIME=$(date +%s%N)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { sed 's/^/# /'; }

missing=""
for tool in pkcs11-tool opensc-tool openssl pcscd unshare; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -r "$OPENSC_PKCS11" ] || missing="$missing $OPENSC_PKCS11"
[ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || [ -n "${VPCD_DRIVER:-}" ] || missing="$missing libifdvpcd.so(vsmartcard-vpcd)"
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || missing="$missing python3-cryptography"
if [ -n "$missing" ]; then
	echo "1..0 # SKIP missing:$missing"
	exit 0
fi

T="$(mktemp -d "${TMPDIR:-/tmp}/test-vcard.XXXXXX")"
LOG="$T/commands.log"
mkdir -p "$T/home"
cat >"$T/opensc.conf" <<'EOF'
app default {
	framework pkcs15 {
		use_file_caching = no;
	}
}
EOF
# No OpenSC file cache from earlier runs (cards are re-made with the same
# serials), no user configuration.
export OPENSC_CONF="$T/opensc.conf" HOME="$T/home"
unset OPENSC_DEBUG

# shellcheck source=pcscd-env.sh
. "$PCSCD_ENV"

CARD_PIDS=()
declare -A CARD_PID
stop_pid() { # PID: SIGTERM, up to 5 s, then SIGKILL; reap
	local _
	kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
	for _ in $(seq 1 100); do
		_vcard_alive "$1" || break
		sleep 0.05
	done
	_vcard_alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
cleanup() {
	local pid
	for pid in "${CARD_PIDS[@]}"; do
		stop_pid "$pid"
	done
	stop_pcscd
	if [ -n "${VCARD_KEEP:-}" ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

p11() { pkcs11-tool --module "$OPENSC_PKCS11" "$@"; }

# run DESCRIPTION COMMAND...: one TAP line from a command's exit status.
run() {
	local desc="$1"
	shift
	echo "== $desc: $*" >>"$LOG"
	if "$@" >>"$LOG" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		tail -n 15 "$LOG" | diag
	fi
}

# slot_of READER: the PKCS#11 slot id of the reader if it holds a token.
slot_of() {
	p11 -L 2>/dev/null | awk -v r="$1" '
		/^Slot [0-9]+ \(0x[0-9a-f]+\): / { s = ""; if (index($0, r)) { s = $3; gsub(/[():]/, "", s) } next }
		s != "" && /token label/ { print s; exit }
		s != "" && /\(empty\)/ { exit }'
}
# serial_of READER: the token serial shown by pkcs11-tool -L.
serial_of() {
	p11 -L 2>/dev/null | awk -v r="$1" '
		/^Slot / { inr = index($0, r) > 0; next }
		inr && /serial num/ { print $NF; exit }'
}
# wait_token READER present|absent [seconds]
wait_token() {
	local _ limit=$((${3:-10} * 20))
	for _ in $(seq 1 "$limit"); do
		if [ "$2" = present ] && [ -n "$(slot_of "$1")" ]; then return 0; fi
		if [ "$2" = absent ] && [ -z "$(slot_of "$1")" ]; then return 0; fi
		sleep 0.05
	done
	return 1
}
# reader_index READER: opensc-tool's reader number.
reader_index() {
	opensc-tool -l 2>/dev/null | awk -v r="$1" 'index($0, r) { print $1; exit }'
}
# apdu_sw READER APDU...: the status word (e.g. 63C2) of the last APDU.
apdu_sw() {
	local r="$1" args=() a
	shift
	for a in "$@"; do args+=(-s "$a"); done
	opensc-tool -r "$(reader_index "$r")" "${args[@]}" 2>&1 |
		awk '/Received \(SW1=/ { gsub(/.*SW1=0x|, SW2=0x|\).*/, " "); split($0, a, " "); sw = toupper(a[1] a[2]) } END { print sw }'
}
# pin_status READER: SW of an empty VERIFY after dropping any verified state.
pin_status() { apdu_sw "$1" 0020FF80 00200080; }
hexpad8() { # ASCII -> hex, padded with FF to 8 bytes
	local h
	h="$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')"
	while [ ${#h} -lt 16 ]; do h="${h}ff"; done
	echo "$h"
}
tries_left() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pin_tries_left"])' "$1/state.json"; }
start_card() { # NAME PORT [extra args]
	local name="$1" port="$2"
	shift 2
	"$VIRTUAL_PIV" --port "$port" --dir "$T/$name" --log "$T/$name.log" "$@" \
		>>"$T/$name.out" 2>&1 &
	CARD_PID[$name]=$!
	CARD_PIDS+=("$!")
}
stop_card() { # NAME
	stop_pid "${CARD_PID[$1]}"
}
pubkey() { openssl x509 -in "$1" -pubkey -noout; }

# ----------------------------------------------------------------- setup --
sys_sock_before="$(stat -c %i /run/pcscd/pcscd.comm 2>/dev/null || echo none)"
if start_pcscd "$T/pcscd" 2>>"$LOG"; then
	ok "private pcscd lists '$READER_RSA' and '$READER_EC' (socket $PCSCLITE_CSOCK_NAME)"
else
	not_ok "private pcscd starts"
	tail -n 20 "$LOG" | diag
	echo "1..$n"
	exit 1
fi
sys_sock_after="$(stat -c %i /run/pcscd/pcscd.comm 2>/dev/null || echo none)"
run "system pcscd socket untouched ($sys_sock_before)" test "$sys_sock_before" = "$sys_sock_after"

run "make-card --type rsa" "$MAKE_CARD" --type rsa --serial 10000001 "$T/rsa"
run "make-card --type ec" "$MAKE_CARD" --type ec --serial 20000002 "$T/ec"
start_card rsa "$PORT_RSA" --pin "$PIN" --puk "$PUK" --tries "$TRIES"
start_card ec "$PORT_EC" --pin "$PIN" --puk "$PUK" --tries "$TRIES" --control "$T/ec.ctl"

wait_token "$READER_RSA" present 10
wait_token "$READER_EC" present 10
ntok="$(p11 -L 2>>"$LOG" | grep -c 'token label')"
run "pkcs11-tool -L shows two tokens" test "$ntok" = 2
SLOT_RSA="$(slot_of "$READER_RSA")"
SLOT_EC="$(slot_of "$READER_EC")"
SERIAL_RSA="$(serial_of "$READER_RSA")"
SERIAL_EC="$(serial_of "$READER_EC")"
run "token serials differ ($SERIAL_RSA, $SERIAL_EC)" test -n "$SERIAL_RSA" -a -n "$SERIAL_EC" -a "$SERIAL_RSA" != "$SERIAL_EC"
run "opensc-tool -n names the card PIV" sh -c "opensc-tool -r $(reader_index "$READER_RSA") -n | grep -q 'Personal Identity Verification Card'"

# ------------------------------------------------------------- objects --
check_objects() { # NAME SLOT KEYTYPE
	local out="$T/$1.objects"
	p11 --slot "$2" --login --pin "$PIN" -O >"$out" 2>&1 || return 1
	local label
	for label in "PIV AUTH key" "SIGN key" "KEY MAN key" "CARD AUTH key"; do
		grep -q "label: *$label\$" "$out" || { echo "no '$label'"; return 1; }
	done
	[ "$(grep -c '^Private Key Object; '"$3" "$out")" = 4 ] || { echo "not 4 $3 private keys"; return 1; }
	[ "$(grep -c '^Certificate Object' "$out")" = 4 ] || { echo "not 4 certificates"; return 1; }
}
run "RSA card: 4 RSA keys (PIV AUTH/SIGN/KEY MAN/CARD AUTH key) + 4 certs" check_objects rsa "$SLOT_RSA" RSA
run "EC card: 4 EC keys + 4 certs" check_objects ec "$SLOT_EC" EC

check_certs() { # NAME SLOT
	local id slot=9a
	for id in 01 02 03 04; do
		case $id in 01) slot=9a ;; 02) slot=9c ;; 03) slot=9d ;; 04) slot=9e ;; esac
		p11 --slot "$2" --read-object --type cert --id "$id" -o "$T/$1.$slot.der" || return 1
		openssl x509 -in "$T/$1/$slot.pem" -outform DER -out "$T/$1.$slot.want.der" || return 1
		cmp "$T/$1.$slot.der" "$T/$1.$slot.want.der" || return 1
	done
}
run "RSA card: certificates read through OpenSC equal DIR/9?.pem" check_certs rsa "$SLOT_RSA"
run "EC card: certificates read through OpenSC equal DIR/9?.pem" check_certs ec "$SLOT_EC"

# ---------------------------------------------------------- signatures --
printf 'Tessera virtual PIV test %s\n' "$(date)" >"$T/data"
pubkey "$T/rsa/9a.pem" >"$T/rsa.9a.pub"
pubkey "$T/rsa/9c.pem" >"$T/rsa.9c.pub"
pubkey "$T/rsa/9d.pem" >"$T/rsa.9d.pub"
pubkey "$T/rsa/9e.pem" >"$T/rsa.9e.pub"
pubkey "$T/ec/9a.pem" >"$T/ec.9a.pub"
pubkey "$T/ec/9c.pem" >"$T/ec.9c.pub"
pubkey "$T/ec/9d.pem" >"$T/ec.9d.pub"

sign_rsa() { # ID PUB [pkcs11-tool login args...]
	local id="$1" pub="$2"
	shift 2
	rm -f "$T/sig"
	p11 --slot "$SLOT_RSA" "$@" --sign --id "$id" -m SHA256-RSA-PKCS -i "$T/data" -o "$T/sig" &&
		openssl dgst -sha256 -verify "$pub" -signature "$T/sig" "$T/data"
}
sign_ec() { # ID PUB
	rm -f "$T/sig"
	p11 --slot "$SLOT_EC" --login --pin "$PIN" --sign --id "$1" -m ECDSA-SHA256 \
		--signature-format openssl -i "$T/data" -o "$T/sig" &&
		openssl dgst -sha256 -verify "$2" -signature "$T/sig" "$T/data"
}
run "RSA 9A: SHA256-RSA-PKCS signature verifies with openssl against 9a.pem" \
	sign_rsa 01 "$T/rsa.9a.pub" --login --pin "$PIN"
run "EC 9A: ECDSA-SHA256 signature verifies with openssl against 9a.pem" sign_ec 01 "$T/ec.9a.pub"

: >"$T/rsa.log"
run "RSA 9C: signature (context-specific login by pkcs11-tool) verifies" \
	sign_rsa 02 "$T/rsa.9c.pub" --login --pin "$PIN"
# The card saw a second VERIFY (the context-specific login) right before
# the 9C GENERAL AUTHENTICATE.
ctx_login_seen() {
	awk '/\[VERIFY\]/ { v++; last = "V" } /GENERAL AUTHENTICATE alg .. key 9C/ { if (last == "V") ok = 1; last = "G" }
		END { exit !(v >= 2 && ok) }' "$T/rsa.log"
}
run "RSA 9C: card saw a VERIFY just before the 9C GENERAL AUTHENTICATE" ctx_login_seen
run "EC 9C: ECDSA-SHA256 signature verifies" sign_ec 02 "$T/ec.9c.pub"

pin_always() { # on the EC card: VERIFY, 9C works once, then 69 82
	local dig ga
	dig="$(printf x | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n')"
	ga="0087119C267C2482008120${dig}00"
	[ "$(apdu_sw "$READER_EC" "0020008008$(hexpad8 "$PIN")" "$ga")" = 9000 ] || return 1
	[ "$(apdu_sw "$READER_EC" "0020008008$(hexpad8 "$PIN")" "$ga" "$ga")" = 6982 ] || return 1
	[ "$(apdu_sw "$READER_EC" "0020008008$(hexpad8 "$PIN")" "$ga" 00200080 "$ga")" = 6982 ] || return 1
}
run "9C is PIN-always: a second GENERAL AUTHENTICATE without VERIFY gets 69 82" pin_always
card_auth_no_pin() { # EC card: 9E signs without VERIFY, 9A does not
	local dig
	dig="$(printf y | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n')"
	[ "$(apdu_sw "$READER_EC" 0020FF80 "0087119E267C2482008120${dig}00")" = 9000 ] || return 1
	[ "$(apdu_sw "$READER_EC" 0020FF80 "0087119A267C2482008120${dig}00")" = 6982 ] || return 1
}
run "9E (card authentication) signs without VERIFY, 9A gets 69 82" card_auth_no_pin

decrypt_rsa() {
	head -c 32 /dev/urandom >"$T/secret"
	openssl pkeyutl -encrypt -pubin -inkey "$T/rsa.9d.pub" -in "$T/secret" -out "$T/ct" &&
		p11 --slot "$SLOT_RSA" --login --pin "$PIN" --decrypt --id 03 -m RSA-PKCS \
			-i "$T/ct" -o "$T/pt" &&
		cmp "$T/secret" "$T/pt"
}
run "RSA 9D: pkcs11-tool --decrypt -m RSA-PKCS recovers what openssl encrypted" decrypt_rsa

derive_ec() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.key" &&
		openssl pkey -in "$T/peer.key" -pubout -outform DER -out "$T/peer.der" &&
		p11 --slot "$SLOT_EC" --login --pin "$PIN" --derive -m ECDH1-DERIVE --id 03 \
			-i "$T/peer.der" -o "$T/z.card" &&
		openssl pkeyutl -derive -inkey "$T/peer.key" -peerkey "$T/ec.9d.pub" -out "$T/z.openssl" &&
		[ "$(stat -c %s "$T/z.card")" = 32 ] && cmp "$T/z.card" "$T/z.openssl"
}
run "EC 9D: ECDH1-DERIVE equals openssl pkeyutl -derive" derive_ec

# Timing: whole pkcs11-tool processes (load module, find the card, login,
# sign), so this is an upper bound for one signature through OpenSC.
t0=$(date +%s%N)
for _ in $(seq 1 10); do
	p11 --slot "$SLOT_EC" --login --pin "$PIN" --sign --id 01 -m ECDSA-SHA256 -i "$T/data" -o "$T/sig" >/dev/null 2>&1
done
t1=$(date +%s%N)
for _ in $(seq 1 10); do
	p11 --slot "$SLOT_RSA" --login --pin "$PIN" --sign --id 01 -m SHA256-RSA-PKCS -i "$T/data" -o "$T/sig" >/dev/null 2>&1
done
t2=$(date +%s%N)
echo "# timing: one pkcs11-tool --login --sign process: ECDSA $(((t1 - t0) / 10000000)) ms, RSA-2048 $(((t2 - t1) / 10000000)) ms"

# -------------------------------------------------------- power / state --
power_off_resets() {
	p11 --slot "$SLOT_RSA" --login --pin "$PIN" -O >/dev/null 2>&1 || return 1
	: >"$T/rsa.log"
	local _
	for _ in $(seq 1 60); do # pcscd powers the card off ~0.5 s after the last handle
		grep -q 'power off' "$T/rsa.log" && break
		sleep 0.05
	done
	grep -q 'power off' "$T/rsa.log" || { echo "no power off seen"; return 1; }
	[ "$(apdu_sw "$READER_RSA" 00200080)" = 63C3 ]
}
run "verified state is lost when pcscd powers the card off" power_off_resets

run "fresh card: empty VERIFY answers 63 C3" test "$(pin_status "$READER_RSA")" = 63C3
wrong_pin() { # EXPECTED-CKR
	local out
	out="$(p11 --slot "$SLOT_RSA" --login --pin 999999 -O 2>&1)" && return 1
	echo "$out"
	echo "$out" | grep -q "$1"
}
run "wrong PIN: pkcs11-tool says CKR_PIN_INCORRECT" wrong_pin CKR_PIN_INCORRECT
run "wrong PIN: counter went down by exactly one (63 C2)" test "$(pin_status "$READER_RSA")" = 63C2
run "wrong PIN: state.json says 2 tries left" test "$(tries_left "$T/rsa")" = 2
run "right PIN resets the counter to 3" sh -c "pkcs11-tool --module '$OPENSC_PKCS11' --slot '$SLOT_RSA' --login --pin '$PIN' -O >/dev/null"
run "counter back at 63 C3" test "$(pin_status "$READER_RSA")" = 63C3
wrong_pin CKR_PIN_INCORRECT >>"$LOG" 2>&1
wrong_pin CKR_PIN_INCORRECT >>"$LOG" 2>&1
run "third wrong PIN in a row: CKR_PIN_LOCKED" wrong_pin CKR_PIN_LOCKED
run "blocked: the right PIN gets CKR_PIN_LOCKED too" sh -c \
	"pkcs11-tool --module '$OPENSC_PKCS11' --slot '$SLOT_RSA' --login --pin '$PIN' -O 2>&1 | grep -q CKR_PIN_LOCKED"
run "blocked: empty VERIFY answers 69 83" test "$(pin_status "$READER_RSA")" = 6983
run "blocked: token flags show 'user PIN locked'" sh -c \
	"pkcs11-tool --module '$OPENSC_PKCS11' --slot '$SLOT_RSA' -T | grep -q 'user PIN locked'"

# ------------------------------------------------------ removal / insertion --
kill -USR1 "${CARD_PID[rsa]}"
run "SIGUSR1: RSA token gone from '$READER_RSA'" wait_token "$READER_RSA" absent 5
run "SIGUSR1: EC token still there" test -n "$(slot_of "$READER_EC")"
kill -USR2 "${CARD_PID[rsa]}"
run "SIGUSR2: RSA token back" wait_token "$READER_RSA" present 5
SLOT_RSA="$(slot_of "$READER_RSA")"
run "SIGUSR2: same serial ($SERIAL_RSA)" test "$(serial_of "$READER_RSA")" = "$SERIAL_RSA"
run "blocked PIN stays blocked across removal/insertion" test "$(pin_status "$READER_RSA")" = 6983

stop_card rsa
start_card rsa "$PORT_RSA" --pin "$PIN" --puk "$PUK" --tries "$TRIES"
wait_token "$READER_RSA" present 5
SLOT_RSA="$(slot_of "$READER_RSA")"
run "blocked PIN stays blocked across a restart of virtual-piv" test "$(pin_status "$READER_RSA")" = 6983
run "RESET RETRY COUNTER with the PUK unblocks (90 00)" \
	test "$(apdu_sw "$READER_RSA" "002C008010$(hexpad8 "$PUK")$(hexpad8 "$PIN")")" = 9000
run "unblocked: login and RSA 9A signature work again" sign_rsa 01 "$T/rsa.9a.pub" --login --pin "$PIN"

run "control socket: remove" "$VIRTUAL_PIV" --control "$T/ec.ctl" --send remove
run "control socket: EC token gone" wait_token "$READER_EC" absent 5
run "control socket: insert" "$VIRTUAL_PIV" --control "$T/ec.ctl" --send insert
serial_back() { # READER SERIAL
	local _
	for _ in $(seq 1 100); do
		[ "$(serial_of "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
run "control socket: EC token back with the same serial" serial_back "$READER_EC" "$SERIAL_EC"

# ------------------------------------------------------------ pcscd restart --
stop_pcscd
start_pcscd "$T/pcscd" 2>>"$LOG"
both_back() { wait_token "$READER_RSA" present 10 && wait_token "$READER_EC" present 10; }
run "pcscd restarted: both cards reconnect by themselves" both_back
SLOT_EC="$(slot_of "$READER_EC")"
run "after the pcscd restart: EC 9A signature verifies" sign_ec 01 "$T/ec.9a.pub"
run "no APDU log line holds the PIN" sh -c "! grep -h -i '$(hexpad8 "$PIN" | sed 's/../& /g; s/ $//')' '$T/rsa.log' '$T/ec.log'"

END_TIME=$(date +%s%N)
echo "# took $(((END_TIME - START_TIME) / 1000000)) ms"
echo "1..$n"
[ "$failed" = 0 ]
