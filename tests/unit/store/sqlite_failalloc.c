/* tests/unit/store/sqlite_failalloc.c */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "sqlite_failalloc.h"

#define HEADER 16 /* keeps SQLite's blocks 16-byte aligned; holds the size */

/* SQLite's memory methods take no context pointer: one per process, test-only. */
static struct failalloc *hook;
static long live;

static int hook_fails(void)
{
    hook->calls++;
    if (hook->fail_at != 0 && hook->calls == hook->fail_at) {
        hook->failed++;
        return 1;
    }
    return 0;
}

static void *sq_malloc(int n)
{
    unsigned char *p;

    if (n <= 0 || hook_fails())
        return NULL;
    p = malloc((size_t)n + HEADER);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    live++;
    return p + HEADER;
}

static void sq_free(void *p)
{
    if (p == NULL)
        return;
    live--;
    free((unsigned char *)p - HEADER);
}

static void *sq_realloc(void *p, int n)
{
    unsigned char *q;

    if (n <= 0 || hook_fails())
        return NULL;
    q = realloc((unsigned char *)p - HEADER, (size_t)n + HEADER);
    if (q == NULL)
        return NULL;
    memcpy(q, &n, sizeof(n));
    return q + HEADER;
}

static int sq_size(void *p)
{
    int n;

    if (p == NULL)
        return 0;
    memcpy(&n, (unsigned char *)p - HEADER, sizeof(n));
    return n;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *app)
{
    (void)app;
    return SQLITE_OK;
}

static void sq_shutdown(void *app)
{
    (void)app;
}

void sqlite_failalloc_install(struct failalloc *fa)
{
    static const sqlite3_mem_methods methods = {
            sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL,
    };

    hook = fa;
    cr_assert_eq(sqlite3_shutdown(), SQLITE_OK);
    cr_assert_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &methods), SQLITE_OK);
    cr_assert_eq(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0), SQLITE_OK);
    cr_assert_eq(sqlite3_initialize(), SQLITE_OK);
}

long sqlite_failalloc_live(void)
{
    return live;
}
