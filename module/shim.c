// SPDX-License-Identifier: GPL-2.0
/*
 * The struct dma_map_ops that attached devices use: every streaming mapping
 * is bounced through a slot of the pool, coherent memory comes from the
 * pool's page-sized classes (or, for large or sleeping requests, straight
 * from the page allocator, converted to shared).
 *
 * The semantics follow kernel/dma/swiotlb.c so that a driver cannot tell the
 * difference:
 *  - map copies the original into the slot for every direction, so a device
 *    that writes less than it was given cannot expose stale slot contents;
 *  - unmap and sync-for-cpu copy back for FROM_DEVICE/BIDIRECTIONAL, unless
 *    DMA_ATTR_SKIP_CPU_SYNC; sync-for-device copies in for
 *    TO_DEVICE/BIDIRECTIONAL; syncs may cover part of a mapping;
 *  - dma_get_min_align_mask() bits of the original survive in the bounce
 *    address (the pool places the mapping at that offset in the slot);
 *  - shared memory is only ever read by one memcpy into the original: the
 *    host may change it at any time, so nothing is decided from its content.
 *
 * Nothing here allocates, sleeps or takes a lock on the map/unmap/sync path:
 * the device's struct ccs_dev is found with container_of() on dev->dma_ops
 * (checked to belong to the device), the slot with the pool's O(1) lookup,
 * and the counters are per-CPU.  A map that finds no slot returns
 * DMA_MAPPING_ERROR (map_page) or -ENOMEM (map_sg); block drivers turn that
 * into BLK_STS_RESOURCE, a requeue.
 *
 * Every entry point runs inside rcu_read_lock_sched(), not rcu_read_lock():
 * with preemption off, synchronize_rcu() and call_rcu() wait for it all the
 * same (one RCU flavour since 4.20), and it is two inline per-CPU
 * instructions where rcu_read_lock() under CONFIG_PREEMPT_RCU (both Debian
 * kernels) is two out-of-line calls.  Nothing in it may sleep, as before;
 * what may (converting pages for a large coherent allocation) runs outside.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-map-ops.h>
#include <linux/dma-direct.h>
#include <linux/scatterlist.h>
#include <linux/mm.h>
#include <linux/gfp.h>
#include <linux/percpu.h>
#include <linux/string.h>
#include <linux/workqueue.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <linux/atomic.h>
#include <linux/seq_file.h>
#include "internal.h"
#include <trace/events/cc_swiotlb.h>

static atomic64_t ccs_foreign_dev_calls = ATOMIC64_INIT(0);
static atomic64_t ccs_late_calls = ATOMIC64_INIT(0);

static dma_addr_t ccs_map_page(struct device *dev, struct page *page,
			       unsigned long offset, size_t size,
			       enum dma_data_direction dir, unsigned long attrs);

/*
 * The state of @dev, from its dma_ops, or NULL for a call the shim must
 * refuse.  Caller holds rcu_read_lock_sched(): struct ccs_dev is freed only
 * after a grace period.  Two cases are refused:
 *  - dev->dma_ops are no longer ours: the DMA API loaded them before a
 *    detach restored the old ones and called us after it.  The detach saw
 *    nothing outstanding, so this can only be a new map or allocation:
 *    it fails like an exhausted pool, and is counted (late_calls);
 *  - they are the copy of another device's state (a child device that
 *    inherited its parent's ops): never served with the other device's
 *    state, counted (foreign_device_calls) and warned about.
 */
static noinline void ccs_dev_foreign(struct device *dev)
{
	atomic64_inc(&ccs_foreign_dev_calls);
	dev_warn_ratelimited(dev, CCS_NAME ": DMA call through dma_ops attached to another device: refused\n");
}

/* Inline: every DMA call of an attached device starts here. */
static __always_inline struct ccs_dev *ccs_dev_get(struct device *dev)
{
	const struct dma_map_ops *ops = READ_ONCE(dev->dma_ops);
	struct ccs_dev *cd;

	if (unlikely(!ops || ops->map_page != ccs_map_page)) {
		atomic64_inc(&ccs_late_calls);
		return NULL;
	}
	cd = container_of(ops, struct ccs_dev, ops);
	if (likely(cd->dev == dev))
		return cd;
	ccs_dev_foreign(dev);
	return NULL;
}

/* May @cd take new mappings and allocations? */
static bool ccs_dev_open(struct ccs_dev *cd)
{
	enum ccs_dev_state st = READ_ONCE(cd->state);

	return st == CCS_DEV_ATTACHED || st == CCS_DEV_DRAINING;
}

/**
 * ccs_shim_max_phys() - highest physical address pool memory can have
 *
 * Pool chunks and large coherent allocations come from the page allocator
 * with no zone restriction, so anything up to the end of RAM (including
 * memory hot-added since boot, which moves high_memory) is possible.
 */
phys_addr_t ccs_shim_max_phys(void)
{
	return __pa(high_memory - 1);
}

