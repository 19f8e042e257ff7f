# SPDX-License-Identifier: GPL-2.0
#
# cc_swiotlb — see README.md.  The two commands a new machine needs:
#   make demo     install what is missing, build, boot a guest, bounce NVMe under fio
#   make check    every test: unit, fuzz, sparse + W=1, style, DKMS, guest cases
#
# KVER selects the kernel to build for: default is the running kernel if it
# has a build tree, else the newest installed Debian headers.

SHELL := /bin/bash
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VERSION := $(shell cat $(TOP)/VERSION)

newest_kver = $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | \
	sed 's|/usr/src/linux-headers-||' | grep -v -e cloud -e '-rt-' | sort -V | tail -n 1)
ifeq ($(origin KVER),undefined)
KVER := $(shell [ -d /lib/modules/$$(uname -r)/build ] && uname -r)
ifeq ($(KVER),)
KVER := $(newest_kver)
endif
endif
KDIR ?= $(if $(wildcard /lib/modules/$(KVER)/build),/lib/modules/$(KVER)/build,/usr/src/linux-headers-$(KVER))
# Every Debian kernel we support (one of each series installed by make deps)
KVERS ?= $(shell tools/kvers.sh)
O_KO := build/$(KVER)
# The project's builds carry W=1 warnings (style: clean under W=1), so that
# the same flags build the same objects: make check's later builds reuse
# the sparse step's instead of compiling both flavours again (about 70 s).
W ?= 1

.PHONY: all module module-debug clean deps sparse style unit bench-user fuzz fuzz-check build-matrix \
	vmtest check check-debug demo install dkms-install dkms-test bench help harness-selftest

all: module

help:
	@sed -n '3,9p' Makefile

deps:
	@tools/install-deps.sh

# Build out of a per-kernel copy of the sources so that both kernels' objects
# can coexist and the source tree stays clean.
module:
	@test -n "$(KVER)" -a -d "$(KDIR)" || { echo "no kernel build tree for KVER='$(KVER)' (make deps installs them)"; exit 1; }
	@mkdir -p $(O_KO)
	@cp -a -u Kbuild VERSION module include $(O_KO)/
	@# drop sources that were removed or renamed since the last copy
	@cd $(O_KO) && find module include -name '*.[ch]' | while read -r f; do \
		[ -e "$(TOP)/$$f" ] || rm -f "$$f"; done
	$(MAKE) -C $(KDIR) M=$(TOP)/$(O_KO) W=$(W) C=$(C) $(if $(CCS_DEBUG),CONFIG_CC_SWIOTLB_DEBUG=y) modules
	@echo "built $(O_KO)/cc_swiotlb.ko for $(KVER)$(if $(CCS_DEBUG), (debug flavour))"

# The debug flavour, for the guest cases that need test knobs (fault
# injection, emulated conversion cost, test_hold, pool_check, the witness):
# build/KVER-debug/cc_swiotlb.ko.  Never installed: make install, DKMS and
# the production cases use the module above, which has none of it.
module-debug:
	@$(MAKE) --no-print-directory module KVER=$(KVER) O_KO=build/$(KVER)-debug CCS_DEBUG=y

# Both flavours on every kernel: production (module) and debug (module-debug)
sparse:
	@mkdir -p build; for k in $(KVERS); do for f in module module-debug; do \
		echo "== sparse $$k $$f"; \
		$(MAKE) --no-print-directory $$f KVER=$$k C=2 W=1 2>&1 | tee build/sparse-$$k-$$f.log | grep -v -e '^  ' -e '^make' -e '^built' ; \
		! grep -E '(warning|error):' build/sparse-$$k-$$f.log || { echo "sparse/W=1 warnings on $$k ($$f)"; exit 1; }; \
	done; tools/flavour-check.sh build/$$k/cc_swiotlb.ko build/$$k-debug/cc_swiotlb.ko || exit 1; \
	done; echo "sparse: clean on $(KVERS), production and debug"

build-matrix:
	@mkdir -p build; for k in $(KVERS); do for f in module module-debug; do \
		echo "== build W=1 $$k $$f"; \
		$(MAKE) --no-print-directory $$f KVER=$$k W=1 > build/w1-$$k-$$f.log 2>&1 || { cat build/w1-$$k-$$f.log; exit 1; }; \
		! grep -E '(warning|error):' build/w1-$$k-$$f.log || { echo "W=1 warnings on $$k ($$f)"; exit 1; }; \
	done; done; echo "build-matrix: W=1 clean on $(KVERS), production and debug"

style:
	@tools/style.sh

unit:
	@$(MAKE) --no-print-directory -C tests/unit check

bench-user:
	@$(MAKE) --no-print-directory -C tests/unit bench

fuzz:
	@$(MAKE) --no-print-directory -C tests/unit fuzz

# make check's bounded fuzzing step (FUZZ_CHECK_SECONDS, default 60)
fuzz-check:
	@$(MAKE) --no-print-directory -C tests/unit fuzz-check

# make vmtest T=<case> [KVER=...]: one case on one kernel.
# make vmtest: every case on every kernel, with a pass/fail table.
vmtest:
	@tools/install-deps.sh --check >/dev/null || tools/install-deps.sh
	@if [ -n "$(T)" ]; then \
		$(MAKE) --no-print-directory module KVER=$(KVER) >/dev/null && \
		$(MAKE) --no-print-directory -C tests/vm/semantics KVER=$(KVER) >/dev/null && \
		tests/vm/run --kver $(KVER) $(T); \
	else \
		tests/vm/run-all $(KVERS); \
	fi

dkms-test:
	@tests/dkms/test.sh $(KVERS)

# The harness's negative controls: one boot of deliberately broken cases
# (tests/vm/selftest), each of which must be judged failed.  Part of check.
harness-selftest:
	@tests/vm/selftest/harness-selftest $(if $(filter command line,$(origin KVER)),$(KVER))

check:
	@tools/check.sh

# Every guest case on a KASAN/lockdep/DMA_API_DEBUG/kmemleak build of Debian's
# 6.1 kernel (built once, cached in /var/cache/cc-swiotlb): not part of check.
check-debug:
	@tools/check-debug.sh

demo:
	@tools/demo.sh $(KVER)

bench:
	@tools/bench.sh

install: module
	install -D -m 644 $(O_KO)/cc_swiotlb.ko /lib/modules/$(KVER)/updates/cc_swiotlb.ko
	depmod -a $(KVER)

dkms-install:
	rm -rf /usr/src/cc_swiotlb-$(VERSION)
	mkdir -p /usr/src/cc_swiotlb-$(VERSION)
	cp -r Kbuild VERSION dkms.conf module include /usr/src/cc_swiotlb-$(VERSION)/
	sed 's/@VERSION@/$(VERSION)/' dkms.conf > /usr/src/cc_swiotlb-$(VERSION)/dkms.conf
	@echo "sources in /usr/src/cc_swiotlb-$(VERSION): dkms add/build/install cc_swiotlb/$(VERSION)"

clean:
	rm -rf build
	@$(MAKE) --no-print-directory -C tests/unit clean 2>/dev/null || true
