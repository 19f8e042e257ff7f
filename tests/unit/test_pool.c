// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the pool core (module/pool.c built in userspace), plus the
 * driver that runs the model-based, stress and fuzz-replay tests.
 *
 *   build/test_pool [corpus-dir...]	run everything, replaying the fuzz
 *					inputs found in the directories
 *   SEED=n build/test_pool		reproduce a randomized run
 *   ONLY=name build/test_pool		run the tests whose name contains it
 */
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

unsigned long h_failures;
static const char *h_current;

void h_fail(const char *file, int line, const char *what, long long a,
	    long long b)
{
	if (__atomic_add_fetch(&h_failures, 1, __ATOMIC_RELAXED) <= 20)
		fprintf(stderr, "  FAIL %s: %s:%d: %s (%lld vs %lld)\n",
			h_current, file, line, what, a, b);
}

static phys_addr_t h_next_phys = H_FAKE_PHYS_BASE;

phys_addr_t h_fake_phys(u32 size)
{
	phys_addr_t phys = ALIGN(h_next_phys, (phys_addr_t)size);

	h_next_phys = phys + size;
	return phys;
}

phys_addr_t h_add_arena(struct ccs_pool *p, u32 size)
{
	phys_addr_t phys = h_fake_phys(size);
	int ret = ccs_arena_add(p, h_fake_va(phys), phys, size);

	CHECK_EQ(ret, 0);
	return ret ? 0 : phys;
}

void h_teardown(struct ccs_pool *p)
{
	phys_addr_t phys;
	void *va;
	u32 size;

	CHECK_EQ(ccs_pool_check(p), 0);
	while (!ccs_arena_take_free(p, 0, &va, &phys, &size))
		CHECK(va == h_fake_va(phys));
	CHECK_EQ(ccs_pool_held_bytes(p), 0);
	CHECK_EQ(ccs_pool_destroy(p), 0);
}

u64 h_seed(void)
{
	const char *s = getenv("SEED");

	if (s && *s)
		return strtoull(s, NULL, 0);
	return (u64)time(NULL) ^ ((u64)clock() << 20);
}

/* ---- helpers ------------------------------------------------------------ */

static struct ccs_slot *alloc(struct ccs_pool *p, phys_addr_t orig, size_t size,
			      unsigned int mask, size_t align)
{
	return ccs_slot_alloc(p, orig, size, mask, align, (void *)0x1234, NULL,
			      NULL);
}

static phys_addr_t slot_base(struct ccs_pool *p, struct ccs_slot *s)
{
	(void)p;
	return ccs_slot_phys(s) - s->offset;
}

static struct ccs_class_stats stats(struct ccs_pool *p, int cls)
{
	struct ccs_class_stats st;

	ccs_class_stats(p, cls, &st);
	return st;
}

/* a pool with an arena of 16 MiB (8 units of 2 MiB) */
static struct ccs_pool *stocked_pool(enum ccs_preset preset)
{
	struct ccs_pool *p = ccs_pool_create(preset, 256ULL << 20, 2);
	int i;

	CHECK(p);
	for (i = 0; p && i < 8; i++)
		h_add_arena(p, 2 << 20);
	return p;
}

static struct ccs_arena_stats astats(struct ccs_pool *p)
{
	struct ccs_arena_stats st;

	ccs_arena_stats(p, &st);
	return st;
}

/* no byte lost: arena free + carved into classes == held */
static void check_bytes(struct ccs_pool *p)
{
	struct ccs_arena_stats a = astats(p);
	u64 carved = 0, mapped = 0;
	int cls;

	for (cls = 0; cls < ccs_pool_nr_classes(p); cls++) {
		struct ccs_class_stats st = stats(p, cls);

		carved += st.bytes;
		mapped += st.in_use * st.slot_size;
		CHECK_EQ(st.total * st.slot_size, st.bytes);
	}
	CHECK_EQ(a.free_bytes + carved, a.bytes);
	CHECK_EQ(a.carved_bytes, carved);
	CHECK_EQ(a.mapped_bytes, mapped);
	CHECK_EQ(ccs_pool_held_bytes(p), a.bytes);
	CHECK_EQ(ccs_pool_free_bytes(p), a.bytes - mapped);
	CHECK_EQ(ccs_pool_check(p), 0);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_presets(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	static const u32 rfc[] = { 512, 2048, 4096, 16384, 524288 };
	int cls;

	CHECK_EQ(ccs_pool_nr_classes(p), 11);
	for (cls = 0; cls < 11; cls++) {
		u32 slot = 512U << cls;
		u32 chunk = slot < 65536 ? 65536 : slot;

		CHECK_EQ(ccs_class_slot_size(p, cls), slot);
		CHECK_EQ(ccs_class_chunk_size(p, cls), chunk);
		CHECK_EQ(stats(p, cls).slot_size, slot);
	}
	CHECK_EQ(ccs_class_slot_size(p, 11), 0);
	CHECK_EQ(ccs_class_slot_size(p, -1), 0);
	CHECK_EQ(ccs_pool_destroy(p), 0);

	p = ccs_pool_create(CCS_PRESET_RFC, 64 << 20, 1);
	CHECK_EQ(ccs_pool_nr_classes(p), 5);
	for (cls = 0; cls < 5; cls++)
		CHECK_EQ(ccs_class_slot_size(p, cls), rfc[cls]);
	CHECK_EQ(ccs_pool_destroy(p), 0);

	CHECK(!ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 0));
	CHECK(!ccs_pool_create((enum ccs_preset)7, 64 << 20, 1));
}

static void test_class_for(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	struct ccs_pool *r = ccs_pool_create(CCS_PRESET_RFC, 64 << 20, 1);
	size_t sz;

	/* smallest class that fits */
	CHECK_EQ(ccs_class_for(p, 0, 1, 0, 0), 0);
	CHECK_EQ(ccs_class_for(p, 0, 512, 0, 0), 0);
	CHECK_EQ(ccs_class_for(p, 0, 513, 0, 0), 1);
	CHECK_EQ(ccs_class_for(p, 0, 4096, 0, 0), 3);
	CHECK_EQ(ccs_class_for(p, 0, 4097, 0, 0), 4);
	CHECK_EQ(ccs_class_for(p, 0, 512 << 10, 0, 0), 10);
	for (sz = 1; sz <= (512 << 10); sz += 97) {
		int cls = ccs_class_for(p, 0x1000, sz, 0, 0);

		CHECK(ccs_class_slot_size(p, cls) >= sz);
		CHECK(cls == 0 || ccs_class_slot_size(p, cls - 1) < sz);
	}
	/* never more than 2x the request (POW2) */
	for (sz = 512; sz <= (512 << 10); sz += 331)
		CHECK(ccs_class_slot_size(p, ccs_class_for(p, 0, sz, 0, 0)) < 2 * sz);

	/* min_align_mask: slot >= mask + 1 and >= (orig & mask) + size */
	CHECK_EQ(ccs_class_for(p, 0x10000, 512, 4095, 0), 3);
	CHECK_EQ(ccs_class_for(p, 0x10200, 512, 4095, 0), 3);
	CHECK_EQ(ccs_class_for(p, 0x10e00, 1024, 4095, 0), 4);	/* 0xe00 + 1K */
	CHECK_EQ(ccs_class_for(p, 0x10fff, 4096, 4095, 0), 4);
	CHECK_EQ(ccs_class_for(p, 0x10001, 512, 511, 0), 1);	/* 1 + 512 */
	CHECK_EQ(ccs_class_for(p, 0x10000, 512, 511, 0), 0);
	/* explicit alignment */
	CHECK_EQ(ccs_class_for(p, 0, 100, 0, 8192), 4);
	CHECK_EQ(ccs_class_for(p, 0, 100, 0, 1), 0);
	CHECK_EQ(ccs_class_for(p, 0, 100, 0, 3), -EINVAL);
	/* oversize */
	CHECK_EQ(ccs_class_for(p, 0, 0, 0, 0), -EINVAL);
	CHECK_EQ(ccs_class_for(p, 0, (512 << 10) + 1, 0, 0), -EINVAL);
	CHECK_EQ(ccs_class_for(p, 0, (size_t)-1, 0, 0), -EINVAL);
	CHECK_EQ(ccs_class_for(p, 1, 512 << 10, 4095, 0), -EINVAL);
	CHECK_EQ(ccs_class_for(p, 0, 512, 0xfffff, 0), -EINVAL);
	CHECK_EQ(ccs_class_for(p, 0, 512, 0xffffffff, 0), -EINVAL);
	CHECK_EQ(ccs_class_for(p, 0, 512, 0, 1 << 20), -EINVAL);

	/* RFC ladder: 512, 2K, 4K, 16K, 512K */
	CHECK_EQ(ccs_class_for(r, 0, 600, 0, 0), 1);
	CHECK_EQ(ccs_class_for(r, 0, 2048, 0, 0), 1);
	CHECK_EQ(ccs_class_for(r, 0, 5000, 0, 0), 3);
	CHECK_EQ(ccs_class_for(r, 0, 16385, 0, 0), 4);
	CHECK_EQ(ccs_class_for(r, 0x800, 512, 4095, 0), 2);
	CHECK_EQ(ccs_pool_destroy(p), 0);
	CHECK_EQ(ccs_pool_destroy(r), 0);
}

