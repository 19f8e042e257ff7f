// SPDX-License-Identifier: GPL-2.0
/*
 * kccd: the kthread that owns the arena's edge, the only place the module
 * converts memory for the pool.
 *
 * One rule: keep the arena's free shared bytes at the peak of demand (held
 * minus demand) between a low and a high watermark, in bytes, sized from
 * observed demand:
 *
 *	demand = peak mapped bytes over the current and the previous window
 *		 (a window is reclaim_ms)
 *	low    = max(watermarks LOW,  demand / 8)
 *	high   = max(watermarks HIGH, demand)
 *
 * Under low (the map path kicks kccd as soon as it sees that, and when a
 * mapping found no memory at all), kccd grows the arena up to high: whole
 * 2 MiB units (one set_memory_decrypted() call each) when the cap and the
 * buddy allocator allow, smaller ones (down to 64 KiB) otherwise; after a
 * dry drain with less than high free, by one unit.  While it cannot grow,
 * the arena's last bytes are kept for small slots (the small reserve).  When
 * even at the peak of demand more than twice high would be free (held -
 * demand > 2 * high; the peak of carved bytes counts too, see
 * ccs_kccd_pass()), and that has lasted reclaim_ms, it takes back entirely
 * free units down to high, re-encrypts and frees them (a unit that
 * cannot be re-encrypted is leaked, counted, never freed).  Over max_pool_mb
 * (lowered at runtime) free units go back at once.  Because the watermarks
 * follow the peak of a whole window, a constant workload converts nothing
 * once the arena has grown to it.  A class that allocated nothing for a
 * whole window has its cached slots flushed at the window's end, so the
 * slabs of a finished burst go back to the arena instead of pinning units.
 *
 * max_pool_mb caps everything the module holds shared: the arena, the
 * coherent allocations converted outside it, and leaked bytes.  While
 * convert.c forbids conversions (failure breaker, reboot/kexec), kccd backs
 * off; after a failed conversion it backs off exponentially (bounded) and
 * tries smaller units (seed 004's lesson).
 *
 * Load: ccs_kccd_start() returns once kccd has grown the arena to high (or
 * could not), so devices attached right after load find memory.  Unload:
 * kccd returns every free unit before it exits; ccs_pool_teardown() then
 * destroys the pool.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/freezer.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include "internal.h"
#include <trace/events/cc_swiotlb.h>

#define CCS_BACKOFF_MIN_MS	10
#define CCS_BACKOFF_MAX_MS	5000
#define CCS_PAUSED_MS		100	/* look again while conversions are off */
#define CCS_CAP_WAIT_MS		20	/* at the cap: kicks cannot help sooner */
#define CCS_GROW_BATCH		8	/* units per pass before re-checking */
#define CCS_MIN_ORDER		(CCS_GRAIN_SHIFT - PAGE_SHIFT)
#define CCS_MAX_ORDER		(CCS_UNIT_MAX_SHIFT - PAGE_SHIFT)
#define CCS_GFP		(GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY)

/* A unit that failed a conversion: kept allocated for ever, listed. */
struct ccs_leak {
	struct list_head list;
	struct page *page;
	unsigned int order;
};

struct task_struct *ccs_kccd_task;
u64 ccs_kccd_low_bytes;			/* effective low, read by the map path */

static DEFINE_MUTEX(ccs_kccd_mutex);		/* arena edge changes */
static DECLARE_WAIT_QUEUE_HEAD(ccs_kccd_wq);
static DECLARE_COMPLETION(ccs_kccd_ready);
static unsigned long ccs_kick_bits;		/* bit 0: kicked */
static bool ccs_kicks_muted;			/* kccd thread only */
static atomic64_t ccs_kicks = ATOMIC64_INIT(0);
static atomic64_t ccs_exhaustions[CCS_MAX_CLASSES];
static struct ccs_kccd_stats ccs_ks;		/* under ccs_kccd_mutex */
static LIST_HEAD(ccs_leaks);			/* under ccs_leak_lock */
static DEFINE_MUTEX(ccs_leak_lock);

