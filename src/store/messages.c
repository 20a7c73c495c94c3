/* src/store/messages.c: history, received ids and the outbox (messages.h). A message row is
 * inserted with an empty body and then given its body sealed under "messages:<rowid>": the row
 * id is the associated data, and AUTOINCREMENT never hands it out twice. */
#include <string.h>

#include "sotto/env.h"
#include "store/messages.h"
#include "store/store_int.h"

#define MSG_TABLE  "messages"
#define READ_BATCH 256 /* messages one read mark takes at most (WIRE_IDS_MAX) */

/* A statement's failure, with UNIQUE as SOTTO_EEXIST and a missing contact as SOTTO_ENOENT. */
static enum sotto_err run_mapped(struct store_profile *p, sqlite3_stmt *st)
{
    enum sotto_err rc = store_db_run(p, st);

    if (rc == SOTTO_EDB && sqlite3_extended_errcode(p->db) == SQLITE_CONSTRAINT_UNIQUE)
        return SOTTO_EEXIST;
    if (rc == SOTTO_EDB && sqlite3_extended_errcode(p->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        return SOTTO_ENOENT;
    return rc;
}

/* A limit or a time as SQLite's signed integer: past INT64_MAX, which no row reaches, it is
 * INT64_MAX. */
static sqlite3_int64 sql_u64(uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static enum sotto_err msg_check(const struct store_profile *p, const struct store_msg_new *m)
{
    if (m == NULL || m->contact_id <= 0 || m->sent_ms > INT64_MAX ||
        m->body_len > STORE_MSG_BODY_MAX || (m->body == NULL && m->body_len > 0))
        return SOTTO_EINVAL;
    return p->datakey != NULL ? SOTTO_OK : SOTTO_EINVAL;
}

/* Inserts the row of `m` with its body sealed under the row's id, in one statement: the id is
 * the one AUTOINCREMENT would give (one more than the largest ever handed out, which
 * sqlite_sequence keeps), and nobody else inserts meanwhile, as every write runs in a
 * transaction that holds the database's write lock (BEGIN IMMEDIATE). */
static enum sotto_err message_insert(struct store_profile *p, const struct store_msg_new *m,
                                     bool outgoing, int64_t *row)
{
    sqlite3_int64 now = (sqlite3_int64)sotto_now_ms(p->env);
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_query_int(p,
                            "SELECT coalesce((SELECT seq FROM sqlite_sequence "
                            "WHERE name = 'messages'), 0) + 1",
                            row);
    if (rc == SOTTO_OK)
        rc = store_seal(p->env, p->datakey, MSG_TABLE, *row, m->body, m->body_len, &sealed,
                        &sealed_len);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p,
                          "INSERT INTO messages(id, contact_id, direction, msg_id, type, sent_ms, "
                          "stored_ms, body, state) VALUES(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?9, ?7)",
                          &st);
    if (rc == SOTTO_OK) {
        if (sealed_len > INT32_MAX || sqlite3_bind_int64(st, 1, m->contact_id) != SQLITE_OK ||
            sqlite3_bind_int(st, 2, outgoing) != SQLITE_OK ||
            sqlite3_bind_blob(st, 3, m->msg_id, STORE_MSG_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st, 4, m->type) != SQLITE_OK ||
            sqlite3_bind_int64(st, 5, (sqlite3_int64)m->sent_ms) != SQLITE_OK ||
            sqlite3_bind_int64(st, 6, now) != SQLITE_OK ||
            sqlite3_bind_int(st, 7, outgoing ? STORE_MSG_WAITING : STORE_MSG_RECEIVED) !=
                    SQLITE_OK ||
            sqlite3_bind_int64(st, 8, *row) != SQLITE_OK ||
            sqlite3_bind_blob(st, 9, sealed, (int)sealed_len, SQLITE_STATIC) != SQLITE_OK)
            rc = store_db_bind_failed(p, st);
        else
            rc = run_mapped(p, st);
    }
    sotto_free(p->env, sealed);
    if (rc != SOTTO_OK)
        *row = 0;
    return rc;
}

/* ---- received ---- */

/* Records (peer, id) for message `row` (0: none): SOTTO_EEXIST, quietly, when it is known. */
static enum sotto_err received_insert(struct store_profile *p,
                                      const uint8_t peer[static E2E_KEY_LEN],
                                      const uint8_t msg_id[static STORE_MSG_ID_LEN], int64_t row)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "INSERT INTO received(peer_key, msg_id, message_id, received_ms) "
                          "VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, peer, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, msg_id, STORE_MSG_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
        (row > 0 ? sqlite3_bind_int64(st, 3, row) : sqlite3_bind_null(st, 3)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_run(p, st);
    if (rc == SOTTO_OK && sqlite3_changes(p->db) == 0)
        rc = SOTTO_EEXIST;
    return rc;
}

static enum sotto_err received_run(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                   const struct store_msg_new *m, int64_t *row)
{
    enum sotto_err rc = message_insert(p, m, false, row);

    if (rc != SOTTO_OK)
        return rc;
    return received_insert(p, peer, m->msg_id, *row);
}

enum sotto_err store_message_received(struct store_profile *p,
                                      const uint8_t peer[static E2E_KEY_LEN],
                                      const struct store_msg_new *m, int64_t *row)
{
    int64_t id = 0;
    enum sotto_err rc = msg_check(p, m);
    bool own;

    if (row != NULL)
        *row = 0;
    if (rc != SOTTO_OK)
        return rc;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_op_end(p, own, received_run(p, peer, m, &id));
    if (rc == SOTTO_OK && row != NULL)
        *row = id;
    return rc;
}

enum sotto_err store_received_mark(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                   const uint8_t msg_id[static STORE_MSG_ID_LEN])
{
    bool own;
    enum sotto_err rc = store_op_begin(p, &own);

    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, received_insert(p, peer, msg_id, 0));
}

enum sotto_err store_received_known(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                    const uint8_t msg_id[static STORE_MSG_ID_LEN], bool *known)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    *known = false;
    rc = store_db_prepare(p, "SELECT 1 FROM received WHERE peer_key = ?1 AND msg_id = ?2", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, peer, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, msg_id, STORE_MSG_ID_LEN, SQLITE_STATIC) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_step(p, st, known);
    store_db_release(p, st);
    if (rc != SOTTO_OK)
        *known = false;
    return rc;
}

