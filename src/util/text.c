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

/* C1 controls U+0080..U+009F are encoded as 0xc2 0x80..0x9f. */
static bool is_control_at(const uint8_t *s, size_t n)
{
    if (n == 1)
        return s[0] < 0x20 || s[0] == 0x7f;
    return n == 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
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
            if (o + 4 >= out_len)
                break;
            snprintf(out + o, out_len - o, "\\x%02x", u[i]);
            o += 4;
            i += 1;
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
