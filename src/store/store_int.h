/* src/store/store_int.h: private to src/store: the profile handle, the SQLite helpers that
 * profile.c, seal.c and contacts.c share (db.c), the sealing of secrets at rest (seal.c), and
 * the sealed rows and nested writes of signal_store.c and messages.c. */
#ifndef SOTTO_STORE_STORE_INT_H
#define SOTTO_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "e2e/session.h"
#include "sotto/err.h"
#include "store/profile.h"

#define STORE_DATAKEY_LEN   32
#define STORE_SALT_LEN      16
#define STORE_NONCE_LEN     24 /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define STORE_TAG_LEN       16 /* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define STORE_SEAL_OVERHEAD (STORE_NONCE_LEN + STORE_TAG_LEN)
#define STORE_AD_MAX        64 /* "<table>:<rowid>" */

struct sotto_env;

/* Statements kept prepared for the life of the connection (db.c): the node runs the same few
 * dozen on every message, and preparing them anew was a tenth of its time. */
#define STORE_STMT_CACHE 128 /* slots; a power of two */

struct store_stmt_slot {
    uint32_t hash; /* of the SQL text */
    bool busy;     /* handed out and not released yet */
    sqlite3_stmt *st;
};

struct store_profile {
    const struct sotto_env *env; /* borrowed; outlives the profile */
    sqlite3 *db;                 /* owned */
    struct store_stmt_slot stmts[STORE_STMT_CACHE];
    size_t n_stmts;
    uint8_t *datakey; /* owned, secret_alloc() memory; NULL while locked */
    bool has_passphrase;
    unsigned step_depth;                 /* store_tx_step_begin()s not ended yet */
    unsigned wal_cap;                    /* store_profile_manual_checkpoints(); 0: SQLite's */
    int wal_frames;                      /* pages in the log after the last commit */
    char sess_addr[E2E_ADDRESS_LEN + 1]; /* signal_store.c: the session row last used ... */
    int64_t sess_id;                     /* ... and its id (0: none) */
    char dir[PROFILE_PATH_MAX];
};

/* ---- db.c: SQLite helpers. Each maps a failure to enum sotto_err (SQLITE_NOMEM to
 * SOTTO_ENOMEM, SQLITE_NOTADB to SOTTO_ENOTPROFILE, SQLITE_CORRUPT to SOTTO_ECORRUPT, the rest
 * to SOTTO_EDB) and logs SQLite's message, which never holds a bound value. */

enum sotto_err store_db_error(const struct store_profile *p, int rc, const char *what);
/* Runs `sql`, which may hold several statements, prepared anew (migrations, settings). */
enum sotto_err store_db_exec(struct store_profile *p, const char *sql);
/* Runs the one statement `sql` that returns no row, from the connection's prepared ones. */
enum sotto_err store_db_exec1(struct store_profile *p, const char *sql);
/* Hands out `sql` prepared: the connection's kept statement for that text when it is free (it
 * is kept from the first use on), else a fresh one (the same text used again while in use, or
 * the cache full). Give it back with store_db_release(), never sqlite3_finalize(). */
enum sotto_err store_db_prepare(struct store_profile *p, const char *sql, sqlite3_stmt **st);
/* Gives back a statement from store_db_prepare(): a kept one is reset with its bindings
 * cleared (which also ends a read it was stepping through), any other finalized. NULL is
 * ignored. */
void store_db_release(struct store_profile *p, sqlite3_stmt *st);
/* Finalizes every kept statement: before the connection closes. */
void store_db_release_all(struct store_profile *p);
/* Releases `st` after a failed sqlite3_bind_*() and maps the connection's error. */
enum sotto_err store_db_bind_failed(struct store_profile *p, sqlite3_stmt *st);
/* Steps a statement that returns no row, then releases it (also on failure). */
enum sotto_err store_db_run(struct store_profile *p, sqlite3_stmt *st);
/* Steps once: SOTTO_OK with *row set to whether a row came. */
enum sotto_err store_db_step(struct store_profile *p, sqlite3_stmt *st, bool *row);
/* store_db_run() for a statement that changes at most one row: SOTTO_ENOENT when it changed
 * none. */
enum sotto_err store_db_run_one(struct store_profile *p, sqlite3_stmt *st);
/* Steps `st`, prepared and bound, through its rows and calls row(arg, st) on each; stops at and
 * returns the first error, its own or row's. Releases `st` (also on failure). */
enum sotto_err store_db_each(struct store_profile *p, sqlite3_stmt *st,
                             enum sotto_err (*row)(void *arg, sqlite3_stmt *st), void *arg);
enum sotto_err store_db_begin(struct store_profile *p);
enum sotto_err store_db_commit(struct store_profile *p);
/* Rolls back if a transaction is open; keeps the caller's error. */
void store_db_rollback(struct store_profile *p);

/* Prepares `sql`, which has no parameters, and steps to its first row: `none` when no row came.
 * On success the caller reads the row and releases *st; on failure *st is NULL. */
enum sotto_err store_db_row(struct store_profile *p, const char *sql, sqlite3_stmt **st,
                            enum sotto_err none);
/* The first column of the first row of `sql` as an integer; SOTTO_EDB when no row came. */
enum sotto_err store_db_query_int(struct store_profile *p, const char *sql, int64_t *out);
/* The same as text into out[0..cap): SOTTO_EDB when no row came, SOTTO_ECORRUPT when it does
 * not fit. */
