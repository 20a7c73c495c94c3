/* tests/unit/node/test_api_parse.c: the local API's request parsing (node_api_parse): what a
 * local client may send, and the error the node answers to everything else, word for word as
 * docs/API.md and the commands rely on. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "node/api_parse.h"
#include "node/runfile.h"

static const char token[NODE_TOKEN_LEN + 1] =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static struct node_api_req req;

static void teardown(void)
{
    node_api_req_clear(&req);
}

TestSuite(api_parse, .fini = teardown);

/* Parses `text` on an authenticated connection. */
static enum sotto_err parse(const char *text)
{
    node_api_req_clear(&req);
    return node_api_parse((const uint8_t *)text, strlen(text), NULL, &req);
}

/* Parses `text` as a connection's first message. */
static enum sotto_err parse_first(const char *text)
{
    node_api_req_clear(&req);
    return node_api_parse((const uint8_t *)text, strlen(text), token, &req);
}

static void assert_refused(enum sotto_err rc, enum sotto_err want, const char *code,
                           const char *message)
{
    cr_assert_eq(rc, want, "%s", sotto_errname(rc));
    cr_assert_str_eq(req.err.code, code);
    cr_assert_str_eq(req.err.message, message);
    cr_assert_eq(req.op, NODE_API_NONE);
    cr_assert_null(req.root);
    cr_assert_null(req.contact);
    cr_assert_null(req.text);
    cr_assert_null(req.address);
}

/* A send of `len` bytes of `c`. */
static char *send_of(size_t len, char c)
{
    static const char head[] = "{\"id\":5,\"op\":\"send\",\"contact\":\"bob\",\"text\":\"";
    char *s = malloc(sizeof(head) + len + 2);

    cr_assert_not_null(s);
    memcpy(s, head, sizeof(head) - 1);
    memset(s + sizeof(head) - 1, c, len);
    memcpy(s + sizeof(head) - 1 + len, "\"}", 3);
    return s;
}

static const char send_msg[] =
        "send needs \"contact\" and a non-empty \"text\" of at most 65536 bytes";
static const char history_msg[] = "history needs \"contact\" and a \"limit\" of 1..1000";
static const char connect_msg[] =
        "connect needs \"contact\", and \"address\" as \"IP:PORT\" when given";
static const char shape_msg[] = "a request is an object with an integer \"id\" and an \"op\"";
static const char token_msg[] =
        "the first message must be {\"op\":\"auth\", \"token\": …} with the token from api.json";

Test(api_parse, the_first_message_with_the_right_token_authenticates)
{
    char text[160];

    snprintf(text, sizeof(text), "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", token);
    cr_assert_eq(parse_first(text), SOTTO_OK);
    cr_assert_eq(req.op, NODE_API_AUTH);
    cr_assert_eq(json_integer_value(req.id), 1);
    cr_assert_null(req.err.code);
}

Test(api_parse, a_wrong_token_or_any_other_first_message_is_unauthorized_and_closes)
{
    char text[200];
    const char *bad[] = {
            "{\"id\":1,\"op\":\"status\"}",
            "{\"id\":1,\"op\":\"auth\"}",
            "{\"id\":1,\"op\":\"auth\",\"token\":7}",
            "{\"id\":1,\"op\":\"auth\",\"token\":\"0011\"}",
            "{\"id\":1,\"op\":\"auth\",\"token\":\"ffffffffffffffffffffffffffffffffffffffffffffffff"
            "ffffffffffffffff\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(parse_first(bad[i]), SOTTO_EREFUSED, "unauthorized", token_msg);
        cr_assert_str_eq(req.err.close_why, "token refused", "%s", bad[i]);
        cr_assert_eq(json_integer_value(req.id), 1, "the id is echoed");
    }
    /* the right token with more after a NUL is not JSON that jansson takes (no JSON_ALLOW_NUL) */
    snprintf(text, sizeof(text), "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\\u0000x\"}", token);
    assert_refused(parse_first(text), SOTTO_EPROTO, "bad_request", shape_msg);
    cr_assert_str_eq(req.err.close_why, "token first");
}

