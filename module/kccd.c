// SPDX-License-Identifier: GPL-2.0
/*
 * kccd: the kthread that owns the pool's shared memory.
 *
 * The map path never converts, sleeps or allocates: when a class runs low it
 * only sets a bit and wakes kccd (ccs_kccd_kick(), any context).  kccd then
 *
 *  - refills every class that fell under its low watermark up to its high
 *    watermark, one chunk (one set_memory_decrypted() call) at a time, the
 *    chunk as large as the class prefers (up to 2 MiB) and the buddy
 *    allocator can give, smaller orders as fallback, never more than
 *    max_pool_mb in total;
 *  - returns surplus above the high watermark once it has lasted reclaim_ms,
 *    one chunk per class per pass (re-encrypt, then free; a chunk that
 *    cannot be re-encrypted is leaked, never freed);
 *  - backs off (exponentially, bounded) when the platform refuses a
 *    conversion, retries with smaller chunks, and drains the per-CPU
 *    magazines before asking again (seed 004's lesson);
 *  - auto-tunes: raises a class's effective watermarks after the map path
 *    found it empty, decays them after a quiet period.  Every change goes
 *    through ccs_wm_change().
 *
 * Load: ccs_kccd_start() returns once kccd has filled every class to its
 * high watermark (or could not: cap, failing conversions), so devices
 * attached right after load find stock; every conversion of a running module
 * therefore happens in kccd.  Unload: kccd returns every chunk before it
 * exits; ccs_pool_teardown() then destroys the pool.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/freezer.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include "internal.h"
#include <trace/events/cc_swiotlb.h>

#define CCS_KICK_ANY		CCS_MAX_CLASSES	/* kick bit: re-evaluate all */
#define CCS_REFILL_BATCH	8		/* chunks per class per pass */
#define CCS_BACKOFF_MIN_MS	10
#define CCS_BACKOFF_MAX_MS	5000
#define CCS_RAISE_MIN_MS	100		/* thrash guard between raises */
#define CCS_RAISE_WAIT_MS	1000		/* ... or until the last is met */
#define CCS_REBALANCE_MAX	8		/* chunks taken per rebalance */
#define CCS_DECAY_FACTOR	10		/* quiet period: 10 * reclaim_ms */
#define CCS_GFP		(GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY)

/**
 * struct ccs_kccd_class - kccd's private state of one class
 * @filling:	under low (or kicked) and not yet back at high
 * @surplus:	a whole chunk above high was seen...
 * @surplus_since: ... continuously since then (jiffies)
 * @last_exhaust: last exhaustion event (jiffies)
 * @starved:	an exhaustion event was seen (since load)...
 * @starved_at:	... last at this time (jiffies): rebalancing spares a class
 *		that ran dry within reclaim_ms
 * @exh_seen:	@exhaustions at the previous auto-tune look (demand sizing)
 * @received:	rebalancing made room for this class...
 * @received_at: ... last at this time (jiffies);
 *		it is then no donor for reclaim_ms (no ping-pong)
 * @last_change: last auto-tune change (jiffies)
 * @order_cap:	largest order tried; lowered after a failed conversion
 * @last_ops:	the pool's allocs + frees of the class at the previous pass
 * @exhaustions: exhaustion events (any context)
 * @refills:	chunks added
 * @reclaims:	chunks returned
 * @donated:	chunks returned early because another class starved at the cap
 */
struct ccs_kccd_class {
	bool filling;
	bool surplus;
	unsigned long surplus_since;
	unsigned long last_exhaust;
	bool starved;
	unsigned long starved_at;
	u64 exh_seen;
	unsigned long received_at;
	bool received;
	unsigned long last_change;
	unsigned int order_cap;
	u64 last_ops;
	atomic64_t exhaustions;
	u64 refills;
	u64 reclaims;
	u64 donated;
};

/* A chunk that failed a conversion: kept allocated for ever, listed. */
struct ccs_leak {
	struct list_head list;
	struct page *page;
	unsigned int order;
};

struct ccs_wm ccs_wm_eff[CCS_MAX_CLASSES];
u32 ccs_surplus_at[CCS_MAX_CLASSES];	/* free slots: high + one chunk */
struct task_struct *ccs_kccd_task;

static struct ccs_kccd_class ccs_kc[CCS_MAX_CLASSES];
static DEFINE_SPINLOCK(ccs_wm_lock);		/* writers of ccs_wm_cfg/eff */
static DEFINE_MUTEX(ccs_kccd_mutex);		/* pool memory changes */
static DECLARE_WAIT_QUEUE_HEAD(ccs_kccd_wq);
static DECLARE_COMPLETION(ccs_kccd_ready);
static unsigned long ccs_kick_bits;		/* classes kicked, CCS_KICK_ANY */
static unsigned long ccs_exhaust_bits;		/* classes found empty */
/*
 * Classes kccd wants a surplus hint for: only those it has nothing
 * scheduled for.  A class kccd samples anyway (busy, filling, surplus clock
 * running) gets no hints, so a steady stream of unmaps costs a bit test, not
 * a wake-up each (which once meant 350 kccd passes a second under fio).
 */
