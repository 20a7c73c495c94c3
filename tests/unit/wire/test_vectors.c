/* tests/unit/wire/test_vectors.c: the test vectors of docs/PROTOCOL.md, "Peer links v1",
 * byte for byte, both ways. */
#include <string.h>

#include <criterion/criterion.h>

#include "wire_test.h"

/* ACK of one id, 00 01 … 0f */
static const char ack_hex[] = "01"       /* magic */
                              "11"       /* type ACK */
                              "00000012" /* payload length 18 */
                              "0001"     /* one id */
                              "000102030405060708090a0b0c0d0e0f";

/* text record "hi", id 00 01 … 0f, sent_at 1700000000000 ms, no group: 33 bytes and 127 zeros */
static const char hi_head_hex[] = "01"                               /* version */
                                  "01"                               /* type text */
                                  "00"                               /* flags */
                                  "000102030405060708090a0b0c0d0e0f" /* id */
                                  "0000018bcfe56800"                 /* sent_at ms */
                                  "00000002"                         /* body length */
                                  "6869";                            /* "hi" */

static void id_0_to_15(uint8_t id[static WIRE_ID_LEN])
{
    for (int i = 0; i < WIRE_ID_LEN; i++)
        id[i] = (uint8_t)i;
}

Test(wire_vectors, an_ack_of_one_id_is_the_documented_bytes)
{
    struct wire_frame f = {.type = WIRE_ACK}, got;
    uint8_t want[64], out[64];
    size_t want_len = wire_hex(want, sizeof(want), ack_hex), len;

    f.ack.n = 1;
    id_0_to_15(f.ack.ids[0]);
    len = wire_encode_frame_ok(&f, out, sizeof(out));
    cr_assert_eq(len, 24);
    cr_assert_eq(want_len, 24);
    cr_assert_arr_eq(out, want, len);
    cr_assert_eq(wire_decode_frame(&got, want, want_len), SOTTO_OK);
    wire_assert_same_frame(&f, &got);
}

Test(wire_vectors, the_padded_text_record_hi_is_the_documented_bytes)
{
    struct wire_record rec = {.type = WIRE_RECORD_TEXT, .sent_at_ms = 1700000000000ULL}, got;
    uint8_t want[WIRE_RECORD_PAD], out[2 * WIRE_RECORD_PAD];
    size_t head_len, len;

    memset(want, 0, sizeof(want));
    head_len = wire_hex(want, sizeof(want), hi_head_hex);
    cr_assert_eq(head_len, 33);
    id_0_to_15(rec.id);
    rec.body = (const uint8_t *)"hi";
    rec.body_len = 2;
    memset(out, 0xff, sizeof(out));
    len = wire_encode_record_ok(&rec, out, sizeof(out));
    cr_assert_eq(len, 160);
    cr_assert_arr_eq(out, want, len);
    cr_assert_eq(wire_decode_record(&got, want, sizeof(want)), SOTTO_OK);
    wire_assert_same_record(&rec, &got);
}