/* kccd's own state, kccd thread only (or under ccs_kccd_mutex) */
static struct {
	u64 high;			/* effective high watermark */
	u64 peak_prev, peak_cur;	/* demand windows */
	u64 carved_prev, carved_cur;	/* carved peaks, same windows */
	unsigned long window_start;
	bool surplus;
	unsigned long surplus_since;
	unsigned int backoff_ms;
	unsigned long backoff_until;
	unsigned int order_cap;		/* largest order tried */
	u64 exh_seen;
	u64 dry_seen;			/* the pool's dry drains, last pass */
	unsigned long flushed_at;	/* last flush of the caches for bytes */
	u64 allocs_seen[CCS_MAX_CLASSES];	/* class allocations, last window */
} ccs_k;

/*
 * Remember a leaked unit so debugfs can show that it stays allocated.  The
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
 * ccs_kccd_show_leaks() - list leaked units: "pfn npages refcount" lines
 * @m:	seq_file of the debugfs "leaked" file
 *
 * A refcount of 0 would mean the unit went back to the page allocator.
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
 * ccs_shared_bytes() - shared memory currently held by the arena, in bytes
 */
u64 ccs_shared_bytes(void)
{
	return ccs_pool ? ccs_pool_held_bytes(ccs_pool) : 0;
}

/*
 * Everything the module holds shared, for max_pool_mb: pages converted and
 * not re-encrypted (the arena and coherent allocations converted outside
 * it), and pages leaked because a conversion failed.
 */
static u64 ccs_total_held(void)
{
	struct ccs_convert_stats cs;

	ccs_convert_get_stats(&cs);
	return ((u64)cs.pages_held << PAGE_SHIFT) + ccs_convert_leaked_bytes();
}

/*
 * At max_pool_mb: the cap leaves less than the smallest unit kccd adds, so
 * the arena cannot grow.
 */
static bool ccs_at_cap(u64 held, u64 cap)
{
	return held + SZ_64K > cap;
}

/*
 * Free shared bytes at the peak of demand: held minus the most that was
 * mapped in the last two windows, or minus what the classes have carved now
 * if that is more (every mapped byte is in a carved slab, so carved covers
 * what is mapped now).  Growth is decided on it, as the surplus is:
 * a workload whose mapped bytes swing gets its arena grown when its peaks
 * leave less than low, not only when a pass happens to sample a peak (or a
 * mapping fails) seconds later.  Carved bytes count because a class's
 * cached slots and the free slots of its partly used slabs are no use to
 * another class that needs a new slab, so a large mapping seconds into a
 * constant workload must still find an uncarved block.
 */
static u64 ccs_free_at_peak(void)
{
	u64 held = ccs_pool_held_bytes(ccs_pool);
	u64 carved = held - min(ccs_pool_uncarved_bytes(ccs_pool), held);
	u64 used = max(ccs_ks.demand, carved);

	return held > used ? held - used : 0;
}

/**
 * ccs_kccd_kick() - ask kccd to look at the arena (any context, no locks)
 * @cls:	class that asked (informational), or -1
 *
 * Does nothing while a kick is still pending, so a storm of maps costs one
 * bit test each.
 */
void ccs_kccd_kick(int cls)
{
	if (test_bit(0, &ccs_kick_bits) || test_and_set_bit(0, &ccs_kick_bits))
		return;
	atomic64_inc(&ccs_kicks);
	wake_up(&ccs_kccd_wq);
}

/**
 * ccs_kccd_note_exhaustion() - the map path found no memory for class @cls
 * @cls:	class index (anything else is only counted in the total)
 *
 * Any context, lock-free.  Counts the event and wakes kccd.
 */
void ccs_kccd_note_exhaustion(int cls)
{
	if (cls >= 0 && cls < CCS_MAX_CLASSES)
		atomic64_inc(&ccs_exhaustions[cls]);
	ccs_kccd_kick(cls);
}

/**
 * ccs_kccd_set_watermarks() - new configured watermarks (runtime write)
 *
 * The new values are in ccs_wm_low/ccs_wm_high already; kccd applies them
 * on its next pass, which this starts.
 */
