/* bench/node_client_bench.c: what a user waits for, measured through a running node's local
 * API (bench/node.py starts the nodes):
 *   latency   N sends one after the other, each timed from the request to the node until the
 *             "delivered" event (the peer's node stored it and acknowledged): p50, p99
 *   rate      M sends posted at once (the next request does not wait for the answer to the one
 *             before, as a client that has many to send would do), timed until the last
 *             "delivered": messages per second; and until the last answer ("stored")
 * Usage: node-client-bench SOTTO_HOME CONTACT N M
 * Prints one line per figure, "name value unit", for bench/node.py to read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "node/client.h"
#include "sotto/env.h"
#include "sotto/log.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct count {
    size_t delivered, answered, refused;
};

static void on_event(void *arg, json_t *ev)
{
    struct count *c = arg;
    const char *e = json_string_value(json_object_get(ev, "event"));

    if (e != NULL && strcmp(e, "delivered") == 0)
        c->delivered++;
    else if (e == NULL && json_object_get(ev, "ok") != NULL) {
        c->answered++; /* the answer to a posted send */
        c->refused += !json_is_true(json_object_get(ev, "ok"));
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static json_t *send_req(const char *contact, size_t i)
{
    char text[101];

    /* 100 bytes, as the figures are for 100-byte messages */
    snprintf(text, sizeof(text), "%-100zu", i);
    return json_pack("{s:s, s:s, s:s}", "op", "send", "contact", contact, "text", text);
}

static int send_one(struct node_client *nc, const char *contact, size_t i)
{
    json_t *result = NULL, *error = NULL;
    enum sotto_err rc = node_client_call(nc, send_req(contact, i), &result, &error, 30000);

    json_decref(result);
    json_decref(error);
    return rc == SOTTO_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct sotto_log log;
    struct sotto_env env;
    struct node_client *nc = NULL;
    struct count c = {0};
    size_t n, m;
    double *lat, t0, t;

    if (argc != 5) {
        fprintf(stderr, "usage: node-client-bench SOTTO_HOME CONTACT N M\n");
        return 2;
    }
    n = (size_t)strtoul(argv[3], NULL, 10);
    m = (size_t)strtoul(argv[4], NULL, 10);
    sotto_log_init(&log);
    sotto_env_init(&env, &log);
    if (node_client_open(&nc, &env, argv[1], 10000) != SOTTO_OK) {
        fprintf(stderr, "node-client-bench: no node runs for %s\n", argv[1]);
        return 1;
    }
    node_client_on_event(nc, on_event, &c);
    lat = calloc(n > 0 ? n : 1, sizeof(*lat));
    for (size_t i = 0; i < n; i++) {
        size_t want = c.delivered + 1;

        t0 = now_s();
        if (send_one(nc, argv[2], i) != 0)
            return 1;
        while (c.delivered < want)
            if (!node_client_wait(nc, 10000))
                return fprintf(stderr, "no delivery within 10 s\n"), 1;
        lat[i] = (now_s() - t0) * 1e3;
    }
    qsort(lat, n, sizeof(*lat), cmp_double);
    if (n > 0)
        printf("latency_p50 %.3f ms\nlatency_p99 %.3f ms\n", lat[n / 2], lat[(n * 99) / 100]);
    c.delivered = 0;
    t0 = now_s();
    for (size_t i = 0; i < m; i++)
        if (node_client_post(nc, send_req(argv[2], i), NULL) != SOTTO_OK)
            return fprintf(stderr, "the node is gone\n"), 1;
    while (c.answered < m)
        if (!node_client_wait(nc, 30000))
            return fprintf(stderr, "only %zu of %zu sends answered\n", c.answered, m), 1;
    t = now_s() - t0;
    if (c.refused > 0)
        return fprintf(stderr, "%zu of %zu sends refused\n", c.refused, m), 1;
    while (c.delivered < m)
        if (!node_client_wait(nc, 30000))
            return fprintf(stderr, "only %zu of %zu delivered\n", c.delivered, m), 1;
    printf("queue_rate %.0f msg/s\nrate %.0f msg/s\n", (double)m / t, (double)m / (now_s() - t0));
    free(lat);
    node_client_free(nc);
    return 0;
}
