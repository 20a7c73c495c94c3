/* src/directory/backend_sqlite.c: the directory on SQLite. Several worker processes share one
 * file, so: WAL (readers never wait for the writer), a busy timeout (a writer waits its turn
 * instead of failing), and every multi-statement write in BEGIN IMMEDIATE, which takes the
 * write lock before reading; a deferred transaction that reads and then writes could find
 * its snapshot stale and fail with SQLITE_BUSY_SNAPSHOT, past any timeout. A single write
 * statement takes the lock at its start, like IMMEDIATE. synchronous=FULL makes a COMMIT
 * durable before it returns. Statements are prepared once per connection. */
#include <limits.h>
#include <string.h>

#include <sqlite3.h>

#include "directory/backend_sqlite_int.h"
#include "sotto/env.h"
#include "sotto/log.h"

static struct dir_sqlite *sq_of(struct dir_backend *b)
{
    return (struct dir_sqlite *)b;
}

/* ---- accounts ---- */

static enum sotto_err sq_lookup_number(struct dir_sqlite *s, uint64_t number,
                                       struct dir_account *out)
{
    sqlite3_stmt *st;
    bool row;
    enum sotto_err rc = dir_sq_row_by_number(s, SQ_LOOKUP_NUMBER, number, &st, &row);

    if (rc != SOTTO_OK)
        return rc;
    rc = row ? dir_sq_col_account(st, out) : SOTTO_ENOENT;
    dir_sq_done(st);
    return rc;
}

static enum sotto_err sq_lookup(struct dir_backend *b, const char *username, uint64_t number,
                                struct dir_account *out)
{
    struct dir_sqlite *s = sq_of(b);
    sqlite3_stmt *st;
    bool row = false;
    enum sotto_err rc;

    if (username == NULL)
        return sq_lookup_number(s, number, out);
    rc = dir_sq_get(s, SQ_LOOKUP_NAME, &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC) != SQLITE_OK)
        return dir_sq_bind_failed(s, st);
    rc = dir_sq_step(s, st, &row);
    if (rc == SOTTO_OK)
        rc = row ? dir_sq_col_account(st, out) : SOTTO_ENOENT;
    dir_sq_done(st);
    return rc;
}

static bool sq_bind_account(sqlite3_stmt *st, const struct dir_account *a, const char *skeleton,
                            const char *addrs_json, uint64_t now_ms)
{
    const struct dir_signed_prekey *spk = &a->signed_prekey;

    return sqlite3_bind_text(st, 1, a->username, -1, SQLITE_STATIC) == SQLITE_OK &&
           sqlite3_bind_int64(st, 2, (sqlite3_int64)a->number) == SQLITE_OK &&
           sqlite3_bind_blob(st, 3, a->identity_key, E2E_KEY_LEN, SQLITE_STATIC) == SQLITE_OK &&
           sqlite3_bind_int64(st, 4, a->registration_id) == SQLITE_OK &&
           sqlite3_bind_int64(st, 5, spk->id) == SQLITE_OK &&
           sqlite3_bind_blob(st, 6, spk->key, E2E_KEY_LEN, SQLITE_STATIC) == SQLITE_OK &&
           sqlite3_bind_blob(st, 7, spk->sig, E2E_SIG_LEN, SQLITE_STATIC) == SQLITE_OK &&
           sqlite3_bind_text(st, 8, addrs_json, -1, SQLITE_STATIC) == SQLITE_OK &&
           sqlite3_bind_int64(st, 9, (sqlite3_int64)now_ms) == SQLITE_OK &&
           sqlite3_bind_text(st, 10, skeleton, -1, SQLITE_STATIC) == SQLITE_OK;
}

/* The number is the rowid (a PRIMARYKEY violation); skeleton and username are the UNIQUE
 * columns, and equal usernames have equal skeletons. */