void ccs_kccd_set_watermarks(void)
{
	WRITE_ONCE(ccs_kccd_low_bytes, max(READ_ONCE(ccs_kccd_low_bytes),
					   READ_ONCE(ccs_wm_low)));
	ccs_kccd_kick(-1);
}

static u64 ccs_exhaustions_total(void)
{
	u64 n = 0;
	int cls;

	for (cls = 0; cls < CCS_MAX_CLASSES; cls++)
		n += atomic64_read(&ccs_exhaustions[cls]);
	return n;
}

static unsigned long ccs_window_jiffies(void)
{
	return msecs_to_jiffies(READ_ONCE(ccs_reclaim_ms));
}

/*
 * Flush the cached free slots of every class that allocated nothing during
 * the window that just ended, and return the carved bytes that gave back to
 * the arena.  A class idle for a whole window does not need its magazines
 * warm, and its cached slots keep their slabs carved: without this, the
 * slabs of a finished burst would pin their units (and count in the carved
 * peak) for ever.  A class in use is never drained here.
 */
static u64 ccs_drain_idle_classes(void)
{
	struct ccs_arena_stats before, after;
	struct ccs_class_stats st;
	int cls, n = min(ccs_pool_nr_classes(ccs_pool), CCS_MAX_CLASSES);

	ccs_arena_stats(ccs_pool, &before);
	for (cls = 0; cls < n; cls++) {
		ccs_class_stats(ccs_pool, cls, &st);
		if (st.allocs == ccs_k.allocs_seen[cls] && st.cached) {
			ccs_pool_drain(ccs_pool, cls);
			ccs_ks.idle_drains++;
		}
		ccs_k.allocs_seen[cls] = st.allocs;
	}
	ccs_arena_stats(ccs_pool, &after);
	return before.carved_bytes > after.carved_bytes ?
		before.carved_bytes - after.carved_bytes : 0;
}

/*
 * Recompute the effective watermarks from the demand windows.  Growth
 * makes room for twice the peak seen (high = demand) and starts again only
 * when a new peak leaves less than an eighth of it free (low = demand / 8):
 * the peak of a workload's mapped bytes keeps rising through its first
 * seconds, as rarer bursts come, so an arena grown to the first peak plus a
 * small margin would grow again, and again, into a constant workload.
 */
static void ccs_size_watermarks(unsigned long now)
{
	u64 demand, low, high, idle;

	ccs_k.peak_cur = max(ccs_k.peak_cur, ccs_pool_take_peak(ccs_pool));
	ccs_k.carved_cur = max(ccs_k.carved_cur,
			       ccs_pool_take_carved_peak(ccs_pool));
	if (time_after_eq(now, ccs_k.window_start + ccs_window_jiffies())) {
		/*
		 * Bytes carved only for slots nobody took during the window
		 * were not needed in it: they leave its carved peak too.
		 */
		idle = ccs_drain_idle_classes();
		ccs_k.carved_cur -= min(idle, ccs_k.carved_cur);
		ccs_k.peak_prev = ccs_k.peak_cur;
		ccs_k.carved_prev = ccs_k.carved_cur;
		/* the new window starts from what is mapped and carved now */
		ccs_k.peak_cur = ccs_pool_take_peak(ccs_pool);
		ccs_k.carved_cur = ccs_pool_take_carved_peak(ccs_pool);
		ccs_k.window_start = now;
	}
	demand = max(ccs_k.peak_prev, ccs_k.peak_cur);
	low = max(READ_ONCE(ccs_wm_low), demand / 8);
	high = max3(READ_ONCE(ccs_wm_high), demand, low + SZ_64K);
	if (low != ccs_ks.low || high != ccs_ks.high) {
		trace_cc_swiotlb_watermark(0, ccs_ks.low >> 10, ccs_ks.high >> 10,
					   low >> 10, high >> 10,
					   demand > READ_ONCE(ccs_wm_high) ||
					   demand / 8 > READ_ONCE(ccs_wm_low) ?
					   "demand" : "configured");
		ccs_ks.watermark_changes++;
	}
	ccs_k.high = high;
	WRITE_ONCE(ccs_kccd_low_bytes, low);
	ccs_ks.low = low;
	ccs_ks.high = high;
	ccs_ks.demand = demand;
}