Test(api_parse, a_first_message_that_is_no_request_is_a_bad_request_and_closes)
{
    assert_refused(parse_first("{\"op\":\"auth\"}"), SOTTO_EPROTO, "bad_request", shape_msg);
    cr_assert_str_eq(req.err.close_why, "token first");
}

Test(api_parse, auth_once_authenticated_is_an_unknown_op)
{
    char text[160];

    snprintf(text, sizeof(text), "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", token);
    assert_refused(parse(text), SOTTO_ENOENT, "unknown_op", "no such operation (see docs/API.md)");
    cr_assert_null(req.err.close_why, "an authenticated connection stays open");
}

Test(api_parse, each_op_is_taken_with_its_members)
{
    cr_assert_eq(parse("{\"id\":2,\"op\":\"send\",\"contact\":\"bob\",\"text\":\"hi\\u00e9\"}"),
                 SOTTO_OK);
    cr_assert_eq(req.op, NODE_API_SEND);
    cr_assert_str_eq(req.contact, "bob");
    cr_assert_eq(req.text_len, 4);
    cr_assert_str_eq(req.text, "hi\xc3\xa9");

    cr_assert_eq(parse("{\"id\":3,\"op\":\"history\",\"contact\":\"alice\",\"limit\":7}"),
                 SOTTO_OK);
    cr_assert_eq(req.op, NODE_API_HISTORY);
    cr_assert_str_eq(req.contact, "alice");
    cr_assert_eq(req.limit, 7);

    cr_assert_eq(parse("{\"id\":4,\"op\":\"status\",\"extra\":[1]}"), SOTTO_OK);
    cr_assert_eq(req.op, NODE_API_STATUS);
    cr_assert_null(req.contact);

    cr_assert_eq(parse("{\"id\":5,\"op\":\"connect\",\"contact\":\"bob\",\"address\":\"[::1]:9\"}"),
                 SOTTO_OK);
    cr_assert_eq(req.op, NODE_API_CONNECT);
    cr_assert_str_eq(req.address, "[::1]:9");
    cr_assert_eq(parse("{\"id\":5,\"op\":\"connect\",\"contact\":\"bob\"}"), SOTTO_OK);
    cr_assert_null(req.address, "no address: the contact's known ones");

    cr_assert_eq(parse("{\"id\":6,\"op\":\"read\",\"contact\":\"123456789012345\"}"), SOTTO_OK);
    cr_assert_eq(req.op, NODE_API_READ);
    cr_assert_str_eq(req.contact, "123456789012345");
    cr_assert_eq(json_integer_value(req.id), 6);
}

Test(api_parse, send_takes_1_to_65536_bytes_of_text_and_no_more)
{
    char *s = send_of(NODE_API_TEXT_MAX, 'x');

    cr_assert_eq(parse(s), SOTTO_OK);
    cr_assert_eq(req.text_len, NODE_API_TEXT_MAX);
    free(s);
    s = send_of(NODE_API_TEXT_MAX + 1, 'x');
    assert_refused(parse(s), SOTTO_EPROTO, "bad_request", send_msg);
    cr_assert_null(req.err.close_why);
    free(s);
    s = send_of(0, 'x');
    assert_refused(parse(s), SOTTO_EPROTO, "bad_request", send_msg);
    free(s);
}

