/* tests/unit/card/test_tamper.c: any change to an exported card that is not a change of
 * whitespace is refused; so are truncated, oversized and garbled texts. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <sodium.h>

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

TestSuite(card_tamper, .init = setup, .fini = teardown);

static char *sample_text(size_t n_addrs, size_t *len)
{
    struct identity_card c;

    card_sample(&c, fx.pub, n_addrs);
    return card_export_ok(&fx, &c, len);
}

static enum sotto_err import_rc(const char *text, size_t len)
{
    struct identity_card c;
    enum sotto_err rc;

    memset(&c, 0xa5, sizeof(c));
    rc = identity_card_import(&fx.env, text, len, &c);
    if (rc != SOTTO_OK)
        cr_assert(card_is_zero(&c), "the card is zeroed on failure (%d)", (int)rc);
    cr_assert_eq(fx.fa.live, 0, "import leaves nothing allocated");
    return rc;
}

static enum sotto_err import_str(const char *text)
{
    return import_rc(text, strlen(text));
}

/* Every position, every other byte value: ~300 positions x 255 values, each an import. Most
 * changes stop at the armour, the base64 or the parse; the ones that parse reach e2e_verify. */
Test(card_tamper, every_single_byte_change_that_is_not_whitespace_is_refused)
{
    struct identity_card want, got;
    size_t len, accepted = 0, by_sig = 0;
    char *text = sample_text(2, &len);
    struct timespec t0, t1;

    card_sample(&want, fx.pub, 2);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < len; i++) {
        char orig = text[i];
        for (int v = 0; v < 256; v++) {
            enum sotto_err rc;
            if ((char)v == orig)
                continue;
            text[i] = (char)v;
            rc = identity_card_import(&fx.env, text, len, &got);
            if (card_is_space(orig) && card_is_space((char)v) && rc == SOTTO_OK) {
                /* whitespace for whitespace (the space inside a marker line is not) */
                card_assert_same(&got, &want);
                accepted++;
                continue;
            }
            cr_assert_neq(rc, SOTTO_OK, "byte %zu changed from %02x to %02x was accepted", i,
                          (unsigned char)orig, v);
            by_sig += rc == SOTTO_EBADSIG;
            cr_assert(card_is_zero(&got));
        }
        text[i] = orig;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_log_info("%zu positions x 255 values in %.1f s, %zu caught by the signature alone", len,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, by_sig);
    cr_assert_gt(by_sig, 0, "some changes parse and only the signature can catch them");
    cr_assert_gt(accepted, 0, "the newlines of the armour may become other whitespace");
    cr_assert_eq(fx.fa.live, 0);
    free(text);
}

Test(card_tamper, every_truncation_of_a_card_is_refused)
{
    size_t len;
    char *text = sample_text(3, &len);
    size_t end = len - 1; /* the final newline may go */

    cr_assert_eq(text[end], '\n');
    for (size_t n = 0; n < end; n++) {
        char *copy = malloc(n + 1);
        cr_assert_not_null(copy);
        memcpy(copy, text, n);
        cr_assert_neq(import_rc(copy, n), SOTTO_OK, "a prefix of %zu bytes was accepted", n);
        free(copy);
    }
    cr_assert_eq(import_rc(text, end), SOTTO_OK);
    free(text);
}

Test(card_tamper, a_text_over_the_cap_is_refused_as_too_big)
{
    size_t len;
    char *text = sample_text(1, &len), *big = malloc(CARD_TEXT_MAX + 1);

    cr_assert_not_null(big);
    memset(big, '\n', CARD_TEXT_MAX + 1);
    memcpy(big, text, len);
    cr_assert_eq(import_rc(big, CARD_TEXT_MAX + 1), SOTTO_ETOOBIG);
    cr_assert_eq(import_rc(big, CARD_TEXT_MAX), SOTTO_OK);
    memset(big, 'A', CARD_TEXT_MAX + 1);
    cr_assert_eq(import_rc(big, CARD_TEXT_MAX + 1), SOTTO_ETOOBIG);
    free(big);
    free(text);
}

Test(card_tamper, a_body_over_the_cap_is_refused_as_too_big)
{
    /* 4097 bytes take as many base64 characters as 4096 (the decoder's check); 4099 take more
     * (the collector's check) */
    static const size_t sizes[] = {CARD_BODY_MAX + 1, CARD_BODY_MAX + 3, 2 * CARD_BODY_MAX};
    uint8_t *bin = calloc(1, 2 * CARD_BODY_MAX);
    size_t len;
    char *text;

    cr_assert_not_null(bin);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        text = card_armour_bytes(bin, sizes[i], &len);
        cr_assert_leq(len, CARD_TEXT_MAX);
        cr_assert_eq(import_rc(text, len), SOTTO_ETOOBIG, "%zu bytes", sizes[i]);
        free(text);
    }
    free(bin);
}

