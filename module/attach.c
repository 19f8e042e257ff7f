// SPDX-License-Identifier: GPL-2.0
/*
 * Which devices get the shim, and when.
 *
 * attach=POLICY (default "auto"; runtime writable, applies to the next bind)
 *	auto	in a confidential guest (CC_ATTR_GUEST_MEM_ENCRYPT), every PCI
 *		device a driver binds to after the module loaded; outside
 *		one, nothing (only devices named explicitly)
 *	none	no device (the exported API still works)
 *	LIST	comma-separated items, each one of
 *		  DDDD:BB:DD.F or BB:DD.F	a PCI address
 *		  VVVV:DDDD			a PCI vendor:device id
 *		  NAME				a PCI driver name (nvme,
 *						virtio-pci, ...)
 *		  auto				as above
 *		optionally prefixed with '!' to exclude matching devices
 *		(exclusions win), e.g. "auto,!0000:00:05.0" or
 *		"nvme,1af4:1042".
 *	An invalid string makes the module refuse to load (or the write fail)
 *	with -EINVAL and one line saying which item is wrong and why.
 *
 * A device is attached only at BUS_NOTIFY_BIND_DRIVER, i.e. after its
 * driver was chosen and before that driver's probe can map anything; or by
 * cc_swiotlb_attach() for a device with no driver.  dma_map_ops are never
 * swapped under a driver that may hold mappings, so devices already bound
 * when the module loads are left alone (tools/cc-swiotlb-ctl rebinds them).
 *
 * Detach happens through a devres action registered at attach, before the
 * driver's probe: devres runs it after every resource the driver allocated
 * with devm_*() (dmam_alloc_coherent() included) has been released, both
 * when the driver unbinds and when its probe fails.  Mappings still
 * outstanding then are a driver bug: their slots stay allocated, the module
 * stays pinned and a warning says so.
 *
 * Every attached device holds a module reference, so rmmod is refused while
 * any device is attached.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/iommu.h>
#include <linux/cc_platform.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/ctype.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/workqueue.h>
#include <linux/cc_swiotlb.h>
#include "internal.h"
#include <trace/events/cc_swiotlb.h>

#define CCS_MAX_MATCH		32
#define CCS_POLICY_LEN		512
#define CCS_DRV_NAME_LEN	32

enum ccs_match_kind {
	CCS_MATCH_PCI_ADDR,
	CCS_MATCH_PCI_ID,
	CCS_MATCH_DRIVER,
	CCS_MATCH_AUTO,
};

struct ccs_match {
	enum ccs_match_kind kind;
	bool exclude;
	u32 domain;
	u8 bus;
	u8 devfn;
	u16 vendor;
	u16 device;
	char driver[CCS_DRV_NAME_LEN];
};

struct ccs_policy {
	unsigned int n;
	struct ccs_match m[CCS_MAX_MATCH];
	char text[CCS_POLICY_LEN];
};

/*
 * Serialises the policy, the attach table and every attach/detach.  Taken
 * inside device_lock() (the bus notifier and devres run under it), never the
 * other way round.  Never taken on the map path.
 */
static DEFINE_MUTEX(ccs_attach_lock);
static struct ccs_policy ccs_policy = { .n = 1, .m = { { .kind = CCS_MATCH_AUTO } },
					.text = "auto" };
static LIST_HEAD(ccs_devs);
static bool ccs_coco;

/*
 * For testing the boot path (initramfs, attach=auto, root disk bounced from
 * its first read) in an ordinary VM: attach=auto then acts as in a
 * confidential guest.  Operator-safe: it only makes the module bounce
 * devices that would not need it; the log says it is on.
 */
static bool ccs_auto_outside_cc;
module_param_named(auto_outside_cc, ccs_auto_outside_cc, bool, 0444);
MODULE_PARM_DESC(auto_outside_cc,
		 "Testing: attach=auto acts outside a confidential guest too (default 0)");
static bool ccs_notifier_registered;
static struct dentry *ccs_devices_file;

/* ---- attach= parsing ---- */

