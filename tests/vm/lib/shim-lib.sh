# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Helpers of the shim/attach guest cases (fio-*, net, exhaustion, hotplug,
# semantics), on top of tests/vm/lib.sh.  Sourced, not a case itself.
# shellcheck source=tests/vm/lib.sh
. "$CCS_TOP/tests/vm/lib.sh"

CCS_CTL=$CCS_TOP/tools/cc-swiotlb-ctl
TRACEFS=/sys/kernel/tracing

# shim_field_or PCI FIELD DEFAULT: a field of PCI's line in
# cc_swiotlb/devices, DEFAULT when PCI is not attached
shim_field_or() {
	awk -v d="$1" -v f="$2" -v def="$3" '$1 == d { for (i = 2; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == f) { print kv[2]; found = 1 } } }
		END { if (!found) { if (def == "") exit 1; print def } }' "$CCS_DBG/devices"
}

# shim_field PCI FIELD: a counter of PCI's line in cc_swiotlb/devices
shim_field() {
	shim_field_or "$1" "$2" "" || ccs_fail "no $2 for $1 in $CCS_DBG/devices"
}

shim_attached() {
	grep -q "^$1 .*how=bind" "$CCS_DBG/devices"
}

# shim_wait_attached PCI: the shim's table lists PCI (the driver bound
# through it) within 10 s
shim_wait_attached() {
	for _ in $(seq 1 100); do
		[ -r "$CCS_DBG/devices" ] && shim_attached "$1" && return 0
		sleep 0.1
	done
	ccs_fail "$1 not attached after bind"
}

# shim_no_leaked_entry WHEN: no device was detached with allocations
# outstanding (the module then marks it how=leaked and stays pinned)
shim_no_leaked_entry() {
	if grep -q ' how=leaked ' "$CCS_DBG/devices"; then
		grep ' how=leaked ' "$CCS_DBG/devices"
		dmesg | grep 'outstanding: driver bug' | tail -n 3
		ccs_fail "$1: a device was detached with allocations outstanding"
	fi
}

# shim_balanced PCI: every streaming mapping of PCI was unmapped
shim_balanced() {
	local maps unmaps
	maps=$(shim_field "$1" maps)
	unmaps=$(shim_field "$1" unmaps)
	ccs_gt "$1: streaming maps through cc_swiotlb" "$maps" 0
	ccs_eq "$1: unmaps balance maps" "$unmaps" "$maps"
	ccs_eq "$1: errors counted" "$(shim_field "$1" errors)" 0
	echo "$1: $(grep "^$1 " "$CCS_DBG/devices")"
}

# shim_trace_start NAME PCI: a tracefs instance recording the stock
# swiotlb's swiotlb_bounced events of device PCI only
shim_trace_start() {
	local t=$TRACEFS/instances/$1
	[ -d "$TRACEFS/events/swiotlb/swiotlb_bounced" ] ||
		ccs_fail "no swiotlb:swiotlb_bounced tracepoint"
	mkdir -p "$t" || ccs_fail "tracefs instance $1"
	echo "dev_name == \"$2\"" >"$t/events/swiotlb/swiotlb_bounced/filter" ||
		ccs_fail "filter swiotlb_bounced on $2"
	echo 1 >"$t/events/swiotlb/swiotlb_bounced/enable"
	echo 1 >"$t/tracing_on"
}

# shim_trace_count NAME [EVENT]: EVENT (default swiotlb_bounced) events
# recorded in tracefs instance NAME (and overruns, which also count)
shim_trace_count() {
	local t=$TRACEFS/instances/$1 n over
	n=$(grep -c "${2:-swiotlb_bounced}" "$t/trace")
	over=$(awk '/^overrun:/ {s += $2} END {print s + 0}' "$t"/per_cpu/cpu*/stats)
	echo $((n + over))
}

shim_trace_stop() {
	echo 0 >"$TRACEFS/instances/$1/events/swiotlb/swiotlb_bounced/enable"
	rmdir "$TRACEFS/instances/$1" 2>/dev/null || true
}

# shim_fio_suite DEV JSON: fio with crc32c verify over block sizes 512 B to
# 1 MiB, queue depths 1 to 64, random and sequential, write, read (verify
# phase) and mixed; fails the case on any I/O or verify error
shim_fio_suite() {
	local dev=$1 json=$2 jobs=/tmp/shim-suite.fio
	local split=512/15:4k/25:16k/15:64k/15:256k/15:1m/15
	cat >"$jobs" <<JOBS
[global]
filename=$dev
ioengine=libaio
direct=1
verify=crc32c
verify_fatal=1
do_verify=1
randrepeat=0
stonewall

[randwrite-mixbs-qd64]
rw=randwrite
bssplit=$split
iodepth=64
offset=0
size=48m

[randrw-mixbs-qd16]
rw=randrw
bssplit=$split
iodepth=16
offset=64m
size=32m

[seqwrite-1m-qd1]
rw=write
bs=1m
iodepth=1
offset=128m
size=16m

[seqwrite-512-qd1]
rw=write
bs=512
iodepth=1
offset=160m
size=512k

[seqrw-64k-qd8]
rw=rw
bs=64k
iodepth=8
offset=192m
size=16m

[randread-4k-qd32]
rw=randread
bs=4k
iodepth=32
offset=0
size=48m
verify=0
do_verify=0
number_ios=4000
JOBS
	fio --output-format=json --output="$json" "$jobs" ||
		{ tail -n 30 "$json"; ccs_fail "fio suite on $dev exited non-zero (I/O or verify error)"; }
	ccs_eq "fio suite on $dev: I/O and verify errors" "$(ccs_fio_field "$json" errors)" 0
	python3 - "$json" <<'PY'
import json, sys
for j in json.load(open(sys.argv[1]))["jobs"]:
    r, w = j["read"], j["write"]
    print("  %-22s read %7d KiB %6d IOPS  write %7d KiB %6d IOPS  err %d" % (
        j["jobname"], r["io_kbytes"], r["iops"], w["io_kbytes"], w["iops"], j["error"]))
PY
}

# shim_fio NAME JSON fio-args...: like ccs_fio, but tolerates the notes fio
# writes in front of its JSON (e.g. "multiple writers may overwrite blocks"
# for numjobs > 1 with verify, even with disjoint offsets)
shim_fio() {
	local name=$1 json=$2
	shift 2
	fio --name="$name" --output-format=json --output="$json.raw" "$@" ||
		{ tail -n 30 "$json.raw"; ccs_fail "fio $name exited non-zero"; }
	sed -n '/^{/q;s/^/  fio note: /p' "$json.raw"
	sed -n '/^{/,$p' "$json.raw" >"$json"
	ccs_eq "fio $name: I/O and verify errors" "$(ccs_fio_field "$json" errors)" 0
	echo "fio $name: iops=$(ccs_fio_field "$json" iops) bw_kib=$(ccs_fio_field "$json" bw_kib)"
}

# shim_ctl attach|detach PCI: cc-swiotlb-ctl, failing the case on error
shim_ctl() {
	"$CCS_CTL" "$@" || ccs_fail "cc-swiotlb-ctl $*"
	ccs_ok "cc-swiotlb-ctl $*"
}
