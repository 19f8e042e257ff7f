#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (chrooted into the host's read-only root): the boot's
# list of cases, one after the other, each with its own environment, output
# file and slice of the kernel log, written to its directory on the out
# share for tests/vm/run to judge.
#
# Between cases it checks, and restores, the state the next case relies on:
# cc_swiotlb (and ccs_semantics) unloaded, no process of the case left, no
# tracefs instance, kprobe or enabled top-level event left (each of these
# fails the case), the disk and NIC drivers unloaded and the virtio devices
# bound to virtio-pci again as at boot, the three disks discarded, /tmp
# emptied.  Each case is then judged here as on the host
# (tests/vm/lib/judge.sh): after a case that failed, the boot stops and
# tests/vm/run boots a fresh guest for the rest.
#
# The whole kernel log of the boot is kept by tests/vm/lib/kmsg-reader.py
# (every level; dmesg -C in a case does not affect it); a marker record
# "ccs-harness: begin case NAME #I" / "end case ..." brackets each case, and
# the runner waits for the end marker to reach the file (proving the reader
# alive and caught up) before it judges the case.
boot=$1
# (every "sync -f" below syncs the out share only: a global sync would hang
# behind a disk a failed case left wedged)
# shellcheck source=/dev/null
. "$boot/env"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp TERM=dumb
cd /tmp || exit 1
# A kernel that reported a problem while booting (tests/vm/lib/
# kernel-problems.sh) has not run any of our code yet: tests/vm/run boots it
# again, and runs the cases on its last attempt only (where they then fail).
# shellcheck source=tests/vm/lib/judge.sh
. "$CCS_TOP/tests/vm/lib/judge.sh"
if [ ! -e "$boot/last-boot" ] &&
   dmesg | grep -E "$CCS_BAD" | grep -Ev "$CCS_BENIGN" >"$boot/boot-problems"; then
	echo "guest: the kernel reported a problem while booting: $(head -n 1 "$boot/boot-problems")"
	dmesg >"$boot/dmesg"
	sync -f "$boot/env"
	exit 0
fi
rm -f "$boot/boot-problems"

python3 "$CCS_TOP/tests/vm/lib/kmsg-reader.py" "$boot/kmsg" &
kmsg_pid=$!
# dma-debug (make check-debug kernel) prints its first error only: all of them
[ -w /sys/kernel/debug/dma-api/all_errors ] && echo 1 >/sys/kernel/debug/dma-api/all_errors
kmemleak=/sys/kernel/debug/kmemleak
# A kernel with kmemleak (the make check-debug kernel): forget what boot left
# unreferenced, so that what the end-of-case scan reports is the case's.
if [ -w "$kmemleak" ]; then
	echo scan >"$kmemleak" && echo clear >"$kmemleak"
fi
TR=/sys/kernel/tracing
PCIS="$CCS_NVME_PCI $CCS_NVME2_PCI $CCS_VBLK_PCI $CCS_NET_PCI"

# driver_of PCI: the driver bound to PCI, "none" if none
driver_of() {
	local l
	l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) || { echo none; return; }
	echo "${l##*/}"
}
declare -A boot_driver
for p in $PCIS; do boot_driver[$p]=$(driver_of "$p"); done

# leftover_procs: user processes other than PID 1, this runner and the kmsg
# reader (kernel threads have an empty cmdline; so have zombies)
leftover_procs() {
	local p pid cmd
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		case $pid in 1|"$$"|"$kmsg_pid"|"$BASHPID") continue ;; esac
		cmd=
		read -r -d '' cmd <"$p/cmdline" 2>/dev/null
		[ -n "$cmd" ] && echo "$pid $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
	done
}

# restore_drivers: unload the disk and NIC drivers, bind the virtio
# devices to virtio-pci again; print what does not match the boot
restore_drivers() {
	local m p
	for m in virtio_net virtio_blk nvme; do
		[ -d "/sys/module/$m" ] && { rmmod "$m" 2>/dev/null || echo "rmmod $m failed"; }
	done
	for p in $PCIS; do
		if [ "$(driver_of "$p")" = none ] && [ "${boot_driver[$p]}" != none ]; then
			echo "$p" >"/sys/bus/pci/drivers/${boot_driver[$p]}/bind" 2>/dev/null
		fi
		[ "$(driver_of "$p")" = "${boot_driver[$p]}" ] ||
			echo "$p bound to $(driver_of "$p"), not ${boot_driver[$p]} as at boot"
	done
}

