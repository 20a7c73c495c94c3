/* src/directory/backend_sqlite_db.c: the SQLite backend's schema and statements, and its
 * plumbing: errors mapped to enum sotto_err, statements prepared once per connection,
 * transactions, the column readers that check what the file holds before it is copied, and
 * opening: settings, the check that a file is ours, WAL mode and the migrations. The
 * operations are in backend_sqlite.c. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "directory/backend_sqlite_int.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define SQ_SCHEMA_VERSION  1
#define SQ_APPLICATION_ID  0x536f7444 /* "SotD": a file another program made is left alone */
#define SQ_BUSY_TIMEOUT_MS 10000
#define SQ_WAL_PAUSE_MS    5

/* Migration i brings user_version i - 1 to i, in one transaction with the bump; index 0 is
 * unused. The CHECKs keep a damaged write out; the readers check again, since the file may
 * have been written by anyone. STRICT refuses a value of the wrong type. */
static const char *const sq_migrations[SQ_SCHEMA_VERSION + 1] = {
        [1] = "CREATE TABLE accounts (number INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE,"
              " skeleton TEXT NOT NULL UNIQUE,"
              " identity_key BLOB NOT NULL CHECK (length(identity_key) = 33),"
              " registration_id INTEGER NOT NULL, spk_id INTEGER NOT NULL,"
              " spk_key BLOB NOT NULL CHECK (length(spk_key) = 33),"
              " spk_sig BLOB NOT NULL CHECK (length(spk_sig) = 64), addresses TEXT NOT NULL,"
              " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL) STRICT;"
              "CREATE TABLE prekeys (number INTEGER NOT NULL"
              " REFERENCES accounts(number) ON DELETE CASCADE, id INTEGER NOT NULL,"
              " key BLOB NOT NULL CHECK (length(key) = 33), PRIMARY KEY (number, id))"
              " STRICT, WITHOUT ROWID;"
              "CREATE TABLE replay (digest BLOB PRIMARY KEY CHECK (length(digest) = 32),"
              " expires_ms INTEGER NOT NULL) STRICT, WITHOUT ROWID;"
              "CREATE INDEX replay_expires ON replay(expires_ms);",
};

#define ACCOUNT_COLS                                                                               \
    "username, number, identity_key, registration_id, spk_id, spk_key, spk_sig, addresses,"        \
    " created_ms, updated_ms"

static const char *const sq_sql[SQ_STMT_COUNT] = {
        [SQ_BEGIN_WRITE] = "BEGIN IMMEDIATE",
        [SQ_BEGIN_READ] = "BEGIN",
        [SQ_COMMIT] = "COMMIT",
        [SQ_LOOKUP_NAME] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE username = ?1",
        [SQ_LOOKUP_NUMBER] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE number = ?1",
        [SQ_INSERT_ACCOUNT] = "INSERT INTO accounts (" ACCOUNT_COLS ", skeleton)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
        [SQ_UPSERT_PREKEY] = "INSERT INTO prekeys (number, id, key) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT (number, id) DO UPDATE SET key = excluded.key",
        /* under the write lock, so no two connections can take the same row */
        [SQ_TAKE] = "DELETE FROM prekeys WHERE number = ?1 AND id ="
                    " (SELECT min(id) FROM prekeys WHERE number = ?1) RETURNING id, key",
        [SQ_COUNT_PREKEYS] = "SELECT count(*) FROM prekeys WHERE number = ?1",
        [SQ_SET_ADDRS] = "UPDATE accounts SET addresses = ?2, updated_ms = ?3 WHERE number = ?1",
        [SQ_EXISTS] = "SELECT 1 FROM accounts WHERE number = ?1",
        [SQ_SET_SPK] = "UPDATE accounts SET spk_id = ?2, spk_key = ?3, spk_sig = ?4,"
                       " updated_ms = ?5 WHERE number = ?1",
        [SQ_DELETE] = "DELETE FROM accounts WHERE number = ?1",
        /* an expired entry not purged yet counts as forgotten */
        [SQ_REPLAY_INSERT] = "INSERT INTO replay (digest, expires_ms) VALUES (?1, ?2)"
                             " ON CONFLICT (digest) DO UPDATE SET expires_ms = excluded.expires_ms"
                             " WHERE replay.expires_ms <= ?3",
        [SQ_REPLAY_PURGE] = "DELETE FROM replay WHERE expires_ms <= ?1",
        [SQ_COUNTS] = "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM prekeys)",
        [SQ_PING] = "SELECT 1",
};

/* ---- errors, statements, transactions ---- */

enum sotto_err dir_sq_error(struct dir_sqlite *s, int rc, const char *what)
{
    const char *msg = s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

