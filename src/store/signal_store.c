/* src/store/signal_store.c: the profile as the storage of Signal sessions (signal_store.h):
 * the functions of struct e2e_session_store over SQL, with session records and sender keys
 * sealed under their row, Sotto's trust rules over the contacts and their holds, and the bundle
 * served over a link. Also the sealed-row and nested-write helpers messages.c shares. */
#include <string.h>

#include <sodium.h>

#include "sotto/env.h"
#include "store/signal_store.h"
#include "store/store_int.h"

/* ---- helpers shared with messages.c ---- */

enum sotto_err store_op_begin(struct store_profile *p, bool *own)
{
    *own = !store_tx_open(p);
    if (*own)
        return store_db_begin(p);
    /* inside a caller's step, the step is what a failure undoes: no savepoint of our own */
    return p->step_depth > 0 ? SOTTO_OK : store_db_exec1(p, "SAVEPOINT store_op");
}

enum sotto_err store_op_end(struct store_profile *p, bool own, enum sotto_err rc)
{
    if (!own && p->step_depth > 0)
        return rc;
    if (rc == SOTTO_OK) {
        rc = own ? store_db_commit(p) : store_db_exec1(p, "RELEASE store_op");
        if (rc == SOTTO_OK)
            return SOTTO_OK;
    }
    if (own)
        store_db_rollback(p);
    else
        sqlite3_exec(p->db, "ROLLBACK TO store_op; RELEASE store_op", NULL, NULL, NULL);
    return rc;
}

enum sotto_err store_sealed_col(struct store_profile *p, const char *table, int64_t row,
                                sqlite3_stmt *st, int col, e2e_sink_fn sink, void *arg)
{
    const uint8_t *sealed;
    size_t n, cap, len = 0;
    uint8_t *plain;
    enum sotto_err rc;

    if (p->datakey == NULL)
        return SOTTO_EINVAL; /* not unlocked: the caller broke the contract */
    if (sqlite3_column_type(st, col) != SQLITE_BLOB)
        return SOTTO_ECORRUPT;
    sealed = sqlite3_column_blob(st, col);
    n = (size_t)sqlite3_column_bytes(st, col);
    if (n < STORE_SEAL_OVERHEAD)
        return SOTTO_ECORRUPT;
    if (sealed == NULL)
        return SOTTO_ENOMEM;
    cap = n - STORE_SEAL_OVERHEAD;
    plain = sotto_alloc(p->env, cap > 0 ? cap : 1);
    if (plain == NULL)
        return SOTTO_ENOMEM;
    rc = store_unseal(p->datakey, table, row, sealed, n, plain, cap, &len);
    if (rc == SOTTO_OK)
        rc = sink(arg, plain, len);
    sodium_memzero(plain, cap > 0 ? cap : 1);
    sotto_free(p->env, plain);
    return rc;
}

enum sotto_err store_sealed_set(struct store_profile *p, const char *sql, const char *table,
                                int64_t row, const uint8_t *plain, size_t len)
{
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *st;
    enum sotto_err rc;

    if (p->datakey == NULL)
        return SOTTO_EINVAL;
    rc = store_seal(p->env, p->datakey, table, row, plain, len, &sealed, &sealed_len);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p, sql, &st);
    if (rc != SOTTO_OK)
        goto out;
    if (sealed_len > INT32_MAX ||
        sqlite3_bind_blob(st, 1, sealed, (int)sealed_len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, row) != SQLITE_OK)
        rc = store_db_bind_failed(p, st);
    else
        rc = store_db_run(p, st);
out:
    sotto_free(p->env, sealed);
    return rc;
}

/* The library's writes belong to the caller's transaction (DESIGN.md): refused outside one. */
static enum sotto_err write_check(const struct store_profile *p)
{
    return store_tx_open(p) && p->datakey != NULL ? SOTTO_OK : SOTTO_EINVAL;
}

