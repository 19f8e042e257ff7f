// SPDX-License-Identifier: GPL-2.0
/*
 * cc_swiotlb pool core.
 *
 * The arena: every byte of shared memory the module holds, in units of
 * 64 KiB .. 2 MiB (one per ccs_arena_add(), aligned to their size) split into
 * 64 KiB grains and managed as a buddy allocator of grain runs, per unit
 * (blocks never merge across units).  Each grain carries, preallocated when
 * its unit enters the arena, the slot structs of the smallest class and its
 * lookup hash node, so carving never allocates.
 *
 * A class hands out naturally aligned slots of one power-of-two size.  It
 * carves slabs from the arena: one grain for slots up to 64 KiB, one slot's
 * worth of grains for larger slots (so a large mapping takes a contiguous
 * arena run).  A slab's slot structs are those of its first grain.  Slabs
 * are kept in occupancy buckets so that refills take from the fullest slab
 * first and the others drain towards "all free"; a slab that becomes
 * entirely free goes straight back to the arena (no conversion: the memory
 * stays shared).  Lasting (coherent) allocations get slabs of their own
 * while the arena has room: streaming refills never take from them (a
 * class with dry caches takes their free slots before any larger class)
 * and their slots go straight back to them, bypassing the magazines, so a
 * few long-lived slots fill one slab instead of pinning many half-used
 * ones.
 *
 * In front of the slabs sit per-CPU magazines (Bonwick & Adams, 2001;
 * drivers/iommu/iova.c): per class and CPU a "loaded" and a "previous"
 * magazine under a per-CPU lock that only drains and steals ever contend,
 * and a per-class depot of full and empty magazines.  Every magazine is
 * allocated when the pool is created, so map/unmap never allocate.  An
 * allocation that finds no memory anywhere flushes every class's cached
 * slots back to the arena and tries once more, so one class's caches never
 * strand memory another class needs.
 *
 * Bounce address -> slot: a fixed-size hash of 64 KiB grains with RCU
 * chains; the grain points to the slab covering it, the slab to its slots.
 *
 * Lock order, outermost first (all but hash_lock may be taken in hardirq
 * context, so outside the nesting they are taken with irqsave):
 *	check_lock -> per-CPU cache lock -> depot_lock -> class lock
 *		-> arena_lock
 *	hash_lock -> arena_lock			(arena add/take, may sleep)
 * Every change of a slot's state (slab free list, magazine, in use) and of
 * the per-CPU counters happens under one of its class's locks, so
 * ccs_pool_check() sees a consistent class when it holds them all; carving
 * and returning slabs happen under the class lock and the arena lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": pool: " fmt

#include "pool.h"

/*
 * Occupancy buckets: 0 = no free slot, 1..8 = fls(nr_free), 9 = all free;
 * the lasting slabs' buckets follow (CCS_NR_BUCKETS + the same).
 */
#define CCS_NR_BUCKETS		10
#define CCS_BUCKET_ALL_FREE	(CCS_NR_BUCKETS - 1)
#define CCS_PLAIN_BUCKETS	(BIT(CCS_NR_BUCKETS) - 1)

/* Slot structs per grain: enough for the smallest class. */
#define CCS_GRAIN_SLOTS		(1U << (CCS_GRAIN_SHIFT - CCS_MIN_SLOT_SHIFT))
#define CCS_UNIT_ORDERS		(CCS_UNIT_MAX_SHIFT - CCS_GRAIN_SHIFT + 1)

/*
 * What a class may cache is bounded in bytes, not in slots: a magazine
 * holds at most CCS_MAG_BYTES of slots (one slot at least, at most
 * CCS_MAG_MAX), and the depot at most CCS_DEPOT_BYTES of full magazines (two
 * at least, 2 per CPU + 4 at most).  Cached slots keep their slabs carved,
 * and kccd counts carved bytes as taken: a cache sized in slots let the
 * large classes of a mixed-size workload hold several MiB that no mapping
 * used, filled over seconds and grew the arena late.  A large slot's copy
 * costs far more than a trip to its class lock, so large classes lose
 * nothing by caching few.
 */
#define CCS_MAG_BYTES		(64U * 1024)
#define CCS_MAG_MIN		1U
#define CCS_MAG_MAX		64U
#define CCS_DEPOT_BYTES		(512U * 1024)

/*
 * A mapping may fall back to a class whose slots are at most this many
 * times (as a shift: 4x) the wanted slot size, when the wanted class is dry
 * and the arena has no block for it but a larger class has a cached slot.
 */
#define CCS_FALLBACK_SHIFT	2

/* Lookup table: one bucket per 64 KiB grain of max_bytes, within bounds. */
#define CCS_HASH_MIN_BITS	6
#define CCS_HASH_MAX_BITS	20

/* Grain states in the arena */
enum {
	CCS_GRAIN_BODY,		/* inside a free block or a slab, not its head */
	CCS_GRAIN_FREE,		/* head of a free block of @order */
	CCS_GRAIN_CARVED,	/* head of a slab of @order */
};

struct ccs_mag {
	u32 n;
	u32 mark;			/* ccs_pool_check() visit mark */
	struct ccs_slot *slots[];
};

struct ccs_unit;

/* 64 KiB of arena memory and all the metadata it may ever need. */
struct ccs_grain {
	struct hlist_node node;		/* lookup hash chain */
	u64 key;			/* phys >> CCS_GRAIN_SHIFT */
	struct ccs_unit *unit;
	struct ccs_chunk __rcu *slab;	/* slab covering it, NULL while free */
	struct list_head free_link;	/* arena free list, while a free head */
	u8 state;
	u8 order;			/* of the block it heads */
	struct ccs_chunk head;		/* the slab it heads, while carved */
	struct ccs_slot slots[CCS_GRAIN_SLOTS];
};

/* One ccs_arena_add(): a power-of-two run of grains, aligned to its size. */
struct ccs_unit {
	struct list_head link;		/* in ccs_pool::units */
	void *vaddr;
	phys_addr_t phys;
	u32 size;
	u32 nr_grains;
	u32 free;			/* bytes in free blocks, arena_lock */
	atomic_t lasting;		/* lasting slots in use in it */
	u8 order;
	struct rcu_head rcu;		/* metadata freed after lookups */
	struct ccs_grain grains[];
};

struct ccs_class {
	/* read-mostly after ccs_pool_create() */
	u32 slot_size;
	u32 slab_size;
	u32 slot_shift;
	u32 slab_order;			/* in grains */
	u32 mag_cap;
	u32 batch;			/* slots per refill from the slabs */
	int fallback_last;		/* largest class it may fall back to */
	u32 nr_mags;			/* 2 per CPU + the depot's */
	u32 depot_size;
	size_t mag_stride;
	void *mag_mem;
	struct ccs_mag **depot_full;
	struct ccs_mag **depot_empty;

	/* slab lists, protected by @lock */
	spinlock_t lock ____cacheline_aligned_in_smp;
	unsigned long nonempty;		/* bitmap of non-empty buckets */
	struct list_head buckets[2 * CCS_NR_BUCKETS];	/* plain, lasting */
	u64 total;			/* slots in all slabs */
	u64 chunk_free;			/* slots on slab free lists */
	u64 bytes;
	u32 chunks;

	spinlock_t depot_lock ____cacheline_aligned_in_smp;
	u32 nr_full;
	u32 nr_empty;

	atomic_long_t in_use ____cacheline_aligned_in_smp;
	atomic_long_t hiwater;
};

/*
 * Per CPU and class.  The counters change only under @lock (a steal counts
 * on the victim's), are read without it, and only their sums mean anything.
 */
struct ccs_cpu_cache {
	spinlock_t lock;		/* taken by others only to drain or steal */
	struct ccs_mag *loaded;
	struct ccs_mag *prev;
	u64 allocs;
	u64 frees;
	u64 fallbacks;
	u64 failures;
} ____cacheline_aligned_in_smp;

struct ccs_pcpu {
	struct ccs_cpu_cache cc[CCS_MAX_CLASSES];
};

struct ccs_pool {
	int nr_classes;
	unsigned int nr_cpus;
	/* smallest class whose slot shift is >= the index */
	s8 class_of_shift[CCS_MAX_SLOT_SHIFT + 1];
	struct ccs_pcpu __percpu *pcpu;

	spinlock_t hash_lock;		/* writers of @hash, @units */
	struct hlist_head *hash;
	unsigned int hash_bits;

	/* the arena, protected by @arena_lock */
	spinlock_t arena_lock ____cacheline_aligned_in_smp;
	struct list_head free_blocks[CCS_UNIT_ORDERS];
	unsigned long free_orders;	/* bitmap of non-empty free lists */
	struct list_head units;
	u64 arena_bytes;		/* READ_ONCE() without the lock */
	u64 arena_free;			/* READ_ONCE() without the lock */
	u64 nr_units;
	u64 carved_peak;		/* kccd's window, ccs_pool_take_carved_peak() */
	u64 carves;
	u64 slab_returns;
	u32 small_reserve;		/* ccs_pool_set_small_reserve() */
	ccs_reserve_gate_t reserve_gate;	/* ccs_pool_set_reserve_gate() */

	/* bytes of slots in use, and their high-water marks */
	atomic_long_t mapped ____cacheline_aligned_in_smp;
	atomic_long_t mapped_hiwater;
	atomic_long_t mapped_peak;	/* kccd's window, ccs_pool_take_peak() */
	u64 held_at_hiwater;

	spinlock_t check_lock;		/* nest lock of ccs_pool_check() */
	u32 check_epoch;
	atomic_long_t bad_frees;
	atomic_long_t dry_drains;
	atomic_long_t reserve_gated;	/* carves the reserve gate kept out */
	atomic_long_t lasting_bytes;	/* slot bytes of lasting slots in use */
	atomic_long_t draining;		/* a dry drain is running */

	struct ccs_class classes[CCS_MAX_CLASSES];
};

static const u8 ccs_preset_pow2[] = { 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 };
static const u8 ccs_preset_rfc[] = { 9, 11, 12, 14, 19 };

