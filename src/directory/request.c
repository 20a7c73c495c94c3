/* src/directory/request.c: routes and signature headers of directory requests. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "directory/request.h"
#include "identity/number.h"

#define ACCOUNTS     "/v1/accounts"
#define ACCOUNTS_LEN (sizeof(ACCOUNTS) - 1)
#define NUMBER_LEN   15

static const char *const route_names[DIR_ROUTE_COUNT] = {
        [DIR_ROUTE_NONE] = "other",          [DIR_ROUTE_REGISTER] = "register",
        [DIR_ROUTE_LOOKUP] = "lookup",       [DIR_ROUTE_BUNDLE] = "bundle",
        [DIR_ROUTE_ADDRESSES] = "addresses", [DIR_ROUTE_PREKEYS] = "prekeys",
        [DIR_ROUTE_DELETE] = "delete",       [DIR_ROUTE_HEALTHZ] = "healthz",
        [DIR_ROUTE_METRICS] = "metrics",
};

const char *dir_route_name(enum dir_route r)
{
    return (unsigned)r < DIR_ROUTE_COUNT ? route_names[r] : "other";
}

bool dir_route_signed(enum dir_route r)
{
    return r == DIR_ROUTE_REGISTER || r == DIR_ROUTE_ADDRESSES || r == DIR_ROUTE_PREKEYS ||
           r == DIR_ROUTE_DELETE;
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return len > 0;
}

/* Exactly 15 digits, the first not 0: the path and header spelling of a number. */
static bool number_of(const char *s, size_t len, uint64_t *out)
{
    char digits[NUMBER_LEN + 1];

    *out = 0;
    if (len != NUMBER_LEN || !all_digits(s, len))
        return false;
    memcpy(digits, s, len);
    digits[len] = '\0';
    return identity_number_parse(digits, out) == SOTTO_OK;
}

static enum sotto_err not_found(struct dir_problem *p)
{
    dir_problem_set(p, 404, "not_found", "no such path: see docs/PROTOCOL.md for the API");
    return SOTTO_ENOENT;
}

static enum sotto_err wrong_method(struct dir_problem *p, const char *allow)
{
    dir_problem_set(p, 405, "bad_request", "this path takes %s only", allow);
    p->allow = allow;
    return SOTTO_EPROTO;
}

static enum sotto_err lookup_target(const char *s, size_t len, struct dir_target *t,
                                    struct dir_problem *p)
{
    if (all_digits(s, len)) {
        if (!number_of(s, len, &t->number))
            return dir_problem_set(p, 400, "bad_request",
                                   "a number has 15 digits, the first not 0: check it");
        return SOTTO_OK;
    }
    if (len < TEXT_USERNAME_MIN || len > TEXT_USERNAME_MAX)
        return dir_problem_set(p, 400, "bad_username",
                               "a username has 3 to 32 characters of a-z 0-9 _ . -: check it");
    memcpy(t->username, s, len);
    t->username[len] = '\0';
    text_lower_ascii(t->username);
    if (text_check_username((const uint8_t *)t->username, len) != SOTTO_OK) {
        t->username[0] = '\0';
        return dir_problem_set(p, 400, "bad_username",
                               "a username has 3 to 32 characters of a-z 0-9 _ . - and starts "
                               "with a letter: check it");
    }
    return SOTTO_OK;
}

/* /v1/accounts/{x}: a lookup (GET) or a deletion (DELETE, by number). */
static enum sotto_err account_route(enum dir_method m, const char *s, size_t len,
                                    struct dir_target *t, struct dir_problem *p)
{
    if (m == DIR_METHOD_GET) {
        t->route = DIR_ROUTE_LOOKUP;
        return lookup_target(s, len, t, p);
    }
    if (m != DIR_METHOD_DELETE)
        return wrong_method(p, "GET, DELETE");
    t->route = DIR_ROUTE_DELETE;
    if (!number_of(s, len, &t->number))
        return dir_problem_set(p, 400, "bad_request",
                               "an account is deleted by its 15-digit number: "
                               "DELETE /v1/accounts/{number}");
    return SOTTO_OK;
}

