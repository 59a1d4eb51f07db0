#!/bin/bash
# Checks the configured systemd user units with systemd's own loader
# (`systemd-analyze --user verify`): every key must parse, every
# dependency resolve, ExecStart must name the installed agent. Prints TAP.
#
# Usage: test-units.sh SERVICE SOCKET BUILT_AGENT INSTALLED_AGENT
set -u

SERVICE=${1:?usage: test-units.sh SERVICE SOCKET BUILT_AGENT INSTALLED_AGENT}
SOCKET=${2:?}
BUILT_AGENT=$(realpath "${3:?}")
INSTALLED_AGENT=${4:?}

. "$(dirname "$0")/../tests/tap.sh"

command -v systemd-analyze >/dev/null ||
  { echo "1..0 # SKIP systemd-analyze not found (Debian package systemd)"; exit 0; }

T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-units-XXXXXX")
trap 'rm -rf "$T"' EXIT

# ExecStart names the installed binary, which need not exist yet:
# systemd-analyze refuses a missing executable, so the copies it checks
# run the agent just built instead. That is the only change.
if grep -qxF "ExecStart=$INSTALLED_AGENT --foreground" "$SERVICE"; then
  ok "ExecStart runs $INSTALLED_AGENT --foreground"
else
  grep '^ExecStart=' "$SERVICE" >"$T/why"
  not_ok "ExecStart runs $INSTALLED_AGENT --foreground" "$T/why"
fi
if grep -n '@[a-z_]*@' "$SERVICE" "$SOCKET" >"$T/why"; then
  not_ok "no placeholder left unconfigured" "$T/why"
else
  ok "no placeholder left unconfigured"
fi
mkdir "$T/units" "$T/runtime" "$T/home"
chmod 0700 "$T/runtime"
cp "$SOCKET" "$T/units/tessera-agent.socket"
sed "s|^ExecStart=$INSTALLED_AGENT |ExecStart=$BUILT_AGENT |" "$SERVICE" >"$T/units/tessera-agent.service"

# verify UNIT...: systemd-analyze as a user manager would load the units;
# output in $T/out. A user manager needs XDG_RUNTIME_DIR: a private one,
# as root in a container has none. No generators, no man page lookups,
# nothing from the caller's environment.
verify() {
  env -i PATH="$PATH" HOME="$T/home" XDG_RUNTIME_DIR="$T/runtime" SYSTEMD_LOG_LEVEL=info \
    systemd-analyze --user verify --man=no --generators=no "$@" >"$T/out" 2>&1
}

# systemd-analyze only warns about a key it cannot use ("Unknown key",
# "Failed to parse ..., ignoring") and exits 0: every line that names one
# of our files counts as a failure. A deliberately broken copy shows that
# this machine's systemd-analyze reports such lines at all.
mkdir "$T/broken"
cp "$T/units/tessera-agent.socket" "$T/broken/"
sed 's/^NoNewPrivileges=yes/NoNewPrivileges=perhaps/' "$T/units/tessera-agent.service" \
  >"$T/broken/tessera-agent.service"
verify "$T/broken/tessera-agent.service"
if grep -q 'tessera-agent\.service:[0-9]*:.*perhaps' "$T/out"; then
  ok "systemd-analyze reports a bad value in a unit (self-check)"
elif grep -q 'Failed to initialize manager\|Failed to lookup' "$T/out"; then
  sed 's/^/# /' "$T/out"
  echo "1..0 # SKIP systemd-analyze cannot set up a user manager here"
  exit 0
else
  not_ok "systemd-analyze reports a bad value in a unit (self-check)" "$T/out"
fi

for unit in tessera-agent.socket tessera-agent.service; do
  verify "$T/units/$unit"
  rc=$?
  if [ "$rc" -ne 0 ] || grep -q 'tessera-agent\.' "$T/out"; then
    echo "exit status $rc" >>"$T/out"
    not_ok "systemd-analyze --user verify $unit" "$T/out"
  else
    ok "systemd-analyze --user verify $unit"
    [ -s "$T/out" ] && sed 's/^/# /' "$T/out"
  fi
done

# What the agent and its clients rely on, stated once more.
for want in 'ListenStream=%t/tessera/agent.sock' 'SocketMode=0600' 'DirectoryMode=0700' \
  'WantedBy=sockets.target'; do
  if grep -qxF "$want" "$SOCKET"; then ok "socket: $want"; else not_ok "socket: $want"; fi
done
for want in 'Requires=tessera-agent.socket' 'After=tessera-agent.socket'; do
  if grep -qxF "$want" "$SERVICE"; then ok "service: $want"; else not_ok "service: $want"; fi
done

tap_done
