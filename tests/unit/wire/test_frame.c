/* tests/unit/wire/test_frame.c: link frames round-trip, and every malformed frame is refused
 * with the error the header promises, before anything past a bad length is read. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "util/bytes.h"
#include "wire_test.h"

static uint8_t buf[WIRE_FRAME_MAX + 64];

Test(wire_frame, every_frame_type_round_trips_to_the_same_bytes)
{
    static uint8_t again[WIRE_FRAME_MAX];

    for (size_t i = 0; i < WIRE_N_SAMPLE_FRAMES; i++) {
        struct wire_frame f, got;
        size_t len = 0, len2 = 0;

        wire_sample_frame(&f, i);
        len = wire_encode_frame_ok(&f, buf, sizeof(buf));
        cr_assert_eq(buf[0], WIRE_MAGIC);
        cr_assert_eq(buf[1], f.type);
        cr_assert_eq(wire_decode_frame(&got, buf, len), SOTTO_OK, "sample %zu", i);
        wire_assert_same_frame(&f, &got);
        cr_assert_eq(wire_frame_encode(&got, again, sizeof(again), &len2), SOTTO_OK);
        cr_assert_eq(len2, len);
        cr_assert_arr_eq(again, buf, len);
    }
}

Test(wire_frame, decoded_bytes_are_borrowed_from_the_input)
{
    struct wire_frame f, got;
    size_t len;

    wire_sample_frame(&f, 3);
    len = wire_encode_frame_ok(&f, buf, sizeof(buf));
    cr_assert_eq(wire_decode_frame(&got, buf, len), SOTTO_OK);
    cr_assert_eq(got.message.ciphertext, buf + WIRE_HEADER_LEN + WIRE_ID_LEN + 1 + 4);
}

Test(wire_frame, every_truncation_of_every_frame_is_refused)
{
    for (size_t i = 0; i < WIRE_N_SAMPLE_FRAMES; i++) {
        struct wire_frame f, got;
        size_t len;

        wire_sample_frame(&f, i);
        len = wire_encode_frame_ok(&f, buf, sizeof(buf));
        for (size_t cut = 0; cut < len; cut++)
            cr_assert_eq(wire_decode_frame(&got, buf, cut), SOTTO_ETRUNC,
                         "sample %zu cut to %zu of %zu bytes", i, cut, len);
    }
}

Test(wire_frame, payload_shorter_than_its_fields_is_refused_as_truncated)
{
    for (size_t i = 0; i < WIRE_N_SAMPLE_FRAMES; i++) {
        static uint8_t raw[WIRE_FRAME_MAX];
        struct wire_frame f, got;
        size_t len, n;

        wire_sample_frame(&f, i);
        len = wire_encode_frame_ok(&f, buf, sizeof(buf));
        if (f.type == WIRE_CARD || f.type == WIRE_BUNDLE_REQUEST)
            continue; /* no inner fields */
        /* the header agrees with the shorter payload: the fields, not the frame, run out */
        for (size_t cut = 1; cut <= 20 && cut <= len - WIRE_HEADER_LEN; cut++) {
            size_t plen = len - WIRE_HEADER_LEN - cut;
            n = wire_raw_frame(raw, WIRE_MAGIC, f.type, (uint32_t)plen, buf + WIRE_HEADER_LEN,
                               plen);
            cr_assert_eq(wire_decode_frame(&got, raw, n), SOTTO_ETRUNC, "sample %zu cut %zu", i,
                         cut);
        }
    }
}

Test(wire_frame, trailing_bytes_after_a_frame_are_refused)
{
    for (size_t i = 0; i < WIRE_N_SAMPLE_FRAMES; i++) {
        struct wire_frame f, got;
        size_t len;

        wire_sample_frame(&f, i);
        len = wire_encode_frame_ok(&f, buf, sizeof(buf));
        buf[len] = 0x00;
        cr_assert_eq(wire_decode_frame(&got, buf, len + 1), SOTTO_EPROTO, "sample %zu", i);
        cr_assert_eq(got.type, f.type);
    }
}

