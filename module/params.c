// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of cc_swiotlb and their validation.
 *
 * classes=pow2|rfc (load time only; default pow2)
 *	Size-class ladder: "rfc" is the RFC's five classes (512B 2K 4K 16K
 *	512K), "pow2" every power of two from 512 B to 512 KiB.
 *
 * watermarks=LIST (default: see below; runtime writable)
 *	Per-class watermarks in free SLOTS of that class.  kccd refills a
 *	class that has fewer than LOW free slots up to HIGH, and returns the
 *	surplus above HIGH once it has lasted reclaim_ms.  LIST is either
 *	  positional: one entry per class, smallest class first, exactly as
 *	    many entries as the ladder has classes; or
 *	  named: SIZE=ENTRY for any subset of classes (SIZE is the slot size:
 *	    512, 512B, 2K, 16K, 512K, 2048...); others keep their value.
 *	An ENTRY is LOW or LOW:HIGH.  A bare LOW (the RFC form: a comma list of
 *	low watermarks, one per class) gets HIGH = 2 * LOW unless
 *	watermarks_high gives it.  Examples:
 *	  watermarks=256,128,128,32,2            (RFC form, rfc ladder)
 *	  watermarks=256:512,128:256,64:512,8:16,1:2
 *	  watermarks=4K=1024:4096,512K=4:8
 *	Rules: LOW <= HIGH, HIGH >= 1, and the high watermarks of all classes,
 *	rounded up to whole chunks, must fit in max_pool_mb.
 *	Reading the parameter returns the configured LOW:HIGH list.
 *
 * watermarks_high=LIST
 *	High watermarks only, same positional or SIZE= form (no ':').  Giving
 *	a class's HIGH both here and as LOW:HIGH in watermarks is an error.
 *
 *	Default watermarks: LOW = the free slots of min(one chunk, 256 KiB) of
 *	the class (at least 1), HIGH = 2 * LOW, so an idle pool holds about
 *	two small chunks per small class and one chunk per large class.
 *
 * max_pool_mb=N (default: stock swiotlb's size, 6% of RAM clamped to
 *	[64 MiB, 1 GiB], but at most half of RAM)
 *	Hard cap on the shared memory the pool holds.  Runtime writable
 *	between 1 and the value at load (the pool's lookup is sized for it);
 *	lowering it makes kccd give back free chunks.
 *
 * reclaim_ms=N (default 2000, 100..3600000; runtime writable)
 *	How long a surplus above HIGH must last before kccd returns it, one
 *	chunk per pass.
 *
 * auto_tune=BOOL (default 1; runtime writable)
 *	Raise a class's effective watermarks at once when the map path found
 *	it empty (to twice its demand, at least x2, bounded by max_pool_mb);
 *	decay them back towards the configured values once 10 * reclaim_ms
 *	passed without exhaustion, halving every 2 * reclaim_ms.
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

#define CCS_WM_STR_LEN		256
#define CCS_RECLAIM_MS_MIN	100
#define CCS_RECLAIM_MS_MAX	3600000
#define CCS_DEFAULT_LOW_BYTES	SZ_256K

enum ccs_preset ccs_preset = CCS_PRESET_POW2;
unsigned int ccs_max_pool_mb;
unsigned int ccs_reclaim_ms = 2000;
bool ccs_auto_tune = true;
struct ccs_wm ccs_wm_cfg[CCS_MAX_CLASSES];

/* Set once the pool exists: from then on writes are validated and applied. */
static struct ccs_pool *ccs_params_pool;
static unsigned int ccs_max_pool_mb_load;	/* cap the pool was sized for */
static char ccs_wm_str[CCS_WM_STR_LEN];
static char ccs_wmh_str[CCS_WM_STR_LEN];

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

/* One parsed list entry: [SIZE=]A[:B] */
struct ccs_wm_entry {
	u32 size;	/* slot size for the named form, 0 when positional */
	u32 a;
	u32 b;
	bool has_b;
};

static int ccs_parse_u32(const char *s, size_t len, u32 *out)
{
	char buf[16];
	unsigned int v;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (kstrtouint(buf, 10, &v))
		return -EINVAL;
	*out = v;
	return 0;
}

/* "512", "512B", "2K", "2KB", "2KiB", "1M" */
static int ccs_parse_size(const char *s, size_t len, u32 *out)
{
	size_t n = 0;
	u32 v, mult = 1;
	const char *suf;

	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	if (ccs_parse_u32(s, n, &v))
		return -EINVAL;
	suf = s + n;
	len -= n;
	if (len && (*suf == 'K' || *suf == 'k')) {
		mult = SZ_1K;
		suf++;
		len--;
	} else if (len && (*suf == 'M' || *suf == 'm')) {
		mult = SZ_1M;
		suf++;
		len--;
	}
	if (len == 3 && mult > 1 && !strncasecmp(suf, "iB", 2) &&
	    (suf[2] == 'B' || suf[2] == 'b'))
		len = 0;
	else if (len == 1 && (*suf == 'B' || *suf == 'b'))
		len = 0;
	if (len || v > U32_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

/*
 * Parse LIST into @ent (at most CCS_MAX_CLASSES entries); @allow_b: whether
 * A:B is allowed.  Returns the number of entries, or -EINVAL with a reason
 * in @why.
 */
static int ccs_wm_parse(const char *str, bool allow_b,
			struct ccs_wm_entry *ent, const char **why)
{
	const char *s = str;
	int n = 0, named = -1;

	if (!*s || !strcmp(s, "default"))
		return 0;
	for (;;) {
		const char *end = strchrnul(s, ',');
		const char *eq = memchr(s, '=', end - s);
		const char *val = eq ? eq + 1 : s;
		const char *colon = memchr(val, ':', end - val);
		struct ccs_wm_entry *e = &ent[n];

		if (n == CCS_MAX_CLASSES) {
			*why = "too many entries";
			return -EINVAL;
		}
		if (named >= 0 && named != !!eq) {
			*why = "mixes positional and SIZE= entries";
			return -EINVAL;
		}
		named = !!eq;
		e->size = 0;
		if (eq && ccs_parse_size(s, eq - s, &e->size)) {
			*why = "bad class size before '='";
			return -EINVAL;
		}
		e->has_b = !!colon;
		if (colon && !allow_b) {
			*why = "':' not allowed here";
			return -EINVAL;
		}
		if (ccs_parse_u32(val, (colon ? colon : end) - val, &e->a) ||
		    (colon && ccs_parse_u32(colon + 1, end - colon - 1, &e->b))) {
			*why = "entries must be numbers of slots";
			return -EINVAL;
		}
		n++;
		if (!*end)
			break;
		s = end + 1;
	}
	return n;
}

static void ccs_strip_copy(char *dst, const char *src)
{
	strscpy(dst, src, CCS_WM_STR_LEN);
	strim(dst);
}

/* Shared memory needed to hold @wm's high watermarks in whole chunks. */
static u64 ccs_wm_bytes(struct ccs_pool *p, const struct ccs_wm *wm)
{
	int cls, nr = ccs_pool_nr_classes(p);
	u64 total = 0;

	for (cls = 0; cls < nr; cls++) {
		u64 bytes = (u64)wm[cls].high * ccs_class_slot_size(p, cls);

		total += roundup(bytes, ccs_class_chunk_size(p, cls));
	}
	return total;
}

/*
 * The default watermarks (a chunk or two per class) need about 7 MiB with
 * the pow2 ladder.  Under a smaller max_pool_mb they must not make the load
 * fail: shrink them, largest classes first (they cost the most per chunk and
 * carry the least traffic), until they take at most half of the cap, so the
 * other half is left for demand.  A class may end up with no stock at all:
 * auto-tune raises it from zero the first time it runs dry.
 */
static void ccs_wm_fit_defaults(struct ccs_pool *p, struct ccs_wm *wm,
				u64 cap)
{
	int cls, nr = ccs_pool_nr_classes(p);
	u64 budget = cap / 2;

	for (cls = nr - 1; cls >= 0; cls--) {
		while (wm[cls].high && ccs_wm_bytes(p, wm) > budget) {
			wm[cls].high /= 2;
			wm[cls].low = wm[cls].high / 2;
		}
	}
}

static int ccs_wm_check(struct ccs_pool *p, const char *name,
			const struct ccs_wm *wm, u64 cap)
{
	int cls, nr = ccs_pool_nr_classes(p);
	u64 need;

	for (cls = 0; cls < nr; cls++) {
		u32 sz = ccs_class_slot_size(p, cls);

		if (wm[cls].low > wm[cls].high) {
			ccs_param_bad("%s: class %u: low %u > high %u", name,
				      sz, wm[cls].low, wm[cls].high);
			return -EINVAL;
		}
	}
	need = ccs_wm_bytes(p, wm);
	if (need > cap) {
		ccs_param_bad("%s: high watermarks need %llu KiB, over max_pool_mb=%llu",
			      name, need >> 10, cap >> 20);
		return -EINVAL;
	}
	return 0;
}

static int ccs_class_by_size(struct ccs_pool *p, u32 size)
{
	int cls, nr = ccs_pool_nr_classes(p);

	for (cls = 0; cls < nr; cls++)
		if (ccs_class_slot_size(p, cls) == size)
			return cls;
	return -EINVAL;
}

static u32 ccs_default_low(struct ccs_pool *p, int cls)
{
	u32 bytes = min_t(u32, ccs_class_chunk_size(p, cls),
			  CCS_DEFAULT_LOW_BYTES);

	return max_t(u32, 1, bytes / ccs_class_slot_size(p, cls));
}

/*
 * Apply the watermarks and watermarks_high strings onto @wm (which holds the
 * current values).  A positional watermarks list replaces every class; a
 * bare LOW gets HIGH = 2 * LOW unless watermarks_high names it.
 */
static int ccs_wm_apply(struct ccs_pool *p, const char *low_str,
			const char *high_str, struct ccs_wm *wm)
{
	struct ccs_wm_entry ent[CCS_MAX_CLASSES];
	bool has_high[CCS_MAX_CLASSES] = { };
	int cls, i, n, nr = ccs_pool_nr_classes(p);
	const char *why = NULL;

	n = ccs_wm_parse(low_str, true, ent, &why);
	if (n < 0) {
		ccs_param_bad("watermarks: \"%s\": %s", low_str, why);
		return n;
	}
	if (n && !ent[0].size && n != nr) {
		ccs_param_bad("watermarks: %d entries, the %s ladder has %d classes",
			      n, ccs_preset == CCS_PRESET_POW2 ? "pow2" : "rfc",
			      nr);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		cls = ent[i].size ? ccs_class_by_size(p, ent[i].size) : i;
		if (cls < 0) {
			ccs_param_bad("watermarks: no class of size %u",
				      ent[i].size);
			return -EINVAL;
		}
		wm[cls].low = ent[i].a;
		wm[cls].high = ent[i].has_b ? ent[i].b : 2 * ent[i].a;
		if (!ent[i].has_b && !ent[i].a)
			wm[cls].high = 1;
		has_high[cls] = ent[i].has_b;
		/* only defaults fitted under a small cap may leave a class at 0 */
		if (!wm[cls].high) {
			ccs_param_bad("watermarks: class %u: high watermark must be >= 1",
				      ccs_class_slot_size(p, cls));
			return -EINVAL;
		}
	}

	n = ccs_wm_parse(high_str, false, ent, &why);
	if (n < 0) {
		ccs_param_bad("watermarks_high: \"%s\": %s", high_str, why);
		return n;
	}
	if (n && !ent[0].size && n != nr) {
		ccs_param_bad("watermarks_high: %d entries, the %s ladder has %d classes",
			      n, ccs_preset == CCS_PRESET_POW2 ? "pow2" : "rfc",
			      nr);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		cls = ent[i].size ? ccs_class_by_size(p, ent[i].size) : i;
		if (cls < 0) {
			ccs_param_bad("watermarks_high: no class of size %u",
				      ent[i].size);
			return -EINVAL;
		}
		if (has_high[cls]) {
			ccs_param_bad("watermarks_high: class %u: HIGH already given in watermarks",
				      ccs_class_slot_size(p, cls));
			return -EINVAL;
		}
		if (!ent[i].a) {
			ccs_param_bad("watermarks_high: class %u: high watermark must be >= 1",
				      ccs_class_slot_size(p, cls));
			return -EINVAL;
		}
		wm[cls].high = ent[i].a;
	}
	return 0;
}

/* Reading watermarks: the configured LOW:HIGH list (or the raw string). */
static int ccs_wm_print(char *buf, bool high_only)
{
	int cls, len = 0, nr;

	if (!ccs_params_pool)
		return scnprintf(buf, PAGE_SIZE, "%s\n",
				 high_only ? ccs_wmh_str : ccs_wm_str);
	nr = ccs_pool_nr_classes(ccs_params_pool);
	for (cls = 0; cls < nr; cls++) {
		if (high_only)
			len += scnprintf(buf + len, PAGE_SIZE - len, "%s%u",
					 cls ? "," : "", ccs_wm_cfg[cls].high);
		else
			len += scnprintf(buf + len, PAGE_SIZE - len, "%s%u:%u",
					 cls ? "," : "", ccs_wm_cfg[cls].low,
					 ccs_wm_cfg[cls].high);
	}
	len += scnprintf(buf + len, PAGE_SIZE - len, "\n");
	return len;
}

static int ccs_wm_set_common(const char *val, bool high_only)
{
	struct ccs_wm_entry ent[CCS_MAX_CLASSES];
	const char *name = high_only ? "watermarks_high" : "watermarks";
	struct ccs_wm wm[CCS_MAX_CLASSES];
	char str[CCS_WM_STR_LEN];
	const char *why = NULL;
	int ret;

	if (strlen(val) >= CCS_WM_STR_LEN) {
		ccs_param_bad("%s: longer than %d characters", name,
			      CCS_WM_STR_LEN - 1);
		return -EINVAL;
	}
	ccs_strip_copy(str, val);

	if (!ccs_params_pool) {
		/* Loading: the ladder is not known yet; check the syntax. */
		ret = ccs_wm_parse(str, !high_only, ent, &why);
		if (ret < 0) {
			ccs_param_bad("%s: \"%s\": %s", name, str, why);
			return ret;
		}
		strscpy(high_only ? ccs_wmh_str : ccs_wm_str, str,
			CCS_WM_STR_LEN);
		return 0;
	}

	memcpy(wm, ccs_wm_cfg, sizeof(wm));
	ret = ccs_wm_apply(ccs_params_pool, high_only ? "" : str,
			   high_only ? str : "", wm);
	if (ret)
		return ret;
	ret = ccs_wm_check(ccs_params_pool, name, wm, ccs_max_pool_bytes());
	if (ret)
		return ret;
	ccs_kccd_set_configured(wm);
	return 0;
}

static int ccs_wm_set(const char *val, const struct kernel_param *kp)
{
	return ccs_wm_set_common(val, false);
}

static int ccs_wm_get(char *buf, const struct kernel_param *kp)
{
	return ccs_wm_print(buf, false);
}

static int ccs_wmh_set(const char *val, const struct kernel_param *kp)
{
	return ccs_wm_set_common(val, true);
}

static int ccs_wmh_get(char *buf, const struct kernel_param *kp)
{
	return ccs_wm_print(buf, true);
}

static const struct kernel_param_ops ccs_wm_ops = {
	.set = ccs_wm_set,
	.get = ccs_wm_get,
};

static const struct kernel_param_ops ccs_wmh_ops = {
	.set = ccs_wmh_set,
	.get = ccs_wmh_get,
};

module_param_cb(watermarks, &ccs_wm_ops, NULL, 0644);
MODULE_PARM_DESC(watermarks,
		 "per-class watermarks in slots: LOW[:HIGH],... one per class, or SIZE=LOW[:HIGH],... (default: one chunk up to 256K, high = 2 x low)");
module_param_cb(watermarks_high, &ccs_wmh_ops, NULL, 0644);
MODULE_PARM_DESC(watermarks_high,
		 "per-class high watermarks in slots: HIGH,... or SIZE=HIGH,...");

/* Stock swiotlb's default: 6% of RAM clamped to [64 MiB, 1 GiB]. */
static unsigned int ccs_default_max_pool_mb(void)
{
	u64 ram_mb = ((u64)totalram_pages() << PAGE_SHIFT) >> 20;
	u64 mb = clamp_t(u64, ram_mb * 6 / 100, 64, 1024);

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
		if (ccs_wm_check(ccs_params_pool, "max_pool_mb", ccs_wm_cfg,
				 (u64)mb << 20))
			return -EINVAL;
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
		 "hard cap on shared memory held, MiB (default: 6% of RAM in [64, 1024], at most RAM/2)");

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
		 "surplus above the high watermark older than this is given back, ms (default 2000)");

static int ccs_auto_tune_set(const char *val, const struct kernel_param *kp)
{
	bool on;

	if (kstrtobool(val, &on)) {
		ccs_param_bad("auto_tune: must be 0/1/y/n/on/off");
		return -EINVAL;
	}
	WRITE_ONCE(ccs_auto_tune, on);
	if (ccs_params_pool)
		ccs_kccd_kick(-1);
	return 0;
}

static const struct kernel_param_ops ccs_auto_tune_ops = {
	.set = ccs_auto_tune_set,
	.get = param_get_bool,
};

module_param_cb(auto_tune, &ccs_auto_tune_ops, &ccs_auto_tune, 0644);
MODULE_PARM_DESC(auto_tune,
		 "raise watermarks after an exhaustion, decay them when quiet (default 1)");

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
 * that do not depend on the pool (max_pool_mb).
 *
 * The watermarks depend on the ladder's slot and chunk sizes and are checked
 * by ccs_params_resolve() once the (empty) pool exists.
 *
 * Return: 0 (every string was already checked when it was parsed).
 */
int ccs_params_validate(void)
{
	if (!ccs_max_pool_mb)
		ccs_max_pool_mb = ccs_default_max_pool_mb();
	ccs_max_pool_mb_load = ccs_max_pool_mb;
	return 0;
}

/**
 * ccs_params_resolve() - compute and check the watermarks for pool @p
 * @p:	the new, still empty pool
 *
 * Applies the defaults, then the watermarks and watermarks_high strings, and
 * checks them against the ladder and max_pool_mb.  On success, runtime
 * writes to the parameters are validated against @p and applied.
 *
 * Return: 0 or -EINVAL (with one pr_err line naming the parameter).
 */
int ccs_params_resolve(struct ccs_pool *p)
{
	struct ccs_wm wm[CCS_MAX_CLASSES] = { };
	int cls, nr = ccs_pool_nr_classes(p);
	int ret;

	kernel_param_lock(THIS_MODULE);
	for (cls = 0; cls < nr; cls++) {
		wm[cls].low = ccs_default_low(p, cls);
		wm[cls].high = 2 * wm[cls].low;
	}
	if (!ccs_wm_str[0] && !ccs_wmh_str[0])
		ccs_wm_fit_defaults(p, wm, ccs_max_pool_bytes());
	ret = ccs_wm_apply(p, ccs_wm_str, ccs_wmh_str, wm);
	if (!ret && !ccs_wm_str[0]) {
		/* watermarks_high alone: keep a default LOW under it */
		for (cls = 0; cls < nr; cls++)
			wm[cls].low = min(wm[cls].low, wm[cls].high / 2);
	}
	if (!ret)
		ret = ccs_wm_check(p, ccs_wmh_str[0] ? "watermarks_high" :
				   "watermarks", wm, ccs_max_pool_bytes());
	if (!ret) {
		memcpy(ccs_wm_cfg, wm, sizeof(wm));
		memcpy(ccs_wm_eff, wm, sizeof(wm));
		ccs_params_pool = p;
	}
	kernel_param_unlock(THIS_MODULE);
	return ret;
}

/**
 * ccs_params_unresolve() - stop applying runtime writes (pool teardown)
 */
void ccs_params_unresolve(void)
{
	kernel_param_lock(THIS_MODULE);
	ccs_params_pool = NULL;
	kernel_param_unlock(THIS_MODULE);
}
