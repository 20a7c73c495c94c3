/* src/store/directory.c: what the profile keeps about the directory (schema 2): the remembered
 * directory and the pin of its certificate, the registration, the bookkeeping of one-time
 * prekeys for uploads and top-ups, and contacts as the directory publishes them (DESIGN.md,
 * "Trust"). */
#include <string.h>

#include <jansson.h>

#include "identity/number.h"
#include "sotto/env.h"
#include "store/store_int.h"

#define PREKEY_ID_MAX   0xfffffe /* the library's ids run 1..0xfffffe */
#define PREKEYS_ADD_MAX 1000

/* ---- checks ---- */

static bool pin_ok(const char *pin)
{
    if (pin == NULL || strnlen(pin, STORE_PIN_HEX_LEN + 1) != STORE_PIN_HEX_LEN)
        return false;
    for (size_t i = 0; i < STORE_PIN_HEX_LEN; i++)
        if (!((pin[i] >= '0' && pin[i] <= '9') || (pin[i] >= 'a' && pin[i] <= 'f')))
            return false;
    return true;
}

static bool url_ok(const char *url)
{
    size_t len;

    if (url == NULL)
        return false;
    len = strnlen(url, STORE_DIR_URL_MAX + 1);
    return len > 0 && len <= STORE_DIR_URL_MAX;
}

static bool username_ok(const char *u)
{
    size_t len;

    if (u == NULL)
        return false;
    len = strnlen(u, TEXT_USERNAME_MAX + 1);
    return len <= TEXT_USERNAME_MAX && text_check_username((const uint8_t *)u, len) == SOTTO_OK;
}

/* ---- the remembered directory ---- */

enum sotto_err store_directory_get(struct store_profile *p, struct store_directory *out)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_db_row(p, "SELECT url, pin, username, registered_ms FROM directory WHERE id = 1",
                      &st, SOTTO_ENOENT);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_text(st, 0, out->url, sizeof(out->url));
    if (rc == SOTTO_OK)
        rc = store_col_text(st, 1, out->pin, sizeof(out->pin));
    if (rc == SOTTO_OK)
        rc = store_col_text(st, 2, out->username, sizeof(out->username));
    if (rc == SOTTO_OK && sqlite3_column_int64(st, 3) < 0)
        rc = SOTTO_ECORRUPT;
    if (rc == SOTTO_OK)
        out->registered_ms = (uint64_t)sqlite3_column_int64(st, 3);
    store_db_release(p, st);
    if (rc == SOTTO_OK && (!pin_ok(out->pin) || out->url[0] == '\0'))
        rc = SOTTO_ECORRUPT;
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* The username of the identity, the directory's and every uploaded mark: all cleared. */
static enum sotto_err registration_clear(struct store_profile *p)
{
    enum sotto_err rc;

    rc = store_db_exec(p, "UPDATE directory SET username = NULL, registered_ms = NULL");
    if (rc == SOTTO_OK)
        rc = store_db_exec(p, "UPDATE identity SET username = NULL");
    if (rc == SOTTO_OK)
        rc = store_db_exec(p, "UPDATE prekeys SET uploaded_ms = NULL "
                              "WHERE uploaded_ms IS NOT NULL");
    return rc;
}

/* Inserts or updates the one directory row; username NULL keeps the registration columns. */
static enum sotto_err directory_put(struct store_profile *p, const char *url, const char *pin,
                                    const char *username, uint64_t when_ms)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "INSERT INTO directory(id, url, pin, username, registered_ms) "
                          "VALUES(1, ?1, ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET "
                          "url = excluded.url, pin = excluded.pin, "
                          "username = coalesce(excluded.username, username), "
                          "registered_ms = coalesce(excluded.registered_ms, registered_ms)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, pin, -1, SQLITE_STATIC) != SQLITE_OK ||
        (username != NULL && (sqlite3_bind_text(st, 3, username, -1, SQLITE_STATIC) != SQLITE_OK ||
                              sqlite3_bind_int64(st, 4, (sqlite3_int64)when_ms) != SQLITE_OK)))
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

static enum sotto_err remember_run(struct store_profile *p, const char *url, const char *pin)
{
    struct store_directory cur;
    enum sotto_err rc = store_directory_get(p, &cur);