unsigned long ccs_surplus_armed;
static bool ccs_surplus_hint;			/* an armed class fired */
static atomic64_t ccs_kicks = ATOMIC64_INIT(0);
static atomic64_t ccs_shared = ATOMIC64_INIT(0);	/* bytes in the pool */
static struct ccs_kccd_stats ccs_ks;		/* under ccs_kccd_mutex */
static unsigned int ccs_backoff_ms;
static unsigned long ccs_backoff_until;
static bool ccs_drain_before_retry;
static LIST_HEAD(ccs_leaks);			/* under ccs_leak_lock */
static DEFINE_MUTEX(ccs_leak_lock);

/*
 * Remember a leaked chunk so debugfs can show that it stays allocated.  The
 * pages themselves are accounted by convert.c and never freed.
 */
static void ccs_record_leak(struct page *page, unsigned int order)
{
	struct ccs_leak *l = kmalloc(sizeof(*l), GFP_KERNEL);

	if (!l)
		return;		/* still leaked and counted, just not listed */
	l->page = page;
	l->order = order;
	mutex_lock(&ccs_leak_lock);
	list_add_tail(&l->list, &ccs_leaks);
	mutex_unlock(&ccs_leak_lock);
}

/**
 * ccs_kccd_show_leaks() - list leaked chunks: "pfn npages refcount" lines
 * @m:	seq_file of the debugfs "leaked" file
 *
 * A refcount of 0 would mean the chunk went back to the page allocator.
 */
void ccs_kccd_show_leaks(struct seq_file *m)
{
	struct ccs_leak *l;

	mutex_lock(&ccs_leak_lock);
	list_for_each_entry(l, &ccs_leaks, list)
		seq_printf(m, "%lu %u %d\n", page_to_pfn(l->page),
			   1U << l->order, page_count(l->page));
	mutex_unlock(&ccs_leak_lock);
}

/* Forget the list at unload; the pages stay leaked. */
static void ccs_forget_leaks(void)
{
	struct ccs_leak *l, *tmp;

	mutex_lock(&ccs_leak_lock);
	list_for_each_entry_safe(l, tmp, &ccs_leaks, list) {
		list_del(&l->list);
		kfree(l);
	}
	mutex_unlock(&ccs_leak_lock);
}

/**
 * ccs_shared_bytes() - shared memory currently held by the pool, in bytes
 */
u64 ccs_shared_bytes(void)
{
	return atomic64_read(&ccs_shared);
}

/**
 * ccs_kccd_kick() - ask kccd to look at class @cls (any context, no locks)
 * @cls:	class index, or -1 to re-evaluate everything
 *
 * Does nothing while a kick of @cls is still pending, so a storm of empty
 * maps costs one bit test each.
 */
void ccs_kccd_kick(int cls)
{
	unsigned int bit = cls >= 0 && cls < CCS_MAX_CLASSES ? cls : CCS_KICK_ANY;

	if (test_bit(bit, &ccs_kick_bits) ||
	    test_and_set_bit(bit, &ccs_kick_bits))
		return;
	atomic64_inc(&ccs_kicks);
	wake_up(&ccs_kccd_wq);
}

/**
 * ccs_kccd_note_exhaustion() - the map path found class @cls empty
 * @cls:	class index (anything else is ignored)
 *
 * Any context, lock-free.  Counts the event, lets auto-tune raise the
 * class's watermarks and wakes kccd.
 */
void ccs_kccd_note_exhaustion(int cls)
{
	if (cls < 0 || cls >= CCS_MAX_CLASSES)
		return;
	atomic64_inc(&ccs_kc[cls].exhaustions);
	if (!test_bit(cls, &ccs_exhaust_bits))
		set_bit(cls, &ccs_exhaust_bits);
	ccs_kccd_kick(cls);
}

/**
 * ccs_kccd_note_surplus() - class @cls may hold a surplus (any context)
 * @cls:	class index
 *
 * Wakes kccd once until its next pass, so that the reclaim clock starts
 * when a burst ends, not at kccd's next sample.
 */
void ccs_kccd_note_surplus(int cls)
{
	if (cls < 0 || cls >= CCS_MAX_CLASSES ||
	    !test_bit(cls, &ccs_surplus_armed) ||
	    !test_and_clear_bit(cls, &ccs_surplus_armed))
		return;
	WRITE_ONCE(ccs_surplus_hint, true);
	wake_up(&ccs_kccd_wq);
}

static void ccs_set_surplus_at(int cls)
{
	u32 chunk_slots = ccs_class_chunk_size(ccs_pool, cls) /
			  ccs_class_slot_size(ccs_pool, cls);

	WRITE_ONCE(ccs_surplus_at[cls], ccs_wm_eff[cls].high + chunk_slots);
}

/*
 * The one place an effective watermark changes (auto-tune, configuration):
 * the place for a tracepoint.  Caller holds ccs_wm_lock.
 */
