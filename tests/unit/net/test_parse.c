/* tests/unit/net/test_parse.c: the directory's answers are untrusted: a wrong type, bad base64,
 * a key of the wrong length or order, a number that is not the key's, an oversized or broken
 * body: each is refused, and nothing of it is handed on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "identity/number.h"
#include "net_test.h"

TestSuite(net_parse, .init = net_fx_init, .fini = net_fx_fini);

static uint8_t pub[E2E_KEY_LEN];

static json_t *b64(const uint8_t *p, size_t len)
{
    char buf[256];

    cr_assert_eq(net_b64_encode(p, len, buf, sizeof(buf)), SOTTO_OK);
    return json_string(buf);
}

static json_t *spk_json(void)
{
    uint8_t sig[E2E_SIG_LEN];

    memset(sig, 7, sizeof(sig));
    return json_pack("{s:i, s:o, s:o}", "id", 1, "key", b64(pub, E2E_KEY_LEN), "signature",
                     b64(sig, sizeof(sig)));
}

/* A valid account of a fresh key. */
static json_t *account_json(void)
{
    uint8_t priv[E2E_PRIV_LEN];
    char digits[NUMBER_DIGITS_LEN];
    json_t *o;

    cr_assert_eq(e2e_identity_generate(nfx.e2e, pub, priv), SOTTO_OK);
    sodium_memzero(priv, sizeof(priv));
    identity_number_digits(identity_number(pub), digits);
    o = json_pack("{s:s, s:s, s:o, s:i, s:o, s:[s, s], s:I}", "username", "alice", "number", digits,
                  "identity_key", b64(pub, E2E_KEY_LEN), "registration_id", 42, "signed_prekey",
                  spk_json(), "addresses", "192.0.2.1:8766", "alice.example:8766", "updated_ms",
                  (json_int_t)1700000000000);
    cr_assert_not_null(o);
    return o;
}

static enum sotto_err parse_account(json_t *o, struct net_account *a)
{
    char *text = json_dumps(o, JSON_COMPACT);
    enum sotto_err rc;

    cr_assert_not_null(text);
    rc = net_parse_account((const uint8_t *)text, strlen(text), a);
    free(text);
    json_decref(o);
    return rc;
}

/* Sets member `name` of a valid account (in `sub`, when given) to `v`, and parses it. */
static enum sotto_err account_with(const char *sub, const char *name, json_t *v)
{
    json_t *o = account_json(), *target = sub != NULL ? json_object_get(o, sub) : o;
    struct net_account a;
    enum sotto_err rc;

    if (v == NULL)
        json_object_del(target, name);
    else
        json_object_set_new(target, name, v);
    rc = parse_account(o, &a);
    if (rc != SOTTO_OK)
        cr_assert_str_empty(a.username, "nothing is handed on from a refused answer");
    return rc;
}

Test(net_parse, reads_a_valid_account)
{
    struct net_account a;

    cr_assert_eq(parse_account(account_json(), &a), SOTTO_OK);
    cr_assert_str_eq(a.username, "alice");
    cr_assert_eq(a.number, identity_number(pub));
    cr_assert_eq(memcmp(a.key, pub, E2E_KEY_LEN), 0);
    cr_assert_eq(a.registration_id, 42);
    cr_assert_eq(a.signed_prekey.id, 1);
    cr_assert_eq(a.n_addrs, 2);
    cr_assert_str_eq(a.addrs[1], "alice.example:8766");
    cr_assert_eq(a.updated_ms, 1700000000000ULL);
}

Test(net_parse, ignores_members_it_does_not_know)
{
    cr_assert_eq(account_with(NULL, "shiny_new_field", json_true()), SOTTO_OK);
}

Test(net_parse, refuses_members_of_the_wrong_type)
{
    cr_assert_eq(account_with(NULL, "number", json_integer(123456789012345)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "registration_id", json_string("42")), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "registration_id", json_real(42.0)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "addresses", json_object()), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "addresses", json_pack("[i]", 1)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "signed_prekey", json_string("x")), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "username", json_integer(1)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "identity_key", json_array()), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "updated_ms", json_null()), SOTTO_EPROTO);
    cr_assert_eq(account_with("signed_prekey", "id", json_string("1")), SOTTO_EPROTO);
}

