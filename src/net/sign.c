/* src/net/sign.c: signed writes (docs/PROTOCOL.md, "Signed writes"): the identity key signs
 * host, method, target, the body's SHA-256 and a timestamp, with the label sotto-dir-v1. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "net/net_int.h"

/* Appends s[0..len) at *at; false when it does not fit. */
static bool put(uint8_t *out, size_t cap, size_t *at, const char *s, size_t len)
{
    if (cap - *at < len)
        return false;
    memcpy(out + *at, s, len);
    *at += len;
    return true;
}

static bool field_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strchr(s, '\n') == NULL;
}

enum sotto_err net_sign_message(const char *host, const char *method, const char *target,
                                const uint8_t *body, size_t body_len, const char *timestamp,
                                uint8_t *out, size_t cap, size_t *len)
{
    uint8_t digest[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    size_t at = 0;

    *len = 0;
    if (!field_ok(host) || !field_ok(method) || !field_ok(target) || !field_ok(timestamp) ||
        (body_len > 0 && body == NULL))
        return SOTTO_EINVAL;
    crypto_hash_sha256(digest, body_len > 0 ? body : (const uint8_t *)"", body_len);
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    if (!put(out, cap, &at, host, strlen(host)) || !put(out, cap, &at, "\n", 1) ||
        !put(out, cap, &at, method, strlen(method)) || !put(out, cap, &at, "\n", 1) ||
        !put(out, cap, &at, target, strlen(target)) || !put(out, cap, &at, "\n", 1) ||
        !put(out, cap, &at, hex, strlen(hex)) || !put(out, cap, &at, "\n", 1) ||
        !put(out, cap, &at, timestamp, strlen(timestamp)))
        return SOTTO_ETOOBIG;
    *len = at;
    return SOTTO_OK;
}

enum sotto_err net_sign_request(const struct net_identity *id, const char *host,
                                const struct net_request *rq, uint64_t now_ms,
                                struct net_signature *out)
{
    uint8_t msg[NET_SIGNED_MSG_MAX], sig[E2E_SIG_LEN];
    size_t len = 0;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    if (id == NULL || id->e2e == NULL || id->priv == NULL || id->number < NUMBER_MIN ||
        id->number > NUMBER_MAX)
        return SOTTO_EINVAL;
    identity_number_digits(id->number, out->number);
    snprintf(out->timestamp, sizeof(out->timestamp), "%llu", (unsigned long long)now_ms);
    rc = net_sign_message(host, rq->method, rq->target, rq->body, rq->body_len, out->timestamp, msg,
                          sizeof(msg), &len);
    if (rc == SOTTO_OK)
        rc = e2e_sign(id->e2e, id->priv, NET_SIGN_LABEL, msg, len, sig);
    if (rc == SOTTO_OK)
        rc = net_b64_encode(sig, sizeof(sig), out->signature, sizeof(out->signature));
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
