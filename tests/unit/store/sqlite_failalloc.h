/* tests/unit/store/sqlite_failalloc.h: routes SQLite's allocator through a struct failalloc, so
 * that one counter numbers our allocations and SQLite's and call N fails whichever it is. */
#ifndef SOTTO_TEST_SQLITE_FAILALLOC_H
#define SOTTO_TEST_SQLITE_FAILALLOC_H

#include "failalloc.h"

/* Shuts SQLite down, installs the counting allocator and no lookaside (so that the same work
 * makes the same calls every time), and initialises SQLite again. Needs no open connection.
 * `fa` is borrowed until the process ends. */
void sqlite_failalloc_install(struct failalloc *fa);
/* SQLite allocations not yet freed. */
long sqlite_failalloc_live(void);

#endif
