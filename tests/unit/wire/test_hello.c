/* tests/unit/wire/test_hello.c: the link proof. A HELLO verifies only for the link (TLS
 * exporter value) and the end (role) it was made for, and any change of one of its bytes is
 * refused by decoding or by verification. */
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "failalloc.h"
#include "util/bytes.h"
#include "wire_test.h"

static struct {
    struct failalloc fa;
    struct sotto_env env;
    struct e2e_ctx *ctx;
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    uint8_t exporter[WIRE_EXPORTER_LEN];
} fx;

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    failalloc_env(&fx.env, &fx.fa, 0);
    cr_assert_eq(e2e_ctx_create(&fx.ctx, &fx.env), SOTTO_OK);
    cr_assert_eq(e2e_identity_generate(fx.ctx, fx.pub, fx.priv), SOTTO_OK);
    for (size_t i = 0; i < WIRE_EXPORTER_LEN; i++)
        fx.exporter[i] = (uint8_t)(0xe0 ^ i);
}

static void teardown(void)
{
    e2e_ctx_free(fx.ctx);
    sodium_memzero(fx.priv, sizeof(fx.priv));
    cr_expect_eq(fx.fa.live, 0, "%ld allocations leaked", fx.fa.live);
}

TestSuite(wire_hello, .init = setup, .fini = teardown);

static void signed_hello(struct wire_hello *h, uint8_t role)
{
    memset(h, 0, sizeof(*h));
    h->version_min = WIRE_VERSION_MIN;
    h->version_max = WIRE_VERSION_MAX;
    h->role = role;
    memcpy(h->key, fx.pub, E2E_KEY_LEN);
    cr_assert_eq(wire_hello_sign(fx.ctx, fx.priv, fx.exporter, h), SOTTO_OK);
}

Test(wire_hello, a_signed_hello_verifies_after_a_trip_through_a_frame)
{
    struct wire_frame f = {.type = WIRE_HELLO}, got;
    uint8_t buf[WIRE_HEADER_LEN + WIRE_HELLO_LEN];
    size_t len;

    signed_hello(&f.hello, WIRE_ROLE_DIALER);
    len = wire_encode_frame_ok(&f, buf, sizeof(buf));
    cr_assert_eq(len, sizeof(buf));
    cr_assert_eq(wire_decode_frame(&got, buf, len), SOTTO_OK);
    cr_assert_eq(wire_hello_verify(&got.hello, fx.exporter, WIRE_ROLE_DIALER), SOTTO_OK);
}

Test(wire_hello, the_signed_bytes_are_exporter_role_key_and_versions)
{
    struct wire_hello h = {.version_min = 1, .version_max = 3, .role = WIRE_ROLE_LISTENER};
    uint8_t msg[WIRE_HELLO_SIGNED_LEN];

    memcpy(h.key, wire_test_key, E2E_KEY_LEN);
    wire_hello_signed_bytes(&h, fx.exporter, msg);
    cr_assert_eq(sizeof(msg), 68);
    cr_assert_arr_eq(msg, fx.exporter, WIRE_EXPORTER_LEN);
    cr_assert_eq(msg[32], WIRE_ROLE_LISTENER);
    cr_assert_arr_eq(msg + 33, wire_test_key, E2E_KEY_LEN);
    cr_assert_eq(msg[66], 1);
    cr_assert_eq(msg[67], 3);
}

Test(wire_hello, the_signature_is_made_under_the_link_label)
{
    struct wire_hello h;
    uint8_t msg[WIRE_HELLO_SIGNED_LEN];

    signed_hello(&h, WIRE_ROLE_LISTENER);
    wire_hello_signed_bytes(&h, fx.exporter, msg);
    cr_assert_eq(e2e_verify(h.key, "sotto-link-v1", msg, sizeof(msg), h.sig), SOTTO_OK);
    cr_assert_eq(e2e_verify(h.key, "sotto-card-v1", msg, sizeof(msg), h.sig), SOTTO_EBADSIG);
}

Test(wire_hello, a_hello_for_the_other_role_is_refused)
{
    struct wire_hello h;

    signed_hello(&h, WIRE_ROLE_LISTENER);
    cr_assert_eq(wire_hello_verify(&h, fx.exporter, WIRE_ROLE_LISTENER), SOTTO_OK);
    cr_assert_eq(wire_hello_verify(&h, fx.exporter, WIRE_ROLE_DIALER), SOTTO_EBADSIG);
    /* relabelled after signing: the role is signed */
    h.role = WIRE_ROLE_DIALER;
    cr_assert_eq(wire_hello_verify(&h, fx.exporter, WIRE_ROLE_DIALER), SOTTO_EBADSIG);
    cr_assert_eq(wire_hello_verify(&h, fx.exporter, 2), SOTTO_EINVAL);
}

Test(wire_hello, a_hello_signed_over_another_exporter_is_refused)
{
    struct wire_hello h;
    uint8_t other[WIRE_EXPORTER_LEN];

    signed_hello(&h, WIRE_ROLE_DIALER);
    for (size_t i = 0; i < WIRE_EXPORTER_LEN; i++) {
        memcpy(other, fx.exporter, sizeof(other));
        other[i] ^= 0x01;
        cr_assert_eq(wire_hello_verify(&h, other, WIRE_ROLE_DIALER), SOTTO_EBADSIG, "byte %zu", i);
    }
}

