/* src/util/text.h: checks and escaping for strings that came from users or peers. */
#ifndef SOTTO_UTIL_TEXT_H
#define SOTTO_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

#define TEXT_NAME_MAX     64 /* display name, bytes of UTF-8 */
#define TEXT_USERNAME_MIN 3
#define TEXT_USERNAME_MAX 32

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or values > U+10FFFF). */
bool text_utf8_valid(const uint8_t *s, size_t len);

/* A display name: 1..TEXT_NAME_MAX bytes of UTF-8 with no control characters (C0, DEL, C1),
 * no NUL, and none of the invisible or bidi-reordering characters (U+061C, U+200B, U+200E/F,
 * U+202A..U+202E, U+2060..U+2064, U+2066..U+2069, U+FEFF). SOTTO_ETOOBIG when too long,
 * SOTTO_EPROTO otherwise. */
enum sotto_err text_check_name(const uint8_t *s, size_t len);

/* A username: 3..32 characters of a-z 0-9 _ . -, starting with a letter. The caller
 * lowercases first (text_lower_ascii). SOTTO_EPROTO when not. */
enum sotto_err text_check_username(const uint8_t *s, size_t len);

/* Lowercases ASCII letters in place. */
void text_lower_ascii(char *s);

/* Copies `s` into `out` (always NUL-terminated, cut at a character boundary when `out` is too
 * small) with every byte of a control or invisible character (as text_check_name defines
 * them) and every invalid byte shown as \xNN, so that a peer's name
 * can never move the cursor or change colours. */
void text_escape(const char *s, char *out, size_t out_len);

#endif
