/* src/util/tlscert.h: self-signed TLS certificates kept in files, for servers whose
 * certificate proves nothing by itself (the directory is pinned by clients; a node proves its
 * identity key inside the link, docs/DESIGN.md), and the pin clients compare: the hex SHA-256
 * of the certificate's DER SubjectPublicKeyInfo. */
#ifndef SOTTO_UTIL_TLSCERT_H
#define SOTTO_UTIL_TLSCERT_H

#include <stdbool.h>
#include <stddef.h>

#include "sotto/err.h"

#define TLS_PIN_HEX_LEN 65 /* 64 hex digits and a NUL */

struct sotto_env;

/* Makes sure `key_path` holds a PEM private key (EC P-256, made when the file does not exist,
 * mode 0600) and `cert_path` a self-signed certificate for it (CN `cn`, 20 years, made when it
 * does not exist). A certificate left without its key is replaced. Both are kept, so the pin
 * stays across restarts; when two processes race, the first file written wins. *generated is
 * true when a new key was made. Logs OpenSSL's reason (never key material): SOTTO_ECRYPTO,
 * SOTTO_EIO for a file that cannot be written, SOTTO_EINVAL for NULL paths. */
enum sotto_err tls_self_signed_ensure(const struct sotto_env *env, const char *cert_path,
                                      const char *key_path, const char *cn, bool *generated);

/* The pin of a DER SubjectPublicKeyInfo. */
void tls_pin_of_spki(const unsigned char *der, size_t len, char out[static TLS_PIN_HEX_LEN]);

/* The pin of the first certificate in a PEM file: SOTTO_ECRYPTO when it cannot be read. */
enum sotto_err tls_pin_of_cert_file(const char *cert_path, char out[static TLS_PIN_HEX_LEN]);

/* Logs OpenSSL's oldest queued error as "TLS: what [path]: reason", clears the queue and
 * returns SOTTO_ECRYPTO. */
enum sotto_err tls_log_error(const struct sotto_env *env, const char *what, const char *path);

#endif
