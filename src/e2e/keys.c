/* src/e2e/keys.c: identity and prekey generation, and the identity-key signatures (XEdDSA by
 * libsignal-protocol-c) with the checks DESIGN.md asks of keys and signatures from outside. */
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include <signal/curve.h>
#include <signal/key_helper.h>
#include <signal/ratchet.h>
#include <signal/session_pre_key.h>
#include <signal/signal_protocol.h>

#include "e2e/e2e.h"

#define KEY_TYPE_DJB   0x05
#define PREKEY_ID_MAX  (PRE_KEY_MEDIUM_MAX_VALUE - 1) /* ids run 1..0xfffffe in the library */
#define PREKEY_BATCH   100 /* prekeys generated per library call: bounds what sits in memory */
#define SIG_SCALAR_OFF 32
#define SIG_SIGN_BIT   0x80 /* the library keeps the Ed25519 sign bit in the top bit of s */

/* The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t group_order[32] = {
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
        0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* The library's error as ours. SIGNAL_UNREF and signal_buffer_free take NULL, so cleanup
 * paths call them unconditionally. */
static enum sotto_err sg_err(int sg)
{
    return sg == SG_ERR_NOMEM ? SOTTO_ENOMEM : SOTTO_ECRYPTO;
}

/* Copies a serialized public key out of the library, checking its length. */
static enum sotto_err pub_export(const ec_public_key *key, uint8_t pub[static E2E_KEY_LEN])
{
    signal_buffer *buf = NULL;
    int sg = ec_public_key_serialize(&buf, key);

    if (sg < 0)
        return sg_err(sg);
    if (signal_buffer_len(buf) != E2E_KEY_LEN) {
        signal_buffer_free(buf);
        return SOTTO_ECRYPTO;
    }
    memcpy(pub, signal_buffer_const_data(buf), E2E_KEY_LEN);
    signal_buffer_free(buf);
    return SOTTO_OK;
}

static enum sotto_err priv_export(const ec_private_key *key, uint8_t priv[static E2E_PRIV_LEN])
{
    signal_buffer *buf = NULL;
    int sg = ec_private_key_serialize(&buf, key);

    if (sg < 0)
        return sg_err(sg);
    if (signal_buffer_len(buf) != E2E_PRIV_LEN) {
        signal_buffer_bzero_free(buf);
        return SOTTO_ECRYPTO;
    }
    memcpy(priv, signal_buffer_const_data(buf), E2E_PRIV_LEN);
    signal_buffer_bzero_free(buf);
    return SOTTO_OK;
}

/* Decodes a private key, clamped as X25519 clamps it, so that a signature made with it always
 * belongs to the public key e2e_public_from_private() derives. */
static enum sotto_err priv_import(struct e2e_ctx *ctx, const uint8_t priv[static E2E_PRIV_LEN],
                                  ec_private_key **out)
{
    uint8_t k[E2E_PRIV_LEN];
    int sg;

    *out = NULL;
    memcpy(k, priv, sizeof(k));
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    sg = curve_decode_private_point(out, k, sizeof(k), e2e_ctx_signal(ctx));
    sodium_memzero(k, sizeof(k));
    if (sg < 0) {
        *out = NULL;
        return sg_err(sg);
    }
    return SOTTO_OK;
}

enum sotto_err e2e_identity_generate(struct e2e_ctx *ctx, uint8_t pub[static E2E_KEY_LEN],
                                     uint8_t priv[static E2E_PRIV_LEN])
{
    ec_key_pair *pair = NULL;
    enum sotto_err rc;
    int sg;

    sg = curve_generate_key_pair(e2e_ctx_signal(ctx), &pair);
    if (sg < 0)
        return sg_err(sg);
    rc = pub_export(ec_key_pair_get_public(pair), pub);
    if (rc != SOTTO_OK)
        goto out;
    rc = priv_export(ec_key_pair_get_private(pair), priv);
out:
    SIGNAL_UNREF(pair);
    if (rc != SOTTO_OK) {
        sodium_memzero(pub, E2E_KEY_LEN);
        sodium_memzero(priv, E2E_PRIV_LEN);
    }
    return rc;
}

