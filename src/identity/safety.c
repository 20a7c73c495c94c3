/* src/identity/safety.c: safety numbers, the library's numeric fingerprint of two identity
 * keys, each side's stable identifier being its 15-digit number (DESIGN.md, Identity). */
#include <string.h>

#include <signal/curve.h>
#include <signal/fingerprint.h>
#include <signal/signal_protocol.h>

#include "identity/number.h"
#include "identity/safety.h"

#define SAFETY_SCANNABLE_VERSION 1
#define SAFETY_GROUP             5

/* The two public keys in the library's form, after e2e_pubkey_check(). */
struct safety_keys {
    ec_public_key *local;  /* owned */
    ec_public_key *remote; /* owned */
};

static void safety_keys_clear(struct safety_keys *k)
{
    SIGNAL_UNREF(k->local);
    SIGNAL_UNREF(k->remote);
}

static enum sotto_err key_decode(struct e2e_ctx *ctx, const uint8_t key[static E2E_KEY_LEN],
                                 ec_public_key **out)
{
    enum sotto_err rc = e2e_pubkey_check(key);
    int sg;

    *out = NULL;
    if (rc != SOTTO_OK)
        return rc;
    sg = curve_decode_point(out, key, E2E_KEY_LEN, e2e_ctx_signal(ctx));
    if (sg < 0) {
        *out = NULL;
        return sg == SG_ERR_NOMEM ? SOTTO_ENOMEM : SOTTO_EBADKEY;
    }
    return SOTTO_OK;
}

/* Copies the 60 digits and the serialized scannable form out of the library's fingerprint. */
static enum sotto_err safety_export(const fingerprint *fp, struct identity_safety *out)
{
    const char *text = displayable_fingerprint_text(fingerprint_get_displayable(fp));
    signal_buffer *scan = NULL;
    enum sotto_err rc = SOTTO_ECRYPTO;
    int sg;

    if (text == NULL || strlen(text) != SAFETY_DIGITS)
        return SOTTO_ECRYPTO;
    for (size_t i = 0; i < SAFETY_DIGITS; i++)
        if (text[i] < '0' || text[i] > '9')
            return SOTTO_ECRYPTO;
    memcpy(out->digits, text, SAFETY_DIGITS + 1);
    sg = scannable_fingerprint_serialize(&scan, fingerprint_get_scannable(fp));
    if (sg < 0)
        return sg == SG_ERR_NOMEM ? SOTTO_ENOMEM : SOTTO_ECRYPTO;
    if (signal_buffer_len(scan) > 0 && signal_buffer_len(scan) <= SAFETY_SCAN_MAX) {
        out->scannable_len = signal_buffer_len(scan);
        memcpy(out->scannable, signal_buffer_const_data(scan), out->scannable_len);
        rc = SOTTO_OK;
    }
    signal_buffer_free(scan);
    return rc;
}

static enum sotto_err safety_run(struct e2e_ctx *ctx, const char *local_id, const char *remote_id,
                                 const struct safety_keys *k, struct identity_safety *out)
{
    fingerprint_generator *gen = NULL;
    fingerprint *fp = NULL;
    enum sotto_err rc;
    int sg;

    sg = fingerprint_generator_create(&gen, SAFETY_ITERATIONS, SAFETY_SCANNABLE_VERSION,
                                      e2e_ctx_signal(ctx));
    if (sg < 0)
        return sg == SG_ERR_NOMEM ? SOTTO_ENOMEM : SOTTO_ECRYPTO;
    sg = fingerprint_generator_create_for(gen, local_id, k->local, remote_id, k->remote, &fp);
    if (sg < 0) {
        rc = sg == SG_ERR_NOMEM ? SOTTO_ENOMEM : SOTTO_ECRYPTO;
        goto out;
    }
    rc = safety_export(fp, out);
out:
    SIGNAL_UNREF(fp);
    fingerprint_generator_free(gen);
    return rc;
}

enum sotto_err identity_safety_compute(struct e2e_ctx *ctx, uint64_t local_number,
                                       const uint8_t local_key[static E2E_KEY_LEN],
                                       uint64_t remote_number,
                                       const uint8_t remote_key[static E2E_KEY_LEN],
                                       struct identity_safety *out)
{
    char local_id[NUMBER_DIGITS_LEN], remote_id[NUMBER_DIGITS_LEN];
    struct safety_keys k = {NULL, NULL};
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    if (local_number < NUMBER_MIN || local_number > NUMBER_MAX || remote_number < NUMBER_MIN ||
        remote_number > NUMBER_MAX)
        return SOTTO_EINVAL;
    identity_number_digits(local_number, local_id);
    identity_number_digits(remote_number, remote_id);
    rc = key_decode(ctx, local_key, &k.local);
    if (rc != SOTTO_OK)
        goto out;
    rc = key_decode(ctx, remote_key, &k.remote);
    if (rc != SOTTO_OK)
        goto out;
    rc = safety_run(ctx, local_id, remote_id, &k, out);
out:
    safety_keys_clear(&k);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

void identity_safety_grouped(const struct identity_safety *s, char out[static SAFETY_GROUPED_LEN])
{
    size_t o = 0;

    for (size_t i = 0; i < SAFETY_DIGITS; i++) {
        if (i > 0 && i % SAFETY_GROUP == 0)
            out[o++] = ' ';
        out[o++] = s->digits[i];
    }
    out[o] = '\0';
}

enum sotto_err identity_safety_compare(struct e2e_ctx *ctx, const struct identity_safety *mine,
                                       const uint8_t *theirs, size_t theirs_len)
{
    scannable_fingerprint *m = NULL, *t = NULL;
    enum sotto_err rc = SOTTO_EPROTO;

    if (theirs == NULL && theirs_len > 0)
        return SOTTO_EINVAL;
    if (mine->scannable_len == 0 || mine->scannable_len > SAFETY_SCAN_MAX)
        return SOTTO_EINVAL;
    if (theirs_len > SAFETY_SCAN_MAX)
        return SOTTO_ETOOBIG;
    if (scannable_fingerprint_deserialize(&m, mine->scannable, mine->scannable_len,
                                          e2e_ctx_signal(ctx)) < 0) {
        m = NULL;
        return SOTTO_EINVAL;
    }
    if (theirs_len == 0 ||
        scannable_fingerprint_deserialize(&t, theirs, theirs_len, e2e_ctx_signal(ctx)) < 0) {
        t = NULL;
        goto out;
    }
    /* the library checks mine.local == theirs.remote and mine.remote == theirs.local; 1 is a
     * match, 0 a difference, negative another version: only exactly 1 passes */
    rc = scannable_fingerprint_compare(m, t) == 1 ? SOTTO_OK : SOTTO_EMISMATCH;
out:
    SIGNAL_UNREF(t);
    SIGNAL_UNREF(m);
    return rc;
}