static void ccs_wm_change(int cls, u32 low, u32 high, const char *why)
{
	struct ccs_wm *eff = &ccs_wm_eff[cls];

	lockdep_assert_held(&ccs_wm_lock);
	if (eff->low == low && eff->high == high)
		return;
	pr_info_ratelimited("class %u: watermarks %u:%u -> %u:%u (%s)\n",
			    ccs_class_slot_size(ccs_pool, cls), eff->low,
			    eff->high, low, high, why);
	trace_cc_swiotlb_watermark(ccs_class_slot_size(ccs_pool, cls),
				   eff->low, eff->high, low, high, why);
	WRITE_ONCE(eff->low, low);
	WRITE_ONCE(eff->high, high);
	ccs_set_surplus_at(cls);
}

/**
 * ccs_kccd_set_configured() - new configured watermarks (runtime write)
 * @wm:	one entry per class, already validated
 *
 * Resets the effective watermarks to the configured ones and wakes kccd,
 * which fills every class to its new high watermark.
 */
void ccs_kccd_set_configured(const struct ccs_wm *wm)
{
	int cls, nr = ccs_pool_nr_classes(ccs_pool);

	spin_lock(&ccs_wm_lock);
	for (cls = 0; cls < nr; cls++) {
		ccs_wm_cfg[cls] = wm[cls];
		ccs_wm_change(cls, wm[cls].low, wm[cls].high, "configured");
	}
	spin_unlock(&ccs_wm_lock);
	/* a kicked class under its (new) high watermark is filled to it */
	for (cls = 0; cls < nr; cls++)
		ccs_kccd_kick(cls);
}

static unsigned int ccs_min_order(int cls)
{
	return get_order(max_t(u32, ccs_class_slot_size(ccs_pool, cls),
			       1U << CCS_MIN_CHUNK_SHIFT));
}

static unsigned int ccs_pref_order(int cls)
{
	return max_t(unsigned int, get_order(ccs_class_chunk_size(ccs_pool, cls)),
		   ccs_min_order(cls));
}

static u64 ccs_class_wm_bytes(int cls, u32 slots)
{
	return roundup((u64)slots * ccs_class_slot_size(ccs_pool, cls),
		       ccs_class_chunk_size(ccs_pool, cls));
}

/* Most slots auto-tune may give @cls: what the cap leaves after the rest. */
static u32 ccs_wm_bound(int cls)
{
	int c, nr = ccs_pool_nr_classes(ccs_pool);
	u64 cap = ccs_max_pool_bytes(), other = 0;
	u32 chunk = ccs_class_chunk_size(ccs_pool, cls);

	for (c = 0; c < nr; c++)
		if (c != cls)
			other += ccs_class_wm_bytes(c, ccs_wm_eff[c].high);
	if (other >= cap)
		return 0;
	return rounddown(cap - other, chunk) / ccs_class_slot_size(ccs_pool, cls);
}

/* How often a class that may turn into surplus is looked at */
static long ccs_sample_jiffies(void)
{
	return msecs_to_jiffies(READ_ONCE(ccs_reclaim_ms)) / 8 + 1;
}

static unsigned long ccs_decay_jiffies(void)
{
	return msecs_to_jiffies(CCS_DECAY_FACTOR * READ_ONCE(ccs_reclaim_ms));
}

/*
 * Demand of @cls that ran dry: slots in use plus the maps refused since the
 * last look (each wanted one slot; a requeued request counts again, so at
 * most as many again as are in use, or one chunk).
 */
static u64 ccs_demand(int cls)
{
	struct ccs_kccd_class *kc = &ccs_kc[cls];
	u64 exh = atomic64_read(&kc->exhaustions);
	u64 missed = exh - kc->exh_seen;
	u64 chunk_slots = ccs_class_chunk_size(ccs_pool, cls) /
			  ccs_class_slot_size(ccs_pool, cls);
	struct ccs_class_stats st;

	kc->exh_seen = exh;
	ccs_class_stats(ccs_pool, cls, &st);
	return st.in_use + min(missed, max(st.in_use, chunk_slots));
}

/*
 * A raise is due right away on exhaustion; the guard only stops a storm of
 * events from ratcheting the watermarks before kccd could act on the last
 * raise: not within CCS_RAISE_MIN_MS, and not while the class still holds
 * fewer slots than its raised high watermark, for up to CCS_RAISE_WAIT_MS.
 */
static bool ccs_raise_due(int cls, const struct ccs_wm *eff, unsigned long now)
{
	unsigned long last = ccs_kc[cls].last_change;
	struct ccs_class_stats st;

	if (time_before(now, last + msecs_to_jiffies(CCS_RAISE_MIN_MS)))
		return false;
	if (time_after_eq(now, last + msecs_to_jiffies(CCS_RAISE_WAIT_MS)))
		return true;
	ccs_class_stats(ccs_pool, cls, &st);
	return st.total >= eff->high;
}

