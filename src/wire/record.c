/* src/wire/record.c: the record, plaintext of every Signal message (docs/PROTOCOL.md, "Peer
 * links v1"):
 *   version u8 | type u8 | flags u8 | id (16) | sent_at_ms u64 | [group id (16)] |
 *   body length u32 | body | zero padding to the next multiple of WIRE_RECORD_PAD
 * The padding is the least that reaches a multiple, so that every record has one encoding. */
#include <assert.h>
#include <string.h>

#include "util/bytes.h"
#include "util/text.h"
#include "wire/wire.h"
#include "wire/wire_int.h"

#define FLAG_GROUP 0x01

const char *wire_record_type_name(uint8_t type)
{
    switch (type) {
    case WIRE_RECORD_TEXT:
        return "text";
    case WIRE_RECORD_RECEIPT:
        return "receipt";
    case WIRE_RECORD_FILE_OFFER:
        return "file offer";
    case WIRE_RECORD_GROUP_UPDATE:
        return "group update";
    default:
        return "unknown";
    }
}

/* A receipt body is an id list and nothing else. */
static enum sotto_err receipt_read(struct wire_ids *out, const uint8_t *body, size_t len)
{
    struct reader r;

    reader_init(&r, body, len);
    if (wire_ids_read(out, &r) != SOTTO_OK || reader_end(&r) != SOTTO_OK) {
        out->n = 0;
        return SOTTO_EPROTO;
    }
    return SOTTO_OK;
}

static bool receipt_valid(const uint8_t *body, size_t len)
{
    size_t n;

    if (len < 2)
        return false;
    n = (size_t)body[0] << 8 | body[1];
    return n >= 1 && n <= WIRE_IDS_MAX && len == 2 + n * WIRE_ID_LEN;
}

/* The rules of a body whose type this version knows; other types' bodies are opaque. */
static enum sotto_err body_check(uint8_t type, const uint8_t *body, size_t len)
{
    if (len > WIRE_BODY_MAX)
        return SOTTO_ETOOBIG;
    if (len > 0 && body == NULL)
        return SOTTO_EPROTO;
    if (type == WIRE_RECORD_TEXT && (len == 0 || !text_utf8_valid(body, len)))
        return SOTTO_EPROTO;
    if (type == WIRE_RECORD_RECEIPT && !receipt_valid(body, len))
        return SOTTO_EPROTO;
    return SOTTO_OK;
}

static size_t unpadded_size(const struct wire_record *rec)
{
    return 3 + WIRE_ID_LEN + 8 + (rec->has_group ? WIRE_ID_LEN : 0) + 4 + rec->body_len;
}

static size_t padded(size_t n)
{
    return (n + WIRE_RECORD_PAD - 1) / WIRE_RECORD_PAD * WIRE_RECORD_PAD;
}

static enum sotto_err head_read(struct wire_record *out, struct reader *r)
{
    uint8_t version = 0, flags = 0;
    enum sotto_err rc = reader_u8(r, &version);

    if (rc == SOTTO_OK && version != WIRE_RECORD_VERSION)
        return SOTTO_EPROTO;
    if (rc == SOTTO_OK)
        rc = reader_u8(r, &out->type);
    if (rc == SOTTO_OK)
        rc = reader_u8(r, &flags);
    if (rc == SOTTO_OK && (flags & ~FLAG_GROUP) != 0)
        return SOTTO_EPROTO;
    out->has_group = (flags & FLAG_GROUP) != 0;
    if (rc == SOTTO_OK)
        rc = reader_copy(r, out->id, WIRE_ID_LEN);
    if (rc == SOTTO_OK)
        rc = reader_u64(r, &out->sent_at_ms);
    if (rc == SOTTO_OK && out->has_group)
        rc = reader_copy(r, out->group_id, WIRE_ID_LEN);
    return rc;
}

static enum sotto_err body_read(struct wire_record *out, struct reader *r)
{
    uint32_t len = 0;
    enum sotto_err rc = reader_u32(r, &len);

    if (rc != SOTTO_OK)
        return rc;
    if (len > WIRE_BODY_MAX)
        return SOTTO_ETOOBIG;
    out->body_len = len;
    return reader_take(r, len, &out->body);
}

/* After `used` bytes, exactly the zeros that reach the next multiple of WIRE_RECORD_PAD. */
static enum sotto_err padding_read(struct reader *r, size_t used)
{
    size_t need = padded(used) - used;
    const uint8_t *pad;
    uint8_t any = 0;

    if (r->left < need)
        return SOTTO_ETRUNC;
    if (r->left > need)
        return SOTTO_EPROTO;
    reader_take(r, need, &pad);
    for (size_t i = 0; i < need; i++)
        any |= pad[i];
    return any == 0 ? SOTTO_OK : SOTTO_EPROTO;
}

enum sotto_err wire_record_decode(struct wire_record *out, struct reader *r)
{
    struct reader save = *r;
    size_t total = r->left;
    enum sotto_err rc = SOTTO_OK;

    memset(out, 0, sizeof(*out));
    if (total > WIRE_RECORD_MAX)
        rc = SOTTO_ETOOBIG;
    if (rc == SOTTO_OK)
        rc = head_read(out, r);
    if (rc == SOTTO_OK)
        rc = body_read(out, r);
    if (rc == SOTTO_OK)
        rc = padding_read(r, total - r->left);
    if (rc == SOTTO_OK)
        rc = body_check(out->type, out->body, out->body_len);
    if (rc == SOTTO_OK && out->type == WIRE_RECORD_RECEIPT)
        rc = receipt_read(&out->receipt, out->body, out->body_len);
    if (rc != SOTTO_OK) {
        memset(out, 0, sizeof(*out));
        *r = save;
    }
    return rc;
}

size_t wire_record_size(const struct wire_record *rec)
{
    if (body_check(rec->type, rec->body, rec->body_len) != SOTTO_OK)
        return 0;
    return padded(unpadded_size(rec));
}

enum sotto_err wire_record_encode(const struct wire_record *rec, uint8_t *out, size_t cap,
                                  size_t *len)
{
    size_t size = wire_record_size(rec);
    struct wire_out o;

    *len = 0;
    if (size == 0 || out == NULL)
        return SOTTO_EINVAL;
    if (cap < size)
        return SOTTO_ETOOBIG;
    wire_out_init(&o, out, size);
    wire_out_u8(&o, WIRE_RECORD_VERSION);
    wire_out_u8(&o, rec->type);
    wire_out_u8(&o, rec->has_group ? FLAG_GROUP : 0);
    wire_out_put(&o, rec->id, WIRE_ID_LEN);
    wire_out_u64(&o, rec->sent_at_ms);
    if (rec->has_group)
        wire_out_put(&o, rec->group_id, WIRE_ID_LEN);
    wire_out_u32(&o, (uint32_t)rec->body_len);
    wire_out_put(&o, rec->body, rec->body_len);
    wire_out_zero(&o, size - o.len);
    if (o.err != SOTTO_OK)
        return o.err;
    assert(o.len == size);
    *len = o.len;
    return SOTTO_OK;
}

enum sotto_err wire_receipt_encode(const struct wire_ids *ids, uint8_t *out, size_t cap,
                                   size_t *len)
{
    size_t size = wire_ids_size(ids);
    struct wire_out o;

    *len = 0;
    if (size == 0 || out == NULL)
        return SOTTO_EINVAL;
    if (cap < size)
        return SOTTO_ETOOBIG;
    wire_out_init(&o, out, size);
    wire_ids_write(ids, &o);
    if (o.err != SOTTO_OK)
        return o.err;
    *len = o.len;
    return SOTTO_OK;
}
