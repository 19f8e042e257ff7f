# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Helpers for the kccd-* and params guest cases (source after lib.sh).

# kccd_snap: take one consistent snapshot of debugfs counters into the
# associative array K (and $KCCD_SNAP); bash builtins only, no fork, so it
# is cheap even in a TCG guest
declare -gA K
kccd_snap() {
	local n v
	K=()
	KCCD_SNAP=$(<"$CCS_DBG/counters") || ccs_fail "read $CCS_DBG/counters"
	while read -r n v; do
		K[$n]=$v
	done <<<"$KCCD_SNAP"
}

# kccd_get NAME: value of NAME in the last snapshot
kccd_get() {
	[ -n "${K[$1]+x}" ] || ccs_fail "no counter $1"
	echo "${K[$1]}"
}

# now_ms: guest wall clock in ms (builtin)
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# kccd_classes: slot sizes of the classes, smallest first
kccd_classes() {
	sed -n 's/^class\([0-9]*\)_index .*/\1/p' <<<"$KCCD_SNAP"
}

# kccd_invariant LABEL: decrypted == held + re-encrypted + leaked (snapshot)
kccd_invariant() {
	kccd_snap
	local d h r l
	d=$(kccd_get pages_decrypted) h=$(kccd_get pages_held)
	r=$(kccd_get pages_reencrypted) l=$(kccd_get pages_leaked)
	ccs_eq "$1: pages_decrypted == held $h + re-encrypted $r + leaked $l" "$d" $((h + r + l))
}

# kccd_wait_settled [TRIES]: wait (TRIES x 0.2 s) until no conversion is in
# flight: the pages held match the bytes in the pool
kccd_wait_settled() {
	local s
	for _ in $(seq 1 "${1:-50}"); do
		kccd_snap
		s=$(kccd_get shared_bytes)
		[ $(( $(kccd_get pages_held) * 4096 )) -eq "$s" ] && return 0
		sleep 0.2
	done
	return 1
}

# kccd_arena_at LOWHIGH: the arena's free shared bytes are >= kccd's
# effective low (or high) watermark
kccd_arena_at() {
	local free wm
	free=$(kccd_get free_shared_bytes) wm=$(kccd_get "kccd_$1_bytes")
	if [ "$free" -lt "$wm" ]; then
		echo "  arena: free $free < $1 $wm"
		return 1
	fi
}

# kccd_table: print the arena's and every class's state (for the log)
kccd_table() {
	kccd_snap
	local c
	echo "  arena: held=$(kccd_get arena_bytes) free=$(kccd_get arena_free_bytes)" \
		"carved=$(kccd_get arena_carved_bytes) mapped=$(kccd_get mapped_bytes)" \
		"units=$(kccd_get arena_units) free_units=$(kccd_get arena_free_units)" \
		"low:high=$(kccd_get kccd_low_bytes):$(kccd_get kccd_high_bytes)" \
		"demand=$(kccd_get kccd_demand_bytes) carves=$(kccd_get arena_carves)" \
		"slab_returns=$(kccd_get arena_slab_returns) dry_drains=$(kccd_get arena_dry_drains)"
	printf '  %8s %6s %8s %8s %8s %8s\n' class slabs free in_use cached bytes
	for c in $(kccd_classes); do
		[ "$(kccd_get "class${c}_allocs")" = 0 ] && continue
		printf '  %8s %6s %8s %8s %8s %8s\n' "$c" "$(kccd_get "class${c}_chunks")" \
			"$(kccd_get "class${c}_free")" "$(kccd_get "class${c}_in_use")" \
			"$(kccd_get "class${c}_cached")" "$(kccd_get "class${c}_bytes")"
	done
	echo "  shared_bytes=$(kccd_get shared_bytes) pages_decrypted=$(kccd_get pages_decrypted)" \
		"held=$(kccd_get pages_held) reencrypted=$(kccd_get pages_reencrypted)" \
		"leaked=$(kccd_get pages_leaked) units_added=$(kccd_get refill_chunks)" \
		"units_returned=$(kccd_get reclaim_chunks) exhaustions=$(kccd_get exhaustion_events)" \
		"conversions=$(kccd_get conversions)"
}

# kccd_cached_slots: free slots cached in every class's magazines and depot
kccd_cached_slots() {
	awk '$1 ~ /^class[0-9]+_cached$/ {s += $2} END {print s + 0}' <<<"$KCCD_SNAP"
}

# kccd_final_check: after rmmod, the "final:" line balances
kccd_final_check() {
	local line d h r l log
	log=$(ccs_dmesg_save)
	line=$(grep 'cc_swiotlb: final:' "$log" | tail -n 1)
	[ -n "$line" ] || ccs_fail "no 'final:' line in dmesg after unload"
	echo "  $line"
	d=$(sed -n 's/.*pages_decrypted=\([0-9]*\).*/\1/p' <<<"$line")
	h=$(sed -n 's/.*pages_held=\([0-9]*\).*/\1/p' <<<"$line")
	r=$(sed -n 's/.*pages_reencrypted=\([0-9]*\).*/\1/p' <<<"$line")
	l=$(sed -n 's/.*pages_leaked=\([0-9]*\).*/\1/p' <<<"$line")
	ccs_eq "after unload: no page still held" "$h" 0
	ccs_eq "after unload: decrypted == re-encrypted $r + leaked $l" "$d" $((r + l))
	if grep -q 'cc_swiotlb: final: conversion accounting does not balance' "$log"; then
		ccs_fail "module reported unbalanced accounting"
	fi
	# shellcheck disable=SC2034 # read by the cases
	KCCD_FINAL_LEAKED=$l
}

# kccd_in_use: slots in use, all classes (takes a snapshot)
kccd_in_use() {
	local c n=0
	kccd_snap
	for c in $(kccd_classes); do
		n=$((n + ${K[class${c}_in_use]}))
	done
	echo "$n"
}

# kccd_wait_idle_arena TRIES: wait (TRIES x 0.2 s) until the arena holds no
# more than kccd's high watermark plus one unit of free memory
kccd_wait_idle_arena() {
	for _ in $(seq 1 "${1:-50}"); do
		kccd_snap
		[ "$(kccd_get free_shared_bytes)" -le $(( $(kccd_get kccd_high_bytes) + 2097152 )) ] &&
			return 0
		sleep 0.2
	done
	return 1
}
