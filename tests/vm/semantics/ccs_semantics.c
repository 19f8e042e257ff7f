// SPDX-License-Identifier: GPL-2.0
/*
 * In-guest test of cc_swiotlb's DMA API semantics.
 *
 * Creates a platform device with no driver, attaches it with
 * cc_swiotlb_attach() and drives the DMA API on it, playing the device by
 * reading and writing the bounce slots through their kernel addresses
 * (phys_to_virt(dma_to_phys(dma))).  Every check prints "ok: ..." or
 * "FAIL: ..."; the module's init returns 0 only if all passed, so insmod
 * fails otherwise.
 *
 * Parameters:
 *   bound_dev=NAME	a PCI device with a driver bound: cc_swiotlb_attach()
 *			must refuse it with -EBUSY
 *   exhaust=0|1	run the pool exhaustion and sg unwind test (default 1;
 *			load cc_swiotlb with a small max_pool_mb)
 *   mode=all|badinput|security|foreign-free|detach-race|longsg|nomask
 *			all (default): every semantics test above;
 *			badinput: only requests the shim must refuse (zero
 *			length, invalid direction, oversize) and bogus
 *			unmaps/syncs, each refused and counted, nothing lost;
 *			security: slot reuse never shows one mapping's data
 *			to another, coherent memory is zeroed on reuse;
 *			foreign-free: frees of memory the module did not
 *			allocate (alloc_page(), another device's dma-direct
 *			memory, its own allocation with the wrong size, a
 *			double free) are refused and the memory is intact;
 *			prints "foreign frees attempted: N";
 *			detach-race: cc_swiotlb_detach() while a kthread
 *			runs verified I/O on the same device, for race_secs;
 *			longsg: chained sg lists longer than one sg page
 *			(> 128 entries) map, bounce and unmap every entry, and
 *			a failure late in such a list is unwound whole;
 *			nomask: DMA masks that cannot reach all of RAM (load
 *			cc_swiotlb with attach=1b36:0005 in a guest with RAM
 *			above 4 GiB and QEMU's pci-testdev): this module binds
 *			as a PCI driver that never sets a mask, and the device
 *			must be left to stock swiotlb at its first request,
 *			with every bounce address below 4 GiB; an attached
 *			device lowering its mask is refused while it has a
 *			mapping and left to stock once it has none
 *   race_secs=N	length of the detach-race test (default 20)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/pci.h>
#include <linux/dma-mapping.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/delay.h>
#include <linux/string.h>
#include <linux/kthread.h>
#include <linux/jiffies.h>
#include <linux/crc32.h>
#include <linux/random.h>
#include <linux/sizes.h>
#include <linux/cc_swiotlb.h>

static char *bound_dev;
module_param(bound_dev, charp, 0444);
MODULE_PARM_DESC(bound_dev, "PCI device with a driver bound (attach must say -EBUSY)");
static bool exhaust = true;
module_param(exhaust, bool, 0444);
MODULE_PARM_DESC(exhaust, "Run the pool exhaustion / sg unwind test");
static char *mode = "all";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "all, badinput, security, foreign-free, detach-race, longsg or nomask");
static unsigned int race_secs = 20;
module_param(race_secs, uint, 0444);
MODULE_PARM_DESC(race_secs, "Seconds of the detach-race test");

#define BUF_ORDER	8		/* 1 MiB of original buffer */
#define BUF_SIZE	(PAGE_SIZE << BUF_ORDER)
#define MAX_HANDLES	65536

static struct device *dev;
static u8 *buf;
static int passes, fails;

static __printf(2, 3) void check(bool ok, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	if (ok) {
		passes++;
		pr_info("ok: %pV\n", &vaf);
	} else {
		fails++;
		pr_err("FAIL: %pV\n", &vaf);
	}
	va_end(args);
}

/* The device's view of a mapping: the bounce slot. */
static u8 *slot_of(dma_addr_t dma)
{
	return phys_to_virt(dma_to_phys(dev, dma));
}

static bool all_are(const u8 *p, size_t len, u8 v)
{
	return !memchr_inv(p, v, len);
}

static void test_bounce_in(void)
{
	dma_addr_t dma;
	u8 *s;

	/* Leave recognisable garbage in the slot the next map will reuse. */
	memset(buf, 0xc3, 4096);
	dma = dma_map_single(dev, buf, 4096, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, dma)) {
		check(false, "map 4 KiB TO_DEVICE");
		return;
	}
	check(all_are(slot_of(dma), 4096, 0xc3) && slot_of(dma) != buf,
	      "TO_DEVICE map copies the original into a separate bounce slot");
	memset(slot_of(dma), 0x99, 4096);
	dma_unmap_single(dev, dma, 4096, DMA_TO_DEVICE);
	check(all_are(buf, 4096, 0xc3),
	      "TO_DEVICE unmap does not copy back device writes");

	memset(buf, 0xa5, 4096);
	dma = dma_map_single(dev, buf, 4096, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, dma)) {
		check(false, "map 4 KiB FROM_DEVICE");
		return;
	}
	s = slot_of(dma);
	check(all_are(s, 4096, 0xa5),
	      "FROM_DEVICE map copies the original in (no stale slot data)");
	memset(s, 0x5a, 1000);		/* a short device write */
	dma_unmap_single(dev, dma, 4096, DMA_FROM_DEVICE);
	check(all_are(buf, 1000, 0x5a) && all_are(buf + 1000, 3096, 0xa5),
	      "FROM_DEVICE short write: written part copied back, rest unchanged");

	/* Odd size and offset */
	memset(buf, 0x17, 8192);
	dma = dma_map_single(dev, buf + 333, 777, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dev, dma)) {
		check(false, "map 777 bytes at offset 333");
		return;
	}
	memset(slot_of(dma), 0x71, 777);
	dma_unmap_single(dev, dma, 777, DMA_BIDIRECTIONAL);
	check(all_are(buf, 333, 0x17) && all_are(buf + 333, 777, 0x71) &&
	      all_are(buf + 1110, 8192 - 1110, 0x17),
	      "BIDIRECTIONAL 777 bytes at offset 333: exactly that range copied back");
}