static void test_alloc_basic(void)
{
	struct ccs_pool *p = stocked_pool(CCS_PRESET_POW2);
	struct ccs_slot *s;
	bool fb = true;
	int cls = 99;

	s = ccs_slot_alloc(p, 0xabc123, 1000, 0, 0, (void *)0x77, &cls, &fb);
	CHECK(s);
	CHECK_EQ(cls, 1);
	CHECK(!fb);
	CHECK_EQ(ccs_slot_class(s), 1);
	CHECK_EQ(s->orig, 0xabc123);
	CHECK_EQ(s->size, 1000);
	CHECK_EQ(s->offset, 0);
	CHECK(s->owner == (void *)0x77);
	CHECK_EQ(s->in_use, 1);
	CHECK_EQ(ccs_slot_phys(s) % 1024, 0);
	/* vaddr and phys describe the same place */
	CHECK_EQ((uintptr_t)ccs_slot_vaddr(s) - H_FAKE_VA_OFFSET, ccs_slot_phys(s));
	CHECK_EQ(ccs_pool_check(p), 0);
	ccs_slot_free(p, s);
	CHECK_EQ(s->in_use, 0);
	CHECK(!s->owner);

	/* oversize: NULL, -EINVAL, and no failure counted */
	s = ccs_slot_alloc(p, 0, (512 << 10) + 1, 0, 0, NULL, &cls, &fb);
	CHECK(!s);
	CHECK_EQ(cls, -EINVAL);
	CHECK(!fb);
	for (cls = 0; cls < 11; cls++)
		CHECK_EQ(stats(p, cls).failures, 0);
	ccs_slot_free(p, NULL);			/* ignored */
	/* the out parameters are optional */
	s = ccs_slot_alloc(p, 0, 10, 0, 0, NULL, NULL, NULL);
	CHECK(s);
	ccs_slot_free(p, s);
	h_teardown(p);
}

static void test_min_align_mask(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 256ULL << 20, 2);
	static const unsigned int masks[] = { 0, 1, 7, 63, 511, 2047, 4095,
					      16383, 65535, 262143 };
	struct ccs_slot *live[64];
	u64 seed = 42;
	int cls, i, n;

	for (cls = 0; cls < 11; cls++)
		h_add_arena(p, 2U << 20);
	for (i = 0; i < 20000 && !h_failed(); i++) {
		unsigned int mask = masks[h_below(&seed, ARRAY_SIZE(masks))];
		phys_addr_t orig = h_rand(&seed) & 0xffffffffffULL;
		size_t size = 1 + h_below(&seed, 1 + h_below(&seed, 64 << 10));
		size_t align = h_below(&seed, 4) ? 0 : 1UL << h_below(&seed, 17);
		int want = ccs_class_for(p, orig, size, mask, align);
		struct ccs_slot *s;
		phys_addr_t phys, base;
		u32 slot_size;

		s = alloc(p, orig, size, mask, align);
		if (want < 0) {
			CHECK(!s);
			continue;
		}
		CHECK(s);
		if (!s)
			break;
		phys = ccs_slot_phys(s);
		slot_size = ccs_class_slot_size(p, ccs_slot_class(s));
		base = phys - s->offset;
		CHECK_EQ(phys & mask, orig & mask);	/* keeps the low bits */
		CHECK_EQ(s->offset, orig & mask);
		CHECK_EQ(base % slot_size, 0);		/* naturally aligned */
		if (align)
			CHECK_EQ(base % align, 0);
		if (align && !mask)
			CHECK_EQ(phys % align, 0);
		CHECK(s->offset + size <= slot_size);	/* fits */
		CHECK_EQ((uintptr_t)ccs_slot_vaddr(s) - H_FAKE_VA_OFFSET, phys);
		CHECK(h_lookup(p, phys) == s);
		CHECK(h_lookup(p, phys + size - 1) == s);
		ccs_slot_free(p, s);
	}
	/* NVMe's case: 4 KiB - 1 mask, page-offset buffers, many live at once */
	for (n = 0; n < 64; n++) {
		phys_addr_t orig = 0x7654000 + n * 0x1000 + n * 8;

		live[n] = alloc(p, orig, 2048, 4095, 0);
		CHECK(live[n]);
		if (live[n])
			CHECK_EQ(ccs_slot_phys(live[n]) & 4095, (orig & 4095));
	}
	for (n = 0; n < 64; n++)
		if (live[n])
			ccs_slot_free(p, live[n]);
	h_teardown(p);
}

static void test_fallback_never_smaller(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	struct ccs_slot *s, *held[128];
	bool fb;
	int cls, i;

	/* 64 KiB of arena: filled with 512 B slots, nothing larger fits */
	h_add_arena(p, 64 << 10);
	for (i = 0; i < 128; i++) {
		held[i] = alloc(p, 0, 512, 0, 0);
		CHECK(held[i]);
	}
	s = ccs_slot_alloc(p, 0, 4096, 0, 0, NULL, &cls, &fb);
	CHECK(!s);
	CHECK_EQ(cls, 3);
	CHECK_EQ(stats(p, 3).failures, 1);	/* counted on the wanted class */
	CHECK_EQ(stats(p, 0).failures, 0);
	/* one 512 B slot free: still no 4 KiB (never a smaller class) */
	ccs_slot_free(p, held[0]);
	CHECK(!alloc(p, 0, 4096, 0, 0));
	s = ccs_slot_alloc(p, 0, 100, 0, 0, NULL, &cls, &fb);
	CHECK(s && !fb && ccs_slot_class(s) == 0);
	held[0] = s;
	for (i = 0; i < 128; i++)
		if (held[i])
			ccs_slot_free(p, held[i]);
	/* all free again: the slab went back, 4 KiB now carves the grain */
	s = ccs_slot_alloc(p, 0, 4096, 0, 0, NULL, &cls, &fb);
	CHECK(s && !fb && ccs_slot_class(s) == 3);
	if (s)
		ccs_slot_free(p, s);
	check_bytes(p);
	h_teardown(p);
}

