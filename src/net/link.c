/* src/net/link.c: peer links on libwebsockets 4.1 (see link.h). One context, one vhost for
 * peer links (TLS 1.3 only, ALPN http/1.1 so that the upgrade never goes through lws's
 * ws-over-h2 code), one protocol that is also protocols[0], because lws gives the server
 * certificate check of outgoing links only to protocols[0] (shared/notes: pitfall 2).
 *
 * A struct net_link is ours, allocated when a link starts (at accept, or at dial) and hung on
 * the wsi as its opaque user data; it is freed when lws destroys the wsi. */
#include <arpa/inet.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/link.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define HANDSHAKE_S    10
#define CLOSE_WHY_MAX  120
#define WRITE_BURST    256 /* messages one WRITEABLE callback may write */

struct out_msg {
    struct out_msg *next;
    size_t len;
    uint8_t buf[]; /* LWS_PRE bytes of headroom, then the frame */
};

struct net_link {
    struct net_loop *loop;
    struct lws *wsi; /* NULL once lws destroyed it, or before a dial has one */
    void *cookie;    /* the dialer's */
    void *user;
    bool api; /* a local API connection (text JSON messages), not a peer link */
    bool dialed, up, down_told, closing;
    uint8_t exporter[NET_EXPORTER_LEN];
    char peer[NET_ADDR_TEXT_MAX];
    /* the message arriving, gathered from its fragments */
    uint8_t *rx;
    size_t rx_len, rx_cap;
    size_t rx_max; /* the cap of one incoming message on this link */
    /* frames to send, oldest first */
    struct out_msg *head, *tail;
    size_t queued;
    unsigned close_code;
    char close_why[CLOSE_WHY_MAX + 1];
    unsigned peer_close_code;
};

struct net_loop {
    const struct sotto_env *env;
    struct net_link_params p;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    struct lws_protocols protocols[2];
    /* the local API: plain HTTP and WebSocket on 127.0.0.1 */
    struct lws_vhost *api_vhost;
    struct lws_protocols api_protocols[3];
    struct net_api_params api;
    unsigned api_port;
    bool tls; /* made with a certificate: may accept and dial peer links */
    volatile sig_atomic_t stop;
};

_Static_assert(sizeof(lws_sorted_usec_list_t) <= sizeof(((struct net_timer *)0)->opaque),
               "net_timer.opaque holds an lws timer");

static const struct sotto_env *log_env; /* lws logs through one global hook */

/* ---- links ---- */

static struct net_link *link_new(struct net_loop *loop, bool dialed, void *cookie)
{
    struct net_link *l = sotto_zalloc(loop->env, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->loop = loop;
    l->dialed = dialed;
    l->cookie = cookie;
    l->rx_max = loop->p.msg_max;
    return l;
}

static void link_free(struct net_link *l)
{
    struct out_msg *m = l->head, *next;

    for (; m != NULL; m = next) {
        next = m->next;
        sotto_free(l->loop->env, m);
    }
    sotto_free(l->loop->env, l->rx);
    sotto_free(l->loop->env, l);
}

static void tell_down(struct net_link *l, const char *why)
{
    struct net_loop *loop = l->loop;
    unsigned code = l->peer_close_code != 0 ? l->peer_close_code : l->close_code;

    if (l->down_told)
        return;
    l->down_told = true;
    if (l->api) {
        if (l->up && loop->api.ev.down != NULL)
            loop->api.ev.down(loop->api.arg, l, code, why);
        else if (!l->up && l->dialed && loop->api.ev.dial_failed != NULL)
            loop->api.ev.dial_failed(loop->api.arg, l->cookie, why);
    } else if (l->up) {
        if (loop->p.ev.down != NULL)
            loop->p.ev.down(loop->p.arg, l, code, why);
    } else if (l->dialed && loop->p.ev.dial_failed != NULL) {
        loop->p.ev.dial_failed(loop->p.arg, l->cookie, why);
    }
}

static void peer_text(struct net_link *l)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    lws_sockfd_type fd = lws_get_socket_fd(l->wsi);
    unsigned port = 0;

    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
            port = ntohs(a->sin_port);
            snprintf(l->peer, sizeof(l->peer), "%s:%u", ip, port);
            return;
        }
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(l->peer, sizeof(l->peer), "[%s]:%u", ip, port);
}