static int ccs_parse_item(char *item, struct ccs_match *m)
{
	unsigned int dom, bus, slot, fn, ven, dev;
	size_t len;
	int n = 0;

	memset(m, 0, sizeof(*m));
	if (*item == '!') {
		m->exclude = true;
		item++;
	}
	len = strlen(item);
	if (!len)
		return -ENOENT;

	if (!strcmp(item, "auto")) {
		if (m->exclude)
			return -EINVAL;
		m->kind = CCS_MATCH_AUTO;
		return 0;
	}
	if (sscanf(item, "%x:%x:%x.%x%n", &dom, &bus, &slot, &fn, &n) == 4 &&
	    n == len) {
		if (dom > 0xffff || bus > 0xff || slot > 0x1f || fn > 7)
			return -ERANGE;
		goto pci_addr;
	}
	dom = 0;
	if (sscanf(item, "%x:%x.%x%n", &bus, &slot, &fn, &n) == 3 && n == len) {
		if (bus > 0xff || slot > 0x1f || fn > 7)
			return -ERANGE;
		goto pci_addr;
	}
	if (len == 9 && item[4] == ':' &&
	    sscanf(item, "%4x:%4x%n", &ven, &dev, &n) == 2 && n == len) {
		m->kind = CCS_MATCH_PCI_ID;
		m->vendor = ven;
		m->device = dev;
		return 0;
	}
	if (len >= CCS_DRV_NAME_LEN)
		return -ENAMETOOLONG;
	for (n = 0; n < len; n++)
		if (!isalnum(item[n]) && item[n] != '_' && item[n] != '-')
			return -EINVAL;
	m->kind = CCS_MATCH_DRIVER;
	strscpy(m->driver, item, sizeof(m->driver));
	return 0;

pci_addr:
	m->kind = CCS_MATCH_PCI_ADDR;
	m->domain = dom;
	m->bus = bus;
	m->devfn = PCI_DEVFN(slot, fn);
	return 0;
}

static const char *ccs_parse_reason(int err)
{
	switch (err) {
	case -ENOENT:
		return "empty item";
	case -ERANGE:
		return "PCI address out of range";
	case -ENAMETOOLONG:
		return "driver name too long";
	case -E2BIG:
		return "too many items";
	case -EEXIST:
		return "\"none\" cannot be combined with other items";
	default:
		return "not DDDD:BB:DD.F, VVVV:DDDD, a driver name, auto, none or !ITEM";
	}
}

