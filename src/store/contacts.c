/* src/store/contacts.c: the people of a profile: the user's own identity as stored, and
 * contacts: resolving what the user typed, listing, removal, the verified mark, and card import
 * with its rules for a changed key (DESIGN.md, "Trust"). */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "identity/number.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "store/store_int.h"

#define CONTACT_COLS                                                                               \
    "id, name, username, claimed_username, number, public_key, verified, addresses, added_ms, "    \
    "updated_ms"
#define CONTACT_ORDER " ORDER BY name COLLATE NOCASE, id"

/* ---- the user's own identity ---- */

static enum sotto_err self_identity_row(sqlite3_stmt *st, struct store_self *out)
{
    int64_t number = sqlite3_column_int64(st, 2), reg = sqlite3_column_int64(st, 4);
    enum sotto_err rc;

    if (number < (int64_t)NUMBER_MIN || number > (int64_t)NUMBER_MAX || reg <= 0 ||
        reg > (int64_t)UINT32_MAX || sqlite3_column_int64(st, 5) < 0)
        return SOTTO_ECORRUPT;
    out->number = (uint64_t)number;
    out->registration_id = (uint32_t)reg;
    out->created_ms = (uint64_t)sqlite3_column_int64(st, 5);
    rc = store_col_text(st, 0, out->name, sizeof(out->name));
    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_text(st, 1, out->username, sizeof(out->username));
    if (rc != SOTTO_OK)
        return rc;
    return store_col_blob(st, 3, out->key, E2E_KEY_LEN);
}

static enum sotto_err self_identity(struct store_profile *p, struct store_self *out)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_row(p,
                      "SELECT name, username, number, public_key, registration_id, "
                      "created_ms FROM identity WHERE id = 1",
                      &st, SOTTO_ECORRUPT);
    if (rc != SOTTO_OK)
        return rc;
    rc = self_identity_row(st, out);
    store_db_release(p, st);
    return rc;
}

static enum sotto_err self_address_row(void *arg, sqlite3_stmt *st)
{
    struct store_self *out = arg;

    if (out->n_addrs == CARD_ADDRS_MAX)
        return SOTTO_ECORRUPT;
    return store_col_text(st, 0, out->addrs[out->n_addrs++], CARD_ADDR_MAX + 1);
}

static enum sotto_err self_addresses(struct store_profile *p, struct store_self *out)
{
    sqlite3_stmt *st;
    enum sotto_err rc = store_db_prepare(p, "SELECT address FROM self_addresses ORDER BY pos", &st);

    if (rc != SOTTO_OK)
        return rc;
    return store_db_each(p, st, self_address_row, out);
}

enum sotto_err store_self_get(struct store_profile *p, struct store_self *out)
{
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = self_identity(p, out);
    if (rc != SOTTO_OK)
        goto out;
    rc = self_addresses(p, out);
out:
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

static enum sotto_err self_private_unseal(struct store_profile *p, uint8_t pub[static E2E_KEY_LEN],
                                          uint8_t priv[static E2E_PRIV_LEN])
{
    sqlite3_stmt *st;
    enum sotto_err rc;
    size_t len = 0;

    rc = store_db_row(p, "SELECT public_key, private_key FROM identity WHERE id = 1", &st,
                      SOTTO_ECORRUPT);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_blob(st, 0, pub, E2E_KEY_LEN);
    if (rc != SOTTO_OK)
        goto out;
    rc = SOTTO_ECORRUPT;
    if (sqlite3_column_type(st, 1) != SQLITE_BLOB)
        goto out;
    rc = store_unseal(p->datakey, "identity", 1, sqlite3_column_blob(st, 1),
                      (size_t)sqlite3_column_bytes(st, 1), priv, E2E_PRIV_LEN, &len);
    if (rc == SOTTO_OK && len != E2E_PRIV_LEN)
        rc = SOTTO_ECORRUPT;
out:
    store_db_release(p, st);
    return rc;
}

enum sotto_err store_self_private_key(struct store_profile *p, struct e2e_ctx *e2e,
                                      uint8_t priv[static E2E_PRIV_LEN])
{
    uint8_t pub[E2E_KEY_LEN], derived[E2E_KEY_LEN];
    enum sotto_err rc;

    if (p->datakey == NULL)
        return SOTTO_EINVAL; /* not unlocked: the caller broke the contract */
    rc = self_private_unseal(p, pub, priv);
    if (rc != SOTTO_OK)
        goto out;
    rc = e2e_public_from_private(e2e, priv, derived);
    if (rc != SOTTO_OK)
        goto out;
    if (sodium_memcmp(derived, pub, E2E_KEY_LEN) != 0) {
        log_warn(p->env->log, "%s: the private key does not belong to the public key", p->dir);
        rc = SOTTO_ECORRUPT;
    }
out:
    if (rc != SOTTO_OK)
        sodium_memzero(priv, E2E_PRIV_LEN);
    return rc;
}

enum sotto_err store_prekey_counts(struct store_profile *p, unsigned *one_time, unsigned *signed_)
{
    int64_t a, b;
    enum sotto_err rc;

