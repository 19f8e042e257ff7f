// SPDX-License-Identifier: GPL-2.0
/*
 * Model-based test of the pool: random operations are applied both to the
 * pool and to a trivial reference model (arena units with per-grain
 * occupancy, a list of live slots, per-class counters), and every answer of
 * the pool is checked against it:
 *
 * - an allocation of class W must succeed, from W, if a slab of W holding
 *   live slots has a free one; it must succeed if the arena, with every
 *   slab that holds no live slot given back, has a free aligned run for a
 *   slab of W (the buddy allocator coalesces fully, and a dry class flushes
 *   every cache back); otherwise only a larger class within 4x may serve it;
 *   it keeps the min_align_mask bits, honours the alignment, never hands out
 *   a live slot twice;
 * - lookups find exactly the live slots, for any address inside them;
 * - ccs_arena_take_free() succeeds iff a unit within its limit holds no live
 *   slot, and takes such a unit;
 * - statistics equal the model's counters; no byte is lost: arena free +
 *   carved into classes == held;
 * - ccs_pool_check() passes.
 *
 * The same engine runs from a seeded RNG (test_model) or from the bytes of
 * a fuzz input (fuzz_pool.c), so fuzz crashes replay as plain tests.
 */
#include "model.h"

#define M_MAX_UNITS	24
#define M_MAX_LIVE	1024
#define M_GRAINS	32	/* per unit, at most */

struct m_unit {
	phys_addr_t phys;
	u32 size;
	u32 nr_grains;
	u16 occ[M_GRAINS];	/* live slots covering each grain */
	s8 cls[M_GRAINS];	/* their class while occ > 0 */
};

struct m_live {
	struct ccs_slot *slot;
	phys_addr_t base;
	int cls;
};

struct m_range {
	phys_addr_t phys;
	u32 size;
};

struct model {
	struct ccs_pool *p;
	struct m_src *src;
	unsigned int nr_cpus;
	int ncls;
	u32 slot_size[CCS_MAX_CLASSES];
	struct m_unit units[M_MAX_UNITS];
	int nunits;
	struct m_live live[M_MAX_LIVE];
	int nlive;
	struct m_range reuse[16];
	int nreuse;
	phys_addr_t next_phys;
	struct {
		u64 in_use, hiwater, allocs, frees, fallbacks, failures;
	} c[CCS_MAX_CLASSES];
	u64 held, mapped, mapped_hiwater;
	u64 bad_frees;
	u32 reserve;			/* the pool's small reserve */
	struct ccs_slot *last_freed;	/* double-free candidate */
	u64 ops;
};

/* ---- entropy: RNG or fuzz bytes --------------------------------------- */

static u64 m_bits(struct m_src *s, unsigned int nbytes)
{
	u64 v = 0;
	unsigned int i;

	if (!s->data)
		return h_rand(&s->rng);
	for (i = 0; i < nbytes; i++) {
		if (s->pos >= s->len) {
			s->done = true;
			return v;
		}
		v |= (u64)s->data[s->pos++] << (8 * i);
	}
	return v;
}

static u64 m_below(struct m_src *s, u64 n)
{
	unsigned int nbytes = n <= 256 ? 1 : n <= 65536 ? 2 : 4;

	return n ? m_bits(s, nbytes) % n : 0;
}

/* ---- model helpers ---------------------------------------------------- */

static int m_unit_of(struct model *m, phys_addr_t phys)
{
	int i;

	for (i = 0; i < m->nunits; i++)
		if (phys >= m->units[i].phys &&
		    phys < m->units[i].phys + m->units[i].size)
			return i;
	return -1;
}

static int m_live_at(struct model *m, phys_addr_t addr)
{
	int i;

	for (i = 0; i < m->nlive; i++)
		if (addr >= m->live[i].base &&
		    addr < m->live[i].base + m->slot_size[m->live[i].cls])
			return i;
	return -1;
}

