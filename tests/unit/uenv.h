/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-in for the few kernel facilities module/pool.c uses, so
 * that the very same pool.c builds into the unit tests, the fuzz target and
 * the benchmark.
 *
 * - "CPUs" are thread-local ids set by the test harness (uenv_set_cpu());
 *   per-CPU data are arrays indexed by them.
 * - Interrupts do not exist: irqsave/irqrestore only keep the flags variable
 *   "used".
 * - Spinlocks are test-and-test-and-set locks that yield after a while
 *   (userspace threads get preempted while holding them).
 * - RCU is emulated with one process-wide rwlock: readers hold it shared,
 *   synchronize_rcu() takes it exclusively once, which waits for every
 *   reader that started before.  List updates use release/acquire atomics.
 */
#ifndef _CCS_UENV_H
#define _CCS_UENV_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KBUILD_MODNAME
#define KBUILD_MODNAME "cc_swiotlb"
#endif

typedef int8_t s8;
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;
typedef int32_t s32;
typedef long long s64;
typedef u64 phys_addr_t;
typedef unsigned int gfp_t;

#define GFP_KERNEL	0U

#define __percpu
#define __rcu
#define __acquires(x)
#define __releases(x)
#define __must_hold(x)
#define __acquire(x)	((void)(x))
#define __release(x)	((void)(x))
#define ____cacheline_aligned_in_smp __attribute__((aligned(64)))
#define UENV_ALIGN	64
#define L1_CACHE_BYTES	64

#ifndef __always_inline
#define __always_inline	inline __attribute__((__always_inline__))
#endif
#define noinline	__attribute__((__noinline__))

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#define BUILD_BUG_ON(c)	_Static_assert(!(c), #c)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define BITS_PER_LONG	64
#define U32_MAX		UINT32_MAX
#define BIT(n)		(1UL << (n))
#define ALIGN(x, a)	(((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)

#define min(a, b)	({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b)	({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a > _b ? _a : _b; })
#define min_t(t, a, b)	min((t)(a), (t)(b))
#define max_t(t, a, b)	max((t)(a), (t)(b))
#define clamp(v, lo, hi) min(max(v, lo), hi)
#define clamp_t(t, v, lo, hi) clamp((t)(v), (t)(lo), (t)(hi))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define struct_size(p, member, n) \
	(sizeof(*(p)) + (size_t)(n) * sizeof((p)->member[0]))

static inline bool is_power_of_2(u64 n)
{
	return n && !(n & (n - 1));
}

static inline int ilog2(u64 n)
{
	return 63 - __builtin_clzll(n);
}

static inline u64 roundup_pow_of_two(u64 n)
{
	return n <= 1 ? 1 : 1ULL << (64 - __builtin_clzll(n - 1));
}

static inline int fls(unsigned int x)
{
	return x ? 32 - __builtin_clz(x) : 0;
}

static inline unsigned long __fls(unsigned long x)
{
	return 63 - __builtin_clzl(x);
}

static inline unsigned long __ffs(unsigned long x)
{
	return __builtin_ctzl(x);
}

#define GOLDEN_RATIO_64 0x61C8864680B583EBull
static inline u32 hash_64(u64 val, unsigned int bits)
{
	return (u32)((val * GOLDEN_RATIO_64) >> (64 - bits));
}

/* ---- printing and warnings ---------------------------------------------- */

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif
extern int uenv_quiet;			/* tests set it around expected errors */
extern unsigned long uenv_nr_errors;	/* pr_err()s printed so far */

#define uenv_print(lvl, fmt, ...) do {					\
	if (!uenv_quiet)						\
		fprintf(stderr, lvl pr_fmt(fmt), ##__VA_ARGS__);	\
} while (0)
#define pr_err(fmt, ...) do {						\
	__atomic_add_fetch(&uenv_nr_errors, 1, __ATOMIC_RELAXED);	\
	uenv_print("ERR: ", fmt, ##__VA_ARGS__);			\
} while (0)
#define pr_err_ratelimited pr_err
#define pr_warn(fmt, ...)	uenv_print("WARN: ", fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)	uenv_print("", fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)	do { } while (0)

#define WARN_ON_ONCE(cond) ({						\
	static bool __warned;						\
	bool __c = !!(cond);						\
	if (__c && !__warned) {						\
		__warned = true;					\
		uenv_print("WARNING: ", "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
	}								\
	__c;								\
})
#define WARN_ON(cond) WARN_ON_ONCE(cond)

#define might_sleep()		do { } while (0)
#define lockdep_assert_held(l)	do { (void)(l); } while (0)
#define EXPORT_SYMBOL_GPL(s)

