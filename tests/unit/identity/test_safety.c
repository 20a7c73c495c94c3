/* tests/unit/identity/test_safety.c: both sides of a conversation see the same safety number,
 * another key changes it, and a scanned code matches only the code of the same two keys. */
#include <string.h>

#include <criterion/criterion.h>

#include "failalloc.h"
#include "identity/number.h"
#include "identity/safety.h"

struct party {
    uint8_t pub[E2E_KEY_LEN];
    uint8_t priv[E2E_PRIV_LEN];
    uint64_t number;
};

static struct failalloc fa;
static struct sotto_env env;
static struct e2e_ctx *ctx;
static struct party alice, bob, carol;

static void party_make(struct party *p)
{
    cr_assert_eq(e2e_identity_generate(ctx, p->pub, p->priv), SOTTO_OK);
    p->number = identity_number(p->pub);
}

static void setup(void)
{
    failalloc_env(&env, &fa, 0);
    cr_assert_eq(e2e_ctx_create(&ctx, &env), SOTTO_OK);
    party_make(&alice);
    party_make(&bob);
    party_make(&carol);
}

static void teardown(void)
{
    e2e_ctx_free(ctx);
    cr_expect_eq(fa.live, 0);
}

TestSuite(safety, .init = setup, .fini = teardown);

static void safety_of(const struct party *local, const struct party *remote,
                      struct identity_safety *out)
{
    cr_assert_eq(identity_safety_compute(ctx, local->number, local->pub, remote->number,
                                         remote->pub, out),
                 SOTTO_OK);
}

Test(safety, both_sides_see_the_same_sixty_digits)
{
    struct identity_safety a, b;

    safety_of(&alice, &bob, &a);
    safety_of(&bob, &alice, &b);
    cr_assert_eq(strlen(a.digits), SAFETY_DIGITS);
    for (int i = 0; i < SAFETY_DIGITS; i++)
        cr_assert(a.digits[i] >= '0' && a.digits[i] <= '9');
    cr_assert_str_eq(a.digits, b.digits);
    cr_assert_gt(a.scannable_len, 0);
    cr_assert_leq(a.scannable_len, SAFETY_SCAN_MAX);
}

Test(safety, the_grouped_form_is_twelve_groups_of_five)
{
    struct identity_safety a;
    char g[SAFETY_GROUPED_LEN];

    safety_of(&alice, &bob, &a);
    identity_safety_grouped(&a, g);
    cr_assert_eq(strlen(g), SAFETY_GROUPED_LEN - 1);
    for (int group = 0; group < 12; group++) {
        cr_assert_arr_eq(g + 6 * group, a.digits + 5 * group, 5);
        if (group < 11)
            cr_assert_eq(g[6 * group + 5], ' ');
    }
}

Test(safety, another_remote_key_gives_other_digits)
{
    struct identity_safety ab, ac;

    safety_of(&alice, &bob, &ab);
    safety_of(&alice, &carol, &ac);
    cr_assert_str_neq(ab.digits, ac.digits);
    /* each half of the 60 digits belongs to one key: alice's half stays */
    cr_assert(memcmp(ab.digits, ac.digits, 30) == 0 || memcmp(ab.digits + 30, ac.digits, 30) == 0 ||
                      memcmp(ab.digits, ac.digits + 30, 30) == 0 ||
                      memcmp(ab.digits + 30, ac.digits + 30, 30) == 0,
              "alice's half of the digits did not change");
}

Test(safety, the_code_scanned_from_the_other_side_matches)
{
    struct identity_safety a, b;

    safety_of(&alice, &bob, &a);
    safety_of(&bob, &alice, &b);
    cr_assert_eq(identity_safety_compare(ctx, &a, b.scannable, b.scannable_len), SOTTO_OK);
    cr_assert_eq(identity_safety_compare(ctx, &b, a.scannable, a.scannable_len), SOTTO_OK);
}

Test(safety, scanning_ones_own_code_is_not_a_match)
{
    /* the compare crosses local and remote: my own code read back is not the other side's */
    struct identity_safety a;

    safety_of(&alice, &bob, &a);
    cr_assert_eq(identity_safety_compare(ctx, &a, a.scannable, a.scannable_len), SOTTO_EMISMATCH);
}

