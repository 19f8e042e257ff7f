// SPDX-License-Identifier: GPL-2.0
/*
 * An independent witness of the security invariants, for the tests.
 *
 * The pool trusts kccd to hand it only shared memory and to re-encrypt a
 * chunk before freeing it; nothing would notice if that ever went wrong in a
 * non-confidential test guest, where set_memory_decrypted() does nothing.
 * So convert.c reports every page range it made shared and every range it
 * is about to make private again, and this file keeps that set of shared
 * pages (an xarray indexed by pfn; loads need neither lock nor allocation).
 * Each entry holds the page's offset in its conversion, which always covers
 * one whole (non-compound) page allocation: only its head page is counted,
 * so the head is what must stay allocated.
 *
 * With the debugfs knob verify_maps set, the shim's map path calls
 * ccs_verify_mapping() for every bounce address it returns: the range must
 * lie inside an in-use slot of the pool, and every page under it must be in
 * the shared set.  A miss is counted (verify_violations) and logged.
 *
 * Reading debugfs verify_shared walks the set: every page in it must still
 * be allocated (a zero refcount is a page freed while shared) and the set
 * must hold exactly convert.c's pages_held.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/dma-direct.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/xarray.h>
#include "internal.h"

u32 ccs_verify_maps;

static DEFINE_XARRAY(ccs_shared_pfns);
static atomic64_t ccs_verify_checked = ATOMIC64_INIT(0);
static atomic64_t ccs_verify_violations = ATOMIC64_INIT(0);
/* Pages the set could not record (xa_store failed): it is then incomplete. */
static atomic64_t ccs_verify_lost = ATOMIC64_INIT(0);

/**
 * ccs_verify_note_shared() - record pages that were just made shared
 * @vaddr:	direct-map address, page aligned
 * @npages:	number of pages
 *
 * Called by convert.c after a successful set_memory_decrypted(), before the
 * memory can be handed out; @vaddr is the head of a page allocation.
 * Process context (may allocate).
 */
void ccs_verify_note_shared(void *vaddr, unsigned int npages)
{
	unsigned long pfn = PHYS_PFN(virt_to_phys(vaddr));
	unsigned int i;

	for (i = 0; i < npages; i++)
		if (xa_err(xa_store(&ccs_shared_pfns, pfn + i, xa_mk_value(i),
				    GFP_KERNEL)))
			atomic64_inc(&ccs_verify_lost);
}

/**
 * ccs_verify_note_private() - forget pages about to be made private
 * @vaddr:	direct-map address, page aligned
 * @npages:	number of pages
 *
 * Called by convert.c before set_memory_encrypted(): from then on no
 * mapping may use them, whether or not the conversion succeeds (a page
 * that fails it is leaked, never reused).
 */
void ccs_verify_note_private(void *vaddr, unsigned int npages)
{
	unsigned long pfn = PHYS_PFN(virt_to_phys(vaddr));
	unsigned int i;

	for (i = 0; i < npages; i++)
		xa_erase(&ccs_shared_pfns, pfn + i);
}

/**
 * ccs_verify_mapping() - check a bounce address the shim is about to return
 * @dev:	device
 * @dma:	DMA address handed to the device
 * @size:	bytes mapped (> 0)
 *
 * Any context, from the map path inside its rcu_read_lock_sched(): lookups
 * only, no lock, no allocation.
 * Only called while verify_maps is set.
 */
void ccs_verify_mapping(struct device *dev, dma_addr_t dma, size_t size)
{
	phys_addr_t phys = dma_to_phys(dev, dma);
	struct ccs_slot *slot = ccs_slot_lookup(ccs_pool, phys);
	unsigned long pfn, last = PHYS_PFN(phys + size - 1);
	const char *why = NULL;

	atomic64_inc(&ccs_verify_checked);
	if (!slot) {
		why = "not inside an in-use slot";
	} else {
		phys_addr_t base = ccs_slot_phys(slot) - slot->offset;
		u32 ssz = ccs_slot_bytes(slot);

		if (phys + size > base + ssz)
			why = "runs past the end of its slot";
	}
	for (pfn = PHYS_PFN(phys); !why && pfn <= last; pfn++)
		if (!xa_load(&ccs_shared_pfns, pfn))
			why = "covers a page that is not shared";
	if (likely(!why))
		return;
	atomic64_inc(&ccs_verify_violations);
	dev_err_ratelimited(dev, CCS_NAME ": verify: DMA address %pad+%zu %s\n",
			    &dma, size, why);
}

static void ccs_verify_counters(struct seq_file *m)
{
	seq_printf(m, "verify_maps %u\n", READ_ONCE(ccs_verify_maps));
	seq_printf(m, "verify_checked %lld\n",
		   atomic64_read(&ccs_verify_checked));
	seq_printf(m, "verify_violations %lld\n",
		   atomic64_read(&ccs_verify_violations));
	seq_printf(m, "verify_lost %lld\n", atomic64_read(&ccs_verify_lost));
}

/*
 * Walk the shared set.  Exact only while no conversion is in flight (the
 * tests stall kccd first); prints the counts, then "ok" or what is wrong.
 * A page freed while shared has a head page with no reference left.
 */
static int ccs_verify_shared_show(struct seq_file *m, void *v)
{
	u64 pages = 0, freed = 0, lost = atomic64_read(&ccs_verify_lost);
	struct ccs_convert_stats cs;
	unsigned long pfn;
	void *entry;

	xa_for_each(&ccs_shared_pfns, pfn, entry) {
		pages++;
		unsigned long head = pfn - xa_to_value(entry);

		if (!pfn_valid(head) || !page_ref_count(pfn_to_page(head)))
			freed++;
		cond_resched();
	}
	ccs_convert_get_stats(&cs);
	seq_printf(m, "shared_pages %llu\npages_held %llu\nfreed_while_shared %llu\nlost %llu\n",
		   pages, cs.pages_held, freed, lost);
	if (freed)
		seq_puts(m, "broken: pages freed while shared\n");
	else if (lost)
		seq_puts(m, "incomplete: shared set lost pages\n");
	else if (pages != cs.pages_held)
		seq_puts(m, "broken: shared set != pages_held\n");
	else
		seq_puts(m, "ok\n");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ccs_verify_shared);

/**
 * ccs_verify_debugfs_init() - add verify_maps, verify_shared and counters
 * @dir:	the module's debugfs directory
 */
void ccs_verify_debugfs_init(struct dentry *dir)
{
	debugfs_create_u32("verify_maps", 0600, dir, &ccs_verify_maps);
	debugfs_create_file("verify_shared", 0400, dir, NULL,
			    &ccs_verify_shared_fops);
	ccs_debugfs_add_counters(ccs_verify_counters);
}

/**
 * ccs_verify_reset() - forget everything (module load and unload)
 */
void ccs_verify_reset(void)
{
	WRITE_ONCE(ccs_verify_maps, 0);
	xa_destroy(&ccs_shared_pfns);
	atomic64_set(&ccs_verify_checked, 0);
	atomic64_set(&ccs_verify_violations, 0);
	atomic64_set(&ccs_verify_lost, 0);
}
