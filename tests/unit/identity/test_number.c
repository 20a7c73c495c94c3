/* tests/unit/identity/test_number.c: the 15-digit number follows docs/PROTOCOL.md to the bit,
 * always has 15 digits, and only 15 digits (with spaces) parse as one; key fingerprints are
 * grouped lowercase hex of SHA-256. */
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "identity/number.h"

/* The vector in docs/PROTOCOL.md: 0x05 followed by the bytes 0x01..0x20. */
#define VECTOR_NUMBER 670909416005580ULL
#define VECTOR_SHA256 "27b6b287c3cf5fcc585981ea2abc3dc0117ba9bb10c7e8604b7a18a3d1c80020"

static void suite_init(void)
{
    cr_assert_geq(sodium_init(), 0);
}

TestSuite(number, .init = suite_init);

static void vector_key(uint8_t key[E2E_KEY_LEN])
{
    key[0] = 0x05;
    for (int i = 1; i < E2E_KEY_LEN; i++)
        key[i] = (uint8_t)i;
}

/* The number computed apart from the code under test, with OpenSSL's SHA-256. A uint64_t holds
 * the big-endian value exactly, so the remainder needs no wider type. */
static uint64_t reference_number(const uint8_t key[E2E_KEY_LEN], uint8_t h[SHA256_DIGEST_LENGTH])
{
    uint8_t in[16 + E2E_KEY_LEN];
    uint64_t v = 0;

    memcpy(in, "sotto-number-v1", 16); /* with its terminating zero byte */
    memcpy(in + 16, key, E2E_KEY_LEN);
    SHA256(in, sizeof(in), h);
    for (int i = 0; i < 8; i++)
        v = v * 256 + h[i];
    return 100000000000000ULL + v % 900000000000000ULL;
}

Test(number, the_protocol_test_vector_gives_its_number)
{
    uint8_t key[E2E_KEY_LEN], h[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];

    vector_key(key);
    cr_assert_eq(reference_number(key, h), VECTOR_NUMBER);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    cr_assert_str_eq(hex, VECTOR_SHA256);
    cr_assert_eq(identity_number(key), VECTOR_NUMBER);
    cr_assert_eq(identity_number_check(key, VECTOR_NUMBER), SOTTO_OK);
}

Test(number, numbers_of_random_keys_match_the_reference_and_have_fifteen_digits)
{
    uint8_t key[E2E_KEY_LEN], h[SHA256_DIGEST_LENGTH];

    for (int i = 0; i < 5000; i++) {
        uint64_t n;
        randombytes_buf(key, sizeof(key));
        key[0] = 0x05;
        n = identity_number(key);
        cr_assert(n >= NUMBER_MIN && n <= NUMBER_MAX, "%llu", (unsigned long long)n);
        cr_assert_eq(n, reference_number(key, h));
    }
}

Test(number, a_number_belongs_only_to_its_key)
{
    uint8_t key[E2E_KEY_LEN];
    uint64_t n;

    vector_key(key);
    n = identity_number(key);
    cr_assert_eq(identity_number_check(key, n + 1), SOTTO_ENUMBER);
    cr_assert_eq(identity_number_check(key, 0), SOTTO_ENUMBER);
    key[32] ^= 1;
    cr_assert_eq(identity_number_check(key, n), SOTTO_ENUMBER);
    cr_assert_neq(identity_number(key), n);
}

Test(number, numbers_are_written_as_fifteen_digits_and_in_groups_of_three)
{
    char d[NUMBER_DIGITS_LEN], g[NUMBER_GROUPED_LEN];

    identity_number_digits(123456789012345ULL, d);
    cr_assert_str_eq(d, "123456789012345");
    identity_number_grouped(123456789012345ULL, g);
    cr_assert_str_eq(g, "123 456 789 012 345");
    identity_number_grouped(NUMBER_MIN, g);
    cr_assert_str_eq(g, "100 000 000 000 000");
    identity_number_digits(NUMBER_MAX, d);
    cr_assert_str_eq(d, "999999999999999");
    identity_number_grouped(VECTOR_NUMBER, g);
    cr_assert_str_eq(g, "670 909 416 005 580");
    cr_assert_eq(strlen(g) + 1, NUMBER_GROUPED_LEN);
}

