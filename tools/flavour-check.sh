#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The production module carries none of the test machinery: no fault
# injection, conversion-cost emulation, witness (verify), test_hold or pool
# checker symbol.  The debug flavour of the same kernel must have them, so
# that a renamed symbol cannot make this check pass by matching nothing.
# Usage: tools/flavour-check.sh PRODUCTION.ko DEBUG.ko
set -uo pipefail
[ $# = 2 ] || { echo "usage: $0 PRODUCTION.ko DEBUG.ko" >&2; exit 2; }
pat=' [TtDdBbRr] ccs_(debug_|verify_|pool_check|test_hold|hold_)'
for ko in "$1" "$2"; do
	[ -s "$ko" ] || { echo "flavour-check: $ko missing" >&2; exit 1; }
done
prod=$(nm "$1" | grep -E "$pat") || true
dbg=$(nm "$2" | grep -cE "$pat") || true
if [ -n "$prod" ]; then
	echo "flavour-check: $1 has test machinery:" >&2
	echo "$prod" >&2
	exit 1
fi
if [ "${dbg:-0}" -lt 10 ]; then
	echo "flavour-check: $2 has only ${dbg:-0} test symbols (expected the injection, verify, test_hold and checker ones)" >&2
	exit 1
fi
echo "flavour-check: $(basename "$(dirname "$1")"): production has no test symbols (debug has $dbg)"
