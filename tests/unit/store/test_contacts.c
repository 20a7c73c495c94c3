/* tests/unit/store/test_contacts.c: card import adds, refreshes and guards contacts; a changed
 * key is never taken silently; a card's username is only a claim; the verified mark is tied to
 * a key; lookups resolve numbers, confirmed usernames and names in that order. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "identity/number.h"
#include "store/store_int.h"
#include "store_test.h"

static struct store_profile *prof;

static void contacts_init(void)
{
    store_fx_init();
    store_fx_create(NULL);
    prof = store_fx_open();
}

static void contacts_fini(void)
{
    store_profile_close(prof);
    store_fx_fini();
}

TestSuite(store_contacts, .init = contacts_init, .fini = contacts_fini);

static enum store_import_result import_ok(const struct identity_card *c, const char *as_name,
                                          bool accept, struct store_contact *result)
{
    enum store_import_result what = (enum store_import_result) - 1;
    struct store_contact prev;
    enum sotto_err rc;

    rc = store_contact_import_card(prof, c, as_name, accept, result, &prev, &what);
    cr_assert_eq(rc, SOTTO_OK, "import of %s: %s", c->name, sotto_errname(rc));
    return what;
}

static size_t find(const char *query, struct store_contact out[static STORE_MATCH_MAX])
{
    size_t n = 99;

    cr_assert_eq(store_contact_find(prof, query, out, &n), SOTTO_OK);
    return n;
}

/* Gives a contact a directory-confirmed username, as the directory lookup will (issue 3 has
 * no code that sets it). */
static void confirm_username(int64_t id, const char *username)
{
    sqlite3_stmt *st;

    cr_assert_eq(sqlite3_prepare_v2(prof->db, "UPDATE contacts SET username = ? WHERE id = ?", -1,
                                    &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_changes(prof->db), 1);
}

static int64_t history_count(int64_t id)
{
    char sql[128];
    int64_t n;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM contact_keys WHERE contact_id = %lld",
             (long long)id);
    cr_assert_eq(store_db_query_int(prof, sql, &n), SOTTO_OK);
    return n;
}

Test(store_contacts, adds_a_contact_from_a_card)
{
    struct identity_card c;
    struct store_contact got, found[STORE_MATCH_MAX];

    card_make(&c, "Bob", "bob", 2);
    cr_assert_eq(import_ok(&c, NULL, false, &got), STORE_IMPORT_ADDED);
    cr_assert_gt(got.id, 0);
    cr_assert_str_eq(got.name, "Bob");
    cr_assert_str_eq(got.claimed_username, "bob");
    cr_assert_str_eq(got.username, "", "a card's username is not confirmed");
    cr_assert_eq(got.number, c.number);
    cr_assert(memcmp(got.key, c.key, E2E_KEY_LEN) == 0);
    cr_assert_not(got.verified);
    cr_assert_eq(got.n_addrs, 2);
    cr_assert_str_eq(got.addrs[1], c.addrs[1]);
    cr_assert_eq(got.added_ms, fx.fa.now_ms);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert_eq(found[0].id, got.id);
}

Test(store_contacts, reimporting_the_same_card_changes_nothing)
{
    struct identity_card c;
    struct store_contact a, b;

    card_make(&c, "Bob", "", 1);
    import_ok(&c, NULL, false, &a);
    fx.fa.now_ms += 1000;
    cr_assert_eq(import_ok(&c, NULL, false, &b), STORE_IMPORT_UNCHANGED);
    cr_assert_eq(a.id, b.id);
    cr_assert_eq(b.updated_ms, a.updated_ms);
}

