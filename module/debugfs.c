// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/cc_swiotlb/ (root only)
 *
 *   stats		per-class table and totals, for humans
 *   counters		"name value" per line, for scripts (names are an API:
 *			add, never rename)
 *   reset_hiwater	write 1: high-water marks (classes, mapped_bytes)
 *			:= current use
 *   leaked		chunks leaked after a failed conversion, never freed:
 *			"pfn npages refcount" per line
 *
 * The only writable file of the production module is reset_hiwater; the
 * debug flavour (make module-debug) adds its test files, see debug.c.
 *
 * Other files add their own files under ccs_debugfs_root, and lines to
 * "counters" with ccs_debugfs_add_counters().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "internal.h"

#define CCS_MAX_COUNTER_FNS	8

struct dentry *ccs_debugfs_root;

static void (*ccs_counter_fns[CCS_MAX_COUNTER_FNS])(struct seq_file *m);
static DEFINE_MUTEX(ccs_debugfs_lock);	/* counter fns */

/**
 * ccs_debugfs_add_counters() - add lines to the "counters" file
 * @show:	prints "name value\n" lines with seq_printf(); called in
 *		process context, may sleep; must stay valid until unload
 *
 * Return: 0, or -ENOSPC when all slots are taken.
 */
int ccs_debugfs_add_counters(void (*show)(struct seq_file *m))
{
	int i, ret = -ENOSPC;

	mutex_lock(&ccs_debugfs_lock);
	for (i = 0; i < CCS_MAX_COUNTER_FNS; i++) {
		if (!ccs_counter_fns[i]) {
			ccs_counter_fns[i] = show;
			ret = 0;
			break;
		}
	}
	mutex_unlock(&ccs_debugfs_lock);
	return ret;
}

static int ccs_stats_show(struct seq_file *m, void *v)
{
	int cls, nr = ccs_pool_nr_classes(ccs_pool);
	struct ccs_convert_stats cs;
	struct ccs_arena_stats as;
	struct ccs_kccd_stats ks;

	seq_printf(m, "%8s %6s %9s %8s %8s %8s %8s %8s %10s %10s %8s %8s %6s\n",
		   "class", "slabs", "KiB", "total", "free", "in_use",
		   "cached", "hiwater", "allocs", "frees", "fallback",
		   "failures", "exhst");
	for (cls = 0; cls < nr; cls++) {
		struct ccs_class_stats st;

		ccs_class_stats(ccs_pool, cls, &st);
		seq_printf(m, "%8u %6u %9llu %8llu %8llu %8llu %8llu %8llu %10llu %10llu %8llu %8llu %6llu\n",
			   st.slot_size, st.chunks, st.bytes >> 10, st.total,
			   st.free, st.in_use, st.cached, st.hiwater,
			   st.allocs, st.frees, st.fallbacks, st.failures,
			   ccs_kccd_class_exhaustions(cls));
	}

	ccs_arena_stats(ccs_pool, &as);
	ccs_convert_get_stats(&cs);
	ccs_kccd_get_stats(&ks);
	seq_printf(m, "\narena: %llu KiB held in %llu units (%llu entirely free), %llu KiB free (largest run %llu KiB), %llu KiB carved into classes, %llu KiB mapped; cap %llu KiB\n",
		   as.bytes >> 10, as.units, as.free_units, as.free_bytes >> 10,
		   as.largest_free >> 10, as.carved_bytes >> 10,
		   as.mapped_bytes >> 10, ccs_max_pool_bytes() >> 10);
	seq_printf(m, "arena: %llu slabs carved, %llu given back, %llu dry drains, %llu KiB kept for small slots (%llu carves of a device over its share kept out); mapped high-water %llu KiB (held then %llu KiB)\n",
		   as.carves, as.slab_returns, as.dry_drains,
		   as.small_reserve >> 10, as.reserve_gated,
		   as.mapped_hiwater >> 10, as.held_at_mapped_hiwater >> 10);
	seq_printf(m, "pages: %llu decrypted = %llu held + %llu re-encrypted + %llu leaked (%llu decrypt failed, %llu encrypt failed, %llu in use at unload)\n",
		   cs.pages_decrypted, cs.pages_held, cs.pages_reencrypted,
		   cs.pages_leaked, cs.pages_leaked_decrypt,
		   cs.pages_leaked_encrypt, cs.pages_leaked_inuse);
	seq_printf(m, "conversions: %llu decrypt + %llu encrypt calls, %llu us, %llu failed (%llu injected); by kccd %llu, at load/unload %llu, elsewhere %llu, refused in atomic context %llu\n",
		   cs.decrypt_calls, cs.encrypt_calls,
		   cs.convert_ns / NSEC_PER_USEC,
		   cs.decrypt_failures + cs.encrypt_failures,
		   cs.injected_failures, cs.calls_kccd, cs.calls_sync,
		   cs.calls_other, cs.calls_refused_atomic);
	seq_printf(m, "kccd: watermarks %llu:%llu KiB (configured %llu:%llu), demand %llu KiB; %llu passes, %llu kicks, %llu exhaustion events, %llu units added, %llu returned, %llu alloc failures, %llu order fallbacks, %llu cap hits, %llu backoffs\n",
		   ks.low >> 10, ks.high >> 10, READ_ONCE(ccs_wm_low) >> 10,
		   READ_ONCE(ccs_wm_high) >> 10, ks.demand >> 10, ks.passes,
		   ks.kicks, ks.exhaustions, ks.refill_units, ks.reclaim_units,
		   ks.alloc_failures, ks.order_fallbacks, ks.cap_hits,
		   ks.backoffs);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ccs_stats);

