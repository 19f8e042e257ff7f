// SPDX-License-Identifier: GPL-2.0
/*
 * cc_swiotlb: bounce buffering for confidential guests (Intel TDX, AMD
 * SEV-SNP) built from size classes of pre-decrypted slots, per-CPU magazines
 * and a kthread (kccd) that converts memory ahead of demand and gives it back
 * when the load goes away.
 *
 * Init order matters: parameters are validated before anything is allocated;
 * the pool exists before kccd fills it; kccd has filled the pool before the
 * first device is attached; teardown runs in reverse and only after every
 * device is detached (attached devices hold a module reference).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/cc_platform.h>
#include <linux/debugfs.h>
#include "internal.h"

struct ccs_pool *ccs_pool;

static int __init cc_swiotlb_init(void)
{
	int ret;

	ret = ccs_params_validate();
	if (ret)
		return ret;

	ret = ccs_convert_init();
	if (ret)
		return ret;

	ret = ccs_pool_setup();
	if (ret)
		goto err_convert;

	ccs_debugfs_init();
	ccs_convert_debugfs_init();
	ccs_debug_init(ccs_debugfs_root);

	ret = ccs_kccd_start();
	if (ret)
		goto err_pool;

	ret = ccs_attach_init();
	if (ret)
		goto err_kccd;

	pr_info("loaded: %s guest, %d size classes, max_pool_mb=%u\n",
		cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT) ?
		"confidential" : "non-confidential",
		ccs_pool_nr_classes(ccs_pool), ccs_max_pool_mb);
	return 0;

err_kccd:
	ccs_kccd_stop();
err_pool:
	ccs_debugfs_exit();
	ccs_debug_exit();
	ccs_pool_teardown();
err_convert:
	ccs_convert_exit();
	return ret;
}

static void __exit cc_swiotlb_exit(void)
{
	ccs_attach_exit();
	ccs_kccd_stop();	/* returns (re-encrypts) every chunk */
	ccs_debugfs_exit();
	ccs_debug_exit();	/* slots test_hold still holds */
	ccs_pool_teardown();
	ccs_convert_exit();
	pr_info("unloaded\n");
}

module_init(cc_swiotlb_init);
module_exit(cc_swiotlb_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("cc_swiotlb developers");
MODULE_DESCRIPTION("Bounce buffering for confidential guests: size-class pool with pre-decryption");
MODULE_VERSION(CCS_VERSION);