/* Prepares `sql` and binds ?1 to the blob key[0..len) (or the text of it, when `text`). */
static enum sotto_err prepare_key(struct store_profile *p, const char *sql, const void *key,
                                  size_t len, bool text, sqlite3_stmt **st)
{
    enum sotto_err rc = store_db_prepare(p, sql, st);
    int brc;

    if (rc != SOTTO_OK)
        return rc;
    brc = text ? sqlite3_bind_text(*st, 1, key, (int)len, SQLITE_STATIC)
               : sqlite3_bind_blob(*st, 1, key, (int)len, SQLITE_STATIC);
    if (brc != SQLITE_OK) {
        rc = store_db_bind_failed(p, *st);
        *st = NULL;
    }
    return rc;
}

/* Steps a prepared one-row query whose column 0 is the row id and column 1 the sealed value,
 * and hands the opened value to `sink`; SOTTO_ENOENT when no row came. Finalizes `st`. */
static enum sotto_err sealed_row(struct store_profile *p, sqlite3_stmt *st, const char *table,
                                 e2e_sink_fn sink, void *arg, int64_t *id)
{
    enum sotto_err rc;
    bool row = false;

    rc = store_db_step(p, st, &row);
    if (rc == SOTTO_OK && !row)
        rc = SOTTO_ENOENT;
    if (rc == SOTTO_OK && id != NULL)
        *id = sqlite3_column_int64(st, 0);
    if (rc == SOTTO_OK)
        rc = store_sealed_col(p, table, sqlite3_column_int64(st, 0), st, 1, sink, arg);
    store_db_release(p, st);
    return rc;
}

/* ---- sessions ---- */

/* The session row last read or written, so that saving it again is one UPDATE: the stream of
 * messages to or from one peer loads and saves the same row each time. Forgotten when a
 * session is deleted, and checked by the UPDATE itself (no row changed: not there any more, a
 * rolled back insert). */
static void session_remember(struct store_profile *p, const char *addr, int64_t id)
{
    memcpy(p->sess_addr, addr, E2E_ADDRESS_LEN + 1);
    p->sess_id = id;
}

static enum sotto_err op_session_load(void *arg, const uint8_t peer[static E2E_KEY_LEN],
                                      e2e_sink_fn sink, void *sink_arg)
{
    struct store_profile *p = arg;
    char addr[E2E_ADDRESS_LEN + 1];
    sqlite3_stmt *st;
    int64_t id = 0;
    enum sotto_err rc;

    e2e_address_name(peer, addr);
    rc = prepare_key(p, "SELECT id, record FROM sessions WHERE address = ?1 AND device_id = 1",
                     addr, E2E_ADDRESS_LEN, true, &st);
    if (rc != SOTTO_OK)
        return rc;
    rc = sealed_row(p, st, "sessions", sink, sink_arg, &id);
    if (rc == SOTTO_OK)
        session_remember(p, addr, id);
    return rc;
}

/* Runs an upsert that RETURNs the row id: the row to seal a value under. */
static enum sotto_err upsert_id(struct store_profile *p, sqlite3_stmt *st, int64_t *id)
{
    enum sotto_err rc;
    bool row = false;

    rc = store_db_step(p, st, &row);
    if (rc == SOTTO_OK && !row)
        rc = SOTTO_EDB;
    *id = rc == SOTTO_OK ? sqlite3_column_int64(st, 0) : 0;
    if (rc == SOTTO_OK)
        rc = store_db_step(p, st, &row); /* RETURNING: the write completes at SQLITE_DONE */
    store_db_release(p, st);
    return rc;
}

