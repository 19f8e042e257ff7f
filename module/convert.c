// SPDX-License-Identifier: GPL-2.0
/*
 * Private <-> shared conversion: the only place cc_swiotlb calls
 * set_memory_decrypted() and set_memory_encrypted().
 *
 * Every call is accounted so that at all times
 *
 *	pages_decrypted == pages_held + pages_reencrypted + pages_leaked
 *
 * where pages_decrypted counts every page handed to set_memory_decrypted().
 * A failed conversion leaves its pages in an unknown state (possibly still
 * shared), so the caller never frees them: they are leaked and counted here.
 *
 * Bounded failure.  A host that refuses conversions must not make the module
 * leak without end: after CCS_BREAKER_FAILURES decrypts failed in a row the
 * breaker opens (one log line): decrypts are refused with -EAGAIN, before
 * any page changes state, and ccs_convert_paused() tells kccd to back off.
 * After CCS_BREAKER_RETRY_MS one decrypt is let through as a probe, then
 * after twice as long, up to CCS_BREAKER_RETRY_MAX_MS (each failed probe
 * leaks one chunk); the first success closes the breaker (one log line).  Re-encryption is never
 * paused: it never gives the host more memory, and a failure only moves
 * shared pages from held to leaked.  Leaked pages are reported by
 * ccs_convert_leaked_bytes() so that kccd counts them against max_pool_mb.
 *
 * Reboot and kexec: a reboot notifier (kexec runs the same chain) stops
 * all conversions (-ESHUTDOWN) and waits, bounded, for the ones in flight,
 * before the kernel itself stops them; an -EBUSY from the platform (the
 * kernel stopped conversions for kexec) is taken as "not converted" and
 * stops them too.
 *
 * The debug flavour adds an emulated cost and fault injection (debug.c).
 *
 * Conversions may sleep and must never run on the map path: a call from
 * atomic context is refused and counted, a call from anything but kccd or
 * module load/unload is counted as calls_other (the tests assert 0).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/preempt.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/set_memory.h>
#include <linux/spinlock.h>
#include "internal.h"
#include <trace/events/cc_swiotlb.h>

/* decrypt failures in a row that open the breaker */
#define CCS_BREAKER_FAILURES	4
/* while open, one probe decrypt after this long, doubling up to the max */
#define CCS_BREAKER_RETRY_MS	5000
#define CCS_BREAKER_RETRY_MAX_MS	60000
/* the reboot notifier waits this long for conversions in flight */
#define CCS_STOP_WAIT_MS	1000

/*
 * Protects the fields below.  Process context only: the atomic-context
 * guard, which is what runs elsewhere, uses nothing but atomics.
 */
static DEFINE_SPINLOCK(ccs_convert_lock);
static struct ccs_convert_stats ccs_cs;
static unsigned int ccs_fail_streak;		/* decrypts failed in a row */
static unsigned int ccs_breaker_wait_ms;	/* until the next probe */
static u64 ccs_breaker_trips;
static u64 ccs_refused_paused;			/* -EAGAIN / -ESHUTDOWN */
static struct task_struct *ccs_sync_task;	/* load/unload context */

/* read locklessly by ccs_convert_paused() */
static bool ccs_breaker_open;
static unsigned long ccs_breaker_retry;		/* jiffies, while open */
static bool ccs_convert_stopped;		/* reboot/kexec: for good */

static atomic64_t ccs_refused_atomic = ATOMIC64_INIT(0);
static atomic_t ccs_convert_inflight = ATOMIC_INIT(0);

/**
 * ccs_convert_set_sync_task() - declare the task doing load/unload-time
 * conversions (outside kccd), or NULL when done
 * @t:	task
 */
void ccs_convert_set_sync_task(struct task_struct *t)
{
	WRITE_ONCE(ccs_sync_task, t);
}