static inline struct ccs_cpu_cache *ccs_cc(struct ccs_pool *p,
					   unsigned int cpu, int cls)
{
	return &per_cpu_ptr(p->pcpu, cpu)->cc[cls];
}

/*
 * The CPU we run on is only a hint: the per-CPU lock, not the CPU, protects
 * a cache, so being migrated after reading it is harmless.
 */
static inline unsigned int ccs_this_cpu(const struct ccs_pool *p)
{
	unsigned int cpu = raw_smp_processor_id();

	return likely(cpu < p->nr_cpus) ? cpu : cpu % p->nr_cpus;
}

static inline struct ccs_mag *ccs_mag_at(const struct ccs_class *c,
					 unsigned int i)
{
	return (struct ccs_mag *)((char *)c->mag_mem + i * c->mag_stride);
}

static inline bool ccs_cls_valid(const struct ccs_pool *p, int cls)
{
	return cls >= 0 && cls < p->nr_classes;
}

int ccs_pool_nr_classes(const struct ccs_pool *p)
{
	return p->nr_classes;
}

u32 ccs_class_slot_size(const struct ccs_pool *p, int cls)
{
	return ccs_cls_valid(p, cls) ? p->classes[cls].slot_size : 0;
}

u32 ccs_class_chunk_size(const struct ccs_pool *p, int cls)
{
	return ccs_cls_valid(p, cls) ? p->classes[cls].slab_size : 0;
}

u64 ccs_pool_bad_frees(const struct ccs_pool *p)
{
	return atomic_long_read(&p->bad_frees);
}

u64 ccs_pool_dry_drains(const struct ccs_pool *p)
{
	return atomic_long_read(&p->dry_drains);
}

void ccs_pool_set_small_reserve(struct ccs_pool *p, u32 bytes)
{
	WRITE_ONCE(p->small_reserve, bytes);
}

void ccs_pool_set_reserve_gate(struct ccs_pool *p, ccs_reserve_gate_t gate)
{
	WRITE_ONCE(p->reserve_gate, gate);
}

u64 ccs_pool_held_bytes(const struct ccs_pool *p)
{
	return READ_ONCE(p->arena_bytes);
}

u64 ccs_pool_mapped_bytes(const struct ccs_pool *p)
{
	long n = atomic_long_read(&p->mapped);

	return n > 0 ? n : 0;
}

u64 ccs_pool_lasting_bytes(const struct ccs_pool *p)
{
	long n = atomic_long_read(&p->lasting_bytes);

	return n > 0 ? n : 0;
}

u64 ccs_pool_free_bytes(const struct ccs_pool *p)
{
	u64 held = ccs_pool_held_bytes(p), mapped = ccs_pool_mapped_bytes(p);

	return held > mapped ? held - mapped : 0;
}

u64 ccs_pool_uncarved_bytes(const struct ccs_pool *p)
{
	return READ_ONCE(p->arena_free);
}

/* ---- arena (arena_lock held) -------------------------------------------- */

static inline u32 ccs_grain_idx(const struct ccs_grain *g)
{
	return g - g->unit->grains;
}

static inline phys_addr_t ccs_grain_phys(const struct ccs_grain *g)
{
	return g->unit->phys + ((phys_addr_t)ccs_grain_idx(g) << CCS_GRAIN_SHIFT);
}

static inline void *ccs_grain_vaddr(const struct ccs_grain *g)
{
	return (char *)g->unit->vaddr +
	       ((size_t)ccs_grain_idx(g) << CCS_GRAIN_SHIFT);
}

static void ccs_free_block_add(struct ccs_pool *p, struct ccs_grain *g,
			       unsigned int order)
{
	g->state = CCS_GRAIN_FREE;
	g->order = order;
	list_add(&g->free_link, &p->free_blocks[order]);
	p->free_orders |= BIT(order);
}

static void ccs_free_block_del(struct ccs_pool *p, struct ccs_grain *g)
{
	list_del(&g->free_link);
	if (list_empty(&p->free_blocks[g->order]))
		p->free_orders &= ~BIT(g->order);
	g->state = CCS_GRAIN_BODY;
}

/*
 * Among the first few free blocks of a list, the one in the unit with the
 * least free memory (for a lasting slab: the most lasting slots first):
 * long-lived mappings (a NIC's ring, NVMe queues) then gather in few units
 * instead of pinning every unit, which kccd could otherwise never give
 * back.  Bounded: the carving path stays short.
 */
#define CCS_PICK_SCAN	8

static bool ccs_unit_better(const struct ccs_unit *a, const struct ccs_unit *b,
			    bool lasting)
{
	if (lasting && atomic_read(&a->lasting) != atomic_read(&b->lasting))
		return atomic_read(&a->lasting) > atomic_read(&b->lasting);
	return READ_ONCE(a->free) < READ_ONCE(b->free);
}

/* The unit a slab lies in. */
static inline struct ccs_unit *ccs_chunk_unit(const struct ccs_chunk *chunk)
{
	return container_of(chunk, struct ccs_grain, head)->unit;
}

static struct ccs_grain *ccs_pick_block(struct list_head *list, bool lasting)
{
	struct ccs_grain *g, *best = NULL;
	unsigned int n = 0;

	list_for_each_entry(g, list, free_link) {
		if (!best || ccs_unit_better(g->unit, best->unit, lasting))
			best = g;
		if (++n == CCS_PICK_SCAN)
			break;
	}
	return best;
}

/*
 * Take a free block of @order grains, split down (buddy): the smallest free
 * block that is large enough, or for a lasting slab the block of any large
 * enough order whose unit holds the most lasting slots (lasting slabs are
 * rare; their unit matters more than the fit).  At least @keep free bytes
 * must be left.  Returns its head grain, or NULL.
 */
static struct ccs_grain *ccs_arena_get(struct ccs_pool *p, unsigned int order,
				       bool lasting, u32 keep)
{
	unsigned long mask = p->free_orders & ~(BIT(order) - 1);
	struct ccs_grain *g, *cand;
	unsigned int o;

	lockdep_assert_held(&p->arena_lock);
	if (!mask || p->arena_free < ((u64)CCS_GRAIN_SIZE << order) + keep)
		return NULL;
	o = __ffs(mask);
	g = ccs_pick_block(&p->free_blocks[o], lasting);
	while (lasting && (mask &= mask - 1)) {
		cand = ccs_pick_block(&p->free_blocks[__ffs(mask)], true);
		if (ccs_unit_better(cand->unit, g->unit, true))
			g = cand;
	}
	o = g->order;
	ccs_free_block_del(p, g);
	while (o > order) {
		o--;
		ccs_free_block_add(p, g + BIT(o), o);
	}
	g->state = CCS_GRAIN_CARVED;
	g->order = order;
	g->unit->free -= CCS_GRAIN_SIZE << order;
	WRITE_ONCE(p->arena_free, p->arena_free - ((u64)CCS_GRAIN_SIZE << order));
	p->carved_peak = max(p->carved_peak, p->arena_bytes - p->arena_free);
	return g;
}

/* Give back the block headed by @g, merging it with free buddies. */
static void ccs_arena_put(struct ccs_pool *p, struct ccs_grain *g)
{
	struct ccs_unit *u = g->unit;
	unsigned int order = g->order;
	u32 idx = ccs_grain_idx(g);

	lockdep_assert_held(&p->arena_lock);
	WRITE_ONCE(p->arena_free, p->arena_free + ((u64)CCS_GRAIN_SIZE << order));
	u->free += CCS_GRAIN_SIZE << order;
	g->state = CCS_GRAIN_BODY;
	while (order < u->order) {
		struct ccs_grain *buddy = &u->grains[idx ^ BIT(order)];

		if (buddy->state != CCS_GRAIN_FREE || buddy->order != order)
			break;
		ccs_free_block_del(p, buddy);
		idx &= ~BIT(order);
		order++;
	}
	ccs_free_block_add(p, &u->grains[idx], order);
}

/* ---- slabs (class lock held) -------------------------------------------- */

static inline unsigned int ccs_bucket_of(const struct ccs_chunk *chunk)
{
	unsigned int b = chunk->lasting ? CCS_NR_BUCKETS : 0;

	if (!chunk->nr_free)
		return b;
	if (chunk->nr_free == chunk->nr_slots)
		return b + CCS_BUCKET_ALL_FREE;
	return b + fls(chunk->nr_free);
}

static void ccs_bucket_del(struct ccs_class *c, struct ccs_chunk *chunk)
{
	list_del(&chunk->link);
	if (list_empty(&c->buckets[chunk->bucket]))
		c->nonempty &= ~BIT(chunk->bucket);
}

static void ccs_bucket_add(struct ccs_class *c, struct ccs_chunk *chunk)
{
	chunk->bucket = ccs_bucket_of(chunk);
	list_add(&chunk->link, &c->buckets[chunk->bucket]);
	c->nonempty |= BIT(chunk->bucket);
}

/*
 * Free arena bytes a plain slab of @c carved for @owner must leave: the
 * small reserve (ccs_pool_set_small_reserve()), unless the slab's slots are
 * small and the gate lets @owner in.  The gate is asked only by a carve
 * that would reach into the reserve, so its cost stays off the common path.
 * The answer for small slots is taken before the arena lock: a carve that
 * races with another may let one slab of an owner the gate would keep out
 * into the reserve, never refuse one it lets in.
 */
static u32 ccs_reserve_keep(struct ccs_pool *p, const struct ccs_class *c,
			    const void *owner)
{
	u32 keep = READ_ONCE(p->small_reserve);
	ccs_reserve_gate_t gate;

	if (!keep || c->slot_size > CCS_SMALL_SLOT_MAX)
		return keep;
	if (READ_ONCE(p->arena_free) >= c->slab_size + keep)
		return 0;	/* the reserve is not reached */
	gate = READ_ONCE(p->reserve_gate);
	if (!owner || !gate || gate(owner))
		return 0;
	atomic_long_inc(&p->reserve_gated);
	return keep;
}

