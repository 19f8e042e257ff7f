/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The facilities the pool core needs, from the kernel or, when pool.c is
 * built into the userspace tests and benchmark, from tests/unit/uenv.h.
 *
 * The only names that differ between the two are defined here:
 *   alloc_percpu_nr(type, nr)	per-CPU data for @nr CPU ids (the kernel
 *				ignores @nr: it covers every possible CPU)
 *   ccs_env_max_cpus()		how many CPU ids per-CPU data can be indexed by
 */
#ifndef _CC_SWIOTLB_POOL_ENV_H
#define _CC_SWIOTLB_POOL_ENV_H

#ifdef __KERNEL__

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/bug.h>
#include <linux/cache.h>
#include <linux/cpumask.h>
#include <linux/errno.h>
#include <linux/hash.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/printk.h>
#include <linux/rculist.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#define alloc_percpu_nr(type, nr)	alloc_percpu(type)
#define ccs_env_max_cpus()		nr_cpu_ids

#else /* userspace tests */

#include "uenv.h"

#define ccs_env_max_cpus()		UINT_MAX

#endif /* __KERNEL__ */

#endif /* _CC_SWIOTLB_POOL_ENV_H */