/* Called under ccs_convert_lock: count the calling context. */
static void ccs_convert_count_ctx(void)
{
	if (current == READ_ONCE(ccs_kccd_task))
		ccs_cs.calls_kccd++;
	else if (current == READ_ONCE(ccs_sync_task))
		ccs_cs.calls_sync++;
	else
		ccs_cs.calls_other++;
}

/*
 * Conversions sleep.  preemptible() also catches preempt- and
 * softirq-disabled callers; kernels without a preempt count cannot tell,
 * and get the in_task()/irqs check.  Any context: an atomic counter, no
 * lock (a spinlock here could deadlock in the very interrupt it catches).
 */
static bool ccs_convert_atomic_refused(void)
{
	bool may_sleep = IS_ENABLED(CONFIG_PREEMPT_COUNT) ? preemptible() :
			 in_task() && !irqs_disabled();

	if (likely(may_sleep))
		return false;
	atomic64_inc(&ccs_refused_atomic);
	WARN_ONCE(1, "cc_swiotlb: conversion from atomic context refused\n");
	return true;
}

/**
 * ccs_convert_paused() - are decrypts refused right now?
 *
 * True while the failure breaker is open (until its next probe is due) and
 * for good once a reboot or kexec started.  kccd backs off while it is set;
 * a decrypt then returns -EAGAIN or -ESHUTDOWN without touching memory.
 *
 * Return: true while conversions to shared are refused.
 */
bool ccs_convert_paused(void)
{
	return READ_ONCE(ccs_convert_stopped) ||
	       (READ_ONCE(ccs_breaker_open) &&
		time_before(jiffies, READ_ONCE(ccs_breaker_retry)));
}

/**
 * ccs_convert_failing() - are conversions to shared failing or stopped?
 *
 * Like ccs_convert_paused(), but also true while a probe of the open
 * breaker is due: shared memory given back now could not be replaced.
 *
 * Return: true while the breaker is open or conversions are stopped.
 */
bool ccs_convert_failing(void)
{
	return READ_ONCE(ccs_convert_stopped) || READ_ONCE(ccs_breaker_open);
}

/**
 * ccs_convert_leaked_bytes() - shared memory the module can never free
 *
 * Pages whose re-encryption failed, whose decrypt failed (state unknown) or
 * that were still in use at unload.  They stay out of the page allocator
 * for good and count against max_pool_mb.
 *
 * Return: bytes leaked so far.
 */
u64 ccs_convert_leaked_bytes(void)
{
	u64 pages;

	spin_lock(&ccs_convert_lock);
	pages = ccs_cs.pages_leaked;
	spin_unlock(&ccs_convert_lock);
	return pages << PAGE_SHIFT;
}

/* Under ccs_convert_lock: a decrypt ended with @ret (not untouched). */
static void ccs_breaker_note(int ret)
{
	if (!ret) {
		ccs_fail_streak = 0;
		if (ccs_breaker_open) {
			WRITE_ONCE(ccs_breaker_open, false);
			pr_info("conversions succeed again: breaker closed\n");
		}
		return;
	}
	if (++ccs_fail_streak < CCS_BREAKER_FAILURES)
		return;
	if (!ccs_breaker_open) {
		ccs_breaker_wait_ms = CCS_BREAKER_RETRY_MS;
		WRITE_ONCE(ccs_breaker_open, true);
		ccs_breaker_trips++;
		pr_warn("%u conversions to shared failed in a row (last: %d): pausing them, retrying after %u s, then less and less often (up to every %u s)\n",
			ccs_fail_streak, ret, CCS_BREAKER_RETRY_MS / 1000,
			CCS_BREAKER_RETRY_MAX_MS / 1000);
	} else {
		ccs_breaker_wait_ms = min(2 * ccs_breaker_wait_ms,
					  CCS_BREAKER_RETRY_MAX_MS);
	}
	WRITE_ONCE(ccs_breaker_retry,
		   jiffies + msecs_to_jiffies(ccs_breaker_wait_ms));
}