static void test_lookup(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 1ULL << 30, 2);
	enum { NCH = 300 };
	static phys_addr_t chunks[NCH];
	struct ccs_slot *s[8];
	phys_addr_t lo, hi;
	int i, j;

	/* many units, to get long lists if lookup were linear */
	for (i = 0; i < NCH; i++)
		chunks[i] = h_add_arena(p, i % 3 ? 64 << 10 : 2 << 20);
	lo = chunks[0];
	hi = chunks[NCH - 1] + (2 << 20);

	for (i = 0; i < 8; i++) {
		s[i] = alloc(p, 0x1000 + i * 0x40, 1 + i * 3000, i & 1 ? 4095 : 0, 0);
		CHECK(s[i]);
	}
	for (i = 0; i < 8 && s[i]; i++) {
		phys_addr_t base = slot_base(p, s[i]);
		u32 sz = ccs_class_slot_size(p, ccs_slot_class(s[i]));

		CHECK(h_lookup(p, ccs_slot_phys(s[i])) == s[i]);
		CHECK(h_lookup(p, base) == s[i]);	/* interior */
		CHECK(h_lookup(p, base + sz / 2) == s[i]);
		CHECK(h_lookup(p, base + sz - 1) == s[i]);
		/* the neighbours are free slots */
		if (h_lookup(p, base + sz) != NULL)
			CHECK(h_lookup(p, base + sz) != s[i]);
	}
	/* a free slot, holes and non-pool addresses give NULL */
	CHECK(!h_lookup(p, 0));
	CHECK(!h_lookup(p, lo - 1));
	CHECK(!h_lookup(p, hi + 12345));
	CHECK(!h_lookup(p, 0xfffffffffffff000ULL));
	/* inside a unit that holds none of the slots in use */
	for (j = NCH - 1; j >= 0; j--) {
		for (i = 0; i < 8 && s[i]; i++)
			if (slot_base(p, s[i]) - chunks[j] < (2 << 20))
				break;
		if (i == 8)
			break;
	}
	CHECK(j >= 0);
	CHECK(j < 0 || !h_lookup(p, chunks[j] + 100));
	for (i = 0; i < 8 && s[i]; i++) {
		phys_addr_t phys = ccs_slot_phys(s[i]);

		ccs_slot_free(p, s[i]);
		CHECK(!h_lookup(p, phys));	/* freed */
	}
	h_teardown(p);
	/* and after the chunk is gone (a new pool, same addresses) */
	p = ccs_pool_create(CCS_PRESET_POW2, 1ULL << 30, 2);
	CHECK(!h_lookup(p, lo + 4096));
	CHECK_EQ(ccs_pool_destroy(p), 0);
}

static void test_arena_add_validation(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	phys_addr_t ph = h_fake_phys(4 << 20);
	void *va = h_fake_va(ph);
	phys_addr_t got_phys;
	void *got_va;
	u32 got_size;

	CHECK_EQ(ccs_arena_add(p, NULL, ph, 64 << 10), -EINVAL);
	CHECK_EQ(ccs_arena_add(p, va, ph, 96 << 10), -EINVAL);	/* not pow2 */
	CHECK_EQ(ccs_arena_add(p, va, ph, 32 << 10), -EINVAL);	/* < 64K */
	CHECK_EQ(ccs_arena_add(p, va, ph, 4 << 20), -EINVAL);	/* > 2M */
	CHECK_EQ(ccs_arena_add(p, va, ph + 4096, 64 << 10), -EINVAL);
	CHECK_EQ(ccs_arena_add(p, (char *)va + 4096, ph, 64 << 10), -EINVAL);
	CHECK_EQ(ccs_arena_add(p, va, ph + (64 << 10), 128 << 10), -EINVAL);
	CHECK_EQ(astats(p).bytes, 0);

	/* every power of two from 64K to 2M is accepted */
	CHECK_EQ(ccs_arena_add(p, va, ph, 64 << 10), 0);
	CHECK_EQ(ccs_arena_add(p, (char *)va + (128 << 10), ph + (128 << 10), 128 << 10), 0);
	CHECK_EQ(ccs_arena_add(p, (char *)va + (2 << 20), ph + (2 << 20), 2 << 20), 0);
	/* overlapping memory already in the arena */
	uenv_quiet = 1;
	CHECK_EQ(ccs_arena_add(p, va, ph, 64 << 10), -EINVAL);
	CHECK_EQ(ccs_arena_add(p, (char *)va + (192 << 10), ph + (192 << 10), 64 << 10), -EINVAL);
	CHECK_EQ(ccs_arena_add(p, va, ph, 2 << 20), -EINVAL);
	uenv_quiet = 0;
	CHECK_EQ(astats(p).bytes, (2 << 20) + (192 << 10));
	CHECK_EQ(astats(p).free_bytes, (2 << 20) + (192 << 10));
	CHECK_EQ(astats(p).units, 3);
	CHECK_EQ(astats(p).free_units, 3);
	CHECK_EQ(astats(p).largest_free, 2 << 20);
	check_bytes(p);

	/* destroy refuses while units remain */
	CHECK_EQ(ccs_pool_destroy(p), -EBUSY);
	/* the largest free unit within the limit */
	CHECK_EQ(ccs_arena_take_free(p, 1 << 20, &got_va, &got_phys, &got_size), 0);
	CHECK_EQ(got_size, 128 << 10);
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), 0);
	CHECK_EQ(got_phys, ph + (2 << 20));
	CHECK(got_va == (char *)va + (2 << 20));
	CHECK_EQ(got_size, 2 << 20);
	CHECK_EQ(ccs_arena_take_free(p, 32 << 10, &got_va, &got_phys, &got_size), -ENOENT);
	/* the range can be added again */
	CHECK_EQ(ccs_arena_add(p, (char *)va + (2 << 20), ph + (2 << 20), 1 << 20), 0);
	check_bytes(p);
	h_teardown(p);
}

static void test_take_free_and_drain(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *s[64];
	phys_addr_t a, b, got_phys;
	void *got_va;
	u32 got_size;
	int i;

	/* two units of 64 KiB: 32 slots of 4K */
	a = h_add_arena(p, 64 << 10);
	b = h_add_arena(p, 64 << 10);
	for (i = 0; i < 32; i++) {
		uenv_set_cpu(i & 1);
		s[i] = alloc(p, 0, 4096, 0, 0);
		CHECK(s[i]);
		check_bytes(p);
	}
	CHECK(!alloc(p, 0, 4096, 0, 0));
	CHECK_EQ(astats(p).free_bytes, 0);
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), -ENOENT);
	/* free everything: the slots land in the two CPUs' magazines */
	for (i = 0; i < 32; i++) {
		uenv_set_cpu(i % 3 == 0);
		ccs_slot_free(p, s[i]);
	}
	uenv_set_cpu(0);
	CHECK(stats(p, 3).cached > 0);
	CHECK_EQ(stats(p, 3).free, 32);
	CHECK_EQ(ccs_class_avail(p, 3), 32);
	CHECK_EQ(ccs_pool_free_bytes(p), 128 << 10);
	check_bytes(p);
	/* take_free drains them back and returns both units */
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), 0);
	CHECK(got_phys == a || got_phys == b);
	CHECK(got_va == h_fake_va(got_phys));
	CHECK_EQ(got_size, 64 << 10);
	CHECK_EQ(stats(p, 3).cached, 0);
	CHECK_EQ(stats(p, 3).chunks, 0);
	CHECK_EQ(stats(p, 3).total, 0);
	check_bytes(p);
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), 0);
	CHECK_EQ(astats(p).bytes, 0);
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), -ENOENT);

	/* explicit drain: cached goes to 0 for one class, or for all */
	h_add_arena(p, 2 << 20);
	for (i = 0; i < 8; i++)
		s[i] = alloc(p, 0, i & 1 ? 4096 : 512, 0, 0);
	for (i = 0; i < 8; i++)
		ccs_slot_free(p, s[i]);
	CHECK(stats(p, 0).cached > 0 && stats(p, 3).cached > 0);
	ccs_pool_drain(p, 3);
	CHECK_EQ(stats(p, 3).cached, 0);
	CHECK_EQ(stats(p, 3).bytes, 0);		/* slab went back */
	CHECK(stats(p, 0).cached > 0);
	ccs_pool_drain(p, -1);
	CHECK_EQ(stats(p, 0).cached, 0);
	CHECK_EQ(astats(p).free_bytes, 2 << 20);	/* coalesced */
	CHECK_EQ(astats(p).largest_free, 2 << 20);
	ccs_pool_drain(p, 42);			/* ignored */
	check_bytes(p);

	/* a unit with one slot in use is never taken */
	s[0] = alloc(p, 0, 4096, 0, 0);
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), -ENOENT);
	ccs_slot_free(p, s[0]);
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), 0);
	h_teardown(p);
}

static bool in_chunk(struct ccs_slot *s, phys_addr_t chunk, u32 size)
{
	phys_addr_t phys = ccs_slot_phys(s);

	return phys >= chunk && phys < chunk + size;
}

