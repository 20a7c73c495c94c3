/* tests/unit/dirserver/test_metrics.c: counters and their Prometheus text. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "directory/metrics.h"
#include "failalloc.h"
#include "util/bytes.h"

static struct failalloc fa;
static struct sotto_env env;
static struct writer w;
static char text[8192];

static const char *render(const struct dir_metrics *m, const struct dir_metrics_gauges *g)
{
    failalloc_env(&env, &fa, 0);
    writer_init(&w, &env, 1 << 20);
    cr_assert_eq(dir_metrics_render(m, 3, g, &w), SOTTO_OK);
    cr_assert_lt(w.len, sizeof(text));
    memcpy(text, w.p, w.len);
    text[w.len] = '\0';
    writer_clear(&w);
    return text;
}

static void assert_line(const char *t, const char *line)
{
    char want[256];

    snprintf(want, sizeof(want), "\n%s\n", line);
    cr_assert_not_null(strstr(t, want), "missing line %s in:\n%s", line, t);
}

Test(dir_metrics, counts_requests_by_route_and_status)
{
    struct dir_metrics m;
    struct dir_metrics_gauges g = {
            .counts_ok = true, .accounts = 12, .prekeys_stored = 340, .connections = 5};
    const char *t;

    dir_metrics_init(&m);
    dir_metrics_request(&m, DIR_ROUTE_LOOKUP, 200, 10);
    dir_metrics_request(&m, DIR_ROUTE_LOOKUP, 200, 10);
    dir_metrics_request(&m, DIR_ROUTE_REGISTER, 409, 10);
    dir_metrics_request(&m, DIR_ROUTE_NONE, 418, 10);
    dir_metrics_request(&m, (enum dir_route)99, 404, 10);
    m.prekeys_served = 7;
    m.db_errors = 2;
    t = render(&m, &g);
    assert_line(t,
                "sotto_directory_requests_total{worker=\"3\",route=\"lookup\",status=\"200\"} 2");
    assert_line(t, "sotto_directory_requests_total{worker=\"3\",route=\"register\","
                   "status=\"409\"} 1");
    assert_line(t, "sotto_directory_requests_total{worker=\"3\",route=\"other\","
                   "status=\"other\"} 1");
    assert_line(t, "sotto_directory_requests_total{worker=\"3\",route=\"other\",status=\"404\"} 1");
    assert_line(t, "sotto_directory_accounts 12");
    assert_line(t, "sotto_directory_prekeys_stored 340");
    assert_line(t, "sotto_directory_prekeys_served_total{worker=\"3\"} 7");
    assert_line(t, "sotto_directory_db_errors_total{worker=\"3\"} 2");
    assert_line(t, "sotto_directory_connections{worker=\"3\"} 5");
    cr_assert_null(strstr(t, "route=\"bundle\""), "series that never counted are left out");
}

Test(dir_metrics, keeps_a_cumulative_latency_histogram)
{
    struct dir_metrics m;
    struct dir_metrics_gauges g = {0};
    const char *t;

    dir_metrics_init(&m);
    dir_metrics_request(&m, DIR_ROUTE_LOOKUP, 200, 100);
    dir_metrics_request(&m, DIR_ROUTE_LOOKUP, 200, 500);
    dir_metrics_request(&m, DIR_ROUTE_LOOKUP, 200, 3000);
    dir_metrics_request(&m, DIR_ROUTE_LOOKUP, 200, 3000000);
    t = render(&m, &g);
    assert_line(t, "# TYPE sotto_directory_request_seconds histogram");
    assert_line(t, "sotto_directory_request_seconds_bucket{worker=\"3\",le=\"0.0005\"} 2");
    assert_line(t, "sotto_directory_request_seconds_bucket{worker=\"3\",le=\"0.0025\"} 2");
    assert_line(t, "sotto_directory_request_seconds_bucket{worker=\"3\",le=\"0.005\"} 3");
    assert_line(t, "sotto_directory_request_seconds_bucket{worker=\"3\",le=\"2.5\"} 3");
    assert_line(t, "sotto_directory_request_seconds_bucket{worker=\"3\",le=\"+Inf\"} 4");
    assert_line(t, "sotto_directory_request_seconds_sum{worker=\"3\"} 3.003600");
    assert_line(t, "sotto_directory_request_seconds_count{worker=\"3\"} 4");
    cr_assert_null(strstr(t, "sotto_directory_accounts"),
                   "no database gauges when the database did not answer");
}

Test(dir_metrics, reports_a_writer_that_ran_out_of_room)
{
    struct dir_metrics m;
    struct dir_metrics_gauges g = {0};

    dir_metrics_init(&m);
    failalloc_env(&env, &fa, 0);
    writer_init(&w, &env, 100);
    cr_assert_neq(dir_metrics_render(&m, 0, &g, &w), SOTTO_OK);
    writer_clear(&w);
}
