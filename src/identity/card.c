/* src/identity/card.c: identity cards. The body (all integers big-endian):
 *   u8 version | u64 number | u8 len + name | u8 len + username (0 or 3..32) |
 *   33-byte identity key | u8 n_addrs + n_addrs * (u8 len + "host:port") | u64 created_s |
 *   64-byte signature by the identity key, label "sotto-card-v1", over everything before it,
 * armoured as base64 (libsodium, original alphabet, padded) in lines of 64 between the BEGIN
 * and END lines. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "identity/card.h"
#include "identity/number.h"
#include "sotto/env.h"
#include "util/bytes.h"

#define CARD_VARIANT sodium_base64_VARIANT_ORIGINAL
/* base64 characters of the longest body, without the terminating zero byte */
#define CARD_B64_MAX (sodium_base64_ENCODED_LEN(CARD_BODY_MAX, CARD_VARIANT) - 1)
/* what CARD_B64_MAX characters can decode to: a little over CARD_BODY_MAX, so that a body
 * over the cap is told apart from bad base64 */
#define CARD_DECODED_MAX (CARD_B64_MAX / 4 * 3)
#define CARD_LINE_LEN    64
#define CARD_HOST_MAX    253 /* DNS name, RFC 1035 */
#define CARD_LABEL_MAX   63  /* one DNS label */
#define CARD_V6_MAX      45  /* INET6_ADDRSTRLEN without its NUL */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_ldh(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* libsodium 1.0.18's decoder reads every byte 0x80..0xff as '/' where char is signed, so the
 * alphabet is checked here before it sees anything. */
static bool is_b64(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
           c == '/' || c == '=';
}

/* Whitespace a copy and paste may add; the C locale's isspace() set, whatever the locale. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Decimal 0..max: digits only, no sign, no leading zero. */
static bool decimal_ok(const char *s, size_t len, unsigned long max)
{
    unsigned long v = 0;

    if (len == 0 || len > 5 || (s[0] == '0' && len > 1))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v <= max;
}

static enum sotto_err check_port(const char *s, size_t len)
{
    if (!decimal_ok(s, len, 65535) || s[0] == '0')
        return SOTTO_EPROTO;
    return SOTTO_OK;
}

/* Dotted quad, each part 0..255 without leading zeros. */
static enum sotto_err check_ipv4(const char *s, size_t len)
{
    size_t start = 0, parts = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (parts == 4 || !decimal_ok(s + start, i - start, 255))
            return SOTTO_EPROTO;
        parts++;
        start = i + 1;
    }
    return parts == 4 ? SOTTO_OK : SOTTO_EPROTO;
}

/* The text between the brackets; inet_pton() has the last word on its shape. */
static enum sotto_err check_ipv6(const char *s, size_t len)
{
    char buf[CARD_V6_MAX + 1];
    struct in6_addr a;

    if (len < 2 || len > CARD_V6_MAX)
        return SOTTO_EPROTO;
    for (size_t i = 0; i < len; i++)
        if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
            return SOTTO_EPROTO;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1 ? SOTTO_OK : SOTTO_EPROTO;
}

/* Labels of letters, digits and '-' (not first or last), 1..63 each, dots between. The last
 * label may not be all digits, so that a name can never be read as a malformed address. */
static enum sotto_err check_dns(const char *s, size_t len)
{
    size_t start = 0;
    bool numeric = true;

    if (len == 0 || len > CARD_HOST_MAX)
        return SOTTO_EPROTO;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (!is_ldh(s[i]))
                return SOTTO_EPROTO;
            numeric = numeric && is_digit(s[i]);
            continue;
        }
        if (i == start || i - start > CARD_LABEL_MAX || s[start] == '-' || s[i - 1] == '-')
            return SOTTO_EPROTO;
        if (i == len && numeric)
            return SOTTO_EPROTO;
        numeric = true;
        start = i + 1;
    }
    return SOTTO_OK;
}

static bool all_digits_and_dots(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]) && s[i] != '.')
            return false;
    return true;
}

/* `s` is counted, not NUL-terminated: a NUL inside fails every character class. */
static enum sotto_err check_address_n(const char *s, size_t len)
{
    const char *colon;

