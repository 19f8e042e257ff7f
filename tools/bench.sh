#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: cc_swiotlb against stock swiotlb, side by side in the same
# guest boot, on one kernel (default: the newest installed 6.12).  Boots:
#
#   main   (tests/vm/bench/bench-main): stock's default 64 MiB pool against
#          cc_swiotlb's defaults: A/A disk control, memory over time, fio
#          on NVMe and virtio-blk, emulated conversion cost, map+unmap
#          micro-benchmark, the other class ladder
#   capN   (tests/vm/bench/bench-sweep), N = 2 4 8 16 32: both capped at
#          N MiB (swiotlb=N*512,force; max_pool_mb=N); cap4 runs every fio
#          workload, the others the capped-sweep cells
#
# Raw results: bench/results/raw/BOOT/; figures: bench/results/summary.{json,md}
# and bench/results/*.png (tools/bench-report.py).  Exit status: 0 when
# every boot passed and every planned cell has its repetitions, else 1
# (the report says what is missing); whether targets are met does not
# change it.  Settings (environment or make variables):
#   QUICK=1                one repetition, shorter runs without ramp, same cells
#   KVER=...               kernel release of the guest
#   BENCH_ONLY="main cap4" run these boots only
#   BENCH_REPS=5 BENCH_SWEEP_REPS=3 BENCH_EMU_REPS=3 BENCH_AA_REPS=3
#   BENCH_FIO_SECONDS=4 BENCH_RAMP=1  length of every fio run (+ ramp)
#   BENCH_SETTLE_S=40 BENCH_IDLE_S=8  idle time after and before the memory burst
#   BENCH_ALT=1            fio with the other class ladder (QUICK: 0)
#   BENCH_MAP_ARGS=...     extra ccs_bench.ko parameters (e.g. "reps=5")
#   BENCH_EMU_CALL_US=100 BENCH_EMU_PAGE_NS=5000  emulated conversion cost
#   CCS_ACCEL=kvm          KVM instead of TCG where it works
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
start=$(date +%s)
step() { local s=$(($(date +%s) - start)); printf "==== [%dm%02ds] %s\n" $((s / 60)) $((s % 60)) "$*"; }

if [ "${QUICK:-0}" = 1 ]; then
	: "${BENCH_REPS:=1}" "${BENCH_SWEEP_REPS:=1}" "${BENCH_EMU_REPS:=1}" "${BENCH_AA_REPS:=1}"
	: "${BENCH_FIO_SECONDS:=2}" "${BENCH_RAMP:=0}" "${BENCH_SETTLE_S:=10}" "${BENCH_IDLE_S:=4}" "${BENCH_MAP_ARGS:=reps=1}"
	: "${BENCH_ALT:=0}"
fi
: "${BENCH_REPS:=5}" "${BENCH_SWEEP_REPS:=3}" "${BENCH_EMU_REPS:=3}" "${BENCH_AA_REPS:=3}"
: "${BENCH_FIO_SECONDS:=4}" "${BENCH_RAMP:=1}" "${BENCH_SETTLE_S:=40}" "${BENCH_IDLE_S:=8}" "${BENCH_MAP_ARGS:=}"
: "${BENCH_ALT:=1}"
: "${BENCH_EMU_CALL_US:=100}" "${BENCH_EMU_PAGE_NS:=5000}"
caps="2 4 8 16 32"
boots=${BENCH_ONLY:-main $(for n in $caps; do printf 'cap%s ' "$n"; done)}

kver=${KVER:-}
if [ -z "$kver" ]; then
	kver=$(tools/kvers.sh | tr ' ' '\n' | grep '^6\.12\.' | tail -n 1)
	[ -n "$kver" ] || kver=$(tools/kvers.sh | awk '{print $NF}')
fi
[ -n "$kver" ] || { echo "bench: no kernel (make deps)"; exit 1; }

step "build cc_swiotlb and ccs_bench for $kver"
make --no-print-directory module KVER="$kver" >build-bench.log 2>&1 ||
	{ tail -n 30 build-bench.log; rm -f build-bench.log; exit 1; }
make --no-print-directory -C tools/bench-module KVER="$kver" >>build-bench.log 2>&1 ||
	{ tail -n 30 build-bench.log; rm -f build-bench.log; exit 1; }
# The emulated conversion cost needs module/convert.c's debugfs knobs.  Once
# they live in the debug flavour only (make module-debug), every boot loads
# that build (its map path differs from production by a flag test) and the
# report says so.
ko=$TOP/build/$kver/cc_swiotlb.ko flavour=production
# (The Makefile is asked by its text: "make -n module-debug" fails in a
# fresh clone, whose build directory does not exist yet, and every ccemu
# cell was then silently missing.)
if ! grep -qa emulate_call_us "$ko" && grep -q '^module-debug:' Makefile; then
	make --no-print-directory module-debug KVER="$kver" >>build-bench.log 2>&1 ||
		{ tail -n 30 build-bench.log; rm -f build-bench.log; exit 1; }
	ko=$TOP/build/$kver-debug/cc_swiotlb.ko flavour=debug
	step "the production build has no emulated-cost knobs: every boot loads the debug flavour"
