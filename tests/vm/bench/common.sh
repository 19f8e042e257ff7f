# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Helpers for the benchmark guest scripts (tests/vm/bench/bench-*), sourced
# after tests/vm/lib.sh.  Everything measured goes to $CCS_OUT (the host
# copies it to bench/results/raw/BOOT/ and tools/bench-report.py reads it):
#   meta.env			kernel, accel, pool sizes, classes, disks
#   fio-TAG.json		one fio run, TAG = SET-DEV-WORKLOAD-SIDE-rN
#				(SET main, aa, alt or capN; DEV nvme, vblk or
#				multi; SIDE cc, stock, ccemu, or disk0/disk1
#				for the A/A control)
#   fio-TAG.samples		4 Hz samples during that run (bench_sample)
#   fio-TAG.{before,after}	counters around the run (bench_snapshot)
#   fio-TAG.{err,hung}		what fio printed; a run that did not finish
#   done			written when the script reached its end
# Progress lines ("== [elapsed] ..." and "fio TAG ...") go to the console.

# tools/bench.sh passes its settings (repetitions, run length, ...) in a
# file named by BENCH_CONFIG: the guest sees the host's tree read-only.
if [ -n "${BENCH_CONFIG:-}" ] && [ -r "$BENCH_CONFIG" ]; then
	# shellcheck source=/dev/null
	. "$BENCH_CONFIG"
fi
BENCH_T0=${BENCH_T0:-$(date +%s)}
BENCH_FIO_SECONDS=${BENCH_FIO_SECONDS:-5}
BENCH_RAMP=${BENCH_RAMP:-1}
BENCH_REPS=${BENCH_REPS:-5}
BENCH_EMU_REPS=${BENCH_EMU_REPS:-3}
BENCH_SWEEP_REPS=${BENCH_SWEEP_REPS:-3}
BENCH_AA_REPS=${BENCH_AA_REPS:-3}
BENCH_EMU_CALL_US=${BENCH_EMU_CALL_US:-100}
BENCH_EMU_PAGE_NS=${BENCH_EMU_PAGE_NS:-5000}
# 2 MiB pages for fio's buffers (bench_hugepages): the most any step has
# at once is the four-disk mixed workload (8 jobs x 32 x 256 KiB = 64 MiB)
# or the NIC step's background randrw (2 x 64 x 256 KiB), with room to spare
BENCH_HUGEPAGES=${BENCH_HUGEPAGES:-64}
STOCK_DBG=/sys/kernel/debug/swiotlb
TRACEFS=/sys/kernel/tracing
CCS_CTL=$CCS_TOP/tools/cc-swiotlb-ctl
# shellcheck disable=SC2034 # used by the scripts that source this
BENCH_KO=$CCS_TOP/build/$CCS_KVER/bench-module/ccs_bench.ko
# The guest's disks (tests/vm/run, plus the "# vm-qemu:" ones of
# bench-sweep): group A is cc_swiotlb's, group B stock's, unless
# BENCH_SWAP=1 swaps them (so that no side keeps the faster disks).
BENCH_GROUP_A="$CCS_NVME_PCI 0000:00:08.0 0000:00:09.0 0000:00:0a.0"
BENCH_GROUP_B="$CCS_NVME2_PCI 0000:00:0b.0 0000:00:0c.0 0000:00:0d.0"
if [ "${BENCH_SWAP:-0}" = 1 ]; then
	MULTI_CC=$BENCH_GROUP_B MULTI_STOCK=$BENCH_GROUP_A
else
	MULTI_CC=$BENCH_GROUP_A MULTI_STOCK=$BENCH_GROUP_B
fi
NVME_CC=${MULTI_CC%% *} NVME_STOCK=${MULTI_STOCK%% *} VBLK=$CCS_VBLK_PCI

