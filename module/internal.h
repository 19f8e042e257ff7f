/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared between the files of the cc_swiotlb module.  One file
 * per concern:
 *   main.c	init/exit order
 *   params.c	module parameters and their validation
 *   convert.c	private<->shared conversion, failure breaker, reboot stop
 *   pool.c	size classes, chunks, magazines, lookup (also built in userspace)
 *   kccd.c	the kthread that refills ahead of demand and reclaims
 *   shim.c	the struct dma_map_ops that bounces through the pool
 *   attach.c	which devices get the shim (bus notifier, exported API)
 *   debugfs.c	statistics
 *   debug.c	debug flavour only: test knobs, test_hold, pool_check
 *   verify.c	debug flavour only: test witness of the shared pages
 */
#ifndef _CC_SWIOTLB_INTERNAL_H
#define _CC_SWIOTLB_INTERNAL_H

#include <linux/types.h>
#include <linux/device.h>
#include "compat.h"
#include "pool.h"

#define CCS_NAME	"cc_swiotlb"

/* The one pool of the module, created by main.c before anything else. */
extern struct ccs_pool *ccs_pool;

/* params.c: validated values, read by the other files */
extern unsigned int ccs_max_pool_mb;
int ccs_params_validate(void);

/* kccd.c owns the pool's memory: it creates the pool, fills and drains it */
int ccs_pool_setup(void);
void ccs_pool_teardown(void);

/* convert.c */
int ccs_convert_init(void);
void ccs_convert_exit(void);

/* kccd.c */
int ccs_kccd_start(void);
void ccs_kccd_stop(void);
void ccs_kccd_kick(int cls);

/* attach.c */
int ccs_attach_init(void);
void ccs_attach_exit(void);

/* debugfs.c */
struct dentry;
extern struct dentry *ccs_debugfs_root;
void ccs_debugfs_init(void);
void ccs_debugfs_exit(void);

/* kccd/params/convert/debugfs */

/**
 * struct ccs_wm - watermarks of one class, in free slots
 * @low:	kccd refills when the class has fewer free slots than this
 * @high:	... up to this many; surplus above it is reclaimed after a delay
 */
struct ccs_wm {
	u32 low;
	u32 high;
};

/* params.c */
extern enum ccs_preset ccs_preset;
extern unsigned int ccs_reclaim_ms;
extern bool ccs_auto_tune;
extern struct ccs_wm ccs_wm_cfg[CCS_MAX_CLASSES];	/* configured */
u64 ccs_max_pool_bytes(void);
int ccs_params_resolve(struct ccs_pool *p);
void ccs_params_unresolve(void);

/* kccd.c */
extern struct ccs_wm ccs_wm_eff[CCS_MAX_CLASSES];	/* effective (auto-tuned) */
extern struct task_struct *ccs_kccd_task;
void ccs_kccd_note_exhaustion(int cls);
void ccs_kccd_set_configured(const struct ccs_wm *wm);
u64 ccs_shared_bytes(void);

/**
 * ccs_kccd_check() - wake kccd if class @cls fell under its low watermark
 * @cls:	class a slot was just taken from
 *
 * For the map path after every successful slot allocation: any context, no
 * locks, one approximate read and one compare in the common case.
 */
static inline void ccs_kccd_check(int cls)
{
	if (ccs_class_avail(ccs_pool, cls) < READ_ONCE(ccs_wm_eff[cls].low))
		ccs_kccd_kick(cls);
}

extern u32 ccs_surplus_at[CCS_MAX_CLASSES];
extern unsigned long ccs_surplus_armed;
void ccs_kccd_note_surplus(int cls);

/**
 * ccs_kccd_check_free() - tell kccd when class @cls may have a surplus
 * @cls:	class a slot was just freed into
 *
 * For the unmap path after every slot free: any context, no locks, one bit
 * test in the common case (kccd arms only the classes it has nothing
 * scheduled for).  Without it kccd only notices the end of a burst by
 * sampling while the class is busy.
 */
static inline void ccs_kccd_check_free(int cls)
{
	if (unlikely(test_bit(cls, &ccs_surplus_armed)) &&
	    ccs_class_avail(ccs_pool, cls) >= READ_ONCE(ccs_surplus_at[cls]))
		ccs_kccd_note_surplus(cls);
}