static int ccs_policy_parse(const char *val, struct ccs_policy *p)
{
	char *buf, *cur, *item;
	int err = 0;

	memset(p, 0, sizeof(*p));
	buf = kstrdup(val, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	cur = strim(buf);
	if (strlen(cur) >= sizeof(p->text)) {
		pr_err("attach=: longer than %zu characters\n",
		       sizeof(p->text) - 1);
		err = -EINVAL;
		goto out;
	}
	strscpy(p->text, cur, sizeof(p->text));
	if (!strcmp(cur, "none"))
		goto out;

	while ((item = strsep(&cur, ",")) != NULL) {
		item = strim(item);
		if (!strcmp(item, "none"))
			err = -EEXIST;
		else if (p->n >= CCS_MAX_MATCH)
			err = -E2BIG;
		else
			err = ccs_parse_item(item, &p->m[p->n]);
		if (err) {
			pr_err("attach=%s: bad item \"%s\": %s\n", p->text,
			       item, ccs_parse_reason(err));
			err = -EINVAL;
			goto out;
		}
		p->n++;
	}
out:
	kfree(buf);
	return err;
}

static int ccs_attach_param_set(const char *val, const struct kernel_param *kp)
{
	struct ccs_policy *p;
	int err;

	p = kmalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	err = ccs_policy_parse(val, p);
	if (!err) {
		mutex_lock(&ccs_attach_lock);
		ccs_policy = *p;
		mutex_unlock(&ccs_attach_lock);
		pr_info("attach=%s (applies to drivers binding from now on)\n",
			p->text);
	}
	kfree(p);
	return err;
}

static int ccs_attach_param_get(char *buf, const struct kernel_param *kp)
{
	int n;

	mutex_lock(&ccs_attach_lock);
	n = scnprintf(buf, PAGE_SIZE, "%s\n", ccs_policy.text);
	mutex_unlock(&ccs_attach_lock);
	return n;
}

static const struct kernel_param_ops ccs_attach_param_ops = {
	.set = ccs_attach_param_set,
	.get = ccs_attach_param_get,
};

module_param_cb(attach, &ccs_attach_param_ops, NULL, 0644);
MODULE_PARM_DESC(attach,
		 "Devices to bounce: auto (confidential guest: every PCI device binding a driver), none, or a comma list of PCI addresses, vendor:device ids, driver names, auto, !ITEM to exclude (default auto)");

/* ---- policy decision ---- */

static bool ccs_match_one(const struct ccs_match *m, struct pci_dev *pdev,
			  const char *drv)
{
	switch (m->kind) {
	case CCS_MATCH_PCI_ADDR:
		return pci_domain_nr(pdev->bus) == m->domain &&
		       pdev->bus->number == m->bus && pdev->devfn == m->devfn;
	case CCS_MATCH_PCI_ID:
		return pdev->vendor == m->vendor && pdev->device == m->device;
	case CCS_MATCH_DRIVER:
		return drv && !strcmp(drv, m->driver);
	case CCS_MATCH_AUTO:
		return ccs_coco;
	}
	return false;
}

/*
 * Does the policy want @dev (whose driver is @drv)?  Exclusions win over
 * everything.  On yes, *why describes the item that matched.
 */
static bool ccs_policy_wants(struct device *dev, const char *drv,
			     const struct ccs_match **why)
{
	const struct ccs_policy *p = &ccs_policy;
	const struct ccs_match *hit = NULL;
	struct pci_dev *pdev;
	unsigned int i;

	lockdep_assert_held(&ccs_attach_lock);
	if (!dev_is_pci(dev))
		return false;
	pdev = to_pci_dev(dev);
	for (i = 0; i < p->n; i++) {
		if (!ccs_match_one(&p->m[i], pdev, drv))
			continue;
		if (p->m[i].exclude)
			return false;
		if (!hit)
			hit = &p->m[i];
	}
	*why = hit;
	return hit;
}

static const char *ccs_match_desc(const struct ccs_match *m, char *buf,
				  size_t len)
{
	switch (m->kind) {
	case CCS_MATCH_PCI_ADDR:
		snprintf(buf, len, "attach= names %04x:%02x:%02x.%d", m->domain,
			 m->bus, PCI_SLOT(m->devfn), PCI_FUNC(m->devfn));
		break;
	case CCS_MATCH_PCI_ID:
		snprintf(buf, len, "attach= names id %04x:%04x", m->vendor,
			 m->device);
		break;
	case CCS_MATCH_DRIVER:
		snprintf(buf, len, "attach= names driver %s", m->driver);
		break;
	case CCS_MATCH_AUTO:
		snprintf(buf, len, "attach=auto in a confidential guest");
		break;
	}
	return buf;
}

/* ---- attach table ---- */

static struct ccs_dev *ccs_find_dev(struct device *dev)
{
	struct ccs_dev *cd;

	lockdep_assert_held(&ccs_attach_lock);
	list_for_each_entry(cd, &ccs_devs, node)
		if (cd->dev == dev && cd->state != CCS_DEV_LEAKED)
			return cd;
	return NULL;
}

static void ccs_dev_free_rcu(struct rcu_head *rcu)
{
	struct ccs_dev *cd = container_of(rcu, struct ccs_dev, rcu);

	free_percpu(cd->stats);
	kfree(cd);
}

static void ccs_dev_free_tasks(struct rcu_head *rcu)
{
	call_rcu(rcu, ccs_dev_free_rcu);
}

/*
 * @cd is off the table and the device has its old ops back, but a DMA call
 * may have loaded the old dev->dma_ops just before and not yet entered the
 * shim's rcu_read_lock_sched() section (dma_map_page_attrs() calls through the
 * pointer with no RCU of its own): a task preempted right there.  So @cd is
 * freed after a Tasks RCU grace period (every task has switched voluntarily
 * since: none is still between the load and the call) and then a normal
 * one (interrupt-context callers, readers on idle CPUs).  Such a late
 * caller still reads the function pointer from cd->ops, and the shim then
 * finds dev->dma_ops no longer ours and refuses the call (ccs_dev_get()).
 * Module exit waits for both grace periods (ccs_attach_exit()).
 */
static void ccs_dev_free(struct ccs_dev *cd)
{
	WRITE_ONCE(cd->state, CCS_DEV_DETACHED);
	put_device(cd->dev);
	call_rcu_tasks(&cd->rcu, ccs_dev_free_tasks);
	module_put(THIS_MODULE);
}

/*
 * Give @cd's device its old dma_map_ops back.  With mappings outstanding
 * (@force: a driver bug, we are called from its unbind and cannot refuse)
 * the slots stay allocated and @cd stays in the table, pinning the module,
 * since the device may still DMA into them.
 *
 * Coherent allocations alone are different: a driver may legitimately free
 * them after its unbind, from a release callback that runs when the last
 * reference goes (6.1's nvme frees its doorbell buffers in
 * nvme_pci_free_ctrl(), which an open /dev/nvmeX delays).  Those frees must
 * still reach us: with the old ops they would hand pool memory to
 * dma-direct, which would free shared pool pages to the page allocator.  So
 * the device keeps our ops, marked draining, until the last one is freed
 * (ccs_drain_fn()), or a driver binds again and takes the entry over.
 */
/*
 * Outstanding mappings and coherent allocations.  Exact once no map or
 * allocation is between its state check and its count: see
 * ccs_detach_locked().
 */
static void ccs_outstanding(struct ccs_dev *cd, struct ccs_dev_stats *s,
			    u64 *maps, u64 *coherent)
{
	ccs_dev_stats_sum(cd, s);
	*maps = s->maps - s->unmaps;
	*coherent = s->coherent_allocs - s->coherent_frees;
}

static int ccs_detach_locked(struct ccs_dev *cd, bool force, const char *how)
{
	enum ccs_dev_state was = cd->state;
	struct ccs_dev_stats s;
	u64 maps, coherent;

	lockdep_assert_held(&ccs_attach_lock);
	/* Busy already: refuse without disturbing the I/O. */
	ccs_outstanding(cd, &s, &maps, &coherent);
	if ((maps || coherent) && !force)
		return -EBUSY;

	/*
	 * Close the device to new maps and allocations, then wait for every
	 * RCU read section of the shim: each one that saw the device open
	 * has counted its mapping or allocation by the time it ends (they
	 * count before taking a slot), so the sum below misses nothing in
	 * flight.  Unmaps and frees go on meanwhile.
	 */
	WRITE_ONCE(cd->state, CCS_DEV_DETACHING);
	synchronize_rcu();
	ccs_outstanding(cd, &s, &maps, &coherent);
	if ((maps || coherent) && !force) {
		WRITE_ONCE(cd->state, was);
		return -EBUSY;
	}

	if (!maps && coherent) {
		if (was != CCS_DEV_DRAINING)
			dev_info(cd->dev, CCS_NAME ": %s with %llu coherent allocations outstanding: keeping the DMA ops until they are freed\n",
				 how, coherent);
		WRITE_ONCE(cd->state, CCS_DEV_DRAINING);
		return 0;
	}
	set_dma_ops(cd->dev, cd->prev_ops);
	trace_cc_swiotlb_detach(cd->dev, maps + coherent);
	if (maps || coherent) {
		WRITE_ONCE(cd->state, CCS_DEV_LEAKED);
		dev_warn(cd->dev, "cc_swiotlb: detached (%s) with %llu mappings and %llu coherent allocations outstanding: driver bug; their memory stays allocated and cc_swiotlb stays loaded\n",
			 how, maps, coherent);
		return 0;
	}
	dev_info(cd->dev, CCS_NAME ": detached (%s): maps=%llu unmaps=%llu bytes=%llu exhausted=%llu errors=%llu\n",
		 how, s.maps, s.unmaps, s.bytes, s.exhausted, s.errors);
	list_del(&cd->node);
	ccs_dev_free(cd);
	return 0;
}

/*
 * Finish the detach of every draining device whose coherent allocations are
 * all freed.  A work item, because the last free may come in atomic context
 * and the table lock is a mutex; one for all devices, so that module exit
 * can flush it.
 */
static void ccs_drain_fn(struct work_struct *work)
{
	struct ccs_dev *cd, *tmp;

	mutex_lock(&ccs_attach_lock);
	list_for_each_entry_safe(cd, tmp, &ccs_devs, node)
		if (cd->state == CCS_DEV_DRAINING)
			ccs_detach_locked(cd, false, "late coherent frees done");
	mutex_unlock(&ccs_attach_lock);
}

static DECLARE_WORK(ccs_drain_work, ccs_drain_fn);

/**
 * ccs_attach_note_drained() - a draining device freed coherent memory
 *
 * Any context.  Lets the work item finish the detach if that was the last.
 */
void ccs_attach_note_drained(void)
{
	schedule_work(&ccs_drain_work);
}

static void ccs_devres_detach(void *data)
{
	struct ccs_dev *cd = data;

	mutex_lock(&ccs_attach_lock);
	ccs_detach_locked(cd, true, "driver unbound");
	mutex_unlock(&ccs_attach_lock);
}

/*
 * Attach @dev.  @owner is the device whose driver's unbind detaches it (a
 * devres action on @owner): @dev itself at a PCI bind, the virtio device for
 * a virtio-pci parent (attach_virtio.c), NULL for the exported API.
 */
static int ccs_attach_locked(struct device *dev, struct device *owner,
			     const char *why)
{
	phys_addr_t max = ccs_shim_max_phys();
	bool by_api = !owner;
	struct ccs_dev *cd;
	int err;

	lockdep_assert_held(&ccs_attach_lock);
	if (ccs_find_dev(dev))
		return -EEXIST;
	if (!ccs_pool)
		return -ENODEV;
	if (!dev->dma_mask) {
		dev_info(dev, CCS_NAME ": not attached: the device does no DMA (no DMA mask)\n");
		return -EINVAL;
	}
	if (device_iommu_mapped(dev)) {
		dev_info(dev, CCS_NAME ": left alone: behind an IOMMU (group %d), which does its own bouncing\n",
			 iommu_group_id(dev->iommu_group));
		return -EOPNOTSUPP;
	}
	if (dev->dma_ops || ccs_dev_uses_iommu(dev)) {
		dev_warn(dev, CCS_NAME ": not attached: the device already has DMA ops (%ps), e.g. behind an IOMMU\n",
			 dev->dma_ops);
		return -EOPNOTSUPP;
	}
	/*
	 * The bus limit is fixed, so check it now.  The DMA mask of a device
	 * bound through the notifier is still the bus default here; its
	 * driver sets the real one in probe and ccs_dma_supported() checks
	 * that.  A device attached through the API has its mask set already.
	 */
	if (by_api ? !ccs_shim_mask_ok(dev, *dev->dma_mask) :
	    dev->bus_dma_limit && !ccs_shim_mask_ok(dev, dev->bus_dma_limit)) {
		dev_warn(dev, CCS_NAME ": not attached: DMA mask %#llx / bus limit %#llx cannot reach pool memory (up to %pa)\n",
			 *dev->dma_mask, dev->bus_dma_limit, &max);
		return -EIO;
	}
	if (!try_module_get(THIS_MODULE))
		return -ENODEV;

	err = -ENOMEM;
	cd = kzalloc(sizeof(*cd), GFP_KERNEL);
	if (!cd)
		goto err_put;
	cd->stats = alloc_percpu(struct ccs_dev_stats);
	if (!cd->stats)
		goto err_free;
	cd->dev = get_device(dev);
	cd->by_api = by_api;
	cd->state = CCS_DEV_ATTACHED;
	cd->prev_ops = dev->dma_ops;
	/* The only write to @ops: the struct is fresh heap memory. */
	memcpy((void *)&cd->ops, &ccs_shim_ops, sizeof(cd->ops));
	if (owner) {
		err = devm_add_action(owner, ccs_devres_detach, cd);
		if (err)
			goto err_dev;
	}

	set_dma_ops(dev, &cd->ops);
	ccs_dev_need_sync(dev);
	list_add_tail(&cd->node, &ccs_devs);
	trace_cc_swiotlb_attach(dev, 0);
	dev_info(dev, CCS_NAME ": attached (%s)\n", why);
	return 0;

err_dev:
	put_device(dev);
	free_percpu(cd->stats);
err_free:
	kfree(cd);
err_put:
	module_put(THIS_MODULE);
	dev_warn(dev, CCS_NAME ": not attached: %d\n", err);
	return err;
}

/* ---- bus notifier ---- */

/*
 * A driver binds and @dev may be attached: @dev itself at a PCI bind, or the
 * PCI parent that does a virtio device's DMA (@owner is then the virtio
 * device, whose unbind detaches it).  Called under @owner's device lock.
 */
static void ccs_bind(struct device *dev, struct device *owner)
{
	const struct ccs_match *why;
	struct device_driver *drv = READ_ONCE(dev->driver);
	struct ccs_dev *cd;
	char desc[64];

	if (!drv)
		return;
	mutex_lock(&ccs_attach_lock);
	cd = ccs_find_dev(dev);
	if (cd && cd->state == CCS_DEV_DRAINING && !cd->by_api) {
		/*
		 * Still ours, waiting for late coherent frees of the previous
		 * driver: keep bouncing, and detach with this driver's unbind.
		 */
		if (!devm_add_action(owner, ccs_devres_detach, cd)) {
			WRITE_ONCE(cd->state, CCS_DEV_ATTACHED);
			dev_info(dev, CCS_NAME ": re-attached while coherent allocations of the previous binding are outstanding\n");
		} else {
			dev_warn(dev, CCS_NAME ": cannot track the new binding (no memory): detaches when the old allocations are freed\n");
		}
	} else if (!cd && ccs_policy_wants(dev, drv->name, &why)) {
		ccs_match_desc(why, desc, sizeof(desc));
		if (owner == dev)
			ccs_attach_locked(dev, dev, desc);
		else if (ccs_shim_mask_ok(dev, *dev->dma_mask) &&
			 ccs_shim_mask_ok(dev, dev->coherent_dma_mask))
			ccs_attach_locked(dev, owner, desc);
		else
			dev_info(dev, CCS_NAME ": left to stock swiotlb: DMA masks %#llx/%#llx cannot reach pool memory\n",
				 *dev->dma_mask, dev->coherent_dma_mask);
	}
	mutex_unlock(&ccs_attach_lock);
}

/**
 * ccs_attach_child_bind() - a driver binds to the child that @dev serves
 * @dev:	device that does the child's DMA, with its driver bound
 * @owner:	the child; detach runs as a devres action when its driver
 *		unbinds
 *
 * For bus notifiers other than PCI's (attach_virtio.c).  Never takes
 * @dev's device lock: the caller holds @owner's, and the driver core locks
 * parents before children.
 */
void ccs_attach_child_bind(struct device *dev, struct device *owner)
{
	ccs_bind(dev, owner);
}

static int ccs_bus_notify(struct notifier_block *nb, unsigned long action,
			  void *data)
{
	struct device *dev = data;

	/* enum bus_notifier_event values differ between kernels: use names */
	if (action == BUS_NOTIFY_BIND_DRIVER)
		ccs_bind(dev, dev);
	return NOTIFY_DONE;
}

static struct notifier_block ccs_pci_nb = {
	.notifier_call = ccs_bus_notify,
};

/* ---- exported API ---- */

/**
 * cc_swiotlb_attach() - bounce a device's DMA through cc_swiotlb
 * @dev:	device with a DMA mask and no driver bound
 *
 * See include/linux/cc_swiotlb.h.
 *
 * Return: 0 or a negative errno.
 */
int cc_swiotlb_attach(struct device *dev)
{
	char why[64];
	int err;

	snprintf(why, sizeof(why), "explicit attach by %ps",
		 __builtin_return_address(0));
	/* device_lock() keeps a driver from binding while we look. */
	device_lock(dev);
	mutex_lock(&ccs_attach_lock);
	if (dev->driver)
		err = -EBUSY;
	else
		err = ccs_attach_locked(dev, NULL, why);
	mutex_unlock(&ccs_attach_lock);
	device_unlock(dev);
	return err;
}
EXPORT_SYMBOL_GPL(cc_swiotlb_attach);

/**
 * cc_swiotlb_detach() - give a device back its previous dma_map_ops
 * @dev:	device attached with cc_swiotlb_attach()
 *
 * See include/linux/cc_swiotlb.h.
 *
 * Return: 0 or a negative errno.
 */
int cc_swiotlb_detach(struct device *dev)
{
	struct ccs_dev *cd;
	int err;

	device_lock(dev);
	mutex_lock(&ccs_attach_lock);
	cd = ccs_find_dev(dev);
	if (!cd)
		err = -ENOENT;
	else if (dev->driver || !cd->by_api)
		err = -EBUSY;
	else
		err = ccs_detach_locked(cd, false, "explicit detach");
	mutex_unlock(&ccs_attach_lock);
	device_unlock(dev);
	return err;
}
EXPORT_SYMBOL_GPL(cc_swiotlb_detach);

/* ---- debugfs: cc_swiotlb/devices ---- */

static const char *ccs_dev_how(const struct ccs_dev *cd)
{
	switch (cd->state) {
	case CCS_DEV_LEAKED:
		return "leaked";
	case CCS_DEV_DRAINING:
		return "draining";
	case CCS_DEV_DETACHING:
		return "detaching";
	case CCS_DEV_DETACHED:
		return "detached";
	case CCS_DEV_ATTACHED:
		break;
	}
	if (test_bit(CCS_MASK_STOCK, &cd->mask_flags))
		return "stock-mask";
	return cd->by_api ? "api" : "bind";
}

/*
 * One line per attached device:
 *   DEVICE driver=NAME how=bind|api|draining|leaked|stock-mask maps=N unmaps=N outstanding=N
 *   bytes=N exhausted=N errors=N fallbacks=N syncs=N coherent_allocs=N
 *   coherent_frees=N coherent_bytes=N held_bytes=N
 * held_bytes: slot bytes of the streaming mappings outstanding (what the
 * reserve gate weighs, ccs_shim_within_share())
 */
static int ccs_devices_show(struct seq_file *m, void *v)
{
	struct ccs_dev_stats s;
	struct ccs_dev *cd;

	mutex_lock(&ccs_attach_lock);
	list_for_each_entry(cd, &ccs_devs, node) {
		ccs_dev_stats_sum(cd, &s);
		seq_printf(m, "%s driver=%s how=%s maps=%llu unmaps=%llu outstanding=%lld bytes=%llu exhausted=%llu errors=%llu fallbacks=%llu syncs=%llu coherent_allocs=%llu coherent_frees=%llu coherent_bytes=%llu held_bytes=%llu\n",
			   dev_name(cd->dev),
			   cd->dev->driver ? cd->dev->driver->name : "-",
			   ccs_dev_how(cd),
			   s.maps, s.unmaps, (s64)(s.maps - s.unmaps), s.bytes,
			   s.exhausted, s.errors, s.fallbacks, s.syncs,
			   s.coherent_allocs, s.coherent_frees,
			   s.coherent_bytes, s.held);
	}
	mutex_unlock(&ccs_attach_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ccs_devices);

/* ---- init/exit ---- */

static int ccs_note_bound(struct device *dev, void *data)
{
	const struct ccs_match *why;
	const char *drv;

	device_lock(dev);
	drv = dev->driver ? dev->driver->name : NULL;
	mutex_lock(&ccs_attach_lock);
	if (drv && ccs_policy_wants(dev, drv, &why) &&
	    !ccs_virtio_parent(dev))
		dev_info(dev, CCS_NAME ": not attached: already bound to %s when the module loaded (cc-swiotlb-ctl attach %s rebinds it)\n",
			 drv, dev_name(dev));
	mutex_unlock(&ccs_attach_lock);
	device_unlock(dev);
	return 0;
}

/*
 * A stall: for this many consecutive checks at max_pool_mb, some CPU of the
 * device has refused the same map (address and size) as at the check
 * before, and refused it again since.
 */
#define CCS_STALL_CHECKS	10

atomic64_t ccs_stall_reports = ATOMIC64_INIT(0);

/*
 * Has a CPU refused @cd the same map since the last check as it had refused
 * before it?  Takes the new snapshot of every CPU.  A torn read of a CPU's
 * pair only breaks a streak.
 */
static bool ccs_refused_same_again(struct ccs_dev *cd)
{
	bool again = false;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct ccs_dev_stats *s = per_cpu_ptr(cd->stats, cpu);
		u64 exh = READ_ONCE(s->exhausted);
		u64 orig = READ_ONCE(s->refused_orig);
		u64 size = READ_ONCE(s->refused_size);

		if (exh == s->stall_exh)
			continue;
		if (orig == s->stall_orig && size == s->stall_size)
			again = true;
		s->stall_exh = exh;
		s->stall_orig = orig;
		s->stall_size = size;
	}
	return again;
}

/**
 * ccs_attach_check_stalls() - report devices waiting for room the cap
 *	cannot give them
 * @at_cap:	the arena is at max_pool_mb and cannot grow
 * @cap:	max_pool_mb in bytes
 *
 * Called by kccd about once a second, with no lock held.  A driver that
 * maps a request's segments one at a time and requeues the request at the
 * first refusal (virtio, NVMe) retries the same request, and meets the
 * first refusal at the same segment, until it fits.  A request that fits
 * does within the time the device takes to finish what it has in flight;
 * one that keeps being refused at the same map for CCS_STALL_CHECKS
 * seconds while the arena is at its cap is larger than what the cap
 * leaves it (after coherent memory, the other devices' mappings and the
 * small-slot reserve), and will be retried for ever unless max_pool_mb is
 * raised or those mappings go: say so once per stall, naming the device.
 * Busy devices are refused too, but each time for another request.  Best
 * effort: skipped while an attach or a detach holds the table.
 */
void ccs_attach_check_stalls(bool at_cap, u64 cap)
{
	struct ccs_dev *cd;

	if (!mutex_trylock(&ccs_attach_lock))
		return;
	list_for_each_entry(cd, &ccs_devs, node) {
		if (cd->state != CCS_DEV_ATTACHED &&
		    cd->state != CCS_DEV_DRAINING)
			continue;
		if (!ccs_refused_same_again(cd) || !at_cap) {
			cd->stall_checks = 0;
			continue;
		}
		/* once per streak */
		if (++cd->stall_checks != CCS_STALL_CHECKS)
			continue;
		atomic64_inc(&ccs_stall_reports);
		dev_warn(cd->dev, CCS_NAME ": maps refused for %u s at max_pool_mb=%llu, the same map every time: a request needs more than the cap leaves it after %llu KiB of coherent memory, and is retried until that changes; raise max_pool_mb (reload to exceed its load-time value) or lower its disks' max_sectors_kb\n",
			 cd->stall_checks, cap >> 20,
			 ccs_pool_lasting_bytes(ccs_pool) >> 10);
	}
	mutex_unlock(&ccs_attach_lock);
}

/**
 * ccs_attach_init() - start attaching devices according to attach=
 *
 * Called last in module init, once the pool can serve mappings.
 * Return: 0 or a negative errno.
 */
int ccs_attach_init(void)
{
	int err;

	ccs_coco = cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT);
	if (!ccs_coco && ccs_auto_outside_cc) {
		pr_warn("auto_outside_cc=1: attach=auto acts in this non-confidential guest (testing)\n");
		ccs_coco = true;
	}
	mutex_lock(&ccs_attach_lock);
	if (ccs_coco)
		pr_info("attach=%s: attaching matching PCI devices when their driver binds\n",
			ccs_policy.text);
	else
		pr_info("not a confidential guest: attaching only devices named by attach= (attach=%s)\n",
			ccs_policy.text);
	mutex_unlock(&ccs_attach_lock);

	bus_for_each_dev(&pci_bus_type, NULL, NULL, ccs_note_bound);

	err = bus_register_notifier(&pci_bus_type, &ccs_pci_nb);
	if (err)
		return err;
	ccs_notifier_registered = true;

	ccs_debugfs_add_counters(ccs_shim_counters);

	err = ccs_virtio_init();
	if (err) {
		bus_unregister_notifier(&pci_bus_type, &ccs_pci_nb);
		ccs_notifier_registered = false;
		return err;
	}
	if (ccs_debugfs_root)
		ccs_devices_file = debugfs_create_file("devices", 0400,
						       ccs_debugfs_root, NULL,
						       &ccs_devices_fops);
	return 0;
}

