/* src/node/client.c: the local API's client side (see client.h). */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "net/link.h"
#include "node/client.h"
#include "node/runfile.h"
#include "sotto/env.h"
#include "sotto/log.h"

struct node_client {
    const struct sotto_env *env;
    struct net_loop *loop;
    struct net_link *link;
    bool failed, gone, timed_out;
    json_int_t next_id;
    json_int_t want_id; /* the response awaited, 0 when none */
    json_t *response;   /* the awaited response once it came */
    bool got_event;
    node_event_fn on_event;
    void *event_arg;
    struct net_timer deadline;
    volatile sig_atomic_t interrupted;
};

static void on_up(void *arg, struct net_link *l, void *cookie)
{
    struct node_client *c = arg;

    (void)cookie;
    c->link = l;
}

static void on_failed(void *arg, void *cookie, const char *why)
{
    struct node_client *c = arg;

    (void)cookie;
    log_debug(c->env->log, "local API: %s", why);
    c->failed = true;
}

static void on_down(void *arg, struct net_link *l, unsigned code, const char *why)
{
    struct node_client *c = arg;

    (void)l;
    log_debug(c->env->log, "local API: closed (%u %s)", code, why);
    c->link = NULL;
    c->gone = true;
}

static void on_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    struct node_client *c = arg;
    json_t *m = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *id = json_object_get(m, "id"), *ev = json_object_get(m, "event");

    (void)l;
    if (!json_is_object(m)) {
        log_warn(c->env->log, "local API: the node sent something that is not a JSON object");
    } else if (json_is_string(ev)) {
        c->got_event = true;
        if (c->on_event != NULL)
            c->on_event(c->event_arg, m);
    } else if (json_is_integer(id) && json_integer_value(id) == c->want_id && c->want_id != 0 &&
               c->response == NULL) {
        c->response = json_incref(m);
    } else if (json_is_integer(id)) {
        /* the answer to a posted request */
        c->got_event = true;
        if (c->on_event != NULL)
            c->on_event(c->event_arg, m);
    }
    json_decref(m);
}

static void deadline_cb(struct net_timer *t)
{
    struct node_client *c =
            (struct node_client *)((char *)t - offsetof(struct node_client, deadline));

    c->timed_out = true;
}

static bool linked(const struct node_client *c)
{
    return c->link != NULL;
}

static bool answered(const struct node_client *c)
{
    return c->response != NULL;
}

static bool evented(const struct node_client *c)
{
    return c->got_event;
}

/* Runs the loop until done(c), the node is gone, or the deadline (0: none). */
static bool run_until(struct node_client *c, bool (*done)(const struct node_client *),
                      unsigned timeout_ms)
{
    uint64_t end = sotto_now_ms(c->env) + timeout_ms;

    c->timed_out = false;
    if (timeout_ms > 0)
        net_timer_arm(c->loop, &c->deadline, timeout_ms);
    while (!done(c) && !c->gone && !c->failed && !c->timed_out && !c->interrupted) {
        net_loop_once(c->loop, true);
        /* the clock too: libwebsockets may wake a little before the timer is due */
        if (timeout_ms > 0 && sotto_now_ms(c->env) >= end)
            c->timed_out = true;
        else if (timeout_ms > 0 && !c->timed_out)
            net_timer_arm(c->loop, &c->deadline, end - sotto_now_ms(c->env));
    }
    c->interrupted = 0;
    net_timer_cancel(&c->deadline);
    return done(c);
}

static enum sotto_err send_json(struct node_client *c, json_t *m)
{
    char *text = json_dumps(m, JSON_COMPACT);
    enum sotto_err rc;

    if (text == NULL)
        return SOTTO_ENOMEM;
    rc = c->link != NULL ? net_link_send(c->link, (const uint8_t *)text, strlen(text)) : SOTTO_ENET;
    free(text);
    return rc;
}

