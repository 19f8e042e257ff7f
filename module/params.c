// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of cc_swiotlb and their validation.
 *
 * watermarks=LOW:HIGH (default 512K:2M, at most 1/8:1/2 of max_pool_mb;
 *	runtime writable)
 *	The arena's free shared memory, in bytes (sizes as the kernel parses
 *	them: 512K, 2M, 1048576).  kccd grows the arena when fewer than LOW
 *	bytes are free, up to HIGH, and gives back what lies above HIGH once
 *	more than twice HIGH has been free for reclaim_ms.  These are floors:
 *	kccd raises both with the observed demand (HIGH to the peak mapped
 *	bytes of the last two reclaim_ms windows, LOW to an eighth of them).
 *	Rules: LOW <= HIGH, HIGH <= max_pool_mb.  The old per-class list
 *	(watermarks=1,2,3 or SIZE=LOW:HIGH) is refused.
 *
 * max_pool_mb=N (default: half of stock swiotlb's default size, 3% of RAM
 *	clamped to [32 MiB, 512 MiB], but at most half of RAM)
 *	Hard cap on everything the module holds shared: the arena, coherent
 *	allocations converted outside it, and memory leaked after a failed
 *	re-encryption.  Runtime writable between 1 and the value at load (the
 *	pool's lookup is sized for it); a lower value makes kccd give free
 *	memory back at once (memory in use stays until it is unmapped).
 *
 * reclaim_ms=N (default 2000, 100..3600000; runtime writable)
 *	How long a surplus (more than twice HIGH free) must last before kccd
 *	gives back what lies above HIGH; also the length of the demand window.
 *
 * classes=pow2|rfc (load time only; default pow2)
 *	Size-class ladder: "rfc" is the RFC's five classes (512B 2K 4K 16K
 *	512K), "pow2" every power of two from 512 B to 512 KiB.
 *
 * watermarks_high=, auto_tune= (removed)
 *	Refused with a reason: the arena has one pair of watermarks, sized
 *	from demand.
 *
 * Bad values make the module refuse to load (-EINVAL, one pr_err line
 * naming the parameter), or a runtime write fail (-EINVAL, one pr_warn).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include "internal.h"

#define CCS_RECLAIM_MS_MIN	100
#define CCS_RECLAIM_MS_MAX	3600000
#define CCS_DEFAULT_LOW		SZ_512K
#define CCS_DEFAULT_HIGH	SZ_2M

enum ccs_preset ccs_preset = CCS_PRESET_POW2;
unsigned int ccs_max_pool_mb;
unsigned int ccs_reclaim_ms = 2000;
u64 ccs_wm_low;
u64 ccs_wm_high;

/* Set once the pool exists: from then on writes are validated and applied. */
static struct ccs_pool *ccs_params_pool;
static unsigned int ccs_max_pool_mb_load;	/* cap the pool was sized for */
static bool ccs_wm_given;			/* watermarks= at load */

/* pr_err while loading (the module will refuse to load), pr_warn after */
static __printf(1, 2) void ccs_param_bad(const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	if (ccs_params_pool)
		pr_warn("%pV\n", &vaf);
	else
		pr_err("%pV\n", &vaf);
	va_end(args);
}

/* A size the way the kernel parses sizes, nothing after it. */
static int ccs_parse_bytes(const char *s, size_t len, u64 *out)
{
	char buf[24], *end;

	if (!len || len >= sizeof(buf) || *s < '0' || *s > '9')
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = memparse(buf, &end);
	return *end ? -EINVAL : 0;
}