/* Raise only a class that is short: free slots under its demand or low */
static bool ccs_short(int cls, const struct ccs_wm *eff, u64 want)
{
	struct ccs_class_stats st;

	ccs_class_stats(ccs_pool, cls, &st);
	return st.free < eff->low || st.free < want;
}

/*
 * Auto-tune: raise the effective watermarks of classes found empty at once,
 * sized from their demand (x2, at least doubling, bounded by the cap); halve
 * them toward the configured values after a quiet period.  Returns jiffies
 * until the next decay is due.
 */
static long ccs_autotune(unsigned long exh, unsigned long now)
{
	int cls, nr = ccs_pool_nr_classes(ccs_pool);
	unsigned long decay = ccs_decay_jiffies(), due;
	unsigned long step = 2 * msecs_to_jiffies(READ_ONCE(ccs_reclaim_ms));
	long next = MAX_SCHEDULE_TIMEOUT;
	bool on = READ_ONCE(ccs_auto_tune);

	spin_lock(&ccs_wm_lock);
	for (cls = 0; cls < nr; cls++) {
		struct ccs_kccd_class *kc = &ccs_kc[cls];
		struct ccs_wm eff = ccs_wm_eff[cls];
		struct ccs_wm cfg = ccs_wm_cfg[cls];
		u64 want;

		if (test_bit(cls, &exh)) {
			kc->last_exhaust = now;
			kc->starved = true;
			kc->starved_at = now;
			kc->filling = true;
			kc->surplus = false;
			want = ccs_demand(cls);
			if (on && ccs_raise_due(cls, &eff, now) &&
			    ccs_short(cls, &eff, want)) {
				u32 bound = max(ccs_wm_bound(cls), cfg.high);
				/* from 0 too: a class may start empty */
				u32 high = min_t(u64, max3(2ULL * eff.high,
							   2 * want, 1ULL),
						 bound);
				u32 low = min_t(u64, max3(2ULL * eff.low, want,
							  1ULL), high);

				if (low != eff.low || high != eff.high) {
					ccs_wm_change(cls, low, high,
						      "auto-tune: exhaustion");
					kc->last_change = now;
					ccs_ks.autotune_raises++;
				}
			}
			continue;
		}
		if (eff.low == cfg.low && eff.high == cfg.high)
			continue;
		if (!on) {
			ccs_wm_change(cls, cfg.low, cfg.high, "auto-tune off");
			continue;
		}
		/*
		 * Quiet for the whole decay period since the last exhaustion,
		 * then halve every two reclaim periods: a burst that raised a
		 * class eightfold is back at the configured watermarks about
		 * 10 s after the first decay, not a minute (which is what
		 * kept a settled pool at twice its idle size).
		 */
		if (time_after_eq(now, kc->last_exhaust + decay) &&
		    time_after_eq(now, kc->last_change + step)) {
			u32 high = max(eff.high / 2, cfg.high);
			u32 low = min(max(eff.low / 2, cfg.low), high);

			ccs_wm_change(cls, low, high, "auto-tune: quiet");
			kc->last_change = now;
			ccs_ks.autotune_decays++;
		}
		due = max(kc->last_exhaust + decay, kc->last_change + step);
		next = min_t(long, next, time_after(due, now) ? due - now : 1);
	}
	spin_unlock(&ccs_wm_lock);
	return next;
}

static void ccs_backoff(void)
{
	ccs_backoff_ms = ccs_backoff_ms ?
		min(2 * ccs_backoff_ms, CCS_BACKOFF_MAX_MS) : CCS_BACKOFF_MIN_MS;
	ccs_backoff_until = jiffies + msecs_to_jiffies(ccs_backoff_ms);
	ccs_drain_before_retry = true;
	ccs_ks.backoffs++;
}

/*
 * Add one chunk to @cls: allocate (largest order first), decrypt with one
 * call, hand to the pool.  Returns the chunk size, -ENOSPC at the cap,
 * -ENOMEM when no pages, or the conversion error (kccd then backs off).
 */