Test(net_parse, refuses_a_missing_member)
{
    static const char *const names[] = {"username",        "number",        "identity_key",
                                        "registration_id", "signed_prekey", "addresses",
                                        "updated_ms"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_eq(account_with(NULL, names[i], NULL), SOTTO_EPROTO, "%s", names[i]);
    cr_assert_eq(account_with("signed_prekey", "signature", NULL), SOTTO_EPROTO);
}

Test(net_parse, refuses_base64_that_is_not_canonical_padded_standard_base64)
{
    char good[NET_KEY_B64_LEN], bad[NET_KEY_B64_LEN + 4];
    json_t *o = account_json();

    snprintf(good, sizeof(good), "%s", json_string_value(json_object_get(o, "identity_key")));
    json_decref(o);
    /* each of these is placed at the key's position of a fresh account */
    static const char *const mutations[] = {"*", " ", "-", "_", "\xc3\xa9", "="};
    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        snprintf(bad, sizeof(bad), "%.*s%s%s", 10, good, mutations[i], good + 11);
        cr_assert_eq(account_with(NULL, "identity_key", json_string(bad)), SOTTO_EPROTO, "%s", bad);
    }
    cr_assert_eq(account_with(NULL, "identity_key", json_string("BQ")), SOTTO_EPROTO);
    snprintf(bad, sizeof(bad), "%.43s", good);
    cr_assert_eq(account_with(NULL, "identity_key", json_string(bad)), SOTTO_EPROTO, "short");
}

Test(net_parse, refuses_padding_that_is_missing_or_hides_set_bits)
{
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t sig[E2E_SIG_LEN];
    char text[NET_SIG_B64_LEN], bad[NET_SIG_B64_LEN];

    memset(sig, 0x40, sizeof(sig));
    cr_assert_eq(net_b64_encode(sig, sizeof(sig), text, sizeof(text)), SOTTO_OK);
    cr_assert_eq(net_b64_exact(text, sig, sizeof(sig)), SOTTO_OK);
    cr_assert_str_eq(text + 86, "==");
    /* the character before "==" holds 2 bits of the last byte and 4 that must be zero */
    snprintf(bad, sizeof(bad), "%s", text);
    bad[85] = alphabet[(strchr(alphabet, bad[85]) - alphabet) ^ 1];
    cr_assert_eq(net_b64_exact(bad, sig, sizeof(sig)), SOTTO_EPROTO, "%s", bad);
    snprintf(bad, sizeof(bad), "%.86s", text);
    cr_assert_eq(net_b64_exact(bad, sig, sizeof(sig)), SOTTO_EPROTO, "no padding");
    cr_assert_eq(account_with("signed_prekey", "signature", json_string(bad)), SOTTO_EPROTO);
}

Test(net_parse, refuses_keys_and_signatures_of_the_wrong_length_or_kind)
{
    uint8_t key[E2E_KEY_LEN + 1] = {0x05}, sig[E2E_SIG_LEN - 1] = {0};

    cr_assert_eq(account_with(NULL, "identity_key", b64(key, 32)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "identity_key", b64(key, 34)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "identity_key", b64(key, 33)), SOTTO_EPROTO,
                 "a key of small order");
    memset(key + 1, 0x42, 32);
    key[0] = 0x06;
    cr_assert_eq(account_with(NULL, "identity_key", b64(key, 33)), SOTTO_EPROTO, "type byte");
    cr_assert_eq(account_with("signed_prekey", "signature", b64(sig, sizeof(sig))), SOTTO_EPROTO);
    cr_assert_eq(account_with("signed_prekey", "key", b64(sig, 33)), SOTTO_EPROTO);
}

Test(net_parse, refuses_a_number_that_does_not_belong_to_the_key)
{
    json_t *o = account_json();
    char digits[NUMBER_DIGITS_LEN];
    uint64_t n = identity_number(pub);
    struct net_account a;

    identity_number_digits(n == NUMBER_MAX ? NUMBER_MIN : n + 1, digits);
    json_object_set_new(o, "number", json_string(digits));
    cr_assert_eq(parse_account(o, &a), SOTTO_ENUMBER);
    cr_assert_eq(a.number, 0);
}

