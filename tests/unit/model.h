/* SPDX-License-Identifier: GPL-2.0 */
/* Model-based test engine shared by test_pool (RNG) and fuzz_pool (bytes). */
#ifndef _CCS_MODEL_H
#define _CCS_MODEL_H

#include "harness.h"

struct m_src {
	u64 rng;		/* used when @data is NULL */
	const u8 *data;		/* fuzz input */
	size_t len, pos;
	bool done;		/* input exhausted */
};

struct m_cfg {
	enum ccs_preset preset;
	unsigned int nr_cpus;
	u64 ops;
	u64 check_every;	/* full ccs_pool_check() + stats compare */
	u32 small_reserve;	/* ccs_pool_set_small_reserve() for the run */
};

void model_run(const struct m_cfg *cfg, struct m_src *src);

#endif /* _CCS_MODEL_H */
