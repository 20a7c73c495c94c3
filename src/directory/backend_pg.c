/* src/directory/backend_pg.c: the directory on PostgreSQL through libpq, for several instances
 * sharing one database. One connection per backend; statements are prepared once per
 * connection and take every value as a parameter, integers and bytes in binary, and answer in
 * binary, so that each value read back has an exact length to check. Multi-statement writes
 * run in a transaction that is rolled back on every error; the one-time prekey take is a
 * single statement (FOR UPDATE SKIP LOCKED inside DELETE ... RETURNING), so two instances
 * never hand out the same prekey. A lost connection is re-established on the next call.
 * The URI may hold a password: it is never logged, and libpq's messages do not repeat it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "directory/backend_pg_int.h"
#include "sotto/env.h"
#include "sotto/log.h"

static struct dir_pg *pg_of(struct dir_backend *b)
{
    return (struct dir_pg *)b;
}

/* ---- accounts ---- */

/* Answers with an account's first row: SOTTO_ENOENT when there is none. */
static enum sotto_err pg_account_result(PGresult *res, int ncols, struct dir_account *out)
{
    if (PQnfields(res) != ncols || PQntuples(res) > 1)
        return SOTTO_EDB;
    if (PQntuples(res) == 0)
        return SOTTO_ENOENT;
    return dir_pg_account(res, out);
}

static enum sotto_err pg_lookup_once(struct dir_pg *p, const char *username, uint64_t number,
                                     struct dir_account *out)
{
    struct dir_pg_params pp = {0};
    PGresult *res;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc != SOTTO_OK)
        return rc;
    if (username != NULL)
        dir_pg_param_text(&pp, username);
    else
        dir_pg_param_i64(&pp, (int64_t)number);
    rc = dir_pg_exec(p, username != NULL ? PG_LOOKUP_NAME : PG_LOOKUP_NUMBER, &pp, NULL, &res);
    if (rc != SOTTO_OK)
        return rc;
    rc = pg_account_result(res, DIR_PG_ACCOUNT_NCOLS, out);
    PQclear(res);
    return rc;
}

/* A lookup changes nothing, so one that found the connection closed (the server restarted
 * since the last request) runs once more on a new one instead of answering 503. */
static enum sotto_err pg_lookup(struct dir_backend *b, const char *username, uint64_t number,
                                struct dir_account *out)
{
    struct dir_pg *p = pg_of(b);
    enum sotto_err rc = pg_lookup_once(p, username, number, out);

    if (rc == SOTTO_EDB && PQstatus(p->conn) != CONNECTION_OK)
        rc = pg_lookup_once(p, username, number, out);
    return rc;
}

static enum sotto_err pg_insert_account(struct dir_pg *p, const struct dir_account *a,
                                        const char *skeleton, const char *addrs_json,
                                        uint64_t now_ms, enum dir_conflict *conflict)
{
    const struct dir_signed_prekey *spk = &a->signed_prekey;
    struct dir_pg_params pp = {0};
    PGresult *res;
    enum sotto_err rc;

    dir_pg_param_text(&pp, a->username);
    dir_pg_param_i64(&pp, (int64_t)a->number);
    dir_pg_param_bytes(&pp, a->identity_key, E2E_KEY_LEN);
    dir_pg_param_i32(&pp, (int32_t)a->registration_id);
    dir_pg_param_i32(&pp, (int32_t)spk->id);
    dir_pg_param_bytes(&pp, spk->key, E2E_KEY_LEN);
    dir_pg_param_bytes(&pp, spk->sig, E2E_SIG_LEN);
    dir_pg_param_text(&pp, addrs_json);
    dir_pg_param_i64(&pp, (int64_t)now_ms);
    dir_pg_param_text(&pp, skeleton);
    rc = dir_pg_exec(p, PG_INSERT_ACCOUNT, &pp, conflict, &res);
    PQclear(res);
    return rc;
}

