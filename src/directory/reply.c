/* src/directory/reply.c: how the directory answers: JSON (or Prometheus text), counted in the
 * worker's metrics and logged at debug level with the path escaped. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "directory/encode.h"
#include "directory/proxy.h"
#include "directory/server.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "util/text.h"

/* What is sent when even the error cannot be encoded. */
static const char no_memory_json[] =
        "{\"error\":\"unavailable\",\"message\":\"the server is short of memory: try again "
        "later\"}";

uint64_t dir_monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *reason_of(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {{200, "OK"},
                   {201, "Created"},
                   {400, "Bad Request"},
                   {401, "Unauthorized"},
                   {404, "Not Found"},
                   {405, "Method Not Allowed"},
                   {409, "Conflict"},
                   {413, "Payload Too Large"},
                   {429, "Too Many Requests"},
                   {500, "Internal Server Error"},
                   {503, "Service Unavailable"}};

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    default:
        return "OTHER";
    }
}

static void finish(struct dir_call *c, int status)
{
    uint64_t elapsed = dir_monotonic_us() - c->start_us;
    char path[96];

    dir_metrics_request(&c->w->metrics, c->target.route, status, elapsed);
    if (c->w->env->log == NULL || c->w->env->log->level < SOTTO_LOG_DEBUG)
        return;
    text_escape(evhttp_request_get_uri(c->req) != NULL ? evhttp_request_get_uri(c->req) : "", path,
                sizeof(path));
    log_debug(c->w->env->log, "worker %u: %s %s from %s: %d in %" PRIu64 " us", c->w->index,
              method_name(evhttp_request_get_command(c->req)), path, dir_call_seen_from(c), status,
              elapsed);
}

static void send_reply(struct dir_call *c, int status, const char *type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(c->req, status, reason_of(status), NULL);
    finish(c, status);
}

void dir_reply_text(struct dir_call *c, int status, const char *type, const void *p, size_t len)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(c->req);

    if (evbuffer_add(out, p, len) != 0) {
        evbuffer_drain(out, evbuffer_get_length(out));
        evbuffer_add(out, no_memory_json, sizeof(no_memory_json) - 1);
        status = 503;
        type = "application/json";
    }
    send_reply(c, status, type);
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return evbuffer_add(data, buffer, size);
}

void dir_reply_json(struct dir_call *c, int status, struct json_t *json)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(c->req);

    if (json == NULL || json_dump_callback(json, dump_cb, out, JSON_COMPACT) != 0) {
        evbuffer_drain(out, evbuffer_get_length(out));
        json_decref(json);
        dir_reply_text(c, 503, "application/json", no_memory_json, sizeof(no_memory_json) - 1);
        return;
    }
    json_decref(json);
    send_reply(c, status, "application/json");
}

void dir_reply_problem(struct dir_call *c, const struct dir_problem *p)
{
    if (p->allow != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow", p->allow);
    dir_reply_json(c, p->status, dir_encode_problem(p));
}

void dir_reply_rate_limited(struct dir_call *c, unsigned retry_after_s)
{
    struct dir_problem p;
    char seconds[16];

    snprintf(seconds, sizeof(seconds), "%u", retry_after_s);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", seconds);
    dir_problem_set(&p, 429, "rate_limited",
                    "too many requests from your address: try again in %u seconds", retry_after_s);
    dir_reply_problem(c, &p);
}

void dir_reply_db_error(struct dir_call *c, const char *what, int rc)
{
    struct dir_problem p;

    c->w->metrics.db_errors++;
    log_warn(c->w->env->log, "worker %u: database: %s: %s", c->w->index, what,
             sotto_strerror((enum sotto_err)rc));
    dir_problem_set(&p, 503, "unavailable",
                    "the directory's database is not answering: try again later");
    dir_reply_problem(c, &p);
}

static void call_peer(struct dir_call *c)
{
    char addr[DIR_PROXY_KEY_MAX];
    uint16_t port = 0;

    if (!dir_conn_peer(c->w, c->req, addr, sizeof(addr), &port))
        snprintf(addr, sizeof(addr), "unknown");
    dir_proxy_source_key(addr, c->source, sizeof(c->source));
    if (strchr(addr, ':') != NULL)
        snprintf(c->seen_from, sizeof(c->seen_from), "[%s]:%u", addr, (unsigned)port);
    else
        snprintf(c->seen_from, sizeof(c->seen_from), "%s:%u", addr, (unsigned)port);
}

const char *dir_call_source(struct dir_call *c)
{
    if (c->source[0] == '\0')
        call_peer(c);
    return c->source;
}

const char *dir_call_seen_from(struct dir_call *c)
{
    if (c->seen_from[0] == '\0')
        call_peer(c);
    return c->seen_from;
}