/*
 * Enter a conversion: refused (-ESHUTDOWN) once conversions are stopped.
 * The reboot notifier sets the flag, then waits for the in-flight count:
 * full barriers on both sides, so either it sees us or we see the flag.
 */
static int ccs_convert_enter(void)
{
	atomic_inc(&ccs_convert_inflight);
	smp_mb__after_atomic();	/* pairs with smp_mb() in ccs_convert_reboot() */
	if (READ_ONCE(ccs_convert_stopped)) {
		atomic_dec(&ccs_convert_inflight);
		return -ESHUTDOWN;
	}
	return 0;
}

static void ccs_convert_leave(void)
{
	atomic_dec(&ccs_convert_inflight);
}

static void ccs_convert_stop(const char *why)
{
	if (!xchg(&ccs_convert_stopped, true))
		pr_info("%s: no more conversions\n", why);
}

/**
 * ccs_convert_decrypt() - make @npages pages at @vaddr shared
 * @vaddr:	kernel virtual address (direct map), page aligned
 * @npages:	number of pages
 *
 * Process context only.  On failure the pages are in an unknown state: the
 * caller must NOT free them; they are counted as leaked here.  Except for
 * the errors ccs_convert_untouched() names, returned before any page
 * changed state: the caller frees the pages.
 *
 * Return: 0; -EPERM from atomic context, -EAGAIN while the failure breaker
 * is open, -ESHUTDOWN after a reboot/kexec started, -EBUSY when the kernel
 * stopped conversions (all untouched, not counted as conversions); or the
 * platform's error (pages leaked).
 */
int ccs_convert_decrypt(void *vaddr, unsigned int npages)
{
	bool inject, paused;
	u64 t0;
	int ret;

	if (ccs_convert_atomic_refused())
		return -EPERM;
	might_sleep();
	ret = ccs_convert_enter();
	if (ret)
		goto refused;

	spin_lock(&ccs_convert_lock);
	/* open breaker: refuse until the probe is due, then let one through */
	paused = ccs_breaker_open &&
		 time_before(jiffies, ccs_breaker_retry);
	if (!paused) {
		ccs_convert_count_ctx();
		ccs_cs.decrypt_calls++;
		ccs_cs.pages_decrypted += npages;
		ccs_cs.pages_held += npages;
		if (ccs_breaker_open)	/* this is the probe: no other */
			WRITE_ONCE(ccs_breaker_retry, jiffies +
				   msecs_to_jiffies(ccs_breaker_wait_ms));
	}
	spin_unlock(&ccs_convert_lock);
	if (paused) {
		ccs_convert_leave();
		ret = -EAGAIN;
		goto refused;
	}

	inject = ccs_debug_inject_decrypt();
	t0 = ktime_get_ns();
	ccs_debug_convert_delay(npages);
	ret = inject ? -EIO : set_memory_decrypted((unsigned long)vaddr, npages);
	t0 = ktime_get_ns() - t0;
	ccs_convert_leave();

	spin_lock(&ccs_convert_lock);
	ccs_cs.convert_ns += t0;
	if (ret == -EBUSY) {
		/* conversions stopped for kexec: nothing was converted */
		ccs_cs.decrypt_calls--;
		ccs_cs.pages_decrypted -= npages;
		ccs_cs.pages_held -= npages;
		ccs_refused_paused++;
	} else if (ret) {
		ccs_cs.decrypt_failures++;
		ccs_cs.injected_failures += inject;
		ccs_cs.pages_held -= npages;
		ccs_cs.pages_leaked += npages;
		ccs_cs.pages_leaked_decrypt += npages;
	}
	if (ret != -EBUSY)
		ccs_breaker_note(ret);
	spin_unlock(&ccs_convert_lock);
	if (!ret) {
		ccs_verify_note_shared(vaddr, npages);
	} else if (ret == -EBUSY) {
		ccs_convert_stop("the kernel stopped memory conversions (kexec)");
	} else {
		trace_cc_swiotlb_convert_fail(false, npages, ret);
		pr_warn_ratelimited("set_memory_decrypted(%u pages) failed: %d%s; pages leaked\n",
				    npages, ret, inject ? " (injected)" : "");
	}
	return ret;

refused:
	spin_lock(&ccs_convert_lock);
	ccs_refused_paused++;
	spin_unlock(&ccs_convert_lock);
	return ret;
}