/**
 * ccs_shim_mask_ok() - can a device with DMA mask @mask reach the pool?
 * @dev:	device (its bus_dma_limit and DMA offsets are applied)
 * @mask:	DMA mask to check
 */
bool ccs_shim_mask_ok(struct device *dev, u64 mask)
{
	u64 limit = min_not_zero(mask, dev->bus_dma_limit);

	return phys_to_dma_unencrypted(dev, ccs_shim_max_phys()) <= limit;
}

/**
 * ccs_dev_stats_sum() - add up the per-CPU counters of one device
 * @cd:		attached device
 * @sum:	result
 *
 * Exact when the device is quiescent (detach); a consistent-enough snapshot
 * otherwise.
 */
void ccs_dev_stats_sum(const struct ccs_dev *cd, struct ccs_dev_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct ccs_dev_stats *s = per_cpu_ptr(cd->stats, cpu);

		sum->maps += READ_ONCE(s->maps);
		sum->unmaps += READ_ONCE(s->unmaps);
		sum->bytes += READ_ONCE(s->bytes);
		sum->held += READ_ONCE(s->held);
		sum->exhausted += READ_ONCE(s->exhausted);
		sum->errors += READ_ONCE(s->errors);
		sum->fallbacks += READ_ONCE(s->fallbacks);
		sum->syncs += READ_ONCE(s->syncs);
		sum->coherent_allocs += READ_ONCE(s->coherent_allocs);
		sum->coherent_frees += READ_ONCE(s->coherent_frees);
		sum->coherent_bytes += READ_ONCE(s->coherent_bytes);
	}
}

/**
 * ccs_shim_within_share() - may @owner's small mappings take the reserve?
 * @owner:	owner passed to ccs_slot_alloc(): an attached device, or (debug
 *		flavour) test_hold
 *
 * The pool's reserve gate (ccs_pool_set_reserve_gate()).  A device that
 * holds more than half of the arena in streaming slots is the burst the
 * small reserve is kept from: its small mappings, like its large ones, must
 * leave the reserve to the other devices (a NIC beside a disk at the cap),
 * or a disk whose requests are mapped page by page takes it all.  While no
 * other owner holds a streaming slot there is nobody to keep it for, and
 * the device may take it.  Adds up the device's per-CPU counters:
 * O(possible CPUs), paid only by a carve that reaches into the reserve.
 */
bool ccs_shim_within_share(const void *owner)
{
	const struct ccs_dev *cd = owner;
	u64 mapped = ccs_pool_mapped_bytes(ccs_pool), held = 0, own;
	int cpu;

	if (!ccs_debug_hold_bytes(owner, &held))
		for_each_possible_cpu(cpu)
			held += READ_ONCE(per_cpu_ptr(cd->stats, cpu)->held);
	own = ccs_pool_lasting_bytes(ccs_pool) + held;
	return mapped <= own || held <= ccs_pool_held_bytes(ccs_pool) / 2;
}

/* Is [dma, dma + size) reachable under @mask and the bus limit? */
static bool ccs_reachable(struct device *dev, dma_addr_t dma, size_t size,
			  u64 mask)
{
	return dma + size - 1 <= min_not_zero(mask, dev->bus_dma_limit);
}

/*
 * Bounce one physically contiguous range.  Returns the DMA address or
 * DMA_MAPPING_ERROR with *err set to what map_sg must return: -ENOMEM for
 * plain exhaustion (the caller retries later), -EINVAL for requests no slot
 * can ever hold, -EIO when the device cannot reach the slot.
 */
