#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Style gate: checkpatch (--strict) on every kernel source and header, and
# the shellcheck linter on every shell script of the project.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
fail=0
cp=$(command -v checkpatch-cc || echo /usr/share/cc_swiotlb-checkpatch/checkpatch.pl)
[ -x "$cp" ] || { echo "style: checkpatch missing (make deps)"; exit 1; }
mapfile -t ksrc < <(find module include tests/vm/semantics tests/vm/selftest tools/bench-module -name '*.[ch]' 2>/dev/null | sort)
for f in "${ksrc[@]}"; do
	ignore=FILE_PATH_CHANGES,SPDX_LICENSE_TAG
	# TRACE_EVENT() definitions have their own layout convention.
	case $f in
	include/trace/*) ignore=$ignore,PARENTHESIS_ALIGNMENT,OPEN_ENDED_LINE ;;
	# The one place kernel versions are compared, by design.
	module/compat.h) ignore=$ignore,LINUX_VERSION_CODE,CONSTANT_COMPARISON ;;
	esac
	if ! "$cp" --no-tree --strict --quiet --show-types --ignore "$ignore" -f "$f" \
		>/tmp/cp-$$.txt 2>&1; then
		cat /tmp/cp-$$.txt
		fail=1
	fi
done
rm -f /tmp/cp-$$.txt
echo "style: checkpatch on ${#ksrc[@]} files: $([ $fail = 0 ] && echo clean || echo FAILED)"

# kernel-doc comments (/** ... */) of the module must describe every
# parameter and member: the kernel's own checker, from the first kernel's
# headers (make deps installs them).
k=$(tools/kvers.sh | awk '{print $1}')
kd=/usr/src/linux-headers-$k/scripts/kernel-doc
[ -r "$kd" ] || { echo "style: $kd missing (make deps)"; exit 1; }
mapfile -t kdoc < <(find module include -name '*.[ch]' | sort)
if perl "$kd" -none "${kdoc[@]}" >/tmp/kd-$$.txt 2>&1 && ! [ -s /tmp/kd-$$.txt ]; then
	echo "style: kernel-doc on ${#kdoc[@]} files: clean"
else
	cat /tmp/kd-$$.txt
	echo "style: kernel-doc FAILED"
	fail=1
fi
rm -f /tmp/kd-$$.txt

mapfile -t sh < <(grep -rlE '^#!/bin/(ba)?sh' tools tests .ci 2>/dev/null | grep -v -e '/build/' -e '\.bt$' | sort)
sh+=(tests/vm/lib.sh)
if shellcheck -S warning -x "${sh[@]}"; then
	echo "style: shellcheck on ${#sh[@]} scripts: clean"
else
	echo "style: shellcheck FAILED"
	fail=1
fi
exit $fail