static void test_min_align(void)
{
	static const size_t offs[] = { 0, 0x200, 0x234, 0xffc, 0x1001 };
	static const size_t sizes[] = { 1, 512, 3000, 4096, 65536 };
	size_t max, i, j;
	int bad = 0;
	dma_addr_t dma;

	dma_set_min_align_mask(dev, 0xfff);
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		for (j = 0; j < ARRAY_SIZE(sizes); j++) {
			u8 *orig = buf + offs[i];

			memset(orig, (u8)(i * 16 + j), sizes[j]);
			dma = dma_map_single(dev, orig, sizes[j],
					     DMA_BIDIRECTIONAL);
			if (dma_mapping_error(dev, dma)) {
				pr_err("min_align: map %zu at %#zx failed\n",
				       sizes[j], offs[i]);
				bad++;
				continue;
			}
			if ((dma & 0xfff) != (virt_to_phys(orig) & 0xfff) ||
			    !all_are(slot_of(dma), sizes[j], (u8)(i * 16 + j))) {
				pr_err("min_align: %zu at %#zx -> %pad\n",
				       sizes[j], offs[i], &dma);
				bad++;
			}
			dma_unmap_single(dev, dma, sizes[j],
					 DMA_BIDIRECTIONAL);
		}
	}
	check(!bad, "min_align_mask 0xfff: low 12 bits of 25 mappings preserved, data bounced");

	max = dma_max_mapping_size(dev);
	check(max == SZ_512K - SZ_4K,
	      "dma_max_mapping_size() with min_align_mask 0xfff is 508 KiB (%zu)",
	      max);
	dma = dma_map_single(dev, buf + 0xfff, max, DMA_TO_DEVICE);
	check(!dma_mapping_error(dev, dma) && (dma & 0xfff) == 0xfff,
	      "a max-size mapping at the worst offset (0xfff) succeeds");
	if (!dma_mapping_error(dev, dma))
		dma_unmap_single(dev, dma, max, DMA_TO_DEVICE);
	dma = dma_map_single(dev, buf + 0x200, SZ_512K, DMA_TO_DEVICE);
	check(dma_mapping_error(dev, dma),
	      "512 KiB at offset 0x200 (needs more than a slot) is refused");
	if (!dma_mapping_error(dev, dma))
		dma_unmap_single(dev, dma, SZ_512K, DMA_TO_DEVICE);
	dma_set_min_align_mask(dev, 0);
}

static void test_skip_cpu_sync(void)
{
	dma_addr_t dma;

	memset(buf, 0x11, 4096);
	dma = dma_map_single_attrs(dev, buf, 4096, DMA_FROM_DEVICE,
				   DMA_ATTR_SKIP_CPU_SYNC);
	if (dma_mapping_error(dev, dma)) {
		check(false, "map with SKIP_CPU_SYNC");
		return;
	}
	check(all_are(slot_of(dma), 4096, 0x11),
	      "map with SKIP_CPU_SYNC still bounces the original in (as swiotlb)");
	memset(slot_of(dma), 0x22, 4096);
	dma_unmap_single_attrs(dev, dma, 4096, DMA_FROM_DEVICE,
			       DMA_ATTR_SKIP_CPU_SYNC);
	check(all_are(buf, 4096, 0x11),
	      "unmap with SKIP_CPU_SYNC does not copy back");

	dma = dma_map_single_attrs(dev, buf, 4096, DMA_BIDIRECTIONAL,
				   DMA_ATTR_SKIP_CPU_SYNC);
	if (dma_mapping_error(dev, dma)) {
		check(false, "map BIDIRECTIONAL with SKIP_CPU_SYNC");
		return;
	}
	memset(slot_of(dma), 0x33, 4096);
	dma_sync_single_for_cpu(dev, dma, 4096, DMA_BIDIRECTIONAL);
	check(all_are(buf, 4096, 0x33),
	      "explicit sync_for_cpu copies back under SKIP_CPU_SYNC");
	memset(slot_of(dma), 0x44, 4096);
	dma_unmap_single_attrs(dev, dma, 4096, DMA_BIDIRECTIONAL,
			       DMA_ATTR_SKIP_CPU_SYNC);
	check(all_are(buf, 4096, 0x33),
	      "... and the SKIP_CPU_SYNC unmap after it does not");
}

/*
 * A deliberately invalid sync, for cc_swiotlb to refuse.  On a kernel with
 * dma-debug (make check-debug) dma_sync_single_for_cpu() would also report
 * the misuse and fail the case: call the device's ops, as it does, directly.
 */
static void invalid_sync_for_cpu(dma_addr_t dma, size_t size,
				 enum dma_data_direction dir)
{
	const struct dma_map_ops *ops = get_dma_ops(dev);

	if (IS_ENABLED(CONFIG_DMA_API_DEBUG) && ops && ops->sync_single_for_cpu)
		ops->sync_single_for_cpu(dev, dma, size, dir);
	else
		dma_sync_single_for_cpu(dev, dma, size, dir);
}

static void test_partial_sync(void)
{
	dma_addr_t dma;
	u8 *s;

	memset(buf, 0x01, 8192);
	dma = dma_map_single(dev, buf, 8192, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dev, dma)) {
		check(false, "map 8 KiB BIDIRECTIONAL");
		return;
	}
	s = slot_of(dma);
	memset(s, 0xee, 8192);
	dma_sync_single_for_cpu(dev, dma + 1000, 500, DMA_BIDIRECTIONAL);
	check(all_are(buf, 1000, 0x01) && all_are(buf + 1000, 500, 0xee) &&
	      all_are(buf + 1500, 8192 - 1500, 0x01),
	      "sync_for_cpu(dma + 1000, 500) copies exactly that range");
	dma_sync_single_range_for_cpu(dev, dma, 3000, 100, DMA_BIDIRECTIONAL);
	check(all_are(buf + 1500, 1500, 0x01) && all_are(buf + 3000, 100, 0xee) &&
	      all_are(buf + 3100, 8192 - 3100, 0x01),
	      "sync_single_range_for_cpu(dma, 3000, 100) copies exactly that range");
	memset(buf + 5000, 0x77, 100);
	dma_sync_single_for_device(dev, dma + 5000, 100, DMA_BIDIRECTIONAL);
	check(all_are(s + 4900, 100, 0xee) && all_are(s + 5000, 100, 0x77) &&
	      all_are(s + 5100, 100, 0xee),
	      "sync_for_device(dma + 5000, 100) copies exactly that range in");
	/* A sync running past the mapping is refused, not half done. */
	invalid_sync_for_cpu(dma + 8000, 500, DMA_BIDIRECTIONAL);
	check(all_are(buf + 8000, 192, 0x01),
	      "a sync running past the end of the mapping copies nothing");
	dma_unmap_single(dev, dma, 8192, DMA_BIDIRECTIONAL);
	check(all_are(buf + 5000, 100, 0x77) && all_are(buf, 1000, 0xee),
	      "unmap copies back the whole mapping");
}

