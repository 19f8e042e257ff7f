#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) and install the make check-debug guest kernel: Debian's 6.1
# linux-source, x86_64_defconfig plus tools/debug-kernel/ccsdebug.config
# (KASAN, lockdep, DMA_API_DEBUG, kmemleak, atomic-sleep checks, the drivers
# the guest harness needs as modules, big subsystems off).
#
# The build lives in /var/cache/cc-swiotlb/debug-kernel/<key>/, where <key>
# hashes the fragment, the linux-source package version and BUILD_REV below:
# outside any checkout, so make clean or a second worktree does not pay for
# it again, and rebuilt only when one of those changes.  Installed like a
# Debian kernel, so tests/vm/run --kver KVER and make module KVER=KVER work
# unchanged: /boot/vmlinuz-KVER, /boot/config-KVER, /lib/modules/KVER (with
# build -> the build tree).  KVER is <source version>-ccsdebug.
#
# Usage: tools/debug-kernel.sh [--kver]    (--kver: print KVER, build nothing)
# Output: progress on stderr, the last line on stdout is KVER.
# CCS_DEBUG_JOBS (default: the number of CPUs) sets make -j; the build always
# runs under nice -n 19 and ionice -c 3.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
FRAG=$TOP/tools/debug-kernel/ccsdebug.config
SRC_PKG=linux-source-6.1
TARBALL=/usr/src/linux-source-6.1.tar.xz
CACHE=${CCS_DEBUG_CACHE:-/var/cache/cc-swiotlb/debug-kernel}
# Bump to force a rebuild when the way the kernel is built changes.
BUILD_REV=1
JOBS=${CCS_DEBUG_JOBS:-$(nproc)}

log() { echo "debug-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

[ -r "$TARBALL" ] || die "$TARBALL missing (tools/install-deps.sh --debug-kernel)"
srcver=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null) || die "$SRC_PKG not installed"
key=$( { cat "$FRAG"; echo "$SRC_PKG $srcver rev $BUILD_REV"; } | sha256sum | cut -c1-16)
dir=$CACHE/$key
tree=$dir/linux

# KVER without building: the source's version plus the fragment's LOCALVERSION
kver_of_source() {
	local v lv
	v=$(tar -xJOf "$TARBALL" --wildcards --no-wildcards-match-slash '*/Makefile' 2>/dev/null |
		awk '$1 == "VERSION" {v=$3} $1 == "PATCHLEVEL" {p=$3} $1 == "SUBLEVEL" {s=$3}
		     $1 == "EXTRAVERSION" {e=$3} END {print v "." p "." s e}')
	lv=$(sed -n 's/^CONFIG_LOCALVERSION="\(.*\)"$/\1/p' "$FRAG")
	echo "$v$lv"
}

if [ "${1:-}" = --kver ]; then
	if [ -s "$dir/kver" ]; then cat "$dir/kver"; else kver_of_source; fi
	exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (installs to /boot and /lib/modules)"
mkdir -p "$CACHE"
# One build at a time (several worktrees may ask at once): wait for the lock.
exec 9>"$CACHE/.lock"
flock 9

installed() {
	local k
	[ -s "$dir/kver" ] || return 1
	k=$(cat "$dir/kver")
	[ -e "/boot/vmlinuz-$k" ] && [ -e "/lib/modules/$k/modules.dep" ] &&
		[ "$(readlink "/lib/modules/$k/build")" = "$tree" ] &&
		cmp -s "$tree/arch/x86/boot/bzImage" "/boot/vmlinuz-$k"
}

if [ -e "$dir/built" ] && installed; then
	log "cached: $(cat "$dir/kver") in $dir"
	cat "$dir/kver"
	exit 0
fi

for t in make gcc flex bison bc perl xz; do
	command -v "$t" >/dev/null || die "$t missing (tools/install-deps.sh --debug-kernel)"
done

t0=$(date +%s)
if [ ! -e "$dir/built" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	log "extracting $TARBALL ($SRC_PKG $srcver) into $dir"
	mkdir -p "$tree"
	tar -C "$tree" --strip-components=1 -xJf "$TARBALL"
	cp "$FRAG" "$dir/ccsdebug.config"
	cd "$tree"
	make -s x86_64_defconfig >/dev/null
	KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m -O . .config "$dir/ccsdebug.config" >"$dir/merge.log" 2>&1 ||
		{ cat "$dir/merge.log" >&2; die "merge_config failed"; }
	make -s olddefconfig
	# Every option of the fragment must have survived olddefconfig: a
	# dependency that is missing would silently drop a checker.
	bad=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) want=$line ;;
		"# CONFIG_"*" is not set") want=$line ;;
		*) continue ;;
		esac
		opt=${want#\# }
		opt=${opt%%[= ]*}
		got=$(grep -E "^(# )?${opt}[= ]" .config || echo "# $opt is not set")
		if [ "$got" != "$want" ]; then
			log "config: wanted '$want', got '$got'"
			bad=1
		fi
	done <"$dir/ccsdebug.config"
	[ $bad = 0 ] || die "the fragment does not apply to $SRC_PKG $srcver (see above)"
	log "building in $tree (nice -n 19 make -j$JOBS; 30-90 min on 2 CPUs)"
	if ! nice -n 19 ionice -c 3 make -j"$JOBS" bzImage modules >"$dir/build.log" 2>&1; then
		tail -n 40 "$dir/build.log" >&2
		die "kernel build failed (full log: $dir/build.log)"
	fi
	make -s kernelrelease >"$dir/kver"
	echo "$(( $(date +%s) - t0 ))" >"$dir/build-seconds"
	touch "$dir/built"
	log "built $(cat "$dir/kver") in $(( ($(date +%s) - t0) / 60 )) min"
fi

cd "$tree"
kver=$(cat "$dir/kver")
log "installing $kver: /boot/vmlinuz-$kver, /lib/modules/$kver"
# Other debug kernels (an older source or fragment) go away with their cache.
for old in /boot/vmlinuz-*-ccsdebug; do
	[ -e "$old" ] || continue
	k=${old#/boot/vmlinuz-}
	[ "$k" = "$kver" ] && continue
	rm -rf "/boot/vmlinuz-$k" "/boot/config-$k" "/boot/System.map-$k" "/lib/modules/$k"
done
for old in "$CACHE"/*/; do
	[ "${old%/}" = "$dir" ] || rm -rf "${old%/}"
done
rm -rf "/lib/modules/$kver"
make -s modules_install INSTALL_MOD_PATH= DEPMOD=/sbin/depmod >/dev/null
ln -sfn "$tree" "/lib/modules/$kver/build"
ln -sfn "$tree" "/lib/modules/$kver/source"
install -m 644 .config "/boot/config-$kver"
install -m 644 System.map "/boot/System.map-$kver"
install -m 644 arch/x86/boot/bzImage "/boot/vmlinuz-$kver"
installed || die "install of $kver incomplete"
log "ready: $kver (build took $(( $(cat "$dir/build-seconds") / 60 )) min)"
echo "$kver"
