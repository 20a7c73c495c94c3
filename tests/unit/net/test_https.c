/* tests/unit/net/test_https.c: the client against a fake TLS 1.3 server: the pin is recorded on
 * first use and enforced after, before a byte of the request is sent; statuses become errors
 * with the server's words kept; oversized, silent and unreachable servers fail cleanly; a signed
 * write carries headers that verify; an answer must be about what was asked. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "identity/number.h"
#include "net_test.h"

TestSuite(net_https, .init = net_fx_init, .fini = net_fx_fini, .timeout = 30);

#define OTHER_PIN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];

static char *b64_of(const uint8_t *p, size_t len)
{
    static char buf[3][NET_SIG_B64_LEN];
    static int i;

    i = (i + 1) % 3;
    cr_assert_eq(net_b64_encode(p, len, buf[i], sizeof(buf[i])), SOTTO_OK);
    return buf[i];
}

/* A valid account body for a fresh key, under `username`. */
static char *account_body(const char *username)
{
    uint8_t sig[E2E_SIG_LEN] = {1};
    char digits[NUMBER_DIGITS_LEN], *text = malloc(2048);

    cr_assert_eq(e2e_identity_generate(nfx.e2e, pub, priv), SOTTO_OK);
    identity_number_digits(identity_number(pub), digits);
    snprintf(text, 2048,
             "{\"username\":\"%s\",\"number\":\"%s\",\"identity_key\":\"%s\","
             "\"registration_id\":5,\"signed_prekey\":{\"id\":1,\"key\":\"%s\","
             "\"signature\":\"%s\"},\"addresses\":[],\"updated_ms\":1}",
             username, digits, b64_of(pub, E2E_KEY_LEN), b64_of(pub, E2E_KEY_LEN),
             b64_of(sig, sizeof(sig)));
    return text;
}

static void serve_one_response(int status, const char *headers, const char *body)
{
    char *r[] = {fake_response(status, headers, body)};

    fake_start(r, 1);
}

static void serve_account(const char *username)
{
    char *body = account_body(username);

    serve_one_response(200, "", body);
    free(body);
}

Test(net_https, the_first_certificate_is_pinned_when_no_pin_is_given)
{
    struct net_account a;
    struct net_dir *d;

    serve_account("alice");
    d = fake_session(NULL, 5000);
    cr_assert_str_empty(net_dir_pin(d));
    cr_assert_eq(net_dir_lookup(d, "Alice", &a), SOTTO_OK);
    cr_assert_str_eq(a.username, "alice");
    cr_assert(net_dir_pin_accepted(d));
    cr_assert_str_eq(net_dir_pin(d), nfx.srv.pin);
    net_dir_free(d);
}

Test(net_https, the_pinned_certificate_is_accepted)
{
    struct net_account a;
    struct net_dir *d;

    serve_account("alice");
    d = fake_session(nfx.srv.pin, 5000);
    cr_assert_eq(net_dir_lookup(d, "alice", &a), SOTTO_OK);
    net_dir_free(d);
}

Test(net_https, another_certificate_is_refused_before_the_request_is_sent)
{
    struct net_account a;
    struct net_dir *d;

    serve_account("alice");
    d = fake_session(OTHER_PIN, 5000);
    cr_assert_eq(net_dir_lookup(d, "alice", &a), SOTTO_EPIN);
    cr_assert_str_eq(net_dir_problem(d)->pin_seen, nfx.srv.pin);
    cr_assert_str_eq(net_dir_pin(d), OTHER_PIN, "the pin is never replaced");
    cr_assert_not(net_dir_pin_accepted(d));
    cr_assert_str_empty(a.username);
    usleep(100 * 1000);
    cr_assert_eq(nfx.srv.n_requests, 0, "not a byte of the request reached the server");
    net_dir_free(d);
}