Test(card_tamper, garbage_is_refused)
{
    uint8_t noise[2048];

    cr_assert_eq(import_rc("", 0), SOTTO_ETRUNC);
    cr_assert_eq(import_str(" \n\t"), SOTTO_ETRUNC);
    cr_assert_eq(import_str("hello"), SOTTO_EPROTO);
    cr_assert_eq(import_str(CARD_BEGIN "\n" CARD_END "\n"), SOTTO_ETRUNC, "empty body");
    cr_assert_eq(import_str(CARD_BEGIN "\nAQAA\n" CARD_END "\n"), SOTTO_ETRUNC, "01 00 00");
    cr_assert_eq(import_str(CARD_BEGIN "\nAAAA\n" CARD_END "\n"), SOTTO_EPROTO, "version 0");
    cr_assert_eq(import_str(CARD_BEGIN "\nAAA\n" CARD_END "\n"), SOTTO_EPROTO, "no padding");
    cr_assert_eq(import_str(CARD_BEGIN "\nAA!A\n" CARD_END "\n"), SOTTO_EPROTO);
    cr_assert_eq(import_str(CARD_BEGIN "\nAA_-\n" CARD_END "\n"), SOTTO_EPROTO, "url-safe");
    cr_assert_eq(import_str("-----BEGIN SOTTO KARD-----\nAAAA\n" CARD_END), SOTTO_EPROTO);
    cr_assert_eq(import_str("-----begin sotto card-----\nAAAA\n" CARD_END), SOTTO_EPROTO);
    cr_assert_eq(import_str(CARD_BEGIN "\nAAAA\n-----END SOTTO KARD-----"), SOTTO_EPROTO);
    for (int round = 0; round < 64; round++) {
        randombytes_buf(noise, sizeof(noise));
        cr_assert_neq(import_rc((const char *)noise, sizeof(noise)), SOTTO_OK);
        memcpy(noise, CARD_BEGIN, strlen(CARD_BEGIN));
        cr_assert_neq(import_rc((const char *)noise, sizeof(noise)), SOTTO_OK);
    }
}

Test(card_tamper, a_begin_line_without_end_line_is_refused_as_truncated)
{
    size_t len;
    char *text = sample_text(1, &len);
    char *end = strstr(text, CARD_END);

    cr_assert_eq(import_rc(text, (size_t)(end - text)), SOTTO_ETRUNC);
    cr_assert_eq(import_rc(text, (size_t)(end - text) + 5), SOTTO_ETRUNC, "END cut short");
    free(text);
}

/* Builds lead + card + trail and imports it. */
static enum sotto_err import_wrapped(const char *lead, const char *text, size_t len,
                                     const char *trail)
{
    size_t a = strlen(lead), b = strlen(trail);
    char *all = malloc(a + len + b + 1);
    enum sotto_err rc;

    cr_assert_not_null(all);
    memcpy(all, lead, a);
    memcpy(all + a, text, len);
    memcpy(all + a + len, trail, b + 1);
    rc = import_rc(all, a + len + b);
    free(all);
    return rc;
}

Test(card_tamper, text_other_than_whitespace_around_the_card_is_refused)
{
    size_t len;
    char *text = sample_text(1, &len);

    cr_assert_eq(import_wrapped(" \r\n\t\v\f", text, len, " \r\n\t\v\f"), SOTTO_OK);
    cr_assert_eq(import_wrapped("Here is my card:\n", text, len, ""), SOTTO_EPROTO);
    cr_assert_eq(import_wrapped("", text, len, "-- \nAlice\n"), SOTTO_EPROTO);
    cr_assert_eq(import_wrapped("", text, len, "\n\n."), SOTTO_EPROTO);
    cr_assert_eq(import_wrapped("\xef\xbb\xbf", text, len, ""), SOTTO_EPROTO, "BOM");
    cr_assert_eq(import_wrapped("\xc2\xa0", text, len, ""), SOTTO_EPROTO, "no-break space");
    free(text);
}

Test(card_tamper, two_cards_pasted_together_are_refused)
{
    size_t len;
    char *text = sample_text(1, &len);
    char *two = malloc(2 * len);

    cr_assert_not_null(two);
    memcpy(two, text, len);
    memcpy(two + len, text, len);
    cr_assert_eq(import_rc(two, 2 * len), SOTTO_EPROTO);
    free(two);
    free(text);
}

Test(card_tamper, a_nul_byte_anywhere_is_refused)
{
    size_t len;
    char *text = sample_text(1, &len);

    for (size_t i = 0; i < len; i++) {
        char orig = text[i];
        text[i] = '\0';
        cr_assert_neq(import_rc(text, len), SOTTO_OK, "NUL at %zu accepted", i);
        text[i] = orig;
    }
    free(text);
}

Test(card_tamper, base64_with_nonzero_padding_bits_or_extra_characters_is_refused)
{
    uint8_t body[CARD_BODY_MAX];
    size_t len, body_len, n;
    char *text = sample_text(2, &len), *forged;

    body_len = card_body_of(text, len, body);
    forged = card_armour_bytes(body, body_len, &n);
    cr_assert_eq(import_rc(forged, n), SOTTO_OK, "the test's own armour matches export's");
    free(forged);
    free(text);
    /* "AQ==" is the byte 0x01 (a version and nothing after it); "AR==" is the same byte with
     * a padding bit set */
    cr_assert_eq(import_str(CARD_BEGIN "\nAQ==\n" CARD_END), SOTTO_ETRUNC);
    cr_assert_eq(import_str(CARD_BEGIN "\nAR==\n" CARD_END), SOTTO_EPROTO);
    cr_assert_eq(import_str(CARD_BEGIN "\nAQ===\n" CARD_END), SOTTO_EPROTO);
    cr_assert_eq(import_str(CARD_BEGIN "\nAQ=\n" CARD_END), SOTTO_EPROTO);
    cr_assert_eq(import_str(CARD_BEGIN "\nAQ\n" CARD_END), SOTTO_EPROTO);
    cr_assert_eq(import_str(CARD_BEGIN "\nAQ==AQAA\n" CARD_END), SOTTO_EPROTO);
}
