/* tests/unit/wire/wire_test.c: sample frames and records, and the raw encoder of the tests. */
#include <string.h>

#include <criterion/criterion.h>

#include "util/bytes.h"
#include "wire_test.h"

const uint8_t wire_test_key[E2E_KEY_LEN] = {
        0x05, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
        0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
        0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};

static uint8_t card_bytes[WIRE_CARD_MAX];
static uint8_t ciphertext[WIRE_CIPHERTEXT_MAX];
static uint8_t long_text[WIRE_BODY_MAX];
static uint8_t receipt_one[2 + WIRE_ID_LEN];
static uint8_t receipt_full[2 + WIRE_IDS_MAX * WIRE_ID_LEN];

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static void fill_ids(struct wire_ids *ids, size_t n, uint8_t seed)
{
    ids->n = n;
    for (size_t i = 0; i < n; i++)
        fill(ids->ids[i], WIRE_ID_LEN, (uint8_t)(seed + i));
}

static void sample_hello(struct wire_hello *h)
{
    h->version_min = 1;
    h->version_max = 1;
    h->role = WIRE_ROLE_LISTENER;
    memcpy(h->key, wire_test_key, E2E_KEY_LEN);
    fill(h->sig, E2E_SIG_LEN, 0x40); /* decoding does not verify */
}

static void sample_bundle(struct wire_bundle *b)
{
    b->registration_id = WIRE_REGISTRATION_ID_MAX;
    b->device_id = 1;
    b->signed_prekey_id = WIRE_PREKEY_ID_MAX;
    memcpy(b->signed_prekey, wire_test_key, E2E_KEY_LEN);
    b->signed_prekey[5] ^= 0x55;
    fill(b->signature, E2E_SIG_LEN, 0x90);
}

void wire_sample_frame(struct wire_frame *f, size_t i)
{
    static const uint8_t small_card[] = "-not-parsed-here-";
    static const uint8_t small_ct[] = {0x33, 0x0a, 0x21, 0x05};

    memset(f, 0, sizeof(*f));
    fill(card_bytes, sizeof(card_bytes), 0x11);
    fill(ciphertext, sizeof(ciphertext), 0x22);
    switch (i) {
    case 0:
        f->type = WIRE_HELLO;
        sample_hello(&f->hello);
        break;
    case 1:
    case 2:
        f->type = WIRE_CARD;
        f->card.bytes = i == 1 ? small_card : card_bytes;
        f->card.len = i == 1 ? sizeof(small_card) - 1 : sizeof(card_bytes);
        break;
    case 3:
    case 4:
        f->type = WIRE_MESSAGE;
        fill(f->message.id, WIRE_ID_LEN, (uint8_t)i);
        f->message.kind = i == 3 ? WIRE_KIND_PREKEY : WIRE_KIND_SIGNAL;
        f->message.ciphertext = i == 3 ? small_ct : ciphertext;
        f->message.ciphertext_len = i == 3 ? sizeof(small_ct) : sizeof(ciphertext);
        break;
    case 5:
    case 6:
        f->type = WIRE_ACK;
        fill_ids(&f->ack, i == 5 ? 1 : WIRE_IDS_MAX, (uint8_t)i);
        break;
    case 7:
        f->type = WIRE_REFUSE;
        fill(f->refuse.id, WIRE_ID_LEN, 0x70);
        f->refuse.reason = WIRE_REFUSE_UNKNOWN_PREKEY;
        break;
    case 8:
        f->type = WIRE_BUNDLE_REQUEST;
        break;
    default:
        f->type = WIRE_BUNDLE;
        sample_bundle(&f->bundle);
        break;
    }
}

static void receipt_body(uint8_t *out, size_t n, uint8_t seed)
{
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        fill(out + 2 + i * WIRE_ID_LEN, WIRE_ID_LEN, (uint8_t)(seed + i));
}

