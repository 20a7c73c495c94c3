/* tests/unit/e2e/test_sign.c: identity-key signatures verify only for the key, label and bytes
 * they were made over, and the checks DESIGN.md adds in front of the library (scalar below L,
 * canonical key, no small-order key) refuse what the library alone would accept. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "e2e_test.h"

#define LABEL "sotto-test-v1"

TestSuite(sign, .init = e2e_fixture_setup, .fini = e2e_fixture_teardown);

static const uint8_t msg[] = "the quick brown fox";

/* The group order L, little-endian. */
static const uint8_t order_l[32] = {
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
        0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

struct signed_msg {
    uint8_t pub[E2E_KEY_LEN];
    uint8_t priv[E2E_PRIV_LEN];
    uint8_t sig[E2E_SIG_LEN];
};

static void make_signed(struct signed_msg *m)
{
    cr_assert_eq(e2e_identity_generate(fx.ctx, m->pub, m->priv), SOTTO_OK);
    cr_assert_eq(e2e_sign(fx.ctx, m->priv, LABEL, msg, sizeof(msg), m->sig), SOTTO_OK);
}

/* s + L in place (the sign bit the library keeps in the top bit of s is left as it was). */
static void add_order(uint8_t sig[E2E_SIG_LEN])
{
    uint8_t *s = sig + 32, sign = s[31] & 0x80;
    unsigned carry = 0;

    s[31] &= 0x7f;
    for (int i = 0; i < 32; i++) {
        unsigned v = (unsigned)s[i] + order_l[i] + carry;
        s[i] = (uint8_t)v;
        carry = v >> 8;
    }
    cr_assert_eq(carry, 0);
    cr_assert_eq(s[31] & 0x80, 0, "s + L stays below 2^253");
    s[31] |= sign;
}

Test(sign, a_signature_verifies_for_its_key_label_and_message)
{
    struct signed_msg m;

    make_signed(&m);
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), m.sig), SOTTO_OK);
}

Test(sign, valid_signatures_pass_whichever_sign_bit_the_key_gives)
{
    /* the library stores the Ed25519 sign bit in the top bit of s: about half of all keys set
     * it, and the check against L must not refuse their signatures */
    int seen[2] = {0, 0};

    for (int i = 0; i < 64 && (!seen[0] || !seen[1]); i++) {
        struct signed_msg m;
        make_signed(&m);
        cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), m.sig), SOTTO_OK, "key %d", i);
        seen[m.sig[63] >> 7] = 1;
    }
    cr_assert(seen[0] && seen[1], "64 keys gave only one sign bit");
}

Test(sign, an_empty_message_can_be_signed)
{
    struct signed_msg m;

    make_signed(&m);
    cr_assert_eq(e2e_sign(fx.ctx, m.priv, LABEL, NULL, 0, m.sig), SOTTO_OK);
    cr_assert_eq(e2e_verify(m.pub, LABEL, NULL, 0, m.sig), SOTTO_OK);
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, 1, m.sig), SOTTO_EBADSIG);
}

Test(sign, every_flipped_bit_of_the_message_is_refused)
{
    struct signed_msg m;
    uint8_t copy[sizeof(msg)];

    make_signed(&m);
    for (size_t bit = 0; bit < 8 * sizeof(msg); bit += 7) {
        memcpy(copy, msg, sizeof(msg));
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(e2e_verify(m.pub, LABEL, copy, sizeof(copy), m.sig), SOTTO_EBADSIG, "bit %zu",
                     bit);
    }
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg) - 1, m.sig), SOTTO_EBADSIG,
                 "a truncated message");
}

Test(sign, every_flipped_bit_of_the_signature_is_refused)
{
    struct signed_msg m;
    uint8_t sig[E2E_SIG_LEN];

    make_signed(&m);
    for (int bit = 0; bit < 8 * E2E_SIG_LEN; bit++) {
        memcpy(sig, m.sig, sizeof(sig));
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), sig), SOTTO_OK, "bit %d", bit);
    }
}

Test(sign, a_signature_made_for_one_purpose_is_refused_for_another)
{
    struct signed_msg m;

    make_signed(&m);
    cr_assert_eq(e2e_verify(m.pub, "sotto-card-v1", msg, sizeof(msg), m.sig), SOTTO_EBADSIG);
    cr_assert_eq(e2e_verify(m.pub, "sotto-test-v2", msg, sizeof(msg), m.sig), SOTTO_EBADSIG);
    cr_assert_eq(e2e_verify(m.pub, "sotto-test-v", msg, sizeof(msg), m.sig), SOTTO_EBADSIG);
}