/* All of them in one statement: the ids as an array literal, the keys end to end. */
static enum sotto_err pg_upsert_prekeys(struct dir_pg *p, uint64_t number,
                                        const struct dir_prekey *prekeys, size_t n)
{
    char ids[DIR_PREKEYS_PER_REQUEST * 9 + 3];
    uint8_t keys[DIR_PREKEYS_PER_REQUEST * E2E_KEY_LEN];
    struct dir_pg_params pp = {0};
    PGresult *res;
    size_t len = 1;
    enum sotto_err rc;

    if (n == 0)
        return SOTTO_OK;
    ids[0] = '{';
    for (size_t i = 0; i < n; i++) {
        /* ids are at most 8 digits, so each fits in its 9 bytes with the separator */
        len += (size_t)snprintf(ids + len, sizeof(ids) - len, i == 0 ? "%u" : ",%u",
                                (unsigned)prekeys[i].id);
        memcpy(keys + i * E2E_KEY_LEN, prekeys[i].key, E2E_KEY_LEN);
    }
    snprintf(ids + len, sizeof(ids) - len, "}");
    dir_pg_param_i64(&pp, (int64_t)number);
    dir_pg_param_text(&pp, ids);
    dir_pg_param_bytes(&pp, keys, n * E2E_KEY_LEN);
    rc = dir_pg_exec(p, PG_UPSERT_PREKEYS, &pp, NULL, &res);
    PQclear(res);
    return rc;
}

static enum sotto_err pg_reg(struct dir_backend *b, const struct dir_account *a,
                             const char *skeleton, const char *addrs_json,
                             const struct dir_prekey *prekeys, size_t n, uint64_t now_ms,
                             enum dir_conflict *conflict)
{
    struct dir_pg *p = pg_of(b);
    enum sotto_err rc = dir_pg_ready(p);

    if (rc == SOTTO_OK)
        rc = dir_pg_simple(p, "BEGIN", NULL);
    if (rc != SOTTO_OK)
        return rc;
    rc = pg_insert_account(p, a, skeleton, addrs_json, now_ms, conflict);
    if (rc == SOTTO_OK)
        rc = pg_upsert_prekeys(p, a->number, prekeys, n);
    return dir_pg_end(p, rc);
}

/* ---- prekeys ---- */

static enum sotto_err pg_bundle_row(PGresult *res, struct dir_account *out,
                                    struct dir_prekey *prekey, bool *has_prekey, unsigned *left)
{
    int64_t id;
    uint64_t count = 0;
    enum sotto_err rc = pg_account_result(res, DIR_PG_ACCOUNT_NCOLS + 3, out);

    if (rc != SOTTO_OK)
        return rc;
    if (!PQgetisnull(res, 0, DIR_PG_ACCOUNT_NCOLS)) {
        if (dir_pg_i32(res, DIR_PG_ACCOUNT_NCOLS, &id) != SOTTO_OK || !dir_prekey_id_ok(id) ||
            dir_pg_blob(res, DIR_PG_ACCOUNT_NCOLS + 1, prekey->key, sizeof(prekey->key)) !=
                    SOTTO_OK)
            rc = SOTTO_ECORRUPT;
        prekey->id = (uint32_t)id;
        *has_prekey = rc == SOTTO_OK;
    }
    if (rc == SOTTO_OK)
        rc = dir_pg_count(res, DIR_PG_ACCOUNT_NCOLS + 2, UINT_MAX, &count);
    *left = (unsigned)count;
    return rc;
}

/* One statement, committed on its own: a damaged row read back is then reported, but the
 * prekey it came with stays taken. */
static enum sotto_err pg_take_bundle(struct dir_backend *b, uint64_t number, bool take_prekey,
                                     struct dir_account *out, struct dir_prekey *prekey,
                                     bool *has_prekey, unsigned *left)
{
    struct dir_pg *p = pg_of(b);
    struct dir_pg_params pp = {0};
    PGresult *res;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc != SOTTO_OK)
        return rc;
    dir_pg_param_i64(&pp, (int64_t)number);
    rc = dir_pg_exec(p, take_prekey ? PG_TAKE : PG_BUNDLE, &pp, NULL, &res);
    if (rc != SOTTO_OK)
        return rc;
    rc = pg_bundle_row(res, out, prekey, has_prekey, left);
    PQclear(res);
    if (rc != SOTTO_OK) {
        memset(out, 0, sizeof(*out));
        memset(prekey, 0, sizeof(*prekey));
        *has_prekey = false;
        *left = 0;
    }
    return rc;
}

