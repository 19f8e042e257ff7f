/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc_swiotlb pool core: one arena of shared (decrypted) memory, size classes
 * of bounce slots carved from it, per-CPU magazines over a per-class depot,
 * and an O(1) bounce-address -> slot lookup.
 *
 * The same source builds into the kernel module and into a userspace test and
 * benchmark binary: pool_env.h maps the handful of kernel facilities used here
 * (spinlocks, per-CPU data, atomics, RCU, metadata allocation) onto either the
 * kernel or pthreads.
 *
 * The pool never converts memory itself: kccd adds memory that is already
 * shared to the arena (ccs_arena_add()) and takes back arena units that are
 * entirely free (ccs_arena_take_free()).  Moving memory between classes never
 * converts: a class carves slabs from the arena and gives back slabs that
 * became entirely free.
 *
 * Contexts:
 *   ccs_slot_alloc(), ccs_slot_free(), ccs_slot_lookup(), ccs_class_for(),
 *   ccs_class_avail(), ccs_slot_phys/vaddr/class(), ccs_pool_free_bytes(),
 *   ccs_pool_mapped_bytes(), ccs_pool_held_bytes(), ccs_pool_uncarved_bytes():
 *	any context, hardirq included; never sleep, never allocate.
 *   ccs_pool_drain(), ccs_class_stats(), ccs_arena_stats(),
 *   ccs_pool_reset_hiwater(), ccs_pool_take_peak(), ccs_pool_check():
 *	any context, never sleep, but walk every CPU (check: every slot):
 *	keep them off the map path.
 *   ccs_pool_create(), ccs_pool_destroy(), ccs_arena_add(),
 *   ccs_arena_take_free():
 *	process context, may sleep (GFP_KERNEL, rcu_barrier()).
 */
#ifndef _CC_SWIOTLB_POOL_H
#define _CC_SWIOTLB_POOL_H

#include "pool_env.h"

#define CCS_MAX_CLASSES		11
#define CCS_MIN_SLOT_SHIFT	9	/* 512 B */
#define CCS_MAX_SLOT_SHIFT	19	/* 512 KiB */
#define CCS_MAX_SLOT_SIZE	BIT(CCS_MAX_SLOT_SHIFT)
#define CCS_GRAIN_SHIFT		16	/* 64 KiB: arena and lookup granule */
#define CCS_GRAIN_SIZE		((u32)BIT(CCS_GRAIN_SHIFT))
/* Slots up to this size (one-grain slabs) may carve the small reserve. */
#define CCS_SMALL_SLOT_MAX	CCS_GRAIN_SIZE
#define CCS_UNIT_MAX_SHIFT	21	/* 2 MiB: largest arena unit */
#define CCS_UNIT_MAX_SIZE	((u32)BIT(CCS_UNIT_MAX_SHIFT))

/* Class ladder presets (the table lives in pool.c). */
enum ccs_preset {
	CCS_PRESET_POW2,	/* 512 B .. 512 KiB, every power of two */
	CCS_PRESET_RFC,		/* the RFC's five: 512 B, 2K, 4K, 16K, 512K */
};

/**
 * struct ccs_slot - metadata of one bounce slot, preallocated with the arena
 * memory it may be carved from
 * @orig:	physical address of the original buffer (valid while in use)
 * @size:	bytes mapped (valid while in use)
 * @offset:	offset of the mapping inside the slot (min_align_mask bits)
 * @owner:	opaque owner (the struct device) while in use
 * @chunk:	slab this slot belongs to (valid while the slab is carved)
 * @index:	slot index inside @chunk
 * @in_use:	1 while handed out by ccs_slot_alloc(), 0 otherwise
 * @next:	free-list link inside the slab (slot index, or -1)
 * @lasting:	1 while handed out by ccs_slot_alloc_lasting()
 */
struct ccs_slot {
	phys_addr_t orig;
	u32 size;
	u32 offset;
	void *owner;
	struct ccs_chunk *chunk;
	u32 index;
	u32 in_use;
	s32 next;
	u32 lasting;
};

/**
 * struct ccs_chunk - a slab: the class-side view of a carved arena block
 * @link:	in a class occupancy bucket
 * @slots:	slot structs of the slab, @nr_slots of them
 * @vaddr:	kernel virtual address of the slab's memory
 * @phys:	physical address of the slab's memory
 * @size:	bytes
 * @nr_slots:	slots in the slab
 * @nr_free:	slots on @free_head's list
 * @free_head:	first free slot index, or -1
 * @slot_shift:	log2 of the class's slot size
 * @bucket:	index into its class's occupancy buckets
 * @cls:	class index
 * @lasting:	only lasting slots, never cached
 *
 * Private to pool.c except for the read-only fields the inline slot
 * accessors below use (@vaddr, @phys, @slot_shift, @cls), which stay put
 * while any slot of the slab is in use.
 */