enum sotto_err node_client_call(struct node_client *c, json_t *req, json_t **result, json_t **error,
                                unsigned timeout_ms)
{
    json_t *resp, *ok;
    enum sotto_err rc;

    *result = NULL;
    if (error != NULL)
        *error = NULL;
    if (!json_is_object(req)) {
        json_decref(req);
        return SOTTO_EINVAL;
    }
    c->want_id = ++c->next_id;
    json_object_set_new(req, "id", json_integer(c->want_id));
    rc = send_json(c, req);
    json_decref(req);
    if (rc != SOTTO_OK)
        return rc;
    if (!run_until(c, answered, timeout_ms))
        return SOTTO_ENET;
    resp = c->response;
    c->response = NULL;
    c->want_id = 0;
    ok = json_object_get(resp, "ok");
    if (json_is_true(ok)) {
        *result = json_incref(json_object_get(resp, "result"));
        if (*result == NULL)
            *result = json_object();
        rc = SOTTO_OK;
    } else {
        if (error != NULL)
            *error = json_incref(json_object_get(resp, "error"));
        rc = SOTTO_EREFUSED;
    }
    json_decref(resp);
    return rc;
}

enum sotto_err node_client_post(struct node_client *c, json_t *req, json_int_t *id)
{
    enum sotto_err rc;

    if (!json_is_object(req)) {
        json_decref(req);
        return SOTTO_EINVAL;
    }
    ++c->next_id;
    if (id != NULL)
        *id = c->next_id;
    json_object_set_new(req, "id", json_integer(c->next_id));
    rc = send_json(c, req);
    json_decref(req);
    return rc;
}

bool node_client_wait(struct node_client *c, unsigned timeout_ms)
{
    c->got_event = false;
    return run_until(c, evented, timeout_ms);
}

void node_client_interrupt(struct node_client *c)
{
    c->interrupted = 1;
    net_loop_wake(c->loop);
}

bool node_client_gone(const struct node_client *c)
{
    return c->gone || c->failed;
}

void node_client_on_event(struct node_client *c, node_event_fn fn, void *arg)
{
    c->on_event = fn;
    c->event_arg = arg;
}

enum sotto_err node_client_open(struct node_client **out, const struct sotto_env *env,
                                const char *profile_dir, unsigned timeout_ms)
{
    struct node_runinfo info;
    struct node_client *c;
    struct net_link_params lp = {0};
    struct net_api_params ap = {0};
    json_t *auth, *result = NULL, *error = NULL;
    enum sotto_err rc;

    *out = NULL;
    rc = node_runfile_read(env, profile_dir, &info);
    if (rc != SOTTO_OK)
        return rc;
    c = sotto_zalloc(env, sizeof(*c));
    if (c == NULL) {
        sodium_memzero(&info, sizeof(info));
        return SOTTO_ENOMEM;
    }
    c->env = env;
    c->deadline.cb = deadline_cb;
    rc = net_loop_create(&c->loop, env, &lp);
    ap.port = info.port;
    ap.ev = (struct net_link_events){
            .up = on_up, .frame = on_frame, .dial_failed = on_failed, .down = on_down};
    ap.arg = c;
    if (rc == SOTTO_OK)
        rc = net_api_dial(c->loop, &ap, c);
    if (rc == SOTTO_OK && !run_until(c, linked, timeout_ms))
        rc = SOTTO_ENET;
    if (rc == SOTTO_OK) {
        auth = json_pack("{s:s, s:s}", "op", "auth", "token", info.token);
        rc = auth != NULL ? node_client_call(c, auth, &result, &error, timeout_ms) : SOTTO_ENOMEM;
    }
    sodium_memzero(&info, sizeof(info));
    json_decref(result);
    json_decref(error);
    if (rc != SOTTO_OK) {
        node_client_free(c);
        return rc;
    }
    *out = c;
    return SOTTO_OK;
}

void node_client_free(struct node_client *c)
{
    if (c == NULL)
        return;
    if (c->loop != NULL)
        net_timer_cancel(&c->deadline);
    net_loop_free(c->loop);
    json_decref(c->response);
    sotto_free(c->env, c);
}
