#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything cc_swiotlb builds and tests with on a Debian 12 host:
# the two Debian kernels we support (6.1 from bookworm, 6.12 from
# bookworm-backports) with their headers, QEMU, fio, bpftrace, DKMS, sparse,
# busybox for the guest's initramfs, and the pieces of linux-source that
# checkpatch needs.  Idempotent: it installs only what is missing.
#
# Usage: tools/install-deps.sh [--check] [--debug-kernel]
#   --check         exit 1 if anything is missing, install nothing
#   --debug-kernel  also what building make check-debug's guest kernel from
#                   linux-source needs (tools/debug-kernel.sh)
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
BPO=/etc/apt/sources.list.d/bookworm-backports.sources
PKGS="fio bpftrace dkms busybox-static sparse cpio
      kmod xz-utils zstd build-essential python3 python3-matplotlib
      linux-source-6.1 libelf-dev bc flex bison iproute2 netcat-openbsd
      iputils-ping shellcheck initramfs-tools e2fsprogs"
# QEMU from bookworm-backports (10.0): under deep queues, bookworm's 7.2
# NVMe model stops answering a queue's commands until the guest resets the
# controller, 60 s later (seen on the stock-swiotlb disk as on ours).  It
# has the shadow-doorbell support whose memory-ordering fixes came later.
BPO_PKGS="qemu-system-x86 qemu-utils qemu-system-data qemu-system-common"
QEMU_MIN=1:8
# Building a kernel (tools/debug-kernel.sh): on top of the above
DEBUG_PKGS="libssl-dev libelf-dev bc flex bison perl kmod xz-utils"

missing_pkgs() {
	local p
	for p in $PKGS; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			echo "$p"
	done
}

# Newest Debian release string for a kernel series that has both an image and
# headers in the archive, e.g. "6.12.57+deb12-amd64". The image must be a real
# package: for a day or two after a security upload, the headers and the
# unsigned image are in the archive while the signed image is only a name
# that other packages depend on, and "apt-cache show" of such a name prints
# nothing and still exits 0.
newest_release() {
	apt-cache search --names-only "^linux-headers-$1[.0-9+a-z-]*-amd64\$" |
		awk '{print $1}' | sed 's/^linux-headers-//' |
		grep -v -e cloud -e '-rt-' | sort -V |
		while read -r r; do
			if apt-cache show --no-all-versions "linux-image-$r" 2>/dev/null |
				grep -x "Package: linux-image-$r" >/dev/null; then
				echo "$r"
			fi
		done | tail -n 1
}

qemu_ok() {
	local v
	v=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null) &&
		dpkg --compare-versions "$v" ge "$QEMU_MIN"
}

installed_release() {
	# newest installed kernel of a series that has both headers and modules
	local d r
	for d in /usr/src/linux-headers-$1*-amd64; do
		[ -d "$d" ] || continue
		r=${d#/usr/src/linux-headers-}
		[ -e "/boot/vmlinuz-$r" ] && echo "$r"
	done | sort -V | tail -n 1
}

check_only=0
for a in "$@"; do
	case $a in
	--check) check_only=1 ;;
	--debug-kernel) PKGS="$PKGS $DEBUG_PKGS" ;;
	*) echo "install-deps: unknown option $a" >&2; exit 2 ;;
	esac
done

need=$(missing_pkgs)
k61=$(installed_release 6.1.0-)
k612=$(installed_release 6.12.)
qemu_new=1
qemu_ok || qemu_new=0
if [ -z "$need" ] && [ -n "$k61" ] && [ -n "$k612" ] && [ $qemu_new = 1 ] &&
	[ -e /usr/bin/checkpatch-cc ]; then
	exit 0
fi
if [ $check_only = 1 ]; then
	[ $qemu_new = 1 ] || need="$need qemu>=$QEMU_MIN"
	echo "missing: ${need:-} ${k61:-kernel-6.1} ${k612:-kernel-6.12}" | tr -s ' \n' ' '
	echo
	exit 1
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: must run as root (apt-get)" >&2
	exit 1
fi

if [ ! -e "$BPO" ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "install-deps: adding bookworm-backports apt source ($BPO)"
	cat >"$BPO" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

echo "install-deps: apt-get update"
apt-get update -q >/dev/null

kpkgs=""
if [ -z "$k61" ]; then
	r=$(newest_release 6.1.0-)
	[ -n "$r" ] || { echo "install-deps: no 6.1 kernel in the archive" >&2; exit 1; }
	kpkgs="$kpkgs linux-image-$r linux-headers-$r"
fi
if [ -z "$k612" ]; then
	r=$(newest_release 6.12.)
	[ -n "$r" ] || { echo "install-deps: no 6.12 kernel in bookworm-backports" >&2; exit 1; }
	kpkgs="$kpkgs linux-image-$r linux-headers-$r"
fi
need=$(missing_pkgs)
if [ -n "$need$kpkgs" ]; then
	echo "install-deps: installing" $need $kpkgs
	# The host never boots these kernels: skip initramfs and bootloader work.
	INITRD=No apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confdef $need $kpkgs >/dev/null
fi

if ! qemu_ok; then
	echo "install-deps: installing QEMU from bookworm-backports"
	apt-get install -y -q --no-install-recommends -t bookworm-backports \
		-o Dpkg::Options::=--force-confdef $BPO_PKGS >/dev/null
	qemu_ok || { echo "install-deps: QEMU >= $QEMU_MIN not installed" >&2; exit 1; }
fi

# checkpatch.pl and its data files, extracted once from Debian's linux-source.
if [ ! -e /usr/bin/checkpatch-cc ]; then
	src=$(ls /usr/src/linux-source-6.1.tar.xz)
	dst=/usr/share/cc_swiotlb-checkpatch
	mkdir -p "$dst"
	echo "install-deps: extracting checkpatch from $src"
	tar -C "$dst" --strip-components=2 -xJf "$src" \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	ln -sf "$dst/checkpatch.pl" /usr/bin/checkpatch-cc
fi
echo "install-deps: ok (kernels: $(installed_release 6.1.0-) $(installed_release 6.12.))"