struct ccs_chunk {
	struct list_head link;
	struct ccs_slot *slots;
	void *vaddr;
	phys_addr_t phys;
	u32 size;
	u32 nr_slots;
	u32 nr_free;
	s32 free_head;
	u8 slot_shift;
	u8 bucket;
	u16 cls;
	bool lasting;
};

/**
 * struct ccs_class_stats - exact snapshot of one class
 * @slot_size:	bytes per slot
 * @chunks:	slabs of this class carved from the arena
 * @bytes:	arena bytes carved into this class (slabs * slab size)
 * @total:	slots in all slabs
 * @free:	slots not in use (slab free lists + depot + magazines)
 * @in_use:	slots handed out
 * @cached:	free slots sitting in per-CPU magazines or the depot
 * @hiwater:	highest @in_use seen since the last reset
 * @allocs:	successful allocations served by this class
 * @frees:	frees into this class
 * @fallbacks:	allocations served here although a smaller class was wanted
 * @failures:	allocations that wanted this class and got nothing at all
 */
struct ccs_class_stats {
	u32 slot_size;
	u32 chunks;
	u64 bytes;
	u64 total;
	u64 free;
	u64 in_use;
	u64 cached;
	u64 hiwater;
	u64 allocs;
	u64 frees;
	u64 fallbacks;
	u64 failures;
};

/**
 * struct ccs_arena_stats - snapshot of the arena
 * @bytes:	shared bytes in the arena (everything kccd added, not taken back)
 * @free_bytes:	arena bytes not carved into any class
 * @carved_bytes: arena bytes carved into classes (@bytes - @free_bytes)
 * @units:	units in the arena (one per ccs_arena_add())
 * @free_units:	units that are entirely free (ccs_arena_take_free() can take)
 * @largest_free: largest contiguous free block, bytes
 * @mapped_bytes: bytes of slots in use (streaming and coherent)
 * @mapped_hiwater: highest @mapped_bytes since the last reset
 * @held_at_mapped_hiwater: @bytes sampled when @mapped_hiwater was reached
 * @carves:	slabs carved from the arena by the classes
 * @slab_returns: entirely free slabs given back to the arena
 * @dry_drains:	times an allocation found nothing and flushed every class's
 *		magazines back (so no class strands memory another needs)
 * @small_reserve: free bytes only small slots may carve now
 *		(ccs_pool_set_small_reserve())
 * @reserve_gated: carves of small slots the reserve gate kept out of the
 *		reserve (ccs_pool_set_reserve_gate())
 */
struct ccs_arena_stats {
	u64 bytes;
	u64 free_bytes;
	u64 carved_bytes;
	u64 units;
	u64 free_units;
	u64 largest_free;
	u64 mapped_bytes;
	u64 mapped_hiwater;
	u64 held_at_mapped_hiwater;
	u64 carves;
	u64 slab_returns;
	u64 dry_drains;
	u64 small_reserve;
	u64 reserve_gated;
};

struct ccs_pool;	/* opaque; defined in pool.c */

/**
 * ccs_pool_create() - make an empty pool
 * @preset:	class ladder
 * @max_bytes:	most shared memory the arena will ever hold (sizes the
 *		lookup hash: more only makes its chains longer)
 * @nr_cpus:	number of CPU ids (kernel: nr_cpu_ids; userspace: threads)
 *
 * Allocates every magazine the pool will ever use (per class: 2 per CPU and
 * a depot of 2 to 2 * @nr_cpus + 4, by slot size), so the map path never
 * allocates.  May sleep.
 *
 * Return: the pool, or NULL on allocation failure or bad arguments.
 */
struct ccs_pool *ccs_pool_create(enum ccs_preset preset, u64 max_bytes,
				 unsigned int nr_cpus);

/**
 * ccs_pool_destroy() - free an empty pool
 * @p:	pool whose arena units have all been taken out (ccs_arena_take_free())
 *
 * Return: 0, or -EBUSY (and frees nothing) while the arena still holds units.
 */
int ccs_pool_destroy(struct ccs_pool *p);

/** ccs_pool_nr_classes() - number of classes in @p's ladder */
int ccs_pool_nr_classes(const struct ccs_pool *p);

/** ccs_class_slot_size() - slot size of class @cls */
u32 ccs_class_slot_size(const struct ccs_pool *p, int cls);

