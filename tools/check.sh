#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every test, with the time of every step, the number of guest
# boots and the total:
#   deps -> unit (userspace pool) -> sparse (C=2 W=1: sparse and W=1
#   warnings, both kernels) -> style -> DKMS install -> harness-selftest
#   (one boot: the harness catches what it must) -> every guest case on
#   every kernel, dkms-load among them (tests/vm/run-all: cases share
#   boots, both kernels side by side) -> DKMS remove.
# Three steps run in the background, beside steps that compile or lint on
# one core: bounded fuzzing (60 s) beside sparse and style, the userspace
# unit tests beside sparse; the harness-selftest boot (one vCPU) beside style and
# the DKMS install, once sparse has built the module it boots (the sparse
# step writes the same build directories, so not before).
# Ends with a summary and the line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
t0=$(date +%s)
declare -a results
pass=0 fail=0

# record NAME SECONDS STATUS
record() {
	if [ "$3" = 0 ]; then
		results+=("PASS  $1 ($2s)")
		pass=$((pass + 1))
	else
		results+=("FAIL  $1 ($2s)")
		fail=$((fail + 1))
	fi
	echo "=== [$(( $(date +%s) - t0 ))s] $1: $([ "$3" = 0 ] && echo PASS || echo FAIL) in $2s"
}

step() {
	local name=$1 s rc
	shift
	s=$(date +%s)
	echo
	echo "=== [$(( $(date +%s) - t0 ))s] $name: $*"
	"$@"
	rc=$?
	record "$name" $(( $(date +%s) - s )) $rc
}

declare -A bg_pid bg_start bg_log

# background NAME LOG COMMAND...: start a step beside the next ones
background() {
	local name=$1 log=$2
	shift 2
	bg_start[$name]=$(date +%s)
	bg_log[$name]=$log
	"$@" >"$log" 2>&1 &
	bg_pid[$name]=$!
	echo "=== [$(( bg_start[$name] - t0 ))s] $name: in the background ($log)"
}

# collect NAME [LINES]: wait for a background step, print its log (the last
# LINES lines, or all of it) and record it; its time runs until now
collect() {
	local name=$1 rc
	wait "${bg_pid[$name]}"
	rc=$?
	if [ -n "${2:-}" ]; then
		tail -n "$2" "${bg_log[$name]}"
	else
		cat "${bg_log[$name]}"
	fi
	record "$name" $(( $(date +%s) - bg_start[$name] )) $rc
}

tools/install-deps.sh --check >/dev/null 2>&1 || tools/install-deps.sh || { echo "deps failed"; exit 1; }
kvers=$(tools/kvers.sh)
echo "check: kernels $kvers"
[ "$(echo "$kvers" | wc -w)" = 2 ] || { echo "check: need a 6.1 and a 6.12 kernel (make deps)"; exit 1; }
mkdir -p build/vm
export CCS_BOOT_LOG=$PWD/build/vm/boots.log
: >"$CCS_BOOT_LOG"

background fuzz-check build/check-fuzz.log make --no-print-directory fuzz-check
background unit build/check-unit.log make --no-print-directory unit
step sparse make --no-print-directory sparse
collect unit
background harness-selftest build/check-selftest.log tests/vm/selftest/harness-selftest
step style make --no-print-directory style
collect fuzz-check 5
# shellcheck disable=SC2086
step dkms-install tests/dkms/test.sh --install $kvers
collect harness-selftest
# shellcheck disable=SC2086
step vmtest env CCS_WITH_DKMS=1 tests/vm/run-all $kvers
# shellcheck disable=SC2086
step dkms-remove tests/dkms/test.sh --remove $kvers

echo
echo "=== summary: $(wc -l <"$CCS_BOOT_LOG") guest boots, $(( $(date +%s) - t0 ))s in all"
printf '  %s\n' "${results[@]}"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