    *one_time = 0;
    *signed_ = 0;
    rc = store_db_query_int(p, "SELECT count(*) FROM prekeys", &a);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_query_int(p, "SELECT count(*) FROM signed_prekeys", &b);
    if (rc != SOTTO_OK)
        return rc;
    *one_time = (unsigned)a;
    *signed_ = (unsigned)b;
    return SOTTO_OK;
}

/* ---- contact rows ---- */

static enum sotto_err addrs_parse(const char *text, size_t len, struct store_contact *c)
{
    json_error_t err;
    json_t *a = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err), *v;
    enum sotto_err rc = SOTTO_ECORRUPT;
    size_t i;

    if (a == NULL)
        return json_error_code(&err) == json_error_out_of_memory ? SOTTO_ENOMEM : SOTTO_ECORRUPT;
    if (!json_is_array(a) || json_array_size(a) > CARD_ADDRS_MAX)
        goto out;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (s == NULL || n > CARD_ADDR_MAX || memchr(s, '\0', n) != NULL)
            goto out;
        memcpy(c->addrs[i], s, n + 1);
        c->n_addrs = i + 1;
    }
    rc = SOTTO_OK;
out:
    json_decref(a);
    return rc;
}

/* A row of CONTACT_COLS. */
static enum sotto_err contact_row(sqlite3_stmt *st, struct store_contact *c)
{
    int64_t number = sqlite3_column_int64(st, 4);
    const unsigned char *addrs;
    enum sotto_err rc;

    memset(c, 0, sizeof(*c));
    if (number < (int64_t)NUMBER_MIN || number > (int64_t)NUMBER_MAX ||
        sqlite3_column_type(st, 7) != SQLITE_TEXT)
        return SOTTO_ECORRUPT;
    c->id = sqlite3_column_int64(st, 0);
    c->number = (uint64_t)number;
    c->verified = sqlite3_column_int64(st, 6) != 0;
    c->added_ms = (uint64_t)sqlite3_column_int64(st, 8);
    c->updated_ms = (uint64_t)sqlite3_column_int64(st, 9);
    rc = store_col_text(st, 1, c->name, sizeof(c->name));
    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_text(st, 2, c->username, sizeof(c->username));
    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_text(st, 3, c->claimed_username, sizeof(c->claimed_username));
    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_blob(st, 5, c->key, E2E_KEY_LEN);
    if (rc != SOTTO_OK)
        return rc;
    addrs = sqlite3_column_text(st, 7);
    if (addrs == NULL)
        return SOTTO_ENOMEM;
    return addrs_parse((const char *)addrs, (size_t)sqlite3_column_bytes(st, 7), c);
}

/* Reads up to `max` rows of `st` into out[], counting them in *n, and releases `st`. */
static enum sotto_err contacts_collect(struct store_profile *p, sqlite3_stmt *st,
                                       struct store_contact *out, size_t max, size_t *n)
{
    enum sotto_err rc = SOTTO_OK;
    bool row = true;