void wire_sample_record(struct wire_record *rec, size_t i)
{
    static const char *const texts[] = {"hi", "Zoë 🌸 — grüße", "x"};
    static uint8_t opaque[300], exact[129], over[130];

    memset(rec, 0, sizeof(*rec));
    fill(rec->id, WIRE_ID_LEN, (uint8_t)(0xa0 + i));
    rec->sent_at_ms = 1700000000000ULL + i;
    rec->type = WIRE_RECORD_TEXT;
    rec->has_group = i % 2 == 1;
    fill(rec->group_id, WIRE_ID_LEN, 0xc0);
    switch (i) {
    case 0:
    case 1:
        rec->body = (const uint8_t *)texts[i];
        rec->body_len = strlen(texts[i]);
        break;
    case 2:
        memset(long_text, 'a', sizeof(long_text));
        rec->body = long_text;
        rec->body_len = sizeof(long_text);
        break;
    case 3:
    case 4:
        rec->type = WIRE_RECORD_RECEIPT;
        receipt_body(i == 3 ? receipt_one : receipt_full, i == 3 ? 1 : WIRE_IDS_MAX, 0x30);
        rec->body = i == 3 ? receipt_one : receipt_full;
        rec->body_len = i == 3 ? sizeof(receipt_one) : sizeof(receipt_full);
        break;
    case 5:
        rec->type = 0x7f;
        fill(opaque, sizeof(opaque), 0xfe); /* not UTF-8, not an id list: opaque */
        rec->body = opaque;
        rec->body_len = sizeof(opaque);
        break;
    case 6:
        rec->type = WIRE_RECORD_FILE_OFFER; /* reserved: an unknown type in v1, empty body */
        break;
    case 7: /* 31 bytes of head and 129 of body: exactly 160, no padding */
        rec->has_group = false;
        memset(exact, 'e', sizeof(exact));
        rec->body = exact;
        rec->body_len = sizeof(exact);
        break;
    default: /* 161: padded to 320 */
        rec->has_group = false;
        memset(over, 'o', sizeof(over));
        rec->body = over;
        rec->body_len = sizeof(over);
        break;
    }
}

size_t wire_encode_frame_ok(const struct wire_frame *f, uint8_t *out, size_t cap)
{
    size_t len = 0, size = wire_frame_size(f);

    cr_assert_neq(size, 0, "sample of type %u is encodable", f->type);
    cr_assert_eq(wire_frame_encode(f, out, cap, &len), SOTTO_OK);
    cr_assert_eq(len, size);
    return len;
}

size_t wire_encode_record_ok(const struct wire_record *rec, uint8_t *out, size_t cap)
{
    size_t len = 0, size = wire_record_size(rec);

    cr_assert_neq(size, 0, "sample of type %u is encodable", rec->type);
    cr_assert_eq(wire_record_encode(rec, out, cap, &len), SOTTO_OK);
    cr_assert_eq(len, size);
    cr_assert_eq(len % WIRE_RECORD_PAD, 0);
    return len;
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

int wire_decode_frame(struct wire_frame *out, const uint8_t *in, size_t len)
{
    struct reader r;
    enum sotto_err rc;

    reader_init(&r, in, len);
    memset(out, 0xa5, sizeof(*out));
    rc = wire_frame_decode(out, &r);
    if (rc == SOTTO_OK) {
        cr_assert_eq(r.left, 0, "a decoded frame consumed its input");
        return rc;
    }
    cr_assert(r.p == in && r.left == len, "a refused frame consumes nothing");
    cr_assert(all_zero((const uint8_t *)out + 1, sizeof(*out) - 1), "refused: zeroed but type");
    return rc;
}

int wire_decode_record(struct wire_record *out, const uint8_t *in, size_t len)
{
    struct reader r;
    enum sotto_err rc;

    reader_init(&r, in, len);
    memset(out, 0xa5, sizeof(*out));
    rc = wire_record_decode(out, &r);
    if (rc == SOTTO_OK) {
        cr_assert_eq(r.left, 0, "a decoded record consumed its input");
        return rc;
    }
    cr_assert(r.p == in && r.left == len, "a refused record consumes nothing");
    cr_assert(all_zero(out, sizeof(*out)), "a refused record is zeroed");
    return rc;
}

static void assert_same_ids(const struct wire_ids *a, const struct wire_ids *b)
{
    cr_assert_eq(a->n, b->n);
    cr_assert_arr_eq(a->ids, b->ids, a->n * WIRE_ID_LEN);
}

static void assert_same_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    cr_assert_eq(a_len, b_len);
    cr_assert(a_len == 0 || memcmp(a, b, a_len) == 0);
}

