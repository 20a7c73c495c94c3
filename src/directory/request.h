/* src/directory/request.h: the parts of a directory request outside its body, checked away
 * from the network: which route a method and target name, and the signature headers of a
 * write (docs/PROTOCOL.md, "Signed writes"). Pure functions, for unit tests and the fuzzer. */
#ifndef SOTTO_DIRECTORY_REQUEST_H
#define SOTTO_DIRECTORY_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "directory/parse.h"
#include "e2e/e2e.h"
#include "sotto/err.h"
#include "util/text.h"

#define DIR_AUTH_LABEL     "sotto-dir-v1"
#define DIR_AUTH_WINDOW_MS (5 * 60 * 1000)
#define DIR_AUTH_MSG_MAX   (16 * 1024) /* signed bytes: host, method, target, digest, time */
#define DIR_TIMESTAMP_MAX  16          /* decimal digits of Sotto-Timestamp */

enum dir_method {
    DIR_METHOD_GET,
    DIR_METHOD_POST,
    DIR_METHOD_PUT,
    DIR_METHOD_DELETE,
    DIR_METHOD_OTHER
};

/* DIR_ROUTE_NONE stands for anything that is not a route (404, 405): "other" in metrics. */
enum dir_route {
    DIR_ROUTE_NONE,
    DIR_ROUTE_REGISTER,
    DIR_ROUTE_LOOKUP,
    DIR_ROUTE_BUNDLE,
    DIR_ROUTE_ADDRESSES,
    DIR_ROUTE_PREKEYS,
    DIR_ROUTE_DELETE,
    DIR_ROUTE_HEALTHZ,
    DIR_ROUTE_METRICS,
    DIR_ROUTE_COUNT /* keep last */
};

struct dir_target {
    enum dir_route route;
    uint64_t number;                      /* the {number} of the path; 0 when none */
    char username[TEXT_USERNAME_MAX + 1]; /* lookup by username, lowercased; "" otherwise */
};

/* Routes a request target exactly as sent (its query, if any, is ignored here but signed).
 * SOTTO_OK with `t` filled; SOTTO_ENOENT for an unknown path (404 `not_found` in `p`);
 * SOTTO_EPROTO for a known path with the wrong method (405) or a malformed number or username
 * (400). Lookups take a 15-digit number or a username (lowercased, then checked). */
enum sotto_err dir_route_parse(enum dir_method m, const char *target, struct dir_target *t,
                               struct dir_problem *p);
/* "register", "lookup", … "other": the route label of /metrics. Never NULL. */
const char *dir_route_name(enum dir_route r);
/* True for the routes that change an account and so must be signed. */
bool dir_route_signed(enum dir_route r);

/* The three headers of a signed write, parsed. */
struct dir_auth {
    uint64_t number;
    uint64_t timestamp_ms;
    char timestamp[DIR_TIMESTAMP_MAX + 1]; /* as sent (decimal, canonical) */
    uint8_t sig[E2E_SIG_LEN];
};

/* Parses Sotto-Number (exactly 15 digits), Sotto-Timestamp (decimal milliseconds, no sign, no
 * leading zero, at most 16 digits) and Sotto-Signature (64 bytes of padded base64). Any of
 * them NULL (missing) or malformed: SOTTO_EPROTO with a 401 `unauthorized` problem. */
enum sotto_err dir_auth_parse(const char *number, const char *timestamp, const char *signature,
                              struct dir_auth *out, struct dir_problem *p);

/* The signed bytes: host "\n" method "\n" target "\n" hex(SHA-256(body)) "\n" timestamp, into
 * out[0..cap). SOTTO_EPROTO (401 in `p`) when host, method or target is missing or holds a
 * newline, or when the bytes do not fit in `cap`. */
enum sotto_err dir_auth_message(const char *host, const char *method, const char *target,
                                const uint8_t *body, size_t body_len, const struct dir_auth *a,
                                uint8_t *out, size_t cap, size_t *len, struct dir_problem *p);

/* Checks the timestamp against `now_ms` (within DIR_AUTH_WINDOW_MS either way: else
 * `stale_timestamp`) and the signature under `key` (e2e_verify, label DIR_AUTH_LABEL: else
 * `bad_signature`), both 401. On success `digest` is the replay-cache key: SHA-256 of the
 * signed bytes msg[0..len) alone, without the label e2e_verify puts in front. */
enum sotto_err dir_auth_verify(const struct dir_auth *a, const uint8_t key[static E2E_KEY_LEN],
                               const uint8_t *msg, size_t len, uint64_t now_ms,
                               uint8_t digest[static 32], struct dir_problem *p);

#endif