    *n = 0;
    while (*n < max) {
        rc = store_db_step(p, st, &row);
        if (rc != SOTTO_OK || !row)
            break;
        rc = contact_row(st, &out[*n]);
        if (rc != SOTTO_OK)
            break;
        (*n)++;
    }
    store_db_release(p, st);
    if (rc != SOTTO_OK)
        *n = 0;
    return rc;
}

/* Runs `sql` with one parameter: `text` when not NULL, else `num`. */
static enum sotto_err contacts_where(struct store_profile *p, const char *sql, const char *text,
                                     int64_t num, struct store_contact *out, size_t max, size_t *n)
{
    sqlite3_stmt *st;
    enum sotto_err rc;
    int brc;

    *n = 0;
    rc = store_db_prepare(p, sql, &st);
    if (rc != SOTTO_OK)
        return rc;
    if (text != NULL)
        brc = sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        brc = sqlite3_bind_int64(st, 1, num);
    if (brc != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return contacts_collect(p, st, out, max, n);
}

/* ---- lookups ---- */

/* The query as a username: lowercased, then checked. SOTTO_EPROTO when it cannot be one. */
static enum sotto_err username_from(const char *query, char out[static TEXT_USERNAME_MAX + 1])
{
    size_t len = strnlen(query, TEXT_USERNAME_MAX + 1);

    if (len > TEXT_USERNAME_MAX)
        return SOTTO_EPROTO;
    memcpy(out, query, len + 1);
    text_lower_ascii(out);
    return text_check_username((const uint8_t *)out, len);
}

enum sotto_err store_contact_find(struct store_profile *p, const char *query,
                                  struct store_contact out[static STORE_MATCH_MAX], size_t *n)
{
    char username[TEXT_USERNAME_MAX + 1];
    uint64_t number;
    enum sotto_err rc;

    *n = 0;
    if (query == NULL)
        return SOTTO_EINVAL;
    if (identity_number_parse(query, &number) == SOTTO_OK) {
        rc = contacts_where(p, "SELECT " CONTACT_COLS " FROM contacts WHERE number = ?", NULL,
                            (int64_t)number, out, STORE_MATCH_MAX, n);
        if (rc != SOTTO_OK || *n > 0)
            return rc;
    }
    /* a confirmed username only: a card's claim (claimed_username) is never matched, or anyone's
     * card could take over what the user types for another contact */
    if (username_from(query, username) == SOTTO_OK) {
        rc = contacts_where(p, "SELECT " CONTACT_COLS " FROM contacts WHERE username = ?", username,
                            0, out, STORE_MATCH_MAX, n);
        if (rc != SOTTO_OK || *n > 0)
            return rc;
    }
    return contacts_where(
            p, "SELECT " CONTACT_COLS " FROM contacts WHERE name = ? COLLATE NOCASE" CONTACT_ORDER,
            query, 0, out, STORE_MATCH_MAX, n);
}

struct contact_walk {
    struct store_contact c;
    enum sotto_err (*each)(void *arg, const struct store_contact *c);
    void *arg;
};

static enum sotto_err contact_walk_row(void *arg, sqlite3_stmt *st)
{
    struct contact_walk *w = arg;
    enum sotto_err rc = contact_row(st, &w->c);

    return rc == SOTTO_OK ? w->each(w->arg, &w->c) : rc;
}

enum sotto_err store_contacts_each(struct store_profile *p,
                                   enum sotto_err (*each)(void *arg, const struct store_contact *c),
                                   void *arg)
{
    struct contact_walk w = {.each = each, .arg = arg};
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p, "SELECT " CONTACT_COLS " FROM contacts" CONTACT_ORDER, &st);
    if (rc != SOTTO_OK)
        return rc;
    return store_db_each(p, st, contact_walk_row, &w);
}

enum sotto_err store_contact_get(struct store_profile *p, int64_t id, struct store_contact *out)
{
    size_t n;
    enum sotto_err rc = contacts_where(p, "SELECT " CONTACT_COLS " FROM contacts WHERE id = ?",
                                       NULL, id, out, 1, &n);

    return rc == SOTTO_OK && n == 0 ? SOTTO_ENOENT : rc;
}