Test(sign, another_key_does_not_verify_the_signature)
{
    struct signed_msg a, b;

    make_signed(&a);
    make_signed(&b);
    cr_assert_eq(e2e_verify(b.pub, LABEL, msg, sizeof(msg), a.sig), SOTTO_EBADSIG);
}

Test(sign, s_plus_l_is_refused_although_the_library_accepts_it)
{
    struct signed_msg m;

    make_signed(&m);
    add_order(m.sig);
    cr_assert_eq(library_verify(m.pub, LABEL, msg, sizeof(msg), m.sig), 1,
                 "the library alone takes s + L: the check in front of it is what refuses it");
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), m.sig), SOTTO_EBADSIG);
}

Test(sign, a_scalar_equal_to_or_above_l_is_refused)
{
    struct signed_msg m;
    uint8_t sig[E2E_SIG_LEN];

    make_signed(&m);
    memcpy(sig, m.sig, 32);
    memcpy(sig + 32, order_l, 32);
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), sig), SOTTO_EBADSIG, "s == L");
    memset(sig + 32, 0xff, 32);
    sig[63] = 0x7f;
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), sig), SOTTO_EBADSIG, "s = 2^255-1");
    memset(sig + 32, 0, 32);
    sig[63] = 0x10; /* 2^252 + 2^125: above L = 2^252 + 0x14def9de... */
    sig[47] = 0x20;
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), sig), SOTTO_EBADSIG, "s > L");
}

Test(sign, a_key_with_another_type_byte_is_refused)
{
    struct signed_msg m;

    make_signed(&m);
    for (int t = 0; t < 256; t++) {
        if (t == 0x05)
            continue;
        m.pub[0] = (uint8_t)t;
        cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), m.sig), SOTTO_EBADKEY, "%d", t);
        cr_assert_eq(e2e_pubkey_check(m.pub), SOTTO_EBADKEY);
    }
}

Test(sign, a_second_spelling_of_the_key_is_refused_although_the_library_accepts_it)
{
    /* the top bit of the last byte is not part of the X25519 coordinate: the same key with it
     * set would have another number and fingerprint */
    struct signed_msg m;

    make_signed(&m);
    m.pub[32] |= 0x80;
    cr_assert_eq(library_verify(m.pub, LABEL, msg, sizeof(msg), m.sig), 1);
    cr_assert_eq(e2e_verify(m.pub, LABEL, msg, sizeof(msg), m.sig), SOTTO_EBADKEY);
}

