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
# one core: bounded fuzzing (60 s) and the userspace unit tests beside
# sparse and style; the harness-selftest boot (one vCPU) beside style and
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

tools/install-deps.sh --check >/dev/null 2>&1 || tools/install-deps.sh || { echo "deps failed"; exit 1; }
kvers=$(tools/kvers.sh)
echo "check: kernels $kvers"
[ "$(echo "$kvers" | wc -w)" = 2 ] || { echo "check: need a 6.1 and a 6.12 kernel (make deps)"; exit 1; }
mkdir -p build/vm
export CCS_BOOT_LOG=$PWD/build/vm/boots.log
: >"$CCS_BOOT_LOG"

fs=$(date +%s)
make --no-print-directory fuzz-check >build/check-fuzz.log 2>&1 &
fuzz_pid=$!
echo "=== [0s] fuzz-check: in the background (build/check-fuzz.log)"

us=$(date +%s)
make --no-print-directory unit >build/check-unit.log 2>&1 &
unit_pid=$!
echo "=== [$(( us - t0 ))s] unit: in the background (build/check-unit.log)"

step sparse make --no-print-directory sparse

wait $unit_pid
urc=$?
cat build/check-unit.log
record unit $(( $(date +%s) - us )) $urc

ss=$(date +%s)
tests/vm/selftest/harness-selftest >build/check-selftest.log 2>&1 &
selftest_pid=$!
echo "=== [$(( ss - t0 ))s] harness-selftest: in the background (build/check-selftest.log)"

step style make --no-print-directory style

wait $fuzz_pid
frc=$?
tail -n 5 build/check-fuzz.log
record fuzz-check $(( $(date +%s) - fs )) $frc

# shellcheck disable=SC2086
step dkms-install tests/dkms/test.sh --install $kvers

wait $selftest_pid
src=$?
cat build/check-selftest.log
record harness-selftest $(( $(date +%s) - ss )) $src
# shellcheck disable=SC2086
step vmtest env CCS_WITH_DKMS=1 tests/vm/run-all $kvers
# shellcheck disable=SC2086
step dkms-remove tests/dkms/test.sh --remove $kvers

echo
echo "=== summary: $(wc -l <"$CCS_BOOT_LOG") guest boots, $(( $(date +%s) - t0 ))s in all"
printf '  %s\n' "${results[@]}"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