static long ccs_add_chunk(int cls)
{
	struct ccs_kccd_class *kc = &ccs_kc[cls];
	unsigned int min_order = ccs_min_order(cls);
	unsigned int order = max(min(kc->order_cap, ccs_pref_order(cls)),
				 min_order);
	u64 held = atomic64_read(&ccs_shared) + ccs_convert_leaked_bytes();
	u64 cap = ccs_max_pool_bytes();
	struct page *page = NULL;
	unsigned int npages;
	void *vaddr;
	u64 t0;
	u32 size;
	int ret;

	/*
	 * Failure breaker open, or reboot: try again later.  Meanwhile the
	 * idle slots stranded in other CPUs' magazines are all there is.
	 */
	if (ccs_convert_paused()) {
		ccs_pool_drain(ccs_pool, -1);
		ccs_backoff();
		return -EAGAIN;
	}
	for (;; order--) {
		size = PAGE_SIZE << order;
		if (held + size <= cap) {
			if (ccs_debug_highorder_fail() &&
			    order > min_order)
				page = NULL;
			else
				page = alloc_pages(CCS_GFP, order);
			if (page)
				break;
			ccs_ks.alloc_failures++;
		}
		if (order == min_order)
			break;
	}
	if (!page) {
		if (held + (PAGE_SIZE << min_order) > cap) {
			ccs_ks.cap_hits++;
			return -ENOSPC;
		}
		ccs_backoff();
		return -ENOMEM;
	}
	if (order < ccs_pref_order(cls))
		ccs_ks.order_fallbacks++;

	if (ccs_drain_before_retry) {
		/* Idle slots stranded in magazines first, then the platform */
		ccs_pool_drain(ccs_pool, -1);
		ccs_drain_before_retry = false;
	}

	vaddr = page_address(page);
	npages = 1U << order;
	t0 = ktime_get_ns();
	ret = ccs_convert_decrypt(vaddr, npages);
	if (ret) {
		/* Unknown state: the pages are leaked (and counted), not freed */
		if (ccs_convert_untouched(ret))
			__free_pages(page, order);
		else
			ccs_record_leak(page, order);
		kc->order_cap = max(order, min_order + 1) - 1;
		ccs_backoff();
		return ret;
	}
	ccs_backoff_ms = 0;
	if (order == kc->order_cap && order < ccs_pref_order(cls))
		kc->order_cap++;

	memset(vaddr, 0, size);	/* the host sees zeroes, not old contents */
	ret = ccs_chunk_add(ccs_pool, cls, vaddr, page_to_phys(page), size);
	if (ret) {
		pr_warn_ratelimited("class %u: adding a %u KiB chunk failed: %d\n",
				    ccs_class_slot_size(ccs_pool, cls),
				    size >> 10, ret);
		if (!ccs_convert_encrypt(vaddr, npages))
			__free_pages(page, order);
		else
			ccs_record_leak(page, order);
		return ret;
	}
	atomic64_add(size, &ccs_shared);
	kc->refills++;
	ccs_ks.refill_chunks++;
	trace_cc_swiotlb_refill(ccs_class_slot_size(ccs_pool, cls), size,
				ktime_get_ns() - t0);
	return size;
}

/*
 * Take one entirely free chunk out of @cls, re-encrypt it and free it.
 * Returns 0 when a chunk left the pool (even if it had to be leaked), or
 * -ENOENT when @cls has no free chunk.
 */
static int ccs_reclaim_chunk(int cls)
{
	u64 t0 = ktime_get_ns();
	phys_addr_t phys;
	void *vaddr;
	u32 size;
	int ret;

	ret = ccs_chunk_take_free(ccs_pool, cls, &vaddr, &phys, &size);
	ccs_ks.take_free_ns += ktime_get_ns() - t0;
	if (ret)
		return ret;
	atomic64_sub(size, &ccs_shared);
	ccs_kc[cls].reclaims++;
	ccs_ks.reclaim_chunks++;
	ret = ccs_convert_encrypt(vaddr, size >> PAGE_SHIFT);
	if (ret)	/* never freed: the host may still write it */
		ccs_record_leak(virt_to_page(vaddr), get_order(size));
	else
		__free_pages(virt_to_page(vaddr), get_order(size));
	trace_cc_swiotlb_reclaim(ccs_class_slot_size(ccs_pool, cls), size,
				 ktime_get_ns() - t0);
	return 0;
}

static bool ccs_within_reclaim(bool flag, unsigned long at,
			       unsigned long now)
{
	return flag &&
	       time_before(now, at + msecs_to_jiffies(READ_ONCE(ccs_reclaim_ms)));
}

/* @cls ran dry within the last reclaim_ms */
static bool ccs_starving(int cls, unsigned long now)
{
	return ccs_within_reclaim(ccs_kc[cls].starved, ccs_kc[cls].starved_at,
				  now);
}

/*
 * Cap pressure: @cls needs @need more bytes of chunk and max_pool_mb is in
 * the way.  Without this nothing moves memory between classes under the cap
 * (reclaim only returns surplus above high after reclaim_ms), so the cap can
 * sit in big classes while a small class starves; a request that needs many
 * slots of it then fails part way, unwinds and requeues on every hw queue
 * for ever.  So give back entirely free chunks of other classes right away:
 * re-encrypted and freed exactly as reclaim does, so the conversion
 * accounting is unchanged, and kccd adds a chunk to @cls with the room.
 *
 * Donors: never a class that rebalancing itself fed within reclaim_ms (no
 * ping-pong).  A class that did not run dry within reclaim_ms first, most
 * free bytes first, a surplus above its high watermark before anything
 * else.  A @cls merely under its low watermark only takes such surplus.  A
 * starving @cls (exhaustion within reclaim_ms) may take a donor below its
 * low watermark and, when every other class starves too, a starving donor:
 * if the cap is spread over classes that all ran dry and a request needs
 * more of one class than it holds, refusing to move memory is the livelock
 * itself.  A donor's auto-tuned watermarks then go back to the configured
 * ones so kccd does not refill it straight away.  At most
 * CCS_REBALANCE_MAX chunks per call.
 *
 * Returns true when there is room for @need now.
 */
