/* tests/unit/store/test_failalloc.c: opening and unlocking a profile survive the failure of
 * every allocation, ours and SQLite's, without a leak or a change on disk. */
#include <string.h>

#include <criterion/criterion.h>

#include "sqlite_failalloc.h"
#include "store/store_int.h"
#include "store_test.h"

TestSuite(store_failalloc, .init = store_fx_init, .fini = store_fx_fini);

static enum sotto_err open_and_unlock(void)
{
    struct store_profile *p = NULL;
    enum sotto_err rc = store_profile_open(&p, &fx.env, fx.home);

    if (rc == SOTTO_OK)
        rc = store_profile_unlock(p, NULL, 0);
    else
        cr_assert_null(p);
    store_profile_close(p);
    return rc;
}

Test(store_failalloc, opening_fails_cleanly_at_every_allocation)
{
    uint8_t before[32];
    enum sotto_err rc;
    unsigned long n;
    long sqlite_base;

    sqlite_failalloc_install(&fx.fa);
    store_fx_create(NULL);
    sqlite_base = sqlite_failalloc_live();
    dir_digest(fx.home, before);
    for (n = 1; n < 100000; n++) {
        fx.fa.calls = 0;
        fx.fa.failed = 0;
        fx.fa.fail_at = n;
        rc = open_and_unlock();
        if (fx.fa.failed == 0)
            break; /* every allocation was tried */
        cr_assert(rc == SOTTO_OK || rc == SOTTO_ENOMEM || rc == SOTTO_EDB, "allocation %lu: %s", n,
                  sotto_errname(rc));
        cr_assert_eq(fx.fa.live, 0, "allocation %lu: our allocations leaked", n);
        cr_assert_eq(sqlite_failalloc_live(), sqlite_base, "allocation %lu: SQLite's leaked", n);
        assert_dir_same(fx.home, before, "a failed open");
    }
    cr_assert_eq(rc, SOTTO_OK);
    cr_log_info("open and unlock: %lu allocations tried", n - 1);
    cr_assert_gt(n, 50, "SQLite's allocations are counted too");
    fx.fa.fail_at = 0;
    store_profile_close(store_fx_open_unlocked(false));
    cr_assert_eq(sqlite_failalloc_live(), sqlite_base);
}

/* Imports `c` with allocation `n` failing; on failure nothing of it may have been stored. */
static enum sotto_err import_failing_at(struct store_profile *p, const struct identity_card *c,
                                        bool accept, unsigned long n)
{
    struct store_contact result, prev, found[STORE_MATCH_MAX];
    enum store_import_result what;
    enum sotto_err rc;
    size_t n_found;

    fx.fa.calls = 0;
    fx.fa.failed = 0;
    fx.fa.fail_at = n;
    rc = store_contact_import_card(p, c, NULL, accept, &result, &prev, &what);
    fx.fa.fail_at = 0;
    if (rc != SOTTO_OK) {
        cr_assert(rc == SOTTO_ENOMEM || rc == SOTTO_EDB, "allocation %lu: %s", n,
                  sotto_errname(rc));
        cr_assert_eq(store_contact_find(p, c->name, found, &n_found), SOTTO_OK);
        cr_assert(n_found == 0 || memcmp(found[0].key, c->key, E2E_KEY_LEN) != 0,
                  "allocation %lu: a failed import stored the card", n);
    }
    return rc;
}

Test(store_failalloc, a_failed_import_stores_nothing)
{
    struct store_contact found[STORE_MATCH_MAX];
    struct identity_card bob, bob2;
    struct store_profile *p;
    unsigned long n;
    int64_t history;
    size_t n_found;

    sqlite_failalloc_install(&fx.fa);
    store_fx_create(NULL);
    p = store_fx_open();
    card_make(&bob, "Bob", "bob", 2);
    for (n = 1; import_failing_at(p, &bob, false, n) != SOTTO_OK; n++)
        cr_assert_lt(n, 100000);
    cr_assert_gt(n, 10, "the import allocates, and SQLite's allocations are counted");
    card_make(&bob2, "Bob", "", 1);
    for (n = 1; import_failing_at(p, &bob2, true, n) != SOTTO_OK; n++)
        cr_assert_lt(n, 100000);
    cr_assert_eq(store_contact_find(p, "Bob", found, &n_found), SOTTO_OK);
    cr_assert_eq(n_found, 1);
    cr_assert(memcmp(found[0].key, bob2.key, E2E_KEY_LEN) == 0);
    cr_assert_eq(store_db_query_int(p, "SELECT count(*) FROM contact_keys", &history), SOTTO_OK);
    cr_assert_eq(history, 1, "the old key was kept once, by the import that succeeded");
    store_profile_close(p);
    cr_assert_eq(fx.fa.live, 0);
}