/**
 * struct ccs_kccd_class_stats - kccd's view of one class (debugfs)
 * @cfg:	configured watermarks
 * @eff:	effective watermarks (auto-tuned)
 * @exhaustions:	exhaustion events reported by the map path
 * @refills:	chunks added
 * @reclaims:	chunks given back
 * @donated:	chunks given back early for a class starving at the cap
 * @order_cap:	largest allocation order kccd currently tries
 */
struct ccs_kccd_class_stats {
	struct ccs_wm cfg;
	struct ccs_wm eff;
	u64 exhaustions;
	u64 refills;
	u64 reclaims;
	u64 donated;
	unsigned int order_cap;
};

/**
 * struct ccs_kccd_stats - kccd totals (debugfs)
 * @passes:	work passes run
 * @kicks:	wake-ups requested from the map path (not deduplicated)
 * @exhaustions:	exhaustion events, all classes
 * @refill_chunks:	chunks added
 * @reclaim_chunks:	chunks given back
 * @alloc_failures:	page allocations that failed (any order)
 * @order_fallbacks:	chunks allocated at a smaller order than preferred
 * @cap_hits:	refills stopped by max_pool_mb
 * @rebalance_chunks:	chunks of other classes given back at the cap for a
 *			class that needed memory (also in @reclaim_chunks)
 * @backoffs:	times kccd backed off after a failed conversion
 * @autotune_raises:	watermark raises after exhaustion
 * @autotune_decays:	watermark decays after a quiet period
 * @take_free_ns:	time spent taking chunks out of the pool (RCU waits)
 */
struct ccs_kccd_stats {
	u64 passes;
	u64 kicks;
	u64 exhaustions;
	u64 refill_chunks;
	u64 reclaim_chunks;
	u64 alloc_failures;
	u64 order_fallbacks;
	u64 cap_hits;
	u64 rebalance_chunks;
	u64 backoffs;
	u64 autotune_raises;
	u64 autotune_decays;
	u64 take_free_ns;
};

void ccs_kccd_get_stats(struct ccs_kccd_stats *st);
void ccs_kccd_get_class_stats(int cls, struct ccs_kccd_class_stats *st);
struct seq_file;
void ccs_kccd_show_leaks(struct seq_file *m);

/* convert.c: every private<->shared conversion of the module goes here */
int ccs_convert_decrypt(void *vaddr, unsigned int npages);
int ccs_convert_encrypt(void *vaddr, unsigned int npages);
void ccs_convert_leak(unsigned int npages);
void ccs_convert_set_sync_task(struct task_struct *t);
u64 ccs_convert_leaked_bytes(void);
bool ccs_convert_paused(void);
bool ccs_convert_failing(void);
void ccs_convert_debugfs_init(void);

/**
 * ccs_convert_untouched() - did a failed decrypt leave the pages private?
 * @err:	error from ccs_convert_decrypt()
 *
 * -EPERM (atomic context), -EAGAIN (failure breaker open), -ESHUTDOWN
 * (reboot or kexec under way) and -EBUSY (the kernel stopped conversions
 * for kexec) are returned before any page changed state: the caller frees
 * the pages.  Any other error leaves them in an unknown state: leaked.
 */
static inline bool ccs_convert_untouched(int err)
{
	return err == -EPERM || err == -EAGAIN || err == -ESHUTDOWN ||
	       err == -EBUSY;
}

/**
 * struct ccs_convert_stats - conversion accounting
 *
 * Invariant: pages_decrypted == pages_held + pages_reencrypted + pages_leaked.
 * pages_decrypted counts every page handed to set_memory_decrypted(), also
 * when the call failed: such pages are in an unknown state and are leaked.
 */
struct ccs_convert_stats {
	u64 decrypt_calls;
	u64 encrypt_calls;
	u64 pages_decrypted;
	u64 pages_reencrypted;
	u64 pages_held;
	u64 pages_leaked;
	u64 pages_leaked_decrypt;
	u64 pages_leaked_encrypt;
	u64 pages_leaked_inuse;
	u64 decrypt_failures;
	u64 encrypt_failures;
	u64 injected_failures;
	u64 convert_ns;
	u64 calls_kccd;
	u64 calls_sync;
	u64 calls_other;
	u64 calls_refused_atomic;
};

void ccs_convert_get_stats(struct ccs_convert_stats *st);

