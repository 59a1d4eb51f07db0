#!/bin/bash
# pcscd-env.sh: a private pcscd with two vsmartcard (vpcd) readers for tests.
#
# Sourced:   . tests/vcard/pcscd-env.sh
#            start_pcscd DIR     # starts pcscd, exports PCSCLITE_CSOCK_NAME
#            ...                 # pcsc_scan, opensc-tool, pkcs11-tool, ... see the readers
#            stop_pcscd          # stops it and waits
# Executed:  eval "$(tests/vcard/pcscd-env.sh start DIR)"   # prints export lines
#            tests/vcard/pcscd-env.sh stop DIR
#
# Readers: "Virtual PCD 00 00" on TCP port $VCARD_PORT (default 35990) and
# "Virtual PCD 00 01" on $VCARD_PORT+1 (one reader.conf entry of vpcd gives
# two slots, port and port+1). A card (tests/vcard/virtual-piv) connects to
# one of these ports on 127.0.0.1.
#
# Why a mount namespace: Debian 12's pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME
# (only libpcsclite, the client side, reads it) and always uses
# /run/pcscd/pcscd.comm and /run/pcscd/pcscd.pid; it refuses to start while
# another pcscd's socket and pid are there, and on exit removes both. So the
# private pcscd runs under `unshare --mount` with DIR/run bind-mounted over
# /run: its /run/pcscd/pcscd.comm is DIR/run/pcscd/pcscd.comm on the host,
# and clients reach it with PCSCLITE_CSOCK_NAME=DIR/run/pcscd/pcscd.comm. In
# the same namespace /usr/lib/pcsc/drivers is covered by an empty directory,
# so the private pcscd loads no USB (CCID) driver and never grabs a real
# reader a system pcscd may be using; vpcd's driver is used from a copy in
# DIR. The system pcscd, if any, is not touched.
#
# Without the rights for a mount namespace (no CAP_SYS_ADMIN) it falls back
# to running pcscd directly, which is only done when no other pcscd runs.
#
# Environment: VCARD_PORT (35990), PCSCD (pcscd), VPCD_DRIVER
# (/usr/lib/pcsc/drivers/serial/libifdvpcd.so), VCARD_PCSCD_ARGS (extra
# pcscd options, e.g. "--debug --apdu"; log in DIR/pcscd.log).
# Exported by start_pcscd: PCSCLITE_CSOCK_NAME, VCARD_PCSCD_PID,
# VCARD_PCSCD_DIR.

_vcard_log() { echo "pcscd-env: $*" >&2; }

_vcard_alive() { # running and not a zombie
	kill -0 "$1" 2>/dev/null || return 1
	case "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" in Z | X | "") return 1 ;; esac
	return 0
}

_vcard_list_readers() {
	# Prints the reader list as libpcsclite sees it (empty if none).
	opensc-tool -l 2>/dev/null | grep -o 'Virtual PCD 00 0[01]' || true
}