enum sotto_err e2e_public_from_private(struct e2e_ctx *ctx, const uint8_t priv[static E2E_PRIV_LEN],
                                       uint8_t pub[static E2E_KEY_LEN])
{
    ec_private_key *key = NULL;
    ec_public_key *p = NULL;
    enum sotto_err rc;
    int sg;

    rc = priv_import(ctx, priv, &key);
    if (rc != SOTTO_OK)
        return rc;
    sg = curve_generate_public_key(&p, key);
    if (sg < 0) {
        rc = sg_err(sg);
        goto out;
    }
    rc = pub_export(p, pub);
out:
    SIGNAL_UNREF(p);
    SIGNAL_UNREF(key);
    return rc;
}

enum sotto_err e2e_registration_id_generate(struct e2e_ctx *ctx, uint32_t *out)
{
    int sg = signal_protocol_key_helper_generate_registration_id(out, 0, e2e_ctx_signal(ctx));

    if (sg < 0) {
        *out = 0;
        return sg_err(sg);
    }
    return SOTTO_OK;
}

/* True when the 32 bytes are u < 2^255 - 19 with the unused top bit clear: any other encoding
 * is a second spelling of a key, and would give the same key a second number. */
static bool pub_canonical(const uint8_t u[static 32])
{
    if (u[31] & 0x80)
        return false;
    if (u[31] != 0x7f)
        return true;
    for (int i = 30; i >= 1; i--)
        if (u[i] != 0xff)
            return true;
    return u[0] < 0xed;
}

/* The u-coordinates of small order, on the curve and on its twist, that are canonical: 0, 1,
 * the two points of order 8, and p - 1 (libsodium's list adds p and p + 1, which
 * pub_canonical() refuses first). X25519 with any of them gives the identity, which is what
 * libsodium's crypto_scalarmult refuses; comparing with the list gives the same answer for a
 * canonical key without a scalar multiplication (31 us each, over half the cost of a
 * registration with 100 prekeys). tests/unit/e2e checks that the two agree. Public keys:
 * nothing here needs constant time. */