static void test_sg(void)
{
	static const unsigned int off[] = { 0, 8192, 20000, 70000 };
	static const unsigned int len[] = { 4096, 5000, 512, 65536 };
	struct scatterlist *sg;
	struct sg_table sgt;
	bool ok = true;
	int i, ret;

	if (sg_alloc_table(&sgt, ARRAY_SIZE(off), GFP_KERNEL)) {
		check(false, "sg_alloc_table");
		return;
	}
	memset(buf, 0x3c, 200000);
	for_each_sgtable_sg(&sgt, sg, i)
		sg_set_buf(sg, buf + off[i], len[i]);
	ret = dma_map_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
	check(!ret && sgt.nents == ARRAY_SIZE(off),
	      "map a 4-entry sg table (ret %d, nents %u)", ret, sgt.nents);
	if (ret)
		goto out;
	for_each_sgtable_dma_sg(&sgt, sg, i) {
		ok &= all_are(slot_of(sg_dma_address(sg)), sg_dma_len(sg), 0x3c);
		memset(slot_of(sg_dma_address(sg)), 0xc3, sg_dma_len(sg));
	}
	check(ok, "every sg entry bounced in");
	dma_sync_sgtable_for_cpu(dev, &sgt, DMA_BIDIRECTIONAL);
	ok = true;
	for (i = 0; i < ARRAY_SIZE(off); i++)
		ok &= all_are(buf + off[i], len[i], 0xc3);
	check(ok && all_are(buf + 4096, 4096, 0x3c),
	      "sync_sgtable_for_cpu copies every entry back, nothing else");
	dma_unmap_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
out:
	sg_free_table(&sgt);
}

static void test_oversize(void)
{
	struct sg_table sgt;
	dma_addr_t dma;
	int ret;

	dma = dma_map_single(dev, buf, SZ_1M, DMA_TO_DEVICE);
	check(dma_mapping_error(dev, dma), "a 1 MiB dma_map_single is refused");
	if (!dma_mapping_error(dev, dma))
		dma_unmap_single(dev, dma, SZ_1M, DMA_TO_DEVICE);
	dma = dma_map_single(dev, buf, SZ_512K + 1, DMA_TO_DEVICE);
	check(dma_mapping_error(dev, dma), "a 512 KiB + 1 mapping is refused");
	if (!dma_mapping_error(dev, dma))
		dma_unmap_single(dev, dma, SZ_512K + 1, DMA_TO_DEVICE);

	if (sg_alloc_table(&sgt, 2, GFP_KERNEL))
		return;
	sg_set_buf(sgt.sgl, buf, 4096);
	sg_set_buf(sg_next(sgt.sgl), buf + SZ_64K, SZ_512K + SZ_4K);
	ret = dma_map_sgtable(dev, &sgt, DMA_TO_DEVICE, 0);
	check(ret == -EINVAL,
	      "an sg table with an oversize entry fails with -EINVAL (%d)", ret);
	if (!ret)
		dma_unmap_sgtable(dev, &sgt, DMA_TO_DEVICE, 0);
	sg_free_table(&sgt);
}

/*
 * Requests no slot can serve, fed to the shim's own ops where the DMA API
 * would BUG() first (an invalid direction): each must fail cleanly, with no
 * slot taken (detach at the end says -EBUSY otherwise).
 */
static void test_badinput(void)
{
	const struct dma_map_ops *ops = get_dma_ops(dev);
	struct sg_table sgt;
	dma_addr_t dma, stray;
	int ret;

	dma = dma_map_single(dev, buf, 0, DMA_TO_DEVICE);
	check(dma_mapping_error(dev, dma), "a zero-length dma_map_single is refused");
	dma = dma_map_single(dev, buf, 0, DMA_FROM_DEVICE);
	check(dma_mapping_error(dev, dma), "a zero-length FROM_DEVICE map is refused");

	if (!sg_alloc_table(&sgt, 2, GFP_KERNEL)) {
		sg_set_buf(sgt.sgl, buf, 4096);
		sg_set_buf(sg_next(sgt.sgl), buf + SZ_64K, 0);
		ret = dma_map_sgtable(dev, &sgt, DMA_TO_DEVICE, 0);
		check(ret == -EINVAL,
		      "an sg table with a zero-length entry fails with -EINVAL (%d)",
		      ret);
		if (!ret)
			dma_unmap_sgtable(dev, &sgt, DMA_TO_DEVICE, 0);
		sg_free_table(&sgt);
	}

	check(ops && ops->map_page && ops->map_sg, "the device has the shim's ops");
	if (!ops || !ops->map_page || !ops->map_sg)
		return;
	dma = ops->map_page(dev, virt_to_page(buf), 0, 4096, DMA_NONE, 0);
	check(dma == DMA_MAPPING_ERROR, "map_page with DMA_NONE is refused");
	dma = ops->map_page(dev, virt_to_page(buf), 0, 4096,
			    (enum dma_data_direction)7, 0);
	check(dma == DMA_MAPPING_ERROR, "map_page with direction 7 is refused");
	if (!sg_alloc_table(&sgt, 2, GFP_KERNEL)) {
		sg_set_buf(sgt.sgl, buf, 4096);
		sg_set_buf(sg_next(sgt.sgl), buf + SZ_64K, 4096);
		ret = ops->map_sg(dev, sgt.sgl, 2, DMA_NONE, 0);
		check(ret == -EINVAL, "map_sg with DMA_NONE fails with -EINVAL (%d)",
		      ret);
		sg_free_table(&sgt);
	}

	test_oversize();

	/* The largest mapping there is still works. */
	dma = dma_map_single(dev, buf, SZ_512K, DMA_BIDIRECTIONAL);
	check(!dma_mapping_error(dev, dma), "a 512 KiB mapping (the largest slot) works");
	if (dma_mapping_error(dev, dma))
		return;
	dma_unmap_single(dev, dma, SZ_512K, DMA_BIDIRECTIONAL);
	/* Unmapped twice: the second one must be ignored, not free a slot. */
	memset(buf, 0x44, 4096);
	ops->unmap_page(dev, dma, SZ_512K, DMA_BIDIRECTIONAL, 0);
	check(all_are(buf, 4096, 0x44), "a double unmap copies nothing back");

	/* Addresses that never were a mapping of this device. */
	stray = phys_to_dma(dev, virt_to_phys(buf));
	ops->unmap_page(dev, stray, 4096, DMA_FROM_DEVICE, 0);
	check(all_are(buf, 4096, 0x44), "unmap of an address never mapped copies nothing");
	dma = dma_map_single(dev, buf, 4096, DMA_BIDIRECTIONAL);
	if (!dma_mapping_error(dev, dma)) {
		memset(slot_of(dma), 0x66, 4096);
		invalid_sync_for_cpu(dma + 8192, 64, DMA_FROM_DEVICE);
		invalid_sync_for_cpu(dma + 4000, 200, DMA_FROM_DEVICE);
		check(all_are(buf, 4096, 0x44),
		      "syncs outside the mapping are refused (nothing copied)");
		dma_unmap_single(dev, dma, 4096, DMA_BIDIRECTIONAL);
		check(all_are(buf, 4096, 0x66), "the mapping itself still works");
	}
}

