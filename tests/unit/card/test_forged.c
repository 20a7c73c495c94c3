/* tests/unit/card/test_forged.c: cards built field by field and signed with the right key, so
 * that only the rule under test can refuse them; and signatures that are not the key's own. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "card_test.h"
#include "identity/number.h"

static struct card_fx fx;

static void setup(void)
{
    card_fx_init(&fx);
}

static void teardown(void)
{
    card_fx_fini(&fx);
}

TestSuite(card_forged, .init = setup, .fini = teardown);

/* Signs `fg` with `priv` and imports it; on success the card must hold what was forged. */
static enum sotto_err import_forged_by(const struct card_forge *fg, const uint8_t *priv)
{
    struct identity_card c;
    size_t len;
    char *text = card_forge_text(&fx, fg, priv, &len);
    enum sotto_err rc = identity_card_import(&fx.env, text, len, &c);

    if (rc == SOTTO_OK) {
        cr_assert_eq(c.number, fg->number);
        cr_assert_eq(c.n_addrs, fg->n_addrs);
        cr_assert_eq(strlen(c.name), fg->name_len);
        cr_assert_eq(memcmp(c.name, fg->name, fg->name_len), 0);
    } else {
        cr_assert(card_is_zero(&c));
    }
    cr_assert_eq(fx.fa.live, 0);
    free(text);
    return rc;
}

static enum sotto_err import_forged(const struct card_forge *fg)
{
    return import_forged_by(fg, fx.priv);
}

Test(card_forged, a_card_built_by_the_test_encoder_is_accepted)
{
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    cr_assert_eq(import_forged(&fg), SOTTO_OK, "the encoder of these tests matches export");
}

Test(card_forged, extra_bytes_inside_the_signed_body_are_refused)
{
    static const uint8_t extra[] = {0};
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    fg.extra = extra;
    fg.extra_len = sizeof(extra);
    cr_assert_eq(import_forged(&fg), SOTTO_EPROTO);
}

Test(card_forged, an_unknown_version_is_refused)
{
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    fg.version = 2;
    cr_assert_eq(import_forged(&fg), SOTTO_EPROTO);
    fg.version = 0;
    cr_assert_eq(import_forged(&fg), SOTTO_EPROTO);
    fg.version = 255;
    cr_assert_eq(import_forged(&fg), SOTTO_EPROTO);
}

Test(card_forged, a_number_that_does_not_belong_to_the_key_is_refused)
{
    struct card_forge fg;
    uint8_t pub2[E2E_KEY_LEN], priv2[E2E_PRIV_LEN];

    card_forge_default(&fg, &fx);
    fg.number++;
    cr_assert_eq(import_forged(&fg), SOTTO_ENUMBER);
    cr_assert_eq(e2e_identity_generate(fx.ctx, pub2, priv2), SOTTO_OK);
    fg.number = identity_number(pub2);
    cr_assert_eq(import_forged(&fg), SOTTO_ENUMBER, "the number of another key");
    fg.number = 0;
    cr_assert_eq(import_forged(&fg), SOTTO_ENUMBER);
}

Test(card_forged, a_signature_by_another_key_is_refused)
{
    struct card_forge fg;
    uint8_t pub2[E2E_KEY_LEN], priv2[E2E_PRIV_LEN];

    cr_assert_eq(e2e_identity_generate(fx.ctx, pub2, priv2), SOTTO_OK);
    card_forge_default(&fg, &fx);
    cr_assert_eq(import_forged_by(&fg, priv2), SOTTO_EBADSIG);
}

Test(card_forged, a_signature_made_for_another_purpose_is_refused)
{
    uint8_t body[CARD_BODY_MAX];
    size_t len, body_len, n;
    struct card_forge fg;
    char *text, *forged;

    card_forge_default(&fg, &fx);
    text = card_forge_text(&fx, &fg, fx.priv, &len);
    body_len = card_body_of(text, len, body);
    cr_assert_eq(e2e_sign(fx.ctx, fx.priv, "sotto-dir-v1", body, body_len - E2E_SIG_LEN,
                          body + body_len - E2E_SIG_LEN),
                 SOTTO_OK);
    forged = card_armour_bytes(body, body_len, &n);
    cr_assert_eq(identity_card_import(&fx.env, forged, n, &(struct identity_card){0}),
                 SOTTO_EBADSIG);
    free(forged);
    free(text);
}

/* s + L, where L is the order of the base point: the same signature to a careless verifier. */
static void add_order(uint8_t s[32])
{
    static const uint8_t order[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                      0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                      0,    0,    0,    0,    0,    0,    0,    0,
                                      0,    0,    0,    0,    0,    0,    0,    0x10};
    unsigned carry = 0;

    for (size_t i = 0; i < 32; i++) {
        carry += (unsigned)s[i] + order[i];
        s[i] = (uint8_t)carry;
        carry >>= 8;
    }
    cr_assert_eq(carry, 0);
}