/*
 * Carve a new slab for class @cls out of the arena: a lasting slab (for
 * lasting slots only) in the unit that holds the most lasting slots, or a
 * plain one in the fullest unit.  No allocation: the slab descriptor and
 * its slot structs are those of the block's first grain.
 */
static struct ccs_chunk *ccs_carve(struct ccs_pool *p, int cls, bool lasting,
				   const void *owner)
{
	struct ccs_class *c = &p->classes[cls];
	struct ccs_chunk *chunk;
	struct ccs_grain *g;
	u32 i, keep = 0;

	lockdep_assert_held(&c->lock);
	if (!lasting)
		keep = ccs_reserve_keep(p, c, owner);
	if (READ_ONCE(p->arena_free) < c->slab_size + keep)
		return NULL;
	spin_lock(&p->arena_lock);
	g = ccs_arena_get(p, c->slab_order, lasting, keep);
	if (g)
		p->carves++;
	spin_unlock(&p->arena_lock);
	if (!g)
		return NULL;

	chunk = &g->head;
	chunk->slots = g->slots;
	chunk->vaddr = ccs_grain_vaddr(g);
	chunk->phys = ccs_grain_phys(g);
	chunk->size = c->slab_size;
	chunk->slot_shift = c->slot_shift;
	chunk->cls = cls;
	chunk->lasting = lasting;
	chunk->nr_slots = c->slab_size >> c->slot_shift;
	chunk->nr_free = chunk->nr_slots;
	chunk->free_head = 0;
	for (i = 0; i < chunk->nr_slots; i++) {
		struct ccs_slot *slot = &g->slots[i];

		slot->chunk = chunk;
		slot->index = i;
		slot->owner = NULL;
		slot->lasting = 0;
		slot->next = i + 1 < chunk->nr_slots ? (s32)i + 1 : -1;
	}
	/* lookups may find it from now on: every field above is set */
	for (i = 0; i < BIT(c->slab_order); i++)
		rcu_assign_pointer(g[i].slab, chunk);

	ccs_bucket_add(c, chunk);
	WRITE_ONCE(c->total, c->total + chunk->nr_slots);
	c->chunk_free += chunk->nr_slots;
	c->bytes += chunk->size;
	c->chunks++;
	return chunk;
}

/* An entirely free slab of @c goes back to the arena: no conversion. */
static void ccs_uncarve(struct ccs_pool *p, struct ccs_class *c,
			struct ccs_chunk *chunk)
{
	struct ccs_grain *g = container_of(chunk, struct ccs_grain, head);
	u32 i;

	lockdep_assert_held(&c->lock);
	ccs_bucket_del(c, chunk);
	WRITE_ONCE(c->total, c->total - chunk->nr_slots);
	c->chunk_free -= chunk->nr_slots;
	c->bytes -= chunk->size;
	c->chunks--;
	/*
	 * A lookup racing with this only ever comes with a stale or bogus
	 * address: every slot is free, so it finds nothing in use.
	 */
	for (i = 0; i < BIT(c->slab_order); i++)
		RCU_INIT_POINTER(g[i].slab, NULL);
	spin_lock(&p->arena_lock);
	p->slab_returns++;
	ccs_arena_put(p, g);
	spin_unlock(&p->arena_lock);
}

static inline void ccs_rebucket(struct ccs_class *c, struct ccs_chunk *chunk)
{
	if (ccs_bucket_of(chunk) != chunk->bucket) {
		ccs_bucket_del(c, chunk);
		ccs_bucket_add(c, chunk);
	}
}

/*
 * Take up to @want slots from the slabs, fullest slab first so that the
 * emptier slabs keep emptying out and go back to the arena; carve a new slab
 * only when no slab has a free slot (a batch stops short rather than carve).
 * Each slab is used until it has no free slot left, which keeps this O(1)
 * per slot.
 */
static u32 ccs_chunks_get(struct ccs_pool *p, int cls, struct ccs_slot **out,
			  u32 want, const void *owner)
{
	struct ccs_class *c = &p->classes[cls];
	u32 n = 0;

	lockdep_assert_held(&c->lock);
	while (n < want) {
		/* plain slabs only: lasting slots never enter a magazine */
		unsigned long mask = c->nonempty & CCS_PLAIN_BUCKETS & ~1UL;
		struct ccs_chunk *chunk;

		/* a new slab only when no slab has a free slot left at all */
		if (mask)
			chunk = list_first_entry(&c->buckets[__ffs(mask)],
						 struct ccs_chunk, link);
		else
			chunk = n ? NULL : ccs_carve(p, cls, false, owner);
		if (!chunk)
			break;
		while (n < want && chunk->nr_free) {
			struct ccs_slot *slot = &chunk->slots[chunk->free_head];

			chunk->free_head = slot->next;
			chunk->nr_free--;
			slot->next = -1;
			out[n++] = slot;
		}
		ccs_rebucket(c, chunk);
	}
	c->chunk_free -= n;
	return n;
}

static void ccs_chunks_put(struct ccs_pool *p, struct ccs_class *c,
			   struct ccs_slot **slots, u32 n)
{
	u32 i;

	lockdep_assert_held(&c->lock);
	c->chunk_free += n;
	for (i = 0; i < n; i++) {
		struct ccs_slot *slot = slots[i];
		struct ccs_chunk *chunk = slot->chunk;

		slot->next = chunk->free_head;
		chunk->free_head = slot->index;
		chunk->nr_free++;
		if (chunk->nr_free == chunk->nr_slots)
			ccs_uncarve(p, c, chunk);
		else
			ccs_rebucket(c, chunk);
	}
}

/* Pop the first free slot of @chunk, which has one. */
static struct ccs_slot *ccs_chunk_pop(struct ccs_class *c,
				      struct ccs_chunk *chunk)
{
	struct ccs_slot *slot = &chunk->slots[chunk->free_head];

	chunk->free_head = slot->next;
	chunk->nr_free--;
	slot->next = -1;
	c->chunk_free--;
	ccs_rebucket(c, chunk);
	return slot;
}

/* Lasting buckets of a nonempty bitmap that hold a slab with a free slot. */
static inline unsigned long ccs_lasting_free_mask(unsigned long nonempty)
{
	return (nonempty >> CCS_NR_BUCKETS) & ~1UL;
}

/* The fullest lasting slab of @c with a free slot, or NULL. */
static struct ccs_chunk *ccs_lasting_slab(struct ccs_class *c)
{
	unsigned long mask = ccs_lasting_free_mask(c->nonempty);

	if (!mask)
		return NULL;
	return list_first_entry(&c->buckets[CCS_NR_BUCKETS + __ffs(mask)],
				struct ccs_chunk, link);
}

/*
 * One free slot of @cls for a lasting allocation: from the fullest lasting
 * slab with a free slot, else from a new lasting slab.  Only when the arena
 * has no room for one: from the plain slab, among the first few of each
 * occupancy bucket, whose unit holds the most lasting slots (then the least
 * free memory).  Long-lived slots then fill few slabs in the units that
 * already hold some, and a unit grown for a burst goes back once the
 * burst's mappings are.
 */
static struct ccs_slot *ccs_lasting_get(struct ccs_pool *p, int cls)
{
	struct ccs_class *c = &p->classes[cls];
	struct ccs_chunk *chunk, *best;
	unsigned int b, n;

	lockdep_assert_held(&c->lock);
	best = ccs_lasting_slab(c);
	if (!best)
		best = ccs_carve(p, cls, true, NULL);
	if (best)
		return ccs_chunk_pop(c, best);
	for (b = 1; b < CCS_NR_BUCKETS; b++) {
		n = 0;
		list_for_each_entry(chunk, &c->buckets[b], link) {
			if (!best || ccs_unit_better(ccs_chunk_unit(chunk),
						     ccs_chunk_unit(best), true))
				best = chunk;
			if (++n == CCS_PICK_SCAN)
				break;
		}
	}
	return best ? ccs_chunk_pop(c, best) : NULL;
}

/* ---- allocation ---------------------------------------------------------- */

/* ccs_class_for(), inlined into the allocation path */
static __always_inline int __ccs_class_for(const struct ccs_pool *p,
					   phys_addr_t orig, size_t size,
					   unsigned int min_align_mask,
					   size_t align)
{
	u64 need;
	int shift, cls;

	if (!size || size > CCS_MAX_SLOT_SIZE ||
	    (align && !is_power_of_2(align)))
		return -EINVAL;
	need = size;
	/*
	 * Slots are aligned to their size, so slot base + (orig & mask) keeps
	 * the original's low bits as long as the slot covers mask + 1 bytes.
	 */
	if (min_align_mask)
		need = max_t(u64, need + (orig & min_align_mask),
			     (u64)min_align_mask + 1);
	need = max_t(u64, need, align);
	if (need > CCS_MAX_SLOT_SIZE)
		return -EINVAL;
	shift = need <= (1U << CCS_MIN_SLOT_SHIFT) ? CCS_MIN_SLOT_SHIFT :
		ilog2(need - 1) + 1;
	cls = p->class_of_shift[shift];
	return cls >= 0 ? cls : -EINVAL;
}

int ccs_class_for(const struct ccs_pool *p, phys_addr_t orig, size_t size,
		  unsigned int min_align_mask, size_t align)
{
	return __ccs_class_for(p, orig, size, min_align_mask, align);
}

/* Raise @hw to @n if that is higher; true when this call raised it. */
static inline bool ccs_raise(atomic_long_t *hw, long n)
{
	long old = atomic_long_read(hw);

	while (unlikely(n > old))
		if (atomic_long_try_cmpxchg(hw, &old, n))
			return true;
	return false;
}

static __always_inline void ccs_note_in_use(struct ccs_pool *p,
					    struct ccs_class *c)
{
	long n = atomic_long_inc_return(&c->in_use);
	long bytes = atomic_long_add_return(c->slot_size, &p->mapped);