static enum sotto_err sq_insert_account(struct dir_sqlite *s, const struct dir_account *a,
                                        const char *skeleton, const char *addrs_json,
                                        uint64_t now_ms, enum dir_conflict *conflict)
{
    sqlite3_stmt *st;
    int src;
    enum sotto_err rc = dir_sq_get(s, SQ_INSERT_ACCOUNT, &st);

    if (rc != SOTTO_OK)
        return rc;
    if (!sq_bind_account(st, a, skeleton, addrs_json, now_ms))
        return dir_sq_bind_failed(s, st);
    src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT_PRIMARYKEY || src == SQLITE_CONSTRAINT_UNIQUE) {
        *conflict =
                src == SQLITE_CONSTRAINT_PRIMARYKEY ? DIR_CONFLICT_NUMBER : DIR_CONFLICT_USERNAME;
        rc = SOTTO_EEXIST;
    } else if (src != SQLITE_DONE) {
        rc = dir_sq_error(s, src, "insert account");
    }
    dir_sq_done(st);
    return rc;
}

static enum sotto_err sq_upsert_prekeys(struct dir_sqlite *s, uint64_t number,
                                        const struct dir_prekey *prekeys, size_t n)
{
    sqlite3_stmt *st;
    enum sotto_err rc = SOTTO_OK;

    for (size_t i = 0; i < n && rc == SOTTO_OK; i++) {
        rc = dir_sq_get(s, SQ_UPSERT_PREKEY, &st);
        if (rc != SOTTO_OK)
            break;
        if (sqlite3_bind_int64(st, 1, (sqlite3_int64)number) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, prekeys[i].id) != SQLITE_OK ||
            sqlite3_bind_blob(st, 3, prekeys[i].key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK)
            rc = dir_sq_bind_failed(s, st);
        else
            rc = dir_sq_run(s, st, NULL);
    }
    return rc;
}

static enum sotto_err sq_reg(struct dir_backend *b, const struct dir_account *a,
                             const char *skeleton, const char *addrs_json,
                             const struct dir_prekey *prekeys, size_t n, uint64_t now_ms,
                             enum dir_conflict *conflict)
{
    struct dir_sqlite *s = sq_of(b);
    enum sotto_err rc = dir_sq_begin(s, true);

    if (rc != SOTTO_OK)
        return rc;
    rc = sq_insert_account(s, a, skeleton, addrs_json, now_ms, conflict);
    if (rc == SOTTO_OK)
        rc = sq_upsert_prekeys(s, a->number, prekeys, n);
    return dir_sq_end(s, rc);
}

/* ---- prekeys ---- */

static enum sotto_err sq_count_prekeys(struct dir_sqlite *s, uint64_t number, unsigned *left)
{
    sqlite3_stmt *st;
    bool row;
    uint64_t v = 0;
    enum sotto_err rc = dir_sq_row_by_number(s, SQ_COUNT_PREKEYS, number, &st, &row);

    if (rc != SOTTO_OK)
        return rc;
    rc = row ? dir_sq_col_count(st, 0, UINT_MAX, &v) : SOTTO_EDB;
    dir_sq_done(st);
    *left = (unsigned)v;
    return rc;
}

static enum sotto_err sq_take(struct dir_sqlite *s, uint64_t number, struct dir_prekey *prekey,
                              bool *has_prekey)
{
    sqlite3_stmt *st;
    bool row;
    int64_t id = 0;
    enum sotto_err rc = dir_sq_row_by_number(s, SQ_TAKE, number, &st, &row);

    if (rc != SOTTO_OK || !row) {
        if (rc == SOTTO_OK)
            dir_sq_done(st);
        return rc;
    }
    if (dir_sq_col_int(st, 0, &id) != SOTTO_OK || !dir_prekey_id_ok(id) ||
        dir_sq_col_blob(st, 1, prekey->key, sizeof(prekey->key)) != SOTTO_OK)
        rc = SOTTO_ECORRUPT;
    /* the deletion is complete only once the statement has run to its end */
    if (rc == SOTTO_OK)
        rc = dir_sq_step(s, st, &row);
    dir_sq_done(st);
    if (rc != SOTTO_OK) {
        memset(prekey, 0, sizeof(*prekey));
        return rc;
    }
    prekey->id = (uint32_t)id;
    *has_prekey = true;
    return SOTTO_OK;
}