static bool ccs_rebalance(int cls, u64 need, unsigned long now)
{
	int c, nr = ccs_pool_nr_classes(ccs_pool), budget = CCS_REBALANCE_MAX;
	bool starving = ccs_starving(cls, now);
	unsigned long tried = 0;

	if (!starving && ccs_class_avail(ccs_pool, cls) >=
			 READ_ONCE(ccs_wm_eff[cls].low))
		return false;
	/* leaked bytes count against the cap (ccs_convert_leaked_bytes()) */
	need += ccs_convert_leaked_bytes();
	while (ccs_shared_bytes() + need > ccs_max_pool_bytes() && budget--) {
		s64 score, best_score = S64_MIN;
		int best = -1;

		for (c = 0; c < nr; c++) {
			u32 slot = ccs_class_slot_size(ccs_pool, c);
			u64 min_slots = (PAGE_SIZE << ccs_min_order(c)) / slot;
			struct ccs_class_stats st;
			struct ccs_wm wm;

			if (c == cls || test_bit(c, &tried) ||
			    ccs_within_reclaim(ccs_kc[c].received,
					       ccs_kc[c].received_at, now))
				continue;
			ccs_class_stats(ccs_pool, c, &st);
			if (st.free < min_slots)
				continue;	/* cannot have a free chunk */
			wm.low = READ_ONCE(ccs_wm_eff[c].low);
			wm.high = READ_ONCE(ccs_wm_eff[c].high);
			score = (s64)(st.free * slot);
			if (st.free >= (u64)wm.high + min_slots)
				score += 4 * ccs_max_pool_bytes();
			else if (!starving)
				continue;	/* only surplus above high */
			if (!ccs_starving(c, now))
				score += 2 * ccs_max_pool_bytes();
			if (score > best_score) {
				best_score = score;
				best = c;
			}
		}
		if (best < 0)
			break;
		if (ccs_reclaim_chunk(best)) {
			__set_bit(best, &tried);	/* no free chunk */
			continue;
		}
		ccs_kc[best].donated++;
		ccs_ks.rebalance_chunks++;
		ccs_kc[cls].received = true;
		ccs_kc[cls].received_at = now;
		if (starving) {
			spin_lock(&ccs_wm_lock);
			ccs_wm_change(best, ccs_wm_cfg[best].low,
				      ccs_wm_cfg[best].high,
				      "rebalance: another class starved at the cap");
			spin_unlock(&ccs_wm_lock);
		}
	}
	return ccs_shared_bytes() + need <= ccs_max_pool_bytes();
}

/* Refill @cls up to its high watermark, at most CCS_REFILL_BATCH chunks. */
static bool ccs_refill(int cls, u64 free)
{
	u32 slot = ccs_class_slot_size(ccs_pool, cls);
	int budget = CCS_REFILL_BATCH;

	while (free < READ_ONCE(ccs_wm_eff[cls].high)) {
		long size;

		if (!budget-- || time_before(jiffies, ccs_backoff_until))
			return true;	/* more to do */
		size = ccs_add_chunk(cls);
		if (size == -ENOSPC &&
		    ccs_rebalance(cls, PAGE_SIZE << ccs_min_order(cls), jiffies))
			continue;	/* room made under the cap */
		if (size == -ENOSPC)
			break;		/* at the cap: kicks will retry */
		if (size < 0)
			return true;	/* backing off */
		free += size / slot;
		cond_resched();
	}
	ccs_kc[cls].filling = false;
	return false;
}

/*
 * Surplus handling of @cls: a whole chunk above high that has lasted
 * reclaim_ms goes back, one chunk per pass, re-checked between chunks (and
 * taking a chunk out waits for an RCU grace period, which paces it).  Over
 * the cap (lowered at runtime) free chunks go back without waiting.
 * Returns jiffies until the next step is due (0: right away).
 */
static long ccs_reclaim(int cls, const struct ccs_class_stats *st,
			unsigned long now)
{
	struct ccs_kccd_class *kc = &ccs_kc[cls];
	u32 chunk_slots = ccs_class_chunk_size(ccs_pool, cls) /
			  ccs_class_slot_size(ccs_pool, cls);
	u64 limit = (u64)READ_ONCE(ccs_wm_eff[cls].high) + chunk_slots;
	unsigned long due, period = msecs_to_jiffies(READ_ONCE(ccs_reclaim_ms));
	bool over_cap = ccs_shared_bytes() > ccs_max_pool_bytes();
	bool active = st->allocs + st->frees != kc->last_ops;

	kc->last_ops = st->allocs + st->frees;
	/* conversions failing: what is given back could not be replaced */
	if (!over_cap && ccs_convert_failing())
		return ccs_sample_jiffies();
	if (!over_cap && st->free < limit) {
		kc->surplus = false;
		/*
		 * Slots in use may come back as surplus when the burst ends:
		 * keep sampling while the class is busy, not while long-lived
		 * mappings (a NIC's receive ring) just sit there.
		 */
		return active && st->total >= limit ? ccs_sample_jiffies() :
			MAX_SCHEDULE_TIMEOUT;
	}
	if (!kc->surplus) {
		kc->surplus = true;
		kc->surplus_since = now;
	}
	due = kc->surplus_since + period;
	/* Sample through the window: one dip under it restarts the clock */
	if (!over_cap && time_before(now, due))
		return min_t(long, due - now, ccs_sample_jiffies());
	if (ccs_reclaim_chunk(cls))
		return period / 4 + 1;	/* no entirely free chunk yet */
	return 0;			/* next chunk on the next pass */
}

