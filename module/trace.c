// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiates the cc_swiotlb tracepoints declared in
 * include/trace/events/cc_swiotlb.h; every other file just includes it.
 *
 * Everything the event header includes must be included first: a header
 * that pulls in another trace/events file while CREATE_TRACE_POINTS is set
 * would consume the define (define_trace.h undefines it).
 */
#include <linux/device.h>
#include <linux/dma-direction.h>
#include "compat.h"

#define CREATE_TRACE_POINTS
#include <trace/events/cc_swiotlb.h>
