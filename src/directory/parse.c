/* src/directory/parse.c: request bodies of the directory API, checked member by member. Every
 * object must have exactly the members the protocol defines, each of its type; a typo is an
 * error, never silently ignored. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <signal/curve.h>
#include <signal/signal_protocol.h>
#include <sodium.h>

#include "directory/parse.h"
#include "identity/number.h"
#include "util/text.h"

struct member {
    const char *name;
    json_type type;
    bool required;
};

struct object_spec {
    const char *what;    /* "the body", "signed_prekey", … for messages */
    const char *allowed; /* the member names, for messages */
    const struct member *m;
    size_t n;
};

static const struct member register_members[] = {
        {"username", JSON_STRING, true},         {"identity_key", JSON_STRING, true},
        {"registration_id", JSON_INTEGER, true}, {"signed_prekey", JSON_OBJECT, true},
        {"prekeys", JSON_ARRAY, false},          {"addresses", JSON_ARRAY, false},
};
static const struct object_spec register_spec = {
        "the body", "username, identity_key, registration_id, signed_prekey, prekeys, addresses",
        register_members, sizeof(register_members) / sizeof(register_members[0])};

static const struct member addresses_members[] = {{"addresses", JSON_ARRAY, true}};
static const struct object_spec addresses_spec = {"the body", "addresses", addresses_members, 1};

static const struct member prekeys_members[] = {{"signed_prekey", JSON_OBJECT, false},
                                                {"prekeys", JSON_ARRAY, true}};
static const struct object_spec prekeys_spec = {"the body", "signed_prekey, prekeys",
                                                prekeys_members, 2};

static const struct member spk_members[] = {
        {"id", JSON_INTEGER, true}, {"key", JSON_STRING, true}, {"signature", JSON_STRING, true}};
static const struct object_spec spk_spec = {"signed_prekey", "id, key, signature", spk_members, 3};

static const struct member prekey_members[] = {{"id", JSON_INTEGER, true},
                                               {"key", JSON_STRING, true}};
static const struct object_spec prekey_spec = {"a prekey", "id, key", prekey_members, 2};

enum sotto_err dir_problem_set(struct dir_problem *p, int status, const char *error,
                               const char *fmt, ...)
{
    va_list ap;

    p->status = status;
    p->error = error;
    p->allow = NULL;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
    return SOTTO_EPROTO;
}

static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    default:
        return "something else";
    }
}

static const struct member *member_find(const struct object_spec *s, const char *key, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->m[i].name) == len && memcmp(s->m[i].name, key, len) == 0)
            return &s->m[i];
    return NULL;
}

/* Exactly the members of `s`, each of its type, the required ones present. */
static enum sotto_err members_check(json_t *obj, const struct object_spec *s, struct dir_problem *p)
{
    const char *key;
    size_t key_len;
    json_t *v;

    json_object_keylen_foreach(obj, key, key_len, v)
    {
        const struct member *m = member_find(s, key, key_len);
        if (m == NULL)
            return dir_problem_set(p, 400, "bad_request",
                                   "%s has a member the protocol does not define: send only %s",
                                   s->what, s->allowed);
        if (json_typeof(v) != m->type)
            return dir_problem_set(p, 400, "bad_request", "\"%s\" in %s must be %s", m->name,
                                   s->what, type_name(m->type));
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->m[i].required && json_object_get(obj, s->m[i].name) == NULL)
            return dir_problem_set(p, 400, "bad_request", "%s lacks \"%s\": send %s", s->what,
                                   s->m[i].name, s->allowed);
    return SOTTO_OK;
}

static enum sotto_err load_object(const uint8_t *body, size_t len, json_t **out,
                                  struct dir_problem *p)
{
    json_error_t e;

    *out = NULL;
    if (len > DIR_BODY_MAX)
        return dir_problem_set(p, 413, "too_large", "the body is over 64 KiB: send less");
    if (len == 0)
        return dir_problem_set(p, 400, "bad_json", "the body is empty: send a JSON object");
    *out = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e);
    if (*out == NULL && json_error_code(&e) == json_error_out_of_memory) {
        dir_problem_set(p, 503, "unavailable", "the server is short of memory: try again later");
        return SOTTO_ENOMEM;
    }
    if (*out == NULL)
        return dir_problem_set(p, 400, "bad_json",
                               "the body is not valid JSON (line %d, column %d): send one JSON "
                               "object in UTF-8, each member once",
                               e.line, e.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return dir_problem_set(p, 400, "bad_json", "the body must be a JSON object");
    }
    return SOTTO_OK;
}

/* libsodium 1.0.18's decoder reads bytes 0x80..0xff as '/' where char is signed. */
static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

enum sotto_err dir_b64_decode(const char *s, size_t len, uint8_t *out, size_t want)
{
    size_t bin_len = 0;
    const char *end = NULL;