static int m_want(struct model *m, phys_addr_t orig, size_t size,
		  unsigned int mask, size_t align)
{
	u64 need = size;
	int cls;

	/* the rule, written independently of pool.c */
	if (!size || (align & (align - 1)))
		return -EINVAL;
	if (mask) {
		if (need + (orig & mask) > need)
			need += orig & mask;
		if ((u64)mask + 1 > need)
			need = (u64)mask + 1;
	}
	if (align > need)
		need = align;
	for (cls = 0; cls < m->ncls; cls++)
		if (m->slot_size[cls] >= need)
			return cls;
	return -EINVAL;
}

/* grains of one slab of class @cls */
static u32 m_slab_grains(struct model *m, int cls)
{
	return m->slot_size[cls] > 65536 ? m->slot_size[cls] / 65536 : 1;
}

/* a slab of @cls with live slots has a free one */
static bool m_partial_slab(struct model *m, int cls)
{
	u32 per = m->slot_size[cls] < 65536 ? 65536 / m->slot_size[cls] : 1;
	int u;
	u32 g;

	for (u = 0; u < m->nunits; u++)
		for (g = 0; g < m->units[u].nr_grains; g++)
			if (m->units[u].occ[g] && m->units[u].cls[g] == cls &&
			    m->units[u].occ[g] < per)
				return true;
	return false;
}

/* an aligned run of @n grains without live slots */
static bool m_free_run(struct model *m, u32 n)
{
	int u;
	u32 g, j;

	for (u = 0; u < m->nunits; u++) {
		struct m_unit *un = &m->units[u];

		for (g = 0; g + n <= un->nr_grains; g += n) {
			for (j = 0; j < n && !un->occ[g + j]; j++)
				;
			if (j == n)
				return true;
		}
	}
	return false;
}

/* arena bytes in grains without live slots (what a dry drain leaves free) */
static u64 m_free_bytes(struct model *m)
{
	u64 n = 0;
	int u;
	u32 g;

	for (u = 0; u < m->nunits; u++)
		for (g = 0; g < m->units[u].nr_grains; g++)
			n += !m->units[u].occ[g];
	return n << 16;
}

static bool m_unit_idle(struct m_unit *un)
{
	u32 g;

	for (g = 0; g < un->nr_grains; g++)
		if (un->occ[g])
			return false;
	return true;
}

static void m_occupy(struct model *m, phys_addr_t base, int cls, int delta)
{
	int u = m_unit_of(m, base);
	u32 g, n = m_slab_grains(m, cls);
	struct m_unit *un;

	CHECK(u >= 0);
	if (u < 0)
		return;
	un = &m->units[u];
	g = (base - un->phys) >> 16;
	for (; n--; g++) {
		if (delta > 0 && un->occ[g])
			CHECK_EQ(un->cls[g], cls);	/* slab of one class */
		un->occ[g] += delta;
		un->cls[g] = cls;
	}
}

static void m_compare_stats(struct model *m)
{
	struct ccs_arena_stats a;
	u64 carved = 0;
	int cls;

	for (cls = 0; cls < m->ncls; cls++) {
		struct ccs_class_stats st;

		ccs_class_stats(m->p, cls, &st);
		CHECK_EQ(st.slot_size, m->slot_size[cls]);
		CHECK_EQ(st.in_use, m->c[cls].in_use);
		CHECK(st.total >= st.in_use);
		CHECK_EQ(st.free, st.total - m->c[cls].in_use);
		CHECK(st.cached <= st.free);
		CHECK_EQ(st.hiwater, m->c[cls].hiwater);
		CHECK_EQ(st.allocs, m->c[cls].allocs);
		CHECK_EQ(st.frees, m->c[cls].frees);
		CHECK_EQ(st.fallbacks, m->c[cls].fallbacks);
		CHECK_EQ(st.failures, m->c[cls].failures);
		CHECK_EQ(st.bytes, st.total * m->slot_size[cls]);
		CHECK_EQ(st.bytes, (u64)st.chunks *
			 (m->slot_size[cls] > 65536 ? m->slot_size[cls] : 65536));
		CHECK_EQ(ccs_class_avail(m->p, cls), st.free);
		carved += st.bytes;
	}
	ccs_arena_stats(m->p, &a);
	CHECK_EQ(a.bytes, m->held);
	CHECK_EQ(a.free_bytes + carved, a.bytes);	/* no byte lost */
	CHECK_EQ(a.mapped_bytes, m->mapped);
	CHECK_EQ(a.mapped_hiwater, m->mapped_hiwater);
	CHECK_EQ(a.units, m->nunits);
	CHECK_EQ(ccs_pool_bad_frees(m->p), m->bad_frees);
}

