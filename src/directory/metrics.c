/* src/directory/metrics.c: request counters, a latency histogram, and their text format. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "directory/metrics.h"
#include "util/bytes.h"

static const int statuses[DIR_METRICS_STATUSES] = {200, 201, 400, 401, 404, 405,
                                                   409, 413, 429, 500, 503};
static const uint64_t bucket_us[DIR_METRICS_BUCKETS] = {
        500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
static const char *const bucket_le[DIR_METRICS_BUCKETS] = {"0.0005", "0.001", "0.0025", "0.005",
                                                           "0.01",   "0.025", "0.05",   "0.1",
                                                           "0.25",   "0.5",   "1",      "2.5"};

void dir_metrics_init(struct dir_metrics *m)
{
    memset(m, 0, sizeof(*m));
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < DIR_METRICS_STATUSES; i++)
        if (statuses[i] == status)
            return i;
    return DIR_METRICS_STATUSES;
}

void dir_metrics_request(struct dir_metrics *m, enum dir_route route, int status,
                         uint64_t elapsed_us)
{
    size_t b = 0;

    if ((unsigned)route >= DIR_ROUTE_COUNT)
        route = DIR_ROUTE_NONE;
    m->requests[route][status_index(status)]++;
    while (b < DIR_METRICS_BUCKETS && elapsed_us > bucket_us[b])
        b++;
    m->latency[b]++;
    m->latency_count++;
    m->latency_sum_us += elapsed_us;
}

static enum sotto_err out(struct writer *w, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static enum sotto_err out(struct writer *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        if (w->err == SOTTO_OK)
            w->err = SOTTO_EINVAL; /* sticky, like the writer's own errors */
        return w->err;
    }
    return writer_put(w, line, (size_t)n);
}

static void render_requests(const struct dir_metrics *m, unsigned worker, struct writer *w)
{
    out(w, "# HELP sotto_directory_requests_total Requests answered by this worker, by route "
           "and HTTP status.\n# TYPE sotto_directory_requests_total counter\n");
    for (int r = 0; r < DIR_ROUTE_COUNT; r++) {
        for (size_t s = 0; s <= DIR_METRICS_STATUSES; s++) {
            char status[8] = "other";
            if (m->requests[r][s] == 0)
                continue;
            if (s < DIR_METRICS_STATUSES)
                snprintf(status, sizeof(status), "%d", statuses[s]);
            out(w,
                "sotto_directory_requests_total{worker=\"%u\",route=\"%s\",status=\"%s\"} "
                "%" PRIu64 "\n",
                worker, dir_route_name((enum dir_route)r), status, m->requests[r][s]);
        }
    }
}

static void render_latency(const struct dir_metrics *m, unsigned worker, struct writer *w)
{
    uint64_t cumulative = 0;

    out(w, "# HELP sotto_directory_request_seconds Time from a complete request to its "
           "answer.\n# TYPE sotto_directory_request_seconds histogram\n");
    for (size_t b = 0; b < DIR_METRICS_BUCKETS; b++) {
        cumulative += m->latency[b];
        out(w, "sotto_directory_request_seconds_bucket{worker=\"%u\",le=\"%s\"} %" PRIu64 "\n",
            worker, bucket_le[b], cumulative);
    }
    out(w, "sotto_directory_request_seconds_bucket{worker=\"%u\",le=\"+Inf\"} %" PRIu64 "\n",
        worker, m->latency_count);
    out(w, "sotto_directory_request_seconds_sum{worker=\"%u\"} %" PRIu64 ".%06" PRIu64 "\n", worker,
        m->latency_sum_us / 1000000, m->latency_sum_us % 1000000);
    out(w, "sotto_directory_request_seconds_count{worker=\"%u\"} %" PRIu64 "\n", worker,
        m->latency_count);
}

static void render_gauges(const struct dir_metrics *m, unsigned worker,
                          const struct dir_metrics_gauges *g, struct writer *w)
{
    if (g->counts_ok) {
        out(w,
            "# HELP sotto_directory_accounts Accounts in the database.\n"
            "# TYPE sotto_directory_accounts gauge\nsotto_directory_accounts %" PRIu64 "\n",
            g->accounts);
        out(w,
            "# HELP sotto_directory_prekeys_stored One-time prekeys in the database.\n"
            "# TYPE sotto_directory_prekeys_stored gauge\n"
            "sotto_directory_prekeys_stored %" PRIu64 "\n",
            g->prekeys_stored);
    }
    out(w,
        "# HELP sotto_directory_prekeys_served_total One-time prekeys handed out in "
        "bundles.\n# TYPE sotto_directory_prekeys_served_total counter\n"
        "sotto_directory_prekeys_served_total{worker=\"%u\"} %" PRIu64 "\n",
        worker, m->prekeys_served);
    out(w,
        "# HELP sotto_directory_db_errors_total Database calls that failed.\n"
        "# TYPE sotto_directory_db_errors_total counter\n"
        "sotto_directory_db_errors_total{worker=\"%u\"} %" PRIu64 "\n",
        worker, m->db_errors);
    out(w,
        "# HELP sotto_directory_connections Connections open on this worker.\n"
        "# TYPE sotto_directory_connections gauge\n"
        "sotto_directory_connections{worker=\"%u\"} %" PRIu64 "\n",
        worker, g->connections);
}

enum sotto_err dir_metrics_render(const struct dir_metrics *m, unsigned worker,
                                  const struct dir_metrics_gauges *g, struct writer *w)
{
    render_requests(m, worker, w);
    render_latency(m, worker, w);
    render_gauges(m, worker, g, w);
    return w->err;
}
