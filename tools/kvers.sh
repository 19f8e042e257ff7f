#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Print the kernel releases cc_swiotlb is tested against: the newest
# installed Debian 6.1 and 6.12 kernels that have both headers and an image.
for series in 6.1.0- 6.12.; do
	for d in /usr/src/linux-headers-"$series"*-amd64; do
		[ -d "$d" ] || continue
		r=${d#/usr/src/linux-headers-}
		case $r in *cloud*|*-rt-*) continue ;; esac
		[ -e "/boot/vmlinuz-$r" ] && echo "$r"
	done | sort -V | tail -n 1
done | xargs