    if (len == 0 || len > CARD_ADDR_MAX)
        return SOTTO_EPROTO;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || (size_t)(close - s) + 1 >= len || close[1] != ':')
            return SOTTO_EPROTO;
        if (check_ipv6(s + 1, (size_t)(close - s) - 1) != SOTTO_OK)
            return SOTTO_EPROTO;
        colon = close + 1;
    } else {
        colon = memchr(s, ':', len);
        if (colon == NULL)
            return SOTTO_EPROTO;
        if (all_digits_and_dots(s, (size_t)(colon - s))) {
            if (check_ipv4(s, (size_t)(colon - s)) != SOTTO_OK)
                return SOTTO_EPROTO;
        } else if (check_dns(s, (size_t)(colon - s)) != SOTTO_OK) {
            return SOTTO_EPROTO;
        }
    }
    return check_port(colon + 1, len - (size_t)(colon + 1 - s));
}

enum sotto_err identity_card_check_address(const char *addr)
{
    if (addr == NULL)
        return SOTTO_EINVAL;
    return check_address_n(addr, strnlen(addr, CARD_ADDR_MAX + 1));
}

/* A name field of the body; the checks see the raw bytes, so a NUL inside is refused. */
static enum sotto_err check_name(const uint8_t *s, size_t len)
{
    return text_check_name(s, len) == SOTTO_OK ? SOTTO_OK : SOTTO_EPROTO;
}

static enum sotto_err check_username(const uint8_t *s, size_t len)
{
    if (len == 0)
        return SOTTO_OK;
    return text_check_username(s, len);
}

/* What export refuses from its caller: every rule that import applies to a card. */
static enum sotto_err card_check(const struct identity_card *card)
{
    size_t name_len = strnlen(card->name, sizeof(card->name));
    size_t user_len = strnlen(card->username, sizeof(card->username));

    if (card->version != CARD_VERSION || name_len == sizeof(card->name) ||
        user_len == sizeof(card->username) || card->n_addrs > CARD_ADDRS_MAX)
        return SOTTO_EINVAL;
    if (check_name((const uint8_t *)card->name, name_len) != SOTTO_OK ||
        check_username((const uint8_t *)card->username, user_len) != SOTTO_OK)
        return SOTTO_EINVAL;
    if (e2e_pubkey_check(card->key) != SOTTO_OK ||
        identity_number_check(card->key, card->number) != SOTTO_OK)
        return SOTTO_EINVAL;
    for (size_t i = 0; i < card->n_addrs; i++)
        if (identity_card_check_address(card->addrs[i]) != SOTTO_OK)
            return SOTTO_EINVAL;
    return SOTTO_OK;
}

/* The signed part of the body; the caller has checked every field. */
static enum sotto_err card_encode(struct writer *w, const struct identity_card *card)
{
    writer_u8(w, card->version);
    writer_u64(w, card->number);
    writer_bytes8(w, card->name, strlen(card->name));
    writer_bytes8(w, card->username, strlen(card->username));
    writer_put(w, card->key, E2E_KEY_LEN);
    writer_u8(w, (uint8_t)card->n_addrs);
    for (size_t i = 0; i < card->n_addrs; i++)
        writer_bytes8(w, card->addrs[i], strlen(card->addrs[i]));
    return writer_u64(w, card->created_s);
}

static enum sotto_err check_key_pair(struct e2e_ctx *ctx, const struct identity_card *card,
                                     const uint8_t priv[static E2E_PRIV_LEN])
{
    uint8_t pub[E2E_KEY_LEN];
    enum sotto_err rc = e2e_public_from_private(ctx, priv, pub);

    if (rc == SOTTO_OK && sodium_memcmp(pub, card->key, E2E_KEY_LEN) != 0)
        rc = SOTTO_EINVAL;
    return rc;
}