Test(wire_frame, trailing_bytes_inside_a_payload_are_refused)
{
    for (size_t i = 0; i < WIRE_N_SAMPLE_FRAMES; i++) {
        static uint8_t raw[WIRE_FRAME_MAX + 1];
        struct wire_frame f, got;
        size_t len, n;

        wire_sample_frame(&f, i);
        if (f.type == WIRE_CARD)
            continue; /* the whole payload is the card */
        len = wire_encode_frame_ok(&f, buf, sizeof(buf));
        buf[len] = 0x00;
        n = wire_raw_frame(raw, WIRE_MAGIC, f.type, (uint32_t)(len - WIRE_HEADER_LEN + 1),
                           buf + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN + 1);
        cr_assert_eq(wire_decode_frame(&got, raw, n), SOTTO_EPROTO, "sample %zu", i);
    }
}

Test(wire_frame, refuses_declared_length_over_cap_before_reading)
{
    static const uint32_t over[] = {WIRE_PAYLOAD_MAX + 1, WIRE_FRAME_MAX, 0x7fffffff, 0xffffffff};
    uint8_t in[WIRE_HEADER_LEN];
    struct wire_frame f;

    for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
        /* only the header is there: a decoder that read on would see ETRUNC instead */
        wire_raw_frame(in, WIRE_MAGIC, WIRE_MESSAGE, over[i], NULL, 0);
        cr_assert_eq(wire_decode_frame(&f, in, sizeof(in)), SOTTO_ETOOBIG, "%u", over[i]);
    }
    wire_raw_frame(in, WIRE_MAGIC, WIRE_MESSAGE, WIRE_PAYLOAD_MAX, NULL, 0);
    cr_assert_eq(wire_decode_frame(&f, in, sizeof(in)), SOTTO_ETRUNC, "the cap itself is allowed");
}

Test(wire_frame, a_frame_of_exactly_the_cap_reaches_the_types_own_rules)
{
    static uint8_t raw[WIRE_FRAME_MAX];
    struct wire_frame f;

    memset(raw, 0, sizeof(raw));
    wire_raw_frame(raw, WIRE_MAGIC, WIRE_CARD, WIRE_PAYLOAD_MAX, NULL, 0);
    cr_assert_eq(wire_decode_frame(&f, raw, sizeof(raw)), SOTTO_ETOOBIG, "card over its cap");
    wire_raw_frame(raw, WIRE_MAGIC, 0x7e, WIRE_PAYLOAD_MAX, NULL, 0);
    cr_assert_eq(wire_decode_frame(&f, raw, sizeof(raw)), SOTTO_EPROTO);
    cr_assert_eq(f.type, 0x7e);
}

Test(wire_frame, peek_gives_the_length_from_the_header_alone)
{
    struct wire_frame f;
    uint8_t type = 0;
    size_t len, frame_len = 0;

    wire_sample_frame(&f, 4);
    len = wire_encode_frame_ok(&f, buf, sizeof(buf));
    for (size_t cut = 0; cut < WIRE_HEADER_LEN; cut++)
        cr_assert_eq(wire_frame_peek(buf, cut, &type, &frame_len), SOTTO_ETRUNC);
    cr_assert_eq(wire_frame_peek(buf, WIRE_HEADER_LEN, &type, &frame_len), SOTTO_OK);
    cr_assert_eq(type, WIRE_MESSAGE);
    cr_assert_eq(frame_len, len);
    wire_raw_frame(buf, WIRE_MAGIC, WIRE_CARD, WIRE_PAYLOAD_MAX + 1, NULL, 0);
    cr_assert_eq(wire_frame_peek(buf, WIRE_HEADER_LEN, &type, &frame_len), SOTTO_ETOOBIG);
    cr_assert_eq(frame_len, 0);
    wire_raw_frame(buf, 0x02, WIRE_CARD, 1, NULL, 0);
    cr_assert_eq(wire_frame_peek(buf, WIRE_HEADER_LEN, &type, &frame_len), SOTTO_EPROTO);
}

Test(wire_frame, another_magic_byte_is_refused)
{
    struct wire_frame f;
    size_t len;

    wire_sample_frame(&f, 7);
    len = wire_encode_frame_ok(&f, buf, sizeof(buf));
    for (int m = 0; m < 256; m++) {
        if (m == WIRE_MAGIC)
            continue;
        buf[0] = (uint8_t)m;
        cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_EPROTO);
    }
}