static void ccs_backoff(void)
{
	ccs_k.backoff_ms = ccs_k.backoff_ms ?
		min(2 * ccs_k.backoff_ms, CCS_BACKOFF_MAX_MS) : CCS_BACKOFF_MIN_MS;
	ccs_k.backoff_until = jiffies + msecs_to_jiffies(ccs_k.backoff_ms);
	ccs_ks.backoffs++;
}

/*
 * While the arena cannot grow (at max_pool_mb, or conversions off or
 * failing), its last free bytes go to slots of at most CCS_SMALL_SLOT_MAX
 * (one grain) only: one device's burst of large mappings then cannot take
 * every byte and leave another device's small ones (a NIC's packets and
 * their fragments) failing.  The reserve is a sixteenth of max_pool_mb,
 * 128 KiB to 256 KiB (whole grains): a NIC's transmit ring alone can hold
 * over a hundred 2 KiB slots beyond its receive buffers, and at a 2 MiB cap
 * a disk's large mappings need every byte they can get.  While kccd can
 * grow, its growth is the answer to a burst.
 */
static void ccs_update_small_reserve(void)
{
	bool stuck = ccs_convert_paused() || ccs_convert_failing() ||
		     ccs_at_cap(ccs_total_held(), ccs_max_pool_bytes());
	u64 reserve = clamp_t(u64, ccs_max_pool_bytes() / 16, SZ_128K, SZ_256K);

	reserve = round_down(reserve, CCS_GRAIN_SIZE);
	ccs_pool_set_small_reserve(ccs_pool, stuck ? reserve : 0);
}

/*
 * Add one unit to the arena: allocate (largest order first, at most what
 * the cap leaves), decrypt with one call, hand to the pool.  Returns the
 * unit size, -ENOSPC at the cap, -ENOMEM when no pages, or the conversion
 * error (kccd then backs off).
 */
static long ccs_grow_one(void)
{
	u64 held = ccs_total_held(), cap = ccs_max_pool_bytes();
	unsigned int order, max_order, npages, noio;
	struct page *page = NULL;
	void *vaddr;
	u64 t0;
	u32 size;
	int ret;

	if (ccs_at_cap(held, cap)) {
		ccs_ks.cap_hits++;
		return -ENOSPC;
	}
	max_order = min_t(unsigned int, ilog2((cap - held) >> PAGE_SHIFT),
			  ccs_k.order_cap);
	noio = memalloc_noio_save();
	for (order = max_order; order >= CCS_MIN_ORDER; order--) {
		if (ccs_debug_highorder_fail() &&
		    order > CCS_MIN_ORDER)
			page = NULL;
		else
			page = alloc_pages(CCS_GFP, order);
		if (page)
			break;
		ccs_ks.alloc_failures++;
	}
	memalloc_noio_restore(noio);
	if (!page) {
		ccs_backoff();
		return -ENOMEM;
	}
	if (order < CCS_MAX_ORDER)
		ccs_ks.order_fallbacks++;

	vaddr = page_address(page);
	npages = 1U << order;
	size = PAGE_SIZE << order;
	t0 = ktime_get_ns();
	ret = ccs_convert_decrypt(vaddr, npages);
	if (ret) {
		if (ccs_convert_untouched(ret)) {
			/* refused without touching the memory */
			__free_pages(page, order);
		} else {
			/* unknown state: leaked (and counted), not freed */
			ccs_record_leak(page, order);
			ccs_k.order_cap = max_t(unsigned int, order,
						CCS_MIN_ORDER + 1) - 1;
		}
		ccs_backoff();
		return ret;
	}
	ccs_k.backoff_ms = 0;
	if (ccs_k.order_cap < CCS_MAX_ORDER)
		ccs_k.order_cap++;

	memset(vaddr, 0, size);	/* the host sees zeroes, not old contents */
	/*
	 * The held bytes count this unit now: if it reaches the cap, the
	 * reserve must be in force before a burst can carve the unit.
	 */
	ccs_update_small_reserve();
	ret = ccs_arena_add(ccs_pool, vaddr, page_to_phys(page), size);
	if (ret) {
		pr_warn_ratelimited("adding a %u KiB unit to the arena failed: %d\n",
				    size >> 10, ret);
		if (!ccs_convert_encrypt(vaddr, npages))
			__free_pages(page, order);
		else
			ccs_record_leak(page, order);
		return ret;
	}
	ccs_ks.refill_units++;
	trace_cc_swiotlb_refill(0, size, ktime_get_ns() - t0);
	return size;
}

