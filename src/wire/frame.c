/* src/wire/frame.c: link frames, version 1 (docs/PROTOCOL.md, "Peer links v1"):
 *   magic 0x01 | type u8 | payload length u32 | payload
 * with a payload whose layout the type fixes, decoded field by field and refused whole at the
 * first rule it breaks. */
#include <assert.h>
#include <string.h>

#include "identity/card.h"
#include "util/bytes.h"
#include "wire/wire.h"
#include "wire/wire_int.h"

#define MESSAGE_HEAD_LEN (WIRE_ID_LEN + 1 + 4) /* id | kind | ciphertext length */
#define REFUSE_LEN       (WIRE_ID_LEN + 1)

_Static_assert(WIRE_CARD_MAX == CARD_BODY_MAX, "a CARD frame holds the largest card");
_Static_assert(WIRE_HEADER_LEN + MESSAGE_HEAD_LEN + WIRE_CIPHERTEXT_MAX <= WIRE_FRAME_MAX,
               "the largest ciphertext fits in a frame");
_Static_assert(WIRE_HEADER_LEN + 2 + WIRE_IDS_MAX * WIRE_ID_LEN <= WIRE_FRAME_MAX,
               "the largest ACK fits in a frame");
/* A Signal message adds under 300 bytes to its plaintext (version byte, protobuf fields, two
 * 33-byte keys for a PreKeySignalMessage, CBC padding, an 8-byte MAC): 1 KiB of room. */
_Static_assert(WIRE_RECORD_MAX + 1024 <= WIRE_CIPHERTEXT_MAX,
               "the largest record, encrypted, fits in a MESSAGE");

bool wire_frame_type_known(uint8_t type)
{
    switch (type) {
    case WIRE_HELLO:
    case WIRE_CARD:
    case WIRE_MESSAGE:
    case WIRE_ACK:
    case WIRE_REFUSE:
    case WIRE_BUNDLE_REQUEST:
    case WIRE_BUNDLE:
        return true;
    default:
        return false;
    }
}

const char *wire_frame_type_name(uint8_t type)
{
    switch (type) {
    case WIRE_HELLO:
        return "HELLO";
    case WIRE_CARD:
        return "CARD";
    case WIRE_MESSAGE:
        return "MESSAGE";
    case WIRE_ACK:
        return "ACK";
    case WIRE_REFUSE:
        return "REFUSE";
    case WIRE_BUNDLE_REQUEST:
        return "BUNDLE_REQUEST";
    case WIRE_BUNDLE:
        return "BUNDLE";
    default:
        return "unknown";
    }
}

static enum sotto_err bundle_check(const struct wire_bundle *b)
{
    if (b->registration_id < 1 || b->registration_id > WIRE_REGISTRATION_ID_MAX ||
        b->device_id != 1 || b->signed_prekey_id < 1 || b->signed_prekey_id > WIRE_PREKEY_ID_MAX)
        return SOTTO_EPROTO;
    return e2e_pubkey_check(b->signed_prekey);
}

static enum sotto_err bytes_check(const uint8_t *p, size_t len, size_t max)
{
    if (len > max)
        return SOTTO_ETOOBIG;
    return len == 0 || p == NULL ? SOTTO_EPROTO : SOTTO_OK;
}

/* The rules of each payload's fields, for decoding (their error) and encoding (EINVAL). */
static enum sotto_err frame_check(const struct wire_frame *f)
{
    switch (f->type) {
    case WIRE_HELLO:
        return wire_hello_check(&f->hello);
    case WIRE_CARD:
        return bytes_check(f->card.bytes, f->card.len, WIRE_CARD_MAX);
    case WIRE_MESSAGE:
        if (f->message.kind != WIRE_KIND_PREKEY && f->message.kind != WIRE_KIND_SIGNAL)
            return SOTTO_EPROTO;
        return bytes_check(f->message.ciphertext, f->message.ciphertext_len, WIRE_CIPHERTEXT_MAX);
    case WIRE_ACK:
        return wire_ids_size(&f->ack) == 0 ? SOTTO_EPROTO : SOTTO_OK;
    case WIRE_REFUSE: /* any reason: a newer peer's stays readable */
    case WIRE_BUNDLE_REQUEST:
        return SOTTO_OK;
    case WIRE_BUNDLE:
        return bundle_check(&f->bundle);
    default:
        return SOTTO_EPROTO;
    }
}

