/* src/directory/server.h: one worker process of sotto-directory (an event loop, its own
 * listening socket on the shared port, its own database connection) and the requests it
 * serves. The supervising parent is in supervise.h. */
#ifndef SOTTO_DIRECTORY_SERVER_H
#define SOTTO_DIRECTORY_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "directory/metrics.h"
#include "directory/parse.h"
#include "directory/request.h"

#define DIR_HEADERS_MAX     8192  /* bytes of the request line and headers */
#define DIR_RATE_TABLE_SIZE 16384 /* buckets per rate table, per worker */

struct sotto_env;
struct ssl_ctx_st;
struct event_base;
struct event;
struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct dir_backend;
struct dir_rate;
struct json_t;

#define DIR_PUBLIC_HOSTS_MAX 16
#define DIR_HOST_MAX         255

/* What main() parsed; borrowed by everything below it. */
struct dir_config {
    const char *listen;    /* "ADDR:PORT" as given */
    const char *db;        /* "sqlite:PATH" or a PostgreSQL URI */
    const char *tls_cert;  /* NULL: self-signed, kept in the state directory */
    const char *tls_key;   /* NULL with tls_cert */
    const char *state_dir; /* NULL: beside the SQLite database, or $XDG_DATA_HOME/sotto-directory */
    unsigned workers;
    unsigned rate_per_min;      /* 0: no rate limits */
    unsigned max_conns;         /* per worker */
    unsigned request_timeout_s; /* a request must arrive whole within this, from its first byte */
    unsigned idle_timeout_s;    /* a connection with nothing to do is closed after this */
    /* the names clients reach this directory by ("dir.example.org" or with ":PORT"); a
     * signed write is accepted only for one of these or for the address it arrived on */
    const char *public_hosts[DIR_PUBLIC_HOSTS_MAX];
    size_t n_public_hosts;
    /* every connection starts with a PROXY protocol v2 header (proxy.h) naming the client,
     * ahead of TLS; one without is closed */
    bool proxy_protocol;
};

struct dir_worker {
    const struct dir_config *cfg; /* borrowed */
    const struct sotto_env *env;  /* borrowed */
    unsigned index;
    struct ssl_ctx_st *ssl_ctx;       /* borrowed from the parent's dir_tls */
    int ssl_index;                    /* the SSL ex_data slot of a connection's dir_conn */
    struct event_base *base;          /* owned */
    struct evhttp *http;              /* owned */
    struct evconnlistener *listener;  /* owned by http */
    struct event *sig_term, *sig_int; /* owned */
    struct event *accept_retry;       /* owned: accepting again after running out of fds */
    struct dir_backend *db;           /* owned */
    struct dir_rate *rate_register;   /* owned: registrations per source */
    struct dir_rate *rate_bundle;     /* owned: bundle fetches per source */
    struct dir_rate *rate_target;     /* owned: bundles with a prekey per target number */
    struct dir_metrics metrics;
    uint64_t n_conns;
    bool accept_paused; /* at the connection cap */
    /* connections closed for want of a valid PROXY header since the last warning, which is
     * logged at most once a minute (DIR_PROXY_WARN_US) */
    uint64_t proxy_refused, proxy_warned_us;
    /* /metrics answers with counts at most DIR_COUNTS_MAX_AGE_MS old, so that scraping it
     * (no authentication) cannot make the shared database count every row at will */
    uint64_t counts_ms, accounts, prekeys_stored;
    bool counts_ok;
};

#define DIR_COUNTS_MAX_AGE_MS 15000
#define DIR_PROXY_WARN_US     60000000u

/* One request being answered. */
struct dir_call {
    struct dir_worker *w;       /* borrowed */
    struct evhttp_request *req; /* borrowed from evhttp until the answer is sent */
    struct dir_target target;
    const uint8_t *body; /* borrowed from the request's input buffer */
    size_t body_len;
    char source[64];    /* the rate limits' key of the client's address */
    char seen_from[72]; /* "ip:port", "[ipv6]:port" */
    uint64_t start_us;  /* monotonic */
    uint64_t now_ms;    /* wall clock, for timestamps */
};

/* Runs one worker until SIGTERM or SIGINT: binds `sa` with SO_REUSEPORT, opens the database,
 * writes one byte to `ready_fd` (if >= 0) when it serves, and returns the process's exit code
 * after closing everything. */
int dir_worker_main(const struct dir_config *cfg, const struct sotto_env *env,
                    struct ssl_ctx_st *ssl_ctx, const struct sockaddr *sa, socklen_t sa_len,
                    unsigned index, int ready_fd);

/* The request is complete: the connection's slow-client deadline stops (server.c). */
void dir_conn_request_done(struct dir_worker *w, struct evhttp_request *req);
/* False when the request did not come over TLS (server.c). */
bool dir_conn_is_tls(struct evhttp_request *req);
/* The client's address as numeric text ("192.0.2.1", "2001:db8::1", at most addr_len - 1
 * bytes) and port: with --proxy-protocol the one the connection's PROXY header named, else
 * (and for the balancer's own LOCAL connections, or an UNSPEC family) the socket's peer.
 * False when neither can be told (server.c). */
bool dir_conn_peer(struct dir_worker *w, struct evhttp_request *req, char *addr, size_t addr_len,
                   uint16_t *port);

/* evhttp's callback for every request (routes.c). */
void dir_routes_handle(struct evhttp_request *req, void *arg);

/* Answers (reply.c). Each sends the reply, counts it in the metrics and logs it at debug. */
void dir_reply_json(struct dir_call *c, int status, struct json_t *json); /* takes `json` */
void dir_reply_problem(struct dir_call *c, const struct dir_problem *p);
void dir_reply_text(struct dir_call *c, int status, const char *type, const void *p, size_t len);
/* 429 with Retry-After. */
void dir_reply_rate_limited(struct dir_call *c, unsigned retry_after_s);
/* 503 `unavailable` after a failed database call, which is counted and logged. */
void dir_reply_db_error(struct dir_call *c, const char *what, int rc);
/* The rate limits' key of the client's address (dir_proxy_source_key(): an IPv6 address's
 * /64) and its "ip:port" (what writes answer as seen_from), from dir_conn_peer() the first
 * time either is asked for. */
const char *dir_call_source(struct dir_call *c);
const char *dir_call_seen_from(struct dir_call *c);
uint64_t dir_monotonic_us(void);

#endif