static __always_inline dma_addr_t ccs_map_phys(struct ccs_dev *cd,
					       struct device *dev,
					       phys_addr_t orig, size_t size,
					       enum dma_data_direction dir,
					       unsigned long attrs, int *err)
{
	unsigned int min_align_mask = dma_get_min_align_mask(dev);
	struct ccs_slot *slot;
	bool fallback = false;
	dma_addr_t dma;
	int cls = -EINVAL;

	if (unlikely(!size || !valid_dma_direction(dir))) {
		dev_warn_ratelimited(dev, CCS_NAME ": mapping of %zu bytes, direction %d refused\n",
				     size, dir);
		trace_cc_swiotlb_map_fail(dev, size, 0, size ? CCS_FAIL_BAD_DIR :
					  CCS_FAIL_ZERO_LENGTH);
		this_cpu_inc(cd->stats->errors);
		*err = -EINVAL;
		return DMA_MAPPING_ERROR;
	}

	if (unlikely(!ccs_dev_open(cd))) {
		/* a detach is looking for I/O in flight: back-pressure */
		this_cpu_inc(cd->stats->exhausted);
		*err = -ENOMEM;
		return DMA_MAPPING_ERROR;
	}
	/*
	 * Counted before the slot is taken, inside the caller's RCU read
	 * section: a detach that saw the device open waits for this section
	 * to end, so its idle check sees every mapping in flight.
	 */
	this_cpu_inc(cd->stats->maps);
	slot = ccs_slot_alloc(ccs_pool, orig, size, min_align_mask, 0, cd,
			      &cls, &fallback);
	if (unlikely(!slot)) {
		this_cpu_dec(cd->stats->maps);
		if (cls < 0) {
			/* The driver ignored dma_max_mapping_size(). */
			dev_warn_ratelimited(dev, CCS_NAME ": mapping of %zu bytes (min_align_mask %#x) is larger than any slot (max %zu)\n",
					     size, min_align_mask,
					     dma_max_mapping_size(dev));
			trace_cc_swiotlb_map_fail(dev, size, 0,
						  CCS_FAIL_OVERSIZE);
			this_cpu_inc(cd->stats->errors);
			*err = -EINVAL;
			return DMA_MAPPING_ERROR;
		}
		/*
		 * Normal back-pressure: count it, tell kccd (which grows the
		 * arena at once) and let the caller requeue.  No warning:
		 * under load this is expected and a log line per request
		 * would be the real problem.
		 */
		this_cpu_inc(cd->stats->exhausted);
		this_cpu_write(cd->stats->refused_orig, orig);
		this_cpu_write(cd->stats->refused_size, size);
		trace_cc_swiotlb_map_fail(dev, size,
					  ccs_class_slot_size(ccs_pool, cls),
					  CCS_FAIL_EXHAUSTED);
		ccs_kccd_note_exhaustion(cls);	/* also wakes kccd */
		*err = -ENOMEM;
		return DMA_MAPPING_ERROR;
	}
	ccs_kccd_check(cls);

	dma = phys_to_dma_unencrypted(dev, ccs_slot_phys(slot));
	if (unlikely(!ccs_reachable(dev, dma, size, *dev->dma_mask))) {
		dev_warn_ratelimited(dev, CCS_NAME ": bounce address %pad+%zu beyond DMA mask %llx / bus limit %llx\n",
				     &dma, size, *dev->dma_mask,
				     dev->bus_dma_limit);
		ccs_slot_free(ccs_pool, slot);
		this_cpu_dec(cd->stats->maps);
		trace_cc_swiotlb_map_fail(dev, size, 0, CCS_FAIL_UNREACHABLE);
		this_cpu_inc(cd->stats->errors);
		*err = -EIO;
		return DMA_MAPPING_ERROR;
	}

	ccs_debug_verify_mapping(dev, dma, size);	/* debug flavour */

	/*
	 * Copy in for every direction, DMA_ATTR_SKIP_CPU_SYNC included, like
	 * swiotlb_tbl_map_single(): for DMA_FROM_DEVICE this is what keeps a
	 * short device write from returning the slot's previous contents.
	 */
	memcpy(ccs_slot_vaddr(slot), phys_to_virt(orig), size);

	if (fallback) {
		this_cpu_inc(cd->stats->fallbacks);
		trace_cc_swiotlb_fallback(dev, size,
					  ccs_class_slot_size(ccs_pool, cls),
					  ccs_class_slot_size(ccs_pool,
							      ccs_slot_class(slot)));
	}
	trace_cc_swiotlb_map(dev, dma, orig, size, ccs_slot_bytes(slot), dir);
	this_cpu_add(cd->stats->bytes, size);
	this_cpu_add(cd->stats->held, ccs_slot_bytes(slot));
	return dma;
}

/*
 * Find the streaming slot @dma points into and check that it belongs to this
 * device.  Returns the slot and, in *off, the offset of @dma inside the
 * mapping; NULL for anything that is not a live streaming mapping of @cd.
 */
static __always_inline struct ccs_slot *ccs_find(struct ccs_dev *cd,
						 struct device *dev,
						 dma_addr_t dma, size_t *off)
{
	phys_addr_t phys = dma_to_phys(dev, dma);
	struct ccs_slot *slot = ccs_slot_lookup(ccs_pool, phys);

	if (!slot || slot->owner != cd)
		return NULL;
	*off = phys - ccs_slot_phys(slot);
	return slot;
}

static __always_inline void ccs_unmap_phys(struct ccs_dev *cd,
					   struct device *dev, dma_addr_t dma,
					   size_t size,
					   enum dma_data_direction dir,
					   unsigned long attrs)
{
	struct ccs_slot *slot;
	size_t off;

	slot = ccs_find(cd, dev, dma, &off);
	if (unlikely(!slot || off)) {
		dev_warn_ratelimited(dev, CCS_NAME ": unmap of %pad (%zu bytes), which is not a mapping of this device\n",
				     &dma, size);
		this_cpu_inc(cd->stats->errors);
		return;
	}
	if (unlikely(size != slot->size))
		dev_warn_ratelimited(dev, CCS_NAME ": unmap of %pad with size %zu, mapped with %u\n",
				     &dma, size, slot->size);

	/*
	 * Copy back what was mapped (slot->size, private metadata), not what
	 * the caller claims: never more than the original buffer.
	 */
	if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) &&
	    (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL))
		memcpy(phys_to_virt(slot->orig), ccs_slot_vaddr(slot),
		       slot->size);

	trace_cc_swiotlb_unmap(dev, dma, slot->orig, slot->size,
			       ccs_slot_bytes(slot), dir);
	this_cpu_sub(cd->stats->held, ccs_slot_bytes(slot));
	ccs_slot_free(ccs_pool, slot);
	this_cpu_inc(cd->stats->unmaps);
}

