/* src/util/secret.h: memory for long-lived secrets (guard pages, locked, wiped on free). */
#ifndef SOTTO_UTIL_SECRET_H
#define SOTTO_UTIL_SECRET_H

#include <stddef.h>

/* Returns `len` bytes of sodium_malloc() memory, or NULL. Free with secret_free(). */
void *secret_alloc(size_t len);
/* Wipes and frees memory from secret_alloc(). NULL is a no-op. */
void secret_free(void *p);
/* Wipes `len` bytes at `p` in a way the compiler cannot drop. */
void secret_wipe(void *p, size_t len);

#endif
