/* tests/unit/dirserver/test_request.c: routes and the signature of writes. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "dirsrv_test.h"
#include "identity/number.h"

static struct dir_problem prob;
static struct dir_target t;

Test(dir_route, names_each_route_of_the_api)
{
    static const struct {
        enum dir_method m;
        const char *target;
        enum dir_route route;
        uint64_t number;
        const char *username;
    } ok[] = {
            {DIR_METHOD_POST, "/v1/accounts", DIR_ROUTE_REGISTER, 0, ""},
            {DIR_METHOD_GET, "/v1/accounts/Alice", DIR_ROUTE_LOOKUP, 0, "alice"},
            {DIR_METHOD_GET, "/v1/accounts/123456789012345", DIR_ROUTE_LOOKUP, 123456789012345, ""},
            {DIR_METHOD_GET, "/v1/accounts/bob?x=1", DIR_ROUTE_LOOKUP, 0, "bob"},
            {DIR_METHOD_POST, "/v1/accounts/123456789012345/bundle", DIR_ROUTE_BUNDLE,
             123456789012345, ""},
            {DIR_METHOD_PUT, "/v1/accounts/123456789012345/addresses", DIR_ROUTE_ADDRESSES,
             123456789012345, ""},
            {DIR_METHOD_PUT, "/v1/accounts/123456789012345/prekeys", DIR_ROUTE_PREKEYS,
             123456789012345, ""},
            {DIR_METHOD_DELETE, "/v1/accounts/123456789012345", DIR_ROUTE_DELETE, 123456789012345,
             ""},
            {DIR_METHOD_GET, "/healthz", DIR_ROUTE_HEALTHZ, 0, ""},
            {DIR_METHOD_GET, "/metrics", DIR_ROUTE_METRICS, 0, ""},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(dir_route_parse(ok[i].m, ok[i].target, &t, &prob), SOTTO_OK, "%s: %s",
                     ok[i].target, prob.message);
        cr_assert_eq(t.route, ok[i].route, "%s", ok[i].target);
        cr_assert_eq(t.number, ok[i].number, "%s", ok[i].target);
        cr_assert_str_eq(t.username, ok[i].username, "%s", ok[i].target);
    }
}

Test(dir_route, answers_404_for_paths_outside_the_api)
{
    static const char *const bad[] = {"/",
                                      "/v1",
                                      "/v1/accounts/",
                                      "/v1/accounts//bundle",
                                      "/v1/accounts/123456789012345/",
                                      "/v1/accounts/123456789012345/bundle/x",
                                      "/v1/accounts/123456789012345/other",
                                      "/v2/accounts",
                                      "/healthz/",
                                      "https://example.org/healthz",
                                      "",
                                      "/v1/accountsx"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(dir_route_parse(DIR_METHOD_GET, bad[i], &t, &prob), SOTTO_ENOENT, "%s",
                     bad[i]);
        cr_assert_eq(prob.status, 404);
        cr_assert_str_eq(prob.error, "not_found");
        cr_assert_eq(t.route, DIR_ROUTE_NONE);
    }
    cr_assert_eq(dir_route_parse(DIR_METHOD_GET, NULL, &t, &prob), SOTTO_ENOENT);
}

Test(dir_route, answers_405_with_the_allowed_methods_for_a_wrong_method)
{
    cr_assert_eq(dir_route_parse(DIR_METHOD_GET, "/v1/accounts", &t, &prob), SOTTO_EPROTO);
    cr_assert_eq(prob.status, 405);
    cr_assert_str_eq(prob.allow, "POST");
    cr_assert_eq(dir_route_parse(DIR_METHOD_POST, "/healthz", &t, &prob), SOTTO_EPROTO);
    cr_assert_str_eq(prob.allow, "GET");
    cr_assert_eq(dir_route_parse(DIR_METHOD_PUT, "/v1/accounts/alice", &t, &prob), SOTTO_EPROTO);
    cr_assert_str_eq(prob.allow, "GET, DELETE");
    cr_assert_eq(dir_route_parse(DIR_METHOD_OTHER, "/v1/accounts/1/bundle", &t, &prob),
                 SOTTO_EPROTO);
    cr_assert_eq(prob.status, 405);
}

Test(dir_route, refuses_malformed_numbers_and_usernames_in_the_path)
{
    static const char *const bad[] = {
            "/v1/accounts/12345678901234/bundle", "/v1/accounts/1234567890123456/bundle",
            "/v1/accounts/023456789012345/bundle", "/v1/accounts/alice/bundle",
            "/v1/accounts/12345678901234a/prekeys"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum dir_method m = strstr(bad[i], "bundle") != NULL ? DIR_METHOD_POST : DIR_METHOD_PUT;
        cr_assert_eq(dir_route_parse(m, bad[i], &t, &prob), SOTTO_EPROTO, "%s", bad[i]);
        cr_assert_eq(prob.status, 400);
        cr_assert_eq(t.number, 0);
    }
    cr_assert_eq(dir_route_parse(DIR_METHOD_DELETE, "/v1/accounts/alice", &t, &prob), SOTTO_EPROTO);
    cr_assert_eq(dir_route_parse(DIR_METHOD_GET, "/v1/accounts/%61lice", &t, &prob), SOTTO_EPROTO);
    cr_assert_str_eq(prob.error, "bad_username");
    cr_assert_str_eq(t.username, "");
    cr_assert_eq(dir_route_parse(DIR_METHOD_GET, "/v1/accounts/a'or'1", &t, &prob), SOTTO_EPROTO);
    cr_assert_eq(dir_route_parse(DIR_METHOD_GET, "/v1/accounts/999", &t, &prob), SOTTO_EPROTO);
    cr_assert_str_eq(prob.error, "bad_request");
}

Test(dir_route, gives_every_route_a_metrics_label)
{
    for (int r = 0; r <= DIR_ROUTE_COUNT; r++)
        cr_assert_not_null(dir_route_name((enum dir_route)r));
    cr_assert_str_eq(dir_route_name(DIR_ROUTE_COUNT), "other");
    cr_assert_str_eq(dir_route_name(DIR_ROUTE_BUNDLE), "bundle");
    cr_assert(dir_route_signed(DIR_ROUTE_DELETE));
    cr_assert_not(dir_route_signed(DIR_ROUTE_BUNDLE));
}

static const char *sig_b64(const uint8_t sig[static E2E_SIG_LEN])
{
    static char s[128];

    sodium_bin2base64(s, sizeof(s), sig, E2E_SIG_LEN, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

Test(dir_auth, parses_the_three_headers)
{
    uint8_t sig[E2E_SIG_LEN];
    struct dir_auth a;

    for (size_t i = 0; i < sizeof(sig); i++)
        sig[i] = (uint8_t)i;
    cr_assert_eq(dir_auth_parse("123456789012345", "1700000000123", sig_b64(sig), &a, &prob),
                 SOTTO_OK);
    cr_assert_eq(a.number, 123456789012345);
    cr_assert_eq(a.timestamp_ms, 1700000000123);
    cr_assert_str_eq(a.timestamp, "1700000000123");
    cr_assert(memcmp(a.sig, sig, sizeof(sig)) == 0);
    cr_assert_eq(dir_auth_parse("123456789012345", "0", sig_b64(sig), &a, &prob), SOTTO_OK);
}

Test(dir_auth, refuses_missing_or_malformed_headers_with_401)
{
    static const uint8_t sig[E2E_SIG_LEN];
    const char *good_sig = sig_b64(sig);
    static const char *const numbers[] = {"12345678901234",  "1234567890123456", "023456789012345",
                                          "12345678901234x", " 23456789012345",  ""};
    static const char *const times[] = {"01", "-1",  "+5", "1.5", "12345678901234567",
                                        "",   "1e9", " 1"};
    struct dir_auth a;

    cr_assert_eq(dir_auth_parse(NULL, "1", good_sig, &a, &prob), SOTTO_EPROTO);
    cr_assert_eq(dir_auth_parse("123456789012345", NULL, good_sig, &a, &prob), SOTTO_EPROTO);
    cr_assert_eq(dir_auth_parse("123456789012345", "1", NULL, &a, &prob), SOTTO_EPROTO);
    cr_assert_eq(prob.status, 401);
    cr_assert_str_eq(prob.error, "unauthorized");
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
        cr_assert_eq(dir_auth_parse(numbers[i], "1", good_sig, &a, &prob), SOTTO_EPROTO, "%s",
                     numbers[i]);
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        cr_assert_eq(dir_auth_parse("123456789012345", times[i], good_sig, &a, &prob), SOTTO_EPROTO,
                     "%s", times[i]);
    cr_assert_eq(dir_auth_parse("123456789012345", "1", "AAAA", &a, &prob), SOTTO_EPROTO);
    cr_assert_eq(a.number, 0, "a refused header leaves nothing behind");
}

static size_t message(const char *host, const char *method, const char *target, const char *body,
                      const char *ts, uint8_t *out, size_t cap)
{
    struct dir_auth a = {0};
    size_t len = 0;

    snprintf(a.timestamp, sizeof(a.timestamp), "%s", ts);
    cr_assert_eq(dir_auth_message(host, method, target, (const uint8_t *)body, strlen(body), &a,
                                  out, cap, &len, &prob),
                 SOTTO_OK, "%s", prob.message);
    return len;
}

Test(dir_auth, signs_host_method_target_body_digest_and_time_as_documented)
{
    static const char want[] = "dir.example:8443\nPUT\n/v1/accounts/123456789012345/addresses"
                               "?a=1\n"
                               "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
                               "\n1700000000000";
    static const char empty[] = "h\nDELETE\n/x\n"
                                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                                "\n5";
    uint8_t out[512];
    size_t len;

    len = message("dir.example:8443", "PUT", "/v1/accounts/123456789012345/addresses?a=1", "a",
                  "1700000000000", out, sizeof(out));
    cr_assert_eq(len, strlen(want));
    cr_assert(memcmp(out, want, len) == 0, "%.*s", (int)len, out);
    len = message("h", "DELETE", "/x", "", "5", out, sizeof(out));
    cr_assert_eq(len, strlen(empty));
    cr_assert(memcmp(out, empty, len) == 0);
}

Test(dir_auth, refuses_to_sign_fields_with_newlines_or_that_do_not_fit)
{
    struct dir_auth a = {.timestamp = "1"};
    uint8_t out[100];
    size_t len = 1;

    cr_assert_eq(dir_auth_message("h\nx", "PUT", "/", NULL, 0, &a, out, sizeof(out), &len, &prob),
                 SOTTO_EPROTO);
    cr_assert_eq(len, 0);
    cr_assert_eq(dir_auth_message(NULL, "PUT", "/", NULL, 0, &a, out, sizeof(out), &len, &prob),
                 SOTTO_EPROTO);
    cr_assert_eq(prob.status, 401);
    cr_assert_eq(dir_auth_message("h", "PUT", "/", NULL, 0, &a, out, 70, &len, &prob), SOTTO_EPROTO,
                 "the digest alone is 64 bytes");
}

struct signed_fx {
    struct dsrv_fx fx;
    struct dir_auth a;
    uint8_t msg[256];
    size_t len;
};

static void sign_now(struct signed_fx *s, uint64_t ts, const char *label)
{
    snprintf(s->a.timestamp, sizeof(s->a.timestamp), "%llu", (unsigned long long)ts);
    s->a.timestamp_ms = ts;
    s->len = message("dir.example", "POST", "/v1/accounts", "{}", s->a.timestamp, s->msg,
                     sizeof(s->msg));
    cr_assert_eq(e2e_sign(s->fx.ctx, s->fx.priv, label, s->msg, s->len, s->a.sig), SOTTO_OK);
}

Test(dir_auth, accepts_a_fresh_signature_and_keys_the_replay_cache_on_the_signed_bytes)
{
    struct signed_fx s;
    uint8_t digest[32], want[32];
    const uint64_t now = 1700000000000;

    dsrv_fx_init(&s.fx);
    sign_now(&s, now - DIR_AUTH_WINDOW_MS, DIR_AUTH_LABEL);
    cr_assert_eq(dir_auth_verify(&s.a, s.fx.pub, s.msg, s.len, now, digest, &prob), SOTTO_OK, "%s",
                 prob.message);
    crypto_hash_sha256(want, s.msg, s.len);
    cr_assert(memcmp(digest, want, 32) == 0);
    sign_now(&s, now + DIR_AUTH_WINDOW_MS, DIR_AUTH_LABEL);
    cr_assert_eq(dir_auth_verify(&s.a, s.fx.pub, s.msg, s.len, now, digest, &prob), SOTTO_OK);
    dsrv_fx_fini(&s.fx);
}

Test(dir_auth, refuses_stale_timestamps_with_401)
{
    struct signed_fx s;
    uint8_t digest[32];
    const uint64_t now = 1700000000000;

    dsrv_fx_init(&s.fx);
    sign_now(&s, now - DIR_AUTH_WINDOW_MS - 1, DIR_AUTH_LABEL);
    cr_assert_eq(dir_auth_verify(&s.a, s.fx.pub, s.msg, s.len, now, digest, &prob), SOTTO_EPROTO);
    cr_assert_eq(prob.status, 401);
    cr_assert_str_eq(prob.error, "stale_timestamp");
    sign_now(&s, now + DIR_AUTH_WINDOW_MS + 1, DIR_AUTH_LABEL);
    cr_assert_eq(dir_auth_verify(&s.a, s.fx.pub, s.msg, s.len, now, digest, &prob), SOTTO_EPROTO);
    cr_assert_str_eq(prob.error, "stale_timestamp");
    dsrv_fx_fini(&s.fx);
}

Test(dir_auth, refuses_forged_and_misdirected_signatures_with_401)
{
    struct signed_fx s;
    struct dsrv_fx other;
    uint8_t digest[32];
    const uint64_t now = 1700000000000;

    dsrv_fx_init(&s.fx);
    dsrv_fx_init(&other);
    sign_now(&s, now, DIR_AUTH_LABEL);
    cr_assert_eq(dir_auth_verify(&s.a, other.pub, s.msg, s.len, now, digest, &prob), SOTTO_EPROTO,
                 "another account's key");
    cr_assert_str_eq(prob.error, "bad_signature");
    s.msg[0] ^= 1;
    cr_assert_eq(dir_auth_verify(&s.a, s.fx.pub, s.msg, s.len, now, digest, &prob), SOTTO_EPROTO,
                 "other bytes");
    s.msg[0] ^= 1;
    s.a.sig[5] ^= 0x10;
    cr_assert_eq(dir_auth_verify(&s.a, s.fx.pub, s.msg, s.len, now, digest, &prob), SOTTO_EPROTO);
    sign_now(&s, now, "sotto-card-v1");
    cr_assert_eq(dir_auth_verify(&s.a, s.fx.pub, s.msg, s.len, now, digest, &prob), SOTTO_EPROTO,
                 "a signature made for another purpose");
    cr_assert_str_eq(prob.error, "bad_signature");
    dsrv_fx_fini(&other);
    dsrv_fx_fini(&s.fx);
}