static void __ccs_sync(struct ccs_dev *cd, struct device *dev, dma_addr_t dma,
		       size_t size, enum dma_data_direction dir, bool for_cpu)
{
	phys_addr_t phys = dma_to_phys(dev, dma);
	struct ccs_slot *slot = ccs_slot_lookup(ccs_pool, phys);
	size_t off;

	/*
	 * dma_alloc_pages() memory is shared already, there is nothing to
	 * copy: from the pool it is a slot tagged coherent, beyond the largest
	 * slot it comes from the page allocator and is no slot at all.
	 */
	if (!slot || slot->owner == &cd->coherent_tag)
		return;
	if (unlikely(slot->owner != cd))
		goto bogus;
	off = phys - ccs_slot_phys(slot);
	if (unlikely(off > slot->size || size > slot->size - off))
		goto bogus;

	if (for_cpu) {
		if (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL) {
			memcpy(phys_to_virt(slot->orig + off),
			       ccs_slot_vaddr(slot) + off, size);
			trace_cc_swiotlb_sync(dev, dma, size, dir, true);
			this_cpu_inc(cd->stats->syncs);
		}
	} else {
		if (dir == DMA_TO_DEVICE || dir == DMA_BIDIRECTIONAL) {
			memcpy(ccs_slot_vaddr(slot) + off,
			       phys_to_virt(slot->orig + off), size);
			trace_cc_swiotlb_sync(dev, dma, size, dir, false);
			this_cpu_inc(cd->stats->syncs);
		}
	}
	return;

bogus:
	dev_warn_ratelimited(dev, CCS_NAME ": sync of %pad+%zu outside any mapping of this device\n",
			     &dma, size);
	this_cpu_inc(cd->stats->errors);
}

static void ccs_sync(struct device *dev, dma_addr_t dma, size_t size,
		     enum dma_data_direction dir, bool for_cpu)
{
	struct ccs_dev *cd;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (cd)
		__ccs_sync(cd, dev, dma, size, dir, for_cpu);
	rcu_read_unlock_sched();
}

static dma_addr_t ccs_map_page(struct device *dev, struct page *page,
			       unsigned long offset, size_t size,
			       enum dma_data_direction dir, unsigned long attrs)
{
	dma_addr_t dma = DMA_MAPPING_ERROR;
	struct ccs_dev *cd;
	int err;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (cd && ccs_mask_unchecked(cd) && ccs_mask_first_use(cd, dev)) {
		rcu_read_unlock_sched();
		return dma_map_page_attrs(dev, page, offset, size, dir, attrs);
	}
	if (cd)
		dma = ccs_map_phys(cd, dev, page_to_phys(page) + offset, size,
				   dir, attrs, &err);
	rcu_read_unlock_sched();
	return dma;
}

static void ccs_unmap_page(struct device *dev, dma_addr_t dma, size_t size,
			   enum dma_data_direction dir, unsigned long attrs)
{
	struct ccs_dev *cd;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (cd)
		ccs_unmap_phys(cd, dev, dma, size, dir, attrs);
	rcu_read_unlock_sched();
}

static void ccs_unmap_sg(struct device *dev, struct scatterlist *sgl,
			 int nents, enum dma_data_direction dir,
			 unsigned long attrs)
{
	struct scatterlist *sg;
	struct ccs_dev *cd;
	int i;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (cd)
		for_each_sg(sgl, sg, nents, i)
			ccs_unmap_phys(cd, dev, sg_dma_address(sg),
				       sg_dma_len(sg), dir, attrs);
	rcu_read_unlock_sched();
}

/*
 * One slot per entry, no merging: entries keep their own min_align_mask
 * offsets and a failure part way is unwound so the caller sees all or
 * nothing.
 */
static int ccs_map_sg(struct device *dev, struct scatterlist *sgl, int nents,
		      enum dma_data_direction dir, unsigned long attrs)
{
	struct scatterlist *sg;
	struct ccs_dev *cd;
	int i, err = -EIO;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (!cd) {
		rcu_read_unlock_sched();
		return err;
	}
	if (ccs_mask_unchecked(cd) && ccs_mask_first_use(cd, dev)) {
		rcu_read_unlock_sched();
		i = dma_map_sg_attrs(dev, sgl, nents, dir, attrs);
		return i ? i : -ENOMEM;
	}
	for_each_sg(sgl, sg, nents, i) {
		dma_addr_t dma = ccs_map_phys(cd, dev, sg_phys(sg), sg->length,
					      dir, attrs, &err);

		if (unlikely(dma == DMA_MAPPING_ERROR))
			goto unwind;
		sg_dma_address(sg) = dma;
		sg_dma_len(sg) = sg->length;
	}
	rcu_read_unlock_sched();
	return nents;

unwind:
	/* The device never saw these: free without copying back. */
	ccs_unmap_sg(dev, sgl, i, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
	rcu_read_unlock_sched();
	return err;
}

static void ccs_sync_single_for_cpu(struct device *dev, dma_addr_t dma,
				    size_t size, enum dma_data_direction dir)
{
	ccs_sync(dev, dma, size, dir, true);
}

static void ccs_sync_single_for_device(struct device *dev, dma_addr_t dma,
				       size_t size,
				       enum dma_data_direction dir)
{
	ccs_sync(dev, dma, size, dir, false);
}

static void ccs_sync_sg_for_cpu(struct device *dev, struct scatterlist *sgl,
				int nents, enum dma_data_direction dir)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		ccs_sync(dev, sg_dma_address(sg), sg_dma_len(sg), dir, true);
}