/*
 * Take one entirely free unit of at most @max_size out of the arena,
 * re-encrypt and free it.  Returns 0 when a unit left (even if it had to be
 * leaked), or -ENOENT when none is free.
 */
static int ccs_shrink_one(u32 max_size)
{
	u64 t0 = ktime_get_ns();
	phys_addr_t phys;
	void *vaddr;
	u32 size;
	int ret;

	ret = ccs_arena_take_free(ccs_pool, max_size, &vaddr, &phys, &size);
	ccs_ks.take_free_ns += ktime_get_ns() - t0;
	if (ret)
		return ret;
	ccs_ks.reclaim_units++;
	ret = ccs_convert_encrypt(vaddr, size >> PAGE_SHIFT);
	if (ret)	/* never freed: the host may still write it */
		ccs_record_leak(virt_to_page(vaddr), get_order(size));
	else
		__free_pages(virt_to_page(vaddr), get_order(size));
	trace_cc_swiotlb_reclaim(0, size, ktime_get_ns() - t0);
	return 0;
}

/*
 * One pass.  Returns 0 when there is more to do right away, else the
 * jiffies until the next look (MAX_SCHEDULE_TIMEOUT: until kicked).
 */
static long ccs_kccd_pass(void)
{
	unsigned long now = jiffies;
	u64 free, exh, dry, held, peak, excess, cap = ccs_max_pool_bytes();
	bool dry_short, short_bytes;
	long sample = ccs_window_jiffies() / 4 + 1;
	int n;

	lockdep_assert_held(&ccs_kccd_mutex);
	clear_bit(0, &ccs_kick_bits);
	ccs_kicks_muted = false;
	ccs_ks.passes++;
	ccs_update_small_reserve();
	if (ccs_convert_paused()) {
		ccs_kicks_muted = true;
		return msecs_to_jiffies(CCS_PAUSED_MS);
	}
	ccs_size_watermarks(now);

	/* over the cap (lowered at runtime): free units go back at once */
	if (ccs_total_held() > cap) {
		ccs_k.surplus = false;
		if (!ccs_shrink_one(0))
			return 0;
	}

	/*
	 * A dry drain since the last pass means a mapping found the arena
	 * without a free block and had to flush every class's caches: memory
	 * is short now, whatever the bytes say (cached slots and partly used
	 * slabs count as free below, but a class that needs a new slab cannot
	 * use them).  So the surplus starts over (else a unit kept busy by
	 * cached slots through an idle spell goes back the moment a new
	 * workload's first dry drain frees it, to be converted again for that
	 * workload), and with less than high free at the peak of demand kccd
	 * adds one unit.  One, not a batch up to high: a burst that keeps the
	 * classes dry must not make kccd overshoot.
	 */
	dry = ccs_pool_dry_drains(ccs_pool);
	dry_short = dry != ccs_k.dry_seen;
	ccs_k.dry_seen = dry;

	/*
	 * Under low, or a mapping found no memory at all since the last pass
	 * and less than high is free (then at least one unit: a large mapping
	 * may need a contiguous run that fragmented free memory does not
	 * have).  With high free already, the exhaustion came before the last
	 * growth landed: growing again would only overshoot.
	 */
	exh = ccs_exhaustions_total();
	free = ccs_free_at_peak();
	if (exh != ccs_k.exh_seen && free >= ccs_k.high)
		ccs_k.exh_seen = exh;
	short_bytes = free < READ_ONCE(ccs_kccd_low_bytes) ||
		      exh != ccs_k.exh_seen;
	/*
	 * Short by bytes alone (no mapping failed, no dry drain): the
	 * classes' cached slots keep their slabs carved, and in a mixed-size
	 * workload they fill over seconds, so first give them back to the
	 * arena (a pass over the per-CPU locks) and grow (a conversion) only
	 * if that was not enough.  At most once per sample period: a flush
	 * empties the magazines the map path runs on.
	 */
	if (short_bytes && exh == ccs_k.exh_seen && !dry_short &&
	    time_after_eq(now, ccs_k.flushed_at + sample)) {
		ccs_k.flushed_at = now;
		ccs_pool_drain(ccs_pool, -1);
		ccs_ks.cache_flushes++;
		free = ccs_free_at_peak();
		short_bytes = free < READ_ONCE(ccs_kccd_low_bytes);
	}
	if (dry_short)
		ccs_k.surplus = false;
	if (short_bytes || (dry_short && free < ccs_k.high)) {
		ccs_k.surplus = false;
		if (time_before(now, ccs_k.backoff_until)) {
			ccs_kicks_muted = true;
			return ccs_k.backoff_until - now;
		}
		ccs_k.exh_seen = exh;
		for (n = 0; n < (short_bytes ? CCS_GROW_BATCH : 1) &&
		     (!n || ccs_free_at_peak() < ccs_k.high); n++) {
			long ret = ccs_grow_one();

			/* kicks cannot help before these are over */
			ccs_kicks_muted = ret < 0;
			/* a failed conversion may have made the arena stuck */
			ccs_update_small_reserve();
			if (ret == -ENOSPC)
				return msecs_to_jiffies(CCS_CAP_WAIT_MS);
			if (ret < 0)
				return max_t(long, ccs_k.backoff_until - jiffies, 1);
			cond_resched();
		}
		return ccs_free_at_peak() < ccs_k.high ? 0 : sample;
	}

	/*
	 * Surplus: more than twice high free even at the peak of the window
	 * (the least free memory of the window, not the free memory of the
	 * moment: a workload whose mappings come and go must not make kccd
	 * give back what it will need again), for reclaim_ms; once it has
	 * started, units go back down to high.  The band between high and
	 * twice high is the hysteresis: a workload's first seconds map more
	 * at once than its steady state (all its queue is submitted together,
	 * and mappings that found no memory make the growth overshoot), and
	 * without the band the arena grown for that start goes back seconds
	 * later, into the same constant workload.  The peak is of carved
	 * bytes as well as of mapped ones: carved exceeds mapped by the slabs'
	 * unused slots, and a unit grown because carving ate the free memory
	 * (a dry drain) must not count as surplus while that carving recurs
	 * within the window.
	 */
	held = ccs_pool_held_bytes(ccs_pool);
	peak = max3(ccs_ks.demand, ccs_k.carved_prev, ccs_k.carved_cur);
	excess = held > peak + ccs_k.high ? held - peak - ccs_k.high : 0;
	if (!ccs_k.surplus && excess <= ccs_k.high)
		excess = 0;
	if (excess < SZ_64K) {
		ccs_k.surplus = false;
		return held ? sample : MAX_SCHEDULE_TIMEOUT;
	}
	/*
	 * The breaker is open (a probe may be due, so not paused): what would
	 * be given back now could not be replaced.
	 */
	if (ccs_convert_failing()) {
		ccs_k.surplus = false;
		return sample;
	}
	if (!ccs_k.surplus) {
		ccs_k.surplus = true;
		ccs_k.surplus_since = now;
	}
	if (time_before(now, ccs_k.surplus_since + ccs_window_jiffies()))
		return min_t(long, ccs_k.surplus_since + ccs_window_jiffies() - now,
			     sample);
	if (!ccs_shrink_one(rounddown_pow_of_two(min_t(u64, excess, U32_MAX))))
		return 0;		/* next unit on the next pass */
	return sample;			/* no entirely free unit yet */
}