/* The payload's length of a frame that passed frame_check. */
static size_t payload_size(const struct wire_frame *f)
{
    switch (f->type) {
    case WIRE_HELLO:
        return WIRE_HELLO_LEN;
    case WIRE_CARD:
        return f->card.len;
    case WIRE_MESSAGE:
        return MESSAGE_HEAD_LEN + f->message.ciphertext_len;
    case WIRE_ACK:
        return wire_ids_size(&f->ack);
    case WIRE_REFUSE:
        return REFUSE_LEN;
    case WIRE_BUNDLE:
        return WIRE_BUNDLE_LEN;
    default:
        return 0;
    }
}

enum sotto_err wire_frame_peek(const uint8_t *in, size_t len, uint8_t *type, size_t *frame_len)
{
    struct reader r;
    uint8_t magic = 0;
    uint32_t payload_len = 0;

    *type = 0;
    *frame_len = 0;
    if (len < WIRE_HEADER_LEN)
        return SOTTO_ETRUNC;
    reader_init(&r, in, WIRE_HEADER_LEN);
    reader_u8(&r, &magic);
    reader_u8(&r, type);
    reader_u32(&r, &payload_len);
    if (magic != WIRE_MAGIC)
        return SOTTO_EPROTO;
    if (payload_len > WIRE_PAYLOAD_MAX)
        return SOTTO_ETOOBIG;
    *frame_len = WIRE_HEADER_LEN + (size_t)payload_len;
    return SOTTO_OK;
}

/* The header, then the payload as a reader of its own: the declared length is checked
 * against the cap before any of the payload is looked at. */
static enum sotto_err header_read(struct reader *r, uint8_t *type, struct reader *payload)
{
    const uint8_t *p;
    uint8_t magic;
    uint32_t len;
    enum sotto_err rc;

    rc = reader_u8(r, &magic);
    if (rc != SOTTO_OK)
        return rc;
    if (magic != WIRE_MAGIC)
        return SOTTO_EPROTO;
    rc = reader_u8(r, type);
    if (rc == SOTTO_OK)
        rc = reader_u32(r, &len);
    if (rc != SOTTO_OK)
        return rc;
    if (len > WIRE_PAYLOAD_MAX)
        return SOTTO_ETOOBIG;
    rc = reader_take(r, len, &p);
    if (rc == SOTTO_OK)
        reader_init(payload, p, len);
    return rc;
}

static enum sotto_err hello_read(struct wire_hello *h, struct reader *p)
{
    enum sotto_err rc = reader_u8(p, &h->version_min);

    if (rc == SOTTO_OK)
        rc = reader_u8(p, &h->version_max);
    if (rc == SOTTO_OK)
        rc = reader_u8(p, &h->role);
    if (rc == SOTTO_OK)
        rc = reader_copy(p, h->key, E2E_KEY_LEN);
    if (rc == SOTTO_OK)
        rc = reader_copy(p, h->sig, E2E_SIG_LEN);
    return rc;
}

static enum sotto_err card_read(struct wire_frame *f, struct reader *p)
{
    if (p->left > WIRE_CARD_MAX)
        return SOTTO_ETOOBIG;
    f->card.len = p->left;
    return reader_take(p, p->left, &f->card.bytes);
}

static enum sotto_err message_read(struct wire_message *m, struct reader *p)
{
    uint32_t len = 0;
    enum sotto_err rc = reader_copy(p, m->id, WIRE_ID_LEN);

    if (rc == SOTTO_OK)
        rc = reader_u8(p, &m->kind);
    if (rc == SOTTO_OK)
        rc = reader_u32(p, &len);
    if (rc != SOTTO_OK)
        return rc;
    if (len > WIRE_CIPHERTEXT_MAX)
        return SOTTO_ETOOBIG;
    m->ciphertext_len = len;
    return reader_take(p, len, &m->ciphertext);
}

static enum sotto_err refuse_read(struct wire_refuse *rf, struct reader *p)
{
    enum sotto_err rc = reader_copy(p, rf->id, WIRE_ID_LEN);

    if (rc == SOTTO_OK)
        rc = reader_u8(p, &rf->reason);
    return rc;
}

static enum sotto_err bundle_read(struct wire_bundle *b, struct reader *p)
{
    enum sotto_err rc = reader_u32(p, &b->registration_id);

    if (rc == SOTTO_OK)
        rc = reader_u32(p, &b->device_id);
    if (rc == SOTTO_OK)
        rc = reader_u32(p, &b->signed_prekey_id);
    if (rc == SOTTO_OK)
        rc = reader_copy(p, b->signed_prekey, E2E_KEY_LEN);
    if (rc == SOTTO_OK)
        rc = reader_copy(p, b->signature, E2E_SIG_LEN);
    return rc;
}