/**
 * ccs_convert_encrypt() - make @npages shared pages at @vaddr private again
 * @vaddr:	kernel virtual address, page aligned
 * @npages:	number of pages
 *
 * Process context only.  On success the caller may free the pages.  On
 * failure it must not: the host may still be able to write them.  They are
 * counted as leaked here.
 *
 * Return: 0, -EPERM from atomic context (nothing done), -ESHUTDOWN after
 * a reboot/kexec started (not converted: still shared, leaked like a
 * failure), or the platform's error.
 */
int ccs_convert_encrypt(void *vaddr, unsigned int npages)
{
	bool inject = false;
	u64 t0 = 0;
	int ret;

	if (ccs_convert_atomic_refused())
		return -EPERM;
	might_sleep();

	/* No longer shared as far as mappings go, whatever the outcome. */
	ccs_verify_note_private(vaddr, npages);

	ret = ccs_convert_enter();
	if (!ret) {
		spin_lock(&ccs_convert_lock);
		ccs_convert_count_ctx();
		ccs_cs.encrypt_calls++;
		spin_unlock(&ccs_convert_lock);

		inject = ccs_debug_inject_encrypt();
		t0 = ktime_get_ns();
		ccs_debug_convert_delay(npages);
		ret = inject ? -EIO :
		      set_memory_encrypted((unsigned long)vaddr, npages);
		t0 = ktime_get_ns() - t0;
		ccs_convert_leave();
	}

	/* -ESHUTDOWN/-EBUSY: never converted, so still shared: leaked too */
	spin_lock(&ccs_convert_lock);
	ccs_cs.convert_ns += t0;
	ccs_cs.pages_held -= npages;
	if (ret) {
		if (ret == -ESHUTDOWN)
			ccs_refused_paused++;
		else
			ccs_cs.encrypt_failures++;
		ccs_cs.injected_failures += inject;
		ccs_cs.pages_leaked += npages;
		ccs_cs.pages_leaked_encrypt += npages;
	} else {
		ccs_cs.pages_reencrypted += npages;
	}
	spin_unlock(&ccs_convert_lock);
	if (ret == -EBUSY)
		ccs_convert_stop("the kernel stopped memory conversions (kexec)");
	if (ret && ret != -ESHUTDOWN) {
		trace_cc_swiotlb_convert_fail(true, npages, ret);
		pr_warn_once("set_memory_encrypted(%u pages) failed: %d%s; leaking them (never freed); see debugfs counters\n",
			     npages, ret, inject ? " (injected)" : "");
	}
	return ret;
}

/**
 * ccs_convert_leak() - account @npages shared pages abandoned in place
 * @npages:	pages still in use by a device when the module unloads
 */
void ccs_convert_leak(unsigned int npages)
{
	spin_lock(&ccs_convert_lock);
	ccs_cs.pages_held -= npages;
	ccs_cs.pages_leaked += npages;
	ccs_cs.pages_leaked_inuse += npages;
	spin_unlock(&ccs_convert_lock);
}

/**
 * ccs_convert_get_stats() - consistent snapshot of the conversion counters
 * @st:	filled in
 */
void ccs_convert_get_stats(struct ccs_convert_stats *st)
{
	spin_lock(&ccs_convert_lock);
	*st = ccs_cs;
	spin_unlock(&ccs_convert_lock);
	st->calls_refused_atomic = atomic64_read(&ccs_refused_atomic);
}

/*
 * debugfs counters: convert_paused (1 while decrypts are refused),
 * convert_stopped (reboot/kexec), convert_breaker_trips (times the breaker
 * opened), convert_refused_paused (conversions refused while paused or
 * stopped, untouched), leaked_bytes (ccs_convert_leaked_bytes()).
 */