static void ccs_sync_sg_for_device(struct device *dev,
				   struct scatterlist *sgl, int nents,
				   enum dma_data_direction dir)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		ccs_sync(dev, sg_dma_address(sg), sg_dma_len(sg), dir, false);
}

/*
 * MMIO (peer device BARs) is not encrypted memory and is never bounced: the
 * DMA address is the physical address, as in dma_direct_map_resource().
 */
static dma_addr_t ccs_map_resource(struct device *dev, phys_addr_t phys,
				   size_t size, enum dma_data_direction dir,
				   unsigned long attrs)
{
	dma_addr_t dma = phys;

	if (unlikely(!ccs_reachable(dev, dma, size, *dev->dma_mask))) {
		dev_warn_ratelimited(dev, CCS_NAME ": resource %pa+%zu beyond DMA mask\n",
				     &phys, size);
		return DMA_MAPPING_ERROR;
	}
	return dma;
}

static void ccs_unmap_resource(struct device *dev, dma_addr_t dma,
			       size_t size, enum dma_data_direction dir,
			       unsigned long attrs)
{
}

/*
 * Pages converted to shared here go back to the allocator only once they
 * are private again; a page that cannot be re-encrypted is leaked (and
 * counted by convert.c), since the host may still write it.  Conversion may
 * sleep, and dma_free_coherent() may be called with interrupts enabled but
 * preemption disabled (softirq), so such frees are finished by a work item.
 * The list runs through struct page, never through the shared memory the
 * host could rewrite.
 */
static LIST_HEAD(ccs_deferred_pages);
static DEFINE_SPINLOCK(ccs_deferred_lock);

/*
 * Page allocations the shim converted itself (coherent memory beyond the
 * pool), pfn -> order.  A coherent free is accepted only for a pool slot of
 * the device or an entry here: anything else (a driver handing us memory
 * from dma-direct, the atomic pool or alloc_page()) is refused and left
 * untouched, since re-encrypting and freeing it would free memory its owner
 * still uses.  Frees may come in interrupt context, hence the irq lock.
 */
static DEFINE_XARRAY_FLAGS(ccs_own_pages, XA_FLAGS_LOCK_IRQ);
static atomic64_t ccs_foreign_frees = ATOMIC64_INIT(0);

static void ccs_encrypt_and_free(struct page *page, unsigned int order)
{
	int err = ccs_convert_encrypt(page_address(page), 1U << order);

	if (!err)
		__free_pages(page, order);
	else if (err == -EPERM)
		pr_err_ratelimited("re-encryption refused outside atomic context; %u pages leaked\n",
				   1U << order);
}

static void ccs_deferred_free_fn(struct work_struct *work)
{
	struct page *page;
	unsigned long flags;

	for (;;) {
		spin_lock_irqsave(&ccs_deferred_lock, flags);
		page = list_first_entry_or_null(&ccs_deferred_pages,
						struct page, lru);
		if (page)
			list_del(&page->lru);
		spin_unlock_irqrestore(&ccs_deferred_lock, flags);
		if (!page)
			break;
		ccs_encrypt_and_free(page, page_private(page));
	}
}

static DECLARE_WORK(ccs_deferred_work, ccs_deferred_free_fn);

static void ccs_free_converted(struct page *page, unsigned int order)
{
	unsigned long flags;

	if (preemptible()) {
		ccs_encrypt_and_free(page, order);
		return;
	}
	set_page_private(page, order);
	spin_lock_irqsave(&ccs_deferred_lock, flags);
	list_add_tail(&page->lru, &ccs_deferred_pages);
	spin_unlock_irqrestore(&ccs_deferred_lock, flags);
	schedule_work(&ccs_deferred_work);
}

/**
 * ccs_shim_flush() - finish deferred frees; called at module exit
 */
void ccs_shim_flush(void)
{
	flush_work(&ccs_deferred_work);
}

/*
 * Shared memory for coherent and dma_alloc_pages() allocations, zeroed.
 * Up to the largest slot it comes from the pool, which works in any
 * context; when the pool has nothing (or the request is larger) and the
 * caller may sleep, pages are converted to shared here, which is slow but
 * only happens at setup time in practice.
 */
