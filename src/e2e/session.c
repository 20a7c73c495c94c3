/* src/e2e/session.c: Signal sessions over a caller's storage (session.h): the context, X3DH
 * from a bundle, encryption and decryption with Sotto's checks in front of the library, and its
 * errors as ours. The library's stores are in session_store.c. */
#include <string.h>

#include <sodium.h>

#include <signal/curve.h>
#include <signal/protocol.h>
#include <signal/session_builder.h>
#include <signal/session_cipher.h>
#include <signal/session_pre_key.h>
#include <signal/session_record.h>
#include <signal/session_state.h>
#include <signal/signal_protocol.h>

#include "e2e/session_int.h"
#include "sotto/env.h"
#include "util/secret.h"

#define PREKEY_ID_MAX 0xfffffe /* the library's ids are 24-bit; 0xffffff means "none" */

/* An address on the stack, for the duration of one call (the library keeps the pointer). */
struct address {
    char name[E2E_ADDRESS_LEN + 1];
    signal_protocol_address a;
};

void e2e_address_name(const uint8_t key[static E2E_KEY_LEN], char out[static E2E_ADDRESS_LEN + 1])
{
    sodium_bin2hex(out, E2E_ADDRESS_LEN + 1, key, E2E_KEY_LEN);
}

static void address_of(struct address *ad, const uint8_t key[static E2E_KEY_LEN])
{
    e2e_address_name(key, ad->name);
    ad->a.name = ad->name;
    ad->a.name_len = E2E_ADDRESS_LEN;
    ad->a.device_id = E2E_DEVICE_ID;
}

/* ---- the context ---- */

static bool store_complete(const struct e2e_session_store *st)
{
    return st != NULL && st->identity != NULL && st->trust != NULL && st->session_load != NULL &&
           st->session_save != NULL && st->session_delete != NULL && st->prekey_load != NULL &&
           st->prekey_remove != NULL && st->signed_prekey_load != NULL &&
           st->sender_key_load != NULL && st->sender_key_save != NULL;
}

enum sotto_err e2e_session_open(struct e2e_session **out, const struct sotto_env *env,
                                struct e2e_ctx *ctx, const struct e2e_session_store *store)
{
    struct e2e_session *s;
    enum sotto_err rc;

    *out = NULL;
    if (env == NULL || ctx == NULL || !store_complete(store))
        return SOTTO_EINVAL;
    s = sotto_zalloc(env, sizeof(*s));
    if (s == NULL)
        return SOTTO_ENOMEM;
    s->env = env;
    s->ctx = ctx;
    s->store = *store;
    rc = SOTTO_ENOMEM;
    s->priv = secret_alloc(E2E_PRIV_LEN);
    if (s->priv == NULL)
        goto out;
    rc = store->identity(store->arg, ctx, s->pub, s->priv, &s->registration_id);
    if (rc != SOTTO_OK)
        goto out;
    rc = SOTTO_ENOMEM;
    if (signal_protocol_store_context_create(&s->sp, e2e_ctx_signal(ctx)) < 0) {
        s->sp = NULL;
        goto out;
    }
    rc = e2e_session_stores_set(s) < 0 ? SOTTO_ECRYPTO : SOTTO_OK;
out:
    if (rc != SOTTO_OK)
        e2e_session_free(s);
    else
        *out = s;
    return rc;
}

void e2e_session_free(struct e2e_session *s)
{
    if (s == NULL)
        return;
    if (s->sp != NULL)
        signal_protocol_store_context_destroy(s->sp);
    secret_free(s->priv);
    sotto_free(s->env, s);
}

/* Starts a call: no store error yet, and the trust rule the call needs. */
static void call_begin(struct e2e_session *s, bool sending)
{
    s->store_err = SOTTO_OK;
    s->sending = sending;
}