/*
 * A lasting slab of its own: lasting slots fill one slab even while plain
 * allocations of the same class pull batches of slots into a magazine in
 * between (what an NVMe probe does: PRP-list pages between admin
 * commands); plain allocations never get a lasting slab's slot; a freed
 * lasting slot goes straight back to its slab, which goes back to the arena
 * once all its slots are free, without a drain.  A class with no other
 * free slot and no room for a slab takes a lasting slab's free slot, which
 * goes straight back to the slab too.
 */
static void test_lasting_slabs_pack(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	struct ccs_slot *l[16], *s4[16], *fill[8], *small[31], *spare;
	int i, nsmall = 0;
	u64 free0;

	uenv_set_cpu(0);
	h_add_arena(p, 2 << 20);
	free0 = astats(p).free_bytes;
	for (i = 0; i < 16; i++) {
		l[i] = ccs_slot_alloc_lasting(p, 4096, 4096, (void *)0x1234, NULL);
		CHECK(l[i] && l[i]->chunk == l[0]->chunk);
		s4[i] = alloc(p, 0, 4096, 0, 0);
		CHECK(s4[i] && s4[i]->chunk != l[0]->chunk);
	}
	CHECK_EQ(ccs_pool_check(p), 0);
	/* two slabs: one of lasting slots only, one plain */
	CHECK_EQ(free0 - astats(p).free_bytes, 2 * (64 << 10));
	for (i = 0; i < 16; i++)
		ccs_slot_free(p, l[i]);
	CHECK_EQ(free0 - astats(p).free_bytes, 64 << 10);
	CHECK_EQ(ccs_pool_check(p), 0);
	for (i = 0; i < 15; i++)
		l[i] = ccs_slot_alloc_lasting(p, 4096, 4096, (void *)0x1234, NULL);
	/* the rest of the arena goes to larger slots: no room for a new slab */
	for (i = 0; i < 8 && astats(p).free_bytes; i++)
		fill[i] = alloc(p, 0, 256 << 10, 0, 0);
	for (; i < 8; i++)
		fill[i] = NULL;
	while (astats(p).free_bytes && nsmall < 31)
		small[nsmall++] = alloc(p, 0, 64 << 10, 0, 0);
	CHECK_EQ(astats(p).free_bytes, 0);
	/* a dry 4 KiB class takes the lasting slab's last free slot ... */
	spare = alloc(p, 0, 4096, 0, 0);
	CHECK(spare && spare->chunk == l[0]->chunk);
	CHECK(!alloc(p, 0, 4096, 0, 0));
	CHECK_EQ(ccs_pool_check(p), 0);
	/* ... and gives it straight back to the slab, not to a magazine */
	ccs_slot_free(p, spare);
	CHECK_EQ(ccs_pool_check(p), 0);
	spare = ccs_slot_alloc_lasting(p, 4096, 4096, (void *)0x1234, NULL);
	CHECK(spare && spare->chunk == l[0]->chunk);
	ccs_slot_free(p, spare);
	for (i = 0; i < 8; i++)
		if (fill[i])
			ccs_slot_free(p, fill[i]);
	while (nsmall)
		ccs_slot_free(p, small[--nsmall]);
	for (i = 0; i < 15; i++)
		ccs_slot_free(p, l[i]);
	for (i = 0; i < 16; i++)
		ccs_slot_free(p, s4[i]);
	h_teardown(p);
}

/*
 * A new lasting slab goes to the unit that holds lasting slots, though the
 * other unit has the best-fitting free block (where a plain slab goes).
 */
static void test_lasting_prefers_its_unit(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	struct ccs_slot *l[17], *fill[9], *vfill[9], *p4;
	phys_addr_t a, b, u, v;
	int i;

	uenv_set_cpu(0);
	a = h_add_arena(p, 2 << 20);
	b = h_add_arena(p, 2 << 20);
	for (i = 0; i < 16; i++) {		/* one full lasting slab */
		l[i] = ccs_slot_alloc_lasting(p, 4096, 4096, (void *)0x1234, NULL);
		CHECK(l[i] && l[i]->chunk == l[0]->chunk);
	}
	u = in_chunk(l[0], a, 2 << 20) ? a : b;
	v = u == a ? b : a;
	for (i = 0; i < 7; i++)			/* the rest of u */
		fill[i] = alloc(p, 0, 256 << 10, 0, 0);
	fill[7] = alloc(p, 0, 128 << 10, 0, 0);
	fill[8] = alloc(p, 0, 64 << 10, 0, 0);
	for (i = 0; i < 9; i++)
		CHECK(fill[i] && in_chunk(fill[i], u, 2 << 20));
	for (i = 0; i < 7; i++)			/* v: one 64 KiB block left */
		vfill[i] = alloc(p, 0, 256 << 10, 0, 0);
	vfill[7] = alloc(p, 0, 128 << 10, 0, 0);
	vfill[8] = alloc(p, 0, 64 << 10, 0, 0);
	for (i = 0; i < 9; i++)
		CHECK(vfill[i] && in_chunk(vfill[i], v, 2 << 20));
	ccs_slot_free(p, vfill[8]);
	for (i = 0; i < 4; i++)			/* u: 1 MiB free, larger blocks */
		ccs_slot_free(p, fill[i]);
	ccs_pool_drain(p, -1);
	/* a plain slab goes to the best-fitting free block, in v ... */
	p4 = alloc(p, 0, 4096, 0, 0);
	CHECK(p4 && in_chunk(p4, v, 2 << 20));
	/* ... a lasting one to the unit with lasting slots */
	l[16] = ccs_slot_alloc_lasting(p, 4096, 4096, (void *)0x1234, NULL);
	CHECK(l[16] && in_chunk(l[16], u, 2 << 20));
	CHECK(l[16] && l[16]->chunk != l[0]->chunk && l[16]->chunk != p4->chunk);
	CHECK_EQ(ccs_pool_check(p), 0);
	for (i = 0; i < 17; i++)
		ccs_slot_free(p, l[i]);
	for (i = 4; i < 9; i++)
		ccs_slot_free(p, fill[i]);
	for (i = 0; i < 8; i++)
		ccs_slot_free(p, vfill[i]);
	ccs_slot_free(p, p4);
	h_teardown(p);
}

/*
 * Lasting (coherent) slots gather in the unit that already holds one, even
 * when another unit has free slots and free grains, so that unit goes back
 * once the short-lived mappings are gone.
 */
static void test_lasting_gather(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *big[16], *last[40], *s4[8];
	phys_addr_t a, b, u, got_phys;
	void *got_va;
	u32 got_size;
	int i, nbig = 0, cls;

	a = h_add_arena(p, 2 << 20);
	b = h_add_arena(p, 2 << 20);
	last[0] = ccs_slot_alloc_lasting(p, 4096, 4096, (void *)0x1234, &cls);
	CHECK(last[0]);
	CHECK_EQ(cls, 3);
	CHECK_EQ(last[0]->lasting, 1);
	u = in_chunk(last[0], a, 2 << 20) ? a : b;
	/* short-lived mappings spread over both units, leaving free grains */
	for (i = 0; i < 12; i++) {
		big[nbig] = alloc(p, 0, 256 << 10, 0, 0);
		CHECK(big[nbig]);
		nbig++;
	}
	for (i = 0; i < 8; i++) {
		s4[i] = alloc(p, 0, 4096, 0, 0);
		CHECK(s4[i]);
	}
	CHECK(astats(p).free_bytes > 0);
	/* 39 more: past one slab of 16, so new slabs are carved for them */
	for (i = 1; i < 40; i++) {
		last[i] = ccs_slot_alloc_lasting(p, 4096, 4096, (void *)0x1234, NULL);
		CHECK(last[i]);
		CHECK(in_chunk(last[i], u, 2 << 20));
		check_bytes(p);
	}
	CHECK_EQ(ccs_pool_check(p), 0);
	/* the short-lived ones go: the other unit is entirely free */
	for (i = 0; i < nbig; i++)
		ccs_slot_free(p, big[i]);
	for (i = 0; i < 8; i++)
		ccs_slot_free(p, s4[i]);
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), 0);
	CHECK(got_phys == (u == a ? b : a));
	CHECK_EQ(ccs_arena_take_free(p, 0, &got_va, &got_phys, &got_size), -ENOENT);
	for (i = 0; i < 40; i++) {
		ccs_slot_free(p, last[i]);
		CHECK_EQ(last[i]->lasting, 0);
	}
	CHECK_EQ(ccs_pool_check(p), 0);
	h_teardown(p);
}