/* debugfs.c: other files may add lines to the "counters" file */
int ccs_debugfs_add_counters(void (*show)(struct seq_file *m));

/* debug flavour only: test knobs, witness (all no-ops in production) */
#include "debug.h"

/* shim/attach */

/**
 * struct ccs_dev_stats - per-CPU counters of one attached device
 * @maps:		streaming slots handed out (one per page/sg entry)
 * @unmaps:		streaming slots given back (also by map_sg unwinding)
 * @bytes:		bytes bounced in by map
 * @exhausted:		maps refused because the pool had no slot (back-pressure)
 * @errors:		refused or bogus requests: oversize, unreachable, unknown
 *			address on unmap/sync
 * @fallbacks:		maps served by a larger class than wanted
 * @syncs:		dma_sync_* calls that copied
 * @coherent_allocs:	coherent/page allocations handed out
 * @coherent_frees:	coherent/page allocations given back
 * @coherent_bytes:	bytes of coherent/page allocations handed out
 */
struct ccs_dev_stats {
	u64 maps;
	u64 unmaps;
	u64 bytes;
	u64 exhausted;
	u64 errors;
	u64 fallbacks;
	u64 syncs;
	u64 coherent_allocs;
	u64 coherent_frees;
	u64 coherent_bytes;
};

/**
 * enum ccs_dev_state - life of one struct ccs_dev
 * @CCS_DEV_ATTACHED:	dev->dma_ops is ours, maps and allocations served
 * @CCS_DEV_DRAINING:	the driver unbound with coherent allocations
 *			outstanding: ops kept until they are freed, new
 *			requests still served (a driver may bind again)
 * @CCS_DEV_DETACHING:	a detach is checking for outstanding I/O: new maps
 *			and allocations fail (as for an exhausted pool), frees
 *			and unmaps are served; back to the previous state if
 *			the detach is refused
 * @CCS_DEV_LEAKED:	detached with mappings outstanding (driver bug):
 *			old ops restored, slots kept, the struct stays in the
 *			table for ever and pins the module
 * @CCS_DEV_DETACHED:	old ops restored, off the table, freed after Tasks RCU
 *			and RCU grace periods (attach.c)
 */
enum ccs_dev_state {
	CCS_DEV_ATTACHED,
	CCS_DEV_DRAINING,
	CCS_DEV_DETACHING,
	CCS_DEV_LEAKED,
	CCS_DEV_DETACHED,
};

/**
 * struct ccs_dev - one device attached to the shim
 * @ops:	per-device copy of ccs_shim_ops, written once at allocation;
 *		dev->dma_ops points here, so the map path finds this struct
 *		with container_of() (O(1), no lock, no table lookup)
 * @coherent_tag: its address is the slot owner of coherent allocations, so
 *		they are told apart from streaming mappings of the same device
 * @dev:	the device (reference held while attached); the shim checks
 *		it, so a child device that copied our ops is refused
 * @prev_ops:	dma_ops the device had before attach, restored on detach
 * @stats:	per-CPU counters
 * @node:	entry in the attach table (ccs_attach_lock)
 * @rcu:	the shim reads this struct under rcu_read_lock(), so it is
 *		freed only after a grace period
 * @state:	enum ccs_dev_state, written under ccs_attach_lock, read
 *		locklessly by the shim (READ_ONCE)
 * @by_api:	attached by cc_swiotlb_attach() rather than the bus notifier
 */
struct ccs_dev {
	const struct dma_map_ops ops;
	u8 coherent_tag;
	struct device *dev;
	const struct dma_map_ops *prev_ops;
	struct ccs_dev_stats __percpu *stats;
	struct list_head node;
	struct rcu_head rcu;
	enum ccs_dev_state state;
	bool by_api;
};

/* shim.c */
extern const struct dma_map_ops ccs_shim_ops;
bool ccs_shim_mask_ok(struct device *dev, u64 mask);
phys_addr_t ccs_shim_max_phys(void);
void ccs_dev_stats_sum(const struct ccs_dev *cd, struct ccs_dev_stats *sum);
void ccs_shim_flush(void);
void ccs_shim_counters(struct seq_file *m);

/* attach.c */
void ccs_attach_note_drained(void);

#endif /* _CC_SWIOTLB_INTERNAL_H */