/**
 * ccs_class_chunk_size() - size of the slabs class @cls carves from the arena
 * @p:		pool
 * @cls:	class index
 *
 * One 64 KiB grain for slots up to 64 KiB, one slot for larger ones (a
 * contiguous arena run of the slot's size).
 *
 * Return: bytes, or 0 for a bad @cls.
 */
u32 ccs_class_chunk_size(const struct ccs_pool *p, int cls);

/**
 * ccs_class_for() - smallest class that can serve a mapping
 * @p:			pool
 * @orig:		physical address of the original buffer
 * @size:		bytes to map (> 0)
 * @min_align_mask:	dma_get_min_align_mask() of the device
 * @align:		explicit alignment (power of two) or 0
 *
 * Return: class index, or -EINVAL if no class can hold it (oversize).
 */
int ccs_class_for(const struct ccs_pool *p, phys_addr_t orig, size_t size,
		  unsigned int min_align_mask, size_t align);

/**
 * ccs_slot_alloc() - take a slot for a mapping; never sleeps, never allocates
 * @p:			pool
 * @orig:		physical address of the original buffer
 * @size:		bytes to map
 * @min_align_mask:	dma_get_min_align_mask() of the device
 * @align:		explicit alignment (power of two) or 0
 * @owner:		opaque owner recorded in the slot
 * @cls_out:		class the request wanted (for the caller's stats/tracing);
 *			may be NULL
 * @fallback_out:	set true when a larger class served it; may be NULL
 *
 * Safe from any context (hardirq included).  The returned slot has @orig,
 * @size, @offset and @owner filled in; the bounce address is
 * ccs_slot_phys(slot) (which already includes @offset).  Order of search:
 * this CPU's magazines, the class depot, the class's slabs (fullest first),
 * a new slab carved from the arena, then (trylock only) other CPUs'
 * magazines of the wanted class; then larger classes within 4x the wanted
 * slot size; last, when even that fails, every class's cached slots are
 * flushed back to the arena and the wanted class tries once more.
 *
 * Return: the slot, or NULL when no free memory of the pool can hold the
 * mapping (or the request is oversize: *cls_out is then -EINVAL).
 */
struct ccs_slot *ccs_slot_alloc(struct ccs_pool *p, phys_addr_t orig,
				size_t size, unsigned int min_align_mask,
				size_t align, void *owner, int *cls_out,
				bool *fallback_out);

/**
 * ccs_slot_alloc_lasting() - take a slot for a long-lived allocation
 * @p:		pool
 * @size:	bytes
 * @align:	required alignment of the slot (power of two), or 0
 * @owner:	opaque tag stored in the slot
 * @cls_out:	set to the class index (-EINVAL for an impossible request);
 *		may be NULL
 *
 * For coherent allocations, which live as long as their device's queues:
 * the slot comes from the unit that already holds the most such slots, so
 * they do not pin every unit kccd grew for a burst.  Slower than
 * ccs_slot_alloc() (it scans a few slabs under the class lock); any
 * context.  Falls back to ccs_slot_alloc() when the slabs and the arena
 * have nothing.
 *
 * Return: the slot (bounce address ccs_slot_phys()), or NULL.
 */
struct ccs_slot *ccs_slot_alloc_lasting(struct ccs_pool *p, size_t size,
					size_t align, void *owner, int *cls_out);

/**
 * ccs_slot_free() - give a slot back; safe from any context
 * @p:		pool
 * @slot:	slot from ccs_slot_alloc() or ccs_slot_lookup(); NULL is ignored
 *
 * Never sleeps, never allocates.  Freeing a slot that is not in use (double
 * free) is reported (rate-limited pr_err, ccs_pool_bad_frees()) and ignored.
 * The caller must not touch the slot afterwards.
 */
void ccs_slot_free(struct ccs_pool *p, struct ccs_slot *slot);

/**
 * ccs_slot_lookup() - O(1) bounce physical address -> in-use slot
 * @p:		pool
 * @phys:	any address inside the mapped range of the slot
 *
 * Any context, inside rcu_read_lock_sched() (the shim's read section):
 * safe against concurrent carving and arena changes, whose metadata is
 * freed after a grace period.  Any address inside the slot finds it, not
 * only the mapped bytes: callers check their range against @offset and
 * @size.
 *
 * Return: the slot, or NULL if @phys is not inside an in-use slot.
 */
struct ccs_slot *ccs_slot_lookup(struct ccs_pool *p, phys_addr_t phys);

/*
 * The slot accessors are inline: the map and unmap paths call them on every
 * mapping, and each out-of-line call is a return the CPU (or an emulator)
 * must predict.
 */

