/* src/net/dir.h: the client of the Sotto directory (docs/PROTOCOL.md, "Directory API, version
 * 1"): HTTPS over libevent and OpenSSL, TLS 1.3 only, the server's certificate pinned by the
 * SHA-256 of its SubjectPublicKeyInfo; signed writes; every answer checked field by field
 * before use. Calls block: each runs an event loop until the answer or a deadline. A session is
 * for one thread. */
#ifndef SOTTO_NET_DIR_H
#define SOTTO_NET_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "identity/card.h"
#include "sotto/err.h"
#include "util/text.h"

#define NET_URL_MAX         255          /* bytes of a directory URL */
#define NET_HOST_MAX        253          /* bytes of a host name (DNS's limit) */
#define NET_PIN_HEX_LEN     64           /* lowercase hex SHA-256 */
#define NET_BODY_MAX        (256 * 1024) /* an answer's body above this is refused unread */
#define NET_TIMEOUT_MS      15000        /* default deadline of one exchange */
#define NET_PREKEYS_MAX     200          /* one-time prekeys per request (the server's cap) */
#define NET_PREKEYS_LOW     20           /* below this many on the directory, top up */
#define NET_PREKEYS_TARGET  100          /* how many a top-up brings the directory back to */
#define NET_MESSAGE_MAX     255          /* bytes of a server's error message kept */
#define NET_CODE_MAX        31           /* bytes of a server's error code kept */
#define NET_SEEN_FROM_MAX   63           /* bytes of "ip:port" the server saw us from */
#define NET_DETAIL_MAX      127          /* bytes of our own description of a network error */
#define NET_REGISTRATION_ID 16380        /* the highest Signal registration id */

struct sotto_env;
struct store_profile;
struct net_dir;

/* Which directory, and how far to trust it. */
struct net_dir_params {
    const char *url; /* https://HOST[:PORT][/] (checked with net_url_normalize) */
    /* the expected pin (64 lowercase hex digits), or NULL to accept the first certificate seen
     * and report its pin (trust on first use: the caller records it) */
    const char *pin;
    uint32_t timeout_ms; /* 0: NET_TIMEOUT_MS */
};

/* What went wrong in the last call that failed: set by every call, cleared by every success.
 * Strings from the server are untrusted: escape them (text_escape) before showing them. */
struct net_dir_problem {
    int status;                         /* HTTP status; 0 when no answer came */
    char code[NET_CODE_MAX + 1];        /* the server's error code ("username_taken"), or "" */
    char message[NET_MESSAGE_MAX + 1];  /* the server's advice, or "" */
    unsigned retry_after_s;             /* from Retry-After on 429, else 0 */
    char detail[NET_DETAIL_MAX + 1];    /* ours: "connection refused", "timed out", ... */
    char pin_seen[NET_PIN_HEX_LEN + 1]; /* on SOTTO_EPIN: the certificate's pin */
};

/* Opens a session (no connection is made yet). Borrows `env`. SOTTO_EINVAL for a URL that is
 * not https://HOST[:PORT] or a malformed pin. On failure *out is NULL. */
enum sotto_err net_dir_open(struct net_dir **out, const struct sotto_env *env,
                            const struct net_dir_params *params);
/* Frees the session. NULL is a no-op. */
void net_dir_free(struct net_dir *d);
/* The normalized URL ("https://host:port", or "https://host" for 443); borrowed. */
const char *net_dir_url(const struct net_dir *d);
/* The pin: the one given, else the one seen on the first certificate, else "" (nothing seen
 * yet). Borrowed. */
const char *net_dir_pin(const struct net_dir *d);
/* True once a TLS handshake of this session accepted the directory's certificate (then
 * net_dir_pin is its pin, which a caller trusting on first use records), even if the exchange
 * failed afterwards. */
bool net_dir_pin_accepted(const struct net_dir *d);
/* The last failure's description; borrowed, valid until the next call. */
const struct net_dir_problem *net_dir_problem(const struct net_dir *d);
/* The "ip:port" the directory saw us come from, as the answer to the last call said when it was
 * a signed write that succeeded; else "". Untrusted text (printable ASCII only): check it before
 * use. Borrowed, valid until the next call. */
const char *net_dir_seen_from(const struct net_dir *d);

/* Errors of the calls below: SOTTO_ENET (unreachable, timed out, TLS failed, 5xx), SOTTO_EPIN
 * (the certificate is not the pinned one: nothing was sent), SOTTO_ENOENT (404), SOTTO_EREFUSED
 * (409, 401, other 4xx: see net_dir_problem), SOTTO_ERATE (429), SOTTO_ETOOBIG (an answer over
 * NET_BODY_MAX), SOTTO_EPROTO (an answer that is not HTTP, does not parse or does not check
 * out: wrong types, bad base64, a bad key, another account than asked), SOTTO_ENUMBER (an account
 * or bundle whose number is not its key's). */

