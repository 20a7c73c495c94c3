/* src/directory/backend_pg_db.c: the PostgreSQL backend's schema and statements, and its
 * plumbing: parameters, errors mapped to enum sotto_err and logged without a password,
 * transactions, the readers that check every value read back, the connection (made again
 * when lost) and the migrations. The operations are in backend_pg.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "directory/backend_pg_int.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define PG_SCHEMA_VERSION 1
#define PG_MIGRATE_LOCK   "8318822444158003570" /* "sottodir" as a bigint: one lock name */
#define PG_MSG_MAX        512
/* connecting blocks the worker's loop: a URI may set its own connect_timeout */
#define PG_CONNECT_TIMEOUT_S  "3"
#define PG_RECONNECT_PAUSE_MS 1000

/* Migration i brings schema_version i - 1 to i, inside the migration transaction. Constraints
 * are named so that a unique violation says which value collided. */
static const char *const pg_migrations[PG_SCHEMA_VERSION + 1] = {
        [1] = "CREATE TABLE accounts (number bigint CONSTRAINT accounts_pkey PRIMARY KEY,"
              " username text NOT NULL CONSTRAINT accounts_username_key UNIQUE,"
              " skeleton text NOT NULL CONSTRAINT accounts_skeleton_key UNIQUE,"
              " identity_key bytea NOT NULL"
              "  CONSTRAINT accounts_identity_key_len CHECK (octet_length(identity_key) = 33),"
              " registration_id integer NOT NULL, spk_id integer NOT NULL,"
              " spk_key bytea NOT NULL"
              "  CONSTRAINT accounts_spk_key_len CHECK (octet_length(spk_key) = 33),"
              " spk_sig bytea NOT NULL"
              "  CONSTRAINT accounts_spk_sig_len CHECK (octet_length(spk_sig) = 64),"
              " addresses text NOT NULL, created_ms bigint NOT NULL, updated_ms bigint NOT NULL);"
              "CREATE TABLE prekeys (number bigint NOT NULL"
              " REFERENCES accounts (number) ON DELETE CASCADE, id integer NOT NULL,"
              " key bytea NOT NULL CONSTRAINT prekeys_key_len CHECK (octet_length(key) = 33),"
              " CONSTRAINT prekeys_pkey PRIMARY KEY (number, id));"
              "CREATE TABLE replay (digest bytea CONSTRAINT replay_pkey PRIMARY KEY"
              " CONSTRAINT replay_digest_len CHECK (octet_length(digest) = 32),"
              " expires_ms bigint NOT NULL);"
              "CREATE INDEX replay_expires ON replay (expires_ms);",
};

#define ACCOUNT_COLS                                                                               \
    "a.username, a.number, a.identity_key, a.registration_id, a.spk_id, a.spk_key, a.spk_sig,"     \
    " a.addresses, a.created_ms, a.updated_ms"

