/* src/directory/backend_int.h: private to the backend files. backend.c checks every argument
 * against the contract in backend.h and then calls one of two implementations through this
 * table; the implementations trust their arguments and distrust everything the database gives
 * back. Shared helpers for what both read back (addresses, account fields) live in backend.c. */
#ifndef SOTTO_DIRECTORY_BACKEND_INT_H
#define SOTTO_DIRECTORY_BACKEND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory/backend.h"
#include "sotto/err.h"

struct sotto_env;

/* The addresses column is a JSON array of strings; checked addresses are plain ASCII, so the
 * encoding is "[" + 8 x ("\"" + 255 + "\",") + "]" at most. */
#define DIR_ADDRS_JSON_MAX (2 + CARD_ADDRS_MAX * (CARD_ADDR_MAX + 3) + 1)

#define DIR_REGISTRATION_ID_MAX 16380
#define DIR_PREKEY_ID_MAX       0xffffff

/* Every member is required. Arguments are already checked: n <= DIR_PREKEYS_PER_REQUEST,
 * ids in range and distinct, strings terminated and within their caps, numbers in range,
 * times <= INT64_MAX, `addrs_json` the encoding of checked addresses. Outputs are zeroed by
 * backend.c before the call. */
struct dir_backend_ops {
    const char *kind;
    enum sotto_err (*reg)(struct dir_backend *b, const struct dir_account *a, const char *skeleton,
                          const char *addrs_json, const struct dir_prekey *prekeys, size_t n,
                          uint64_t now_ms, enum dir_conflict *conflict);
    enum sotto_err (*lookup)(struct dir_backend *b, const char *username, uint64_t number,
                             struct dir_account *out);
    enum sotto_err (*take_bundle)(struct dir_backend *b, uint64_t number, bool take_prekey,
                                  struct dir_account *out, struct dir_prekey *prekey,
                                  bool *has_prekey, unsigned *left);
    enum sotto_err (*set_addresses)(struct dir_backend *b, uint64_t number, const char *addrs_json,
                                    uint64_t now_ms);
    enum sotto_err (*add_prekeys)(struct dir_backend *b, uint64_t number,
                                  const struct dir_signed_prekey *spk,
                                  const struct dir_prekey *prekeys, size_t n, uint64_t now_ms,
                                  unsigned *left);
    enum sotto_err (*del)(struct dir_backend *b, uint64_t number);
    /* SOTTO_EEXIST when `digest` is stored and not expired at `now_ms`. */
    enum sotto_err (*replay_insert)(struct dir_backend *b, const uint8_t digest[32],
                                    uint64_t expires_ms, uint64_t now_ms);
    enum sotto_err (*replay_purge)(struct dir_backend *b, uint64_t now_ms);
    enum sotto_err (*counts)(struct dir_backend *b, uint64_t *accounts, uint64_t *prekeys);
    enum sotto_err (*ping)(struct dir_backend *b);
    void (*close)(struct dir_backend *b);
};

/* The first member of each implementation's struct. */
struct dir_backend {
    const struct dir_backend_ops *ops;
    const struct sotto_env *env; /* borrowed */
    unsigned replay_calls;       /* replay checks since the last purge */
    uint64_t replay_purge_ms;    /* purge again once the clock passes this */
};

/* Each opens its database and runs its migrations; `target` is the --db value without
 * "sqlite:" (a path), or the whole libpq URI. On failure *out is NULL. */
enum sotto_err dir_sqlite_open(struct dir_backend **out, const struct sotto_env *env,
                               const char *target);
enum sotto_err dir_pg_open(struct dir_backend **out, const struct sotto_env *env,
                           const char *target);

/* ---- shared checks of what the database gave back (backend.c) ---- */

/* Copies len bytes of text from a column into out[cap], refusing an empty value, one that
 * does not fit with its NUL, or one holding a NUL: SOTTO_ECORRUPT. */
enum sotto_err dir_text_copy(char *out, size_t cap, const void *s, size_t len);
/* Parses the addresses column into out->addrs/n_addrs: SOTTO_ECORRUPT for anything but a JSON
 * array of at most CARD_ADDRS_MAX strings of 1..CARD_ADDR_MAX bytes without NUL. */
enum sotto_err dir_addrs_decode(const char *s, size_t len, struct dir_account *out);
/* The ranges the protocol gives numbers and ids, for values read back. */
bool dir_number_ok(int64_t v);
bool dir_registration_id_ok(int64_t v);
bool dir_prekey_id_ok(int64_t v);

#endif
