/* src/identity/number.c: the 15-digit number of an identity key and the key fingerprint users
 * compare, both as docs/PROTOCOL.md specifies them. */
#include <string.h>

#include <sodium.h>

#include "identity/number.h"

#define NUMBER_DIGITS 15
#define NUMBER_SPAN   900000000000000ULL /* 9 * 10^14: NUMBER_MIN + span - 1 == NUMBER_MAX */
#define FP_GROUP      4

static const char number_label[] = "sotto-number-v1"; /* hashed with its terminating zero */

uint64_t identity_number(const uint8_t key[static E2E_KEY_LEN])
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];
    uint64_t v = 0;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)number_label, sizeof(number_label));
    crypto_hash_sha256_update(&st, key, E2E_KEY_LEN);
    crypto_hash_sha256_final(&st, h);
    for (int i = 0; i < 8; i++)
        v = (v << 8) | h[i];
    return NUMBER_MIN + v % NUMBER_SPAN;
}

enum sotto_err identity_number_check(const uint8_t key[static E2E_KEY_LEN], uint64_t number)
{
    return identity_number(key) == number ? SOTTO_OK : SOTTO_ENUMBER;
}

void identity_number_digits(uint64_t n, char out[static NUMBER_DIGITS_LEN])
{
    /* the lowest 15 digits, so that a number out of range still fits the buffer */
    for (int i = NUMBER_DIGITS - 1; i >= 0; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
    out[NUMBER_DIGITS] = '\0';
}

void identity_number_grouped(uint64_t n, char out[static NUMBER_GROUPED_LEN])
{
    char d[NUMBER_DIGITS_LEN];
    size_t o = 0;

    identity_number_digits(n, d);
    for (int i = 0; i < NUMBER_DIGITS; i++) {
        if (i > 0 && i % 3 == 0)
            out[o++] = ' ';
        out[o++] = d[i];
    }
    out[o] = '\0';
}

enum sotto_err identity_number_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;

    *out = 0;
    if (s == NULL)
        return SOTTO_EINVAL;
    for (; *s != '\0'; s++) {
        if (*s == ' ')
            continue;
        if (*s < '0' || *s > '9')
            return SOTTO_EPROTO;
        if (n == 0 && *s == '0')
            return SOTTO_EPROTO;
        /* stop at 16 digits: 15 fit in a uint64_t with room to spare, so v cannot overflow */
        if (++n > NUMBER_DIGITS)
            return SOTTO_EPROTO;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (n != NUMBER_DIGITS)
        return SOTTO_EPROTO;
    *out = v;
    return SOTTO_OK;
}

void identity_fingerprint(const uint8_t key[static E2E_KEY_LEN], char out[static FINGERPRINT_LEN])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    size_t o = 0;

    crypto_hash_sha256(h, key, E2E_KEY_LEN);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    for (size_t i = 0; i < 2 * sizeof(h); i++) {
        if (i > 0 && i % FP_GROUP == 0)
            out[o++] = ' ';
        out[o++] = hex[i];
    }
    out[o] = '\0';
}
