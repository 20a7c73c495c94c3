/* tests/unit/store/test_directory.c: what the profile keeps about the directory (schema 2): the
 * remembered directory and its pin, the registration, prekeys for uploads and top-ups, and
 * contacts as the directory publishes them, with a changed key never taken silently from a
 * verified contact. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "identity/number.h"
#include "store/store_int.h"
#include "store_test.h"

#define URL  "https://dir.example:8443"
#define URL2 "https://other.example"
#define PIN  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PIN2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static struct store_profile *prof;

static void dir_init(void)
{
    store_fx_init();
    store_fx_create(NULL);
    prof = store_fx_open();
}

static void dir_fini(void)
{
    store_profile_close(prof);
    store_fx_fini();
}

TestSuite(store_directory, .init = dir_init, .fini = dir_fini);

static int64_t db_int(const char *sql)
{
    int64_t v = -1;

    cr_assert_eq(store_db_query_int(prof, sql, &v), SOTTO_OK, "%s", sql);
    return v;
}

/* ---- schema ---- */

Test(store_directory, a_profile_made_at_schema_1_is_migrated_with_its_prekeys_kept)
{
    store_profile_close(prof);
    prof = NULL;
    raw_exec(fx.home, "DROP TABLE outbox; DROP TABLE received; DROP TABLE messages;"
                      "DROP TABLE contact_holds; DROP TABLE sender_keys; DROP TABLE sessions;"
                      "DROP TABLE directory; DROP TABLE prekey_state;"
                      "ALTER TABLE prekeys DROP COLUMN uploaded_ms; PRAGMA user_version = 1;");
    prof = store_fx_open();
    cr_assert_eq(raw_int(fx.home, "PRAGMA user_version"), PROFILE_SCHEMA_VERSION);
    cr_assert_eq(db_int("SELECT count(*) FROM prekeys WHERE uploaded_ms IS NULL"), TEST_PREKEYS);
    cr_assert_eq(db_int("SELECT count(*) FROM directory"), 0);
}

/* ---- the remembered directory ---- */

Test(store_directory, a_new_profile_remembers_no_directory)
{
    struct store_directory d;

    cr_assert_eq(store_directory_get(prof, &d), SOTTO_ENOENT);
    cr_assert_str_empty(d.url);
}

Test(store_directory, remembers_a_directory_and_its_pin)
{
    struct store_directory d;

    cr_assert_eq(store_directory_remember(prof, URL, PIN), SOTTO_OK);
    cr_assert_eq(store_directory_get(prof, &d), SOTTO_OK);
    cr_assert_str_eq(d.url, URL);
    cr_assert_str_eq(d.pin, PIN);
    cr_assert_str_empty(d.username);
    cr_assert_eq(d.registered_ms, 0);
}

Test(store_directory, refuses_a_pin_that_is_not_64_lowercase_hex_digits)
{
    static const char *const bad[] = {
            "", "0011", PIN "0", "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
            "g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"};
    struct store_directory d;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(store_directory_remember(prof, URL, bad[i]), SOTTO_EINVAL, "%s", bad[i]);
    cr_assert_eq(store_directory_remember(prof, "", PIN), SOTTO_EINVAL);
    cr_assert_eq(store_directory_get(prof, &d), SOTTO_ENOENT);
}

static void register_at(const char *url, const char *username)
{
    uint32_t ids[] = {1, 2, 3};

    cr_assert_eq(store_directory_registered(prof, url, PIN, username, 1234, ids, 3), SOTTO_OK);
}

Test(store_directory, a_registration_sets_the_username_and_marks_the_prekeys_given)
{
    struct store_directory d;
    struct store_self self;

    register_at(URL, "alice");
    cr_assert_eq(store_directory_get(prof, &d), SOTTO_OK);
    cr_assert_str_eq(d.username, "alice");
    cr_assert_eq(d.registered_ms, 1234);
    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    cr_assert_str_eq(self.username, "alice");
    cr_assert_eq(db_int("SELECT count(*) FROM prekeys WHERE uploaded_ms = 1234"), 3);
}