/* Body and signature, owned by the caller on success. */
static enum sotto_err card_sign(struct e2e_ctx *ctx, const struct sotto_env *env,
                                const struct identity_card *card,
                                const uint8_t priv[static E2E_PRIV_LEN], uint8_t **body,
                                size_t *len)
{
    struct writer w;
    uint8_t sig[E2E_SIG_LEN];
    enum sotto_err rc;

    writer_init(&w, env, CARD_BODY_MAX);
    rc = card_encode(&w, card);
    if (rc != SOTTO_OK)
        goto out;
    rc = e2e_sign(ctx, priv, CARD_LABEL, w.p, w.len, sig);
    if (rc != SOTTO_OK)
        goto out;
    rc = writer_put(&w, sig, sizeof(sig));
    if (rc != SOTTO_OK)
        goto out;
    rc = writer_take(&w, body, len);
out:
    writer_clear(&w);
    return rc;
}

/* BEGIN line, base64 in lines of CARD_LINE_LEN, END line, each ending in "\n". */
static enum sotto_err card_armour(const struct sotto_env *env, const uint8_t *body, size_t len,
                                  char **out, size_t *out_len)
{
    size_t b64_len = sodium_base64_encoded_len(len, CARD_VARIANT) - 1;
    size_t lines = (b64_len + CARD_LINE_LEN - 1) / CARD_LINE_LEN;
    size_t total = strlen(CARD_BEGIN) + 1 + b64_len + lines + strlen(CARD_END) + 1;
    char *b64 = sotto_alloc(env, b64_len + 1);
    char *text = b64 == NULL ? NULL : sotto_alloc(env, total + 1);
    size_t o = 0;

    if (text == NULL) {
        sotto_free(env, b64);
        return SOTTO_ENOMEM;
    }
    sodium_bin2base64(b64, b64_len + 1, body, len, CARD_VARIANT);
    memcpy(text, CARD_BEGIN "\n", strlen(CARD_BEGIN) + 1);
    o = strlen(CARD_BEGIN) + 1;
    for (size_t i = 0; i < b64_len; i += CARD_LINE_LEN) {
        size_t n = b64_len - i < CARD_LINE_LEN ? b64_len - i : CARD_LINE_LEN;
        memcpy(text + o, b64 + i, n);
        o += n;
        text[o++] = '\n';
    }
    memcpy(text + o, CARD_END "\n", strlen(CARD_END) + 2); /* with the NUL */
    sotto_free(env, b64);
    *out = text;
    *out_len = total;
    return SOTTO_OK;
}

enum sotto_err identity_card_export(struct e2e_ctx *ctx, const struct sotto_env *env,
                                    const struct identity_card *card,
                                    const uint8_t priv[static E2E_PRIV_LEN], char **out,
                                    size_t *len)
{
    uint8_t *body = NULL;
    size_t body_len = 0;
    enum sotto_err rc;

    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (ctx == NULL || env == NULL || card == NULL || priv == NULL || out == NULL || len == NULL)
        return SOTTO_EINVAL;
    rc = card_check(card);
    if (rc != SOTTO_OK)
        return rc;
    rc = check_key_pair(ctx, card, priv);
    if (rc != SOTTO_OK)
        return rc;
    rc = card_sign(ctx, env, card, priv, &body, &body_len);
    if (rc != SOTTO_OK)
        return rc;
    rc = card_armour(env, body, body_len, out, len);
    sotto_free(env, body);
    return rc;
}

/* SOTTO_OK when t[i..) starts with `marker`; SOTTO_ETRUNC when the text ends inside it. */
static enum sotto_err match_marker(const char *t, size_t len, size_t i, const char *marker)
{
    size_t n = strlen(marker);

    if (len - i < n)
        return memcmp(t + i, marker, len - i) == 0 ? SOTTO_ETRUNC : SOTTO_EPROTO;
    return memcmp(t + i, marker, n) == 0 ? SOTTO_OK : SOTTO_EPROTO;
}

static size_t skip_space(const char *t, size_t len, size_t i)
{
    while (i < len && is_space(t[i]))
        i++;
    return i;
}

/* Copies the base64 characters between the markers, whitespace left out, into b64 (room for
 * CARD_B64_MAX). No base64 character is '-', so the first one starts the END line. */
