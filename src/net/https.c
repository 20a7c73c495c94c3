/* src/net/https.c: one HTTPS exchange with the directory, on libevent's evhttp over a
 * bufferevent_openssl, TLS 1.3 only. The certificate is judged by its pin alone (the SHA-256 of
 * its DER SubjectPublicKeyInfo), inside the handshake, so that nothing is sent to a server whose
 * certificate changed. Blocking: the event loop runs until the answer or the deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "net/net_int.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define HEADERS_MAX_BYTES (16 * 1024) /* the answer's status line and headers */
#define RETRY_AFTER_MAX   86400

/* The state of one exchange; the SSL object's app data while the handshake runs. */
struct exchange {
    struct net_dir *d;
    struct net_response *out;
    bool done, timed_out, pin_checked, pin_bad, too_big, nomem;
    bool failed; /* libevent reported an error */
    enum evhttp_request_error error;
    int sys_errno;
    char pin_seen[NET_PIN_HEX_LEN + 1];
};

/* ---- the TLS context and the pin ---- */

static bool cert_pin(X509 *cert, char out[static NET_PIN_HEX_LEN + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    unsigned char *der = NULL;
    X509_PUBKEY *pub = X509_get_X509_PUBKEY(cert);
    int len;

    if (pub == NULL || (len = i2d_X509_PUBKEY(pub, &der)) <= 0)
        return false;
    crypto_hash_sha256(h, der, (unsigned long long)len);
    OPENSSL_free(der);
    sodium_bin2hex(out, NET_PIN_HEX_LEN + 1, h, sizeof(h));
    return true;
}

/* Replaces OpenSSL's chain verification: the directory's certificate is usually self-signed,
 * and the pin is what we trust. Returning 0 with SSL_VERIFY_PEER aborts the handshake. */
static int verify_pin(X509_STORE_CTX *store, void *arg)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct exchange *ex = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(store);

    (void)arg;
    if (ex == NULL || leaf == NULL || !cert_pin(leaf, ex->pin_seen)) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
        return 0;
    }
    ex->pin_checked = true;
    if (ex->d->pin[0] != '\0' && strcmp(ex->d->pin, ex->pin_seen) != 0) {
        ex->pin_bad = true;
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    return 1;
}

static SSL_CTX *tls_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, verify_pin, NULL);
    /* no resumption: a resumed session would skip the certificate, and with it the pin */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

enum sotto_err net_https_init(struct net_dir *d)
{
    d->base = event_base_new();
    d->tls = tls_new();
    ERR_clear_error();
    return d->base != NULL && d->tls != NULL ? SOTTO_OK : SOTTO_ENOMEM;
}

void net_https_clear(struct net_dir *d)
{
    if (d->tls != NULL)
        SSL_CTX_free(d->tls);
    if (d->base != NULL)
        event_base_free(d->base);
    d->tls = NULL;
    d->base = NULL;
}

/* ---- callbacks ---- */

static unsigned retry_after(struct evhttp_request *req)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After");
    unsigned long s = 0;

    if (v == NULL || strspn(v, "0123456789") != strlen(v) || strlen(v) > 6)
        return 0;
    for (; *v != '\0'; v++)
        s = s * 10 + (unsigned long)(*v - '0');
    return s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (unsigned)s;
}

static void take_body(struct exchange *ex, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);

    /* libevent already refused a larger body before buffering it; this is a second fence */
    if (len > NET_BODY_MAX) {
        ex->too_big = true;
        return;
    }
    if (len == 0)
        return;
    ex->out->body = sotto_alloc(ex->d->env, len);
    if (ex->out->body == NULL) {
        ex->nomem = true;
        return;
    }
    if (evbuffer_remove(in, ex->out->body, len) != (int)len) {
        sotto_free(ex->d->env, ex->out->body);
        ex->out->body = NULL;
        ex->nomem = true;
        return;
    }
    ex->out->body_len = len;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct exchange *ex = arg;

    ex->done = true;
    if (req != NULL && evhttp_request_get_response_code(req) > 0) {
        ex->out->status = evhttp_request_get_response_code(req);
        ex->out->retry_after_s = retry_after(req);
        take_body(ex, req);
    }
    event_base_loopbreak(ex->d->base);
}