/*
 * One pass over every class.  Returns 0 when there is more to do right away,
 * else the jiffies until something is due (MAX_SCHEDULE_TIMEOUT: nothing).
 */
static long ccs_kccd_pass(void)
{
	int cls, nr = ccs_pool_nr_classes(ccs_pool);
	unsigned long now = jiffies;
	unsigned long kicks = xchg(&ccs_kick_bits, 0);
	unsigned long exh = xchg(&ccs_exhaust_bits, 0);
	unsigned long armed = 0;
	long next, t;
	bool more = false;

	lockdep_assert_held(&ccs_kccd_mutex);
	/* the surplus hints only wake us: this pass looks at every class */
	WRITE_ONCE(ccs_surplus_hint, false);
	ccs_ks.passes++;
	next = ccs_autotune(exh, now);

	for (cls = 0; cls < nr; cls++) {
		struct ccs_kccd_class *kc = &ccs_kc[cls];
		struct ccs_class_stats st;
		struct ccs_wm wm;

		ccs_class_stats(ccs_pool, cls, &st);
		wm.low = READ_ONCE(ccs_wm_eff[cls].low);
		wm.high = READ_ONCE(ccs_wm_eff[cls].high);
		if (test_bit(cls, &kicks)) {
			/* demand: whatever surplus there was is not idle */
			kc->surplus = false;
			if (st.free < wm.high)
				kc->filling = true;
		}
		if (st.free < wm.low)
			kc->filling = true;
		if (kc->filling) {
			kc->surplus = false;
			if (time_before(now, ccs_backoff_until)) {
				next = min_t(long, next, ccs_backoff_until - now);
				continue;
			}
			more |= ccs_refill(cls, st.free);
			/* filled: sample again soon to see the burst end */
			next = min_t(long, next, ccs_sample_jiffies());
			continue;
		}
		t = ccs_reclaim(cls, &st, now);
		if (t == MAX_SCHEDULE_TIMEOUT)
			armed |= BIT(cls);	/* idle: tell us when that ends */
		next = min(next, t);
	}
	/*
	 * A hint that disarmed a class during this pass has set
	 * ccs_surplus_hint, so re-arming over it loses nothing.
	 */
	WRITE_ONCE(ccs_surplus_armed, armed);
	return more ? 0 : next;
}

/* Give every free chunk back (unload, or load failure). */
static void ccs_return_all(void)
{
	int cls, nr = ccs_pool_nr_classes(ccs_pool);

	mutex_lock(&ccs_kccd_mutex);
	for (cls = 0; cls < nr; cls++)
		while (!ccs_reclaim_chunk(cls))
			cond_resched();
	mutex_unlock(&ccs_kccd_mutex);
}

static int ccs_kccd_thread(void *unused)
{
	long timeout;
	int cls;

	set_freezable();

	/* Initial fill to the high watermarks before load completes */
	mutex_lock(&ccs_kccd_mutex);
	for (cls = 0; cls < ccs_pool_nr_classes(ccs_pool); cls++)
		ccs_kc[cls].filling = true;
	do {
		timeout = ccs_kccd_pass();
		cond_resched();
	} while (!timeout && !kthread_should_stop());
	mutex_unlock(&ccs_kccd_mutex);
	complete(&ccs_kccd_ready);

	while (!kthread_should_stop()) {
		if (timeout)
			wait_event_freezable_timeout(ccs_kccd_wq,
						     READ_ONCE(ccs_kick_bits) ||
						     READ_ONCE(ccs_surplus_hint) ||
						     kthread_should_stop(),
						     timeout);
		if (kthread_should_stop())
			break;
		if (ccs_debug_stall_kccd()) {
			/* test knob: make no progress at all until cleared */
			wait_event_freezable_timeout(ccs_kccd_wq,
						     kthread_should_stop(),
						     HZ / 10);
			timeout = 0;
			continue;
		}
		mutex_lock(&ccs_kccd_mutex);
		timeout = ccs_kccd_pass();
		mutex_unlock(&ccs_kccd_mutex);
		cond_resched();
	}

	ccs_return_all();
	return 0;
}

/**
 * ccs_pool_setup() - create the (empty) pool and resolve the watermarks
 *
 * Return: 0, -ENOMEM, or -EINVAL for watermarks that do not fit the ladder
 * or max_pool_mb.
 */