static void ccs_convert_counters(struct seq_file *m)
{
	u64 trips, refused;

	spin_lock(&ccs_convert_lock);
	trips = ccs_breaker_trips;
	refused = ccs_refused_paused;
	spin_unlock(&ccs_convert_lock);
	seq_printf(m, "convert_paused %d\n", ccs_convert_paused());
	seq_printf(m, "convert_stopped %d\n", READ_ONCE(ccs_convert_stopped));
	seq_printf(m, "convert_breaker_trips %llu\n", trips);
	seq_printf(m, "convert_refused_paused %llu\n", refused);
	seq_printf(m, "leaked_bytes %llu\n", ccs_convert_leaked_bytes());
}

/*
 * Reboot, halt, power-off and kexec (kernel_kexec() runs this chain too):
 * stop converting before the platform refuses, and let conversions in
 * flight finish, so none is cut short with its pages in an unknown state.
 */
static int ccs_convert_reboot(struct notifier_block *nb, unsigned long action,
			      void *data)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(CCS_STOP_WAIT_MS);

	ccs_convert_stop("reboot");
	smp_mb();	/* the flag before the in-flight count, see enter() */
	while (atomic_read(&ccs_convert_inflight) &&
	       time_before(jiffies, deadline))
		msleep(20);
	if (atomic_read(&ccs_convert_inflight))
		pr_warn("reboot: %d conversions still in flight\n",
			atomic_read(&ccs_convert_inflight));
	return NOTIFY_DONE;
}

static struct notifier_block ccs_convert_reboot_nb = {
	.notifier_call = ccs_convert_reboot,
};

/**
 * ccs_convert_init() - reset the accounting, register the reboot notifier
 *
 * Return: 0 or a negative errno.
 */
int ccs_convert_init(void)
{
	int ret;

	spin_lock(&ccs_convert_lock);
	memset(&ccs_cs, 0, sizeof(ccs_cs));
	ccs_fail_streak = 0;
	ccs_breaker_trips = 0;
	ccs_refused_paused = 0;
	WRITE_ONCE(ccs_breaker_open, false);
	spin_unlock(&ccs_convert_lock);
	WRITE_ONCE(ccs_convert_stopped, false);
	atomic64_set(&ccs_refused_atomic, 0);
	ccs_verify_reset();
	ret = register_reboot_notifier(&ccs_convert_reboot_nb);
	if (ret)
		pr_err("register_reboot_notifier: %d\n", ret);
	return ret;
}

/**
 * ccs_convert_debugfs_init() - add the conversion lines to "counters"
 */
void ccs_convert_debugfs_init(void)
{
	ccs_debugfs_add_counters(ccs_convert_counters);
}

/**
 * ccs_convert_exit() - print the final accounting (module unload)
 *
 * Everything converted must by now be re-encrypted or leaked; the "final:"
 * line is what the tests read after rmmod.
 */
void ccs_convert_exit(void)
{
	struct ccs_convert_stats st;

	unregister_reboot_notifier(&ccs_convert_reboot_nb);
	ccs_verify_reset();
	ccs_convert_get_stats(&st);
	if (!st.decrypt_calls)
		return;		/* never converted anything (failed load) */
	pr_info("final: pages_decrypted=%llu pages_held=%llu pages_reencrypted=%llu pages_leaked=%llu decrypt_calls=%llu encrypt_calls=%llu decrypt_failures=%llu encrypt_failures=%llu calls_other=%llu\n",
		st.pages_decrypted, st.pages_held, st.pages_reencrypted,
		st.pages_leaked, st.decrypt_calls, st.encrypt_calls,
		st.decrypt_failures, st.encrypt_failures, st.calls_other);
	if (st.pages_held ||
	    st.pages_decrypted != st.pages_reencrypted + st.pages_leaked)
		pr_err("final: conversion accounting does not balance\n");
}
