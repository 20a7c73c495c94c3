/* src/net/parse.c: the directory's answers, read as untrusted input: a size cap before parsing,
 * jansson with duplicate members refused, every member's type and value checked, keys checked
 * with e2e_pubkey_check and numbers with identity_number_check. */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "net/net_int.h"

#define B64_VARIANT      sodium_base64_VARIANT_ORIGINAL
#define PREKEY_ID_MAX    16777215 /* PROTOCOL.md: ids are 1..16777215 */
#define PREKEYS_LEFT_MAX 1000000  /* far above the server's 1000 per account */

static enum sotto_err load(const uint8_t *body, size_t len, json_t **out)
{
    json_error_t err;

    *out = NULL;
    if (len > NET_BODY_MAX)
        return SOTTO_ETOOBIG;
    if (body == NULL || len == 0)
        return SOTTO_EPROTO;
    *out = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
    if (*out == NULL)
        return json_error_code(&err) == json_error_out_of_memory ? SOTTO_ENOMEM : SOTTO_EPROTO;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return SOTTO_EPROTO;
    }
    return SOTTO_OK;
}

/* ---- base64 ---- */

/* libsodium 1.0.18 reads bytes 0x80..0xff as '/' where char is signed: check the alphabet
 * first, so that nothing but canonical base64 is ever decoded. */
static bool b64_alphabet(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

enum sotto_err net_b64_exact(const char *s, uint8_t *out, size_t len)
{
    const char *end = NULL;
    size_t n, bin = 0;

    if (s == NULL)
        return SOTTO_EPROTO;
    n = strlen(s);
    if (n != (len + 2) / 3 * 4 || !b64_alphabet(s, n))
        return SOTTO_EPROTO;
    if (sodium_base642bin(out, len, s, n, NULL, &bin, &end, B64_VARIANT) != 0 || end != s + n ||
        bin != len) {
        sodium_memzero(out, len);
        return SOTTO_EPROTO;
    }
    return SOTTO_OK;
}

enum sotto_err net_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (cap < sodium_base64_ENCODED_LEN(len, B64_VARIANT))
        return SOTTO_ETOOBIG;
    sodium_bin2base64(out, cap, in, len, B64_VARIANT);
    return SOTTO_OK;
}

/* ---- members ---- */

