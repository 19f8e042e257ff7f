// SPDX-License-Identifier: GPL-2.0
/*
 * Debug flavour only (make module-debug, CONFIG_CC_SWIOTLB_DEBUG): the
 * test machinery, in /sys/kernel/debug/cc_swiotlb/ next to the production
 * files.
 *
 *   pool_check		read: "ok", or the first broken pool invariant
 *   test_hold		write "SIZE COUNT": hold COUNT slots of a SIZE-byte
 *			mapping (waits for kccd up to 5 s when the class is
 *			empty, as a device would requeue); write "0": release
 *			them all; read: slots held ("test_held" in counters)
 *   knobs (u32, read/write):
 *     inject_decrypt_fail_every	every Nth set_memory_decrypted fails
 *     inject_encrypt_fail_every	every Nth set_memory_encrypted fails
 *     emulate_call_us			emulated cost per conversion call
 *     emulate_page_ns			emulated cost per converted page
 *     inject_highorder_fail		kccd's allocations above a class's
 *					minimum chunk order fail
 *     stall_kccd			kccd makes no progress while set
 *   verify_maps, verify_shared	see verify.c
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "internal.h"

#define CCS_EMULATE_MAX_US	1000000		/* bound every emulated delay */
#define CCS_HOLD_MAX		65536
#define CCS_HOLD_WAIT_MS	5000

static u32 ccs_inject_decrypt_fail_every;
static u32 ccs_inject_encrypt_fail_every;
static u32 ccs_emulate_call_us;
static u32 ccs_emulate_page_ns;
u32 ccs_inject_highorder_fail;
u32 ccs_stall_kccd;

static atomic64_t ccs_decrypt_seq = ATOMIC64_INIT(0);
static atomic64_t ccs_encrypt_seq = ATOMIC64_INIT(0);

static DEFINE_MUTEX(ccs_hold_lock);	/* held slots */
static struct ccs_slot **ccs_held;
static unsigned int ccs_nheld;
static u64 ccs_held_bytes;	/* slot sizes; read by the reserve gate */

/**
 * ccs_debug_hold_bytes() - is @owner test_hold, and what does it hold?
 * @owner:	slot owner asked about by the reserve gate
 * @bytes:	set to the bytes of the slots test_hold holds, when it is
 *
 * test_hold stands for a device's burst: the gate weighs it like one.
 */
bool ccs_debug_hold_bytes(const void *owner, u64 *bytes)
{
	if (owner != &ccs_held)
		return false;
	*bytes = READ_ONCE(ccs_held_bytes);
	return true;
}

/* Does fault injection fail this call?  Every @every-th call does. */
static bool ccs_inject(atomic64_t *seq, u32 every)
{
	if (!every)
		return false;
	return atomic64_inc_return(seq) % every == 0;
}

/**
 * ccs_debug_inject_decrypt() - should this set_memory_decrypted() fail?
 *
 * Return: true when inject_decrypt_fail_every says so.
 */
bool ccs_debug_inject_decrypt(void)
{
	return ccs_inject(&ccs_decrypt_seq,
			  READ_ONCE(ccs_inject_decrypt_fail_every));
}

/**
 * ccs_debug_inject_encrypt() - should this set_memory_encrypted() fail?
 *
 * Return: true when inject_encrypt_fail_every says so.
 */
bool ccs_debug_inject_encrypt(void)
{
	return ccs_inject(&ccs_encrypt_seq,
			  READ_ONCE(ccs_inject_encrypt_fail_every));
}

/**
 * ccs_debug_convert_delay() - emulated cost of converting @npages pages
 * @npages:	pages converted by the call
 *
 * What a conversion costs on a real confidential platform, where the test
 * guest's is nothing.  Process context.
 */
void ccs_debug_convert_delay(unsigned int npages)
{
	u64 us = min_t(u32, READ_ONCE(ccs_emulate_call_us), CCS_EMULATE_MAX_US);
	u64 ns = (u64)READ_ONCE(ccs_emulate_page_ns) * npages;

	us += min_t(u64, ns / NSEC_PER_USEC, CCS_EMULATE_MAX_US);
	ns %= NSEC_PER_USEC;
	if (us >= 10)
		usleep_range(us, us + us / 8 + 1);
	else if (us)
		udelay(us);
	if (ns)
		ndelay(ns);
}

static int ccs_pool_check_show(struct seq_file *m, void *v)
{
	int ret = ccs_pool_check(ccs_pool);

	seq_printf(m, "%s\n", ret ? "broken (see dmesg)" : "ok");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ccs_pool_check);

