// SPDX-License-Identifier: GPL-2.0
/*
 * cc_swiotlb pool core.
 *
 * A class hands out naturally aligned slots of one power-of-two size.  Its
 * memory comes in chunks (64 KiB .. 2 MiB, aligned to their size) that kccd
 * has already made shared; each chunk carries its slot metadata and a free
 * list of its slots.  Chunks are kept in occupancy buckets so that refills
 * take from the fullest chunk first and the others drain towards "all free",
 * where kccd can take them back.
 *
 * In front of the chunk lists sit per-CPU magazines (Bonwick & Adams, 2001;
 * drivers/iommu/iova.c): per class and CPU a "loaded" and a "previous"
 * magazine under a per-CPU lock that only drains and steals ever contend,
 * and a per-class depot of full and empty magazines.  Every magazine is
 * allocated when the pool is created, so map/unmap never allocate.
 *
 * Bounce address -> slot is a fixed-size hash of 64 KiB granules with RCU
 * chains: every chunk inserts one preallocated node per granule it covers.
 *
 * Lock order, outermost first (all but hash_lock may be taken in hardirq
 * context, so outside the nesting they are taken with irqsave):
 *	check_lock -> per-CPU cache lock -> depot_lock -> class lock
 *	hash_lock -> class lock			(chunk add/remove, may sleep)
 * Every change of a slot's state (chunk free list, magazine, in use) and of
 * the per-CPU counters happens under one of its class's locks, so
 * ccs_pool_check() sees a consistent class when it holds them all.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": pool: " fmt

#include "pool.h"

/* Occupancy buckets: 0 = no free slot, 1..12 = fls(nr_free), 13 = all free */
#define CCS_NR_BUCKETS		14
#define CCS_BUCKET_ALL_FREE	(CCS_NR_BUCKETS - 1)

#define CCS_MAX_CHUNK_SIZE	((u32)BIT(CCS_MAX_CHUNK_SHIFT))
#define CCS_MIN_CHUNK_SIZE	((u32)BIT(CCS_MIN_CHUNK_SHIFT))
#define CCS_MAX_SLOTS_PER_CHUNK	(CCS_MAX_CHUNK_SIZE >> CCS_MIN_SLOT_SHIFT)

/* A magazine holds at most this many bytes of slots, within these bounds. */
#define CCS_MAG_BYTES		(256U * 1024)
#define CCS_MAG_MIN		2U
#define CCS_MAG_MAX		64U

/*
 * A mapping may fall back to a class whose slots are at most this many
 * times (as a shift: 4x) the wanted slot size.  Falling back is only a
 * bridge while kccd refills the wanted class; further up, one small mapping
 * pins a big slot, and kccd then refills the big class too, so a burst of
 * small mappings spends the cap on big slots (2000 x 4 KiB once held 44 MiB
 * of 512 KiB slots).  4x wastes at most 3/4 of a slot, the same order as the
 * up to 1/2 a pow2 ladder wastes anyway; on pow2 that is two classes up, on
 * rfc 512 B -> 2K, 2K -> 4K, 4K -> 16K, and no fallback for 16K or 512K.
 */
#define CCS_FALLBACK_SHIFT	2

/* Preferred chunk: 8 slots, so small classes hold little while idle. */
#define CCS_CHUNK_SLOTS		8U

/* Lookup table: one bucket per 64 KiB granule of max_bytes, within bounds. */
#define CCS_HASH_MIN_BITS	6
#define CCS_HASH_MAX_BITS	20

struct ccs_mag {
	u32 n;
	u32 mark;			/* ccs_pool_check() visit mark */
	struct ccs_slot *slots[];
};

/* One per 64 KiB of a chunk: the lookup's hash chain node */
struct ccs_granule {
	struct hlist_node node;
	u64 key;			/* phys >> CCS_MIN_CHUNK_SHIFT */
	struct ccs_chunk *chunk;
};