static const uint8_t small_order[][32] = {
        {0},
        {1},
        {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
         0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
         0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
        {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
         0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
         0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

enum sotto_err e2e_pubkey_check(const uint8_t pub[static E2E_KEY_LEN])
{
    if (pub[0] != KEY_TYPE_DJB || !pub_canonical(pub + 1))
        return SOTTO_EBADKEY;
    for (size_t i = 0; i < sizeof(small_order) / sizeof(small_order[0]); i++)
        if (memcmp(pub + 1, small_order[i], 32) == 0)
            return SOTTO_EBADKEY;
    return SOTTO_OK;
}

/* True when the signature's scalar s (its last 32 bytes, little-endian, without the sign bit
 * the library keeps in the top bit) is below L: the library alone would also take s + L. */
static bool sig_scalar_reduced(const uint8_t sig[static E2E_SIG_LEN])
{
    const uint8_t *s = sig + SIG_SCALAR_OFF;

    for (int i = 31; i >= 0; i--) {
        uint8_t b = i == 31 ? (uint8_t)(s[i] & ~SIG_SIGN_BIT) : s[i];
        if (b != group_order[i])
            return b < group_order[i];
    }
    return false; /* s == L */
}

/* label || 0x00 || msg in a library buffer, so that e2e_verify needs no allocator of ours. */
static enum sotto_err signed_bytes(const char *label, const uint8_t *msg, size_t len,
                                   signal_buffer **out)
{
    size_t label_len;
    uint8_t *p;

    *out = NULL;
    if (label == NULL || (msg == NULL && len > 0))
        return SOTTO_EINVAL;
    label_len = strnlen(label, E2E_LABEL_MAX + 1);
    if (label_len == 0 || label_len > E2E_LABEL_MAX)
        return SOTTO_EINVAL;
    if (len > E2E_SIGNED_MAX)
        return SOTTO_ETOOBIG;
    *out = signal_buffer_alloc(label_len + 1 + len);
    if (*out == NULL)
        return SOTTO_ENOMEM;
    p = signal_buffer_data(*out);
    memcpy(p, label, label_len);
    p[label_len] = 0x00;
    if (len > 0)
        memcpy(p + label_len + 1, msg, len);
    return SOTTO_OK;
}

enum sotto_err e2e_sign(struct e2e_ctx *ctx, const uint8_t priv[static E2E_PRIV_LEN],
                        const char *label, const uint8_t *msg, size_t len,
                        uint8_t sig[static E2E_SIG_LEN])
{
    signal_buffer *data = NULL, *s = NULL;
    ec_private_key *key = NULL;
    enum sotto_err rc;
    int sg;

    memset(sig, 0, E2E_SIG_LEN);
    rc = signed_bytes(label, msg, len, &data);
    if (rc != SOTTO_OK)
        return rc;
    rc = priv_import(ctx, priv, &key);
    if (rc != SOTTO_OK)
        goto out;
    sg = curve_calculate_signature(e2e_ctx_signal(ctx), &s, key, signal_buffer_const_data(data),
                                   signal_buffer_len(data));
    if (sg < 0) {
        rc = sg_err(sg);
        goto out;
    }
    if (signal_buffer_len(s) != E2E_SIG_LEN) {
        rc = SOTTO_ECRYPTO;
        goto out;
    }
    memcpy(sig, signal_buffer_const_data(s), E2E_SIG_LEN);
out:
    signal_buffer_free(s);
    signal_buffer_free(data);
    SIGNAL_UNREF(key);
    return rc;
}

enum sotto_err e2e_verify(const uint8_t pub[static E2E_KEY_LEN], const char *label,
                          const uint8_t *msg, size_t len, const uint8_t sig[static E2E_SIG_LEN])
{
    signal_buffer *data = NULL;
    ec_public_key *key = NULL;
    enum sotto_err rc;
    int sg;

    rc = signed_bytes(label, msg, len, &data);
    if (rc != SOTTO_OK)
        return rc;
    rc = e2e_pubkey_check(pub);
    if (rc != SOTTO_OK)
        goto out;
    rc = SOTTO_EBADSIG;
    if (!sig_scalar_reduced(sig))
        goto out;
    /* no context: the key was checked above, so the library has nothing to log */
    sg = curve_decode_point(&key, pub, E2E_KEY_LEN, NULL);
    if (sg < 0) {
        rc = sg_err(sg);
        goto out;
    }
    /* 1 is valid; 0 invalid; negative an error, which must never pass for valid */
    if (curve_verify_signature(key, signal_buffer_const_data(data), signal_buffer_len(data), sig,
                               E2E_SIG_LEN) == 1)
        rc = SOTTO_OK;
out:
    signal_buffer_free(data);
    SIGNAL_UNREF(key);
    return rc;
}

/* Hands one prekey of the library's list to `each`, then wipes its serialized record. */
static enum sotto_err prekey_emit(const session_pre_key *pk, e2e_prekey_fn each, void *arg)
{
    struct e2e_prekey out = {.id = session_pre_key_get_id(pk)};
    signal_buffer *rec = NULL;
    enum sotto_err rc;
    int sg;

    rc = pub_export(ec_key_pair_get_public(session_pre_key_get_key_pair(pk)), out.pub);
    if (rc != SOTTO_OK)
        return rc;
    sg = session_pre_key_serialize(&rec, pk);
    if (sg < 0)
        return sg_err(sg);
    out.record = signal_buffer_const_data(rec);
    out.record_len = signal_buffer_len(rec);
    rc = each(arg, &out);
    signal_buffer_bzero_free(rec);
    return rc;
}

/* One call of the library: `count` prekeys from `start` (1..PREKEY_ID_MAX). */
static enum sotto_err prekey_batch(struct e2e_ctx *ctx, uint32_t start, unsigned count,
                                   e2e_prekey_fn each, void *arg)
{
    signal_protocol_key_helper_pre_key_list_node *head = NULL, *node;
    enum sotto_err rc = SOTTO_OK;
    int sg;

    sg = signal_protocol_key_helper_generate_pre_keys(&head, start, count, e2e_ctx_signal(ctx));
    if (sg < 0)
        return sg_err(sg);
    for (node = head; node != NULL && rc == SOTTO_OK;
         node = signal_protocol_key_helper_key_list_next(node))
        rc = prekey_emit(signal_protocol_key_helper_key_list_element(node), each, arg);
    signal_protocol_key_helper_key_list_free(head); /* also unrefs the prekeys */
    return rc;
}

enum sotto_err e2e_prekeys_generate(struct e2e_ctx *ctx, uint32_t start_id, unsigned count,
                                    e2e_prekey_fn each, void *arg)
{
    /* ids wrap within 1..PREKEY_ID_MAX; reduce here so the library's own arithmetic (an
     * unsigned start - 1 + i) never wraps at 2^32 */
    /* 0 counts as the id before 1 */
    uint64_t next = start_id == 0 ? PREKEY_ID_MAX : (start_id - 1) % PREKEY_ID_MAX + 1;
    enum sotto_err rc = SOTTO_OK;

    if (each == NULL)
        return SOTTO_EINVAL;
    while (count > 0 && rc == SOTTO_OK) {
        unsigned n = count < PREKEY_BATCH ? count : PREKEY_BATCH;
        rc = prekey_batch(ctx, (uint32_t)next, n, each, arg);
        next = (next - 1 + n) % PREKEY_ID_MAX + 1;
        count -= n;
    }
    return rc;
}

/* The library's identity pair from our bytes; refuses a pair whose halves do not belong. */
static enum sotto_err identity_import(struct e2e_ctx *ctx, const uint8_t pub[static E2E_KEY_LEN],
                                      const uint8_t priv[static E2E_PRIV_LEN],
                                      ratchet_identity_key_pair **out)
{
    uint8_t derived[E2E_KEY_LEN];
    ec_private_key *k = NULL;
    ec_public_key *p = NULL;
    enum sotto_err rc;
    int sg;

    *out = NULL;
    rc = e2e_public_from_private(ctx, priv, derived);
    if (rc != SOTTO_OK)
        return rc;
    if (sodium_memcmp(derived, pub, E2E_KEY_LEN) != 0)
        return SOTTO_EINVAL;
    rc = priv_import(ctx, priv, &k);
    if (rc != SOTTO_OK)
        return rc;
    sg = curve_decode_point(&p, pub, E2E_KEY_LEN, e2e_ctx_signal(ctx));
    if (sg >= 0)
        sg = ratchet_identity_key_pair_create(out, p, k); /* takes its own references */
    if (sg < 0) {
        *out = NULL;
        rc = sg_err(sg);
    }
    SIGNAL_UNREF(p);
    SIGNAL_UNREF(k);
    return rc;
}

static enum sotto_err signed_prekey_emit(const session_signed_pre_key *spk, e2e_prekey_fn each,
                                         void *arg)
{
    struct e2e_prekey out = {.id = session_signed_pre_key_get_id(spk)};
    signal_buffer *rec = NULL;
    enum sotto_err rc;
    int sg;

    if (session_signed_pre_key_get_signature_len(spk) != E2E_SIG_LEN)
        return SOTTO_ECRYPTO;
    memcpy(out.sig, session_signed_pre_key_get_signature(spk), E2E_SIG_LEN);
    rc = pub_export(ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)), out.pub);
    if (rc != SOTTO_OK)
        return rc;
    sg = session_signed_pre_key_serialize(&rec, spk);
    if (sg < 0)
        return sg_err(sg);
    out.record = signal_buffer_const_data(rec);
    out.record_len = signal_buffer_len(rec);
    rc = each(arg, &out);
    signal_buffer_bzero_free(rec);
    return rc;
}

enum sotto_err e2e_signed_prekey_generate(struct e2e_ctx *ctx,
                                          const uint8_t identity_pub[static E2E_KEY_LEN],
                                          const uint8_t identity_priv[static E2E_PRIV_LEN],
                                          uint32_t id, uint64_t timestamp_ms, e2e_prekey_fn each,
                                          void *arg)
{
    ratchet_identity_key_pair *ikp = NULL;
    session_signed_pre_key *spk = NULL;
    enum sotto_err rc;
    int sg;

    if (each == NULL)
        return SOTTO_EINVAL;
    rc = identity_import(ctx, identity_pub, identity_priv, &ikp);
    if (rc != SOTTO_OK)
        return rc;
    sg = signal_protocol_key_helper_generate_signed_pre_key(&spk, ikp, id, timestamp_ms,
                                                            e2e_ctx_signal(ctx));
    if (sg < 0) {
        rc = sg_err(sg);
        goto out;
    }
    rc = signed_prekey_emit(spk, each, arg);
out:
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(ikp);
    return rc;
}
