/* src/directory/routes.c: the directory API's routes (docs/PROTOCOL.md, "Endpoints"). Every
 * check of untrusted bytes is in parse.c and request.c; this file orders them, asks the
 * database, and answers. Writes are refused before the database is changed unless the
 * signature verifies under the key of the account being changed, and a write answered 2xx
 * is durable. */
#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <jansson.h>

#include "directory/backend.h"
#include "directory/encode.h"
#include "directory/ratelimit.h"
#include "directory/server.h"
#include "identity/number.h"
#include "sotto/env.h"
#include "util/bytes.h"

#define METRICS_MAX (256 * 1024)

static enum dir_method method_of(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return DIR_METHOD_GET;
    case EVHTTP_REQ_POST:
        return DIR_METHOD_POST;
    case EVHTTP_REQ_PUT:
        return DIR_METHOD_PUT;
    case EVHTTP_REQ_DELETE:
        return DIR_METHOD_DELETE;
    default:
        return DIR_METHOD_OTHER;
    }
}

static const char *method_text(enum dir_method m)
{
    static const char *const names[] = {[DIR_METHOD_GET] = "GET",
                                        [DIR_METHOD_POST] = "POST",
                                        [DIR_METHOD_PUT] = "PUT",
                                        [DIR_METHOD_DELETE] = "DELETE",
                                        [DIR_METHOD_OTHER] = NULL};
    return names[m];
}

static const char *header(const struct dir_call *c, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(c->req), name);
}

static void problem(struct dir_call *c, int status, const char *error, const char *message)
{
    struct dir_problem p;

    dir_problem_set(&p, status, error, "%s", message);
    dir_reply_problem(c, &p);
}

static bool body_empty(struct dir_call *c)
{
    if (c->body_len == 0)
        return true;
    problem(c, 400, "bad_request", "this request takes no body: send it empty");
    return false;
}

static void not_found(struct dir_call *c)
{
    problem(c, 404, "not_found", "no account has this username or number: check it");
}

static bool taken(struct dir_call *c, struct dir_rate *r)
{
    unsigned retry = 0;

    if (dir_rate_take(r, dir_call_source(c), c->now_ms, &retry))
        return true;
    dir_reply_rate_limited(c, retry);
    return false;
}

/* The address this connection arrived on, as a Host header names it: "127.0.0.1:8443",
 * "[::1]:8443". False when it cannot be told. */
