// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress: two worker threads (CPU ids 0 and 1) allocate, look up
 * and free slots, handing a share of them to the other thread to free
 * (cross-CPU frees), so classes carve slabs from the shared arena and give
 * them back concurrently; a third thread (CPU id 2) adds arena units of real
 * memory, takes free units back, drains, reads stats and runs
 * ccs_pool_check() (which checks that no byte is lost) concurrently.  Each live slot carries a tag written by its holder: a slot
 * handed out twice, or memory freed under a live slot, shows up as a wrong
 * tag or an ASan report.  At the end every count must balance.
 */
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define S_THREADS	2
#define S_LIVE		96
#define S_RING		256
#define S_MAX_BYTES	(24U << 20)

static const int s_classes[] = { 0, 3, 6, 8, 10 };

struct s_ring {
	pthread_mutex_t lock;
	struct ccs_slot *slot[S_RING];
	u64 tag[S_RING];
	unsigned int head, tail;
};

struct s_worker {
	pthread_t tid;
	unsigned int id;
	u64 seed;
	u64 ops, allocs, fails, frees, handed;
};

static struct ccs_pool *s_pool;
static struct s_ring s_rings[S_THREADS];	/* inbound, per worker */
static volatile int s_stop;
static u64 s_bytes;				/* manager only */
static u64 s_mgr_ops, s_mgr_adds, s_mgr_takes, s_mgr_checks;

static double s_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static u64 *s_tag_of(struct ccs_slot *slot)
{
	return (u64 *)((char *)ccs_slot_vaddr(slot) - slot->offset);
}