# bench_elapsed: time since tools/bench.sh started (host clock; the guest's
# clock is set from it at boot), as 12m34s
bench_elapsed() {
	local s=$((EPOCHSECONDS - BENCH_T0))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

# bench_step TEXT: progress line with the elapsed time
bench_step() {
	echo "== [$(bench_elapsed)] $*"
}

# bench_workload_args NAME: fio options of one workload (per disk)
bench_workload_args() {
	case $1 in
	randread) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=1 --size=256m" ;;
	seqwrite) echo "--rw=write --bs=128k --iodepth=16 --numjobs=1 --size=256m" ;;
	randrw) echo "--rw=randrw --rwmixread=70 --bs=256k --iodepth=64 --numjobs=2 --size=256m" ;;
	# multi-disk mixed sizes: every written block verified (crc32c) while
	# the run goes on; jobs on disjoint 32 MiB regions
	mixed) echo "--rw=randwrite --bsrange=512-256k --iodepth=32 --numjobs=2 --size=32m --offset_increment=64m --verify=crc32c --verify_backlog=64" ;;
	*) return 1 ;;
	esac
}

# One sample line: epoch cc_shared cc_inuse_slot_bytes stock_used_slabs
# DEV_outstanding DEV_bytes DEV_maps conversions (the three DEV figures from
# cc_swiotlb's devices file for $BENCH_SAMPLE_DEV, 0 when it is not
# attached; conversions = decrypt_calls + encrypt_calls).  Bash builtins
# only, and unless BENCH_SAMPLE_FULL=1 (which adds the slot bytes in use)
# the counters file is read only up to the three counters it needs: parsing
# all of it in bash four times a second took most of a TCG vCPU away from
# the fio run being measured.
bench_sample() {
	local k v shared=0 inuse=0 sz used=0 d rest out=0 bytes=0 maps=0 f conv=0 seen=0
	local counters devices
	# Each file is read whole, once: read(1) on the file itself seeks
	# back after every line, and every seek makes debugfs print the live
	# counters again, so one sample could mix lines of different moments
	# (a conversions column that went backwards).  A sample that cannot
	# read them is left out.
	if [ -r "$CCS_DBG/counters" ]; then
		counters=$(<"$CCS_DBG/counters") || return 0
		devices=$(<"$CCS_DBG/devices") || return 0
		while read -r k v; do
			case $k in
			shared_bytes) shared=$v seen=$((seen + 1)) ;;
			decrypt_calls | encrypt_calls) conv=$((conv + v)) seen=$((seen + 1)) ;;
			class*_in_use) sz=${k#class}; sz=${sz%_in_use}; inuse=$((inuse + sz * v)) ;;
			esac
			[ $seen = 3 ] && [ "${BENCH_SAMPLE_FULL:-0}" = 0 ] && break
		done <<<"$counters"
		while read -r d rest; do
			[ "$d" = "${BENCH_SAMPLE_DEV:-none}" ] || continue
			for f in $rest; do
				case $f in
				outstanding=*) out=${f#*=} ;;
				bytes=*) bytes=${f#*=} ;;
				maps=*) maps=${f#*=} ;;
				esac
			done
		done <<<"$devices"
		[ $seen = 3 ] || return 0
	fi
	read -r used <"$STOCK_DBG/io_tlb_used"
	echo "$EPOCHREALTIME $shared $inuse $used $out $bytes $maps $conv"
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

# Stock swiotlb's refused maps, exactly: a kretprobe on
# swiotlb_tbl_map_single() filtered on its failure return
# (DMA_MAPPING_ERROR) in its own tracefs instance, as in the exhaustion
# case.  (Its "swiotlb buffer is full" line is rate-limited.)  The probe
# fires on every stock map and slows stock's whole path (with it, stock's
# 4 KiB randread QD32 ran at 0.91 of its IOPS without it, 256 KiB randrw at
# 0.98): it is armed only around stock's turn of the NIC cell, whose figure
# is the refused maps, never during a throughput cell.
bench_stockfail_start() {
	local t=$TRACEFS/instances/stockfail
	# shellcheck disable=SC2016 # $retval is the probe's, not the shell's
	echo 'r:ccs_stockfail swiotlb_tbl_map_single ret=$retval:u64' >>"$TRACEFS/kprobe_events" ||
		ccs_fail "kretprobe on swiotlb_tbl_map_single"
	mkdir -p "$t" || ccs_fail "tracefs instance stockfail"
	echo 'ret == 18446744073709551615' >"$t/events/kprobes/ccs_stockfail/filter" ||
		ccs_fail "filter on DMA_MAPPING_ERROR"
	echo 16384 >"$t/buffer_size_kb"
	echo 1 >"$t/events/kprobes/ccs_stockfail/enable"
	echo 1 >"$t/tracing_on"
	BENCH_STOCKFAIL=1
}

# bench_stockfail_stop: remove the probe and its instance (the harness fails
# a case that leaves either behind)
bench_stockfail_stop() {
	local t=$TRACEFS/instances/stockfail
	BENCH_STOCKFAIL=
	echo 0 >"$t/events/kprobes/ccs_stockfail/enable" || echo "FAIL: disable the stock probe"
	rmdir "$t" || echo "FAIL: remove tracefs instance stockfail"
	echo '-:ccs_stockfail' >>"$TRACEFS/kprobe_events" || echo "FAIL: remove the kretprobe"
}

# bench_stockfail_count: failures recorded so far (entries kept plus
# entries overwritten; the buffer is never read)
bench_stockfail_count() {
	awk '/^(entries|overrun):/ {s += $2} END {print s + 0}' \
		"$TRACEFS/instances/stockfail"/per_cpu/cpu*/stats
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
	} >"$1"
}

