/* src/wire/wire_int.h: what the files of src/wire share: a bounded cursor over the caller's
 * output buffer, and the id list that ACK frames and read receipts both carry. */
#ifndef SOTTO_WIRE_WIRE_INT_H
#define SOTTO_WIRE_WIRE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

struct reader;
struct wire_hello;
struct wire_ids;

/* Writes into a caller buffer that never grows. The first error sticks (SOTTO_ETOOBIG when
 * a put does not fit), so an encoder checks once at the end. */
struct wire_out {
    uint8_t *p; /* borrowed from the caller */
    size_t len, cap;
    enum sotto_err err;
};

void wire_out_init(struct wire_out *o, uint8_t *p, size_t cap);
enum sotto_err wire_out_put(struct wire_out *o, const void *p, size_t n);
enum sotto_err wire_out_zero(struct wire_out *o, size_t n);
enum sotto_err wire_out_u8(struct wire_out *o, uint8_t v);
enum sotto_err wire_out_u16(struct wire_out *o, uint16_t v);
enum sotto_err wire_out_u32(struct wire_out *o, uint32_t v);
enum sotto_err wire_out_u64(struct wire_out *o, uint64_t v);

/* An id list: u16 count (1..WIRE_IDS_MAX) then count ids of WIRE_ID_LEN bytes.
 * Decoding refuses a count of 0 (SOTTO_EPROTO) or over the cap (SOTTO_ETOOBIG, before the
 * ids are read) and a list cut short (SOTTO_ETRUNC); it does not check what follows. */
enum sotto_err wire_ids_read(struct wire_ids *out, struct reader *r);
/* 2 + WIRE_ID_LEN * ids->n; 0 when the count is out of range. */
size_t wire_ids_size(const struct wire_ids *ids);
/* Sets the sticky SOTTO_EINVAL when the count is out of range. */
void wire_ids_write(const struct wire_ids *ids, struct wire_out *o);

/* The rules of a HELLO's fields (not its signature): 1 <= version_min <= version_max and a
 * known role (SOTTO_EPROTO), a key that passes e2e_pubkey_check (SOTTO_EBADKEY). */
enum sotto_err wire_hello_check(const struct wire_hello *hello);

#endif
