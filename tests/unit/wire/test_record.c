/* tests/unit/wire/test_record.c: records round-trip with their padding; every malformed,
 * truncated, over-long or badly padded record is refused; unknown types decode opaque. */
#include <string.h>

#include <criterion/criterion.h>

#include "util/bytes.h"
#include "wire_test.h"

static uint8_t buf[WIRE_RECORD_MAX + 2 * WIRE_RECORD_PAD];

Test(wire_record, every_record_type_round_trips_to_the_same_bytes)
{
    static uint8_t again[WIRE_RECORD_MAX];

    for (size_t i = 0; i < WIRE_N_SAMPLE_RECORDS; i++) {
        struct wire_record rec, got;
        size_t len, len2 = 0;

        wire_sample_record(&rec, i);
        len = wire_encode_record_ok(&rec, buf, sizeof(buf));
        cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_OK, "sample %zu", i);
        wire_assert_same_record(&rec, &got);
        cr_assert_eq(wire_record_encode(&got, again, sizeof(again), &len2), SOTTO_OK);
        cr_assert_eq(len2, len);
        cr_assert_arr_eq(again, buf, len);
    }
}

Test(wire_record, padding_is_the_least_that_reaches_a_multiple_of_160)
{
    struct wire_record rec;

    wire_sample_record(&rec, 0);
    cr_assert_eq(wire_record_size(&rec), 160);
    wire_sample_record(&rec, 7);
    cr_assert_eq(wire_record_size(&rec), 160, "exactly 160 bytes: no padding");
    wire_sample_record(&rec, 8);
    cr_assert_eq(wire_record_size(&rec), 320, "161 bytes: padded to 320");
    wire_sample_record(&rec, 2);
    cr_assert_eq(wire_record_size(&rec), WIRE_RECORD_MAX);
    rec.has_group = true;
    cr_assert_eq(wire_record_size(&rec), WIRE_RECORD_MAX, "the longest head and body");
}

Test(wire_record, padding_is_written_as_zeros_whatever_the_buffer_held)
{
    struct wire_record rec;
    size_t len;

    wire_sample_record(&rec, 1);
    memset(buf, 0xff, sizeof(buf));
    len = wire_encode_record_ok(&rec, buf, sizeof(buf));
    for (size_t i = 3 + 16 + 8 + 16 + 4 + rec.body_len; i < len; i++)
        cr_assert_eq(buf[i], 0, "padding byte %zu", i);
}

Test(wire_record, a_receipt_decodes_its_ids)
{
    struct wire_record rec, got;
    size_t len;

    wire_sample_record(&rec, 4);
    len = wire_encode_record_ok(&rec, buf, sizeof(buf));
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_OK);
    cr_assert_eq(got.receipt.n, WIRE_IDS_MAX);
    cr_assert_arr_eq(got.receipt.ids, rec.body + 2, WIRE_IDS_MAX * WIRE_ID_LEN);
}

Test(wire_record, unknown_and_reserved_types_decode_with_an_opaque_body)
{
    static const uint8_t not_utf8[] = {0xff, 0xc0, 0x80, 0x00};
    uint8_t again[WIRE_RECORD_PAD];

    for (int type = 0; type < 256; type++) {
        struct wire_record rec, got;
        size_t len, len2;

        if (type == WIRE_RECORD_TEXT || type == WIRE_RECORD_RECEIPT)
            continue;
        wire_sample_record(&rec, 0);
        rec.type = (uint8_t)type;
        rec.body = not_utf8;
        rec.body_len = sizeof(not_utf8);
        len = wire_encode_record_ok(&rec, buf, sizeof(buf));
        cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_OK, "type %d", type);
        wire_assert_same_record(&rec, &got);
        cr_assert_eq(got.receipt.n, 0);
        cr_assert_eq(wire_record_encode(&got, again, sizeof(again), &len2), SOTTO_OK);
        cr_assert(len2 == len && memcmp(again, buf, len) == 0);
        if (type >= 5 || type == 0)
            cr_assert_str_eq(wire_record_type_name((uint8_t)type), "unknown");
    }
}

Test(wire_record, every_truncation_of_every_record_is_refused)
{
    for (size_t i = 0; i < WIRE_N_SAMPLE_RECORDS; i++) {
        struct wire_record rec, got;
        size_t len;

        wire_sample_record(&rec, i);
        len = wire_encode_record_ok(&rec, buf, sizeof(buf));
        for (size_t cut = 0; cut < len; cut++)
            cr_assert_eq(wire_decode_record(&got, buf, cut), SOTTO_ETRUNC,
                         "sample %zu cut to %zu of %zu", i, cut, len);
    }
}