# discard_disks: every disk's blocks discarded (QEMU punches holes in the
# image: discard=unmap), so that no case sees another's data
discard_disks() {
	local p dev ok
	modprobe nvme && modprobe virtio_blk || { echo "modprobe nvme/virtio_blk failed"; return; }
	for p in $CCS_NVME_PCI $CCS_NVME2_PCI $CCS_VBLK_PCI; do
		ok=
		for _ in $(seq 1 100); do
			for dev in /sys/bus/pci/devices/"$p"/nvme/nvme*/nvme*n1 /sys/bus/pci/devices/"$p"/virtio*/block/vd*; do
				[ -e "$dev" ] && [ -b "/dev/${dev##*/}" ] && { ok=/dev/${dev##*/}; break 2; }
			done
			sleep 0.1
		done
		[ -n "$ok" ] || { echo "no disk behind $p to discard"; continue; }
		blkdiscard -f "$ok" 2>/dev/null || blkdiscard "$ok" || echo "blkdiscard $ok failed"
	done
}

# clean_state: check what the case left, restore the boot's state; the
# problems found go to stdout (they fail the case), what was restored to
# stderr (notes)
clean_state() {
	local left m i e
	# (a process may take a moment to exit: e.g. a watchdog's last sleep)
	for _ in $(seq 1 20); do
		left=$(leftover_procs)
		[ -z "$left" ] && break
		sleep 0.25
	done
	if [ -n "$left" ]; then
		echo "processes left running: $(echo "$left" | head -n 3 | tr '\n' ';')"
		echo "$left" | while read -r i _; do kill -9 "$i" 2>/dev/null; done
		sleep 0.5
	fi
	for m in ccs_semantics cc_swiotlb; do
		[ -d "/sys/module/$m" ] || continue
		echo "module $m left loaded"
		[ $m = cc_swiotlb ] && restore_drivers >/dev/null
		rmmod "$m" || echo "rmmod $m failed"
	done
	if [ -d "$TR/instances" ]; then
		for i in "$TR"/instances/*; do
			[ -d "$i" ] || continue
			echo "tracefs instance ${i##*/} left"
			echo 0 >"$i/tracing_on"
			echo >"$i/set_event" 2>/dev/null
			rmdir "$i" || echo "rmdir tracefs instance ${i##*/} failed"
		done
	fi
	if [ -r "$TR/set_event" ] && [ -n "$(head -c 1 "$TR/set_event")" ]; then
		echo "top-level trace events left enabled: $(head -n 3 "$TR/set_event" | tr '\n' ' ')"
		echo >"$TR/set_event"
	fi
	for e in kprobe_events uprobe_events dynamic_events; do
		[ -r "$TR/$e" ] && [ -n "$(grep -v '^#' "$TR/$e" | head -n 1)" ] || continue
		echo "$e left: $(head -n 1 "$TR/$e")"
		echo 0 >"$TR/events/kprobes/enable" 2>/dev/null
		echo 0 >"$TR/events/uprobes/enable" 2>/dev/null
		echo >"$TR/$e" || echo "clearing $e failed"
	done
	restore_drivers
	discard_disks
	restore_drivers
	# never the project itself: a checkout under /tmp (CI's, say) is
	# mounted here from the host, with the writable out share inside it
	for f in /tmp/* /tmp/.[!.]*; do
		[ -e "$f" ] || continue
		case $CCS_TOP/ in "$f"/*) continue ;; esac
		rm -rf --one-file-system "$f" 2>/dev/null
	done
	cd /tmp || echo "cd /tmp failed"
}

i=0 failed=0
# (the list on fd 9: nothing a case or the state check runs can read it)
while read -r name <&9; do
	i=$((i + 1))
	d=$CCS_OUTROOT/$name-$CCS_KVER
	# shellcheck source=/dev/null
	casefile=$(. "$d/env" && echo "$CCS_CASE_FILE")
	: >"$d/started"
	echo "<3>ccs-harness: begin case $name #$i" >/dev/kmsg
	cat /proc/sys/kernel/tainted >"$d/taint-before"
	[ -r /sys/kernel/debug/dma-api/error_count ] &&
		cat /sys/kernel/debug/dma-api/error_count >"$d/dma-errors-before"
	echo "guest: kernel $(uname -r), case $name ($i)"
	start=$(date +%s)
	# the output goes to a file, not a pipe: a process the case left
	# running cannot hold the runner up
	# 10 s before the case's time runs out, the kernel's view of a hang
	# goes to the log: blocked tasks and every CPU's backtrace (sysrq w, l)
	t=$(. "$d/env" && echo "$CCS_CASE_TIMEOUT")
	(sleep $((t > 20 ? t - 10 : t)) && echo w >/proc/sysrq-trigger && echo l >/proc/sysrq-trigger) &
	wd=$!
	# shellcheck source=/dev/null
	(. "$d/env" && exec timeout -k 10 "$CCS_CASE_TIMEOUT" "$CCS_CASE_FILE") \
		</dev/null >"$d/output" 2>&1
	rc=$?
	pkill -P "$wd" 2>/dev/null
	kill "$wd" 2>/dev/null
	wait "$wd" 2>/dev/null
	echo $(($(date +%s) - start)) >"$d/seconds"
	echo "guest: case $name exited $rc after $(cat "$d/seconds") s"
	s=$(date +%s)
	if grep -q '^# vm-boot: own' "$casefile"; then
		# the case ends its boot (e.g. a power-off with the module
		# loaded): nothing to restore for, and nothing is undone
		: >"$d/state-problems"
		echo "state left as it is: vm-boot: own" >"$d/state-notes"
	else
		clean_state >"$d/state-problems" 2>"$d/state-notes"
	fi
	cat /proc/sys/kernel/tainted >"$d/taint-after"
	# kmemleak reports an object left unreferenced over two scans (the
	# second drops pointers that were only in flight)
	if [ -w "$kmemleak" ]; then
		echo scan >"$kmemleak" && sleep 1 && echo scan >"$kmemleak"
		cat "$kmemleak" >"$d/kmemleak"
		echo clear >"$kmemleak"
	fi
	[ -r /sys/kernel/debug/dma-api/error_count ] &&
		cat /sys/kernel/debug/dma-api/error_count >"$d/dma-errors-after"
	echo "<3>ccs-harness: end case $name #$i" >/dev/kmsg
	ok=
	for _ in $(seq 1 300); do
		grep -qF "ccs-harness: end case $name #$i" "$boot/kmsg" && { ok=1; break; }
		kill -0 "$kmsg_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ok" ] || echo "kernel log reader $(kill -0 "$kmsg_pid" 2>/dev/null && echo 'did not catch up in 30 s' || echo died)" >>"$d/state-problems"
	awk -v b="ccs-harness: begin case $name #$i" -v e="ccs-harness: end case $name #$i" \
		'index($0, b) {on = 1} on {print} on && index($0, e) {exit}' "$boot/kmsg" >"$d/kmsg"
	echo "$rc" >"$d/rc"
	ccs_judge "$d" "$casefile" >"$d/guest-reasons"
	echo "guest: state check and judgement of $name took $(($(date +%s) - s)) s"
	sync -f "$boot/env"
	if [ -s "$d/guest-reasons" ]; then
		failed=1
		[ "${CCS_KEEP_GOING:-0}" = 1 ] && { echo "guest: $name failed: $(head -n 1 "$d/guest-reasons")"; continue; }
		echo "guest: $name failed: $(head -n 1 "$d/guest-reasons"); the rest get a fresh boot"
		break
	fi
done 9<"$boot/cases"
echo "$failed" >"$boot/stopped"
kill "$kmsg_pid" 2>/dev/null
sync -f "$boot/env"
