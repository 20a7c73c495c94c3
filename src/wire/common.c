/* src/wire/common.c: the output cursor and the id list of src/wire. */
#include <string.h>

#include "util/bytes.h"
#include "wire/wire.h"
#include "wire/wire_int.h"

void wire_out_init(struct wire_out *o, uint8_t *p, size_t cap)
{
    o->p = p;
    o->len = 0;
    o->cap = p == NULL ? 0 : cap;
    o->err = SOTTO_OK;
}

/* Reserves n bytes: NULL (and the sticky error) when they do not fit. */
static uint8_t *out_room(struct wire_out *o, size_t n)
{
    uint8_t *at;

    if (o->err != SOTTO_OK)
        return NULL;
    if (n > o->cap - o->len) { /* len <= cap always: cannot wrap */
        o->err = SOTTO_ETOOBIG;
        return NULL;
    }
    at = o->p + o->len;
    o->len += n;
    return at;
}

enum sotto_err wire_out_put(struct wire_out *o, const void *p, size_t n)
{
    uint8_t *at = out_room(o, n);

    if (at != NULL && n > 0)
        memcpy(at, p, n);
    return o->err;
}

enum sotto_err wire_out_zero(struct wire_out *o, size_t n)
{
    uint8_t *at = out_room(o, n);

    if (at != NULL && n > 0)
        memset(at, 0, n);
    return o->err;
}

static enum sotto_err out_be(struct wire_out *o, uint64_t v, size_t n)
{
    uint8_t *at = out_room(o, n);

    for (size_t i = 0; at != NULL && i < n; i++)
        at[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return o->err;
}

enum sotto_err wire_out_u8(struct wire_out *o, uint8_t v)
{
    return out_be(o, v, 1);
}

enum sotto_err wire_out_u16(struct wire_out *o, uint16_t v)
{
    return out_be(o, v, 2);
}

enum sotto_err wire_out_u32(struct wire_out *o, uint32_t v)
{
    return out_be(o, v, 4);
}

enum sotto_err wire_out_u64(struct wire_out *o, uint64_t v)
{
    return out_be(o, v, 8);
}

enum sotto_err wire_ids_read(struct wire_ids *out, struct reader *r)
{
    struct reader save = *r;
    uint16_t n;
    enum sotto_err rc;

    out->n = 0;
    rc = reader_u16(r, &n);
    if (rc == SOTTO_OK && n == 0)
        rc = SOTTO_EPROTO;
    if (rc == SOTTO_OK && n > WIRE_IDS_MAX)
        rc = SOTTO_ETOOBIG;
    /* the whole list at once: a short list consumes nothing of it */
    if (rc == SOTTO_OK)
        rc = reader_copy(r, out->ids, (size_t)n * WIRE_ID_LEN);
    if (rc != SOTTO_OK) {
        *r = save;
        return rc;
    }
    out->n = n;
    return SOTTO_OK;
}

size_t wire_ids_size(const struct wire_ids *ids)
{
    if (ids->n == 0 || ids->n > WIRE_IDS_MAX)
        return 0;
    return 2 + ids->n * WIRE_ID_LEN;
}

void wire_ids_write(const struct wire_ids *ids, struct wire_out *o)
{
    if (wire_ids_size(ids) == 0) {
        if (o->err == SOTTO_OK)
            o->err = SOTTO_EINVAL;
        return;
    }
    wire_out_u16(o, (uint16_t)ids->n);
    wire_out_put(o, ids->ids, ids->n * WIRE_ID_LEN);
}