/* TLS is up: only TLS 1.3 (RFC 9266 needs it, and the vhost allows nothing else), and the
 * exporter value both ends will sign. */
static bool link_established(struct net_link *l)
{
    SSL *ssl = lws_get_ssl(l->wsi);

    peer_text(l);
    if (ssl == NULL || SSL_version(ssl) != TLS1_3_VERSION) {
        log_warn(l->loop->env->log, "link %s: not TLS 1.3: closed", l->peer);
        return false;
    }
    if (SSL_export_keying_material(ssl, l->exporter, sizeof(l->exporter), EXPORTER_LABEL,
                                   strlen(EXPORTER_LABEL), NULL, 0, 0) != 1) {
        log_warn(l->loop->env->log, "link %s: no TLS exporter: closed", l->peer);
        return false;
    }
    l->up = true;
    if (l->loop->p.ev.up != NULL)
        l->loop->p.ev.up(l->loop->p.arg, l, l->dialed ? l->cookie : NULL);
    return true;
}

/* Gathers a message from its fragments; the cap is checked against what the fragment's
 * header announces before anything of it is kept. -1 closes the link. */
static int link_receive(struct net_link *l, const void *in, size_t len)
{
    struct net_loop *loop = l->loop;
    size_t remaining = lws_remaining_packet_payload(l->wsi);
    size_t want = l->rx_len + len + remaining;
    uint8_t *grown;

    /* peer links carry binary frames, the local API text (JSON) */
    if (l->rx_len == 0 && (lws_frame_is_binary(l->wsi) != 0) == l->api) {
        lws_close_reason(l->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                         (unsigned char *)(l->api ? "text frames only" : "binary frames only"),
                         l->api ? 16 : 18);
        l->close_code = LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE;
        return -1;
    }
    if (want > l->rx_max || want < len) {
        lws_close_reason(l->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         (unsigned char *)"message over the cap", 20);
        l->close_code = NET_CLOSE_TOO_BIG;
        log_info(loop->env->log, "link %s: a message of over %zu bytes: closed (1009)", l->peer,
                 l->rx_max);
        return -1;
    }
    if (want > l->rx_cap) {
        grown = sotto_alloc(loop->env, want);
        if (grown == NULL)
            return -1;
        if (l->rx_len > 0)
            memcpy(grown, l->rx, l->rx_len);
        sotto_free(loop->env, l->rx);
        l->rx = grown;
        l->rx_cap = want;
    }
    memcpy(l->rx + l->rx_len, in, len);
    l->rx_len += len;
    if (remaining > 0 || !lws_is_final_fragment(l->wsi))
        return 0;
    if (l->closing)
        ;
    else if (l->api && loop->api.ev.frame != NULL)
        loop->api.ev.frame(loop->api.arg, l, l->rx, l->rx_len);
    else if (!l->api && loop->p.ev.frame != NULL)
        loop->p.ev.frame(loop->p.arg, l, l->rx, l->rx_len);
    l->rx_len = 0;
    /* a link that once took a big message does not keep its buffer */
    if (l->rx_cap > 4096) {
        sotto_free(loop->env, l->rx);
        l->rx = NULL;
        l->rx_cap = 0;
    }
    return l->wsi != NULL ? 0 : -1;
}

/* Writes what is queued, oldest first: one message, then more while the socket takes them
 * without blocking and nothing is left half sent (lws_send_pipe_choked(): lws's condition for
 * a second write in one WRITEABLE callback), up to WRITE_BURST. Messages that leave together
 * arrive together, and the peer handles them in one turn (one commit). -1 closes after a close
 * frame. */
static int link_writeable(struct net_link *l)
{
    struct out_msg *m;

    if (l->head == NULL) {
        if (l->closing) {
            lws_close_reason(l->wsi, (enum lws_close_status)l->close_code,
                             (unsigned char *)l->close_why, strlen(l->close_why));
            return -1;
        }
        return 0;
    }
    for (int i = 0; (m = l->head) != NULL && i < WRITE_BURST; i++) {
        if (i > 0 && lws_send_pipe_choked(l->wsi))
            break;
        if (lws_write(l->wsi, m->buf + LWS_PRE, m->len,
                      l->api ? LWS_WRITE_TEXT : LWS_WRITE_BINARY) < (int)m->len)
            return -1;
        l->head = m->next;
        if (l->head == NULL)
            l->tail = NULL;
        l->queued -= m->len;
        sotto_free(l->loop->env, m);
    }
    if (l->head != NULL || l->closing)
        lws_callback_on_writable(l->wsi);
    return 0;
}

