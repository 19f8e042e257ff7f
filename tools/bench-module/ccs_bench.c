// SPDX-License-Identifier: GPL-2.0
/*
 * ccs_bench: in-guest micro-benchmark of streaming DMA map+unmap.
 *
 * For every device named by dev= (a PCI address; its driver should be bound
 * so that the DMA ops are the ones the driver sees) it times
 * dma_map_single() + dma_unmap_single() (DMA_BIDIRECTIONAL, so both bounce
 * copies happen) of every size in sizes=, with 1 and 2 kthreads pinned to
 * CPUs 0 and 1 and started together, at every pool fill in fills=.  A plain
 * memcpy() of the same size both ways is timed the same way for context.
 *
 * Fill: before timing, hold N mappings of the size under test on every
 * device at once, where
 *   N = fill% * cap_kib[i] * 1024 / slot_bytes(size)
 * and slot_bytes() is the room one mapping of a page-aligned buffer takes:
 *   fill_slot[i] > 0: size rounded up to a multiple of it (stock swiotlb:
 *		       2048, its slot size);
 *   fill_slot[i] = 0: the smallest of classes= that fits (cc_swiotlb's
 *		       size classes; without classes=, the power of two, at
 *		       least 512);
 * and in both cases at least dma_get_min_align_mask() + 1, since the bounce
 * slot must keep the buffer's low address bits (NVMe: 4 KiB, so a 512-byte
 * mapping takes a 4 KiB-aligned place in either implementation).
 * So "fill 90" means 90% of the pool's capacity (cap_kib: stock's whole
 * fixed pool, or cc_swiotlb's max_pool_mb) is held by mappings of that
 * size.  With fill_class[i]=1 the capacity is instead the number of slots
 * of the size class the mapping lands in, as given by class_slots= (the
 * caller reads cc_swiotlb's class<S>_total counters just before loading):
 * "fill 90" holds 90% of the slots that class had (the pool may then grow).
 * A mapping that fails while filling is retried after a short sleep (the
 * pool may be growing) until fill_wait_ms pass without progress; the
 * result line says how many were wanted and held.
 *
 * With depth=D > 1 each thread keeps D mappings in flight, as a driver
 * with a queue of D requests does: every op maps a new buffer (D distinct
 * buffers while they fit in BENCH_MAX_SIZE) and, once D are mapped, first
 * unmaps the oldest.  The pool then has D slots out per thread instead of
 * one hot slot.
 *
 * With cold=1 the thread flushes its CPU's TLB (__flush_tlb_all()) before
 * every map and every unmap, and before each of memcpy's two copies: each
 * call then finds its translations cold, as a request's completion does
 * after the rest of the I/O path has run (under TCG the flush also empties
 * the vCPU's cache of translated-code jumps, so every call and return of
 * the path is paid again).  The flushes cost the same for every
 * implementation; memcpy's figure shows their share.
 *
 * Each measurement is a warm-up pass and then reps= timed passes of iters=
 * operations per thread (iters=0: sized so a pass moves about 8 MiB).  The
 * passes of the devices and of memcpy alternate, in an order that rotates
 * from pass to pass, so that a change in host load hits them alike.  The
 * figure printed is the median over passes of the per-thread mean ns per
 * successful op.  A size that a device cannot map at all (stock swiotlb
 * stops short of 256 KiB) is reported as skipped.
 *
 * Results are kernel log lines, one per measurement:
 *   ccs_bench: impl=cc dev=0000:00:04.0 size=4096 threads=1 fill=50 \
 *	ns_per_op=1234 min=1200 max=1300 reps=5 iters=4000 failures=0 held=N
 * and "ccs_bench: done" at the end.  Everything runs in module init; the
 * module does nothing after that and can be removed at once.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>

#include <asm/tlbflush.h>

#define BENCH_MAX_DEVS		4
#define BENCH_MAX_SIZES		12
#define BENCH_MAX_FILLS		8
#define BENCH_MAX_THREADS	2
#define BENCH_MAX_REPS		31
#define BENCH_PASS_BYTES	(8U << 20)
#define BENCH_MIN_ITERS		32U
#define BENCH_MAX_ITERS		2000U
#define BENCH_MAX_SIZE		(4U << 20)
#define BENCH_MAX_DEPTH		64U

static char *dev[BENCH_MAX_DEVS];
static int ndev;
module_param_array(dev, charp, &ndev, 0444);
MODULE_PARM_DESC(dev, "PCI addresses of the devices to map on (comma list)");

static char *impl[BENCH_MAX_DEVS];
static int nimpl;
module_param_array(impl, charp, &nimpl, 0444);
MODULE_PARM_DESC(impl, "label of each device in the results (default dev0..)");

static unsigned int cap_kib[BENCH_MAX_DEVS];
static int ncap;
module_param_array(cap_kib, uint, &ncap, 0444);
MODULE_PARM_DESC(cap_kib, "pool capacity per device, KiB, that fill% refers to");

static unsigned int fill_slot[BENCH_MAX_DEVS];
static int nfill_slot;
module_param_array(fill_slot, uint, &nfill_slot, 0444);
MODULE_PARM_DESC(fill_slot, "per device: slot granularity in bytes (0: power-of-two classes from 512)");

static bool fill_class[BENCH_MAX_DEVS];
static int nfill_class;
module_param_array(fill_class, bool, &nfill_class, 0444);
MODULE_PARM_DESC(fill_class, "per device: fill% of the size class's slots (class_slots=) instead of cap_kib");

static unsigned int classes[BENCH_MAX_SIZES];
static int nclasses;
module_param_array(classes, uint, &nclasses, 0444);
MODULE_PARM_DESC(classes, "slot sizes of a fill_slot=0 device, ascending (default: powers of two from 512)");

static unsigned int class_slots[BENCH_MAX_SIZES];
static int nclass_slots;
module_param_array(class_slots, uint, &nclass_slots, 0444);
MODULE_PARM_DESC(class_slots, "slots of each of classes= (for fill_class)");

static unsigned int sizes[BENCH_MAX_SIZES] = {
	512, 2048, 4096, 16384, 65536, 262144
};

static int nsizes = 6;
module_param_array(sizes, uint, &nsizes, 0444);
MODULE_PARM_DESC(sizes, "mapping sizes in bytes");

static unsigned int fills[BENCH_MAX_FILLS] = { 0, 50, 90 };
static int nfills = 3;
module_param_array(fills, uint, &nfills, 0444);
MODULE_PARM_DESC(fills, "pool fill levels, percent of cap_kib");

static unsigned int threads[BENCH_MAX_THREADS] = { 1, 2 };
static int nthreads = 2;
module_param_array(threads, uint, &nthreads, 0444);
MODULE_PARM_DESC(threads, "thread counts to run (1 and/or 2)");

static unsigned int reps = 9;
module_param(reps, uint, 0444);
MODULE_PARM_DESC(reps, "timed passes per measurement (after one warm-up pass)");

static unsigned int iters;
module_param(iters, uint, 0444);
MODULE_PARM_DESC(iters, "operations per pass and thread (0: about 8 MiB per pass)");

static unsigned int depth = 1;
module_param(depth, uint, 0444);
MODULE_PARM_DESC(depth, "mappings each thread keeps in flight (1..64): map a new one, unmap the oldest");

static bool do_memcpy = true;
module_param_named(memcpy, do_memcpy, bool, 0444);
MODULE_PARM_DESC(memcpy, "also time a plain memcpy both ways");

static bool cold;
module_param(cold, bool, 0444);
MODULE_PARM_DESC(cold, "flush the TLB before every map, unmap and copy (cold path)");

static unsigned int fill_wait_ms = 10000;
module_param(fill_wait_ms, uint, 0444);
MODULE_PARM_DESC(fill_wait_ms, "give up filling after this long without progress");

/* One timed run: a device (NULL: memcpy) and a size, on 1 or 2 threads. */
struct bench_run {
	struct device *dev;
	size_t size;
	unsigned int iters;
	unsigned int nthreads;
	atomic_t arrived;		/* start barrier */
	atomic_t remaining;
	struct completion done;
};

