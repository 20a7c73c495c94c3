/* tests/unit/util/test_bytes.c: the reader never reads past its input; the writer never grows
 * past its cap and its first error sticks. */
#include <string.h>

#include <criterion/criterion.h>

#include "failalloc.h"
#include "util/bytes.h"

Test(reader, reads_big_endian_integers_in_order)
{
    const uint8_t in[] = {1, 0x02, 0x03, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x2a};
    struct reader r;
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t d;

    reader_init(&r, in, sizeof(in));
    cr_assert_eq(reader_u8(&r, &a), SOTTO_OK);
    cr_assert_eq(reader_u16(&r, &b), SOTTO_OK);
    cr_assert_eq(reader_u32(&r, &c), SOTTO_OK);
    cr_assert_eq(reader_end(&r), SOTTO_EPROTO);
    cr_assert_eq(reader_u64(&r, &d), SOTTO_ETRUNC, "only 7 bytes are left");
    cr_assert_eq(a, 1);
    cr_assert_eq(b, 0x0203);
    cr_assert_eq(c, 0x100);
    cr_assert_eq(r.left, 7, "a failed read consumes nothing");
}

Test(reader, refuses_to_take_more_than_is_left)
{
    const uint8_t in[] = {1, 2, 3};
    struct reader r;
    const uint8_t *p = in;

    reader_init(&r, in, sizeof(in));
    cr_assert_eq(reader_take(&r, 4, &p), SOTTO_ETRUNC);
    cr_assert_null(p, "the output is defined on failure");
    cr_assert_eq(reader_take(&r, SIZE_MAX, &p), SOTTO_ETRUNC);
    cr_assert_eq(reader_take(&r, 3, &p), SOTTO_OK);
    cr_assert_eq(reader_end(&r), SOTTO_OK);
}

Test(reader, refuses_declared_length_over_cap_before_taking)
{
    const uint8_t in[] = {0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
    struct reader r;
    const uint8_t *p;
    size_t len;

    reader_init(&r, in, sizeof(in));
    cr_assert_eq(reader_bytes16(&r, 4, &p, &len), SOTTO_ETOOBIG);
    cr_assert_eq(r.left, sizeof(in), "nothing consumed");
    cr_assert_eq(reader_bytes16(&r, 5, &p, &len), SOTTO_OK);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(p, "hello", 5), 0);
}

Test(reader, refuses_declared_length_beyond_input)
{
    const uint8_t in[] = {0x09, 'a', 'b'};
    struct reader r;
    const uint8_t *p;
    size_t len;

    reader_init(&r, in, sizeof(in));
    cr_assert_eq(reader_bytes8(&r, 255, &p, &len), SOTTO_ETRUNC);
    cr_assert_eq(len, 0);
    cr_assert_eq(r.left, sizeof(in));
}

Test(reader, empty_input_is_at_its_end)
{
    struct reader r;
    uint8_t v;

    reader_init(&r, NULL, 10);
    cr_assert_eq(r.left, 0, "a NULL input has no bytes whatever its length says");
    cr_assert_eq(reader_end(&r), SOTTO_OK);
    cr_assert_eq(reader_u8(&r, &v), SOTTO_ETRUNC);
}

Test(writer, encodes_what_the_reader_decodes)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct writer w;
    struct reader r;
    uint8_t *out;
    size_t len;
    uint64_t v;
    const uint8_t *p;
    size_t plen;

    failalloc_env(&env, &fa, 0);
    writer_init(&w, &env, 1024);
    writer_u64(&w, 0x0102030405060708ULL);
    writer_bytes8(&w, "abc", 3);
    cr_assert_eq(writer_take(&w, &out, &len), SOTTO_OK);
    cr_assert_eq(len, 12);
    reader_init(&r, out, len);
    cr_assert_eq(reader_u64(&r, &v), SOTTO_OK);
    cr_assert_eq(v, 0x0102030405060708ULL);
    cr_assert_eq(reader_bytes8(&r, 3, &p, &plen), SOTTO_OK);
    cr_assert_eq(memcmp(p, "abc", 3), 0);
    sotto_free(&env, out);
    cr_assert_eq(fa.live, 0);
}

Test(writer, never_grows_past_its_cap_and_the_error_sticks)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct writer w;
    uint8_t big[100] = {0};
    uint8_t *out;
    size_t len;

    failalloc_env(&env, &fa, 0);
    writer_init(&w, &env, 64);
    cr_assert_eq(writer_put(&w, big, 60), SOTTO_OK);
    cr_assert_eq(writer_put(&w, big, 5), SOTTO_ETOOBIG);
    cr_assert_eq(writer_u8(&w, 1), SOTTO_ETOOBIG, "the first error sticks");
    cr_assert_eq(writer_take(&w, &out, &len), SOTTO_ETOOBIG);
    cr_assert_null(out);
    cr_assert_eq(fa.live, 0, "a failed take frees the buffer");
}

Test(writer, refuses_fields_longer_than_their_length_prefix)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct writer w;
    uint8_t big[300] = {0};

    failalloc_env(&env, &fa, 0);
    writer_init(&w, &env, 4096);
    cr_assert_eq(writer_bytes8(&w, big, 256), SOTTO_EINVAL);
    writer_clear(&w);
    cr_assert_eq(writer_bytes16(&w, big, 300), SOTTO_OK);
    writer_clear(&w);
    cr_assert_eq(fa.live, 0);
}

Test(writer, reports_allocation_failure_at_every_call)
{
    for (unsigned long n = 1;; n++) {
        struct failalloc fa = {0};
        struct sotto_env env;
        struct writer w;
        uint8_t chunk[50] = {7};
        uint8_t *out;
        size_t len;
        enum sotto_err rc = SOTTO_OK;

        failalloc_env(&env, &fa, n);
        writer_init(&w, &env, 1 << 20);
        for (int i = 0; i < 100 && rc == SOTTO_OK; i++)
            rc = writer_put(&w, chunk, sizeof(chunk));
        rc = writer_take(&w, &out, &len);
        if (fa.failed == 0) {
            cr_assert_eq(rc, SOTTO_OK);
            cr_assert_eq(len, 5000);
            sotto_free(&env, out);
            cr_assert_eq(fa.live, 0);
            break;
        }
        cr_assert_eq(rc, SOTTO_ENOMEM, "call %lu failed", n);
        cr_assert_eq(fa.live, 0, "leak after failing call %lu", n);
    }
}
