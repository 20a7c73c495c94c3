/* src/net/net_int.h: private to src/net: the session, the URL, one HTTPS exchange (https.c),
 * the bytes a write signs (sign.c) and the checks of every answer (parse.c). The tests include
 * it to reach the pure parts. */
#ifndef SOTTO_NET_NET_INT_H
#define SOTTO_NET_NET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity/number.h"
#include "net/dir.h"
#include "sotto/err.h"

#define NET_HOST_HEADER_MAX (NET_HOST_MAX + 8) /* "[" host "]:" port */
#define NET_TARGET_MAX      128                /* "/v1/accounts/<username>/prekeys" and more */
#define NET_TIMESTAMP_MAX   20                 /* decimal digits of a uint64 */
#define NET_SIG_B64_LEN     89                 /* base64 of 64 bytes, padded, with its NUL */
#define NET_KEY_B64_LEN     45                 /* base64 of 33 bytes, padded, with its NUL */
#define NET_SIGN_LABEL      "sotto-dir-v1"
/* host \n method \n target \n hex(SHA-256) \n timestamp */
#define NET_SIGNED_MSG_MAX (NET_HOST_HEADER_MAX + 8 + NET_TARGET_MAX + 64 + NET_TIMESTAMP_MAX + 8)
#define NET_HEADERS_MAX    4

struct event_base;
struct ssl_ctx_st;

struct net_url {
    char host[NET_HOST_MAX + 1];               /* lowercase, an IPv6 literal without brackets */
    uint16_t port;                             /* 443 when none was given */
    char host_header[NET_HOST_HEADER_MAX + 1]; /* "host", "host:port" or "[v6]:port" */
    char normalized[NET_URL_MAX + 1];          /* "https://" host_header */
};

struct net_dir {
    const struct sotto_env *env; /* borrowed */
    struct event_base *base;     /* owned */
    struct ssl_ctx_st *tls;      /* owned: TLS 1.3 client context */
    struct net_url url;
    char pin[NET_PIN_HEX_LEN + 1]; /* expected; "" until the first certificate is seen */
    bool pin_accepted;             /* a handshake accepted a certificate with this pin */
    uint32_t timeout_ms;
    struct net_dir_problem problem;
    char seen_from[NET_SEEN_FROM_MAX + 1]; /* from the last signed write's answer, or "" */
};

/* Parses and normalizes a directory URL (the rules of net_url_normalize). */
enum sotto_err net_url_parse(const char *url, struct net_url *out);

struct net_header {
    const char *name, *value; /* borrowed */
};

struct net_request {
    const char *method; /* upper case */
    const char *target; /* the path, as sent and signed */
    const uint8_t *body;
    size_t body_len; /* 0: no body */
    struct net_header headers[NET_HEADERS_MAX];
    size_t n_headers;
};

struct net_response {
    int status;
    uint8_t *body; /* owned (sotto_alloc), body_len bytes; NULL when empty */
    size_t body_len;
    unsigned retry_after_s;
};

/* Makes d->base and d->tls (TLS 1.3 client, the pin check in place of chain verification). */
enum sotto_err net_https_init(struct net_dir *d);
/* Frees what net_https_init made; safe on a half-made session. */
void net_https_clear(struct net_dir *d);

/* One request on a fresh TLS 1.3 connection to d->url, checking the certificate's pin in the
 * handshake (before anything is sent) or, with none yet, setting d->pin to what was seen. Runs
 * d->base until the answer or the deadline. SOTTO_ENET (fills d->problem.detail), SOTTO_EPIN
 * (fills d->problem.pin_seen), SOTTO_ETOOBIG (the answer's body above the cap), SOTTO_EPROTO
 * (not HTTP, or headers above their cap), SOTTO_ENOMEM. On success the caller owns out->body
 * (net_response_clear). */
enum sotto_err net_https_exchange(struct net_dir *d, const struct net_request *rq,
                                  struct net_response *out);
void net_response_clear(const struct sotto_env *env, struct net_response *r);

/* ---- sign.c ---- */

/* The headers of a signed write. */
struct net_signature {
    char number[NUMBER_DIGITS_LEN];
    char timestamp[NET_TIMESTAMP_MAX + 1];
    char signature[NET_SIG_B64_LEN];
};

/* The bytes a write signs: host "\n" method "\n" target "\n" hex(SHA-256(body)) "\n"
 * timestamp, into out[0..cap). SOTTO_EINVAL when a part holds a newline or is missing,
 * SOTTO_ETOOBIG when it does not fit. */
enum sotto_err net_sign_message(const char *host, const char *method, const char *target,
                                const uint8_t *body, size_t body_len, const char *timestamp,
                                uint8_t *out, size_t cap, size_t *len);
/* Signs `rq` for d->url's Host at `now_ms` (e2e_sign, label sotto-dir-v1) and fills *out. */
enum sotto_err net_sign_request(const struct net_identity *id, const char *host,
                                const struct net_request *rq, uint64_t now_ms,
                                struct net_signature *out);

/* ---- parse.c: answers, untrusted. Each refuses a body over NET_BODY_MAX (SOTTO_ETOOBIG) and
 * anything that is not the documented object with members of the right types and values
 * (SOTTO_EPROTO); a number that is not the key's is SOTTO_ENUMBER. Unknown members are
 * ignored, so that a newer server stays readable. ---- */

enum sotto_err net_parse_account(const uint8_t *body, size_t len, struct net_account *out);
enum sotto_err net_parse_bundle(const uint8_t *body, size_t len, struct net_bundle *out);
enum sotto_err net_parse_registered(const uint8_t *body, size_t len, struct net_registered *out);
enum sotto_err net_parse_prekeys_left(const uint8_t *body, size_t len, unsigned *left);
/* The "seen_from" member of a write's answer: printable ASCII, at most NET_SEEN_FROM_MAX bytes
 * (what it names is checked by whoever uses it). out is "" on failure. */
enum sotto_err net_parse_seen_from(const uint8_t *body, size_t len,
                                   char out[static NET_SEEN_FROM_MAX + 1]);
/* Fills p->code and p->message from an error body, best effort: left "" when it is not one. */
void net_parse_problem(const uint8_t *body, size_t len, struct net_dir_problem *p);
/* Decodes exactly `len` bytes of padded standard base64 from `s`: SOTTO_EPROTO for any other
 * character, length or padding. */
enum sotto_err net_b64_exact(const char *s, uint8_t *out, size_t len);
/* Encodes in[0..len) as padded standard base64 into out[0..cap). */
enum sotto_err net_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
