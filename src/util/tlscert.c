/* src/util/tlscert.c: a self-signed certificate and its key, kept in 0600 files. The pin is a
 * hash of the public key alone, so a certificate remade for the same key keeps it. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "sotto/env.h"
#include "sotto/log.h"
#include "util/file.h"
#include "util/tlscert.h"

#define CERT_DAYS  (20 * 365)
#define SERIAL_LEN 16

enum sotto_err tls_log_error(const struct sotto_env *env, const char *what, const char *path)
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

void tls_pin_of_spki(const unsigned char *der, size_t len, char out[static TLS_PIN_HEX_LEN])
{
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, der, len);
    sodium_bin2hex(out, TLS_PIN_HEX_LEN, h, sizeof(h));
}

enum sotto_err tls_pin_of_cert_file(const char *cert_path, char out[static TLS_PIN_HEX_LEN])
{
    BIO *bio = BIO_new_file(cert_path, "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *pub = x != NULL ? X509_get0_pubkey(x) : NULL;
    unsigned char *der = NULL;
    int len = pub != NULL ? i2d_PUBKEY(pub, &der) : 0;

    if (len > 0)
        tls_pin_of_spki(der, (size_t)len, out);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return len > 0 ? SOTTO_OK : SOTTO_ECRYPTO;
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
        tls_log_error(env, "cannot make a key", NULL);
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

static bool cert_fields(X509 *x, EVP_PKEY *key, const struct sotto_env *env, const char *cn)
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
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) == 1 &&
         X509_set_issuer_name(x, name) == 1 && X509_sign(x, key, EVP_sha256()) > 0;
    BN_free(bn);
    return ok;
}

static enum sotto_err cert_make(const struct sotto_env *env, const char *cert_path,
                                const char *key_path, const char *cn)
{
    EVP_PKEY *key = key_read(key_path);
    X509 *x = X509_new();
    BIO *bio = BIO_new(BIO_s_mem());
    enum sotto_err rc = SOTTO_ECRYPTO;

    if (key == NULL)
        tls_log_error(env, "cannot read the private key", key_path);
    else if (x == NULL || bio == NULL || !cert_fields(x, key, env, cn) ||
             PEM_write_bio_X509(bio, x) != 1)
        tls_log_error(env, "cannot make a self-signed certificate", NULL);
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

enum sotto_err tls_self_signed_ensure(const struct sotto_env *env, const char *cert_path,
                                      const char *key_path, const char *cn, bool *generated)
{
    enum sotto_err rc = SOTTO_OK;

    *generated = false;
    if (cert_path == NULL || key_path == NULL || cn == NULL)
        return SOTTO_EINVAL;
    if (!exists(key_path)) {
        if (exists(cert_path)) {
            log_warn(env->log, "%s has no key beside it: making a new one", cert_path);
            if (unlink(cert_path) != 0)
                log_error(env->log, "cannot remove %s: %s", cert_path, strerror(errno));
        }
        rc = key_make(env, key_path);
        *generated = rc == SOTTO_OK;
    }
    warn_if_readable(env, key_path);
    if (rc == SOTTO_OK && !exists(cert_path))
        rc = cert_make(env, cert_path, key_path, cn);
    return rc;
}