Test(wire_record, a_non_zero_padding_byte_is_refused)
{
    struct wire_record rec, got;
    size_t len, start;

    wire_sample_record(&rec, 1);
    len = wire_encode_record_ok(&rec, buf, sizeof(buf));
    start = 3 + 16 + 8 + 16 + 4 + rec.body_len;
    cr_assert_lt(start, len);
    for (size_t i = start; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] = (uint8_t)(1u << bit);
            cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_EPROTO, "byte %zu", i);
        }
        buf[i] = 0;
    }
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_OK);
}

Test(wire_record, more_padding_than_needed_is_refused)
{
    struct wire_raw_record raw;
    struct wire_record got;
    size_t len;

    wire_raw_record_default(&raw, "hi");
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(len, 160);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_OK);
    raw.pad = 127 + 160; /* a multiple of 160, but a whole block of zeros too many */
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(len, 320);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_EPROTO);
    raw.pad = 128; /* one trailing byte */
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_EPROTO);
    raw.pad = 0; /* no padding at all */
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_ETRUNC);
}

Test(wire_record, a_body_over_its_cap_is_refused_on_its_declared_length)
{
    struct wire_raw_record raw;
    struct wire_record got;
    size_t len;

    wire_raw_record_default(&raw, "hi");
    raw.declared = WIRE_BODY_MAX + 1; /* with 2 bytes there: a reader would see ETRUNC */
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_ETOOBIG);
    raw.declared = 0xffffffff;
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_ETOOBIG);
    raw.declared = WIRE_BODY_MAX; /* allowed, but not there */
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_ETRUNC);
    raw.declared = 200; /* more than is left */
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_ETRUNC);
}

Test(wire_record, a_record_over_the_cap_is_refused_before_reading)
{
    static uint8_t big[WIRE_RECORD_MAX + WIRE_RECORD_PAD];
    struct wire_record got;

    memset(big, 0, sizeof(big));
    big[0] = WIRE_RECORD_VERSION;
    big[1] = WIRE_RECORD_TEXT;
    cr_assert_eq(wire_decode_record(&got, big, sizeof(big)), SOTTO_ETOOBIG);
}

Test(wire_record, other_versions_and_flag_bits_are_refused)
{
    struct wire_raw_record raw;
    struct wire_record got;
    size_t len;

    wire_raw_record_default(&raw, "hi");
    for (int v = 0; v < 256; v++) {
        raw.version = (uint8_t)v;
        len = wire_raw_record(buf, sizeof(buf), &raw);
        cr_assert_eq(wire_decode_record(&got, buf, len),
                     v == WIRE_RECORD_VERSION ? SOTTO_OK : SOTTO_EPROTO, "version %d", v);
    }
    raw.version = WIRE_RECORD_VERSION;
    for (int bit = 1; bit < 8; bit++) {
        raw.flags = (uint8_t)(1u << bit);
        len = wire_raw_record(buf, sizeof(buf), &raw);
        cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_EPROTO, "flag bit %d", bit);
    }
    raw.flags = 1;
    len = wire_raw_record(buf, sizeof(buf), &raw);
    cr_assert_eq(wire_decode_record(&got, buf, len), SOTTO_OK);
    cr_assert(got.has_group);
    cr_assert_arr_eq(got.group_id, raw.group_id, WIRE_ID_LEN);
}

static enum sotto_err text_rc(const uint8_t *body, size_t n)
{
    struct wire_raw_record raw;
    struct wire_record got;
    size_t len;

    wire_raw_record_default(&raw, "");
    raw.body = body;
    raw.body_len = n;
    raw.declared = (uint32_t)n;
    len = wire_raw_record(buf, sizeof(buf), &raw);
    return wire_decode_record(&got, buf, len);
}

Test(wire_record, a_text_must_be_non_empty_utf8)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
            {"\xc0\x80", 2},         /* overlong NUL */
            {"\xed\xa0\x80", 3},     /* surrogate */
            {"\xf4\x90\x80\x80", 4}, /* over U+10FFFF */
            {"\x80", 1},             /* lone continuation */
            {"ab\xe2\x82", 4},       /* cut inside a character */
            {"\xff", 1},
    };

    cr_assert_eq(text_rc((const uint8_t *)"", 0), SOTTO_EPROTO);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(text_rc((const uint8_t *)bad[i].bytes, bad[i].len), SOTTO_EPROTO, "%zu", i);
    cr_assert_eq(text_rc((const uint8_t *)"\xe2\x82\xac", 3), SOTTO_OK);
}

static enum sotto_err receipt_rc(size_t count, size_t n_ids, size_t extra)
{
    static uint8_t body[2 + 300 * WIRE_ID_LEN + 8];
    struct wire_raw_record raw;
    struct wire_record got;
    size_t len, n = 2 + n_ids * WIRE_ID_LEN + extra;