/*
 * The host sees the bounce slot, not the original: whatever a slot held for
 * one mapping must never reach another mapping's buffer, even when the
 * device writes less than it was given (or nothing at all), with and
 * without DMA_ATTR_SKIP_CPU_SYNC.
 */
static void test_security(void)
{
	static const size_t sizes[] = { 512, 4096, 65536, SZ_512K };
	static const unsigned long attrs[] = { 0, DMA_ATTR_SKIP_CPU_SYNC };
	int i, a, round, reused = 0, leaks = 0;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t sz = sizes[i];

		for (a = 0; a < ARRAY_SIZE(attrs); a++) {
			for (round = 0; round < 8; round++) {
				dma_addr_t d1, d2;

				memset(buf, 0x5e, sz);	/* the "secret" */
				d1 = dma_map_single(dev, buf, sz, DMA_TO_DEVICE);
				if (dma_mapping_error(dev, d1))
					continue;
				dma_unmap_single(dev, d1, sz, DMA_TO_DEVICE);
				memset(buf, 0, sz);
				d2 = dma_map_single_attrs(dev, buf, sz,
							  DMA_FROM_DEVICE,
							  attrs[a]);
				if (dma_mapping_error(dev, d2))
					continue;
				reused += d1 == d2;
				/* short write: round 0 writes nothing */
				memset(slot_of(d2), 0xd0, round * sz / 16);
				dma_unmap_single_attrs(dev, d2, sz,
						       DMA_FROM_DEVICE, 0);
				leaks += !!memchr(buf, 0x5e, sz);
			}
		}
	}
	check(reused > 0, "slots were reused between mappings (%d times)", reused);
	check(!leaks, "FROM_DEVICE short writes never return another mapping's data (%d leaks)",
	      leaks);

	for (round = 0; round < 8; round++) {
		size_t sz = round & 1 ? 4096 : SZ_64K;
		dma_addr_t dma;
		u8 *p;

		p = dma_alloc_coherent(dev, sz, &dma, GFP_KERNEL);
		if (!p) {
			check(false, "dma_alloc_coherent %zu", sz);
			return;
		}
		check(all_are(p, sz, 0), "coherent %zu bytes zeroed (round %d)", sz, round);
		memset(p, 0x5e, sz);
		dma_free_coherent(dev, sz, p, dma);
	}
}

static void test_coherent(void)
{
	static const size_t sizes[] = { 100, 4096, 16384, 65536, SZ_512K,
					SZ_1M, SZ_2M };
	struct sg_table sgt;
	struct page *page;
	dma_addr_t dma;
	size_t i;
	void *p;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t align = PAGE_SIZE << get_order(sizes[i]);
		int round;

		for (round = 0; round < 2; round++) {
			p = dma_alloc_coherent(dev, sizes[i], &dma, GFP_KERNEL);
			if (!p) {
				check(false, "dma_alloc_coherent(%zu)", sizes[i]);
				break;
			}
			check(all_are(p, sizes[i], 0) && !(dma & (align - 1)) &&
			      slot_of(dma) == p,
			      "coherent %zu bytes (round %d): zeroed, %zu-aligned, dma matches cpu address",
			      sizes[i], round, align);
			memset(p, 0xff, sizes[i]);
			dma_free_coherent(dev, sizes[i], p, dma);
		}
	}

	/* The pool serves atomic callers without converting anything. */
	p = dma_alloc_coherent(dev, 4096, &dma, GFP_ATOMIC);
	check(p && all_are(p, 4096, 0), "GFP_ATOMIC coherent 4 KiB from the pool");
	if (p) {
		check(!dma_get_sgtable(dev, &sgt, p, dma, 4096) &&
		      sg_page(sgt.sgl) == virt_to_page(p),
		      "dma_get_sgtable on coherent memory");
		sg_free_table(&sgt);
		dma_free_coherent(dev, 4096, p, dma);
	}

	page = dma_alloc_pages(dev, 8192, &dma, DMA_BIDIRECTIONAL, GFP_KERNEL);
	check(page && slot_of(dma) == page_address(page) &&
	      all_are(page_address(page), 8192, 0),
	      "dma_alloc_pages 8 KiB: shared, zeroed");
	if (page) {
		/*
		 * 6.1's dma-debug records dma_alloc_pages() as a streaming
		 * mapping and, at dma_free_pages(), wants its error checked.
		 */
		dma_mapping_error(dev, dma);
		memset(page_address(page), 0x42, 8192);
		dma_sync_single_for_device(dev, dma, 8192, DMA_BIDIRECTIONAL);
		dma_sync_single_for_cpu(dev, dma, 8192, DMA_BIDIRECTIONAL);
		check(all_are(page_address(page), 8192, 0x42),
		      "syncs on dma_alloc_pages memory leave it alone");
		dma_free_pages(dev, 8192, page, dma, DMA_BIDIRECTIONAL);
	}

	dma = dma_map_resource(dev, 0xfe000000, 4096, DMA_BIDIRECTIONAL, 0);
	check(dma == 0xfe000000, "map_resource returns the MMIO address unbounced");
	if (!dma_mapping_error(dev, dma))
		dma_unmap_resource(dev, dma, 4096, DMA_BIDIRECTIONAL, 0);
}

