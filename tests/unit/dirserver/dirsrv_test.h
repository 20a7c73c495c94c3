/* tests/unit/dirserver/dirsrv_test.h: the fixture of the directory server's unit tests: a
 * real identity, its signed prekey, and request bodies built the way a client builds them. */
#ifndef SOTTO_TEST_DIRSRV_H
#define SOTTO_TEST_DIRSRV_H

#include <jansson.h>

#include "directory/parse.h"
#include "directory/request.h"
#include "e2e/e2e.h"
#include "failalloc.h"

struct dsrv_fx {
    struct failalloc fa;
    struct sotto_env env;
    struct e2e_ctx *ctx;
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    struct dir_signed_prekey spk;
};

void dsrv_fx_init(struct dsrv_fx *fx);
void dsrv_fx_fini(struct dsrv_fx *fx);

/* A JSON string of padded standard base64. */
json_t *dsrv_b64(const uint8_t *p, size_t len);
json_t *dsrv_spk_json(const struct dir_signed_prekey *spk);
/* `n` one-time prekeys with ids start, start + 1, … */
json_t *dsrv_prekeys_json(struct dsrv_fx *fx, uint32_t start, unsigned n);
/* A complete, valid registration body for `username`. */
json_t *dsrv_register_json(struct dsrv_fx *fx, const char *username, unsigned n_prekeys);

/* Serializes `body` (borrowed) and runs the parser on the bytes. */
enum sotto_err dsrv_parse_register(const json_t *body, struct dir_register_req *out,
                                   struct dir_problem *p);
enum sotto_err dsrv_parse_prekeys(const json_t *body, struct dir_prekeys_req *out,
                                  struct dir_problem *p);
enum sotto_err dsrv_parse_addresses(const json_t *body, struct dir_addresses_req *out,
                                    struct dir_problem *p);

/* Runs dir_parse_register on text, for the bodies JSON cannot express. */
enum sotto_err dsrv_parse_text(const char *text, struct dir_problem *p);

#endif