/* ---- memory -------------------------------------------------------------- */

/* Everything cache-line aligned: pool.c aligns hot structures to 64 bytes. */
extern unsigned long uenv_nr_allocs;	/* kzalloc()s so far: map path must not */

static inline void *kzalloc(size_t size, gfp_t gfp)
{
	size_t sz = (size + UENV_ALIGN - 1) & ~(size_t)(UENV_ALIGN - 1);
	void *p = aligned_alloc(UENV_ALIGN, sz ? sz : UENV_ALIGN);

	(void)gfp;
	__atomic_add_fetch(&uenv_nr_allocs, 1, __ATOMIC_RELAXED);
	if (p)
		memset(p, 0, sz ? sz : UENV_ALIGN);
	return p;
}

static inline void *kvcalloc(size_t n, size_t size, gfp_t gfp)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return kzalloc(n * size, gfp);
}

#define kcalloc kvcalloc
#define kvzalloc kzalloc
static inline void kfree(const void *p)
{
	free((void *)p);
}
#define kvfree kfree

/* ---- CPUs and per-CPU data ---------------------------------------------- */

extern __thread unsigned int uenv_cpu;
static inline void uenv_set_cpu(unsigned int cpu)
{
	uenv_cpu = cpu;
}
#define raw_smp_processor_id()	(uenv_cpu)
#define nr_cpu_ids		UINT_MAX
#define cpu_possible(cpu)	((void)(cpu), true)

#define alloc_percpu_nr(type, nr)	((type *)kvcalloc((nr), sizeof(type), GFP_KERNEL))
#define per_cpu_ptr(ptr, cpu)		(&(ptr)[cpu])
#define free_percpu(ptr)		kfree(ptr)

/* ---- interrupts and spinlocks ------------------------------------------- */

#define local_irq_save(f)	do { (f) = 0; } while (0)
#define local_irq_restore(f)	do { (void)(f); } while (0)

typedef struct {
	int v;
} spinlock_t;

static inline void spin_lock_init(spinlock_t *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELAXED);
}

static inline bool spin_trylock(spinlock_t *l)
{
	return !__atomic_load_n(&l->v, __ATOMIC_RELAXED) &&
	       !__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_lock(spinlock_t *l)
{
	unsigned int spins = 0;

	while (!spin_trylock(l)) {
		if (++spins > 200)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
}

static inline void spin_unlock(spinlock_t *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

#define spin_lock_irqsave(l, f)		do { (f) = 0; spin_lock(l); } while (0)
#define spin_unlock_irqrestore(l, f)	do { (void)(f); spin_unlock(l); } while (0)
#define spin_trylock_irqsave(l, f)	({ (f) = 0; spin_trylock(l); })
#define spin_lock_nest_lock(l, n)	do { (void)(n); spin_lock(l); } while (0)

/* ---- atomics ------------------------------------------------------------ */

typedef struct {
	long counter;
} atomic_long_t;

typedef struct {
	int counter;
} atomic_t;

#define atomic_read(a)		__atomic_load_n(&(a)->counter, __ATOMIC_RELAXED)
#define atomic_inc(a)		((void)__atomic_add_fetch(&(a)->counter, 1, __ATOMIC_SEQ_CST))
#define atomic_dec(a)		((void)__atomic_sub_fetch(&(a)->counter, 1, __ATOMIC_SEQ_CST))
#define atomic_long_read(a)	__atomic_load_n(&(a)->counter, __ATOMIC_RELAXED)
#define atomic_long_set(a, v)	__atomic_store_n(&(a)->counter, (v), __ATOMIC_RELAXED)
#define atomic_long_inc(a)	((void)__atomic_add_fetch(&(a)->counter, 1, __ATOMIC_SEQ_CST))
#define atomic_long_dec(a)	((void)__atomic_sub_fetch(&(a)->counter, 1, __ATOMIC_SEQ_CST))
#define atomic_long_inc_return(a) __atomic_add_fetch(&(a)->counter, 1, __ATOMIC_SEQ_CST)
#define atomic_long_add_return(i, a) __atomic_add_fetch(&(a)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_long_sub(i, a)	((void)__atomic_sub_fetch(&(a)->counter, (i), __ATOMIC_SEQ_CST))
#define atomic_long_add(i, a)	((void)__atomic_add_fetch(&(a)->counter, (i), __ATOMIC_SEQ_CST))
#define atomic_long_xchg(a, v)	__atomic_exchange_n(&(a)->counter, (v), __ATOMIC_SEQ_CST)
#define atomic_long_try_cmpxchg(a, oldp, new)				\
	__atomic_compare_exchange_n(&(a)->counter, (oldp), (new), false,	\
				    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)

/* cmpxchg(): returns the value found, like the kernel's */
#define cmpxchg(ptr, o, n) ({						\
	__typeof__(*(ptr)) __old = (o);					\
	__atomic_compare_exchange_n((ptr), &__old, (n), false,		\
				    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);\
	__old;								\
})

/* ---- doubly linked lists (subset of linux/list.h) ----------------------- */

struct list_head {
	struct list_head *next, *prev;
};

static inline void INIT_LIST_HEAD(struct list_head *l)
{
	l->next = l;
	l->prev = l;
}

static inline void __list_add(struct list_head *n, struct list_head *prev,
			      struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}

static inline void list_add(struct list_head *n, struct list_head *h)
{
	__list_add(n, h, h->next);
}

static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	__list_add(n, h->prev, h);
}

