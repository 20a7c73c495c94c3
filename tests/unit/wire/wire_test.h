/* tests/unit/wire/wire_test.h: what the wire suites share: sample frames and records of every
 * type, and an independent raw encoder, so that a test can build bytes the encoder refuses. */
#ifndef SOTTO_TEST_WIRE_TEST_H
#define SOTTO_TEST_WIRE_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

/* 05 01 02 … 20: canonical, not of small order (the key of PROTOCOL.md's number vector). */
extern const uint8_t wire_test_key[E2E_KEY_LEN];

#define WIRE_N_SAMPLE_FRAMES  10
#define WIRE_N_SAMPLE_RECORDS 9

/* Sample i (0..WIRE_N_SAMPLE_FRAMES-1) of a frame of every type; borrowed bytes point into
 * static storage. */
void wire_sample_frame(struct wire_frame *f, size_t i);
/* Sample i of a record: text, receipts, unknown and reserved types, with and without group. */
void wire_sample_record(struct wire_record *rec, size_t i);

/* Encodes, asserting success and that the length is wire_*_size(); returns the length. */
size_t wire_encode_frame_ok(const struct wire_frame *f, uint8_t *out, size_t cap);
size_t wire_encode_record_ok(const struct wire_record *rec, uint8_t *out, size_t cap);

/* Decodes all of in[0..len), returning the result; on failure asserts that *out was zeroed
 * (but for frames, type) and that nothing was consumed. */
int wire_decode_frame(struct wire_frame *out, const uint8_t *in, size_t len);
int wire_decode_record(struct wire_record *out, const uint8_t *in, size_t len);

void wire_assert_same_frame(const struct wire_frame *a, const struct wire_frame *b);
void wire_assert_same_record(const struct wire_record *a, const struct wire_record *b);

/* magic | type | declared | payload[0..n): any header over any payload. */
size_t wire_raw_frame(uint8_t *out, uint8_t magic, uint8_t type, uint32_t declared,
                      const uint8_t *payload, size_t n);

/* A record's fields as bytes, for building what the encoder refuses. */
struct wire_raw_record {
    uint8_t version, type, flags;
    uint8_t id[WIRE_ID_LEN];
    uint64_t sent_at_ms;
    uint8_t group_id[WIRE_ID_LEN]; /* written when flags & 1 */
    uint32_t declared;             /* the body length field */
    const uint8_t *body;
    size_t body_len;
    long pad; /* zero bytes after the body; < 0: up to the next multiple of 160 */
};
void wire_raw_record_default(struct wire_raw_record *raw, const char *text);
size_t wire_raw_record(uint8_t *out, size_t cap, const struct wire_raw_record *raw);

/* Decodes hex (no spaces) into out; returns its length. */
size_t wire_hex(uint8_t *out, size_t cap, const char *hex);

#endif