static enum sotto_err pg_number_stmt(struct dir_pg *p, enum dir_pg_stmt id, uint64_t number,
                                     PGresult **res)
{
    struct dir_pg_params pp = {0};

    dir_pg_param_i64(&pp, (int64_t)number);
    return dir_pg_exec(p, id, &pp, NULL, res);
}

static enum sotto_err pg_lock_account(struct dir_pg *p, uint64_t number)
{
    PGresult *res;
    enum sotto_err rc = pg_number_stmt(p, PG_LOCK_ACCOUNT, number, &res);

    if (rc != SOTTO_OK)
        return rc;
    rc = PQntuples(res) == 1 ? SOTTO_OK : SOTTO_ENOENT;
    PQclear(res);
    return rc;
}

static enum sotto_err pg_set_spk(struct dir_pg *p, uint64_t number,
                                 const struct dir_signed_prekey *spk, uint64_t now_ms)
{
    struct dir_pg_params pp = {0};
    uint64_t changed;

    dir_pg_param_i64(&pp, (int64_t)number);
    dir_pg_param_i32(&pp, (int32_t)spk->id);
    dir_pg_param_bytes(&pp, spk->key, E2E_KEY_LEN);
    dir_pg_param_bytes(&pp, spk->sig, E2E_SIG_LEN);
    dir_pg_param_i64(&pp, (int64_t)now_ms);
    return dir_pg_exec_count(p, PG_SET_SPK, &pp, &changed);
}

static enum sotto_err pg_count_prekeys(struct dir_pg *p, uint64_t number, unsigned *count)
{
    PGresult *res;
    uint64_t v = 0;
    enum sotto_err rc = pg_number_stmt(p, PG_COUNT_PREKEYS, number, &res);

    if (rc != SOTTO_OK)
        return rc;
    rc = dir_pg_one_row(res, 1);
    if (rc == SOTTO_OK)
        rc = dir_pg_count(res, 0, UINT_MAX, &v);
    PQclear(res);
    *count = (unsigned)v;
    return rc;
}

/* The account's row lock comes first, so the count after the upsert is not raced. */
static enum sotto_err pg_add_prekeys(struct dir_backend *b, uint64_t number,
                                     const struct dir_signed_prekey *spk,
                                     const struct dir_prekey *prekeys, size_t n, uint64_t now_ms,
                                     unsigned *left)
{
    struct dir_pg *p = pg_of(b);
    unsigned count = 0;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc == SOTTO_OK)
        rc = dir_pg_simple(p, "BEGIN", NULL);
    if (rc != SOTTO_OK)
        return rc;
    rc = pg_lock_account(p, number);
    if (rc == SOTTO_OK && spk != NULL)
        rc = pg_set_spk(p, number, spk, now_ms);
    if (rc == SOTTO_OK)
        rc = pg_upsert_prekeys(p, number, prekeys, n);
    if (rc == SOTTO_OK)
        rc = pg_count_prekeys(p, number, &count);
    if (rc == SOTTO_OK && count > DIR_PREKEYS_STORED_MAX)
        rc = SOTTO_ETOOBIG;
    rc = dir_pg_end(p, rc);
    *left = rc == SOTTO_OK ? count : 0;
    return rc;
}

/* ---- single-statement writes ---- */

static enum sotto_err pg_set_addresses(struct dir_backend *b, uint64_t number,
                                       const char *addrs_json, uint64_t now_ms)
{
    struct dir_pg *p = pg_of(b);
    struct dir_pg_params pp = {0};
    uint64_t changed = 0;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc != SOTTO_OK)
        return rc;
    dir_pg_param_i64(&pp, (int64_t)number);
    dir_pg_param_text(&pp, addrs_json);
    dir_pg_param_i64(&pp, (int64_t)now_ms);
    rc = dir_pg_exec_count(p, PG_SET_ADDRS, &pp, &changed);
    return rc == SOTTO_OK && changed == 0 ? SOTTO_ENOENT : rc;
}

static enum sotto_err pg_del(struct dir_backend *b, uint64_t number)
{
    struct dir_pg *p = pg_of(b);
    struct dir_pg_params pp = {0};
    uint64_t changed = 0;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc != SOTTO_OK)
        return rc;
    dir_pg_param_i64(&pp, (int64_t)number);
    rc = dir_pg_exec_count(p, PG_DELETE, &pp, &changed);
    return rc == SOTTO_OK && changed == 0 ? SOTTO_ENOENT : rc;
}

