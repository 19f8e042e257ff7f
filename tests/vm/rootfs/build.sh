#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the rootfs case's boot files for one kernel, once, cached under
# build/rootfs/KVER/ (rebuilt when the module or these scripts change):
#   initrd.img	Debian's mkinitramfs (initramfs-tools) with the project's
#		hook and init-top script from tools/initramfs/, and
#		cc_swiotlb.ko as if installed in /lib/modules/KVER/updates
#   root.img	a 256 MiB ext4 root filesystem: busybox (static) and
#		tests/vm/rootfs/init as /sbin/init
# The host's /lib/modules is never written: mkinitramfs runs in a private
# mount namespace with an overlay on /lib/modules/KVER.
#
# Usage: tests/vm/rootfs/build.sh KVER
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
kver=${1:?usage: build.sh KVER}
ko=$TOP/build/$kver/cc_swiotlb.ko
dir=$TOP/build/rootfs/$kver
[ -e "$ko" ] || { echo "build.sh: $ko not built (make module KVER=$kver)" >&2; exit 2; }
command -v mkinitramfs >/dev/null || { echo "build.sh: no mkinitramfs (apt-get install initramfs-tools)" >&2; exit 2; }
bb=$(command -v busybox) || { echo "build.sh: no busybox (apt-get install busybox-static)" >&2; exit 2; }

stamp=$dir/stamp
if [ -e "$stamp" ] && [ "$stamp" -nt "$ko" ] && [ "$stamp" -nt "$0" ] &&
	[ "$stamp" -nt "$TOP/tests/vm/rootfs/init" ] &&
	[ "$stamp" -nt "$TOP/tools/initramfs/hooks/cc_swiotlb" ] &&
	[ "$stamp" -nt "$TOP/tools/initramfs/scripts/init-top/cc_swiotlb" ]; then
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
work=$(mktemp -d "$dir/work.XXXXXX")

# initramfs-tools configuration: the host's, with MODULES=most (every
# storage driver) and the project's hook and init-top script installed as
# the README says
cp -a /etc/initramfs-tools "$work/conf"
sed -i 's/^MODULES=.*/MODULES=most/' "$work/conf/initramfs.conf"
mkdir -p "$work/conf/hooks" "$work/conf/scripts/init-top"
cp "$TOP/tools/initramfs/hooks/cc_swiotlb" "$work/conf/hooks/"
cp "$TOP/tools/initramfs/scripts/init-top/cc_swiotlb" "$work/conf/scripts/init-top/"

mkdir -p "$work/upper/updates" "$work/ovl"
cp "$ko" "$work/upper/updates/"
unshare -m bash -euc '
	mount -t overlay overlay -o lowerdir=/lib/modules/$1,upperdir=$2/upper,workdir=$2/ovl /lib/modules/$1
	depmod $1
	mkinitramfs -d $2/conf -o $3/initrd.img $1
' _ "$kver" "$work" "$dir"

# the root filesystem
r=$work/root
mkdir -p "$r"/{bin,sbin,dev,proc,sys,run,tmp,data,etc}
cp "$bb" "$r/bin/busybox"
for a in $("$bb" --list); do
	[ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
done
cp "$TOP/tests/vm/rootfs/init" "$r/sbin/init"
chmod 755 "$r/sbin/init"
# no lazy init: its background writes would still run at the power-off
mke2fs -q -t ext4 -L ccsroot -E lazy_itable_init=0,lazy_journal_init=0 \
	-d "$r" "$dir/root.img" 256M
rm -rf "$work"
touch "$stamp"
echo "built $dir/initrd.img ($(du -h "$dir/initrd.img" | cut -f1)) and root.img"