/* The library's result as ours; a store error met on the way wins. */
static enum sotto_err call_result(const struct e2e_session *s, int sg)
{
    if (s->store_err != SOTTO_OK)
        return s->store_err;
    if (sg >= 0)
        return SOTTO_OK;
    switch (sg) {
    case SG_ERR_NOMEM:
        return SOTTO_ENOMEM;
    case SG_ERR_DUPLICATE_MESSAGE:
        return SOTTO_EDUPLICATE;
    case SG_ERR_NO_SESSION:
        return SOTTO_ENOSESSION;
    case SG_ERR_INVALID_KEY_ID:
        return SOTTO_ENOPREKEY;
    case SG_ERR_UNTRUSTED_IDENTITY:
        return SOTTO_EUNTRUSTED;
    case SG_ERR_INVAL:
    case SG_ERR_INVALID_KEY:
    case SG_ERR_INVALID_MAC:
    case SG_ERR_INVALID_MESSAGE:
    case SG_ERR_INVALID_VERSION:
    case SG_ERR_LEGACY_MESSAGE:
    case SG_ERR_STALE_KEY_EXCHANGE:
    case SG_ERR_INVALID_PROTO_BUF:
        return SOTTO_EBADMSG;
    default:
        return SOTTO_ECRYPTO;
    }
}

enum sotto_err e2e_session_exists(struct e2e_session *s, const uint8_t peer[static E2E_KEY_LEN],
                                  bool *exists)
{
    int n;

    *exists = false;
    call_begin(s, false);
    n = e2e_session_present(s, peer);
    if (n < 0)
        return call_result(s, n);
    *exists = n == 1;
    return SOTTO_OK;
}

/* ---- building a session from a bundle ---- */

static enum sotto_err bundle_check(const struct e2e_bundle *b)
{
    ec_public_key *id = NULL;
    int ok;

    if (b->device_id != E2E_DEVICE_ID || b->signed_prekey_id > PREKEY_ID_MAX ||
        b->prekey_id > PREKEY_ID_MAX)
        return SOTTO_EPROTO;
    if (e2e_pubkey_check(b->identity) != SOTTO_OK ||
        e2e_pubkey_check(b->signed_prekey) != SOTTO_OK ||
        (b->prekey_id != 0 && e2e_pubkey_check(b->prekey) != SOTTO_OK))
        return SOTTO_EBADKEY;
    if (curve_decode_point(&id, b->identity, E2E_KEY_LEN, NULL) < 0)
        return SOTTO_EBADKEY;
    /* 1 is valid; 0 invalid; negative an error, never valid */
    ok = curve_verify_signature(id, b->signed_prekey, E2E_KEY_LEN, b->signed_prekey_sig,
                                E2E_SIG_LEN) == 1;
    SIGNAL_UNREF(id);
    return ok ? SOTTO_OK : SOTTO_EBADSIG;
}

/* The library's bundle of `b`; it takes its own references on the keys. */
static int bundle_make(struct e2e_session *s, const struct e2e_bundle *b,
                       session_pre_key_bundle **out)
{
    signal_context *g = e2e_ctx_signal(s->ctx);
    ec_public_key *id = NULL, *spk = NULL, *pk = NULL;
    int sg;

    *out = NULL;
    sg = curve_decode_point(&id, b->identity, E2E_KEY_LEN, g);
    if (sg >= 0)
        sg = curve_decode_point(&spk, b->signed_prekey, E2E_KEY_LEN, g);
    if (sg >= 0 && b->prekey_id != 0)
        sg = curve_decode_point(&pk, b->prekey, E2E_KEY_LEN, g);
    if (sg >= 0)
        sg = session_pre_key_bundle_create(out, b->registration_id, E2E_DEVICE_ID, b->prekey_id, pk,
                                           b->signed_prekey_id, spk, b->signed_prekey_sig,
                                           E2E_SIG_LEN, id);
    if (sg < 0)
        *out = NULL;
    SIGNAL_UNREF(id);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
    return sg;
}

enum sotto_err e2e_session_from_bundle(struct e2e_session *s, const struct e2e_bundle *b)
{
    session_pre_key_bundle *bundle = NULL;
    session_builder *builder = NULL;
    struct address ad;
    enum sotto_err rc;
    int sg;

    if (s == NULL || b == NULL)
        return SOTTO_EINVAL;
    rc = bundle_check(b);
    if (rc != SOTTO_OK)
        return rc;
    call_begin(s, true);
    rc = s->store.trust(s->store.arg, b->identity, true);
    if (rc != SOTTO_OK)
        return rc;
    address_of(&ad, b->identity);
    sg = bundle_make(s, b, &bundle);
    if (sg >= 0)
        sg = session_builder_create(&builder, s->sp, &ad.a, e2e_ctx_signal(s->ctx));
    if (sg >= 0)
        sg = session_builder_process_pre_key_bundle(builder, bundle);
    rc = call_result(s, sg);
    if (rc == SOTTO_EBADMSG)
        rc = SOTTO_ECRYPTO; /* the bundle was checked: the library failed otherwise */
    session_builder_free(builder);
    SIGNAL_UNREF(bundle);
    return rc;
}