/* A string member without NUL bytes, at most `max` bytes; NULL when absent or otherwise. */
static const char *str_member(const json_t *o, const char *name, size_t max)
{
    const json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);

    if (s == NULL || json_string_length(v) > max || strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

static enum sotto_err uint_member(const json_t *o, const char *name, uint64_t min, uint64_t max,
                                  uint64_t *out)
{
    const json_t *v = json_object_get(o, name);
    json_int_t i;

    *out = 0;
    if (!json_is_integer(v))
        return SOTTO_EPROTO;
    i = json_integer_value(v);
    if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
        return SOTTO_EPROTO;
    *out = (uint64_t)i;
    return SOTTO_OK;
}

static enum sotto_err u32_member(const json_t *o, const char *name, uint32_t min, uint32_t max,
                                 uint32_t *out)
{
    uint64_t v = 0;
    enum sotto_err rc = uint_member(o, name, min, max, &v);

    *out = (uint32_t)v;
    return rc;
}

static enum sotto_err b64_member(const json_t *o, const char *name, uint8_t *out, size_t len)
{
    return net_b64_exact(str_member(o, name, 2 * len + 4), out, len);
}

static enum sotto_err key_member(const json_t *o, const char *name, uint8_t key[static E2E_KEY_LEN])
{
    enum sotto_err rc = b64_member(o, name, key, E2E_KEY_LEN);

    if (rc == SOTTO_OK && e2e_pubkey_check(key) != SOTTO_OK)
        rc = SOTTO_EPROTO;
    return rc;
}

/* Exactly 15 digits: the wire form has no spaces. */
static enum sotto_err number_member(const json_t *o, const char *name, uint64_t *out)
{
    const char *s = str_member(o, name, NUMBER_DIGITS_LEN - 1);

    *out = 0;
    if (s == NULL || strlen(s) != NUMBER_DIGITS_LEN - 1 || strspn(s, "0123456789") != strlen(s))
        return SOTTO_EPROTO;
    return identity_number_parse(s, out) == SOTTO_OK ? SOTTO_OK : SOTTO_EPROTO;
}

/* As stored by the directory: already lowercase, so taken as it is or refused. */
static enum sotto_err username_member(const json_t *o, const char *name,
                                      char out[static TEXT_USERNAME_MAX + 1])
{
    const char *s = str_member(o, name, TEXT_USERNAME_MAX);

    out[0] = '\0';
    if (s == NULL || text_check_username((const uint8_t *)s, strlen(s)) != SOTTO_OK)
        return SOTTO_EPROTO;
    memcpy(out, s, strlen(s) + 1);
    return SOTTO_OK;
}

static enum sotto_err signed_prekey_member(const json_t *o, const char *name,
                                           struct net_signed_prekey *out)
{
    const json_t *v = json_object_get(o, name);
    enum sotto_err rc;

    if (!json_is_object(v))
        return SOTTO_EPROTO;
    rc = u32_member(v, "id", 1, PREKEY_ID_MAX, &out->id);
    if (rc == SOTTO_OK)
        rc = key_member(v, "key", out->key);
    if (rc == SOTTO_OK)
        rc = b64_member(v, "signature", out->sig, E2E_SIG_LEN);
    return rc;
}

static enum sotto_err prekey_object(const json_t *v, struct net_prekey *out)
{
    enum sotto_err rc;

    if (!json_is_object(v))
        return SOTTO_EPROTO;
    rc = u32_member(v, "id", 1, PREKEY_ID_MAX, &out->id);
    if (rc == SOTTO_OK)
        rc = key_member(v, "key", out->key);
    return rc;
}

static enum sotto_err addrs_member(const json_t *o, const char *name,
                                   char out[static CARD_ADDRS_MAX][CARD_ADDR_MAX + 1], size_t *n)
{
    const json_t *arr = json_object_get(o, name), *v;
    size_t i;

    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) > CARD_ADDRS_MAX)
        return SOTTO_EPROTO;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || json_string_length(v) > CARD_ADDR_MAX ||
            strlen(s) != json_string_length(v) || identity_card_check_address(s) != SOTTO_OK)
            return SOTTO_EPROTO;
        memcpy(out[i], s, strlen(s) + 1);
        *n = i + 1;
    }
    return SOTTO_OK;
}

/* "ip:port" as the server saw us: printable ASCII only, since it is shown. */
static enum sotto_err seen_from_member(const json_t *o, char out[static NET_SEEN_FROM_MAX + 1])
{
    const char *s = str_member(o, "seen_from", NET_SEEN_FROM_MAX);

    out[0] = '\0';
    if (s == NULL)
        return SOTTO_EPROTO;
    for (const char *c = s; *c != '\0'; c++)
        if (*c <= ' ' || *c > '~')
            return SOTTO_EPROTO;
    memcpy(out, s, strlen(s) + 1);
    return SOTTO_OK;
}

/* ---- objects ---- */

static enum sotto_err account_fields(const json_t *o, struct net_account *out)
{
    enum sotto_err rc = username_member(o, "username", out->username);

    if (rc == SOTTO_OK)
        rc = number_member(o, "number", &out->number);
    if (rc == SOTTO_OK)
        rc = key_member(o, "identity_key", out->key);
    if (rc == SOTTO_OK)
        rc = u32_member(o, "registration_id", 1, NET_REGISTRATION_ID, &out->registration_id);
    if (rc == SOTTO_OK)
        rc = signed_prekey_member(o, "signed_prekey", &out->signed_prekey);
    if (rc == SOTTO_OK)
        rc = addrs_member(o, "addresses", out->addrs, &out->n_addrs);
    if (rc == SOTTO_OK)
        rc = uint_member(o, "updated_ms", 0, INT64_MAX, &out->updated_ms);
    /* a directory that hands out a key under a number not derived from it is lying */
    if (rc == SOTTO_OK)
        rc = identity_number_check(out->key, out->number);
    return rc;
}