static void on_error(enum evhttp_request_error error, void *arg)
{
    struct exchange *ex = arg;

    /* libevent restores the socket's errno for this callback */
    ex->sys_errno = errno;
    ex->failed = true;
    ex->error = error;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct exchange *ex = arg;

    (void)fd;
    (void)what;
    ex->timed_out = true;
    event_base_loopbreak(ex->d->base);
}

/* ---- the exchange ---- */

static bool ip_literal(const char *host)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static struct timeval tv_of(uint32_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    return tv;
}

static enum sotto_err connection_new(struct net_dir *d, struct exchange *ex,
                                     struct evhttp_connection **out)
{
    struct timeval tv = tv_of(d->timeout_ms);
    struct bufferevent *bev;
    SSL *ssl = SSL_new(d->tls);

    *out = NULL;
    if (ssl == NULL)
        return SOTTO_ENOMEM;
    SSL_set_app_data(ssl, ex);
    /* SNI names a host; an address literal is not sent (RFC 6066) */
    if (!ip_literal(d->url.host) && SSL_set_tlsext_host_name(ssl, d->url.host) != 1) {
        SSL_free(ssl);
        return SOTTO_ENOMEM;
    }
    bev = bufferevent_openssl_socket_new(d->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL) {
        SSL_free(ssl);
        return SOTTO_ENOMEM;
    }
    /* many servers close without close_notify; a cut body still fails by its declared length */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    *out = evhttp_connection_base_bufferevent_new(d->base, NULL, bev, d->url.host, d->url.port);
    if (*out == NULL) {
        bufferevent_free(bev); /* frees the SSL object too */
        return SOTTO_ENOMEM;
    }
    evhttp_connection_set_max_body_size(*out, NET_BODY_MAX);
    evhttp_connection_set_max_headers_size(*out, HEADERS_MAX_BYTES);
    evhttp_connection_set_timeout_tv(*out, &tv);
    return SOTTO_OK;
}

static bool method_of(const char *m, enum evhttp_cmd_type *out)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } methods[] = {{"GET", EVHTTP_REQ_GET},
                   {"POST", EVHTTP_REQ_POST},
                   {"PUT", EVHTTP_REQ_PUT},
                   {"DELETE", EVHTTP_REQ_DELETE}};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(m, methods[i].name) == 0) {
            *out = methods[i].type;
            return true;
        }
    }
    return false;
}

static bool headers_add(struct net_dir *d, struct evhttp_request *req, const struct net_request *rq)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (evhttp_add_header(h, "Host", d->url.host_header) != 0 ||
        evhttp_add_header(h, "Accept", "application/json") != 0 ||
        evhttp_add_header(h, "Connection", "close") != 0 ||
        (rq->body_len > 0 && evhttp_add_header(h, "Content-Type", "application/json") != 0))
        return false;
    for (size_t i = 0; i < rq->n_headers; i++)
        if (evhttp_add_header(h, rq->headers[i].name, rq->headers[i].value) != 0)
            return false;
    return true;
}

/* Hands the request to the connection, which then owns it (and frees it once answered). */
static enum sotto_err request_send(struct net_dir *d, struct exchange *ex,
                                   struct evhttp_connection *conn, const struct net_request *rq)
{
    enum evhttp_cmd_type type;
    struct evhttp_request *req;

    if (!method_of(rq->method, &type) || rq->n_headers > NET_HEADERS_MAX)
        return SOTTO_EINVAL;
    req = evhttp_request_new(on_done, ex);
    if (req == NULL)
        return SOTTO_ENOMEM;
    evhttp_request_set_error_cb(req, on_error);
    if (!headers_add(d, req, rq) ||
        (rq->body_len > 0 &&
         evbuffer_add(evhttp_request_get_output_buffer(req), rq->body, rq->body_len) != 0)) {
        evhttp_request_free(req);
        return SOTTO_ENOMEM;
    }
    if (evhttp_make_request(conn, req, type, rq->target) != 0) {
        snprintf(d->problem.detail, sizeof(d->problem.detail), "could not start a connection");
        return SOTTO_ENET;
    }
    return SOTTO_OK;
}

static enum sotto_err loop_run(struct net_dir *d, struct exchange *ex)
{
    struct timeval tv = tv_of(d->timeout_ms);
    struct event *deadline = evtimer_new(d->base, on_deadline, ex);