Test(net_https, a_lookup_sends_the_path_and_host_it_signs_over)
{
    char host[64], want[64], line[128];
    struct net_account a;
    struct net_dir *d;
    char *body = account_body("alice");
    char digits[NUMBER_DIGITS_LEN];

    serve_one_response(200, "", body);
    free(body);
    identity_number_digits(identity_number(pub), digits);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_lookup(d, digits, &a), SOTTO_OK);
    cr_assert(fake_header("Host", host, sizeof(host)));
    snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)nfx.srv.port);
    cr_assert_str_eq(host, want);
    snprintf(line, sizeof(line), "GET /v1/accounts/%s HTTP/1.1\r\n", digits);
    cr_assert_eq(strncmp(nfx.srv.request, line, strlen(line)), 0, "%s", nfx.srv.request);
    net_dir_free(d);
}

Test(net_https, an_account_other_than_the_one_asked_for_is_refused)
{
    struct net_account a;
    struct net_dir *d;

    serve_account("mallory");
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_lookup(d, "alice", &a), SOTTO_EPROTO);
    cr_assert_str_empty(a.username);
    cr_assert_eq(net_dir_lookup(d, "123456789012345", &a), SOTTO_EPROTO);
    net_dir_free(d);
}

Test(net_https, a_query_that_is_neither_a_number_nor_a_username_is_refused_unsent)
{
    struct net_account a;
    struct net_dir *d;

    serve_account("alice");
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_lookup(d, "../../etc", &a), SOTTO_EINVAL);
    cr_assert_eq(net_dir_lookup(d, "alice?x=1", &a), SOTTO_EINVAL);
    cr_assert_eq(nfx.srv.n_requests, 0);
    net_dir_free(d);
}

static enum sotto_err lookup_status(int status, const char *headers, const char *body,
                                    struct net_dir_problem *p)
{
    struct net_account a;
    struct net_dir *d;
    enum sotto_err rc;

    serve_one_response(status, headers, body);
    d = fake_session(NULL, 5000);
    rc = net_dir_lookup(d, "alice", &a);
    *p = *net_dir_problem(d);
    net_dir_free(d);
    return rc;
}

Test(net_https, a_refusal_keeps_the_servers_code_and_message)
{
    struct net_dir_problem p;

    cr_assert_eq(
            lookup_status(409, "", "{\"error\":\"username_taken\",\"message\":\"choose\"}", &p),
            SOTTO_EREFUSED);
    cr_assert_eq(p.status, 409);
    cr_assert_str_eq(p.code, "username_taken");
    cr_assert_str_eq(p.message, "choose");
}

Test(net_https, statuses_become_errors)
{
    struct net_dir_problem p;

    cr_assert_eq(lookup_status(404, "", "{\"error\":\"not_found\",\"message\":\"x\"}", &p),
                 SOTTO_ENOENT);
    cr_assert_eq(lookup_status(429, "Retry-After: 30\r\n", "{}", &p), SOTTO_ERATE);
    cr_assert_eq(p.retry_after_s, 30);
    cr_assert_eq(lookup_status(503, "", "not json", &p), SOTTO_ENET);
    cr_assert_eq(p.status, 503);
    cr_assert_str_empty(p.code);
    cr_assert_eq(lookup_status(401, "", "{}", &p), SOTTO_EREFUSED);
    cr_assert_eq(lookup_status(302, "Location: https://evil/\r\n", "", &p), SOTTO_EPROTO);
}

Test(net_https, an_answer_larger_than_the_cap_is_refused)
{
    size_t len = NET_BODY_MAX + 100;
    char *body = malloc(len + 1);
    struct net_dir_problem p;

    memset(body, ' ', len);
    body[0] = '{';
    body[len - 1] = '}';
    body[len] = '\0';
    cr_assert_eq(lookup_status(200, "", body, &p), SOTTO_ETOOBIG);
    free(body);
}