enum sotto_err store_contact_remove(struct store_profile *p, int64_t id)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    /* contact_keys rows go with it: ON DELETE CASCADE */
    rc = store_db_prepare(p, "DELETE FROM contacts WHERE id = ?", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run_one(p, st);
}

/* The key is part of the WHERE clause, so that a key replaced since the user compared safety
 * numbers can never be marked verified; the check and the write are one statement. */
enum sotto_err store_contact_set_verified(struct store_profile *p, int64_t id,
                                          const uint8_t key[static E2E_KEY_LEN], bool verified)
{
    struct store_contact c;
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "UPDATE contacts SET verified = ?1, updated_ms = ?2 "
                          "WHERE id = ?3 AND public_key = ?4",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int(st, 1, verified ? 1 : 0) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, id) != SQLITE_OK ||
        sqlite3_bind_blob(st, 4, key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    rc = store_db_run_one(p, st);
    if (rc != SOTTO_ENOENT)
        return rc;
    /* no row changed: the contact is gone, or it has another key now */
    rc = store_contact_get(p, id, &c);
    return rc == SOTTO_OK ? SOTTO_EKEYCHANGED : rc;
}

/* ---- card import ---- */

struct import {
    struct store_profile *p;
    const struct identity_card *card;
    const char *as_name; /* the user's --contact NAME, or NULL */
    /* the name to match, then to store: as_name, else the card's; a contact found by key keeps
     * its own unless as_name is given */
    const char *name;
    bool accept_new_key;
    char *addrs;              /* owned: the card's addresses as a JSON array */
    struct store_contact cur; /* the matching contact, when found */
    bool found;
    int64_t id; /* the contact as stored */
    enum store_import_result what;
};

enum sotto_err store_addrs_json(const struct sotto_env *env, const char addrs[][CARD_ADDR_MAX + 1],
                                size_t n, char **out)
{
    json_t *a = json_array();
    size_t len;

    /* the addresses passed identity_card_check_address: a NULL json_string means no memory */
    *out = NULL;
    if (a == NULL)
        return SOTTO_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(a, json_string(addrs[i])) != 0)
            goto out;
    len = json_dumpb(a, NULL, 0, JSON_COMPACT);
    if (len == 0)
        goto out;
    *out = sotto_alloc(env, len + 1);
    if (*out == NULL)
        goto out;
    json_dumpb(a, *out, len, JSON_COMPACT);
    (*out)[len] = '\0';
out:
    json_decref(a);
    return *out != NULL ? SOTTO_OK : SOTTO_ENOMEM;
}

enum sotto_err store_refuse_own_key(struct store_profile *p, const uint8_t key[static E2E_KEY_LEN])
{
    uint8_t own[E2E_KEY_LEN];
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_row(p, "SELECT public_key FROM identity WHERE id = 1", &st, SOTTO_ECORRUPT);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_col_blob(st, 0, own, E2E_KEY_LEN);
    store_db_release(p, st);
    if (rc == SOTTO_OK && memcmp(own, key, E2E_KEY_LEN) == 0)
        rc = SOTTO_EINVAL;
    return rc;
}

enum sotto_err store_contact_write(struct store_profile *p, sqlite3_stmt *st)
{
    enum sotto_err rc = store_db_run(p, st);

    if (rc == SOTTO_EDB && sqlite3_extended_errcode(p->db) == SQLITE_CONSTRAINT_UNIQUE)
        rc = SOTTO_EEXIST;
    return rc;
}

enum sotto_err store_contact_key_to_history(struct store_profile *p, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "INSERT INTO contact_keys(contact_id, public_key, number, "
                          "first_seen_ms, replaced_ms) SELECT id, public_key, number, "
                          "key_added_ms, ?1 FROM contacts WHERE id = ?2",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, id) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