# bench_fio TAG WORKLOAD PCI...: one fio run on the disks behind the PCI
# addresses (one job group per disk), with samples and snapshots.  I/O and
# verify errors are counted (continue_on_error), not fatal: this is a
# benchmark, the report counts them.  A run that does not finish in time is
# killed and marked hung, so one stuck device cannot eat the budget.
bench_fio() {
	local tag=$1 wl=$2 pci dev i=0 rc json
	shift 2
	local jobs=() args
	for pci in "$@"; do
		dev=$(ccs_blockdev "$pci") || { echo "fio $tag: MISSING: no disk behind $pci"; return 0; }
		jobs+=(--name="$tag-$i" --filename="$dev")
		i=$((i + 1))
	done
	# shellcheck disable=SC2207
	args=($(bench_workload_args "$wl"))
	json=$CCS_OUT/fio-$tag.json
	echo 0 2>/dev/null >"$STOCK_DBG/io_tlb_used_hiwater"
	[ -w "$CCS_DBG/reset_hiwater" ] && echo 1 >"$CCS_DBG/reset_hiwater"
	bench_snapshot "$CCS_OUT/fio-$tag.before"
	BENCH_SAMPLE_DEV=$1 bench_sampler_start "$CCS_OUT/fio-$tag.samples"
	timeout -k 10 $((BENCH_FIO_SECONDS + BENCH_RAMP + 40)) \
		fio --ioengine=libaio --direct=1 --time_based --mem=shmhuge \
		--runtime="$BENCH_FIO_SECONDS" --ramp_time="$BENCH_RAMP" \
		--group_reporting --continue_on_error=all --randrepeat=0 \
		"${args[@]}" --output-format=json --output="$json.raw" \
		"${jobs[@]}" >/dev/null 2>"$CCS_OUT/fio-$tag.err"
	rc=$?
	bench_sampler_stop
	bench_snapshot "$CCS_OUT/fio-$tag.after"
	# fio may write notes ("multiple writers may overwrite blocks") before
	# the JSON document
	sed -n '/^{/,$p' "$json.raw" >"$json" 2>/dev/null
	rm -f "$json.raw"
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "fio $tag: HUNG: still running $((BENCH_FIO_SECONDS + BENCH_RAMP + 40)) s after start, killed"
		echo "$rc" >"$CCS_OUT/fio-$tag.hung"
		BENCH_HUNG=$tag
		cat "$CCS_DBG/stats" >"$CCS_OUT/fio-$tag.stats" 2>/dev/null
		dmesg | tail -n 50 >"$CCS_OUT/fio-$tag.dmesg"
		# cc_swiotlb's report of a request the cap cannot hold, if any
		grep -h 'cc_swiotlb: maps refused for' "$CCS_OUT/fio-$tag.dmesg" |
			tail -n 1 | sed 's/^/  /'
		return 0
	fi
	if [ $rc != 0 ] || [ ! -s "$json" ]; then
		echo "fio $tag: FAILED: exit $rc: $(tail -n 3 "$CCS_OUT/fio-$tag.err")"
		return 0
	fi
	echo "fio $tag [$(bench_elapsed)]: $(bench_fio_brief "$json")"
}

