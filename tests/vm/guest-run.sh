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
cat /proc/sys/kernel/tainted >"$out/taint-before"
echo "guest: kernel $(uname -r), case $CCS_CASE"
start=$(date +%s)
timeout -k 10 "$CCS_CASE_TIMEOUT" "$CCS_CASE_FILE" 2>&1 | tee "$out/output"
rc=${PIPESTATUS[0]}
echo "guest: case $CCS_CASE exited $rc after $(($(date +%s) - start)) s"
cat /proc/sys/kernel/tainted >"$out/taint-after"
dmesg >"$out/dmesg"
echo "$rc" >"$out/rc"
sync
