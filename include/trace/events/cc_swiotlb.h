/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of cc_swiotlb (system "cc_swiotlb").  Field names follow
 * upstream swiotlb:swiotlb_bounced (dev_name, dev_addr, size) so existing
 * bpftrace habits carry over; sizes of classes are reported in bytes.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM cc_swiotlb

#if !defined(_TRACE_CC_SWIOTLB_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_CC_SWIOTLB_H

#include <linux/tracepoint.h>
#include <linux/device.h>
#include <linux/dma-direction.h>
#include "compat.h"

/* Why a mapping failed: map_fail's "reason" field. */
#ifndef _CCS_MAP_FAIL_REASON
#define _CCS_MAP_FAIL_REASON
enum ccs_map_fail_reason {
	CCS_FAIL_EXHAUSTED = 1,		/* class and every larger one empty */
	CCS_FAIL_OVERSIZE,		/* larger than the largest class */
	CCS_FAIL_BAD_DIR,		/* invalid DMA direction */
	CCS_FAIL_UNREACHABLE,		/* pool memory beyond the DMA mask */
	CCS_FAIL_ZERO_LENGTH,		/* a zero-length mapping */
};
#endif

/* Tell the tracing core the values so tools print names, not numbers. */
TRACE_DEFINE_ENUM(CCS_FAIL_EXHAUSTED);
TRACE_DEFINE_ENUM(CCS_FAIL_OVERSIZE);
TRACE_DEFINE_ENUM(CCS_FAIL_BAD_DIR);
TRACE_DEFINE_ENUM(CCS_FAIL_UNREACHABLE);
TRACE_DEFINE_ENUM(CCS_FAIL_ZERO_LENGTH);

#define CCS_PRINT_DIR(dir)					\
	__print_symbolic(dir,					\
			 { DMA_BIDIRECTIONAL, "BIDIRECTIONAL" },	\
			 { DMA_TO_DEVICE, "TO_DEVICE" },		\
			 { DMA_FROM_DEVICE, "FROM_DEVICE" },	\
			 { DMA_NONE, "NONE" })

DECLARE_EVENT_CLASS(cc_swiotlb_bounce,
	TP_PROTO(struct device *dev, dma_addr_t dev_addr, phys_addr_t orig,
		 size_t size, u32 slot_size, int dir),
	TP_ARGS(dev, dev_addr, orig, size, slot_size, dir),
	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(u64, dev_addr)
		__field(u64, orig)
		__field(size_t, size)
		__field(u32, slot_size)
		__field(int, dir)
	),
	TP_fast_assign(
		ccs_assign_str(dev_name, dev_name(dev));
		__entry->dev_addr = dev_addr;
		__entry->orig = orig;
		__entry->size = size;
		__entry->slot_size = slot_size;
		__entry->dir = dir;
	),
	TP_printk("dev_name: %s dev_addr=0x%llx orig=0x%llx size=%zu slot=%u dir=%s",
		  __get_str(dev_name), __entry->dev_addr, __entry->orig,
		  __entry->size, __entry->slot_size,
		  CCS_PRINT_DIR(__entry->dir))
);

/* A streaming mapping was bounced into a slot. */
DEFINE_EVENT(cc_swiotlb_bounce, cc_swiotlb_map,
	TP_PROTO(struct device *dev, dma_addr_t dev_addr, phys_addr_t orig,
		 size_t size, u32 slot_size, int dir),
	TP_ARGS(dev, dev_addr, orig, size, slot_size, dir));

/* A streaming mapping was torn down and its slot freed. */
DEFINE_EVENT(cc_swiotlb_bounce, cc_swiotlb_unmap,
	TP_PROTO(struct device *dev, dma_addr_t dev_addr, phys_addr_t orig,
		 size_t size, u32 slot_size, int dir),
	TP_ARGS(dev, dev_addr, orig, size, slot_size, dir));

/* A dma_sync_*: for_cpu 1 copies slot -> original, 0 original -> slot. */
TRACE_EVENT(cc_swiotlb_sync,
	TP_PROTO(struct device *dev, dma_addr_t dev_addr, size_t size,
		 int dir, bool for_cpu),
	TP_ARGS(dev, dev_addr, size, dir, for_cpu),
	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(u64, dev_addr)
		__field(size_t, size)
		__field(int, dir)
		__field(bool, for_cpu)
	),
	TP_fast_assign(
		ccs_assign_str(dev_name, dev_name(dev));
		__entry->dev_addr = dev_addr;
		__entry->size = size;
		__entry->dir = dir;
		__entry->for_cpu = for_cpu;
	),
	TP_printk("dev_name: %s dev_addr=0x%llx size=%zu dir=%s for_%s",
		  __get_str(dev_name), __entry->dev_addr, __entry->size,
		  CCS_PRINT_DIR(__entry->dir),
		  __entry->for_cpu ? "cpu" : "device")
);