# bench_fio_brief JSON: "read iops=N bw_kib=N, write iops=N bw_kib=N,
# errors=N", each summed over the jobs.  Reads and writes stay apart: the
# mixed workload's verify reads (verify_backlog) may run for a few ms, and
# an IOPS figure from such a runtime says nothing of the workload.  (awk: a
# python start-up per run costs seconds in a TCG guest; the report parses
# the JSON properly.)
bench_fio_brief() {
	awk -F: '
		/"(read|write|trim|sync)" : \{/ { sec = $1; gsub(/[" \t]/, "", sec) }
		/"(iops|bw)" :/ {
			k = $1; gsub(/[" \t]/, "", k); v = $2; gsub(/[ ,]/, "", v); s[sec, k] += v
		}
		/"(error|total_err)" :/ { v = $2; gsub(/[ ,]/, "", v); err += v }
		END {
			printf "read iops=%d bw_kib=%d, write iops=%d bw_kib=%d, errors=%d\n",
				s["read", "iops"], s["read", "bw"], s["write", "iops"], s["write", "bw"], err
		}' "$1"
}

# bench_need_disk PCI: wait for the disk behind PCI; the case fails without it
bench_need_disk() {
	local d
	d=$(ccs_wait_blockdev "$1") || ccs_fail "no disk behind $1"
	echo "disk $1: $d"
}

# bench_hugepages: reserve BENCH_HUGEPAGES 2 MiB pages for fio's buffers
# (--mem=shmhuge), once, before the first run, while memory is not yet
# fragmented.  With fio's default buffer (malloc) the guest page allocator
# decides per run how many physically contiguous pieces a request has (1 to
# 32 per 128 KiB write were seen, on either side, changing from run to
# run), and under TCG a piece's first copy costs about ten times the same
# copy made again: the layout moved a run's figure more than the DMA ops
# did.  From a hugepage every request is one contiguous piece on both
# sides.
bench_hugepages() {
	local have
	[ "$(cat /proc/sys/vm/nr_hugepages)" -ge "$BENCH_HUGEPAGES" ] && return 0
	echo "$BENCH_HUGEPAGES" >/proc/sys/vm/nr_hugepages ||
		ccs_fail "reserve $BENCH_HUGEPAGES hugepages"
	have=$(cat /proc/sys/vm/nr_hugepages)
	[ "$have" -ge "$BENCH_HUGEPAGES" ] ||
		ccs_fail "reserved $have of $BENCH_HUGEPAGES hugepages for fio's buffers"
	bench_step "fio buffers: $have hugepages of 2 MiB reserved (--mem=shmhuge)"
}

# bench_prewrite MIB PCI...: write the first MIB MiB of every disk (the
# region the workloads use) once before any measured run, so that no side
# reads holes or makes the host allocate blocks the other side then reuses.
# One disk after the other, 128 KiB at a time: in a capped boot both sides
# are already capped, and a deep queue of large writes would only wait for
# bounce memory.
bench_prewrite() {
	local mib=$1 pci dev
	shift
	bench_hugepages
	for pci in "$@"; do
		dev=$(ccs_wait_blockdev "$pci") || ccs_fail "no disk behind $pci"
		dd if=/dev/zero of="$dev" bs=128k count=$((mib * 8)) oflag=direct status=none ||
			ccs_fail "pre-writing $pci"
	done
	ccs_ok "pre-wrote $mib MiB of $*"
}

# bench_attached PCI: the device is attached to cc_swiotlb
bench_attached() {
	grep -q "^$1 .*how=\(bind\|api\)" "$CCS_DBG/devices" 2>/dev/null
}

# bench_ctl attach|detach PCI: move PCI onto or off cc_swiotlb (rebinding
# its driver) and wait for its disk
bench_ctl() {
	"$CCS_CTL" "$1" "$2" >/dev/null || { echo "cc-swiotlb-ctl $1 $2 failed"; return 1; }
	ccs_wait_blockdev "$2" >/dev/null
}

# bench_emu on|off: the emulated conversion cost (debugfs knobs of
# module/convert.c); fails when the module has no such knobs
bench_emu() {
	[ -w "$CCS_DBG/emulate_call_us" ] || return 1
	if [ "$1" = on ]; then
		echo "$BENCH_EMU_CALL_US" >"$CCS_DBG/emulate_call_us" &&
			echo "$BENCH_EMU_PAGE_NS" >"$CCS_DBG/emulate_page_ns"
	else
		echo 0 >"$CCS_DBG/emulate_call_us" && echo 0 >"$CCS_DBG/emulate_page_ns"
	fi
}

# bench_side SIDE: put the guest in the state SIDE's runs need: the
# emulated conversion cost on for ccemu only, and every disk named in
# BENCH_SWITCH (the disks both sides share) attached to cc_swiotlb for cc
# and ccemu, detached for stock
bench_side() {
	local emu=off attach=1 pci
	case $1 in
	ccemu) emu=on ;;
	stock) attach=0 ;;
	esac
	if [ $emu = on ]; then
		bench_emu on || { echo "no emulated-conversion-cost knobs in this module"; return 1; }
	else
		bench_emu off
	fi
	for pci in ${BENCH_SWITCH:-}; do
		if [ $attach = 1 ] && ! bench_attached "$pci"; then
			bench_ctl attach "$pci" || return 1
		elif [ $attach = 0 ] && bench_attached "$pci"; then
			bench_ctl detach "$pci" || return 1
		fi
	done
	return 0
}

# bench_disks DEV SIDE: the PCI addresses a cell of DEV runs on for SIDE:
# cc's NVMe disk for both sides when BENCH_SWITCH names it, else each
# side's own
bench_disks() {
	case $1:$2 in
	nvme:stock)
		case " ${BENCH_SWITCH:-} " in
		*" $NVME_CC "*) echo "$NVME_CC" ;;
		*) echo "$NVME_STOCK" ;;
		esac
		;;
	nvme:*) echo "$NVME_CC" ;;
	vblk:*) echo "$VBLK" ;;
	multi:stock) echo "$MULTI_STOCK" ;;
	multi:*) echo "$MULTI_CC" ;;
	esac
}

