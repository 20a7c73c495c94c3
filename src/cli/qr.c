/* src/cli/qr.c: QR codes in the terminal, two modules per character cell. */
#include <stdio.h>

#include <qrencode.h>

#include "cli.h"

#define QR_QUIET 4 /* modules of light border each side, as ISO/IEC 18004 asks */

/* Module (x, y) is dark; outside the symbol (the quiet zone) is light. */
static int dark(const QRcode *qr, int x, int y)
{
    if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
        return 0;
    return qr->data[y * qr->width + x] & 1;
}

enum sotto_err qr_print(FILE *out, const char *text)
{
    /* light-on-dark terminals are the norm, so a dark module prints as a space on a light
     * cell: full block = both light, upper half = top light only, and so on */
    static const char *const cell[4] = {"\xe2\x96\x88", "\xe2\x96\x80", "\xe2\x96\x84", " "};
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);

    if (qr == NULL)
        return SOTTO_ENOMEM;
    for (int y = -QR_QUIET; y < qr->width + QR_QUIET; y += 2) {
        for (int x = -QR_QUIET; x < qr->width + QR_QUIET; x++)
            fputs(cell[dark(qr, x, y) * 2 + dark(qr, x, y + 1)], out);
        fputc('\n', out);
    }
    QRcode_free(qr);
    return SOTTO_OK;
}
