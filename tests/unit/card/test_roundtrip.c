/* tests/unit/card/test_roundtrip.c: a card comes back from export and import unchanged, also
 * after what copy and paste does to text; export refuses a card it could not import. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

TestSuite(card_roundtrip, .init = setup, .fini = teardown);

static void assert_round_trip(const struct identity_card *c)
{
    struct identity_card back;
    size_t len;
    char *text = card_export_ok(&fx, c, &len);

    cr_assert_eq(identity_card_import(&fx.env, text, len, &back), SOTTO_OK, "%s", text);
    card_assert_same(&back, c);
    cr_assert_eq(fx.fa.live, 0, "import and export leave nothing allocated");
    free(text);
}

Test(card_roundtrip, a_card_with_no_address_and_no_username_comes_back_unchanged)
{
    struct identity_card c;

    card_sample(&c, fx.pub, 0);
    c.username[0] = '\0';
    assert_round_trip(&c);
}

Test(card_roundtrip, a_card_with_one_ipv4_address_and_a_username_comes_back_unchanged)
{
    struct identity_card c;

    card_sample(&c, fx.pub, 1);
    cr_assert_str_eq(c.addrs[0], "192.168.1.10:8766");
    assert_round_trip(&c);
}

Test(card_roundtrip, a_card_with_eight_addresses_of_every_kind_comes_back_unchanged)
{
    struct identity_card c;

    card_sample(&c, fx.pub, CARD_ADDRS_MAX);
    cr_assert_str_eq(c.name, "Zo\xc3\xab \xf0\x9f\x8c\xb8");
    assert_round_trip(&c);
}

Test(card_roundtrip, the_longest_fields_come_back_unchanged)
{
    struct identity_card c;

    card_sample(&c, fx.pub, CARD_ADDRS_MAX);
    memset(c.name, 'n', TEXT_NAME_MAX);
    memset(c.username, 'u', TEXT_USERNAME_MAX);
    for (size_t i = 0; i < CARD_ADDRS_MAX; i++) {
        /* 63 + 1 + 63 + 1 + 63 + 1 + 57 = 249 host bytes, ":65535": 255 in all */
        snprintf(c.addrs[i], sizeof(c.addrs[i]), "%.63s.%.63s.%.63s.%.56s%c:65535",
                 "a123456789b123456789c123456789d123456789e123456789f123456789abc",
                 "x123456789b123456789c123456789d123456789e123456789f123456789abc",
                 "y123456789b123456789c123456789d123456789e123456789f123456789abc",
                 "z123456789b123456789c123456789d123456789e123456789f12345", (char)('a' + i));
        cr_assert_eq(strlen(c.addrs[i]), CARD_ADDR_MAX);
    }
    c.created_s = UINT64_MAX;
    assert_round_trip(&c);
}

Test(card_roundtrip, export_writes_the_armour_lines_of_64_and_a_final_newline)
{
    struct identity_card c;
    size_t len, line_len = 0, lines = 0;
    char *text;
    const char *p, *end;

    card_sample(&c, fx.pub, 3);
    text = card_export_ok(&fx, &c, &len);
    cr_assert_eq(strncmp(text, CARD_BEGIN "\n", strlen(CARD_BEGIN) + 1), 0);
    end = text + len - strlen(CARD_END "\n");
    cr_assert_str_eq(end, CARD_END "\n");
    for (p = text + strlen(CARD_BEGIN) + 1; p < end; p++) {
        if (*p != '\n') {
            line_len++;
            continue;
        }
        lines++;
        cr_assert(line_len == 64 || p + 1 == end, "every line but the last is 64 long");
        cr_assert(line_len > 0 && line_len <= 64);
        line_len = 0;
    }
    cr_assert_gt(lines, 1);
    free(text);
}

/* Re-emits the base64 of `text` in lines of `width`, each line prefixed by `indent` and ended
 * by `eol`, between `lead` and `trail`. */
