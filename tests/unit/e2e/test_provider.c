/* tests/unit/e2e/test_provider.c: the crypto provider gives the standard answers (RFC 5869,
 * FIPS 180-2, SP 800-38A and the library's own fingerprint vector), refuses a bad padding as an
 * invalid message, and sends the library's messages to the logger at debug level. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <signal/curve.h>
#include <signal/fingerprint.h>
#include <signal/hkdf.h>
#include <signal/signal_protocol.h>

#include "e2e_test.h"
#include "sotto/log.h"

/* Exported by the library but declared only in its uninstalled signal_protocol_internal.h:
 * they call the provider's callbacks as the library does. */
int signal_sha512_digest_init(signal_context *context, void **digest_context);
int signal_sha512_digest_update(signal_context *context, void *digest_context, const uint8_t *data,
                                size_t data_len);
int signal_sha512_digest_final(signal_context *context, void *digest_context,
                               signal_buffer **output);
void signal_sha512_digest_cleanup(signal_context *context, void *digest_context);
int signal_encrypt(signal_context *context, signal_buffer **output, int cipher, const uint8_t *key,
                   size_t key_len, const uint8_t *iv, size_t iv_len, const uint8_t *plaintext,
                   size_t plaintext_len);
int signal_decrypt(signal_context *context, signal_buffer **output, int cipher, const uint8_t *key,
                   size_t key_len, const uint8_t *iv, size_t iv_len, const uint8_t *ciphertext,
                   size_t ciphertext_len);

TestSuite(provider, .init = e2e_fixture_setup, .fini = e2e_fixture_teardown);

static void assert_hex(const uint8_t *p, size_t len, const char *hex)
{
    char buf[256];

    cr_assert_lt(2 * len, sizeof(buf));
    for (size_t i = 0; i < len; i++) {
        static const char digits[] = "0123456789abcdef";
        buf[2 * i] = digits[p[i] >> 4];
        buf[2 * i + 1] = digits[p[i] & 15];
    }
    buf[2 * len] = '\0';
    cr_assert_str_eq(buf, hex);
}

static void hkdf_case(const uint8_t *salt, size_t salt_len, const uint8_t *info, size_t info_len,
                      const char *okm_hex)
{
    uint8_t ikm[22];
    hkdf_context *kdf = NULL;
    uint8_t *okm = NULL;
    ssize_t n;

    memset(ikm, 0x0b, sizeof(ikm));
    cr_assert_eq(hkdf_create(&kdf, 3, e2e_ctx_signal(fx.ctx)), 0);
    n = hkdf_derive_secrets(kdf, &okm, ikm, sizeof(ikm), salt, salt_len, info, info_len, 42);
    cr_assert_eq(n, 42);
    assert_hex(okm, 42, okm_hex);
    free(okm);
    SIGNAL_UNREF(kdf);
}

Test(provider, hmac_sha256_gives_the_rfc_5869_hkdf_answers)
{
    const uint8_t salt[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const uint8_t info[] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9};
    const uint8_t none[1] = {0};

    hkdf_case(salt, sizeof(salt), info, sizeof(info),
              "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b8871858"
              "65");
    /* test case 3: an empty salt is an HMAC key of length zero */
    hkdf_case(none, 0, none, 0,
              "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96"
              "c8");
}

Test(provider, sha512_final_leaves_the_context_ready_for_the_next_digest)
{
    signal_context *sc = e2e_ctx_signal(fx.ctx);
    const char *abc_hex = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
    signal_buffer *out = NULL;
    void *md = NULL;

    cr_assert_eq(signal_sha512_digest_init(sc, &md), 0);
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(signal_sha512_digest_update(sc, md, (const uint8_t *)"abc", 3), 0);
        cr_assert_eq(signal_sha512_digest_final(sc, md, &out), 0);
        cr_assert_eq(signal_buffer_len(out), 64);
        assert_hex(signal_buffer_data(out), 64, abc_hex);
        signal_buffer_free(out);
    }
    signal_sha512_digest_cleanup(sc, md);
}