Test(net_parse, refuses_numbers_not_written_as_15_plain_digits)
{
    static const char *const bad[] = {"123 456 789 012 345",
                                      "12345678901234",
                                      "1234567890123456",
                                      "012345678901234",
                                      "12345678901234x",
                                      "+23456789012345",
                                      ""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(account_with(NULL, "number", json_string(bad[i])), SOTTO_EPROTO, "%s", bad[i]);
}

Test(net_parse, refuses_usernames_the_directory_would_never_store)
{
    static const char *const bad[] = {"Alice",         "al",
                                      "1alice",        "al ice",
                                      "alice\xc3\xa9", "abcdefghijklmnopqrstuvwxyzabcdefg"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(account_with(NULL, "username", json_string(bad[i])), SOTTO_EPROTO, "%s",
                     bad[i]);
}

Test(net_parse, refuses_ids_and_registration_ids_out_of_range)
{
    cr_assert_eq(account_with(NULL, "registration_id", json_integer(0)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "registration_id", json_integer(16381)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "registration_id", json_integer(-1)), SOTTO_EPROTO);
    cr_assert_eq(account_with("signed_prekey", "id", json_integer(0)), SOTTO_EPROTO);
    cr_assert_eq(account_with("signed_prekey", "id", json_integer(1 << 24)), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "updated_ms", json_integer(-5)), SOTTO_EPROTO);
}

Test(net_parse, refuses_bad_or_too_many_addresses)
{
    cr_assert_eq(account_with(NULL, "addresses", json_pack("[s]", "no-port")), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "addresses", json_pack("[s]", "a\x1b[31m:1")), SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "addresses",
                              json_pack("[s,s,s,s,s,s,s,s,s]", "a:1", "a:2", "a:3", "a:4", "a:5",
                                        "a:6", "a:7", "a:8", "a:9")),
                 SOTTO_EPROTO);
    cr_assert_eq(account_with(NULL, "addresses", json_array()), SOTTO_OK);
}

static enum sotto_err parse_text(const char *text)
{
    struct net_account a;

    return net_parse_account((const uint8_t *)text, strlen(text), &a);
}

Test(net_parse, refuses_broken_json_duplicates_nul_and_non_objects)
{
    json_t *o = account_json();
    char *text = json_dumps(o, JSON_COMPACT), *dup;
    size_t len = strlen(text);

    json_decref(o);
    cr_assert_eq(parse_text(""), SOTTO_EPROTO);
    cr_assert_eq(parse_text("[]"), SOTTO_EPROTO);
    cr_assert_eq(parse_text("\"x\""), SOTTO_EPROTO);
    cr_assert_eq(parse_text("{\"username\": \"al\\u0000ice\"}"), SOTTO_EPROTO);
    text[len / 2] = '\0';
    cr_assert_eq(parse_text(text), SOTTO_EPROTO, "truncated");
    text[len / 2] = ' ';
    dup = malloc(len + 32);
    snprintf(dup, len + 32, "{\"username\":\"bob\",%s", text + 1);
    cr_assert_eq(parse_text(dup), SOTTO_EPROTO, "a duplicate member");
    free(dup);
    free(text);
}

Test(net_parse, refuses_an_oversized_body_before_parsing_it)
{
    size_t len = NET_BODY_MAX + 1;
    uint8_t *big = malloc(len);
    struct net_account a;

    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    cr_assert_eq(net_parse_account(big, len, &a), SOTTO_ETOOBIG);
    free(big);
}

/* ---- bundles and the other answers ---- */

static json_t *bundle_json(void)
{
    json_t *acct = account_json();
    json_t *o = json_pack("{s:O, s:O, s:i, s:i, s:O, s:{s:i, s:O}, s:i}", "number",
                          json_object_get(acct, "number"), "identity_key",
                          json_object_get(acct, "identity_key"), "registration_id", 7, "device_id",
                          1, "signed_prekey", json_object_get(acct, "signed_prekey"), "prekey",
                          "id", 9, "key", json_object_get(acct, "identity_key"), "prekeys_left", 3);

    json_decref(acct);
    cr_assert_not_null(o);
    return o;
}

static enum sotto_err bundle_with(const char *name, json_t *v, struct net_bundle *b)
{
    json_t *o = bundle_json();
    char *text;
    enum sotto_err rc;

    if (name != NULL)
        json_object_set_new(o, name, v);
    text = json_dumps(o, JSON_COMPACT);
    rc = net_parse_bundle((const uint8_t *)text, strlen(text), b);
    free(text);
    json_decref(o);
    return rc;
}

Test(net_parse, reads_a_bundle_with_or_without_a_one_time_prekey)
{
    struct net_bundle b;

    cr_assert_eq(bundle_with(NULL, NULL, &b), SOTTO_OK);
    cr_assert(b.has_prekey);
    cr_assert_eq(b.prekey.id, 9);
    cr_assert_eq(b.prekeys_left, 3);
    cr_assert_eq(b.device_id, 1);
    cr_assert_eq(bundle_with("prekey", json_null(), &b), SOTTO_OK);
    cr_assert_not(b.has_prekey);
}