/* /v1/accounts/{number}/{bundle|addresses|prekeys} */
static enum sotto_err sub_route(enum dir_method m, const char *num, size_t num_len, const char *sub,
                                size_t sub_len, struct dir_target *t, struct dir_problem *p)
{
    static const struct {
        const char *name;
        enum dir_route route;
        enum dir_method method;
        const char *allow;
    } subs[] = {{"bundle", DIR_ROUTE_BUNDLE, DIR_METHOD_POST, "POST"},
                {"addresses", DIR_ROUTE_ADDRESSES, DIR_METHOD_PUT, "PUT"},
                {"prekeys", DIR_ROUTE_PREKEYS, DIR_METHOD_PUT, "PUT"}};

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strlen(subs[i].name) != sub_len || memcmp(subs[i].name, sub, sub_len) != 0)
            continue;
        if (m != subs[i].method)
            return wrong_method(p, subs[i].allow);
        t->route = subs[i].route;
        if (!number_of(num, num_len, &t->number))
            return dir_problem_set(p, 400, "bad_request",
                                   "this path names an account by its 15-digit number");
        return SOTTO_OK;
    }
    return not_found(p);
}

static enum sotto_err fixed_route(enum dir_method m, enum dir_route r, enum dir_method want,
                                  const char *allow, struct dir_target *t, struct dir_problem *p)
{
    if (m != want)
        return wrong_method(p, allow);
    t->route = r;
    return SOTTO_OK;
}

/* Below /v1/accounts/: one segment, or a number and a sub-resource. */
static enum sotto_err accounts_below(enum dir_method m, const char *s, size_t len,
                                     struct dir_target *t, struct dir_problem *p)
{
    const char *slash = memchr(s, '/', len);
    size_t seg_len = slash != NULL ? (size_t)(slash - s) : len;

    if (seg_len == 0)
        return not_found(p);
    if (slash == NULL)
        return account_route(m, s, len, t, p);
    if (seg_len + 1 == len || memchr(slash + 1, '/', len - seg_len - 1) != NULL)
        return not_found(p);
    return sub_route(m, s, seg_len, slash + 1, len - seg_len - 1, t, p);
}

static bool path_is(const char *path, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(path, want, len) == 0;
}

enum sotto_err dir_route_parse(enum dir_method m, const char *target, struct dir_target *t,
                               struct dir_problem *p)
{
    size_t len;
    enum sotto_err rc;

    memset(t, 0, sizeof(*t));
    if (target == NULL)
        return not_found(p);
    len = strcspn(target, "?");
    if (path_is(target, len, "/healthz"))
        return fixed_route(m, DIR_ROUTE_HEALTHZ, DIR_METHOD_GET, "GET", t, p);
    if (path_is(target, len, "/metrics"))
        return fixed_route(m, DIR_ROUTE_METRICS, DIR_METHOD_GET, "GET", t, p);
    if (path_is(target, len, ACCOUNTS))
        return fixed_route(m, DIR_ROUTE_REGISTER, DIR_METHOD_POST, "POST", t, p);
    if (len <= ACCOUNTS_LEN + 1 || memcmp(target, ACCOUNTS "/", ACCOUNTS_LEN + 1) != 0)
        return not_found(p);
    rc = accounts_below(m, target + ACCOUNTS_LEN + 1, len - ACCOUNTS_LEN - 1, t, p);
    if (rc != SOTTO_OK) {
        enum dir_route keep = rc == SOTTO_ENOENT ? DIR_ROUTE_NONE : t->route;
        memset(t, 0, sizeof(*t));
        t->route = keep;
    }
    return rc;
}

/* Decimal milliseconds as sent: digits only, no leading zero, at most DIR_TIMESTAMP_MAX. */
static bool timestamp_of(const char *s, uint64_t *out)
{
    size_t len = strnlen(s, DIR_TIMESTAMP_MAX + 1);
    uint64_t v = 0;

    if (len == 0 || len > DIR_TIMESTAMP_MAX || !all_digits(s, len) || (s[0] == '0' && len > 1))
        return false;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 16 digits cannot overflow 64 bits */
    *out = v;
    return true;
}