static bool local_address(struct dir_call *c, char *out, size_t len)
{
    struct bufferevent *bev =
            evhttp_connection_get_bufferevent(evhttp_request_get_connection(c->req));
    struct sockaddr_storage ss;
    socklen_t ss_len = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (bev == NULL || getsockname(bufferevent_getfd(bev), (struct sockaddr *)&ss, &ss_len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, ss_len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return false;
    snprintf(out, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return true;
}

/* A signature over another directory's name must not count here: otherwise a write signed
 * for directory B could be replayed to A, whose replay cache has never seen it. */
static bool host_is_ours(struct dir_call *c, const char *host)
{
    char local[NI_MAXHOST + NI_MAXSERV + 4];

    if (host == NULL)
        return false;
    for (size_t i = 0; i < c->w->cfg->n_public_hosts; i++)
        if (strcasecmp(host, c->w->cfg->public_hosts[i]) == 0)
            return true;
    return local_address(c, local, sizeof(local)) && strcasecmp(host, local) == 0;
}

/* The signature headers, checked under `key`, then recorded against replays. True when the
 * write may proceed; otherwise the request has been answered. */
static bool authorized(struct dir_call *c, const struct dir_auth *a,
                       const uint8_t key[static E2E_KEY_LEN])
{
    const char *method = method_text(method_of(evhttp_request_get_command(c->req)));
    uint8_t msg[DIR_AUTH_MSG_MAX], digest[32];
    struct dir_problem p;
    size_t len = 0;
    enum sotto_err rc;

    if (!host_is_ours(c, header(c, "Host"))) {
        problem(c, 401, "wrong_host",
                "this request was signed for another host: sign for the name you send it to "
                "(the operator lists this directory's names with --public-host)");
        return false;
    }
    rc = dir_auth_message(header(c, "Host"), method, evhttp_request_get_uri(c->req), c->body,
                          c->body_len, a, msg, sizeof(msg), &len, &p);
    if (rc == SOTTO_OK)
        rc = dir_auth_verify(a, key, msg, len, c->now_ms, digest, &p);
    if (rc != SOTTO_OK) {
        dir_reply_problem(c, &p);
        return false;
    }
    rc = dir_backend_replay_check(c->w->db, digest, a->timestamp_ms + DIR_REPLAY_KEEP_MS,
                                  c->now_ms);
    if (rc == SOTTO_EEXIST)
        problem(c, 401, "replayed",
                "this signed request was seen before: sign again with a new timestamp");
    else if (rc != SOTTO_OK)
        dir_reply_db_error(c, "replay check", rc);
    return rc == SOTTO_OK;
}

static bool auth_headers(struct dir_call *c, struct dir_auth *a)
{
    struct dir_problem p;

    if (dir_auth_parse(header(c, "Sotto-Number"), header(c, "Sotto-Timestamp"),
                       header(c, "Sotto-Signature"), a, &p) == SOTTO_OK)
        return true;
    dir_reply_problem(c, &p);
    return false;
}

/* A write to the account of the path: signed by that account's own key. */
static bool account_write(struct dir_call *c, struct dir_account *acct)
{
    struct dir_auth a;
    enum sotto_err rc;

    if (!auth_headers(c, &a))
        return false;
    if (a.number != c->target.number) {
        problem(c, 401, "unauthorized",
                "Sotto-Number is not the number in the path: an account is changed only with "
                "its own identity key");
        return false;
    }
    rc = dir_backend_lookup(c->w->db, NULL, c->target.number, acct);
    if (rc == SOTTO_ENOENT)
        not_found(c);
    else if (rc != SOTTO_OK)
        dir_reply_db_error(c, "lookup", rc);
    return rc == SOTTO_OK && authorized(c, &a, acct->identity_key);
}

static json_t *seen_from(struct dir_call *c)
{
    return json_pack("{s:s}", "seen_from", dir_call_seen_from(c));
}

static void register_store(struct dir_call *c, struct dir_register_req *r)
{
    char skeleton[TEXT_USERNAME_MAX + 1], digits[NUMBER_DIGITS_LEN];
    enum dir_conflict conflict = DIR_CONFLICT_NONE;
    enum sotto_err rc;

    dir_username_skeleton(r->account.username, skeleton);
    r->account.created_ms = r->account.updated_ms = c->now_ms;
    rc = dir_backend_register(c->w->db, &r->account, skeleton, r->prekeys, r->n_prekeys, &conflict);
    if (rc == SOTTO_EEXIST && conflict == DIR_CONFLICT_NUMBER)
        problem(c, 409, "number_taken",
                "this identity key's number is registered already: look it up, or delete that "
                "account first");
    else if (rc == SOTTO_EEXIST)
        problem(c, 409, "username_taken",
                "this username, or one that looks like it, is taken: choose another");
    else if (rc != SOTTO_OK)
        dir_reply_db_error(c, "register", rc);
    if (rc != SOTTO_OK)
        return;
    identity_number_digits(r->account.number, digits);
    dir_reply_json(c, 201,
                   json_pack("{s:s, s:s, s:s}", "username", r->account.username, "number", digits,
                             "seen_from", dir_call_seen_from(c)));
}

static void route_register(struct dir_call *c)
{
    struct dir_register_req r;
    struct dir_problem p;
    struct dir_auth a;

    if (!taken(c, c->w->rate_register))
        return;
    if (dir_parse_register(c->body, c->body_len, &r, &p) != SOTTO_OK) {
        dir_reply_problem(c, &p);
        return;
    }
    if (!auth_headers(c, &a))
        return;
    if (a.number != r.account.number) {
        problem(c, 401, "number_mismatch",
                "Sotto-Number must be the number of identity_key: send the number your key "
                "gives");
        return;
    }
    if (authorized(c, &a, r.account.identity_key))
        register_store(c, &r);
}

static void route_lookup(struct dir_call *c)
{
    struct dir_account a;
    enum sotto_err rc;

    rc = dir_backend_lookup(c->w->db, c->target.username[0] != '\0' ? c->target.username : NULL,
                            c->target.number, &a);
    if (rc == SOTTO_ENOENT)
        not_found(c);
    else if (rc != SOTTO_OK)
        dir_reply_db_error(c, "lookup", rc);
    else
        dir_reply_json(c, 200, dir_encode_account(&a));
}

static void route_bundle(struct dir_call *c)
{
    struct dir_account a;
    struct dir_prekey pk;
    char target[NUMBER_DIGITS_LEN];
    bool has = false, take;
    unsigned left = 0, retry = 0;
    enum sotto_err rc;

    if (!body_empty(c) || !taken(c, c->w->rate_bundle))
        return;
    identity_number_digits(c->target.number, target);
    /* past the per-target limit: a bundle without a one-time prekey, never a refusal, so that
     * nobody can block first contact with the target (docs/DESIGN.md). The token is taken only
     * once the account is known to exist: requests for numbers nobody has must not fill the
     * table and evict the buckets of real targets (a fresh bucket is a full one). */
    take = dir_rate_would_take(c->w->rate_target, target, c->now_ms);
    rc = dir_backend_take_bundle(c->w->db, c->target.number, take, &a, &pk, &has, &left);
    if (rc == SOTTO_ENOENT) {
        not_found(c);
        return;
    }
    if (rc != SOTTO_OK) {
        dir_reply_db_error(c, "bundle", rc);
        return;
    }
    if (take)
        (void)dir_rate_take(c->w->rate_target, target, c->now_ms, &retry);
    if (has)
        c->w->metrics.prekeys_served++;
    dir_reply_json(c, 200, dir_encode_bundle(&a, has ? &pk : NULL, left));
}

static void route_addresses(struct dir_call *c)
{
    struct dir_addresses_req r;
    struct dir_account a;
    struct dir_problem p;
    enum sotto_err rc;

    if (!account_write(c, &a))
        return;
    if (dir_parse_addresses(c->body, c->body_len, &r, &p) != SOTTO_OK) {
        dir_reply_problem(c, &p);
        return;
    }
    rc = dir_backend_set_addresses(c->w->db, c->target.number,
                                   (const char(*)[CARD_ADDR_MAX + 1]) r.addrs, r.n_addrs);
    if (rc == SOTTO_ENOENT)
        not_found(c);
    else if (rc != SOTTO_OK)
        dir_reply_db_error(c, "addresses", rc);
    else
        dir_reply_json(c, 200, seen_from(c));
}

static void prekeys_store(struct dir_call *c, const struct dir_prekeys_req *r)
{
    unsigned left = 0;
    enum sotto_err rc;

    rc = dir_backend_add_prekeys(c->w->db, c->target.number,
                                 r->has_signed_prekey ? &r->signed_prekey : NULL, r->prekeys,
                                 r->n_prekeys, &left);
    if (rc == SOTTO_ETOOBIG)
        problem(c, 400, "bad_request",
                "an account holds at most 1000 one-time prekeys: send fewer");
    else if (rc == SOTTO_ENOENT)
        not_found(c);
    else if (rc != SOTTO_OK)
        dir_reply_db_error(c, "prekeys", rc);
    else
        dir_reply_json(c, 200,
                       json_pack("{s:I, s:s}", "prekeys_left", (json_int_t)left, "seen_from",
                                 dir_call_seen_from(c)));
}

static void route_prekeys(struct dir_call *c)
{
    struct dir_prekeys_req r;
    struct dir_account a;
    struct dir_problem p;

    if (!account_write(c, &a))
        return;
    if (dir_parse_prekeys(c->body, c->body_len, &r, &p) != SOTTO_OK) {
        dir_reply_problem(c, &p);
        return;
    }
    if (r.has_signed_prekey &&
        dir_signed_prekey_check(a.identity_key, &r.signed_prekey) != SOTTO_OK) {
        problem(c, 400, "bad_signature",
                "signed_prekey.signature does not verify under the account's identity key: "
                "sign the signed prekey with it");
        return;
    }
    prekeys_store(c, &r);
}

static void route_delete(struct dir_call *c)
{
    struct dir_account a;
    char digits[NUMBER_DIGITS_LEN];
    enum sotto_err rc;

    if (!body_empty(c) || !account_write(c, &a))
        return;
    rc = dir_backend_delete(c->w->db, c->target.number);
    if (rc == SOTTO_ENOENT) {
        not_found(c);
        return;
    }
    if (rc != SOTTO_OK) {
        dir_reply_db_error(c, "delete", rc);
        return;
    }
    identity_number_digits(c->target.number, digits);
    dir_reply_json(c, 200,
                   json_pack("{s:s, s:s}", "deleted", digits, "seen_from", dir_call_seen_from(c)));
}

static void route_healthz(struct dir_call *c)
{
    enum sotto_err rc = dir_backend_ping(c->w->db);

    if (rc != SOTTO_OK)
        dir_reply_db_error(c, "ping", rc);
    else
        dir_reply_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static void route_metrics(struct dir_call *c)
{
    struct dir_worker *w = c->w;
    struct dir_metrics_gauges g = {.connections = w->n_conns};
    struct writer out;
    enum sotto_err rc;

    if (!w->counts_ok || c->now_ms - w->counts_ms >= DIR_COUNTS_MAX_AGE_MS) {
        rc = dir_backend_counts(w->db, &w->accounts, &w->prekeys_stored);
        w->counts_ok = rc == SOTTO_OK;
        w->counts_ms = c->now_ms;
        if (rc != SOTTO_OK)
            w->metrics.db_errors++;
    }
    g.accounts = w->accounts;
    g.prekeys_stored = w->prekeys_stored;
    g.counts_ok = w->counts_ok;
    writer_init(&out, c->w->env, METRICS_MAX);
    rc = dir_metrics_render(&c->w->metrics, c->w->index, &g, &out);
    if (rc != SOTTO_OK)
        problem(c, 503, "unavailable", "the metrics could not be written: try again later");
    else
        dir_reply_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
    writer_clear(&out);
}

static void (*const handlers[DIR_ROUTE_COUNT])(struct dir_call *c) = {
        [DIR_ROUTE_REGISTER] = route_register, [DIR_ROUTE_LOOKUP] = route_lookup,
        [DIR_ROUTE_BUNDLE] = route_bundle,     [DIR_ROUTE_ADDRESSES] = route_addresses,
        [DIR_ROUTE_PREKEYS] = route_prekeys,   [DIR_ROUTE_DELETE] = route_delete,
        [DIR_ROUTE_HEALTHZ] = route_healthz,   [DIR_ROUTE_METRICS] = route_metrics,
};

static bool call_body(struct dir_call *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);

    c->body_len = evbuffer_get_length(in);
    c->body = c->body_len > 0 ? evbuffer_pullup(in, -1) : NULL;
    if (c->body_len == 0 || c->body != NULL)
        return true;
    problem(c, 503, "unavailable", "the server is short of memory: try again later");
    return false;
}

void dir_routes_handle(struct evhttp_request *req, void *arg)
{
    struct dir_worker *w = arg;
    struct dir_call c = {.w = w, .req = req, .start_us = dir_monotonic_us()};
    struct dir_problem p;

    c.now_ms = sotto_now_ms(w->env);
    dir_conn_request_done(w, req);
    if (!dir_conn_is_tls(req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        problem(&c, 400, "bad_request", "the directory speaks HTTPS only");
        return;
    }
    if (dir_route_parse(method_of(evhttp_request_get_command(req)), evhttp_request_get_uri(req),
                        &c.target, &p) != SOTTO_OK) {
        dir_reply_problem(&c, &p);
        return;
    }
    if (!call_body(&c))
        return;
    if (handlers[c.target.route] != NULL)
        handlers[c.target.route](&c);
    else /* every route has a handler; this keeps a new one from leaving a client waiting */
        problem(&c, 404, "not_found", "no such path: see docs/PROTOCOL.md for the API");
}
