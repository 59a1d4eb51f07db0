#!/bin/bash
# Checks 70-tessera.rules with udev itself: `udevadm verify` where it exists
# (systemd >= 253), and on every version `udevadm test` running the rule,
# together with the system's own rules, on fake USB devices in a private
# mount namespace (tmpfs over /sys and /run; the host is not touched).
# Each device must, or must not, ask for tessera-agent.service. Prints TAP.
#
# Usage: test-rules.sh RULES_FILE
set -u

RULES=$(realpath "${1:?usage: test-rules.sh RULES_FILE}")
SELF=$(realpath "$0")

skip_all() {
  echo "1..0 # SKIP $*"
  exit 0
}

. "$(dirname "$0")/../tests/tap.sh"
finish() {
  tap_done
  exit
}
# The namespace part numbers on from the outer checks and reports its
# counts on its last line instead of a plan.
n=${TESSERA_RULES_FIRST:-0}

# ---------------------------------------------------------------------------
# Inside the namespace: fake sysfs devices and udevadm test on each.
if [ "${TESSERA_RULES_IN_NAMESPACE:-}" = 1 ]; then
  # Nothing mounted here may reach the host's mount table. udevadm test
  # writes its database under /run/udev; /run/udev/rules.d comes before
  # the packaged rule directories, so the file under test replaces an
  # installed copy.
  if ! { mount --make-rprivate / && mount -t tmpfs tessera-sys /sys &&
    mount -t tmpfs tessera-run /run; } 2>"${TMPDIR:-/tmp}/tessera-rules-mount.$$"; then
    sed 's/^/# /' "${TMPDIR:-/tmp}/tessera-rules-mount.$$"
    rm -f "${TMPDIR:-/tmp}/tessera-rules-mount.$$"
    echo "# counts skip"
    exit 0
  fi
  rm -f "${TMPDIR:-/tmp}/tessera-rules-mount.$$"
  mkdir -p /run/udev/rules.d /sys/bus/usb/devices
  cp "$RULES" /run/udev/rules.d/70-tessera.rules
  T=$(mktemp -d)
  # The fake devices live on tmpfs, not sysfs: allow that.
  export SYSTEMD_DEVICE_VERIFY_SYSFS=0
  USB=/sys/devices/pci0000:00/0000:00:14.0/usb1

  # hex BYTE...: writes the bytes.
  hex() {
    local b
    for b in "$@"; do printf "\\x$b"; done
  }
  # usb_device NAME VENDOR PRODUCT CLASS...: a USB device with one
  # interface per class triple ("0b0000"), as the kernel shows it: uevent,
  # idVendor, idProduct and the raw descriptors that udev's usb_id builtin
  # reads to make ID_USB_INTERFACES. Prints its syspath.
  usb_device() {
    local name=$1 vendor=$2 product=$3
    shift 3
    local d=$USB/$name i=0 c
    mkdir -p "$d"
    ln -s /sys/bus/usb "$d/subsystem"
    printf 'DEVTYPE=usb_device\nPRODUCT=%x/%x/100\nTYPE=0/0/0\nBUSNUM=001\nDEVNUM=%03d\n' \
      "0x$vendor" "0x$product" "$((${name#1-} + 1))" >"$d/uevent"
    echo "$vendor" >"$d/idVendor"
    echo "$product" >"$d/idProduct"
    {
      # Device descriptor (18 bytes), configuration descriptor (9 bytes).
      hex 12 01 00 02 00 00 00 40 "${vendor:2:2}" "${vendor:0:2}" \
        "${product:2:2}" "${product:0:2}" 00 01 01 02 03 01
      hex 09 02 00 00 "$(printf %02x $#)" 01 00 80 32
      for c in "$@"; do
        # Interface descriptor, then one endpoint: usb_id stops short of a
        # descriptor that ends the file.
        hex 09 04 "$(printf %02x $i)" 00 01 "${c:0:2}" "${c:2:2}" "${c:4:2}" 00
        hex 07 05 81 03 08 00 0a
        i=$((i + 1))
      done
    } >"$d/descriptors"
    echo "$d"
  }
  # usb_interface PARENT NUMBER CLASS: an interface child of a device.
  usb_interface() {
    local d
    d=$1/$(basename "$1"):1.$2
    mkdir -p "$d"
    ln -s /sys/bus/usb "$d/subsystem"
    printf 'DEVTYPE=usb_interface\nINTERFACE=%d/%d/%d\n' \
      "0x${3:0:2}" "0x${3:2:2}" "0x${3:4:2}" >"$d/uevent"
    echo "${3:0:2}" >"$d/bInterfaceClass"
    echo "${3:2:2}" >"$d/bInterfaceSubClass"
    echo "${3:4:2}" >"$d/bInterfaceProtocol"
    echo "$d"
  }

  # run_test ACTION SYSPATH: udevadm test's output in $T/out, with the
  # device's properties (the KEY=VALUE lines at the end) in $T/props.
  run_test() {
    udevadm test --action="$1" "$2" >"$T/out" 2>&1
    local rc=$?
    sed -n '/^[A-Z_][A-Z0-9_]*=/p' "$T/out" >"$T/props"
    return $rc
  }
  wants_agent() {
    grep -Eq '^SYSTEMD_USER_WANTS=(.* )?tessera-agent\.service( |$)' "$T/props" &&
      grep -Eq '^CURRENT_TAGS=.*:systemd:' "$T/props"
  }
  # expect want|none ACTION SYSPATH DESCRIPTION
  expect() {
    local want=$1 action=$2 dev=$3 desc=$4
    if ! run_test "$action" "$dev"; then
      not_ok "$desc: udevadm test failed" "$T/out"
    elif [ "$want" = want ] && wants_agent; then
      ok "$desc: starts the agent"
    elif [ "$want" = none ] && ! wants_agent && ! grep -q '^TESSERA_CARD_DEVICE=' "$T/props"; then
      ok "$desc: leaves the agent alone"
    else
      not_ok "$desc: expected '$want' ($action)" "$T/props"
    fi
  }

  reader=$(usb_device 1-1 076b 3021 0b0000)
  # The first run parses every rule file: udev names the file and line of
  # anything it cannot use ("Invalid key", "ignoring", "no matching label").
  if ! run_test add "$reader"; then
    not_ok "udevadm test runs" "$T/out"
  elif ! grep -q 'Reading rules file: /run/udev/rules.d/70-tessera.rules' "$T/out"; then
    echo "udevadm did not read /run/udev/rules.d/70-tessera.rules (shadowed by /etc/udev/rules.d?)" >"$T/why"
    not_ok "udevadm reads the rules under test" "$T/why"
  elif grep -E '^/run/udev/rules\.d/70-tessera\.rules:[0-9]+' "$T/out" >"$T/why"; then
    not_ok "udev parses 70-tessera.rules without complaint" "$T/why"
  else
    ok "udev parses 70-tessera.rules without complaint"
  fi
  if grep -q '^ID_USB_INTERFACES=:0b0000:' "$T/props"; then
    ok "usb_id sees the fake reader's CCID interface (ID_USB_INTERFACES)"
  else
    not_ok "usb_id sees the fake reader's CCID interface (ID_USB_INTERFACES)" "$T/props"
  fi

  expect want add "$reader" "CCID reader (class 0b)"
  # Fresh devices for the other events: udevadm test would otherwise fill
  # in the properties the "add" above stored in its database.
  expect want change "$(usb_device 1-10 076b 3021 0b0000)" "CCID reader, change event"
  expect want bind "$(usb_device 1-11 076b 3021 0b0000)" "CCID reader, bind event"
  expect none remove "$(usb_device 1-12 076b 3021 0b0000)" "CCID reader, remove event"
  expect none add "$(usb_interface "$reader" 0 0b0000)" "CCID reader's usb_interface"
  expect want add "$(usb_device 1-2 1d50 6000 030101 0b0001)" "token with HID and ICCD interfaces"
  expect want add "$(usb_device 1-3 1050 0402 030000 030101)" "YubiKey without CCID (vendor 1050)"
  expect want add "$(usb_device 1-4 20a0 4108 0b0000)" "Nitrokey (vendor 20a0)"
  expect want add "$(usb_device 1-5 096e 0006 ff0000)" "Feitian vendor-class token (vendor 096e)"
  expect want add "$(usb_device 1-6 0529 0600 ff0000)" "Aladdin eToken (vendor 0529)"
  expect none add "$(usb_device 1-7 0781 5567 080650)" "USB stick (class 08)"
  expect none add "$(usb_device 1-8 046d c31c 030101 030000)" "keyboard (class 03)"
  expect none add "$(usb_device 1-9 0bda 8153 ff0b00)" "vendor class with subclass 0b"
  rm -rf "$T"
  echo "# counts $n $failed"
  exit 0