static void test_fullest_chunk_first(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	struct ccs_slot *s[48], *x[16];
	bool freed[48] = { false };
	phys_addr_t a = 0, b = 0, c = 0;
	int i;

	/* class 3 (4 KiB): slabs of 16 slots, 256 KiB of arena */
	h_add_arena(p, 256 << 10);
	for (i = 0; i < 48; i++) {
		s[i] = alloc(p, 0, 4096, 0, 0);
		CHECK(s[i]);
	}
	if (h_failed())
		return;
	/* the batch carved ahead; draining gives the untouched slab back */
	ccs_pool_drain(p, 3);
	CHECK_EQ(stats(p, 3).chunks, 3);
	for (i = 0; i < 48; i++) {
		phys_addr_t slab = slot_base(p, s[i]) & ~0xffffULL;

		if (!a || slab == a)
			a = slab;
		else if (!b || slab == b)
			b = slab;
		else
			c = slab;
	}
	/* leave a: 15 free, b: 1 free, c: 16 free (all) */
	for (i = 0; i < 48; i++) {
		bool in_a = in_chunk(s[i], a, 64 << 10);
		bool in_b = in_chunk(s[i], b, 64 << 10);
		bool in_c = in_chunk(s[i], c, 64 << 10);

		freed[i] = in_c || (in_a && s[i]->index != 0) ||
			   (in_b && s[i]->index == 3);
		if (freed[i])
			ccs_slot_free(p, s[i]);
	}
	ccs_pool_drain(p, 3);
	CHECK_EQ(stats(p, 3).in_use, 1 + 15);
	/* c went back to the arena as soon as it was all free */
	CHECK_EQ(stats(p, 3).chunks, 2);
	CHECK_EQ(astats(p).free_bytes, 128 << 10);
	check_bytes(p);

	/* the 16 free slots of a and b are used before any new slab */
	for (i = 0; i < 16; i++) {
		x[i] = alloc(p, 0, 4096, 0, 0);
		CHECK(x[i] && (in_chunk(x[i], a, 64 << 10) ||
			       in_chunk(x[i], b, 64 << 10)));
	}
	CHECK_EQ(stats(p, 3).chunks, 2);
	CHECK_EQ(astats(p).free_bytes, 128 << 10);
	for (i = 0; i < 16; i++)
		if (x[i])
			ccs_slot_free(p, x[i]);
	for (i = 0; i < 48; i++)
		if (!freed[i])
			ccs_slot_free(p, s[i]);
	h_teardown(p);
}

static void test_fallback_bounded(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	struct ccs_slot *s, *big[4];
	bool fb;
	int cls, i;

	/*
	 * 2 MiB of arena, all in four 512 KiB slots: fallback only uses a
	 * cached larger slot within 4x, otherwise the caches are flushed back
	 * to the arena and the wanted class carves.
	 */
	h_add_arena(p, 2 << 20);
	for (i = 0; i < 4; i++)
		big[i] = alloc(p, 0, 512 << 10, 0, 0);
	CHECK(big[0] && big[1] && big[2] && big[3]);
	s = ccs_slot_alloc(p, 0, 4096, 0, 0, NULL, &cls, &fb);
	CHECK(!s);
	CHECK_EQ(stats(p, 3).failures, 1);
	for (i = 0; i < 4; i++)
		ccs_slot_free(p, big[i]);
	CHECK_EQ(stats(p, 10).cached, 4);
	/* 128 KiB (4x) may take a cached 512 KiB slot */
	s = ccs_slot_alloc(p, 0, 131072, 0, 0, NULL, &cls, &fb);
	CHECK(s && fb && cls == 8 && ccs_slot_class(s) == 10);
	ccs_slot_free(p, s);
	/* 4 KiB (128x) does not: it drains the caches and carves */
	s = ccs_slot_alloc(p, 0, 4096, 0, 0, NULL, &cls, &fb);
	CHECK(s && !fb && ccs_slot_class(s) == 3);
	CHECK_EQ(stats(p, 10).allocs, 5);
	CHECK_EQ(astats(p).dry_drains, 1);
	if (s)
		ccs_slot_free(p, s);
	check_bytes(p);
	h_teardown(p);
}

/* A pool of 2 MiB of arena, @reserve bytes of it kept as the small reserve. */
static struct ccs_pool *reserve_pool(u32 reserve, ccs_reserve_gate_t gate)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);

	h_add_arena(p, 2 << 20);
	ccs_pool_set_small_reserve(p, reserve);
	ccs_pool_set_reserve_gate(p, gate);
	return p;
}

/* Take @size-byte slots for @owner into s[*n...] until the pool refuses. */
static int fill(struct ccs_pool *p, struct ccs_slot **s, int *n, size_t size,
		void *owner)
{
	int got = 0;

	while (*n < 64 && (s[*n] = ccs_slot_alloc(p, 0, size, 0, 0, owner,
						  NULL, NULL))) {
		(*n)++;
		got++;
	}
	return got;
}

static void free_all(struct ccs_pool *p, struct ccs_slot **s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		ccs_slot_free(p, s[i]);
	h_teardown(p);
}

static void test_small_reserve(void)
{
	struct ccs_pool *p = reserve_pool(128 << 10, NULL);
	struct ccs_slot *s[64];
	int n = 0;

	/*
	 * 2 MiB of arena, 128 KiB of it reserved for slots of one grain at
	 * most: 256 KiB and 128 KiB slots stop 128 KiB short, 64 KiB slots
	 * take the rest, and without the reserve a 256 KiB slot takes the last
	 * bytes.
	 */
	CHECK_EQ(fill(p, s, &n, 256 << 10, NULL), 7);
	CHECK_EQ(fill(p, s, &n, 128 << 10, NULL), 1);
	CHECK_EQ(astats(p).free_bytes, 128 << 10);
	CHECK_EQ(fill(p, s, &n, 65536, NULL), 2);
	CHECK_EQ(astats(p).free_bytes, 0);
	check_bytes(p);
	free_all(p, s, n);

	p = reserve_pool(0, NULL);
	n = 0;
	CHECK_EQ(fill(p, s, &n, 256 << 10, NULL), 8);
	CHECK_EQ(astats(p).free_bytes, 0);
	free_all(p, s, n);
}

static int gate_hog, gate_nic, gate_calls;

/* the reserve gate of test_reserve_gate: gate_hog is over its share */
static bool gate_share(const void *owner)
{
	gate_calls++;
	return owner != &gate_hog;
}

static void test_reserve_gate(void)
{
	struct ccs_pool *p = reserve_pool(128 << 10, gate_share);
	struct ccs_slot *s[64];
	int n = 0, cls;

	/*
	 * 2 MiB of arena, 128 KiB reserved: the owner the gate keeps out
	 * stops 128 KiB short with small slots too, and another owner's
	 * small slots take the rest.  Lasting slots are never gated.
	 */
	CHECK_EQ(fill(p, s, &n, 65536, &gate_hog), 30);
	CHECK(gate_calls > 0);
	CHECK(astats(p).reserve_gated > 0);
	CHECK_EQ(astats(p).free_bytes, 128 << 10);
	CHECK_EQ(fill(p, s, &n, 65536, &gate_nic), 2);
	CHECK_EQ(astats(p).free_bytes, 0);
	check_bytes(p);
	free_all(p, s, n);

	/* no gate: every owner's small slots may take the reserve */
	p = reserve_pool(128 << 10, NULL);
	n = 0;
	CHECK_EQ(fill(p, s, &n, 65536, &gate_hog), 32);
	free_all(p, s, n);

	/* a lasting slot of the kept-out owner still takes the reserve */
	p = reserve_pool(128 << 10, gate_share);
	n = 0;
	CHECK_EQ(fill(p, s, &n, 65536, &gate_hog), 30);
	s[n] = ccs_slot_alloc_lasting(p, 65536, 0, &gate_hog, &cls);
	CHECK(s[n] != NULL);
	if (s[n])
		n++;
	CHECK_EQ(ccs_pool_lasting_bytes(p), 65536);
	check_bytes(p);
	for (int i = 0; i < n; i++)
		ccs_slot_free(p, s[i]);
	CHECK_EQ(ccs_pool_lasting_bytes(p), 0);
	h_teardown(p);
}