	ccs_raise(&c->hiwater, n);
	ccs_raise(&p->mapped_peak, bytes);
	/* cheap unless a new high: then sample what the module holds */
	if (ccs_raise(&p->mapped_hiwater, bytes))
		WRITE_ONCE(p->held_at_hiwater, READ_ONCE(p->arena_bytes));
}

/* Hand @slot out: caller holds the lock of @cc, whose counters get it. */
static void ccs_slot_take(struct ccs_pool *p, struct ccs_class *c,
			  struct ccs_cpu_cache *cc, struct ccs_slot *slot,
			  bool fallback)
{
	WRITE_ONCE(slot->in_use, 1);
	ccs_note_in_use(p, c);
	WRITE_ONCE(cc->allocs, cc->allocs + 1);
	if (fallback)
		WRITE_ONCE(cc->fallbacks, cc->fallbacks + 1);
}

static inline struct ccs_slot *ccs_mag_pop(struct ccs_mag *m)
{
	return m->n ? m->slots[--m->n] : NULL;
}

static inline void ccs_cc_swap(struct ccs_cpu_cache *cc)
{
	struct ccs_mag *m = cc->loaded;

	cc->loaded = cc->prev;
	cc->prev = m;
}

/*
 * ccs_cache_alloc() found the loaded magazine empty: the previous magazine,
 * then the depot, then the slabs of the class (carving a new one from the
 * arena if needed, for @owner: see ccs_reserve_keep()).  Out of line, so
 * the common case stays a pop inlined into the caller.
 */
static noinline struct ccs_slot *ccs_cache_refill(struct ccs_pool *p,
						  int cls,
						  struct ccs_cpu_cache *cc,
						  const void *owner)
	__must_hold(&cc->lock)
{
	struct ccs_class *c = &p->classes[cls];
	u64 avail;
	u32 n;

	if (cc->prev->n) {
		ccs_cc_swap(cc);
	} else {
		/* both empty: trade the empty one for a full one */
		spin_lock(&c->depot_lock);
		if (c->nr_full) {
			c->depot_empty[c->nr_empty++] = cc->loaded;
			cc->loaded = c->depot_full[--c->nr_full];
		}
		spin_unlock(&c->depot_lock);
	}
	if (!cc->loaded->n) {
		/*
		 * Take a batch, but no more than a fair share of what is
		 * left: scarce memory must not sit in one CPU's magazine
		 * while the others fail.
		 */
		spin_lock(&c->lock);
		avail = c->chunk_free +
			(READ_ONCE(p->arena_free) >> c->slot_shift);
		n = min_t(u64, c->batch, max_t(u64, avail / p->nr_cpus, 1));
		cc->loaded->n = ccs_chunks_get(p, cls, cc->loaded->slots, n,
					       owner);
		spin_unlock(&c->lock);
	}
	return ccs_mag_pop(cc->loaded);
}

/* A slot of class @cls from the cache of @cpu (refilled if need be). */
static __always_inline struct ccs_slot *ccs_cache_alloc(struct ccs_pool *p,
							int cls,
							unsigned int cpu,
							bool fallback,
							const void *owner)
{
	struct ccs_cpu_cache *cc = ccs_cc(p, cpu, cls);
	struct ccs_slot *slot;
	unsigned long flags;

	spin_lock_irqsave(&cc->lock, flags);
	slot = ccs_mag_pop(cc->loaded);
	if (unlikely(!slot))
		slot = ccs_cache_refill(p, cls, cc, owner);
	if (slot)
		ccs_slot_take(p, &p->classes[cls], cc, slot, fallback);
	spin_unlock_irqrestore(&cc->lock, flags);
	return slot;
}

/* Slots cached in magazines or the depot of class @cls (approximate). */
static u64 ccs_class_cached(const struct ccs_pool *p, int cls)
{
	const struct ccs_class *c = &p->classes[cls];
	long in_use = atomic_long_read(&c->in_use);
	u64 total = READ_ONCE(c->total), free_listed = READ_ONCE(c->chunk_free);
	u64 used = (in_use > 0 ? in_use : 0) + free_listed;

	return total > used ? total - used : 0;
}

/* Last resort: a slot cached by another CPU (never wait for its lock). */
static struct ccs_slot *ccs_steal(struct ccs_pool *p, int cls,
				  unsigned int cpu, bool fallback)
{
	struct ccs_class *c = &p->classes[cls];
	unsigned int i;

	/* when nothing is cached (the usual case) do not peek at every CPU */
	if (!ccs_class_cached(p, cls))
		return NULL;
	for (i = 1; i < p->nr_cpus; i++) {
		unsigned int victim = (cpu + i) % p->nr_cpus;
		struct ccs_cpu_cache *cc;
		struct ccs_slot *slot;
		unsigned long flags;

		if (!cpu_possible(victim))
			continue;
		cc = ccs_cc(p, victim, cls);
		/* unlocked peek: a wrong guess only costs or skips a trylock */
		if (!READ_ONCE(READ_ONCE(cc->loaded)->n) &&
		    !READ_ONCE(READ_ONCE(cc->prev)->n))
			continue;
		if (!spin_trylock_irqsave(&cc->lock, flags))
			continue;
		slot = ccs_mag_pop(cc->loaded);
		if (!slot)
			slot = ccs_mag_pop(cc->prev);
		if (slot)
			ccs_slot_take(p, c, cc, slot, fallback);
		spin_unlock_irqrestore(&cc->lock, flags);
		if (slot)
			return slot;
	}
	return NULL;
}

/*
 * A class whose caches, slabs and arena are dry: a free slot of one of its
 * lasting slabs, before any larger class, so a mapping never fails or
 * takes a larger slot while a slot of its own class is free.  Taken
 * straight from the slab and, like every slot of a lasting slab, freed
 * straight back to it (ccs_slot_free()), never cached.
 */
static struct ccs_slot *ccs_lasting_spare(struct ccs_pool *p, int cls,
					  unsigned int cpu)
{
	struct ccs_class *c = &p->classes[cls];
	struct ccs_cpu_cache *cc = ccs_cc(p, cpu, cls);
	struct ccs_slot *slot = NULL;
	struct ccs_chunk *chunk;
	unsigned long flags;

	/* unlocked peek: a wrong guess only costs or skips the locks */
	if (!ccs_lasting_free_mask(READ_ONCE(c->nonempty)))
		return NULL;
	spin_lock_irqsave(&cc->lock, flags);
	spin_lock(&c->lock);
	chunk = ccs_lasting_slab(c);
	if (chunk)
		slot = ccs_chunk_pop(c, chunk);
	spin_unlock(&c->lock);
	if (slot)
		ccs_slot_take(p, c, cc, slot, false);
	spin_unlock_irqrestore(&cc->lock, flags);
	return slot;
}

static void ccs_count_failure(struct ccs_pool *p, int cls, unsigned int cpu)
{
	struct ccs_cpu_cache *cc = ccs_cc(p, cpu, cls);
	unsigned long flags;

	spin_lock_irqsave(&cc->lock, flags);
	WRITE_ONCE(cc->failures, cc->failures + 1);
	spin_unlock_irqrestore(&cc->lock, flags);
}

static void ccs_drain_class(struct ccs_pool *p, int cls);

/*
 * Flush the cached slots of every class that has some back to the slabs
 * (and so entirely free slabs back to the arena).  Returns true when there
 * was anything to flush.
 */
static bool ccs_drain_cached(struct ccs_pool *p)
{
	long idle = 0;
	bool any = false;
	int cls;

	/*
	 * One drainer at a time: under an exhaustion storm every CPU would
	 * otherwise sweep every other CPU's locks; a mapping that finds a
	 * drain running fails (and is requeued) like any exhausted one.
	 */
	if (!atomic_long_try_cmpxchg(&p->draining, &idle, 1))
		return false;
	for (cls = 0; cls < p->nr_classes; cls++) {
		if (!ccs_class_cached(p, cls))
			continue;
		ccs_drain_class(p, cls);
		any = true;
	}
	atomic_long_set(&p->draining, 0);
	return any;
}

/*
 * ccs_slot_alloc(), with @gated: NULL when the reserve gate is not asked
 * (the fallback of a lasting allocation, which may take the reserve),
 * else the owner.
 */
static __always_inline struct ccs_slot *
__ccs_slot_alloc(struct ccs_pool *p, phys_addr_t orig, size_t size,
		 unsigned int min_align_mask, size_t align, void *owner,
		 const void *gated, int *cls_out, bool *fallback_out)
{
	int want = __ccs_class_for(p, orig, size, min_align_mask, align);
	struct ccs_slot *slot;
	unsigned int cpu;
	int cls, last;

	if (cls_out)
		*cls_out = want;
	if (fallback_out)
		*fallback_out = false;
	if (unlikely(want < 0))
		return NULL;

	cpu = ccs_this_cpu(p);
	/*
	 * The wanted class first (its caches, its slabs, the arena, other
	 * CPUs' magazines of it, the free slots of its lasting slabs), then a
	 * cached slot of a larger class within CCS_FALLBACK_SHIFT, never a
	 * smaller class (it could not keep the alignment promises).  Last,
	 * flush every class's caches back to the arena and try the wanted
	 * class again: slots idle in one class's magazines must not make
	 * another class fail.
	 */
	slot = ccs_cache_alloc(p, want, cpu, false, gated);
	if (!slot)
		slot = ccs_steal(p, want, cpu, false);
	if (!slot)
		slot = ccs_lasting_spare(p, want, cpu);
	last = p->classes[want].fallback_last;
	for (cls = want + 1; cls <= last && !slot; cls++)
		if (ccs_class_cached(p, cls))
			slot = ccs_cache_alloc(p, cls, cpu, true, gated);
	for (cls = want + 1; cls <= last && !slot; cls++)
		slot = ccs_steal(p, cls, cpu, true);
	if (unlikely(!slot) && ccs_drain_cached(p)) {
		atomic_long_inc(&p->dry_drains);
		slot = ccs_cache_alloc(p, want, cpu, false, gated);
	}
	if (unlikely(!slot)) {
		ccs_count_failure(p, want, cpu);
		return NULL;
	}

	slot->orig = orig;
	slot->size = size;
	slot->offset = orig & min_align_mask;
	slot->owner = owner;
	if (fallback_out)
		*fallback_out = slot->chunk->cls != want;
	return slot;
}

