/* src/directory/tls.c: the server's TLS context and its self-signed certificate. The pin is
 * a hash of the public key alone, so a certificate remade for the same key keeps it. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "directory/tls.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "util/file.h"

#define CERT_DAYS  (20 * 365)
#define SERIAL_LEN 16
#define CERT_CN    "sotto-directory"

static enum sotto_err tls_fail(const struct sotto_env *env, const char *what, const char *path)
{
    char reason[256] = "no reason given";
    unsigned long e = ERR_get_error();

    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    log_error(env->log, "TLS: %s%s%s: %s", what, path != NULL ? " " : "", path != NULL ? path : "",
              reason);
    return SOTTO_ECRYPTO;
}

void dir_tls_pin_of_spki(const unsigned char *der, size_t len, char out[static DIR_PIN_HEX_LEN])
{
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, der, len);
    sodium_bin2hex(out, DIR_PIN_HEX_LEN, h, sizeof(h));
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
        return tls_fail(env, "cannot make a TLS 1.3 context", NULL);
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_path) != 1) {
        tls_fail(env, "cannot read the certificate", cert_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        tls_fail(env, "cannot read the private key", key_path);
        goto fail;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        tls_fail(env, "the private key does not belong to the certificate", key_path);
        goto fail;
    }
    if (pin_of(t->ctx, t->pin) != SOTTO_OK) {
        tls_fail(env, "cannot read the certificate's public key", cert_path);
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

/* Writes what `bio` holds to a new file, mode 0600. */
static enum sotto_err bio_to_file(BIO *bio, const char *path)
{
    char *p = NULL;
    long len = BIO_get_mem_data(bio, &p);

    if (len <= 0 || p == NULL)
        return SOTTO_ECRYPTO;
    return file_write_new(path, p, (size_t)len, 0600);
}

static enum sotto_err key_make(const struct sotto_env *env, const char *path)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *bio = BIO_new(BIO_s_secmem());
    enum sotto_err rc = SOTTO_ECRYPTO;

    if (key == NULL || bio == NULL ||
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
        tls_fail(env, "cannot make a key", NULL);
    else
        rc = bio_to_file(bio, path);
    if (rc == SOTTO_EEXIST)
        rc = SOTTO_OK; /* another instance made it first: use theirs */
    else if (rc == SOTTO_OK)
        log_info(env->log, "made a new TLS key %s", path);
    else if (rc != SOTTO_ECRYPTO)
        log_error(env->log, "cannot write %s: %s", path, strerror(errno));
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

static EVP_PKEY *key_read(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    return key;
}

static bool cert_fields(X509 *x, EVP_PKEY *key, const struct sotto_env *env)
{
    uint8_t serial[SERIAL_LEN];
    BIGNUM *bn;
    X509_NAME *name = X509_get_subject_name(x);
    bool ok;

    sotto_random(env, serial, sizeof(serial));
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
         X509_set_version(x, X509_VERSION_3) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
         X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) != NULL &&
         X509_set_pubkey(x, key) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)CERT_CN, -1,
                                    -1, 0) == 1 &&
         X509_set_issuer_name(x, name) == 1 && X509_sign(x, key, EVP_sha256()) > 0;
    BN_free(bn);
    return ok;
}

static enum sotto_err cert_make(const struct sotto_env *env, const char *cert_path,
                                const char *key_path)
{
    EVP_PKEY *key = key_read(key_path);
    X509 *x = X509_new();
    BIO *bio = BIO_new(BIO_s_mem());
    enum sotto_err rc = SOTTO_ECRYPTO;

    if (key == NULL)
        tls_fail(env, "cannot read the private key", key_path);
    else if (x == NULL || bio == NULL || !cert_fields(x, key, env) ||
             PEM_write_bio_X509(bio, x) != 1)
        tls_fail(env, "cannot make a self-signed certificate", NULL);
    else
        rc = bio_to_file(bio, cert_path);
    if (rc == SOTTO_EEXIST)
        rc = SOTTO_OK;
    else if (rc != SOTTO_OK && rc != SOTTO_ECRYPTO)
        log_error(env->log, "cannot write %s: %s", cert_path, strerror(errno));
    EVP_PKEY_free(key);
    X509_free(x);
    BIO_free(bio);
    return rc;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void warn_if_readable(const struct sotto_env *env, const char *path)
{
    struct stat st;

    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        log_warn(env->log, "%s is readable by others: chmod 600 it", path);
}

enum sotto_err dir_tls_self_signed(struct dir_tls *t, const struct sotto_env *env,
                                   const char *cert_path, const char *key_path)
{
    enum sotto_err rc = SOTTO_OK;
    bool generated = false;

    memset(t, 0, sizeof(*t));
    if (cert_path == NULL || key_path == NULL)
        return SOTTO_EINVAL;
    if (!exists(key_path)) {
        if (exists(cert_path)) {
            log_warn(env->log, "%s has no key beside it: making a new one", cert_path);
            if (unlink(cert_path) != 0)
                log_error(env->log, "cannot remove %s: %s", cert_path, strerror(errno));
        }
        rc = key_make(env, key_path);
        generated = rc == SOTTO_OK;
    }
    warn_if_readable(env, key_path);
    if (rc == SOTTO_OK && !exists(cert_path))
        rc = cert_make(env, cert_path, key_path);
    if (rc == SOTTO_OK)
        rc = dir_tls_load(t, env, cert_path, key_path);
    t->generated = rc == SOTTO_OK && generated;
    return rc;
}
