#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (chrooted into the host's read-only root): one case
# with its environment, output teed to the console, then exit status, dmesg
# and the taint flags written to the out share for the host to judge.
out=$1
# shellcheck source=/dev/null
. "$out/env"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp TERM=dumb
cd /tmp || exit 1
# A kernel that reported a problem while booting (tests/vm/lib/
# kernel-problems.sh) has not run any of our code yet: tests/vm/run boots it
# again, and runs the case on its last attempt only (where it then fails).
# shellcheck source=tests/vm/lib/kernel-problems.sh
. "$CCS_TOP/tests/vm/lib/kernel-problems.sh"
if [ ! -e "$out/last-boot" ] &&
   dmesg | grep -E "$CCS_BAD" | grep -Ev "$CCS_BENIGN" >"$out/boot-problems"; then
	echo "guest: the kernel reported a problem while booting: $(head -n 1 "$out/boot-problems")"
	dmesg >"$out/dmesg"
	sync
	exit 0
fi
rm -f "$out/boot-problems"
cat /proc/sys/kernel/tainted >"$out/taint-before"
# The whole kernel log, whatever the case clears with dmesg -C (a /dev/kmsg
# reader keeps its own position) and at every level (the console shows
# errors only, so not a WARN): tests/vm/run judges it.
cat /dev/kmsg >"$out/kmsg" 2>/dev/null &
kmsg_pid=$!
# dma-debug (make check-debug kernel) prints its first error only: all of them
[ -w /sys/kernel/debug/dma-api/all_errors ] && echo 1 >/sys/kernel/debug/dma-api/all_errors
# A kernel with kmemleak (the make check-debug kernel): forget what boot left
# unreferenced, so that what the end-of-case scan reports is the case's.
kmemleak=/sys/kernel/debug/kmemleak
if [ -w "$kmemleak" ]; then
	echo scan >"$kmemleak" && echo clear >"$kmemleak"
fi
echo "guest: kernel $(uname -r), case $CCS_CASE"
start=$(date +%s)
timeout -k 10 "$CCS_CASE_TIMEOUT" "$CCS_CASE_FILE" 2>&1 | tee "$out/output"
rc=${PIPESTATUS[0]}
echo "guest: case $CCS_CASE exited $rc after $(($(date +%s) - start)) s"
cat /proc/sys/kernel/tainted >"$out/taint-after"
# kmemleak reports an object left unreferenced over two scans (the second
# drops pointers that were only in flight); dma-debug counts every error it
# found, also those past the first it printed.  tests/vm/run judges both.
if [ -w "$kmemleak" ]; then
	s=$(date +%s)
	echo scan >"$kmemleak" && sleep 1 && echo scan >"$kmemleak"
	cat "$kmemleak" >"$out/kmemleak"
	echo "guest: kmemleak scan took $(($(date +%s) - s)) s, $(grep -c '^unreferenced object' "$out/kmemleak") suspected leak(s)"
fi
if [ -r /sys/kernel/debug/dma-api/error_count ]; then
	cat /sys/kernel/debug/dma-api/error_count >"$out/dma-api-errors"
fi
dmesg >"$out/dmesg"
sleep 1
kill "$kmsg_pid" 2>/dev/null
echo "$rc" >"$out/rc"
sync