Test(wire_frame, an_unknown_type_is_refused_and_reported)
{
    static const uint8_t payload[] = {1, 2, 3};
    uint8_t raw[16];
    struct wire_frame f;
    size_t n, unknown = 0;

    for (int t = 0; t < 256; t++) {
        if (wire_frame_type_known((uint8_t)t)) {
            cr_assert_str_neq(wire_frame_type_name((uint8_t)t), "unknown");
            continue;
        }
        n = wire_raw_frame(raw, WIRE_MAGIC, (uint8_t)t, sizeof(payload), payload, sizeof(payload));
        cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_EPROTO);
        cr_assert_eq(f.type, t, "the type is reported");
        cr_assert_str_eq(wire_frame_type_name((uint8_t)t), "unknown");
        unknown++;
    }
    cr_assert_eq(unknown, 256 - 7);
}

/* A HELLO payload with one field changed. */
static size_t hello_raw(uint8_t *raw, size_t off, uint8_t v)
{
    struct wire_frame f;
    size_t len;

    wire_sample_frame(&f, 0);
    len = wire_encode_frame_ok(&f, raw, WIRE_FRAME_MAX);
    raw[WIRE_HEADER_LEN + off] = v;
    return len;
}

Test(wire_frame, hello_fields_out_of_range_are_refused)
{
    struct wire_frame f;
    size_t len;

    len = hello_raw(buf, 0, 0); /* version_min 0 */
    cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_EPROTO);
    len = hello_raw(buf, 0, 2); /* min 2 > max 1 */
    cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_EPROTO);
    len = hello_raw(buf, 1, 9); /* max 9: a newer peer, decodes */
    cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_OK);
    cr_assert_eq(f.hello.version_max, 9);
    len = hello_raw(buf, 2, 2); /* role 2 */
    cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_EPROTO);
    len = hello_raw(buf, 3, 0x06); /* key type */
    cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_EBADKEY);
    len = hello_raw(buf, 3 + 32, 0xa0); /* top bit of the key's last byte: not canonical */
    cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_EBADKEY);
    len = hello_raw(buf, 0, 1);
    memset(buf + WIRE_HEADER_LEN + 4, 0, 32); /* u = 0: small order */
    cr_assert_eq(wire_decode_frame(&f, buf, len), SOTTO_EBADKEY);
}

Test(wire_frame, message_kind_and_ciphertext_length_are_checked)
{
    uint8_t p[WIRE_ID_LEN + 1 + 4 + 2] = {0}, raw[64];
    struct wire_frame f;
    size_t n;

    for (int kind = 0; kind < 256; kind++) {
        p[WIRE_ID_LEN] = (uint8_t)kind;
        p[WIRE_ID_LEN + 4] = 2; /* ciphertext length 2 */
        n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_MESSAGE, sizeof(p), p, sizeof(p));
        cr_assert_eq(wire_decode_frame(&f, raw, n),
                     kind == 1 || kind == 2 ? SOTTO_OK : SOTTO_EPROTO, "kind %d", kind);
    }
    p[WIRE_ID_LEN] = WIRE_KIND_SIGNAL;
    p[WIRE_ID_LEN + 4] = 0; /* empty ciphertext */
    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_MESSAGE, sizeof(p) - 2, p, sizeof(p) - 2);
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_EPROTO);
    /* a ciphertext over its cap is refused on its declared length, in a frame under the cap */
    p[WIRE_ID_LEN + 1] = 0x00;
    p[WIRE_ID_LEN + 2] = (uint8_t)((WIRE_CIPHERTEXT_MAX + 1) >> 16);
    p[WIRE_ID_LEN + 3] = (uint8_t)((WIRE_CIPHERTEXT_MAX + 1) >> 8);
    p[WIRE_ID_LEN + 4] = (uint8_t)(WIRE_CIPHERTEXT_MAX + 1);
    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_MESSAGE, sizeof(p), p, sizeof(p));
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_ETOOBIG);
}