static const struct pg_stmt_def {
    const char *name;
    const char *sql;
} pg_stmts[PG_STMT_COUNT] = {
        [PG_LOOKUP_NAME] = {"lookup_name",
                            "SELECT " ACCOUNT_COLS " FROM accounts a WHERE a.username = $1::text"},
        [PG_LOOKUP_NUMBER] = {"lookup_number", "SELECT " ACCOUNT_COLS
                                               " FROM accounts a WHERE a.number = $1::bigint"},
        [PG_INSERT_ACCOUNT] = {"insert_account",
                               "INSERT INTO accounts (username, number, identity_key,"
                               " registration_id, spk_id, spk_key, spk_sig, addresses, created_ms,"
                               " updated_ms, skeleton) VALUES ($1::text, $2::bigint, $3::bytea,"
                               " $4::integer, $5::integer, $6::bytea, $7::bytea, $8::text,"
                               " $9::bigint, $9::bigint, $10::text)"},
        /* $2 is the ids as an array, $3 the keys end to end, 33 bytes each, in the same order */
        [PG_UPSERT_PREKEYS] = {"upsert_prekeys",
                               "INSERT INTO prekeys (number, id, key) SELECT $1::bigint, t.id,"
                               " substring($3::bytea FROM (t.n::integer - 1) * 33 + 1 FOR 33)"
                               " FROM unnest($2::integer[]) WITH ORDINALITY AS t (id, n)"
                               " ON CONFLICT (number, id) DO UPDATE SET key = excluded.key"},
        /* one statement: the row lock makes a concurrent take skip to the next prekey, and
         * DELETE ... RETURNING hands out only a row this statement removed; the count is of
         * the statement's snapshot, which still holds the taken row */
        [PG_TAKE] = {"take",
                     "WITH taken AS (DELETE FROM prekeys WHERE (number, id) = (SELECT number, id"
                     " FROM prekeys WHERE number = $1::bigint ORDER BY id LIMIT 1"
                     " FOR UPDATE SKIP LOCKED) RETURNING id, key)"
                     " SELECT " ACCOUNT_COLS ", (SELECT id FROM taken), (SELECT key FROM taken),"
                     " greatest((SELECT count(*) FROM prekeys WHERE number = $1::bigint)"
                     " - (SELECT count(*) FROM taken), 0)"
                     " FROM accounts a WHERE a.number = $1::bigint"},
        [PG_BUNDLE] = {"bundle", "SELECT " ACCOUNT_COLS ", NULL::integer, NULL::bytea,"
                                 " (SELECT count(*) FROM prekeys WHERE number = $1::bigint)"
                                 " FROM accounts a WHERE a.number = $1::bigint"},
        /* serialises writers to one account, so that two top-ups cannot both pass the cap */
        [PG_LOCK_ACCOUNT] = {"lock_account",
                             "SELECT 1 FROM accounts WHERE number = $1::bigint FOR UPDATE"},
        [PG_SET_SPK] = {"set_spk", "UPDATE accounts SET spk_id = $2::integer, spk_key = $3::bytea,"
                                   " spk_sig = $4::bytea, updated_ms = $5::bigint"
                                   " WHERE number = $1::bigint"},
        [PG_COUNT_PREKEYS] = {"count_prekeys",
                              "SELECT count(*) FROM prekeys WHERE number = $1::bigint"},
        [PG_SET_ADDRS] = {"set_addresses", "UPDATE accounts SET addresses = $2::text,"
                                           " updated_ms = $3::bigint WHERE number = $1::bigint"},
        [PG_DELETE] = {"delete", "DELETE FROM accounts WHERE number = $1::bigint"},
        /* an expired entry not purged yet counts as forgotten */
        [PG_REPLAY_INSERT] = {"replay_insert",
                              "INSERT INTO replay (digest, expires_ms) VALUES ($1::bytea,"
                              " $2::bigint) ON CONFLICT (digest) DO UPDATE SET expires_ms ="
                              " excluded.expires_ms WHERE replay.expires_ms <= $3::bigint"},
        [PG_REPLAY_PURGE] = {"replay_purge", "DELETE FROM replay WHERE expires_ms <= $1::bigint"},
        [PG_COUNTS] = {"counts",
                       "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM prekeys)"},
        [PG_PING] = {"ping", "SELECT 1"},
};

void dir_pg_param_bytes(struct dir_pg_params *pp, const void *p, size_t len)
{
    pp->values[pp->n] = p;
    pp->lengths[pp->n] = (int)len;
    pp->formats[pp->n] = 1;
    pp->n++;
}

void dir_pg_param_i64(struct dir_pg_params *pp, int64_t v)
{
    uint8_t *b = pp->ints[pp->n];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    dir_pg_param_bytes(pp, b, 8);
}

void dir_pg_param_i32(struct dir_pg_params *pp, int32_t v)
{
    uint8_t *b = pp->ints[pp->n];

    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)((uint32_t)v >> (24 - 8 * i));
    dir_pg_param_bytes(pp, b, 4);
}

void dir_pg_param_text(struct dir_pg_params *pp, const char *s)
{
    pp->values[pp->n] = s;
    pp->lengths[pp->n] = 0;
    pp->formats[pp->n] = 0;
    pp->n++;
}

/* ---- errors ---- */

/* libpq's messages end in a newline and may quote values; one escaped line goes to the log. */
static void pg_log(const struct dir_pg *p, const char *what, const char *msg)
{
    char line[PG_MSG_MAX], esc[PG_MSG_MAX * 4];
    size_t len = strnlen(msg != NULL ? msg : "", sizeof(line) - 1);

    memcpy(line, msg != NULL ? msg : "", len);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    line[len] = '\0';
    text_escape(line, esc, sizeof(esc));
    log_warn(p->base.env->log, "postgresql: %s: %s", what, esc);
}

static enum sotto_err pg_result_error(struct dir_pg *p, const PGresult *res, const char *what)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (res == NULL) {
        pg_log(p, what, PQerrorMessage(p->conn));
        return SOTTO_EDB;
    }
    pg_log(p, what, PQresultErrorMessage(res));
    /* class XX: data_corrupted, index_corrupted */
    if (state != NULL && (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0))
        return SOTTO_ECORRUPT;
    return SOTTO_EDB;
}