static enum sotto_err sq_take_bundle(struct dir_backend *b, uint64_t number, bool take_prekey,
                                     struct dir_account *out, struct dir_prekey *prekey,
                                     bool *has_prekey, unsigned *left)
{
    struct dir_sqlite *s = sq_of(b);
    enum sotto_err rc = dir_sq_begin(s, take_prekey);

    if (rc != SOTTO_OK)
        return rc;
    rc = sq_lookup_number(s, number, out);
    if (rc == SOTTO_OK && take_prekey)
        rc = sq_take(s, number, prekey, has_prekey);
    if (rc == SOTTO_OK)
        rc = sq_count_prekeys(s, number, left);
    rc = dir_sq_end(s, rc);
    if (rc != SOTTO_OK) {
        memset(out, 0, sizeof(*out));
        memset(prekey, 0, sizeof(*prekey));
        *has_prekey = false;
        *left = 0;
    }
    return rc;
}

static enum sotto_err sq_exists(struct dir_sqlite *s, uint64_t number)
{
    sqlite3_stmt *st;
    bool row;
    enum sotto_err rc = dir_sq_row_by_number(s, SQ_EXISTS, number, &st, &row);

    if (rc != SOTTO_OK)
        return rc;
    dir_sq_done(st);
    return row ? SOTTO_OK : SOTTO_ENOENT;
}

static enum sotto_err sq_set_spk(struct dir_sqlite *s, uint64_t number,
                                 const struct dir_signed_prekey *spk, uint64_t now_ms)
{
    sqlite3_stmt *st;
    enum sotto_err rc = dir_sq_get(s, SQ_SET_SPK, &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)number) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, spk->id) != SQLITE_OK ||
        sqlite3_bind_blob(st, 3, spk->key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 4, spk->sig, E2E_SIG_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, (sqlite3_int64)now_ms) != SQLITE_OK)
        return dir_sq_bind_failed(s, st);
    return dir_sq_run(s, st, NULL);
}

/* Upserts first and counts after, inside the transaction: a replaced id does not count twice,
 * and going over the cap rolls everything back. */
static enum sotto_err sq_add_prekeys(struct dir_backend *b, uint64_t number,
                                     const struct dir_signed_prekey *spk,
                                     const struct dir_prekey *prekeys, size_t n, uint64_t now_ms,
                                     unsigned *left)
{
    struct dir_sqlite *s = sq_of(b);
    unsigned count = 0;
    enum sotto_err rc = dir_sq_begin(s, true);

    if (rc != SOTTO_OK)
        return rc;
    rc = sq_exists(s, number);
    if (rc == SOTTO_OK && spk != NULL)
        rc = sq_set_spk(s, number, spk, now_ms);
    if (rc == SOTTO_OK)
        rc = sq_upsert_prekeys(s, number, prekeys, n);
    if (rc == SOTTO_OK)
        rc = sq_count_prekeys(s, number, &count);
    if (rc == SOTTO_OK && count > DIR_PREKEYS_STORED_MAX)
        rc = SOTTO_ETOOBIG;
    rc = dir_sq_end(s, rc);
    *left = rc == SOTTO_OK ? count : 0;
    return rc;
}

/* ---- single-statement writes ---- */

static enum sotto_err sq_set_addresses(struct dir_backend *b, uint64_t number,
                                       const char *addrs_json, uint64_t now_ms)
{
    struct dir_sqlite *s = sq_of(b);
    sqlite3_stmt *st;
    int changes;
    enum sotto_err rc = dir_sq_get(s, SQ_SET_ADDRS, &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)number) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, addrs_json, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)now_ms) != SQLITE_OK)
        return dir_sq_bind_failed(s, st);
    rc = dir_sq_run(s, st, &changes);
    return rc == SOTTO_OK && changes == 0 ? SOTTO_ENOENT : rc;
}