/* ---- sending ---- */

static enum sotto_err outbox_insert(struct store_profile *p, int64_t row,
                                    const uint8_t peer[static E2E_KEY_LEN], int64_t *outbox_id)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "INSERT INTO outbox(message_id, peer_key, next_ms, created_ms) "
                          "VALUES(?1, ?2, ?3, ?3)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, row) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, peer, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = run_mapped(p, st);
    *outbox_id = rc == SOTTO_OK ? sqlite3_last_insert_rowid(p->db) : 0;
    return rc;
}

static enum sotto_err send_run(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                               const struct store_msg_new *m, int64_t *row, int64_t *outbox_id)
{
    enum sotto_err rc = message_insert(p, m, true, row);

    if (rc != SOTTO_OK)
        return rc;
    return outbox_insert(p, *row, peer, outbox_id);
}

enum sotto_err store_message_send(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                  const struct store_msg_new *m, int64_t *row, int64_t *outbox_id)
{
    int64_t id = 0, ob = 0;
    enum sotto_err rc = msg_check(p, m);
    bool own;

    if (row != NULL)
        *row = 0;
    if (outbox_id != NULL)
        *outbox_id = 0;
    if (rc != SOTTO_OK)
        return rc;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_op_end(p, own, send_run(p, peer, m, &id, &ob));
    if (rc == SOTTO_OK && row != NULL)
        *row = id;
    if (rc == SOTTO_OK && outbox_id != NULL)
        *outbox_id = ob;
    return rc;
}

/* Sets the state of the message that outbox entry `outbox_id` carries: SOTTO_ENOENT when there
 * is none. */