enum sotto_err net_parse_account(const uint8_t *body, size_t len, struct net_account *out)
{
    json_t *o;
    enum sotto_err rc = load(body, len, &o);

    memset(out, 0, sizeof(*out));
    if (rc != SOTTO_OK)
        return rc;
    rc = account_fields(o, out);
    json_decref(o);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

static enum sotto_err bundle_fields(const json_t *o, struct net_bundle *out)
{
    const json_t *pk = json_object_get(o, "prekey");
    uint64_t left = 0;
    enum sotto_err rc = number_member(o, "number", &out->number);

    if (rc == SOTTO_OK)
        rc = key_member(o, "identity_key", out->key);
    if (rc == SOTTO_OK)
        rc = u32_member(o, "registration_id", 1, NET_REGISTRATION_ID, &out->registration_id);
    if (rc == SOTTO_OK)
        rc = u32_member(o, "device_id", 1, 1, &out->device_id);
    if (rc == SOTTO_OK)
        rc = signed_prekey_member(o, "signed_prekey", &out->signed_prekey);
    if (rc == SOTTO_OK && pk == NULL)
        rc = SOTTO_EPROTO; /* present, as an object or null */
    if (rc == SOTTO_OK && !json_is_null(pk)) {
        out->has_prekey = true;
        rc = prekey_object(pk, &out->prekey);
    }
    if (rc == SOTTO_OK)
        rc = uint_member(o, "prekeys_left", 0, PREKEYS_LEFT_MAX, &left);
    out->prekeys_left = (unsigned)left;
    if (rc == SOTTO_OK)
        rc = identity_number_check(out->key, out->number);
    return rc;
}

enum sotto_err net_parse_bundle(const uint8_t *body, size_t len, struct net_bundle *out)
{
    json_t *o;
    enum sotto_err rc = load(body, len, &o);

    memset(out, 0, sizeof(*out));
    if (rc != SOTTO_OK)
        return rc;
    rc = bundle_fields(o, out);
    json_decref(o);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err net_parse_registered(const uint8_t *body, size_t len, struct net_registered *out)
{
    json_t *o;
    enum sotto_err rc = load(body, len, &o);

    memset(out, 0, sizeof(*out));
    if (rc != SOTTO_OK)
        return rc;
    rc = username_member(o, "username", out->username);
    if (rc == SOTTO_OK)
        rc = number_member(o, "number", &out->number);
    if (rc == SOTTO_OK)
        rc = seen_from_member(o, out->seen_from);
    json_decref(o);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err net_parse_prekeys_left(const uint8_t *body, size_t len, unsigned *left)
{
    uint64_t v = 0;
    json_t *o;
    enum sotto_err rc = load(body, len, &o);

    *left = 0;
    if (rc != SOTTO_OK)
        return rc;
    rc = uint_member(o, "prekeys_left", 0, PREKEYS_LEFT_MAX, &v);
    json_decref(o);
    *left = rc == SOTTO_OK ? (unsigned)v : 0;
    return rc;
}

/* Copies what fits of member `name` (a string) into out[0..cap). */
static void copy_text(const json_t *o, const char *name, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, name));
    size_t n;

    out[0] = '\0';
    if (s == NULL)
        return;
    n = strnlen(s, cap - 1);
    memcpy(out, s, n);
    out[n] = '\0';
}

void net_parse_problem(const uint8_t *body, size_t len, struct net_dir_problem *p)
{
    json_t *o;

    p->code[0] = '\0';
    p->message[0] = '\0';
    if (load(body, len, &o) != SOTTO_OK)
        return;
    copy_text(o, "error", p->code, sizeof(p->code));
    copy_text(o, "message", p->message, sizeof(p->message));
    json_decref(o);
}

enum sotto_err net_parse_seen_from(const uint8_t *body, size_t len,
                                   char out[static NET_SEEN_FROM_MAX + 1])
{
    json_t *o;
    enum sotto_err rc = load(body, len, &o);

    out[0] = '\0';
    if (rc != SOTTO_OK)
        return rc;
    rc = seen_from_member(o, out);
    json_decref(o);
    return rc;
}