/* A mapping could not be served; the driver sees a mapping error. */
TRACE_EVENT(cc_swiotlb_map_fail,
	TP_PROTO(struct device *dev, size_t size, u32 slot_size, int reason),
	TP_ARGS(dev, size, slot_size, reason),
	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(size_t, size)
		__field(u32, slot_size)
		__field(int, reason)
	),
	TP_fast_assign(
		ccs_assign_str(dev_name, dev_name(dev));
		__entry->size = size;
		__entry->slot_size = slot_size;
		__entry->reason = reason;
	),
	TP_printk("dev_name: %s size=%zu slot=%u reason=%s",
		  __get_str(dev_name), __entry->size, __entry->slot_size,
		  __print_symbolic(__entry->reason,
				   { CCS_FAIL_EXHAUSTED, "exhausted" },
				   { CCS_FAIL_OVERSIZE, "oversize" },
				   { CCS_FAIL_BAD_DIR, "bad_direction" },
				   { CCS_FAIL_UNREACHABLE, "unreachable" },
				   { CCS_FAIL_ZERO_LENGTH, "zero_length" }))
);

/* A mapping was served by a larger class because its own was empty. */
TRACE_EVENT(cc_swiotlb_fallback,
	TP_PROTO(struct device *dev, size_t size, u32 want_slot, u32 got_slot),
	TP_ARGS(dev, size, want_slot, got_slot),
	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(size_t, size)
		__field(u32, want_slot)
		__field(u32, got_slot)
	),
	TP_fast_assign(
		ccs_assign_str(dev_name, dev_name(dev));
		__entry->size = size;
		__entry->want_slot = want_slot;
		__entry->got_slot = got_slot;
	),
	TP_printk("dev_name: %s size=%zu want=%u got=%u",
		  __get_str(dev_name), __entry->size, __entry->want_slot,
		  __entry->got_slot)
);

DECLARE_EVENT_CLASS(cc_swiotlb_chunk,
	TP_PROTO(u32 slot_size, u32 bytes, u64 ns),
	TP_ARGS(slot_size, bytes, ns),
	TP_STRUCT__entry(
		__field(u32, slot_size)
		__field(u32, bytes)
		__field(u64, ns)
	),
	TP_fast_assign(
		__entry->slot_size = slot_size;
		__entry->bytes = bytes;
		__entry->ns = ns;
	),
	TP_printk("slot=%u bytes=%u ns=%llu", __entry->slot_size,
		  __entry->bytes, __entry->ns)
);

/* kccd decrypted a chunk and gave it to a class (ns: conversion time). */
DEFINE_EVENT(cc_swiotlb_chunk, cc_swiotlb_refill,
	TP_PROTO(u32 slot_size, u32 bytes, u64 ns),
	TP_ARGS(slot_size, bytes, ns));

/* kccd re-encrypted a surplus chunk and freed it. */
DEFINE_EVENT(cc_swiotlb_chunk, cc_swiotlb_reclaim,
	TP_PROTO(u32 slot_size, u32 bytes, u64 ns),
	TP_ARGS(slot_size, bytes, ns));

/* set_memory_decrypted/encrypted failed (encrypt != 0 for re-encryption). */
TRACE_EVENT(cc_swiotlb_convert_fail,
	TP_PROTO(bool encrypt, u32 pages, int err),
	TP_ARGS(encrypt, pages, err),
	TP_STRUCT__entry(
		__field(bool, encrypt)
		__field(u32, pages)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->encrypt = encrypt;
		__entry->pages = pages;
		__entry->err = err;
	),
	TP_printk("%s pages=%u err=%d",
		  __entry->encrypt ? "encrypt" : "decrypt", __entry->pages,
		  __entry->err)
);

DECLARE_EVENT_CLASS(cc_swiotlb_dev,
	TP_PROTO(struct device *dev, u64 outstanding),
	TP_ARGS(dev, outstanding),
	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(u64, outstanding)
	),
	TP_fast_assign(
		ccs_assign_str(dev_name, dev_name(dev));
		__entry->outstanding = outstanding;
	),
	TP_printk("dev_name: %s outstanding=%llu", __get_str(dev_name),
		  __entry->outstanding)
);

/* The shim was installed on a device. */
DEFINE_EVENT(cc_swiotlb_dev, cc_swiotlb_attach,
	TP_PROTO(struct device *dev, u64 outstanding),
	TP_ARGS(dev, outstanding));

/* The shim was removed from a device (outstanding: mappings left behind). */
DEFINE_EVENT(cc_swiotlb_dev, cc_swiotlb_detach,
	TP_PROTO(struct device *dev, u64 outstanding),
	TP_ARGS(dev, outstanding));

/*
 * kccd's effective watermarks of the arena changed (demand, or a parameter
 * write): values in KiB of free shared memory; slot_size is 0 (the arena).
 */
TRACE_EVENT(cc_swiotlb_watermark,
	TP_PROTO(u32 slot_size, u32 old_low, u32 old_high, u32 low, u32 high,
		 const char *why),
	TP_ARGS(slot_size, old_low, old_high, low, high, why),
	TP_STRUCT__entry(
		__field(u32, slot_size)
		__field(u32, old_low)
		__field(u32, old_high)
		__field(u32, low)
		__field(u32, high)
		__string(why, why)
	),
	TP_fast_assign(
		__entry->slot_size = slot_size;
		__entry->old_low = old_low;
		__entry->old_high = old_high;
		__entry->low = low;
		__entry->high = high;
		ccs_assign_str(why, why);
	),
	TP_printk("slot=%u low=%u->%u high=%u->%u why=%s", __entry->slot_size,
		  __entry->old_low, __entry->low, __entry->old_high,
		  __entry->high, __get_str(why))
);

#endif /* _TRACE_CC_SWIOTLB_H */

/* Kbuild puts include/trace/events on trace.c's include path. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE cc_swiotlb
#include <trace/define_trace.h>
