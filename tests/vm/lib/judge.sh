# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# The verdict on one guest case, from the files the guest runner
# (tests/vm/guest-run.sh) wrote into the case's directory.  Sourced by the
# runner, which stops the boot after a case judged failed (the rest get a
# fresh boot), and by tests/vm/run, which judges again with what only the
# host has (the console, the host side of the case, a guest that died).
#
# ccs_judge DIR CASEFILE prints one reason per line (none: the case passed)
# and leaves in DIR:
#   kernel-problems   kernel log lines that fail the case: WARN, BUG, oops,
#                     lockup, stall, KASAN/UBSAN, lockdep, dma-debug, panic
#                     (tests/vm/lib/kernel-problems.sh)
#   module-errors     error/warning-level lines (kmsg level <= 4) of
#                     cc_swiotlb (and the test module ccs_semantics)
#   expected-reports  lines of either kind that a "# vm-expect: ERE" line of
#                     the case matched (plus the Call Trace after a matched
#                     line), set aside instead of failing the case
# from these inputs (all but rc optional):
#   rc                the case's exit status
#   state-problems    what the case left behind (module loaded, processes,
#                     tracefs instances, kprobes: guest-run.sh)
#   kmsg              the case's slice of the kernel log (/dev/kmsg records)
#   console           its slice of the serial console (host only)
#   output            the case's stdout and stderr (bash's own errors fail it)
#   taint-before/-after, dma-errors-before/-after, kmemleak, host-rc
# shellcheck source=tests/vm/lib/kernel-problems.sh
. "$CCS_TOP/tests/vm/lib/kernel-problems.sh"

# bash's messages for a script that cannot run as written
CCS_SHELL_ERR=': command not found$|: syntax error|: bad substitution$|: unbound variable$'

# Warning-level lines with the module's name that are not its own reports
CCS_MOD_BENIGN='loading out-of-tree module taints kernel|module verification failed: signature'

# _judge_expected TEXT: TEXT matches one of the case's vm-expect EREs
_judge_expected() {
	local re
	for re in "${_judge_expect[@]}"; do
		[[ $1 =~ $re ]] && return 0
	done
	return 1
}

