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

enum sotto_err store_db_prepare(struct store_profile *p, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(p->db, sql, -1, st, NULL);

    if (rc == SQLITE_OK)
        return SOTTO_OK;
    sqlite3_finalize(*st);
    *st = NULL;
    return store_db_error(p, rc, "prepare");
}

enum sotto_err store_db_bind_failed(struct store_profile *p, sqlite3_stmt *st)
{
    int rc = sqlite3_errcode(p->db);

    sqlite3_finalize(st);
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

    sqlite3_finalize(st);
    return rc;
}

enum sotto_err store_db_begin(struct store_profile *p)
{
    return store_db_exec(p, "BEGIN IMMEDIATE");
}

enum sotto_err store_db_commit(struct store_profile *p)
{
    return store_db_exec(p, "COMMIT");
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
        sqlite3_finalize(*st);
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
    sqlite3_finalize(st);
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
    sqlite3_finalize(st);
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