Test(store_contacts, a_card_with_new_addresses_updates_the_contact)
{
    struct identity_card c;
    struct store_contact a, b;

    card_make(&c, "Bob", "", 1);
    import_ok(&c, NULL, false, &a);
    snprintf(c.addrs[0], sizeof(c.addrs[0]), "bob.example:9000");
    fx.fa.now_ms += 1000;
    cr_assert_eq(import_ok(&c, NULL, false, &b), STORE_IMPORT_UPDATED);
    cr_assert_eq(a.id, b.id);
    cr_assert_str_eq(b.addrs[0], "bob.example:9000");
    cr_assert_eq(b.updated_ms, fx.fa.now_ms);
    c.n_addrs = 0;
    cr_assert_eq(import_ok(&c, NULL, false, &b), STORE_IMPORT_UPDATED);
    cr_assert_eq(b.n_addrs, 0);
    snprintf(c.username, sizeof(c.username), "bobby");
    cr_assert_eq(import_ok(&c, NULL, false, &b), STORE_IMPORT_UPDATED);
    cr_assert_str_eq(b.claimed_username, "bobby");
    cr_assert_str_eq(b.username, "");
    cr_assert_eq(import_ok(&c, NULL, false, &b), STORE_IMPORT_UNCHANGED);
}

Test(store_contacts, refuses_a_new_key_for_a_known_name_and_changes_nothing)
{
    struct identity_card c, forged;
    struct store_contact a, result, prev, found[STORE_MATCH_MAX];
    enum store_import_result what = STORE_IMPORT_ADDED;

    card_make(&c, "Bob", "bob", 1);
    import_ok(&c, NULL, false, &a);
    card_make(&forged, "Bob", "bob", 1);
    cr_assert_eq(store_contact_import_card(prof, &forged, NULL, false, &result, &prev, &what),
                 SOTTO_EKEYCHANGED);
    cr_assert_eq(prev.id, a.id, "the stored contact is given, to show both fingerprints");
    cr_assert(memcmp(prev.key, c.key, E2E_KEY_LEN) == 0);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert(memcmp(found[0].key, c.key, E2E_KEY_LEN) == 0);
    cr_assert_eq(history_count(a.id), 0);
}

Test(store_contacts, accepts_a_new_key_when_asked_and_keeps_the_old_one)
{
    struct identity_card c, renewed;
    struct store_contact a, result, prev;
    enum store_import_result what;

    card_make(&c, "Bob", "bob", 1);
    import_ok(&c, NULL, false, &a);
    confirm_username(a.id, "bob");
    cr_assert_eq(store_contact_set_verified(prof, a.id, c.key, true), SOTTO_OK);
    card_make(&renewed, "Bob", "", 1);
    cr_assert_eq(store_contact_import_card(prof, &renewed, NULL, true, &result, &prev, &what),
                 SOTTO_OK);
    cr_assert_eq(what, STORE_IMPORT_KEY_REPLACED);
    cr_assert_eq(result.id, a.id);
    cr_assert(memcmp(result.key, renewed.key, E2E_KEY_LEN) == 0);
    cr_assert_eq(result.number, renewed.number);
    cr_assert_not(result.verified, "a new key is not verified");
    cr_assert_str_eq(result.username, "bob", "the confirmed username is not the card's business");
    cr_assert_str_eq(result.claimed_username, "", "the old key's claim is not the new key's");
    cr_assert(memcmp(prev.key, c.key, E2E_KEY_LEN) == 0);
    cr_assert(prev.verified);
    cr_assert_eq(history_count(a.id), 1);
}

Test(store_contacts, as_name_selects_that_contact_or_creates_it)
{
    struct identity_card c, d;
    struct store_contact a, result, prev, found[STORE_MATCH_MAX];
    enum store_import_result what;

    card_make(&c, "Robert", "", 1);
    cr_assert_eq(import_ok(&c, "Bob", false, &a), STORE_IMPORT_ADDED);
    cr_assert_str_eq(a.name, "Bob", "the user's name for the contact wins");
    cr_assert_eq(find("Robert", found), 0);
    card_make(&d, "Rob", "", 1);
    cr_assert_eq(store_contact_import_card(prof, &d, "Bob", false, &result, &prev, &what),
                 SOTTO_EKEYCHANGED, "Bob exists with another key");
    cr_assert_eq(prev.id, a.id);
    cr_assert_eq(import_ok(&d, "Bob", true, &result), STORE_IMPORT_KEY_REPLACED);
    cr_assert_eq(result.id, a.id);
    cr_assert_str_eq(result.name, "Bob");
}