static void *__ccs_alloc_shared(struct ccs_dev *cd, struct device *dev,
				size_t size, dma_addr_t *dma_handle, gfp_t gfp)
{
	size_t len = PAGE_ALIGN(size);
	unsigned int order = get_order(len);
	struct ccs_slot *slot = NULL;
	struct page *page;
	phys_addr_t phys;
	void *vaddr;
	dma_addr_t dma;
	int cls = -EINVAL;
	int err;

	if (len <= CCS_MAX_SLOT_SIZE) {
		/* dma_alloc_coherent() aligns to the allocation's order. */
		slot = ccs_slot_alloc_lasting(ccs_pool, len, PAGE_SIZE << order,
					      &cd->coherent_tag, &cls);
		if (slot) {
			ccs_kccd_check(cls);
			vaddr = ccs_slot_vaddr(slot);
			phys = ccs_slot_phys(slot);
			goto found;
		}
		if (cls >= 0)
			ccs_kccd_kick(cls);
	}
	if (!gfpflags_allow_blocking(gfp) || order > CCS_MAX_PAGE_ORDER) {
		if (cls >= 0) {
			this_cpu_inc(cd->stats->exhausted);
			ccs_kccd_note_exhaustion(cls);
		} else {
			this_cpu_inc(cd->stats->errors);
		}
		return NULL;
	}

	page = alloc_pages((gfp & ~__GFP_ZERO) | __GFP_NOWARN, order);
	if (!page)
		return NULL;
	vaddr = page_address(page);
	/*
	 * A page whose conversion failed is in an unknown state and must not
	 * go back to the allocator: leak it (convert.c counts it).
	 */
	err = ccs_convert_decrypt(vaddr, 1U << order);
	if (err) {
		if (ccs_convert_untouched(err))
			__free_pages(page, order);
		return NULL;
	}
	/* Registered before it can be freed; sleeping allowed here. */
	if (xa_err(xa_store_irq(&ccs_own_pages, page_to_pfn(page),
				xa_mk_value(order), gfp & GFP_KERNEL))) {
		ccs_encrypt_and_free(page, order);
		return NULL;
	}
	phys = page_to_phys(page);

found:
	dma = phys_to_dma_unencrypted(dev, phys);
	if (unlikely(!ccs_reachable(dev, dma, len, dev->coherent_dma_mask))) {
		dev_warn_ratelimited(dev, CCS_NAME ": coherent memory at %pad beyond coherent mask %llx\n",
				     &dma, dev->coherent_dma_mask);
		this_cpu_inc(cd->stats->errors);
		if (slot) {
			ccs_slot_free(ccs_pool, slot);
		} else {
			xa_erase_irq(&ccs_own_pages, page_to_pfn(page));
			ccs_free_converted(page, order);
		}
		return NULL;
	}
	/* After the conversion: its old contents are gone or meaningless. */
	memset(vaddr, 0, len);
	this_cpu_add(cd->stats->coherent_bytes, len);
	*dma_handle = dma;
	return vaddr;
}

/*
 * A coherent allocation was counted (or freed): if the device is not plainly
 * attached, a detach may be waiting for that count to reach zero.  Caller
 * holds rcu_read_lock_sched().
 */
static void ccs_note_coherent_done(struct ccs_dev *cd)
{
	if (unlikely(READ_ONCE(cd->state) != CCS_DEV_ATTACHED))
		ccs_attach_note_drained();
}

/*
 * The allocation is counted before it is made, inside an RCU read section
 * that checked the device is open: a detach then sees it outstanding and
 * keeps @cd, so the rest (which may sleep) needs no RCU.
 */
static void *ccs_alloc_shared(struct device *dev, size_t size,
			      dma_addr_t *dma_handle, gfp_t gfp)
{
	struct ccs_dev *cd;
	void *vaddr;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (cd && !ccs_dev_open(cd)) {
		this_cpu_inc(cd->stats->exhausted);
		cd = NULL;
	}
	if (cd)
		this_cpu_inc(cd->stats->coherent_allocs);
	rcu_read_unlock_sched();
	if (!cd)
		return NULL;

	vaddr = __ccs_alloc_shared(cd, dev, size, dma_handle, gfp);
	if (!vaddr) {
		rcu_read_lock_sched();
		this_cpu_dec(cd->stats->coherent_allocs);
		ccs_note_coherent_done(cd);
		rcu_read_unlock_sched();
	}
	return vaddr;
}