/* Curve25519 points of small order (libsodium's list) and non-canonical spellings of them. */
static const uint8_t small_order[][32] = {
        {0}, /* 0: order 2 */
        {1}, /* 1: order 4 */
        {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
         0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
         0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}, /* order 8 */
        {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
         0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
         0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57}, /* order 8 */
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p - 1: order 2 */
        {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p, spelling 0 */
        {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p + 1, spelling 1 */
};

Test(sign, small_order_keys_are_refused)
{
    struct signed_msg m;
    uint8_t key[E2E_KEY_LEN] = {0x05};

    make_signed(&m);
    for (size_t i = 0; i < sizeof(small_order) / sizeof(small_order[0]); i++) {
        memcpy(key + 1, small_order[i], 32);
        cr_assert_eq(e2e_pubkey_check(key), SOTTO_EBADKEY, "point %zu", i);
        cr_assert_eq(e2e_verify(key, LABEL, msg, sizeof(msg), m.sig), SOTTO_EBADKEY, "%zu", i);
    }
}

/* e2e_pubkey_check compares with a list instead of multiplying: it must answer what
 * libsodium's crypto_scalarmult answers for every canonical key, here the listed points, their
 * neighbours, and random canonical keys (random u-coordinates, half of them on the twist). */
static bool sodium_refuses(const uint8_t u[static 32])
{
    static const uint8_t scalar[crypto_scalarmult_SCALARBYTES] = {1};
    uint8_t q[crypto_scalarmult_BYTES];

    return crypto_scalarmult(q, scalar, u) != 0;
}

static void agree(const uint8_t u[static 32])
{
    uint8_t key[E2E_KEY_LEN] = {0x05};
    bool canonical = (u[31] & 0x80) == 0 &&
                     !(u[31] == 0x7f && u[0] >= 0xed && memcmp(u + 1, small_order[4] + 1, 30) == 0);

    memcpy(key + 1, u, 32);
    if (!canonical)
        cr_assert_eq(e2e_pubkey_check(key), SOTTO_EBADKEY);
    else
        cr_assert_eq(e2e_pubkey_check(key) == SOTTO_EBADKEY, sodium_refuses(u),
                     "the list and libsodium differ on %02x%02x..%02x", u[0], u[1], u[31]);
}

Test(sign, the_small_order_list_answers_as_libsodium_does)
{
    uint8_t u[32];

    for (size_t i = 0; i < sizeof(small_order) / sizeof(small_order[0]); i++) {
        cr_assert(sodium_refuses(small_order[i]), "point %zu is of small order", i);
        memcpy(u, small_order[i], 32);
        agree(u);
        u[0]++;
        agree(u);
        u[0] -= 2;
        agree(u);
    }
    for (int i = 0; i < 20000; i++) {
        randombytes_buf(u, sizeof(u));
        u[31] &= 0x7f;
        agree(u);
    }
}

Test(sign, generated_keys_pass_the_key_check)
{
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];

    for (int i = 0; i < 32; i++) {
        cr_assert_eq(e2e_identity_generate(fx.ctx, pub, priv), SOTTO_OK);
        cr_assert_eq(e2e_pubkey_check(pub), SOTTO_OK);
    }
}

Test(sign, a_message_over_the_cap_is_refused_and_one_at_the_cap_is_signed)
{
    struct signed_msg m;
    uint8_t *big = calloc(1, E2E_SIGNED_MAX + 1);

    cr_assert_not_null(big);
    make_signed(&m);
    cr_assert_eq(e2e_sign(fx.ctx, m.priv, LABEL, big, E2E_SIGNED_MAX + 1, m.sig), SOTTO_ETOOBIG);
    cr_assert_eq(e2e_verify(m.pub, LABEL, big, E2E_SIGNED_MAX + 1, m.sig), SOTTO_ETOOBIG);
    cr_assert_eq(e2e_verify(m.pub, LABEL, big, SIZE_MAX, m.sig), SOTTO_ETOOBIG);
    cr_assert_eq(e2e_sign(fx.ctx, m.priv, LABEL, big, E2E_SIGNED_MAX, m.sig), SOTTO_OK);
    cr_assert_eq(e2e_verify(m.pub, LABEL, big, E2E_SIGNED_MAX, m.sig), SOTTO_OK);
    free(big);
}

Test(sign, labels_must_be_one_to_thirty_two_bytes)
{
    struct signed_msg m;
    char longest[E2E_LABEL_MAX + 2];

    make_signed(&m);
    memset(longest, 'a', sizeof(longest));
    longest[E2E_LABEL_MAX] = '\0';
    cr_assert_eq(e2e_sign(fx.ctx, m.priv, longest, msg, sizeof(msg), m.sig), SOTTO_OK);
    cr_assert_eq(e2e_verify(m.pub, longest, msg, sizeof(msg), m.sig), SOTTO_OK);
    longest[E2E_LABEL_MAX] = 'a';
    longest[E2E_LABEL_MAX + 1] = '\0';
    cr_assert_eq(e2e_sign(fx.ctx, m.priv, longest, msg, sizeof(msg), m.sig), SOTTO_EINVAL);
    cr_assert_eq(e2e_verify(m.pub, longest, msg, sizeof(msg), m.sig), SOTTO_EINVAL);
    cr_assert_eq(e2e_sign(fx.ctx, m.priv, "", msg, sizeof(msg), m.sig), SOTTO_EINVAL);
    cr_assert_eq(e2e_verify(m.pub, "", msg, sizeof(msg), m.sig), SOTTO_EINVAL);
    cr_assert_eq(e2e_verify(m.pub, NULL, msg, sizeof(msg), m.sig), SOTTO_EINVAL);
    cr_assert_eq(e2e_verify(m.pub, LABEL, NULL, 1, m.sig), SOTTO_EINVAL);
}