/**
 * ccs_attach_exit() - stop attaching; called first in module exit
 *
 * Every attached device holds a module reference, so normally none is left;
 * a forced unload detaches the rest.
 */
void ccs_attach_exit(void)
{
	struct ccs_dev *cd, *tmp;

	if (ccs_notifier_registered) {
		ccs_virtio_exit();
		bus_unregister_notifier(&pci_bus_type, &ccs_pci_nb);
	}
	ccs_notifier_registered = false;
	debugfs_remove(ccs_devices_file);
	ccs_devices_file = NULL;

	/* Large coherent frees from atomic context may still be in flight. */
	ccs_shim_flush();
	flush_work(&ccs_drain_work);

	mutex_lock(&ccs_attach_lock);
	list_for_each_entry_safe(cd, tmp, &ccs_devs, node) {
		pr_err("%s still attached at a forced unload\n",
		       dev_name(cd->dev));
		if (!cd->by_api && cd->state == CCS_DEV_ATTACHED)
			devm_remove_action(cd->dev, ccs_devres_detach, cd);
		set_dma_ops(cd->dev, cd->prev_ops);
		list_del(&cd->node);
		WRITE_ONCE(cd->state, CCS_DEV_DETACHED);
		put_device(cd->dev);
		call_rcu_tasks(&cd->rcu, ccs_dev_free_tasks);
	}
	mutex_unlock(&ccs_attach_lock);
	/* every struct ccs_dev freed before the module text goes */
	rcu_barrier_tasks();
	rcu_barrier();
}
