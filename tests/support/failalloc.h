/* tests/support/failalloc.h: an environment whose allocator fails on a chosen call, and counts
 * what is still allocated, for allocation-failure injection. */
#ifndef SOTTO_TEST_FAILALLOC_H
#define SOTTO_TEST_FAILALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "sotto/env.h"

struct failalloc {
    unsigned long calls;   /* allocations attempted so far */
    unsigned long fail_at; /* fail the call with this number (1-based); 0: never */
    unsigned long failed;  /* how many calls were failed */
    long live;             /* allocations not yet freed */
    uint64_t now_ms;       /* the clock this env reports */
    uint64_t rng_state;    /* deterministic randomness when nonzero; else libsodium */
};

/* Builds `env` around `fa` (borrowed). fail_at = 0: never fail. */
void failalloc_env(struct sotto_env *env, struct failalloc *fa, unsigned long fail_at);

#endif
