/* src/directory/encode.h: the directory's JSON answers (docs/PROTOCOL.md, "Objects"). */
#ifndef SOTTO_DIRECTORY_ENCODE_H
#define SOTTO_DIRECTORY_ENCODE_H

#include <jansson.h>

#include "directory/backend.h"
#include "directory/parse.h"

/* Each returns a new JSON object (release with json_decref), or NULL when memory ran out.
 * Thread-safe. */

/* The public record: username, number, identity_key, registration_id, signed_prekey,
 * addresses, updated_ms. */
json_t *dir_encode_account(const struct dir_account *a);
/* A bundle: number, identity_key, registration_id, device_id 1, signed_prekey, prekey (or null
 * when `prekey` is NULL) and prekeys_left. */
json_t *dir_encode_bundle(const struct dir_account *a, const struct dir_prekey *prekey,
                          unsigned left);
/* {"error": …, "message": …} */
json_t *dir_encode_problem(const struct dir_problem *p);

#endif