Test(card_forged, a_signature_malleated_by_adding_the_group_order_is_refused)
{
    uint8_t body[CARD_BODY_MAX];
    size_t len, body_len, n;
    struct card_forge fg;
    char *text, *forged;

    card_forge_default(&fg, &fx);
    text = card_forge_text(&fx, &fg, fx.priv, &len);
    body_len = card_body_of(text, len, body);
    add_order(body + body_len - 32);
    forged = card_armour_bytes(body, body_len, &n);
    cr_assert_eq(identity_card_import(&fx.env, forged, n, &(struct identity_card){0}),
                 SOTTO_EBADSIG);
    cr_assert_eq(identity_card_import(&fx.env, text, len, &(struct identity_card){0}), SOTTO_OK);
    free(forged);
    free(text);
}

static enum sotto_err import_with_name(const char *name, size_t len)
{
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    fg.name = name;
    fg.name_len = len;
    return import_forged(&fg);
}

Test(card_forged, a_bad_display_name_is_refused)
{
    char long_name[TEXT_NAME_MAX + 1];

    memset(long_name, 'a', sizeof(long_name));
    cr_assert_eq(import_with_name("Bob\x07", 4), SOTTO_EPROTO, "BEL");
    cr_assert_eq(import_with_name("Bob\x1b[2J", 7), SOTTO_EPROTO, "escape sequence");
    cr_assert_eq(import_with_name("Bob\n", 4), SOTTO_EPROTO);
    cr_assert_eq(import_with_name("Bob\x7f", 4), SOTTO_EPROTO, "DEL");
    cr_assert_eq(import_with_name("Bob\xc2\x9b", 5), SOTTO_EPROTO, "C1 CSI");
    cr_assert_eq(import_with_name("Bo\0b", 4), SOTTO_EPROTO, "NUL");
    cr_assert_eq(import_with_name("Bob\xff", 4), SOTTO_EPROTO, "not UTF-8");
    cr_assert_eq(import_with_name("\xc0\xaf", 2), SOTTO_EPROTO, "overlong");
    cr_assert_eq(import_with_name("", 0), SOTTO_EPROTO, "empty");
    cr_assert_eq(import_with_name(long_name, TEXT_NAME_MAX + 1), SOTTO_EPROTO, "65 bytes");
    cr_assert_eq(import_with_name(long_name, TEXT_NAME_MAX), SOTTO_OK, "64 bytes");
    cr_assert_eq(import_with_name("Zoë 🌸", strlen("Zoë 🌸")), SOTTO_OK);
}

static enum sotto_err import_with_username(const char *username)
{
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    fg.username = username;
    fg.username_len = strlen(username);
    return import_forged(&fg);
}

Test(card_forged, a_bad_username_is_refused)
{
    cr_assert_eq(import_with_username("Bob"), SOTTO_EPROTO, "not lowercased");
    cr_assert_eq(import_with_username("bo"), SOTTO_EPROTO, "too short");
    cr_assert_eq(import_with_username("b23456789012345678901234567890123"), SOTTO_EPROTO);
    cr_assert_eq(import_with_username("1bob"), SOTTO_EPROTO, "would read as a number");
    cr_assert_eq(import_with_username("bob smith"), SOTTO_EPROTO);
    cr_assert_eq(import_with_username("b2345678901234567890123456789012"), SOTTO_OK);
    cr_assert_eq(import_with_username(""), SOTTO_OK, "not registered");
}

Test(card_forged, more_than_eight_addresses_are_refused)
{
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    for (size_t i = 0; i < CARD_FORGE_ADDRS; i++)
        fg.addrs[i] = "192.0.2.1:8766";
    fg.n_addrs = CARD_ADDRS_MAX;
    cr_assert_eq(import_forged(&fg), SOTTO_OK);
    fg.n_addrs = CARD_ADDRS_MAX + 1;
    cr_assert_eq(import_forged(&fg), SOTTO_EPROTO);
    fg.n_addrs = 0;
    cr_assert_eq(import_forged(&fg), SOTTO_OK);
}

Test(card_forged, a_bad_address_in_a_card_is_refused)
{
    static const char *const bad[] = {"",          "example.com",   "example.com:0",
                                      "[::1]:80x", "bob\x1b[2J:80", "1.2.3.256:80"};
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fg.addrs[1] = bad[i];
        cr_assert_eq(import_forged(&fg), SOTTO_EPROTO, "%s", bad[i]);
    }
}

Test(card_forged, an_address_with_a_nul_inside_is_refused)
{
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    fg.addrs[1] = "a.example:80\0.evil:1";
    fg.addr_lens[1] = strlen(fg.addrs[1]);
    cr_assert_eq(import_forged(&fg), SOTTO_OK, "the part before the NUL is a good address");
    fg.addr_lens[1] = sizeof("a.example:80\0.evil:1") - 1;
    cr_assert_eq(import_forged(&fg), SOTTO_EPROTO);
}

Test(card_forged, a_key_that_is_not_a_curve25519_public_key_is_refused)
{
    struct card_forge fg;

    card_forge_default(&fg, &fx);
    fg.key[0] = 0x06;
    fg.number = identity_number(fg.key);
    cr_assert_eq(import_forged(&fg), SOTTO_EBADKEY, "type byte");
    memset(fg.key, 0, sizeof(fg.key));
    fg.key[0] = 0x05;
    fg.number = identity_number(fg.key);
    cr_assert_eq(import_forged(&fg), SOTTO_EBADKEY, "small order");
}