/* The prekeys go with it (ON DELETE CASCADE; foreign_keys is on for every connection). */
static enum sotto_err sq_del(struct dir_backend *b, uint64_t number)
{
    struct dir_sqlite *s = sq_of(b);
    sqlite3_stmt *st;
    int changes;
    enum sotto_err rc = dir_sq_get(s, SQ_DELETE, &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)number) != SQLITE_OK)
        return dir_sq_bind_failed(s, st);
    rc = dir_sq_run(s, st, &changes);
    return rc == SOTTO_OK && changes == 0 ? SOTTO_ENOENT : rc;
}

static enum sotto_err sq_replay_insert(struct dir_backend *b, const uint8_t digest[32],
                                       uint64_t expires_ms, uint64_t now_ms)
{
    struct dir_sqlite *s = sq_of(b);
    sqlite3_stmt *st;
    int changes;
    enum sotto_err rc = dir_sq_get(s, SQ_REPLAY_INSERT, &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)expires_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)now_ms) != SQLITE_OK)
        return dir_sq_bind_failed(s, st);
    rc = dir_sq_run(s, st, &changes);
    return rc == SOTTO_OK && changes == 0 ? SOTTO_EEXIST : rc;
}

static enum sotto_err sq_replay_purge(struct dir_backend *b, uint64_t now_ms)
{
    struct dir_sqlite *s = sq_of(b);
    sqlite3_stmt *st;
    enum sotto_err rc = dir_sq_get(s, SQ_REPLAY_PURGE, &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)now_ms) != SQLITE_OK)
        return dir_sq_bind_failed(s, st);
    return dir_sq_run(s, st, NULL);
}

/* ---- reads for operations ---- */

static enum sotto_err sq_counts(struct dir_backend *b, uint64_t *accounts, uint64_t *prekeys)
{
    struct dir_sqlite *s = sq_of(b);
    sqlite3_stmt *st;
    bool row = false;
    enum sotto_err rc = dir_sq_get(s, SQ_COUNTS, &st);

    if (rc != SOTTO_OK)
        return rc;
    rc = dir_sq_step(s, st, &row);
    if (rc == SOTTO_OK && !row)
        rc = SOTTO_EDB;
    if (rc == SOTTO_OK)
        rc = dir_sq_col_count(st, 0, INT64_MAX, accounts);
    if (rc == SOTTO_OK)
        rc = dir_sq_col_count(st, 1, INT64_MAX, prekeys);
    dir_sq_done(st);
    return rc;
}

static enum sotto_err sq_ping(struct dir_backend *b)
{
    struct dir_sqlite *s = sq_of(b);
    sqlite3_stmt *st;
    bool row = false;
    enum sotto_err rc = dir_sq_get(s, SQ_PING, &st);

    if (rc != SOTTO_OK)
        return rc;
    rc = dir_sq_step(s, st, &row);
    dir_sq_done(st);
    return rc == SOTTO_OK && !row ? SOTTO_EDB : rc;
}

static void sq_close(struct dir_backend *b)
{
    struct dir_sqlite *s = sq_of(b);

    dir_sq_close_db(s);
    sotto_free(b->env, s);
}

static const struct dir_backend_ops sq_ops = {
        .kind = "sqlite",
        .reg = sq_reg,
        .lookup = sq_lookup,
        .take_bundle = sq_take_bundle,
        .set_addresses = sq_set_addresses,
        .add_prekeys = sq_add_prekeys,
        .del = sq_del,
        .replay_insert = sq_replay_insert,
        .replay_purge = sq_replay_purge,
        .counts = sq_counts,
        .ping = sq_ping,
        .close = sq_close,
};

enum sotto_err dir_sqlite_open(struct dir_backend **out, const struct sotto_env *env,
                               const char *target)
{
    struct dir_sqlite *s = sotto_zalloc(env, sizeof(*s));
    enum sotto_err rc;

    if (s == NULL)
        return SOTTO_ENOMEM;
    s->base.ops = &sq_ops;
    s->base.env = env;
    rc = dir_sq_open_db(s, target);
    if (rc != SOTTO_OK) {
        sq_close(&s->base);
        /* whatever went wrong, the caller could not use this database */
        return rc == SOTTO_ENOMEM ? rc : SOTTO_EDB;
    }
    *out = &s->base;
    return SOTTO_OK;
}