Test(store_contacts, refuses_our_own_card)
{
    struct identity_card c;
    struct store_self self;
    struct store_contact result, prev, found[STORE_MATCH_MAX];
    enum store_import_result what;

    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    card_make(&c, "Me", "", 0);
    memcpy(c.key, self.key, E2E_KEY_LEN);
    c.number = self.number;
    cr_assert_eq(store_contact_import_card(prof, &c, NULL, false, &result, &prev, &what),
                 SOTTO_EINVAL);
    cr_assert_eq(find("Me", found), 0);
}

Test(store_contacts, refuses_a_card_whose_number_is_not_its_keys)
{
    struct identity_card c;
    struct store_contact result, prev;
    enum store_import_result what;

    card_make(&c, "Bob", "", 0);
    c.number = c.number == NUMBER_MAX ? NUMBER_MIN : c.number + 1;
    cr_assert_eq(store_contact_import_card(prof, &c, NULL, false, &result, &prev, &what),
                 SOTTO_EINVAL);
}

/* Every match of `query` is the contact `id`; returns how many there were. */
static size_t find_only(const char *query, int64_t id)
{
    struct store_contact found[STORE_MATCH_MAX];
    size_t n = find(query, found);

    for (size_t i = 0; i < n; i++)
        cr_assert_eq(found[i].id, id, "\"%s\" found %s (id %lld)", query, found[i].name,
                     (long long)found[i].id);
    return n;
}

Test(store_contacts, a_username_in_a_card_is_a_claim_that_never_finds_the_contact)
{
    struct identity_card bob, mallory, eve;
    struct store_contact a, m, e;

    card_make(&bob, "Bob", "", 1);
    import_ok(&bob, NULL, false, &a);
    card_make(&mallory, "Mallory", "bob", 1);
    cr_assert_eq(import_ok(&mallory, NULL, false, &m), STORE_IMPORT_ADDED);
    cr_assert_str_eq(m.claimed_username, "bob");
    cr_assert_str_eq(m.username, "");
    cr_assert_eq(find_only("Bob", a.id), 1, "the real Bob, not the card claiming \"bob\"");
    cr_assert_eq(find_only("bob", a.id), 1, "the display name, without regard to case");
    cr_assert_eq(find_only("BOB", a.id), 1);
    card_make(&eve, "Eve", "bob", 0);
    cr_assert_eq(import_ok(&eve, NULL, false, &e), STORE_IMPORT_ADDED,
                 "a claim cannot collide with another claim");
    cr_assert_str_eq(e.claimed_username, "bob");
    confirm_username(a.id, "bob");
    cr_assert_eq(find_only("bob", a.id), 1);
    cr_assert_eq(find_only("Bob", a.id), 1);
    snprintf(mallory.addrs[0], sizeof(mallory.addrs[0]), "mallory.example:1");
    cr_assert_eq(import_ok(&mallory, NULL, false, &m), STORE_IMPORT_UPDATED,
                 "nor with a confirmed username");
    cr_assert_str_eq(m.username, "");
    cr_assert_eq(find_only("bob", a.id), 1);
}

Test(store_contacts, refuses_a_card_whose_number_another_key_holds)
{
    struct identity_card c, d;
    struct store_contact a, result, prev, found[STORE_MATCH_MAX];
    enum store_import_result what;
    char sql[128];

    card_make(&c, "Bob", "", 0);
    import_ok(&c, NULL, false, &a);
    card_make(&d, "Carol", "carol", 0);
    /* two keys with one number take a hash collision: make one in the database instead */
    snprintf(sql, sizeof(sql), "UPDATE contacts SET number = %llu WHERE id = %lld",
             (unsigned long long)d.number, (long long)a.id);
    cr_assert_eq(store_db_exec(prof, sql), SOTTO_OK);
    cr_assert_eq(store_contact_import_card(prof, &d, NULL, false, &result, &prev, &what),
                 SOTTO_EEXIST);
    cr_assert_eq(find("Carol", found), 0, "nothing was stored");
}