Test(net_https, a_chunked_answer_larger_than_the_cap_is_refused)
{
    size_t chunk = 64 * 1024, n = 5, len = n * (chunk + 16) + 64;
    char *r = malloc(len), *at = r;

    at += sprintf(at, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for (size_t i = 0; i < n; i++) {
        at += sprintf(at, "%zx\r\n", chunk);
        memset(at, ' ', chunk);
        at += chunk;
        at += sprintf(at, "\r\n");
    }
    sprintf(at, "0\r\n\r\n");
    char *responses[] = {r};
    fake_start(responses, 1);
    struct net_account a;
    struct net_dir *d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_lookup(d, "alice", &a), SOTTO_ETOOBIG);
    net_dir_free(d);
}

Test(net_https, headers_larger_than_the_cap_are_refused)
{
    size_t len = 20 * 1024;
    char *h = malloc(len + 32);
    struct net_dir_problem p;

    memcpy(h, "X-Big: ", 7);
    memset(h + 7, 'a', len);
    memcpy(h + 7 + len, "\r\n", 3);
    cr_assert_eq(lookup_status(200, h, "{}", &p), SOTTO_EPROTO);
    free(h);
}

Test(net_https, garbage_instead_of_http_is_refused)
{
    char *r[] = {strdup("SSH-2.0-OpenSSH\r\n\r\n")};
    struct net_account a;
    struct net_dir *d;

    fake_start(r, 1);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_lookup(d, "alice", &a), SOTTO_EPROTO);
    net_dir_free(d);
}

Test(net_https, an_unreachable_directory_is_a_network_error)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct net_dir_params params = {0};
    socklen_t len = sizeof(sa);
    struct net_account a;
    struct net_dir *d = NULL;
    char url[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd); /* nobody listens there now */
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    params.url = url;
    cr_assert_eq(net_dir_open(&d, &nfx.env, &params), SOTTO_OK);
    cr_assert_eq(net_dir_lookup(d, "alice", &a), SOTTO_ENET);
    cr_assert_str_not_empty(net_dir_problem(d)->detail);
    cr_assert_eq(net_dir_problem(d)->status, 0);
    net_dir_free(d);
}

Test(net_https, a_silent_directory_times_out_at_the_deadline)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct net_dir_params params = {.timeout_ms = 300};
    socklen_t len = sizeof(sa);
    struct timespec t0, t1;
    struct net_account a;
    struct net_dir *d = NULL;
    char url[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0); /* the kernel accepts; nobody ever answers */
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    params.url = url;
    cr_assert_eq(net_dir_open(&d, &nfx.env, &params), SOTTO_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(net_dir_lookup(d, "alice", &a), SOTTO_ENET);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 5, "the deadline holds");
    net_dir_free(d);
    close(fd);
}

/* ---- writes ---- */

static void identity(struct net_identity *id)
{
    cr_assert_eq(e2e_identity_generate(nfx.e2e, pub, priv), SOTTO_OK);
    id->e2e = nfx.e2e;
    id->priv = priv;
    id->number = identity_number(pub);
}

/* The recorded request verifies under `pub` as a signed write. */
static void assert_signed(const char *method, const char *target)
{
    char host[64], num[32], ts[32], sig_b64[128], digits[NUMBER_DIGITS_LEN];
    uint8_t msg[NET_SIGNED_MSG_MAX], sig[E2E_SIG_LEN];
    size_t len = 0, body_len = 0;
    const char *body = fake_body(&body_len);

    cr_assert(fake_header("Host", host, sizeof(host)));
    cr_assert(fake_header("Sotto-Number", num, sizeof(num)));
    cr_assert(fake_header("Sotto-Timestamp", ts, sizeof(ts)));
    cr_assert(fake_header("Sotto-Signature", sig_b64, sizeof(sig_b64)));
    identity_number_digits(identity_number(pub), digits);
    cr_assert_str_eq(num, digits);
    cr_assert_str_eq(ts, "1700000000000", "the env's clock");
    cr_assert_eq(net_b64_exact(sig_b64, sig, sizeof(sig)), SOTTO_OK);
    cr_assert_eq(net_sign_message(host, method, target, (const uint8_t *)body, body_len, ts, msg,
                                  sizeof(msg), &len),
                 SOTTO_OK);
    cr_assert_eq(e2e_verify(pub, NET_SIGN_LABEL, msg, len, sig), SOTTO_OK);
}