Test(store_directory, a_new_pin_for_the_same_directory_keeps_the_registration)
{
    struct store_directory d;

    register_at(URL, "alice");
    cr_assert_eq(store_directory_remember(prof, URL, PIN2), SOTTO_OK);
    cr_assert_eq(store_directory_get(prof, &d), SOTTO_OK);
    cr_assert_str_eq(d.pin, PIN2);
    cr_assert_str_eq(d.username, "alice");
}

Test(store_directory, another_directory_forgets_the_registration)
{
    struct store_directory d;
    struct store_self self;

    register_at(URL, "alice");
    cr_assert_eq(store_directory_remember(prof, URL2, PIN2), SOTTO_OK);
    cr_assert_eq(store_directory_get(prof, &d), SOTTO_OK);
    cr_assert_str_eq(d.url, URL2);
    cr_assert_str_empty(d.username);
    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    cr_assert_str_empty(self.username);
    cr_assert_eq(db_int("SELECT count(*) FROM prekeys WHERE uploaded_ms IS NOT NULL"), 0);
}

Test(store_directory, forgetting_the_registration_keeps_the_directory_and_pin)
{
    struct store_directory d;
    struct store_self self;

    register_at(URL, "alice");
    cr_assert_eq(store_directory_forget_registration(prof), SOTTO_OK);
    cr_assert_eq(store_directory_get(prof, &d), SOTTO_OK);
    cr_assert_str_eq(d.url, URL);
    cr_assert_str_eq(d.pin, PIN);
    cr_assert_str_empty(d.username);
    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    cr_assert_str_empty(self.username);
    cr_assert_eq(db_int("SELECT count(*) FROM prekeys WHERE uploaded_ms IS NOT NULL"), 0);
}

Test(store_directory, a_registration_with_a_bad_username_changes_nothing)
{
    uint8_t before[32];
    uint32_t ids[] = {1};

    dir_digest(fx.home, before);
    cr_assert_eq(store_directory_registered(prof, URL, PIN, "Alice", 1, ids, 1), SOTTO_EINVAL);
    cr_assert_eq(store_directory_registered(prof, URL, PIN, "1alice", 1, ids, 1), SOTTO_EINVAL);
    cr_assert_eq(store_set_username(prof, "a"), SOTTO_EINVAL);
    assert_dir_same(fx.home, before, "a refused registration");
}

Test(store_directory, the_username_can_be_set_and_cleared)
{
    struct store_self self;

    cr_assert_eq(store_set_username(prof, "bob.b"), SOTTO_OK);
    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    cr_assert_str_eq(self.username, "bob.b");
    cr_assert_eq(store_set_username(prof, NULL), SOTTO_OK);
    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    cr_assert_str_empty(self.username);
}

/* ---- prekeys ---- */

Test(store_directory, the_signed_prekey_is_read_without_unlocking)
{
    struct store_signed_prekey_pub spk;
    uint8_t zero[E2E_SIG_LEN] = {0};

    cr_assert_eq(store_signed_prekey_public(prof, &spk), SOTTO_OK);
    cr_assert_eq(spk.id, 1);
    cr_assert_eq(e2e_pubkey_check(spk.key), SOTTO_OK);
    cr_assert_neq(memcmp(spk.sig, zero, sizeof(zero)), 0);
}

Test(store_directory, pending_prekeys_are_those_not_given_to_the_directory)
{
    struct store_prekey_pub pk[16];
    uint32_t given[] = {2, 4};
    size_t n = 99;

    cr_assert_eq(store_prekeys_public(prof, false, pk, 16, &n), SOTTO_OK);
    cr_assert_eq(n, TEST_PREKEYS);
    cr_assert_eq(pk[0].id, 1);
    cr_assert_eq(e2e_pubkey_check(pk[0].key), SOTTO_OK);
    cr_assert_eq(store_prekeys_mark_uploaded(prof, given, 2, 77), SOTTO_OK);
    cr_assert_eq(store_prekeys_public(prof, true, pk, 16, &n), SOTTO_OK);
    cr_assert_eq(n, TEST_PREKEYS - 2);
    for (size_t i = 0; i < n; i++)
        cr_assert(pk[i].id != 2 && pk[i].id != 4);
    cr_assert_eq(store_prekeys_public(prof, false, pk, 2, &n), SOTTO_OK);
    cr_assert_eq(n, 2, "at most max are filled");
}

