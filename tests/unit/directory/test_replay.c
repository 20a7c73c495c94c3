/* tests/unit/directory/test_replay.c: the replay cache, the counts for /metrics and the health
 * check, on both backends. */
#include <string.h>

#include "dir_test.h"

static const char count_sql[] = "SELECT count(*) FROM replay";

static void digest_of(uint8_t d[32], unsigned i)
{
    memset(d, 0, 32);
    memcpy(d, &i, sizeof(i));
    d[31] = 0xd1;
}

BOTH(replay, second_check_of_a_digest_is_a_replay)
{
    uint8_t d[32], e[32];
    uint64_t now = fx.fa.now_ms;

    digest_of(d, 1);
    digest_of(e, 2);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + DIR_REPLAY_KEEP_MS, now), SOTTO_OK);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + DIR_REPLAY_KEEP_MS, now + 1),
                 SOTTO_EEXIST);
    cr_assert_eq(dir_backend_replay_check(fx.b, e, now + DIR_REPLAY_KEEP_MS, now + 1), SOTTO_OK);
}

BOTH(replay, another_instance_sees_the_digest)
{
    uint8_t d[32];
    uint64_t now = fx.fa.now_ms;
    struct dir_backend *other = fx_open();

    digest_of(d, 1);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + DIR_REPLAY_KEEP_MS, now), SOTTO_OK);
    cr_assert_eq(dir_backend_replay_check(other, d, now + DIR_REPLAY_KEEP_MS, now), SOTTO_EEXIST);
    dir_backend_close(other);
}

BOTH(replay, expired_digest_is_forgotten)
{
    uint8_t d[32];
    uint64_t now = fx.fa.now_ms;

    digest_of(d, 1);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 100, now), SOTTO_OK);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 100, now + 99), SOTTO_EEXIST);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 500, now + 100), SOTTO_OK);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 500, now + 200), SOTTO_EEXIST);
}

BOTH(replay, expired_entries_are_purged_once_a_minute_has_passed)
{
    uint8_t d[32];
    uint64_t now = fx.fa.now_ms;

    for (unsigned i = 0; i < 10; i++) {
        digest_of(d, i);
        cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 10, now), SOTTO_OK);
    }
    digest_of(d, 100);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 120000, now + 1), SOTTO_OK);
    cr_assert_eq(fx_sql_int(count_sql, count_sql), 11);
    /* a minute later the next check purges the ten expired ones */
    digest_of(d, 101);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 120000, now + 61000), SOTTO_OK);
    cr_assert_eq(fx_sql_int(count_sql, count_sql), 2);
}

BOTH(replay, expired_entries_are_purged_every_256_checks)
{
    uint8_t d[32];
    uint64_t now = fx.fa.now_ms;

    /* the first check purges (and starts the minute); the next 255 do not */
    digest_of(d, 0);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 600000, now), SOTTO_OK);
    for (unsigned i = 1; i < 256; i++) {
        digest_of(d, i);
        cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 5, now + 10), SOTTO_OK);
    }
    cr_assert_eq(fx_sql_int(count_sql, count_sql), 256);
    digest_of(d, 256);
    cr_assert_eq(dir_backend_replay_check(fx.b, d, now + 600000, now + 10), SOTTO_OK);
    cr_assert_eq(fx_sql_int(count_sql, count_sql), 2);
}

BOTH(operations, counts_are_of_accounts_and_prekeys)
{
    struct dir_account a, b;
    struct dir_prekey p[5];
    uint64_t accounts = 9, prekeys = 9;

    cr_assert_eq(dir_backend_counts(fx.b, &accounts, &prekeys), SOTTO_OK);
    cr_assert_eq(accounts, 0);
    cr_assert_eq(prekeys, 0);
    fx_account(&a, 1, "alice");
    fx_account(&b, 2, "bob");
    fx_prekeys(p, 5, 1, 1);
    fx_register(&a, p, 3);
    fx_register(&b, p, 5);
    cr_assert_eq(dir_backend_counts(fx.b, &accounts, &prekeys), SOTTO_OK);
    cr_assert_eq(accounts, 2);
    cr_assert_eq(prekeys, 8);
}

BOTH(operations, ping_answers_and_kind_names_the_backend)
{
    cr_assert_eq(dir_backend_ping(fx.b), SOTTO_OK);
    cr_assert_str_eq(dir_backend_kind(fx.b), fx.kind == FX_SQLITE ? "sqlite" : "postgresql");
}

Test(operations_postgresql, connection_the_server_dropped_is_made_again, .init = fx_pg_init,
     .fini = fx_fini)
{
    struct dir_account a, got;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    fx_sql("", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
               " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    /* the call that finds the connection gone may fail; the health check retries */
    cr_assert_eq(dir_backend_ping(fx.b), SOTTO_OK, "%s", fx.logbuf);
    cr_assert_eq(dir_backend_lookup(fx.b, "alice", 0, &got), SOTTO_OK, "%s", fx.logbuf);
    fx_assert_same(&got, &a);
}