    if (rc != SOTTO_OK && rc != SOTTO_ENOENT)
        return rc;
    /* a registration belongs to its directory: another URL forgets it */
    if (rc == SOTTO_OK && strcmp(cur.url, url) != 0) {
        rc = registration_clear(p);
        if (rc != SOTTO_OK)
            return rc;
    }
    return directory_put(p, url, pin, NULL, 0);
}

enum sotto_err store_directory_remember(struct store_profile *p, const char *url, const char *pin)
{
    enum sotto_err rc;
    bool own;

    if (!url_ok(url) || !pin_ok(pin))
        return SOTTO_EINVAL;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, remember_run(p, url, pin));
}

static enum sotto_err identity_username(struct store_profile *p, const char *username)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p, "UPDATE identity SET username = ? WHERE id = 1", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (username != NULL && sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_run(p, st);
    if (rc == SOTTO_OK && sqlite3_changes(p->db) != 1)
        rc = SOTTO_ECORRUPT;
    return rc;
}

enum sotto_err store_set_username(struct store_profile *p, const char *username)
{
    if (username != NULL && !username_ok(username))
        return SOTTO_EINVAL;
    return identity_username(p, username);
}

/* Marks rows inside the caller's transaction. */
static enum sotto_err mark_rows(struct store_profile *p, const uint32_t *ids, size_t n,
                                uint64_t when_ms)
{
    sqlite3_stmt *st;
    enum sotto_err rc;
    bool row;

    rc = store_db_prepare(p, "UPDATE prekeys SET uploaded_ms = ?1 WHERE id = ?2", &st);
    for (size_t i = 0; rc == SOTTO_OK && i < n; i++) {
        sqlite3_reset(st);
        if (sqlite3_bind_int64(st, 1, (sqlite3_int64)when_ms) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, ids[i]) != SQLITE_OK)
            return store_db_bind_failed(p, st);
        rc = store_db_step(p, st, &row);
    }
    store_db_release(p, st);
    return rc;
}

static enum sotto_err registered_run(struct store_profile *p, const char *url, const char *pin,
                                     const char *username, uint64_t when_ms, const uint32_t *ids,
                                     size_t n)
{
    enum sotto_err rc = remember_run(p, url, pin);

    if (rc == SOTTO_OK)
        rc = directory_put(p, url, pin, username, when_ms);
    if (rc == SOTTO_OK)
        rc = identity_username(p, username);
    if (rc == SOTTO_OK)
        rc = mark_rows(p, ids, n, when_ms);
    return rc;
}

enum sotto_err store_directory_registered(struct store_profile *p, const char *url, const char *pin,
                                          const char *username, uint64_t when_ms,
                                          const uint32_t *ids, size_t n)
{
    enum sotto_err rc;
    bool own;

    if (!url_ok(url) || !pin_ok(pin) || !username_ok(username) || (n > 0 && ids == NULL) ||
        when_ms > INT64_MAX)
        return SOTTO_EINVAL;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, registered_run(p, url, pin, username, when_ms, ids, n));
}

enum sotto_err store_directory_forget_registration(struct store_profile *p)
{
    bool own;
    enum sotto_err rc = store_op_begin(p, &own);

    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, registration_clear(p));
}

/* ---- prekeys for the directory ---- */

static enum sotto_err prekey_id_col(sqlite3_stmt *st, int col, uint32_t *id)
{
    int64_t v = sqlite3_column_int64(st, col);

    if (v < 1 || v > PREKEY_ID_MAX)
        return SOTTO_ECORRUPT;
    *id = (uint32_t)v;
    return SOTTO_OK;
}

enum sotto_err store_signed_prekey_public(struct store_profile *p,
                                          struct store_signed_prekey_pub *out)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_db_row(p,
                      "SELECT id, public_key, signature FROM signed_prekeys "
                      "ORDER BY id DESC LIMIT 1",
                      &st, SOTTO_ECORRUPT);
    if (rc != SOTTO_OK)
        return rc;
    rc = prekey_id_col(st, 0, &out->id);
    if (rc == SOTTO_OK)
        rc = store_col_blob(st, 1, out->key, E2E_KEY_LEN);
    if (rc == SOTTO_OK)
        rc = store_col_blob(st, 2, out->sig, E2E_SIG_LEN);
    store_db_release(p, st);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err store_prekeys_public(struct store_profile *p, bool pending_only,
                                    struct store_prekey_pub *out, size_t max, size_t *n)
{
    sqlite3_stmt *st;
    enum sotto_err rc;
    bool row = true;