Test(store_contacts, a_contact_found_by_key_keeps_its_name_unless_renamed)
{
    struct identity_card c;
    struct store_contact a, b, found[STORE_MATCH_MAX];

    card_make(&c, "Bob", "", 1);
    cr_assert_eq(import_ok(&c, "Bob Two", false, &a), STORE_IMPORT_ADDED);
    cr_assert_str_eq(a.name, "Bob Two");
    fx.fa.now_ms += 1000;
    cr_assert_eq(import_ok(&c, NULL, false, &b), STORE_IMPORT_UNCHANGED);
    cr_assert_str_eq(b.name, "Bob Two", "the card's name does not undo the user's");
    cr_assert_eq(b.updated_ms, a.updated_ms);
    snprintf(c.name, sizeof(c.name), "Robert");
    snprintf(c.addrs[0], sizeof(c.addrs[0]), "bob.example:9000");
    cr_assert_eq(import_ok(&c, NULL, false, &b), STORE_IMPORT_UPDATED);
    cr_assert_str_eq(b.name, "Bob Two");
    cr_assert_str_eq(b.addrs[0], "bob.example:9000");
    cr_assert_eq(find("Robert", found), 0);
    cr_assert_eq(find("Bob", found), 0);
    cr_assert_eq(import_ok(&c, "Bobby", false, &b), STORE_IMPORT_UPDATED, "as_name renames");
    cr_assert_eq(b.id, a.id);
    cr_assert_str_eq(b.name, "Bobby");
    cr_assert_eq(find("Bobby", found), 1);
    cr_assert_eq(find("Bob Two", found), 0);
}

Test(store_contacts, finds_by_number_with_spaces_then_username_then_name)
{
    struct identity_card c, d;
    struct store_contact a, b, found[STORE_MATCH_MAX];
    char grouped[NUMBER_GROUPED_LEN];

    card_make(&c, "Bobby", "", 0);
    card_make(&d, "bob", "", 0); /* a display name that is someone else's username */
    import_ok(&c, NULL, false, &a);
    import_ok(&d, NULL, false, &b);
    confirm_username(a.id, "bob");
    confirm_username(b.id, "robert");
    identity_number_grouped(c.number, grouped);
    cr_assert_eq(find(grouped, found), 1);
    cr_assert_eq(found[0].id, a.id);
    cr_assert_eq(find("BOB", found), 1, "usernames are matched lowercased");
    cr_assert_eq(found[0].id, a.id);
    cr_assert_eq(find("robert", found), 1);
    cr_assert_eq(found[0].id, b.id);
    cr_assert_eq(find("bob", found), 1, "a username match comes before a display name");
    cr_assert_eq(found[0].id, a.id);
    cr_assert_eq(find("BOBBY", found), 1, "display names match without regard to case");
    cr_assert_eq(found[0].id, a.id);
    cr_assert_eq(find("nobody", found), 0);
    cr_assert_eq(find("123 456 789 012 345", found), 0);
}

Test(store_contacts, finds_every_contact_of_an_ambiguous_name)
{
    struct identity_card c, d, e;
    struct store_contact a, b, result, prev, found[STORE_MATCH_MAX];
    enum store_import_result what;

    card_make(&c, "Sam Smith", "", 0);
    card_make(&d, "Samuel", "", 0);
    import_ok(&c, NULL, false, &a);
    import_ok(&d, NULL, false, &b);
    cr_assert_eq(import_ok(&d, "Sam Smith", false, &b), STORE_IMPORT_UPDATED);
    cr_assert_eq(find("Sam Smith", found), 2);
    cr_assert_eq(found[0].id, a.id);
    cr_assert_eq(found[1].id, b.id);
    card_make(&e, "Sam Smith", "", 0);
    cr_assert_eq(store_contact_import_card(prof, &e, NULL, true, &result, &prev, &what),
                 SOTTO_EAMBIG, "a card cannot pick one of two contacts of its name");
}

Test(store_contacts, removes_a_contact_and_its_key_history)
{
    struct identity_card c, d;
    struct store_contact a, found[STORE_MATCH_MAX];

    card_make(&c, "Bob", "", 0);
    import_ok(&c, NULL, false, &a);
    card_make(&d, "Bob", "", 0);
    import_ok(&d, NULL, true, &a);
    cr_assert_eq(history_count(a.id), 1);
    cr_assert_eq(store_contact_remove(prof, a.id), SOTTO_OK);
    cr_assert_eq(find("Bob", found), 0);
    cr_assert_eq(store_contact_remove(prof, a.id), SOTTO_ENOENT);
    cr_assert_eq(history_count(a.id), 0);
}