Test(net_https, a_prekey_upload_is_signed_and_tells_how_many_are_left)
{
    struct net_prekey pks[2] = {{.id = 7}, {.id = 8}};
    struct net_identity id;
    char target[64], digits[NUMBER_DIGITS_LEN];
    unsigned left = 0;
    struct net_dir *d;
    json_t *body;
    size_t len;

    serve_one_response(200, "", "{\"prekeys_left\":12,\"seen_from\":\"127.0.0.1:1\"}");
    identity(&id);
    memcpy(pks[0].key, pub, E2E_KEY_LEN);
    memcpy(pks[1].key, pub, E2E_KEY_LEN);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_put_prekeys(d, &id, NULL, pks, 2, &left), SOTTO_OK);
    cr_assert_eq(left, 12);
    identity_number_digits(id.number, digits);
    snprintf(target, sizeof(target), "/v1/accounts/%s/prekeys", digits);
    assert_signed("PUT", target);
    const char *text = fake_body(&len);
    body = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    cr_assert_not_null(body);
    cr_assert_eq(json_array_size(json_object_get(body, "prekeys")), 2);
    cr_assert_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(body, "prekeys"), 1), "id")),
                 8);
    cr_assert_null(json_object_get(body, "signed_prekey"));
    json_decref(body);
    net_dir_free(d);
    sodium_memzero(priv, sizeof(priv));
}

Test(net_https, an_unregistration_is_a_signed_delete)
{
    struct net_identity id;
    char target[64], digits[NUMBER_DIGITS_LEN];
    struct net_dir *d;

    serve_one_response(200, "", "{\"deleted\":\"x\"}");
    identity(&id);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_delete(d, &id), SOTTO_OK);
    identity_number_digits(id.number, digits);
    snprintf(target, sizeof(target), "/v1/accounts/%s", digits);
    assert_signed("DELETE", target);
    net_dir_free(d);
    sodium_memzero(priv, sizeof(priv));
}

Test(net_https, a_registration_answer_must_name_our_username_and_number)
{
    struct net_signed_prekey spk = {.id = 1};
    struct net_register reg = {.username = "alice", .registration_id = 5, .signed_prekey = &spk};
    struct net_registered r;
    struct net_identity id;
    char ok[256], digits[NUMBER_DIGITS_LEN];
    struct net_dir *d;

    identity(&id);
    reg.key = pub;
    memcpy(spk.key, pub, E2E_KEY_LEN);
    identity_number_digits(id.number, digits);
    snprintf(ok, sizeof(ok), "{\"username\":\"alice\",\"number\":\"%s\",\"seen_from\":\"h:1\"}",
             digits);
    char *resp[] = {fake_response(201, "", ok),
                    fake_response(201, "",
                                  "{\"username\":\"alice\",\"number\":"
                                  "\"123456789012345\",\"seen_from\":\"h:1\"}")};
    fake_start(resp, 2);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_dir_register(d, &id, &reg, &r), SOTTO_OK);
    cr_assert_str_eq(r.seen_from, "h:1");
    assert_signed("POST", "/v1/accounts");
    cr_assert_eq(net_dir_register(d, &id, &reg, &r), SOTTO_EPROTO, "another number");
    reg.username = "Alice";
    cr_assert_eq(net_dir_register(d, &id, &reg, &r), SOTTO_EINVAL, "checked before sending");
    net_dir_free(d);
    sodium_memzero(priv, sizeof(priv));
}