/* A unique violation of registration names the constraint, and so the value, that collided. */
static bool pg_conflict(const PGresult *res, enum dir_conflict *conflict)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *name = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

    if (state == NULL || strcmp(state, "23505") != 0 || name == NULL)
        return false;
    if (strcmp(name, "accounts_pkey") == 0)
        *conflict = DIR_CONFLICT_NUMBER;
    else if (strcmp(name, "accounts_username_key") == 0 ||
             strcmp(name, "accounts_skeleton_key") == 0)
        *conflict = DIR_CONFLICT_USERNAME;
    else
        return false;
    return true;
}

/* Runs a prepared statement; on success *out owns the result (PQclear). With `conflict`, a
 * unique violation of registration is SOTTO_EEXIST, not logged. */
enum sotto_err dir_pg_exec(struct dir_pg *p, enum dir_pg_stmt id, const struct dir_pg_params *pp,
                           enum dir_conflict *conflict, PGresult **out)
{
    PGresult *res = PQexecPrepared(p->conn, pg_stmts[id].name, pp->n, pp->values, pp->lengths,
                                   pp->formats, 1);
    ExecStatusType st = PQresultStatus(res);
    enum sotto_err rc;

    *out = NULL;
    if (res != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
        *out = res;
        return SOTTO_OK;
    }
    if (res != NULL && conflict != NULL && pg_conflict(res, conflict))
        rc = SOTTO_EEXIST;
    else
        rc = pg_result_error(p, res, pg_stmts[id].name);
    PQclear(res);
    return rc;
}

/* Runs a statement and keeps only how many rows it changed. */
enum sotto_err dir_pg_exec_count(struct dir_pg *p, enum dir_pg_stmt id,
                                 const struct dir_pg_params *pp, uint64_t *changed)
{
    PGresult *res;
    const char *tuples;
    char *end;
    enum sotto_err rc = dir_pg_exec(p, id, pp, NULL, &res);

    *changed = 0;
    if (rc != SOTTO_OK)
        return rc;
    tuples = PQcmdTuples(res);
    if (tuples[0] >= '0' && tuples[0] <= '9')
        *changed = strtoull(tuples, &end, 10);
    else
        rc = SOTTO_EDB;
    PQclear(res);
    return rc;
}

enum sotto_err dir_pg_simple(struct dir_pg *p, const char *sql, const char *tag)
{
    PGresult *res = PQexec(p->conn, sql);
    enum sotto_err rc = SOTTO_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_result_error(p, res, sql);
    else if (tag != NULL && strcmp(PQcmdStatus(res), tag) != 0)
        rc = pg_result_error(p, res, sql);
    PQclear(res);
    return rc;
}

static void pg_rollback(struct dir_pg *p)
{
    PGTransactionStatusType t = PQtransactionStatus(p->conn);

    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
        PQclear(PQexec(p->conn, "ROLLBACK"));
}

/* Commits, or rolls back when `rc` says an earlier step failed; a COMMIT of a transaction
 * that failed answers "ROLLBACK", which is a failure. */
enum sotto_err dir_pg_end(struct dir_pg *p, enum sotto_err rc)
{
    if (rc == SOTTO_OK)
        rc = dir_pg_simple(p, "COMMIT", "COMMIT");
    if (rc != SOTTO_OK)
        pg_rollback(p);
    return rc;
}

/* ---- values read back: binary, so each has an exact length ---- */

static const char *pg_val(const PGresult *res, int col, int len)
{
    if (col >= PQnfields(res) || PQgetisnull(res, 0, col) || PQgetlength(res, 0, col) != len)
        return NULL;
    return PQgetvalue(res, 0, col);
}

static enum sotto_err pg_i64(const PGresult *res, int col, int64_t *out)
{
    const uint8_t *b = (const uint8_t *)pg_val(res, col, 8);
    uint64_t v = 0;

    *out = 0;
    if (b == NULL)
        return SOTTO_ECORRUPT;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    *out = (int64_t)v;
    return SOTTO_OK;
}

enum sotto_err dir_pg_i32(const PGresult *res, int col, int64_t *out)
{
    const uint8_t *b = (const uint8_t *)pg_val(res, col, 4);
    uint32_t v = 0;

    *out = 0;
    if (b == NULL)
        return SOTTO_ECORRUPT;
    for (int i = 0; i < 4; i++)
        v = v << 8 | b[i];
    *out = (int32_t)v;
    return SOTTO_OK;
}