static char *rewrap(const char *text, size_t len, size_t width, const char *indent, const char *eol,
                    const char *lead, const char *trail, size_t *out_len)
{
    char *b64 = card_b64_of(text, len);
    size_t b64_len = strlen(b64), cap = 4 * len + 256, o = 0;
    char *out = malloc(cap);

    cr_assert_not_null(out);
    o += (size_t)snprintf(out + o, cap - o, "%s%s%s%s", lead, indent, CARD_BEGIN, eol);
    for (size_t i = 0; i < b64_len; i += width)
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s%s", indent, (int)width, b64 + i, eol);
    o += (size_t)snprintf(out + o, cap - o, "%s%s%s%s", indent, CARD_END, eol, trail);
    cr_assert_lt(o, cap);
    free(b64);
    *out_len = o;
    return out;
}

static void assert_pasted(const char *text, size_t len, const struct identity_card *want)
{
    struct identity_card back;

    cr_assert_eq(identity_card_import(&fx.env, text, len, &back), SOTTO_OK, "refused:\n%s", text);
    card_assert_same(&back, want);
    cr_assert_eq(fx.fa.live, 0);
}

Test(card_roundtrip, a_card_rewrapped_at_other_widths_is_still_accepted)
{
    static const size_t widths[] = {1, 3, 4, 7, 60, 63, 65, 76, 100, 4096};
    struct identity_card c;
    size_t len, n;
    char *text, *pasted;

    card_sample(&c, fx.pub, 2);
    text = card_export_ok(&fx, &c, &len);
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
        pasted = rewrap(text, len, widths[i], "", "\n", "", "", &n);
        assert_pasted(pasted, n, &c);
        free(pasted);
    }
    free(text);
}

Test(card_roundtrip, a_card_with_crlf_indentation_tabs_and_blank_lines_is_still_accepted)
{
    struct identity_card c;
    size_t len, n;
    char *text, *pasted;

    card_sample(&c, fx.pub, 2);
    text = card_export_ok(&fx, &c, &len);
    pasted = rewrap(text, len, 64, "", "\r\n", "", "", &n);
    assert_pasted(pasted, n, &c);
    free(pasted);
    pasted = rewrap(text, len, 64, "    ", "\n", "", "", &n);
    assert_pasted(pasted, n, &c);
    free(pasted);
    pasted = rewrap(text, len, 40, "\t \t", " \t\r\n", "\n\n  \r\n\t\n", "\n\n\v\f  \n", &n);
    assert_pasted(pasted, n, &c);
    free(pasted);
    free(text);
}

Test(card_roundtrip, a_card_pasted_on_one_line_is_still_accepted)
{
    struct identity_card c;
    size_t len, n;
    char *text, *pasted;

    card_sample(&c, fx.pub, 2);
    text = card_export_ok(&fx, &c, &len);
    pasted = rewrap(text, len, 10000, "", " ", "", "", &n);
    cr_assert_null(memchr(pasted, '\n', n));
    assert_pasted(pasted, n, &c);
    free(pasted);
    pasted = rewrap(text, len, 10000, "", "", "", "", &n);
    assert_pasted(pasted, n, &c);
    free(pasted);
    free(text);
}

Test(card_roundtrip, whitespace_up_to_the_text_cap_is_accepted)
{
    struct identity_card c;
    size_t len;
    char *text, *padded = malloc(CARD_TEXT_MAX);

    cr_assert_not_null(padded);
    card_sample(&c, fx.pub, 1);
    text = card_export_ok(&fx, &c, &len);
    memset(padded, ' ', CARD_TEXT_MAX);
    memcpy(padded + 100, text, len);
    assert_pasted(padded, CARD_TEXT_MAX, &c);
    free(padded);
    free(text);
}

static enum sotto_err export_rc(const struct identity_card *c, const uint8_t *priv)
{
    char *out = (char *)1;
    size_t len = 1;
    enum sotto_err rc = identity_card_export(fx.ctx, &fx.env, c, priv, &out, &len);

    if (rc != SOTTO_OK) {
        cr_assert_null(out, "no half-made text on failure");
        cr_assert_eq(len, 0);
    }
    sotto_free(&fx.env, out);
    return rc;
}

Test(card_roundtrip, export_refuses_a_private_key_of_another_card)
{
    struct identity_card c;
    uint8_t pub2[E2E_KEY_LEN], priv2[E2E_PRIV_LEN];

    cr_assert_eq(e2e_identity_generate(fx.ctx, pub2, priv2), SOTTO_OK);
    card_sample(&c, fx.pub, 1);
    cr_assert_eq(export_rc(&c, priv2), SOTTO_EINVAL);
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_OK);
}

