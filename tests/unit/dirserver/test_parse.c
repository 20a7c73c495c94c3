/* tests/unit/dirserver/test_parse.c: request bodies are accepted only when every member is
 * what the protocol says. */
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "dirsrv_test.h"
#include "identity/number.h"

static struct dsrv_fx fx;
static struct dir_register_req req;
static struct dir_problem prob;

static void setup(void)
{
    dsrv_fx_init(&fx);
}

static void teardown(void)
{
    dsrv_fx_fini(&fx);
}

TestSuite(dir_parse, .init = setup, .fini = teardown);

static void assert_refused(json_t *body, int status, const char *error)
{
    static const struct dir_register_req zero;

    cr_assert_eq(dsrv_parse_register(body, &req, &prob), SOTTO_EPROTO);
    cr_assert_eq(prob.status, status, "status %d, message %s", prob.status, prob.message);
    cr_assert_str_eq(prob.error, error, "%s: %s", prob.error, prob.message);
    cr_assert_neq(prob.message[0], '\0');
    cr_assert(memcmp(&req, &zero, sizeof(req)) == 0, "a refused body leaves nothing behind");
    json_decref(body);
}

Test(dir_parse, accepts_a_complete_registration_and_derives_the_number)
{
    json_t *body = dsrv_register_json(&fx, "Alice.B", 5);

    cr_assert_eq(dsrv_parse_register(body, &req, &prob), SOTTO_OK, "%s", prob.message);
    cr_assert_str_eq(req.account.username, "alice.b");
    cr_assert_eq(req.account.number, identity_number(fx.pub));
    cr_assert(memcmp(req.account.identity_key, fx.pub, E2E_KEY_LEN) == 0);
    cr_assert_eq(req.account.registration_id, 1234);
    cr_assert(memcmp(&req.account.signed_prekey, &fx.spk, sizeof(fx.spk)) == 0);
    cr_assert_eq(req.n_prekeys, 5);
    cr_assert_eq(req.prekeys[4].id, 5);
    cr_assert_eq(req.account.n_addrs, 2);
    cr_assert_str_eq(req.account.addrs[1], "[2001:db8::5]:443");
    json_decref(body);
}

Test(dir_parse, takes_missing_prekeys_and_addresses_as_none)
{
    json_t *body = dsrv_register_json(&fx, "bob", 0);

    json_object_del(body, "prekeys");
    json_object_del(body, "addresses");
    cr_assert_eq(dsrv_parse_register(body, &req, &prob), SOTTO_OK, "%s", prob.message);
    cr_assert_eq(req.n_prekeys, 0);
    cr_assert_eq(req.account.n_addrs, 0);
    json_decref(body);
}

Test(dir_parse, refuses_a_member_the_protocol_does_not_define)
{
    json_t *body = dsrv_register_json(&fx, "bob", 1);

    json_object_set_new(body, "number", json_string("123456789012345"));
    assert_refused(body, 400, "bad_request");
}

Test(dir_parse, refuses_a_body_without_a_required_member)
{
    static const char *const required[] = {"username", "identity_key", "registration_id",
                                           "signed_prekey"};

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        json_t *body = dsrv_register_json(&fx, "bob", 1);
        json_object_del(body, required[i]);
        assert_refused(body, 400, "bad_request");
        cr_assert(strstr(prob.message, required[i]) != NULL, "%s", prob.message);
    }
}

Test(dir_parse, refuses_members_of_the_wrong_type)
{
    static const char *const members[] = {"username",      "identity_key", "registration_id",
                                          "signed_prekey", "prekeys",      "addresses"};
    json_t *wrong[] = {json_integer(5), json_true(),  json_real(1.0),
                       json_null(),     json_array(), json_object()};

    for (size_t m = 0; m < sizeof(members) / sizeof(members[0]); m++) {
        for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++) {
            json_t *body = dsrv_register_json(&fx, "bob", 1);
            json_t *orig = json_object_get(body, members[m]);
            if (json_typeof(orig) == json_typeof(wrong[w])) {
                json_decref(body);
                continue;
            }
            json_object_set(body, members[m], wrong[w]);
            assert_refused(body, 400, "bad_request");
        }
    }
    for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++)
        json_decref(wrong[w]);
}

Test(dir_parse, refuses_usernames_outside_the_rules)
{
    static const char *const bad[] = {"ab",
                                      "abcdefghijklmnopqrstuvwxyz0123456",
                                      "9lives",
                                      "_alice",
                                      "al ice",
                                      "al'ice",
                                      "a;DROP TABLE accounts",
                                      "\xc3\xa5lice",
                                      "\xd0\xb0lice",
                                      "al\xe2\x80\x8b"
                                      "ice",
                                      "",
                                      "al/ice",
                                      "al%ice"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *body = dsrv_register_json(&fx, "bob", 1);
        json_object_set_new(body, "username", json_string(bad[i]));
        assert_refused(body, 400, "bad_username");
    }
}