struct ccs_slot *ccs_slot_alloc(struct ccs_pool *p, phys_addr_t orig,
				size_t size, unsigned int min_align_mask,
				size_t align, void *owner, int *cls_out,
				bool *fallback_out)
{
	return __ccs_slot_alloc(p, orig, size, min_align_mask, align, owner,
				owner, cls_out, fallback_out);
}

struct ccs_slot *ccs_slot_alloc_lasting(struct ccs_pool *p, size_t size,
					size_t align, void *owner, int *cls_out)
{
	int cls = ccs_class_for(p, 0, size, 0, align);
	struct ccs_cpu_cache *cc;
	struct ccs_slot *slot;
	struct ccs_class *c;
	unsigned long flags;

	if (cls_out)
		*cls_out = cls;
	if (unlikely(cls < 0))
		return NULL;
	c = &p->classes[cls];
	cc = ccs_cc(p, ccs_this_cpu(p), cls);
	spin_lock_irqsave(&cc->lock, flags);
	spin_lock(&c->lock);
	slot = ccs_lasting_get(p, cls);
	spin_unlock(&c->lock);
	if (slot)
		ccs_slot_take(p, c, cc, slot, false);
	spin_unlock_irqrestore(&cc->lock, flags);
	/* nothing in the slabs or the arena: wherever the pool has one */
	if (!slot)
		slot = __ccs_slot_alloc(p, 0, size, 0, align, owner, NULL,
					cls_out, NULL);
	if (!slot)
		return NULL;
	slot->orig = 0;
	slot->size = size;
	slot->offset = 0;
	slot->owner = owner;
	slot->lasting = 1;
	atomic_inc(&ccs_chunk_unit(slot->chunk)->lasting);
	atomic_long_add(p->classes[ccs_slot_class(slot)].slot_size,
			&p->lasting_bytes);
	return slot;
}

static void ccs_report_bad_free(struct ccs_pool *p, struct ccs_slot *slot)
{
	phys_addr_t base = ccs_slot_base(slot);

	atomic_long_inc(&p->bad_frees);
	pr_err_ratelimited("free of a slot not in use (class %d, slot at %pa): ignored\n",
			   slot->chunk->cls, &base);
}

void ccs_slot_free(struct ccs_pool *p, struct ccs_slot *slot)
{
	struct ccs_cpu_cache *cc;
	struct ccs_class *c;
	unsigned long flags;
	int cls;

	if (unlikely(!slot))
		return;
	cls = slot->chunk->cls;
	c = &p->classes[cls];
	cc = ccs_cc(p, ccs_this_cpu(p), cls);
	spin_lock_irqsave(&cc->lock, flags);
	/* cmpxchg: two racing frees of one slot must not both get through */
	if (unlikely(cmpxchg(&slot->in_use, 1, 0) != 1)) {
		spin_unlock_irqrestore(&cc->lock, flags);
		ccs_report_bad_free(p, slot);
		return;
	}
	slot->owner = NULL;
	if (slot->lasting) {
		slot->lasting = 0;
		atomic_dec(&ccs_chunk_unit(slot->chunk)->lasting);
		atomic_long_sub(c->slot_size, &p->lasting_bytes);
	}
	atomic_long_dec(&c->in_use);
	atomic_long_sub(c->slot_size, &p->mapped);
	WRITE_ONCE(cc->frees, cc->frees + 1);

	/* a lasting slab's slot goes straight back: no magazine holds one */
	if (slot->chunk->lasting) {
		spin_lock(&c->lock);
		ccs_chunks_put(p, c, &slot, 1);
		spin_unlock(&c->lock);
		spin_unlock_irqrestore(&cc->lock, flags);
		return;
	}

	if (unlikely(cc->loaded->n == c->mag_cap)) {
		if (cc->prev->n == c->mag_cap) {
			/* both full: trade the previous one for an empty one */
			spin_lock(&c->depot_lock);
			if (c->nr_empty) {
				c->depot_full[c->nr_full++] = cc->prev;
				cc->prev = c->depot_empty[--c->nr_empty];
			}
			spin_unlock(&c->depot_lock);
			if (cc->prev->n) {
				/* depot full too: back to the slabs */
				spin_lock(&c->lock);
				ccs_chunks_put(p, c, cc->prev->slots,
					       cc->prev->n);
				spin_unlock(&c->lock);
				cc->prev->n = 0;
			}
		}
		ccs_cc_swap(cc);
	}
	cc->loaded->slots[cc->loaded->n++] = slot;
	spin_unlock_irqrestore(&cc->lock, flags);
}

struct ccs_slot *ccs_slot_lookup(struct ccs_pool *p, phys_addr_t phys)
{
	u64 key = phys >> CCS_GRAIN_SHIFT;
	struct ccs_slot *slot = NULL;
	struct ccs_grain *g;

	hlist_for_each_entry_rcu(g, &p->hash[hash_64(key, p->hash_bits)], node) {
		struct ccs_chunk *chunk;
		u64 idx;

		if (g->key != key)
			continue;
		chunk = rcu_dereference_sched(g->slab);
		if (!chunk)
			break;
		/*
		 * While a slot is in use its slab stays carved and these
		 * fields stay put; a racing re-carve can only be seen with a
		 * stale address, and the bound keeps that inside the array.
		 */
		idx = (phys - READ_ONCE(chunk->phys)) >> READ_ONCE(chunk->slot_shift);
		if (idx < CCS_GRAIN_SLOTS && READ_ONCE(chunk->slots[idx].in_use))
			slot = &chunk->slots[idx];
		break;
	}
	return slot;
}

/* ---- draining, arena units ---------------------------------------------- */

static void ccs_drain_class(struct ccs_pool *p, int cls)
{
	struct ccs_class *c = &p->classes[cls];
	unsigned long flags;
	unsigned int cpu;

	for (cpu = 0; cpu < p->nr_cpus; cpu++) {
		struct ccs_cpu_cache *cc;

		if (!cpu_possible(cpu))
			continue;
		cc = ccs_cc(p, cpu, cls);
		spin_lock_irqsave(&cc->lock, flags);
		spin_lock(&c->lock);
		ccs_chunks_put(p, c, cc->loaded->slots, cc->loaded->n);
		ccs_chunks_put(p, c, cc->prev->slots, cc->prev->n);
		spin_unlock(&c->lock);
		cc->loaded->n = 0;
		cc->prev->n = 0;
		spin_unlock_irqrestore(&cc->lock, flags);
	}

	spin_lock_irqsave(&c->depot_lock, flags);
	spin_lock(&c->lock);
	while (c->nr_full) {
		struct ccs_mag *m = c->depot_full[--c->nr_full];

		ccs_chunks_put(p, c, m->slots, m->n);
		m->n = 0;
		c->depot_empty[c->nr_empty++] = m;
	}
	spin_unlock(&c->lock);
	spin_unlock_irqrestore(&c->depot_lock, flags);
}

void ccs_pool_drain(struct ccs_pool *p, int cls)
{
	int i;

	if (cls >= p->nr_classes)
		return;
	for (i = cls < 0 ? 0 : cls; i < p->nr_classes; i++) {
		ccs_drain_class(p, i);
		if (cls >= 0)
			break;
	}
}

static struct ccs_grain *ccs_hash_find(struct ccs_pool *p, u64 key)
{
	struct ccs_grain *g;

	hlist_for_each_entry(g, &p->hash[hash_64(key, p->hash_bits)], node)
		if (g->key == key)
			return g;
	return NULL;
}

int ccs_arena_add(struct ccs_pool *p, void *vaddr, phys_addr_t phys, u32 size)
{
	struct ccs_unit *u;
	unsigned long flags;
	u32 i, n;

	if (!vaddr || !is_power_of_2(size) || size < CCS_GRAIN_SIZE ||
	    size > CCS_UNIT_MAX_SIZE || !IS_ALIGNED(phys, size) ||
	    !IS_ALIGNED((unsigned long)vaddr, size))
		return -EINVAL;
	might_sleep();

	n = size >> CCS_GRAIN_SHIFT;
	u = kvzalloc(struct_size(u, grains, n), GFP_KERNEL);
	if (!u)
		return -ENOMEM;
	u->vaddr = vaddr;
	u->phys = phys;
	u->size = size;
	u->nr_grains = n;
	u->free = size;
	u->order = ilog2(n);
	for (i = 0; i < n; i++) {
		u->grains[i].unit = u;
		u->grains[i].key = (phys >> CCS_GRAIN_SHIFT) + i;
		INIT_LIST_HEAD(&u->grains[i].free_link);
	}

	spin_lock(&p->hash_lock);
	for (i = 0; i < n; i++) {
		if (ccs_hash_find(p, u->grains[i].key)) {
			spin_unlock(&p->hash_lock);
			pr_err("arena unit at %pa overlaps one already in the pool\n",
			       &phys);
			kvfree(u);
			return -EINVAL;
		}
	}
	for (i = 0; i < n; i++)
		hlist_add_head_rcu(&u->grains[i].node,
				   &p->hash[hash_64(u->grains[i].key,
						    p->hash_bits)]);
	spin_lock_irqsave(&p->arena_lock, flags);
	list_add_tail(&u->link, &p->units);
	p->nr_units++;
	WRITE_ONCE(p->arena_bytes, p->arena_bytes + size);
	WRITE_ONCE(p->arena_free, p->arena_free + size);
	ccs_free_block_add(p, &u->grains[0], u->order);
	spin_unlock_irqrestore(&p->arena_lock, flags);
	spin_unlock(&p->hash_lock);
	return 0;
}

static bool ccs_unit_free(const struct ccs_unit *u)
{
	return u->grains[0].state == CCS_GRAIN_FREE &&
	       u->grains[0].order == u->order;
}

