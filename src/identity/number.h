/* src/identity/number.h: the 15-digit number derived from an identity key, and key
 * fingerprints as users see them. Specified in docs/PROTOCOL.md. */
#ifndef SOTTO_IDENTITY_NUMBER_H
#define SOTTO_IDENTITY_NUMBER_H

#include <stdint.h>

#include "e2e/e2e.h"
#include "sotto/err.h"

#define NUMBER_MIN         100000000000000ULL /* 10^14 */
#define NUMBER_MAX         999999999999999ULL /* 10^15 - 1 */
#define NUMBER_DIGITS_LEN  16                 /* "123456789012345" + NUL */
#define NUMBER_GROUPED_LEN 20                 /* "123 456 789 012 345" + NUL */
#define FINGERPRINT_LEN    80                 /* 16 groups of 4 hex digits, spaces, NUL */

/* 10^14 + BE64(SHA-256("sotto-number-v1" || 0x00 || key)[0..8)) mod (9 * 10^14). */
uint64_t identity_number(const uint8_t key[static E2E_KEY_LEN]);
/* SOTTO_OK when `number` is the one derived from `key`, SOTTO_ENUMBER otherwise. */
enum sotto_err identity_number_check(const uint8_t key[static E2E_KEY_LEN], uint64_t number);
/* "123456789012345". `n` must be within NUMBER_MIN..NUMBER_MAX. */
void identity_number_digits(uint64_t n, char out[static NUMBER_DIGITS_LEN]);
/* "123 456 789 012 345". */
void identity_number_grouped(uint64_t n, char out[static NUMBER_GROUPED_LEN]);
/* Parses 15 decimal digits, with spaces allowed anywhere between them, first digit not 0.
 * SOTTO_EPROTO for anything else (a username, 14 or 16 digits, other characters). */
enum sotto_err identity_number_parse(const char *s, uint64_t *out);
/* Lowercase hex SHA-256 of the 33 key bytes in groups of four: "1a2b 3c4d … 9f0e". */
void identity_fingerprint(const uint8_t key[static E2E_KEY_LEN], char out[static FINGERPRINT_LEN]);

#endif