/* ---- operations ------------------------------------------------------- */

/*
 * The reserve gate: allocations whose owner is m_hog stand for a device
 * over its share, kept out of the small reserve for every slot size.
 */
static const char m_hog;

static bool m_gate(const void *owner)
{
	return owner != &m_hog;
}

static void m_alloc(struct model *m)
{
	static const unsigned int masks[] = { 0, 0, 0, 0, 0, 0, 4095, 4095,
					      511, 2047 };
	struct m_src *s = m->src;
	int target = m_below(s, m->ncls);
	u32 ssz = m->slot_size[target];
	phys_addr_t orig = m_bits(s, 5) & 0xffffffffffULL;
	size_t size = target ? ssz / 2 + 1 + m_below(s, ssz / 2) : 1 + m_below(s, ssz);
	unsigned int mask = masks[m_below(s, ARRAY_SIZE(masks))];
	size_t align = 0;
	struct ccs_arena_stats before, after;
	int want, cls, served;
	bool partial, must, fb = true;
	struct ccs_slot *slot;
	phys_addr_t phys, base;
	void *owner;

	if (!m_below(s, 10))
		mask = (1U << m_below(s, 21)) - 1;
	if (!m_below(s, 8))
		align = 1UL << m_below(s, 21);
	if (!m_below(s, 50))
		size = m_bits(s, 3);		/* anything, oversize too */
	if (s->done || m->nlive >= M_MAX_LIVE)
		return;

	/* one in four is the hog's (from bits already drawn: inputs keep their meaning) */
	owner = (orig >> 12) & 3 ? (void *)m : (void *)&m_hog;
	want = m_want(m, orig, size, mask, align);
	partial = want >= 0 && m_partial_slab(m, want);
	/*
	 * A slab of more than one grain must also leave the small reserve
	 * free; one of a grain may take it, unless the hog carves it.
	 */
	must = want >= 0 && (partial ||
			     (m_free_run(m, m_slab_grains(m, want)) &&
			      ((m_slab_grains(m, want) == 1 && owner == m) ||
			       m_free_bytes(m) >= ((u64)m_slab_grains(m, want) << 16) + m->reserve)));
	ccs_arena_stats(m->p, &before);
	slot = ccs_slot_alloc(m->p, orig, size, mask, align, owner, &cls, &fb);
	CHECK_EQ(cls, want);
	if (want < 0) {
		CHECK(!slot);
		return;
	}
	if (must)
		CHECK(slot);
	if (!slot) {
		m->c[want].failures++;
		return;
	}
	m->last_freed = NULL;
	served = ccs_slot_class(slot);
	CHECK(served >= want && served < m->ncls);
	/* a slab of more than one grain, or the hog's, left the reserve free */
	ccs_arena_stats(m->p, &after);
	if (served < m->ncls &&
	    (m_slab_grains(m, served) > 1 || owner != m) &&
	    after.free_bytes < before.free_bytes)
		CHECK(after.free_bytes >= m->reserve);
	CHECK_EQ(fb, served != want);
	CHECK(m->slot_size[served] <= 4ULL * m->slot_size[want]);
	/* a free slot of the wanted class anywhere comes first */
	if (partial)
		CHECK_EQ(served, want);
	if (served < want || served >= m->ncls)
		return;

	phys = ccs_slot_phys(slot);
	base = phys - slot->offset;
	CHECK_EQ(slot->offset, orig & mask);
	CHECK_EQ(phys & mask, orig & mask);
	CHECK_EQ(base & (m->slot_size[served] - 1), 0);
	if (align)
		CHECK_EQ(base & (align - 1), 0);
	CHECK(slot->offset + size <= m->slot_size[served]);
	CHECK_EQ(ccs_slot_bytes(slot), m->slot_size[served]);
	CHECK_EQ(slot->orig, orig);
	CHECK_EQ(slot->size, size);
	CHECK(slot->owner == owner);
	CHECK_EQ(slot->in_use, 1);
	CHECK((phys_addr_t)(uintptr_t)ccs_slot_vaddr(slot) - H_FAKE_VA_OFFSET == phys);
	CHECK(h_lookup(m->p, phys) == slot);
	CHECK(h_lookup(m->p, base) == slot);
	CHECK(h_lookup(m->p, base + m->slot_size[served] - 1) == slot);
	CHECK(m_unit_of(m, base) >= 0);
	CHECK_EQ(m_live_at(m, base), -1);	/* never handed out twice */
	if (m_unit_of(m, base) < 0 || m_live_at(m, base) != -1)
		return;

	m_occupy(m, base, served, 1);
	m->live[m->nlive++] = (struct m_live){ slot, base, served };
	m->c[served].in_use++;
	m->c[served].allocs++;
	if (served != want)
		m->c[served].fallbacks++;
	if (m->c[served].in_use > m->c[served].hiwater)
		m->c[served].hiwater = m->c[served].in_use;
	m->mapped += m->slot_size[served];
	if (m->mapped > m->mapped_hiwater)
		m->mapped_hiwater = m->mapped;
}