/* Unlink the largest entirely free unit of at most @max_size, or NULL. */
static struct ccs_unit *ccs_unlink_free_unit(struct ccs_pool *p, u32 max_size)
{
	struct ccs_unit *u, *best = NULL;
	unsigned long flags;

	spin_lock_irqsave(&p->arena_lock, flags);
	list_for_each_entry(u, &p->units, link)
		if (ccs_unit_free(u) && u->size <= max_size &&
		    (!best || u->size > best->size))
			best = u;
	if (best) {
		ccs_free_block_del(p, &best->grains[0]);
		list_del(&best->link);
		p->nr_units--;
		WRITE_ONCE(p->arena_bytes, p->arena_bytes - best->size);
		WRITE_ONCE(p->arena_free, p->arena_free - best->size);
	}
	spin_unlock_irqrestore(&p->arena_lock, flags);
	return best;
}

/* RCU callback: no lookup can reach @head's unit any more */
static void ccs_unit_free_meta(struct rcu_head *head)
{
	kvfree(container_of(head, struct ccs_unit, rcu));
}

int ccs_arena_take_free(struct ccs_pool *p, u32 max_size, void **vaddr,
			phys_addr_t *phys, u32 *size)
{
	struct ccs_unit *u;
	u32 i;

	might_sleep();
	if (!max_size)
		max_size = U32_MAX;
	/* draining throws away warm magazines: only when it is needed */
	spin_lock(&p->hash_lock);
	u = ccs_unlink_free_unit(p, max_size);
	spin_unlock(&p->hash_lock);
	if (!u) {
		ccs_pool_drain(p, -1);
		spin_lock(&p->hash_lock);
		u = ccs_unlink_free_unit(p, max_size);
		spin_unlock(&p->hash_lock);
	}
	if (!u)
		return -ENOENT;

	spin_lock(&p->hash_lock);
	for (i = 0; i < u->nr_grains; i++)
		hlist_del_rcu(&u->grains[i].node);
	spin_unlock(&p->hash_lock);

	/*
	 * Lookups may still be walking the grains, so the metadata waits for
	 * a grace period.  The memory itself does not: no slab covers it, so
	 * no lookup returns one of its slots and nothing copies to or from it;
	 * the caller may re-encrypt it at once.
	 */
	*vaddr = u->vaddr;
	*phys = u->phys;
	*size = u->size;
	call_rcu(&u->rcu, ccs_unit_free_meta);
	return 0;
}

/* ---- statistics ---------------------------------------------------------- */

u64 ccs_class_avail(const struct ccs_pool *p, int cls)
{
	const struct ccs_class *c;
	u64 total;
	long in_use;

	if (!ccs_cls_valid(p, cls))
		return 0;
	c = &p->classes[cls];
	total = READ_ONCE(c->total);
	in_use = atomic_long_read(&c->in_use);
	return in_use <= 0 ? total : total > (u64)in_use ? total - in_use : 0;
}

void ccs_class_stats(struct ccs_pool *p, int cls, struct ccs_class_stats *st)
{
	struct ccs_class *c;
	unsigned long flags;
	unsigned int cpu;

	memset(st, 0, sizeof(*st));
	if (!ccs_cls_valid(p, cls))
		return;
	c = &p->classes[cls];
	st->slot_size = c->slot_size;

	for (cpu = 0; cpu < p->nr_cpus; cpu++) {
		struct ccs_cpu_cache *cc;

		if (!cpu_possible(cpu))
			continue;
		cc = ccs_cc(p, cpu, cls);
		spin_lock_irqsave(&cc->lock, flags);
		st->cached += cc->loaded->n + cc->prev->n;
		st->allocs += cc->allocs;
		st->frees += cc->frees;
		st->fallbacks += cc->fallbacks;
		st->failures += cc->failures;
		spin_unlock_irqrestore(&cc->lock, flags);
	}

	spin_lock_irqsave(&c->depot_lock, flags);
	st->cached += (u64)c->nr_full * c->mag_cap;
	spin_unlock_irqrestore(&c->depot_lock, flags);

	spin_lock_irqsave(&c->lock, flags);
	st->chunks = c->chunks;
	st->bytes = c->bytes;
	st->total = c->total;
	spin_unlock_irqrestore(&c->lock, flags);

	st->in_use = max(atomic_long_read(&c->in_use), 0L);
	st->free = st->total > st->in_use ? st->total - st->in_use : 0;
	st->hiwater = max(atomic_long_read(&c->hiwater), 0L);
}

void ccs_arena_stats(struct ccs_pool *p, struct ccs_arena_stats *st)
{
	struct ccs_unit *u;
	unsigned long flags;

	memset(st, 0, sizeof(*st));
	spin_lock_irqsave(&p->arena_lock, flags);
	st->bytes = p->arena_bytes;
	st->free_bytes = p->arena_free;
	st->units = p->nr_units;
	st->carves = p->carves;
	st->slab_returns = p->slab_returns;
	if (p->free_orders)
		st->largest_free = (u64)CCS_GRAIN_SIZE << __fls(p->free_orders);
	list_for_each_entry(u, &p->units, link)
		st->free_units += ccs_unit_free(u);
	spin_unlock_irqrestore(&p->arena_lock, flags);
	st->carved_bytes = st->bytes - st->free_bytes;
	st->mapped_bytes = ccs_pool_mapped_bytes(p);
	st->mapped_hiwater = max(atomic_long_read(&p->mapped_hiwater), 0L);
	st->held_at_mapped_hiwater = READ_ONCE(p->held_at_hiwater);
	st->dry_drains = atomic_long_read(&p->dry_drains);
	st->reserve_gated = atomic_long_read(&p->reserve_gated);
	st->small_reserve = READ_ONCE(p->small_reserve);
}

u64 ccs_pool_take_carved_peak(struct ccs_pool *p)
{
	unsigned long flags;
	u64 peak;

	spin_lock_irqsave(&p->arena_lock, flags);
	peak = max(p->carved_peak, p->arena_bytes - p->arena_free);
	p->carved_peak = p->arena_bytes - p->arena_free;
	spin_unlock_irqrestore(&p->arena_lock, flags);
	return peak;
}

u64 ccs_pool_take_peak(struct ccs_pool *p)
{
	long peak = atomic_long_xchg(&p->mapped_peak,
				     atomic_long_read(&p->mapped));

	return max(peak, atomic_long_read(&p->mapped)) > 0 ?
	       (u64)max(peak, atomic_long_read(&p->mapped)) : 0;
}

void ccs_pool_reset_hiwater(struct ccs_pool *p)
{
	int cls;

	for (cls = 0; cls < p->nr_classes; cls++) {
		struct ccs_class *c = &p->classes[cls];

		atomic_long_set(&c->hiwater, atomic_long_read(&c->in_use));
	}
	atomic_long_set(&p->mapped_hiwater, atomic_long_read(&p->mapped));
	WRITE_ONCE(p->held_at_hiwater, READ_ONCE(p->arena_bytes));
}

/* ---- invariant checker --------------------------------------------------- */

/* Test machinery: the debug flavour of the module and the userspace tests. */
#if defined(CONFIG_CC_SWIOTLB_DEBUG) || !defined(__KERNEL__)

/* Marks a free slot visited by ccs_pool_check() (through ->owner). */
static char ccs_check_mark;

static struct ccs_chunk *ccs_chunk_of_slot(struct ccs_class *c,
					   const struct ccs_slot *slot)
{
	struct ccs_chunk *chunk;
	unsigned int b;

	for (b = 0; b < ARRAY_SIZE(c->buckets); b++)
		list_for_each_entry(chunk, &c->buckets[b], link)
			if (slot >= chunk->slots &&
			    slot < chunk->slots + chunk->nr_slots &&
			    slot == &chunk->slots[slot - chunk->slots])
				return chunk;
	return NULL;
}

/* A magazine of @c, not seen before in this check, with valid free slots. */
static int ccs_check_mag(struct ccs_pool *p, int cls, struct ccs_mag *m,
			 const char *where, unsigned int cpu, u64 *cached)
{
	struct ccs_class *c = &p->classes[cls];
	size_t off = (char *)m - (char *)c->mag_mem;
	u32 i;

	if ((char *)m < (char *)c->mag_mem || off % c->mag_stride ||
	    off / c->mag_stride >= c->nr_mags) {
		pr_err("class %d: %s magazine of cpu %u is not one of the class\n",
		       cls, where, cpu);
		return -EUCLEAN;
	}
	if (m->mark == p->check_epoch) {
		pr_err("class %d: %s magazine of cpu %u is in two places\n",
		       cls, where, cpu);
		return -EUCLEAN;
	}
	m->mark = p->check_epoch;
	if (m->n > c->mag_cap) {
		pr_err("class %d: %s magazine of cpu %u holds %u > %u slots\n",
		       cls, where, cpu, m->n, c->mag_cap);
		return -EUCLEAN;
	}
	for (i = 0; i < m->n; i++) {
		struct ccs_slot *slot = m->slots[i];

		if (!ccs_chunk_of_slot(c, slot)) {
			pr_err("class %d: %s magazine of cpu %u holds a slot of no chunk of the class\n",
			       cls, where, cpu);
			return -EUCLEAN;
		}
		if (slot->chunk->lasting) {
			pr_err("class %d: %s magazine of cpu %u holds a slot of a lasting slab\n",
			       cls, where, cpu);
			return -EUCLEAN;
		}
		if (slot->in_use || slot->owner) {
			pr_err("class %d: %s magazine of cpu %u holds slot %u, which is %s\n",
			       cls, where, cpu, slot->index,
			       slot->in_use ? "in use" : "cached twice or on a free list");
			return -EUCLEAN;
		}
		slot->owner = &ccs_check_mark;
	}
	*cached += m->n;
	return 0;
}