    if ((rc & 0xff) == SQLITE_NOMEM)
        return SOTTO_ENOMEM;
    log_warn(s->base.env->log, "sqlite: %s: %s (%d)", what, msg, rc);
    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        return SOTTO_ECORRUPT;
    return SOTTO_EDB;
}

enum sotto_err dir_sq_get(struct dir_sqlite *s, enum dir_sq_stmt id, sqlite3_stmt **out)
{
    int rc;

    *out = s->st[id];
    if (*out != NULL)
        return SOTTO_OK;
    rc = sqlite3_prepare_v3(s->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
    if (rc != SQLITE_OK)
        return dir_sq_error(s, rc, "prepare");
    *out = s->st[id];
    return SOTTO_OK;
}

/* Ready for the next use; bindings may point at the caller's memory, so they go too. */
void dir_sq_done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

enum sotto_err dir_sq_step(struct dir_sqlite *s, sqlite3_stmt *st, bool *row)
{
    int rc = sqlite3_step(st);

    *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return SOTTO_OK;
    return dir_sq_error(s, rc, sqlite3_sql(st));
}

/* Runs a statement that returns no row; *changes as sqlite3_changes() says. */
enum sotto_err dir_sq_run(struct dir_sqlite *s, sqlite3_stmt *st, int *changes)
{
    bool row;
    enum sotto_err rc = dir_sq_step(s, st, &row);

    if (changes != NULL)
        *changes = rc == SOTTO_OK ? sqlite3_changes(s->db) : 0;
    dir_sq_done(st);
    return rc;
}

enum sotto_err dir_sq_bind_failed(struct dir_sqlite *s, sqlite3_stmt *st)
{
    int rc = sqlite3_errcode(s->db);

    dir_sq_done(st);
    return dir_sq_error(s, rc == SQLITE_OK ? SQLITE_MISUSE : rc, "bind");
}

static enum sotto_err sq_exec_id(struct dir_sqlite *s, enum dir_sq_stmt id)
{
    sqlite3_stmt *st;
    enum sotto_err rc = dir_sq_get(s, id, &st);

    return rc != SOTTO_OK ? rc : dir_sq_run(s, st, NULL);
}

enum sotto_err dir_sq_begin(struct dir_sqlite *s, bool write)
{
    return sq_exec_id(s, write ? SQ_BEGIN_WRITE : SQ_BEGIN_READ);
}

static void sq_rollback(struct dir_sqlite *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Commits, or rolls back when `rc` says an earlier step failed; returns the first error. */
enum sotto_err dir_sq_end(struct dir_sqlite *s, enum sotto_err rc)
{
    if (rc == SOTTO_OK)
        rc = sq_exec_id(s, SQ_COMMIT);
    if (rc != SOTTO_OK)
        sq_rollback(s);
    return rc;
}

/* Binds the one ?1 that most statements take and fetches the first row. */
enum sotto_err dir_sq_row_by_number(struct dir_sqlite *s, enum dir_sq_stmt id, uint64_t number,
                                    sqlite3_stmt **out, bool *row)
{
    enum sotto_err rc = dir_sq_get(s, id, out);

    *row = false;
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(*out, 1, (sqlite3_int64)number) != SQLITE_OK)
        return dir_sq_bind_failed(s, *out);
    rc = dir_sq_step(s, *out, row);
    if (rc != SOTTO_OK)
        dir_sq_done(*out);
    return rc;
}

/* ---- columns: what the file holds is checked before it is copied ---- */

enum sotto_err dir_sq_col_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
    const void *p;

    if (sqlite3_column_type(st, col) != SQLITE_BLOB)
        return SOTTO_ECORRUPT;
    p = sqlite3_column_blob(st, col);
    if (p == NULL)
        return SOTTO_ENOMEM;
    if (sqlite3_column_bytes(st, col) < 0 || (size_t)sqlite3_column_bytes(st, col) != len)
        return SOTTO_ECORRUPT;
    memcpy(out, p, len);
    return SOTTO_OK;
}

static enum sotto_err col_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *p;
    int n;

    out[0] = '\0';
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return SOTTO_ECORRUPT;
    p = sqlite3_column_text(st, col);
    n = sqlite3_column_bytes(st, col);
    if (p == NULL)
        return SOTTO_ENOMEM;
    return n < 0 ? SOTTO_ECORRUPT : dir_text_copy(out, cap, p, (size_t)n);
}

enum sotto_err dir_sq_col_int(sqlite3_stmt *st, int col, int64_t *out)
{
    *out = 0;
    if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
        return SOTTO_ECORRUPT;
    *out = sqlite3_column_int64(st, col);
    return SOTTO_OK;
}