/*
 * Take every slot that can hold 4 KiB (waiting for kccd to fill the pool up
 * to max_pool_mb), then give back three and map an 8-entry sg list: it must
 * fail with -ENOMEM and give the three back, which three single maps then
 * prove.
 */
static void test_exhaustion(void)
{
	struct sg_table sgt;
	struct scatterlist *sg;
	dma_addr_t *h, dma;
	int n = 0, misses = 0, i, ret, got;

	h = kvmalloc_array(MAX_HANDLES, sizeof(*h), GFP_KERNEL);
	if (!h || sg_alloc_table(&sgt, 8, GFP_KERNEL)) {
		kvfree(h);
		check(false, "exhaustion test setup");
		return;
	}
	while (n < MAX_HANDLES && misses < 50) {
		dma = dma_map_single_attrs(dev, buf, 4096, DMA_TO_DEVICE,
					   DMA_ATTR_NO_WARN);
		if (dma_mapping_error(dev, dma)) {
			misses++;
			msleep(20);	/* kccd refills up to the cap */
			continue;
		}
		misses = 0;
		h[n++] = dma;
	}
	check(n < MAX_HANDLES && n > 3,
	      "pool exhausted after %d 4 KiB mappings (map_single returned an error, no crash)",
	      n);
	if (n <= 3 || n >= MAX_HANDLES)
		goto out;

	for_each_sgtable_sg(&sgt, sg, i)
		sg_set_buf(sg, buf + i * 8192, 4096);

	/* One CPU, so the three slots stay in this CPU's magazine. */
	get_cpu();
	for (i = 0; i < 3; i++)
		dma_unmap_single(dev, h[--n], 4096, DMA_TO_DEVICE);
	ret = dma_map_sgtable(dev, &sgt, DMA_TO_DEVICE, DMA_ATTR_NO_WARN);
	for (got = 0; got < 4; got++) {
		dma = dma_map_single_attrs(dev, buf, 4096, DMA_TO_DEVICE,
					   DMA_ATTR_NO_WARN);
		if (dma_mapping_error(dev, dma))
			break;
		h[n++] = dma;
	}
	put_cpu();
	check(ret == -ENOMEM, "8-entry sg on an exhausted pool fails with -ENOMEM (%d)",
	      ret);
	if (!ret)
		dma_unmap_sgtable(dev, &sgt, DMA_TO_DEVICE, 0);
	check(got == 3,
	      "the failed sg map unwound: the 3 slots it had taken map again (%d)",
	      got);
out:
	while (n)
		dma_unmap_single(dev, h[--n], 4096, DMA_TO_DEVICE);
	sg_free_table(&sgt);
	kvfree(h);
}

static void test_attach_api(void)
{
	struct device *pci;
	dma_addr_t dma;
	int ret;

	check(cc_swiotlb_attach(dev) == -EEXIST, "attaching twice says -EEXIST");
	if (bound_dev) {
		pci = bus_find_device_by_name(&pci_bus_type, NULL, bound_dev);
		if (pci) {
			ret = cc_swiotlb_attach(pci);
			check(ret == -EBUSY,
			      "cc_swiotlb_attach(%s), which has a driver, says -EBUSY (%d)",
			      bound_dev, ret);
			if (!ret)
				cc_swiotlb_detach(pci);
			put_device(pci);
		} else {
			check(false, "no PCI device %s", bound_dev);
		}
	}
	dma = dma_map_single(dev, buf, 4096, DMA_TO_DEVICE);
	ret = cc_swiotlb_detach(dev);
	check(ret == -EBUSY, "detach with a mapping outstanding says -EBUSY (%d)",
	      ret);
	if (!dma_mapping_error(dev, dma))
		dma_unmap_single(dev, dma, 4096, DMA_TO_DEVICE);
}

/* Is the page (order @order) untouched: same references, same bytes? */
static bool page_intact(struct page *pg, unsigned int order, int refs, u8 v)
{
	return page_ref_count(pg) == refs &&
	       all_are(page_address(pg), PAGE_SIZE << order, v);
}

static dma_addr_t dma_of_page(struct page *pg)
{
	return phys_to_dma_unencrypted(dev, page_to_phys(pg));
}