static int ccs_check_chunk(int cls, struct ccs_chunk *chunk, unsigned int b,
			   u64 *in_use)
{
	u32 i, n = 0;
	s32 idx;

	if (chunk->cls != cls || chunk->bucket != b ||
	    ccs_bucket_of(chunk) != b ||
	    b % CCS_NR_BUCKETS == CCS_BUCKET_ALL_FREE) {
		pr_err("class %d: chunk %pa in bucket %u (class %u, %u/%u free)\n",
		       cls, &chunk->phys, b, chunk->cls, chunk->nr_free,
		       chunk->nr_slots);
		return -EUCLEAN;
	}
	for (idx = chunk->free_head; idx != -1; idx = chunk->slots[idx].next) {
		struct ccs_slot *slot;

		if (idx < 0 || (u32)idx >= chunk->nr_slots || n >= chunk->nr_free) {
			pr_err("class %d: chunk %pa free list broken after %u of %u slots\n",
			       cls, &chunk->phys, n, chunk->nr_free);
			return -EUCLEAN;
		}
		slot = &chunk->slots[idx];
		if (slot->in_use || slot->owner) {
			pr_err("class %d: chunk %pa free list holds slot %d, which is %s\n",
			       cls, &chunk->phys, idx,
			       slot->in_use ? "in use" : "also cached");
			return -EUCLEAN;
		}
		slot->owner = &ccs_check_mark;
		n++;
	}
	if (n != chunk->nr_free) {
		pr_err("class %d: chunk %pa free list has %u slots, counted %u\n",
		       cls, &chunk->phys, n, chunk->nr_free);
		return -EUCLEAN;
	}
	for (i = 0; i < chunk->nr_slots; i++) {
		struct ccs_slot *slot = &chunk->slots[i];

		if (slot->chunk != chunk || slot->index != i) {
			pr_err("class %d: chunk %pa slot %u metadata corrupt\n",
			       cls, &chunk->phys, i);
			return -EUCLEAN;
		}
		if (slot->owner == &ccs_check_mark)
			continue;
		if (slot->in_use != 1) {
			pr_err("class %d: chunk %pa slot %u is lost: not in use, not free, not cached\n",
			       cls, &chunk->phys, i);
			return -EUCLEAN;
		}
		(*in_use)++;
	}
	return 0;
}

static void ccs_check_unmark(struct ccs_class *c)
{
	struct ccs_chunk *chunk;
	unsigned int b;
	u32 i;

	for (b = 0; b < ARRAY_SIZE(c->buckets); b++)
		list_for_each_entry(chunk, &c->buckets[b], link)
			for (i = 0; i < chunk->nr_slots; i++)
				if (chunk->slots[i].owner == &ccs_check_mark)
					chunk->slots[i].owner = NULL;
}

/* All locks of class @cls are held. */
static int ccs_check_class(struct ccs_pool *p, int cls)
{
	struct ccs_class *c = &p->classes[cls];
	u64 cached = 0, in_use = 0, total = 0, chunk_free = 0, bytes = 0;
	u64 allocs = 0, frees = 0;
	struct ccs_chunk *chunk;
	unsigned int cpu, b;
	u32 chunks = 0, i;
	int ret = 0;

	for (b = 0; b < ARRAY_SIZE(c->buckets); b++) {
		if (!!(c->nonempty & BIT(b)) == list_empty(&c->buckets[b])) {
			pr_err("class %d: bucket %u bitmap bit wrong\n", cls, b);
			return -EUCLEAN;
		}
	}
	/* magazines first: they mark their slots, free lists must not hold them */
	for (cpu = 0; cpu < p->nr_cpus && !ret; cpu++) {
		struct ccs_cpu_cache *cc;

		if (!cpu_possible(cpu))
			continue;
		cc = ccs_cc(p, cpu, cls);
		ret = ccs_check_mag(p, cls, cc->loaded, "loaded", cpu, &cached);
		if (!ret)
			ret = ccs_check_mag(p, cls, cc->prev, "previous", cpu,
					    &cached);
		allocs += cc->allocs;
		frees += cc->frees;
	}
	if (!ret && c->nr_full + c->nr_empty != c->depot_size) {
		pr_err("class %d: depot holds %u + %u magazines, not %u\n",
		       cls, c->nr_full, c->nr_empty, c->depot_size);
		ret = -EUCLEAN;
	}
	for (i = 0; i < c->nr_full && !ret; i++) {
		if (c->depot_full[i]->n != c->mag_cap) {
			pr_err("class %d: depot full magazine %u holds %u\n",
			       cls, i, c->depot_full[i]->n);
			ret = -EUCLEAN;
		} else {
			ret = ccs_check_mag(p, cls, c->depot_full[i],
					    "depot full", i, &cached);
		}
	}
	for (i = 0; i < c->nr_empty && !ret; i++) {
		if (c->depot_empty[i]->n) {
			pr_err("class %d: depot empty magazine %u holds %u\n",
			       cls, i, c->depot_empty[i]->n);
			ret = -EUCLEAN;
		} else {
			ret = ccs_check_mag(p, cls, c->depot_empty[i],
					    "depot empty", i, &cached);
		}
	}
	for (b = 0; b < ARRAY_SIZE(c->buckets) && !ret; b++) {
		list_for_each_entry(chunk, &c->buckets[b], link) {
			ret = ccs_check_chunk(cls, chunk, b, &in_use);
			if (ret)
				break;
			total += chunk->nr_slots;
			chunk_free += chunk->nr_free;
			bytes += chunk->size;
			chunks++;
		}
	}
	ccs_check_unmark(c);
	if (ret)
		return ret;

	if (total != c->total || chunk_free != c->chunk_free ||
	    bytes != c->bytes || chunks != c->chunks) {
		pr_err("class %d: counted %llu slots, %llu on free lists, %llu bytes, %u chunks; recorded %llu, %llu, %llu, %u\n",
		       cls, total, chunk_free, bytes, chunks, c->total,
		       c->chunk_free, c->bytes, c->chunks);
		return -EUCLEAN;
	}
	if (in_use != (u64)atomic_long_read(&c->in_use) ||
	    in_use != allocs - frees || in_use + cached + chunk_free != total) {
		pr_err("class %d: %llu slots in use, counter says %ld, allocs - frees = %llu, %llu in use + %llu cached + %llu free != %llu\n",
		       cls, in_use, atomic_long_read(&c->in_use), allocs - frees,
		       in_use, cached, chunk_free, total);
		return -EUCLEAN;
	}
	if (atomic_long_read(&c->hiwater) < atomic_long_read(&c->in_use)) {
		pr_err("class %d: high-water mark %ld below in use %ld\n", cls,
		       atomic_long_read(&c->hiwater),
		       atomic_long_read(&c->in_use));
		return -EUCLEAN;
	}
	return 0;
}

/*
 * The arena, with every class lock and the arena lock held: free blocks are
 * well formed, every grain is in exactly one free block or one slab, and no
 * byte is lost: free + carved into classes == held.
 */
static int ccs_check_arena(struct ccs_pool *p)
{
	u64 free_bytes = 0, held = 0, carved = 0, units = 0;
	struct ccs_unit *u;
	unsigned int o;
	int cls;

	for (o = 0; o < CCS_UNIT_ORDERS; o++) {
		struct ccs_grain *g;

		if (!!(p->free_orders & BIT(o)) == list_empty(&p->free_blocks[o])) {
			pr_err("arena: free list %u bitmap bit wrong\n", o);
			return -EUCLEAN;
		}
		list_for_each_entry(g, &p->free_blocks[o], free_link) {
			u32 idx = ccs_grain_idx(g);

			if (g->state != CCS_GRAIN_FREE || g->order != o ||
			    o > g->unit->order || idx & (BIT(o) - 1)) {
				pr_err("arena: free block at grain %u of %pa is malformed (state %u order %u on list %u)\n",
				       idx, &g->unit->phys, g->state, g->order, o);
				return -EUCLEAN;
			}
			free_bytes += (u64)CCS_GRAIN_SIZE << o;
		}
	}
	list_for_each_entry(u, &p->units, link) {
		u32 i = 0, ufree = 0;

		held += u->size;
		units++;
		while (i < u->nr_grains) {
			struct ccs_grain *g = &u->grains[i];
			u32 j, n = BIT(g->order);

			if (g->state == CCS_GRAIN_BODY || i + n > u->nr_grains) {
				pr_err("arena: unit %pa grain %u heads nothing\n",
				       &u->phys, i);
				return -EUCLEAN;
			}
			for (j = 0; j < n; j++) {
				struct ccs_grain *b = &g[j];
				struct ccs_chunk *want = g->state == CCS_GRAIN_CARVED ?
							 &g->head : NULL;

				if ((j && b->state != CCS_GRAIN_BODY) ||
				    rcu_access_pointer(b->slab) != want) {
					pr_err("arena: unit %pa grain %u is in two places or lost\n",
					       &u->phys, i + j);
					return -EUCLEAN;
				}
			}
			if (g->state == CCS_GRAIN_CARVED &&
			    (g->head.size != (u32)CCS_GRAIN_SIZE << g->order ||
			     g->head.phys != ccs_grain_phys(g))) {
				pr_err("arena: slab at %pa does not match its block\n",
				       &g->head.phys);
				return -EUCLEAN;
			}
			if (g->state == CCS_GRAIN_FREE)
				ufree += CCS_GRAIN_SIZE << g->order;
			i += n;
		}
		if (ufree != u->free) {
			pr_err("arena: unit %pa has %u bytes free, recorded %u\n",
			       &u->phys, ufree, u->free);
			return -EUCLEAN;
		}
	}
	for (cls = 0; cls < p->nr_classes; cls++)
		carved += p->classes[cls].bytes;
	if (held != p->arena_bytes || free_bytes != p->arena_free ||
	    units != p->nr_units || free_bytes + carved != held) {
		pr_err("arena: %llu bytes in %llu units (recorded %llu in %llu), %llu free (recorded %llu), %llu carved: free + carved != held\n",
		       held, units, p->arena_bytes, p->nr_units, free_bytes,
		       p->arena_free, carved);
		return -EUCLEAN;
	}
	return 0;
}

