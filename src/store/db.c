/* src/store/db.c: the SQLite layer of the store: errors mapped to enum sotto_err, statements,
 * transactions, the migration runner and the column readers that profile.c, seal.c and
 * contacts.c share. */
#include <stdio.h>
#include <string.h>

#include "sotto/env.h"
#include "sotto/log.h"
#include "store/store_int.h"

enum sotto_err store_db_error(const struct store_profile *p, int rc, const char *what)
{
    const char *msg = p->db != NULL ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc);

    if ((rc & 0xff) == SQLITE_NOMEM || rc == SQLITE_IOERR_NOMEM)
        return SOTTO_ENOMEM;
    log_warn(p->env->log, "%s: %s: %s", p->dir, what, msg);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return SOTTO_ENOTPROFILE;
    if ((rc & 0xff) == SQLITE_CORRUPT)
        return SOTTO_ECORRUPT;
    return SOTTO_EDB;
}

enum sotto_err store_db_exec(struct store_profile *p, const char *sql)
{
    int rc = sqlite3_exec(p->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? SOTTO_OK : store_db_error(p, rc, "exec");
}

enum sotto_err store_db_exec1(struct store_profile *p, const char *sql)
{
    sqlite3_stmt *st;
    enum sotto_err rc = store_db_prepare(p, sql, &st);

    return rc == SOTTO_OK ? store_db_run(p, st) : rc;
}

/* FNV-1a of the SQL text: the slot to start probing from. */
static uint32_t sql_hash(const char *sql)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *c = (const unsigned char *)sql; *c != '\0'; c++)
        h = (h ^ *c) * 16777619u;
    return h;
}

/* The slot that holds `sql`, or the empty slot where it would go (NULL: the cache is full). */
static struct store_stmt_slot *slot_of(struct store_profile *p, const char *sql, uint32_t h)
{
    for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
        struct store_stmt_slot *s = &p->stmts[(h + i) & (STORE_STMT_CACHE - 1)];

        if (s->st == NULL || (s->hash == h && strcmp(sqlite3_sql(s->st), sql) == 0))
            return s;
    }
    return NULL;
}

static enum sotto_err prepare_fresh(struct store_profile *p, const char *sql, unsigned flags,
                                    sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v3(p->db, sql, -1, flags, st, NULL);

    if (rc == SQLITE_OK)
        return SOTTO_OK;
    sqlite3_finalize(*st);
    *st = NULL;
    return store_db_error(p, rc, "prepare");
}

enum sotto_err store_db_prepare(struct store_profile *p, const char *sql, sqlite3_stmt **st)
{
    uint32_t h = sql_hash(sql);
    struct store_stmt_slot *s = slot_of(p, sql, h);
    enum sotto_err rc;

    *st = NULL;
    if (s == NULL || s->busy || (s->st == NULL && p->n_stmts >= STORE_STMT_CACHE * 3 / 4))
        return prepare_fresh(p, sql, 0, st);
    if (s->st == NULL) {
        rc = prepare_fresh(p, sql, SQLITE_PREPARE_PERSISTENT, &s->st);
        if (rc != SOTTO_OK)
            return rc;
        s->hash = h;
        p->n_stmts++;
    }
    s->busy = true;
    *st = s->st;
    return SOTTO_OK;
}

void store_db_release(struct store_profile *p, sqlite3_stmt *st)
{
    const char *sql;
    struct store_stmt_slot *s;

    if (st == NULL)
        return;
    sql = sqlite3_sql(st);
    s = sql != NULL ? slot_of(p, sql, sql_hash(sql)) : NULL;
    if (s == NULL || s->st != st) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    s->busy = false;
}

void store_db_release_all(struct store_profile *p)
{
    for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
        /* one still handed out was never given back: a missing store_db_release() */
        if (p->stmts[i].busy)
            log_error(p->env->log, "%s: a statement was not released: %s", p->dir,
                      sqlite3_sql(p->stmts[i].st));
        sqlite3_finalize(p->stmts[i].st);
        p->stmts[i] = (struct store_stmt_slot){0};
    }
    p->n_stmts = 0;
}

enum sotto_err store_db_bind_failed(struct store_profile *p, sqlite3_stmt *st)
{
    int rc = sqlite3_errcode(p->db);

    store_db_release(p, st);
    return store_db_error(p, rc == SQLITE_OK ? SQLITE_MISUSE : rc, "bind");
}

enum sotto_err store_db_step(struct store_profile *p, sqlite3_stmt *st, bool *row)
{
    int rc = sqlite3_step(st);