/* SP 800-38A, F.2.5 and F.5.5: AES-256, first block. */
static const uint8_t aes_key[32] = {
        0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
        0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
        0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
};
static const uint8_t aes_plain[16] = {0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96,
                                      0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a};
static const uint8_t cbc_iv[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t ctr_iv[16] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
                                   0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};

Test(provider, aes_256_cbc_gives_the_sp_800_38a_answer_and_pads)
{
    signal_context *sc = e2e_ctx_signal(fx.ctx);
    signal_buffer *ct = NULL, *pt = NULL;

    cr_assert_eq(signal_encrypt(sc, &ct, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 16,
                                aes_plain, 16),
                 0);
    cr_assert_eq(signal_buffer_len(ct), 32, "a full block of padding follows");
    assert_hex(signal_buffer_data(ct), 16, "f58c4c04d6e5f1ba779eabfb5f7bfbd6");
    cr_assert_eq(signal_decrypt(sc, &pt, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 16,
                                signal_buffer_data(ct), signal_buffer_len(ct)),
                 0);
    cr_assert_eq(signal_buffer_len(pt), 16);
    cr_assert_arr_eq(signal_buffer_data(pt), aes_plain, 16);
    signal_buffer_free(ct);
    signal_buffer_bzero_free(pt);
}

Test(provider, aes_256_ctr_gives_the_sp_800_38a_answer)
{
    signal_context *sc = e2e_ctx_signal(fx.ctx);
    signal_buffer *ct = NULL, *pt = NULL;

    cr_assert_eq(signal_encrypt(sc, &ct, SG_CIPHER_AES_CTR_NOPADDING, aes_key, 32, ctr_iv, 16,
                                aes_plain, 16),
                 0);
    cr_assert_eq(signal_buffer_len(ct), 16);
    assert_hex(signal_buffer_data(ct), 16, "601ec313775789a5b7a7f504bbf3d228");
    cr_assert_eq(signal_decrypt(sc, &pt, SG_CIPHER_AES_CTR_NOPADDING, aes_key, 32, ctr_iv, 16,
                                signal_buffer_data(ct), 7),
                 0);
    cr_assert_eq(signal_buffer_len(pt), 7, "no padding in counter mode");
    cr_assert_arr_eq(signal_buffer_data(pt), aes_plain, 7);
    signal_buffer_free(ct);
    signal_buffer_bzero_free(pt);
}

Test(provider, a_bad_cbc_padding_is_an_invalid_message)
{
    signal_context *sc = e2e_ctx_signal(fx.ctx);
    signal_buffer *ct = NULL, *pt = NULL;
    uint8_t bad[32];

    cr_assert_eq(signal_encrypt(sc, &ct, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 16,
                                aes_plain, 16),
                 0);
    memcpy(bad, signal_buffer_data(ct), 32);
    bad[15] ^= 0x01; /* the last padding byte becomes 0x11: more than a block */
    cr_assert_eq(signal_decrypt(sc, &pt, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 16, bad, 32),
                 SG_ERR_INVALID_MESSAGE);
    cr_assert_null(pt);
    cr_assert_eq(signal_decrypt(sc, &pt, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 16, bad, 31),
                 SG_ERR_INVALID_MESSAGE, "not a whole number of blocks");
    cr_assert_eq(signal_decrypt(sc, &pt, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 16, bad, 0),
                 SG_ERR_INVALID_MESSAGE, "nothing at all");
    signal_buffer_free(ct);
}

Test(provider, wrong_key_or_iv_lengths_and_unknown_modes_are_refused)
{
    signal_context *sc = e2e_ctx_signal(fx.ctx);
    signal_buffer *ct = NULL;

    cr_assert_lt(signal_encrypt(sc, &ct, SG_CIPHER_AES_CBC_PKCS5, aes_key, 16, cbc_iv, 16,
                                aes_plain, 16),
                 0);
    cr_assert_lt(signal_encrypt(sc, &ct, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 12,
                                aes_plain, 16),
                 0);
    cr_assert_lt(signal_encrypt(sc, &ct, 99, aes_key, 32, cbc_iv, 16, aes_plain, 16), 0);
    cr_assert_null(ct);
}