enum sotto_err dir_pg_blob(const PGresult *res, int col, uint8_t *out, size_t len)
{
    const char *b = pg_val(res, col, (int)len);

    if (b == NULL)
        return SOTTO_ECORRUPT;
    memcpy(out, b, len);
    return SOTTO_OK;
}

static enum sotto_err pg_text(const PGresult *res, int col, char *out, size_t cap)
{
    out[0] = '\0';
    if (col >= PQnfields(res) || PQgetisnull(res, 0, col) || PQgetlength(res, 0, col) < 0)
        return SOTTO_ECORRUPT;
    return dir_text_copy(out, cap, PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col));
}

static enum sotto_err pg_addrs(const PGresult *res, int col, struct dir_account *out)
{
    if (col >= PQnfields(res) || PQgetisnull(res, 0, col) || PQgetlength(res, 0, col) < 0)
        return SOTTO_ECORRUPT;
    return dir_addrs_decode(PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col), out);
}

static enum sotto_err pg_ints(const PGresult *res, struct dir_account *out)
{
    int64_t number, reg_id, spk_id, created, updated;

    if (pg_i64(res, 1, &number) != SOTTO_OK || dir_pg_i32(res, 3, &reg_id) != SOTTO_OK ||
        dir_pg_i32(res, 4, &spk_id) != SOTTO_OK || pg_i64(res, 8, &created) != SOTTO_OK ||
        pg_i64(res, 9, &updated) != SOTTO_OK)
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

/* Reads the first row's ACCOUNT_COLS; on failure `out` is left zeroed. */
enum sotto_err dir_pg_account(const PGresult *res, struct dir_account *out)
{
    enum sotto_err rc;

    rc = pg_text(res, 0, out->username, sizeof(out->username));
    if (rc == SOTTO_OK)
        rc = pg_ints(res, out);
    if (rc == SOTTO_OK)
        rc = dir_pg_blob(res, 2, out->identity_key, sizeof(out->identity_key));
    if (rc == SOTTO_OK)
        rc = dir_pg_blob(res, 5, out->signed_prekey.key, sizeof(out->signed_prekey.key));
    if (rc == SOTTO_OK)
        rc = dir_pg_blob(res, 6, out->signed_prekey.sig, sizeof(out->signed_prekey.sig));
    if (rc == SOTTO_OK)
        rc = pg_addrs(res, 7, out);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err dir_pg_count(const PGresult *res, int col, uint64_t max, uint64_t *out)
{
    int64_t v;

    *out = 0;
    if (pg_i64(res, col, &v) != SOTTO_OK || v < 0 || (uint64_t)v > max)
        return SOTTO_ECORRUPT;
    *out = (uint64_t)v;
    return SOTTO_OK;
}

/* The one row a statement must answer with (an aggregate): SOTTO_EDB when it did not. */
enum sotto_err dir_pg_one_row(const PGresult *res, int ncols)
{
    return PQntuples(res) == 1 && PQnfields(res) == ncols ? SOTTO_OK : SOTTO_EDB;
}

/* ---- the connection ---- */

static enum sotto_err pg_prepare_all(struct dir_pg *p)
{
    PGresult *res;
    enum sotto_err rc = SOTTO_OK;

    for (size_t i = 0; i < PG_STMT_COUNT && rc == SOTTO_OK; i++) {
        res = PQprepare(p->conn, pg_stmts[i].name, pg_stmts[i].sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_result_error(p, res, pg_stmts[i].name);
        PQclear(res);
    }
    p->prepared = rc == SOTTO_OK;
    return rc;
}

/* Before every call: a connection lost since the last one is made again (the server may
 * have restarted), with its statements, rather than failing every request from now on.
 * PQreset blocks the worker's loop for as long as connecting takes (connect_timeout, 3 s
 * unless the URI says otherwise), so while the database stays down a worker tries at most
 * once a second and answers 503 at once in between. */
enum sotto_err dir_pg_ready(struct dir_pg *p)
{
    if (PQstatus(p->conn) != CONNECTION_OK) {
        uint64_t now = sotto_now_ms(p->base.env);

        if (now < p->reconnect_at_ms)
            return SOTTO_EDB;
        log_warn(p->base.env->log, "postgresql: connection lost; reconnecting");
        p->prepared = false;
        PQreset(p->conn);
        if (PQstatus(p->conn) != CONNECTION_OK) {
            p->reconnect_at_ms = sotto_now_ms(p->base.env) + PG_RECONNECT_PAUSE_MS;
            pg_log(p, "reconnect", PQerrorMessage(p->conn));
            return SOTTO_EDB;
        }
    }
    pg_rollback(p);
    return p->prepared ? SOTTO_OK : pg_prepare_all(p);
}

static void pg_notice(void *arg, const char *msg)
{
    const struct dir_pg *p = arg;
    char esc[PG_MSG_MAX];

    text_escape(msg, esc, sizeof(esc));
    log_debug(p->base.env->log, "postgresql: %s", esc);
}

/* The URI goes in as dbname, expanded; keywords before it are defaults it may override. */
static enum sotto_err pg_connect(struct dir_pg *p, const char *uri)
{
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const values[] = {PG_CONNECT_TIMEOUT_S, "sotto-directory", uri, NULL};