static void m_free_live(struct model *m, int k)
{
	struct m_live *l = &m->live[k];

	ccs_slot_free(m->p, l->slot);
	CHECK(!h_lookup(m->p, l->base));
	m->last_freed = l->slot;
	m_occupy(m, l->base, l->cls, -1);
	m->c[l->cls].in_use--;
	m->c[l->cls].frees++;
	m->mapped -= m->slot_size[l->cls];
	*l = m->live[--m->nlive];
}

static void m_free(struct model *m)
{
	u64 k = m_below(m->src, m->nlive);

	if (m->nlive && !m->src->done)
		m_free_live(m, k);
}

static void m_double_free(struct model *m)
{
	if (!m->last_freed)
		return;
	uenv_quiet++;
	ccs_slot_free(m->p, m->last_freed);
	uenv_quiet--;
	m->bad_frees++;
}

static void m_lookup(struct model *m)
{
	struct m_src *s = m->src;
	struct ccs_slot *r;
	phys_addr_t addr;
	int k;

	if (m->nlive && m_below(s, 2)) {
		struct m_live *l = &m->live[m_below(s, m->nlive)];

		addr = l->base + m_below(s, m->slot_size[l->cls]);
		CHECK(h_lookup(m->p, addr) == l->slot);
		return;
	}
	if (m->nunits && m_below(s, 4)) {
		struct m_unit *un = &m->units[m_below(s, m->nunits)];

		addr = un->phys + m_below(s, un->size);
	} else {
		addr = H_FAKE_PHYS_BASE - (4 << 20) +
		       m_below(s, m->next_phys - H_FAKE_PHYS_BASE + (8 << 20));
		if (!m_below(s, 8))
			addr = m_bits(s, 8);
	}
	/* only addresses inside live slots answer */
	r = h_lookup(m->p, addr);
	k = m_live_at(m, addr);
	CHECK(r == (k < 0 ? NULL : m->live[k].slot));
}