struct net_signed_prekey {
    uint32_t id;
    uint8_t key[E2E_KEY_LEN];
    uint8_t sig[E2E_SIG_LEN];
};

struct net_prekey {
    uint32_t id;
    uint8_t key[E2E_KEY_LEN];
};

/* A public record, checked: the key is valid and the number is the key's. */
struct net_account {
    char username[TEXT_USERNAME_MAX + 1];
    uint64_t number;
    uint8_t key[E2E_KEY_LEN];
    uint32_t registration_id;
    struct net_signed_prekey signed_prekey;
    size_t n_addrs;
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
    uint64_t updated_ms;
};

struct net_bundle {
    uint64_t number;
    uint8_t key[E2E_KEY_LEN];
    uint32_t registration_id;
    uint32_t device_id;
    struct net_signed_prekey signed_prekey;
    bool has_prekey;
    struct net_prekey prekey;
    unsigned prekeys_left;
};

/* Who signs a write: the account's identity key. All borrowed; `priv` is secret. */
struct net_identity {
    struct e2e_ctx *e2e;
    const uint8_t *priv; /* E2E_PRIV_LEN bytes */
    uint64_t number;
};

struct net_register {
    const char *username; /* lowercase, checked */
    const uint8_t *key;   /* E2E_KEY_LEN bytes: the identity key, whose number signs */
    uint32_t registration_id;
    const struct net_signed_prekey *signed_prekey;
    const struct net_prekey *prekeys;
    size_t n_prekeys; /* at most NET_PREKEYS_MAX */
    const char *const *addrs;
    size_t n_addrs; /* at most CARD_ADDRS_MAX */
};

struct net_registered {
    char username[TEXT_USERNAME_MAX + 1];
    uint64_t number;
    char seen_from[NET_SEEN_FROM_MAX + 1];
};

/* POST /v1/accounts. The answer must name our username and number. */
enum sotto_err net_dir_register(struct net_dir *d, const struct net_identity *id,
                                const struct net_register *reg, struct net_registered *out);
/* GET /v1/accounts/{query}: `query` is a 15-digit number (spaces allowed) or a username (any
 * case; lowercased), else SOTTO_EINVAL. The account must be the one asked for. */
enum sotto_err net_dir_lookup(struct net_dir *d, const char *query, struct net_account *out);
/* POST /v1/accounts/{number}/bundle: consumes one of the account's one-time prekeys. */
enum sotto_err net_dir_bundle(struct net_dir *d, uint64_t number, struct net_bundle *out);
/* PUT /v1/accounts/{number}/prekeys with pks[0..n) (n may be 0, to learn the count) and
 * optionally a new signed prekey. *left is what the directory then holds. */
enum sotto_err net_dir_put_prekeys(struct net_dir *d, const struct net_identity *id,
                                   const struct net_signed_prekey *spk,
                                   const struct net_prekey *pks, size_t n, unsigned *left);
/* PUT /v1/accounts/{number}/addresses: addrs[0..n) (n <= CARD_ADDRS_MAX, each checked with
 * identity_card_check_address, else SOTTO_EINVAL) replace the published ones. */
enum sotto_err net_dir_put_addresses(struct net_dir *d, const struct net_identity *id,
                                     const char *const *addrs, size_t n);
/* DELETE /v1/accounts/{number}. */
enum sotto_err net_dir_delete(struct net_dir *d, const struct net_identity *id);

/* What a top-up did. */
struct net_topup {
    unsigned left_before; /* one-time prekeys the directory held before */
    unsigned made;        /* new prekeys made and stored in the profile */
    unsigned uploaded;    /* prekeys given to the directory */
    unsigned left_after;
};

/* Keeps the directory's supply of our one-time prekeys up. First gives it any prekey of the
 * profile that it was not given yet (made by an earlier top-up that was cut short); that PUT
 * (with no prekeys when none is pending) also tells how many it holds. Below NET_PREKEYS_LOW, makes
 * enough new ones to reach NET_PREKEYS_TARGET, stores them sealed, uploads them and marks them
 * uploaded. The profile must be unlocked. `known_left` >= 0 says how many the directory holds
 * (just registered), which saves the first request when nothing is pending. */
enum sotto_err net_prekeys_topup(struct net_dir *d, struct store_profile *p,
                                 const struct net_identity *id, int known_left,
                                 struct net_topup *out);

/* Normalizes a directory URL into out[0..NET_URL_MAX]: https only, host lowercased, port 443
 * dropped, no path (a trailing / is fine), no user, query or fragment. SOTTO_EINVAL otherwise. */
enum sotto_err net_url_normalize(const char *url, char out[static NET_URL_MAX + 1]);
/* Parses a pin as users give it: 64 hex digits in any case, optionally after "sha256:", with
 * ':' or spaces between digits allowed. Writes 64 lowercase digits. SOTTO_EINVAL otherwise. */
enum sotto_err net_pin_parse(const char *in, char out[static NET_PIN_HEX_LEN + 1]);

#endif