static void peer_close(struct net_link *l, const uint8_t *in, size_t len)
{
    if (len >= 2)
        l->peer_close_code = (unsigned)in[0] << 8 | in[1];
}

/* What peer links and local API connections share once a connection exists: data in and
 * out, the close, and the end of the wsi (which frees our link). Anything else goes to lws's
 * HTTP handler. */
static int link_io(struct lws *wsi, struct net_link *l, enum lws_callback_reasons reason,
                   void *user, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return l != NULL ? link_receive(l, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return l != NULL ? link_writeable(l) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (l != NULL)
            peer_close(l, in, len);
        return 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (l != NULL)
            tell_down(l, l->peer_close_code != 0 ? "closed by the peer" : "closed");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (l != NULL) {
            tell_down(l, "connection lost");
            lws_set_opaque_user_data(wsi, NULL);
            link_free(l);
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static int link_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    struct net_loop *loop = lws_context_user(lws_get_context(wsi));
    struct net_link *l = lws_get_opaque_user_data(wsi);

    switch (reason) {
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        /* any certificate: the identity proof inside the link authenticates the peer */
        X509_STORE_CTX_set_error((X509_STORE_CTX *)user, X509_V_OK);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        l = link_new(loop, false, NULL);
        if (l == NULL)
            return -1;
        l->wsi = wsi;
        lws_set_opaque_user_data(wsi, l);
        return link_established(l) ? 0 : -1;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (l == NULL)
            return -1;
        l->wsi = wsi;
        if (l->api) { /* a client of a node's local API: plain ws on loopback */
            snprintf(l->peer, sizeof(l->peer), "local");
            l->up = true;
            if (loop->api.ev.up != NULL)
                loop->api.ev.up(loop->api.arg, l, l->cookie);
            return 0;
        }
        return link_established(l) ? 0 : -1;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (l != NULL) {
            tell_down(l, in != NULL && len > 0 ? (const char *)in : "connection failed");
            l->wsi = NULL;
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (loop != NULL && loop->p.ev.wake != NULL)
            loop->p.ev.wake(loop->p.arg);
        return 0;
    default:
        break;
    }
    return link_io(wsi, l, reason, user, in, len);
}

/* ---- the local API ---- */

/* Host must name this port on the loopback interface, and Origin, when a browser sends one,
 * must be this node's own page: no other web page may drive the API (cross-site WebSocket
 * hijacking), and no DNS name may be rebound to it. */
static bool api_header_ok(struct lws *wsi, enum lws_token_indexes h, unsigned port, bool absent_ok,
                          const char *scheme)
{
    char got[128], want[64];
    const char *hosts[] = {"127.0.0.1", "localhost"};
    int len = lws_hdr_total_length(wsi, h);

    if (len <= 0)
        return absent_ok;
    if (len >= (int)sizeof(got) || lws_hdr_copy(wsi, got, sizeof(got), h) < 0)
        return false;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(want, sizeof(want), "%s%s:%u", scheme, hosts[i], port);
        if (strcmp(got, want) == 0)
            return true;
    }
    return false;
}

static int api_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct net_loop *loop = lws_context_user(lws_get_context(wsi));
    struct net_link *l = lws_get_opaque_user_data(wsi);

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!api_header_ok(wsi, WSI_TOKEN_HOST, loop->api_port, false, "") ||
            !api_header_ok(wsi, WSI_TOKEN_ORIGIN, loop->api_port, true, "http://")) {
            log_warn(loop->env->log, "local API: a connection with a foreign Host or Origin "
                                     "was refused");
            return 1;
        }
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        l = link_new(loop, false, NULL);
        if (l == NULL)
            return -1;
        l->api = true;
        l->wsi = wsi;
        l->rx_max = loop->api.msg_max;
        snprintf(l->peer, sizeof(l->peer), "local");
        lws_set_opaque_user_data(wsi, l);
        l->up = true;
        if (loop->api.ev.up != NULL)
            loop->api.ev.up(loop->api.arg, l, NULL);
        return 0;
    default:
        break;
    }
    return link_io(wsi, l, reason, user, in, len);
}