static void test_foreign_free(void)
{
	struct platform_device_info info = {
		.name = "ccs_semantics_other",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct platform_device *other;
	int refs, attempted = 0;
	dma_addr_t dma;
	struct page *pg;
	void *p;

	/* a page from the page allocator, through both free entry points */
	pg = alloc_page(GFP_KERNEL);
	if (pg) {
		memset(page_address(pg), 0x5e, PAGE_SIZE);
		refs = page_ref_count(pg);
		dma_free_coherent(dev, PAGE_SIZE, page_address(pg),
				  dma_of_page(pg));
		attempted++;
		check(page_intact(pg, 0, refs, 0x5e),
		      "dma_free_coherent() of an alloc_page() page: refused, page intact (refcount %d)",
		      page_ref_count(pg));
		dma_free_pages(dev, PAGE_SIZE, pg, dma_of_page(pg),
			       DMA_BIDIRECTIONAL);
		attempted++;
		check(page_intact(pg, 0, refs, 0x5e),
		      "dma_free_pages() of an alloc_page() page: refused, page intact");
		__free_page(pg);
	} else {
		check(false, "alloc_page()");
	}

	pg = alloc_pages(GFP_KERNEL, 2);
	if (pg) {
		memset(page_address(pg), 0x6d, PAGE_SIZE << 2);
		refs = page_ref_count(pg);
		dma_free_coherent(dev, PAGE_SIZE << 2, page_address(pg),
				  dma_of_page(pg));
		attempted++;
		check(page_intact(pg, 2, refs, 0x6d),
		      "dma_free_coherent() of an order-2 allocation: refused, intact");
		__free_pages(pg, 2);
	} else {
		check(false, "alloc_pages(order 2)");
	}

	/* dma-direct memory of a device the module does not own */
	other = platform_device_register_full(&info);
	if (!IS_ERR(other)) {
		p = dma_alloc_coherent(&other->dev, PAGE_SIZE, &dma, GFP_KERNEL);
		if (p) {
			memset(p, 0x3c, PAGE_SIZE);
			dma_free_coherent(dev, PAGE_SIZE, p, dma);
			attempted++;
			check(all_are(p, PAGE_SIZE, 0x3c),
			      "another device's dma-direct memory: refused, intact");
			dma_free_coherent(&other->dev, PAGE_SIZE, p, dma);
		} else {
			check(false, "dma_alloc_coherent() on an unattached device");
		}
		platform_device_unregister(other);
	} else {
		check(false, "second platform device");
	}

	/* the module's own page allocation, freed with the wrong size */
	p = dma_alloc_coherent(dev, SZ_2M, &dma, GFP_KERNEL);
	if (p) {
		memset(p, 0x77, SZ_2M);
		dma_free_coherent(dev, SZ_1M, p, dma);
		attempted++;
		check(all_are(p, SZ_2M, 0x77),
		      "own 2 MiB allocation freed as 1 MiB: refused, intact");
		dma_free_coherent(dev, SZ_2M, p, dma);
	} else {
		check(false, "dma_alloc_coherent(2 MiB)");
	}

	/* a pool allocation freed twice */
	p = dma_alloc_coherent(dev, PAGE_SIZE, &dma, GFP_KERNEL);
	if (p) {
		dma_free_coherent(dev, PAGE_SIZE, p, dma);
		dma_free_coherent(dev, PAGE_SIZE, p, dma);	/* refused */
		attempted++;
	} else {
		check(false, "dma_alloc_coherent(4 KiB)");
	}
	pr_info("foreign frees attempted: %d\n", attempted);
}

struct race_io {
	unsigned long ios;
	unsigned long map_errors;
	unsigned long bad;
};

/*
 * Verified I/O on the device, as fast as it goes: every mapping must show
 * the original in the device's view, and what the device wrote must be in
 * the original after the unmap, whichever dma_map_ops (ours before the
 * detach, the old ones after it) served it.
 */
static int race_io_fn(void *data)
{
	struct race_io *r = data;
	unsigned long n = 0;

	while (!kthread_should_stop()) {
		size_t size = 512 << (n % 8);		/* 512 B .. 64 KiB */
		u8 *orig = buf + (n % 4) * SZ_64K + 64 * (n % 3);
		u8 pat = n & 0xff;
		dma_addr_t dma;

		n++;
		memset(orig, pat, size);
		dma = dma_map_single(dev, orig, size, DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, dma)) {
			r->map_errors++;
			cond_resched();
			continue;
		}
		if (!all_are(slot_of(dma), size, pat))
			r->bad++;
		memset(slot_of(dma), pat ^ 0xff, size);
		dma_unmap_single(dev, dma, size, DMA_BIDIRECTIONAL);
		if (!all_are(orig, size, pat ^ 0xff))
			r->bad++;
		r->ios++;
		cond_resched();
	}
	return 0;
}

/*
 * Rounds of: start the I/O, detach until it works (every refusal must be
 * -EBUSY), let the I/O go on through the old ops for a moment, stop it,
 * attach again.  Attaching is done only with the device quiet: the API
 * wants it so, as a mapping made with the old ops cannot be unmapped
 * through ours.
 */
static void test_detach_race(void)
{
	unsigned long deadline = jiffies + race_secs * HZ;
	unsigned long rounds = 0, busy = 0, other = 0;
	struct race_io r = { };
	struct task_struct *t;
	int ret;

	while (time_before(jiffies, deadline)) {
		t = kthread_run(race_io_fn, &r, "ccs_race_io");
		if (IS_ERR(t)) {
			check(false, "kthread_run: %ld", PTR_ERR(t));
			return;
		}
		usleep_range(1000, 5000);
		for (;;) {
			ret = cc_swiotlb_detach(dev);
			if (ret != -EBUSY)
				break;
			busy++;
			usleep_range(50, 500);
		}
		if (ret)
			other++;
		usleep_range(1000, 2000);	/* I/O through the old ops */
		kthread_stop(t);
		if (ret)
			break;
		rounds++;
		ret = cc_swiotlb_attach(dev);
		if (ret) {
			check(false, "attach again after round %lu: %d", rounds,
			      ret);
			return;
		}
	}
	pr_info("detach-race: %lu rounds, %lu detaches refused (-EBUSY), %lu I/Os, %lu map errors\n",
		rounds, busy, r.ios, r.map_errors);
	check(!other, "every refused detach said -EBUSY (last %d)", ret);
	check(rounds > 0, "detached with I/O running %lu times", rounds);
	check(r.ios > 0, "I/O ran during the race (%lu)", r.ios);
	check(!r.bad, "no data corrupted (%lu bad of %lu I/Os)", r.bad, r.ios);
}

/* Entry @i of a long list: 512 B .. 2.5 KiB at its own 3 KiB of buf. */
#define LONGSG_N	300
#define LONGSG_STRIDE	3072

static unsigned int longsg_len(int i)
{
	return 512 + (i * 512) % 2560;
}

/*
 * Map as a block driver would: -ENOMEM is back-pressure (the pool is
 * refilling), so try again a little later; anything else is the answer.
 */
