/* tests/unit/card/card_test.h: shared fixture of the card tests: a key pair, sample cards,
 * and an independent encoder that builds (and re-signs) card bodies field by field, so that a
 * forged card differs from a good one only in the rule under test. */
#ifndef SOTTO_TEST_CARD_H
#define SOTTO_TEST_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "failalloc.h"
#include "identity/card.h"

struct card_fx {
    struct failalloc fa;
    struct sotto_env env; /* for card calls; never fails, fa.live counts what they leak */
    struct failalloc ctx_fa;
    struct sotto_env ctx_env; /* the Signal context's own */
    struct e2e_ctx *ctx;
    uint8_t pub[E2E_KEY_LEN];
    uint8_t priv[E2E_PRIV_LEN];
};

/* A raw body: every field as bytes, so that a test can put in what export would refuse. */
#define CARD_FORGE_ADDRS 12
struct card_forge {
    uint8_t version;
    uint64_t number;
    const char *name;
    size_t name_len;
    const char *username;
    size_t username_len;
    uint8_t key[E2E_KEY_LEN];
    uint8_t n_addrs; /* written as the count and as the number of fields that follow */
    const char *addrs[CARD_FORGE_ADDRS];
    size_t addr_lens[CARD_FORGE_ADDRS]; /* 0: strlen(addrs[i]) */
    uint64_t created_s;
    const uint8_t *extra; /* bytes after created_s, inside the signed part */
    size_t extra_len;
};

void card_fx_init(struct card_fx *fx);
void card_fx_fini(struct card_fx *fx);

/* A valid card of `key` with the first n_addrs of a list mixing IPv4, [IPv6] and DNS names. */
void card_sample(struct identity_card *c, const uint8_t key[static E2E_KEY_LEN], size_t n_addrs);
/* Exports `c` with fx->priv, asserting success; free() the result. */
char *card_export_ok(struct card_fx *fx, const struct identity_card *c, size_t *len);
void card_assert_same(const struct identity_card *a, const struct identity_card *b);
bool card_is_zero(const struct identity_card *c);
bool card_is_space(char c);

/* Defaults that make a valid card of fx->pub with two addresses. */
void card_forge_default(struct card_forge *fg, const struct card_fx *fx);
/* The body bytes, then the signature by `priv` (label CARD_LABEL), armoured; free() it. */
char *card_forge_text(struct card_fx *fx, const struct card_forge *fg,
                      const uint8_t priv[static E2E_PRIV_LEN], size_t *len);
/* Armours raw bytes the way export does (BEGIN, lines of 64, END); free() it. */
char *card_armour_bytes(const uint8_t *bin, size_t len, size_t *text_len);
/* Only the base64 characters of an armoured card; free() it. */
char *card_b64_of(const char *text, size_t len);
/* Decodes the body of an armoured card into `out` (CARD_BODY_MAX); returns its length. */
size_t card_body_of(const char *text, size_t len, uint8_t *out);

#endif