static enum sotto_err entry_message_state(struct store_profile *p, int64_t outbox_id,
                                          enum store_msg_state state)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "UPDATE messages SET state = ?2 WHERE id = "
                          "(SELECT message_id FROM outbox WHERE id = ?1)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, outbox_id) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, (int)state) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run_one(p, st);
}

static enum sotto_err encrypted_run(struct store_profile *p, int64_t outbox_id,
                                    const uint8_t peer[static E2E_KEY_LEN], enum e2e_kind kind,
                                    const uint8_t *cipher, size_t len)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "UPDATE outbox SET peer_key = ?1, kind = ?2, ciphertext = ?3, "
                          "attempts = 0, next_ms = ?4, seq = (SELECT coalesce(max(seq), 0) + 1 "
                          "FROM outbox WHERE peer_key = ?1) WHERE id = ?5",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, peer, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, (int)kind) != SQLITE_OK ||
        sqlite3_bind_blob(st, 3, cipher, (int)len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, outbox_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_run_one(p, st);
    if (rc != SOTTO_OK)
        return rc;
    return entry_message_state(p, outbox_id, STORE_MSG_ENCRYPTED);
}

enum sotto_err store_outbox_encrypted(struct store_profile *p, int64_t outbox_id,
                                      const uint8_t peer[static E2E_KEY_LEN], enum e2e_kind kind,
                                      const uint8_t *cipher, size_t len)
{
    enum sotto_err rc;
    bool own;

    if ((kind != E2E_KIND_SIGNAL && kind != E2E_KIND_PREKEY) || cipher == NULL || len == 0 ||
        len > E2E_CIPHER_MAX)
        return SOTTO_EINVAL;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, encrypted_run(p, outbox_id, peer, kind, cipher, len));
}

static enum sotto_err rewait_run(struct store_profile *p, int64_t outbox_id,
                                 const uint8_t peer[static E2E_KEY_LEN])
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "UPDATE outbox SET peer_key = ?1, seq = NULL, kind = NULL, "
                          "ciphertext = NULL, next_ms = ?2 WHERE id = ?3",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, peer, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, outbox_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = run_mapped(p, st);
    if (rc == SOTTO_OK && sqlite3_changes(p->db) == 0)
        rc = SOTTO_ENOENT;
    if (rc != SOTTO_OK)
        return rc;
    return entry_message_state(p, outbox_id, STORE_MSG_WAITING);
}

enum sotto_err store_outbox_rewait(struct store_profile *p, int64_t outbox_id,
                                   const uint8_t peer[static E2E_KEY_LEN])
{
    bool own;
    enum sotto_err rc = store_op_begin(p, &own);

    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, rewait_run(p, outbox_id, peer));
}

enum sotto_err store_outbox_follow(struct store_profile *p, const uint8_t old[static E2E_KEY_LEN],
                                   const uint8_t new_key[static E2E_KEY_LEN])
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "UPDATE messages SET state = 1 WHERE state = 2 AND id IN "
                          "(SELECT message_id FROM outbox WHERE peer_key = ?1)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, old, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_run(p, st);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p,
                          "UPDATE outbox SET peer_key = ?2, seq = NULL, kind = NULL, "
                          "ciphertext = NULL, attempts = 0, next_ms = ?3 WHERE peer_key = ?1",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, old, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, new_key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return run_mapped(p, st);
}

enum sotto_err store_outbox_attempted(struct store_profile *p, int64_t outbox_id, uint64_t next_ms)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    if (next_ms > INT64_MAX)
        return SOTTO_EINVAL;
    rc = store_db_prepare(
            p, "UPDATE outbox SET attempts = attempts + 1, next_ms = ?1 WHERE id = ?2", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)next_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, outbox_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run_one(p, st);
}

/* ---- the outbox, read ---- */

#define OUTBOX_COLS                                                                                \
    "o.id, o.message_id, o.peer_key, m.msg_id, o.kind, o.ciphertext, m.type, m.sent_ms, m.body, "  \
    "o.attempts, o.next_ms, o.seq"