static enum sotto_err payload_read(struct wire_frame *f, struct reader *p)
{
    switch (f->type) {
    case WIRE_HELLO:
        return hello_read(&f->hello, p);
    case WIRE_CARD:
        return card_read(f, p);
    case WIRE_MESSAGE:
        return message_read(&f->message, p);
    case WIRE_ACK:
        return wire_ids_read(&f->ack, p);
    case WIRE_REFUSE:
        return refuse_read(&f->refuse, p);
    case WIRE_BUNDLE_REQUEST:
        return SOTTO_OK;
    case WIRE_BUNDLE:
        return bundle_read(&f->bundle, p);
    default:
        return SOTTO_EPROTO; /* unknown type: out->type tells it */
    }
}

enum sotto_err wire_frame_decode(struct wire_frame *out, struct reader *r)
{
    struct reader save = *r, payload;
    uint8_t type = 0;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = header_read(r, &type, &payload);
    if (rc == SOTTO_OK)
        rc = reader_end(r); /* one WebSocket message is one frame: nothing may follow */
    out->type = type;
    if (rc == SOTTO_OK)
        rc = payload_read(out, &payload);
    if (rc == SOTTO_OK)
        rc = reader_end(&payload);
    if (rc == SOTTO_OK)
        rc = frame_check(out);
    if (rc != SOTTO_OK) {
        memset(out, 0, sizeof(*out));
        out->type = type;
        *r = save;
    }
    return rc;
}

size_t wire_frame_size(const struct wire_frame *f)
{
    if (frame_check(f) != SOTTO_OK)
        return 0;
    return WIRE_HEADER_LEN + payload_size(f);
}

static void hello_write(const struct wire_hello *h, struct wire_out *o)
{
    wire_out_u8(o, h->version_min);
    wire_out_u8(o, h->version_max);
    wire_out_u8(o, h->role);
    wire_out_put(o, h->key, E2E_KEY_LEN);
    wire_out_put(o, h->sig, E2E_SIG_LEN);
}

static void message_write(const struct wire_message *m, struct wire_out *o)
{
    wire_out_put(o, m->id, WIRE_ID_LEN);
    wire_out_u8(o, m->kind);
    wire_out_u32(o, (uint32_t)m->ciphertext_len);
    wire_out_put(o, m->ciphertext, m->ciphertext_len);
}

static void bundle_write(const struct wire_bundle *b, struct wire_out *o)
{
    wire_out_u32(o, b->registration_id);
    wire_out_u32(o, b->device_id);
    wire_out_u32(o, b->signed_prekey_id);
    wire_out_put(o, b->signed_prekey, E2E_KEY_LEN);
    wire_out_put(o, b->signature, E2E_SIG_LEN);
}

static void payload_write(const struct wire_frame *f, struct wire_out *o)
{
    switch (f->type) {
    case WIRE_HELLO:
        hello_write(&f->hello, o);
        break;
    case WIRE_CARD:
        wire_out_put(o, f->card.bytes, f->card.len);
        break;
    case WIRE_MESSAGE:
        message_write(&f->message, o);
        break;
    case WIRE_ACK:
        wire_ids_write(&f->ack, o);
        break;
    case WIRE_REFUSE:
        wire_out_put(o, f->refuse.id, WIRE_ID_LEN);
        wire_out_u8(o, f->refuse.reason);
        break;
    case WIRE_BUNDLE:
        bundle_write(&f->bundle, o);
        break;
    default: /* WIRE_BUNDLE_REQUEST: no payload */
        break;
    }
}

enum sotto_err wire_frame_encode(const struct wire_frame *f, uint8_t *out, size_t cap, size_t *len)
{
    size_t size = wire_frame_size(f);
    struct wire_out o;

    *len = 0;
    if (size == 0 || out == NULL)
        return SOTTO_EINVAL;
    if (cap < size)
        return SOTTO_ETOOBIG;
    wire_out_init(&o, out, size);
    wire_out_u8(&o, WIRE_MAGIC);
    wire_out_u8(&o, f->type);
    wire_out_u32(&o, (uint32_t)(size - WIRE_HEADER_LEN));
    payload_write(f, &o);
    if (o.err != SOTTO_OK)
        return o.err;
    assert(o.len == size);
    *len = o.len;
    return SOTTO_OK;
}
