/* src/directory/tls.h: the directory's TLS context (TLS 1.3 only), its certificate, and the
 * pin clients check: the hex SHA-256 of the certificate's DER SubjectPublicKeyInfo. */
#ifndef SOTTO_DIRECTORY_TLS_H
#define SOTTO_DIRECTORY_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "sotto/err.h"

#define DIR_PIN_HEX_LEN 65 /* 64 hex digits and a NUL */

struct sotto_env;
struct ssl_ctx_st;

struct dir_tls {
    struct ssl_ctx_st *ctx; /* owned; shared by the workers forked after it is made */
    char pin[DIR_PIN_HEX_LEN];
    bool generated; /* a new key was made at this start */
};

/* Makes a server context from a PEM certificate chain and a PEM private key. Logs OpenSSL's
 * reason (never key material) and returns SOTTO_ECRYPTO when they cannot be read or do not
 * belong together. `t` is cleared on failure. */
enum sotto_err dir_tls_load(struct dir_tls *t, const struct sotto_env *env, const char *cert_path,
                            const char *key_path);
/* The same for a self-signed certificate kept in `cert_path` and `key_path` (both 0600): an
 * EC P-256 key is made when `key_path` does not exist, and a certificate for it (CN
 * sotto-directory, 20 years) when `cert_path` does not; both are reused at the next start, so
 * the pin stays. A certificate left without its key is replaced. */
enum sotto_err dir_tls_self_signed(struct dir_tls *t, const struct sotto_env *env,
                                   const char *cert_path, const char *key_path);
/* Frees the context. Safe on a cleared or zeroed `t`. */
void dir_tls_clear(struct dir_tls *t);

/* The pin of a DER SubjectPublicKeyInfo (exposed for tests). */
void dir_tls_pin_of_spki(const unsigned char *der, size_t len, char out[static DIR_PIN_HEX_LEN]);

#endif