#define CCS_PUT(name, val) \
	seq_printf(m, "%s %llu\n", name, (unsigned long long)(val))
#define CCS_PUT_CLS(sz, name, val) \
	seq_printf(m, "class%u_%s %llu\n", sz, name, (unsigned long long)(val))

static int ccs_counters_show(struct seq_file *m, void *v)
{
	int i, cls, nr = ccs_pool_nr_classes(ccs_pool);
	struct ccs_convert_stats cs;
	struct ccs_arena_stats as;
	struct ccs_kccd_stats ks;

	ccs_arena_stats(ccs_pool, &as);
	ccs_convert_get_stats(&cs);
	ccs_kccd_get_stats(&ks);
	CCS_PUT("nr_classes", nr);
	CCS_PUT("max_pool_bytes", ccs_max_pool_bytes());
	CCS_PUT("shared_bytes", as.bytes);
	CCS_PUT("arena_bytes", as.bytes);
	CCS_PUT("arena_free_bytes", as.free_bytes);
	CCS_PUT("arena_carved_bytes", as.carved_bytes);
	CCS_PUT("arena_units", as.units);
	CCS_PUT("arena_free_units", as.free_units);
	CCS_PUT("arena_largest_free", as.largest_free);
	CCS_PUT("arena_carves", as.carves);
	CCS_PUT("arena_slab_returns", as.slab_returns);
	CCS_PUT("arena_dry_drains", as.dry_drains);
	CCS_PUT("arena_small_reserve_bytes", as.small_reserve);
	CCS_PUT("arena_reserve_gated", as.reserve_gated);
	CCS_PUT("free_shared_bytes", ccs_pool_free_bytes(ccs_pool));
	CCS_PUT("mapped_bytes", as.mapped_bytes);
	CCS_PUT("mapped_bytes_hiwater", as.mapped_hiwater);
	CCS_PUT("held_bytes_at_mapped_hiwater", as.held_at_mapped_hiwater);
	CCS_PUT("bad_frees", ccs_pool_bad_frees(ccs_pool));
	CCS_PUT("pages_decrypted", cs.pages_decrypted);
	CCS_PUT("pages_held", cs.pages_held);
	CCS_PUT("pages_reencrypted", cs.pages_reencrypted);
	CCS_PUT("pages_leaked", cs.pages_leaked);
	CCS_PUT("pages_leaked_decrypt", cs.pages_leaked_decrypt);
	CCS_PUT("pages_leaked_encrypt", cs.pages_leaked_encrypt);
	CCS_PUT("pages_leaked_inuse", cs.pages_leaked_inuse);
	CCS_PUT("decrypt_calls", cs.decrypt_calls);
	CCS_PUT("encrypt_calls", cs.encrypt_calls);
	CCS_PUT("conversions", cs.decrypt_calls + cs.encrypt_calls);
	CCS_PUT("decrypt_failures", cs.decrypt_failures);
	CCS_PUT("encrypt_failures", cs.encrypt_failures);
	CCS_PUT("injected_failures", cs.injected_failures);
	CCS_PUT("convert_ns", cs.convert_ns);
	CCS_PUT("convert_calls_kccd", cs.calls_kccd);
	CCS_PUT("convert_calls_sync", cs.calls_sync);
	CCS_PUT("convert_calls_other", cs.calls_other);
	CCS_PUT("convert_refused_atomic", cs.calls_refused_atomic);
	CCS_PUT("kccd_passes", ks.passes);
	CCS_PUT("kccd_kicks", ks.kicks);
	CCS_PUT("kccd_low_bytes", ks.low);
	CCS_PUT("kccd_high_bytes", ks.high);
	CCS_PUT("kccd_demand_bytes", ks.demand);
	CCS_PUT("kccd_surplus_ms", ks.surplus_ms);
	CCS_PUT("watermark_changes", ks.watermark_changes);
	CCS_PUT("idle_drains", ks.idle_drains);
	CCS_PUT("kccd_cache_flushes", ks.cache_flushes);
	CCS_PUT("watermark_low_bytes", READ_ONCE(ccs_wm_low));
	CCS_PUT("watermark_high_bytes", READ_ONCE(ccs_wm_high));
	CCS_PUT("exhaustion_events", ks.exhaustions);
	CCS_PUT("refill_chunks", ks.refill_units);
	CCS_PUT("reclaim_chunks", ks.reclaim_units);
	CCS_PUT("alloc_failures", ks.alloc_failures);
	CCS_PUT("order_fallbacks", ks.order_fallbacks);
	CCS_PUT("cap_hits", ks.cap_hits);
	CCS_PUT("backoffs", ks.backoffs);
	CCS_PUT("take_free_ns", ks.take_free_ns);

	for (cls = 0; cls < nr; cls++) {
		struct ccs_class_stats st;
		u32 sz;

		ccs_class_stats(ccs_pool, cls, &st);
		sz = st.slot_size;
		CCS_PUT_CLS(sz, "index", cls);
		CCS_PUT_CLS(sz, "chunk_size", ccs_class_chunk_size(ccs_pool, cls));
		CCS_PUT_CLS(sz, "chunks", st.chunks);
		CCS_PUT_CLS(sz, "bytes", st.bytes);
		CCS_PUT_CLS(sz, "total", st.total);
		CCS_PUT_CLS(sz, "free", st.free);
		CCS_PUT_CLS(sz, "in_use", st.in_use);
		CCS_PUT_CLS(sz, "cached", st.cached);
		CCS_PUT_CLS(sz, "hiwater", st.hiwater);
		CCS_PUT_CLS(sz, "allocs", st.allocs);
		CCS_PUT_CLS(sz, "frees", st.frees);
		CCS_PUT_CLS(sz, "fallbacks", st.fallbacks);
		CCS_PUT_CLS(sz, "failures", st.failures);
		CCS_PUT_CLS(sz, "exhaustions", ccs_kccd_class_exhaustions(cls));
	}

	mutex_lock(&ccs_debugfs_lock);
	for (i = 0; i < CCS_MAX_COUNTER_FNS; i++)
		if (ccs_counter_fns[i])
			ccs_counter_fns[i](m);
	mutex_unlock(&ccs_debugfs_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ccs_counters);

static int ccs_leaked_show(struct seq_file *m, void *v)
{
	ccs_kccd_show_leaks(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ccs_leaked);

static ssize_t ccs_reset_hiwater_write(struct file *file,
				       const char __user *ubuf, size_t count,
				       loff_t *ppos)
{
	bool on;
	int ret;

	ret = kstrtobool_from_user(ubuf, count, &on);
	if (ret)
		return ret;
	if (on)
		ccs_pool_reset_hiwater(ccs_pool);
	return count;
}

static const struct file_operations ccs_reset_hiwater_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = ccs_reset_hiwater_write,
	.llseek = noop_llseek,
};

/**
 * ccs_debugfs_init() - create /sys/kernel/debug/cc_swiotlb/
 *
 * debugfs failures are not fatal (and the debugfs API wants them ignored).
 */
void ccs_debugfs_init(void)
{
	struct dentry *d;

	d = debugfs_create_dir(CCS_NAME, NULL);
	ccs_debugfs_root = d;
	debugfs_create_file("stats", 0400, d, NULL, &ccs_stats_fops);
	debugfs_create_file("counters", 0400, d, NULL, &ccs_counters_fops);
	debugfs_create_file("leaked", 0400, d, NULL, &ccs_leaked_fops);
	debugfs_create_file("reset_hiwater", 0200, d, NULL,
			    &ccs_reset_hiwater_fops);
}

/**
 * ccs_debugfs_exit() - remove the directory
 */
void ccs_debugfs_exit(void)
{
	debugfs_remove_recursive(ccs_debugfs_root);
	ccs_debugfs_root = NULL;
	mutex_lock(&ccs_debugfs_lock);
	memset(ccs_counter_fns, 0, sizeof(ccs_counter_fns));
	mutex_unlock(&ccs_debugfs_lock);
}