# _judge_problems LOG: LOG's kernel problem lines less the expected ones
# (which, and the first Call Trace within 40 lines of one, go to
# expected-reports)
_judge_problems() {
	local l n text exp_at=-100
	[ -s "$1" ] || return 0
	grep -nE "$CCS_BAD" "$1" | grep -Ev "$CCS_BENIGN" >"$_judge_dir/.bad" || true
	while IFS= read -r l; do
		n=${l%%:*} text=${l#*:}
		if _judge_expected "$text"; then
			exp_at=$n
			echo "$text" >>"$_judge_dir/expected-reports"
			continue
		fi
		if [[ $text == *"Call Trace:"* ]] && [ $((n - exp_at)) -le 40 ]; then
			exp_at=-100
			echo "$text" >>"$_judge_dir/expected-reports"
			continue
		fi
		echo "$text"
	done <"$_judge_dir/.bad"
	rm -f "$_judge_dir/.bad"
}

ccs_judge() {
	local d=$1 casefile=$2 rc new allowed de line
	_judge_dir=$d
	_judge_expect=()
	while IFS= read -r line; do
		[ -n "$line" ] && _judge_expect+=("$line")
	done <<<"$(sed -n 's/^# vm-expect: //p' "$casefile")"
	rm -f "$d/expected-reports" "$d/kernel-problems" "$d/module-errors"
	if [ ! -s "$d/rc" ]; then
		echo "the case did not finish (guest died or timed out)"
	else
		rc=$(cat "$d/rc")
		case $rc in
		0) ;;
		124|137) echo "case timed out after its vm-timeout (exit $rc)" ;;
		*) echo "case exited $rc" ;;
		esac
	fi
	if [ -s "$d/host-rc" ] && [ "$(cat "$d/host-rc")" != 0 ]; then
		echo "host side of the case failed (see $d/host-output)"
	fi
	[ -s "$d/state-problems" ] && echo "left state behind: $(head -n 1 "$d/state-problems")"
	# bash's own errors mean the script did not run as written, even when
	# its exit status says it did (a missing helper is "command not found"
	# and the line after it runs on)
	[ -s "$d/output" ] && grep -m 1 -E "$CCS_SHELL_ERR" "$d/output" | while IFS= read -r line; do
		echo "shell error in the case's output: $line"
	done
	for f in kmsg console; do [ -L "$d/$f" ] || _judge_problems "$d/$f"; done | sort -u >"$d/kernel-problems"
	[ -s "$d/kernel-problems" ] && echo "kernel log: $(head -n 1 "$d/kernel-problems")"
	if [ -s "$d/kmsg" ]; then
		grep -F 'ccs-harness: kmsg reader lost' "$d/kmsg" | head -n 1 | while IFS= read -r line; do
			echo "kernel log incomplete: ${line#*;}"
		done
		# the module's own error and warning lines (kmsg level 0-4); the
		# dump of an expected WARN/BUG (its "Modules linked in" line and
		# stack frames name the modules) is part of that report, up to its
		# end-trace line and for at most 60 records, and so are the 5
		# frames of an expected dma-debug "Mapped at:"
		awk -F';' '/^[0-9]+,/ { split($1, h, ","); t = substr($0, index($0, ";") + 1)
			if (h[1] % 8 <= 4) print (t ~ /cc_swiotlb|ccs_semantics/ ? "M" : "-") "\t" t }' "$d/kmsg" |
			{
			local kind span=0
			while IFS=$'\t' read -r kind line; do
				if [ "$span" -gt 0 ]; then
					span=$((span - 1))
					[[ $line == *'---[ end trace'* ]] && span=0
					[ "$kind" = M ] && echo "$line" >>"$d/expected-reports"
					continue
				fi
				if _judge_expected "$line"; then
					[[ $line =~ ^(WARNING:|BUG:|kernel\ BUG) ]] && span=60
					[[ $line == 'DMA-API: Mapped at:' ]] && span=5
					[ "$kind" = M ] && echo "$line" >>"$d/expected-reports"
					continue
				fi
				[ "$kind" = M ] || continue
				[[ $line =~ $CCS_MOD_BENIGN ]] && continue
				echo "$line"
			done
			} >"$d/module-errors"
		[ -s "$d/module-errors" ] &&
			echo "module error line: $(head -n 1 "$d/module-errors") ($(wc -l <"$d/module-errors") in all)"
		# every unload's final accounting balances: nothing held,
		# decrypted == re-encrypted + leaked
		awk '/cc_swiotlb: final: pages_/ {
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			if (v["pages_held"] != 0 || v["pages_decrypted"] != v["pages_reencrypted"] + v["pages_leaked"])
				print "unbalanced final accounting at unload: " substr($0, index($0, "final:")) }' "$d/kmsg" | head -n 1
		# every load was unloaded again
		local loads unloads
		loads=$(grep -c 'cc_swiotlb: loaded' "$d/kmsg")
		unloads=$(grep -c 'cc_swiotlb: unloaded' "$d/kmsg")
		[ "$loads" -le "$unloads" ] || grep -q '^# vm-boot: own' "$casefile" ||
			echo "cc_swiotlb loaded $loads times, unloaded $unloads times"
	elif [ -s "$d/rc" ]; then
		echo "no kernel log for the case (kmsg reader)"
	fi
	[ -s "$d/kmemleak" ] && grep -q '^unreferenced object' "$d/kmemleak" &&
		echo "kmemleak: $(grep -c '^unreferenced object' "$d/kmemleak") suspected leak(s) after the case"
	# every dma-debug error is a WARN in kernel/dma/debug.c (all_errors is on)
	if [ -s "$d/dma-errors-after" ]; then
		de=$(( $(cat "$d/dma-errors-after") - $(cat "$d/dma-errors-before" 2>/dev/null || echo 0) ))
		local dexp
		dexp=$(grep -c 'WARNING: .* at kernel/dma/debug\.c' "$d/expected-reports" 2>/dev/null)
		[ "$de" -gt "${dexp:-0}" ] && echo "dma-debug: $de DMA-API error(s), ${dexp:-0} of them expected"
	fi
	# Taint: only O (out-of-tree, 4096) and E (unsigned, 8192) may appear,
	# and W (512) when an expected report was a WARN
	allowed=$((4096 | 8192))
	grep -q 'WARNING:' "$d/expected-reports" 2>/dev/null && allowed=$((allowed | 512))
	if [ -s "$d/taint-before" ] && [ -s "$d/taint-after" ]; then
		new=$(( $(cat "$d/taint-after") & ~$(cat "$d/taint-before") & ~allowed ))
		[ $new = 0 ] || echo "new kernel taint $new during the case"
	fi
	return 0
}
