/* tests/unit/directory/test_accounts.c: registration, lookup, addresses and deletion, on both
 * backends. */
#include <string.h>

#include "dir_test.h"

static enum sotto_err try_register(const struct dir_account *a, const struct dir_prekey *p,
                                   size_t n, enum dir_conflict *c)
{
    char skeleton[TEXT_USERNAME_MAX + 1];

    dir_username_skeleton(a->username, skeleton);
    return dir_backend_register(fx.b, a, skeleton, p, n, c);
}

BOTH(accounts, registered_account_is_found_by_username_and_by_number)
{
    struct dir_account a, got;
    struct dir_prekey p[5];

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 5, 1, 1);
    fx_register(&a, p, 5);
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_OK);
    fx_assert_same(&got, &a);
    cr_assert_eq(got.created_ms, fx.fa.now_ms);
    cr_assert_eq(got.updated_ms, fx.fa.now_ms);
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, a.number, &got), SOTTO_OK);
    fx_assert_same(&got, &a);
    cr_assert_eq(fx_count_accounts(), 1);
    cr_assert_eq(fx_count_prekeys(), 5);
}

BOTH(accounts, unknown_username_or_number_is_not_found)
{
    struct dir_account a, got;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    cr_assert_eq(dir_backend_lookup(fx.b, "bob", 0, &got), SOTTO_ENOENT);
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, a.number + 1, &got), SOTTO_ENOENT);
    /* a look-alike is not the account: lookups are exact, only registration compares
     * skeletons */
    cr_assert_eq(dir_backend_lookup(fx.b, "a1ice", 0, &got), SOTTO_ENOENT);
}

BOTH(accounts, look_alike_username_is_refused_and_nothing_is_stored)
{
    static const char *const lookalikes[] = {"alice", "a1ice", "al1ce", "al-ice", "a.l_ice"};
    struct dir_account a, b, got;
    struct dir_prekey p[3];
    enum dir_conflict c;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 3, 1, 1);
    fx_register(&a, p, 3);
    for (size_t i = 0; i < sizeof(lookalikes) / sizeof(lookalikes[0]); i++) {
        fx_account(&b, 2 + (unsigned)i, lookalikes[i]);
        c = DIR_CONFLICT_NONE;
        cr_assert_eq(try_register(&b, p, 3, &c), SOTTO_EEXIST, "%s", lookalikes[i]);
        cr_assert_eq(c, DIR_CONFLICT_USERNAME, "%s", lookalikes[i]);
        cr_assert_eq(dir_backend_lookup(fx.b, NULL, b.number, &got), SOTTO_ENOENT);
    }
    cr_assert_eq(fx_count_accounts(), 1);
    cr_assert_eq(fx_count_prekeys(), 3);
}

BOTH(accounts, taken_number_is_refused_and_nothing_is_stored)
{
    struct dir_account a, b, got;
    struct dir_prekey p[4];
    enum dir_conflict c = DIR_CONFLICT_NONE;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 2, 1, 1);
    fx_register(&a, p, 2);
    fx_account(&b, 1, "bob"); /* same number */
    fx_prekeys(p, 4, 10, 2);
    cr_assert_eq(try_register(&b, p, 4, &c), SOTTO_EEXIST);
    cr_assert_eq(c, DIR_CONFLICT_NUMBER);
    cr_assert_eq(dir_backend_lookup(fx.b, "bob", 0, &got), SOTTO_ENOENT);
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, a.number, &got), SOTTO_OK);
    cr_assert_str_eq(got.username, "alice");
    cr_assert_eq(fx_count_accounts(), 1);
    cr_assert_eq(fx_count_prekeys(), 2);
}

BOTH(accounts, registration_after_a_conflict_still_works)
{
    struct dir_account a, b;
    enum dir_conflict c;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    fx_account(&b, 2, "a1ice");
    cr_assert_eq(try_register(&b, NULL, 0, &c), SOTTO_EEXIST);
    /* the failed transaction was rolled back: the connection takes the next one */
    fx_account(&b, 2, "bob");
    fx_register(&b, NULL, 0);
    cr_assert_eq(fx_count_accounts(), 2);
}

BOTH(accounts, sql_metacharacters_in_a_username_are_stored_verbatim)
{
    const char *name = "a'); drop table accounts;--";
    struct dir_account a, got;

    fx_account(&a, 1, name);
    fx_register(&a, NULL, 0);
    cr_assert_eq(dir_backend_lookup(fx.b, name, 0, &got), SOTTO_OK);
    cr_assert_str_eq(got.username, name);
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, a.number, &got), SOTTO_OK);
    cr_assert_str_eq(got.username, name);
    cr_assert_eq(dir_backend_lookup(fx.b, "a' OR '1'='1", 0, &got), SOTTO_ENOENT);
    cr_assert_eq(fx_count_accounts(), 1);
}