static int longsg_map(struct sg_table *sgt, enum dma_data_direction dir)
{
	int tries, ret = -ENOMEM;

	for (tries = 0; ret == -ENOMEM && tries < 100; tries++) {
		if (tries)
			msleep(20);
		ret = dma_map_sgtable(dev, sgt, dir, 0);
	}
	return ret;
}

/*
 * A chained list: sg_alloc_table() puts at most SG_MAX_SINGLE_ALLOC (128)
 * entries in one page and chains the rest, so 300 entries cross two chain
 * links; every entry must be bounced in, written back and unmapped.
 */
static void test_longsg_map(void)
{
	struct scatterlist *sg;
	struct sg_table sgt;
	u32 want = ~0U, got = ~0U;
	bool in = true;
	int i, ret, n = 0;

	BUILD_BUG_ON(LONGSG_N * LONGSG_STRIDE > BUF_SIZE);
	if (sg_alloc_table(&sgt, LONGSG_N, GFP_KERNEL)) {
		check(false, "sg_alloc_table(%d)", LONGSG_N);
		return;
	}
	BUILD_BUG_ON(LONGSG_N <= SG_MAX_SINGLE_ALLOC);
	check(sg_is_chain(&sgt.sgl[SG_MAX_SINGLE_ALLOC - 1]),
	      "the %d-entry table is chained after %lu entries", LONGSG_N,
	      (unsigned long)SG_MAX_SINGLE_ALLOC - 1);
	get_random_bytes(buf, LONGSG_N * LONGSG_STRIDE);
	for_each_sgtable_sg(&sgt, sg, i)
		sg_set_buf(sg, buf + i * LONGSG_STRIDE, longsg_len(i));
	ret = longsg_map(&sgt, DMA_BIDIRECTIONAL);
	check(!ret && sgt.nents == LONGSG_N,
	      "map a chained %d-entry sg table (ret %d, nents %u)", LONGSG_N,
	      ret, sgt.nents);
	if (ret)
		goto out;
	/* the device checks what it got, then writes its answer */
	for_each_sgtable_dma_sg(&sgt, sg, i) {
		u8 *slot = slot_of(sg_dma_address(sg));

		in &= sg_dma_len(sg) == longsg_len(i) &&
		      !memcmp(slot, buf + i * LONGSG_STRIDE, longsg_len(i));
		get_random_bytes(slot, sg_dma_len(sg));
		want = crc32_le(want, slot, sg_dma_len(sg));
		n++;
	}
	check(in && n == LONGSG_N, "all %d entries bounced in (%d seen)",
	      LONGSG_N, n);
	dma_unmap_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
	for (i = 0; i < LONGSG_N; i++)
		got = crc32_le(got, buf + i * LONGSG_STRIDE, longsg_len(i));
	check(got == want,
	      "unmap copied every entry back (crc32 %08x, device wrote %08x)",
	      got, want);
out:
	sg_free_table(&sgt);
}

/*
 * Entry 250 of 300 is larger than any slot: the map fails with -EINVAL and
 * the 250 slots taken before it are given back (detach refuses with -EBUSY
 * while any is outstanding).  Attempts that ran out of slots earlier in the
 * list (-ENOMEM) are unwound the same way before the retry.
 */
static void test_longsg_late_failure(void)
{
	size_t big = dma_max_mapping_size(dev) + 1;
	struct scatterlist *sg;
	struct sg_table sgt;
	int i, ret;

	if (big > BUF_SIZE) {
		check(false, "max mapping size %zu fits the test buffer", big - 1);
		return;
	}
	if (sg_alloc_table(&sgt, LONGSG_N, GFP_KERNEL)) {
		check(false, "sg_alloc_table(%d)", LONGSG_N);
		return;
	}
	for_each_sgtable_sg(&sgt, sg, i) {
		if (i == 250)
			sg_set_buf(sg, buf, big);
		else
			sg_set_buf(sg, buf + i * LONGSG_STRIDE, longsg_len(i));
	}
	ret = longsg_map(&sgt, DMA_FROM_DEVICE);
	check(ret == -EINVAL,
	      "a %d-entry list whose entry 250 is oversize fails with -EINVAL (%d)",
	      LONGSG_N, ret);
	if (!ret)
		dma_unmap_sgtable(dev, &sgt, DMA_FROM_DEVICE, 0);
	ret = cc_swiotlb_detach(dev);
	check(!ret, "the 250 entries mapped before the failure were unwound: detach (%d)",
	      ret);
	if (!ret) {
		ret = cc_swiotlb_attach(dev);
		check(!ret, "attach again (%d)", ret);
	}
	sg_free_table(&sgt);
}

#define FOUR_GIB	BIT_ULL(32)

static struct ccs_nomask {
	bool probed;
	bool handed_back;
	int maps;
	int below;
	int good;
	bool coherent_below;
} nomask;

/*
 * Move data through @d as a device would: map, check the device sees the
 * data, let it write, unmap, check the CPU sees what it wrote.  Counts
 * mappings, those below 4 GiB and those whose data came through intact.
 */
static void nomask_xfer(struct device *d, size_t size,
			enum dma_data_direction dir)
{
	dma_addr_t dma;
	u32 want, got;
	u8 *slot;
	bool ok = true;

	get_random_bytes(buf, size);
	want = crc32_le(~0U, buf, size);
	dma = dma_map_single(d, buf, size, dir);
	if (dma_mapping_error(d, dma))
		return;
	nomask.maps++;
	if (dma + size <= FOUR_GIB)
		nomask.below++;
	slot = phys_to_virt(dma_to_phys(d, dma));
	if (dir != DMA_FROM_DEVICE)
		ok &= crc32_le(~0U, slot, size) == want;
	if (dir != DMA_TO_DEVICE) {
		get_random_bytes(slot, size);
		want = crc32_le(~0U, slot, size);
	}
	dma_unmap_single(d, dma, size, dir);
	got = crc32_le(~0U, buf, size);
	nomask.good += ok && got == want;
}

