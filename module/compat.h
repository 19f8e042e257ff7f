/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels cc_swiotlb supports (Debian 6.1 and
 * 6.12) lives here, so the rest of the module is written against one API.
 */
#ifndef _CC_SWIOTLB_COMPAT_H
#define _CC_SWIOTLB_COMPAT_H

#include <linux/version.h>
#include <linux/dma-map-ops.h>
#include <linux/mmzone.h>

/*
 * 6.1 names the page-allocation op ->alloc_pages; 6.10 renamed it to
 * ->alloc_pages_op (and dropped ->flags and the noncontiguous ops).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define CCS_OPS_ALLOC_PAGES	alloc_pages_op
#else
#define CCS_OPS_ALLOC_PAGES	alloc_pages
#endif

/* 6.10 dropped the source argument of __assign_str() in TRACE_EVENT()s. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define ccs_assign_str(dst, src)	__assign_str(dst)
#else
#define ccs_assign_str(dst, src)	__assign_str(dst, src)
#endif

/*
 * Largest order alloc_pages() serves: 6.1 has MAX_ORDER as the exclusive
 * limit, 6.8 renamed it to MAX_PAGE_ORDER and made it inclusive.
 */
#ifdef MAX_PAGE_ORDER
#define CCS_MAX_PAGE_ORDER	MAX_PAGE_ORDER
#else
#define CCS_MAX_PAGE_ORDER	(MAX_ORDER - 1)
#endif

/*
 * 6.10 added dev->dma_skip_sync (CONFIG_DMA_NEED_SYNC): when set, the
 * dma_sync_*() wrappers never call the ops.  Whoever installs ops must
 * clear it.
 */
#ifdef CONFIG_DMA_NEED_SYNC
#define ccs_dev_need_sync(dev)	((dev)->dma_skip_sync = false)
#else
#define ccs_dev_need_sync(dev)	do { } while (0)
#endif

/*
 * 6.1 routes IOMMU-translated devices through dev->dma_ops; 6.12 uses
 * dev->dma_iommu and bypasses dma_ops entirely for them.
 */
#if defined(CONFIG_IOMMU_DMA) && LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#define ccs_dev_uses_iommu(dev)	((dev)->dma_iommu)
#else
#define ccs_dev_uses_iommu(dev)	false
#endif

#endif /* _CC_SWIOTLB_COMPAT_H */
