/* tests/unit/directory/dir_test.h: one fixture for both backends, so that every BOTH() test
 * runs unchanged against SQLite (a file in a temporary directory) and PostgreSQL (a database
 * of its own in the cluster that main() starts for the whole run). */
#ifndef SOTTO_TEST_DIR_TEST_H
#define SOTTO_TEST_DIR_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "directory/backend.h"
#include "failalloc.h"
#include "identity/number.h"
#include "sotto/log.h"

enum fx_kind { FX_SQLITE, FX_PG };

struct fx {
    enum fx_kind kind;
    struct failalloc fa;
    struct sotto_env env;
    struct sotto_log log;
    char logbuf[8192]; /* every message logged, one per line */
    size_t loglen;
    char db[1024];  /* the --db value of this test's database */
    char dir[256];  /* SQLite: the temporary directory */
    char name[64];  /* PostgreSQL: the database's name */
    unsigned n_dbs; /* databases made by fx_fresh_db */
    struct dir_backend *b;
};

extern struct fx fx;

/* Criterion .init/.fini: an empty database of the kind, opened as fx.b. */
void fx_sqlite_init(void);
void fx_pg_init(void);
void fx_fini(void);

/* The same test body, once per backend: suites <suite>_sqlite and <suite>_postgresql. */
#define BOTH(suite, name)                                                                          \
    static void name##_body(void);                                                                 \
    Test(suite##_sqlite, name, .init = fx_sqlite_init, .fini = fx_fini)                            \
    {                                                                                              \
        name##_body();                                                                             \
    }                                                                                              \
    Test(suite##_postgresql, name, .init = fx_pg_init, .fini = fx_fini)                            \
    {                                                                                              \
        name##_body();                                                                             \
    }                                                                                              \
    static void name##_body(void)

/* Raw SQL on this test's database, outside the backend (to damage rows, to count): the first
 * string for SQLite, the second for PostgreSQL. fx_sql_int answers the first column of the
 * first row. */
void fx_sql(const char *sqlite_sql, const char *pg_sql);
int64_t fx_sql_int(const char *sqlite_sql, const char *pg_sql);

/* A --db value for another empty database of the fixture's kind (not opened). */
void fx_fresh_db(char out[static 1024]);
/* Opens another backend on fx.db, as another worker would. */
struct dir_backend *fx_open(void);

/* A plausible account: number NUMBER_MIN + seed, keys filled from the seed. */
void fx_account(struct dir_account *a, unsigned seed, const char *username);
/* n prekeys with ids first, first + 1, ..., keys filled from the seed and the id. */
void fx_prekeys(struct dir_prekey *p, size_t n, uint32_t first, uint8_t seed);
/* Registers `a` (with its username's skeleton), asserting success. */
void fx_register(const struct dir_account *a, const struct dir_prekey *p, size_t n);
/* Asserts two accounts hold the same public record. */
void fx_assert_same(const struct dir_account *got, const struct dir_account *want);
uint64_t fx_count_prekeys(void);
uint64_t fx_count_accounts(void);

#endif