static enum sotto_err armour_collect(const char *t, size_t len, char *b64, size_t *b64_len)
{
    size_t i = skip_space(t, len, 0), n = 0;
    enum sotto_err rc = match_marker(t, len, i, CARD_BEGIN);

    if (rc != SOTTO_OK)
        return rc;
    for (i += strlen(CARD_BEGIN); i < len && t[i] != '-'; i++) {
        if (is_space(t[i]))
            continue;
        if (!is_b64(t[i]))
            return SOTTO_EPROTO;
        if (n == CARD_B64_MAX)
            return SOTTO_ETOOBIG;
        b64[n++] = t[i];
    }
    if (i == len)
        return SOTTO_ETRUNC;
    rc = match_marker(t, len, i, CARD_END);
    if (rc != SOTTO_OK)
        return rc;
    if (skip_space(t, len, i + strlen(CARD_END)) != len)
        return SOTTO_EPROTO;
    *b64_len = n;
    return SOTTO_OK;
}

/* Strict base64: every character consumed, padding present, padding bits zero. */
static enum sotto_err armour_decode(const char *b64, size_t b64_len, uint8_t *body, size_t *len)
{
    const char *end = NULL;
    int ret =
            sodium_base642bin(body, CARD_DECODED_MAX, b64, b64_len, NULL, len, &end, CARD_VARIANT);

    if (ret != 0 || end != b64 + b64_len)
        return SOTTO_EPROTO;
    return *len > CARD_BODY_MAX ? SOTTO_ETOOBIG : SOTTO_OK;
}

/* The base64 text and the body decoded from it are allocated through env, at their caps. */
static enum sotto_err armour_open(const struct sotto_env *env, const char *text, size_t len,
                                  uint8_t **body, size_t *body_len)
{
    char *b64 = sotto_alloc(env, CARD_B64_MAX);
    size_t b64_len = 0;
    enum sotto_err rc = SOTTO_ENOMEM;

    *body = NULL;
    if (b64 == NULL)
        goto out;
    rc = armour_collect(text, len, b64, &b64_len);
    if (rc != SOTTO_OK)
        goto out;
    *body = sotto_alloc(env, CARD_DECODED_MAX);
    rc = *body == NULL ? SOTTO_ENOMEM : armour_decode(b64, b64_len, *body, body_len);
    if (rc != SOTTO_OK) {
        sotto_free(env, *body);
        *body = NULL;
    }
out:
    sotto_free(env, b64);
    return rc;
}

/* A u8-length field of min..max bytes; out of range is a bad field, not an oversized input. */
static enum sotto_err read_field(struct reader *r, size_t min, size_t max, const uint8_t **p,
                                 size_t *len)
{
    enum sotto_err rc = reader_bytes8(r, max, p, len);

    if (rc == SOTTO_ETOOBIG || (rc == SOTTO_OK && *len < min))
        rc = SOTTO_EPROTO;
    return rc;
}

static enum sotto_err parse_names(struct reader *r, struct identity_card *card)
{
    const uint8_t *p;
    size_t len;
    enum sotto_err rc;

    rc = read_field(r, 1, TEXT_NAME_MAX, &p, &len);
    if (rc == SOTTO_OK)
        rc = check_name(p, len);
    if (rc != SOTTO_OK)
        return rc;
    memcpy(card->name, p, len);
    rc = read_field(r, 0, TEXT_USERNAME_MAX, &p, &len);
    if (rc == SOTTO_OK)
        rc = check_username(p, len);
    if (rc != SOTTO_OK)
        return rc;
    if (len > 0)
        memcpy(card->username, p, len);
    return SOTTO_OK;
}

static enum sotto_err parse_addrs(struct reader *r, struct identity_card *card)
{
    const uint8_t *p;
    size_t len;
    uint8_t n;
    enum sotto_err rc = reader_u8(r, &n);

    if (rc != SOTTO_OK)
        return rc;
    if (n > CARD_ADDRS_MAX)
        return SOTTO_EPROTO;
    for (size_t i = 0; i < n; i++) {
        rc = read_field(r, 1, CARD_ADDR_MAX, &p, &len);
        if (rc == SOTTO_OK)
            rc = check_address_n((const char *)p, len);
        if (rc != SOTTO_OK)
            return rc;
        memcpy(card->addrs[i], p, len);
    }
    card->n_addrs = n;
    return SOTTO_OK;
}

