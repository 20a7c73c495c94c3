/* src/util/env.c: the default environment and its call-site wrappers. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "sotto/env.h"

static uint64_t system_now_ms(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void system_random(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    randombytes_buf(out, len);
}

static void *system_alloc(void *ctx, size_t len)
{
    (void)ctx;
    return malloc(len);
}

static void system_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void sotto_env_init(struct sotto_env *env, struct sotto_log *log)
{
    env->log = log;
    env->now_ms = system_now_ms;
    env->random = system_random;
    env->alloc = system_alloc;
    env->free = system_free;
    env->ctx = NULL;
}

int sotto_env_global_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void *sotto_alloc(const struct sotto_env *env, size_t len)
{
    if (len == 0)
        return NULL;
    return env->alloc(env->ctx, len);
}

void *sotto_zalloc(const struct sotto_env *env, size_t len)
{
    void *p = sotto_alloc(env, len);

    if (p != NULL)
        memset(p, 0, len);
    return p;
}

void sotto_free(const struct sotto_env *env, void *p)
{
    if (p != NULL)
        env->free(env->ctx, p);
}

uint64_t sotto_now_ms(const struct sotto_env *env)
{
    return env->now_ms(env->ctx);
}

void sotto_random(const struct sotto_env *env, uint8_t *out, size_t len)
{
    env->random(env->ctx, out, len);
}