    memset(body, 0x5d, sizeof(body));
    body[0] = (uint8_t)(count >> 8);
    body[1] = (uint8_t)count;
    wire_raw_record_default(&raw, "");
    raw.type = WIRE_RECORD_RECEIPT;
    raw.body = body;
    raw.body_len = n;
    raw.declared = (uint32_t)n;
    len = wire_raw_record(buf, sizeof(buf), &raw);
    return wire_decode_record(&got, buf, len);
}

Test(wire_record, a_receipt_body_must_be_exactly_an_id_list)
{
    cr_assert_eq(receipt_rc(1, 1, 0), SOTTO_OK);
    cr_assert_eq(receipt_rc(WIRE_IDS_MAX, WIRE_IDS_MAX, 0), SOTTO_OK);
    cr_assert_eq(receipt_rc(0, 0, 0), SOTTO_EPROTO);
    cr_assert_eq(receipt_rc(WIRE_IDS_MAX + 1, WIRE_IDS_MAX + 1, 0), SOTTO_EPROTO);
    cr_assert_eq(receipt_rc(2, 1, 0), SOTTO_EPROTO, "fewer ids than counted");
    cr_assert_eq(receipt_rc(1, 2, 0), SOTTO_EPROTO, "more ids than counted");
    cr_assert_eq(receipt_rc(1, 1, 1), SOTTO_EPROTO, "a byte after the ids");
}

Test(wire_record, encode_refuses_what_decode_would_refuse)
{
    static uint8_t big[WIRE_BODY_MAX + 1];
    static const uint8_t bad_receipt[] = {0, 2, 1, 2, 3};
    struct wire_record rec;
    size_t len = 99;

    wire_sample_record(&rec, 0);
    rec.body_len = 0;
    cr_assert_eq(wire_record_size(&rec), 0);
    cr_assert_eq(wire_record_encode(&rec, buf, sizeof(buf), &len), SOTTO_EINVAL, "empty text");
    cr_assert_eq(len, 0);
    rec.body = (const uint8_t *)"\xc0\x80";
    rec.body_len = 2;
    cr_assert_eq(wire_record_encode(&rec, buf, sizeof(buf), &len), SOTTO_EINVAL, "not UTF-8");
    memset(big, 'a', sizeof(big));
    rec.body = big;
    rec.body_len = sizeof(big);
    cr_assert_eq(wire_record_encode(&rec, buf, sizeof(buf), &len), SOTTO_EINVAL, "over cap");
    rec.type = WIRE_RECORD_RECEIPT;
    rec.body = bad_receipt;
    rec.body_len = sizeof(bad_receipt);
    cr_assert_eq(wire_record_encode(&rec, buf, sizeof(buf), &len), SOTTO_EINVAL);
    rec.type = 0x99;
    rec.body = NULL;
    rec.body_len = 5;
    cr_assert_eq(wire_record_encode(&rec, buf, sizeof(buf), &len), SOTTO_EINVAL);
    rec.body_len = 0;
    cr_assert_eq(wire_record_encode(&rec, NULL, 160, &len), SOTTO_EINVAL);
    cr_assert_eq(wire_record_encode(&rec, buf, 159, &len), SOTTO_ETOOBIG);
    cr_assert_eq(wire_record_encode(&rec, buf, 160, &len), SOTTO_OK);
}

Test(wire_record, receipt_encode_makes_a_body_the_record_accepts)
{
    struct wire_ids ids;
    struct wire_record rec, got;
    uint8_t body[2 + 3 * WIRE_ID_LEN];
    size_t len = 0, rlen;

    ids.n = 3;
    for (size_t i = 0; i < 3; i++)
        memset(ids.ids[i], (int)i + 1, WIRE_ID_LEN);
    cr_assert_eq(wire_receipt_encode(&ids, body, sizeof(body) - 1, &len), SOTTO_ETOOBIG);
    cr_assert_eq(wire_receipt_encode(&ids, body, sizeof(body), &len), SOTTO_OK);
    cr_assert_eq(len, sizeof(body));
    wire_sample_record(&rec, 0);
    rec.type = WIRE_RECORD_RECEIPT;
    rec.body = body;
    rec.body_len = len;
    rlen = wire_encode_record_ok(&rec, buf, sizeof(buf));
    cr_assert_eq(wire_decode_record(&got, buf, rlen), SOTTO_OK);
    cr_assert_eq(got.receipt.n, 3);
    cr_assert_arr_eq(got.receipt.ids, ids.ids, 3 * WIRE_ID_LEN);
    ids.n = 0;
    cr_assert_eq(wire_receipt_encode(&ids, body, sizeof(body), &len), SOTTO_EINVAL);
    ids.n = WIRE_IDS_MAX + 1;
    cr_assert_eq(wire_receipt_encode(&ids, body, sizeof(body), &len), SOTTO_EINVAL);
}