static bool s_ring_push(struct s_ring *r, struct ccs_slot *slot, u64 tag)
{
	bool ok;

	pthread_mutex_lock(&r->lock);
	ok = r->head - r->tail < S_RING;
	if (ok) {
		r->slot[r->head % S_RING] = slot;
		r->tag[r->head % S_RING] = tag;
		r->head++;
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static struct ccs_slot *s_ring_pop(struct s_ring *r, u64 *tag)
{
	struct ccs_slot *slot = NULL;

	pthread_mutex_lock(&r->lock);
	if (r->head != r->tail) {
		slot = r->slot[r->tail % S_RING];
		*tag = r->tag[r->tail % S_RING];
		r->tail++;
	}
	pthread_mutex_unlock(&r->lock);
	return slot;
}

static void s_verify_and_free(struct s_worker *w, struct ccs_slot *slot,
			      u64 tag)
{
	CHECK_EQ(*s_tag_of(slot), tag);
	CHECK(h_lookup(s_pool, ccs_slot_phys(slot)) == slot);
	*s_tag_of(slot) = 0;
	ccs_slot_free(s_pool, slot);
	w->frees++;
}

static void *s_worker_fn(void *arg)
{
	struct s_worker *w = arg;
	struct ccs_slot *live[S_LIVE];
	u64 tags[S_LIVE], seq = 0, tag;
	struct ccs_slot *slot;
	int n = 0, k;

	uenv_set_cpu(w->id);
	while (!s_stop && !h_failed()) {
		unsigned int op = h_below(&w->seed, 100);

		w->ops++;
		while ((slot = s_ring_pop(&s_rings[w->id], &tag)))
			s_verify_and_free(w, slot, tag);
		if (op < 55 && n < S_LIVE) {
			int cls = s_classes[h_below(&w->seed, ARRAY_SIZE(s_classes))];
			u32 ssz = ccs_class_slot_size(s_pool, cls);
			unsigned int mask = h_below(&w->seed, 4) ? 0 : 4095;
			size_t size;

			/* the mask's offset must fit too: never oversize */
			if (ssz == CCS_MAX_SLOT_SIZE && mask)
				size = 1 + h_below(&w->seed, ssz - 4096);
			else
				size = 1 + h_below(&w->seed, ssz);
			phys_addr_t orig = h_rand(&w->seed) & 0xfffffffffULL;

			/* one in eight without a mask: a lasting (coherent) one */
			if (!mask && !h_below(&w->seed, 8))
				slot = ccs_slot_alloc_lasting(s_pool, size, 0, w, NULL);
			else
				slot = ccs_slot_alloc(s_pool, orig, size, mask, 0,
						      w, NULL, NULL);
			if (!slot) {
				w->fails++;
				continue;
			}
			w->allocs++;
			CHECK(slot->owner == w);
			CHECK_EQ(ccs_slot_phys(slot) & mask, orig & mask);
			CHECK(h_lookup(s_pool, ccs_slot_phys(slot) + size - 1) == slot);
			tag = ((u64)w->id << 56) | ++seq;
			*s_tag_of(slot) = tag;
			live[n] = slot;
			tags[n++] = tag;
		} else if (n) {
			k = h_below(&w->seed, n);
			slot = live[k];
			tag = tags[k];
			live[k] = live[--n];
			tags[k] = tags[n];
			CHECK_EQ(*s_tag_of(slot), tag);
			if (h_below(&w->seed, 3) == 0 &&
			    s_ring_push(&s_rings[!w->id], slot, tag))
				w->handed++;
			else
				s_verify_and_free(w, slot, tag);
		}
	}
	while (n--)
		s_verify_and_free(w, live[n], tags[n]);
	return NULL;
}

static void s_add_unit(u32 size)
{
	void *va;

	if (s_bytes + size > S_MAX_BYTES)
		return;
	va = aligned_alloc(size, size);
	CHECK(va);
	if (!va)
		return;
	/* a made-up "physical" address, as aligned as the memory */
	CHECK_EQ(ccs_arena_add(s_pool, va, (uintptr_t)va + H_FAKE_PHYS_BASE,
			       size), 0);
	s_bytes += size;
	s_mgr_adds++;
}

static bool s_take_unit(void)
{
	phys_addr_t phys;
	void *va;
	u32 size;

	if (ccs_arena_take_free(s_pool, 0, &va, &phys, &size))
		return false;
	CHECK_EQ(phys, (uintptr_t)va + H_FAKE_PHYS_BASE);
	free(va);
	s_bytes -= size;
	s_mgr_takes++;
	return true;
}

static void *s_manager_fn(void *arg)
{
	u64 seed = *(u64 *)arg;

	uenv_set_cpu(2);
	while (!s_stop && !h_failed()) {
		int cls = s_classes[h_below(&seed, ARRAY_SIZE(s_classes))];
		unsigned int op = h_below(&seed, 100);
		struct ccs_class_stats st;

		s_mgr_ops++;
		if (ccs_pool_free_bytes(s_pool) < (1U << 20) || op < 20)
			s_add_unit(64U << 10 << h_below(&seed, 6));
		else if (op < 50)
			s_take_unit();
		else if (op < 60)
			ccs_pool_drain(s_pool, h_below(&seed, 3) ? cls : -1);
		else if (op < 80)
			ccs_class_stats(s_pool, cls, &st);
		else if (op < 85)
			ccs_pool_reset_hiwater(s_pool);
		else if (op < 90) {
			/* must hold while the workers run: it takes every lock */
			CHECK_EQ(ccs_pool_check(s_pool), 0);
			s_mgr_checks++;
		}
		usleep(50);
	}
	return NULL;
}

void test_stress(void)
{
	struct s_worker w[S_THREADS];
	double secs = 4.0, t0;
	const char *env = getenv("STRESS_SECONDS");
	u64 seed = h_seed(), mseed, allocs = 0, frees = 0, fails = 0;
	u64 st_allocs = 0, st_frees = 0, st_failures = 0;
	pthread_t mgr;
	unsigned int i;
	int cls;

	if (env && *env)
		secs = strtod(env, NULL);
	s_pool = ccs_pool_create(CCS_PRESET_POW2, 64ULL << 20, 3);
	CHECK(s_pool);
	if (!s_pool)
		return;
	s_stop = 0;
	s_bytes = 0;
	for (i = 0; i < 4; i++)
		s_add_unit(2U << 20);
	for (i = 0; i < S_THREADS; i++) {
		pthread_mutex_init(&s_rings[i].lock, NULL);
		s_rings[i].head = s_rings[i].tail = 0;
		w[i] = (struct s_worker){ .id = i, .seed = seed + 1000 * (i + 1) };
	}
	mseed = seed;
	t0 = s_now();
	pthread_create(&mgr, NULL, s_manager_fn, &mseed);
	for (i = 0; i < S_THREADS; i++)
		pthread_create(&w[i].tid, NULL, s_worker_fn, &w[i]);
	while (s_now() - t0 < secs && !h_failed())
		usleep(20000);
	s_stop = 1;
	for (i = 0; i < S_THREADS; i++)
		pthread_join(w[i].tid, NULL);
	pthread_join(mgr, NULL);

	/* slots handed over after the receiver stopped */
	for (i = 0; i < S_THREADS; i++) {
		struct ccs_slot *slot;
		u64 tag;

		uenv_set_cpu(i);
		while ((slot = s_ring_pop(&s_rings[i], &tag)))
			s_verify_and_free(&w[i], slot, tag);
	}
	uenv_set_cpu(0);
	for (i = 0; i < S_THREADS; i++) {
		allocs += w[i].allocs;
		frees += w[i].frees;
		fails += w[i].fails;
	}
	CHECK_EQ(allocs, frees);
	CHECK_EQ(ccs_pool_check(s_pool), 0);
	CHECK_EQ(ccs_pool_bad_frees(s_pool), 0);
	for (cls = 0; cls < ccs_pool_nr_classes(s_pool); cls++) {
		struct ccs_class_stats st;

		ccs_class_stats(s_pool, cls, &st);
		CHECK_EQ(st.in_use, 0);
		CHECK_EQ(st.free, st.total);
		CHECK_EQ(st.allocs, st.frees);
		st_allocs += st.allocs;
		st_frees += st.frees;
		st_failures += st.failures;
	}
	while (s_take_unit())
		;
	for (cls = 0; cls < ccs_pool_nr_classes(s_pool); cls++) {
		struct ccs_class_stats st;

		ccs_class_stats(s_pool, cls, &st);
		CHECK_EQ(st.chunks, 0);
	}
	CHECK_EQ(ccs_pool_held_bytes(s_pool), 0);
	CHECK_EQ(st_allocs, allocs);
	CHECK_EQ(st_frees, frees);
	CHECK_EQ(st_failures, fails);
	CHECK_EQ(s_bytes, 0);
	CHECK_EQ(ccs_pool_destroy(s_pool), 0);
	printf("  stress: %.1f s, %llu allocs (%llu failed), %llu cross-thread frees, manager: %llu adds, %llu takes, %llu concurrent checks, SEED=%llu\n",
	       secs, allocs, fails, w[0].handed + w[1].handed, s_mgr_adds,
	       s_mgr_takes, s_mgr_checks, seed);
	(void)s_mgr_ops;
}