Test(safety, a_code_made_with_a_third_key_does_not_match)
{
    struct identity_safety a, c, mallory;

    safety_of(&alice, &bob, &a);
    safety_of(&carol, &alice, &c);
    cr_assert_eq(identity_safety_compare(ctx, &a, c.scannable, c.scannable_len), SOTTO_EMISMATCH);
    /* carol claiming to be bob: bob's number with carol's key */
    cr_assert_eq(
            identity_safety_compute(ctx, bob.number, carol.pub, alice.number, alice.pub, &mallory),
            SOTTO_OK);
    cr_assert_eq(identity_safety_compare(ctx, &a, mallory.scannable, mallory.scannable_len),
                 SOTTO_EMISMATCH);
}

Test(safety, a_changed_byte_in_the_scanned_code_does_not_match)
{
    struct identity_safety a, b;
    uint8_t bad[SAFETY_SCAN_MAX];

    safety_of(&alice, &bob, &a);
    safety_of(&bob, &alice, &b);
    for (size_t i = 0; i < b.scannable_len; i++) {
        enum sotto_err rc;
        memcpy(bad, b.scannable, b.scannable_len);
        bad[i] ^= 0x01;
        rc = identity_safety_compare(ctx, &a, bad, b.scannable_len);
        cr_assert(rc == SOTTO_EMISMATCH || rc == SOTTO_EPROTO, "byte %zu: %d", i, rc);
    }
}

Test(safety, garbage_does_not_parse)
{
    struct identity_safety a;
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    const uint8_t empty_message[] = {0x08, 0x01}; /* version 1 and no fingerprints */

    safety_of(&alice, &bob, &a);
    cr_assert_eq(identity_safety_compare(ctx, &a, garbage, sizeof(garbage)), SOTTO_EPROTO);
    cr_assert_eq(identity_safety_compare(ctx, &a, empty_message, sizeof(empty_message)),
                 SOTTO_EPROTO);
    cr_assert_eq(identity_safety_compare(ctx, &a, a.scannable, 0), SOTTO_EPROTO);
    cr_assert_eq(identity_safety_compare(ctx, &a, a.scannable, a.scannable_len - 3), SOTTO_EPROTO,
                 "truncated");
}

Test(safety, an_oversized_code_is_refused_before_parsing)
{
    struct identity_safety a;
    uint8_t big[SAFETY_SCAN_MAX + 1];

    safety_of(&alice, &bob, &a);
    memset(big, 0, sizeof(big));
    memcpy(big, a.scannable, a.scannable_len);
    cr_assert_eq(identity_safety_compare(ctx, &a, big, sizeof(big)), SOTTO_ETOOBIG);
}

Test(safety, small_order_and_mistyped_keys_are_refused)
{
    struct identity_safety s;
    uint8_t zero[E2E_KEY_LEN] = {0x05};
    uint8_t typed[E2E_KEY_LEN];

    cr_assert_eq(identity_safety_compute(ctx, alice.number, alice.pub, bob.number, zero, &s),
                 SOTTO_EBADKEY);
    cr_assert_eq(s.scannable_len, 0, "nothing is left in the output");
    cr_assert_eq(identity_safety_compute(ctx, alice.number, zero, bob.number, bob.pub, &s),
                 SOTTO_EBADKEY);
    memcpy(typed, bob.pub, sizeof(typed));
    typed[0] = 0x06;
    cr_assert_eq(identity_safety_compute(ctx, alice.number, alice.pub, bob.number, typed, &s),
                 SOTTO_EBADKEY);
}

Test(safety, numbers_outside_fifteen_digits_are_refused)
{
    struct identity_safety s;

    cr_assert_eq(identity_safety_compute(ctx, NUMBER_MIN - 1, alice.pub, bob.number, bob.pub, &s),
                 SOTTO_EINVAL);
    cr_assert_eq(identity_safety_compute(ctx, alice.number, alice.pub, NUMBER_MAX + 1, bob.pub, &s),
                 SOTTO_EINVAL);
}

Test(safety, the_numbers_are_part_of_the_safety_number_inputs)
{
    /* the stable identifiers go into the hash: another number for the same key changes it */
    struct identity_safety a, other;

    safety_of(&alice, &bob, &a);
    cr_assert_eq(identity_safety_compute(ctx, alice.number, alice.pub, NUMBER_MIN, bob.pub, &other),
                 SOTTO_OK);
    cr_assert_str_neq(a.digits, other.digits);
}