/** ccs_slot_base() - physical address of @slot's first byte */
static inline phys_addr_t ccs_slot_base(const struct ccs_slot *slot)
{
	const struct ccs_chunk *chunk = slot->chunk;

	return chunk->phys + ((phys_addr_t)slot->index << chunk->slot_shift);
}

/** ccs_slot_phys() - bounce physical address of the mapping in @slot */
static inline phys_addr_t ccs_slot_phys(const struct ccs_slot *slot)
{
	return ccs_slot_base(slot) + slot->offset;
}

/** ccs_slot_vaddr() - kernel virtual address of the mapping in @slot */
static inline void *ccs_slot_vaddr(const struct ccs_slot *slot)
{
	const struct ccs_chunk *chunk = slot->chunk;

	return (char *)chunk->vaddr +
	       ((size_t)slot->index << chunk->slot_shift) + slot->offset;
}

/** ccs_slot_class() - class index of @slot */
static inline int ccs_slot_class(const struct ccs_slot *slot)
{
	return slot->chunk->cls;
}

/**
 * ccs_slot_bytes() - bytes a mapping in @slot holds: its class's slot size
 * @slot:	slot in use
 */
static inline u32 ccs_slot_bytes(const struct ccs_slot *slot)
{
	return 1U << slot->chunk->slot_shift;
}

/**
 * ccs_arena_add() - give the arena a unit of already-shared memory
 * @p:		pool
 * @vaddr:	kernel virtual address, aligned to @size
 * @phys:	physical address, aligned to @size
 * @size:	power of two, 64 KiB .. 2 MiB
 *
 * Preallocates (GFP_KERNEL) all the metadata any class may need to carve
 * the unit: slot structs for the smallest slot size and lookup entries, so
 * carving never allocates.  Process context only, may sleep.  The pool
 * never reads or writes the memory itself.
 *
 * Return: 0; -EINVAL for a bad size or alignment, or a range that overlaps
 * memory already in the arena; -ENOMEM.
 */
int ccs_arena_add(struct ccs_pool *p, void *vaddr, phys_addr_t phys, u32 size);

/**
 * ccs_arena_take_free() - remove one entirely free arena unit
 * @p:		pool
 * @max_size:	largest unit size wanted (0: any)
 * @vaddr:	set to the unit's virtual address on success
 * @phys:	set to its physical address on success
 * @size:	set to its size on success
 *
 * Takes the largest entirely free unit of at most @max_size.  If there is
 * none, first flushes every class's magazines and depot back (so cached
 * slots do not pin one), then looks again: a larger unit may then be free
 * as well, the next call finds it.  The metadata is freed after a
 * grace period (call_rcu()); the memory is the caller's at once: it
 * re-encrypts and frees it.  Process context only.
 *
 * Return: 0, or -ENOENT if no unit is entirely free.
 */
int ccs_arena_take_free(struct ccs_pool *p, u32 max_size, void **vaddr,
			phys_addr_t *phys, u32 *size);

/** ccs_pool_held_bytes() - shared bytes in the arena (any context) */
u64 ccs_pool_held_bytes(const struct ccs_pool *p);

/** ccs_pool_mapped_bytes() - bytes of slots in use (any context) */
u64 ccs_pool_mapped_bytes(const struct ccs_pool *p);

/**
 * ccs_pool_lasting_bytes() - bytes of the slots in use that
 * ccs_slot_alloc_lasting() handed out (any context)
 * @p:	pool
 */
u64 ccs_pool_lasting_bytes(const struct ccs_pool *p);

/**
 * ccs_pool_free_bytes() - free shared bytes: held minus mapped (any context)
 * @p:	pool
 *
 * Counts free slots cached in classes as free: an allocation that finds its
 * class dry flushes them back to the arena.
 */
u64 ccs_pool_free_bytes(const struct ccs_pool *p);

/**
 * ccs_pool_uncarved_bytes() - arena bytes no class has carved (any context,
 * no locks): the only free bytes that any class can take as a new slab.
 * @p:		pool
 */
u64 ccs_pool_uncarved_bytes(const struct ccs_pool *p);

/**
 * ccs_pool_take_peak() - highest mapped bytes since the previous call
 * @p:	pool
 *
 * For kccd's demand window; independent of the resettable high-water mark.
 *
 * Return: the peak; the next window starts at the current mapped bytes.
 */
u64 ccs_pool_take_peak(struct ccs_pool *p);

/**
 * ccs_pool_take_carved_peak() - highest carved arena bytes since the
 *	previous call
 * @p: the pool
 *
 * Carved bytes (held - free) are what kccd's low watermark is measured
 * against; they exceed the mapped bytes by the slabs' unused slots.
 * Takes the arena lock; kccd only.
 *
 * Return: that peak, and resets it to the carved bytes of now.
 */