Test(number, fifteen_digits_parse_with_spaces_anywhere)
{
    static const char *ok[] = {
            "123456789012345",     "123 456 789 012 345", " 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 ",
            "  123456789012345  ", "12345 67890 12345",   "1234567890123 45",
    };
    uint64_t n;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(identity_number_parse(ok[i], &n), SOTTO_OK, "\"%s\"", ok[i]);
        cr_assert_eq(n, 123456789012345ULL, "\"%s\"", ok[i]);
    }
    cr_assert_eq(identity_number_parse("999 999 999 999 999", &n), SOTTO_OK);
    cr_assert_eq(n, NUMBER_MAX);
    cr_assert_eq(identity_number_parse("100000000000000", &n), SOTTO_OK);
    cr_assert_eq(n, NUMBER_MIN);
}

Test(number, anything_but_fifteen_digits_is_refused)
{
    static const char *bad[] = {
            "",
            " ",
            "12345678901234",
            "1234567890123456",
            "123456789012345678901234567890",
            "99999999999999999999",
            "023456789012345",
            " 0 23456789012345",
            "alice",
            "12345678901234a",
            "+123456789012345",
            "-123456789012345",
            "123-456-789-012-345",
            "123\t456789012345",
            "123456789012345\n",
            "１23456789012345",
            "0x1234567890123",
    };
    uint64_t n = 7;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(identity_number_parse(bad[i], &n), SOTTO_EPROTO, "\"%s\"", bad[i]);
        cr_assert_eq(n, 0, "the output is defined on failure");
    }
    cr_assert_eq(identity_number_parse(NULL, &n), SOTTO_EINVAL);
}

Test(number, a_printed_number_parses_back)
{
    uint8_t key[E2E_KEY_LEN];
    char g[NUMBER_GROUPED_LEN], d[NUMBER_DIGITS_LEN];
    uint64_t n;

    for (int i = 0; i < 200; i++) {
        randombytes_buf(key, sizeof(key));
        identity_number_grouped(identity_number(key), g);
        cr_assert_eq(identity_number_parse(g, &n), SOTTO_OK);
        cr_assert_eq(n, identity_number(key));
        identity_number_digits(n, d);
        cr_assert_eq(identity_number_parse(d, &n), SOTTO_OK);
        cr_assert_eq(n, identity_number(key));
    }
}

Test(number, the_key_fingerprint_is_grouped_lowercase_hex_of_sha256)
{
    uint8_t key[E2E_KEY_LEN];
    char fp[FINGERPRINT_LEN];

    vector_key(key);
    identity_fingerprint(key, fp);
    cr_assert_str_eq(fp, "94da 8017 8045 48b4 3cf7 d994 5572 4a9a "
                         "7de5 27ff 0895 c9bf b047 3562 e3fb 0637");
    cr_assert_eq(strlen(fp), 79);
}

Test(number, fingerprints_of_random_keys_match_openssl)
{
    uint8_t key[E2E_KEY_LEN], h[SHA256_DIGEST_LENGTH];
    char fp[FINGERPRINT_LEN], hex[2 * SHA256_DIGEST_LENGTH + 1], joined[65];

    for (int i = 0; i < 100; i++) {
        size_t o = 0;
        randombytes_buf(key, sizeof(key));
        identity_fingerprint(key, fp);
        SHA256(key, sizeof(key), h);
        sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
        cr_assert_eq(strlen(fp), 79);
        for (size_t j = 0; j < 79; j++) {
            if (j % 5 == 4) {
                cr_assert_eq(fp[j], ' ', "a single space after each group of four");
                continue;
            }
            joined[o++] = fp[j];
        }
        joined[o] = '\0';
        cr_assert_str_eq(joined, hex);
    }
}
