# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Helpers for the benchmark guest scripts (tests/vm/bench/bench-*), sourced
# after tests/vm/lib.sh.  Everything measured goes to $CCS_OUT (the host
# copies it to bench/results/raw/ and tools/bench-report.py reads it):
#   meta.env			kernel, accel, pool sizes, classes
#   fio-TAG.json		one fio run (TAG = phase-device-workload-impl)
#   fio-TAG.samples		4 Hz samples during that run (see bench_sample)
#   fio-TAG.{before,after}	cc_swiotlb counters and devices, stock
#				io_tlb_used_hiwater around the run
#   *.log			progress and what failed, for humans

# tools/bench.sh passes its settings (BENCH_FIO_SECONDS, ...) this way: the
# guest sees the host's tree read-only.
if [ -r "$CCS_TOP/build/bench/config.env" ]; then
	# shellcheck source=/dev/null
	. "$CCS_TOP/build/bench/config.env"
fi
BENCH_T0=${BENCH_T0:-$(date +%s)}
BENCH_FIO_SECONDS=${BENCH_FIO_SECONDS:-8}
STOCK_DBG=/sys/kernel/debug/swiotlb
# shellcheck disable=SC2034 # used by the scripts that source this
BENCH_KO=$CCS_TOP/build/$CCS_KVER/bench-module/ccs_bench.ko

# bench_step TEXT: progress line with the elapsed guest time
bench_step() {
	echo "== [$(($(date +%s) - BENCH_T0))s] $*"
}

# bench_workload_args NAME: fio options of one workload
bench_workload_args() {
	case $1 in
	randread) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=1" ;;
	seqwrite) echo "--rw=write --bs=128k --iodepth=16 --numjobs=1" ;;
	randrw) echo "--rw=randrw --rwmixread=70 --bs=256k --iodepth=64 --numjobs=2" ;;
	*) return 1 ;;
	esac
}
# shellcheck disable=SC2034
BENCH_WORKLOADS="randread seqwrite randrw"

# One sample line: epoch cc_shared cc_inuse_slot_bytes stock_used_slabs
# DEV_outstanding DEV_bytes DEV_maps (the last three from cc_swiotlb's
# devices file for $BENCH_SAMPLE_DEV, 0 when it is not attached).  Bash
# builtins only, so sampling costs the guest little.
bench_sample() {
	local k v shared=0 inuse=0 sz used=0 d rest out=0 bytes=0 maps=0 f
	if [ -r "$CCS_DBG/counters" ]; then
		while read -r k v; do
			case $k in
			shared_bytes) shared=$v ;;
			class*_in_use) sz=${k#class}; sz=${sz%_in_use}; inuse=$((inuse + sz * v)) ;;
			esac
		done <"$CCS_DBG/counters"
		while read -r d rest; do
			[ "$d" = "${BENCH_SAMPLE_DEV:-none}" ] || continue
			for f in $rest; do
				case $f in
				outstanding=*) out=${f#*=} ;;
				bytes=*) bytes=${f#*=} ;;
				maps=*) maps=${f#*=} ;;
				esac
			done
		done <"$CCS_DBG/devices"
	fi
	read -r used <"$STOCK_DBG/io_tlb_used"
	echo "$EPOCHREALTIME $shared $inuse $used $out $bytes $maps"
}

# bench_sampler_start FILE [PERIOD]: sample in the background until stopped
bench_sampler_start() {
	local file=$1 period=${2:-0.25}
	(
		while :; do
			bench_sample
			sleep "$period"
		done
	) >"$file" 2>/dev/null &
	BENCH_SAMPLER=$!
}

bench_sampler_stop() {
	[ -n "${BENCH_SAMPLER:-}" ] && kill "$BENCH_SAMPLER" 2>/dev/null
	wait "$BENCH_SAMPLER" 2>/dev/null
	BENCH_SAMPLER=
}

# bench_snapshot FILE: counters, devices and stock's high-water mark
bench_snapshot() {
	{
		echo "time $EPOCHREALTIME"
		echo "stock_nslabs $(cat "$STOCK_DBG/io_tlb_nslabs")"
		echo "stock_used $(cat "$STOCK_DBG/io_tlb_used")"
		echo "stock_hiwater $(cat "$STOCK_DBG/io_tlb_used_hiwater" 2>/dev/null || echo 0)"
		if [ -r "$CCS_DBG/counters" ]; then
			cat "$CCS_DBG/counters"
			sed 's/^/device /' "$CCS_DBG/devices"
		fi
		echo "swiotlb_full_msgs $(dmesg | grep -c 'swiotlb buffer is full')"
		echo "swiotlb_full_suppressed $(dmesg | grep -B1 'swiotlb buffer is full' |
			sed -n 's/.*: \([0-9]*\) callbacks suppressed.*/\1/p' | awk '{s += $1} END {print s + 0}')"
	} >"$1"
}