static enum sotto_err col_addrs(sqlite3_stmt *st, int col, struct dir_account *out)
{
    const unsigned char *p;
    int n;

    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return SOTTO_ECORRUPT;
    p = sqlite3_column_text(st, col);
    n = sqlite3_column_bytes(st, col);
    if (p == NULL)
        return SOTTO_ENOMEM;
    return n < 0 ? SOTTO_ECORRUPT : dir_addrs_decode((const char *)p, (size_t)n, out);
}

static enum sotto_err col_ints(sqlite3_stmt *st, struct dir_account *out)
{
    int64_t number, reg_id, spk_id, created, updated;

    if (dir_sq_col_int(st, 1, &number) != SOTTO_OK || dir_sq_col_int(st, 3, &reg_id) != SOTTO_OK ||
        dir_sq_col_int(st, 4, &spk_id) != SOTTO_OK || dir_sq_col_int(st, 8, &created) != SOTTO_OK ||
        dir_sq_col_int(st, 9, &updated) != SOTTO_OK)
        return SOTTO_ECORRUPT;
    if (!dir_number_ok(number) || !dir_registration_id_ok(reg_id) || !dir_prekey_id_ok(spk_id) ||
        created < 0 || updated < 0)
        return SOTTO_ECORRUPT;
    out->number = (uint64_t)number;
    out->registration_id = (uint32_t)reg_id;
    out->signed_prekey.id = (uint32_t)spk_id;
    out->created_ms = (uint64_t)created;
    out->updated_ms = (uint64_t)updated;
    return SOTTO_OK;
}

/* Reads ACCOUNT_COLS; on failure `out` is left zeroed. */
enum sotto_err dir_sq_col_account(sqlite3_stmt *st, struct dir_account *out)
{
    enum sotto_err rc;

    rc = col_text(st, 0, out->username, sizeof(out->username));
    if (rc == SOTTO_OK)
        rc = col_ints(st, out);
    if (rc == SOTTO_OK)
        rc = dir_sq_col_blob(st, 2, out->identity_key, sizeof(out->identity_key));
    if (rc == SOTTO_OK)
        rc = dir_sq_col_blob(st, 5, out->signed_prekey.key, sizeof(out->signed_prekey.key));
    if (rc == SOTTO_OK)
        rc = dir_sq_col_blob(st, 6, out->signed_prekey.sig, sizeof(out->signed_prekey.sig));
    if (rc == SOTTO_OK)
        rc = col_addrs(st, 7, out);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err dir_sq_col_count(sqlite3_stmt *st, int col, uint64_t max, uint64_t *out)
{
    int64_t v;

    *out = 0;
    if (dir_sq_col_int(st, col, &v) != SOTTO_OK || v < 0 || (uint64_t)v > max)
        return SOTTO_ECORRUPT;
    *out = (uint64_t)v;
    return SOTTO_OK;
}

/* ---- opening and migrating ---- */

static enum sotto_err sq_query_int(struct dir_sqlite *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    bool row = false;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    enum sotto_err rc;

    *out = 0;
    if (src != SQLITE_OK) {
        sqlite3_finalize(st);
        return dir_sq_error(s, src, sql);
    }
    rc = dir_sq_step(s, st, &row);
    if (rc == SOTTO_OK && (!row || dir_sq_col_int(st, 0, out) != SOTTO_OK))
        rc = SOTTO_EDB;
    sqlite3_finalize(st);
    return rc;
}

static enum sotto_err sq_exec(struct dir_sqlite *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? SOTTO_OK : dir_sq_error(s, rc, what);
}

/* A file is ours when it carries our application id, or is empty; anything else is another
 * program's, and migrating it would add our tables to it. */
static enum sotto_err sq_check_header(struct dir_sqlite *s, int64_t *version)
{
    int64_t app_id, n_objects;
    enum sotto_err rc;

    rc = sq_query_int(s, "PRAGMA application_id", &app_id);
    if (rc == SOTTO_OK)
        rc = sq_query_int(s, "PRAGMA user_version", version);
    if (rc == SOTTO_OK)
        rc = sq_query_int(s, "SELECT count(*) FROM sqlite_schema", &n_objects);
    if (rc != SOTTO_OK)
        return rc;
    if (app_id == SQ_APPLICATION_ID && *version > SQ_SCHEMA_VERSION) {
        log_error(s->base.env->log, "sqlite: schema %lld is newer than this directory's %d",
                  (long long)*version, SQ_SCHEMA_VERSION);
        return SOTTO_EDB;
    }
    if (app_id == SQ_APPLICATION_ID || (app_id == 0 && *version == 0 && n_objects == 0))
        return SOTTO_OK;
    log_error(s->base.env->log, "sqlite: not a sotto-directory database (application id %#llx)",
              (unsigned long long)app_id);
    return SOTTO_EDB;
}

static enum sotto_err sq_migrate_steps(struct dir_sqlite *s, int64_t from)
{
    char bump[80];
    enum sotto_err rc = SOTTO_OK;

