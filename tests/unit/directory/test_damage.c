/* tests/unit/directory/test_damage.c: what the database gives back is checked before it is
 * copied (a damaged row is SOTTO_ECORRUPT, never an overflow), and opening refuses what is
 * not ours, newer, or unreachable, without logging a password. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dir_test.h"

/* SQLite enforces the CHECKs unless told not to; PostgreSQL's have to be dropped. */
#define SQ_NOCHECK "PRAGMA ignore_check_constraints = ON;"

static void register_alice(struct dir_account *a)
{
    struct dir_prekey p[2];

    fx_account(a, 1, "alice");
    fx_prekeys(p, 2, 1, 1);
    fx_register(a, p, 2);
}

/* Every read of the account fails as damaged, and leaves nothing behind in `got`. */
static void assert_account_damaged(const struct dir_account *a)
{
    struct dir_account got, zero;
    struct dir_prekey pk;
    bool has = true;
    unsigned left = 5;

    memset(&zero, 0, sizeof(zero));
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, a->number, &got), SOTTO_ECORRUPT);
    cr_assert(memcmp(&got, &zero, sizeof(got)) == 0);
    cr_assert_eq(dir_backend_take_bundle(fx.b, a->number, false, &got, &pk, &has, &left),
                 SOTTO_ECORRUPT);
    cr_assert(memcmp(&got, &zero, sizeof(got)) == 0);
    cr_assert_not(has);
    cr_assert_eq(left, 0);
}

BOTH(damage, short_identity_key_is_damage)
{
    struct dir_account a, got;

    register_alice(&a);
    fx_sql(SQ_NOCHECK "UPDATE accounts SET identity_key = substr(identity_key, 1, 32)",
           "ALTER TABLE accounts DROP CONSTRAINT accounts_identity_key_len;"
           "UPDATE accounts SET identity_key = substring(identity_key FROM 1 FOR 32)");
    assert_account_damaged(&a);
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_ECORRUPT);
}

BOTH(damage, long_signature_is_damage)
{
    struct dir_account a;

    register_alice(&a);
    fx_sql(SQ_NOCHECK "UPDATE accounts SET spk_sig = zeroblob(65)",
           "ALTER TABLE accounts DROP CONSTRAINT accounts_spk_sig_len;"
           "UPDATE accounts SET spk_sig = decode(repeat('00', 65), 'hex')");
    assert_account_damaged(&a);
}

BOTH(damage, short_one_time_prekey_is_damage)
{
    struct dir_account a, got;
    struct dir_prekey pk;
    bool has = true;
    unsigned left = 5;

    register_alice(&a);
    fx_sql(SQ_NOCHECK "UPDATE prekeys SET key = substr(key, 1, 32) WHERE id = 1",
           "ALTER TABLE prekeys DROP CONSTRAINT prekeys_key_len;"
           "UPDATE prekeys SET key = substring(key FROM 1 FOR 32) WHERE id = 1");
    cr_assert_eq(dir_backend_take_bundle(fx.b, a.number, true, &got, &pk, &has, &left),
                 SOTTO_ECORRUPT);
    cr_assert_not(has);
    cr_assert_eq(pk.id, 0);
    /* without taking one, the bundle does not read the prekeys */
    cr_assert_eq(dir_backend_take_bundle(fx.b, a.number, false, &got, &pk, &has, &left), SOTTO_OK);
}

BOTH(damage, addresses_that_do_not_fit_are_damage)
{
    static const char *const bad[] = {
            "UPDATE accounts SET addresses = '[\"a.example:1\"'",
            "UPDATE accounts SET addresses = '{\"a\": 1}'",
            "UPDATE accounts SET addresses = '[1]'",
            "UPDATE accounts SET addresses = '[\"\"]'",
            "UPDATE accounts SET addresses = '[\"a\\u0000b:1\"]'",
            "UPDATE accounts SET addresses = '[\"a:1\",\"a:1\",\"a:1\",\"a:1\",\"a:1\",\"a:1\","
            "\"a:1\",\"a:1\",\"a:1\"]'",
            "UPDATE accounts SET addresses = '[]  x'",
    };
    char sql[600], host[CARD_ADDR_MAX];
    struct dir_account a;

    register_alice(&a);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fx_sql(bad[i], bad[i]);
        assert_account_damaged(&a);
    }
    /* one address of 256 bytes, a byte over the cap */
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(sql, sizeof(sql), "UPDATE accounts SET addresses = '[\"%s:1\"]'", host);
    fx_sql(sql, sql);
    assert_account_damaged(&a);
}

BOTH(damage, username_too_long_is_damage)
{
    struct dir_account a;
    const char *sql = "UPDATE accounts SET username = 'abcdefghijabcdefghijabcdefghijabc'";

    register_alice(&a);
    fx_sql(sql, sql);
    assert_account_damaged(&a);
}

BOTH(damage, ids_out_of_range_are_damage)
{
    struct dir_account a, got;
    struct dir_prekey pk;
    bool has;
    unsigned left;

    register_alice(&a);
    fx_sql("UPDATE accounts SET registration_id = 16381",
           "UPDATE accounts SET registration_id = 16381");
    assert_account_damaged(&a);
    fx_sql("UPDATE accounts SET registration_id = 5; UPDATE accounts SET spk_id = 0",
           "UPDATE accounts SET registration_id = 5; UPDATE accounts SET spk_id = 0");
    assert_account_damaged(&a);
    fx_sql("UPDATE accounts SET spk_id = 1; UPDATE prekeys SET id = 16777216 WHERE id = 1",
           "UPDATE accounts SET spk_id = 1; UPDATE prekeys SET id = 16777216 WHERE id = 1");
    cr_assert_eq(dir_backend_take_bundle(fx.b, a.number, true, &got, &pk, &has, &left), SOTTO_OK);
    cr_assert_eq(pk.id, 2, "the lowest id is taken first");
    cr_assert_eq(dir_backend_take_bundle(fx.b, a.number, true, &got, &pk, &has, &left),
                 SOTTO_ECORRUPT);
}