struct ccs_chunk {
	struct list_head link;		/* in a class occupancy bucket */
	struct ccs_slot *slots;
	void *vaddr;
	phys_addr_t phys;
	u32 size;
	u32 nr_slots;
	u32 nr_free;			/* slots on @free_head's list */
	s32 free_head;
	u8 slot_shift;
	u8 bucket;
	u16 cls;
	u32 nr_granules;
	struct rcu_head rcu;		/* metadata freed after lookups */
	struct ccs_granule granules[];
};

struct ccs_class {
	/* read-mostly after ccs_pool_create() */
	u32 slot_size;
	u32 chunk_size;
	u32 slot_shift;
	u32 mag_cap;
	u32 batch;			/* slots per refill from the chunks */
	int fallback_last;		/* largest class it may fall back to */
	u32 nr_mags;			/* 2 per CPU + the depot's */
	u32 depot_size;
	size_t mag_stride;
	void *mag_mem;
	struct ccs_mag **depot_full;
	struct ccs_mag **depot_empty;

	/* chunk lists, protected by @lock */
	spinlock_t lock ____cacheline_aligned_in_smp;
	unsigned long nonempty;		/* bitmap of non-empty buckets */
	struct list_head buckets[CCS_NR_BUCKETS];
	u64 total;			/* slots in all chunks */
	u64 chunk_free;			/* slots on chunk free lists */
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

	spinlock_t hash_lock;		/* writers of @hash, @nr_chunks */
	struct hlist_head *hash;
	unsigned int hash_bits;
	u32 nr_chunks;

	spinlock_t check_lock;		/* nest lock of ccs_pool_check() */
	u32 check_epoch;
	atomic_long_t bad_frees;

	struct ccs_class classes[CCS_MAX_CLASSES];
};

static const u8 ccs_preset_pow2[] = { 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 };
static const u8 ccs_preset_rfc[] = { 9, 11, 12, 14, 19 };

/* Marks a free slot visited by ccs_pool_check() (through ->owner). */
static char ccs_check_mark;

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

static inline phys_addr_t ccs_slot_base(const struct ccs_slot *slot)
{
	const struct ccs_chunk *chunk = slot->chunk;

	return chunk->phys + ((phys_addr_t)slot->index << chunk->slot_shift);
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
	return ccs_cls_valid(p, cls) ? p->classes[cls].chunk_size : 0;
}

phys_addr_t ccs_slot_phys(const struct ccs_slot *slot)
{
	return ccs_slot_base(slot) + slot->offset;
}

void *ccs_slot_vaddr(const struct ccs_slot *slot)
{
	const struct ccs_chunk *chunk = slot->chunk;

	return (char *)chunk->vaddr +
	       ((size_t)slot->index << chunk->slot_shift) + slot->offset;
}

int ccs_slot_class(const struct ccs_slot *slot)
{
	return slot->chunk->cls;
}

u64 ccs_pool_bad_frees(const struct ccs_pool *p)
{
	return atomic_long_read(&p->bad_frees);
}

/* ---- chunk free lists (class lock held) --------------------------------- */