fi
rm -f build-bench.log

# the console follower of the running boot, if bench.sh is interrupted
tailpid=
trap '[ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

raw=bench/results/raw
rm -rf "$raw"
mkdir -p build/bench "$raw"
{
	echo "quick=${QUICK:-0}"
	echo "kver=$kver"
	echo "module_flavour=$flavour"
	echo "boots=\"$boots\""
	echo "reps=$BENCH_REPS"
	echo "sweep_reps=$BENCH_SWEEP_REPS"
	echo "emu_reps=$BENCH_EMU_REPS"
	echo "aa_reps=$BENCH_AA_REPS"
	echo "fio_seconds=$BENCH_FIO_SECONDS"
	echo "ramp_seconds=$BENCH_RAMP"
} >"$raw/plan.env"

# run_boot NAME SCRIPT [APPEND]: one guest boot, its progress lines shown
# as they come; its status goes to raw/boots
run_boot() {
	local name=$1 script=$2 append=${3:-} out=build/vm/out/$2-$kver rc cfg limit
	cfg=$TOP/build/bench/config-$name.env
	# new file, then rename: a guest may still read the previous one
	{
		echo "BENCH_T0=$start"
		echo "BENCH_REPS=$BENCH_REPS BENCH_SWEEP_REPS=$BENCH_SWEEP_REPS"
		echo "BENCH_EMU_REPS=$BENCH_EMU_REPS BENCH_AA_REPS=$BENCH_AA_REPS"
		echo "BENCH_FIO_SECONDS=$BENCH_FIO_SECONDS BENCH_RAMP=$BENCH_RAMP"
		echo "BENCH_SETTLE_S=$BENCH_SETTLE_S BENCH_IDLE_S=$BENCH_IDLE_S BENCH_ALT=$BENCH_ALT"
		echo "BENCH_MAP_ARGS=\"$BENCH_MAP_ARGS\""
		echo "BENCH_EMU_CALL_US=$BENCH_EMU_CALL_US BENCH_EMU_PAGE_NS=$BENCH_EMU_PAGE_NS"
		case $name in
		cap*)
			echo "BENCH_CAP_MB=${name#cap}"
			# cap4 and cap16 give cc_swiotlb the other group of disks
			case $name in cap4 | cap16) echo "BENCH_SWAP=1" ;; esac
			if [ "$name" = cap4 ]; then echo "BENCH_CAPPED_ALL=1"; fi
			;;
		esac
	} >"$cfg.tmp" || exit 1
	mv "$cfg.tmp" "$cfg" || exit 1
	# generous guest time limit: twice what the runs should take, plus boot
	limit=$((2 * (BENCH_FIO_SECONDS + BENCH_RAMP + 4) * (6 * 3 * BENCH_REPS + 20) + 600))
	step "boot $name: tests/vm/bench/$script ${append:+(+$append)}"
	rm -rf "$out"
	(
		for _ in $(seq 1 600); do [ -e "$out/output" ] && break; sleep 0.5; done
		exec tail -n +1 -F "$out/output" 2>/dev/null
	) > >(grep --line-buffered -E '^(== |fio |memory:|map\+unmap:|FAIL|cc_swiotlb did not|rmmod)') &
	tailpid=$!
	BENCH_CONFIG=$cfg tests/vm/run --kver "$kver" --ko "$ko" --timeout "$limit" \
		${append:+--append "$append"} "tests/vm/bench/$script"
	rc=$?
	sleep 1
	kill "$tailpid" 2>/dev/null
	wait "$tailpid" 2>/dev/null
	tailpid=
	mkdir -p "$raw/$name"
	cp -a "$out"/. "$raw/$name/" 2>/dev/null
	rm -f "$raw/$name"/*.img
	echo "$name $rc" >>"$raw/boots"
	[ $rc = 0 ] || echo "bench: boot $name FAILED (see $raw/$name/console); its cells count as missing"
	return 0
}

for b in $boots; do
	case $b in
	main) run_boot main bench-main ;;
	cap*)
		n=${b#cap}
		case " $caps " in *" $n "*) ;; *) echo "bench: unknown boot $b (main, cap2 ... cap32)"; exit 1 ;; esac
		run_boot "$b" bench-sweep "swiotlb=$((n * 512)),force"
		;;
	*) echo "bench: unknown boot $b (main, cap2 ... cap32)"; exit 1 ;;
	esac
done

step "report"
/usr/bin/python3 tools/bench-report.py bench/results
rc=$?
step "done: bench/results/summary.md"
cat bench/results/summary.md
[ $rc = 0 ] || echo "bench: FAILED: a boot failed or cells are missing (see 'Missing' in bench/results/summary.md)"
exit $rc