struct outbox_walk {
    struct store_profile *p;
    struct store_outbox_entry e;
    enum sotto_err (*each)(void *arg, const struct store_outbox_entry *e);
    void *arg;
};

static enum sotto_err outbox_body_sink(void *arg, const uint8_t *data, size_t len)
{
    struct outbox_walk *w = arg;
    enum sotto_err rc;

    w->e.body = data;
    w->e.body_len = len;
    rc = w->each(w->arg, &w->e);
    w->e.body = NULL;
    return rc;
}

static enum sotto_err outbox_numbers(sqlite3_stmt *st, struct store_outbox_entry *e)
{
    int64_t type = sqlite3_column_int64(st, 6), sent = sqlite3_column_int64(st, 7);
    int64_t attempts = sqlite3_column_int64(st, 9), next = sqlite3_column_int64(st, 10);

    if (type < 0 || type > UINT32_MAX || sent < 0 || attempts < 0 || attempts > UINT32_MAX ||
        next < 0)
        return SOTTO_ECORRUPT;
    e->id = sqlite3_column_int64(st, 0);
    e->message_id = sqlite3_column_int64(st, 1);
    e->type = (uint32_t)type;
    e->sent_ms = (uint64_t)sent;
    e->attempts = (uint32_t)attempts;
    e->next_ms = (uint64_t)next;
    e->seq = sqlite3_column_int64(st, 11); /* 0 (NULL) while waiting */
    return SOTTO_OK;
}

/* Reads the current row into w->e and hands it on, opening the body of a waiting entry. */
static enum sotto_err outbox_row(void *arg, sqlite3_stmt *st)
{
    struct outbox_walk *w = arg;
    struct store_outbox_entry *e = &w->e;
    enum sotto_err rc;

    memset(e, 0, sizeof(*e));
    rc = outbox_numbers(st, e);
    if (rc == SOTTO_OK)
        rc = store_col_blob(st, 2, e->peer, E2E_KEY_LEN);
    if (rc == SOTTO_OK)
        rc = store_col_blob(st, 3, e->msg_id, STORE_MSG_ID_LEN);
    if (rc != SOTTO_OK)
        return rc;
    e->encrypted = sqlite3_column_type(st, 5) == SQLITE_BLOB;
    if (!e->encrypted)
        return store_sealed_col(w->p, MSG_TABLE, e->message_id, st, 8, outbox_body_sink, w);
    e->kind = sqlite3_column_int(st, 4) == E2E_KIND_PREKEY ? E2E_KIND_PREKEY : E2E_KIND_SIGNAL;
    e->cipher = sqlite3_column_blob(st, 5);
    e->cipher_len = (size_t)sqlite3_column_bytes(st, 5);
    if (e->cipher == NULL)
        return SOTTO_ENOMEM;
    return w->each(w->arg, e);
}

/* The walks, one SQL text each so that each stays prepared: ?1 the peer, ?2 the limit, ?3 the
 * time an attempt must be due by (SENDABLE). */
static const char *const outbox_sql[] = {
        [STORE_OUTBOX_ALL] = "SELECT " OUTBOX_COLS " FROM outbox o JOIN messages m "
                             "ON m.id = o.message_id WHERE o.peer_key = ?1 "
                             "ORDER BY o.seq IS NULL, o.seq, o.id LIMIT ?2",
        [STORE_OUTBOX_WAITING] = "SELECT " OUTBOX_COLS " FROM outbox o JOIN messages m "
                                 "ON m.id = o.message_id WHERE o.peer_key = ?1 "
                                 "AND o.seq IS NULL ORDER BY o.id LIMIT ?2",
        [STORE_OUTBOX_SENDABLE] =
                "SELECT " OUTBOX_COLS " FROM outbox o JOIN messages m "
                "ON m.id = o.message_id WHERE o.peer_key = ?1 "
                "AND o.seq IS NOT NULL AND (o.seq > ?4 OR o.attempts = 0 OR o.next_ms <= ?3) "
                "ORDER BY o.seq LIMIT ?2",
};