static inline unsigned int ccs_bucket_of(const struct ccs_chunk *chunk)
{
	if (!chunk->nr_free)
		return 0;
	if (chunk->nr_free == chunk->nr_slots)
		return CCS_BUCKET_ALL_FREE;
	return fls(chunk->nr_free);
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

static inline void ccs_rebucket(struct ccs_class *c, struct ccs_chunk *chunk)
{
	if (ccs_bucket_of(chunk) != chunk->bucket) {
		ccs_bucket_del(c, chunk);
		ccs_bucket_add(c, chunk);
	}
}

/*
 * Take up to @want slots from the chunk free lists, fullest chunk first so
 * that the emptier chunks keep emptying out and can be reclaimed.  Each
 * chunk is used until it has no free slot left, which keeps this O(1) per
 * slot: the bucket bitmap finds the fullest non-empty bucket at once.
 */
static u32 ccs_chunks_get(struct ccs_class *c, struct ccs_slot **out, u32 want)
{
	u32 n = 0;

	lockdep_assert_held(&c->lock);
	while (n < want) {
		unsigned long mask = c->nonempty & ~1UL;
		struct ccs_chunk *chunk;

		if (!mask)
			break;
		chunk = list_first_entry(&c->buckets[__ffs(mask)],
					 struct ccs_chunk, link);
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

static void ccs_chunks_put(struct ccs_class *c, struct ccs_slot **slots,
			   u32 n)
{
	u32 i;

	lockdep_assert_held(&c->lock);
	for (i = 0; i < n; i++) {
		struct ccs_slot *slot = slots[i];
		struct ccs_chunk *chunk = slot->chunk;

		slot->next = chunk->free_head;
		chunk->free_head = slot->index;
		chunk->nr_free++;
		ccs_rebucket(c, chunk);
	}
	c->chunk_free += n;
}

/* ---- allocation ---------------------------------------------------------- */

int ccs_class_for(const struct ccs_pool *p, phys_addr_t orig, size_t size,
		  unsigned int min_align_mask, size_t align)
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

static void ccs_note_in_use(struct ccs_class *c)
{
	long n = atomic_long_inc_return(&c->in_use);
	long hw = atomic_long_read(&c->hiwater);

	while (unlikely(n > hw) && !atomic_long_try_cmpxchg(&c->hiwater, &hw, n))
		;
}

/* Hand @slot out: caller holds the lock of @cc, whose counters get it. */
static void ccs_slot_take(struct ccs_class *c, struct ccs_cpu_cache *cc,
			  struct ccs_slot *slot, bool fallback)
{
	WRITE_ONCE(slot->in_use, 1);
	ccs_note_in_use(c);
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
 * Magazines, then the depot, then the chunk free lists of one class, on
 * the cache of @cpu.
 */
static struct ccs_slot *ccs_cache_alloc(struct ccs_pool *p, int cls,
					unsigned int cpu, bool fallback)
{
	struct ccs_class *c = &p->classes[cls];
	struct ccs_cpu_cache *cc = ccs_cc(p, cpu, cls);
	struct ccs_slot *slot;
	unsigned long flags;
	u32 n;

	spin_lock_irqsave(&cc->lock, flags);
	slot = ccs_mag_pop(cc->loaded);
	if (unlikely(!slot)) {
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
			 * Take a batch, but no more than a fair share of what
			 * is left: a scarce class must not sit in one CPU's
			 * magazine while the others fall back or fail.
			 */
			spin_lock(&c->lock);
			n = min_t(u64, c->batch,
				  max_t(u64, c->chunk_free / p->nr_cpus, 1));
			cc->loaded->n = ccs_chunks_get(c, cc->loaded->slots, n);
			spin_unlock(&c->lock);
		}
		slot = ccs_mag_pop(cc->loaded);
	}
	if (slot)
		ccs_slot_take(c, cc, slot, fallback);
	spin_unlock_irqrestore(&cc->lock, flags);
	return slot;
}

/* Last resort: a slot cached by another CPU (never wait for its lock). */
static struct ccs_slot *ccs_steal(struct ccs_pool *p, int cls,
				  unsigned int cpu, bool fallback)
{
	struct ccs_class *c = &p->classes[cls];
	unsigned int i;

	/*
	 * Chunks and depot are empty by now, so any free slot is in some
	 * CPU's magazine: when none is free (the usual case under exhaustion)
	 * do not peek at every CPU.
	 */
	if (!ccs_class_avail(p, cls))
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
			ccs_slot_take(c, cc, slot, fallback);
		spin_unlock_irqrestore(&cc->lock, flags);
		if (slot)
			return slot;
	}
	return NULL;
}

static void ccs_count_failure(struct ccs_pool *p, int cls, unsigned int cpu)
{
	struct ccs_cpu_cache *cc = ccs_cc(p, cpu, cls);
	unsigned long flags;

	spin_lock_irqsave(&cc->lock, flags);
	WRITE_ONCE(cc->failures, cc->failures + 1);
	spin_unlock_irqrestore(&cc->lock, flags);
}

struct ccs_slot *ccs_slot_alloc(struct ccs_pool *p, phys_addr_t orig,
				size_t size, unsigned int min_align_mask,
				size_t align, void *owner, int *cls_out,
				bool *fallback_out)
{
	int want = ccs_class_for(p, orig, size, min_align_mask, align);
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
	 * The wanted class first, other CPUs' magazines of it included: a
	 * free slot of the right size anywhere beats a bigger one.  Then
	 * larger classes, never more than CCS_FALLBACK_SHIFT up, and never a
	 * smaller class: it could not keep the alignment promises.
	 */
	slot = ccs_cache_alloc(p, want, cpu, false);
	if (!slot)
		slot = ccs_steal(p, want, cpu, false);
	last = p->classes[want].fallback_last;
	for (cls = want + 1; cls <= last && !slot; cls++)
		slot = ccs_cache_alloc(p, cls, cpu, true);
	for (cls = want + 1; cls <= last && !slot; cls++)
		slot = ccs_steal(p, cls, cpu, true);
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
	atomic_long_dec(&c->in_use);
	WRITE_ONCE(cc->frees, cc->frees + 1);

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
				/* depot full too: back to the chunks */
				spin_lock(&c->lock);
				ccs_chunks_put(c, cc->prev->slots, cc->prev->n);
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
	u64 key = phys >> CCS_MIN_CHUNK_SHIFT;
	struct ccs_slot *slot = NULL;
	struct ccs_granule *g;

	rcu_read_lock();
	hlist_for_each_entry_rcu(g, &p->hash[hash_64(key, p->hash_bits)], node) {
		struct ccs_chunk *chunk;

		if (g->key != key)
			continue;
		chunk = g->chunk;
		slot = &chunk->slots[(phys - chunk->phys) >> chunk->slot_shift];
		if (!READ_ONCE(slot->in_use))
			slot = NULL;
		break;
	}
	rcu_read_unlock();
	return slot;
}

/* ---- draining, chunks ---------------------------------------------------- */

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
		ccs_chunks_put(c, cc->loaded->slots, cc->loaded->n);
		ccs_chunks_put(c, cc->prev->slots, cc->prev->n);
		spin_unlock(&c->lock);
		cc->loaded->n = 0;
		cc->prev->n = 0;
		spin_unlock_irqrestore(&cc->lock, flags);
	}

	spin_lock_irqsave(&c->depot_lock, flags);
	spin_lock(&c->lock);
	while (c->nr_full) {
		struct ccs_mag *m = c->depot_full[--c->nr_full];

		ccs_chunks_put(c, m->slots, m->n);
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

static struct ccs_granule *ccs_hash_find(struct ccs_pool *p, u64 key)
{
	struct ccs_granule *g;

	hlist_for_each_entry(g, &p->hash[hash_64(key, p->hash_bits)], node)
		if (g->key == key)
			return g;
	return NULL;
}

int ccs_chunk_add(struct ccs_pool *p, int cls, void *vaddr, phys_addr_t phys,
		  u32 size)
{
	struct ccs_class *c;
	struct ccs_chunk *chunk;
	unsigned long flags;
	u32 i, nr_gran;

	if (!ccs_cls_valid(p, cls) || !vaddr || !is_power_of_2(size))
		return -EINVAL;
	c = &p->classes[cls];
	if (size < max(c->slot_size, CCS_MIN_CHUNK_SIZE) ||
	    size > CCS_MAX_CHUNK_SIZE || !IS_ALIGNED(phys, size) ||
	    !IS_ALIGNED((unsigned long)vaddr, size))
		return -EINVAL;
	might_sleep();

	nr_gran = size >> CCS_MIN_CHUNK_SHIFT;
	chunk = kzalloc(struct_size(chunk, granules, nr_gran), GFP_KERNEL);
	if (!chunk)
		return -ENOMEM;
	chunk->nr_slots = size >> c->slot_shift;
	chunk->slots = kvcalloc(chunk->nr_slots, sizeof(*chunk->slots),
				GFP_KERNEL);
	if (!chunk->slots) {
		kfree(chunk);
		return -ENOMEM;
	}
	chunk->vaddr = vaddr;
	chunk->phys = phys;
	chunk->size = size;
	chunk->slot_shift = c->slot_shift;
	chunk->cls = cls;
	chunk->nr_free = chunk->nr_slots;
	chunk->free_head = 0;
	chunk->nr_granules = nr_gran;
	for (i = 0; i < chunk->nr_slots; i++) {
		chunk->slots[i].chunk = chunk;
		chunk->slots[i].index = i;
		chunk->slots[i].next = i + 1 < chunk->nr_slots ? (s32)i + 1 : -1;
	}

	spin_lock(&p->hash_lock);
	for (i = 0; i < nr_gran; i++) {
		if (ccs_hash_find(p, (phys >> CCS_MIN_CHUNK_SHIFT) + i)) {
			spin_unlock(&p->hash_lock);
			pr_err("chunk at %pa overlaps one already in the pool\n",
			       &phys);
			kvfree(chunk->slots);
			kfree(chunk);
			return -EINVAL;
		}
	}
	/* Findable before allocatable: a handed-out slot always looks up. */
	for (i = 0; i < nr_gran; i++) {
		struct ccs_granule *g = &chunk->granules[i];

		g->key = (phys >> CCS_MIN_CHUNK_SHIFT) + i;
		g->chunk = chunk;
		hlist_add_head_rcu(&g->node,
				   &p->hash[hash_64(g->key, p->hash_bits)]);
	}
	p->nr_chunks++;

	spin_lock_irqsave(&c->lock, flags);
	ccs_bucket_add(c, chunk);
	WRITE_ONCE(c->total, c->total + chunk->nr_slots);
	c->chunk_free += chunk->nr_slots;
	c->bytes += size;
	c->chunks++;
	spin_unlock_irqrestore(&c->lock, flags);
	spin_unlock(&p->hash_lock);
	return 0;
}

static struct ccs_chunk *ccs_unlink_free_chunk(struct ccs_class *c)
{
	struct ccs_chunk *chunk = NULL;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	if (c->nonempty & BIT(CCS_BUCKET_ALL_FREE)) {
		chunk = list_first_entry(&c->buckets[CCS_BUCKET_ALL_FREE],
					 struct ccs_chunk, link);
		ccs_bucket_del(c, chunk);
		WRITE_ONCE(c->total, c->total - chunk->nr_slots);
		c->chunk_free -= chunk->nr_slots;
		c->bytes -= chunk->size;
		c->chunks--;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	return chunk;
}

/* RCU callback: no lookup can reach @head's chunk any more */
static void ccs_chunk_free_meta(struct rcu_head *head)
{
	struct ccs_chunk *chunk = container_of(head, struct ccs_chunk, rcu);

	kvfree(chunk->slots);
	kfree(chunk);
}

int ccs_chunk_take_free(struct ccs_pool *p, int cls, void **vaddr,
			phys_addr_t *phys, u32 *size)
{
	struct ccs_chunk *chunk;
	u32 i;

	if (!ccs_cls_valid(p, cls))
		return -EINVAL;
	might_sleep();

	/*
	 * Draining throws away every CPU's warm magazines, so only do it when
	 * no chunk is free without it.
	 */
	chunk = ccs_unlink_free_chunk(&p->classes[cls]);
	if (!chunk) {
		ccs_pool_drain(p, cls);
		chunk = ccs_unlink_free_chunk(&p->classes[cls]);
	}
	if (!chunk)
		return -ENOENT;

	spin_lock(&p->hash_lock);
	for (i = 0; i < chunk->nr_granules; i++)
		hlist_del_rcu(&chunk->granules[i].node);
	p->nr_chunks--;
	spin_unlock(&p->hash_lock);

	/*
	 * Lookups may still be walking the granules or reading the slots'
	 * in_use flags, so the metadata waits for a grace period.  The memory
	 * itself does not: every slot is free and the chunk is on no list, so
	 * no lookup can return one of its slots and nothing copies to or from
	 * it; the caller may re-encrypt it at once.  (Waiting here, once per
	 * chunk, cost ~30 ms each under TCG and paced rebalancing at the cap.)
	 */
	*vaddr = chunk->vaddr;
	*phys = chunk->phys;
	*size = chunk->size;
	call_rcu(&chunk->rcu, ccs_chunk_free_meta);
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

void ccs_pool_reset_hiwater(struct ccs_pool *p)
{
	int cls;

	for (cls = 0; cls < p->nr_classes; cls++) {
		struct ccs_class *c = &p->classes[cls];

		atomic_long_set(&c->hiwater, atomic_long_read(&c->in_use));
	}
}

/* ---- invariant checker --------------------------------------------------- */

static struct ccs_chunk *ccs_chunk_of_slot(struct ccs_class *c,
					   const struct ccs_slot *slot)
{
	struct ccs_chunk *chunk;
	unsigned int b;

	for (b = 0; b < CCS_NR_BUCKETS; b++)
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
	    ccs_bucket_of(chunk) != b) {
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

	for (b = 0; b < CCS_NR_BUCKETS; b++)
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

	for (b = 0; b < CCS_NR_BUCKETS; b++) {
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
	for (b = 0; b < CCS_NR_BUCKETS && !ret; b++) {
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
	spin_unlock_irqrestore(&p->check_lock, flags);
	return ret;
}

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
	c->chunk_size = clamp_t(u32, CCS_CHUNK_SLOTS * c->slot_size,
				CCS_MIN_CHUNK_SIZE, CCS_MAX_CHUNK_SIZE);
	c->mag_cap = clamp_t(u32, CCS_MAG_BYTES / c->slot_size, CCS_MAG_MIN,
			     CCS_MAG_MAX);
	/* half a magazine: enough to amortise the class lock, not hoard */
	c->batch = max(c->mag_cap / 2, 1U);
	c->depot_size = 2 * p->nr_cpus + 4;
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
	for (i = 0; i < CCS_NR_BUCKETS; i++)
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
	/* every partially free chunk must have a bucket below ALL_FREE */
	BUILD_BUG_ON(CCS_MAX_SLOTS_PER_CHUNK - 1 >= 1U << (CCS_BUCKET_ALL_FREE - 1));
	BUILD_BUG_ON(BITS_PER_LONG < CCS_NR_BUCKETS);

	if (!nr_cpus)
		return NULL;
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return NULL;
	p->nr_cpus = min(nr_cpus, ccs_env_max_cpus());
	p->nr_classes = n;
	spin_lock_init(&p->hash_lock);
	spin_lock_init(&p->check_lock);
	atomic_long_set(&p->bad_frees, 0);

	granules = max_t(u64, max_bytes >> CCS_MIN_CHUNK_SHIFT, 1);
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
	u32 chunks;

	if (!p)
		return 0;
	spin_lock(&p->hash_lock);
	chunks = p->nr_chunks;
	spin_unlock(&p->hash_lock);
	if (chunks)
		return -EBUSY;
	/* chunk metadata still waiting in ccs_chunk_free_meta() */
	rcu_barrier();
	ccs_pool_free(p);
	return 0;
}
