// SPDX-License-Identifier: GPL-2.0
/*
 * Model-based test of the pool: random operations are applied both to the
 * pool and to a trivial reference model (per-chunk arrays of live slots,
 * per-class counters), and every answer of the pool is checked against it:
 *
 * - an allocation succeeds iff the wanted class or a larger one with slots
 *   at most 4x the wanted size has a free slot anywhere (chunk lists,
 *   depot, any CPU's magazines); it is served by such a class, by the
 *   wanted one whenever that has a free slot anywhere, keeps the
 *   min_align_mask bits, honours the
 *   alignment, never hands out a live slot twice; with one CPU it is served
 *   by the smallest class that has a free slot;
 * - lookups find exactly the live slots, for any address inside them;
 * - ccs_chunk_take_free() succeeds iff some chunk of the class is unused;
 * - statistics equal the model's counters, exactly;
 * - ccs_pool_check() passes.
 *
 * The same engine runs from a seeded RNG (test_model) or from the bytes of
 * a fuzz input (fuzz_pool.c), so fuzz crashes replay as plain tests.
 */
#include "model.h"

#define M_MAX_CHUNKS	48
#define M_MAX_LIVE	4096
#define M_MAX_CH_CLS	4	/* chunks per class */

struct m_chunk {
	phys_addr_t phys;
	u32 size;
	int cls;
	u32 nr_slots;
	u32 live;
	s32 *live_idx;		/* per slot: index in m->live, or -1 */
};

