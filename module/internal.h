/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared between the files of the cc_swiotlb module.  One file
 * per concern:
 *   main.c	init/exit order
 *   params.c	module parameters and their validation
 *   convert.c	private<->shared conversion, failure breaker, reboot stop
 *   pool.c	the arena, size classes carved from it, magazines, lookup
 *		(also built in userspace)
 *   kccd.c	the kthread at the arena's edge: grows it ahead of demand,
 *		gives surplus back
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
void ccs_attach_check_stalls(bool at_cap, u64 cap);
extern atomic64_t ccs_stall_reports;

/* debugfs.c */
struct dentry;
extern struct dentry *ccs_debugfs_root;
void ccs_debugfs_init(void);
void ccs_debugfs_exit(void);

/* params.c */
extern enum ccs_preset ccs_preset;
extern unsigned int ccs_reclaim_ms;
extern u64 ccs_wm_low;		/* configured watermarks, arena free bytes */
extern u64 ccs_wm_high;
u64 ccs_max_pool_bytes(void);
void ccs_params_resolve(struct ccs_pool *p);
void ccs_params_unresolve(void);

/* kccd.c */
extern struct task_struct *ccs_kccd_task;
extern u64 ccs_kccd_low_bytes;	/* effective low watermark, bytes */
void ccs_kccd_note_exhaustion(int cls);
void ccs_kccd_set_watermarks(void);
u64 ccs_shared_bytes(void);
u64 ccs_kccd_class_exhaustions(int cls);

/**
 * ccs_kccd_check() - wake kccd if the arena's free bytes fell under low
 * @cls:	class a slot was just taken from (informational)
 *
 * Free means the bytes no class has carved: slots cached by one class are
 * no use to another that needs a new slab.  Mapped bytes are slots of
 * carved slabs, so this also covers held - mapped.  For the map path
 * after every successful slot allocation: any context, no locks, one read
 * and one compare in the common case.
 */
static inline void ccs_kccd_check(int cls)
{
	if (ccs_pool_uncarved_bytes(ccs_pool) < READ_ONCE(ccs_kccd_low_bytes))
		ccs_kccd_kick(cls);
}

/**
 * struct ccs_kccd_stats - kccd totals (debugfs)
 * @passes:	work passes run
 * @kicks:	wake-ups requested from the map path (not deduplicated)
 * @exhaustions:	mappings that found no memory, all classes
 * @refill_units:	units added to the arena (one decrypt call each)
 * @reclaim_units:	units taken back (one encrypt call each)
 * @alloc_failures:	page allocations that failed (any order)
 * @order_fallbacks:	units smaller than 2 MiB
 * @cap_hits:	growth stopped by max_pool_mb
 * @backoffs:	times kccd backed off after a failed allocation or conversion
 * @take_free_ns:	time spent taking units out of the pool
 * @low:	effective low watermark (bytes), last pass
 * @high:	effective high watermark (bytes), last pass
 * @demand:	peak mapped bytes over the demand window, last pass
 * @watermark_changes:	times @low or @high changed (tracepoint events)
 * @idle_drains:	classes whose cached slots kccd flushed after a window
 *		without an allocation
 * @cache_flushes:	flushes of every class's cached slots before growing
 * @surplus_ms:	how long kccd has seen a surplus, as of its last pass (0:
 *		none); units go back once it reaches reclaim_ms
 */
struct ccs_kccd_stats {
	u64 passes;
	u64 kicks;
	u64 exhaustions;
	u64 refill_units;
	u64 reclaim_units;
	u64 alloc_failures;
	u64 order_fallbacks;
	u64 cap_hits;
	u64 backoffs;
	u64 take_free_ns;
	u64 low;
	u64 high;
	u64 demand;
	u64 watermark_changes;
	u64 idle_drains;
	u64 cache_flushes;
	u64 surplus_ms;
};

