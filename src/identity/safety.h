/* src/identity/safety.h: safety numbers (the Signal numeric fingerprint of two identity keys)
 * and their scannable form for QR codes. */
#ifndef SOTTO_IDENTITY_SAFETY_H
#define SOTTO_IDENTITY_SAFETY_H

#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "sotto/err.h"

#define SAFETY_ITERATIONS  5200
#define SAFETY_DIGITS      60
#define SAFETY_GROUPED_LEN 72  /* 12 groups of 5 digits, 11 spaces, NUL */
#define SAFETY_SCAN_MAX    256 /* serialized scannable fingerprint, bytes */

struct identity_safety {
    char digits[SAFETY_DIGITS + 1];     /* the 60 digits, the same on both sides */
    uint8_t scannable[SAFETY_SCAN_MAX]; /* scannable_fingerprint_serialize(), version 1 */
    size_t scannable_len;
};

/* Computes the safety number of the local and the remote identity; each side's stable
 * identifier is its 15-digit number as 15 ASCII digits. Both keys are checked first. */
enum sotto_err identity_safety_compute(struct e2e_ctx *ctx, uint64_t local_number,
                                       const uint8_t local_key[static E2E_KEY_LEN],
                                       uint64_t remote_number,
                                       const uint8_t remote_key[static E2E_KEY_LEN],
                                       struct identity_safety *out);
/* "12345 67890 …": 12 groups of 5. */
void identity_safety_grouped(const struct identity_safety *s, char out[static SAFETY_GROUPED_LEN]);
/* Compares the other side's scanned bytes with ours (scannable_fingerprint_compare() must
 * answer exactly 1): SOTTO_OK on a match, SOTTO_EMISMATCH when they differ or are of another
 * version, SOTTO_EPROTO when `theirs` does not parse, SOTTO_ETOOBIG over SAFETY_SCAN_MAX. */
enum sotto_err identity_safety_compare(struct e2e_ctx *ctx, const struct identity_safety *mine,
                                       const uint8_t *theirs, size_t theirs_len);

#endif