static enum sotto_err pg_replay_insert(struct dir_backend *b, const uint8_t digest[32],
                                       uint64_t expires_ms, uint64_t now_ms)
{
    struct dir_pg *p = pg_of(b);
    struct dir_pg_params pp = {0};
    uint64_t changed = 0;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc != SOTTO_OK)
        return rc;
    dir_pg_param_bytes(&pp, digest, 32);
    dir_pg_param_i64(&pp, (int64_t)expires_ms);
    dir_pg_param_i64(&pp, (int64_t)now_ms);
    rc = dir_pg_exec_count(p, PG_REPLAY_INSERT, &pp, &changed);
    return rc == SOTTO_OK && changed == 0 ? SOTTO_EEXIST : rc;
}

static enum sotto_err pg_replay_purge(struct dir_backend *b, uint64_t now_ms)
{
    struct dir_pg *p = pg_of(b);
    struct dir_pg_params pp = {0};
    uint64_t changed;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc != SOTTO_OK)
        return rc;
    dir_pg_param_i64(&pp, (int64_t)now_ms);
    return dir_pg_exec_count(p, PG_REPLAY_PURGE, &pp, &changed);
}

/* ---- reads for operations ---- */

static enum sotto_err pg_counts(struct dir_backend *b, uint64_t *accounts, uint64_t *prekeys)
{
    struct dir_pg *p = pg_of(b);
    struct dir_pg_params pp = {0};
    PGresult *res;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc == SOTTO_OK)
        rc = dir_pg_exec(p, PG_COUNTS, &pp, NULL, &res);
    if (rc != SOTTO_OK)
        return rc;
    rc = dir_pg_one_row(res, 2);
    if (rc == SOTTO_OK)
        rc = dir_pg_count(res, 0, INT64_MAX, accounts);
    if (rc == SOTTO_OK)
        rc = dir_pg_count(res, 1, INT64_MAX, prekeys);
    PQclear(res);
    return rc;
}

static enum sotto_err pg_ping_once(struct dir_pg *p)
{
    struct dir_pg_params pp = {0};
    PGresult *res;
    enum sotto_err rc = dir_pg_ready(p);

    if (rc == SOTTO_OK)
        rc = dir_pg_exec(p, PG_PING, &pp, NULL, &res);
    if (rc != SOTTO_OK)
        return rc;
    rc = dir_pg_one_row(res, 1);
    PQclear(res);
    return rc;
}

/* A connection the server closed is found closed only by using it: the health check then
 * tries once more on a new one, rather than reporting a database that answers as down. A
 * ping has no effect, so running it twice is harmless. */
static enum sotto_err pg_ping(struct dir_backend *b)
{
    struct dir_pg *p = pg_of(b);
    enum sotto_err rc = pg_ping_once(p);

    if (rc != SOTTO_OK && PQstatus(p->conn) != CONNECTION_OK)
        rc = pg_ping_once(p);
    return rc;
}

static void pg_close(struct dir_backend *b)
{
    struct dir_pg *p = pg_of(b);

    if (p->conn != NULL)
        PQfinish(p->conn);
    sotto_free(b->env, p);
}

static const struct dir_backend_ops pg_ops = {
        .kind = "postgresql",
        .reg = pg_reg,
        .lookup = pg_lookup,
        .take_bundle = pg_take_bundle,
        .set_addresses = pg_set_addresses,
        .add_prekeys = pg_add_prekeys,
        .del = pg_del,
        .replay_insert = pg_replay_insert,
        .replay_purge = pg_replay_purge,
        .counts = pg_counts,
        .ping = pg_ping,
        .close = pg_close,
};

enum sotto_err dir_pg_open(struct dir_backend **out, const struct sotto_env *env,
                           const char *target)
{
    struct dir_pg *p = sotto_zalloc(env, sizeof(*p));
    enum sotto_err rc;

    if (p == NULL)
        return SOTTO_ENOMEM;
    p->base.ops = &pg_ops;
    p->base.env = env;
    rc = dir_pg_open_db(p, target);
    if (rc != SOTTO_OK) {
        pg_close(&p->base);
        return rc == SOTTO_ENOMEM ? rc : SOTTO_EDB;
    }
    *out = &p->base;
    return SOTTO_OK;
}