void wire_assert_same_frame(const struct wire_frame *a, const struct wire_frame *b)
{
    cr_assert_eq(a->type, b->type);
    switch (a->type) {
    case WIRE_HELLO:
        cr_assert_eq(a->hello.version_min, b->hello.version_min);
        cr_assert_eq(a->hello.version_max, b->hello.version_max);
        cr_assert_eq(a->hello.role, b->hello.role);
        cr_assert_arr_eq(a->hello.key, b->hello.key, E2E_KEY_LEN);
        cr_assert_arr_eq(a->hello.sig, b->hello.sig, E2E_SIG_LEN);
        break;
    case WIRE_CARD:
        assert_same_bytes(a->card.bytes, a->card.len, b->card.bytes, b->card.len);
        break;
    case WIRE_MESSAGE:
        cr_assert_arr_eq(a->message.id, b->message.id, WIRE_ID_LEN);
        cr_assert_eq(a->message.kind, b->message.kind);
        assert_same_bytes(a->message.ciphertext, a->message.ciphertext_len, b->message.ciphertext,
                          b->message.ciphertext_len);
        break;
    case WIRE_ACK:
        assert_same_ids(&a->ack, &b->ack);
        break;
    case WIRE_REFUSE:
        cr_assert_arr_eq(a->refuse.id, b->refuse.id, WIRE_ID_LEN);
        cr_assert_eq(a->refuse.reason, b->refuse.reason);
        break;
    case WIRE_BUNDLE:
        cr_assert_eq(a->bundle.registration_id, b->bundle.registration_id);
        cr_assert_eq(a->bundle.device_id, b->bundle.device_id);
        cr_assert_eq(a->bundle.signed_prekey_id, b->bundle.signed_prekey_id);
        cr_assert_arr_eq(a->bundle.signed_prekey, b->bundle.signed_prekey, E2E_KEY_LEN);
        cr_assert_arr_eq(a->bundle.signature, b->bundle.signature, E2E_SIG_LEN);
        break;
    default:
        break;
    }
}

void wire_assert_same_record(const struct wire_record *a, const struct wire_record *b)
{
    cr_assert_eq(a->type, b->type);
    cr_assert_arr_eq(a->id, b->id, WIRE_ID_LEN);
    cr_assert_eq(a->sent_at_ms, b->sent_at_ms);
    cr_assert_eq(a->has_group, b->has_group);
    if (a->has_group)
        cr_assert_arr_eq(a->group_id, b->group_id, WIRE_ID_LEN);
    assert_same_bytes(a->body, a->body_len, b->body, b->body_len);
}

size_t wire_raw_frame(uint8_t *out, uint8_t magic, uint8_t type, uint32_t declared,
                      const uint8_t *payload, size_t n)
{
    out[0] = magic;
    out[1] = type;
    for (int i = 0; i < 4; i++)
        out[2 + i] = (uint8_t)(declared >> (24 - 8 * i));
    if (n > 0)
        memcpy(out + WIRE_HEADER_LEN, payload, n);
    return WIRE_HEADER_LEN + n;
}

void wire_raw_record_default(struct wire_raw_record *raw, const char *text)
{
    memset(raw, 0, sizeof(*raw));
    raw->version = WIRE_RECORD_VERSION;
    raw->type = WIRE_RECORD_TEXT;
    fill(raw->id, WIRE_ID_LEN, 0x01);
    raw->sent_at_ms = 1700000000000ULL;
    fill(raw->group_id, WIRE_ID_LEN, 0x02);
    raw->body = (const uint8_t *)text;
    raw->body_len = strlen(text);
    raw->declared = (uint32_t)raw->body_len;
    raw->pad = -1;
}

static void raw_be(uint8_t *out, size_t *o, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[(*o)++] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

size_t wire_raw_record(uint8_t *out, size_t cap, const struct wire_raw_record *raw)
{
    size_t o = 0, pad;

    cr_assert(cap >= 47 + raw->body_len + WIRE_RECORD_PAD + (raw->pad > 0 ? (size_t)raw->pad : 0));
    raw_be(out, &o, raw->version, 1);
    raw_be(out, &o, raw->type, 1);
    raw_be(out, &o, raw->flags, 1);
    memcpy(out + o, raw->id, WIRE_ID_LEN);
    o += WIRE_ID_LEN;
    raw_be(out, &o, raw->sent_at_ms, 8);
    if (raw->flags & 1) {
        memcpy(out + o, raw->group_id, WIRE_ID_LEN);
        o += WIRE_ID_LEN;
    }
    raw_be(out, &o, raw->declared, 4);
    if (raw->body_len > 0)
        memcpy(out + o, raw->body, raw->body_len);
    o += raw->body_len;
    pad = raw->pad >= 0 ? (size_t)raw->pad
                        : (WIRE_RECORD_PAD - o % WIRE_RECORD_PAD) % WIRE_RECORD_PAD;
    memset(out + o, 0, pad);
    return o + pad;
}

size_t wire_hex(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex) / 2;

    cr_assert(strlen(hex) % 2 == 0 && n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + (size_t)j];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
    return n;
}
