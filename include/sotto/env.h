/* include/sotto/env.h: the world a library call sees (clock, randomness, allocator, logger),
 * built once in main() and passed down. Tests and fuzzers swap any part of it. */
#ifndef SOTTO_ENV_H
#define SOTTO_ENV_H

#include <stddef.h>
#include <stdint.h>

struct sotto_log;

struct sotto_env {
    struct sotto_log *log;                               /* borrowed; NULL: no logging */
    uint64_t (*now_ms)(void *ctx);                       /* wall clock, ms since the Unix epoch */
    void (*random)(void *ctx, uint8_t *out, size_t len); /* cryptographic randomness */
    void *(*alloc)(void *ctx, size_t len);               /* NULL on failure, like malloc */
    void (*free)(void *ctx, void *p);                    /* NULL p is a no-op */
    void *ctx;
};

/* Fills `env` with the system clock, libsodium's randombytes_buf, malloc and free, and
 * borrows `log`. Call sodium_init() first (sotto_env_global_init() does). Cannot fail. */
void sotto_env_init(struct sotto_env *env, struct sotto_log *log);

/* Process-wide set-up of the libraries Sotto uses (libsodium); call once from main() before
 * any thread starts. Returns 0, or -1 when libsodium cannot initialise. */
int sotto_env_global_init(void);

/* Thin wrappers that read better at call sites. sotto_alloc(env, 0) returns NULL. */
void *sotto_alloc(const struct sotto_env *env, size_t len);
void *sotto_zalloc(const struct sotto_env *env, size_t len);
void sotto_free(const struct sotto_env *env, void *p);
uint64_t sotto_now_ms(const struct sotto_env *env);
void sotto_random(const struct sotto_env *env, uint8_t *out, size_t len);

#endif
