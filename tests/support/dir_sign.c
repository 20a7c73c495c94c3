/* tests/support/dir_sign.c: the identity-key operations a directory client needs, for tests
 * written in Python. One JSON request per line on stdin, one JSON answer per line on stdout:
 *   {"op": "keygen"}  -> {"pub", "priv", "number", "registration_id"}
 *   {"op": "sign", "priv", "msg", "label"?}  -> {"sig"}   (e2e_sign; label sotto-dir-v1)
 *   {"op": "spk", "pub", "priv", "id"}  -> {"id", "key", "signature"}   (a signed prekey)
 *   {"op": "prekeys", "start", "count"}  -> {"prekeys": [{"id", "key"}, ...]}
 * Binary values are standard padded base64. Test-only: it prints private keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "e2e/e2e.h"
#include "identity/number.h"
#include "sotto/env.h"

#define LINE_MAX_LEN (256 * 1024)
#define VARIANT      sodium_base64_VARIANT_ORIGINAL

static json_t *b64(const uint8_t *p, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, VARIANT);
    char *s = malloc(n);
    json_t *j;

    if (s == NULL)
        return NULL;
    sodium_bin2base64(s, n, p, len, VARIANT);
    j = json_string(s);
    free(s);
    return j;
}

/* Decodes member `name` of `req` into out[0..max); returns the length, or -1. */
static long unb64(const json_t *req, const char *name, uint8_t *out, size_t max)
{
    const char *s = json_string_value(json_object_get(req, name));
    size_t len = 0;

    if (s == NULL || sodium_base642bin(out, max, s, strlen(s), NULL, &len, NULL, VARIANT) != 0)
        return -1;
    return (long)len;
}

static json_t *op_keygen(struct e2e_ctx *ctx)
{
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    char digits[NUMBER_DIGITS_LEN];
    uint32_t reg = 0;
    json_t *out = NULL;

    if (e2e_identity_generate(ctx, pub, priv) == SOTTO_OK &&
        e2e_registration_id_generate(ctx, &reg) == SOTTO_OK) {
        identity_number_digits(identity_number(pub), digits);
        out = json_pack("{s:o, s:o, s:s, s:I}", "pub", b64(pub, sizeof(pub)), "priv",
                        b64(priv, sizeof(priv)), "number", digits, "registration_id",
                        (json_int_t)reg);
    }
    sodium_memzero(priv, sizeof(priv));
    return out;
}

static json_t *op_sign(struct e2e_ctx *ctx, const json_t *req)
{
    uint8_t priv[E2E_PRIV_LEN], sig[E2E_SIG_LEN], *msg = malloc(LINE_MAX_LEN);
    const char *label = json_string_value(json_object_get(req, "label"));
    long len;
    json_t *out = NULL;

    if (msg != NULL && unb64(req, "priv", priv, sizeof(priv)) == E2E_PRIV_LEN &&
        (len = unb64(req, "msg", msg, LINE_MAX_LEN)) >= 0 &&
        e2e_sign(ctx, priv, label != NULL ? label : "sotto-dir-v1", msg, (size_t)len, sig) ==
                SOTTO_OK)
        out = json_pack("{s:o}", "sig", b64(sig, sizeof(sig)));
    sodium_memzero(priv, sizeof(priv));
    free(msg);
    return out;
}

static enum sotto_err keep_prekey(void *arg, const struct e2e_prekey *pk)
{
    json_t *list = arg;
    json_t *o =
            json_pack("{s:I, s:o}", "id", (json_int_t)pk->id, "key", b64(pk->pub, sizeof(pk->pub)));

    return o != NULL && json_array_append_new(list, o) == 0 ? SOTTO_OK : SOTTO_ENOMEM;
}

static enum sotto_err keep_signed(void *arg, const struct e2e_prekey *pk)
{
    json_t **out = arg;

    *out = json_pack("{s:I, s:o, s:o}", "id", (json_int_t)pk->id, "key",
                     b64(pk->pub, sizeof(pk->pub)), "signature", b64(pk->sig, sizeof(pk->sig)));
    return *out != NULL ? SOTTO_OK : SOTTO_ENOMEM;
}

static json_t *op_spk(struct e2e_ctx *ctx, const json_t *req)
{
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    json_int_t id = json_integer_value(json_object_get(req, "id"));
    json_t *out = NULL;

    if (unb64(req, "pub", pub, sizeof(pub)) == E2E_KEY_LEN &&
        unb64(req, "priv", priv, sizeof(priv)) == E2E_PRIV_LEN &&
        e2e_signed_prekey_generate(ctx, pub, priv, (uint32_t)id, 0, keep_signed, &out) !=
                SOTTO_OK) {
        json_decref(out);
        out = NULL;
    }
    sodium_memzero(priv, sizeof(priv));
    return out;
}

static json_t *op_prekeys(struct e2e_ctx *ctx, const json_t *req)
{
    json_int_t start = json_integer_value(json_object_get(req, "start"));
    json_int_t count = json_integer_value(json_object_get(req, "count"));
    json_t *list = json_array();

    if (list == NULL || count < 0 || count > 100000 ||
        e2e_prekeys_generate(ctx, (uint32_t)start, (unsigned)count, keep_prekey, list) !=
                SOTTO_OK) {
        json_decref(list);
        return NULL;
    }
    return json_pack("{s:o}", "prekeys", list);
}

static json_t *dispatch(struct e2e_ctx *ctx, const json_t *req)
{
    const char *op = json_string_value(json_object_get(req, "op"));

    if (op == NULL)
        return NULL;
    if (strcmp(op, "keygen") == 0)
        return op_keygen(ctx);
    if (strcmp(op, "sign") == 0)
        return op_sign(ctx, req);
    if (strcmp(op, "spk") == 0)
        return op_spk(ctx, req);
    if (strcmp(op, "prekeys") == 0)
        return op_prekeys(ctx, req);
    return NULL;
}

static void answer(json_t *out)
{
    if (out == NULL)
        out = json_pack("{s:s}", "error", "failed");
    json_dumpf(out, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(out);
}

int main(void)
{
    struct sotto_env env;
    struct e2e_ctx *ctx = NULL;
    char *line = malloc(LINE_MAX_LEN);

    if (line == NULL || sotto_env_global_init() != 0)
        return 1;
    sotto_env_init(&env, NULL);
    if (e2e_ctx_create(&ctx, &env) != SOTTO_OK)
        return 1;
    while (fgets(line, LINE_MAX_LEN, stdin) != NULL) {
        json_t *req = json_loads(line, 0, NULL);
        answer(req != NULL ? dispatch(ctx, req) : NULL);
        json_decref(req);
    }
    e2e_ctx_free(ctx);
    free(line);
    return 0;
}
