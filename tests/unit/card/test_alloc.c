/* tests/unit/card/test_alloc.c: card parsing under allocation failure. The env allocator fails
 * call N for N = 1, 2, ... until import succeeds. Allocations made inside libsignal-protocol-c
 * (curve_decode_point in e2e_verify) use malloc with no hook, so this cannot reach them. */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "card_test.h"

static struct card_fx fx;

static void setup(void)
{
    card_fx_init(&fx);
}

static void teardown(void)
{
    card_fx_fini(&fx);
}

TestSuite(card_alloc, .init = setup, .fini = teardown);

static void import_until_it_succeeds(const char *text, size_t len, const struct identity_card *want)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct identity_card c;
    unsigned long n;
    enum sotto_err rc = SOTTO_ENOMEM;

    for (n = 1; n < 100; n++) {
        failalloc_env(&env, &fa, n);
        rc = identity_card_import(&env, text, len, &c);
        cr_assert_eq(fa.live, 0, "leak after failing allocation %lu", n);
        if (fa.failed == 0)
            break;
        cr_assert_eq(rc, SOTTO_ENOMEM, "allocation %lu failed: %d", n, (int)rc);
        cr_assert(card_is_zero(&c));
    }
    cr_assert_gt(n, 1, "import allocates through env");
    cr_assert_eq(rc, SOTTO_OK, "nothing failed, so import must succeed");
    card_assert_same(&c, want);
}

Test(card_alloc, import_fails_cleanly_at_every_allocation_then_gives_the_normal_result)
{
    struct identity_card want;
    size_t len;
    char *text;

    card_sample(&want, fx.pub, CARD_ADDRS_MAX);
    text = card_export_ok(&fx, &want, &len);
    import_until_it_succeeds(text, len, &want);
    free(text);
}

Test(card_alloc, a_refused_card_is_refused_the_same_way_whatever_fails_first)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct identity_card c, want;
    size_t len;
    char *text;

    card_sample(&want, fx.pub, 1);
    text = card_export_ok(&fx, &want, &len);
    text[len / 2] = text[len / 2] == 'A' ? 'B' : 'A';
    for (unsigned long n = 1; n < 100; n++) {
        enum sotto_err rc;
        failalloc_env(&env, &fa, n);
        rc = identity_card_import(&env, text, len, &c);
        cr_assert_eq(fa.live, 0);
        cr_assert_neq(rc, SOTTO_OK);
        if (fa.failed == 0)
            break;
        cr_assert_eq(rc, SOTTO_ENOMEM);
    }
    free(text);
}
