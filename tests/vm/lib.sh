# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Helpers for guest cases: source "$CCS_TOP/tests/vm/lib.sh".
# Every helper that checks something prints "ok: ..." or "FAIL: ..." and a
# failure exits the case non-zero.

set -uo pipefail
CCS_DBG=/sys/kernel/debug/cc_swiotlb

ccs_fail() { echo "FAIL: $*"; exit 1; }
ccs_ok() { echo "ok: $*"; }

# ccs_check DESCRIPTION COMMAND...: run the command; fail the case if it fails.
ccs_check() {
	local d=$1
	shift
	if "$@"; then ccs_ok "$d"; else ccs_fail "$d"; fi
}

# ccs_eq DESCRIPTION A B: integers equal
ccs_eq() {
	[ "$2" -eq "$3" ] 2>/dev/null && ccs_ok "$1 ($2 == $3)" || ccs_fail "$1 ($2 != $3)"
}

# ccs_streq DESCRIPTION GOT WANT: string equality
ccs_streq() {
	[ "$2" = "$3" ] && ccs_ok "$1 ($2)" || ccs_fail "$1 ('$2' != '$3')"
}

# ccs_le DESCRIPTION A B: A <= B
ccs_le() {
	[ "$2" -le "$3" ] 2>/dev/null && ccs_ok "$1 ($2 <= $3)" || ccs_fail "$1 ($2 > $3)"
}

# ccs_gt DESCRIPTION A B: A > B
ccs_gt() {
	[ "$2" -gt "$3" ] 2>/dev/null && ccs_ok "$1 ($2 > $3)" || ccs_fail "$1 ($2 <= $3)"
}

# ccs_load [PARAM=VALUE...]: insmod the module under test
ccs_load() {
	insmod "$CCS_KO" "$@" || ccs_fail "insmod cc_swiotlb $*"
	ccs_ok "loaded cc_swiotlb $*"
}

# ccs_unload: rmmod, after checking that the pool saw no bad free (the
# bad_frees counter, where the module has it: a double or stray slot free).
# The harness then checks the unload's "final:" accounting line
# (tests/vm/lib/judge.sh).
ccs_unload() {
	local bf
	if [ -r "$CCS_DBG/counters" ] && bf=$(awk '$1 == "bad_frees" {print $2; f=1} END {exit !f}' "$CCS_DBG/counters"); then
		ccs_eq "pool bad frees (double or stray) before unload" "$bf" 0
	fi
	rmmod cc_swiotlb || ccs_fail "rmmod cc_swiotlb"
	ccs_ok "unloaded cc_swiotlb"
}

# ccs_counter NAME: value from debugfs cc_swiotlb/counters ("name value" lines)
ccs_counter() {
	awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) exit 1}' "$CCS_DBG/counters" ||
		ccs_fail "no counter $1 in $CCS_DBG/counters"
}

# ccs_blockdev PCI: block device node of the disk behind PCI address PCI
ccs_blockdev() {
	local d
	for d in /sys/bus/pci/devices/"$1"/nvme/nvme*/nvme*n1 \
		/sys/bus/pci/devices/"$1"/virtio*/block/vd*; do
		[ -e "$d" ] && { echo "/dev/$(basename "$d")"; return 0; }
	done
	return 1
}

# ccs_wait_blockdev PCI: wait up to 20 s for the disk to appear, print it
ccs_wait_blockdev() {
	local dev
	for _ in $(seq 1 100); do
		dev=$(ccs_blockdev "$1") && [ -b "$dev" ] && { echo "$dev"; return 0; }
		sleep 0.2
	done
	ccs_fail "no block device behind $1"
}

# ccs_fio NAME JSON_OUT fio-args...: run fio with JSON output; fail on any
# I/O or verify error.  Prints a one-line summary.
ccs_fio() {
	local name=$1 json=$2
	shift 2
	fio --name="$name" --output-format=json --output="$json" "$@" ||
		{ cat "$json" 2>/dev/null | tail -n 30; ccs_fail "fio $name exited non-zero"; }
	local errs
	errs=$(ccs_fio_field "$json" errors)
	ccs_eq "fio $name: I/O errors" "$errs" 0
	echo "fio $name: iops=$(ccs_fio_field "$json" iops) bw_kib=$(ccs_fio_field "$json" bw_kib)"
}

# ccs_fio_field JSON iops|bw_kib|errors: summed over jobs, read+write
ccs_fio_field() {
	python3 - "$1" "$2" <<'PY'
import json, sys
# fio may print notes ("terminating on signal", verify warnings) before the
# JSON document: parse from the first "{".
text = open(sys.argv[1]).read()
d = json.loads(text[text.index("{"):])
f = sys.argv[2]
tot = 0
for j in d["jobs"]:
    if f == "errors":
        tot += j["error"] + j.get("total_err", 0)
    else:
        for k in ("read", "write"):
            tot += j[k]["iops" if f == "iops" else "bw"]
print(int(round(tot)))
PY
}

# ccs_dmesg_save: the kernel log, saved to a file whose name it prints.
# Grep that file, never "dmesg | grep -q": under pipefail, dmesg killed by
# SIGPIPE when grep -q stops early turns a match into a failed pipeline,
# which skips a "&& ccs_fail" branch.
ccs_dmesg_save() {
	dmesg >/tmp/.ccs-dmesg || ccs_fail "dmesg"
	echo /tmp/.ccs-dmesg
}

# ccs_dmesg_has REGEX DESCRIPTION: the kernel log matches
ccs_dmesg_has() {
	local log
	log=$(ccs_dmesg_save)
	grep -Eq "$1" "$log" && ccs_ok "$2" || { tail -n 20 "$log"; ccs_fail "$2 (no /$1/ in dmesg)"; }
}

# ccs_dmesg_lacks REGEX DESCRIPTION: the kernel log does not match
ccs_dmesg_lacks() {
	local log
	log=$(ccs_dmesg_save)
	if grep -E "$1" "$log"; then ccs_fail "$2 (/$1/ in dmesg)"; fi
	ccs_ok "$2"
}
