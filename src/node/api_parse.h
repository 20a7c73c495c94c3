/* src/node/api_parse.h: the local API's requests (docs/API.md), from the bytes of one text
 * message, untrusted (any local process can connect), to a checked request or the error the
 * node answers with. Pure: no node, no I/O; api.c acts on what it returns. */
#ifndef SOTTO_NODE_API_PARSE_H
#define SOTTO_NODE_API_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sotto/err.h"

#define NODE_API_TEXT_MAX        (64 * 1024) /* a message's text, bytes (WIRE_BODY_MAX) */
#define NODE_API_HISTORY_DEFAULT 50
#define NODE_API_HISTORY_MAX     1000

enum node_api_op {
    NODE_API_NONE = 0, /* refused */
    NODE_API_AUTH,     /* the connection's first message, with the right token */
    NODE_API_SEND,
    NODE_API_HISTORY,
    NODE_API_STATUS,
    NODE_API_CONNECT,
    NODE_API_READ,
    NODE_API_OP_COUNT /* keep last */
};

/* Why a request is refused, as the node answers it. All strings are static. */
struct node_api_error {
    const char *code;      /* one of docs/API.md's error codes */
    const char *message;   /* what to do, for the user */
    const char *close_why; /* close the connection (1008) after answering, with this reason;
                            * NULL keeps it open */
};

/* A request. Its strings borrow from `root`: they live until node_api_req_clear(). */
struct node_api_req {
    json_t *root;              /* owned: the parsed message; NULL when refused */
    json_t *id;                /* owned reference: "id" as sent, any JSON value (an integer when
                                * accepted), echoed in the answer; NULL when there was none */
    enum node_api_op op;       /* NODE_API_NONE when refused */
    const char *contact;       /* send, history, connect, read: as typed, no NUL inside */
    const char *text;          /* send: text_len bytes (1..NODE_API_TEXT_MAX), no NUL inside */
    size_t text_len;           /* and a NUL after them */
    unsigned limit;            /* history: 1..NODE_API_HISTORY_MAX */
    const char *address;       /* connect: as sent (not yet checked as IP:PORT), or NULL */
    struct node_api_error err; /* when refused; all NULL when accepted */
};

/* Parses one request of `len` bytes at `data` (borrowed for the call). `token` is the
 * connection's expected token (NODE_TOKEN_LEN hex digits) while it is not authenticated,
 * and then the only acceptable request is {"id", "op": "auth", "token"} carrying it (compared
 * in constant time); NULL once authenticated, and then "auth" is an unknown op.
 *
 * SOTTO_OK: out->op and its members are set and checked (limits above). Otherwise out->op is
 * NODE_API_NONE, every member pointer NULL, out->err says what to answer (out->id, when the
 * request had one, is echoed) and the return says why:
 *   SOTTO_EPROTO    bad_request: not a JSON object with an integer "id" and a string "op"
 *                   (invalid JSON or UTF-8, \u0000 in a string, duplicate members, nesting
 *                   deeper than jansson's 2048, an integer beyond int64), or its op's members
 *                   are missing, of the wrong type or out of range;
 *   SOTTO_EREFUSED  unauthorized: the first request is not "auth" with the right token;
 *   SOTTO_ENOENT    unknown_op: no such op;
 *   SOTTO_ENOMEM    failed: out of memory (when jansson says so: it reports most failed
 *                   allocations as bad JSON, and those are answered bad_request).
 * On every path the caller releases *out with node_api_req_clear(). Any thread may call it. */
enum sotto_err node_api_parse(const uint8_t *data, size_t len, const char *token,
                              struct node_api_req *out);

/* Releases what `req` holds and zeroes it; a zeroed request is a no-op. */
void node_api_req_clear(struct node_api_req *req);

#endif
