/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test machinery of the debug flavour (make module-debug, which defines
 * CONFIG_CC_SWIOTLB_DEBUG and builds debug.c and verify.c): fault injection,
 * emulated conversion cost, kccd stalls, test_hold, the pool checker file and
 * the witness of shared pages.  The production module has none of it: every
 * hook below is then an inline that compiles to nothing.
 */
#ifndef _CC_SWIOTLB_DEBUG_H
#define _CC_SWIOTLB_DEBUG_H

#include <linux/types.h>
#include <linux/compiler.h>

struct dentry;
struct device;

#ifdef CONFIG_CC_SWIOTLB_DEBUG

/* debugfs knobs (debug.c) */
extern u32 ccs_inject_highorder_fail;
extern u32 ccs_stall_kccd;

bool ccs_debug_inject_decrypt(void);
bool ccs_debug_inject_encrypt(void);
void ccs_debug_convert_delay(unsigned int npages);
void ccs_debug_init(struct dentry *dir);
void ccs_debug_exit(void);
bool ccs_debug_hold_bytes(const void *owner, u64 *bytes);

/* kccd: allocations above a class's minimum chunk order fail */
static inline bool ccs_debug_highorder_fail(void)
{
	return READ_ONCE(ccs_inject_highorder_fail);
}

/* kccd: make no progress while set */
static inline bool ccs_debug_stall_kccd(void)
{
	return READ_ONCE(ccs_stall_kccd);
}

/* verify.c: shared-page set kept by convert.c, checked by the shim */
extern u32 ccs_verify_maps;
void ccs_verify_note_shared(void *vaddr, unsigned int npages);
void ccs_verify_note_private(void *vaddr, unsigned int npages);
void ccs_verify_mapping(struct device *dev, dma_addr_t dma, size_t size);
void ccs_verify_debugfs_init(struct dentry *dir);
void ccs_verify_reset(void);

static inline void ccs_debug_verify_mapping(struct device *dev,
					    dma_addr_t dma, size_t size)
{
	if (unlikely(READ_ONCE(ccs_verify_maps)))
		ccs_verify_mapping(dev, dma, size);
}

#else /* !CONFIG_CC_SWIOTLB_DEBUG */

static inline bool ccs_debug_inject_decrypt(void) { return false; }
static inline bool ccs_debug_inject_encrypt(void) { return false; }
static inline void ccs_debug_convert_delay(unsigned int npages) { }
static inline void ccs_debug_init(struct dentry *dir) { }
static inline void ccs_debug_exit(void) { }
static inline bool ccs_debug_hold_bytes(const void *owner, u64 *bytes) { return false; }
static inline bool ccs_debug_highorder_fail(void) { return false; }
static inline bool ccs_debug_stall_kccd(void) { return false; }
static inline void ccs_verify_note_shared(void *vaddr, unsigned int npages) { }
static inline void ccs_verify_note_private(void *vaddr, unsigned int npages) { }
static inline void ccs_verify_reset(void) { }
static inline void ccs_debug_verify_mapping(struct device *dev,
					    dma_addr_t dma, size_t size) { }

#endif /* CONFIG_CC_SWIOTLB_DEBUG */

#endif /* _CC_SWIOTLB_DEBUG_H */