static bool text_field_ok(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

/* The card is said to be verified; still refuse what would store a bad row. */
static enum sotto_err import_check(const struct identity_card *card, const char *as_name)
{
    if (card == NULL || !text_field_ok(card->name, sizeof(card->name)) ||
        !text_field_ok(card->username, sizeof(card->username)) || card->n_addrs > CARD_ADDRS_MAX)
        return SOTTO_EINVAL;
    if (text_check_name((const uint8_t *)card->name, strlen(card->name)) != SOTTO_OK ||
        (card->username[0] != '\0' && text_check_username((const uint8_t *)card->username,
                                                          strlen(card->username)) != SOTTO_OK) ||
        identity_number_check(card->key, card->number) != SOTTO_OK)
        return SOTTO_EINVAL;
    if (as_name != NULL && text_check_name((const uint8_t *)as_name, strlen(as_name)) != SOTTO_OK)
        return SOTTO_EINVAL;
    for (size_t i = 0; i < card->n_addrs; i++)
        if (!text_field_ok(card->addrs[i], sizeof(card->addrs[i])) ||
            identity_card_check_address(card->addrs[i]) != SOTTO_OK)
            return SOTTO_EINVAL;
    return SOTTO_OK;
}

/* The contact the card is about: by key, else by name; two of that name is ambiguous. */
static enum sotto_err import_match(struct import *im)
{
    struct store_contact two[2];
    sqlite3_stmt *st;
    enum sotto_err rc;
    size_t n;

    rc = store_db_prepare(im->p, "SELECT " CONTACT_COLS " FROM contacts WHERE public_key = ?", &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_blob(st, 1, im->card->key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK)
        return store_db_bind_failed(im->p, st);
    rc = contacts_collect(im->p, st, two, 1, &n);
    if (rc != SOTTO_OK)
        return rc;
    if (n == 0) {
        rc = contacts_where(im->p,
                            "SELECT " CONTACT_COLS " FROM contacts WHERE name = ? COLLATE NOCASE",
                            im->name, 0, two, 2, &n);
        if (rc != SOTTO_OK)
            return rc;
    }
    if (n == 2)
        return SOTTO_EAMBIG;
    im->found = n == 1;
    if (im->found)
        im->cur = two[0];
    return SOTTO_OK;
}

static enum sotto_err import_add(struct import *im)
{
    const struct identity_card *card = im->card;
    sqlite3_int64 now = (sqlite3_int64)sotto_now_ms(im->p->env);
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(im->p,
                          "INSERT INTO contacts(name, claimed_username, number, public_key, "
                          "addresses, key_added_ms, added_ms, updated_ms) "
                          "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(st, 1, im->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        (card->username[0] != '\0' &&
         sqlite3_bind_text(st, 2, card->username, -1, SQLITE_STATIC) != SQLITE_OK) ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)card->number) != SQLITE_OK ||
        sqlite3_bind_blob(st, 4, card->key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 5, im->addrs, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, now) != SQLITE_OK)
        return store_db_bind_failed(im->p, st);
    rc = store_contact_write(im->p, st);
    im->id = sqlite3_last_insert_rowid(im->p->db);
    im->what = STORE_IMPORT_ADDED;
    return rc;
}

static bool import_changed(const struct import *im)
{
    const struct identity_card *card = im->card;

    if (strcmp(im->cur.name, im->name) != 0 ||
        strcmp(im->cur.claimed_username, card->username) != 0 || im->cur.n_addrs != card->n_addrs)
        return true;
    for (size_t i = 0; i < card->n_addrs; i++)
        if (strcmp(im->cur.addrs[i], card->addrs[i]) != 0)
            return true;
    return false;
}

/* Writes the card over the matched contact; with `new_key`, the key too, clearing the mark.
 * contacts.username, confirmed by the directory, is left as it is. */
