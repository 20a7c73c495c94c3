/* fuzz/wire_frame.c: wire_frame_decode over arbitrary bytes. It must never crash or read out
 * of bounds; a refused input must consume nothing and leave nothing but the type; and what it
 * accepts must re-encode to the identical bytes (one encoding per frame: the decoder is strict). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refused(const struct wire_frame *f, const struct reader *r, const uint8_t *data,
                          size_t size)
{
    struct wire_frame want;

    memset(&want, 0, sizeof(want));
    want.type = f->type;
    if (memcmp(f, &want, sizeof(want)) != 0 || r->p != data || r->left != size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[WIRE_FRAME_MAX];
    struct wire_frame f;
    struct reader r;
    uint8_t type;
    size_t len = 0, frame_len;
    enum sotto_err rc;

    reader_init(&r, data, size);
    memset(&f, 0x5a, sizeof(f));
    rc = wire_frame_decode(&f, &r);
    if (rc != SOTTO_OK) {
        check_refused(&f, &r, data, size);
        return 0;
    }
    if (r.left != 0 || !wire_frame_type_known(f.type))
        abort();
    if (wire_frame_peek(data, size, &type, &frame_len) != SOTTO_OK || type != f.type ||
        frame_len != size)
        abort();
    if (wire_frame_size(&f) != size || wire_frame_encode(&f, out, sizeof(out), &len) != SOTTO_OK)
        abort();
    if (len != size || memcmp(out, data, size) != 0)
        abort();
    return 0;
}