Test(store_contacts, removing_an_unknown_contact_is_enoent_and_removes_nothing)
{
    struct identity_card c;
    struct store_contact a, found[STORE_MATCH_MAX];

    card_make(&c, "Bob", "", 0);
    import_ok(&c, NULL, false, &a);
    cr_assert_eq(store_contact_remove(prof, a.id + 1), SOTTO_ENOENT);
    cr_assert_eq(store_contact_remove(prof, -1), SOTTO_ENOENT);
    cr_assert_eq(find("Bob", found), 1);
}

Test(store_contacts, marks_and_clears_verified)
{
    struct identity_card c;
    struct store_contact a, found[STORE_MATCH_MAX];

    card_make(&c, "Bob", "", 0);
    import_ok(&c, NULL, false, &a);
    cr_assert_eq(store_contact_set_verified(prof, a.id, c.key, true), SOTTO_OK);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert(found[0].verified);
    cr_assert_eq(import_ok(&c, NULL, false, &a), STORE_IMPORT_UNCHANGED);
    cr_assert(a.verified, "re-importing the same key keeps the mark");
    cr_assert_eq(store_contact_set_verified(prof, a.id, c.key, false), SOTTO_OK);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert_not(found[0].verified);
    cr_assert_eq(store_contact_set_verified(prof, a.id + 100, c.key, true), SOTTO_ENOENT);
}

/* The user compared the safety number of `c`'s key; the contact has `now` meanwhile. */
Test(store_contacts, does_not_verify_a_key_that_changed_since_it_was_compared)
{
    struct identity_card c, now;
    struct store_contact a, found[STORE_MATCH_MAX];

    card_make(&c, "Bob", "", 0);
    import_ok(&c, NULL, false, &a);
    card_make(&now, "Bob", "", 0);
    import_ok(&now, NULL, true, &a);
    fx.fa.now_ms += 1000;
    cr_assert_eq(store_contact_set_verified(prof, a.id, c.key, true), SOTTO_EKEYCHANGED);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert_not(found[0].verified, "the new key was not compared");
    cr_assert_eq(found[0].updated_ms, a.updated_ms, "nothing changed");
    cr_assert_eq(store_contact_set_verified(prof, a.id, now.key, true), SOTTO_OK);
    cr_assert_eq(store_contact_set_verified(prof, a.id, c.key, false), SOTTO_EKEYCHANGED);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert(found[0].verified, "a stale key does not clear the mark either");
    cr_assert_eq(store_contact_remove(prof, a.id), SOTTO_OK);
    cr_assert_eq(store_contact_set_verified(prof, a.id, now.key, true), SOTTO_ENOENT,
                 "a contact that is gone is not a changed key");
}

struct listing {
    char names[4][TEXT_NAME_MAX + 1];
    size_t n;
    size_t stop_after;
};

static enum sotto_err list_one(void *arg, const struct store_contact *c)
{
    struct listing *l = arg;

    if (l->n == l->stop_after)
        return SOTTO_ECANCELED;
    snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", c->name);
    return SOTTO_OK;
}

Test(store_contacts, lists_by_name_ignoring_case_and_stops_at_an_error)
{
    static const char *const names[] = {"carol", "Alice", "bob"};
    struct listing l = {.stop_after = 99};
    struct identity_card c;
    struct store_contact a;

    for (size_t i = 0; i < 3; i++) {
        card_make(&c, names[i], "", 0);
        import_ok(&c, NULL, false, &a);
    }
    cr_assert_eq(store_contacts_each(prof, list_one, &l), SOTTO_OK);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.names[0], "Alice");
    cr_assert_str_eq(l.names[1], "bob");
    cr_assert_str_eq(l.names[2], "carol");
    l.n = 0;
    l.stop_after = 1;
    cr_assert_eq(store_contacts_each(prof, list_one, &l), SOTTO_ECANCELED);
    cr_assert_eq(l.n, 1);
}
