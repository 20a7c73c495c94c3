/* src/directory/encode.c: JSON answers. Binary values are standard padded base64 and numbers
 * 15-digit strings, as docs/PROTOCOL.md says. */
#include <sodium.h>

#include "directory/encode.h"
#include "identity/number.h"

#define KEY_B64_LEN sodium_base64_ENCODED_LEN(E2E_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)
#define SIG_B64_LEN sodium_base64_ENCODED_LEN(E2E_SIG_LEN, sodium_base64_VARIANT_ORIGINAL)

static json_t *b64(const uint8_t *p, size_t len)
{
    char s[SIG_B64_LEN];

    if (sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) > sizeof(s))
        return NULL;
    sodium_bin2base64(s, sizeof(s), p, len, sodium_base64_VARIANT_ORIGINAL);
    return json_string(s);
}

static json_t *number_string(uint64_t n)
{
    char digits[NUMBER_DIGITS_LEN];

    if (n < NUMBER_MIN || n > NUMBER_MAX)
        return NULL;
    identity_number_digits(n, digits);
    return json_string(digits);
}

static json_t *signed_prekey(const struct dir_signed_prekey *spk)
{
    return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)spk->id, "key",
                     b64(spk->key, E2E_KEY_LEN), "signature", b64(spk->sig, E2E_SIG_LEN));
}

static json_t *prekey(const struct dir_prekey *pk)
{
    if (pk == NULL)
        return json_null();
    return json_pack("{s:I, s:o}", "id", (json_int_t)pk->id, "key", b64(pk->key, E2E_KEY_LEN));
}

static json_t *addresses(const struct dir_account *a)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < a->n_addrs && i < CARD_ADDRS_MAX; i++) {
        if (json_array_append_new(arr, json_string(a->addrs[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* json_pack with "o" takes the references even on failure, and fails on a NULL one: so a
 * failed allocation anywhere gives NULL and leaks nothing. */
json_t *dir_encode_account(const struct dir_account *a)
{
    return json_pack("{s:s, s:o, s:o, s:I, s:o, s:o, s:I}", "username", a->username, "number",
                     number_string(a->number), "identity_key", b64(a->identity_key, E2E_KEY_LEN),
                     "registration_id", (json_int_t)a->registration_id, "signed_prekey",
                     signed_prekey(&a->signed_prekey), "addresses", addresses(a), "updated_ms",
                     (json_int_t)a->updated_ms);
}

json_t *dir_encode_bundle(const struct dir_account *a, const struct dir_prekey *pk, unsigned left)
{
    return json_pack("{s:o, s:o, s:I, s:i, s:o, s:o, s:I}", "number", number_string(a->number),
                     "identity_key", b64(a->identity_key, E2E_KEY_LEN), "registration_id",
                     (json_int_t)a->registration_id, "device_id", 1, "signed_prekey",
                     signed_prekey(&a->signed_prekey), "prekey", prekey(pk), "prekeys_left",
                     (json_int_t)left);
}

json_t *dir_encode_problem(const struct dir_problem *p)
{
    return json_pack("{s:s, s:s}", "error", p->error != NULL ? p->error : "bad_request", "message",
                     p->message);
}