/* Caller holds ccs_hold_lock. */
static void ccs_hold_release(void)
{
	while (ccs_nheld) {
		struct ccs_slot *slot = ccs_held[--ccs_nheld];

		WRITE_ONCE(ccs_held_bytes, ccs_held_bytes - ccs_slot_bytes(slot));
		ccs_slot_free(ccs_pool, slot);
		WRITE_ONCE(ccs_nheld, ccs_nheld);
	}
	kvfree(ccs_held);
	ccs_held = NULL;
}

/* Take @count slots for @size-byte mappings, waiting for kccd like a device. */
static int ccs_hold(u32 size, u32 count)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(CCS_HOLD_WAIT_MS);

	if (!size || count > CCS_HOLD_MAX - ccs_nheld)
		return -EINVAL;
	if (!ccs_held) {
		ccs_held = kvcalloc(CCS_HOLD_MAX, sizeof(*ccs_held), GFP_KERNEL);
		if (!ccs_held)
			return -ENOMEM;
	}
	while (count) {
		struct ccs_slot *slot;
		bool fallback;
		int cls;

		slot = ccs_slot_alloc(ccs_pool, 0, size, 0, 0, &ccs_held, &cls,
				      &fallback);
		if (!slot) {
			if (cls < 0)
				return -EINVAL;
			ccs_kccd_note_exhaustion(cls);
			if (time_after(jiffies, deadline))
				return -ENOMEM;
			usleep_range(1000, 2000);
			continue;
		}
		ccs_kccd_check(cls);
		ccs_held[ccs_nheld] = slot;
		WRITE_ONCE(ccs_nheld, ccs_nheld + 1);
		WRITE_ONCE(ccs_held_bytes, ccs_held_bytes + ccs_slot_bytes(slot));
		count--;
	}
	return 0;
}

static ssize_t ccs_test_hold_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	char buf[32];
	u32 size, n;
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';

	mutex_lock(&ccs_hold_lock);
	ret = -EINVAL;
	if (sscanf(buf, "%u %u", &size, &n) == 2) {
		ret = ccs_hold(size, n);
	} else if (!strcmp(strim(buf), "0")) {
		ccs_hold_release();
		ret = 0;
	}
	mutex_unlock(&ccs_hold_lock);
	return ret ? ret : count;
}

static int ccs_test_hold_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%u\n", READ_ONCE(ccs_nheld));
	return 0;
}

static int ccs_test_hold_open(struct inode *inode, struct file *file)
{
	return single_open(file, ccs_test_hold_show, NULL);
}

static const struct file_operations ccs_test_hold_fops = {
	.owner = THIS_MODULE,
	.open = ccs_test_hold_open,
	.read = seq_read,
	.write = ccs_test_hold_write,
	.llseek = seq_lseek,
	.release = single_release,
};

static void ccs_debug_counters(struct seq_file *m)
{
	seq_printf(m, "test_held %u\n", READ_ONCE(ccs_nheld));
}

/**
 * ccs_debug_init() - create the test files
 * @d:	the module's debugfs directory
 */
void ccs_debug_init(struct dentry *d)
{
	atomic64_set(&ccs_decrypt_seq, 0);
	atomic64_set(&ccs_encrypt_seq, 0);
	debugfs_create_file("pool_check", 0400, d, NULL, &ccs_pool_check_fops);
	debugfs_create_file("test_hold", 0600, d, NULL, &ccs_test_hold_fops);
	debugfs_create_u32("inject_decrypt_fail_every", 0600, d,
			   &ccs_inject_decrypt_fail_every);
	debugfs_create_u32("inject_encrypt_fail_every", 0600, d,
			   &ccs_inject_encrypt_fail_every);
	debugfs_create_u32("emulate_call_us", 0600, d, &ccs_emulate_call_us);
	debugfs_create_u32("emulate_page_ns", 0600, d, &ccs_emulate_page_ns);
	debugfs_create_u32("inject_highorder_fail", 0600, d,
			   &ccs_inject_highorder_fail);
	debugfs_create_u32("stall_kccd", 0600, d, &ccs_stall_kccd);
	ccs_debugfs_add_counters(ccs_debug_counters);
	ccs_verify_debugfs_init(d);
}

/**
 * ccs_debug_exit() - release the slots test_hold holds (after the debugfs
 * files are gone, before the pool is torn down)
 */
void ccs_debug_exit(void)
{
	mutex_lock(&ccs_hold_lock);
	ccs_hold_release();
	mutex_unlock(&ccs_hold_lock);
}