    *n = 0;
    rc = store_db_prepare(p,
                          pending_only ? "SELECT id, public_key FROM prekeys "
                                         "WHERE uploaded_ms IS NULL ORDER BY id"
                                       : "SELECT id, public_key FROM prekeys ORDER BY id",
                          &st);
    while (rc == SOTTO_OK && *n < max) {
        rc = store_db_step(p, st, &row);
        if (rc != SOTTO_OK || !row)
            break;
        rc = prekey_id_col(st, 0, &out[*n].id);
        if (rc == SOTTO_OK)
            rc = store_col_blob(st, 1, out[*n].key, E2E_KEY_LEN);
        if (rc == SOTTO_OK)
            (*n)++;
    }
    store_db_release(p, st);
    if (rc != SOTTO_OK)
        *n = 0;
    return rc;
}

enum sotto_err store_prekeys_mark_uploaded(struct store_profile *p, const uint32_t *ids, size_t n,
                                           uint64_t when_ms)
{
    enum sotto_err rc;
    bool own;

    if ((n > 0 && ids == NULL) || when_ms > INT64_MAX)
        return SOTTO_EINVAL;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    return store_op_end(p, own, mark_rows(p, ids, n, when_ms));
}

struct prekey_add {
    struct store_profile *p;
    uint32_t first, last;
    unsigned made;
};

/* Seals a new prekey's record (it holds the private key) under its row, as seal.c does for the
 * first ones, and stores it as not uploaded. */
static enum sotto_err prekey_add_one(void *arg, const struct e2e_prekey *pk)
{
    struct prekey_add *job = arg;
    struct store_profile *p = job->p;
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_seal(p->env, p->datakey, "prekeys", pk->id, pk->record, pk->record_len, &sealed,
                    &sealed_len);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(p, "INSERT INTO prekeys(id, public_key, record) VALUES(?1, ?2, ?3)", &st);
    if (rc != SOTTO_OK)
        goto out;
    if (sqlite3_bind_int64(st, 1, pk->id) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, pk->pub, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 3, sealed, (int)sealed_len, SQLITE_STATIC) != SQLITE_OK)
        rc = store_db_bind_failed(p, st);
    else
        rc = store_db_run(p, st);
    if (rc == SOTTO_OK && job->made++ == 0)
        job->first = pk->id;
    job->last = pk->id;
out:
    sotto_free(p->env, sealed);
    return rc;
}

/* The id to start from: the one recorded, else one past the highest stored. */
static enum sotto_err prekey_next_id(struct store_profile *p, uint32_t *next)
{
    int64_t v;
    enum sotto_err rc =
            store_db_query_int(p,
                               "SELECT coalesce((SELECT next_id FROM prekey_state WHERE id = 1),"
                               " (SELECT coalesce(max(id), 0) % 16777214 + 1 FROM prekeys))",
                               &v);

    if (rc == SOTTO_OK && (v < 1 || v > PREKEY_ID_MAX))
        rc = SOTTO_ECORRUPT;
    *next = rc == SOTTO_OK ? (uint32_t)v : 0;
    return rc;
}

static enum sotto_err prekey_next_set(struct store_profile *p, uint32_t next)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p, "INSERT OR REPLACE INTO prekey_state(id, next_id) VALUES(1, ?)", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, next) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

static enum sotto_err prekeys_add_run(struct prekey_add *job, struct e2e_ctx *e2e, unsigned count)
{
    uint32_t start;
    enum sotto_err rc = prekey_next_id(job->p, &start);

    if (rc != SOTTO_OK)
        return rc;
    rc = e2e_prekeys_generate(e2e, start, count, prekey_add_one, job);
    if (rc == SOTTO_OK && job->made != count)
        rc = SOTTO_ECRYPTO;
    if (rc != SOTTO_OK)
        return rc;
    return prekey_next_set(job->p, job->last % PREKEY_ID_MAX + 1);
}

enum sotto_err store_prekeys_add(struct store_profile *p, struct e2e_ctx *e2e, unsigned count,
                                 uint32_t *first_id)
{
    struct prekey_add job = {.p = p};
    enum sotto_err rc;
    bool own;

    *first_id = 0;
    if (e2e == NULL || count == 0 || count > PREKEYS_ADD_MAX || p->datakey == NULL)
        return SOTTO_EINVAL;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_op_end(p, own, prekeys_add_run(&job, e2e, count));
    if (rc == SOTTO_OK)
        *first_id = job.first;
    return rc;
}

