#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: cc_swiotlb against stock swiotlb, side by side in the same
# guest boot, on one kernel (default: the newest installed 6.12).
#
#   boot 1 (tests/vm/bench/bench-main):   memory over time, fio on NVMe and
#          virtio-blk, conversions, map+unmap micro-benchmark, other ladder
#   boot 2 (tests/vm/bench/bench-capped): fio with both capped at 4 MiB
#
# Raw results: bench/results/raw/{main,capped}/; figures:
# bench/results/summary.{json,md} and bench/results/*.png
# (tools/bench-report.py).  Settings (environment):
#   KVER=...               kernel release of the guest
#   BENCH_FIO_SECONDS=8    length of every fio run
#   BENCH_ONLY=main|capped run one boot only (the report uses what exists)
#   BENCH_MAP_ARGS=...     extra ccs_bench.ko parameters (e.g. "reps=5")
#   CCS_ACCEL=kvm          KVM instead of TCG where it works
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
start=$(date +%s)
step() { echo "==== [$(($(date +%s) - start))s] $*"; }

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
rm -f build-bench.log

mkdir -p build/bench bench/results/raw
{
	echo "BENCH_FIO_SECONDS=${BENCH_FIO_SECONDS:-8}"
	echo "BENCH_MAP_ARGS=\"${BENCH_MAP_ARGS:-}\""
	[ -n "${BENCH_EMU_CALL_US:-}" ] && echo "BENCH_EMU_CALL_US=$BENCH_EMU_CALL_US"
	[ -n "${BENCH_EMU_PAGE_NS:-}" ] && echo "BENCH_EMU_PAGE_NS=$BENCH_EMU_PAGE_NS"
} >build/bench/config.env

# run_boot NAME: one guest boot, its progress lines shown as they come
run_boot() {
	local name=$1 out=build/vm/out/bench-$1-$kver tailpid rc
	step "boot $name: tests/vm/bench/bench-$name"
	rm -rf "$out"
	(
		for _ in $(seq 1 600); do [ -e "$out/output" ] && break; sleep 0.5; done
		exec tail -n +1 -F "$out/output" 2>/dev/null
	) > >(grep --line-buffered -E '^(== |fio |memory:|map\+unmap:|FAIL|ok: loaded|cc_swiotlb did not|rebind|rmmod)') &
	tailpid=$!
	tests/vm/run --kver "$kver" "tests/vm/bench/bench-$name"
	rc=$?
	sleep 1
	kill "$tailpid" 2>/dev/null
	wait "$tailpid" 2>/dev/null
	rm -rf "bench/results/raw/$name"
	mkdir -p "bench/results/raw/$name"
	cp -a "$out"/. "bench/results/raw/$name/" 2>/dev/null
	rm -f "bench/results/raw/$name"/*.img
	[ $rc = 0 ] || echo "bench: boot $name did not pass cleanly (see bench/results/raw/$name/console); reporting what it measured"
	return 0
}

case ${BENCH_ONLY:-all} in
main) run_boot main ;;
capped) run_boot capped ;;
*) run_boot main; run_boot capped ;;
esac

step "report"
/usr/bin/python3 tools/bench-report.py bench/results || exit 1
step "done: bench/results/summary.md"
cat bench/results/summary.md
