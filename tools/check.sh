#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every test, in order of cost, with progress and elapsed time.
#   deps -> unit (userspace pool) -> bounded fuzzing (60 s) -> build matrix W=1 -> sparse -> style ->
#   DKMS round trip (+ guest) -> every guest case on every kernel.
# Ends with a summary and the line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
t0=$(date +%s)
declare -a names results
pass=0 fail=0

step() {
	local name=$1
	shift
	local s
	s=$(date +%s)
	echo
	echo "=== [$(( $(date +%s) - t0 ))s] $name: $*"
	if "$@"; then
		results+=("PASS  $name ($(( $(date +%s) - s ))s)")
		pass=$((pass + 1))
	else
		results+=("FAIL  $name ($(( $(date +%s) - s ))s)")
		fail=$((fail + 1))
	fi
	names+=("$name")
}

tools/install-deps.sh --check >/dev/null 2>&1 || tools/install-deps.sh || { echo "deps failed"; exit 1; }
kvers=$(tools/kvers.sh)
echo "check: kernels $kvers"
[ "$(echo "$kvers" | wc -w)" = 2 ] || { echo "check: need a 6.1 and a 6.12 kernel (make deps)"; exit 1; }

step unit make --no-print-directory unit
step fuzz-check make --no-print-directory fuzz-check
step build-matrix make --no-print-directory build-matrix
step sparse make --no-print-directory sparse
step style make --no-print-directory style
# shellcheck disable=SC2086
step dkms tests/dkms/test.sh $kvers
# shellcheck disable=SC2086
step vmtest tests/vm/run-all $kvers

echo
echo "=== summary ($(( $(date +%s) - t0 ))s)"
printf '  %s\n' "${results[@]}"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
