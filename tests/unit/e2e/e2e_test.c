/* tests/unit/e2e/e2e_test.c */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <signal/curve.h>
#include <signal/signal_protocol.h>

#include "e2e_test.h"

struct e2e_fixture fx;

void e2e_fixture_setup(void)
{
    memset(&fx, 0, sizeof(fx));
    failalloc_env(&fx.env, &fx.fa, 0);
    cr_assert_eq(e2e_ctx_create(&fx.ctx, &fx.env), SOTTO_OK);
}

void e2e_fixture_teardown(void)
{
    e2e_ctx_free(fx.ctx);
    fx.ctx = NULL;
    cr_expect_eq(fx.fa.live, 0, "%ld allocations of ours leaked", fx.fa.live);
}

int library_verify(const uint8_t pub[E2E_KEY_LEN], const char *label, const uint8_t *msg,
                   size_t len, const uint8_t sig[E2E_SIG_LEN])
{
    size_t label_len = strlen(label);
    uint8_t *buf = malloc(label_len + 1 + len);
    ec_public_key *key = NULL;
    int rc;

    cr_assert_not_null(buf);
    memcpy(buf, label, label_len);
    buf[label_len] = 0;
    if (len > 0)
        memcpy(buf + label_len + 1, msg, len);
    cr_assert_eq(curve_decode_point(&key, pub, E2E_KEY_LEN, NULL), 0);
    rc = curve_verify_signature(key, buf, label_len + 1 + len, sig, E2E_SIG_LEN);
    SIGNAL_UNREF(key);
    free(buf);
    return rc;
}
