/* src/directory/backend_pg_int.h: private to the PostgreSQL backend's two files:
 * backend_pg_db.c (schema, statements, plumbing, connection, migrations) and backend_pg.c
 * (the operations). */
#ifndef SOTTO_DIRECTORY_BACKEND_PG_INT_H
#define SOTTO_DIRECTORY_BACKEND_PG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory/backend_int.h"
#include "sotto/err.h"

struct pg_conn;
struct pg_result;

#define DIR_PG_PARAMS_MAX    10
#define DIR_PG_ACCOUNT_NCOLS 10 /* the account's columns, first in every answer about one */

/* The prepared statements; their SQL is in backend_pg_db.c. */
enum dir_pg_stmt {
    PG_LOOKUP_NAME,
    PG_LOOKUP_NUMBER,
    PG_INSERT_ACCOUNT,
    PG_UPSERT_PREKEYS,
    PG_TAKE,
    PG_BUNDLE,
    PG_LOCK_ACCOUNT,
    PG_SET_SPK,
    PG_COUNT_PREKEYS,
    PG_SET_ADDRS,
    PG_DELETE,
    PG_REPLAY_INSERT,
    PG_REPLAY_PURGE,
    PG_COUNTS,
    PG_PING,
    PG_STMT_COUNT
};

struct dir_pg {
    struct dir_backend base; /* first: the interface's pointer is this struct's */
    struct pg_conn *conn;
    bool prepared;            /* the statements exist on this connection */
    uint64_t reconnect_at_ms; /* a lost connection is tried again no sooner than this */
};

/* Parameters: integers and bytes in binary, text as text. Values are borrowed. */
struct dir_pg_params {
    int n;
    const char *values[DIR_PG_PARAMS_MAX];
    int lengths[DIR_PG_PARAMS_MAX];
    int formats[DIR_PG_PARAMS_MAX];
    uint8_t ints[DIR_PG_PARAMS_MAX][8];
};

void dir_pg_param_bytes(struct dir_pg_params *pp, const void *p, size_t len);
void dir_pg_param_i64(struct dir_pg_params *pp, int64_t v);
void dir_pg_param_i32(struct dir_pg_params *pp, int32_t v);
void dir_pg_param_text(struct dir_pg_params *pp, const char *s);

/* Connects (the URI is never logged), migrates and prepares the statements. On failure the
 * caller still PQfinish()es p->conn. */
enum sotto_err dir_pg_open_db(struct dir_pg *p, const char *uri);
/* Before every call: makes a lost connection again, with its statements. */
enum sotto_err dir_pg_ready(struct dir_pg *p);

/* Runs a prepared statement; on success *out owns the result (PQclear). With `conflict`, a
 * unique violation of registration is SOTTO_EEXIST (and *conflict says which), not logged. */
enum sotto_err dir_pg_exec(struct dir_pg *p, enum dir_pg_stmt id, const struct dir_pg_params *pp,
                           enum dir_conflict *conflict, struct pg_result **out);
/* Runs a prepared statement and keeps only how many rows it changed. */
enum sotto_err dir_pg_exec_count(struct dir_pg *p, enum dir_pg_stmt id,
                                 const struct dir_pg_params *pp, uint64_t *changed);
/* Runs SQL without parameters; with `tag`, the command status must be that. */
enum sotto_err dir_pg_simple(struct dir_pg *p, const char *sql, const char *tag);
/* Commits, or rolls back when `rc` says an earlier step failed; returns the first error. */
enum sotto_err dir_pg_end(struct dir_pg *p, enum sotto_err rc);

/* Readers of the first row's binary values: SOTTO_ECORRUPT for NULL or a wrong length. */
enum sotto_err dir_pg_i32(const struct pg_result *res, int col, int64_t *out);
enum sotto_err dir_pg_blob(const struct pg_result *res, int col, uint8_t *out, size_t len);
/* The account's columns, first in the row; on failure `out` is left zeroed. */
enum sotto_err dir_pg_account(const struct pg_result *res, struct dir_account *out);
/* A bigint count within 0..max. */
enum sotto_err dir_pg_count(const struct pg_result *res, int col, uint64_t max, uint64_t *out);
/* SOTTO_EDB unless the answer is exactly one row of `ncols` columns. */
enum sotto_err dir_pg_one_row(const struct pg_result *res, int ncols);

#endif