/* ---- contacts from the directory ---- */

struct from_dir {
    struct store_profile *p;
    const struct store_dir_account *a;
    bool accept_new_key;
    char *addrs;                  /* owned: the account's addresses as a JSON array */
    struct store_contact by_key;  /* the contact with the account's key, when has_key */
    struct store_contact by_user; /* the one with its username confirmed, when has_user */
    bool has_key, has_user;
    sqlite3_int64 now;
    enum store_import_result what;
};

/* The caller checked the account; still refuse what would store a bad row. */
static enum sotto_err account_check(const struct store_dir_account *a)
{
    if (a == NULL || !username_ok(a->username) || a->n_addrs > CARD_ADDRS_MAX ||
        identity_number_check(a->key, a->number) != SOTTO_OK ||
        e2e_pubkey_check(a->key) != SOTTO_OK)
        return SOTTO_EINVAL;
    for (size_t i = 0; i < a->n_addrs; i++)
        if (strnlen(a->addrs[i], sizeof(a->addrs[i])) == sizeof(a->addrs[i]) ||
            identity_card_check_address(a->addrs[i]) != SOTTO_OK)
            return SOTTO_EINVAL;
    return SOTTO_OK;
}

/* The contact holding `number` (contacts.number is unique), read in full. */
static enum sotto_err contact_by_number(struct store_profile *p, uint64_t number,
                                        struct store_contact *c)
{
    struct store_contact found[STORE_MATCH_MAX];
    char digits[NUMBER_DIGITS_LEN];
    size_t n = 0;
    enum sotto_err rc;

    identity_number_digits(number, digits);
    rc = store_contact_find(p, digits, found, &n);
    if (rc != SOTTO_OK)
        return rc;
    if (n != 1 || found[0].number != number)
        return SOTTO_ECORRUPT;
    *c = found[0];
    return SOTTO_OK;
}

/* The contact whose key (by_key) or confirmed username is the account's. */
static enum sotto_err contact_with(struct from_dir *fd, bool by_key, struct store_contact *c,
                                   bool *found)
{
    sqlite3_stmt *st;
    int64_t number;
    enum sotto_err rc;
    int brc;

    *found = false;
    rc = store_db_prepare(fd->p,
                          by_key ? "SELECT number FROM contacts WHERE public_key = ?"
                                 : "SELECT number FROM contacts WHERE username = ?",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    brc = by_key ? sqlite3_bind_blob(st, 1, fd->a->key, E2E_KEY_LEN, SQLITE_STATIC)
                 : sqlite3_bind_text(st, 1, fd->a->username, -1, SQLITE_STATIC);
    if (brc != SQLITE_OK)
        return store_db_bind_failed(fd->p, st);
    rc = store_db_step(fd->p, st, found);
    number = *found ? sqlite3_column_int64(st, 0) : 0;
    store_db_release(fd->p, st);
    if (rc != SOTTO_OK || !*found)
        return rc;
    return contact_by_number(fd->p, (uint64_t)number, c);
}

/* The directory gave the username to another key: the contact that had it loses it. */
static enum sotto_err username_release(struct from_dir *fd)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(
            fd->p, "UPDATE contacts SET username = NULL, updated_ms = ?1 WHERE id = ?2", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, fd->now) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, fd->by_user.id) != SQLITE_OK)
        return store_db_bind_failed(fd->p, st);
    return store_db_run(fd->p, st);
}

static bool refresh_needed(const struct store_contact *c, const struct store_dir_account *a)
{
    if (strcmp(c->username, a->username) != 0 || c->n_addrs != a->n_addrs)
        return true;
    for (size_t i = 0; i < a->n_addrs; i++)
        if (strcmp(c->addrs[i], a->addrs[i]) != 0)
            return true;
    return false;
}

/* Same key: the username is confirmed and the addresses refreshed; the name stays the user's. */
static enum sotto_err contact_refresh(struct from_dir *fd)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    fd->what = STORE_IMPORT_UNCHANGED;
    if (!refresh_needed(&fd->by_key, fd->a))
        return SOTTO_OK;
    fd->what = STORE_IMPORT_UPDATED;
    rc = store_db_prepare(fd->p,
                          "UPDATE contacts SET username = ?1, addresses = ?2, updated_ms = ?3 "
                          "WHERE id = ?4",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(st, 1, fd->a->username, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, fd->addrs, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, fd->now) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, fd->by_key.id) != SQLITE_OK)
        return store_db_bind_failed(fd->p, st);
    return store_contact_write(fd->p, st);
}