Test(store_directory, new_prekeys_need_the_profile_unlocked)
{
    uint32_t first = 9;

    cr_assert_eq(store_prekeys_add(prof, fx.e2e, 3, &first), SOTTO_EINVAL);
    cr_assert_eq(first, 0);
    cr_assert_eq(db_int("SELECT count(*) FROM prekeys"), TEST_PREKEYS);
}

Test(store_directory, new_prekeys_follow_the_highest_id_and_are_pending)
{
    struct store_prekey_pub pk[16];
    uint32_t first = 0;
    size_t n = 0;

    cr_assert_eq(store_profile_unlock(prof, NULL, 0), SOTTO_OK);
    raw_exec(fx.home, "UPDATE prekeys SET uploaded_ms = 1");
    cr_assert_eq(store_prekeys_add(prof, fx.e2e, 3, &first), SOTTO_OK);
    cr_assert_eq(first, TEST_PREKEYS + 1);
    cr_assert_eq(store_prekeys_public(prof, true, pk, 16, &n), SOTTO_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(pk[2].id, TEST_PREKEYS + 3);
    cr_assert_eq(db_int("SELECT count(*) FROM prekeys WHERE length(record) > 33"), TEST_PREKEYS + 3,
                 "each new prekey keeps its sealed record");
}

Test(store_directory, a_prekey_id_is_never_reused_after_its_prekey_was_deleted)
{
    uint32_t first = 0;

    cr_assert_eq(store_profile_unlock(prof, NULL, 0), SOTTO_OK);
    cr_assert_eq(store_prekeys_add(prof, fx.e2e, 2, &first), SOTTO_OK);
    raw_exec(fx.home, "DELETE FROM prekeys WHERE id >= 6");
    cr_assert_eq(store_prekeys_add(prof, fx.e2e, 1, &first), SOTTO_OK);
    cr_assert_eq(first, TEST_PREKEYS + 3);
}

Test(store_directory, new_prekeys_can_be_opened_with_the_data_key)
{
    uint8_t plain[256];
    size_t len = 0;
    uint32_t first = 0;
    sqlite3_stmt *st;

    cr_assert_eq(store_profile_unlock(prof, NULL, 0), SOTTO_OK);
    cr_assert_eq(store_prekeys_add(prof, fx.e2e, 1, &first), SOTTO_OK);
    cr_assert_eq(
            sqlite3_prepare_v2(prof->db, "SELECT record FROM prekeys WHERE id = ?", -1, &st, NULL),
            SQLITE_OK);
    sqlite3_bind_int64(st, 1, first);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(store_unseal(prof->datakey, "prekeys", first, sqlite3_column_blob(st, 0),
                              (size_t)sqlite3_column_bytes(st, 0), plain, sizeof(plain), &len),
                 SOTTO_OK, "sealed under its own row");
    sqlite3_finalize(st);
    cr_assert_gt(len, 32);
    sodium_memzero(plain, sizeof(plain));
}

/* ---- contacts from the directory ---- */

static void account_make(struct store_dir_account *a, const char *username, size_t n_addrs)
{
    struct identity_card c;

    card_make(&c, username, username, n_addrs);
    memset(a, 0, sizeof(*a));
    snprintf(a->username, sizeof(a->username), "%s", username);
    a->number = c.number;
    memcpy(a->key, c.key, E2E_KEY_LEN);
    a->n_addrs = c.n_addrs;
    memcpy(a->addrs, c.addrs, sizeof(a->addrs));
}

static enum store_import_result from_dir(const struct store_dir_account *a, bool accept,
                                         struct store_contact *c, struct store_contact *prev)
{
    enum store_import_result what = (enum store_import_result) - 1;
    enum sotto_err rc = store_contact_from_directory(prof, a, accept, c, prev, &what);

    cr_assert_eq(rc, SOTTO_OK, "%s", sotto_errname(rc));
    return what;
}

Test(store_directory, a_looked_up_account_becomes_a_contact_with_a_confirmed_username)
{
    struct store_dir_account a;
    struct store_contact c, prev, found[STORE_MATCH_MAX];
    size_t n = 0;

    account_make(&a, "carol", 2);
    cr_assert_eq(from_dir(&a, false, &c, &prev), STORE_IMPORT_ADDED);
    cr_assert_str_eq(c.name, "carol");
    cr_assert_str_eq(c.username, "carol");
    cr_assert_str_empty(c.claimed_username);
    cr_assert_eq(c.number, a.number);
    cr_assert_not(c.verified);
    cr_assert_eq(c.n_addrs, 2);
    cr_assert_str_eq(c.addrs[1], a.addrs[1]);
    cr_assert_eq(store_contact_find(prof, "CAROL", found, &n), SOTTO_OK);
    cr_assert_eq(n, 1, "found by its confirmed username");
}

Test(store_directory, a_second_lookup_refreshes_the_addresses_and_keeps_the_name)
{
    struct store_dir_account a;
    struct store_contact c, prev;

    account_make(&a, "carol", 1);
    from_dir(&a, false, &c, &prev);
    raw_exec(fx.home, "UPDATE contacts SET name = 'Carol from work'");
    cr_assert_eq(from_dir(&a, false, &c, &prev), STORE_IMPORT_UNCHANGED);
    snprintf(a.addrs[0], sizeof(a.addrs[0]), "203.0.113.9:1");
    cr_assert_eq(from_dir(&a, false, &c, &prev), STORE_IMPORT_UPDATED);
    cr_assert_str_eq(c.addrs[0], "203.0.113.9:1");
    cr_assert_str_eq(c.name, "Carol from work");
}

Test(store_directory, a_contact_from_a_card_gets_its_username_confirmed)
{
    struct identity_card card;
    struct store_dir_account a;
    struct store_contact c, prev;

    card_make(&card, "Dave", "dave", 0);
    cr_assert_eq(store_contact_import_card(prof, &card, NULL, false, &c, &prev, NULL), SOTTO_OK);
    cr_assert_str_empty(c.username);
    account_make(&a, "dave", 0);
    a.number = card.number;
    memcpy(a.key, card.key, E2E_KEY_LEN);
    cr_assert_eq(from_dir(&a, false, &c, &prev), STORE_IMPORT_UPDATED);
    cr_assert_str_eq(c.username, "dave");
    cr_assert_str_eq(c.claimed_username, "dave");
    cr_assert_str_eq(c.name, "Dave");
}

Test(store_directory, an_unverified_contact_moves_to_the_new_key_with_the_old_in_its_history)
{
    struct store_dir_account a, b;
    struct store_contact c, prev;

    account_make(&a, "erin", 0);
    from_dir(&a, false, &c, &prev);
    account_make(&b, "erin", 1);
    cr_assert_eq(from_dir(&b, false, &c, &prev), STORE_IMPORT_KEY_REPLACED);
    cr_assert_eq(memcmp(c.key, b.key, E2E_KEY_LEN), 0);
    cr_assert_eq(c.number, b.number);
    cr_assert_eq(memcmp(prev.key, a.key, E2E_KEY_LEN), 0, "previous is the contact as it was");
    cr_assert_eq(db_int("SELECT count(*) FROM contact_keys"), 1);
    cr_assert_eq(db_int("SELECT count(*) FROM contacts"), 1);
}

Test(store_directory, a_verified_contact_is_held_when_its_key_changes)
{
    struct store_dir_account a, b;
    struct store_contact c, prev, found[STORE_MATCH_MAX];
    size_t n = 0;

    account_make(&a, "frank", 0);
    from_dir(&a, false, &c, &prev);
    cr_assert_eq(store_contact_set_verified(prof, c.id, a.key, true), SOTTO_OK);
    account_make(&b, "frank", 0);
    cr_assert_eq(store_contact_from_directory(prof, &b, false, &c, &prev, NULL), SOTTO_EKEYCHANGED);
    cr_assert_eq(store_contact_find(prof, "frank", found, &n), SOTTO_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(memcmp(found[0].key, a.key, E2E_KEY_LEN), 0, "the stored key stays");
    cr_assert(found[0].verified, "and so does the verified mark");
    cr_assert_eq(db_int("SELECT count(*) FROM contact_keys"), 0);
    cr_assert_eq(memcmp(prev.key, a.key, E2E_KEY_LEN), 0, "previous shows the stored key");
    cr_assert(prev.verified);
    cr_assert_str_empty(c.name, "no result on failure");
}

Test(store_directory, accepting_a_verified_contacts_new_key_clears_the_mark)
{
    struct store_dir_account a, b;
    struct store_contact c, prev;

    account_make(&a, "grace", 0);
    from_dir(&a, false, &c, &prev);
    cr_assert_eq(store_contact_set_verified(prof, c.id, a.key, true), SOTTO_OK);
    account_make(&b, "grace", 0);
    cr_assert_eq(from_dir(&b, true, &c, &prev), STORE_IMPORT_KEY_REPLACED);
    cr_assert_not(c.verified);
    cr_assert(prev.verified);
    cr_assert_eq(memcmp(c.key, b.key, E2E_KEY_LEN), 0);
}

Test(store_directory, a_username_moves_to_the_contact_the_directory_gives_it_to)
{
    struct store_dir_account a, b;
    struct store_contact c, prev, found[STORE_MATCH_MAX];
    size_t n = 0;

    account_make(&a, "heidi", 0);
    from_dir(&a, false, &c, &prev);
    account_make(&b, "ivan", 0);
    from_dir(&b, false, &c, &prev);
    snprintf(b.username, sizeof(b.username), "heidi"); /* heidi's name went to ivan's key */
    cr_assert_eq(from_dir(&b, false, &c, &prev), STORE_IMPORT_UPDATED);
    cr_assert_str_eq(c.username, "heidi");
    cr_assert_eq(store_contact_find(prof, "heidi", found, &n), SOTTO_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(memcmp(found[0].key, b.key, E2E_KEY_LEN), 0);
    cr_assert_eq(db_int("SELECT count(*) FROM contacts WHERE username IS NULL"), 1);
}

Test(store_directory, our_own_account_is_not_a_contact)
{
    struct store_dir_account a;
    struct store_self self;

    account_make(&a, "me", 0);
    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    memcpy(a.key, self.key, E2E_KEY_LEN);
    a.number = self.number;
    cr_assert_eq(store_contact_from_directory(prof, &a, false, NULL, NULL, NULL), SOTTO_EINVAL);
    cr_assert_eq(db_int("SELECT count(*) FROM contacts"), 0);
}

Test(store_directory, an_account_whose_number_is_not_its_keys_is_refused)
{
    struct store_dir_account a;

    account_make(&a, "judy", 0);
    a.number = a.number == NUMBER_MAX ? NUMBER_MIN : a.number + 1;
    cr_assert_eq(store_contact_from_directory(prof, &a, false, NULL, NULL, NULL), SOTTO_EINVAL);
    account_make(&a, "Judy", 0);
    cr_assert_eq(store_contact_from_directory(prof, &a, false, NULL, NULL, NULL), SOTTO_EINVAL);
    account_make(&a, "judy", 1);
    snprintf(a.addrs[0], sizeof(a.addrs[0]), "no port");
    cr_assert_eq(store_contact_from_directory(prof, &a, false, NULL, NULL, NULL), SOTTO_EINVAL);
    cr_assert_eq(db_int("SELECT count(*) FROM contacts"), 0);
}

Test(store_directory, a_lookup_survives_every_allocation_failure)
{
    struct store_dir_account a;
    struct store_contact c, prev;
    enum sotto_err rc = SOTTO_ENOMEM;
    unsigned long n;

    account_make(&a, "kim", 2);
    for (n = 1; n < 1000 && rc != SOTTO_OK; n++) {
        fx.fa.calls = 0;
        fx.fa.failed = 0;
        fx.fa.fail_at = n;
        rc = store_contact_from_directory(prof, &a, false, &c, &prev, NULL);
        fx.fa.fail_at = 0;
        cr_assert(rc == SOTTO_OK || rc == SOTTO_ENOMEM, "allocation %lu: %s", n, sotto_errname(rc));
        cr_assert_eq(db_int("SELECT count(*) FROM contacts"), rc == SOTTO_OK ? 1 : 0);
    }
    cr_assert_eq(rc, SOTTO_OK);
}
