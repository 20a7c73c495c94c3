/* src/directory/server.c: a worker's event loop. evhttp parses HTTP; each connection gets a
 * TLS bufferevent from conn_new(), and a struct dir_conn hung on its SSL object, so that the
 * connection cap and the slow-client deadline follow the connection's life exactly: OpenSSL
 * frees the dir_conn when libevent frees the SSL. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "directory/backend.h"
#include "directory/ratelimit.h"
#include "directory/server.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define DIR_BACKLOG 4096

struct dir_conn {
    struct dir_worker *w;    /* borrowed */
    struct bufferevent *bev; /* borrowed: evhttp's; freeing it frees the SSL, and so us */
    struct event *deadline;  /* owned */
    bool busy;               /* a request is arriving: the deadline runs */
};

static void accept_update(struct dir_worker *w)
{
    bool full = w->n_conns >= w->cfg->max_conns;

    if (w->listener == NULL || full == w->accept_paused)
        return;
    /* new connections wait in the kernel's queue (or go to another worker) meanwhile */
    if (full)
        evconnlistener_disable(w->listener);
    else
        evconnlistener_enable(w->listener);
    w->accept_paused = full;
    log_debug(w->env->log, "worker %u: %s accepting at %llu connections", w->index,
              full ? "stopped" : "resumed", (unsigned long long)w->n_conns);
}

/* Too slow: shutting the socket down makes evhttp see the end of the stream and free the
 * connection in its own time, which freeing it here could not. */
static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dir_conn *c = arg;
    evutil_socket_t s = bufferevent_getfd(c->bev);

    (void)fd;
    (void)what;
    log_debug(c->w->env->log, "worker %u: a client took over %us to send its request: closed",
              c->w->index, c->w->cfg->request_timeout_s);
    if (s >= 0)
        shutdown(s, SHUT_RDWR);
}

static void conn_arm(struct dir_conn *c)
{
    struct timeval tv = {.tv_sec = (time_t)c->w->cfg->request_timeout_s};

    c->busy = true;
    evtimer_add(c->deadline, &tv);
}

static void conn_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct dir_conn *c = arg;

    (void)buf;
    if (info->n_added > 0 && !c->busy)
        conn_arm(c);
}

/* OpenSSL calls this for every SSL freed, with the slot's value (NULL when never set). */
static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    struct dir_conn *c = ptr;

    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (c == NULL)
        return;
    c->w->n_conns--;
    accept_update(c->w);
    event_free(c->deadline);
    sotto_free(c->w->env, c);
}

static struct dir_conn *conn_alloc(struct dir_worker *w)
{
    struct dir_conn *c = sotto_zalloc(w->env, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->w = w;
    c->deadline = evtimer_new(w->base, conn_deadline_cb, c);
    if (c->deadline == NULL) {
        sotto_free(w->env, c);
        return NULL;
    }
    return c;
}

/* evhttp's bufferevent factory, called once per accepted connection before the fd is set.
 * Returning NULL makes evhttp speak plain HTTP on it, which dir_conn_is_tls() refuses. */
static struct bufferevent *conn_new(struct event_base *base, void *arg)
{
    struct dir_worker *w = arg;
    struct dir_conn *c = conn_alloc(w);
    SSL *ssl = c != NULL ? SSL_new(w->ssl_ctx) : NULL;
    struct bufferevent *bev = NULL;

    if (ssl != NULL) /* frees the SSL when it fails */
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL || SSL_set_ex_data(ssl, w->ssl_index, c) != 1) {
        log_warn(w->env->log, "worker %u: no memory for a new connection", w->index);
        if (bev != NULL)
            bufferevent_free(bev);
        if (c != NULL) {
            event_free(c->deadline);
            sotto_free(w->env, c);
        }
        return NULL;
    }
    c->bev = bev;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, c);
    conn_arm(c); /* the handshake and the first request share the first deadline */
    w->n_conns++;
    accept_update(w);
    return bev;
}

static struct dir_conn *conn_of(struct dir_worker *w, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

    return ssl != NULL ? SSL_get_ex_data(ssl, w->ssl_index) : NULL;
}

void dir_conn_request_done(struct dir_worker *w, struct evhttp_request *req)
{
    struct dir_conn *c = conn_of(w, req);

    if (c == NULL)
        return;
    c->busy = false;
    evtimer_del(c->deadline);
}

bool dir_conn_is_tls(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;

    return bev != NULL && bufferevent_openssl_get_ssl(bev) != NULL;
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dir_worker *w = arg;

    (void)fd;
    (void)what;
    if (!w->accept_paused)
        evconnlistener_enable(w->listener);
}

/* accept() failed for a reason other than a vanished client: out of file descriptors, most
 * likely. Waiting a second beats spinning on a socket that stays readable. */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    struct dir_worker *w = arg;
    struct timeval second = {.tv_sec = 1};

    log_warn(w->env->log, "worker %u: accept: %s; pausing for a second", w->index, strerror(errno));
    evconnlistener_disable(lev);
    evtimer_add(w->accept_retry, &second);
}

static enum sotto_err listen_on(struct dir_worker *w, const struct sockaddr *sa, socklen_t len)
{
    const int one = 1;
    const unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
                           LEV_OPT_REUSEABLE_PORT;
    struct evconnlistener *l;