Test(provider, encryption_fails_cleanly_when_the_allocator_fails)
{
    signal_context *sc = e2e_ctx_signal(fx.ctx);
    signal_buffer *ct = NULL;

    fx.fa.fail_at = fx.fa.calls + 1;
    cr_assert_eq(signal_encrypt(sc, &ct, SG_CIPHER_AES_CBC_PKCS5, aes_key, 32, cbc_iv, 16,
                                aes_plain, 16),
                 SG_ERR_NOMEM);
    cr_assert_null(ct);
}

/* The library's test vector (tests/test_fingerprint.c): 5200 SHA-512 rounds through the
 * provider, reusing one digest context. */
Test(provider, the_library_fingerprint_vector_comes_out_through_our_provider)
{
    static const uint8_t alice[33] = {0x05, 0x06, 0x86, 0x3b, 0xc6, 0x6d, 0x02, 0xb4, 0x0d,
                                      0x27, 0xb8, 0xd4, 0x9c, 0xa7, 0xc0, 0x9e, 0x92, 0x39,
                                      0x23, 0x6f, 0x9d, 0x7d, 0x25, 0xd6, 0xfc, 0xca, 0x5c,
                                      0xe1, 0x3c, 0x70, 0x64, 0xd8, 0x68};
    static const uint8_t bob[33] = {0x05, 0xf7, 0x81, 0xb6, 0xfb, 0x32, 0xfe, 0xd9, 0xba,
                                    0x1c, 0xf2, 0xde, 0x97, 0x8d, 0x4d, 0x5d, 0xa2, 0x8d,
                                    0xc3, 0x40, 0x46, 0xae, 0x81, 0x44, 0x02, 0xb5, 0xc0,
                                    0xdb, 0xd9, 0x6f, 0xda, 0x90, 0x7b};
    signal_context *sc = e2e_ctx_signal(fx.ctx);
    ec_public_key *a = NULL, *b = NULL;
    fingerprint_generator *gen = NULL;
    fingerprint *fp = NULL;

    cr_assert_eq(curve_decode_point(&a, alice, sizeof(alice), sc), 0);
    cr_assert_eq(curve_decode_point(&b, bob, sizeof(bob), sc), 0);
    cr_assert_eq(fingerprint_generator_create(&gen, 5200, 1, sc), 0);
    cr_assert_eq(fingerprint_generator_create_for(gen, "+14152222222", a, "+14153333333", b, &fp),
                 0);
    cr_assert_str_eq(displayable_fingerprint_text(fingerprint_get_displayable(fp)),
                     "300354477692869396892869876765458257569162576843440918079131");
    SIGNAL_UNREF(fp);
    fingerprint_generator_free(gen);
    SIGNAL_UNREF(a);
    SIGNAL_UNREF(b);
}

struct log_capture {
    int n;
    enum sotto_log_level level;
    char last[512];
};

static void capture_sink(void *ctx, enum sotto_log_level level, const char *file, int line,
                         const char *func, const char *msg)
{
    struct log_capture *c = ctx;

    (void)file;
    (void)line;
    (void)func;
    c->n++;
    c->level = level;
    snprintf(c->last, sizeof(c->last), "%s", msg);
}

static int log_library_complaint(enum sotto_log_level level, struct log_capture *cap)
{
    struct sotto_log log = {.level = level, .sink = capture_sink, .ctx = cap};
    const uint8_t bad[E2E_KEY_LEN] = {0x07};
    ec_public_key *k = NULL;

    fx.env.log = &log;
    cr_assert_lt(curve_decode_point(&k, bad, sizeof(bad), e2e_ctx_signal(fx.ctx)), 0);
    fx.env.log = NULL;
    return cap->n;
}

Test(provider, library_messages_reach_the_logger_at_debug_level_only)
{
    struct log_capture cap = {0};

    cr_assert_eq(log_library_complaint(SOTTO_LOG_INFO, &cap), 0, "dropped above debug");
    cr_assert_eq(log_library_complaint(SOTTO_LOG_DEBUG, &cap), 1);
    cr_assert_eq(cap.level, SOTTO_LOG_DEBUG);
    cr_assert_not_null(strstr(cap.last, "Invalid key type: 7"), "got: %s", cap.last);
}
