// SPDX-License-Identifier: GPL-2.0
/*
 * Harness selftest only (tests/vm/selftest/st-warn): a real kernel WARN
 * from a module that then refuses to load, so that nothing stays behind.
 * The harness must turn the case that loads it red.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init ccs_selftest_warn_init(void)
{
	WARN(1, "ccs_selftest_warn: deliberate WARN for the harness selftest\n");
	return -EINVAL;
}
module_init(ccs_selftest_warn_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("cc_swiotlb harness selftest: one deliberate WARN");