/*
 * Sparse cannot follow one lock taken per loop iteration: these helpers
 * keep its context count unchanged; the loops in ccs_pool_check() balance.
 */
static void ccs_check_lock_cc(struct ccs_pool *p, unsigned int cpu, int cls)
{
	spinlock_t *lock = &ccs_cc(p, cpu, cls)->lock;

	spin_lock_nest_lock(lock, &p->check_lock);
	__release(lock);
}

static void ccs_check_unlock_cc(struct ccs_pool *p, unsigned int cpu, int cls)
{
	spinlock_t *lock = &ccs_cc(p, cpu, cls)->lock;

	__acquire(lock);
	spin_unlock(lock);
}

static void ccs_check_lock_class(struct ccs_pool *p, int cls)
{
	spinlock_t *lock = &p->classes[cls].lock;

	spin_lock_nest_lock(lock, &p->check_lock);
	__release(lock);
}

static void ccs_check_unlock_class(struct ccs_pool *p, int cls)
{
	spinlock_t *lock = &p->classes[cls].lock;

	__acquire(lock);
	spin_unlock(lock);
}

int ccs_pool_check(struct ccs_pool *p)
{
	unsigned long flags;
	unsigned int cpu;
	int cls, ret = 0;

	/*
	 * check_lock serialises checkers (the visit marks) and is the lockdep
	 * nest lock that allows holding every CPU's lock of one class.
	 */
	spin_lock_irqsave(&p->check_lock, flags);
	for (cls = 0; cls < p->nr_classes && !ret; cls++) {
		struct ccs_class *c = &p->classes[cls];

		p->check_epoch++;
		for (cpu = 0; cpu < p->nr_cpus; cpu++)
			if (cpu_possible(cpu))
				ccs_check_lock_cc(p, cpu, cls);
		spin_lock(&c->depot_lock);
		spin_lock(&c->lock);
		ret = ccs_check_class(p, cls);
		spin_unlock(&c->lock);
		spin_unlock(&c->depot_lock);
		for (cpu = 0; cpu < p->nr_cpus; cpu++)
			if (cpu_possible(cpu))
				ccs_check_unlock_cc(p, cpu, cls);
	}
	if (!ret) {
		/* every class lock at once: carving and returning stop */
		for (cls = 0; cls < p->nr_classes; cls++)
			ccs_check_lock_class(p, cls);
		spin_lock(&p->arena_lock);
		ret = ccs_check_arena(p);
		spin_unlock(&p->arena_lock);
		for (cls = 0; cls < p->nr_classes; cls++)
			ccs_check_unlock_class(p, cls);
	}
	spin_unlock_irqrestore(&p->check_lock, flags);
	return ret;
}

#endif /* CONFIG_CC_SWIOTLB_DEBUG || !__KERNEL__ */

/* ---- create / destroy ---------------------------------------------------- */

static void ccs_pool_free(struct ccs_pool *p)
{
	int cls;

	for (cls = 0; cls < CCS_MAX_CLASSES; cls++) {
		kvfree(p->classes[cls].mag_mem);
		kvfree(p->classes[cls].depot_full);
		kvfree(p->classes[cls].depot_empty);
	}
	if (p->pcpu)
		free_percpu(p->pcpu);
	kvfree(p->hash);
	kfree(p);
}

static int ccs_class_init(struct ccs_pool *p, int cls, unsigned int shift)
{
	struct ccs_class *c = &p->classes[cls];
	unsigned int cpu, i;

	c->slot_shift = shift;
	c->slot_size = 1U << shift;
	c->slab_size = max_t(u32, c->slot_size, CCS_GRAIN_SIZE);
	c->slab_order = ilog2(c->slab_size >> CCS_GRAIN_SHIFT);
	c->mag_cap = clamp_t(u32, CCS_MAG_BYTES / c->slot_size, CCS_MAG_MIN,
			     CCS_MAG_MAX);
	/* half a magazine: enough to amortise the class lock, not hoard */
	c->batch = max(c->mag_cap / 2, 1U);
	c->depot_size = clamp_t(u32, CCS_DEPOT_BYTES / (c->mag_cap * c->slot_size),
				2, 2 * p->nr_cpus + 4);
	c->nr_mags = 2 * p->nr_cpus + c->depot_size;
	/* a line of its own: magazines of different CPUs must not share one */
	c->mag_stride = ALIGN(sizeof(struct ccs_mag) +
			      c->mag_cap * sizeof(struct ccs_slot *),
			      L1_CACHE_BYTES);
	c->mag_mem = kvcalloc(c->nr_mags, c->mag_stride, GFP_KERNEL);
	c->depot_full = kvcalloc(c->depot_size, sizeof(*c->depot_full),
				 GFP_KERNEL);
	c->depot_empty = kvcalloc(c->depot_size, sizeof(*c->depot_empty),
				  GFP_KERNEL);
	if (!c->mag_mem || !c->depot_full || !c->depot_empty)
		return -ENOMEM;

	spin_lock_init(&c->lock);
	spin_lock_init(&c->depot_lock);
	for (i = 0; i < ARRAY_SIZE(c->buckets); i++)
		INIT_LIST_HEAD(&c->buckets[i]);
	atomic_long_set(&c->in_use, 0);
	atomic_long_set(&c->hiwater, 0);

	i = 0;
	for (cpu = 0; cpu < p->nr_cpus; cpu++) {
		struct ccs_cpu_cache *cc = ccs_cc(p, cpu, cls);

		if (!cpu_possible(cpu))
			continue;
		spin_lock_init(&cc->lock);
		cc->loaded = ccs_mag_at(c, i++);
		cc->prev = ccs_mag_at(c, i++);
	}
	while (c->nr_empty < c->depot_size)
		c->depot_empty[c->nr_empty++] = ccs_mag_at(c, i++);
	return 0;
}

struct ccs_pool *ccs_pool_create(enum ccs_preset preset, u64 max_bytes,
				 unsigned int nr_cpus)
{
	const u8 *shifts;
	struct ccs_pool *p;
	unsigned int i, n;
	u64 granules;
	int cls;

	switch (preset) {
	case CCS_PRESET_POW2:
		shifts = ccs_preset_pow2;
		n = ARRAY_SIZE(ccs_preset_pow2);
		break;
	case CCS_PRESET_RFC:
		shifts = ccs_preset_rfc;
		n = ARRAY_SIZE(ccs_preset_rfc);
		break;
	default:
		return NULL;
	}
	BUILD_BUG_ON(ARRAY_SIZE(ccs_preset_pow2) > CCS_MAX_CLASSES);
	/* every partially free slab must have a bucket below ALL_FREE */
	BUILD_BUG_ON(CCS_GRAIN_SLOTS - 1 >= 1U << (CCS_BUCKET_ALL_FREE - 1));
	BUILD_BUG_ON(BITS_PER_LONG < 2 * CCS_NR_BUCKETS);
	BUILD_BUG_ON(BITS_PER_LONG < CCS_UNIT_ORDERS);
	/* a slot larger than a grain is one slab of its own */
	BUILD_BUG_ON(CCS_MAX_SLOT_SHIFT > CCS_UNIT_MAX_SHIFT);

	if (!nr_cpus)
		return NULL;
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return NULL;
	p->nr_cpus = min(nr_cpus, ccs_env_max_cpus());
	p->nr_classes = n;
	spin_lock_init(&p->hash_lock);
	spin_lock_init(&p->arena_lock);
	spin_lock_init(&p->check_lock);
	for (i = 0; i < CCS_UNIT_ORDERS; i++)
		INIT_LIST_HEAD(&p->free_blocks[i]);
	INIT_LIST_HEAD(&p->units);
	atomic_long_set(&p->bad_frees, 0);
	atomic_long_set(&p->dry_drains, 0);
	atomic_long_set(&p->draining, 0);
	atomic_long_set(&p->mapped, 0);
	atomic_long_set(&p->mapped_hiwater, 0);
	atomic_long_set(&p->mapped_peak, 0);

	granules = max_t(u64, max_bytes >> CCS_GRAIN_SHIFT, 1);
	p->hash_bits = clamp_t(unsigned int, ilog2(roundup_pow_of_two(granules)),
			       CCS_HASH_MIN_BITS, CCS_HASH_MAX_BITS);
	p->hash = kvcalloc(1U << p->hash_bits, sizeof(*p->hash), GFP_KERNEL);
	p->pcpu = alloc_percpu_nr(struct ccs_pcpu, p->nr_cpus);
	if (!p->hash || !p->pcpu)
		goto fail;
	for (i = 0; i < 1U << p->hash_bits; i++)
		INIT_HLIST_HEAD(&p->hash[i]);

	for (cls = 0; cls < (int)n; cls++)
		if (ccs_class_init(p, cls, shifts[cls]))
			goto fail;
	for (cls = 0; cls < (int)n; cls++) {
		struct ccs_class *c = &p->classes[cls];

		c->fallback_last = cls;
		while (c->fallback_last + 1 < (int)n &&
		       shifts[c->fallback_last + 1] <=
		       c->slot_shift + CCS_FALLBACK_SHIFT)
			c->fallback_last++;
	}
	for (i = 0, cls = 0; i <= CCS_MAX_SLOT_SHIFT; i++) {
		while (cls < (int)n && shifts[cls] < i)
			cls++;
		p->class_of_shift[i] = cls < (int)n ? cls : -1;
	}
	return p;
fail:
	ccs_pool_free(p);
	return NULL;
}

int ccs_pool_destroy(struct ccs_pool *p)
{
	unsigned long flags;
	u64 units;

	if (!p)
		return 0;
	spin_lock_irqsave(&p->arena_lock, flags);
	units = p->nr_units;
	spin_unlock_irqrestore(&p->arena_lock, flags);
	if (units)
		return -EBUSY;
	/* unit metadata still waiting in ccs_unit_free_meta() */
	rcu_barrier();
	ccs_pool_free(p);
	return 0;
}
