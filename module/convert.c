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
 * In a non-confidential test guest the conversions succeed and do nothing,
 * so debugfs knobs add an emulated cost (a sleep per call and per page) and
 * inject failures (every Nth decrypt or encrypt call fails with -EIO).
 *
 * Conversions may sleep and must never run on the map path: a call from
 * atomic context is refused and counted, a call from anything but kccd or
 * module load/unload is counted as calls_other (the tests assert 0).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/set_memory.h>
#include <linux/spinlock.h>
#include "internal.h"
#include <trace/events/cc_swiotlb.h>

#define CCS_EMULATE_MAX_US	1000000		/* bound every emulated delay */

u32 ccs_inject_decrypt_fail_every;
u32 ccs_inject_encrypt_fail_every;
u32 ccs_emulate_call_us;
u32 ccs_emulate_page_ns;
u32 ccs_inject_highorder_fail;
u32 ccs_stall_kccd;

static DEFINE_SPINLOCK(ccs_convert_lock);	/* protects the fields below */
static struct ccs_convert_stats ccs_cs;
static u64 ccs_decrypt_seq, ccs_encrypt_seq;	/* for fault injection */
static struct task_struct *ccs_sync_task;	/* load/unload context */

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

static bool ccs_convert_atomic_refused(void)
{
	if (likely(in_task() && !irqs_disabled()))
		return false;
	spin_lock(&ccs_convert_lock);
	ccs_cs.calls_refused_atomic++;
	spin_unlock(&ccs_convert_lock);
	WARN_ONCE(1, "cc_swiotlb: conversion from atomic context refused\n");
	return true;
}

/* Emulated cost of a conversion on a real CoCo platform (test knob). */
static void ccs_convert_emulate(unsigned int npages)
{
	u64 us = min_t(u32, READ_ONCE(ccs_emulate_call_us), CCS_EMULATE_MAX_US);
	u64 ns = (u64)READ_ONCE(ccs_emulate_page_ns) * npages;

	us += min_t(u64, ns / NSEC_PER_USEC, CCS_EMULATE_MAX_US);
	ns %= NSEC_PER_USEC;
	if (us >= 10)
		usleep_range(us, us + us / 8 + 1);
	else if (us)
		udelay(us);
	if (ns)
		ndelay(ns);
}

/* Does fault injection fail this call?  @seq, @every under the lock. */
static bool ccs_convert_inject(u64 *seq, u32 every)
{
	if (!every)
		return false;
	return ++*seq % every == 0;
}

/**
 * ccs_convert_decrypt() - make @npages pages at @vaddr shared
 * @vaddr:	kernel virtual address (direct map), page aligned
 * @npages:	number of pages
 *
 * Process context only.  On failure the pages are in an unknown state: the
 * caller must NOT free them; they are counted as leaked here.
 *
 * Return: 0, -EPERM from atomic context (nothing converted, nothing
 * counted), or the platform's error.
 */
int ccs_convert_decrypt(void *vaddr, unsigned int npages)
{
	bool inject;
	u64 t0;
	int ret;

	if (ccs_convert_atomic_refused())
		return -EPERM;
	might_sleep();

	spin_lock(&ccs_convert_lock);
	ccs_convert_count_ctx();
	ccs_cs.decrypt_calls++;
	ccs_cs.pages_decrypted += npages;
	ccs_cs.pages_held += npages;
	inject = ccs_convert_inject(&ccs_decrypt_seq,
				    READ_ONCE(ccs_inject_decrypt_fail_every));
	spin_unlock(&ccs_convert_lock);

	t0 = ktime_get_ns();
	ccs_convert_emulate(npages);
	ret = inject ? -EIO : set_memory_decrypted((unsigned long)vaddr, npages);
	t0 = ktime_get_ns() - t0;

	spin_lock(&ccs_convert_lock);
	ccs_cs.convert_ns += t0;
	if (ret) {
		ccs_cs.decrypt_failures++;
		ccs_cs.injected_failures += inject;
		ccs_cs.pages_held -= npages;
		ccs_cs.pages_leaked += npages;
		ccs_cs.pages_leaked_decrypt += npages;
	}
	spin_unlock(&ccs_convert_lock);
	if (!ret) {
		ccs_verify_note_shared(vaddr, npages);
	} else {
		trace_cc_swiotlb_convert_fail(false, npages, ret);
		pr_warn_ratelimited("set_memory_decrypted(%u pages) failed: %d%s; pages leaked\n",
				    npages, ret, inject ? " (injected)" : "");
	}
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
 * Return: 0, -EPERM from atomic context (nothing done), or the platform's
 * error.
 */
int ccs_convert_encrypt(void *vaddr, unsigned int npages)
{
	bool inject;
	u64 t0;
	int ret;

	if (ccs_convert_atomic_refused())
		return -EPERM;
	might_sleep();

	/* No longer shared as far as mappings go, whatever the outcome. */
	ccs_verify_note_private(vaddr, npages);

	spin_lock(&ccs_convert_lock);
	ccs_convert_count_ctx();
	ccs_cs.encrypt_calls++;
	inject = ccs_convert_inject(&ccs_encrypt_seq,
				    READ_ONCE(ccs_inject_encrypt_fail_every));
	spin_unlock(&ccs_convert_lock);

	t0 = ktime_get_ns();
	ccs_convert_emulate(npages);
	ret = inject ? -EIO : set_memory_encrypted((unsigned long)vaddr, npages);
	t0 = ktime_get_ns() - t0;

	spin_lock(&ccs_convert_lock);
	ccs_cs.convert_ns += t0;
	ccs_cs.pages_held -= npages;
	if (ret) {
		ccs_cs.encrypt_failures++;
		ccs_cs.injected_failures += inject;
		ccs_cs.pages_leaked += npages;
		ccs_cs.pages_leaked_encrypt += npages;
	} else {
		ccs_cs.pages_reencrypted += npages;
	}
	spin_unlock(&ccs_convert_lock);
	if (ret)
		trace_cc_swiotlb_convert_fail(true, npages, ret);
	if (ret)
		pr_warn_once("set_memory_encrypted(%u pages) failed: %d%s; leaking them (never freed); see debugfs counters\n",
			     npages, ret, inject ? " (injected)" : "");
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
}

/**
 * ccs_convert_init() - reset the accounting (module load)
 *
 * Return: 0.
 */
int ccs_convert_init(void)
{
	spin_lock(&ccs_convert_lock);
	memset(&ccs_cs, 0, sizeof(ccs_cs));
	ccs_decrypt_seq = 0;
	ccs_encrypt_seq = 0;
	spin_unlock(&ccs_convert_lock);
	ccs_verify_reset();
	return 0;
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

/**
 * ccs_convert_leaked_bytes() - bytes leaked because a conversion failed or
 * memory was still in use at unload; they count against max_pool_mb
 *
 * Stub until helper "own"'s convert.c provides the real one (same meaning).
 */
u64 ccs_convert_leaked_bytes(void)
{
	struct ccs_convert_stats st;

	ccs_convert_get_stats(&st);
	return (u64)st.pages_leaked << PAGE_SHIFT;
}

/**
 * ccs_convert_paused() - true while conversions are forbidden
 *
 * Stub until helper "own"'s convert.c provides the real one (failure
 * breaker, reboot/kexec stop): conversions are never paused here.
 */
bool ccs_convert_paused(void)
{
	return false;
}
