/* src/directory/metrics.h: counters of one worker process and their Prometheus text
 * exposition (GET /metrics). Each worker counts what it served; docs/directory.md says how
 * to read several. */
#ifndef SOTTO_DIRECTORY_METRICS_H
#define SOTTO_DIRECTORY_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "directory/request.h"
#include "sotto/err.h"

#define DIR_METRICS_STATUSES 11 /* the statuses counted one by one, then "other" */
#define DIR_METRICS_BUCKETS  12 /* latency histogram buckets below +Inf */

struct writer;

struct dir_metrics {
    uint64_t requests[DIR_ROUTE_COUNT][DIR_METRICS_STATUSES + 1];
    uint64_t latency[DIR_METRICS_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t latency_count;
    uint64_t latency_sum_us;
    uint64_t prekeys_served;
    uint64_t db_errors;
};

/* What /metrics reads at the time of the scrape. */
struct dir_metrics_gauges {
    bool counts_ok; /* false: the database did not answer; its two gauges are left out */
    uint64_t accounts;
    uint64_t prekeys_stored;
    uint64_t connections; /* open on this worker */
};

/* Zeroes every counter. Cannot fail. */
void dir_metrics_init(struct dir_metrics *m);
/* Counts one answered request: its route, HTTP status and time to answer. */
void dir_metrics_request(struct dir_metrics *m, enum dir_route route, int status,
                         uint64_t elapsed_us);
/* Appends the Prometheus text format (version 0.0.4) to `w`, every series labelled
 * worker="<worker>" except the database's gauges. Returns the writer's error. */
enum sotto_err dir_metrics_render(const struct dir_metrics *m, unsigned worker,
                                  const struct dir_metrics_gauges *g, struct writer *w);

#endif