Test(wire_hello, changed_versions_are_refused)
{
    struct wire_hello h;

    signed_hello(&h, WIRE_ROLE_DIALER);
    h.version_max = 2; /* a downgrade or upgrade in transit */
    cr_assert_eq(wire_hello_verify(&h, fx.exporter, WIRE_ROLE_DIALER), SOTTO_EBADSIG);
    h.version_max = 1;
    h.version_min = 0;
    cr_assert_eq(wire_hello_verify(&h, fx.exporter, WIRE_ROLE_DIALER), SOTTO_EPROTO);
}

Test(wire_hello, a_proof_by_another_key_is_refused)
{
    struct wire_hello h;
    uint8_t pub2[E2E_KEY_LEN], priv2[E2E_PRIV_LEN];

    cr_assert_eq(e2e_identity_generate(fx.ctx, pub2, priv2), SOTTO_OK);
    signed_hello(&h, WIRE_ROLE_DIALER);
    memcpy(h.key, pub2, E2E_KEY_LEN); /* claims key 2 with key 1's signature */
    cr_assert_eq(wire_hello_verify(&h, fx.exporter, WIRE_ROLE_DIALER), SOTTO_EBADSIG);
    /* and the signer refuses to make a proof whose key is not its own */
    memcpy(h.key, fx.pub, E2E_KEY_LEN);
    cr_assert_eq(wire_hello_sign(fx.ctx, priv2, fx.exporter, &h), SOTTO_EINVAL);
    for (size_t i = 0; i < E2E_SIG_LEN; i++)
        cr_assert_eq(h.sig[i], 0, "the signature is wiped on failure");
    sodium_memzero(priv2, sizeof(priv2));
}

Test(wire_hello, sign_refuses_fields_out_of_range)
{
    struct wire_hello h;

    signed_hello(&h, WIRE_ROLE_DIALER);
    h.role = 7;
    cr_assert_eq(wire_hello_sign(fx.ctx, fx.priv, fx.exporter, &h), SOTTO_EINVAL);
    h.role = WIRE_ROLE_DIALER;
    h.version_min = 2;
    cr_assert_eq(wire_hello_sign(fx.ctx, fx.priv, fx.exporter, &h), SOTTO_EINVAL);
}

/* Every position, every other value: ~106 x 255 decodes, and a verification for each change
 * that still decodes as a HELLO. */
Test(wire_hello, every_single_byte_change_of_a_hello_frame_is_refused, .timeout = 240)
{
    struct wire_frame f = {.type = WIRE_HELLO}, got;
    uint8_t buf[WIRE_HEADER_LEN + WIRE_HELLO_LEN];
    size_t len, by_decode = 0, by_verify = 0;

    signed_hello(&f.hello, WIRE_ROLE_LISTENER);
    len = wire_encode_frame_ok(&f, buf, sizeof(buf));
    for (size_t i = 0; i < len; i++) {
        uint8_t orig = buf[i];
        for (int v = 0; v < 256; v++) {
            struct reader r;
            if (v == orig)
                continue;
            buf[i] = (uint8_t)v;
            reader_init(&r, buf, len);
            if (wire_frame_decode(&got, &r) != SOTTO_OK) {
                by_decode++;
                continue;
            }
            if (got.type != WIRE_HELLO) {
                /* a CARD takes any bytes: the node, expecting a HELLO, closes the link */
                cr_assert(i == 1 && got.type == WIRE_CARD, "byte %zu to %02x", i, v);
                by_decode++;
                continue;
            }
            cr_assert_neq(wire_hello_verify(&got.hello, fx.exporter, WIRE_ROLE_LISTENER), SOTTO_OK,
                          "byte %zu changed from %02x to %02x was accepted", i, orig, v);
            by_verify++;
        }
        buf[i] = orig;
    }
    cr_assert_eq(by_decode + by_verify, len * 255);
    cr_assert_gt(by_verify, 64 * 255, "the signature's bytes reach verification");
    cr_assert_eq(wire_decode_frame(&got, buf, len), SOTTO_OK);
    cr_assert_eq(wire_hello_verify(&got.hello, fx.exporter, WIRE_ROLE_LISTENER), SOTTO_OK);
}

Test(wire_hello, the_version_is_the_highest_in_common)
{
    struct wire_hello h = {.version_min = 1, .version_max = 1};
    uint8_t v = 99;

    cr_assert_eq(wire_version_pick(&h, &v), SOTTO_OK);
    cr_assert_eq(v, 1);
    h.version_max = 200; /* a newer peer that still speaks 1 */
    cr_assert_eq(wire_version_pick(&h, &v), SOTTO_OK);
    cr_assert_eq(v, WIRE_VERSION_MAX);
    h.version_min = WIRE_VERSION_MAX + 1; /* a peer that dropped our versions */
    cr_assert_eq(wire_version_pick(&h, &v), SOTTO_EPROTO);
    cr_assert_eq(v, 0);
    h.version_min = 0;
    h.version_max = 0;
    cr_assert_eq(wire_version_pick(&h, &v), SOTTO_EPROTO);
    h.version_min = 2;
    h.version_max = 1;
    cr_assert_eq(wire_version_pick(&h, &v), SOTTO_EPROTO);
}