    memset(out, 0, want);
    if (len != sodium_base64_ENCODED_LEN(want, sodium_base64_VARIANT_ORIGINAL) - 1)
        return SOTTO_EPROTO;
    for (size_t i = 0; i < len; i++)
        if (!b64_char(s[i]))
            return SOTTO_EPROTO;
    if (sodium_base642bin(out, want, s, len, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + len || bin_len != want) {
        memset(out, 0, want);
        return SOTTO_EPROTO;
    }
    return SOTTO_OK;
}

/* A string member without NUL bytes (jansson refuses \u0000 already; checked again here
 * because every check below reads C strings). */
static bool text_of(const json_t *v, const char **s, size_t *len)
{
    *s = json_string_value(v);
    *len = json_string_length(v);
    return *s != NULL && strlen(*s) == *len;
}

static enum sotto_err key_of(const json_t *v, const char *what, uint8_t out[static E2E_KEY_LEN],
                             struct dir_problem *p)
{
    const char *s;
    size_t len;

    if (!text_of(v, &s, &len) || dir_b64_decode(s, len, out, E2E_KEY_LEN) != SOTTO_OK)
        return dir_problem_set(p, 400, "bad_key",
                               "%s must be 33 bytes in standard base64 with padding", what);
    if (e2e_pubkey_check(out) != SOTTO_OK)
        return dir_problem_set(p, 400, "bad_key",
                               "%s is not a valid Curve25519 public key (type 5): send the key "
                               "your Signal library made",
                               what);
    return SOTTO_OK;
}

static enum sotto_err int_of(const json_t *v, const char *what, json_int_t max, uint32_t *out,
                             struct dir_problem *p)
{
    json_int_t n = json_integer_value(v);

    if (n < 1 || n > max)
        return dir_problem_set(p, 400, "bad_request", "%s must be an integer from 1 to %lld", what,
                               (long long)max);
    *out = (uint32_t)n;
    return SOTTO_OK;
}

static enum sotto_err parse_spk(json_t *v, struct dir_signed_prekey *out, struct dir_problem *p)
{
    const char *s;
    size_t len;
    enum sotto_err rc;

    rc = members_check(v, &spk_spec, p);
    if (rc != SOTTO_OK)
        return rc;
    rc = int_of(json_object_get(v, "id"), "signed_prekey.id", DIR_PREKEY_ID_MAX, &out->id, p);
    if (rc != SOTTO_OK)
        return rc;
    rc = key_of(json_object_get(v, "key"), "signed_prekey.key", out->key, p);
    if (rc != SOTTO_OK)
        return rc;
    if (!text_of(json_object_get(v, "signature"), &s, &len) ||
        dir_b64_decode(s, len, out->sig, E2E_SIG_LEN) != SOTTO_OK)
        return dir_problem_set(p, 400, "bad_signature",
                               "signed_prekey.signature must be 64 bytes in standard base64 "
                               "with padding");
    return SOTTO_OK;
}

static bool prekey_id_seen(const struct dir_prekey *pk, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (pk[i].id == id)
            return true;
    return false;
}

static enum sotto_err parse_prekeys(const json_t *arr, struct dir_prekey *out, size_t *n,
                                    struct dir_problem *p)
{
    size_t i;
    json_t *v;
    enum sotto_err rc;

    *n = 0;
    if (json_array_size(arr) > DIR_PREKEYS_PER_REQUEST)
        return dir_problem_set(p, 400, "bad_request",
                               "at most %d one-time prekeys per request: send the rest with "
                               "PUT /v1/accounts/{number}/prekeys",
                               DIR_PREKEYS_PER_REQUEST);
    json_array_foreach(arr, i, v)
    {
        if (!json_is_object(v))
            return dir_problem_set(p, 400, "bad_request", "each prekey must be an object");
        rc = members_check(v, &prekey_spec, p);
        if (rc == SOTTO_OK)
            rc = int_of(json_object_get(v, "id"), "a prekey's id", DIR_PREKEY_ID_MAX, &out[i].id,
                        p);
        if (rc == SOTTO_OK)
            rc = key_of(json_object_get(v, "key"), "a prekey's key", out[i].key, p);
        if (rc != SOTTO_OK)
            return rc;
        if (prekey_id_seen(out, i, out[i].id))
            return dir_problem_set(p, 400, "bad_request",
                                   "prekey id %u appears twice: give each prekey its own id",
                                   (unsigned)out[i].id);
        *n = i + 1;
    }
    return SOTTO_OK;
}

static enum sotto_err parse_addresses(const json_t *arr, char addrs[][CARD_ADDR_MAX + 1], size_t *n,
                                      struct dir_problem *p)
{
    size_t i, len;
    const char *s;
    json_t *v;

    *n = 0;
    if (json_array_size(arr) > CARD_ADDRS_MAX)
        return dir_problem_set(p, 400, "bad_request",
                               "at most %d addresses: send the ones most likely to work",
                               CARD_ADDRS_MAX);
    json_array_foreach(arr, i, v)
    {
        if (!text_of(v, &s, &len) || len > CARD_ADDR_MAX ||
            identity_card_check_address(s) != SOTTO_OK)
            return dir_problem_set(p, 400, "bad_request",
                                   "addresses[%zu] is not \"host:port\" (a DNS name, an IPv4 "
                                   "address or a bracketed IPv6 address, port 1-65535)",
                                   i);
        memcpy(addrs[i], s, len + 1);
        *n = i + 1;
    }
    return SOTTO_OK;
}

static enum sotto_err parse_username(const json_t *v, char out[static TEXT_USERNAME_MAX + 1],
                                     struct dir_problem *p)
{
    const char *s;
    size_t len;

