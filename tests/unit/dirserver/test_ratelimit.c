/* tests/unit/dirserver/test_ratelimit.c: token buckets per key, in a bounded table. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "directory/ratelimit.h"
#include "failalloc.h"

static struct failalloc fa;
static struct sotto_env env;
static struct dir_rate *r;

static void setup(void)
{
    failalloc_env(&env, &fa, 0);
    fa.rng_state = 42;
}

static void teardown(void)
{
    dir_rate_free(r);
    r = NULL;
    cr_assert_eq(fa.live, 0, "everything is freed");
}

TestSuite(dir_rate, .init = setup, .fini = teardown);

Test(dir_rate, allows_a_burst_of_the_rate_then_says_when_to_retry)
{
    unsigned retry = 99;

    cr_assert_eq(dir_rate_create(&r, &env, 3, 64), SOTTO_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert(dir_rate_take(r, "192.0.2.1", 1000, &retry));
        cr_assert_eq(retry, 0);
    }
    cr_assert_not(dir_rate_take(r, "192.0.2.1", 1000, &retry));
    cr_assert_eq(retry, 20, "3 a minute: one token every 20 s");
    cr_assert(dir_rate_take(r, "192.0.2.2", 1000, &retry), "another source has its own bucket");
}

Test(dir_rate, refills_at_the_rate)
{
    unsigned retry;

    cr_assert_eq(dir_rate_create(&r, &env, 60, 64), SOTTO_OK);
    for (int i = 0; i < 60; i++)
        cr_assert(dir_rate_take(r, "k", 5000, &retry));
    cr_assert_not(dir_rate_take(r, "k", 5000, &retry));
    cr_assert_eq(retry, 1);
    cr_assert_not(dir_rate_take(r, "k", 5999, &retry));
    cr_assert(dir_rate_take(r, "k", 6000, &retry), "one token a second");
    cr_assert_not(dir_rate_take(r, "k", 6000, &retry));
    for (int i = 0; i < 60; i++)
        cr_assert(dir_rate_take(r, "k", 10000000, &retry), "full again after a minute");
    cr_assert_not(dir_rate_take(r, "k", 10000000, &retry), "but never fuller than full");
}

Test(dir_rate, gives_nothing_when_the_clock_goes_back)
{
    unsigned retry;

    cr_assert_eq(dir_rate_create(&r, &env, 1, 64), SOTTO_OK);
    cr_assert(dir_rate_take(r, "k", 100000, &retry));
    cr_assert_not(dir_rate_take(r, "k", 50, &retry));
    cr_assert_not(dir_rate_take(r, "k", 100001, &retry));
    cr_assert_eq(retry, 60);
}

Test(dir_rate, rate_zero_turns_the_limit_off)
{
    unsigned retry = 5;

    cr_assert_eq(dir_rate_create(&r, &env, 0, 64), SOTTO_OK);
    for (int i = 0; i < 10000; i++)
        cr_assert(dir_rate_take(r, "k", 1, &retry));
    cr_assert_eq(retry, 0);
    cr_assert_eq(dir_rate_size(r), 0);
}

Test(dir_rate, stays_within_its_capacity_however_many_sources_come)
{
    unsigned retry;
    char key[32];

    cr_assert_eq(dir_rate_create(&r, &env, 1, 64), SOTTO_OK);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        cr_assert(dir_rate_take(r, key, (uint64_t)i, &retry), "a new source starts full");
    }
    cr_assert_leq(dir_rate_size(r), 64);
    cr_assert_geq(dir_rate_size(r), 32, "the table is used, not emptied");
}

Test(dir_rate, keeps_a_busy_source_while_evicting_idle_ones)
{
    unsigned retry;
    char key[32];

    cr_assert_eq(dir_rate_create(&r, &env, 1, DIR_RATE_WAYS), SOTTO_OK);
    cr_assert(dir_rate_take(r, "busy", 0, &retry));
    for (int i = 0; i < DIR_RATE_WAYS - 1; i++) {
        snprintf(key, sizeof(key), "idle%d", i);
        cr_assert(dir_rate_take(r, key, 1, &retry));
    }
    cr_assert_not(dir_rate_take(r, "busy", 2, &retry), "the busy source is remembered");
    snprintf(key, sizeof(key), "newcomer");
    cr_assert(dir_rate_take(r, key, 3, &retry));
    cr_assert_eq(dir_rate_size(r), DIR_RATE_WAYS);
}

Test(dir_rate, cuts_long_keys_and_treats_the_empty_key_as_one)
{
    unsigned retry;
    char a[200], b[200];

    memset(a, 'a', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[150] = 'b';
    cr_assert_eq(dir_rate_create(&r, &env, 1, 64), SOTTO_OK);
    cr_assert(dir_rate_take(r, a, 0, &retry));
    cr_assert_not(dir_rate_take(r, b, 0, &retry), "only the first 63 bytes count");
    cr_assert(dir_rate_take(r, "", 0, &retry));
    cr_assert_not(dir_rate_take(r, "", 0, &retry));
}

Test(dir_rate, refuses_impossible_settings_and_survives_allocation_failure)
{
    cr_assert_eq(dir_rate_create(&r, &env, DIR_RATE_PER_MAX + 1, 64), SOTTO_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(dir_rate_create(&r, &env, 5, 0), SOTTO_EINVAL);
    for (unsigned long n = 1; n <= 2; n++) {
        failalloc_env(&env, &fa, n);
        cr_assert_eq(dir_rate_create(&r, &env, 5, 64), SOTTO_ENOMEM);
        cr_assert_null(r);
        cr_assert_eq(fa.live, 0);
    }
    failalloc_env(&env, &fa, 3);
    cr_assert_eq(dir_rate_create(&r, &env, 5, 64), SOTTO_OK);
}

Test(dir_rate, asking_whether_a_token_is_there_changes_nothing_and_adds_no_key)
{
    unsigned retry;
    char key[32];

    cr_assert_eq(dir_rate_create(&r, &env, 2, DIR_RATE_WAYS), SOTTO_OK);
    cr_assert(dir_rate_would_take(r, "target", 1000), "a new key starts full");
    cr_assert_eq(dir_rate_size(r), 0);
    cr_assert(dir_rate_take(r, "target", 1000, &retry));
    cr_assert(dir_rate_would_take(r, "target", 1000));
    cr_assert(dir_rate_take(r, "target", 1000, &retry));
    cr_assert_not(dir_rate_would_take(r, "target", 1000), "the bucket is empty");
    /* a flood of questions about other keys (numbers nobody has) cannot evict the empty
     * bucket, which a take for each of them would have done in a table of one set */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "nobody-%d", i);
        cr_assert(dir_rate_would_take(r, key, 1000));
    }
    cr_assert_eq(dir_rate_size(r), 1);
    cr_assert_not(dir_rate_take(r, "target", 1000, &retry), "still empty");
    cr_assert(dir_rate_would_take(r, "target", 31000), "half a minute later: a token");
}