start_pcscd() {
	local dir="${1:?usage: start_pcscd DIR}"
	local port="${VCARD_PORT:-35990}"
	local pcscd_bin="${PCSCD:-pcscd}"
	local driver="${VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}"
	mkdir -p "$dir" || return 1
	dir="$(cd "$dir" && pwd)"
	if [ -n "${VCARD_PCSCD_PID:-}" ] && kill -0 "$VCARD_PCSCD_PID" 2>/dev/null; then
		_vcard_log "a private pcscd already runs (pid $VCARD_PCSCD_PID)"
		return 1
	fi
	command -v "$pcscd_bin" >/dev/null || { _vcard_log "no $pcscd_bin (apt-get install pcscd)"; return 1; }
	[ -e "$driver" ] || { _vcard_log "no $driver (apt-get install vsmartcard-vpcd)"; return 1; }
	rm -rf "$dir/run" "$dir/drivers"
	mkdir -p "$dir/run" "$dir/drivers" "$dir/reader.conf.d"
	cp "$driver" "$dir/libifdvpcd.so"
	# The device name's port is the first slot's port; vpcd adds the slot number.
	cat >"$dir/reader.conf.d/vpcd" <<-EOF
		FRIENDLYNAME "Virtual PCD"
		DEVICENAME   /dev/null:$port
		LIBPATH      $dir/libifdvpcd.so
		CHANNELID    $port
	EOF
	: >"$dir/pcscd.log"
	local sock
	# shellcheck disable=SC2086
	if unshare --mount --propagation private true 2>/dev/null; then
		sock="$dir/run/pcscd/pcscd.comm"
		# shellcheck disable=SC2016 # $1/$@ are the inner shell's
		unshare --mount --propagation private -- /bin/sh -c '
			mount --bind "$1/run" /run &&
			{ [ ! -d /usr/lib/pcsc/drivers ] || mount --bind "$1/drivers" /usr/lib/pcsc/drivers; } &&
			shift && exec "$@"' sh "$dir" \
			"$pcscd_bin" --foreground --config "$dir/reader.conf.d" ${VCARD_PCSCD_ARGS:-} \
			>>"$dir/pcscd.log" 2>&1 </dev/null &
	else
		sock=/run/pcscd/pcscd.comm
		if [ -S "$sock" ]; then
			_vcard_log "cannot make a mount namespace and another pcscd runs ($sock): giving up"
			return 1
		fi
		_vcard_log "no mount namespace: running pcscd on the system socket $sock"
		"$pcscd_bin" --foreground --config "$dir/reader.conf.d" ${VCARD_PCSCD_ARGS:-} \
			>>"$dir/pcscd.log" 2>&1 </dev/null &
	fi
	VCARD_PCSCD_PID=$!
	VCARD_PCSCD_DIR="$dir"
	PCSCLITE_CSOCK_NAME="$sock"
	export VCARD_PCSCD_PID VCARD_PCSCD_DIR PCSCLITE_CSOCK_NAME
	echo "$VCARD_PCSCD_PID" >"$dir/pcscd.pid"
	# Wait (up to 10 s) until a client lists both readers.
	local _
	for _ in $(seq 1 200); do
		if ! kill -0 "$VCARD_PCSCD_PID" 2>/dev/null; then
			_vcard_log "pcscd exited; its log:"; cat "$dir/pcscd.log" >&2
			unset VCARD_PCSCD_PID
			return 1
		fi
		if [ -S "$sock" ] && [ "$(_vcard_list_readers | wc -l)" -ge 2 ]; then
			return 0
		fi
		sleep 0.05
	done
	_vcard_log "pcscd (pid $VCARD_PCSCD_PID) did not list the readers in 10 s; log:"
	cat "$dir/pcscd.log" >&2
	stop_pcscd
	return 1
}

stop_pcscd() {
	local pid="${VCARD_PCSCD_PID:-}"
	if [ -z "$pid" ] && [ -n "${1:-}" ] && [ -r "$1/pcscd.pid" ]; then
		pid="$(cat "$1/pcscd.pid")"
	fi
	[ -n "$pid" ] || return 0
	# Only signal it if it is still our pcscd (the pid may have been reused).
	if _vcard_alive "$pid" && grep -q pcscd "/proc/$pid/comm" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		local _
		for _ in $(seq 1 100); do
			_vcard_alive "$pid" || break
			sleep 0.05
		done
		if _vcard_alive "$pid"; then
			_vcard_log "pcscd $pid did not stop on SIGTERM, killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null # reap it if it is our child
	[ -n "${VCARD_PCSCD_DIR:-}" ] && rm -f "$VCARD_PCSCD_DIR/pcscd.pid"
	unset VCARD_PCSCD_PID
	return 0
}

# Executed rather than sourced: "start DIR" / "stop DIR".
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	start)
		start_pcscd "${2:?usage: $0 start DIR}" || exit 1
		# pcscd must outlive this script: it was started in the background.
		printf 'export PCSCLITE_CSOCK_NAME=%q\nexport VCARD_PCSCD_PID=%q\nexport VCARD_PCSCD_DIR=%q\n' \
			"$PCSCLITE_CSOCK_NAME" "$VCARD_PCSCD_PID" "$VCARD_PCSCD_DIR"
		;;
	stop)
		VCARD_PCSCD_DIR="${2:?usage: $0 stop DIR}"
		stop_pcscd "$2"
		;;
	*)
		echo "usage: $0 start DIR | stop DIR  (or source it and use start_pcscd/stop_pcscd)" >&2
		exit 2
		;;
	esac
fi