u64 ccs_pool_take_carved_peak(struct ccs_pool *p);

/**
 * ccs_arena_stats() - snapshot of the arena (takes the arena lock)
 * @p:	pool
 * @st:	filled in
 */
void ccs_arena_stats(struct ccs_pool *p, struct ccs_arena_stats *st);

/**
 * ccs_pool_drain() - flush every cached free slot of class @cls (or of all
 * classes when @cls < 0) from magazines and the depot into slab free lists;
 * slabs that become entirely free go back to the arena.
 * @p:		pool
 * @cls:	class, or negative for all
 *
 * Never sleeps (takes each CPU's lock in turn with irqsave); slow: O(CPUs).
 */
void ccs_pool_drain(struct ccs_pool *p, int cls);

/**
 * ccs_class_avail() - cheap, approximate free slots of @cls (any context,
 * no locks); used to compare against watermarks.
 * @p:		pool
 * @cls:	class index
 *
 * Return: slots in the class's slabs minus slots in use (cached slots in
 * other CPUs' magazines count as available); 0 for a bad @cls.
 */
u64 ccs_class_avail(const struct ccs_pool *p, int cls);

/**
 * ccs_class_stats() - exact statistics of class @cls
 * @p:		pool
 * @cls:	class index (a bad one gives all zeroes)
 * @st:		filled in
 *
 * Takes each CPU's lock in turn (irqsave): any context, but not cheap.
 */
void ccs_class_stats(struct ccs_pool *p, int cls, struct ccs_class_stats *st);

/**
 * ccs_pool_reset_hiwater() - set every high-water mark (classes, mapped
 * bytes) to the current use
 * @p:	pool
 */
void ccs_pool_reset_hiwater(struct ccs_pool *p);

/**
 * ccs_pool_check() - verify invariants: every slot is in exactly one of
 * {slab free list, magazine/depot, in use}, every count matches, and no
 * byte is lost: arena free + carved into classes == arena bytes.
 * @p:		pool
 *
 * Takes every lock of one class at a time, interrupts off: O(slots), safe
 * while the pool is in use.  Test machinery: built only in the debug
 * flavour of the module and in the userspace tests.
 *
 * Return: 0, or -EUCLEAN with a description printed through pr_err.
 */
int ccs_pool_check(struct ccs_pool *p);

/**
 * ccs_pool_bad_frees() - ccs_slot_free() calls ignored because the slot was
 * not in use (double free, stale pointer); each also printed a rate-limited
 * pr_err.
 * @p:		pool
 *
 * Return: the count since ccs_pool_create().
 */
u64 ccs_pool_bad_frees(const struct ccs_pool *p);

/**
 * ccs_pool_dry_drains() - times an allocation found its class, the arena
 * and the fallbacks dry and flushed every class's caches (any context)
 * @p:	pool
 */
u64 ccs_pool_dry_drains(const struct ccs_pool *p);

/**
 * ccs_pool_set_small_reserve() - keep the arena's last bytes for small slots
 * @p:		pool
 * @bytes:	free arena bytes that a slab of slots larger than
 *		%CCS_SMALL_SLOT_MAX may not take (0: none)
 *
 * Any context.  Carving for small slots (their slabs are one grain) of an
 * owner the reserve gate lets in (ccs_pool_set_reserve_gate()), and lasting
 * slabs, may still take them: a burst of large mappings (multi-grain slots),
 * or of small ones from the owner that holds the most, then cannot leave
 * another owner's small ones (a NIC's packets) without memory.
 */
void ccs_pool_set_small_reserve(struct ccs_pool *p, u32 bytes);

/**
 * typedef ccs_reserve_gate_t - may @owner's small slots take the reserve?
 * @owner:	the owner passed to ccs_slot_alloc()
 *
 * Called with a class lock held and interrupts off, only when carving a
 * slab of small slots would reach into the small reserve: it must not sleep
 * or take a lock.
 */
typedef bool (*ccs_reserve_gate_t)(const void *owner);

/**
 * ccs_pool_set_reserve_gate() - who may carve the small reserve
 * @p:		pool
 * @gate:	returns false for an owner whose small slots must leave the
 *		reserve too (a device that holds more than its share); NULL
 *		lets every owner in
 *
 * Lasting slabs, and the fallback of ccs_slot_alloc_lasting(), are never
 * gated.
 */
void ccs_pool_set_reserve_gate(struct ccs_pool *p, ccs_reserve_gate_t gate);

#endif /* _CC_SWIOTLB_POOL_H */
