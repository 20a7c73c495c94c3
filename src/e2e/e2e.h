/* src/e2e/e2e.h: the Signal-protocol glue. A libsignal-protocol-c context with our OpenSSL
 * crypto provider, identity and prekey generation, and the identity-key signatures (XEdDSA)
 * that cards, link proofs and directory writes use. All Signal work of a process stays on one
 * thread (the library's reference counts are not atomic). */
#ifndef SOTTO_E2E_E2E_H
#define SOTTO_E2E_E2E_H

#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

#define E2E_KEY_LEN    33 /* serialized public key: type byte 0x05 + 32 bytes */
#define E2E_PRIV_LEN   32
#define E2E_SIG_LEN    64
#define E2E_LABEL_MAX  32          /* longest purpose label, without its terminating zero byte */
#define E2E_SIGNED_MAX (64 * 1024) /* longest message e2e_sign/e2e_verify accept */

struct sotto_env;
struct signal_context;
struct e2e_ctx;

/* Creates a Signal context whose provider uses OpenSSL 3 (EVP_MD, EVP_CIPHER and the HMAC
 * EVP_MAC fetched once), randomness from env->random, a recursive lock, and env->log for the
 * library's messages. Borrows `env`, which must outlive the context. On failure *out is NULL. */
enum sotto_err e2e_ctx_create(struct e2e_ctx **out, const struct sotto_env *env);
/* Frees the context and everything the provider fetched. NULL is a no-op. */
void e2e_ctx_free(struct e2e_ctx *ctx);
/* The library's context, borrowed from `ctx` for its lifetime. */
struct signal_context *e2e_ctx_signal(const struct e2e_ctx *ctx);

/* A new Curve25519 identity key pair. `priv` is secret: the caller wipes it. */
enum sotto_err e2e_identity_generate(struct e2e_ctx *ctx, uint8_t pub[static E2E_KEY_LEN],
                                     uint8_t priv[static E2E_PRIV_LEN]);
/* The public key of `priv`, to check that a stored pair belongs together. */
enum sotto_err e2e_public_from_private(struct e2e_ctx *ctx, const uint8_t priv[static E2E_PRIV_LEN],
                                       uint8_t pub[static E2E_KEY_LEN]);
/* A new Signal registration id (1..16380). */
enum sotto_err e2e_registration_id_generate(struct e2e_ctx *ctx, uint32_t *out);

/* Refuses a public key from outside that is not type 0x05 + 32 bytes (SOTTO_EBADKEY) or is of
 * small order (SOTTO_EBADKEY). */
enum sotto_err e2e_pubkey_check(const uint8_t pub[static E2E_KEY_LEN]);

/* XEdDSA signature by `priv` over `label` || 0x00 || msg[0..len). `label` is a purpose label
 * such as "sotto-card-v1" (1..E2E_LABEL_MAX bytes). */
enum sotto_err e2e_sign(struct e2e_ctx *ctx, const uint8_t priv[static E2E_PRIV_LEN],
                        const char *label, const uint8_t *msg, size_t len,
                        uint8_t sig[static E2E_SIG_LEN]);
/* Checks such a signature: SOTTO_EBADKEY for a bad or small-order key; SOTTO_EBADSIG when the
 * signature's scalar is not below the group order L or the library does not answer exactly 1;
 * SOTTO_ETOOBIG when len > E2E_SIGNED_MAX. Needs no context and allocates only inside the
 * library. */
enum sotto_err e2e_verify(const uint8_t pub[static E2E_KEY_LEN], const char *label,
                          const uint8_t *msg, size_t len, const uint8_t sig[static E2E_SIG_LEN]);

/* One generated prekey, handed to a callback. `record` is the library's serialized
 * session_pre_key / session_signed_pre_key (it holds the private key: secret, borrowed for
 * the duration of the call and wiped afterwards). `sig` is set only for a signed prekey. */
struct e2e_prekey {
    uint32_t id;
    uint8_t pub[E2E_KEY_LEN];
    uint8_t sig[E2E_SIG_LEN];
    const uint8_t *record;
    size_t record_len;
};
typedef enum sotto_err (*e2e_prekey_fn)(void *arg, const struct e2e_prekey *pk);

/* Makes `count` one-time prekeys with ids start_id, start_id + 1, … (wrapping within the
 * library's 24-bit id space, skipping 0) and calls `each` for every one; stops at the first
 * error `each` returns and returns it. */
enum sotto_err e2e_prekeys_generate(struct e2e_ctx *ctx, uint32_t start_id, unsigned count,
                                    e2e_prekey_fn each, void *arg);
/* Makes the signed prekey `id`, signed (Signal's own signature over the 33-byte public key)
 * by the identity pair, stamped `timestamp_ms`, and calls `each` once. */
enum sotto_err e2e_signed_prekey_generate(struct e2e_ctx *ctx,
                                          const uint8_t identity_pub[static E2E_KEY_LEN],
                                          const uint8_t identity_priv[static E2E_PRIV_LEN],
                                          uint32_t id, uint64_t timestamp_ms, e2e_prekey_fn each,
                                          void *arg);

#endif