struct m_live {
	struct ccs_slot *slot;
	phys_addr_t base;
	int chunk;		/* index in m->chunks */
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
	struct m_chunk chunks[M_MAX_CHUNKS];
	int nchunks;
	struct m_live live[M_MAX_LIVE];
	int nlive;
	struct m_range reuse[16];
	int nreuse;
	phys_addr_t next_phys;
	struct {
		u64 total, in_use, hiwater, allocs, frees, fallbacks, failures;
		u64 bytes;
		u32 chunks;
	} c[CCS_MAX_CLASSES];
	u64 bad_frees;
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

static int m_chunk_of(struct model *m, phys_addr_t phys)
{
	int i;

	for (i = 0; i < m->nchunks; i++)
		if (phys >= m->chunks[i].phys &&
		    phys < m->chunks[i].phys + m->chunks[i].size)
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

static void m_compare_stats(struct model *m)
{
	int cls;

	for (cls = 0; cls < m->ncls; cls++) {
		struct ccs_class_stats st;

		ccs_class_stats(m->p, cls, &st);
		CHECK_EQ(st.slot_size, m->slot_size[cls]);
		CHECK_EQ(st.total, m->c[cls].total);
		CHECK_EQ(st.in_use, m->c[cls].in_use);
		CHECK_EQ(st.free, m->c[cls].total - m->c[cls].in_use);
		CHECK(st.cached <= st.free);
		CHECK_EQ(st.hiwater, m->c[cls].hiwater);
		CHECK_EQ(st.allocs, m->c[cls].allocs);
		CHECK_EQ(st.frees, m->c[cls].frees);
		CHECK_EQ(st.fallbacks, m->c[cls].fallbacks);
		CHECK_EQ(st.failures, m->c[cls].failures);
		CHECK_EQ(st.chunks, m->c[cls].chunks);
		CHECK_EQ(st.bytes, m->c[cls].bytes);
		CHECK_EQ(ccs_class_avail(m->p, cls),
			 m->c[cls].total - m->c[cls].in_use);
	}
	CHECK_EQ(ccs_pool_bad_frees(m->p), m->bad_frees);
}

/* ---- operations ------------------------------------------------------- */

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
	int want, cls, expect = -1, served, ci;
	struct ccs_slot *slot;
	phys_addr_t phys, base;
	bool fb = true;
	struct m_chunk *ch;
	u32 idx;

	if (!m_below(s, 10))
		mask = (1U << m_below(s, 21)) - 1;
	if (!m_below(s, 8))
		align = 1UL << m_below(s, 21);
	if (!m_below(s, 50))
		size = m_bits(s, 3);		/* anything, oversize too */
	if (s->done || m->nlive >= M_MAX_LIVE)
		return;

	want = m_want(m, orig, size, mask, align);
	/* bounded fallback: slots at most 4x the wanted size */
	for (cls = want < 0 ? m->ncls : want;
	     cls < m->ncls && m->slot_size[cls] <= 4ULL * m->slot_size[want];
	     cls++)
		if (m->c[cls].in_use < m->c[cls].total) {
			expect = cls;
			break;
		}
	slot = ccs_slot_alloc(m->p, orig, size, mask, align, m, &cls, &fb);
	CHECK_EQ(cls, want);
	if (want < 0) {
		CHECK(!slot);
		return;
	}
	if (expect < 0) {
		CHECK(!slot);
		m->c[want].failures++;
		return;
	}
	CHECK(slot);
	if (!slot)
		return;
	m->last_freed = NULL;
	served = ccs_slot_class(slot);
	CHECK(served >= want && served < m->ncls);
	CHECK(m->c[served].in_use < m->c[served].total);
	CHECK_EQ(fb, served != want);
	CHECK(m->slot_size[served] <= 4ULL * m->slot_size[want]);
	/* the wanted class, stolen from another CPU if need be, comes first */
	if (expect == want)
		CHECK_EQ(served, want);
	if (m->nr_cpus == 1)
		CHECK_EQ(served, expect);
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
	CHECK_EQ(slot->orig, orig);
	CHECK_EQ(slot->size, size);
	CHECK(slot->owner == m);
	CHECK_EQ(slot->in_use, 1);
	CHECK((phys_addr_t)(uintptr_t)ccs_slot_vaddr(slot) - H_FAKE_VA_OFFSET == phys);
	CHECK(ccs_slot_lookup(m->p, phys) == slot);
	CHECK(ccs_slot_lookup(m->p, base) == slot);
	CHECK(ccs_slot_lookup(m->p, base + m->slot_size[served] - 1) == slot);

	ci = m_chunk_of(m, base);
	CHECK(ci >= 0);
	if (ci < 0)
		return;
	ch = &m->chunks[ci];
	CHECK_EQ(ch->cls, served);
	idx = (base - ch->phys) / m->slot_size[served];
	CHECK_EQ(ch->live_idx[idx], -1);	/* never handed out twice */
	if (ch->live_idx[idx] != -1)
		return;
	ch->live_idx[idx] = m->nlive;
	ch->live++;
	m->live[m->nlive++] = (struct m_live){ slot, base, ci, served };
	m->c[served].in_use++;
	m->c[served].allocs++;
	if (served != want)
		m->c[served].fallbacks++;
	if (m->c[served].in_use > m->c[served].hiwater)
		m->c[served].hiwater = m->c[served].in_use;
}

static void m_free_live(struct model *m, int k)
{
	struct m_live *l = &m->live[k];
	struct m_chunk *ch = &m->chunks[l->chunk];
	u32 idx = (l->base - ch->phys) / m->slot_size[l->cls];

	ccs_slot_free(m->p, l->slot);
	CHECK(!ccs_slot_lookup(m->p, l->base));
	m->last_freed = l->slot;
	ch->live_idx[idx] = -1;
	ch->live--;
	m->c[l->cls].in_use--;
	m->c[l->cls].frees++;
	/* swap-remove, keeping the moved entry's back-reference right */
	if (k != m->nlive - 1) {
		struct m_live *last = &m->live[m->nlive - 1];
		struct m_chunk *lch = &m->chunks[last->chunk];

		lch->live_idx[(last->base - lch->phys) / m->slot_size[last->cls]] = k;
		*l = *last;
	}
	m->nlive--;
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
	struct m_chunk *ch;
	struct ccs_slot *r;
	phys_addr_t addr;
	u32 idx;

	if (m->nlive && m_below(s, 2)) {
		struct m_live *l = &m->live[m_below(s, m->nlive)];

		addr = l->base + m_below(s, m->slot_size[l->cls]);
		CHECK(ccs_slot_lookup(m->p, addr) == l->slot);
		return;
	}
	if (m->nchunks && m_below(s, 4)) {
		ch = &m->chunks[m_below(s, m->nchunks)];
		addr = ch->phys + m_below(s, ch->size);
		idx = (addr - ch->phys) / m->slot_size[ch->cls];
		r = ccs_slot_lookup(m->p, addr);
		if (ch->live_idx[idx] < 0)
			CHECK(!r);
		else
			CHECK(r == m->live[ch->live_idx[idx]].slot);
		return;
	}
	/* anywhere: only pool addresses of live slots may answer */
	addr = H_FAKE_PHYS_BASE - (4 << 20) + m_below(s, m->next_phys - H_FAKE_PHYS_BASE + (8 << 20));
	if (!m_below(s, 8))
		addr = m_bits(s, 8);
	r = ccs_slot_lookup(m->p, addr);
	if (m_chunk_of(m, addr) < 0) {
		CHECK(!r);
	} else {
		ch = &m->chunks[m_chunk_of(m, addr)];
		idx = (addr - ch->phys) / m->slot_size[ch->cls];
		CHECK(r == (ch->live_idx[idx] < 0 ? NULL :
			    m->live[ch->live_idx[idx]].slot));
	}
}

static phys_addr_t m_new_range(struct model *m, u32 size)
{
	phys_addr_t phys;
	int i;

	/* reuse a range an earlier chunk had: stale lookups must not see it */
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

static void m_add_chunk(struct model *m)
{
	struct m_src *s = m->src;
	int cls = m_below(s, m->ncls);
	u32 min_shift = m->slot_size[cls] > 65536 ? ilog2(m->slot_size[cls]) : 16;
	u32 size = 1U << (min_shift + m_below(s, 22 - min_shift));
	int bad = m_below(s, 16), ret;
	struct m_chunk *ch;
	phys_addr_t phys;
	u32 i;

	if (s->done)
		return;
	if (bad == 0 || bad == 1) {
		/* invalid requests change nothing */
		phys = m->next_phys + (8 << 20);
		if (bad == 0 && m->nchunks) {
			ch = &m->chunks[m_below(s, m->nchunks)];
			phys = ch->phys;	/* overlaps */
			size = ch->size;
		} else if (m_below(s, 2)) {
			phys = (phys + (2 << 20)) & ~((phys_addr_t)(2 << 20) - 1);
			phys += 4096;		/* misaligned */
		} else {
			size = m_below(s, 2) ? size / 2 + size / 4 : 4U << 20;
		}
		uenv_quiet++;
		ret = ccs_chunk_add(m->p, cls, h_fake_va(phys), phys, size);
		uenv_quiet--;
		CHECK_EQ(ret, -EINVAL);
		return;
	}
	if (m->nchunks >= M_MAX_CHUNKS || m->c[cls].chunks >= M_MAX_CH_CLS)
		return;
	phys = m_new_range(m, size);
	ret = ccs_chunk_add(m->p, cls, h_fake_va(phys), phys, size);
	CHECK_EQ(ret, 0);
	if (ret)
		return;
	ch = &m->chunks[m->nchunks++];
	ch->phys = phys;
	ch->size = size;
	ch->cls = cls;
	ch->nr_slots = size / m->slot_size[cls];
	ch->live = 0;
	ch->live_idx = malloc(ch->nr_slots * sizeof(*ch->live_idx));
	for (i = 0; i < ch->nr_slots; i++)
		ch->live_idx[i] = -1;
	m->c[cls].total += ch->nr_slots;
	m->c[cls].bytes += size;
	m->c[cls].chunks++;
}

static void m_remove_chunk(struct model *m, int ci)
{
	struct m_chunk *ch = &m->chunks[ci];
	int i;

	m->c[ch->cls].total -= ch->nr_slots;
	m->c[ch->cls].bytes -= ch->size;
	m->c[ch->cls].chunks--;
	if (m->nreuse < (int)ARRAY_SIZE(m->reuse))
		m->reuse[m->nreuse++] = (struct m_range){ ch->phys, ch->size };
	free(ch->live_idx);
	if (ci != m->nchunks - 1) {
		*ch = m->chunks[m->nchunks - 1];
		for (i = 0; i < m->nlive; i++)
			if (m->live[i].chunk == m->nchunks - 1)
				m->live[i].chunk = ci;
	}
	m->nchunks--;
}

static void m_take_free(struct model *m, int cls)
{
	phys_addr_t phys = 0;
	bool expect = false;
	void *va = NULL;
	u32 size = 0;
	int i, ci, ret;

	for (i = 0; i < m->nchunks; i++)
		if (m->chunks[i].cls == cls && !m->chunks[i].live)
			expect = true;
	ret = ccs_chunk_take_free(m->p, cls, &va, &phys, &size);
	CHECK_EQ(ret, expect ? 0 : -ENOENT);
	if (ret)
		return;
	m->last_freed = NULL;		/* its metadata may be gone */
	ci = m_chunk_of(m, phys);
	CHECK(ci >= 0);
	if (ci < 0)
		return;
	CHECK_EQ(m->chunks[ci].phys, phys);
	CHECK_EQ(m->chunks[ci].size, size);
	CHECK_EQ(m->chunks[ci].cls, cls);
	CHECK_EQ(m->chunks[ci].live, 0);
	CHECK(va == h_fake_va(phys));
	CHECK(!ccs_slot_lookup(m->p, phys));
	m_remove_chunk(m, ci);
}

static void m_reset_hiwater(struct model *m)
{
	int cls;

	ccs_pool_reset_hiwater(m->p);
	for (cls = 0; cls < m->ncls; cls++)
		m->c[cls].hiwater = m->c[cls].in_use;
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
			m_add_chunk(m);
		else if (op < 950)
			m_take_free(m, m_below(src, m->ncls));
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

	/* wind down: everything balances, every chunk comes back */
	CHECK_EQ(ccs_pool_check(m->p), 0);
	m_compare_stats(m);
	while (m->nlive && !h_failed())
		m_free_live(m, m->nlive - 1);
	for (cls = 0; cls < m->ncls && !h_failed(); cls++) {
		CHECK_EQ(m->c[cls].in_use, 0);
		while (m->c[cls].chunks && !h_failed())
			m_take_free(m, cls);
		m_take_free(m, cls);		/* -ENOENT */
	}
	m_compare_stats(m);
	if (!h_failed())
		CHECK_EQ(ccs_pool_destroy(m->p), 0);
	for (i = 0; i < m->nchunks; i++)
		free(m->chunks[i].live_idx);
	free(m);
	uenv_set_cpu(0);
}

static void test_model_one(enum ccs_preset preset, unsigned int nr_cpus,
			   u64 ops)
{
	struct m_cfg cfg = { preset, nr_cpus, ops, 5000 };
	u64 seed = h_seed();
	struct m_src src = { .rng = seed };
	const char *s = getenv("MODEL_OPS");

	if (s && *s)
		cfg.ops = strtoull(s, NULL, 0);
	printf("  model: preset %s, %u cpus, %llu ops, SEED=%llu\n",
	       preset == CCS_PRESET_POW2 ? "pow2" : "rfc", nr_cpus,
	       cfg.ops, seed);
	model_run(&cfg, &src);
	if (h_failed())
		printf("  reproduce with: SEED=%llu ONLY=model\n", seed);
}

void test_model(void)
{
	test_model_one(CCS_PRESET_POW2, 4, 2500000);
}

void test_model_rfc(void)
{
	test_model_one(CCS_PRESET_RFC, 1, 1000000);
}