/* Give every free unit back (unload, or load failure). */
static void ccs_return_all(void)
{
	mutex_lock(&ccs_kccd_mutex);
	while (!ccs_shrink_one(0))
		cond_resched();
	mutex_unlock(&ccs_kccd_mutex);
}

/*
 * About once a second while kccd runs (at the cap with maps refused, it
 * runs every CCS_CAP_WAIT_MS): the attach table is taken outside
 * ccs_kccd_mutex.
 */
static void ccs_kccd_check_stalls(void)
{
	static unsigned long checked;
	u64 cap = ccs_max_pool_bytes();

	if (time_before(jiffies, checked + HZ))
		return;
	checked = jiffies;
	ccs_attach_check_stalls(ccs_at_cap(ccs_total_held(), cap), cap);
}

static int ccs_kccd_thread(void *unused)
{
	long timeout;

	set_freezable();

	/* Initial growth to the high watermark before load completes */
	mutex_lock(&ccs_kccd_mutex);
	do {
		timeout = ccs_kccd_pass();
		cond_resched();
	} while (!timeout && !kthread_should_stop());
	mutex_unlock(&ccs_kccd_mutex);
	complete(&ccs_kccd_ready);

	while (!kthread_should_stop()) {
		if (timeout)
			wait_event_freezable_timeout(ccs_kccd_wq,
						     (READ_ONCE(ccs_kick_bits) &&
						      !ccs_kicks_muted) ||
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
		ccs_kccd_check_stalls();
		cond_resched();
	}

	ccs_return_all();
	return 0;
}

/**
 * ccs_pool_setup() - create the (empty) pool
 *
 * Return: 0 or -ENOMEM.
 */
int ccs_pool_setup(void)
{
	int cls;

	ccs_pool = ccs_pool_create(ccs_preset, ccs_max_pool_bytes(),
				   nr_cpu_ids);
	if (!ccs_pool)
		return -ENOMEM;
	ccs_params_resolve(ccs_pool);
	ccs_pool_set_reserve_gate(ccs_pool, ccs_shim_within_share);
	memset(&ccs_ks, 0, sizeof(ccs_ks));
	memset(&ccs_k, 0, sizeof(ccs_k));
	ccs_k.order_cap = CCS_MAX_ORDER;
	ccs_k.window_start = jiffies;
	ccs_k.backoff_until = jiffies;
	ccs_k.flushed_at = jiffies - ccs_window_jiffies();
	for (cls = 0; cls < CCS_MAX_CLASSES; cls++)
		atomic64_set(&ccs_exhaustions[cls], 0);
	atomic64_set(&ccs_kicks, 0);
	ccs_kick_bits = 0;
	WRITE_ONCE(ccs_kccd_low_bytes, READ_ONCE(ccs_wm_low));
	return 0;
}

/**
 * ccs_pool_teardown() - return every unit and destroy the pool
 *
 * kccd has normally returned everything already.  Memory still in use (a
 * driver that leaked a mapping) cannot be re-encrypted safely: it stays
 * shared, is counted as leaked, and the pool is leaked with it.
 */
void ccs_pool_teardown(void)
{
	u64 left;

	if (!ccs_pool)
		return;
	ccs_params_unresolve();
	ccs_convert_set_sync_task(current);
	ccs_return_all();
	ccs_convert_set_sync_task(NULL);

	left = ccs_pool_held_bytes(ccs_pool);
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
 * ccs_kccd_start() - start kccd and wait for its initial growth
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
 * ccs_kccd_stop() - stop kccd; it returns (re-encrypts) every free unit
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
	unsigned long since = READ_ONCE(ccs_k.surplus_since);

	*st = ccs_ks;
	st->kicks = atomic64_read(&ccs_kicks);
	st->exhaustions = ccs_exhaustions_total();
	/* as of kccd's last pass; racy by design (statistics) */
	st->surplus_ms = READ_ONCE(ccs_k.surplus) ?
			 jiffies_to_msecs(jiffies - since) : 0;
}

/**
 * ccs_kccd_class_exhaustions() - mappings of class @cls that found no memory
 * @cls:	class index
 *
 * Return: the count since load.
 */
u64 ccs_kccd_class_exhaustions(int cls)
{
	if (cls < 0 || cls >= CCS_MAX_CLASSES)
		return 0;
	return atomic64_read(&ccs_exhaustions[cls]);
}