    if (deadline == NULL)
        return SOTTO_ENOMEM;
    if (evtimer_add(deadline, &tv) != 0) {
        event_free(deadline);
        return SOTTO_ENOMEM;
    }
    while (!ex->done && !ex->timed_out)
        if (event_base_dispatch(d->base) != 0)
            break; /* nothing left to wait for, or an error: the checks below tell */
    event_free(deadline);
    return SOTTO_OK;
}

/* What a failed exchange was, for the user. */
static void failure_detail(struct net_dir *d, const struct exchange *ex,
                           struct evhttp_connection *conn)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    unsigned long tls = bev != NULL ? bufferevent_get_openssl_error(bev) : 0;
    char *out = d->problem.detail;
    size_t cap = sizeof(d->problem.detail);

    if (ex->timed_out || (ex->failed && ex->error == EVREQ_HTTP_TIMEOUT))
        snprintf(out, cap, "no answer within %u ms", (unsigned)d->timeout_ms);
    else if (tls != 0)
        snprintf(out, cap, "the TLS handshake failed: %s",
                 ERR_reason_error_string(tls) != NULL ? ERR_reason_error_string(tls) : "error");
    else if (ex->sys_errno != 0)
        snprintf(out, cap, "%s", strerror(ex->sys_errno));
    else
        snprintf(out, cap, "the connection failed or was closed before an answer");
}

static enum sotto_err exchange_result(struct net_dir *d, struct exchange *ex,
                                      struct evhttp_connection *conn)
{
    /* the handshake accepted the certificate, whatever happened next */
    if (ex->pin_checked && !ex->pin_bad) {
        d->pin_accepted = true;
        if (d->pin[0] == '\0')
            memcpy(d->pin, ex->pin_seen, sizeof(d->pin));
    }
    if (ex->pin_bad) {
        memcpy(d->problem.pin_seen, ex->pin_seen, sizeof(ex->pin_seen));
        snprintf(d->problem.detail, sizeof(d->problem.detail),
                 "the certificate is not the pinned one");
        return SOTTO_EPIN;
    }
    if (ex->too_big || (ex->failed && ex->error == EVREQ_HTTP_DATA_TOO_LONG)) {
        snprintf(d->problem.detail, sizeof(d->problem.detail), "the answer is larger than %d KiB",
                 NET_BODY_MAX / 1024);
        return SOTTO_ETOOBIG;
    }
    if (ex->nomem)
        return SOTTO_ENOMEM;
    /* libevent says this of a malformed status line or headers, and of headers over the cap */
    if (ex->failed && ex->error == EVREQ_HTTP_INVALID_HEADER) {
        snprintf(d->problem.detail, sizeof(d->problem.detail),
                 "the answer is not HTTP, or its headers are over %d KiB",
                 HEADERS_MAX_BYTES / 1024);
        return SOTTO_EPROTO;
    }
    if (!ex->done || ex->out->status == 0) {
        failure_detail(d, ex, conn);
        return SOTTO_ENET;
    }
    /* an answer came, so a handshake happened: the pin must have been looked at */
    if (!ex->pin_checked)
        return SOTTO_EPIN;
    return SOTTO_OK;
}

enum sotto_err net_https_exchange(struct net_dir *d, const struct net_request *rq,
                                  struct net_response *out)
{
    struct exchange ex = {.d = d, .out = out};
    struct evhttp_connection *conn = NULL;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    rc = connection_new(d, &ex, &conn);
    if (rc == SOTTO_OK)
        rc = request_send(d, &ex, conn, rq);
    if (rc == SOTTO_OK)
        rc = loop_run(d, &ex);
    if (rc == SOTTO_OK)
        rc = exchange_result(d, &ex, conn);
    if (conn != NULL)
        evhttp_connection_free(conn);
    /* let libevent finish what it deferred (the bufferevent's own release) */
    event_base_loop(d->base, EVLOOP_NONBLOCK);
    ERR_clear_error();
    if (rc != SOTTO_OK)
        net_response_clear(d->env, out);
    return rc;
}

void net_response_clear(const struct sotto_env *env, struct net_response *r)
{
    sotto_free(env, r->body);
    memset(r, 0, sizeof(*r));
}
