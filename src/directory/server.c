/* src/directory/server.c: a worker's event loop. evhttp parses HTTP; each connection gets a
 * TLS bufferevent from conn_new(), and a struct dir_conn hung on its SSL object, so that the
 * connection cap and the slow-client deadline follow the connection's life exactly: OpenSSL
 * frees the dir_conn when libevent frees the SSL.
 *
 * With --proxy-protocol, TLS waits until the PROXY v2 header has been read off the socket.
 * The TLS bufferevent is the same as without the flag; evhttp sets its fd and starts it
 * reading after conn_new() returns, so conn_new() makes a one-off event active, which the
 * event loop runs before it next polls, and so before OpenSSL can read a byte. That event
 * stops the TLS bufferevent reading, and an event of ours reads the header with recv(),
 * asking each time for no more than the header can still take (dir_proxy_wanted()), so no
 * byte of the ClientHello is taken; once the header is whole (or refused) TLS reads again.
 * Nothing blocks, and the header's bytes come before the handshake, so the connection's first
 * deadline (armed in conn_new()) covers them: a client that sends half a header is closed
 * like any slow one. Why not a filter (libevent 2.1.12): OpenSSL over a filtered or socket
 * bufferevent of ours would strip the header as neatly, but then OpenSSL's output waits in
 * the lower bufferevent while evhttp, seeing its own output drained, closes a "Connection:
 * close" connection or one answered 413, and shuts the socket down before the answer leaves;
 * and bufferevent_getfd() answers -1 through a bufferevent_filter, which the deadline and
 * routes.c's local_address() rely on. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
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
#include "directory/proxy.h"
#include "directory/ratelimit.h"
#include "directory/server.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define DIR_BACKLOG 4096

/* The PROXY header's bytes so far. */
struct proxy_wait {
    size_t len;
    uint8_t buf[DIR_PROXY_HEADER_MAX];
};

struct dir_conn {
    struct dir_worker *w;    /* borrowed */
    struct bufferevent *bev; /* borrowed: evhttp's; freeing it frees the SSL, and so us */
    struct event *deadline;  /* owned */
    bool busy;               /* a request is arriving: the deadline runs */
    /* with --proxy-protocol only (else NULL): */
    struct event *proxy_kick;       /* owned: active once, as soon as evhttp has set the fd */
    struct event *proxy_read;       /* owned: the socket, read while TLS waits for the header */
    struct proxy_wait *wait;        /* owned: until the header is whole, refused or cut off */
    struct dir_proxy_header client; /* once whole: what the header said */
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

/* Logs a connection closed for want of a valid PROXY header: each at debug level, and at most
 * one warning a minute saying how many, so that a balancer sending none (or anyone knocking
 * on the port) cannot flood the log. */
static void proxy_log_refused(struct dir_worker *w, evutil_socket_t fd, enum sotto_err rc)
{
    uint64_t now_us = dir_monotonic_us();
    struct sockaddr_storage ss;
    socklen_t ss_len = sizeof(ss);
    char host[NI_MAXHOST];

    w->proxy_refused++;
    if (w->env->log != NULL && w->env->log->level >= SOTTO_LOG_DEBUG) {
        if (getpeername(fd, (struct sockaddr *)&ss, &ss_len) != 0 ||
            getnameinfo((struct sockaddr *)&ss, ss_len, host, sizeof(host), NULL, 0,
                        NI_NUMERICHOST) != 0)
            snprintf(host, sizeof(host), "a client");
        log_debug(w->env->log, "worker %u: %s sent no valid PROXY v2 header (%s): closed", w->index,
                  host, sotto_strerror(rc));
    }
    if (w->proxy_warned_us != 0 && now_us - w->proxy_warned_us < DIR_PROXY_WARN_US)
        return;
    log_warn(w->env->log,
             "worker %u: closed %llu connection(s) without a valid PROXY v2 header "
             "(--proxy-protocol wants one ahead of TLS on every connection)",
             w->index, (unsigned long long)w->proxy_refused);
    w->proxy_refused = 0;
    w->proxy_warned_us = now_us;
}

/* The header is whole, refused or cut off: TLS takes over the socket. After a refusal (or
 * the deadline's shutdown) it reads the end of the stream, and evhttp frees the connection
 * in its own time. */
static void proxy_done(struct dir_conn *c)
{
    event_del(c->proxy_read);
    sotto_free(c->w->env, c->wait);
    c->wait = NULL;
    if (bufferevent_enable(c->bev, EV_READ) != 0) {
        log_warn(c->w->env->log, "worker %u: cannot start TLS on a connection", c->w->index);
        shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
    }
}

static void proxy_refuse(struct dir_conn *c, evutil_socket_t fd, enum sotto_err rc)
{
    proxy_log_refused(c->w, fd, rc);
    shutdown(fd, SHUT_RDWR);
    proxy_done(c);
}

/* The socket is readable while TLS waits: takes what the header still needs, never more. */
static void proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dir_conn *c = arg;
    struct proxy_wait *pw = c->wait;
    enum sotto_err rc = SOTTO_ETRUNC;
    size_t want;
    ssize_t n;

