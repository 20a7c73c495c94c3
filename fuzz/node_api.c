/* fuzz/node_api.c: the local API's request parsing (src/node/api_parse.c, node_api_parse) over
 * arbitrary bytes, each input twice: as a connection's first message (the token below
 * expected) and as a request on an authenticated connection. Nothing may crash, leak or read
 * out of bounds. A refused request answers with an error code of docs/API.md that matches the
 * return, keeps nothing but the id to echo, and closes the connection exactly when it was the
 * first message; an accepted one is an op of its stage with every member within its limits,
 * pointing into the parsed JSON, and parses the same once written out again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "node/api_parse.h"
#include "node/runfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char token[NODE_TOKEN_LEN + 1] =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void check_refused(enum sotto_err rc, const struct node_api_req *r, bool first)
{
    static const struct {
        enum sotto_err rc;
        const char *code;
    } codes[] = {{SOTTO_EPROTO, "bad_request"},
                 {SOTTO_EREFUSED, "unauthorized"},
                 {SOTTO_ENOENT, "unknown_op"},
                 {SOTTO_ENOMEM, "failed"}};
    size_t i = 0;

    while (i < sizeof(codes) / sizeof(codes[0]) && codes[i].rc != rc)
        i++;
    if (i == sizeof(codes) / sizeof(codes[0]) || r->err.code == NULL ||
        strcmp(r->err.code, codes[i].code) != 0 || r->err.message == NULL ||
        r->err.message[0] == '\0')
        abort();
    /* an unknown op is only known as such once authenticated; the token only before */
    if ((rc == SOTTO_EREFUSED && !first) || (rc == SOTTO_ENOENT && first))
        abort();
    if ((r->err.close_why != NULL) != (first && rc != SOTTO_ENOMEM))
        abort();
    if (r->root != NULL || r->op != NODE_API_NONE || r->contact != NULL || r->text != NULL ||
        r->text_len != 0 || r->limit != 0 || r->address != NULL)
        abort();
}

/* `s` is member `name` of the request as sent, a string with no NUL inside. */
static void check_member(const struct node_api_req *r, const char *name, const char *s)
{
    json_t *v = json_object_get(r->root, name);

    if (s == NULL || s != json_string_value(v) || strlen(s) != json_string_length(v))
        abort();
}

static void check_members(const struct node_api_req *r)
{
    json_t *jl = json_object_get(r->root, "limit");

    if (r->op != NODE_API_STATUS)
        check_member(r, "contact", r->contact);
    if (r->op == NODE_API_SEND) {
        check_member(r, "text", r->text);
        if (r->text_len < 1 || r->text_len > NODE_API_TEXT_MAX || r->text_len != strlen(r->text))
            abort();
    } else if (r->text != NULL || r->text_len != 0) {
        abort();
    }
    if (r->op == NODE_API_HISTORY) {
        if (r->limit < 1 || r->limit > NODE_API_HISTORY_MAX ||
            r->limit != (jl != NULL ? json_integer_value(jl) : NODE_API_HISTORY_DEFAULT))
            abort();
    } else if (r->limit != 0) {
        abort();
    }
    if (r->op == NODE_API_CONNECT && json_object_get(r->root, "address") != NULL)
        check_member(r, "address", r->address);
    else if (r->address != NULL)
        abort();
}

/* What was accepted, written out and read again, is the same request. */
static void check_again(const struct node_api_req *r, bool first)
{
    char *text = json_dumps(r->root, JSON_COMPACT);
    struct node_api_req again;

    if (text == NULL)
        abort();
    if (node_api_parse((const uint8_t *)text, strlen(text), first ? token : NULL, &again) !=
                SOTTO_OK ||
        again.op != r->op || !json_equal(again.id, r->id) || again.limit != r->limit ||
        again.text_len != r->text_len ||
        (r->contact != NULL && strcmp(again.contact, r->contact) != 0) ||
        (r->text != NULL && memcmp(again.text, r->text, r->text_len) != 0) ||
        (r->address != NULL) != (again.address != NULL) ||
        (r->address != NULL && strcmp(again.address, r->address) != 0))
        abort();
    node_api_req_clear(&again);
    free(text);
}

static void check_accepted(const struct node_api_req *r, bool first)
{
    if (r->err.code != NULL || r->err.message != NULL || r->err.close_why != NULL)
        abort();
    if (!json_is_object(r->root) || !json_is_integer(r->id) ||
        r->id != json_object_get(r->root, "id"))
        abort();
    if (first) {
        if (r->op != NODE_API_AUTH ||
            strcmp(json_string_value(json_object_get(r->root, "token")), token) != 0)
            abort();
        if (r->contact != NULL || r->text != NULL || r->limit != 0 || r->address != NULL)
            abort();
    } else {
        if (r->op <= NODE_API_AUTH || r->op >= NODE_API_OP_COUNT)
            abort();
        check_members(r);
    }
    check_again(r, first);
}

static void fuzz_one(const uint8_t *data, size_t size, bool first)
{
    struct node_api_req r;
    enum sotto_err rc;

    memset(&r, 0x5a, sizeof(r));
    rc = node_api_parse(data, size, first ? token : NULL, &r);
    if (rc == SOTTO_OK)
        check_accepted(&r, first);
    else
        check_refused(rc, &r, first);
    node_api_req_clear(&r);
    if (r.root != NULL || r.id != NULL || r.op != NODE_API_NONE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(data, size, true);
    fuzz_one(data, size, false);
    return 0;
}
