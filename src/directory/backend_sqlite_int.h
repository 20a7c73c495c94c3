/* src/directory/backend_sqlite_int.h: private to the SQLite backend's two files:
 * backend_sqlite_db.c (schema, statements, plumbing, opening) and backend_sqlite.c (the
 * operations). */
#ifndef SOTTO_DIRECTORY_BACKEND_SQLITE_INT_H
#define SOTTO_DIRECTORY_BACKEND_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory/backend_int.h"
#include "sotto/err.h"

struct sqlite3;
struct sqlite3_stmt;

/* The statements, prepared on first use; their SQL is in backend_sqlite_db.c. */
enum dir_sq_stmt {
    SQ_BEGIN_WRITE,
    SQ_BEGIN_READ,
    SQ_COMMIT,
    SQ_LOOKUP_NAME,
    SQ_LOOKUP_NUMBER,
    SQ_INSERT_ACCOUNT,
    SQ_UPSERT_PREKEY,
    SQ_TAKE,
    SQ_COUNT_PREKEYS,
    SQ_SET_ADDRS,
    SQ_EXISTS,
    SQ_SET_SPK,
    SQ_DELETE,
    SQ_REPLAY_INSERT,
    SQ_REPLAY_PURGE,
    SQ_COUNTS,
    SQ_PING,
    SQ_STMT_COUNT
};

struct dir_sqlite {
    struct dir_backend base; /* first: the interface's pointer is this struct's */
    struct sqlite3 *db;
    struct sqlite3_stmt *st[SQ_STMT_COUNT]; /* prepared on first use */
};

/* Opens the file (created if missing), applies the settings, makes sure the file is ours and
 * migrates it. On failure the caller still calls dir_sq_close_db. */
enum sotto_err dir_sq_open_db(struct dir_sqlite *s, const char *path);
/* Finalizes the statements and closes the connection; `s` itself is not freed. */
void dir_sq_close_db(struct dir_sqlite *s);

/* Logs the connection's message and maps SQLite's code: ENOMEM, ECORRUPT or EDB. */
enum sotto_err dir_sq_error(struct dir_sqlite *s, int rc, const char *what);
/* The prepared statement `id`; after use, dir_sq_done() it. */
enum sotto_err dir_sq_get(struct dir_sqlite *s, enum dir_sq_stmt id, struct sqlite3_stmt **out);
/* Resets the statement and clears its bindings (which may point at the caller's memory). */
void dir_sq_done(struct sqlite3_stmt *st);
/* One step; *row when it produced a row. */
enum sotto_err dir_sq_step(struct dir_sqlite *s, struct sqlite3_stmt *st, bool *row);
/* Runs a statement that returns no row, then dir_sq_done()s it; *changes (if not NULL) as
 * sqlite3_changes() says. */
enum sotto_err dir_sq_run(struct dir_sqlite *s, struct sqlite3_stmt *st, int *changes);
/* After a failed bind: dir_sq_done()s the statement and maps the error. */
enum sotto_err dir_sq_bind_failed(struct dir_sqlite *s, struct sqlite3_stmt *st);
/* BEGIN IMMEDIATE for a write, BEGIN for a consistent read. */
enum sotto_err dir_sq_begin(struct dir_sqlite *s, bool write);
/* Commits, or rolls back when `rc` says an earlier step failed; returns the first error. */
enum sotto_err dir_sq_end(struct dir_sqlite *s, enum sotto_err rc);
/* Binds `number` as ?1 and steps once; on success the caller dir_sq_done()s *out. */
enum sotto_err dir_sq_row_by_number(struct dir_sqlite *s, enum dir_sq_stmt id, uint64_t number,
                                    struct sqlite3_stmt **out, bool *row);

/* Column readers: SOTTO_ECORRUPT for a value of the wrong type or size. */
enum sotto_err dir_sq_col_blob(struct sqlite3_stmt *st, int col, uint8_t *out, size_t len);
enum sotto_err dir_sq_col_int(struct sqlite3_stmt *st, int col, int64_t *out);
/* The account's columns (ACCOUNT_COLS in backend_sqlite_db.c); on failure `out` is left zeroed. */
enum sotto_err dir_sq_col_account(struct sqlite3_stmt *st, struct dir_account *out);
/* A count within 0..max. */
enum sotto_err dir_sq_col_count(struct sqlite3_stmt *st, int col, uint64_t max, uint64_t *out);

#endif
