/* tests/unit/e2e/test_keys.c: identity pairs, registration ids and prekeys come out whole,
 * from the env's randomness, and parse back in the library. */
#include <string.h>

#include <criterion/criterion.h>

#include <signal/curve.h>
#include <signal/session_pre_key.h>
#include <signal/signal_protocol.h>

#include "e2e_test.h"

TestSuite(keys, .init = e2e_fixture_setup, .fini = e2e_fixture_teardown);

Test(keys, a_generated_pair_is_a_typed_public_key_and_its_private_key)
{
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN], again[E2E_KEY_LEN];
    uint8_t pub2[E2E_KEY_LEN], priv2[E2E_PRIV_LEN];

    cr_assert_eq(e2e_identity_generate(fx.ctx, pub, priv), SOTTO_OK);
    cr_assert_eq(pub[0], 0x05);
    cr_assert_eq(e2e_public_from_private(fx.ctx, priv, again), SOTTO_OK);
    cr_assert_arr_eq(again, pub, E2E_KEY_LEN);
    cr_assert_eq(e2e_identity_generate(fx.ctx, pub2, priv2), SOTTO_OK);
    cr_assert_arr_neq(pub2, pub, E2E_KEY_LEN);
    cr_assert_arr_neq(priv2, priv, E2E_PRIV_LEN);
    cr_assert_eq(e2e_public_from_private(fx.ctx, priv2, again), SOTTO_OK);
    cr_assert_arr_neq(again, pub, E2E_KEY_LEN, "another private key has another public key");
}

Test(keys, key_generation_draws_on_the_env_randomness)
{
    struct failalloc fa2 = {.rng_state = 42};
    struct sotto_env env2;
    struct e2e_ctx *ctx2;
    uint8_t pub[2][E2E_KEY_LEN], priv[2][E2E_PRIV_LEN];
    uint32_t id[2];

    fx.fa.rng_state = 42;
    failalloc_env(&env2, &fa2, 0);
    cr_assert_eq(e2e_ctx_create(&ctx2, &env2), SOTTO_OK);
    cr_assert_eq(e2e_identity_generate(fx.ctx, pub[0], priv[0]), SOTTO_OK);
    cr_assert_eq(e2e_identity_generate(ctx2, pub[1], priv[1]), SOTTO_OK);
    cr_assert_arr_eq(pub[0], pub[1], E2E_KEY_LEN, "the same seed gives the same key");
    cr_assert_eq(e2e_registration_id_generate(fx.ctx, &id[0]), SOTTO_OK);
    cr_assert_eq(e2e_registration_id_generate(ctx2, &id[1]), SOTTO_OK);
    cr_assert_eq(id[0], id[1]);
    e2e_ctx_free(ctx2);
    cr_assert_eq(fa2.live, 0);
}

Test(keys, registration_ids_stay_within_one_to_16380)
{
    uint32_t id;

    for (int i = 0; i < 2000; i++) {
        cr_assert_eq(e2e_registration_id_generate(fx.ctx, &id), SOTTO_OK);
        cr_assert(id >= 1 && id <= 16380, "id %u", id);
    }
}

Test(keys, context_creation_fails_cleanly_at_every_allocation)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct e2e_ctx *ctx = (struct e2e_ctx *)&fa;
    enum sotto_err rc = SOTTO_ENOMEM;

    for (unsigned long n = 1; rc != SOTTO_OK; n++) {
        cr_assert_lt(n, 100, "context creation never succeeded");
        failalloc_env(&env, &fa, n);
        rc = e2e_ctx_create(&ctx, &env);
        if (rc != SOTTO_OK) {
            cr_assert_eq(rc, SOTTO_ENOMEM, "allocation %lu", n);
            cr_assert_null(ctx, "no half-built context on failure");
            cr_assert_eq(fa.live, 0, "allocation %lu leaked", n);
        }
    }
    e2e_ctx_free(ctx);
    cr_assert_eq(fa.live, 0);
}

Test(keys, a_null_context_is_freed_as_a_no_op)
{
    e2e_ctx_free(NULL);
}

/* Collects what the prekey callback is given. */
struct prekey_log {
    unsigned n, fail_at;
    uint32_t ids[300];
    uint8_t pubs[300][E2E_KEY_LEN];
    int records_parse;
    int sigs_verify;
};

static enum sotto_err prekey_collect(void *arg, const struct e2e_prekey *pk)
{
    struct prekey_log *log = arg;
    session_pre_key *rec = NULL;
    signal_buffer *pub = NULL;

    if (log->fail_at != 0 && log->n + 1 == log->fail_at)
        return SOTTO_EDB;
    cr_assert_lt(log->n, 300);
    log->ids[log->n] = pk->id;
    memcpy(log->pubs[log->n], pk->pub, E2E_KEY_LEN);
    if (session_pre_key_deserialize(&rec, pk->record, pk->record_len, e2e_ctx_signal(fx.ctx)) ==
        0) {
        cr_assert_eq(session_pre_key_get_id(rec), pk->id);
        cr_assert_eq(ec_public_key_serialize(
                             &pub, ec_key_pair_get_public(session_pre_key_get_key_pair(rec))),
                     0);
        if (signal_buffer_len(pub) == E2E_KEY_LEN &&
            memcmp(signal_buffer_data(pub), pk->pub, E2E_KEY_LEN) == 0)
            log->records_parse++;
        signal_buffer_free(pub);
        SIGNAL_UNREF(rec);
    }
    log->n++;
    return SOTTO_OK;
}