Test(api_parse, send_refuses_a_missing_or_wrong_member)
{
    const char *bad[] = {
            "{\"id\":1,\"op\":\"send\",\"text\":\"hi\"}",
            "{\"id\":1,\"op\":\"send\",\"contact\":\"bob\"}",
            "{\"id\":1,\"op\":\"send\",\"contact\":12,\"text\":\"hi\"}",
            "{\"id\":1,\"op\":\"send\",\"contact\":\"bob\",\"text\":[\"hi\"]}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(parse(bad[i]), SOTTO_EPROTO, "bad_request", send_msg);
}

Test(api_parse, a_nul_in_any_string_is_a_bad_request)
{
    const char *bad[] = {
            "{\"id\":1,\"op\":\"send\",\"contact\":\"bob\",\"text\":\"a\\u0000b\"}",
            "{\"id\":1,\"op\":\"send\",\"contact\":\"bob\\u0000alice\",\"text\":\"hi\"}",
            "{\"id\":1,\"op\":\"status\\u0000x\"}",
            "{\"id\":1,\"op\":\"connect\",\"contact\":\"b\",\"address\":\"1.2.3.4:5\\u0000\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(parse(bad[i]), SOTTO_EPROTO, "bad_request", shape_msg);
}

Test(api_parse, history_limit_defaults_to_50_and_must_be_an_integer_of_1_to_1000)
{
    const char *bad[] = {
            "{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":0}",
            "{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":1001}",
            "{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":-1}",
            "{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":\"50\"}",
            "{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":50.0}",
            "{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":null}",
            "{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":4294967297}",
            "{\"id\":1,\"op\":\"history\",\"limit\":5}",
    };

    cr_assert_eq(parse("{\"id\":1,\"op\":\"history\",\"contact\":\"a\"}"), SOTTO_OK);
    cr_assert_eq(req.limit, NODE_API_HISTORY_DEFAULT);
    cr_assert_eq(parse("{\"id\":1,\"op\":\"history\",\"contact\":\"a\",\"limit\":1000}"), SOTTO_OK);
    cr_assert_eq(req.limit, 1000);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(parse(bad[i]), SOTTO_EPROTO, "bad_request", history_msg);
}

Test(api_parse, connect_and_read_need_a_contact_and_an_address_must_be_a_string)
{
    assert_refused(parse("{\"id\":1,\"op\":\"connect\",\"contact\":\"b\",\"address\":null}"),
                   SOTTO_EPROTO, "bad_request", connect_msg);
    assert_refused(parse("{\"id\":1,\"op\":\"connect\",\"contact\":\"b\",\"address\":8766}"),
                   SOTTO_EPROTO, "bad_request", connect_msg);
    assert_refused(parse("{\"id\":1,\"op\":\"connect\",\"address\":\"1.2.3.4:5\"}"), SOTTO_EPROTO,
                   "bad_request", connect_msg);
    assert_refused(parse("{\"id\":1,\"op\":\"read\"}"), SOTTO_EPROTO, "bad_request",
                   "read needs \"contact\"");
    assert_refused(parse("{\"id\":1,\"op\":\"read\",\"contact\":{}}"), SOTTO_EPROTO, "bad_request",
                   "read needs \"contact\"");
}

Test(api_parse, what_is_no_request_object_is_a_bad_request)
{
    const char *bad[] = {
            "",
            "[]",
            "\"status\"",
            "7",
            "null",
            "{\"id\":1,\"op\":\"status\"",                  /* truncated */
            "{\"id\":1,\"op\":\"status\"} {}",              /* trailing bytes */
            "{\"id\":1,\"op\":\"status\",\"op\":\"read\"}", /* duplicate member */
            "{\"id\":1}",
            "{\"id\":1,\"op\":7}",
            "{\"op\":\"status\"}",
            "{\"id\":1.0,\"op\":\"status\"}",
            "{\"id\":92233720368547758070,\"op\":\"status\"}",                    /* above int64 */
            "{\"id\":1,\"op\":\"send\",\"contact\":\"b\",\"text\":\"\xc3\x28\"}", /* not UTF-8 */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(parse(bad[i]), SOTTO_EPROTO, "bad_request", shape_msg);
        cr_assert_null(req.err.close_why, "%s", bad[i]);
    }
}