static enum sotto_err import_update(struct import *im, bool new_key, sqlite3_int64 now)
{
    const struct identity_card *card = im->card;
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(im->p,
                          "UPDATE contacts SET name = ?1, claimed_username = ?2, addresses = ?3, "
                          "updated_ms = ?4, public_key = ?5, number = ?6, "
                          "verified = CASE WHEN ?7 THEN 0 ELSE verified END, "
                          "key_added_ms = CASE WHEN ?7 THEN ?4 ELSE key_added_ms END "
                          "WHERE id = ?8",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    if (sqlite3_bind_text(st, 1, im->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        (card->username[0] != '\0' &&
         sqlite3_bind_text(st, 2, card->username, -1, SQLITE_STATIC) != SQLITE_OK) ||
        sqlite3_bind_text(st, 3, im->addrs, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, now) != SQLITE_OK ||
        sqlite3_bind_blob(st, 5, card->key, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, (sqlite3_int64)card->number) != SQLITE_OK ||
        sqlite3_bind_int(st, 7, new_key ? 1 : 0) != SQLITE_OK ||
        sqlite3_bind_int64(st, 8, im->cur.id) != SQLITE_OK)
        return store_db_bind_failed(im->p, st);
    return store_contact_write(im->p, st);
}

/* Same key: refresh what changed. New key: keep the old one in the history and move. The
 * user's name for the contact wins over the card's: only as_name renames. The claimed username
 * is the card's as it is, none included: a claim belongs to the card that makes it, and after a
 * new key the old key's claim would be one that the new key never made. */
static enum sotto_err import_onto(struct import *im, bool new_key)
{
    sqlite3_int64 now = (sqlite3_int64)sotto_now_ms(im->p->env);
    enum sotto_err rc;

    im->id = im->cur.id;
    if (im->as_name == NULL)
        im->name = im->cur.name;
    if (!new_key && !import_changed(im)) {
        im->what = STORE_IMPORT_UNCHANGED;
        return SOTTO_OK;
    }
    im->what = new_key ? STORE_IMPORT_KEY_REPLACED : STORE_IMPORT_UPDATED;
    if (new_key) {
        rc = store_contact_key_to_history(im->p, im->cur.id, now);
        if (rc == SOTTO_OK)
            rc = store_outbox_follow(im->p, im->cur.key, im->card->key);
        if (rc != SOTTO_OK)
            return rc;
    }
    return import_update(im, new_key, now);
}

static enum sotto_err import_run(struct import *im)
{
    enum sotto_err rc = store_refuse_own_key(im->p, im->card->key);

    if (rc != SOTTO_OK)
        return rc;
    rc = import_match(im);
    if (rc != SOTTO_OK)
        return rc;
    if (!im->found)
        return import_add(im);
    if (memcmp(im->cur.key, im->card->key, E2E_KEY_LEN) == 0)
        return import_onto(im, false);
    if (!im->accept_new_key)
        return SOTTO_EKEYCHANGED;
    return import_onto(im, true);
}

/* Besides the header's contract: *previous is also filled on STORE_IMPORT_KEY_REPLACED (the
 * contact as it was). `result`, `previous` and `what` may be NULL. */
enum sotto_err store_contact_import_card(struct store_profile *p, const struct identity_card *card,
                                         const char *as_name, bool accept_new_key,
                                         struct store_contact *result,
                                         struct store_contact *previous,
                                         enum store_import_result *what)
{
    struct import im = {.p = p, .card = card, .as_name = as_name, .accept_new_key = accept_new_key};
    enum sotto_err rc = import_check(card, as_name);
    bool own;

    if (result != NULL)
        memset(result, 0, sizeof(*result));
    if (previous != NULL)
        memset(previous, 0, sizeof(*previous));
    if (rc != SOTTO_OK)
        return rc;
    im.name = as_name != NULL ? as_name : card->name;
    rc = store_addrs_json(p->env, card->addrs, card->n_addrs, &im.addrs);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_op_begin(p, &own);
    if (rc != SOTTO_OK)
        goto out;
    rc = import_run(&im);
    if (rc == SOTTO_OK && result != NULL)
        rc = store_contact_get(p, im.id, result);
    rc = store_op_end(p, own, rc);
out:
    sotto_free(p->env, im.addrs);
    if (previous != NULL && im.found &&
        (rc == SOTTO_EKEYCHANGED || (rc == SOTTO_OK && im.what == STORE_IMPORT_KEY_REPLACED)))
        *previous = im.cur;
    if (rc == SOTTO_OK && what != NULL)
        *what = im.what;
    if (rc != SOTTO_OK && result != NULL)
        memset(result, 0, sizeof(*result));
    return rc;
}