static int ccs_wm_set(const char *val, const struct kernel_param *kp)
{
	char str[64];
	const char *colon;
	u64 low, high;

	if (strscpy(str, val, sizeof(str)) < 0) {
		ccs_param_bad("watermarks: must be LOW:HIGH, sizes in bytes (e.g. 2M:8M)");
		return -EINVAL;
	}
	strim(str);
	if (strpbrk(str, ",=")) {
		ccs_param_bad("watermarks: \"%s\": per-class lists are gone, use LOW:HIGH bytes",
			      str);
		return -EINVAL;
	}
	colon = strchr(str, ':');
	if (!colon || ccs_parse_bytes(str, colon - str, &low) ||
	    ccs_parse_bytes(colon + 1, strlen(colon + 1), &high)) {
		ccs_param_bad("watermarks: \"%s\": must be LOW:HIGH, sizes in bytes (e.g. 2M:8M)",
			      str);
		return -EINVAL;
	}
	if (low > high) {
		ccs_param_bad("watermarks: LOW %llu > HIGH %llu", low, high);
		return -EINVAL;
	}
	if (ccs_params_pool && high > ccs_max_pool_bytes()) {
		ccs_param_bad("watermarks: HIGH %llu KiB over max_pool_mb=%u",
			      high >> 10, READ_ONCE(ccs_max_pool_mb));
		return -EINVAL;
	}
	WRITE_ONCE(ccs_wm_low, low);
	WRITE_ONCE(ccs_wm_high, high);
	if (ccs_params_pool)
		ccs_kccd_set_watermarks();
	else
		ccs_wm_given = true;
	return 0;
}

static int ccs_wm_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%llu:%llu\n", READ_ONCE(ccs_wm_low),
			 READ_ONCE(ccs_wm_high));
}

static const struct kernel_param_ops ccs_wm_ops = {
	.set = ccs_wm_set,
	.get = ccs_wm_get,
};

module_param_cb(watermarks, &ccs_wm_ops, NULL, 0644);
MODULE_PARM_DESC(watermarks,
		 "LOW:HIGH free shared bytes kccd keeps in the arena, e.g. 2M:8M; floors, raised with demand (default 512K:2M, at most 1/8:1/2 of max_pool_mb)");

/* Parameters of the first design: refused with what to use instead. */
static int ccs_removed_set(const char *val, const struct kernel_param *kp)
{
	ccs_param_bad("%s: removed, use watermarks=LOW:HIGH (bytes, raised with demand)",
		      kp->name);
	return -EINVAL;
}

static int ccs_removed_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "(removed)\n");
}

static const struct kernel_param_ops ccs_removed_ops = {
	.set = ccs_removed_set,
	.get = ccs_removed_get,
};

module_param_cb(watermarks_high, &ccs_removed_ops, NULL, 0444);
MODULE_PARM_DESC(watermarks_high, "removed: use watermarks=LOW:HIGH");
module_param_cb(auto_tune, &ccs_removed_ops, NULL, 0444);
MODULE_PARM_DESC(auto_tune,
		 "removed: kccd sizes the watermarks from demand");

/*
 * Half of stock swiotlb's default in a confidential guest (6% of RAM in
 * [64 MiB, 1 GiB]): the module is loaded beside stock's pool, which the
 * kernel reserved at boot, so a cap of stock's whole size would let the
 * pair hold twice what stock alone does.
 */
static unsigned int ccs_default_max_pool_mb(void)
{
	u64 ram_mb = ((u64)totalram_pages() << PAGE_SHIFT) >> 20;
	u64 mb = clamp_t(u64, ram_mb * 3 / 100, 32, 512);

	return max_t(u64, 1, min(mb, ram_mb / 2));
}

static int ccs_max_pool_set(const char *val, const struct kernel_param *kp)
{
	u64 ram_mb = ((u64)totalram_pages() << PAGE_SHIFT) >> 20;
	unsigned int mb;

	if (kstrtouint(val, 0, &mb) || !mb) {
		ccs_param_bad("max_pool_mb: must be a size in MiB >= 1");
		return -EINVAL;
	}
	if (mb > ram_mb) {
		ccs_param_bad("max_pool_mb: %u MiB is more than RAM (%llu MiB)",
			      mb, ram_mb);
		return -EINVAL;
	}
	if (ccs_params_pool) {
		if (mb > ccs_max_pool_mb_load) {
			ccs_param_bad("max_pool_mb: %u over the load-time %u (reload to raise)",
				      mb, ccs_max_pool_mb_load);
			return -EINVAL;
		}
		/* below what is held: kccd gives free memory back */
		WRITE_ONCE(ccs_max_pool_mb, mb);
		ccs_kccd_kick(-1);
		return 0;
	}
	ccs_max_pool_mb = mb;
	return 0;
}

static const struct kernel_param_ops ccs_max_pool_ops = {
	.set = ccs_max_pool_set,
	.get = param_get_uint,
};

