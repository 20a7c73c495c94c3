/* tests/unit/store/test_contacts.c: card import adds, refreshes and guards contacts; a changed
 * key is never taken silently; lookups resolve numbers, usernames and names in that order. */
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
    cr_assert_str_eq(got.username, "bob");
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
    cr_assert_str_eq(b.username, "bobby");
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
    cr_assert_eq(store_contact_set_verified(prof, a.id, true), SOTTO_OK);
    card_make(&renewed, "Bob", "", 1);
    cr_assert_eq(store_contact_import_card(prof, &renewed, NULL, true, &result, &prev, &what),
                 SOTTO_OK);
    cr_assert_eq(what, STORE_IMPORT_KEY_REPLACED);
    cr_assert_eq(result.id, a.id);
    cr_assert(memcmp(result.key, renewed.key, E2E_KEY_LEN) == 0);
    cr_assert_eq(result.number, renewed.number);
    cr_assert_not(result.verified, "a new key is not verified");
    cr_assert_str_eq(result.username, "bob", "a card without a username keeps the stored one");
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

Test(store_contacts, refuses_a_username_another_contact_holds)
{
    struct identity_card c, d;
    struct store_contact a, result, prev, found[STORE_MATCH_MAX];
    enum store_import_result what;

    card_make(&c, "Bob", "bob", 0);
    import_ok(&c, NULL, false, &a);
    card_make(&d, "Not Bob", "bob", 0);
    cr_assert_eq(store_contact_import_card(prof, &d, NULL, false, &result, &prev, &what),
                 SOTTO_EEXIST);
    cr_assert_eq(find("Not Bob", found), 0, "nothing was stored");
}

Test(store_contacts, finds_by_number_with_spaces_then_username_then_name)
{
    struct identity_card c, d;
    struct store_contact a, b, found[STORE_MATCH_MAX];
    char grouped[NUMBER_GROUPED_LEN];

    card_make(&c, "Bob", "bob", 0);
    card_make(&d, "bob", "robert", 0); /* a display name that is someone else's username */
    import_ok(&c, NULL, false, &a);
    import_ok(&d, NULL, false, &b);
    identity_number_grouped(c.number, grouped);
    cr_assert_eq(find(grouped, found), 1);
    cr_assert_eq(found[0].id, a.id);
    cr_assert_eq(find("BOB", found), 1, "usernames are matched lowercased");
    cr_assert_eq(found[0].id, a.id);
    cr_assert_eq(find("robert", found), 1);
    cr_assert_eq(found[0].id, b.id);
    cr_assert_eq(find("Bob", found), 1, "a username match comes before a display name");
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
    snprintf(d.name, sizeof(d.name), "Sam Smith");
    cr_assert_eq(import_ok(&d, NULL, false, &b), STORE_IMPORT_UPDATED);
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

Test(store_contacts, marks_and_clears_verified)
{
    struct identity_card c;
    struct store_contact a, found[STORE_MATCH_MAX];

    card_make(&c, "Bob", "", 0);
    import_ok(&c, NULL, false, &a);
    cr_assert_eq(store_contact_set_verified(prof, a.id, true), SOTTO_OK);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert(found[0].verified);
    cr_assert_eq(import_ok(&c, NULL, false, &a), STORE_IMPORT_UNCHANGED);
    cr_assert(a.verified, "re-importing the same key keeps the mark");
    cr_assert_eq(store_contact_set_verified(prof, a.id, false), SOTTO_OK);
    cr_assert_eq(find("Bob", found), 1);
    cr_assert_not(found[0].verified);
    cr_assert_eq(store_contact_set_verified(prof, a.id + 100, true), SOTTO_ENOENT);
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
