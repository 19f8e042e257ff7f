#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: install what is missing, build the module, boot a guest in which
# cc_swiotlb bounces a real NVMe disk under fio (data verified), and show the
# statistics next to stock swiotlb serving the second NVMe disk.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
tools/install-deps.sh --check >/dev/null 2>&1 || tools/install-deps.sh || exit 1
kver=${1:-}
[ -n "$kver" ] || kver=$(tools/kvers.sh | awk '{print $NF}')
echo "demo: building for $kver"
make --no-print-directory module KVER="$kver" >/dev/null || exit 1
echo "demo: booting a $kver guest (TCG, ~10 s) and running fio for ~40 s"
tests/vm/run --kver "$kver" tests/vm/demo/demo
rc=$?
out=build/vm/out/demo-$kver
echo
sed -n '/^==== /,$p' "$out/output" 2>/dev/null
exit $rc