enum sotto_err net_loop_listen_api(struct net_loop *loop, const struct net_api_params *params)
{
    struct lws_context_creation_info info;

    if (loop->api_vhost != NULL || params->port > 65535)
        return SOTTO_EINVAL;
    loop->api = *params;
    if (loop->api.msg_max == 0 || loop->api.msg_max > NET_API_MSG_MAX)
        loop->api.msg_max = NET_API_MSG_MAX;
    /* lws may hand a closing connection's last callbacks to protocols[0]: it must be ours */
    loop->api_protocols[0] = (struct lws_protocols){.name = "http", .callback = api_cb};
    loop->api_protocols[1] = (struct lws_protocols){
            .name = NET_API_PROTOCOL,
            .callback = api_cb,
            .rx_buffer_size = 16384,
    };
    memset(&info, 0, sizeof(info));
    info.vhost_name = "api";
    info.port = (int)params->port;
    info.iface = "127.0.0.1";
    /* without it lws 4.1 binds every interface (shared/notes, pitfall 1) */
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    info.protocols = loop->api_protocols;
    info.mounts = params->mounts;
    loop->api_vhost = lws_create_vhost(loop->ctx, &info);
    if (loop->api_vhost == NULL) {
        log_error(loop->env->log, "cannot listen for the local API on 127.0.0.1:%u (in use?)",
                  params->port);
        return SOTTO_EIO;
    }
    loop->api_port = (unsigned)lws_get_vhost_listen_port(loop->api_vhost);
    return SOTTO_OK;
}

unsigned net_loop_api_port(const struct net_loop *loop)
{
    return loop->api_port;
}

bool net_link_is_api(const struct net_link *l)
{
    return l->api;
}

/* ---- sending ---- */

enum sotto_err net_link_send(struct net_link *l, const uint8_t *data, size_t len)
{
    const struct sotto_env *env = l->loop->env;
    struct out_msg *m;

    if (l->closing || l->wsi == NULL || l->down_told)
        return SOTTO_ENET;
    if (len > (l->api ? NET_API_MSG_MAX : l->loop->p.msg_max))
        return SOTTO_ETOOBIG;
    if (l->queued + len > l->loop->p.queue_max)
        return SOTTO_ERATE;
    m = sotto_alloc(env, sizeof(*m) + LWS_PRE + len);
    if (m == NULL)
        return SOTTO_ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, data, len);
    if (l->tail != NULL)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
    l->queued += len;
    lws_callback_on_writable(l->wsi);
    return SOTTO_OK;
}

size_t net_link_queued(const struct net_link *l)
{
    return l->queued;
}

void net_link_close(struct net_link *l, unsigned code, const char *why)
{
    if (l->closing || l->wsi == NULL)
        return;
    l->closing = true;
    l->close_code = code;
    snprintf(l->close_why, sizeof(l->close_why), "%s", why != NULL ? why : "");
    lws_callback_on_writable(l->wsi);
}

const uint8_t *net_link_exporter(const struct net_link *l)
{
    return l->exporter;
}

bool net_link_dialed(const struct net_link *l)
{
    return l->dialed;
}

const char *net_link_peer(const struct net_link *l)
{
    return l->peer;
}

void net_link_set_rx_max(struct net_link *l, size_t max)
{
    l->rx_max = max < l->loop->p.msg_max ? max : l->loop->p.msg_max;
}

void net_link_set_user(struct net_link *l, void *user)
{
    l->user = user;
}

void *net_link_user(const struct net_link *l)
{
    return l->user;
}

/* ---- dialing ---- */

/* "1.2.3.4:5" or "[v6]:5" into an IP literal and a port. */
static bool split_addr(const char *addr, char host[static INET6_ADDRSTRLEN], int *port)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hlen;
    char *end;
    long p;
    unsigned char buf[sizeof(struct in6_addr)];

    if (colon == NULL)
        return false;
    hlen = (size_t)(colon - addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        h = addr + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= INET6_ADDRSTRLEN)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
        return false;
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || p < 1 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

enum sotto_err net_link_dial(struct net_loop *loop, const char *addr, void *cookie)
{
    struct lws_client_connect_info ci;
    char host[INET6_ADDRSTRLEN];
    struct net_link *l;
    int port;

