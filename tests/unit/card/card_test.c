/* tests/unit/card/card_test.c: the fixture and the independent card encoder of the tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "card_test.h"
#include "identity/number.h"
#include "util/bytes.h"

static const char *const sample_addrs[CARD_ADDRS_MAX] = {
        "192.168.1.10:8766", "[2001:db8::1]:8766", "alice.example.org:443",   "[::1]:1",
        "10.0.0.2:65535",    "node-7.lan:8766",    "[::ffff:192.0.2.1]:8080", "localhost:8766",
};

void card_fx_init(struct card_fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    failalloc_env(&fx->env, &fx->fa, 0);
    failalloc_env(&fx->ctx_env, &fx->ctx_fa, 0);
    cr_assert_eq(e2e_ctx_create(&fx->ctx, &fx->ctx_env), SOTTO_OK);
    cr_assert_eq(e2e_identity_generate(fx->ctx, fx->pub, fx->priv), SOTTO_OK);
}

void card_fx_fini(struct card_fx *fx)
{
    e2e_ctx_free(fx->ctx);
    sodium_memzero(fx->priv, sizeof(fx->priv));
}

void card_sample(struct identity_card *c, const uint8_t key[static E2E_KEY_LEN], size_t n_addrs)
{
    memset(c, 0, sizeof(*c));
    c->version = CARD_VERSION;
    memcpy(c->key, key, E2E_KEY_LEN);
    c->number = identity_number(key);
    snprintf(c->name, sizeof(c->name), "%s", "Zoë 🌸");
    snprintf(c->username, sizeof(c->username), "%s", "zoe.k");
    c->n_addrs = n_addrs;
    for (size_t i = 0; i < n_addrs; i++)
        snprintf(c->addrs[i], sizeof(c->addrs[i]), "%s", sample_addrs[i]);
    c->created_s = 1700000000;
}

char *card_export_ok(struct card_fx *fx, const struct identity_card *c, size_t *len)
{
    char *out = NULL, *copy;

    cr_assert_eq(identity_card_export(fx->ctx, &fx->env, c, fx->priv, &out, len), SOTTO_OK);
    cr_assert_not_null(out);
    cr_assert_eq(strlen(out), *len, "the length excludes the NUL and nothing else");
    copy = malloc(*len + 1);
    cr_assert_not_null(copy);
    memcpy(copy, out, *len + 1);
    sotto_free(&fx->env, out);
    return copy;
}

void card_assert_same(const struct identity_card *a, const struct identity_card *b)
{
    cr_assert_eq(a->version, b->version);
    cr_assert_eq(a->number, b->number);
    cr_assert_str_eq(a->name, b->name);
    cr_assert_str_eq(a->username, b->username);
    cr_assert_arr_eq(a->key, b->key, E2E_KEY_LEN);
    cr_assert_eq(a->n_addrs, b->n_addrs);
    for (size_t i = 0; i < a->n_addrs && i < CARD_ADDRS_MAX; i++)
        cr_assert_str_eq(a->addrs[i], b->addrs[i]);
    cr_assert_eq(a->created_s, b->created_s);
}

bool card_is_zero(const struct identity_card *c)
{
    static const struct identity_card zero;

    return memcmp(c, &zero, sizeof(zero)) == 0;
}

bool card_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void card_forge_default(struct card_forge *fg, const struct card_fx *fx)
{
    memset(fg, 0, sizeof(*fg));
    fg->version = CARD_VERSION;
    memcpy(fg->key, fx->pub, E2E_KEY_LEN);
    fg->number = identity_number(fx->pub);
    fg->name = "Bob";
    fg->name_len = 3;
    fg->username = "bob";
    fg->username_len = 3;
    fg->n_addrs = 2;
    fg->addrs[0] = "192.0.2.7:8766";
    fg->addrs[1] = "[2001:db8::7]:8766";
    fg->created_s = 1700000123;
}

static void forge_write(struct writer *w, const struct card_forge *fg)
{
    writer_u8(w, fg->version);
    writer_u64(w, fg->number);
    writer_bytes8(w, fg->name, fg->name_len);
    writer_bytes8(w, fg->username, fg->username_len);
    writer_put(w, fg->key, E2E_KEY_LEN);
    writer_u8(w, fg->n_addrs);
    for (size_t i = 0; i < fg->n_addrs && i < CARD_FORGE_ADDRS; i++)
        writer_bytes8(w, fg->addrs[i], fg->addr_lens[i] ? fg->addr_lens[i] : strlen(fg->addrs[i]));
    writer_u64(w, fg->created_s);
    if (fg->extra_len > 0)
        writer_put(w, fg->extra, fg->extra_len);
}

char *card_forge_text(struct card_fx *fx, const struct card_forge *fg,
                      const uint8_t priv[static E2E_PRIV_LEN], size_t *len)
{
    struct writer w;
    uint8_t sig[E2E_SIG_LEN], *body;
    size_t body_len;
    char *text;

    writer_init(&w, &fx->env, 2 * CARD_BODY_MAX);
    forge_write(&w, fg);
    cr_assert_eq(w.err, SOTTO_OK);
    cr_assert_eq(e2e_sign(fx->ctx, priv, CARD_LABEL, w.p, w.len, sig), SOTTO_OK);
    writer_put(&w, sig, sizeof(sig));
    cr_assert_eq(writer_take(&w, &body, &body_len), SOTTO_OK);
    text = card_armour_bytes(body, body_len, len);
    sotto_free(&fx->env, body);
    return text;
}

char *card_armour_bytes(const uint8_t *bin, size_t len, size_t *text_len)
{
    size_t b64_size = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_size);
    char *text = malloc(b64_size * 2 + 64);
    size_t o, b64_len;

    cr_assert(b64 != NULL && text != NULL);
    sodium_bin2base64(b64, b64_size, bin, len, sodium_base64_VARIANT_ORIGINAL);
    b64_len = strlen(b64);
    o = (size_t)snprintf(text, 64, "%s\n", CARD_BEGIN);
    for (size_t i = 0; i < b64_len; i += 64) {
        size_t n = b64_len - i < 64 ? b64_len - i : 64;
        memcpy(text + o, b64 + i, n);
        o += n;
        text[o++] = '\n';
    }
    o += (size_t)snprintf(text + o, 64, "%s\n", CARD_END);
    free(b64);
    *text_len = o;
    return text;
}

char *card_b64_of(const char *text, size_t len)
{
    const char *start = strstr(text, CARD_BEGIN), *end = strstr(text, CARD_END);
    char *out = malloc(len + 1);
    size_t o = 0;

    cr_assert(start != NULL && end != NULL && out != NULL);
    for (const char *p = start + strlen(CARD_BEGIN); p < end; p++)
        if (!card_is_space(*p))
            out[o++] = *p;
    out[o] = '\0';
    return out;
}

size_t card_body_of(const char *text, size_t len, uint8_t *out)
{
    char *b64 = card_b64_of(text, len);
    size_t n = 0;

    cr_assert_eq(sodium_base642bin(out, CARD_BODY_MAX, b64, strlen(b64), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    free(b64);
    return n;
}
