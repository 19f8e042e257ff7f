# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# What in a kernel log fails a guest case: sourced by tests/vm/run (which
# judges the logs) and tests/vm/guest-run.sh (which looks at the boot log
# before the case starts).
#
# Lockdep splats, sleeping in atomic context and KASAN start with WARNING:
# or BUG:; the other patterns catch a checker that reports without a WARN or
# that switched itself off.  dma-debug prints its errors as WARNs prefixed
# DMA-API:; kmemleak reports only when asked (tests/vm/run reads its file).
# shellcheck disable=SC2034
CCS_BAD='WARNING:|BUG:|Oops|general protection fault|soft lockup|hard LOCKUP|rcu: INFO:|rcu_.* self-detected stall|detected stall|Kernel panic|KASAN:|UBSAN:|kernel BUG|Call Trace:|list_add corruption|list_del corruption|blocked for more than'
CCS_BAD+='|possible circular locking|inconsistent lock state|possible recursive locking|lock held when returning|suspicious RCU usage|INFO: trying to register non-static key|turning off the locking correctness validator|sleeping function called from invalid context|scheduling while atomic'
CCS_BAD+='|DMA-API:|kmemleak:'
# Informational lines of those checkers at boot
# shellcheck disable=SC2034
CCS_BENIGN='DMA-API: (preallocated [0-9]+ debug entries|debugging enabled by kernel config|dma_debug_entry pool grown to)|kmemleak: Kernel memory leak detector initialized|kmemleak: Automatic memory scanning thread'