BOTH(accounts, another_instance_on_the_same_database_sees_the_account)
{
    struct dir_account a, got;
    struct dir_backend *other = fx_open();

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    cr_assert_eq(dir_backend_lookup(other, "alice", 0, &got), SOTTO_OK);
    fx_assert_same(&got, &a);
    dir_backend_close(other);
}

BOTH(accounts, addresses_are_replaced)
{
    const char addrs[3][CARD_ADDR_MAX + 1] = {"10.0.0.1:1", "[2001:db8::1]:443", "h.example:9"};
    struct dir_account a, got;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    fx.fa.now_ms += 5000;
    cr_assert_eq(dir_backend_set_addresses(fx.b, a.number, addrs, 3), SOTTO_OK);
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_OK);
    cr_assert_eq(got.n_addrs, 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_str_eq(got.addrs[i], addrs[i]);
    cr_assert_eq(got.updated_ms, fx.fa.now_ms);
    cr_assert_eq(got.created_ms, fx.fa.now_ms - 5000);
    cr_assert_eq(dir_backend_set_addresses(fx.b, a.number, NULL, 0), SOTTO_OK);
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_OK);
    cr_assert_eq(got.n_addrs, 0);
}

BOTH(accounts, addresses_of_an_unknown_number_or_malformed_are_refused)
{
    const char bad[1][CARD_ADDR_MAX + 1] = {"no port here"};
    const char good[1][CARD_ADDR_MAX + 1] = {"10.0.0.1:1"};
    struct dir_account a, got;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    cr_assert_eq(dir_backend_set_addresses(fx.b, a.number + 1, good, 1), SOTTO_ENOENT);
    cr_assert_eq(dir_backend_set_addresses(fx.b, a.number, bad, 1), SOTTO_EINVAL);
    cr_assert_eq(dir_backend_set_addresses(fx.b, a.number, good, CARD_ADDRS_MAX + 1), SOTTO_EINVAL);
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_OK);
    fx_assert_same(&got, &a);
}

BOTH(accounts, deleted_account_is_gone_with_its_prekeys)
{
    struct dir_account a, b, got;
    struct dir_prekey p[4], pk;
    bool has;
    unsigned left;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 4, 1, 1);
    fx_register(&a, p, 4);
    fx_account(&b, 2, "bob");
    fx_register(&b, p, 2);
    cr_assert_eq(dir_backend_delete(fx.b, a.number), SOTTO_OK);
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_ENOENT);
    cr_assert_eq(dir_backend_take_bundle(fx.b, a.number, true, &got, &pk, &has, &left),
                 SOTTO_ENOENT);
    cr_assert_eq(fx_count_accounts(), 1);
    cr_assert_eq(fx_count_prekeys(), 2);
    cr_assert_eq(fx_sql_int("SELECT count(*) FROM prekeys WHERE number = 100000000000001",
                            "SELECT count(*) FROM prekeys WHERE number = 100000000000001"),
                 0);
    cr_assert_eq(dir_backend_delete(fx.b, a.number), SOTTO_ENOENT);
    /* the username and the number are free again */
    fx_register(&a, p, 1);
}

BOTH(accounts, malformed_arguments_are_refused_before_the_database)
{
    struct dir_account a, got;
    struct dir_prekey p[DIR_PREKEYS_PER_REQUEST + 1];
    enum dir_conflict c;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, DIR_PREKEYS_PER_REQUEST + 1, 1, 1);
    cr_assert_eq(try_register(&a, p, DIR_PREKEYS_PER_REQUEST + 1, &c), SOTTO_EINVAL);
    p[1].id = p[0].id;
    cr_assert_eq(try_register(&a, p, 2, &c), SOTTO_EINVAL);
    a.number = NUMBER_MAX + 1;
    cr_assert_eq(try_register(&a, NULL, 0, &c), SOTTO_EINVAL);
    fx_account(&a, 1, "alice");
    a.registration_id = 0;
    cr_assert_eq(try_register(&a, NULL, 0, &c), SOTTO_EINVAL);
    fx_account(&a, 1, "");
    cr_assert_eq(try_register(&a, NULL, 0, &c), SOTTO_EINVAL);
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, 12, &got), SOTTO_EINVAL);
    cr_assert_eq(fx_count_accounts(), 0);
}

/* both backends check the number first, so a second registration of an account says so */
BOTH(accounts, same_account_twice_is_a_number_conflict)
{
    struct dir_account a;
    enum dir_conflict c = DIR_CONFLICT_NONE;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    cr_assert_eq(try_register(&a, NULL, 0, &c), SOTTO_EEXIST);
    cr_assert_eq(c, DIR_CONFLICT_NUMBER);
    cr_assert_eq(fx_count_accounts(), 1);
}