int ccs_pool_setup(void)
{
	int cls, ret;

	ccs_pool = ccs_pool_create(ccs_preset, ccs_max_pool_bytes(),
				   nr_cpu_ids);
	if (!ccs_pool)
		return -ENOMEM;
	ret = ccs_params_resolve(ccs_pool);
	if (ret) {
		ccs_pool_destroy(ccs_pool);
		ccs_pool = NULL;
		return ret;
	}
	for (cls = 0; cls < ccs_pool_nr_classes(ccs_pool); cls++) {
		memset(&ccs_kc[cls], 0, sizeof(ccs_kc[cls]));
		ccs_kc[cls].order_cap = ccs_pref_order(cls);
		ccs_set_surplus_at(cls);
		ccs_kc[cls].last_exhaust = jiffies;
		ccs_kc[cls].last_change = jiffies -
			msecs_to_jiffies(CCS_RAISE_MIN_MS);
	}
	memset(&ccs_ks, 0, sizeof(ccs_ks));
	atomic64_set(&ccs_kicks, 0);
	atomic64_set(&ccs_shared, 0);
	ccs_kick_bits = 0;
	ccs_exhaust_bits = 0;
	ccs_surplus_armed = 0;
	ccs_surplus_hint = false;
	ccs_backoff_ms = 0;
	ccs_backoff_until = jiffies;
	ccs_drain_before_retry = false;
	return 0;
}

/**
 * ccs_pool_teardown() - return every chunk and destroy the pool
 *
 * kccd has normally returned everything already.  A chunk still in use (a
 * driver that leaked a mapping) cannot be re-encrypted safely: it stays
 * shared, is counted as leaked, and the pool is leaked with it.
 */
void ccs_pool_teardown(void)
{
	int cls, nr;
	u64 left = 0;

	if (!ccs_pool)
		return;
	ccs_params_unresolve();
	ccs_convert_set_sync_task(current);
	ccs_return_all();
	ccs_convert_set_sync_task(NULL);

	nr = ccs_pool_nr_classes(ccs_pool);
	for (cls = 0; cls < nr; cls++) {
		struct ccs_class_stats st;

		ccs_class_stats(ccs_pool, cls, &st);
		left += st.bytes;
	}
	if (left) {
		pr_err("%llu KiB of shared memory still in use at unload: leaking it\n",
		       left >> 10);
		ccs_convert_leak(left >> PAGE_SHIFT);
	}
	if (ccs_pool_destroy(ccs_pool))
		pr_err("pool not empty at unload: leaking it\n");
	ccs_pool = NULL;
	ccs_forget_leaks();
}

/**
 * ccs_kccd_start() - start kccd and wait for its initial fill
 *
 * Return: 0 or the error of kthread_create().
 */
int ccs_kccd_start(void)
{
	struct task_struct *t;
	u64 t0 = ktime_get_ns();

	reinit_completion(&ccs_kccd_ready);
	t = kthread_create(ccs_kccd_thread, NULL, "kccd");
	if (IS_ERR(t))
		return PTR_ERR(t);
	WRITE_ONCE(ccs_kccd_task, t);
	wake_up_process(t);
	wait_for_completion(&ccs_kccd_ready);
	pr_info("kccd: initial fill: %llu KiB shared in %llu ms\n",
		ccs_shared_bytes() >> 10, (ktime_get_ns() - t0) / NSEC_PER_MSEC);
	return 0;
}

/**
 * ccs_kccd_stop() - stop kccd; it returns (re-encrypts) every free chunk
 */
void ccs_kccd_stop(void)
{
	struct task_struct *t = READ_ONCE(ccs_kccd_task);

	if (!t)
		return;
	kthread_stop(t);
	WRITE_ONCE(ccs_kccd_task, NULL);
}

/**
 * ccs_kccd_get_stats() - kccd totals (racy snapshot, for debugfs)
 * @st:	filled in
 */
void ccs_kccd_get_stats(struct ccs_kccd_stats *st)
{
	int cls;

	*st = ccs_ks;
	st->kicks = atomic64_read(&ccs_kicks);
	st->exhaustions = 0;
	for (cls = 0; cls < CCS_MAX_CLASSES; cls++)
		st->exhaustions += atomic64_read(&ccs_kc[cls].exhaustions);
}

/**
 * ccs_kccd_get_class_stats() - kccd's view of class @cls (for debugfs)
 * @cls:	class index
 * @st:	filled in
 */
void ccs_kccd_get_class_stats(int cls, struct ccs_kccd_class_stats *st)
{
	struct ccs_kccd_class *kc = &ccs_kc[cls];

	spin_lock(&ccs_wm_lock);
	st->cfg = ccs_wm_cfg[cls];
	st->eff = ccs_wm_eff[cls];
	spin_unlock(&ccs_wm_lock);
	st->exhaustions = atomic64_read(&kc->exhaustions);
	st->refills = kc->refills;
	st->reclaims = kc->reclaims;
	st->donated = kc->donated;
	st->order_cap = kc->order_cap;
}