static void test_steal_before_fallback(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *s[32], *t;
	bool fb;
	int cls, i;

	/* every 2 KiB slot ends up cached in CPU 0's magazines */
	h_add_arena(p, 64 << 10);
	uenv_set_cpu(0);
	for (i = 0; i < 32; i++)
		s[i] = alloc(p, 0, 2048, 0, 0);
	for (i = 0; i < 32; i++)
		if (s[i])
			ccs_slot_free(p, s[i]);
	/* CPU 1: steal a 2 KiB slot rather than fall back to 4 KiB */
	uenv_set_cpu(1);
	t = ccs_slot_alloc(p, 0, 2048, 0, 0, NULL, &cls, &fb);
	CHECK(t);
	CHECK(!fb);
	CHECK(t && ccs_slot_class(t) == 2);
	CHECK_EQ(stats(p, 3).allocs, 0);
	CHECK_EQ(astats(p).dry_drains, 0);
	ccs_slot_free(p, t);
	uenv_set_cpu(0);
	h_teardown(p);
}

static void test_stats_exact(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *s[40];
	struct ccs_class_stats st;
	int i;

	h_add_arena(p, 64 << 10);		/* 32 x 2K */
	for (i = 0; i < 32; i++) {
		s[i] = alloc(p, 0, 2048, 0, 0);
		CHECK(s[i]);
	}
	CHECK(!alloc(p, 0, 1500, 0, 0));		/* failure on class 2 */
	CHECK(!alloc(p, 0, 3000, 0, 0));		/* failure on class 3 */
	st = stats(p, 2);
	CHECK_EQ(st.allocs, 32);
	CHECK_EQ(st.fallbacks, 0);
	CHECK_EQ(st.failures, 1);
	CHECK_EQ(st.in_use, 32);
	CHECK_EQ(st.hiwater, 32);
	CHECK_EQ(st.free, 0);
	CHECK_EQ(st.total, 32);
	CHECK_EQ(st.chunks, 1);
	CHECK_EQ(st.bytes, 64 << 10);
	CHECK_EQ(stats(p, 3).failures, 1);
	CHECK_EQ(stats(p, 3).allocs, 0);
	CHECK_EQ(astats(p).mapped_bytes, 64 << 10);
	CHECK_EQ(astats(p).mapped_hiwater, 64 << 10);
	CHECK_EQ(astats(p).held_at_mapped_hiwater, 64 << 10);

	for (i = 0; i < 20; i++) {
		uenv_set_cpu(i % 3 == 0);
		ccs_slot_free(p, s[i]);
	}
	uenv_set_cpu(0);
	st = stats(p, 2);
	CHECK_EQ(st.frees, 20);
	CHECK_EQ(st.in_use, 12);
	CHECK_EQ(st.free, 20);
	CHECK_EQ(st.hiwater, 32);
	CHECK(st.cached <= st.free);
	CHECK_EQ(ccs_class_avail(p, 2), 20);
	CHECK_EQ(astats(p).mapped_bytes, 12 * 2048);
	CHECK_EQ(ccs_pool_take_peak(p), 64 << 10);
	CHECK_EQ(ccs_pool_take_peak(p), 12 * 2048);
	ccs_pool_reset_hiwater(p);
	CHECK_EQ(stats(p, 2).hiwater, 12);
	CHECK_EQ(astats(p).mapped_hiwater, 12 * 2048);
	s[0] = alloc(p, 0, 2048, 0, 0);
	CHECK_EQ(stats(p, 2).hiwater, 13);
	CHECK_EQ(astats(p).mapped_hiwater, 13 * 2048);
	ccs_slot_free(p, s[0]);
	CHECK_EQ(stats(p, 2).hiwater, 13);
	for (i = 20; i < 32; i++)
		ccs_slot_free(p, s[i]);
	st = stats(p, 2);
	CHECK_EQ(st.allocs, 33);
	CHECK_EQ(st.frees, 33);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(astats(p).mapped_bytes, 0);
	check_bytes(p);
	ccs_class_stats(p, 99, &st);
	CHECK_EQ(st.slot_size, 0);
	CHECK_EQ(ccs_class_avail(p, 99), 0);
	h_teardown(p);
}

static void test_bad_free(void)
{
	struct ccs_pool *p = stocked_pool(CCS_PRESET_POW2);
	unsigned long errs = uenv_nr_errors;
	struct ccs_slot *s, *t, *u;

	s = alloc(p, 0, 4096, 0, 0);
	t = alloc(p, 0, 4096, 0, 0);
	ccs_slot_free(p, s);
	uenv_quiet = 1;
	ccs_slot_free(p, s);			/* double free: in a magazine */
	uenv_quiet = 0;
	CHECK_EQ(ccs_pool_bad_frees(p), 1);
	CHECK(uenv_nr_errors > errs);
	CHECK_EQ(stats(p, 3).frees, 1);
	CHECK_EQ(stats(p, 3).in_use, 1);
	CHECK_EQ(ccs_pool_check(p), 0);
	ccs_pool_drain(p, -1);
	uenv_quiet = 1;
	ccs_slot_free(p, s);			/* now on a chunk free list */
	uenv_quiet = 0;
	CHECK_EQ(ccs_pool_bad_frees(p), 2);
	CHECK_EQ(stats(p, 3).frees, 1);
	CHECK_EQ(ccs_pool_check(p), 0);
	/* nothing was corrupted: every slot is handed out once */
	s = alloc(p, 0, 4096, 0, 0);
	u = alloc(p, 0, 4096, 0, 0);
	CHECK(s && u && s != t && u != t && s != u);
	CHECK_EQ(ccs_pool_check(p), 0);
	ccs_slot_free(p, s);
	ccs_slot_free(p, t);
	ccs_slot_free(p, u);
	CHECK_EQ(ccs_pool_bad_frees(p), 2);
	h_teardown(p);
}

static void test_check_catches_corruption(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *used, *cached, *onlist;
	s32 next;
	u32 index;

	h_add_arena(p, 64 << 10);
	used = alloc(p, 0, 4096, 0, 0);
	onlist = alloc(p, 0, 4096, 0, 0);
	cached = alloc(p, 0, 4096, 0, 0);
	ccs_slot_free(p, onlist);
	ccs_pool_drain(p, 3);			/* onlist: chunk free list */
	ccs_slot_free(p, cached);		/* cached: magazine */
	CHECK_EQ(ccs_pool_check(p), 0);
	uenv_quiet = 1;

	/* an in-use slot that claims to be free is lost */
	used->in_use = 0;
	CHECK_EQ(ccs_pool_check(p), -EUCLEAN);
	used->in_use = 1;
	CHECK_EQ(ccs_pool_check(p), 0);

	/* a cached slot that claims to be in use */
	cached->in_use = 1;
	CHECK_EQ(ccs_pool_check(p), -EUCLEAN);
	cached->in_use = 0;

	/* a free-list slot that claims to be in use */
	onlist->in_use = 1;
	CHECK_EQ(ccs_pool_check(p), -EUCLEAN);
	onlist->in_use = 0;

	/* a cycle in a chunk free list */
	next = onlist->next;
	onlist->next = onlist->index;
	CHECK_EQ(ccs_pool_check(p), -EUCLEAN);
	onlist->next = next;

	/* a free list that skips slots (they are lost) */
	onlist->next = -1;
	CHECK_EQ(ccs_pool_check(p), -EUCLEAN);
	onlist->next = next;

	/* broken metadata */
	index = used->index;
	used->index = index + 1;
	CHECK_EQ(ccs_pool_check(p), -EUCLEAN);
	used->index = index;

	uenv_quiet = 0;
	CHECK_EQ(ccs_pool_check(p), 0);
	ccs_slot_free(p, used);
	h_teardown(p);
}