    (void)what;
    while (rc == SOTTO_ETRUNC) {
        want = dir_proxy_wanted(pw->buf, pw->len) - pw->len;
        n = recv(fd, pw->buf + pw->len, want, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) { /* gone (a TCP health check, or the deadline's shutdown) */
            log_debug(c->w->env->log, "worker %u: a connection ended %s its PROXY header",
                      c->w->index, pw->len == 0 ? "before" : "inside");
            proxy_done(c);
            return;
        }
        pw->len += (size_t)n;
        rc = dir_proxy_parse(pw->buf, pw->len, &c->client);
        if (rc == SOTTO_ETRUNC && (size_t)n < want)
            return; /* the rest is still on its way */
    }
    if (rc == SOTTO_OK)
        proxy_done(c);
    else
        proxy_refuse(c, fd, rc);
}

/* Active once, right after evhttp has set the fd and started TLS reading, and before the loop
 * polls again: stops TLS reading until the header is whole. */
static void proxy_kick_cb(evutil_socket_t unused, short what, void *arg)
{
    struct dir_conn *c = arg;
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    (void)unused;
    (void)what;
    if (fd < 0) /* evhttp could not set it up, and has freed it */
        return;
    if (bufferevent_disable(c->bev, EV_READ) != 0 ||
        event_assign(c->proxy_read, c->w->base, fd, EV_READ | EV_PERSIST, proxy_read_cb, c) != 0 ||
        event_add(c->proxy_read, NULL) != 0) {
        log_warn(c->w->env->log, "worker %u: cannot read a PROXY header", c->w->index);
        shutdown(fd, SHUT_RDWR);
        proxy_done(c);
    }
}

/* With --proxy-protocol: what conn_new() needs for the header. False when out of memory. */
static bool proxy_new(struct dir_conn *c)
{
    struct event_base *base = c->w->base;

    c->wait = sotto_zalloc(c->w->env, sizeof(*c->wait));
    c->proxy_kick = event_new(base, -1, 0, proxy_kick_cb, c);
    c->proxy_read = event_new(base, -1, EV_READ | EV_PERSIST, proxy_read_cb, c);
    return c->wait != NULL && c->proxy_kick != NULL && c->proxy_read != NULL;
}

/* Frees a dir_conn and what it owns (NULL is a no-op). */
static void conn_discard(struct dir_conn *c)
{
    if (c == NULL)
        return;
    if (c->proxy_kick != NULL)
        event_free(c->proxy_kick);
    if (c->proxy_read != NULL)
        event_free(c->proxy_read);
    if (c->deadline != NULL)
        event_free(c->deadline);
    sotto_free(c->w->env, c->wait);
    sotto_free(c->w->env, c);
}

/* OpenSSL calls this for every SSL freed, with the slot's value (NULL when never set). */
static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    struct dir_conn *c = ptr;
    struct dir_worker *w = c != NULL ? c->w : NULL;

    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (c == NULL)
        return;
    conn_discard(c);
    w->n_conns--;
    accept_update(w);
}

static struct dir_conn *conn_alloc(struct dir_worker *w)
{
    struct dir_conn *c = sotto_zalloc(w->env, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->w = w;
    c->deadline = evtimer_new(w->base, conn_deadline_cb, c);
    if (c->deadline == NULL || (w->cfg->proxy_protocol && !proxy_new(c))) {
        conn_discard(c);
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
        conn_discard(c);
        return NULL;
    }
    c->bev = bev;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, c);
    if (c->proxy_kick != NULL)
        event_active(c->proxy_kick, EV_TIMEOUT, 1);
    conn_arm(c); /* the PROXY header, the handshake and the first request share it */
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

bool dir_conn_peer(struct dir_worker *w, struct evhttp_request *req, char *addr, size_t addr_len,
                   uint16_t *port)
{
    struct dir_conn *c = conn_of(w, req);
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t peer_port = 0;
    int af;

    *port = 0;
    if (addr_len == 0)
        return false;
    addr[0] = '\0';
    /* a request arrives only after TLS, and so after the whole header */
    if (c != NULL && c->client.family != DIR_PROXY_UNSPEC) {
        af = c->client.family == DIR_PROXY_INET ? AF_INET : AF_INET6;
        if (inet_ntop(af, c->client.addr, addr, (socklen_t)addr_len) == NULL)
            return false;
        *port = c->client.port;
        return true;
    }
    if (evcon != NULL)
        evhttp_connection_get_peer(evcon, &peer, &peer_port);
    if (peer == NULL)
        return false;
    snprintf(addr, addr_len, "%s", peer);
    *port = peer_port;
    return true;
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
