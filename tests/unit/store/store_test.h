/* tests/unit/store/store_test.h: the fixture of the store tests: a scratch directory per test,
 * an env that counts allocations, a Signal context, and helpers to make profiles and cards and
 * to tamper with a profile's files behind the store's back. */
#ifndef SOTTO_TEST_STORE_H
#define SOTTO_TEST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "failalloc.h"
#include "store/profile.h"

#define TEST_PASSPHRASE "correct horse battery staple"
#define TEST_PREKEYS    5 /* a small pool keeps the tests fast; one test checks the default */

struct store_fx {
    struct failalloc fa;
    struct sotto_env env;     /* for store calls; fa.live counts what they leak */
    struct sotto_env ctx_env; /* the Signal context's own */
    struct e2e_ctx *e2e;
    char root[PROFILE_PATH_MAX]; /* this test's scratch directory, removed afterwards */
    char home[PROFILE_PATH_MAX]; /* root/profile */
};

extern struct store_fx fx;

/* Criterion .init / .fini of every store test. */
void store_fx_init(void);
void store_fx_fini(void);

/* Parameters for a profile at fx.home named "Alice" with two addresses, the minimum Argon2id
 * limits and TEST_PREKEYS prekeys; `passphrase` may be NULL. */
struct store_create_params store_fx_params(const char *passphrase);
/* Creates such a profile and asserts success. */
void store_fx_create(const char *passphrase);
/* Opens fx.home and asserts success. */
struct store_profile *store_fx_open(void);
/* Opens and unlocks (no passphrase, or TEST_PASSPHRASE when `passphrase`). */
struct store_profile *store_fx_open_unlocked(bool passphrase);

/* "<dir>/<name>" into a static buffer of the caller's. */
void path_of(char out[static PROFILE_PATH_MAX], const char *dir, const char *name);
/* A digest of every file's name and bytes in `dir`, in name order. */
void dir_digest(const char *dir, uint8_t out[static 32]);
/* Asserts that dir_digest(dir) equals `before`. */
void assert_dir_same(const char *dir, const uint8_t before[static 32], const char *what);
bool path_exists(const char *path);
/* How many entries `dir` holds, besides . and .. */
size_t dir_entries(const char *dir);
unsigned path_mode(const char *path);
void file_put(const char *path, const void *p, size_t len, unsigned mode);
void file_poke(const char *path, long offset, uint8_t byte, size_t len);
long file_size(const char *path);
/* Runs SQL on the profile's database with a plain connection, asserting success. */
void raw_exec(const char *home, const char *sql);
/* The first column of the first row of `sql`, as an integer. */
int64_t raw_int(const char *home, const char *sql);

/* A card of a fresh key pair; `username` may be "". */
void card_make(struct identity_card *c, const char *name, const char *username, size_t n_addrs);

#endif
