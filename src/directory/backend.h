/* src/directory/backend.h: the directory's storage, one interface with two implementations
 * (SQLite, the default, and PostgreSQL through libpq). The server keeps no per-account state
 * in memory: everything an instance needs is here, so many instances can share one
 * PostgreSQL. Every call is a complete transaction. */
#ifndef SOTTO_DIRECTORY_BACKEND_H
#define SOTTO_DIRECTORY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "identity/card.h"
#include "sotto/err.h"
#include "util/text.h"

#define DIR_PREKEYS_PER_REQUEST 200
#define DIR_PREKEYS_STORED_MAX  1000
#define DIR_REPLAY_KEEP_MS      (10 * 60 * 1000)

struct sotto_env;

struct dir_prekey {
    uint32_t id; /* 1..0xffffff */
    uint8_t key[E2E_KEY_LEN];
};

struct dir_signed_prekey {
    uint32_t id;
    uint8_t key[E2E_KEY_LEN];
    uint8_t sig[E2E_SIG_LEN];
};

struct dir_account {
    char username[TEXT_USERNAME_MAX + 1]; /* lowercased */
    uint64_t number;
    uint8_t identity_key[E2E_KEY_LEN];
    uint32_t registration_id;
    struct dir_signed_prekey signed_prekey;
    size_t n_addrs;
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
    uint64_t created_ms, updated_ms;
};

/* Which unique value a registration collided with. */
enum dir_conflict { DIR_CONFLICT_NONE, DIR_CONFLICT_USERNAME, DIR_CONFLICT_NUMBER };

struct dir_backend;

/* Opens a backend from a --db value: "sqlite:PATH" (created if missing, WAL,
 * synchronous=FULL) or "postgresql://…" / "postgres://…" (libpq connection URI). Runs the
 * backend's migrations. Borrows `env`. SOTTO_EINVAL for an unknown scheme, SOTTO_EDB when the
 * database cannot be reached or migrated (logged with the database's message, never a
 * password). On failure *out is NULL. Not thread-safe: one backend per process or thread. */
enum sotto_err dir_backend_open(struct dir_backend **out, const struct sotto_env *env,
                                const char *db);
/* Closes the connection. NULL is a no-op. */
void dir_backend_close(struct dir_backend *b);
/* "sqlite" or "postgresql". */
const char *dir_backend_kind(const struct dir_backend *b);

/* Stores a new account and its one-time prekeys (n <= DIR_PREKEYS_PER_REQUEST) in one
 * transaction. `skeleton` is the username's look-alike skeleton (dir_username_skeleton).
 * SOTTO_EEXIST with *conflict set when the skeleton or the number is taken; nothing is stored
 * then. Durable when it returns SOTTO_OK (the caller answers 201 only after). */
enum sotto_err dir_backend_register(struct dir_backend *b, const struct dir_account *a,
                                    const char *skeleton, const struct dir_prekey *prekeys,
                                    size_t n, enum dir_conflict *conflict);
/* The public record by number (username NULL) or by lowercased username. SOTTO_ENOENT. */
enum sotto_err dir_backend_lookup(struct dir_backend *b, const char *username, uint64_t number,
                                  struct dir_account *out);
/* The account's bundle parts, consuming exactly one one-time prekey atomically when
 * `take_prekey` (two concurrent calls never get the same one, on either backend): *has_prekey
 * tells whether one was left; *left is how many remain after. SOTTO_ENOENT. */
enum sotto_err dir_backend_take_bundle(struct dir_backend *b, uint64_t number, bool take_prekey,
                                       struct dir_account *out, struct dir_prekey *prekey,
                                       bool *has_prekey, unsigned *left);
/* Replaces the account's addresses. SOTTO_ENOENT. */
enum sotto_err dir_backend_set_addresses(struct dir_backend *b, uint64_t number,
                                         const char addrs[][CARD_ADDR_MAX + 1], size_t n);
/* Adds (or replaces by id) one-time prekeys and, when `spk` is not NULL, replaces the signed
 * prekey. SOTTO_ETOOBIG when more than DIR_PREKEYS_STORED_MAX would be stored (nothing is
 * then). *left is the count stored after. SOTTO_ENOENT. */
enum sotto_err dir_backend_add_prekeys(struct dir_backend *b, uint64_t number,
                                       const struct dir_signed_prekey *spk,
                                       const struct dir_prekey *prekeys, size_t n, unsigned *left);
/* Deletes the account and its prekeys. SOTTO_ENOENT. */
enum sotto_err dir_backend_delete(struct dir_backend *b, uint64_t number);
/* Records the SHA-256 of a signed request, to be forgotten after `expires_ms`; SOTTO_EEXIST
 * when it was recorded before (a replay), atomically across instances. Also forgets expired
 * entries now and then. */
enum sotto_err dir_backend_replay_check(struct dir_backend *b, const uint8_t digest[32],
                                        uint64_t expires_ms, uint64_t now_ms);
/* Counts for /metrics. */
enum sotto_err dir_backend_counts(struct dir_backend *b, uint64_t *accounts, uint64_t *prekeys);
/* SOTTO_OK when the database answers a trivial query (for /healthz). */
enum sotto_err dir_backend_ping(struct dir_backend *b);

/* The look-alike skeleton of a lowercased, valid username (docs/PROTOCOL.md): . - _ removed,
 * then 0->o, 1->l, i->l, rn->m, vv->w. `out` holds at least TEXT_USERNAME_MAX + 1 bytes. */
void dir_username_skeleton(const char *username, char out[static TEXT_USERNAME_MAX + 1]);

#endif