    *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return SOTTO_OK;
    return store_db_error(p, rc, "step");
}

enum sotto_err store_db_run(struct store_profile *p, sqlite3_stmt *st)
{
    bool row;
    enum sotto_err rc = store_db_step(p, st, &row);

    store_db_release(p, st);
    return rc;
}

enum sotto_err store_db_run_one(struct store_profile *p, sqlite3_stmt *st)
{
    enum sotto_err rc = store_db_run(p, st);

    if (rc == SOTTO_OK && sqlite3_changes(p->db) == 0)
        rc = SOTTO_ENOENT;
    return rc;
}

enum sotto_err store_db_each(struct store_profile *p, sqlite3_stmt *st,
                             enum sotto_err (*row)(void *arg, sqlite3_stmt *st), void *arg)
{
    enum sotto_err rc = SOTTO_OK;
    bool more = true;

    while (rc == SOTTO_OK) {
        rc = store_db_step(p, st, &more);
        if (rc != SOTTO_OK || !more)
            break;
        rc = row(arg, st);
    }
    store_db_release(p, st);
    return rc;
}

enum sotto_err store_db_begin(struct store_profile *p)
{
    return store_db_exec1(p, "BEGIN IMMEDIATE");
}

enum sotto_err store_db_commit(struct store_profile *p)
{
    return store_db_exec1(p, "COMMIT");
}

void store_db_rollback(struct store_profile *p)
{
    if (p->db != NULL && !sqlite3_get_autocommit(p->db))
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
}

static enum sotto_err migrate_one(struct store_profile *p, const char *sql, unsigned version)
{
    char bump[64];
    enum sotto_err rc;

    snprintf(bump, sizeof(bump), "PRAGMA user_version = %u", version);
    rc = store_db_begin(p);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_exec(p, sql);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_db_exec(p, bump);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_db_commit(p);
out:
    if (rc != SOTTO_OK)
        store_db_rollback(p);
    return rc;
}

enum sotto_err store_db_migrate(struct store_profile *p, const char *const *steps, unsigned from,
                                unsigned to)
{
    enum sotto_err rc;

    for (unsigned v = from + 1; v <= to; v++) {
        rc = migrate_one(p, steps[v], v);
        if (rc != SOTTO_OK) {
            log_warn(p->env->log, "%s: migration to schema %u failed", p->dir, v);
            return rc;
        }
    }
    if (from != 0 && from < to)
        log_info(p->env->log, "%s: schema migrated from %u to %u", p->dir, from, to);
    return SOTTO_OK;
}

enum sotto_err store_db_row(struct store_profile *p, const char *sql, sqlite3_stmt **st,
                            enum sotto_err none)
{
    enum sotto_err rc = store_db_prepare(p, sql, st);
    bool row = false;

    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_step(p, *st, &row);
    if (rc == SOTTO_OK && !row)
        rc = none;
    if (rc != SOTTO_OK) {
        store_db_release(p, *st);
        *st = NULL;
    }
    return rc;
}

enum sotto_err store_db_query_text(struct store_profile *p, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    enum sotto_err rc = store_db_row(p, sql, &st, SOTTO_EDB);

    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_text(st, 0, out, cap);
    store_db_release(p, st);
    return rc;
}

enum sotto_err store_db_query_int(struct store_profile *p, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    enum sotto_err rc = store_db_row(p, sql, &st, SOTTO_EDB);

    *out = 0;
    if (rc != SOTTO_OK)
        return rc;
    *out = sqlite3_column_int64(st, 0);
    store_db_release(p, st);
    return rc;
}

/* ---- column readers ---- */

enum sotto_err store_col_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *s;
    int n;

    out[0] = '\0';
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return SOTTO_OK;
    s = sqlite3_column_text(st, col);
    n = sqlite3_column_bytes(st, col);
    if (s == NULL)
        return SOTTO_ENOMEM;
    if (n < 0 || (size_t)n >= cap || memchr(s, '\0', (size_t)n) != NULL)
        return SOTTO_ECORRUPT;
    memcpy(out, s, (size_t)n);
    out[n] = '\0';
    return SOTTO_OK;
}

enum sotto_err store_col_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
    const void *b;

    if (sqlite3_column_type(st, col) != SQLITE_BLOB || sqlite3_column_bytes(st, col) < 0 ||
        (size_t)sqlite3_column_bytes(st, col) != len)
        return SOTTO_ECORRUPT;
    b = sqlite3_column_blob(st, col);
    if (b == NULL)
        return SOTTO_ENOMEM;
    memcpy(out, b, len);
    return SOTTO_OK;
}