static void ccs_free_shared(struct device *dev, size_t size, void *vaddr,
			    dma_addr_t dma)
{
	phys_addr_t phys = dma_to_phys(dev, dma);
	unsigned int order = get_order(PAGE_ALIGN(size));
	struct page *page = NULL;
	struct ccs_slot *slot;
	struct ccs_dev *cd;
	unsigned long flags;
	void *entry;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (!cd)
		goto out_unlock;
	slot = ccs_slot_lookup(ccs_pool, phys);
	if (slot) {
		if (unlikely(slot->owner != &cd->coherent_tag ||
			     ccs_slot_phys(slot) != phys))
			goto bogus;
		ccs_slot_free(ccs_pool, slot);
		goto done;
	}

	if (unlikely(!virt_addr_valid(vaddr) || virt_to_phys(vaddr) != phys ||
		     !PAGE_ALIGNED(phys)))
		goto bogus;
	/* Only what ccs_alloc_shared() converted, with the order it had. */
	xa_lock_irqsave(&ccs_own_pages, flags);
	entry = __xa_cmpxchg(&ccs_own_pages, PHYS_PFN(phys),
			     xa_mk_value(order), NULL, 0);
	xa_unlock_irqrestore(&ccs_own_pages, flags);
	if (unlikely(entry != xa_mk_value(order)))
		goto bogus;
	page = virt_to_page(vaddr);
	/*
	 * Re-encryption may sleep: outside the section.  @cd stays: this allocation
	 * is still counted as outstanding, so no detach frees it.
	 */
	rcu_read_unlock_sched();
	ccs_free_converted(page, order);
	rcu_read_lock_sched();
done:
	this_cpu_inc(cd->stats->coherent_frees);
	/* a late free after the driver unbound: maybe the last one */
	ccs_note_coherent_done(cd);
	goto out_unlock;

bogus:
	/* Not ours: never re-encrypted, never freed, never written. */
	dev_warn_ratelimited(dev, CCS_NAME ": free of %pad (%zu bytes), which is not a coherent allocation of this device: refused, memory left alone\n",
			     &dma, size);
	atomic64_inc(&ccs_foreign_frees);
	this_cpu_inc(cd->stats->errors);
out_unlock:
	rcu_read_unlock_sched();
}

/**
 * ccs_shim_counters() - the shim's lines of debugfs "counters"
 * @m:	seq_file
 *
 * foreign_frees: coherent/page frees of memory the module did not allocate
 * (or not for this device), refused and left untouched;
 * foreign_device_calls: DMA calls from a device whose dma_ops are another
 * attached device's copy (e.g. a child that inherited them), refused;
 * late_calls: calls that reached the shim after their device was detached
 * (the DMA API had loaded its ops before), refused;
 * stall_reports: devices reported waiting for more than the cap leaves them
 * (ccs_attach_check_stalls()).
 */
void ccs_shim_counters(struct seq_file *m)
{
	seq_printf(m, "foreign_frees %lld\n", atomic64_read(&ccs_foreign_frees));
	seq_printf(m, "foreign_device_calls %lld\n",
		   atomic64_read(&ccs_foreign_dev_calls));
	seq_printf(m, "late_calls %lld\n", atomic64_read(&ccs_late_calls));
	seq_printf(m, "stall_reports %lld\n",
		   atomic64_read(&ccs_stall_reports));
}

/*
 * An allocation that is the device's first request checks its masks
 * (mask.c): true if the device was just left to stock, and the caller
 * forwards the request through the public DMA API.
 */
static bool ccs_alloc_left_to_stock(struct device *dev)
{
	struct ccs_dev *cd;
	bool stock = false;

	rcu_read_lock_sched();
	cd = ccs_dev_get(dev);
	if (cd && ccs_mask_unchecked(cd))
		stock = ccs_mask_first_use(cd, dev);
	rcu_read_unlock_sched();
	return stock;
}

static void *ccs_alloc(struct device *dev, size_t size, dma_addr_t *dma_handle,
		       gfp_t gfp, unsigned long attrs)
{
	if (ccs_alloc_left_to_stock(dev))
		return dma_alloc_attrs(dev, size, dma_handle, gfp, attrs);
	return ccs_alloc_shared(dev, size, dma_handle, gfp);
}

static void ccs_free(struct device *dev, size_t size, void *vaddr,
		     dma_addr_t dma_handle, unsigned long attrs)
{
	ccs_free_shared(dev, size, vaddr, dma_handle);
}

/*
 * dma_alloc_pages(): like dma-direct under force_dma_unencrypted(), hand out
 * memory that is shared already, so the dma_sync_* calls the caller makes on
 * it have nothing to copy.
 */
static struct page *ccs_alloc_pages(struct device *dev, size_t size,
				    dma_addr_t *dma_handle,
				    enum dma_data_direction dir, gfp_t gfp)
{
	void *vaddr;

	if (ccs_alloc_left_to_stock(dev))
		return dma_alloc_pages(dev, size, dma_handle, dir, gfp);
	vaddr = ccs_alloc_shared(dev, size, dma_handle, gfp);
	return vaddr ? virt_to_page(vaddr) : NULL;
}

static void ccs_free_pages(struct device *dev, size_t size, struct page *page,
			   dma_addr_t dma_handle, enum dma_data_direction dir)
{
	ccs_free_shared(dev, size, page_address(page), dma_handle);
}

