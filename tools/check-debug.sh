#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-debug: every guest case on a debug build of Debian's 6.1 kernel
# (KASAN, lockdep, DMA_API_DEBUG, kmemleak, DEBUG_ATOMIC_SLEEP; see
# tools/debug-kernel.sh), where any report of those checkers fails the case.
#   deps for a kernel build -> debug kernel (built once, cached) ->
#   cc_swiotlb and the semantics module against it -> tests/vm/run-all.
# CASES="a b" restricts the cases; CCS_TIMEOUT_SCALE (default 4) stretches
# every case's timeout for the slower kernel.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
t0=$(date +%s)
el() { echo "$(( $(date +%s) - t0 ))s"; }

tools/install-deps.sh --check --debug-kernel >/dev/null 2>&1 ||
	tools/install-deps.sh --debug-kernel || { echo "check-debug: deps failed"; exit 1; }
echo "=== [$(el)] debug kernel (tools/debug-kernel.sh; the first build takes about an hour)"
kver=$(tools/debug-kernel.sh | tail -n 1)
[ -n "$kver" ] && [ -e "/boot/vmlinuz-$kver" ] || { echo "check-debug: no debug kernel"; exit 1; }
mkdir -p build
echo "=== [$(el)] kernel $kver; cc_swiotlb and ccs_semantics against it"
make --no-print-directory module KVER="$kver" >"build/check-debug-module.log" 2>&1 &&
	make --no-print-directory -C tests/vm/semantics KVER="$kver" >>"build/check-debug-module.log" 2>&1 ||
	{ cat build/check-debug-module.log; echo "check-debug: module build against $kver failed"; exit 1; }
echo "=== [$(el)] every guest case on $kver"
CCS_TIMEOUT_SCALE=${CCS_TIMEOUT_SCALE:-4} tests/vm/run-all "$kver"
rc=$?
echo "check-debug: $([ $rc = 0 ] && echo PASS || echo FAIL) on $kver, $(el) in all"
exit $rc