static void with_identity_key(const char *b64, const char *error)
{
    json_t *body = dsrv_register_json(&fx, "bob", 1);

    json_object_set_new(body, "identity_key", json_string(b64));
    assert_refused(body, 400, error);
}

Test(dir_parse, refuses_identity_keys_that_are_not_canonical_curve25519_keys)
{
    uint8_t k[E2E_KEY_LEN] = {0x05};
    char b64[64];

    with_identity_key("BQ==", "bad_key");
    with_identity_key("", "bad_key");
    /* type byte 6 */
    memcpy(k, fx.pub, sizeof(k));
    k[0] = 0x06;
    sodium_bin2base64(b64, sizeof(b64), k, sizeof(k), sodium_base64_VARIANT_ORIGINAL);
    with_identity_key(b64, "bad_key");
    /* a point of small order: the zero point */
    memset(k + 1, 0, 32);
    k[0] = 0x05;
    sodium_bin2base64(b64, sizeof(b64), k, sizeof(k), sodium_base64_VARIANT_ORIGINAL);
    with_identity_key(b64, "bad_key");
    /* the real key with a space inside, and with a byte >= 0x80 where '/' could be read */
    sodium_bin2base64(b64, sizeof(b64), fx.pub, E2E_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    b64[10] = ' ';
    with_identity_key(b64, "bad_key");
    /* "ï" is two bytes, each of which libsodium 1.0.18 alone would read as '/' */
    b64[10] = (char)0xc3;
    b64[11] = (char)0xaf;
    with_identity_key(b64, "bad_key");
}

Test(dir_parse, refuses_a_signed_prekey_that_the_identity_key_did_not_sign)
{
    struct dsrv_fx other;
    json_t *body;

    dsrv_fx_init(&other);
    body = dsrv_register_json(&fx, "bob", 1);
    json_object_set_new(body, "signed_prekey", dsrv_spk_json(&other.spk));
    assert_refused(body, 400, "bad_signature");
    dsrv_fx_fini(&other);

    struct dir_signed_prekey tampered = fx.spk;
    tampered.key[9] ^= 1;
    body = dsrv_register_json(&fx, "bob", 1);
    json_object_set_new(body, "signed_prekey", dsrv_spk_json(&tampered));
    cr_assert_eq(dsrv_parse_register(body, &req, &prob), SOTTO_EPROTO);
    cr_assert(strcmp(prob.error, "bad_signature") == 0 || strcmp(prob.error, "bad_key") == 0);
    json_decref(body);
}

Test(dir_parse, refuses_ids_out_of_range)
{
    static const json_int_t bad_reg[] = {0, -1, 16381, 1LL << 40};
    static const json_int_t bad_id[] = {0, -5, 0x1000000};

    for (size_t i = 0; i < sizeof(bad_reg) / sizeof(bad_reg[0]); i++) {
        json_t *body = dsrv_register_json(&fx, "bob", 1);
        json_object_set_new(body, "registration_id", json_integer(bad_reg[i]));
        assert_refused(body, 400, "bad_request");
    }
    for (size_t i = 0; i < sizeof(bad_id) / sizeof(bad_id[0]); i++) {
        json_t *body = dsrv_register_json(&fx, "bob", 2);
        json_object_set_new(json_array_get(json_object_get(body, "prekeys"), 1), "id",
                            json_integer(bad_id[i]));
        assert_refused(body, 400, "bad_request");
        body = dsrv_register_json(&fx, "bob", 0);
        json_object_set_new(json_object_get(body, "signed_prekey"), "id", json_integer(bad_id[i]));
        assert_refused(body, 400, "bad_request");
    }
}

Test(dir_parse, caps_prekeys_at_200_and_addresses_at_8)
{
    json_t *body = dsrv_register_json(&fx, "bob", DIR_PREKEYS_PER_REQUEST);
    json_t *addrs;

    cr_assert_eq(dsrv_parse_register(body, &req, &prob), SOTTO_OK, "%s", prob.message);
    cr_assert_eq(req.n_prekeys, DIR_PREKEYS_PER_REQUEST);
    json_decref(body);
    assert_refused(dsrv_register_json(&fx, "bob", DIR_PREKEYS_PER_REQUEST + 1), 400, "bad_request");
    body = dsrv_register_json(&fx, "bob", 1);
    addrs = json_array();
    for (int i = 0; i < CARD_ADDRS_MAX + 1; i++)
        json_array_append_new(addrs, json_sprintf("192.0.2.%d:1", i + 1));
    json_object_set_new(body, "addresses", addrs);
    assert_refused(body, 400, "bad_request");
}

Test(dir_parse, refuses_two_prekeys_with_one_id)
{
    json_t *body = dsrv_register_json(&fx, "bob", 3);

    json_object_set_new(json_array_get(json_object_get(body, "prekeys"), 2), "id", json_integer(1));
    assert_refused(body, 400, "bad_request");
}

Test(dir_parse, refuses_addresses_that_are_not_host_and_port)
{
    static const char *const bad[] = {"nohost",  "1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536",
                                      "[::1:80", "a b:1",   "x';--:80",  ""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *body = dsrv_register_json(&fx, "bob", 1);
        json_object_set_new(body, "addresses", json_pack("[s]", bad[i]));
        assert_refused(body, 400, "bad_request");
    }
}

Test(dir_parse, refuses_what_is_not_one_json_object)
{
    static const char *const bad[] = {"",
                                      "{",
                                      "[]",
                                      "\"x\"",
                                      "{} {}",
                                      "{\"a\":1,\"a\":2}",
                                      "{\"username\":\"\xff\"}",
                                      "{\"username\":\"a\\u0000b\"}",
                                      "nul",
                                      "{'a':1}"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(dsrv_parse_text(bad[i], &prob), SOTTO_EPROTO, "%s", bad[i]);
        cr_assert_eq(prob.status, 400);
        cr_assert_str_eq(prob.error, "bad_json", "%zu: %s", i, prob.message);
    }
}

Test(dir_parse, refuses_a_body_over_64_kib_as_too_large)
{
    static uint8_t big[DIR_BODY_MAX + 1];

    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    cr_assert_eq(dir_parse_register(big, sizeof(big), &req, &prob), SOTTO_EPROTO);
    cr_assert_eq(prob.status, 413);
    cr_assert_str_eq(prob.error, "too_large");
}

Test(dir_parse, reads_prekey_updates_with_and_without_a_signed_prekey)
{
    struct dir_prekeys_req r;
    json_t *body = json_pack("{s:o, s:o}", "signed_prekey", dsrv_spk_json(&fx.spk), "prekeys",
                             dsrv_prekeys_json(&fx, 50, 3));

    cr_assert_eq(dsrv_parse_prekeys(body, &r, &prob), SOTTO_OK, "%s", prob.message);
    cr_assert(r.has_signed_prekey);
    cr_assert_eq(r.signed_prekey.id, fx.spk.id);
    cr_assert_eq(r.n_prekeys, 3);
    cr_assert_eq(r.prekeys[0].id, 50);
    json_object_del(body, "signed_prekey");
    cr_assert_eq(dsrv_parse_prekeys(body, &r, &prob), SOTTO_OK);
    cr_assert_not(r.has_signed_prekey);
    json_object_del(body, "prekeys");
    cr_assert_eq(dsrv_parse_prekeys(body, &r, &prob), SOTTO_EPROTO, "prekeys is required");
    json_object_set_new(body, "prekeys", json_array());
    json_object_set_new(body, "addresses", json_array());
    cr_assert_eq(dsrv_parse_prekeys(body, &r, &prob), SOTTO_EPROTO);
    cr_assert_str_eq(prob.error, "bad_request");
    json_decref(body);
}

Test(dir_parse, reads_address_updates)
{
    struct dir_addresses_req r;
    json_t *body = json_pack("{s:[s, s]}", "addresses", "node.example:1", "[::1]:2");

    cr_assert_eq(dsrv_parse_addresses(body, &r, &prob), SOTTO_OK, "%s", prob.message);
    cr_assert_eq(r.n_addrs, 2);
    cr_assert_str_eq(r.addrs[0], "node.example:1");
    json_decref(body);
    body = json_pack("{s:[]}", "addresses");
    cr_assert_eq(dsrv_parse_addresses(body, &r, &prob), SOTTO_OK);
    cr_assert_eq(r.n_addrs, 0);
    json_decref(body);
    body = json_pack("{s:[i]}", "addresses", 80);
    cr_assert_eq(dsrv_parse_addresses(body, &r, &prob), SOTTO_EPROTO);
    json_decref(body);
    body = json_pack("{}");
    cr_assert_eq(dsrv_parse_addresses(body, &r, &prob), SOTTO_EPROTO);
    json_decref(body);
}

Test(dir_parse, decodes_base64_only_at_its_exact_length_and_alphabet)
{
    uint8_t out[4];

    cr_assert_eq(dir_b64_decode("AAECAw==", 8, out, 4), SOTTO_OK);
    cr_assert_eq(out[3], 3);
    cr_assert_eq(dir_b64_decode("AAECAw", 6, out, 4), SOTTO_EPROTO, "padding is required");
    cr_assert_eq(dir_b64_decode("AAECAw==", 8, out, 3), SOTTO_EPROTO);
    cr_assert_eq(dir_b64_decode("AAECAx==", 8, out, 4), SOTTO_EPROTO, "unused bits must be 0");
    cr_assert_eq(dir_b64_decode("AAEC\xafw==", 8, out, 4), SOTTO_EPROTO);
    cr_assert_eq(dir_b64_decode("AA-CAw==", 8, out, 4), SOTTO_EPROTO, "not the URL alphabet");
    cr_assert_eq(out[0], 0, "a refused decoding leaves zeros");
}