/* As dma_direct_mmap(), for memory that is always shared. */
static int ccs_mmap(struct device *dev, struct vm_area_struct *vma,
		    void *cpu_addr, dma_addr_t dma_addr, size_t size,
		    unsigned long attrs)
{
	unsigned long user_count = vma_pages(vma);
	unsigned long count = PAGE_ALIGN(size) >> PAGE_SHIFT;
	unsigned long pfn = PHYS_PFN(dma_to_phys(dev, dma_addr));

	vma->vm_page_prot = pgprot_decrypted(vma->vm_page_prot);
	if (vma->vm_pgoff >= count || user_count > count - vma->vm_pgoff)
		return -ENXIO;
	return remap_pfn_range(vma, vma->vm_start, pfn + vma->vm_pgoff,
			       user_count << PAGE_SHIFT, vma->vm_page_prot);
}

static int ccs_get_sgtable(struct device *dev, struct sg_table *sgt,
			   void *cpu_addr, dma_addr_t dma_addr, size_t size,
			   unsigned long attrs)
{
	int ret = sg_alloc_table(sgt, 1, GFP_KERNEL);

	if (!ret)
		sg_set_page(sgt->sgl, virt_to_page(cpu_addr), PAGE_ALIGN(size),
			    0);
	return ret;
}

static u64 ccs_get_required_mask(struct device *dev)
{
	u64 max = phys_to_dma_unencrypted(dev, ccs_shim_max_phys());

	return DMA_BIT_MASK(fls64(max));
}

/*
 * Largest slot to offer a device: the largest class whose slot is at most
 * 1/16 of max_pool_mb (every class up to 512 KiB from 8 MiB on).
 *
 * Under a small cap a big slot is a big share of it: with max_pool_mb=4 and
 * the rfc ladder a 128 KiB segment takes a 512 KiB slot, the cap holds 8 of
 * them, and virtio-blk merges sequential writes into requests of up to
 * max_sectors_kb (1280 KiB), i.e. up to 10 such segments: a request that can
 * never be mapped whole, requeued for ever.  Drivers size segments
 * (virtio-blk: max_segment_size) or whole requests (NVMe: max_hw_sectors)
 * from these hints when they probe, so capping the hint keeps every request
 * a small fraction of the cap.  Mappings up to 512 KiB are still served.
 *
 * Not smaller than 1/16 though: at 1/32 (124 KiB at 4 MiB) NVMe split every
 * 256 KiB I/O into three commands (124 + 124 + 8 KiB) in two classes, and
 * under that cap served 256 KiB randrw at 0.3x stock swiotlb, whose 256 KiB
 * segments need no split; at 1/16 it is one 252 KiB command and a 4 KiB one.
 */
#define CCS_HINT_CAP_SHIFT	4

static size_t ccs_hint_slot_size(unsigned int min_align_mask)
{
	u64 limit = ccs_max_pool_bytes() >> CCS_HINT_CAP_SHIFT;
	int cls = ccs_pool_nr_classes(ccs_pool) - 1;

	while (cls > 0 && ccs_class_slot_size(ccs_pool, cls) > limit)
		cls--;
	/* room for the min_align_mask offset and at least as much data */
	if (ccs_class_slot_size(ccs_pool, cls) < 2ULL * (min_align_mask + 1))
		return CCS_MAX_SLOT_SIZE;
	return ccs_class_slot_size(ccs_pool, cls);
}

/*
 * The hinted slot, less what the min_align_mask offset may take from it:
 * the block layer sizes requests (and segments) so they always fit.
 */
static size_t ccs_max_mapping_size(struct device *dev)
{
	unsigned int mask = dma_get_min_align_mask(dev);

	return ccs_hint_slot_size(mask) - (mask ? (size_t)mask + 1 : 0);
}

static size_t ccs_opt_mapping_size(void)
{
	return ccs_hint_slot_size(0);
}

/*
 * The template every attached device gets a copy of (struct ccs_dev::ops):
 * one copy per device lets the map path get from dev->dma_ops back to the
 * device's struct ccs_dev without a lookup.
 */
const struct dma_map_ops ccs_shim_ops = {
	.alloc = ccs_alloc,
	.free = ccs_free,
	.CCS_OPS_ALLOC_PAGES = ccs_alloc_pages,
	.free_pages = ccs_free_pages,
	.mmap = ccs_mmap,
	.get_sgtable = ccs_get_sgtable,
	.map_page = ccs_map_page,
	.unmap_page = ccs_unmap_page,
	.map_sg = ccs_map_sg,
	.unmap_sg = ccs_unmap_sg,
	.map_resource = ccs_map_resource,
	.unmap_resource = ccs_unmap_resource,
	.sync_single_for_cpu = ccs_sync_single_for_cpu,
	.sync_single_for_device = ccs_sync_single_for_device,
	.sync_sg_for_cpu = ccs_sync_sg_for_cpu,
	.sync_sg_for_device = ccs_sync_sg_for_device,
	.dma_supported = ccs_dma_supported,
	.get_required_mask = ccs_get_required_mask,
	.max_mapping_size = ccs_max_mapping_size,
	.opt_mapping_size = ccs_opt_mapping_size,
};
