/* src/directory/tls.c: the server's TLS context (TLS 1.3 only) over its certificate: the
 * user's, or a self-signed one kept in files (util/tlscert.c). */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "directory/tls.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "util/tlscert.h"

#define CERT_CN "sotto-directory"

void dir_tls_pin_of_spki(const unsigned char *der, size_t len, char out[static DIR_PIN_HEX_LEN])
{
    tls_pin_of_spki(der, len, out);
}

static enum sotto_err pin_of(SSL_CTX *ctx, char out[static DIR_PIN_HEX_LEN])
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    EVP_PKEY *pub = cert != NULL ? X509_get0_pubkey(cert) : NULL;
    unsigned char *der = NULL;
    int len;

    if (pub == NULL || (len = i2d_PUBKEY(pub, &der)) <= 0)
        return SOTTO_ECRYPTO;
    dir_tls_pin_of_spki(der, (size_t)len, out);
    OPENSSL_free(der);
    return SOTTO_OK;
}

static SSL_CTX *ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return NULL;
    /* TLS 1.3 only; small idle connections (thousands are open at once) */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    return ctx;
}

enum sotto_err dir_tls_load(struct dir_tls *t, const struct sotto_env *env, const char *cert_path,
                            const char *key_path)
{
    memset(t, 0, sizeof(*t));
    t->ctx = ctx_new();
    if (t->ctx == NULL)
        return tls_log_error(env, "cannot make a TLS 1.3 context", NULL);
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_path) != 1) {
        tls_log_error(env, "cannot read the certificate", cert_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        tls_log_error(env, "cannot read the private key", key_path);
        goto fail;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        tls_log_error(env, "the private key does not belong to the certificate", key_path);
        goto fail;
    }
    if (pin_of(t->ctx, t->pin) != SOTTO_OK) {
        tls_log_error(env, "cannot read the certificate's public key", cert_path);
        goto fail;
    }
    return SOTTO_OK;
fail:
    dir_tls_clear(t);
    return SOTTO_ECRYPTO;
}

void dir_tls_clear(struct dir_tls *t)
{
    SSL_CTX_free(t->ctx);
    memset(t, 0, sizeof(*t));
}

enum sotto_err dir_tls_self_signed(struct dir_tls *t, const struct sotto_env *env,
                                   const char *cert_path, const char *key_path)
{
    bool generated = false;
    enum sotto_err rc;

    memset(t, 0, sizeof(*t));
    rc = tls_self_signed_ensure(env, cert_path, key_path, CERT_CN, &generated);
    if (rc == SOTTO_OK)
        rc = dir_tls_load(t, env, cert_path, key_path);
    t->generated = rc == SOTTO_OK && generated;
    return rc;
}