# bench_cells SET REPS EMU_REPS CELL...: every CELL (DEV:WORKLOAD) for cc
# and stock, REPS times, and with the emulated conversion cost (ccemu) the
# first EMU_REPS times.  Repetitions interleave the sides in ABBA order
# (cc stock | stock cc | ..., ccemu last then first), so that drifting host
# load hits both alike; within a side's turn every cell runs once.
bench_cells() {
	local set=$1 reps=$2 emureps=$3 r side cell dev wl sides
	shift 3
	for ((r = 1; r <= reps; r++)); do
		sides="cc stock"
		[ "$r" -le "$emureps" ] && sides="cc stock ccemu"
		if [ $((r % 2)) = 0 ]; then
			sides=$(echo "$sides" | tr ' ' '\n' | tac | paste -sd' ')
		fi
		for side in $sides; do
			bench_hung_skip "$set rep $r/$reps $side" && return 1
			if ! bench_side "$side"; then
				echo "fio $set rep $r/$reps: MISSING: side $side unavailable"
				continue
			fi
			for cell in "$@"; do
				dev=${cell%%:*} wl=${cell#*:}
				bench_hung_skip "$set $dev $wl $side rep $r/$reps" && return 1
				bench_step "$set $dev $wl $side rep $r/$reps"
				if [ "$side" != stock ] && ! bench_settle "$set-$dev-$wl-$side-r$r"; then
					echo "fio $set $dev $wl $side rep $r/$reps: settle failed"
				fi
				# shellcheck disable=SC2046
				bench_fio "$set-$dev-$wl-$side-r$r" "$wl" $(bench_disks "$dev" "$side")
			done
		done
	done
	bench_emu off
}

# bench_settle TAG: before a cell of cc_swiotlb, let kccd give back what the
# cells before it grew, so that the cell's steady-state window (after its
# first 2 s of I/O) counts the conversions of its own workload only.  With
# the bench's reclaim_ms of 2000, a larger previous cell's demand leaves
# kccd's two windows 2-4 s after it ends, and the surplus goes back 2 s
# later: inside the next cell's window.  reclaim_ms is lowered to 100 for
# the settle and restored before the cell, which then grows from what kccd
# keeps at idle; the settle ends when shared_bytes has not moved for
# 500 ms (at most 8 s).  fio-TAG.settle records the give-back.
bench_settle() {
	local tag=$1 p=/sys/module/cc_swiotlb/parameters/reclaim_ms old
	local t0 s0 c0 s c last n=0 still=0
	# a cc run always has the module loaded: no parameter is a failure
	[ -w "$p" ] || return 1
	old=$(<"$p") || return 1
	read -r t0 s0 _ _ _ _ _ c0 < <(bench_sample)
	[ -n "${c0:-}" ] || return 1
	echo 100 >"$p" || return 1
	last=$s0
	while [ $n -lt 80 ] && [ $still -lt 5 ]; do
		sleep 0.1
		read -r _ s _ _ _ _ _ c < <(bench_sample)
		if [ "${s:-}" = "$last" ]; then still=$((still + 1)); else still=0 last=${s:-}; fi
		n=$((n + 1))
	done
	echo "$old" >"$p" || return 1
	{
		echo "conversions $((${c:-$c0} - c0))"
		echo "shared_before $s0"
		echo "shared_after ${s:-$s0}"
		echo "ms $(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))"
		echo "settled $([ $still -ge 5 ] && echo 1 || echo 0)"
	} >"$CCS_OUT/fio-$tag.settle"
}

# bench_hung_skip WHAT: after a hung run nothing more is measured in this
# boot (its device may still hold the pool, and switching sides would
# detach it, which waits for the stuck request for ever); true when so
bench_hung_skip() {
	[ -n "${BENCH_HUNG:-}" ] || return 1
	echo "fio $1: SKIPPED: $BENCH_HUNG hung"
}

# bench_hung_exit: end a boot with a hung run here, failed, before any
# detach or rmmod that would wait for the stuck request; the harness powers
# the guest off and the report lists every cell it did not measure
bench_hung_exit() {
	[ -n "${BENCH_HUNG:-}" ] || return 0
	echo "FAIL: fio $BENCH_HUNG hung: the rest of this boot is not measured"
	exit 1
}

# bench_nic_refused SIDE: maps refused so far, as bench_nic counts them
bench_nic_refused() {
	if [ "$1" = cc ]; then shim_field "$CCS_NET_PCI" exhausted; else bench_stockfail_count; fi
}

# bench_nic_gated SIDE: cc's carves kept out of the small reserve so far
# (a device over its share); 0 for stock, which has no reserve
bench_nic_gated() {
	if [ "$1" = cc ]; then
		sed -n 's/^arena_reserve_gated //p' "$CCS_DBG/counters"
	else
		echo 0
	fi
}

# bench_nic: the virtio-net NIC under disk load, cc_swiotlb then stock (the
# cap4 boot): the NIC moves 16 MiB each way to bench-sweep.host while fio
# 256 KiB randrw QD64 x2 saturates the side's NVMe disk.  Per side,
# nic-SIDE.env: the NIC's TX and RX drops, TCP retransmissions, maps
# refused (cc: the NIC's exhausted counter; stock: swiotlb_tbl_map_single
# failures, any device, by the probe armed for stock's turn only), cc's
# carves kept out of the small reserve (reserve_gated), the transfer's
# seconds, and ok=1 when both SHA-256 matched.  For cc the NIC is attached
# before its driver loads and detached after.
bench_nic() {
	local side pci dev pid tx0 rx0 re0 ref0 gated0 t0 ok
	# shellcheck source=tests/vm/lib/net-lib.sh
	. "$CCS_TOP/tests/vm/lib/net-lib.sh"
	for side in cc stock; do
		if [ $side = cc ]; then
			"$CCS_CTL" attach "$CCS_NET_PCI" >/dev/null || { echo "FAIL: attach the NIC"; return 1; }
			pci=$NVME_CC
		else
			pci=$NVME_STOCK
			bench_stockfail_start
		fi
		modprobe virtio_net || { echo "FAIL: modprobe virtio_net"; return 1; }
		net_up "$CCS_NET_PCI"
		dev=$(ccs_wait_blockdev "$pci")
		tx0=$(net_stat "$NET_IFC" tx_dropped) rx0=$(net_stat "$NET_IFC" rx_dropped)
		re0=$(net_retrans) ref0=$(bench_nic_refused $side) gated0=$(bench_nic_gated $side)
		fio --name="nic-bg-$side" --filename="$dev" --ioengine=libaio --direct=1 --mem=shmhuge \
			--rw=randrw --bs=256k --iodepth=64 --numjobs=2 --size=32m \
			--offset_increment=64m --time_based --runtime=600 \
			--output-format=json --output="$CCS_OUT/nic-bg-$side.json" >/dev/null 2>&1 &
		pid=$!
		sleep 2
		t0=$(date +%s%N)
		if net_xfer 16 >"$CCS_OUT/nic-$side.xfer" 2>&1; then ok=1; else ok=0; fi
		kill -INT "$pid"
		wait "$pid"
		{
			echo "ok=$ok"
			echo "seconds=$(( ($(date +%s%N) - t0) / 1000000 ))e-3"
			echo "tx_dropped=$(( $(net_stat "$NET_IFC" tx_dropped) - tx0 ))"
			echo "rx_dropped=$(( $(net_stat "$NET_IFC" rx_dropped) - rx0 ))"
			echo "tcp_retrans=$(( $(net_retrans) - re0 ))"
			echo "maps_refused=$(( $(bench_nic_refused $side) - ref0 ))"
			echo "reserve_gated=$(( $(bench_nic_gated $side) - gated0 ))"
			echo "disk_errors=$(ccs_fio_field "$CCS_OUT/nic-bg-$side.json" errors)"
		} >"$CCS_OUT/nic-$side.env"
		echo "== nic $side: $(tr '\n' ' ' <"$CCS_OUT/nic-$side.env")"
		ip link set "$NET_IFC" down
		rmmod virtio_net || { echo "FAIL: rmmod virtio_net"; return 1; }
		if [ $side = cc ]; then
			"$CCS_CTL" detach "$CCS_NET_PCI" >/dev/null || { echo "FAIL: detach the NIC"; return 1; }
		else
			bench_stockfail_stop
		fi
	done
}

# bench_meta: facts the report needs
bench_meta() {
	{
		echo "kernel=$(uname -r)"
		echo "accel=$CCS_ACCEL"
		echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "cmdline=\"$(sed 's/ ccs\..*//' /proc/cmdline)\""
		echo "stock_nslabs=$(cat "$STOCK_DBG/io_tlb_nslabs")"
		echo "fio_seconds=$BENCH_FIO_SECONDS"
		echo "ramp_seconds=$BENCH_RAMP"
		echo "nvme_cc=\"$MULTI_CC\""
		echo "nvme_stock=\"$MULTI_STOCK\""
		echo "emu_call_us=$BENCH_EMU_CALL_US"
		echo "emu_page_ns=$BENCH_EMU_PAGE_NS"
		if [ -d /sys/module/cc_swiotlb/parameters ]; then
			echo "cc_classes=$(cat /sys/module/cc_swiotlb/parameters/classes 2>/dev/null)"
			echo "cc_max_pool_mb=$(cat /sys/module/cc_swiotlb/parameters/max_pool_mb)"
			echo "cc_reclaim_ms=$(cat /sys/module/cc_swiotlb/parameters/reclaim_ms 2>/dev/null)"
			echo "cc_class_sizes=\"$(bench_cc_class_sizes)\""
		fi
	} >>"$CCS_OUT/meta.env"
}

# bench_cc_class_sizes: slot sizes of the loaded cc_swiotlb, comma list
bench_cc_class_sizes() {
	sed -n 's/^class\([0-9]*\)_index .*/\1/p' "$CCS_DBG/counters" | sort -n | paste -sd,
}