Test(wire_frame, card_must_be_one_to_cap_bytes)
{
    static uint8_t raw[WIRE_HEADER_LEN + WIRE_CARD_MAX + 1];
    struct wire_frame f;
    size_t n;

    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_CARD, 0, NULL, 0);
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_EPROTO);
    memset(raw + WIRE_HEADER_LEN, 'c', WIRE_CARD_MAX + 1);
    wire_raw_frame(raw, WIRE_MAGIC, WIRE_CARD, WIRE_CARD_MAX + 1, NULL, 0);
    cr_assert_eq(wire_decode_frame(&f, raw, sizeof(raw)), SOTTO_ETOOBIG);
    wire_raw_frame(raw, WIRE_MAGIC, WIRE_CARD, WIRE_CARD_MAX, NULL, 0);
    cr_assert_eq(wire_decode_frame(&f, raw, sizeof(raw) - 1), SOTTO_OK);
    cr_assert_eq(f.card.len, WIRE_CARD_MAX);
}

Test(wire_frame, ack_count_must_be_one_to_cap)
{
    static uint8_t p[2 + (WIRE_IDS_MAX + 1) * WIRE_ID_LEN], raw[sizeof(p) + WIRE_HEADER_LEN];
    struct wire_frame f;
    size_t n;

    memset(p, 0x3c, sizeof(p));
    p[0] = 0;
    p[1] = 0;
    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_ACK, 2, p, 2);
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_EPROTO);
    p[0] = (uint8_t)((WIRE_IDS_MAX + 1) >> 8);
    p[1] = (uint8_t)(WIRE_IDS_MAX + 1);
    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_ACK, sizeof(p), p, sizeof(p));
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_ETOOBIG);
    p[0] = 0xff; /* 65535 declared, 2 ids there: the cap is checked first */
    p[1] = 0xff;
    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_ACK, 2 + 2 * WIRE_ID_LEN, p, 2 + 2 * WIRE_ID_LEN);
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_ETOOBIG);
    p[0] = 0;
    p[1] = 3; /* 3 declared, 2 there */
    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_ACK, 2 + 2 * WIRE_ID_LEN, p, 2 + 2 * WIRE_ID_LEN);
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_ETRUNC);
}

Test(wire_frame, refuse_reasons_unknown_to_us_still_decode)
{
    uint8_t p[WIRE_ID_LEN + 1], raw[32], again[32];
    struct wire_frame f;
    size_t n, len;

    memset(p, 0x42, sizeof(p));
    for (int reason = 0; reason < 256; reason++) {
        p[WIRE_ID_LEN] = (uint8_t)reason;
        n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_REFUSE, sizeof(p), p, sizeof(p));
        cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_OK);
        cr_assert_eq(f.refuse.reason, reason);
        cr_assert_eq(wire_frame_encode(&f, again, sizeof(again), &len), SOTTO_OK);
        cr_assert(len == n && memcmp(again, raw, n) == 0);
    }
}

Test(wire_frame, bundle_request_has_an_empty_payload)
{
    uint8_t raw[8];
    struct wire_frame f;
    size_t n;

    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_BUNDLE_REQUEST, 0, NULL, 0);
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_OK);
    cr_assert_eq(f.type, WIRE_BUNDLE_REQUEST);
    n = wire_raw_frame(raw, WIRE_MAGIC, WIRE_BUNDLE_REQUEST, 1, (const uint8_t *)"x", 1);
    cr_assert_eq(wire_decode_frame(&f, raw, n), SOTTO_EPROTO);
}

static enum sotto_err bundle_with(void (*change)(struct wire_bundle *b))
{
    struct wire_frame f, got;
    size_t len;

    wire_sample_frame(&f, 9);
    len = wire_encode_frame_ok(&f, buf, sizeof(buf));
    change(&f.bundle);
    /* rewrite the three ids in place: the encoder would refuse them */
    for (int i = 0; i < 4; i++) {
        buf[WIRE_HEADER_LEN + i] = (uint8_t)(f.bundle.registration_id >> (24 - 8 * i));
        buf[WIRE_HEADER_LEN + 4 + i] = (uint8_t)(f.bundle.device_id >> (24 - 8 * i));
        buf[WIRE_HEADER_LEN + 8 + i] = (uint8_t)(f.bundle.signed_prekey_id >> (24 - 8 * i));
    }
    memcpy(buf + WIRE_HEADER_LEN + 12, f.bundle.signed_prekey, E2E_KEY_LEN);
    return wire_decode_frame(&got, buf, len);
}

