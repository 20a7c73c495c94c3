/* src/util/secret.c: sodium-backed secret memory. */
#include <sodium.h>

#include "util/secret.h"

void *secret_alloc(size_t len)
{
    return sodium_malloc(len);
}

void secret_free(void *p)
{
    sodium_free(p);
}

void secret_wipe(void *p, size_t len)
{
    sodium_memzero(p, len);
}
