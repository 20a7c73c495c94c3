/* src/node/api_parse.c: the local API's requests, from untrusted bytes to a checked request or
 * the error the node answers with (api_parse.h, docs/API.md). */
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "node/api_parse.h"
#include "node/runfile.h"
#include "wire/wire.h"

_Static_assert(NODE_API_TEXT_MAX == WIRE_BODY_MAX, "a message's text is one record's body");

static const char shape_msg[] = "a request is an object with an integer \"id\" and an \"op\"";
static const char token_msg[] = "the first message must be {\"op\":\"auth\", \"token\": …} with "
                                "the token from api.json";
static const char send_msg[] = "send needs \"contact\" and a non-empty \"text\" of at most "
                               "65536 bytes";
static const char history_msg[] = "history needs \"contact\" and a \"limit\" of 1..1000";
static const char connect_msg[] = "connect needs \"contact\", and \"address\" as \"IP:PORT\" "
                                  "when given";
static const char read_msg[] = "read needs \"contact\"";

static const char *const op_names[NODE_API_OP_COUNT] = {
        [NODE_API_AUTH] = "auth",       [NODE_API_SEND] = "send",
        [NODE_API_HISTORY] = "history", [NODE_API_STATUS] = "status",
        [NODE_API_CONNECT] = "connect", [NODE_API_READ] = "read",
};

/* Drops all but the id to echo, and says what to answer. */
static enum sotto_err refuse(struct node_api_req *out, enum sotto_err rc, const char *code,
                             const char *message, const char *close_why)
{
    json_t *id = out->id;

    json_decref(out->root);
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->err.code = code;
    out->err.message = message;
    out->err.close_why = close_why;
    return rc;
}

/* The string value of `v` when it is a string without a NUL inside, else NULL. */
static const char *string_of(json_t *v, size_t *len)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (s == NULL || memchr(s, '\0', n) != NULL)
        return NULL;
    *len = n;
    return s;
}

static const char *member_string(json_t *o, const char *name)
{
    size_t len;

    return string_of(json_object_get(o, name), &len);
}

/* The op named `name` (exactly: a NUL inside names none), or NODE_API_NONE. */
static enum node_api_op op_of(json_t *name)
{
    size_t len = 0;
    const char *s = string_of(name, &len);

    for (int op = NODE_API_NONE + 1; s != NULL && op < NODE_API_OP_COUNT; op++)
        if (strlen(op_names[op]) == len && memcmp(op_names[op], s, len) == 0)
            return (enum node_api_op)op;
    return NODE_API_NONE;
}

/* The first request: "auth" with the connection's token, or the connection closes. */
static enum sotto_err parse_auth(struct node_api_req *out, enum node_api_op op, const char *token)
{
    size_t len = 0;
    const char *sent = string_of(json_object_get(out->root, "token"), &len);

    if (op != NODE_API_AUTH || sent == NULL || len != NODE_TOKEN_LEN ||
        strnlen(token, NODE_TOKEN_LEN + 1) != NODE_TOKEN_LEN ||
        sodium_memcmp(sent, token, NODE_TOKEN_LEN) != 0)
        return refuse(out, SOTTO_EREFUSED, "unauthorized", token_msg, "token refused");
    out->op = NODE_API_AUTH;
    return SOTTO_OK;
}

static enum sotto_err parse_send(struct node_api_req *out)
{
    size_t len = 0;

    out->contact = member_string(out->root, "contact");
    out->text = string_of(json_object_get(out->root, "text"), &len);
    if (out->contact == NULL || out->text == NULL || len == 0 || len > NODE_API_TEXT_MAX)
        return refuse(out, SOTTO_EPROTO, "bad_request", send_msg, NULL);
    out->text_len = len;
    return SOTTO_OK;
}

static enum sotto_err parse_history(struct node_api_req *out)
{
    json_t *jl = json_object_get(out->root, "limit");
    json_int_t limit = jl != NULL ? json_integer_value(jl) : NODE_API_HISTORY_DEFAULT;

    out->contact = member_string(out->root, "contact");
    if (out->contact == NULL || (jl != NULL && !json_is_integer(jl)) || limit < 1 ||
        limit > NODE_API_HISTORY_MAX)
        return refuse(out, SOTTO_EPROTO, "bad_request", history_msg, NULL);
    out->limit = (unsigned)limit;
    return SOTTO_OK;
}

static enum sotto_err parse_connect(struct node_api_req *out)
{
    json_t *ja = json_object_get(out->root, "address");
    size_t len;

    out->contact = member_string(out->root, "contact");
    out->address = ja != NULL ? string_of(ja, &len) : NULL;
    if (out->contact == NULL || (ja != NULL && out->address == NULL))
        return refuse(out, SOTTO_EPROTO, "bad_request", connect_msg, NULL);
    return SOTTO_OK;
}

static enum sotto_err parse_members(struct node_api_req *out, enum node_api_op op)
{
    out->op = op;
    switch (op) {
    case NODE_API_SEND:
        return parse_send(out);
    case NODE_API_HISTORY:
        return parse_history(out);
    case NODE_API_STATUS:
        return SOTTO_OK;
    case NODE_API_CONNECT:
        return parse_connect(out);
    case NODE_API_READ:
        out->contact = member_string(out->root, "contact");
        return out->contact != NULL ? SOTTO_OK
                                    : refuse(out, SOTTO_EPROTO, "bad_request", read_msg, NULL);
    default: /* auth, once authenticated, among them */
        return refuse(out, SOTTO_ENOENT, "unknown_op", "no such operation (see docs/API.md)", NULL);
    }
}

enum sotto_err node_api_parse(const uint8_t *data, size_t len, const char *token,
                              struct node_api_req *out)
{
    json_error_t e;
    json_t *op;

    memset(out, 0, sizeof(*out));
    out->root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &e);
    if (out->root == NULL && json_error_code(&e) == json_error_out_of_memory)
        return refuse(out, SOTTO_ENOMEM, "failed", sotto_strerror(SOTTO_ENOMEM), NULL);
    out->id = json_incref(json_object_get(out->root, "id"));
    op = json_object_get(out->root, "op");
    if (!json_is_object(out->root) || !json_is_string(op) || !json_is_integer(out->id))
        return refuse(out, SOTTO_EPROTO, "bad_request", shape_msg,
                      token != NULL ? "token first" : NULL);
    if (token != NULL)
        return parse_auth(out, op_of(op), token);
    return parse_members(out, op_of(op));
}

void node_api_req_clear(struct node_api_req *req)
{
    json_decref(req->root);
    json_decref(req->id);
    memset(req, 0, sizeof(*req));
}