Test(net_parse, refuses_a_bundle_with_a_bad_device_count_or_prekey)
{
    struct net_bundle b;
    json_t *o = bundle_json();

    cr_assert_eq(bundle_with("device_id", json_integer(2), &b), SOTTO_EPROTO);
    cr_assert_eq(bundle_with("prekeys_left", json_integer(-1), &b), SOTTO_EPROTO);
    cr_assert_eq(bundle_with("prekey", json_string("x"), &b), SOTTO_EPROTO);
    cr_assert_eq(bundle_with("prekey", json_pack("{s:i}", "id", 1), &b), SOTTO_EPROTO);
    json_object_del(o, "prekey");
    char *text = json_dumps(o, JSON_COMPACT);
    cr_assert_eq(net_parse_bundle((const uint8_t *)text, strlen(text), &b), SOTTO_EPROTO,
                 "prekey must be there, as an object or null");
    free(text);
    json_decref(o);
    cr_assert_eq(bundle_with("number", json_string("100000000000000"), &b), SOTTO_ENUMBER);
    cr_assert_not(b.has_prekey);
}

Test(net_parse, reads_the_answers_to_writes_and_refuses_odd_ones)
{
    static const char ok[] = "{\"username\":\"bob\",\"number\":\"123456789012345\","
                             "\"seen_from\":\"127.0.0.1:5555\"}";
    static const char ctrl[] = "{\"username\":\"bob\",\"number\":\"123456789012345\","
                               "\"seen_from\":\"1.2.3.4\\u001b[2J\"}";
    struct net_registered r;
    unsigned left = 9;

    cr_assert_eq(net_parse_registered((const uint8_t *)ok, strlen(ok), &r), SOTTO_OK);
    cr_assert_str_eq(r.seen_from, "127.0.0.1:5555");
    cr_assert_eq(r.number, 123456789012345ULL);
    cr_assert_eq(net_parse_registered((const uint8_t *)ctrl, strlen(ctrl), &r), SOTTO_EPROTO);
    cr_assert_eq(net_parse_prekeys_left((const uint8_t *)"{\"prekeys_left\":12}", 19, &left),
                 SOTTO_OK);
    cr_assert_eq(left, 12);
    cr_assert_eq(net_parse_prekeys_left((const uint8_t *)"{\"prekeys_left\":\"12\"}", 21, &left),
                 SOTTO_EPROTO);
    cr_assert_eq(left, 0);
}

Test(net_parse, reads_where_a_write_was_seen_from_and_refuses_odd_text)
{
    static const char ok[] = "{\"prekeys_left\":3,\"seen_from\":\"[2001:db8::1]:443\"}";
    static const char space[] = "{\"seen_from\":\"1.2.3.4 :5\"}";
    static const char num[] = "{\"seen_from\":5}";
    char long_text[NET_SEEN_FROM_MAX + 40], out[NET_SEEN_FROM_MAX + 1];

    cr_assert_eq(net_parse_seen_from((const uint8_t *)ok, strlen(ok), out), SOTTO_OK);
    cr_assert_str_eq(out, "[2001:db8::1]:443");
    cr_assert_eq(net_parse_seen_from((const uint8_t *)space, strlen(space), out), SOTTO_EPROTO);
    cr_assert_str_eq(out, "");
    cr_assert_eq(net_parse_seen_from((const uint8_t *)num, strlen(num), out), SOTTO_EPROTO);
    cr_assert_eq(net_parse_seen_from((const uint8_t *)"{}", 2, out), SOTTO_EPROTO);
    cr_assert_eq(net_parse_seen_from(NULL, 0, out), SOTTO_EPROTO);
    snprintf(long_text, sizeof(long_text), "{\"seen_from\":\"%0*d\"}", NET_SEEN_FROM_MAX + 1, 1);
    cr_assert_eq(net_parse_seen_from((const uint8_t *)long_text, strlen(long_text), out),
                 SOTTO_EPROTO);
    cr_assert_str_eq(out, "");
}

Test(net_parse, takes_what_it_can_of_an_error_and_nothing_of_garbage)
{
    static const char err[] = "{\"error\":\"username_taken\",\"message\":\"choose another\"}";
    struct net_dir_problem p = {0};

    net_parse_problem((const uint8_t *)err, strlen(err), &p);
    cr_assert_str_eq(p.code, "username_taken");
    cr_assert_str_eq(p.message, "choose another");
    net_parse_problem((const uint8_t *)"<html>", 6, &p);
    cr_assert_str_empty(p.code);
    cr_assert_str_empty(p.message);
    net_parse_problem(NULL, 0, &p);
    cr_assert_str_empty(p.code);
}