enum sotto_err
store_outbox_walk(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                  enum store_outbox_filter which, uint64_t due_ms, int64_t after_seq, size_t max,
                  enum sotto_err (*each)(void *arg, const struct store_outbox_entry *e), void *arg)
{
    struct outbox_walk w = {.p = p, .each = each, .arg = arg};
    sqlite3_stmt *st;
    enum sotto_err rc;

    if (each == NULL || (unsigned)which > STORE_OUTBOX_SENDABLE)
        return SOTTO_EINVAL;
    rc = store_db_prepare(p, outbox_sql[which], &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, peer, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, sql_u64(max)) != SQLITE_OK ||
        (which == STORE_OUTBOX_SENDABLE &&
         (sqlite3_bind_int64(st, 3, sql_u64(due_ms)) != SQLITE_OK ||
          sqlite3_bind_int64(st, 4, after_seq) != SQLITE_OK)))
        return store_db_bind_failed(p, st);
    return store_db_each(p, st, outbox_row, &w);
}

enum sotto_err
store_outbox_each(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN], size_t max,
                  enum sotto_err (*each)(void *arg, const struct store_outbox_entry *e), void *arg)
{
    return store_outbox_walk(p, peer, STORE_OUTBOX_ALL, 0, 0, max, each, arg);
}

struct key_walk {
    enum sotto_err (*each)(void *arg, const uint8_t key[E2E_KEY_LEN]);
    void *arg;
};

static enum sotto_err recent_peer_row(void *arg, sqlite3_stmt *st)
{
    struct key_walk *w = arg;
    uint8_t key[E2E_KEY_LEN];
    enum sotto_err rc = store_col_blob(st, 0, key, E2E_KEY_LEN);

    return rc == SOTTO_OK ? w->each(w->arg, key) : rc;
}

enum sotto_err store_recent_peers(struct store_profile *p, uint64_t since_ms, size_t max,
                                  enum sotto_err (*each)(void *arg, const uint8_t key[E2E_KEY_LEN]),
                                  void *arg)
{
    struct key_walk w = {.each = each, .arg = arg};
    sqlite3_stmt *st;
    enum sotto_err rc;

    if (each == NULL || since_ms > INT64_MAX)
        return SOTTO_EINVAL;
    rc = store_db_prepare(p,
                          "SELECT c.public_key, (SELECT max(stored_ms) FROM messages m "
                          "WHERE m.contact_id = c.id) AS last FROM contacts c "
                          "WHERE last >= ?1 ORDER BY last DESC LIMIT ?2",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)since_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, sql_u64(max)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_each(p, st, recent_peer_row, &w);
}

struct summary_walk {
    enum sotto_err (*each)(void *arg, const struct store_outbox_summary *s);
    void *arg;
};

static enum sotto_err summary_row(void *arg, sqlite3_stmt *st)
{
    struct summary_walk *w = arg;
    struct store_outbox_summary sum;
    enum sotto_err rc;

    memset(&sum, 0, sizeof(sum));
    rc = store_col_blob(st, 0, sum.peer, E2E_KEY_LEN);
    if (rc == SOTTO_OK &&
        (sqlite3_column_int64(st, 1) < 0 || sqlite3_column_int64(st, 2) < 0 ||
         sqlite3_column_int64(st, 3) < 0 || sqlite3_column_int64(st, 3) > UINT32_MAX ||
         sqlite3_column_int64(st, 4) < 0))
        rc = SOTTO_ECORRUPT;
    if (rc != SOTTO_OK)
        return rc;
    sum.waiting = (size_t)sqlite3_column_int64(st, 1);
    sum.sent = (size_t)sqlite3_column_int64(st, 2);
    sum.attempts = (uint32_t)sqlite3_column_int64(st, 3);
    sum.next_ms = (uint64_t)sqlite3_column_int64(st, 4);
    return w->each(w->arg, &sum);
}