fi

# ---------------------------------------------------------------------------
command -v udevadm >/dev/null || skip_all "udevadm not found (Debian package udev)"

# systemd >= 253: the rule file checker of udev itself.
if udevadm verify --help >/dev/null 2>&1; then
  out=$(mktemp)
  if udevadm verify --resolve-names=never "$RULES" >"$out" 2>&1; then
    ok "udevadm verify"
  else
    not_ok "udevadm verify" "$out"
  fi
  rm -f "$out"
else
  echo "# udevadm $(udevadm --version) has no 'verify' (systemd >= 253); parsing with 'udevadm test'"
fi

# Root, or an unprivileged user namespace, may mount in a namespace of its own.
if [ "$(id -u)" -eq 0 ]; then
  ns=(unshare --mount --propagation private)
else
  ns=(unshare --user --map-root-user --mount --propagation private)
fi
if ! "${ns[@]}" true 2>/dev/null; then
  echo "# cannot create a mount namespace (${ns[*]}): udevadm test not run"
  [ "$n" -gt 0 ] && finish
  skip_all "no mount namespace for udevadm test on fake devices (needs root or user namespaces)"
fi
inner=$(TESSERA_RULES_IN_NAMESPACE=1 TESSERA_RULES_FIRST=$n "${ns[@]}" bash "$SELF" "$RULES")
status=$?
counts=$(printf '%s\n' "$inner" | sed -n 's/^# counts //p')
printf '%s\n' "$inner" | grep -v '^# counts '
if [ "$counts" = skip ]; then
  echo "# cannot mount over /sys and /run in the namespace: udevadm test not run"
  [ "$n" -gt 0 ] && finish
  skip_all "cannot mount tmpfs over /sys and /run in a mount namespace (needs root or user namespaces)"
elif [ "$status" -ne 0 ] || [ -z "$counts" ]; then
  n=$((n + 1))
  failed=$((failed + 1))
  echo "not ok $n - the checks in the mount namespace did not finish (exit status $status)"
else
  read -r n inner_failed <<<"$counts"
  failed=$((failed + inner_failed))
fi
finish