    if (!loop->tls || addr == NULL || !split_addr(addr, host, &port))
        return SOTTO_EINVAL;
    l = link_new(loop, true, cookie);
    if (l == NULL)
        return SOTTO_ENOMEM;
    snprintf(l->peer, sizeof(l->peer), "%s", addr);
    memset(&ci, 0, sizeof(ci));
    ci.context = loop->ctx;
    ci.vhost = loop->vhost;
    ci.address = host;
    ci.port = port;
    ci.path = "/";
    ci.host = host;
    ci.origin = host;
    ci.protocol = NET_LINK_PROTOCOL;
    ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    ci.opaque_user_data = l;
    ci.alpn = "http/1.1";
    /* a failure may be reported (and the wsi destroyed, freeing l) before this returns */
    if (lws_client_connect_via_info(&ci) == NULL)
        log_debug(loop->env->log, "dial %s: failed at once", addr);
    return SOTTO_OK;
}

enum sotto_err net_api_dial(struct net_loop *loop, const struct net_api_params *params,
                            void *cookie)
{
    struct lws_client_connect_info ci;
    struct net_link *l;
    char host[32];

    if (params->port == 0 || params->port > 65535)
        return SOTTO_EINVAL;
    if (loop->api.ev.frame == NULL)
        loop->api = *params;
    l = link_new(loop, true, cookie);
    if (l == NULL)
        return SOTTO_ENOMEM;
    l->api = true;
    l->rx_max = params->msg_max != 0 ? params->msg_max : NET_API_MSG_MAX;
    snprintf(host, sizeof(host), "127.0.0.1:%u", params->port);
    memset(&ci, 0, sizeof(ci));
    ci.context = loop->ctx;
    ci.vhost = loop->vhost;
    ci.address = "127.0.0.1";
    ci.port = (int)params->port;
    ci.path = "/";
    ci.host = host;
    ci.protocol = NET_API_PROTOCOL;
    ci.local_protocol_name = NET_LINK_PROTOCOL; /* our callback on this side */
    ci.opaque_user_data = l;
    if (lws_client_connect_via_info(&ci) == NULL)
        log_debug(loop->env->log, "local API: connecting to port %u failed at once", params->port);
    return SOTTO_OK;
}

/* ---- timers ---- */

static void timer_fired(lws_sorted_usec_list_t *sul)
{
    struct net_timer *t = (struct net_timer *)((char *)sul - offsetof(struct net_timer, opaque));

    t->cb(t);
}