    p->conn = PQconnectdbParams(keys, values, 1);
    if (p->conn == NULL)
        return SOTTO_ENOMEM;
    if (PQstatus(p->conn) != CONNECTION_OK) {
        pg_log(p, "connect", PQerrorMessage(p->conn));
        return SOTTO_EDB;
    }
    PQsetErrorVerbosity(p->conn, PQERRORS_TERSE);
    PQsetNoticeProcessor(p->conn, pg_notice, p);
    return SOTTO_OK;
}

/* ---- migrations ---- */

static enum sotto_err pg_schema_version(struct dir_pg *p, int64_t *version)
{
    PGresult *res = PQexecParams(p->conn, "SELECT version FROM schema_version WHERE id = 1", 0,
                                 NULL, NULL, NULL, NULL, 1);
    enum sotto_err rc = SOTTO_OK;

    *version = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_result_error(p, res, "schema version");
    else if (PQntuples(res) == 1 && dir_pg_i32(res, 0, version) != SOTTO_OK)
        rc = SOTTO_ECORRUPT;
    PQclear(res);
    if (rc == SOTTO_OK && (*version < 0 || *version > PG_SCHEMA_VERSION)) {
        log_error(p->base.env->log, "postgresql: schema %lld is not one this directory knows (%d)",
                  (long long)*version, PG_SCHEMA_VERSION);
        rc = SOTTO_EDB;
    }
    return rc;
}

static enum sotto_err pg_migrate_steps(struct dir_pg *p, int64_t from)
{
    char bump[192];
    enum sotto_err rc = SOTTO_OK;

    for (int64_t v = from + 1; v <= PG_SCHEMA_VERSION && rc == SOTTO_OK; v++) {
        snprintf(bump, sizeof(bump),
                 "INSERT INTO schema_version (id, version) VALUES (1, %lld)"
                 " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                 (long long)v);
        rc = dir_pg_simple(p, pg_migrations[v], NULL);
        if (rc == SOTTO_OK)
            rc = dir_pg_simple(p, bump, NULL);
        if (rc != SOTTO_OK)
            log_error(p->base.env->log, "postgresql: migration to schema %lld failed",
                      (long long)v);
    }
    return rc;
}

/* In one transaction that first takes an advisory lock: of several instances starting at
 * once, one migrates and the others wait, then find the schema current. */
static enum sotto_err pg_migrate(struct dir_pg *p)
{
    int64_t version = 0;
    PGresult *res;
    enum sotto_err rc = dir_pg_simple(p, "BEGIN", NULL);

    if (rc != SOTTO_OK)
        return rc;
    res = PQexec(p->conn, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_result_error(p, res, "migration lock");
    PQclear(res);
    if (rc == SOTTO_OK)
        rc = dir_pg_simple(p,
                           "CREATE TABLE IF NOT EXISTS schema_version (id integer PRIMARY KEY"
                           " CHECK (id = 1), version integer NOT NULL)",
                           NULL);
    if (rc == SOTTO_OK)
        rc = pg_schema_version(p, &version);
    if (rc == SOTTO_OK && version < PG_SCHEMA_VERSION)
        rc = pg_migrate_steps(p, version);
    rc = dir_pg_end(p, rc);
    if (rc == SOTTO_OK && version != 0 && version < PG_SCHEMA_VERSION)
        log_info(p->base.env->log, "postgresql: schema migrated from %lld to %d",
                 (long long)version, PG_SCHEMA_VERSION);
    return rc;
}

enum sotto_err dir_pg_open_db(struct dir_pg *p, const char *uri)
{
    enum sotto_err rc = pg_connect(p, uri);

    if (rc == SOTTO_OK)
        rc = pg_migrate(p);
    if (rc == SOTTO_OK)
        rc = pg_prepare_all(p);
    return rc;
}