enum sotto_err dir_auth_parse(const char *number, const char *timestamp, const char *signature,
                              struct dir_auth *out, struct dir_problem *p)
{
    memset(out, 0, sizeof(*out));
    if (number == NULL || timestamp == NULL || signature == NULL)
        return dir_problem_set(p, 401, "unauthorized",
                               "sign the request: send Sotto-Number, Sotto-Timestamp and "
                               "Sotto-Signature");
    if (!number_of(number, strnlen(number, NUMBER_LEN + 1), &out->number))
        return dir_problem_set(p, 401, "unauthorized", "Sotto-Number must be your 15-digit number");
    if (!timestamp_of(timestamp, &out->timestamp_ms))
        return dir_problem_set(p, 401, "unauthorized",
                               "Sotto-Timestamp must be milliseconds since the Unix epoch, in "
                               "decimal");
    memcpy(out->timestamp, timestamp, strlen(timestamp) + 1);
    if (dir_b64_decode(signature, strnlen(signature, 128), out->sig, E2E_SIG_LEN) != SOTTO_OK) {
        memset(out, 0, sizeof(*out));
        return dir_problem_set(p, 401, "unauthorized",
                               "Sotto-Signature must be 64 bytes in standard base64 with "
                               "padding");
    }
    return SOTTO_OK;
}

/* Appends s[0..len) to out[0..cap) at *at; false when it does not fit. */
static bool put(uint8_t *out, size_t cap, size_t *at, const void *s, size_t len)
{
    if (cap - *at < len)
        return false;
    memcpy(out + *at, s, len);
    *at += len;
    return true;
}

static bool put_line(uint8_t *out, size_t cap, size_t *at, const char *s)
{
    return strchr(s, '\n') == NULL && put(out, cap, at, s, strlen(s)) && put(out, cap, at, "\n", 1);
}

enum sotto_err dir_auth_message(const char *host, const char *method, const char *target,
                                const uint8_t *body, size_t body_len, const struct dir_auth *a,
                                uint8_t *out, size_t cap, size_t *len, struct dir_problem *p)
{
    uint8_t digest[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    size_t at = 0;

    *len = 0;
    if (host == NULL || method == NULL || target == NULL)
        return dir_problem_set(p, 401, "unauthorized",
                               "a signed request needs its Host header: send it");
    crypto_hash_sha256(digest, body_len > 0 ? body : (const uint8_t *)"", body_len);
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    if (!put_line(out, cap, &at, host) || !put_line(out, cap, &at, method) ||
        !put_line(out, cap, &at, target) || !put_line(out, cap, &at, hex) ||
        !put(out, cap, &at, a->timestamp, strlen(a->timestamp)))
        return dir_problem_set(p, 401, "unauthorized",
                               "the Host header or the path is too long or malformed");
    *len = at;
    return SOTTO_OK;
}

enum sotto_err dir_auth_verify(const struct dir_auth *a, const uint8_t key[static E2E_KEY_LEN],
                               const uint8_t *msg, size_t len, uint64_t now_ms,
                               uint8_t digest[static 32], struct dir_problem *p)
{
    uint64_t skew = a->timestamp_ms > now_ms ? a->timestamp_ms - now_ms : now_ms - a->timestamp_ms;

    memset(digest, 0, 32);
    if (skew > DIR_AUTH_WINDOW_MS)
        return dir_problem_set(p, 401, "stale_timestamp",
                               "Sotto-Timestamp is more than 5 minutes from the server's clock: "
                               "set your clock and sign again");
    if (e2e_verify(key, DIR_AUTH_LABEL, msg, len, a->sig) != SOTTO_OK)
        return dir_problem_set(p, 401, "bad_signature",
                               "Sotto-Signature does not verify under the account's identity "
                               "key: sign with your identity key over exactly what was sent");
    crypto_hash_sha256(digest, msg, len);
    return SOTTO_OK;
}