/* Fills `card` from the body; *signed_len is how much of it the signature covers. */
static enum sotto_err parse_body(const uint8_t *body, size_t len, struct identity_card *card,
                                 const uint8_t **sig, size_t *signed_len)
{
    struct reader r;
    enum sotto_err rc;

    reader_init(&r, body, len);
    rc = reader_u8(&r, &card->version);
    if (rc == SOTTO_OK && card->version != CARD_VERSION)
        rc = SOTTO_EPROTO;
    if (rc == SOTTO_OK)
        rc = reader_u64(&r, &card->number);
    if (rc == SOTTO_OK)
        rc = parse_names(&r, card);
    if (rc == SOTTO_OK)
        rc = reader_copy(&r, card->key, E2E_KEY_LEN);
    if (rc == SOTTO_OK)
        rc = parse_addrs(&r, card);
    if (rc == SOTTO_OK)
        rc = reader_u64(&r, &card->created_s);
    *signed_len = len - r.left;
    if (rc == SOTTO_OK)
        rc = reader_take(&r, E2E_SIG_LEN, sig);
    if (rc == SOTTO_OK)
        rc = reader_end(&r);
    return rc;
}

static enum sotto_err card_verify(const struct identity_card *card, const uint8_t *body,
                                  size_t signed_len, const uint8_t *sig)
{
    /* e2e_verify checks the key first (SOTTO_EBADKEY); checking it here as well would double
     * the cost of the small-order test, a third of a card's verification time */
    enum sotto_err rc = e2e_verify(card->key, CARD_LABEL, body, signed_len, sig);

    if (rc != SOTTO_OK)
        return rc;
    return identity_number_check(card->key, card->number);
}

enum sotto_err identity_card_import(const struct sotto_env *env, const char *text, size_t len,
                                    struct identity_card *card)
{
    uint8_t *body = NULL;
    const uint8_t *sig = NULL;
    size_t body_len = 0, signed_len = 0;
    enum sotto_err rc;

    if (card != NULL)
        memset(card, 0, sizeof(*card));
    if (env == NULL || card == NULL || text == NULL)
        return SOTTO_EINVAL;
    if (len > CARD_TEXT_MAX)
        return SOTTO_ETOOBIG;
    rc = armour_open(env, text, len, &body, &body_len);
    if (rc != SOTTO_OK)
        goto out;
    rc = parse_body(body, body_len, card, &sig, &signed_len);
    if (rc != SOTTO_OK)
        goto out;
    rc = card_verify(card, body, signed_len, sig);
out:
    sotto_free(env, body);
    if (rc != SOTTO_OK)
        memset(card, 0, sizeof(*card));
    return rc;
}

enum sotto_err identity_card_sign_bytes(struct e2e_ctx *ctx, const struct sotto_env *env,
                                        const struct identity_card *card,
                                        const uint8_t priv[static E2E_PRIV_LEN], uint8_t **out,
                                        size_t *len)
{
    enum sotto_err rc;

    *out = NULL;
    *len = 0;
    rc = card_check(card);
    if (rc == SOTTO_OK)
        rc = check_key_pair(ctx, card, priv);
    if (rc == SOTTO_OK)
        rc = card_sign(ctx, env, card, priv, out, len);
    return rc;
}

enum sotto_err identity_card_decode(const uint8_t *bytes, size_t len, struct identity_card *card)
{
    const uint8_t *sig = NULL;
    size_t signed_len = 0;
    enum sotto_err rc;

    if (card != NULL)
        memset(card, 0, sizeof(*card));
    if (card == NULL || bytes == NULL)
        return SOTTO_EINVAL;
    if (len > CARD_BODY_MAX)
        return SOTTO_ETOOBIG;
    rc = parse_body(bytes, len, card, &sig, &signed_len);
    if (rc == SOTTO_OK)
        rc = card_verify(card, bytes, signed_len, sig);
    if (rc != SOTTO_OK)
        memset(card, 0, sizeof(*card));
    return rc;
}