static void reg_0(struct wire_bundle *b)
{
    b->registration_id = 0;
}
static void reg_over(struct wire_bundle *b)
{
    b->registration_id = WIRE_REGISTRATION_ID_MAX + 1;
}
static void reg_1(struct wire_bundle *b)
{
    b->registration_id = 1;
}
static void device_2(struct wire_bundle *b)
{
    b->device_id = 2;
}
static void device_0(struct wire_bundle *b)
{
    b->device_id = 0;
}
static void spk_0(struct wire_bundle *b)
{
    b->signed_prekey_id = 0;
}
static void spk_over(struct wire_bundle *b)
{
    b->signed_prekey_id = WIRE_PREKEY_ID_MAX + 1;
}
static void spk_1(struct wire_bundle *b)
{
    b->signed_prekey_id = 1;
}
static void spk_small_order(struct wire_bundle *b)
{
    memset(b->signed_prekey + 1, 0, 32);
    b->signed_prekey[1] = 1; /* u = 1: small order */
}

Test(wire_frame, bundle_fields_out_of_range_are_refused)
{
    cr_assert_eq(bundle_with(reg_0), SOTTO_EPROTO);
    cr_assert_eq(bundle_with(reg_over), SOTTO_EPROTO);
    cr_assert_eq(bundle_with(reg_1), SOTTO_OK);
    cr_assert_eq(bundle_with(device_2), SOTTO_EPROTO);
    cr_assert_eq(bundle_with(device_0), SOTTO_EPROTO);
    cr_assert_eq(bundle_with(spk_0), SOTTO_EPROTO);
    cr_assert_eq(bundle_with(spk_over), SOTTO_EPROTO);
    cr_assert_eq(bundle_with(spk_1), SOTTO_OK);
    cr_assert_eq(bundle_with(spk_small_order), SOTTO_EBADKEY);
}

Test(wire_frame, encode_refuses_what_decode_would_refuse)
{
    static uint8_t big[WIRE_CARD_MAX + 1];
    struct wire_frame f;
    size_t len = 99;

    wire_sample_frame(&f, 0);
    f.hello.role = 2;
    cr_assert_eq(wire_frame_size(&f), 0);
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    cr_assert_eq(len, 0);
    wire_sample_frame(&f, 1);
    f.card.bytes = big;
    f.card.len = sizeof(big);
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    wire_sample_frame(&f, 3);
    f.message.kind = 3;
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    wire_sample_frame(&f, 3);
    f.message.ciphertext_len = 0;
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    wire_sample_frame(&f, 5);
    f.ack.n = WIRE_IDS_MAX + 1;
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    f.ack.n = 0;
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    wire_sample_frame(&f, 9);
    f.bundle.device_id = 2;
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    f.type = 0x55;
    cr_assert_eq(wire_frame_encode(&f, buf, sizeof(buf), &len), SOTTO_EINVAL);
    wire_sample_frame(&f, 8);
    cr_assert_eq(wire_frame_encode(&f, NULL, 64, &len), SOTTO_EINVAL);
}

Test(wire_frame, encode_into_a_short_buffer_is_refused_and_writes_nothing)
{
    for (size_t i = 0; i < WIRE_N_SAMPLE_FRAMES; i++) {
        static uint8_t out[WIRE_FRAME_MAX];
        struct wire_frame f;
        size_t size, len = 99;

        wire_sample_frame(&f, i);
        size = wire_frame_size(&f);
        memset(out, 0xee, sizeof(out));
        for (size_t cap = size > 300 ? size - 300 : 0; cap < size; cap++) {
            cr_assert_eq(wire_frame_encode(&f, out, cap, &len), SOTTO_ETOOBIG);
            cr_assert_eq(len, 0);
        }
        cr_assert_eq(out[0], 0xee, "nothing written");
        cr_assert_eq(wire_frame_encode(&f, out, size, &len), SOTTO_OK);
    }
}