Test(api_parse, a_refused_request_echoes_its_id_as_sent)
{
    assert_refused(parse("{\"id\":\"x\",\"op\":\"status\"}"), SOTTO_EPROTO, "bad_request",
                   shape_msg);
    cr_assert_str_eq(json_string_value(req.id), "x");
    assert_refused(parse("{\"op\":\"status\"}"), SOTTO_EPROTO, "bad_request", shape_msg);
    cr_assert_null(req.id);
    assert_refused(parse("{\"id\":9223372036854775807,\"op\":\"nope\"}"), SOTTO_ENOENT,
                   "unknown_op", "no such operation (see docs/API.md)");
    cr_assert_eq(json_integer_value(req.id), INT64_MAX);
}

Test(api_parse, an_op_is_named_exactly)
{
    assert_refused(parse("{\"id\":1,\"op\":\"Status\"}"), SOTTO_ENOENT, "unknown_op",
                   "no such operation (see docs/API.md)");
    assert_refused(parse("{\"id\":1,\"op\":\"\"}"), SOTTO_ENOENT, "unknown_op",
                   "no such operation (see docs/API.md)");
}

Test(api_parse, nesting_past_the_parsers_depth_is_refused)
{
    enum { DEPTH = 5000 };
    static const char head[] = "{\"id\":1,\"op\":\"status\",\"x\":";
    char *s = malloc(sizeof(head) + 2 * DEPTH + 2);

    cr_assert_not_null(s);
    memcpy(s, head, sizeof(head) - 1);
    memset(s + sizeof(head) - 1, '[', DEPTH);
    memset(s + sizeof(head) - 1 + DEPTH, ']', DEPTH);
    memcpy(s + sizeof(head) - 1 + 2 * DEPTH, "}", 2);
    assert_refused(parse(s), SOTTO_EPROTO, "bad_request", shape_msg);
    free(s);
}

/* jansson's allocator, failing its call number fail_at, counting what is live */
static unsigned long calls, fail_at;
static long live;

static void *failing_malloc(size_t len)
{
    size_t *p;

    if (++calls == fail_at)
        return NULL;
    p = malloc(sizeof(size_t) + len);
    if (p == NULL)
        return NULL;
    live++;
    return p + 1;
}

static void counting_free(void *p)
{
    if (p == NULL)
        return;
    live--;
    free((size_t *)p - 1);
}

/* jansson mostly reports a failed allocation as bad JSON: then the answer is bad_request, as
 * for bad JSON; when it says out of memory, failed. Never a half request, never a leak. */
Test(api_parse, out_of_memory_refuses_whole_and_leaks_nothing)
{
    static const char text[] =
            "{\"id\":1,\"op\":\"send\",\"contact\":\"bob\",\"text\":\"hello\",\"x\":[1,{\"a\":2}]}";
    enum sotto_err rc;

    json_set_alloc_funcs(failing_malloc, counting_free);
    for (fail_at = 1;; fail_at++) {
        calls = 0;
        rc = node_api_parse((const uint8_t *)text, sizeof(text) - 1, NULL, &req);
        if (rc == SOTTO_OK)
            break;
        if (rc == SOTTO_ENOMEM)
            assert_refused(rc, SOTTO_ENOMEM, "failed", sotto_strerror(SOTTO_ENOMEM));
        else
            assert_refused(rc, SOTTO_EPROTO, "bad_request", shape_msg);
        cr_assert_null(req.err.close_why);
        node_api_req_clear(&req);
        cr_assert_eq(live, 0, "leak after failing call %lu", fail_at);
        cr_assert_lt(fail_at, 1000);
    }
    cr_assert_eq(req.op, NODE_API_SEND);
    cr_assert_str_eq(req.contact, "bob");
    cr_assert_str_eq(req.text, "hello");
    node_api_req_clear(&req);
    cr_assert_eq(live, 0);
    json_set_alloc_funcs(malloc, free);
}
