// SPDX-License-Identifier: GPL-2.0
/*
 * virtio devices whose transport was bound before the module loaded.
 *
 * A virtio device does its DMA through its parent PCI device, bound to
 * virtio-pci.  On 6.12 virtio-pci is built in and binds at boot, before any
 * module loads, so the PCI bind notifier never sees it; a root disk on
 * virtio-blk could then never be moved.  virtio_pci_probe() does no DMA
 * (the vrings are allocated on the parent inside the virtio driver's probe;
 * only SR-IOV PFs have an admin virtqueue), so the parent can still get our
 * DMA ops when a virtio driver binds to its child, before that driver's
 * probe runs:
 *  - the parent must be PCI, bound to virtio-pci and not attached yet, and
 *    wanted by attach= (matched as the PCI device with driver virtio-pci);
 *  - its masks, set by virtio-pci, are checked now (attach.c);
 *  - dma_skip_sync is cleared, as for every attach;
 *  - detach is a devres action on the virtio device, so it runs after the
 *    virtio driver's remove has deleted its virtqueues;
 *  - the notifier runs under the virtio device's lock and never takes the
 *    parent's: the driver core locks parents before children.
 *
 * The virtio bus is not exported: its address comes from a registered
 * virtio driver that matches no device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/virtio.h>
#include <linux/mod_devicetable.h>
#include "internal.h"

#define CCS_VIRTIO_PCI_DRIVER	"virtio-pci"

/* An empty table: virtio_dev_match() stops at the first zero device id. */
static const struct virtio_device_id ccs_virtio_no_ids[] = {
	{ 0 },
};

static int ccs_virtio_probe(struct virtio_device *vdev)
{
	return -ENODEV;
}

static struct virtio_driver ccs_virtio_watch = {
	.driver.name = "cc_swiotlb_watch",
	.driver.owner = THIS_MODULE,
	.id_table = ccs_virtio_no_ids,
	.probe = ccs_virtio_probe,
};

static bool ccs_virtio_registered;

/**
 * ccs_virtio_parent() - is @dev a PCI device bound to virtio-pci?
 * @dev:	device, its driver stable (device lock or a child's lock held)
 *
 * Such a device is attached when a virtio driver binds to its child, even
 * if virtio-pci bound before the module loaded.
 */
bool ccs_virtio_parent(struct device *dev)
{
	struct device_driver *drv = READ_ONCE(dev->driver);

	return dev_is_pci(dev) && drv &&
	       !strcmp(drv->name, CCS_VIRTIO_PCI_DRIVER);
}

static int ccs_virtio_notify(struct notifier_block *nb, unsigned long action,
			     void *data)
{
	struct device *vdev = data;
	struct device *parent = vdev->parent;

	/*
	 * enum bus_notifier_event values differ between kernels: use names.
	 * The parent's driver is stable without the parent's lock: it removes
	 * this child (which needs the lock our caller holds) before it
	 * unbinds.
	 */
	if (action != BUS_NOTIFY_BIND_DRIVER || !vdev->driver || !parent ||
	    !ccs_virtio_parent(parent))
		return NOTIFY_DONE;
	ccs_attach_child_bind(parent, vdev);
	return NOTIFY_DONE;
}

static struct notifier_block ccs_virtio_nb = {
	.notifier_call = ccs_virtio_notify,
};

/**
 * ccs_virtio_init() - watch the virtio bus for drivers binding
 *
 * Called from ccs_attach_init() after the PCI notifier is registered.
 * Return: 0 or a negative errno.
 */
int ccs_virtio_init(void)
{
	int err;

	err = register_virtio_driver(&ccs_virtio_watch);
	if (err) {
		pr_err("cannot register the virtio bus watcher: %d\n", err);
		return err;
	}
	err = bus_register_notifier(ccs_virtio_watch.driver.bus,
				    &ccs_virtio_nb);
	if (err) {
		pr_err("cannot watch the virtio bus: %d\n", err);
		unregister_virtio_driver(&ccs_virtio_watch);
		return err;
	}
	ccs_virtio_registered = true;
	return 0;
}

/**
 * ccs_virtio_exit() - stop watching the virtio bus
 */
void ccs_virtio_exit(void)
{
	if (!ccs_virtio_registered)
		return;
	bus_unregister_notifier(ccs_virtio_watch.driver.bus, &ccs_virtio_nb);
	unregister_virtio_driver(&ccs_virtio_watch);
	ccs_virtio_registered = false;
}
