// SPDX-License-Identifier: GPL-2.0
/* Globals of the userspace kernel stand-in (see uenv.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "uenv.h"

int uenv_quiet;
unsigned long uenv_nr_errors;
unsigned long uenv_nr_allocs;
__thread unsigned int uenv_cpu;
/* writer-preferring, so synchronize_rcu() is not starved by lookups */
pthread_rwlock_t uenv_rcu_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
