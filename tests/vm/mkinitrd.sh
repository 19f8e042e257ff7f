#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guest's tiny initramfs for one kernel release: static busybox, the
# modules needed to reach the host's root filesystem over virtio-9p (resolved
# from the kernel's own modules.dep and decompressed, since busybox insmod
# cannot read .ko.xz; none if the kernel has them built in, as the make
# check-debug kernel does) and tests/vm/init as PID 1.
#
# Usage: mkinitrd.sh KVER OUTPUT.cpio.gz
set -euo pipefail
kver=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work"/{bin,dev,proc,sys,root,mods}
cp /bin/busybox "$work/bin/busybox"
for t in sh mount umount insmod mkdir cat echo poweroff sleep ls chroot sync mknod; do
	ln -s busybox "$work/bin/$t"
done
cp "$here/init" "$work/init"
chmod +x "$work/init"

n=0
for m in virtio_pci 9pnet_virtio 9p; do
	modprobe -S "$kver" --show-depends "$m" 2>/dev/null || true
done | awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' | while read -r ko; do
	n=$((n + 1))
	dst=$(printf '%s/mods/%02d-%s' "$work" "$n" "$(basename "$ko")")
	case $ko in
	*.xz) xz -dc "$ko" >"${dst%.xz}" ;;
	*.zst) zstd -qdc "$ko" >"${dst%.zst}" ;;
	*) cp "$ko" "$dst" ;;
	esac
done
(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