/* A PCI driver that never sets a DMA mask: PCI's default of 32 bits. */
static int nomask_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	static const enum dma_data_direction dirs[] = {
		DMA_FROM_DEVICE, DMA_TO_DEVICE, DMA_BIDIRECTIONAL,
	};
	struct device *d = &pdev->dev;
	dma_addr_t h;
	void *v;
	int i;

	nomask.probed = true;
	for (i = 0; i < 96; i++)
		nomask_xfer(d, 512 << (i % 8), dirs[i % 3]);
	nomask.handed_back = !get_dma_ops(d);
	v = dma_alloc_coherent(d, SZ_16K, &h, GFP_KERNEL);
	if (v) {
		nomask.coherent_below = h + SZ_16K <= FOUR_GIB;
		dma_free_coherent(d, SZ_16K, v, h);
	}
	return 0;
}

static const struct pci_device_id nomask_ids[] = {
	{ PCI_DEVICE(0x1b36, 0x0005) },	/* QEMU's pci-testdev */
	{ }
};

static struct pci_driver nomask_driver = {
	.name = "ccs_nomask",
	.id_table = nomask_ids,
	.probe = nomask_probe,
};

static bool nomask_registered;

static void test_nomask_pci(void)
{
	int ret = pci_register_driver(&nomask_driver);

	check(!ret, "register a PCI driver for 1b36:0005 (%d)", ret);
	if (ret)
		return;
	nomask_registered = true;
	check(nomask.probed, "it probed a pci-testdev");
	check(nomask.maps == 96, "all 96 maps of a driver that sets no mask succeeded (%d)",
	      nomask.maps);
	check(nomask.handed_back, "the device was handed back to stock DMA ops");
	check(nomask.below == nomask.maps,
	      "every bounce address is below 4 GiB (%d of %d)", nomask.below,
	      nomask.maps);
	check(nomask.good == nomask.maps,
	      "data moved intact both ways, crc32 verified (%d of %d)",
	      nomask.good, nomask.maps);
	check(nomask.coherent_below, "coherent memory below 4 GiB");
}

/* An attached device that lowers its mask: refused while mapped. */
static void test_mask_lowering(void)
{
	dma_addr_t dma, dma2;
	int ret;

	dma = dma_map_single(dev, buf, 4096, DMA_TO_DEVICE);
	check(!dma_mapping_error(dev, dma) && get_dma_ops(dev),
	      "64-bit device: mapped through cc_swiotlb");
	ret = dma_set_mask(dev, DMA_BIT_MASK(32));
	check(ret == -EIO, "a 32-bit mask is refused while a mapping is outstanding (%d)",
	      ret);
	if (!dma_mapping_error(dev, dma))
		dma_unmap_single(dev, dma, 4096, DMA_TO_DEVICE);
	ret = dma_set_mask(dev, DMA_BIT_MASK(32));
	check(!ret && !get_dma_ops(dev),
	      "with nothing mapped it is accepted and the device left to stock (%d)",
	      ret);
	dma2 = dma_map_single(dev, buf, 4096, DMA_TO_DEVICE);
	check(!dma_mapping_error(dev, dma2) && dma2 + 4096 <= FOUR_GIB,
	      "stock maps it below 4 GiB (%pad)", &dma2);
	if (!dma_mapping_error(dev, dma2))
		dma_unmap_single(dev, dma2, 4096, DMA_TO_DEVICE);
	dma_set_mask(dev, DMA_BIT_MASK(64));
}

static int __init ccs_semantics_init(void)
{
	struct platform_device_info info = {
		.name = "ccs_semantics",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct platform_device *pdev;
	int ret;

	buf = (u8 *)__get_free_pages(GFP_KERNEL, BUF_ORDER);
	if (!buf)
		return -ENOMEM;
	pdev = platform_device_register_full(&info);
	if (IS_ERR(pdev)) {
		free_pages((unsigned long)buf, BUF_ORDER);
		return PTR_ERR(pdev);
	}
	dev = &pdev->dev;

	ret = cc_swiotlb_attach(dev);
	check(!ret, "cc_swiotlb_attach(%s) (%d)", dev_name(dev), ret);
	if (!ret && !strcmp(mode, "badinput")) {
		test_badinput();
		ret = cc_swiotlb_detach(dev);
		check(!ret, "cc_swiotlb_detach(): no slot left behind (%d)", ret);
	} else if (!ret && !strcmp(mode, "foreign-free")) {
		test_foreign_free();
		ret = cc_swiotlb_detach(dev);
		check(!ret, "cc_swiotlb_detach(): nothing left behind (%d)", ret);
	} else if (!ret && !strcmp(mode, "detach-race")) {
		test_detach_race();
		ret = cc_swiotlb_detach(dev);
		check(!ret, "cc_swiotlb_detach() after the race (%d)", ret);
	} else if (!ret && !strcmp(mode, "longsg")) {
		test_longsg_map();
		test_longsg_late_failure();
		ret = cc_swiotlb_detach(dev);
		check(!ret, "cc_swiotlb_detach(): no slot left behind (%d)", ret);
	} else if (!ret && !strcmp(mode, "nomask")) {
		test_mask_lowering();
		ret = cc_swiotlb_detach(dev);
		check(!ret, "cc_swiotlb_detach() of the device left to stock (%d)",
		      ret);
		test_nomask_pci();
	} else if (!ret && !strcmp(mode, "security")) {
		test_security();
		ret = cc_swiotlb_detach(dev);
		check(!ret, "cc_swiotlb_detach(): no slot left behind (%d)", ret);
	} else if (!ret) {
		test_bounce_in();
		test_min_align();
		test_skip_cpu_sync();
		test_partial_sync();
		test_sg();
		test_oversize();
		test_coherent();
		test_attach_api();
		if (exhaust)
			test_exhaustion();
		ret = cc_swiotlb_detach(dev);
		check(!ret, "cc_swiotlb_detach() with nothing outstanding (%d)",
		      ret);
	}

	platform_device_unregister(pdev);
	free_pages((unsigned long)buf, BUF_ORDER);
	pr_info("%d passed, %d failed\n", passes, fails);
	if (fails && nomask_registered)
		pci_unregister_driver(&nomask_driver);
	return fails ? -EINVAL : 0;
}

static void __exit ccs_semantics_exit(void)
{
	if (nomask_registered)
		pci_unregister_driver(&nomask_driver);
}

module_init(ccs_semantics_init);
module_exit(ccs_semantics_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("cc_swiotlb DMA API semantics test");