enum sotto_err store_db_query_text(struct store_profile *p, const char *sql, char *out, size_t cap);

/* Runs steps[from + 1] .. steps[to] on the database, each in its own transaction together with
 * the bump of user_version to its index, so that an interrupted migration leaves the previous
 * version intact. `steps[0]` is unused. Exposed for the tests of the migration machinery. */
enum sotto_err store_db_migrate(struct store_profile *p, const char *const *steps, unsigned from,
                                unsigned to);

/* Column readers: SOTTO_ECORRUPT when the stored value does not fit. A NULL text reads "". */
enum sotto_err store_col_text(sqlite3_stmt *st, int col, char *out, size_t cap);
enum sotto_err store_col_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t len);

/* ---- seal.c: secrets at rest. */

/* A fresh random data key in secret memory (free with secret_free), or NULL. */
uint8_t *store_datakey_new(const struct sotto_env *env);

/* Seals `plain` under `key` with XChaCha20-Poly1305: a random nonce, then the ciphertext and
 * tag, bound to the row "<table>:<row>" as associated data. *out is owned by the caller
 * (sotto_free) and holds len + STORE_SEAL_OVERHEAD bytes. */
enum sotto_err store_seal(const struct sotto_env *env, const uint8_t key[static STORE_DATAKEY_LEN],
                          const char *table, int64_t row, const uint8_t *plain, size_t len,
                          uint8_t **out, size_t *out_len);
/* Opens a sealed value of the row "<table>:<row>" into out[0..cap). SOTTO_ECORRUPT when it is
 * too short, too long for `cap`, or does not authenticate (another key, another row, altered);
 * `out` is then wiped. */
enum sotto_err store_unseal(const uint8_t key[static STORE_DATAKEY_LEN], const char *table,
                            int64_t row, const uint8_t *sealed, size_t len, uint8_t *out,
                            size_t cap, size_t *out_len);

/* Writes the keyring row (and, without a passphrase, the data key file in p->dir) for a new
 * profile whose data key is p->datakey. */
enum sotto_err store_keyring_create(struct store_profile *p, const char *passphrase, size_t len,
                                    const struct store_kdf *kdf);
/* Reads the keyring's kind into p->has_passphrase: SOTTO_ECORRUPT when the row is missing. */
enum sotto_err store_keyring_kind(struct store_profile *p);
/* Makes the identity key pair and registration id, signed prekey 1 and one-time prekeys 1 ..
 * n_prekeys of a new profile named `name`, and stores them, private parts sealed under
 * p->datakey. Runs inside the caller's transaction. */
enum sotto_err store_identity_create(struct store_profile *p, struct e2e_ctx *e2e, const char *name,
                                     unsigned n_prekeys);
/* store_profile_unlock() is in seal.c too. */

/* ---- signal_store.c: shared by signal_store.c and messages.c (schema 3). */

/* Starts a write that joins the caller's transaction (as a SAVEPOINT, so that a failure undoes
 * only this write) or, with none open, runs in a transaction of its own; *own says which. */
enum sotto_err store_op_begin(struct store_profile *p, bool *own);
/* Ends what store_op_begin started: commits or releases on SOTTO_OK, else rolls back to where it
 * began. Returns `rc`, or the commit's error. */
enum sotto_err store_op_end(struct store_profile *p, bool own, enum sotto_err rc);
/* Opens the value column `col` of the current row of `st`, sealed under "<table>:<row>", and
 * hands the plaintext to `sink`, then wipes it. Returns what `sink` returned, or SOTTO_ECORRUPT
 * when the value does not open (needs store_profile_unlock: SOTTO_EINVAL otherwise). */
enum sotto_err store_sealed_col(struct store_profile *p, const char *table, int64_t row,
                                sqlite3_stmt *st, int col, e2e_sink_fn sink, void *arg);
/* Seals plain[0..len) under "<table>:<row>" and runs `sql` with ?1 the sealed bytes and ?2 the
 * row id (an UPDATE of that row). */
enum sotto_err store_sealed_set(struct store_profile *p, const char *sql, const char *table,
                                int64_t row, const uint8_t *plain, size_t len);

/* Shared by card import (contacts.c) and directory lookups (directory.c), in contacts.c: */
/* The addresses as a compact JSON array, NUL-terminated, for contacts.addresses (sotto_free). */
enum sotto_err store_addrs_json(const struct sotto_env *env, const char addrs[][CARD_ADDR_MAX + 1],
                                size_t n, char **out);
/* SOTTO_EINVAL when `key` is the profile's own identity key: nobody is their own contact. */
enum sotto_err store_refuse_own_key(struct store_profile *p, const uint8_t key[static E2E_KEY_LEN]);
/* Runs a contact INSERT/UPDATE; a UNIQUE failure (another key holds the number) is EEXIST. */
enum sotto_err store_contact_write(struct store_profile *p, sqlite3_stmt *st);
/* In messages.c: a contact moved from key `old` to `new_key` (an accepted key change): its
 * unacknowledged outbox entries follow it, back to waiting, to be encrypted again under a
 * session with the new key, their ids kept (DESIGN.md, "Delivery"). */
enum sotto_err store_outbox_follow(struct store_profile *p, const uint8_t old[static E2E_KEY_LEN],
                                   const uint8_t new_key[static E2E_KEY_LEN]);
/* Copies contact `id`'s current key into contact_keys, replaced at `now_ms`. */
enum sotto_err store_contact_key_to_history(struct store_profile *p, int64_t id, int64_t now_ms);

#endif
