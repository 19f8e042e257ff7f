// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the pool core.  The input is an operation sequence
 * for the model engine (model.c): its first byte picks the class ladder,
 * the number of CPUs and (bits 3-4) the small reserve, every following
 * operation takes a byte for its kind (alloc with
 * class/size/min_align_mask/alignment, free the k-th live slot,
 * add an arena unit (sometimes an invalid or overlapping one), take a free
 * unit, drain, switch CPU, double free, lookups, stats, invariant check) and a few
 * more for its arguments.  Every pool answer is checked against the model;
 * a mismatch aborts, which libFuzzer reports as a crash.
 *
 * Built two ways: with clang -fsanitize=fuzzer (CCS_LIBFUZZER) for
 * `make fuzz`, and into build/test_pool, which replays fuzz-corpus/ and
 * fuzz-regress/ as part of `make check`.
 */
#include "model.h"

#ifdef CCS_LIBFUZZER
unsigned long h_failures;

void h_fail(const char *file, int line, const char *what, long long a,
	    long long b)
{
	fprintf(stderr, "FAIL: %s:%d: %s (%lld vs %lld)\n", file, line, what,
		a, b);
	abort();
}

u64 h_seed(void)
{
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	uenv_quiet = 1;		/* expected pr_err()s (bad frees) */
	return 0;
}
#endif

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const u32 reserves[] = { 0, 64 << 10, 128 << 10, 256 << 10 };
	struct m_src src = { .data = data, .len = size };
	struct m_cfg cfg;

	if (!size)
		return 0;
	cfg.preset = data[0] & 1 ? CCS_PRESET_RFC : CCS_PRESET_POW2;
	cfg.nr_cpus = 1 + ((data[0] >> 1) & 3);
	cfg.small_reserve = reserves[(data[0] >> 3) & 3];
	cfg.ops = ~0ULL;
	cfg.check_every = 64;
	src.pos = 1;
	model_run(&cfg, &src);
	return 0;
}