static inline void list_del(struct list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	e->next = NULL;
	e->prev = NULL;
}

static inline void list_move(struct list_head *e, struct list_head *h)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	list_add(e, h);
}

static inline void list_move_tail(struct list_head *e, struct list_head *h)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	list_add_tail(e, h);
}

static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}

static inline bool list_is_singular(const struct list_head *h)
{
	return !list_empty(h) && h->next == h->prev;
}

#define list_entry(p, t, m)		container_of(p, t, m)
#define list_first_entry(h, t, m)	list_entry((h)->next, t, m)
#define list_for_each_entry(pos, h, m)					\
	for (pos = list_entry((h)->next, __typeof__(*pos), m);		\
	     &pos->m != (h);						\
	     pos = list_entry(pos->m.next, __typeof__(*pos), m))

/* ---- RCU and hlists ----------------------------------------------------- */

extern pthread_rwlock_t uenv_rcu_lock;

static inline void rcu_read_lock(void)
{
	pthread_rwlock_rdlock(&uenv_rcu_lock);
}

static inline void rcu_read_unlock(void)
{
	pthread_rwlock_unlock(&uenv_rcu_lock);
}

/* The shim's flavour (preemption off in the kernel): the same lock here. */
#define rcu_read_lock_sched()	rcu_read_lock()
#define rcu_read_unlock_sched()	rcu_read_unlock()

static inline void synchronize_rcu(void)
{
	pthread_rwlock_wrlock(&uenv_rcu_lock);
	pthread_rwlock_unlock(&uenv_rcu_lock);
}

struct rcu_head {
	void *unused;
};

/* Synchronous here: waits for the readers, then runs the callback. */
static inline void call_rcu(struct rcu_head *head,
			    void (*func)(struct rcu_head *head))
{
	synchronize_rcu();
	func(head);
}

static inline void rcu_barrier(void)
{
}

#define rcu_dereference(p)	 __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_dereference_sched(p) rcu_dereference(p)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define RCU_INIT_POINTER(p, v)	 __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)
#define rcu_access_pointer(p)	 __atomic_load_n(&(p), __ATOMIC_RELAXED)

struct hlist_node {
	struct hlist_node *next, **pprev;
};

struct hlist_head {
	struct hlist_node *first;
};

#define INIT_HLIST_HEAD(h) ((h)->first = NULL)

static inline void hlist_add_head_rcu(struct hlist_node *n,
				      struct hlist_head *h)
{
	struct hlist_node *first = h->first;

	n->next = first;
	n->pprev = &h->first;
	if (first)
		first->pprev = &n->next;
	rcu_assign_pointer(h->first, n);
}

/* Like the kernel's: leaves ->next intact so readers can walk on. */
static inline void hlist_del_rcu(struct hlist_node *n)
{
	struct hlist_node *next = n->next;

	__atomic_store_n(n->pprev, next, __ATOMIC_RELEASE);
	if (next)
		next->pprev = n->pprev;
	n->pprev = NULL;
}

#define hlist_entry_safe(ptr, type, member) ({				\
	struct hlist_node *____p = (ptr);				\
	____p ? container_of(____p, type, member) : NULL;		\
})

#define hlist_for_each_entry_rcu(pos, head, member)			\
	for (pos = hlist_entry_safe(rcu_dereference((head)->first),	\
				    __typeof__(*(pos)), member);	\
	     pos;							\
	     pos = hlist_entry_safe(rcu_dereference((pos)->member.next),\
				    __typeof__(*(pos)), member))

#define hlist_for_each_entry(pos, head, member) \
	hlist_for_each_entry_rcu(pos, head, member)

#endif /* _CCS_UENV_H */
