/* tests/unit/util/test_text.c: names, usernames and escaping of untrusted strings. */
#include <string.h>

#include <criterion/criterion.h>

#include "util/text.h"

static enum sotto_err name(const char *s)
{
    return text_check_name((const uint8_t *)s, strlen(s));
}

static enum sotto_err user(const char *s)
{
    return text_check_username((const uint8_t *)s, strlen(s));
}

Test(text, accepts_display_names_in_any_script)
{
    cr_assert_eq(name("Alice"), SOTTO_OK);
    cr_assert_eq(name("Zoë 🌸"), SOTTO_OK);
    cr_assert_eq(name("Мария"), SOTTO_OK);
    cr_assert_eq(name("山田 太郎"), SOTTO_OK);
}

Test(text, refuses_display_names_with_controls_or_bad_utf8)
{
    cr_assert_eq(name(""), SOTTO_EPROTO);
    cr_assert_eq(name("a\nb"), SOTTO_EPROTO);
    cr_assert_eq(name("\x1b[31mred"), SOTTO_EPROTO);
    cr_assert_eq(name("del\x7f"), SOTTO_EPROTO);
    cr_assert_eq(name("c1\xc2\x9b"), SOTTO_EPROTO, "C1 CSI");
    cr_assert_eq(name("\xc0\xaf"), SOTTO_EPROTO, "overlong");
    cr_assert_eq(name("\xed\xa0\x80"), SOTTO_EPROTO, "surrogate");
    cr_assert_eq(name("\xf4\x90\x80\x80"), SOTTO_EPROTO, "above U+10FFFF");
    cr_assert_eq(name("cut\xe2\x82"), SOTTO_EPROTO, "truncated sequence");
    cr_assert_eq(text_check_name((const uint8_t *)"a\0b", 3), SOTTO_EPROTO, "NUL inside");
}

Test(text, refuses_display_names_over_64_bytes)
{
    char s[66];

    memset(s, 'x', 65);
    s[65] = '\0';
    cr_assert_eq(name(s), SOTTO_ETOOBIG);
    s[64] = '\0';
    cr_assert_eq(name(s), SOTTO_OK);
}

Test(text, usernames_follow_the_directory_rules)
{
    cr_assert_eq(user("alice"), SOTTO_OK);
    cr_assert_eq(user("a.b-c_9"), SOTTO_OK);
    cr_assert_eq(user("ab"), SOTTO_EPROTO, "too short");
    cr_assert_eq(user("abcdefghijabcdefghijabcdefghijabc"), SOTTO_EPROTO, "33 characters");
    cr_assert_eq(user("9lives"), SOTTO_EPROTO, "must start with a letter");
    cr_assert_eq(user("Alice"), SOTTO_EPROTO, "callers lowercase first");
    cr_assert_eq(user("al ice"), SOTTO_EPROTO);
    cr_assert_eq(user("alïce"), SOTTO_EPROTO);
}

Test(text, lowercases_ascii_only)
{
    char s[] = "AbC-Ë";

    text_lower_ascii(s);
    cr_assert_str_eq(s, "abc-Ë");
}

Test(text, escape_shows_control_bytes_and_keeps_utf8)
{
    char out[64];

    text_escape("hi\x1b[2Jthere", out, sizeof(out));
    cr_assert_str_eq(out, "hi\\x1b[2Jthere");
    text_escape("Zoë\xff", out, sizeof(out));
    cr_assert_str_eq(out, "Zoë\\xff");
}

Test(text, escape_never_overflows_or_splits_a_character)
{
    char out[5];

    text_escape("ab\xc3\xab"
                "cd",
                out, sizeof(out));
    cr_assert_str_eq(out, "ab\xc3\xab");
    text_escape("abc\x01", out, sizeof(out));
    cr_assert_str_eq(out, "abc", "the escape does not fit and is left out whole");
}

Test(text, refuses_names_with_invisible_or_reordering_characters)
{
    cr_assert_eq(name("Eve\u202e\u200b"), SOTTO_EPROTO, "right-to-left override, zero-width space");
    cr_assert_eq(name("Bo\u200eb"), SOTTO_EPROTO, "left-to-right mark");
    cr_assert_eq(name("a\u2066b"), SOTTO_EPROTO, "bidi isolate");
    cr_assert_eq(name("\ufeffBob"), SOTTO_EPROTO, "byte order mark");
    cr_assert_eq(name("x\u061c"), SOTTO_EPROTO, "Arabic letter mark");
    cr_assert_eq(name("\U0001F468\u200d\U0001F469\u200d\U0001F467"), SOTTO_OK,
                 "an emoji family needs the zero-width joiner");
}

Test(text, escape_hides_every_byte_of_a_reordering_character)
{
    char out[64];

    text_escape("Eve\u202e123", out, sizeof(out));
    cr_assert_str_eq(out, "Eve\\xe2\\x80\\xae123");
}
