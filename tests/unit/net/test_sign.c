/* tests/unit/net/test_sign.c: the bytes a directory write signs are exactly PROTOCOL.md's, and
 * the signature verifies under the identity key for those bytes only. */
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "identity/number.h"
#include "net_test.h"

TestSuite(net_sign, .init = net_fx_init, .fini = net_fx_fini);

/* SHA-256 of "" and of "{}" */
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define OBJ_SHA   "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

Test(net_sign, signs_host_method_target_body_digest_and_timestamp_on_lines)
{
    const char *want = "dir.example:8443\nPUT\n/v1/accounts/123456789012345/prekeys\n" OBJ_SHA
                       "\n1700000000000";
    uint8_t out[NET_SIGNED_MSG_MAX];
    size_t len = 0;

    cr_assert_eq(net_sign_message("dir.example:8443", "PUT", "/v1/accounts/123456789012345/prekeys",
                                  (const uint8_t *)"{}", 2, "1700000000000", out, sizeof(out),
                                  &len),
                 SOTTO_OK);
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(out, want, len), 0);
}

Test(net_sign, an_empty_body_signs_the_digest_of_the_empty_string)
{
    const char *want = "h\nDELETE\n/v1/accounts/1\n" EMPTY_SHA "\n5";
    uint8_t out[NET_SIGNED_MSG_MAX];
    size_t len = 0;

    cr_assert_eq(
            net_sign_message("h", "DELETE", "/v1/accounts/1", NULL, 0, "5", out, sizeof(out), &len),
            SOTTO_OK);
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(out, want, len), 0);
}

Test(net_sign, refuses_a_part_with_a_newline_or_a_message_that_does_not_fit)
{
    uint8_t out[NET_SIGNED_MSG_MAX];
    size_t len = 9;

    cr_assert_eq(net_sign_message("h\nx", "GET", "/", NULL, 0, "1", out, sizeof(out), &len),
                 SOTTO_EINVAL);
    cr_assert_eq(len, 0);
    cr_assert_eq(net_sign_message("h", "GET", "/\n", NULL, 0, "1", out, sizeof(out), &len),
                 SOTTO_EINVAL);
    cr_assert_eq(net_sign_message("h", "GET", "/", NULL, 0, "", out, sizeof(out), &len),
                 SOTTO_EINVAL);
    cr_assert_eq(net_sign_message("h", "GET", "/", NULL, 3, "1", out, sizeof(out), &len),
                 SOTTO_EINVAL, "a length without a body");
    cr_assert_eq(net_sign_message("h", "GET", "/", NULL, 0, "1", out, 70, &len), SOTTO_ETOOBIG);
}

static void identity(struct net_identity *id, uint8_t pub[static E2E_KEY_LEN],
                     uint8_t priv[static E2E_PRIV_LEN])
{
    cr_assert_eq(e2e_identity_generate(nfx.e2e, pub, priv), SOTTO_OK);
    id->e2e = nfx.e2e;
    id->priv = priv;
    id->number = identity_number(pub);
}

Test(net_sign, the_signature_verifies_for_the_signed_bytes_and_no_others)
{
    struct net_request rq = {.method = "POST",
                             .target = "/v1/accounts",
                             .body = (const uint8_t *)"{}",
                             .body_len = 2};
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN], msg[NET_SIGNED_MSG_MAX], sig[E2E_SIG_LEN];
    char digits[NUMBER_DIGITS_LEN];
    struct net_identity id;
    struct net_signature s;
    size_t len = 0;

    identity(&id, pub, priv);
    cr_assert_eq(net_sign_request(&id, "127.0.0.1:4", &rq, 1700000000123ULL, &s), SOTTO_OK);
    identity_number_digits(id.number, digits);
    cr_assert_str_eq(s.number, digits);
    cr_assert_str_eq(s.timestamp, "1700000000123");
    cr_assert_eq(net_b64_exact(s.signature, sig, sizeof(sig)), SOTTO_OK);
    cr_assert_eq(net_sign_message("127.0.0.1:4", "POST", "/v1/accounts", rq.body, 2, s.timestamp,
                                  msg, sizeof(msg), &len),
                 SOTTO_OK);
    cr_assert_eq(e2e_verify(pub, NET_SIGN_LABEL, msg, len, sig), SOTTO_OK);
    cr_assert_eq(e2e_verify(pub, "sotto-card-v1", msg, len, sig), SOTTO_EBADSIG,
                 "the label binds the signature to directory writes");
    msg[0] ^= 1;
    cr_assert_eq(e2e_verify(pub, NET_SIGN_LABEL, msg, len, sig), SOTTO_EBADSIG);
    sodium_memzero(priv, sizeof(priv));
}

Test(net_sign, refuses_an_identity_without_a_key_or_a_valid_number)
{
    struct net_request rq = {.method = "DELETE", .target = "/"};
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    struct net_identity id;
    struct net_signature s;

    identity(&id, pub, priv);
    id.number = 42;
    cr_assert_eq(net_sign_request(&id, "h", &rq, 1, &s), SOTTO_EINVAL);
    cr_assert_str_empty(s.signature);
    id.number = identity_number(pub);
    id.priv = NULL;
    cr_assert_eq(net_sign_request(&id, "h", &rq, 1, &s), SOTTO_EINVAL);
    sodium_memzero(priv, sizeof(priv));
}