module_param_cb(max_pool_mb, &ccs_max_pool_ops, &ccs_max_pool_mb, 0644);
MODULE_PARM_DESC(max_pool_mb,
		 "hard cap on all shared memory the module holds (arena, coherent, leaked), MiB; runtime writes down to 1 give memory back (default: 3% of RAM in [32, 512], at most RAM/2)");

static int ccs_reclaim_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;

	if (kstrtouint(val, 0, &ms) || ms < CCS_RECLAIM_MS_MIN ||
	    ms > CCS_RECLAIM_MS_MAX) {
		ccs_param_bad("reclaim_ms: must be a number of ms in [%u, %u]",
			      CCS_RECLAIM_MS_MIN, CCS_RECLAIM_MS_MAX);
		return -EINVAL;
	}
	WRITE_ONCE(ccs_reclaim_ms, ms);
	if (ccs_params_pool)
		ccs_kccd_kick(-1);
	return 0;
}

static const struct kernel_param_ops ccs_reclaim_ops = {
	.set = ccs_reclaim_set,
	.get = param_get_uint,
};

module_param_cb(reclaim_ms, &ccs_reclaim_ops, &ccs_reclaim_ms, 0644);
MODULE_PARM_DESC(reclaim_ms,
		 "free memory over twice HIGH for this long goes back down to HIGH; also the demand window, ms (default 2000)");

static int ccs_classes_set(const char *val, const struct kernel_param *kp)
{
	if (sysfs_streq(val, "rfc")) {
		ccs_preset = CCS_PRESET_RFC;
	} else if (sysfs_streq(val, "pow2")) {
		ccs_preset = CCS_PRESET_POW2;
	} else {
		ccs_param_bad("classes: must be \"rfc\" or \"pow2\"");
		return -EINVAL;
	}
	return 0;
}

static int ccs_classes_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%s\n",
			 ccs_preset == CCS_PRESET_POW2 ? "pow2" : "rfc");
}

static const struct kernel_param_ops ccs_classes_ops = {
	.set = ccs_classes_set,
	.get = ccs_classes_get,
};

module_param_cb(classes, &ccs_classes_ops, NULL, 0444);
MODULE_PARM_DESC(classes,
		 "size-class ladder, load time only: pow2 (512B..512K, default) or rfc (512B 2K 4K 16K 512K)");

/**
 * ccs_max_pool_bytes() - the current hard cap on shared memory, in bytes
 */
u64 ccs_max_pool_bytes(void)
{
	return (u64)READ_ONCE(ccs_max_pool_mb) << 20;
}

/**
 * ccs_params_validate() - first step of module init: fill in the defaults
 * and check the values against each other (every string was checked when
 * it was parsed).
 *
 * Return: 0, or -EINVAL when watermarks= does not fit max_pool_mb.
 */
int ccs_params_validate(void)
{
	if (!ccs_max_pool_mb)
		ccs_max_pool_mb = ccs_default_max_pool_mb();
	ccs_max_pool_mb_load = ccs_max_pool_mb;
	if (!ccs_wm_given) {
		ccs_wm_low = min_t(u64, CCS_DEFAULT_LOW, ccs_max_pool_bytes() / 8);
		ccs_wm_high = min_t(u64, CCS_DEFAULT_HIGH, ccs_max_pool_bytes() / 2);
	} else if (ccs_wm_high > ccs_max_pool_bytes()) {
		pr_err("watermarks: HIGH %llu KiB over max_pool_mb=%u\n",
		       ccs_wm_high >> 10, ccs_max_pool_mb);
		return -EINVAL;
	}
	return 0;
}

/**
 * ccs_params_resolve() - apply runtime writes to pool @p from now on
 * @p:	the new, still empty pool
 */
void ccs_params_resolve(struct ccs_pool *p)
{
	kernel_param_lock(THIS_MODULE);
	ccs_params_pool = p;
	kernel_param_unlock(THIS_MODULE);
}

/**
 * ccs_params_unresolve() - stop applying runtime writes (pool teardown)
 */
void ccs_params_unresolve(void)
{
	kernel_param_lock(THIS_MODULE);
	ccs_params_pool = NULL;
	ccs_wm_given = false;
	kernel_param_unlock(THIS_MODULE);
}