void ccs_kccd_get_stats(struct ccs_kccd_stats *st);
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
 * @decrypt_calls:	set_memory_decrypted() calls (debugfs name kept: scripts
 *			read it)
 * @encrypt_calls:	set_memory_encrypted() calls (name kept likewise)
 * @pages_decrypted:	pages handed to set_memory_decrypted()
 * @pages_reencrypted:	pages made private again
 * @pages_held:		pages shared now
 * @pages_leaked:	pages never given back to the kernel (sum of the three
 *			below)
 * @pages_leaked_decrypt: of them, pages of a failed decrypt call
 * @pages_leaked_encrypt: of them, pages of a failed encrypt call
 * @pages_leaked_inuse:	of them, pages still in use by a device at unload
 * @decrypt_failures:	decrypt calls that failed
 * @encrypt_failures:	encrypt calls that failed
 * @injected_failures:	of the failures, those injected (debug flavour)
 * @convert_ns:		time spent in conversion calls
 * @calls_kccd:		calls made by kccd
 * @calls_sync:		calls made at load or unload
 * @calls_other:	calls made anywhere else (the tests assert none)
 * @calls_refused_atomic: calls refused because the caller could not sleep
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
 * @held:		bytes of streaming slots held now (slot sizes: added by
 *			map, taken off by unmap; only the sum over CPUs means
 *			anything)
 * @exhausted:		maps refused because the pool had no slot (back-pressure)
 * @errors:		refused or bogus requests: oversize, unreachable, unknown
 *			address on unmap/sync
 * @fallbacks:		maps served by a larger class than wanted
 * @syncs:		dma_sync_* calls that copied
 * @coherent_allocs:	coherent/page allocations handed out
 * @coherent_frees:	coherent/page allocations given back
 * @coherent_bytes:	bytes of coherent/page allocations handed out
 * @refused_orig:	not a counter: original address of the last map this
 *			CPU refused for want of a slot
 * @refused_size:	not a counter: its size
 * @stall_exh:		ccs_attach_check_stalls() only: @exhausted,
 * @stall_orig:		@refused_orig and
 * @stall_size:		@refused_size at its last check
 */
struct ccs_dev_stats {
	u64 maps;
	u64 unmaps;
	u64 bytes;
	u64 held;
	u64 exhausted;
	u64 errors;
	u64 fallbacks;
	u64 syncs;
	u64 coherent_allocs;
	u64 coherent_frees;
	u64 coherent_bytes;
	u64 refused_orig;
	u64 refused_size;
	u64 stall_exh;
	u64 stall_orig;
	u64 stall_size;
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
 * @rcu:	the shim reads this struct under rcu_read_lock_sched(), so
 *		it is freed only after a grace period
 * @state:	enum ccs_dev_state, written under ccs_attach_lock, read
 *		locklessly by the shim (READ_ONCE)
 * @by_api:	attached by cc_swiotlb_attach() rather than the bus notifier
 * @mask_flags:	CCS_MASK_CHECKED once the first request found both masks
 *		reaching the pool; CCS_MASK_STOCK once the device was handed
 *		back to its previous ops because one did not (mask.c)
 * @stall_checks: ccs_attach_check_stalls(), under ccs_attach_lock:
 *		consecutive checks at the cap at which a CPU had refused
 *		the same map again (reported when it reaches
 *		CCS_STALL_CHECKS)
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
	unsigned long mask_flags;
	u32 stall_checks;
};

#define CCS_MASK_CHECKED	0
#define CCS_MASK_STOCK		1

/* mask.c */
bool ccs_mask_first_use(struct ccs_dev *cd, struct device *dev);
int ccs_dma_supported(struct device *dev, u64 mask);

/**
 * ccs_mask_unchecked() - is this the device's first request?
 * @cd:	attached device
 *
 * For the map and alloc entry points: one bit test once the first request
 * passed.
 */
static inline bool ccs_mask_unchecked(const struct ccs_dev *cd)
{
	return unlikely(!test_bit(CCS_MASK_CHECKED, &cd->mask_flags));
}

/* shim.c */
extern const struct dma_map_ops ccs_shim_ops;
bool ccs_shim_mask_ok(struct device *dev, u64 mask);
phys_addr_t ccs_shim_max_phys(void);
void ccs_dev_stats_sum(const struct ccs_dev *cd, struct ccs_dev_stats *sum);
bool ccs_shim_within_share(const void *owner);
void ccs_shim_flush(void);
void ccs_shim_counters(struct seq_file *m);

/* attach.c */
void ccs_attach_note_drained(void);
void ccs_attach_child_bind(struct device *dev, struct device *owner);

/* attach_virtio.c */
int ccs_virtio_init(void);
void ccs_virtio_exit(void);
bool ccs_virtio_parent(struct device *dev);

#endif /* _CC_SWIOTLB_INTERNAL_H */