/* ---- encrypting ---- */

/* True when `key` serializes to exactly `peer`. */
static bool key_equals(const ec_public_key *key, const uint8_t peer[static E2E_KEY_LEN],
                       enum sotto_err *rc)
{
    signal_buffer *buf = NULL;
    bool same;

    *rc = SOTTO_OK;
    if (key == NULL)
        return false;
    if (ec_public_key_serialize(&buf, key) < 0) {
        *rc = SOTTO_ENOMEM;
        return false;
    }
    same = signal_buffer_len(buf) == E2E_KEY_LEN &&
           sodium_memcmp(signal_buffer_data(buf), peer, E2E_KEY_LEN) == 0;
    signal_buffer_free(buf);
    return same;
}

/* Pitfall 12: the library checks trust only when a session is built, so before each encrypt
 * the stored session must be one that can send, with `peer` as its remote identity. */
static enum sotto_err session_check(struct e2e_session *s, const struct address *ad,
                                    const uint8_t peer[static E2E_KEY_LEN])
{
    session_record *record = NULL;
    session_state *state;
    enum sotto_err rc;
    int sg;

    sg = signal_protocol_session_load_session(s->sp, &record, &ad->a);
    if (sg < 0)
        return call_result(s, sg);
    rc = SOTTO_ENOSESSION;
    state = session_record_get_state(record);
    if (session_record_is_fresh(record) || state == NULL || !session_state_has_sender_chain(state))
        goto out;
    if (!key_equals(session_state_get_remote_identity_key(state), peer, &rc))
        rc = rc != SOTTO_OK ? rc : SOTTO_EUNTRUSTED;
out:
    SIGNAL_UNREF(record);
    return rc;
}

static enum sotto_err ciphertext_copy(const ciphertext_message *msg, enum e2e_kind *kind,
                                      uint8_t *out, size_t cap, size_t *out_len)
{
    signal_buffer *ser = ciphertext_message_get_serialized(msg);
    int type = ciphertext_message_get_type(msg);

    if (type != CIPHERTEXT_SIGNAL_TYPE && type != CIPHERTEXT_PREKEY_TYPE)
        return SOTTO_ECRYPTO;
    if (ser == NULL)
        return SOTTO_ECRYPTO;
    if (signal_buffer_len(ser) > cap)
        return SOTTO_ETOOBIG;
    memcpy(out, signal_buffer_const_data(ser), signal_buffer_len(ser));
    *out_len = signal_buffer_len(ser);
    *kind = type == CIPHERTEXT_PREKEY_TYPE ? E2E_KIND_PREKEY : E2E_KIND_SIGNAL;
    return SOTTO_OK;
}

enum sotto_err e2e_session_encrypt(struct e2e_session *s, const uint8_t peer[static E2E_KEY_LEN],
                                   const uint8_t *plain, size_t len, enum e2e_kind *kind,
                                   uint8_t *out, size_t cap, size_t *out_len)
{
    ciphertext_message *msg = NULL;
    session_cipher *cipher = NULL;
    struct address ad;
    enum sotto_err rc;
    int sg;

    *out_len = 0;
    *kind = E2E_KIND_SIGNAL;
    if (s == NULL || (plain == NULL && len > 0) || out == NULL)
        return SOTTO_EINVAL;
    if (len > E2E_PLAIN_MAX)
        return SOTTO_ETOOBIG;
    call_begin(s, true);
    rc = s->store.trust(s->store.arg, peer, true);
    if (rc != SOTTO_OK)
        return rc;
    address_of(&ad, peer);
    rc = session_check(s, &ad, peer);
    if (rc != SOTTO_OK)
        return rc;
    sg = session_cipher_create(&cipher, s->sp, &ad.a, e2e_ctx_signal(s->ctx));
    if (sg >= 0)
        sg = session_cipher_encrypt(cipher, plain, len, &msg);
    rc = call_result(s, sg);
    if (rc == SOTTO_EBADMSG)
        rc = SOTTO_ECRYPTO;
    if (rc == SOTTO_OK)
        rc = ciphertext_copy(msg, kind, out, cap, out_len);
    SIGNAL_UNREF(msg);
    session_cipher_free(cipher);
    return rc;
}