struct bench_thread {
	struct bench_run *run;
	void *src;
	void *dst;
	size_t len;			/* bytes at src and at dst */
	u64 ns;
	u64 ops;
	u64 failures;
};

static struct bench_thread bt[BENCH_MAX_THREADS];

/* cold=1: this CPU's translations (and TCG's jump cache) start empty */
static void bench_chill(void)
{
	if (cold) {
		preempt_disable();
		__flush_tlb_all();
		preempt_enable();
	}
}

/* All threads start the pass together. */
static void bench_barrier(struct bench_run *run)
{
	atomic_inc(&run->arrived);
	while (atomic_read(&run->arrived) < run->nthreads) {
		cpu_relax();
		cond_resched();
	}
}

static int bench_thread_fn(void *data)
{
	struct bench_thread *t = data;
	struct bench_run *run = t->run;
	u64 ok = 0, start;
	unsigned int i;

	bench_barrier(run);
	start = ktime_get_ns();
	if (run->dev && depth > 1) {
		dma_addr_t ring[BENCH_MAX_DEPTH];
		unsigned int d = depth, n = 0, head = 0;

		/*
		 * Like a queue of d requests: each op maps a new buffer and,
		 * once d are in flight, unmaps the oldest first.  The d
		 * buffers are distinct while d * size fits in the thread's
		 * buffer (bench_alloc_bufs()), like a driver's requests.
		 */
		for (i = 0; i < run->iters; i++) {
			size_t off = (i % d) * run->size;
			dma_addr_t a;

			if (off + run->size > t->len)
				off = 0;
			if (n == d) {
				bench_chill();
				dma_unmap_single(run->dev, ring[head], run->size,
						 DMA_BIDIRECTIONAL);
				head = (head + 1) % d;
				n--;
			}
			bench_chill();
			a = dma_map_single(run->dev, t->src + off, run->size,
					   DMA_BIDIRECTIONAL);
			if (dma_mapping_error(run->dev, a)) {
				t->failures++;
				continue;
			}
			ring[(head + n) % d] = a;
			n++;
			ok++;
		}
		while (n) {
			dma_unmap_single(run->dev, ring[head], run->size,
					 DMA_BIDIRECTIONAL);
			head = (head + 1) % d;
			n--;
		}
	} else if (run->dev) {
		for (i = 0; i < run->iters; i++) {
			dma_addr_t a;

			bench_chill();
			a = dma_map_single(run->dev, t->src, run->size,
					   DMA_BIDIRECTIONAL);
			if (dma_mapping_error(run->dev, a)) {
				t->failures++;
				continue;
			}
			bench_chill();
			dma_unmap_single(run->dev, a, run->size,
					 DMA_BIDIRECTIONAL);
			ok++;
		}
	} else {
		for (i = 0; i < run->iters; i++) {
			bench_chill();
			memcpy(t->dst, t->src, run->size);
			bench_chill();
			memcpy(t->src, t->dst, run->size);
			ok++;
		}
	}
	t->ns = ktime_get_ns() - start;
	t->ops = ok;
	if (atomic_dec_and_test(&run->remaining))
		complete(&run->done);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* One pass on @nthr threads: mean over threads of ns per successful op. */
static int bench_time(struct device *d, size_t size, unsigned int nthr,
		      unsigned int niters, u64 *ns, u64 *failures)
{
	struct bench_run run = {
		.dev = d,
		.size = size,
		.iters = niters,
		.nthreads = nthr,
	};
	struct task_struct *task[BENCH_MAX_THREADS];
	unsigned int i;
	u64 sum = 0;

	atomic_set(&run.arrived, 0);
	atomic_set(&run.remaining, nthr);
	init_completion(&run.done);
	for (i = 0; i < nthr; i++) {
		bt[i].ns = 0;
		bt[i].ops = 0;
		bt[i].failures = 0;
		bt[i].run = &run;
		task[i] = kthread_create(bench_thread_fn, &bt[i],
					 "ccs_bench/%u", i);
		if (IS_ERR(task[i])) {
			/* Threads already created are waiting to start. */
			while (i--)
				kthread_stop(task[i]);
			return -ENOMEM;
		}
		kthread_bind(task[i], i % num_online_cpus());
	}
	for (i = 0; i < nthr; i++)
		wake_up_process(task[i]);
	wait_for_completion(&run.done);

	*failures = 0;
	for (i = 0; i < nthr; i++) {
		sum += div64_u64(bt[i].ns, max_t(u64, bt[i].ops, 1));
		*failures += bt[i].failures;
	}
	*ns = div64_u64(sum, nthr);
	return 0;
}

static size_t bench_slot_bytes(int i, struct device *d, size_t size)
{
	unsigned int gran = i < nfill_slot ? fill_slot[i] : 0;
	size_t align = (size_t)dma_get_min_align_mask(d) + 1;

	/* Page-aligned buffers: the bounce slot keeps the low address bits. */
	int c;

	if (gran)
		return roundup(size, max_t(size_t, gran, align));
	size = max(size, align);
	for (c = 0; c < nclasses; c++)
		if (classes[c] >= size)
			return classes[c];
	return max_t(size_t, 512, roundup_pow_of_two(size));
}

/* Hold @want mappings of @size on @d; returns how many it holds. */
static unsigned long bench_fill(struct device *d, void *buf, size_t size,
				dma_addr_t *held, unsigned long want)
{
	unsigned long n = 0;
	unsigned int waited = 0;

	while (n < want) {
		dma_addr_t a = dma_map_single(d, buf, size, DMA_TO_DEVICE);

		if (dma_mapping_error(d, a)) {
			if (waited >= fill_wait_ms)
				break;
			usleep_range(2000, 3000);
			waited += 2;
			continue;
		}
		held[n++] = a;
		waited = 0;
		if (!(n & 255))
			cond_resched();
	}
	return n;
}

static void bench_unfill(struct device *d, size_t size, dma_addr_t *held,
			 unsigned long n)
{
	while (n--) {
		dma_unmap_single(d, held[n], size, DMA_TO_DEVICE);
		if (!(n & 255))
			cond_resched();
	}
}

static unsigned int bench_iters(size_t size)
{
	if (iters)
		return iters;
	return clamp_t(unsigned int, BENCH_PASS_BYTES / size, BENCH_MIN_ITERS,
		       BENCH_MAX_ITERS);
}

/*
 * Room for depth= buffers of the largest size, within BENCH_MAX_SIZE (init
 * has checked depth >= 1 and every size <= BENCH_MAX_SIZE).
 */
static unsigned int bench_buf_order(size_t maxsz)
{
	return get_order(min_t(u64, (u64)maxsz * depth, BENCH_MAX_SIZE));
}

static int bench_alloc_bufs(size_t maxsz)
{
	unsigned int i, order = bench_buf_order(maxsz);

	for (i = 0; i < BENCH_MAX_THREADS; i++) {
		bt[i].src = (void *)__get_free_pages(GFP_KERNEL, order);
		bt[i].dst = (void *)__get_free_pages(GFP_KERNEL, order);
		if (!bt[i].src || !bt[i].dst)
			return -ENOMEM;
		bt[i].len = PAGE_SIZE << order;
		memset(bt[i].src, 0x5a + i, bt[i].len);
		memset(bt[i].dst, 0, bt[i].len);
	}
	return 0;
}

static void bench_free_bufs(size_t maxsz)
{
	unsigned int i, order = bench_buf_order(maxsz);

	for (i = 0; i < BENCH_MAX_THREADS; i++) {
		if (bt[i].src)
			free_pages((unsigned long)bt[i].src, order);
		if (bt[i].dst)
			free_pages((unsigned long)bt[i].dst, order);
		bt[i].src = NULL;
		bt[i].dst = NULL;
	}
}

/*
 * What is measured at one size and fill: one entry per device, plus one for
 * memcpy (dev NULL).
 */
struct bench_target {
	const char *label;
	struct device *dev;
	bool skip;
	dma_addr_t *hold;
	unsigned long want;
	unsigned long held;
	u64 per[BENCH_MAX_REPS];
	u64 failures;
};

static struct bench_target tgt[BENCH_MAX_DEVS + 1];

/* Can @d map @size at all?  (stock swiotlb stops short of 256 KiB) */
static bool bench_probe(struct bench_target *t, size_t size)
{
	dma_addr_t a;

	if (!t->dev)
		return true;
	a = dma_map_single(t->dev, bt[0].src, size, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(t->dev, a))
		return false;
	dma_unmap_single(t->dev, a, size, DMA_BIDIRECTIONAL);
	return true;
}

static void bench_report(struct bench_target *t, size_t size,
			 unsigned int nthr, unsigned int fill)
{
	const char *dname = t->dev ? dev_name(t->dev) : "-";
	u64 med;

	if (t->skip) {
		pr_info("impl=%s dev=%s size=%zu threads=%u fill=%u skipped: mapping fails (max mapping size %zu)\n",
			t->label, dname, size, nthr, fill,
			dma_max_mapping_size(t->dev));
		return;
	}
	sort(t->per, reps, sizeof(t->per[0]), cmp_u64, NULL);
	med = reps & 1 ? t->per[reps / 2] :
		(t->per[reps / 2 - 1] + t->per[reps / 2]) / 2;
	pr_info("impl=%s dev=%s size=%zu threads=%u fill=%u ns_per_op=%llu min=%llu max=%llu reps=%u iters=%u failures=%llu held=%lu want=%lu\n",
		t->label, dname, size, nthr, fill, med, t->per[0],
		t->per[reps - 1], reps, bench_iters(size), t->failures,
		t->held, t->want);
}

/*
 * One size at one fill level: fill every device, then time the targets in
 * turn, one pass each, so that a change in host load hits them all alike.
 */
static void bench_size_fill(int ntgt, size_t size, unsigned int fill)
{
	int i, k, t;
	unsigned int p;

	for (i = 0; i < ntgt; i++) {
		struct bench_target *x = &tgt[i];

		x->skip = !bench_probe(x, size);
		x->want = 0;
		x->held = 0;
		x->hold = NULL;
		if (x->skip || !x->dev || !fill)
			continue;
		if ((i >= ncap || !cap_kib[i]) &&
		    (i >= nfill_class || !fill_class[i]))
			continue;
		x->want = div64_u64((u64)cap_kib[i] * 1024 * fill,
				    100 * (u64)bench_slot_bytes(i, x->dev, size));
		if (i < nfill_class && fill_class[i]) {
			size_t slot = bench_slot_bytes(i, x->dev, size);
			int c;

			x->want = 0;
			for (c = 0; c < nclasses && c < nclass_slots; c++)
				if (classes[c] == slot)
					x->want = div_u64((u64)class_slots[c] *
							  fill, 100);
		}
		x->hold = kvmalloc_array(max(x->want, 1UL), sizeof(*x->hold),
					 GFP_KERNEL);
		if (x->hold)
			x->held = bench_fill(x->dev, bt[BENCH_MAX_THREADS - 1].dst,
					     size, x->hold, x->want);
	}
	for (t = 0; t < nthreads; t++) {
		unsigned int nthr = clamp_t(unsigned int, threads[t], 1,
					    BENCH_MAX_THREADS);

		for (i = 0; i < ntgt; i++)
			tgt[i].failures = 0;
		/*
		 * Pass 0 warms up every target and is not counted.  The
		 * order of the targets rotates from pass to pass, so that
		 * none always runs first (cold caches) or right after the
		 * same other target.
		 */
		for (p = 0; p <= reps; p++) {
			for (k = 0; k < ntgt; k++) {
				u64 ns = 0, fails = 0;

				i = (k + p) % ntgt;
				if (tgt[i].skip)
					continue;
				if (bench_time(tgt[i].dev, size, nthr,
					       bench_iters(size), &ns, &fails))
					tgt[i].skip = true;
				if (p)
					tgt[i].per[p - 1] = ns;
				tgt[i].failures += p ? fails : 0;
			}
		}
		for (i = 0; i < ntgt; i++)
			bench_report(&tgt[i], size, nthr, fill);
	}
	for (i = 0; i < ntgt; i++) {
		if (!tgt[i].hold)
			continue;
		bench_unfill(tgt[i].dev, size, tgt[i].hold, tgt[i].held);
		kvfree(tgt[i].hold);
		tgt[i].hold = NULL;
	}
}

static int __init ccs_bench_init(void)
{
	struct device *devs[BENCH_MAX_DEVS] = { NULL };
	size_t maxsz = 0;
	int i, s, f, ntgt, err = 0;

	reps = clamp_t(unsigned int, reps, 1, BENCH_MAX_REPS);
	if (!depth || depth > BENCH_MAX_DEPTH) {
		pr_err("depth %u out of range (1..%u)\n", depth, BENCH_MAX_DEPTH);
		return -EINVAL;
	}
	for (s = 0; s < nsizes; s++) {
		if (!sizes[s] || sizes[s] > BENCH_MAX_SIZE) {
			pr_err("size %u out of range (1..%u)\n", sizes[s],
			       BENCH_MAX_SIZE);
			return -EINVAL;
		}
		maxsz = max_t(size_t, maxsz, sizes[s]);
	}
	for (i = 0; i < ndev; i++) {
		devs[i] = bus_find_device_by_name(&pci_bus_type, NULL, dev[i]);
		if (!devs[i]) {
			pr_err("no PCI device %s\n", dev[i]);
			err = -ENODEV;
			goto out;
		}
		pr_info("dev=%s impl=%s driver=%s cap_kib=%u fill_slot=%u max_mapping=%zu\n",
			dev[i], i < nimpl ? impl[i] : dev[i],
			devs[i]->driver ? devs[i]->driver->name : "-",
			i < ncap ? cap_kib[i] : 0,
			i < nfill_slot ? fill_slot[i] : 0,
			dma_max_mapping_size(devs[i]));
	}
	err = bench_alloc_bufs(maxsz);
	if (err)
		goto out;
	for (i = 0; i < ndev; i++) {
		tgt[i].dev = devs[i];
		tgt[i].label = i < nimpl ? impl[i] : dev[i];
	}
	ntgt = ndev;
	if (do_memcpy) {
		tgt[ntgt].dev = NULL;
		tgt[ntgt].label = "memcpy";
		ntgt++;
	}
	pr_info("start: %d devices, %d sizes, %d fills, reps=%u\n", ndev,
		nsizes, nfills, reps);
	for (s = 0; s < nsizes; s++)
		for (f = 0; f < nfills; f++)
			bench_size_fill(ntgt, sizes[s], fills[f]);
	pr_info("done\n");
out:
	bench_free_bufs(maxsz);
	for (i = 0; i < ndev; i++)
		put_device(devs[i]);
	return err;
}

static void __exit ccs_bench_exit(void)
{
}

module_init(ccs_bench_init);
module_exit(ccs_bench_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("DMA map+unmap micro-benchmark for cc_swiotlb vs swiotlb");