Test(keys, prekeys_come_with_consecutive_ids_and_records_that_parse_back)
{
    static struct prekey_log log;

    cr_assert_eq(e2e_prekeys_generate(fx.ctx, 40, 150, prekey_collect, &log), SOTTO_OK);
    cr_assert_eq(log.n, 150);
    cr_assert_eq(log.records_parse, 150);
    for (unsigned i = 0; i < log.n; i++) {
        cr_assert_eq(log.ids[i], 40 + i);
        cr_assert_eq(log.pubs[i][0], 0x05);
        cr_assert_eq(e2e_pubkey_check(log.pubs[i]), SOTTO_OK);
        if (i > 0)
            cr_assert_arr_neq(log.pubs[i], log.pubs[i - 1], E2E_KEY_LEN);
    }
}

Test(keys, prekey_ids_wrap_past_the_24_bit_space_and_skip_zero)
{
    static struct prekey_log log;

    cr_assert_eq(e2e_prekeys_generate(fx.ctx, 0xfffffd, 4, prekey_collect, &log), SOTTO_OK);
    cr_assert_eq(log.n, 4);
    cr_assert_eq(log.ids[0], 0xfffffd);
    cr_assert_eq(log.ids[1], 0xfffffe);
    cr_assert_eq(log.ids[2], 1);
    cr_assert_eq(log.ids[3], 2);
}

Test(keys, the_first_error_of_the_callback_stops_prekey_generation_and_is_returned)
{
    static struct prekey_log log = {.fail_at = 3};

    cr_assert_eq(e2e_prekeys_generate(fx.ctx, 1, 10, prekey_collect, &log), SOTTO_EDB);
    cr_assert_eq(log.n, 2);
}

Test(keys, zero_prekeys_means_no_callback)
{
    static struct prekey_log log;

    cr_assert_eq(e2e_prekeys_generate(fx.ctx, 1, 0, prekey_collect, &log), SOTTO_OK);
    cr_assert_eq(log.n, 0);
    cr_assert_eq(e2e_prekeys_generate(fx.ctx, 1, 1, NULL, NULL), SOTTO_EINVAL);
}

struct signed_log {
    unsigned n;
    struct e2e_prekey pk;
    int parsed;
    uint64_t timestamp;
};

static enum sotto_err signed_collect(void *arg, const struct e2e_prekey *pk)
{
    struct signed_log *log = arg;
    session_signed_pre_key *rec = NULL;

    log->n++;
    log->pk = *pk;
    log->pk.record = NULL; /* wiped after the call */
    if (session_signed_pre_key_deserialize(&rec, pk->record, pk->record_len,
                                           e2e_ctx_signal(fx.ctx)) == 0) {
        log->parsed = session_signed_pre_key_get_id(rec) == pk->id &&
                      session_signed_pre_key_get_signature_len(rec) == E2E_SIG_LEN &&
                      memcmp(session_signed_pre_key_get_signature(rec), pk->sig, E2E_SIG_LEN) == 0;
        log->timestamp = session_signed_pre_key_get_timestamp(rec);
        SIGNAL_UNREF(rec);
    }
    return SOTTO_OK;
}

Test(keys, a_signed_prekey_carries_the_identity_signature_over_its_public_key)
{
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    struct signed_log log = {0};
    ec_public_key *identity = NULL;

    cr_assert_eq(e2e_identity_generate(fx.ctx, pub, priv), SOTTO_OK);
    cr_assert_eq(e2e_signed_prekey_generate(fx.ctx, pub, priv, 7, 1700000000123ULL, signed_collect,
                                            &log),
                 SOTTO_OK);
    cr_assert_eq(log.n, 1);
    cr_assert_eq(log.pk.id, 7);
    cr_assert(log.parsed, "the record parses back with the same id and signature");
    cr_assert_eq(log.timestamp, 1700000000123ULL);
    cr_assert_eq(curve_decode_point(&identity, pub, E2E_KEY_LEN, NULL), 0);
    cr_assert_eq(curve_verify_signature(identity, log.pk.pub, E2E_KEY_LEN, log.pk.sig, E2E_SIG_LEN),
                 1);
    log.pk.pub[5] ^= 1;
    cr_assert_eq(curve_verify_signature(identity, log.pk.pub, E2E_KEY_LEN, log.pk.sig, E2E_SIG_LEN),
                 0);
    SIGNAL_UNREF(identity);
}

Test(keys, a_signed_prekey_is_refused_for_a_pair_that_does_not_belong_together)
{
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN], pub2[E2E_KEY_LEN], priv2[E2E_PRIV_LEN];
    struct signed_log log = {0};

    cr_assert_eq(e2e_identity_generate(fx.ctx, pub, priv), SOTTO_OK);
    cr_assert_eq(e2e_identity_generate(fx.ctx, pub2, priv2), SOTTO_OK);
    cr_assert_eq(e2e_signed_prekey_generate(fx.ctx, pub, priv2, 1, 0, signed_collect, &log),
                 SOTTO_EINVAL);
    cr_assert_eq(log.n, 0);
}
