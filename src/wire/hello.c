/* src/wire/hello.c: the link proof. Each end signs, with its identity key and the label
 * "sotto-link-v1", the link's TLS exporter value, its role and its HELLO's fields, so that a
 * proof is valid for one TLS connection, one end of it and one offer of versions only. */
#include <string.h>

#include "wire/wire.h"
#include "wire/wire_int.h"

enum sotto_err wire_hello_check(const struct wire_hello *hello)
{
    if (hello->version_min < 1 || hello->version_min > hello->version_max ||
        (hello->role != WIRE_ROLE_DIALER && hello->role != WIRE_ROLE_LISTENER))
        return SOTTO_EPROTO;
    return e2e_pubkey_check(hello->key);
}

void wire_hello_signed_bytes(const struct wire_hello *hello,
                             const uint8_t exporter[static WIRE_EXPORTER_LEN],
                             uint8_t out[static WIRE_HELLO_SIGNED_LEN])
{
    uint8_t *p = out;

    memcpy(p, exporter, WIRE_EXPORTER_LEN);
    p += WIRE_EXPORTER_LEN;
    *p++ = hello->role;
    memcpy(p, hello->key, E2E_KEY_LEN);
    p += E2E_KEY_LEN;
    *p++ = hello->version_min;
    *p = hello->version_max;
}

enum sotto_err wire_hello_sign(struct e2e_ctx *ctx, const uint8_t priv[static E2E_PRIV_LEN],
                               const uint8_t exporter[static WIRE_EXPORTER_LEN],
                               struct wire_hello *hello)
{
    uint8_t pub[E2E_KEY_LEN], msg[WIRE_HELLO_SIGNED_LEN];
    enum sotto_err rc;

    memset(hello->sig, 0, sizeof(hello->sig));
    if (ctx == NULL || wire_hello_check(hello) != SOTTO_OK)
        return SOTTO_EINVAL;
    rc = e2e_public_from_private(ctx, priv, pub);
    if (rc != SOTTO_OK)
        return rc;
    /* a proof by another key would only be refused by the peer, as a forgery */
    if (memcmp(pub, hello->key, E2E_KEY_LEN) != 0)
        return SOTTO_EINVAL;
    wire_hello_signed_bytes(hello, exporter, msg);
    rc = e2e_sign(ctx, priv, WIRE_LINK_LABEL, msg, sizeof(msg), hello->sig);
    if (rc != SOTTO_OK)
        memset(hello->sig, 0, sizeof(hello->sig));
    return rc;
}

enum sotto_err wire_hello_verify(const struct wire_hello *hello,
                                 const uint8_t exporter[static WIRE_EXPORTER_LEN],
                                 uint8_t expected_role)
{
    uint8_t msg[WIRE_HELLO_SIGNED_LEN];
    enum sotto_err rc;

    if (expected_role != WIRE_ROLE_DIALER && expected_role != WIRE_ROLE_LISTENER)
        return SOTTO_EINVAL;
    rc = wire_hello_check(hello);
    if (rc != SOTTO_OK)
        return rc;
    if (hello->role != expected_role)
        return SOTTO_EBADSIG;
    wire_hello_signed_bytes(hello, exporter, msg);
    return e2e_verify(hello->key, WIRE_LINK_LABEL, msg, sizeof(msg), hello->sig);
}

enum sotto_err wire_version_pick(const struct wire_hello *peer, uint8_t *version)
{
    uint8_t lo = peer->version_min > WIRE_VERSION_MIN ? peer->version_min : WIRE_VERSION_MIN;
    uint8_t hi = peer->version_max < WIRE_VERSION_MAX ? peer->version_max : WIRE_VERSION_MAX;

    *version = 0;
    if (peer->version_min < 1 || peer->version_min > peer->version_max || lo > hi)
        return SOTTO_EPROTO;
    *version = hi;
    return SOTTO_OK;
}
