/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cc_swiotlb: exported API for other kernel modules.
 *
 * A device is normally attached by the module's attach= policy when a driver
 * binds to it.  These calls let another module attach a device that has no
 * driver (for example a device it created and drives itself) explicitly.
 */
#ifndef _CC_SWIOTLB_H
#define _CC_SWIOTLB_H

struct device;

/**
 * cc_swiotlb_attach() - bounce a device's DMA through cc_swiotlb
 * @dev:	device with a DMA mask and no driver bound
 *
 * Installs cc_swiotlb's dma_map_ops on @dev.  The device must have no driver
 * bound (dma_map_ops are never swapped under a driver that may hold
 * mappings) and its DMA mask must reach the pool's memory.  Holds a
 * reference on @dev and on the cc_swiotlb module until cc_swiotlb_detach();
 * the caller must detach before it releases the device.
 *
 * Context: process context, may sleep.
 * Return: 0; -EBUSY if a driver is bound; -EEXIST if already attached;
 * -EINVAL for a device that does no DMA; -EOPNOTSUPP for a device behind an
 * IOMMU or with other dma_map_ops; -EIO if its DMA mask cannot reach the
 * pool; -ENODEV if cc_swiotlb is going away; -ENOMEM.
 */
int cc_swiotlb_attach(struct device *dev);

/**
 * cc_swiotlb_detach() - give a device back its previous dma_map_ops
 * @dev:	device attached with cc_swiotlb_attach()
 *
 * Context: process context, may sleep.
 * Return: 0; -ENOENT if @dev is not attached; -EBUSY if a driver is bound
 * (such devices detach when their driver unbinds) or if mappings or
 * coherent allocations of @dev are still outstanding.
 */
int cc_swiotlb_detach(struct device *dev);

#endif /* _CC_SWIOTLB_H */