/* The contact of the username moves to the directory's key: the old key goes to its history,
 * the verified mark and the claim of the old key's card go. */
static enum sotto_err contact_move(struct from_dir *fd)
{
    const struct store_dir_account *a = fd->a;
    sqlite3_stmt *st;
    enum sotto_err rc;

    fd->what = STORE_IMPORT_KEY_REPLACED;
    rc = store_contact_key_to_history(fd->p, fd->by_user.id, fd->now);
    if (rc == SOTTO_OK)
        rc = store_outbox_follow(fd->p, fd->by_user.key, a->key);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_prepare(fd->p,
                          "UPDATE contacts SET public_key = ?1, number = ?2, "
                          "claimed_username = NULL, addresses = ?3, verified = 0, "
                          "key_added_ms = ?4, updated_ms = ?4 WHERE id = ?5",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, a->key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)a->number) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, fd->addrs, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, fd->now) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, fd->by_user.id) != SQLITE_OK)
        return store_db_bind_failed(fd->p, st);
    return store_contact_write(fd->p, st);
}

static enum sotto_err contact_add(struct from_dir *fd)
{
    const struct store_dir_account *a = fd->a;
    sqlite3_stmt *st;
    enum sotto_err rc;

    fd->what = STORE_IMPORT_ADDED;
    rc = store_db_prepare(fd->p,
                          "INSERT INTO contacts(name, username, number, public_key, addresses, "
                          "key_added_ms, added_ms, updated_ms) "
                          "VALUES(?1, ?1, ?2, ?3, ?4, ?5, ?5, ?5)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(st, 1, a->username, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)a->number) != SQLITE_OK ||
        sqlite3_bind_blob(st, 3, a->key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, fd->addrs, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, fd->now) != SQLITE_OK)
        return store_db_bind_failed(fd->p, st);
    return store_contact_write(fd->p, st);
}

static enum sotto_err from_dir_run(struct from_dir *fd)
{
    enum sotto_err rc = store_refuse_own_key(fd->p, fd->a->key);

    if (rc == SOTTO_OK)
        rc = contact_with(fd, true, &fd->by_key, &fd->has_key);
    if (rc == SOTTO_OK)
        rc = contact_with(fd, false, &fd->by_user, &fd->has_user);
    if (rc != SOTTO_OK)
        return rc;
    if (fd->has_key) {
        if (fd->has_user && fd->by_user.id != fd->by_key.id) {
            rc = username_release(fd);
            if (rc != SOTTO_OK)
                return rc;
        }
        return contact_refresh(fd);
    }
    if (!fd->has_user)
        return contact_add(fd);
    if (fd->by_user.verified && !fd->accept_new_key)
        return SOTTO_EKEYCHANGED;
    return contact_move(fd);
}

enum sotto_err store_contact_from_directory(struct store_profile *p,
                                            const struct store_dir_account *a, bool accept_new_key,
                                            struct store_contact *result,
                                            struct store_contact *previous,
                                            enum store_import_result *what)
{
    struct from_dir fd = {.p = p, .a = a, .accept_new_key = accept_new_key};
    struct store_contact stored;
    enum sotto_err rc = account_check(a);
    bool own;

    if (result != NULL)
        memset(result, 0, sizeof(*result));
    if (previous != NULL)
        memset(previous, 0, sizeof(*previous));
    if (rc != SOTTO_OK)
        return rc;
    fd.now = (sqlite3_int64)sotto_now_ms(p->env);
    rc = store_addrs_json(p->env, a->addrs, a->n_addrs, &fd.addrs);
    if (rc == SOTTO_OK)
        rc = store_op_begin(p, &own);
    if (rc == SOTTO_OK) {
        rc = from_dir_run(&fd);
        if (rc == SOTTO_OK)
            rc = contact_by_number(p, a->number, &stored);
        rc = store_op_end(p, own, rc);
    }
    sotto_free(p->env, fd.addrs);
    if (previous != NULL && fd.has_user && !fd.has_key &&
        (rc == SOTTO_EKEYCHANGED || (rc == SOTTO_OK && fd.what == STORE_IMPORT_KEY_REPLACED)))
        *previous = fd.by_user;
    if (rc == SOTTO_OK && result != NULL)
        *result = stored;
    if (rc == SOTTO_OK && what != NULL)
        *what = fd.what;
    return rc;
}