static enum sotto_err session_update(struct store_profile *p, int64_t id, const char *addr,
                                     const uint8_t *record, size_t len, bool *done)
{
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *st;
    enum sotto_err rc;

    *done = false;
    rc = store_seal(p->env, p->datakey, "sessions", id, record, len, &sealed, &sealed_len);
    if (rc != SOTTO_OK)
        return rc;
    /* the address too: a row id freed by a deletion may come back for another peer */
    rc = store_db_prepare(p,
                          "UPDATE sessions SET record = ?1, updated_ms = ?2 WHERE id = ?3 "
                          "AND address = ?4 AND device_id = 1",
                          &st);
    if (rc == SOTTO_OK) {
        if (sealed_len > INT32_MAX ||
            sqlite3_bind_blob(st, 1, sealed, (int)sealed_len, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK ||
            sqlite3_bind_int64(st, 3, id) != SQLITE_OK ||
            sqlite3_bind_text(st, 4, addr, E2E_ADDRESS_LEN, SQLITE_STATIC) != SQLITE_OK)
            rc = store_db_bind_failed(p, st);
        else
            rc = store_db_run(p, st);
        *done = rc == SOTTO_OK && sqlite3_changes(p->db) == 1;
    }
    sodium_memzero(sealed, sealed_len);
    sotto_free(p->env, sealed);
    return rc;
}

static enum sotto_err session_put(struct store_profile *p, const char *addr, const uint8_t *record,
                                  size_t len)
{
    sqlite3_stmt *st;
    int64_t id;
    bool done = false;
    enum sotto_err rc;

    if (p->sess_id > 0 && strcmp(p->sess_addr, addr) == 0) {
        rc = session_update(p, p->sess_id, addr, record, len, &done);
        if (rc != SOTTO_OK || done)
            return rc;
    }
    p->sess_id = 0;
    rc = prepare_key(p,
                     "INSERT INTO sessions(address, device_id, record, updated_ms) "
                     "VALUES(?1, 1, x'', ?2) ON CONFLICT(address, device_id) "
                     "DO UPDATE SET updated_ms = excluded.updated_ms RETURNING id",
                     addr, E2E_ADDRESS_LEN, true, &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 2, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = upsert_id(p, st, &id);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_sealed_set(p, "UPDATE sessions SET record = ?1 WHERE id = ?2", "sessions", id,
                          record, len);
    if (rc == SOTTO_OK)
        session_remember(p, addr, id);
    return rc;
}

static enum sotto_err op_session_save(void *arg, const uint8_t peer[static E2E_KEY_LEN],
                                      const uint8_t *record, size_t len)
{
    struct store_profile *p = arg;
    char addr[E2E_ADDRESS_LEN + 1];
    enum sotto_err rc = write_check(p);
    bool own;

    if (rc != SOTTO_OK)
        return rc;
    e2e_address_name(peer, addr);
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, session_put(p, addr, record, len));
}

static enum sotto_err op_session_delete(void *arg, const uint8_t peer[static E2E_KEY_LEN],
                                        bool *deleted)
{
    struct store_profile *p = arg;
    char addr[E2E_ADDRESS_LEN + 1];
    sqlite3_stmt *st;
    enum sotto_err rc = write_check(p);

    *deleted = false;
    if (rc != SOTTO_OK)
        return rc;
    p->sess_id = 0;
    e2e_address_name(peer, addr);
    rc = prepare_key(p, "DELETE FROM sessions WHERE address = ?1", addr, E2E_ADDRESS_LEN, true,
                     &st);
    if (rc == SOTTO_OK)
        rc = store_db_run(p, st);
    if (rc == SOTTO_OK)
        *deleted = sqlite3_changes(p->db) > 0;
    return rc;
}

/* ---- our prekeys ---- */

static enum sotto_err prekey_load(struct store_profile *p, const char *sql, const char *table,
                                  uint32_t id, e2e_sink_fn sink, void *sink_arg)
{
    sqlite3_stmt *st;
    enum sotto_err rc = store_db_prepare(p, sql, &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return sealed_row(p, st, table, sink, sink_arg, NULL);
}

static enum sotto_err op_prekey_load(void *arg, uint32_t id, e2e_sink_fn sink, void *sink_arg)
{
    return prekey_load(arg, "SELECT id, record FROM prekeys WHERE id = ?1", "prekeys", id, sink,
                       sink_arg);
}

static enum sotto_err op_signed_prekey_load(void *arg, uint32_t id, e2e_sink_fn sink,
                                            void *sink_arg)
{
    return prekey_load(arg, "SELECT id, record FROM signed_prekeys WHERE id = ?1", "signed_prekeys",
                       id, sink, sink_arg);
}

/* Called by the library once a PreKey message decrypted, in the caller's transaction: the
 * prekey is gone when, and only when, that commits. */
static enum sotto_err op_prekey_remove(void *arg, uint32_t id)
{
    struct store_profile *p = arg;
    sqlite3_stmt *st;
    enum sotto_err rc = write_check(p);

    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p, "DELETE FROM prekeys WHERE id = ?1", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

/* ---- sender keys ---- */

/* Binds ?1 group, ?2 sender address of a sender_keys statement. */
static enum sotto_err sender_prepare(struct store_profile *p, const char *sql, const uint8_t *group,
                                     size_t group_len, const char *sender, sqlite3_stmt **st)
{
    static const uint8_t empty[1];
    enum sotto_err rc;

    if (group_len > INT32_MAX)
        return SOTTO_EINVAL;
    rc = prepare_key(p, sql, group_len > 0 ? group : empty, group_len, false, st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(*st, 2, sender, E2E_ADDRESS_LEN, SQLITE_STATIC) != SQLITE_OK) {
        rc = store_db_bind_failed(p, *st);
        *st = NULL;
    }
    return rc;
}

static enum sotto_err op_sender_key_load(void *arg, const uint8_t *group, size_t group_len,
                                         const uint8_t sender[static E2E_KEY_LEN], e2e_sink_fn sink,
                                         void *sink_arg)
{
    struct store_profile *p = arg;
    char addr[E2E_ADDRESS_LEN + 1];
    sqlite3_stmt *st;
    enum sotto_err rc;

    e2e_address_name(sender, addr);
    rc = sender_prepare(p,
                        "SELECT id, record FROM sender_keys WHERE group_id = ?1 AND sender = ?2 "
                        "AND device_id = 1",
                        group, group_len, addr, &st);
    if (rc != SOTTO_OK)
        return rc;
    return sealed_row(p, st, "sender_keys", sink, sink_arg, NULL);
}

static enum sotto_err sender_key_put(struct store_profile *p, const uint8_t *group,
                                     size_t group_len, const char *addr, const uint8_t *record,
                                     size_t len)
{
    sqlite3_stmt *st;
    int64_t id;
    enum sotto_err rc;

    rc = sender_prepare(p,
                        "INSERT INTO sender_keys(group_id, sender, device_id, record, updated_ms) "
                        "VALUES(?1, ?2, 1, x'', ?3) ON CONFLICT(group_id, sender, device_id) "
                        "DO UPDATE SET updated_ms = excluded.updated_ms RETURNING id",
                        group, group_len, addr, &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 3, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = upsert_id(p, st, &id);
    if (rc != SOTTO_OK)
        return rc;
    return store_sealed_set(p, "UPDATE sender_keys SET record = ?1 WHERE id = ?2", "sender_keys",
                            id, record, len);
}

static enum sotto_err op_sender_key_save(void *arg, const uint8_t *group, size_t group_len,
                                         const uint8_t sender[static E2E_KEY_LEN],
                                         const uint8_t *record, size_t len)
{
    struct store_profile *p = arg;
    char addr[E2E_ADDRESS_LEN + 1];
    enum sotto_err rc = write_check(p);
    bool own;

    if (rc != SOTTO_OK)
        return rc;
    e2e_address_name(sender, addr);
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, sender_key_put(p, group, group_len, addr, record, len));
}

/* ---- identity and trust ---- */

static enum sotto_err op_identity(void *arg, struct e2e_ctx *ctx, uint8_t pub[static E2E_KEY_LEN],
                                  uint8_t priv[static E2E_PRIV_LEN], uint32_t *registration_id)
{
    struct store_profile *p = arg;
    struct store_self self;
    enum sotto_err rc;

    rc = store_self_get(p, &self);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_self_private_key(p, ctx, priv);
    if (rc != SOTTO_OK)
        return rc;
    memcpy(pub, self.key, E2E_KEY_LEN);
    *registration_id = self.registration_id;
    return SOTTO_OK;
}

/* The contact whose current key is `key`: its id, and whether a hold on it is in force. */
static enum sotto_err trust_contact(struct store_profile *p, const uint8_t key[static E2E_KEY_LEN],
                                    bool *found, int64_t *id, bool *held)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    *found = *held = false;
    rc = prepare_key(p,
                     "SELECT c.id, c.verified AND h.public_key IS NOT NULL AND "
                     "h.public_key != c.public_key FROM contacts c LEFT JOIN contact_holds h "
                     "ON h.contact_id = c.id WHERE c.public_key = ?1",
                     key, E2E_KEY_LEN, false, &st);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_step(p, st, found);
    if (rc == SOTTO_OK && *found) {
        *id = sqlite3_column_int64(st, 0);
        *held = sqlite3_column_int64(st, 1) != 0;
    }
    store_db_release(p, st);
    return rc;
}

/* A key a contact had before, or one held for a contact: known, and not to be used. */
static enum sotto_err trust_replaced(struct store_profile *p, const uint8_t key[static E2E_KEY_LEN],
                                     bool *replaced)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    *replaced = false;
    rc = prepare_key(p,
                     "SELECT EXISTS (SELECT 1 FROM contact_keys WHERE public_key = ?1) OR "
                     "EXISTS (SELECT 1 FROM contact_holds WHERE public_key = ?1)",
                     key, E2E_KEY_LEN, false, &st);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_step(p, st, replaced);
    *replaced = rc == SOTTO_OK && *replaced && sqlite3_column_int64(st, 0) != 0;
    store_db_release(p, st);
    return rc;
}

enum sotto_err store_peer_trust(struct store_profile *p, const uint8_t key[static E2E_KEY_LEN],
                                bool sending, int64_t *contact_id)
{
    bool found, held, replaced;
    int64_t id = 0;
    enum sotto_err rc;

    if (contact_id != NULL)
        *contact_id = 0;
    rc = store_refuse_own_key(p, key);
    if (rc != SOTTO_OK)
        return rc == SOTTO_EINVAL ? SOTTO_EUNTRUSTED : rc;
    rc = trust_contact(p, key, &found, &id, &held);
    if (rc != SOTTO_OK)
        return rc;
    if (found) {
        if (sending && held)
            return SOTTO_EKEYCHANGED;
        if (contact_id != NULL)
            *contact_id = id;
        return SOTTO_OK;
    }
    rc = trust_replaced(p, key, &replaced);
    if (rc != SOTTO_OK)
        return rc;
    return replaced ? SOTTO_EKEYCHANGED : SOTTO_EUNTRUSTED;
}

static enum sotto_err op_trust(void *arg, const uint8_t peer[static E2E_KEY_LEN], bool sending)
{
    return store_peer_trust(arg, peer, sending, NULL);
}

/* ---- holds ---- */

static enum sotto_err hold_put(struct store_profile *p, int64_t contact_id,
                               const uint8_t new_key[static E2E_KEY_LEN])
{
    uint8_t cur[E2E_KEY_LEN];
    sqlite3_stmt *st;
    enum sotto_err rc;
    bool row = false;

    rc = store_db_prepare(p, "SELECT public_key FROM contacts WHERE id = ?1", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_step(p, st, &row);
    if (rc == SOTTO_OK)
        rc = row ? store_col_blob(st, 0, cur, E2E_KEY_LEN) : SOTTO_ENOENT;
    store_db_release(p, st);
    if (rc == SOTTO_OK && memcmp(cur, new_key, E2E_KEY_LEN) == 0)
        rc = SOTTO_EINVAL;
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p,
                          "INSERT OR REPLACE INTO contact_holds(contact_id, public_key, held_ms) "
                          "VALUES(?1, ?2, ?3)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, new_key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

enum sotto_err store_contact_hold(struct store_profile *p, int64_t contact_id,
                                  const uint8_t new_key[static E2E_KEY_LEN])
{
    enum sotto_err rc = store_refuse_own_key(p, new_key);
    bool own;

    if (rc != SOTTO_OK)
        return rc;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, hold_put(p, contact_id, new_key));
}

enum sotto_err store_contact_unhold(struct store_profile *p, int64_t contact_id)
{
    sqlite3_stmt *st;
    enum sotto_err rc = store_db_prepare(p, "DELETE FROM contact_holds WHERE contact_id = ?1", &st);

    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

enum sotto_err store_contact_held_key(struct store_profile *p, int64_t contact_id,
                                      uint8_t key[static E2E_KEY_LEN], bool *held)
{
    sqlite3_stmt *st;
    enum sotto_err rc;
    bool row = false;

    *held = false;
    rc = store_db_prepare(p,
                          "SELECT h.public_key FROM contact_holds h JOIN contacts c "
                          "ON c.id = h.contact_id WHERE h.contact_id = ?1 "
                          "AND h.public_key != c.public_key",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_step(p, st, &row);
    if (rc == SOTTO_OK && row)
        rc = store_col_blob(st, 0, key, E2E_KEY_LEN);
    *held = rc == SOTTO_OK && row;
    store_db_release(p, st);
    return rc;
}

/* The contact moves to the held key, verified; the old key goes to its history and what waited
 * for the contact follows it. */
static enum sotto_err accept_held_run(struct store_profile *p, int64_t contact_id,
                                      const uint8_t new_key[static E2E_KEY_LEN], uint64_t number)
{
    sqlite3_int64 now = (sqlite3_int64)sotto_now_ms(p->env);
    uint8_t held[E2E_KEY_LEN], old[E2E_KEY_LEN];
    sqlite3_stmt *st;
    bool is_held = false, row = false;
    enum sotto_err rc = store_contact_held_key(p, contact_id, held, &is_held);

    if (rc != SOTTO_OK)
        return rc;
    if (!is_held || sodium_memcmp(held, new_key, E2E_KEY_LEN) != 0)
        return SOTTO_EKEYCHANGED; /* the hold changed or ended while the user compared */
    rc = store_db_prepare(p, "SELECT public_key FROM contacts WHERE id = ?1", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, contact_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_step(p, st, &row);
    if (rc == SOTTO_OK)
        rc = row ? store_col_blob(st, 0, old, E2E_KEY_LEN) : SOTTO_ENOENT;
    store_db_release(p, st);
    if (rc == SOTTO_OK)
        rc = store_contact_key_to_history(p, contact_id, now);
    if (rc == SOTTO_OK)
        rc = store_outbox_follow(p, old, new_key);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p,
                          "UPDATE contacts SET public_key = ?1, number = ?2, "
                          "claimed_username = NULL, verified = 1, key_added_ms = ?3, "
                          "updated_ms = ?3 WHERE id = ?4",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, new_key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)number) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, now) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, contact_id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_contact_write(p, st);
    return rc == SOTTO_OK ? store_contact_unhold(p, contact_id) : rc;
}

enum sotto_err store_contact_accept_held(struct store_profile *p, int64_t contact_id,
                                         const uint8_t new_key[static E2E_KEY_LEN], uint64_t number)
{
    bool own;
    enum sotto_err rc = number <= INT64_MAX ? store_op_begin(p, &own) : SOTTO_EINVAL;

    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, accept_held_run(p, contact_id, new_key, number));
}

/* ---- binding ---- */

void store_session_store(struct store_profile *p, struct e2e_session_store *out)
{
    const struct e2e_session_store ops = {
            .arg = p,
            .identity = op_identity,
            .trust = op_trust,
            .session_load = op_session_load,
            .session_save = op_session_save,
            .session_delete = op_session_delete,
            .prekey_load = op_prekey_load,
            .prekey_remove = op_prekey_remove,
            .signed_prekey_load = op_signed_prekey_load,
            .sender_key_load = op_sender_key_load,
            .sender_key_save = op_sender_key_save,
    };

    *out = ops;
}

enum sotto_err store_session_open(struct e2e_session **out, struct store_profile *p,
                                  struct e2e_ctx *e2e)
{
    struct e2e_session_store ops;

    *out = NULL;
    if (p == NULL || e2e == NULL)
        return SOTTO_EINVAL;
    if (p->datakey == NULL)
        return SOTTO_EINVAL;
    store_session_store(p, &ops);
    return e2e_session_open(out, p->env, e2e, &ops);
}

enum sotto_err store_own_bundle(struct store_profile *p, struct e2e_bundle *out)
{
    struct store_signed_prekey_pub spk;
    struct store_self self;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_self_get(p, &self);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_signed_prekey_public(p, &spk);
    if (rc != SOTTO_OK)
        return rc;
    memcpy(out->identity, self.key, E2E_KEY_LEN);
    out->registration_id = self.registration_id;
    out->device_id = E2E_DEVICE_ID;
    out->signed_prekey_id = spk.id;
    memcpy(out->signed_prekey, spk.key, E2E_KEY_LEN);
    memcpy(out->signed_prekey_sig, spk.sig, E2E_SIG_LEN);
    return SOTTO_OK;
}