# bench_fio TAG PCI WORKLOAD: one fio run on the disk behind PCI, with
# samples and snapshots.  I/O errors are counted (continue_on_error), not
# fatal: this is a benchmark.
bench_fio() {
	local tag=$1 pci=$2 wl=$3 dev args
	dev=$(ccs_wait_blockdev "$pci") || return 1
	# shellcheck disable=SC2207
	args=($(bench_workload_args "$wl"))
	echo 0 2>/dev/null >"$STOCK_DBG/io_tlb_used_hiwater"
	[ -w "$CCS_DBG/reset_hiwater" ] && echo 1 >"$CCS_DBG/reset_hiwater"
	bench_snapshot "$CCS_OUT/fio-$tag.before"
	BENCH_SAMPLE_DEV=$pci bench_sampler_start "$CCS_OUT/fio-$tag.samples"
	# A run that does not finish in time is killed and reported as hung
	# (the report counts it), so one stuck device cannot eat the budget.
	timeout -k 10 $((BENCH_FIO_SECONDS + 40)) \
		fio --name="$tag" --filename="$dev" --ioengine=libaio --direct=1 \
		--time_based --runtime="$BENCH_FIO_SECONDS" --size=256m \
		--group_reporting --continue_on_error=all --randrepeat=0 \
		"${args[@]}" --output-format=json --output="$CCS_OUT/fio-$tag.json" \
		>/dev/null 2>"$CCS_OUT/fio-$tag.err"
	local rc=$?
	bench_sampler_stop
	bench_snapshot "$CCS_OUT/fio-$tag.after"
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "fio $tag: HUNG: still running $((BENCH_FIO_SECONDS + 40)) s after a ${BENCH_FIO_SECONDS} s run, killed"
		echo "$rc" >"$CCS_OUT/fio-$tag.hung"
		cat "$CCS_DBG/stats" >"$CCS_OUT/fio-$tag.stats" 2>/dev/null
		dmesg | tail -n 50 >"$CCS_OUT/fio-$tag.dmesg"
		return 0
	fi
	if [ $rc != 0 ] || [ ! -s "$CCS_OUT/fio-$tag.json" ]; then
		echo "fio $tag: exit $rc: $(tail -n 3 "$CCS_OUT/fio-$tag.err")"
		return 0
	fi
	echo "fio $tag ($dev): $(bench_fio_brief "$CCS_OUT/fio-$tag.json")"
}

# bench_fio_brief JSON: "iops=N bw_kib=N errors=N" summed over read, write
# and trim (awk: a python start-up per run costs seconds in a TCG guest; the
# report parses the JSON properly)
bench_fio_brief() {
	awk -F: '
		/"(iops|bw|error|total_err)" :/ {
			k = $1; gsub(/[" \t]/, "", k); v = $2; gsub(/[ ,]/, "", v); s[k] += v
		}
		END { printf "iops=%d bw_kib=%d errors=%d\n", s["iops"], s["bw"], s["error"] + s["total_err"] }' "$1"
}

# bench_need_disk PCI: wait for the disk behind PCI; the case fails without it
bench_need_disk() {
	local d
	d=$(ccs_wait_blockdev "$1") || ccs_fail "no disk behind $1"
	echo "disk $1: $d"
}

# bench_attached PCI: the device is attached to cc_swiotlb
bench_attached() {
	grep -q "^$1 " "$CCS_DBG/devices" 2>/dev/null
}

# bench_rebind PCI: unbind and bind the device's driver, so cc_swiotlb (if
# attach= names it) takes it over at the bind
bench_rebind() {
	local pci=$1 drv
	if [ -x "$CCS_TOP/tools/cc-swiotlb-ctl" ]; then
		"$CCS_TOP/tools/cc-swiotlb-ctl" attach "$pci" && return 0
	fi
	drv=$(basename "$(readlink "/sys/bus/pci/devices/$pci/driver")")
	echo "$pci" >"/sys/bus/pci/drivers/$drv/unbind" || return 1
	echo "$pci" >"/sys/bus/pci/drivers/$drv/bind"
}

# bench_meta: facts the report needs
bench_meta() {
	{
		echo "kernel=$(uname -r)"
		echo "accel=$CCS_ACCEL"
		echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "cmdline=\"$(cat /proc/cmdline | sed 's/ ccs\..*//')\""
		echo "stock_nslabs=$(cat "$STOCK_DBG/io_tlb_nslabs")"
		echo "fio_seconds=$BENCH_FIO_SECONDS"
		if [ -d /sys/module/cc_swiotlb/parameters ]; then
			echo "cc_classes=$(cat /sys/module/cc_swiotlb/parameters/classes)"
			echo "cc_max_pool_mb=$(cat /sys/module/cc_swiotlb/parameters/max_pool_mb)"
			echo "cc_reclaim_ms=$(cat /sys/module/cc_swiotlb/parameters/reclaim_ms)"
			echo "cc_class_sizes=\"$(bench_cc_class_sizes)\""
		fi
	} >>"$CCS_OUT/meta.env"
}

# bench_cc_class_sizes: slot sizes of the loaded cc_swiotlb, comma list
bench_cc_class_sizes() {
	sed -n 's/^class\([0-9]*\)_index .*/\1/p' "$CCS_DBG/counters" | sort -n | paste -sd,
}