void net_timer_arm(struct net_loop *loop, struct net_timer *t, uint64_t delay_ms)
{
    lws_sul_schedule(loop->ctx, 0, (lws_sorted_usec_list_t *)t->opaque, timer_fired,
                     (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

void net_timer_cancel(struct net_timer *t)
{
    lws_sul_cancel((lws_sorted_usec_list_t *)t->opaque);
}

/* ---- the loop ---- */

static void lws_log_emit(int level, const char *line)
{
    char text[256];
    size_t n;

    if (log_env == NULL)
        return;
    snprintf(text, sizeof(text), "%s", line);
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    if (level & LLL_ERR)
        log_warn(log_env->log, "libwebsockets: %s", text);
    else
        log_debug(log_env->log, "libwebsockets: %s", text);
}

static bool split_listen(const char *listen, char host[static INET6_ADDRSTRLEN], int *port)
{
    char tmp[NET_ADDR_TEXT_MAX];
    size_t n = strlen(listen);

    /* port 0 is allowed here (any free port), which split_addr refuses */
    if (n >= sizeof(tmp) - 1)
        return false;
    memcpy(tmp, listen, n + 1);
    if (n >= 2 && strcmp(tmp + n - 2, ":0") == 0) {
        tmp[n - 1] = '1';
        if (!split_addr(tmp, host, port))
            return false;
        *port = 0;
        return true;
    }
    return split_addr(tmp, host, port);
}

enum sotto_err net_loop_create(struct net_loop **out, const struct sotto_env *env,
                               const struct net_link_params *params)
{
    struct lws_context_creation_info info;
    struct net_loop *loop;
    char host[INET6_ADDRSTRLEN] = "";
    int port = CONTEXT_PORT_NO_LISTEN;

    *out = NULL;
    if (params->listen != NULL && !split_listen(params->listen, host, &port))
        return SOTTO_EINVAL;
    loop = sotto_zalloc(env, sizeof(*loop));
    if (loop == NULL)
        return SOTTO_ENOMEM;
    loop->env = env;
    loop->p = *params;
    loop->tls = params->cert_path != NULL;
    if (loop->p.msg_max == 0)
        loop->p.msg_max = NET_LINK_MSG_MAX;
    if (loop->p.queue_max == 0)
        loop->p.queue_max = NET_LINK_QUEUE_MAX;
    if (loop->p.handshake_timeout_s == 0)
        loop->p.handshake_timeout_s = HANDSHAKE_S;
    loop->protocols[0] = (struct lws_protocols){
            .name = NET_LINK_PROTOCOL,
            .callback = link_cb,
            .rx_buffer_size = 16384,
    };
    if (log_env == NULL) { /* one hook for the process: the first loop's logger */
        log_env = env;
        lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    }

    memset(&info, 0, sizeof(info));
    /* A loop without a certificate serves no peer links: it is a client of a local API
     * (plain ws on loopback) and needs no TLS. lws 4.1 keeps its OpenSSL bookkeeping in a
     * global index that each TLS context makes anew, so a process with several would leak the
     * older ones' client contexts: only loops that need TLS set it up. */
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (params->cert_path != NULL)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = loop;
    info.timeout_secs = loop->p.handshake_timeout_s;
    info.connect_timeout_secs = loop->p.handshake_timeout_s;
    info.fd_limit_per_thread = params->fd_max; /* 0: lws's own (the open-files limit) */
    loop->ctx = lws_create_context(&info);
    if (loop->ctx == NULL) {
        sotto_free(env, loop);
        return SOTTO_ENOMEM;
    }

    memset(&info, 0, sizeof(info));
    info.vhost_name = "p2p";
    info.port = port;
    info.iface = host[0] != '\0' ? host : NULL;
    info.protocols = loop->protocols;
    /* no CA store: certificates prove nothing here (and it costs memory and start time) */
    info.options = LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    if (params->cert_path != NULL)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (host[0] != '\0' && strchr(host, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6; /* else lws binds every interface */
    info.ssl_cert_filepath = params->cert_path;
    info.ssl_private_key_filepath = params->key_path;
    info.alpn = "http/1.1";
    info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 |
                           SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
    info.ssl_client_options_set = info.ssl_options_set;
    info.timeout_secs = loop->p.handshake_timeout_s;
    info.connect_timeout_secs = loop->p.handshake_timeout_s;
    loop->vhost = lws_create_vhost(loop->ctx, &info);
    if (loop->vhost == NULL) {
        log_error(env->log,
                  "cannot listen for peer links on %s (address in use, or the "
                  "certificate %s cannot be used)",
                  params->listen != NULL ? params->listen : "(none)",
                  params->cert_path != NULL ? params->cert_path : "(none)");
        lws_context_destroy(loop->ctx);
        sotto_free(env, loop);
        return SOTTO_EIO;
    }
    *out = loop;
    return SOTTO_OK;
}

void net_loop_free(struct net_loop *loop)
{
    if (loop == NULL)
        return;
    lws_context_destroy(loop->ctx); /* closes every link: WSI_DESTROY frees each */
    sotto_free(loop->env, loop);
}

unsigned net_loop_port(const struct net_loop *loop)
{
    int port = lws_get_vhost_listen_port(loop->vhost);

    return port > 0 ? (unsigned)port : 0;
}

void net_loop_run(struct net_loop *loop)
{
    while (!loop->stop) {
        int rc = lws_service(loop->ctx, 0);

        if (loop->p.ev.pass_end != NULL)
            loop->p.ev.pass_end(loop->p.arg);
        if (rc < 0)
            break;
    }
}

void net_loop_once(struct net_loop *loop, bool wait)
{
    /* lws 4.1: 0 waits until the next timer or event, a negative value does not wait */
    lws_service(loop->ctx, wait ? 0 : -1);
}

void net_loop_wake(struct net_loop *loop)
{
    lws_cancel_service(loop->ctx);
}

void net_loop_stop(struct net_loop *loop)
{
    loop->stop = 1;
    lws_cancel_service(loop->ctx);
}

bool net_loop_stopping(const struct net_loop *loop)
{
    return loop->stop != 0;
}