    if (!text_of(v, &s, &len) || len < TEXT_USERNAME_MIN || len > TEXT_USERNAME_MAX)
        return dir_problem_set(p, 400, "bad_username",
                               "a username has 3 to 32 characters: choose another");
    memcpy(out, s, len + 1);
    text_lower_ascii(out);
    if (text_check_username((const uint8_t *)out, len) != SOTTO_OK)
        return dir_problem_set(p, 400, "bad_username",
                               "a username has 3 to 32 characters of a-z 0-9 _ . - and starts "
                               "with a letter: choose another");
    return SOTTO_OK;
}

enum sotto_err dir_signed_prekey_check(const uint8_t identity_key[static E2E_KEY_LEN],
                                       const struct dir_signed_prekey *spk)
{
    ec_public_key *key = NULL;
    int ok;

    if (e2e_pubkey_check(identity_key) != SOTTO_OK)
        return SOTTO_EBADKEY;
    /* no context: the key was checked above, so the library has nothing to log */
    if (curve_decode_point(&key, identity_key, E2E_KEY_LEN, NULL) < 0)
        return SOTTO_EBADKEY;
    ok = curve_verify_signature(key, spk->key, E2E_KEY_LEN, spk->sig, E2E_SIG_LEN);
    SIGNAL_UNREF(key);
    /* 1 is valid; 0 invalid; negative an error, which must never pass for valid */
    return ok == 1 ? SOTTO_OK : SOTTO_EBADSIG;
}

static enum sotto_err register_fields(json_t *o, struct dir_register_req *out,
                                      struct dir_problem *p)
{
    struct dir_account *a = &out->account;
    json_t *v;
    enum sotto_err rc;

    rc = members_check(o, &register_spec, p);
    if (rc == SOTTO_OK)
        rc = parse_username(json_object_get(o, "username"), a->username, p);
    if (rc == SOTTO_OK)
        rc = key_of(json_object_get(o, "identity_key"), "identity_key", a->identity_key, p);
    if (rc == SOTTO_OK)
        rc = int_of(json_object_get(o, "registration_id"), "registration_id",
                    DIR_REGISTRATION_ID_MAX, &a->registration_id, p);
    if (rc == SOTTO_OK)
        rc = parse_spk(json_object_get(o, "signed_prekey"), &a->signed_prekey, p);
    if (rc == SOTTO_OK && (v = json_object_get(o, "prekeys")) != NULL)
        rc = parse_prekeys(v, out->prekeys, &out->n_prekeys, p);
    if (rc == SOTTO_OK && (v = json_object_get(o, "addresses")) != NULL)
        rc = parse_addresses(v, a->addrs, &a->n_addrs, p);
    return rc;
}

enum sotto_err dir_parse_register(const uint8_t *body, size_t len, struct dir_register_req *out,
                                  struct dir_problem *p)
{
    json_t *o = NULL;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = load_object(body, len, &o, p);
    if (rc == SOTTO_OK)
        rc = register_fields(o, out, p);
    if (rc == SOTTO_OK &&
        dir_signed_prekey_check(out->account.identity_key, &out->account.signed_prekey) != SOTTO_OK)
        rc = dir_problem_set(p, 400, "bad_signature",
                             "signed_prekey.signature does not verify under identity_key: sign "
                             "the signed prekey with this identity key");
    if (rc == SOTTO_OK)
        out->account.number = identity_number(out->account.identity_key);
    json_decref(o);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err dir_parse_addresses(const uint8_t *body, size_t len, struct dir_addresses_req *out,
                                   struct dir_problem *p)
{
    json_t *o = NULL;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = load_object(body, len, &o, p);
    if (rc == SOTTO_OK)
        rc = members_check(o, &addresses_spec, p);
    if (rc == SOTTO_OK)
        rc = parse_addresses(json_object_get(o, "addresses"), out->addrs, &out->n_addrs, p);
    json_decref(o);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err dir_parse_prekeys(const uint8_t *body, size_t len, struct dir_prekeys_req *out,
                                 struct dir_problem *p)
{
    json_t *o = NULL, *v;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = load_object(body, len, &o, p);
    if (rc == SOTTO_OK)
        rc = members_check(o, &prekeys_spec, p);
    if (rc == SOTTO_OK && (v = json_object_get(o, "signed_prekey")) != NULL) {
        out->has_signed_prekey = true;
        rc = parse_spk(v, &out->signed_prekey, p);
    }
    if (rc == SOTTO_OK)
        rc = parse_prekeys(json_object_get(o, "prekeys"), out->prekeys, &out->n_prekeys, p);
    json_decref(o);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