static phys_addr_t m_new_range(struct model *m, u32 size)
{
	phys_addr_t phys;
	int i;

	/* reuse a range an earlier unit had: stale lookups must not see it */
	for (i = 0; i < m->nreuse; i++) {
		if (m->reuse[i].size >= size) {
			phys = m->reuse[i].phys;
			m->reuse[i] = m->reuse[--m->nreuse];
			return phys;
		}
	}
	phys = (m->next_phys + size - 1) & ~((phys_addr_t)size - 1);
	m->next_phys = phys + size;
	return phys;
}

static void m_add_unit(struct model *m)
{
	struct m_src *s = m->src;
	u32 size = 1U << (16 + m_below(s, 6));
	int bad = m_below(s, 16), ret;
	struct m_unit *un;
	phys_addr_t phys;

	if (s->done)
		return;
	if (bad == 0 || bad == 1) {
		/* invalid requests change nothing */
		phys = m->next_phys + (8 << 20);
		if (bad == 0 && m->nunits) {
			un = &m->units[m_below(s, m->nunits)];
			phys = un->phys;	/* overlaps */
			size = un->size;
		} else if (m_below(s, 2)) {
			phys = (phys + (2 << 20)) & ~((phys_addr_t)(2 << 20) - 1);
			phys += 4096;		/* misaligned */
		} else {
			size = m_below(s, 2) ? size / 2 + size / 4 : 4U << 20;
		}
		uenv_quiet++;
		ret = ccs_arena_add(m->p, h_fake_va(phys), phys, size);
		uenv_quiet--;
		CHECK_EQ(ret, -EINVAL);
		return;
	}
	if (m->nunits >= M_MAX_UNITS)
		return;
	phys = m_new_range(m, size);
	ret = ccs_arena_add(m->p, h_fake_va(phys), phys, size);
	CHECK_EQ(ret, 0);
	if (ret)
		return;
	un = &m->units[m->nunits++];
	memset(un, 0, sizeof(*un));
	un->phys = phys;
	un->size = size;
	un->nr_grains = size >> 16;
	m->held += size;
}

static void m_take_free(struct model *m)
{
	static const u32 limits[] = { 0, 64 << 10, 256 << 10, 1 << 20, 0 };
	u32 limit = limits[m_below(m->src, ARRAY_SIZE(limits))];
	phys_addr_t phys = 0;
	u32 size = 0, best = 0;
	void *va = NULL;
	int i, ui, ret;

	/* the largest idle one, or, when only the drain freed some, any */
	for (i = 0; i < m->nunits; i++)
		if (m_unit_idle(&m->units[i]) &&
		    (!limit || m->units[i].size <= limit) &&
		    m->units[i].size > best)
			best = m->units[i].size;
	ret = ccs_arena_take_free(m->p, limit, &va, &phys, &size);
	CHECK_EQ(ret, best ? 0 : -ENOENT);
	if (ret)
		return;
	m->last_freed = NULL;		/* its metadata may be gone */
	ui = m_unit_of(m, phys);
	CHECK(ui >= 0);
	if (ui < 0)
		return;
	CHECK_EQ(m->units[ui].phys, phys);
	CHECK_EQ(m->units[ui].size, size);
	CHECK(size <= best);
	CHECK(!limit || size <= limit);
	CHECK(m_unit_idle(&m->units[ui]));
	CHECK(va == h_fake_va(phys));
	CHECK(!h_lookup(m->p, phys));
	m->held -= size;
	if (m->nreuse < (int)ARRAY_SIZE(m->reuse))
		m->reuse[m->nreuse++] = (struct m_range){ phys, size };
	m->units[ui] = m->units[--m->nunits];
}

static void m_reset_hiwater(struct model *m)
{
	int cls;

	ccs_pool_reset_hiwater(m->p);
	for (cls = 0; cls < m->ncls; cls++)
		m->c[cls].hiwater = m->c[cls].in_use;
	m->mapped_hiwater = m->mapped;
}

/* ---- driver ------------------------------------------------------------- */

