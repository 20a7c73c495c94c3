/* src/util/text.c: UTF-8 validation, name checks, escaping for display. */
#include <stdio.h>
#include <string.h>

#include "util/text.h"

/* Length of the UTF-8 sequence at s (1..4), or 0 when it is not well-formed. */
static size_t utf8_seq_len(const uint8_t *s, size_t left)
{
    uint8_t c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

bool text_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static uint32_t utf8_decode(const uint8_t *s, size_t n)
{
    static const uint8_t lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp = s[0] & lead_mask[n];

    for (size_t i = 1; i < n; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

/* Characters a name may not hold because they are invisible or reorder what follows them:
 * C0, DEL, C1, the Arabic letter mark, zero-width space, LRM/RLM, the bidi embeddings and
 * overrides, word joiner and invisible operators, the bidi isolates, and the BOM. Zero-width
 * (non-)joiners stay allowed: emoji sequences and Persian need them. */
static bool is_control_cp(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200b ||
           cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

static bool is_control_at(const uint8_t *s, size_t n)
{
    return is_control_cp(utf8_decode(s, n));
}

enum sotto_err text_check_name(const uint8_t *s, size_t len)
{
    size_t i = 0;

    if (len == 0)
        return SOTTO_EPROTO;
    if (len > TEXT_NAME_MAX)
        return SOTTO_ETOOBIG;
    while (i < len) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0 || is_control_at(s + i, n))
            return SOTTO_EPROTO;
        i += n;
    }
    return SOTTO_OK;
}

enum sotto_err text_check_username(const uint8_t *s, size_t len)
{
    if (len < TEXT_USERNAME_MIN || len > TEXT_USERNAME_MAX)
        return SOTTO_EPROTO;
    if (s[0] < 'a' || s[0] > 'z')
        return SOTTO_EPROTO;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return SOTTO_EPROTO;
    }
    return SOTTO_OK;
}

void text_lower_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

void text_escape(const char *s, char *out, size_t out_len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t len = strlen(s), i = 0, o = 0;

    if (out_len == 0)
        return;
    while (i < len) {
        size_t n = utf8_seq_len(u + i, len - i);
        if (n == 0 || is_control_at(u + i, n)) {
            /* every byte of the character, so that no part of it reaches the terminal */
            size_t bytes = n == 0 ? 1 : n;
            if (o + 4 * bytes >= out_len)
                break;
            for (size_t k = 0; k < bytes; k++, o += 4)
                snprintf(out + o, out_len - o, "\\x%02x", u[i + k]);
            i += bytes;
            continue;
        }
        if (o + n >= out_len)
            break;
        memcpy(out + o, u + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
}
