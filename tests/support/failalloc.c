/* tests/support/failalloc.c */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "failalloc.h"

static void *fa_alloc(void *ctx, size_t len)
{
    struct failalloc *fa = ctx;
    void *p;

    fa->calls++;
    if (fa->fail_at != 0 && fa->calls == fa->fail_at) {
        fa->failed++;
        return NULL;
    }
    p = malloc(len);
    if (p != NULL)
        fa->live++;
    return p;
}

static void fa_free(void *ctx, void *p)
{
    struct failalloc *fa = ctx;

    if (p != NULL)
        fa->live--;
    free(p);
}

static uint64_t fa_now(void *ctx)
{
    return ((struct failalloc *)ctx)->now_ms;
}

static void fa_random(void *ctx, uint8_t *out, size_t len)
{
    struct failalloc *fa = ctx;

    if (fa->rng_state == 0) {
        randombytes_buf(out, len);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        /* xorshift64*: deterministic test randomness, never used outside tests */
        fa->rng_state ^= fa->rng_state >> 12;
        fa->rng_state ^= fa->rng_state << 25;
        fa->rng_state ^= fa->rng_state >> 27;
        out[i] = (uint8_t)((fa->rng_state * 2685821657736338717ULL) >> 56);
    }
}

void failalloc_env(struct sotto_env *env, struct failalloc *fa, unsigned long fail_at)
{
    if (sodium_init() < 0)
        abort();
    fa->calls = 0;
    fa->fail_at = fail_at;
    fa->failed = 0;
    fa->live = 0;
    if (fa->now_ms == 0)
        fa->now_ms = 1700000000000ULL;
    env->log = NULL;
    env->now_ms = fa_now;
    env->random = fa_random;
    env->alloc = fa_alloc;
    env->free = fa_free;
    env->ctx = fa;
}