static void test_cross_cpu_and_steal(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 4);
	struct ccs_slot *s[8];
	int i, round;

	/* class 7 (64 KiB): 8 slots, magazines of one slot */
	h_add_arena(p, 512 << 10);
	for (round = 0; round < 4; round++) {
		/* cpu 1 takes everything, cpu 2 frees it into its magazines */
		uenv_set_cpu(1);
		for (i = 0; i < 8; i++) {
			s[i] = alloc(p, 0, 65536, 0, 0);
			CHECK(s[i]);
		}
		CHECK(!alloc(p, 0, 65536, 0, 0));
		uenv_set_cpu(2);
		for (i = 0; i < 8; i++)
			if (s[i])
				ccs_slot_free(p, s[i]);
		CHECK_EQ(ccs_pool_check(p), 0);
		/* cpu 3 finds them all: depot, then stealing from cpu 2 */
		uenv_set_cpu(3);
		for (i = 0; i < 8; i++) {
			s[i] = alloc(p, 0, 65536, 0, 0);
			CHECK(s[i]);
		}
		CHECK(!alloc(p, 0, 65536, 0, 0));
		uenv_set_cpu(round & 3);
		for (i = 0; i < 8; i++)
			if (s[i])
				ccs_slot_free(p, s[i]);
		CHECK_EQ(ccs_pool_check(p), 0);
	}
	CHECK_EQ(stats(p, 7).allocs, 64);
	CHECK_EQ(stats(p, 7).frees, 64);
	CHECK_EQ(stats(p, 7).failures, 8);
	/* CPU ids past nr_cpus are folded, not out of bounds */
	uenv_set_cpu(13);
	s[0] = alloc(p, 0, 65536, 0, 0);
	CHECK(s[0]);
	ccs_slot_free(p, s[0]);
	uenv_set_cpu(0);
	h_teardown(p);
}

static void test_rfc_preset(void)
{
	struct ccs_pool *p = stocked_pool(CCS_PRESET_RFC);
	struct ccs_slot *s;
	bool fb;
	int cls;

	s = ccs_slot_alloc(p, 0x3800, 600, 4095, 0, NULL, &cls, &fb);
	CHECK(s);
	CHECK_EQ(cls, 2);			/* 4K: mask + 1 */
	if (s) {
		CHECK_EQ(ccs_slot_phys(s) & 4095, 0x800);
		ccs_slot_free(p, s);
	}
	h_teardown(p);
}

static void test_map_path_allocates_nothing(void)
{
	struct ccs_pool *p = stocked_pool(CCS_PRESET_POW2);
	struct ccs_slot *s[200];
	struct ccs_class_stats st;
	unsigned long before;
	u64 seed = 7;
	int i, round;

	before = uenv_nr_allocs;
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 200; i++) {
			uenv_set_cpu(h_below(&seed, 2));
			s[i] = alloc(p, h_rand(&seed), 1 + h_below(&seed, 70000),
				     i & 1 ? 4095 : 0, 0);
			if (s[i])
				CHECK(h_lookup(p, ccs_slot_phys(s[i])) == s[i]);
		}
		for (i = 0; i < 200; i++) {
			uenv_set_cpu(h_below(&seed, 2));
			if (s[i])
				ccs_slot_free(p, s[i]);
		}
		ccs_pool_drain(p, round % 12 - 1);
		ccs_class_stats(p, round % 11, &st);
		CHECK_EQ(ccs_pool_check(p), 0);
	}
	CHECK_EQ(uenv_nr_allocs, before);	/* magazines were preallocated */
	uenv_set_cpu(0);
	h_teardown(p);
}

static void test_lookup_small_hash(void)
{
	/* max_bytes far too small: longer chains, still exact */
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 1 << 20, 1);
	struct ccs_slot *s[64];
	int i;

	for (i = 0; i < 200; i++)
		h_add_arena(p, i & 1 ? 64 << 10 : 2 << 20);
	for (i = 0; i < 64; i++) {
		s[i] = alloc(p, 0, 4096, 0, 0);
		CHECK(s[i] && h_lookup(p, ccs_slot_phys(s[i]) + 4095) == s[i]);
	}
	for (i = 0; i < 64; i++)
		if (s[i])
			ccs_slot_free(p, s[i]);
	CHECK(!h_lookup(p, ccs_slot_phys(s[0])));
	h_teardown(p);
}

static void test_scarce_class_fair_share(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *s[32];
	int i;

	/*
	 * 64 KiB of arena, 32 slots of 2 KiB.  Two CPUs alternate: a refill
	 * must not hoard the whole class in one CPU's magazine, or the other
	 * fails while 2 KiB slots sit idle.
	 */
	h_add_arena(p, 64 << 10);
	for (i = 0; i < 32; i++) {
		uenv_set_cpu(i & 1);
		s[i] = alloc(p, 0, 2048, 0, 0);
		CHECK(s[i] && ccs_slot_class(s[i]) == 2);
	}
	CHECK_EQ(stats(p, 2).allocs, 32);
	CHECK_EQ(stats(p, 4).fallbacks, 0);
	for (i = 0; i < 32; i++)
		if (s[i])
			ccs_slot_free(p, s[i]);
	uenv_set_cpu(0);
	h_teardown(p);
}


/* One class's cached slots never strand memory another class needs. */
static void test_dry_class_drains_others(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *s[512], *big[4];
	int i, n = 0;

	h_add_arena(p, 2 << 20);
	/* fill the arena with 4 KiB slots from two CPUs */
	for (i = 0; i < 512; i++) {
		uenv_set_cpu(i & 1);
		s[i] = alloc(p, 0, 4096, 0, 0);
		n += !!s[i];
	}
	CHECK_EQ(n, 512);			/* every byte usable */
	CHECK(!alloc(p, 0, 4096, 0, 0));
	CHECK(!alloc(p, 0, 512, 0, 0));
	check_bytes(p);
	/* free them all: most sit in magazines and the depot */
	for (i = 0; i < 512; i++) {
		uenv_set_cpu(i % 3 == 0);
		if (s[i])
			ccs_slot_free(p, s[i]);
	}
	uenv_set_cpu(1);
	CHECK(stats(p, 3).cached > 0);
	check_bytes(p);
	/* four 512 KiB mappings still fit: the caches go back on demand */
	for (i = 0; i < 4; i++) {
		big[i] = alloc(p, 0, 512 << 10, 0, 0);
		CHECK(big[i] && ccs_slot_class(big[i]) == 10);
		check_bytes(p);
	}
	CHECK(astats(p).dry_drains >= 1);
	CHECK_EQ(stats(p, 3).bytes, 0);
	CHECK_EQ(astats(p).free_bytes, 0);
	for (i = 0; i < 4; i++)
		if (big[i])
			ccs_slot_free(p, big[i]);
	uenv_set_cpu(0);
	h_teardown(p);
}

/*
 * What a class caches is bounded in bytes: a mixed-size workload that
 * frees on another CPU than it allocates fills magazines and depot, and
 * every cached slot keeps its slab carved (counted as taken by kccd).
 * Magazines hold at most 64 KiB of slots (one slot at least), the depot
 * at most 512 KiB of full magazines (two at least).
 */
static void test_cache_bounded_in_bytes(void)
{
	static const u32 sizes[] = { 4096, 65536, 262144 };
	static struct ccs_slot *s[512];
	unsigned int k;

	for (k = 0; k < ARRAY_SIZE(sizes); k++) {
		struct ccs_pool *p = stocked_pool(CCS_PRESET_POW2);
		u32 sz = sizes[k], mag = sz > 65536 ? sz : 65536;
		u64 bound = 2 * 2 * mag + (2 * mag > (512 << 10) ? 2 * mag : 512 << 10);
		int i, n = (8 << 20) / sz, cls = -1;
		struct ccs_class_stats st;

		if (n > 512)
			n = 512;
		uenv_set_cpu(0);
		for (i = 0; i < n; i++) {
			s[i] = alloc(p, 0, sz, 0, 0);
			CHECK(s[i]);
			if (s[i])
				cls = ccs_slot_class(s[i]);
		}
		uenv_set_cpu(1);
		for (i = 0; i < n; i++)
			if (s[i])
				ccs_slot_free(p, s[i]);
		CHECK(cls >= 0);
		st = stats(p, cls < 0 ? 0 : cls);
		CHECK_EQ(st.slot_size, sz);
		CHECK_EQ(st.in_use, 0);
		CHECK(st.cached > 0);
		CHECK(st.cached * sz <= bound);
		check_bytes(p);
		uenv_set_cpu(0);
		h_teardown(p);
	}
}

