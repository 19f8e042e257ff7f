/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal test harness for the pool unit tests: CHECK macros that count
 * failures (thread-safe), a seeded RNG, fake chunk addresses.
 */
#ifndef _CCS_HARNESS_H
#define _CCS_HARNESS_H

#include "pool.h"

extern unsigned long h_failures;	/* failed CHECKs in the current test */

void h_fail(const char *file, int line, const char *what, long long a,
	    long long b);

#define CHECK(cond) do {						\
	if (!(cond))							\
		h_fail(__FILE__, __LINE__, #cond, 0, 0);		\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);		\
	if (__a != __b)							\
		h_fail(__FILE__, __LINE__, #a " == " #b, __a, __b);	\
} while (0)

static inline bool h_failed(void)
{
	return __atomic_load_n(&h_failures, __ATOMIC_RELAXED) != 0;
}

/* splitmix64: small, fast, good enough, reproducible from the seed */
static inline u64 h_rand(u64 *s)
{
	u64 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline u64 h_below(u64 *s, u64 n)
{
	return n ? h_rand(s) % n : 0;
}

/*
 * Fake chunk memory: the pool never dereferences chunk memory, so most
 * tests hand it made-up, well aligned addresses.  vaddr differs from phys
 * so that mixing the two up shows.
 */
#define H_FAKE_PHYS_BASE	0x10000000000ULL	/* 1 TiB */
#define H_FAKE_VA_OFFSET	0x500000000000ULL

static inline void *h_fake_va(phys_addr_t phys)
{
	return (void *)(uintptr_t)(phys + H_FAKE_VA_OFFSET);
}

/* ccs_slot_lookup() inside the read section it requires, as the shim calls it */
static inline struct ccs_slot *h_lookup(struct ccs_pool *p, phys_addr_t phys)
{
	struct ccs_slot *slot;

	rcu_read_lock_sched();
	slot = ccs_slot_lookup(p, phys);
	rcu_read_unlock_sched();
	return slot;
}

/* next free fake range of @size, aligned to @size */
phys_addr_t h_fake_phys(u32 size);

/* add a fake arena unit of @size; returns its phys or 0 */
phys_addr_t h_add_arena(struct ccs_pool *p, u32 size);

/* take every arena unit out of @p and destroy it; CHECKs that this works */
void h_teardown(struct ccs_pool *p);

u64 h_seed(void);			/* SEED from the environment, or time */

/* the fuzz target, linked into the test binary for corpus replay */
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

void test_model(void);
void test_model_rfc(void);
void test_stress(void);

#endif /* _CCS_HARNESS_H */
