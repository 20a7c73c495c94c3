/* src/directory/parse.h: the directory's request bodies, parsed and checked away from the
 * network (docs/PROTOCOL.md, "Directory API, version 1"). These are pure functions of their
 * input, so that unit tests and the fuzzer reach every rule; the server only moves bytes to
 * them and their answers back. */
#ifndef SOTTO_DIRECTORY_PARSE_H
#define SOTTO_DIRECTORY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory/backend.h"
#include "e2e/e2e.h"
#include "identity/card.h"
#include "sotto/err.h"

#define DIR_BODY_MAX            (64 * 1024) /* bytes of a request body */
#define DIR_MESSAGE_MAX         200         /* bytes of an error message, with its NUL */
#define DIR_REGISTRATION_ID_MAX 16380
#define DIR_PREKEY_ID_MAX       0xffffffu

/* Why a request is refused: what the server answers. `error` is one of the codes of
 * docs/PROTOCOL.md; `message` tells the client what to do next and never repeats peer bytes. */
struct dir_problem {
    int status;        /* HTTP status */
    const char *error; /* static string */
    const char *allow; /* 405 only: the methods the path takes (static); else NULL */
    char message[DIR_MESSAGE_MAX];
};

/* Fills `p` (allow = NULL); the message is formatted and cut to fit. Returns SOTTO_EPROTO, so that
 * a check can `return dir_problem_set(...)`. */
enum sotto_err dir_problem_set(struct dir_problem *p, int status, const char *error,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* POST /v1/accounts. The number is derived from the identity key; created_ms and updated_ms
 * are left 0 for the caller. */
struct dir_register_req {
    struct dir_account account;
    size_t n_prekeys;
    struct dir_prekey prekeys[DIR_PREKEYS_PER_REQUEST];
};

/* PUT /v1/accounts/{number}/addresses */
struct dir_addresses_req {
    size_t n_addrs;
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
};

/* PUT /v1/accounts/{number}/prekeys. The signed prekey's signature is checked by the caller,
 * which knows the account's identity key (dir_signed_prekey_check). */
struct dir_prekeys_req {
    bool has_signed_prekey;
    struct dir_signed_prekey signed_prekey;
    size_t n_prekeys;
    struct dir_prekey prekeys[DIR_PREKEYS_PER_REQUEST];
};

/* Each parser takes untrusted bytes (at most DIR_BODY_MAX), a JSON object with exactly the
 * members and types the protocol allows, and checks every value: usernames (lowercased, then
 * text_check_username), keys (e2e_pubkey_check), base64 (alphabet, exact length, canonical),
 * ids, counts and duplicate prekey ids, addresses (identity_card_check_address). Returns
 * SOTTO_OK, or SOTTO_EPROTO with `p` saying why (status 400 or 413), or SOTTO_ENOMEM (the
 * JSON library ran out of memory; `p` says 503). `out` is zeroed on failure. Allocates only
 * inside jansson, whose memory is released before return. Thread-safe. */
enum sotto_err dir_parse_register(const uint8_t *body, size_t len, struct dir_register_req *out,
                                  struct dir_problem *p);
enum sotto_err dir_parse_addresses(const uint8_t *body, size_t len, struct dir_addresses_req *out,
                                   struct dir_problem *p);
enum sotto_err dir_parse_prekeys(const uint8_t *body, size_t len, struct dir_prekeys_req *out,
                                 struct dir_problem *p);

/* Signal's own signature of the signed prekey (over its 33 bytes) by `identity_key`, as
 * session_builder_process_pre_key_bundle checks it: SOTTO_OK or SOTTO_EBADSIG (SOTTO_EBADKEY
 * for a malformed identity key). */
enum sotto_err dir_signed_prekey_check(const uint8_t identity_key[static E2E_KEY_LEN],
                                       const struct dir_signed_prekey *spk);

/* Decodes standard padded base64 `s[0..len)` that must decode to exactly `want` bytes, with
 * nothing but the base64 alphabet (checked first: libsodium 1.0.18 reads bytes >= 0x80 as '/')
 * and no whitespace. SOTTO_EPROTO otherwise, and then `out` is zeroed. */
enum sotto_err dir_b64_decode(const char *s, size_t len, uint8_t *out, size_t want);

#endif
