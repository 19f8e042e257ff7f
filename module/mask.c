// SPDX-License-Identifier: GPL-2.0
/*
 * DMA masks: which attached devices can use the pool, and what happens to
 * those that cannot.
 *
 * Pool memory comes from any zone, so a device whose streaming or coherent
 * mask does not reach the top of RAM (USB EHCI, or any driver that keeps
 * PCI's default of 32 bits in a guest with more than 4 GiB) cannot use it.
 * Such a device is handed back to the DMA ops it had before attach (stock
 * dma-direct, with stock swiotlb bouncing from low memory), with one log
 * line, while it has no mapping: its probe never fails because of us.
 *
 * A driver sets its masks inside probe, after the bind notifier attached
 * the device, so the decision is taken at two points:
 *  - ccs_dma_supported(), when the driver sets a mask (dma_set_mask(),
 *    dma_set_coherent_mask()); only the mask being set is known there,
 *    since dma_set_mask_and_coherent() raises the streaming mask while the
 *    coherent one still has its default;
 *  - the device's first mapping or allocation, where both masks are final
 *    as far as that request is concerned: a driver that never set a mask is
 *    caught here, and the request is forwarded to the old ops through the
 *    public DMA API.
 * After the first request passed, a mask that no longer reaches the pool is
 * still handed back if nothing is mapped, and refused otherwise.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/dma-direct.h>
#include <linux/bitops.h>
#include "internal.h"

/*
 * Hand @cd's device back to its previous DMA ops.  Lock-free, so that it
 * works from the first request, in any context; callers guarantee the
 * device has no mapping through us.  The entry stays in the attach table
 * (how=stock-mask) until the driver unbinds or the API caller detaches.
 */
static void ccs_leave_to_stock(struct ccs_dev *cd, struct device *dev,
			       const char *what, u64 mask)
{
	phys_addr_t max = ccs_shim_max_phys();

	if (test_and_set_bit(CCS_MASK_STOCK, &cd->mask_flags))
		return;
	set_dma_ops(dev, cd->prev_ops);
	dev_info(dev, CCS_NAME ": left to stock swiotlb: %s %#llx cannot reach pool memory (up to %pa)\n",
		 what, mask, &max);
}

/**
 * ccs_mask_first_use() - check both DMA masks at a device's first request
 * @cd:		attached device
 * @dev:	its struct device
 *
 * Context: any (called from the map and alloc paths); takes no lock.
 * Return: true if the device was handed back to its previous DMA ops: the
 * caller must forward the request through the public DMA API.
 */
bool ccs_mask_first_use(struct ccs_dev *cd, struct device *dev)
{
	if (!ccs_shim_mask_ok(dev, *dev->dma_mask)) {
		ccs_leave_to_stock(cd, dev, "DMA mask", *dev->dma_mask);
		return true;
	}
	if (!ccs_shim_mask_ok(dev, dev->coherent_dma_mask)) {
		ccs_leave_to_stock(cd, dev, "coherent DMA mask",
				   dev->coherent_dma_mask);
		return true;
	}
	set_bit(CCS_MASK_CHECKED, &cd->mask_flags);
	return false;
}

/* Nothing mapped or allocated through us (exact while the driver is idle). */
static bool ccs_dev_idle(const struct ccs_dev *cd)
{
	struct ccs_dev_stats s;

	ccs_dev_stats_sum(cd, &s);
	return s.maps == s.unmaps && s.coherent_allocs == s.coherent_frees;
}

/*
 * What dma-direct answers for @mask once the device is back on it: x86's
 * ZONE_DMA is the low 16 MiB, and any mask covering it (or all of RAM) is
 * served, from low memory or by stock swiotlb.
 */
static int ccs_stock_supported(struct device *dev, u64 mask)
{
	return mask >= DMA_BIT_MASK(24) ||
	       mask >= phys_to_dma_unencrypted(dev, ccs_shim_max_phys());
}

/**
 * ccs_dma_supported() - the shim's dma_supported op
 * @dev:	attached device
 * @mask:	streaming or coherent mask the driver is setting
 *
 * Called by dma_set_mask() and dma_set_coherent_mask().  A mask that cannot
 * reach the pool hands a device with nothing mapped back to stock and
 * answers as stock would; with mappings outstanding the mask is refused, so
 * the driver learns now instead of at its next request.
 *
 * Return: 1 if @mask is supported, 0 if not.
 */
int ccs_dma_supported(struct device *dev, u64 mask)
{
	struct ccs_dev *cd = container_of(dev->dma_ops, struct ccs_dev, ops);
	phys_addr_t max = ccs_shim_max_phys();

	if (ccs_shim_mask_ok(dev, mask))
		return 1;
	if (ccs_dev_idle(cd)) {
		ccs_leave_to_stock(cd, dev, "DMA mask", mask);
		return ccs_stock_supported(dev, mask);
	}
	dev_warn(dev, CCS_NAME ": DMA mask %#llx cannot reach pool memory (up to %pa) and mappings are outstanding: refused\n",
		 mask, &max);
	return 0;
}
