/* src/identity/card.h: identity cards, the signed, armoured text people swap to become
 * contacts with no directory. Format in docs/PROTOCOL.md. */
#ifndef SOTTO_IDENTITY_CARD_H
#define SOTTO_IDENTITY_CARD_H

#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "sotto/err.h"
#include "util/text.h"

#define CARD_VERSION   1
#define CARD_LABEL     "sotto-card-v1"
#define CARD_ADDRS_MAX 8
#define CARD_ADDR_MAX  255   /* "host:port", bytes */
#define CARD_BODY_MAX  4096  /* decoded body plus signature, bytes */
#define CARD_TEXT_MAX  16384 /* armoured text accepted, bytes, whitespace included */
#define CARD_BEGIN     "-----BEGIN SOTTO CARD-----"
#define CARD_END       "-----END SOTTO CARD-----"

struct identity_card {
    uint8_t version;
    uint64_t number;
    char name[TEXT_NAME_MAX + 1];         /* display name, checked with text_check_name */
    char username[TEXT_USERNAME_MAX + 1]; /* "" when not registered */
    uint8_t key[E2E_KEY_LEN];
    size_t n_addrs;
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
    uint64_t created_s; /* seconds since the Unix epoch */
};

/* A reachable address, "host:port": host a DNS name, an IPv4 address or a bracketed IPv6
 * address; port 1..65535. SOTTO_EPROTO otherwise. */
enum sotto_err identity_card_check_address(const char *addr);

/* Checks every field of `card`, encodes it, signs it with `priv` (which must belong to
 * card->key: SOTTO_EINVAL otherwise) and armours it: BEGIN line, base64 in lines of 64,
 * END line, each ending in "\n". *out is NUL-terminated, owned by the caller (sotto_free). */
enum sotto_err identity_card_export(struct e2e_ctx *ctx, const struct sotto_env *env,
                                    const struct identity_card *card,
                                    const uint8_t priv[static E2E_PRIV_LEN], char **out,
                                    size_t *len);

/* Parses untrusted text: whitespace is allowed before the BEGIN line, after the END line and
 * anywhere between them, nothing else. Checks that base64 decoding consumed all of it, that
 * the body parses with nothing left over, the version, every field, that the number belongs to
 * the key, and the signature. Errors: SOTTO_ETOOBIG (over CARD_TEXT_MAX or CARD_BODY_MAX),
 * SOTTO_ETRUNC, SOTTO_EPROTO (garbage, bad field, unknown version), SOTTO_EBADKEY,
 * SOTTO_ENUMBER, SOTTO_EBADSIG, SOTTO_ENOMEM. On failure *card is zeroed. */
enum sotto_err identity_card_import(const struct sotto_env *env, const char *text, size_t len,
                                    struct identity_card *card);

/* The card as bytes without the armour (body and signature, at most CARD_BODY_MAX): what a
 * node sends in a CARD frame. The same checks and errors as identity_card_export; *out is
 * freed with sotto_free. */
enum sotto_err identity_card_sign_bytes(struct e2e_ctx *ctx, const struct sotto_env *env,
                                        const struct identity_card *card,
                                        const uint8_t priv[static E2E_PRIV_LEN], uint8_t **out,
                                        size_t *len);
/* Parses and checks such bytes, untrusted, exactly as identity_card_import does after the
 * armour. On failure *card is zeroed. */
enum sotto_err identity_card_decode(const uint8_t *bytes, size_t len, struct identity_card *card);

#endif