void model_run(const struct m_cfg *cfg, struct m_src *src)
{
	struct model *m = calloc(1, sizeof(*m));
	int cls, i, phase_len = 4000;
	bool alloc_phase = true;

	m->src = src;
	m->nr_cpus = cfg->nr_cpus;
	m->next_phys = H_FAKE_PHYS_BASE;
	m->p = ccs_pool_create(cfg->preset, 128ULL << 20, cfg->nr_cpus);
	CHECK(m->p);
	if (!m->p) {
		free(m);
		return;
	}
	m->ncls = ccs_pool_nr_classes(m->p);
	m->reserve = cfg->small_reserve;
	ccs_pool_set_small_reserve(m->p, m->reserve);
	ccs_pool_set_reserve_gate(m->p, m_gate);
	for (cls = 0; cls < m->ncls; cls++)
		m->slot_size[cls] = ccs_class_slot_size(m->p, cls);
	uenv_set_cpu(0);

	for (m->ops = 0; m->ops < cfg->ops && !src->done && !h_failed(); m->ops++) {
		unsigned int op = m_below(src, 1000);

		if (src->data) {
			/* fuzz input: every byte picks its operation */
			alloc_phase = op & 1;
		} else if (m->ops % phase_len == 0) {
			alloc_phase = !alloc_phase;
			phase_len = 500 + m_below(src, 8000);
		}
		if (op < 440)
			alloc_phase ? m_alloc(m) : m_free(m);
		else if (op < 800)
			alloc_phase ? m_free(m) : m_alloc(m);
		else if (op < 880)
			m_lookup(m);
		else if (op < 920)
			m_add_unit(m);
		else if (op < 950)
			m_take_free(m);
		else if (op < 975)
			uenv_set_cpu(m_below(src, m->nr_cpus));
		else if (op < 980)
			m_double_free(m);
		else if (op < 985)
			ccs_pool_drain(m->p, (int)m_below(src, m->ncls + 1) - 1);
		else if (op < 988)
			m_reset_hiwater(m);
		else if (op < 994)
			m_compare_stats(m);
		else
			CHECK_EQ(ccs_pool_check(m->p), 0);
		if (m->ops % cfg->check_every == cfg->check_every - 1) {
			CHECK_EQ(ccs_pool_check(m->p), 0);
			m_compare_stats(m);
		}
	}

	/* wind down: everything balances, every unit comes back */
	CHECK_EQ(ccs_pool_check(m->p), 0);
	m_compare_stats(m);
	while (m->nlive && !h_failed())
		m_free_live(m, m->nlive - 1);
	for (cls = 0; cls < m->ncls && !h_failed(); cls++)
		CHECK_EQ(m->c[cls].in_use, 0);
	for (i = 0; m->nunits && i < 1000 && !h_failed(); i++)
		m_take_free(m);
	CHECK_EQ(m->nunits, 0);
	m_compare_stats(m);
	CHECK_EQ(ccs_pool_check(m->p), 0);
	if (!h_failed())
		CHECK_EQ(ccs_pool_destroy(m->p), 0);
	free(m);
	uenv_set_cpu(0);
}

static void test_model_one(enum ccs_preset preset, unsigned int nr_cpus,
			   u64 ops, u32 reserve)
{
	struct m_cfg cfg = { preset, nr_cpus, ops, 5000, reserve };
	u64 seed = h_seed();
	struct m_src src = { .rng = seed };
	const char *s = getenv("MODEL_OPS");

	if (s && *s)
		cfg.ops = strtoull(s, NULL, 0);
	printf("  model: preset %s, %u cpus, %llu ops, small reserve %u KiB, SEED=%llu\n",
	       preset == CCS_PRESET_POW2 ? "pow2" : "rfc", nr_cpus,
	       cfg.ops, reserve >> 10, seed);
	model_run(&cfg, &src);
	if (h_failed())
		printf("  reproduce with: SEED=%llu ONLY=model\n", seed);
}

void test_model(void)
{
	test_model_one(CCS_PRESET_POW2, 4, 1500000, 128 << 10);
}

void test_model_rfc(void)
{
	test_model_one(CCS_PRESET_RFC, 1, 600000, 0);
}
