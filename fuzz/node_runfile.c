/* fuzz/node_runfile.c: the reading of api.json, the file a running node writes with its local
 * API's port, its pid and the token (src/node/runfile.c, node_runfile_parse), over arbitrary
 * bytes. Nothing may crash, leak or read out of bounds; a refused file leaves nothing behind;
 * what is accepted is what the clients rely on (a port and a pid in range, a token of exactly
 * NODE_TOKEN_LEN lowercase hex digits), and what the node would write for it reads back the
 * same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "node/runfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct node_runinfo *info)
{
    if (info->port == 0 || info->port > 65535 || info->pid <= 0)
        abort();
    if (strnlen(info->token, sizeof(info->token)) != NODE_TOKEN_LEN)
        abort();
    for (size_t i = 0; i < NODE_TOKEN_LEN; i++)
        if (strchr("0123456789abcdef", info->token[i]) == NULL)
            abort();
}

/* The file node_runfile_write() makes for `info` parses back to `info`. */
static void check_round_trip(const struct node_runinfo *info)
{
    json_t *o = json_pack("{s:I, s:I, s:s}", "port", (json_int_t)info->port, "pid",
                          (json_int_t)info->pid, "token", info->token);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    struct node_runinfo again;

    if (text == NULL)
        abort();
    if (node_runfile_parse((const uint8_t *)text, strlen(text), &again) != SOTTO_OK ||
        memcmp(&again, info, sizeof(again)) != 0)
        abort();
    free(text);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct node_runinfo zero;
    struct node_runinfo info;

    memset(&info, 0x5a, sizeof(info));
    if (node_runfile_parse(data, size, &info) != SOTTO_OK) {
        if (memcmp(&info, &zero, sizeof(info)) != 0)
            abort(); /* a refused file must leave nothing behind, the token least of all */
        return 0;
    }
    check_accepted(&info);
    check_round_trip(&info);
    return 0;
}
