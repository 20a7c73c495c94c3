/* src/util/bytes.h: bounded reading of untrusted bytes and capped, growable writing.
 * Integers are big-endian on the wire. */
#ifndef SOTTO_UTIL_BYTES_H
#define SOTTO_UTIL_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

struct sotto_env;

/* A cursor over borrowed bytes: reads never go past `left`. */
struct reader {
    const uint8_t *p; /* borrowed */
    size_t left;
};

void reader_init(struct reader *r, const void *p, size_t len);
/* Takes exactly `n` bytes; *out points into the input (borrowed). SOTTO_ETRUNC if fewer are
 * left, and then nothing is consumed. On every path *out is defined (NULL on failure). */
enum sotto_err reader_take(struct reader *r, size_t n, const uint8_t **out);
/* Copies exactly `n` bytes into `out`. */
enum sotto_err reader_copy(struct reader *r, void *out, size_t n);
/* Fixed-size big-endian integers: SOTTO_ETRUNC (and *out = 0, nothing consumed) when fewer
 * bytes are left than the integer needs. */
enum sotto_err reader_u8(struct reader *r, uint8_t *out);
enum sotto_err reader_u16(struct reader *r, uint16_t *out);
enum sotto_err reader_u32(struct reader *r, uint32_t *out);
enum sotto_err reader_u64(struct reader *r, uint64_t *out);
/* A field of a u8 length then that many bytes: SOTTO_ETOOBIG when the length exceeds `max`,
 * checked before anything is taken. *out is borrowed from the input. */
enum sotto_err reader_bytes8(struct reader *r, size_t max, const uint8_t **out, size_t *len);
/* The same with a u16 length. */
enum sotto_err reader_bytes16(struct reader *r, size_t max, const uint8_t **out, size_t *len);
/* SOTTO_OK when every byte was consumed, SOTTO_EPROTO when some are left over. */
enum sotto_err reader_end(const struct reader *r);

/* A growable buffer that never grows past `max`. The first error sticks: later puts do
 * nothing and return it, so an encoder may check once at the end. */
struct writer {
    const struct sotto_env *env; /* borrowed */
    uint8_t *p;                  /* owned; allocated through env */
    size_t len, cap, max;
    enum sotto_err err;
};

/* Cannot fail; allocates nothing until the first put. */
void writer_init(struct writer *w, const struct sotto_env *env, size_t max);
/* Wipes and frees the buffer; the writer is empty and reusable afterwards. */
void writer_clear(struct writer *w);
enum sotto_err writer_put(struct writer *w, const void *p, size_t n);
/* Append a big-endian integer; return the writer's (sticky) error. */
enum sotto_err writer_u8(struct writer *w, uint8_t v);
enum sotto_err writer_u16(struct writer *w, uint16_t v);
enum sotto_err writer_u32(struct writer *w, uint32_t v);
enum sotto_err writer_u64(struct writer *w, uint64_t v);
/* u8 length then bytes; SOTTO_EINVAL when n > 255. */
enum sotto_err writer_bytes8(struct writer *w, const void *p, size_t n);
/* u16 length then bytes; SOTTO_EINVAL when n > 65535. */
enum sotto_err writer_bytes16(struct writer *w, const void *p, size_t n);
/* Hands the bytes to the caller (free with sotto_free(env, *out)) and leaves the writer empty.
 * Returns the sticky error if any, and then *out is NULL. An empty writer gives SOTTO_EINVAL. */
enum sotto_err writer_take(struct writer *w, uint8_t **out, size_t *len);

#endif