enum sotto_err store_outbox_summaries(struct store_profile *p,
                                      enum sotto_err (*each)(void *arg,
                                                             const struct store_outbox_summary *s),
                                      void *arg)
{
    struct summary_walk w = {.each = each, .arg = arg};
    sqlite3_stmt *st;
    enum sotto_err rc;

    if (each == NULL)
        return SOTTO_EINVAL;
    rc = store_db_prepare(p,
                          "SELECT peer_key, sum(seq IS NULL), sum(seq IS NOT NULL), max(attempts), "
                          "min(next_ms) FROM outbox GROUP BY peer_key ORDER BY peer_key",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    return store_db_each(p, st, summary_row, &w);
}

struct due_walk {
    enum sotto_err (*each)(void *arg, const uint8_t peer[E2E_KEY_LEN], uint64_t next_ms);
    void *arg;
};

static enum sotto_err peer_due_row(void *arg, sqlite3_stmt *st)
{
    struct due_walk *w = arg;
    uint8_t peer[E2E_KEY_LEN];
    int64_t next = sqlite3_column_int64(st, 1);
    enum sotto_err rc;

    if (next < 0)
        return SOTTO_ECORRUPT;
    rc = store_col_blob(st, 0, peer, E2E_KEY_LEN);
    return rc == SOTTO_OK ? w->each(w->arg, peer, (uint64_t)next) : rc;
}

enum sotto_err store_outbox_peers_due(struct store_profile *p, uint64_t due_ms,
                                      enum sotto_err (*each)(void *arg,
                                                             const uint8_t peer[E2E_KEY_LEN],
                                                             uint64_t next_ms),
                                      void *arg)
{
    struct due_walk w = {.each = each, .arg = arg};
    sqlite3_stmt *st;
    enum sotto_err rc;

    if (each == NULL)
        return SOTTO_EINVAL;
    rc = store_db_prepare(p,
                          "SELECT peer_key, min(next_ms) AS due FROM outbox GROUP BY peer_key "
                          "HAVING due <= ?1 ORDER BY due, peer_key",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, sql_u64(due_ms)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_each(p, st, peer_due_row, &w);
}

/* ---- delivery, failure, read ---- */

/* One acknowledged id: the message is delivered and its entry for `peer` goes. Both statements
 * are prepared by the caller with ?1 the id and ?2 the peer; they are reset here. */
static enum sotto_err delivered_one(struct store_profile *p, sqlite3_stmt *mark, sqlite3_stmt *drop,
                                    const uint8_t id[static STORE_MSG_ID_LEN],
                                    const uint8_t peer[static E2E_KEY_LEN], size_t *n_marked)
{
    sqlite3_stmt *both[2] = {mark, drop};
    enum sotto_err rc = SOTTO_OK;
    bool row;

    for (int i = 0; i < 2 && rc == SOTTO_OK; i++) {
        sqlite3_reset(both[i]);
        if (sqlite3_bind_blob(both[i], 1, id, STORE_MSG_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_blob(both[i], 2, peer, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK)
            return store_db_error(p, sqlite3_errcode(p->db), "bind");
        rc = store_db_step(p, both[i], &row);
        if (rc == SOTTO_OK && i == 0)
            *n_marked += (size_t)sqlite3_changes(p->db);
    }
    return rc;
}

static enum sotto_err delivered_run(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                    const uint8_t (*ids)[STORE_MSG_ID_LEN], size_t n,
                                    size_t *n_marked)
{
    sqlite3_stmt *mark = NULL, *drop = NULL;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "UPDATE messages SET state = 3 WHERE direction = 1 AND msg_id = ?1 "
                          "AND state != 3 AND EXISTS (SELECT 1 FROM outbox "
                          "WHERE message_id = messages.id AND peer_key = ?2)",
                          &mark);
    if (rc == SOTTO_OK)
        rc = store_db_prepare(p,
                              "DELETE FROM outbox WHERE peer_key = ?2 AND message_id IN "
                              "(SELECT id FROM messages WHERE direction = 1 AND msg_id = ?1)",
                              &drop);
    for (size_t i = 0; i < n && rc == SOTTO_OK; i++)
        rc = delivered_one(p, mark, drop, ids[i], peer, n_marked);
    store_db_release(p, mark);
    store_db_release(p, drop);
    return rc;
}

enum sotto_err store_messages_delivered(struct store_profile *p,
                                        const uint8_t peer[static E2E_KEY_LEN],
                                        const uint8_t (*ids)[STORE_MSG_ID_LEN], size_t n,
                                        size_t *n_marked)
{
    size_t marked = 0;
    enum sotto_err rc;
    bool own;

    if (n_marked != NULL)
        *n_marked = 0;
    if (n > 0 && ids == NULL)
        return SOTTO_EINVAL;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_op_end(p, own, delivered_run(p, peer, ids, n, &marked));
    if (rc == SOTTO_OK && n_marked != NULL)
        *n_marked = marked;
    return rc;
}

static enum sotto_err failed_run(struct store_profile *p, int64_t row, enum sotto_err reason)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "UPDATE messages SET state = 4, fail_reason = ?1 "
                          "WHERE id = ?2 AND direction = 1",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(st, 1, sotto_errname(reason), -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, row) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_run_one(p, st);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p, "DELETE FROM outbox WHERE message_id = ?1", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, row) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

enum sotto_err store_message_failed(struct store_profile *p, int64_t row, enum sotto_err reason)
{
    enum sotto_err rc;
    bool own;

    if (reason == SOTTO_OK || (unsigned)reason >= SOTTO_ERR_COUNT)
        return SOTTO_EINVAL;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, failed_run(p, row, reason));
}

enum sotto_err store_message_set_read(struct store_profile *p, int64_t row)
{
    sqlite3_stmt *st;
    enum sotto_err rc = store_db_prepare(p, "UPDATE messages SET read = 1 WHERE id = ?1", &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, row) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run_one(p, st);
}

enum sotto_err store_messages_mark_read(struct store_profile *p, int64_t contact_id, size_t max,
                                        uint8_t (*ids)[STORE_MSG_ID_LEN], size_t *n)
{
    sqlite3_stmt *st, *mark = NULL;
    int64_t rows[READ_BATCH];
    size_t k = 0;
    enum sotto_err rc;
    bool row = true;

    *n = 0;
    if (max > READ_BATCH)
        max = READ_BATCH;
    rc = store_db_prepare(p,
                          "SELECT id, msg_id FROM messages WHERE contact_id = ?1 AND direction = 0 "
                          "AND read = 0 AND type = 1 ORDER BY id LIMIT ?2",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, sql_u64(max)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_prepare(p, "UPDATE messages SET read = 1 WHERE id = ?1", &mark);
    /* rows are read first, then marked: the walk does not write while it runs */
    while (rc == SOTTO_OK && k < max) {
        rc = store_db_step(p, st, &row);
        if (rc != SOTTO_OK || !row)
            break;
        rows[k] = sqlite3_column_int64(st, 0);
        rc = store_col_blob(st, 1, ids[k], STORE_MSG_ID_LEN);
        k += rc == SOTTO_OK;
    }
    store_db_release(p, st);
    for (size_t i = 0; i < k && rc == SOTTO_OK; i++) {
        if (sqlite3_bind_int64(mark, 1, rows[i]) != SQLITE_OK)
            rc = SOTTO_EDB;
        else
            rc = store_db_step(p, mark, &row);
        sqlite3_reset(mark);
    }
    store_db_release(p, mark);
    if (rc == SOTTO_OK)
        *n = k;
    return rc;
}

enum sotto_err store_messages_read_by_peer(struct store_profile *p, int64_t contact_id,
                                           const uint8_t (*ids)[STORE_MSG_ID_LEN], size_t n,
                                           size_t *n_marked)
{
    sqlite3_stmt *st;
    enum sotto_err rc;
    bool row;

    *n_marked = 0;
    rc = store_db_prepare(p,
                          "UPDATE messages SET read = 1 WHERE contact_id = ?1 AND direction = 1 "
                          "AND msg_id = ?2 AND read = 0",
                          &st);
    for (size_t i = 0; i < n && rc == SOTTO_OK; i++) {
        if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK ||
            sqlite3_bind_blob(st, 2, ids[i], STORE_MSG_ID_LEN, SQLITE_STATIC) != SQLITE_OK)
            rc = SOTTO_EDB;
        else
            rc = store_db_step(p, st, &row);
        if (rc == SOTTO_OK)
            *n_marked += (size_t)sqlite3_changes(p->db);
        sqlite3_reset(st);
    }
    store_db_release(p, st);
    return rc;
}

/* ---- history ---- */

struct history_walk {
    struct store_profile *p;
    struct store_message m;
    enum sotto_err (*each)(void *arg, const struct store_message *m);
    void *arg;
};

static enum sotto_err history_body_sink(void *arg, const uint8_t *data, size_t len)
{
    struct history_walk *w = arg;
    enum sotto_err rc;

    w->m.body = data;
    w->m.body_len = len;
    rc = w->each(w->arg, &w->m);
    w->m.body = NULL;
    return rc;
}

/* A reason stored by name; a name this version does not know reads as SOTTO_ERR_COUNT, which
 * sotto_strerror() shows as "unknown error". */
static enum sotto_err reason_parse(sqlite3_stmt *st, int col)
{
    const unsigned char *name = sqlite3_column_text(st, col);

    if (sqlite3_column_type(st, col) == SQLITE_NULL || name == NULL)
        return SOTTO_OK;
    for (int i = 1; i < SOTTO_ERR_COUNT; i++)
        if (strcmp((const char *)name, sotto_errname((enum sotto_err)i)) == 0)
            return (enum sotto_err)i;
    return SOTTO_ERR_COUNT;
}

static enum sotto_err history_fields(sqlite3_stmt *st, struct store_message *m)
{
    int64_t type = sqlite3_column_int64(st, 4), sent = sqlite3_column_int64(st, 5);
    int64_t stored = sqlite3_column_int64(st, 6), state = sqlite3_column_int64(st, 7);

    memset(m, 0, sizeof(*m));
    if (type < 0 || type > UINT32_MAX || sent < 0 || stored < 0 || state < STORE_MSG_RECEIVED ||
        state > STORE_MSG_FAILED)
        return SOTTO_ECORRUPT;
    m->id = sqlite3_column_int64(st, 0);
    m->contact_id = sqlite3_column_int64(st, 1);
    m->outgoing = sqlite3_column_int64(st, 2) != 0;
    m->type = (uint32_t)type;
    m->sent_ms = (uint64_t)sent;
    m->stored_ms = (uint64_t)stored;
    m->state = (enum store_msg_state)state;
    m->fail_reason = reason_parse(st, 8);
    m->read = sqlite3_column_int64(st, 9) != 0;
    return store_col_blob(st, 3, m->msg_id, STORE_MSG_ID_LEN);
}

/* Reads the current row into w->m and hands it on with its body opened. */
static enum sotto_err history_row(void *arg, sqlite3_stmt *st)
{
    struct history_walk *w = arg;
    enum sotto_err rc = history_fields(st, &w->m);

    if (rc != SOTTO_OK)
        return rc;
    return store_sealed_col(w->p, MSG_TABLE, w->m.id, st, 10, history_body_sink, w);
}

enum sotto_err store_history_each(struct store_profile *p, int64_t contact_id, size_t max,
                                  enum sotto_err (*each)(void *arg, const struct store_message *m),
                                  void *arg)
{
    struct history_walk w = {.p = p, .each = each, .arg = arg};
    sqlite3_stmt *st;
    enum sotto_err rc;

    if (each == NULL)
        return SOTTO_EINVAL;
    rc = store_db_prepare(p,
                          "SELECT * FROM (SELECT id, contact_id, direction, msg_id, type, sent_ms, "
                          "stored_ms, state, fail_reason, read, body FROM messages "
                          "WHERE contact_id = ?1 AND type != 2 "
                          "ORDER BY stored_ms DESC, id DESC LIMIT ?2) "
                          "ORDER BY stored_ms, id",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, sql_u64(max)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_each(p, st, history_row, &w);
}