    l = evconnlistener_new_bind(w->base, NULL, NULL, flags, DIR_BACKLOG, sa, (int)len);
    if (l == NULL) {
        log_error(w->env->log, "worker %u: cannot listen on %s: %s", w->index, w->cfg->listen,
                  strerror(errno));
        return SOTTO_EIO;
    }
    /* Linux copies it to every accepted socket: the answer's TLS records go out at once */
    if (setsockopt(evconnlistener_get_fd(l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        log_warn(w->env->log, "worker %u: TCP_NODELAY: %s", w->index, strerror(errno));
    if (evhttp_bind_listener(w->http, l) == NULL) {
        evconnlistener_free(l);
        return SOTTO_ENOMEM;
    }
    w->listener = l;
    evconnlistener_set_error_cb(l, accept_error_cb);
    return SOTTO_OK;
}

static enum sotto_err http_new(struct dir_worker *w)
{
    const ev_uint16_t methods = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH;

    w->http = evhttp_new(w->base);
    if (w->http == NULL)
        return SOTTO_ENOMEM;
    evhttp_set_bevcb(w->http, conn_new, w);
    evhttp_set_gencb(w->http, dir_routes_handle, w);
    evhttp_set_max_headers_size(w->http, DIR_HEADERS_MAX);
    evhttp_set_max_body_size(w->http, DIR_BODY_MAX);
    evhttp_set_timeout(w->http, (int)w->cfg->idle_timeout_s);
    /* every method reaches us, so that a wrong one gets our 405 rather than evhttp's 501 */
    evhttp_set_allowed_methods(w->http, methods);
    /* read an oversized body to its end before answering 413, so the client sees the 413 */
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(w->http, "application/json");
    return SOTTO_OK;
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    struct dir_worker *w = arg;

    (void)what;
    log_debug(w->env->log, "worker %u: signal %d: stopping", w->index, (int)sig);
    event_base_loopexit(w->base, NULL);
}

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

static void block_stop_signals(void)
{
    sigset_t set;

    stop_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

static enum sotto_err events_new(struct dir_worker *w)
{
    sigset_t set;

    w->sig_term = evsignal_new(w->base, SIGTERM, stop_cb, w);
    w->sig_int = evsignal_new(w->base, SIGINT, stop_cb, w);
    w->accept_retry = evtimer_new(w->base, accept_retry_cb, w);
    if (w->sig_term == NULL || w->sig_int == NULL || w->accept_retry == NULL ||
        event_add(w->sig_term, NULL) != 0 || event_add(w->sig_int, NULL) != 0)
        return SOTTO_ENOMEM;
    /* the parent blocked them before forking; libevent's handlers are in place now */
    stop_signals(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    return SOTTO_OK;
}

static enum sotto_err rates_new(struct dir_worker *w)
{
    enum sotto_err rc;
    unsigned per_min = w->cfg->rate_per_min;

    rc = dir_rate_create(&w->rate_register, w->env, per_min, DIR_RATE_TABLE_SIZE);
    if (rc == SOTTO_OK)
        rc = dir_rate_create(&w->rate_bundle, w->env, per_min, DIR_RATE_TABLE_SIZE);
    if (rc == SOTTO_OK)
        rc = dir_rate_create(&w->rate_target, w->env, per_min, DIR_RATE_TABLE_SIZE);
    return rc;
}

static enum sotto_err worker_open(struct dir_worker *w, const struct sockaddr *sa, socklen_t len)
{
    enum sotto_err rc;

    w->ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
    w->base = event_base_new();
    if (w->ssl_index < 0 || w->base == NULL)
        return SOTTO_ENOMEM;
    rc = events_new(w);
    if (rc == SOTTO_OK)
        rc = rates_new(w);
    if (rc == SOTTO_OK)
        rc = dir_backend_open(&w->db, w->env, w->cfg->db);
    if (rc == SOTTO_OK)
        rc = http_new(w);
    if (rc == SOTTO_OK)
        rc = listen_on(w, sa, len);
    return rc;
}

static void worker_close(struct dir_worker *w)
{
    if (w->http != NULL)
        evhttp_free(w->http); /* closes the listener and every connection */
    w->http = NULL;
    w->listener = NULL;
    /* run the bufferevents' finalizers, which free the SSLs and our dir_conns */
    if (w->base != NULL)
        event_base_loop(w->base, EVLOOP_NONBLOCK);
    if (w->sig_term != NULL)
        event_free(w->sig_term);
    if (w->sig_int != NULL)
        event_free(w->sig_int);
    if (w->accept_retry != NULL)
        event_free(w->accept_retry);
    dir_rate_free(w->rate_register);
    dir_rate_free(w->rate_bundle);
    dir_rate_free(w->rate_target);
    dir_backend_close(w->db);
    if (w->base != NULL)
        event_base_free(w->base);
    memset(w, 0, sizeof(*w));
}

int dir_worker_main(const struct dir_config *cfg, const struct sotto_env *env,
                    struct ssl_ctx_st *ssl_ctx, const struct sockaddr *sa, socklen_t sa_len,
                    unsigned index, int ready_fd)
{
    struct dir_worker w = {.cfg = cfg, .env = env, .index = index, .ssl_ctx = ssl_ctx};
    enum sotto_err rc;

    signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is an error return, not a death */
    dir_metrics_init(&w.metrics);
    rc = worker_open(&w, sa, sa_len);
    if (rc != SOTTO_OK) {
        log_error(env->log, "worker %u: cannot start: %s", index, sotto_strerror(rc));
        worker_close(&w);
        if (ready_fd >= 0)
            close(ready_fd);
        return 1;
    }
    if (ready_fd >= 0) {
        if (write(ready_fd, "r", 1) != 1)
            log_warn(env->log, "worker %u: cannot tell the parent it is ready", index);
        close(ready_fd);
    }
    log_debug(env->log, "worker %u (pid %ld) serving", index, (long)getpid());
    event_base_dispatch(w.base);
    /* a second SIGTERM (from the parent, after one to the process group) must not cut the
     * cleanup short once libevent has put the default handlers back */
    block_stop_signals();
    worker_close(&w);
    log_debug(env->log, "worker %u stopped", index);
    return 0;
}