Test(card_roundtrip, export_refuses_a_card_that_import_would_refuse)
{
    struct identity_card good, c;

    card_sample(&good, fx.pub, 2);
    c = good;
    c.version = 2;
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "version");
    c = good;
    c.number++;
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "number of another key");
    c = good;
    c.name[0] = '\0';
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "empty name");
    c = good;
    c.name[1] = '\x1b';
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "control character in name");
    c = good;
    memset(c.name, 'a', sizeof(c.name));
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "name without its NUL");
    c = good;
    c.username[0] = 'Z';
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "uppercase username");
    c = good;
    c.username[2] = '\0';
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "username of 2 characters");
    c = good;
    c.n_addrs = CARD_ADDRS_MAX + 1;
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "9 addresses");
    c = good;
    snprintf(c.addrs[1], sizeof(c.addrs[1]), "%s", "example.com");
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "address without a port");
    c = good;
    c.key[0] = 0x06;
    cr_assert_eq(export_rc(&c, fx.priv), SOTTO_EINVAL, "key of another type");
    cr_assert_eq(export_rc(&good, fx.priv), SOTTO_OK);
}

Test(card_roundtrip, export_fails_cleanly_when_memory_runs_out)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct identity_card c;
    char *out;
    size_t len;
    enum sotto_err rc = SOTTO_ENOMEM;

    card_sample(&c, fx.pub, CARD_ADDRS_MAX);
    for (unsigned long n = 1; n < 100 && rc != SOTTO_OK; n++) {
        failalloc_env(&env, &fa, n);
        rc = identity_card_export(fx.ctx, &env, &c, fx.priv, &out, &len);
        if (fa.failed == 0) {
            cr_assert_eq(rc, SOTTO_OK, "nothing failed, so export must succeed");
            break;
        }
        cr_assert_eq(rc, SOTTO_ENOMEM, "allocation %lu failed", n);
        cr_assert_null(out);
        cr_assert_eq(fa.live, 0, "leak after failing allocation %lu", n);
    }
    cr_assert_eq(rc, SOTTO_OK);
    assert_pasted(out, len, &c);
    sotto_free(&env, out);
    cr_assert_eq(fa.live, 0);
}

Test(card_roundtrip, import_and_export_refuse_null_arguments)
{
    struct identity_card c;
    char *out;
    size_t len;

    card_sample(&c, fx.pub, 0);
    cr_assert_eq(identity_card_export(fx.ctx, &fx.env, NULL, fx.priv, &out, &len), SOTTO_EINVAL);
    cr_assert_eq(identity_card_export(fx.ctx, &fx.env, &c, fx.priv, NULL, &len), SOTTO_EINVAL);
    cr_assert_eq(identity_card_import(&fx.env, NULL, 0, &c), SOTTO_EINVAL);
    cr_assert(card_is_zero(&c), "the card is zeroed on failure");
    cr_assert_eq(identity_card_import(&fx.env, "x", 1, NULL), SOTTO_EINVAL);
}

Test(card_roundtrip,
     the_bytes_a_node_sends_in_a_card_frame_decode_to_the_same_card_and_any_change_is_refused)
{
    struct identity_card c, back;
    uint8_t *bytes = NULL;
    size_t len = 0;

    card_sample(&c, fx.pub, 2);
    cr_assert_eq(identity_card_sign_bytes(fx.ctx, &fx.env, &c, fx.priv, &bytes, &len), SOTTO_OK);
    cr_assert_leq(len, CARD_BODY_MAX);
    cr_assert_eq(identity_card_decode(bytes, len, &back), SOTTO_OK);
    card_assert_same(&back, &c);
    for (size_t i = 0; i < len; i++) {
        bytes[i] ^= 0x01;
        cr_assert_neq(identity_card_decode(bytes, len, &back), SOTTO_OK, "byte %zu", i);
        cr_assert(card_is_zero(&back));
        bytes[i] ^= 0x01;
    }
    cr_assert_neq(identity_card_decode(bytes, len - 1, &back), SOTTO_OK, "truncated");
    sotto_free(&fx.env, bytes);
    cr_assert_eq(fx.fa.live, 0);
}
