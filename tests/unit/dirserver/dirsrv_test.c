/* tests/unit/dirserver/dirsrv_test.c: the fixture. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "dirsrv_test.h"

static enum sotto_err keep_spk(void *arg, const struct e2e_prekey *pk)
{
    struct dir_signed_prekey *spk = arg;

    spk->id = pk->id;
    memcpy(spk->key, pk->pub, E2E_KEY_LEN);
    memcpy(spk->sig, pk->sig, E2E_SIG_LEN);
    return SOTTO_OK;
}

void dsrv_fx_init(struct dsrv_fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    failalloc_env(&fx->env, &fx->fa, 0);
    cr_assert_eq(e2e_ctx_create(&fx->ctx, &fx->env), SOTTO_OK);
    cr_assert_eq(e2e_identity_generate(fx->ctx, fx->pub, fx->priv), SOTTO_OK);
    cr_assert_eq(e2e_signed_prekey_generate(fx->ctx, fx->pub, fx->priv, 7, 0, keep_spk, &fx->spk),
                 SOTTO_OK);
}

void dsrv_fx_fini(struct dsrv_fx *fx)
{
    e2e_ctx_free(fx->ctx);
    sodium_memzero(fx->priv, sizeof(fx->priv));
}

json_t *dsrv_b64(const uint8_t *p, size_t len)
{
    char s[256];

    cr_assert(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) <= sizeof(s));
    sodium_bin2base64(s, sizeof(s), p, len, sodium_base64_VARIANT_ORIGINAL);
    return json_string(s);
}

json_t *dsrv_spk_json(const struct dir_signed_prekey *spk)
{
    return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)spk->id, "key",
                     dsrv_b64(spk->key, E2E_KEY_LEN), "signature", dsrv_b64(spk->sig, E2E_SIG_LEN));
}

static enum sotto_err keep_prekey(void *arg, const struct e2e_prekey *pk)
{
    json_t *list = arg;

    return json_array_append_new(list, json_pack("{s:I, s:o}", "id", (json_int_t)pk->id, "key",
                                                 dsrv_b64(pk->pub, E2E_KEY_LEN))) == 0
                   ? SOTTO_OK
                   : SOTTO_ENOMEM;
}

json_t *dsrv_prekeys_json(struct dsrv_fx *fx, uint32_t start, unsigned n)
{
    json_t *list = json_array();

    cr_assert_eq(e2e_prekeys_generate(fx->ctx, start, n, keep_prekey, list), SOTTO_OK);
    return list;
}

json_t *dsrv_register_json(struct dsrv_fx *fx, const char *username, unsigned n_prekeys)
{
    json_t *body =
            json_pack("{s:s, s:o, s:i, s:o, s:o, s:[s, s]}", "username", username, "identity_key",
                      dsrv_b64(fx->pub, E2E_KEY_LEN), "registration_id", 1234, "signed_prekey",
                      dsrv_spk_json(&fx->spk), "prekeys", dsrv_prekeys_json(fx, 1, n_prekeys),
                      "addresses", "192.0.2.1:8766", "[2001:db8::5]:443");

    cr_assert_not_null(body);
    return body;
}

static char *dump(const json_t *body, size_t *len)
{
    char *text = json_dumps(body, JSON_COMPACT);

    cr_assert_not_null(text);
    *len = strlen(text);
    return text;
}

enum sotto_err dsrv_parse_register(const json_t *body, struct dir_register_req *out,
                                   struct dir_problem *p)
{
    size_t len;
    char *text = dump(body, &len);
    enum sotto_err rc = dir_parse_register((const uint8_t *)text, len, out, p);

    free(text);
    return rc;
}

enum sotto_err dsrv_parse_prekeys(const json_t *body, struct dir_prekeys_req *out,
                                  struct dir_problem *p)
{
    size_t len;
    char *text = dump(body, &len);
    enum sotto_err rc = dir_parse_prekeys((const uint8_t *)text, len, out, p);

    free(text);
    return rc;
}

enum sotto_err dsrv_parse_addresses(const json_t *body, struct dir_addresses_req *out,
                                    struct dir_problem *p)
{
    size_t len;
    char *text = dump(body, &len);
    enum sotto_err rc = dir_parse_addresses((const uint8_t *)text, len, out, p);

    free(text);
    return rc;
}

enum sotto_err dsrv_parse_text(const char *text, struct dir_problem *p)
{
    static struct dir_register_req out;

    return dir_parse_register((const uint8_t *)text, strlen(text), &out, p);
}
