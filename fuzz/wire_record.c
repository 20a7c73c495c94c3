/* fuzz/wire_record.c: wire_record_decode over arbitrary bytes. It must never crash or read out
 * of bounds; a refused input must consume nothing and leave *out zeroed; and what it accepts
 * must re-encode to the identical bytes, padding included (the decoder is strict). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "util/text.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct wire_record *rec, size_t size)
{
    if (size % WIRE_RECORD_PAD != 0 || size > WIRE_RECORD_MAX || rec->body_len > WIRE_BODY_MAX)
        abort();
    if (rec->type == WIRE_RECORD_TEXT &&
        (rec->body_len == 0 || !text_utf8_valid(rec->body, rec->body_len)))
        abort();
    if (rec->type == WIRE_RECORD_RECEIPT &&
        (rec->receipt.n == 0 || rec->receipt.n > WIRE_IDS_MAX ||
         rec->body_len != 2 + rec->receipt.n * WIRE_ID_LEN ||
         memcmp(rec->receipt.ids, rec->body + 2, rec->body_len - 2) != 0))
        abort();
    if (rec->type != WIRE_RECORD_RECEIPT && rec->receipt.n != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct wire_record zero;
    static uint8_t out[WIRE_RECORD_MAX];
    struct wire_record rec;
    struct reader r;
    size_t len = 0;

    reader_init(&r, data, size);
    memset(&rec, 0x5a, sizeof(rec));
    if (wire_record_decode(&rec, &r) != SOTTO_OK) {
        if (memcmp(&rec, &zero, sizeof(rec)) != 0 || r.p != data || r.left != size)
            abort();
        return 0;
    }
    if (r.left != 0)
        abort();
    check_accepted(&rec, size);
    if (wire_record_size(&rec) != size ||
        wire_record_encode(&rec, out, sizeof(out), &len) != SOTTO_OK)
        abort();
    if (len != size || memcmp(out, data, size) != 0)
        abort();
    return 0;
}