    for (int64_t v = from + 1; v <= SQ_SCHEMA_VERSION && rc == SOTTO_OK; v++) {
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %lld; PRAGMA application_id = %d",
                 (long long)v, SQ_APPLICATION_ID);
        rc = sq_exec(s, sq_migrations[v], "migration");
        if (rc == SOTTO_OK)
            rc = sq_exec(s, bump, "schema version");
        if (rc != SOTTO_OK)
            log_error(s->base.env->log, "sqlite: migration to schema %lld failed", (long long)v);
    }
    return rc;
}

/* Under the write lock, so that of several workers starting at once exactly one migrates and
 * the others find the schema current when their turn comes. */
static enum sotto_err sq_migrate(struct dir_sqlite *s)
{
    int64_t version = 0;
    enum sotto_err rc = dir_sq_begin(s, true);

    if (rc != SOTTO_OK)
        return rc;
    rc = sq_check_header(s, &version);
    if (rc == SOTTO_OK && version < SQ_SCHEMA_VERSION)
        rc = sq_migrate_steps(s, version);
    rc = dir_sq_end(s, rc);
    if (rc == SOTTO_OK && version != 0 && version < SQ_SCHEMA_VERSION)
        log_info(s->base.env->log, "sqlite: schema migrated from %lld to %d", (long long)version,
                 SQ_SCHEMA_VERSION);
    return rc;
}

/* One attempt at WAL mode: *busy when another connection held a lock it needs. */
static enum sotto_err sq_wal_once(struct dir_sqlite *s, bool *busy)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *mode;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);

    *busy = false;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (rc == SQLITE_ROW && mode != NULL && strcmp((const char *)mode, "wal") == 0) {
        sqlite3_finalize(st);
        return SOTTO_OK;
    }
    sqlite3_finalize(st);
    *busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    return *busy ? SOTTO_EDB : dir_sq_error(s, rc == SQLITE_ROW ? SQLITE_ERROR : rc, "WAL mode");
}

/* Switching a new file to WAL needs a lock that SQLite does not wait for (it answers
 * SQLITE_BUSY at once, busy timeout or not) when several workers open the file together, so
 * the wait is here. */
static enum sotto_err sq_wal(struct dir_sqlite *s)
{
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = SQ_WAL_PAUSE_MS * 1000000L};
    bool busy = true;
    enum sotto_err rc = SOTTO_EDB;

    for (int i = 0; busy && i < SQ_BUSY_TIMEOUT_MS / SQ_WAL_PAUSE_MS; i++) {
        if (i > 0)
            nanosleep(&pause, NULL);
        rc = sq_wal_once(s, &busy);
    }
    if (busy)
        log_warn(s->base.env->log, "sqlite: WAL mode: the database stayed locked");
    return rc;
}

/* journal_mode is written to the file, so it is set only once the file is known to be ours
 * (or new); synchronous and foreign_keys hold for this connection only. */
static enum sotto_err sq_settings(struct dir_sqlite *s)
{
    int64_t ignored;
    enum sotto_err rc;

    /* one read transaction: another worker may be migrating between two separate reads */
    rc = dir_sq_begin(s, false);
    if (rc == SOTTO_OK)
        rc = dir_sq_end(s, sq_check_header(s, &ignored));
    if (rc == SOTTO_OK)
        rc = sq_wal(s);
    if (rc != SOTTO_OK)
        return rc;
    return sq_exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", "settings");
}

static enum sotto_err sq_connect(struct dir_sqlite *s, const char *path)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXRESCODE |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(s->db, SQ_BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK) {
        log_error(s->base.env->log, "sqlite: %s: %s", path,
                  s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return (rc & 0xff) == SQLITE_NOMEM ? SOTTO_ENOMEM : SOTTO_EDB;
    }
    return SOTTO_OK;
}

/* Finalizes the statements and closes the connection; the struct itself is the caller's. */
void dir_sq_close_db(struct dir_sqlite *s)
{
    int rc;

    for (size_t i = 0; i < SQ_STMT_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    if (s->db == NULL)
        return;
    sq_rollback(s);
    rc = sqlite3_close_v2(s->db);
    if (rc != SQLITE_OK)
        log_warn(s->base.env->log, "sqlite: close: %s", sqlite3_errstr(rc));
    s->db = NULL;
}

enum sotto_err dir_sq_open_db(struct dir_sqlite *s, const char *path)
{
    enum sotto_err rc = sq_connect(s, path);

    if (rc == SOTTO_OK)
        rc = sq_settings(s);
    if (rc == SOTTO_OK)
        rc = sq_migrate(s);
    return rc;
}