/* ---- decrypting ---- */

/* DESIGN.md, "Trust": a PreKey message counts only from the key proven on the link. */
static enum sotto_err prekey_message_decrypt(struct e2e_session *s, session_cipher *cipher,
                                             const uint8_t peer[static E2E_KEY_LEN],
                                             const uint8_t *ct, size_t len, signal_buffer **plain)
{
    pre_key_signal_message *m = NULL;
    enum sotto_err rc;
    int sg;

    sg = pre_key_signal_message_deserialize(&m, ct, len, e2e_ctx_signal(s->ctx));
    if (sg < 0)
        return sg == SG_ERR_NOMEM ? SOTTO_ENOMEM : SOTTO_EBADMSG;
    if (!key_equals(pre_key_signal_message_get_identity_key(m), peer, &rc)) {
        rc = rc != SOTTO_OK ? rc : SOTTO_EUNTRUSTED;
        goto out;
    }
    rc = call_result(s, session_cipher_decrypt_pre_key_signal_message(cipher, m, NULL, plain));
out:
    SIGNAL_UNREF(m);
    return rc;
}

static enum sotto_err signal_message_decrypt(struct e2e_session *s, session_cipher *cipher,
                                             const uint8_t *ct, size_t len, signal_buffer **plain)
{
    signal_message *m = NULL;
    enum sotto_err rc;
    int sg;

    sg = signal_message_deserialize(&m, ct, len, e2e_ctx_signal(s->ctx));
    if (sg < 0)
        return sg == SG_ERR_NOMEM ? SOTTO_ENOMEM : SOTTO_EBADMSG;
    rc = call_result(s, session_cipher_decrypt_signal_message(cipher, m, NULL, plain));
    SIGNAL_UNREF(m);
    return rc;
}

static enum sotto_err decrypt_checks(struct e2e_session *s, const uint8_t peer[static E2E_KEY_LEN],
                                     enum e2e_kind kind, const uint8_t *ct, size_t len)
{
    if (kind != E2E_KIND_SIGNAL && kind != E2E_KIND_PREKEY)
        return SOTTO_EBADMSG;
    if (len == 0 || ct == NULL)
        return SOTTO_EBADMSG;
    if (len > E2E_CIPHER_MAX)
        return SOTTO_ETOOBIG;
    return s->store.trust(s->store.arg, peer, false);
}

enum sotto_err e2e_session_decrypt(struct e2e_session *s, const uint8_t peer[static E2E_KEY_LEN],
                                   enum e2e_kind kind, const uint8_t *ct, size_t len, uint8_t *out,
                                   size_t cap, size_t *out_len)
{
    session_cipher *cipher = NULL;
    signal_buffer *plain = NULL;
    struct address ad;
    enum sotto_err rc;

    *out_len = 0;
    if (s == NULL || (out == NULL && cap > 0))
        return SOTTO_EINVAL;
    call_begin(s, false);
    rc = decrypt_checks(s, peer, kind, ct, len);
    if (rc != SOTTO_OK)
        goto out;
    address_of(&ad, peer);
    rc = call_result(s, session_cipher_create(&cipher, s->sp, &ad.a, e2e_ctx_signal(s->ctx)));
    if (rc != SOTTO_OK)
        goto out;
    if (kind == E2E_KIND_PREKEY)
        rc = prekey_message_decrypt(s, cipher, peer, ct, len, &plain);
    else
        rc = signal_message_decrypt(s, cipher, ct, len, &plain);
    if (rc == SOTTO_OK && signal_buffer_len(plain) > cap)
        rc = SOTTO_ETOOBIG;
    if (rc == SOTTO_OK) {
        memcpy(out, signal_buffer_const_data(plain), signal_buffer_len(plain));
        *out_len = signal_buffer_len(plain);
    }
out:
    if (rc != SOTTO_OK && cap > 0)
        sodium_memzero(out, cap);
    signal_buffer_bzero_free(plain);
    session_cipher_free(cipher);
    return rc;
}
