# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Helpers of the guest cases that move data over the virtio-net NIC (net,
# exhaustion), on top of tests/vm/lib/shim-lib.sh.  Sourced, not a case.
# shellcheck source=tests/vm/lib/shim-lib.sh
. "$CCS_TOP/tests/vm/lib/shim-lib.sh"

# net_up PCI: bring up the interface behind PCI as 10.0.2.15/24 (QEMU user
# networking; the host is 10.0.2.2); its name goes to NET_IFC
net_up() {
	local ifc=
	for _ in $(seq 1 50); do
		ifc=$(basename "$(ls -d /sys/bus/pci/devices/"$1"/virtio*/net/* 2>/dev/null | head -n 1)" 2>/dev/null)
		[ -n "$ifc" ] && [ "$ifc" != . ] && break
		ifc=
		sleep 0.2
	done
	[ -n "$ifc" ] || ccs_fail "no network interface behind $1"
	ip link set lo up
	ip link set "$ifc" up || ccs_fail "ip link set $ifc up"
	ip addr flush dev "$ifc"
	ip addr add 10.0.2.15/24 dev "$ifc" || ccs_fail "ip addr add on $ifc"
	NET_IFC=$ifc
}

# net_xfer MIB: one upload and one download of MIB MiB to the host
# listener (tests/vm/cases/net.host), SHA-256 compared both ways
net_xfer() {
	python3 "$CCS_TOP/tests/vm/lib/net-xfer.py" "$CCS_HOST_PORT" "$CCS_OUT" "$1"
}

# net_stat IFC NAME: one of the interface's statistics counters
net_stat() {
	cat "/sys/class/net/$1/statistics/$2"
}

# net_retrans: TCP segments retransmitted so far (all sockets)
net_retrans() {
	awk '$1 == "Tcp:" && !h { for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next }
	     $1 == "Tcp:" { print $c["RetransSegs"] }' /proc/net/snmp
}
