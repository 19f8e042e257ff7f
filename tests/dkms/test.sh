#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS round trip for every supported kernel: make dkms-install, dkms add,
# build and install for each kernel release, check modinfo of the installed
# module (name, version, vermagic), boot a guest that loads the DKMS-built
# module (case dkms-load), then dkms remove and check nothing is left behind.
#
# Usage: tests/dkms/test.sh [--install|--remove] KVER...
#   --install  stop after the install checks, the module left installed
#   --remove   only remove it and check nothing is left behind
# make check runs --install, then tests/vm/run-all with CCS_WITH_DKMS=1 (the
# dkms-load case shares a boot with the other cases), then --remove.
set -uo pipefail
phase=all
case ${1:-} in --install) phase=install; shift ;; --remove) phase=remove; shift ;; esac
TOP=$(cd "$(dirname "$0")/../.." && pwd)
VER=$(cat "$TOP/VERSION")
pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

cleanup() {
	dkms remove -m cc_swiotlb -v "$VER" --all >/dev/null 2>&1
	rm -rf "/usr/src/cc_swiotlb-$VER"
}

# remove_all KVER...: dkms remove, then nothing of cc_swiotlb left for any kernel
remove_all() {
	dkms remove -m cc_swiotlb -v "$VER" --all >/dev/null && ok "dkms remove" || bad "dkms remove"
	for k in "$@"; do
		ko=$(modinfo -k "$k" -n cc_swiotlb 2>/dev/null)
		[ -z "$ko" ] && ok "no cc_swiotlb left for $k after remove" || bad "left behind: $ko"
	done
	cleanup
}
if [ $phase = remove ]; then
	remove_all "$@"
	echo "dkms --remove: $pass passed, $fail failed"
	[ $fail = 0 ]
	exit
fi
cleanup
make -s -C "$TOP" dkms-install >/dev/null && ok "dkms-install copied sources to /usr/src/cc_swiotlb-$VER" ||
	{ bad "make dkms-install"; exit 1; }
dkms add -m cc_swiotlb -v "$VER" >/dev/null && ok "dkms add" || bad "dkms add"
for k in "$@"; do
	if dkms build -m cc_swiotlb -v "$VER" -k "$k" >/tmp/dkms-build-$$.log 2>&1 &&
		dkms install -m cc_swiotlb -v "$VER" -k "$k" >>/tmp/dkms-build-$$.log 2>&1; then
		ok "dkms build+install for $k"
	else
		cat /tmp/dkms-build-$$.log "/var/lib/dkms/cc_swiotlb/$VER/build/make.log" 2>/dev/null | tail -n 30
		bad "dkms build+install for $k"
		continue
	fi
	ko=$(modinfo -k "$k" -n cc_swiotlb 2>/dev/null)
	case $ko in
	*/updates/dkms/cc_swiotlb.ko*) ok "modinfo finds the DKMS module for $k: $ko" ;;
	*) bad "modinfo -k $k cc_swiotlb points at '$ko'" ;;
	esac
	v=$(modinfo -F version "$ko" 2>/dev/null)
	[ "$v" = "$VER" ] && ok "version $v" || bad "version '$v' != $VER"
	vm=$(modinfo -F vermagic "$ko" 2>/dev/null | awk '{print $1}')
	[ "$vm" = "$k" ] && ok "vermagic $vm" || bad "vermagic '$vm' != $k"
	lic=$(modinfo -F license "$ko" 2>/dev/null)
	[ "$lic" = GPL ] && ok "license GPL" || bad "license '$lic'"
	[ $phase = install ] && continue
	if "$TOP/tests/vm/run" --kver "$k" --ko "$ko" dkms-load; then
		ok "guest on $k loads the DKMS-built module"
	else
		bad "guest on $k with the DKMS-built module"
	fi
done
rm -f /tmp/dkms-build-$$.log
if [ $phase = install ]; then
	echo "dkms --install: $pass passed, $fail failed (left installed for dkms-load)"
	[ $fail = 0 ]
	exit
fi
remove_all "$@"
echo "dkms: $pass passed, $fail failed"
[ $fail = 0 ]