/* Large mappings take contiguous runs; they fail only when none exists. */
static void test_contiguous_runs(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 1);
	struct ccs_slot *s[32], *t;
	int i;

	h_add_arena(p, 2 << 20);
	for (i = 0; i < 32; i++) {
		s[i] = alloc(p, 0, 64 << 10, 0, 0);
		CHECK(s[i]);
	}
	/* every other 64 KiB grain free: 1 MiB free, no 128 KiB run */
	for (i = 0; i < 32; i += 2)
		ccs_slot_free(p, s[i]);
	ccs_pool_drain(p, -1);
	CHECK_EQ(astats(p).free_bytes, 1 << 20);
	CHECK_EQ(astats(p).largest_free, 64 << 10);
	CHECK(!alloc(p, 0, 128 << 10, 0, 0));
	t = alloc(p, 0, 64 << 10, 0, 0);	/* a grain still fits */
	CHECK(t);
	ccs_slot_free(p, t);
	check_bytes(p);
	/* free one neighbour: its buddy merges, a 128 KiB run appears */
	ccs_slot_free(p, s[1]);
	s[1] = NULL;
	ccs_pool_drain(p, -1);
	CHECK_EQ(astats(p).largest_free, 128 << 10);
	t = alloc(p, 0, 100 << 10, 0, 0);
	CHECK(t && ccs_slot_class(t) == 8);
	if (t)
		CHECK_EQ(slot_base(p, t) % (128 << 10), 0);
	ccs_slot_free(p, t);
	for (i = 3; i < 32; i += 2)
		ccs_slot_free(p, s[i]);
	ccs_pool_drain(p, -1);
	/* all free: one 2 MiB block again, four 512 KiB mappings fit */
	CHECK_EQ(astats(p).largest_free, 2 << 20);
	CHECK_EQ(astats(p).free_units, 1);
	for (i = 0; i < 4; i++) {
		s[i] = alloc(p, 0, 512 << 10, 0, 0);
		CHECK(s[i]);
	}
	CHECK(!alloc(p, 0, 512 << 10, 0, 0));
	for (i = 0; i < 4; i++)
		if (s[i])
			ccs_slot_free(p, s[i]);
	check_bytes(p);
	h_teardown(p);
}

/* Random mixes over every class: no byte lost at any step. */
static void test_no_byte_lost(void)
{
	struct ccs_pool *p = ccs_pool_create(CCS_PRESET_POW2, 64 << 20, 2);
	struct ccs_slot *live[256] = { NULL };
	u64 seed = h_seed();
	u32 adds = 0;
	int i;

	h_add_arena(p, 1 << 20);
	h_add_arena(p, 64 << 10);
	for (i = 0; i < 6000 && !h_failed(); i++) {
		int k = h_below(&seed, 256);
		u64 op = h_below(&seed, 100);

		uenv_set_cpu(h_below(&seed, 2));
		if (op < 2 && adds < 8) {
			h_add_arena(p, 64U << h_below(&seed, 6) << 10);
			adds++;
		} else if (op < 4) {
			phys_addr_t ph;
			void *va;
			u32 sz;

			if (!ccs_arena_take_free(p, 0, &va, &ph, &sz))
				CHECK(va == h_fake_va(ph));
		} else if (op < 6) {
			ccs_pool_drain(p, (int)h_below(&seed, 12) - 1);
		} else if (live[k]) {
			ccs_slot_free(p, live[k]);
			live[k] = NULL;
		} else {
			size_t sz = 1 + h_below(&seed, 1 + h_below(&seed, 512 << 10));

			live[k] = alloc(p, 0, sz, 0, 0);
		}
		if (i % 7 == 0)
			check_bytes(p);
	}
	for (i = 0; i < 256; i++)
		if (live[i])
			ccs_slot_free(p, live[i]);
	check_bytes(p);
	uenv_set_cpu(0);
	h_teardown(p);
}

/* ---- fuzz corpus replay ------------------------------------------------ */

static int replay_dir(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;
		u8 *buf;
		FILE *f;

		if (de->d_name[0] == '.' || !strncmp(de->d_name, "README", 6))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		f = fopen(path, "rb");
		if (!f)
			continue;
		buf = malloc(st.st_size + 1);
		if (fread(buf, 1, st.st_size, f) == (size_t)st.st_size) {
			LLVMFuzzerTestOneInput(buf, st.st_size);
			n++;
		}
		free(buf);
		fclose(f);
	}
	closedir(d);
	return n;
}

static int h_argc;
static char **h_argv;

static void test_fuzz_replay(void)
{
	u64 seed = h_seed();
	int i, n = 0;

	for (i = 1; i < h_argc; i++)
		n += replay_dir(h_argv[i]);
	/* plus random inputs, so the target runs even without a corpus */
	for (i = 0; i < 300; i++) {
		u8 buf[512];
		size_t len = h_below(&seed, sizeof(buf));
		size_t j;

		for (j = 0; j < len; j++)
			buf[j] = h_rand(&seed);
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("  (replayed %d corpus/regression inputs + 300 random)\n", n);
}

/* ---- main ---------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "presets", test_presets },
	{ "class_for", test_class_for },
	{ "alloc_basic", test_alloc_basic },
	{ "min_align_mask", test_min_align_mask },
	{ "fallback_never_smaller", test_fallback_never_smaller },
	{ "fallback_bounded", test_fallback_bounded },
	{ "small_reserve", test_small_reserve },
	{ "reserve_gate", test_reserve_gate },
	{ "steal_before_fallback", test_steal_before_fallback },
	{ "lookup", test_lookup },
	{ "arena_add_validation", test_arena_add_validation },
	{ "take_free_and_drain", test_take_free_and_drain },
	{ "lasting_gather", test_lasting_gather },
	{ "lasting_prefers_its_unit", test_lasting_prefers_its_unit },
	{ "lasting_slabs_pack", test_lasting_slabs_pack },
	{ "fullest_chunk_first", test_fullest_chunk_first },
	{ "stats_exact", test_stats_exact },
	{ "bad_free", test_bad_free },
	{ "check_catches_corruption", test_check_catches_corruption },
	{ "cross_cpu_and_steal", test_cross_cpu_and_steal },
	{ "rfc_preset", test_rfc_preset },
	{ "map_path_allocates_nothing", test_map_path_allocates_nothing },
	{ "lookup_small_hash", test_lookup_small_hash },
	{ "scarce_class_fair_share", test_scarce_class_fair_share },
	{ "dry_class_drains_others", test_dry_class_drains_others },
	{ "cache_bounded_in_bytes", test_cache_bounded_in_bytes },
	{ "contiguous_runs", test_contiguous_runs },
	{ "no_byte_lost", test_no_byte_lost },
	{ "model_pow2", test_model },
	{ "model_rfc", test_model_rfc },
	{ "stress_2_threads", test_stress },
	{ "fuzz_replay", test_fuzz_replay },
};

int main(int argc, char **argv)
{
	const char *only = getenv("ONLY");
	unsigned int i, passed = 0, failed = 0;

	h_argc = argc;
	h_argv = argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		struct timespec t0, t1;

		if (only && !strstr(tests[i].name, only))
			continue;
		h_current = tests[i].name;
		h_failures = 0;
		uenv_set_cpu(0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		tests[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (h_failures) {
			failed++;
			printf("FAIL %s (%lu failed checks)\n", tests[i].name,
			       h_failures);
		} else {
			passed++;
			printf("ok   %s (%.2f s)\n", tests[i].name,
			       (t1.tv_sec - t0.tv_sec) +
			       (t1.tv_nsec - t0.tv_nsec) / 1e9);
		}
	}
	if (only && !passed && !failed) {
		printf("ONLY=%s matches no test\n", only);
		return 1;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