/* ---- opening ---- */

BOTH(open, newer_schema_is_refused)
{
    struct dir_backend *b = NULL;

    fx_sql("PRAGMA user_version = 99", "UPDATE schema_version SET version = 99");
    cr_assert_eq(dir_backend_open(&b, &fx.env, fx.db), SOTTO_EDB);
    cr_assert_null(b);
    cr_assert(strstr(fx.logbuf, "99") != NULL, "%s", fx.logbuf);
}

BOTH(open, reopening_keeps_what_was_stored)
{
    struct dir_account a, got;

    register_alice(&a);
    dir_backend_close(fx.b);
    fx.b = fx_open();
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_OK);
    fx_assert_same(&got, &a);
    cr_assert_eq(fx_count_prekeys(), 2);
}

BOTH(open, workers_opening_a_new_database_at_once_all_succeed)
{
    char db[1024];
    pid_t pids[6];
    int status;
    struct dir_backend *b;

    fx_fresh_db(db);
    for (size_t i = 0; i < 6; i++) {
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0) {
            b = NULL;
            status = dir_backend_open(&b, &fx.env, db) == SOTTO_OK && dir_backend_ping(b) == 0;
            dir_backend_close(b);
            if (!status)
                fprintf(stderr, "worker %zu: %s", i, fx.logbuf);
            _exit(status ? 0 : 1);
        }
    }
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %zu failed", i);
    }
}

BOTH(open, allocation_failure_leaves_nothing_behind)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct dir_backend *b = (struct dir_backend *)&fa;

    failalloc_env(&env, &fa, 1);
    cr_assert_eq(dir_backend_open(&b, &env, fx.db), SOTTO_ENOMEM);
    cr_assert_null(b);
    cr_assert_eq(fa.live, 0);
    failalloc_env(&env, &fa, 0);
    cr_assert_eq(dir_backend_open(&b, &env, fx.db), SOTTO_OK);
    dir_backend_close(b);
    cr_assert_eq(fa.live, 0);
}

Test(open, unknown_scheme_is_refused)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct dir_backend *b = (struct dir_backend *)&fa;

    failalloc_env(&env, &fa, 0);
    cr_assert_eq(dir_backend_open(&b, &env, "mysql://localhost/x"), SOTTO_EINVAL);
    cr_assert_null(b);
    cr_assert_eq(dir_backend_open(&b, &env, "sqlite:"), SOTTO_EINVAL);
    cr_assert_eq(dir_backend_open(&b, &env, "/tmp/x.db"), SOTTO_EINVAL);
    cr_assert_eq(dir_backend_open(&b, &env, NULL), SOTTO_EINVAL);
}

static char captured[4096];

static void capture(void *ctx, enum sotto_log_level level, const char *file, int line,
                    const char *func, const char *msg)
{
    size_t len = strlen(captured);

    (void)ctx;
    (void)level;
    (void)file;
    (void)line;
    (void)func;
    snprintf(captured + len, sizeof(captured) - len, "%s\n", msg);
}

Test(open, unreachable_postgresql_is_a_database_error_and_its_password_is_not_logged)
{
    struct failalloc fa = {0};
    struct sotto_env env;
    struct sotto_log log = {.level = SOTTO_LOG_DEBUG, .sink = capture};
    struct dir_backend *b = NULL;

    failalloc_env(&env, &fa, 0);
    env.log = &log;
    cr_assert_eq(
            dir_backend_open(&b, &env, "postgresql://sotto:hunter2secret@127.0.0.1:1/directory"),
            SOTTO_EDB);
    cr_assert_null(b);
    cr_assert(captured[0] != '\0', "the failure is logged");
    cr_assert_null(strstr(captured, "hunter2secret"), "%s", captured);
    cr_assert_eq(dir_backend_open(&b, &env, "postgres://sotto:hunter2secret@/x?host=/nonexistent"),
                 SOTTO_EDB);
    cr_assert_null(strstr(captured, "hunter2secret"), "%s", captured);
    cr_assert_eq(fa.live, 0);
}

Test(open_sqlite, file_of_another_program_is_left_alone, .init = fx_sqlite_init, .fini = fx_fini)
{
    char db[1024];
    struct dir_backend *b = NULL;
    sqlite3 *raw;
    sqlite3_stmt *st;

    fx_fresh_db(db);
    cr_assert_eq(sqlite3_open(db + strlen("sqlite:"), &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw, "CREATE TABLE notes (t TEXT)", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(dir_backend_open(&b, &fx.env, db), SOTTO_EDB);
    cr_assert_null(b);
    cr_assert_eq(
            sqlite3_prepare_v2(raw, "SELECT group_concat(name) FROM sqlite_schema", -1, &st, NULL),
            SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "notes");
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "delete");
    sqlite3_finalize(st);
    sqlite3_close(raw);
}

Test(open_sqlite, database_is_in_wal_mode, .init = fx_sqlite_init, .fini = fx_fini)
{
    sqlite3 *raw;
    sqlite3_stmt *st;

    cr_assert_eq(sqlite3_open(fx.db + strlen("sqlite:"), &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(raw);
}

Test(open_sqlite, missing_directory_is_a_database_error, .init = fx_sqlite_init, .fini = fx_fini)
{
    struct dir_backend *b = NULL;

    cr_assert_eq(dir_backend_open(&b, &fx.env, "sqlite:/nonexistent/dir/x.db"), SOTTO_EDB);
    cr_assert_null(b);
}
