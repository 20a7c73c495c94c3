/* tests/support/wsprobe.c: a hostile peer for the node's integration tests (test-only). It
 * opens TLS 1.3 WebSocket links (subprotocol sotto-link-v1) to a node's peer port with
 * libwebsockets, sends what the steps say, well-formed or not, and prints what comes back and
 * how each link ended; or it listens, as a node would, and prints what a node sends it.
 *
 *   wsprobe [--as DIR] [--conns N] [--parallel P] [--timeout S] HOST:PORT STEP...
 *   wsprobe --listen HOST:PORT --cert F --key F [--timeout S]
 *
 * Steps, run in order on each link once TLS and the WebSocket are up:
 *   hex:HEX           one binary message of these bytes
 *   text:STRING       one text message
 *   bytes:N           one binary message of N bytes: a MESSAGE header announcing N-6, zeros
 *   garbage:N         one binary message of N random bytes
 *   frags:N:K         one binary message in K fragments of N bytes (a MESSAGE header, zeros)
 *   echo              the first message the node sent (its HELLO), sent back to it
 *   hello             a HELLO of --as's identity, signed over this link's exporter (dialer)
 *   hello-other       the same HELLO signed over another exporter (a proof for another link)
 *   outbox            a MESSAGE frame for each encrypted entry of --as's outbox to the node
 *                     (whose key its HELLO tells), as stored: what --as's node would resend
 *   outbox-newid      the same frames with a fresh message id each
 *   outbox-flip       the same frames with one ciphertext bit flipped
 *   wait:MS           receive for MS milliseconds
 *   close             close the link with 1000
 *
 * Output, with one link: "up", then "recv HEX" for each message received, then how it ended:
 * "end closed CODE REASON" (CODE is the node's close code, 0 when it sent none), "end by-us",
 * "end timeout" or "end failed WHY". Listening, the first link is taken, each message printed,
 * and the link closed (1000) after the first one. Always last: "summary conns=N closed:CODE=K
 * ... by-us=K timeout=K failed=K other=K". Exit 0, 2 for a usage error, 1 when it cannot run.
 * It reads a profile's private key (--as): never point it at a profile that matters. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sotto/env.h"
#include "wsprobe.h"

/* ---- the links ---- */

static void tally(struct probe *pr, const struct conn *c)
{
    switch (c->end) {
    case END_BY_US:
        pr->by_us++;
        return;
    case END_TIMEOUT:
        pr->timeouts++;
        return;
    case END_FAILED:
    case END_NONE:
        pr->failures++;
        return;
    case END_CLOSED:
        break;
    }
    for (size_t i = 0; i < PROBE_CODES_MAX; i++) {
        if (pr->codes[i].count == 0)
            pr->codes[i].code = c->close_code;
        if (pr->codes[i].code == c->close_code) {
            pr->codes[i].count++;
            return;
        }
    }
    pr->closed_other++;
}

/* lws runs due timers before it polls, so a flag set in a timer is seen only after the next
 * event: wake the poll up. */
static void probe_stop(struct probe *pr)
{
    pr->stop = true;
    if (pr->ctx != NULL)
        lws_cancel_service(pr->ctx);
}

static bool verbose(const struct probe *pr)
{
    return pr->n_conns == 1;
}

static void conn_finish(struct conn *c, enum end_kind end, const char *why)
{
    struct probe *pr = c->pr;

    if (!c->active)
        return;
    c->active = false;
    c->end = end;
    if (c->timed_out)
        c->end = END_TIMEOUT;
    else if (end == END_CLOSED && c->close_code == 0 && c->closing)
        c->end = END_BY_US; /* our close: a node's own close frame takes precedence */
    if (verbose(pr)) {
        if (c->end == END_CLOSED)
            printf("end closed %u %s\n", c->close_code, c->close_why);
        else if (c->end == END_FAILED)
            printf("end failed %s\n", why != NULL ? why : "");
        else
            printf("end %s\n", c->end == END_BY_US ? "by-us" : "timeout");
        fflush(stdout);
    }
    tally(pr, c);
    probe_queue_clear(c);
    free(c->rx);
    free(c->first);
    c->rx = c->first = NULL;
    c->wsi = NULL;
    pr->finished++;
    pr->active--;
    if (pr->finished == pr->n_conns || pr->listening)
        probe_stop(pr);
}

static bool conn_established(struct conn *c, struct lws *wsi)
{
    SSL *ssl = lws_get_ssl(wsi);

    c->wsi = wsi;
    c->up = true;
    if (ssl == NULL ||
        SSL_export_keying_material(ssl, c->exporter, sizeof(c->exporter), PROBE_EXPORTER_LABEL,
                                   strlen(PROBE_EXPORTER_LABEL), NULL, 0, 0) != 1) {
        fprintf(stderr, "wsprobe: no TLS exporter\n");
        return false;
    }
    if (verbose(c->pr)) {
        printf("up\n");
        fflush(stdout);
    }
    if (!probe_steps_advance(c))
        return false;
    lws_callback_on_writable(wsi);
    return true;
}

static void print_hex(const uint8_t *p, size_t len)
{
    fputs("recv ", stdout);
    for (size_t i = 0; i < len; i++)
        printf("%02x", p[i]);
    putchar('\n');
    fflush(stdout);
}

static int conn_message(struct conn *c)
{
    if (verbose(c->pr))
        print_hex(c->rx, c->rx_len);
    if (c->first == NULL) {
        c->first = c->rx;
        c->first_len = c->rx_len;
        c->rx = NULL;
    }
    c->rx_len = 0;
    if (c->pr->listening) /* what the node sent first is what we listened for */
        c->closing = true;
    if (c->need_first) {
        c->need_first = false;
        if (!probe_steps_advance(c))
            return -1;
    }
    lws_callback_on_writable(c->wsi);
    return 0;
}

static int conn_receive(struct conn *c, const void *in, size_t len)
{
    size_t want = c->rx_len + len;
    uint8_t *grown;

    if (want > PROBE_RX_MAX || want < len) {
        fprintf(stderr, "wsprobe: the node sent a message over %d bytes\n", PROBE_RX_MAX);
        return -1;
    }
    grown = realloc(c->rx, want > 0 ? want : 1);
    if (grown == NULL)
        return -1;
    c->rx = grown;
    if (len > 0)
        memcpy(c->rx + c->rx_len, in, len);
    c->rx_len = want;
    if (lws_remaining_packet_payload(c->wsi) > 0 || !lws_is_final_fragment(c->wsi))
        return 0;
    return conn_message(c);
}

/* One write per WRITEABLE callback (lws's rule); -1 closes the link. */
static int conn_writeable(struct conn *c)
{
    struct out *o = c->head;

    if (o == NULL) {
        if (!probe_steps_advance(c))
            return -1;
        o = c->head;
    }
    if (o == NULL) {
        if (c->closing) {
            lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"probe done", 10);
            return -1;
        }
        return 0;
    }
    if (lws_write(c->wsi, o->buf + LWS_PRE, o->len, (enum lws_write_protocol)o->flags) <
        (int)o->len)
        return -1;
    c->head = o->next;
    if (c->head == NULL)
        c->tail = NULL;
    free(o);
    lws_callback_on_writable(c->wsi);
    return 0;
}

static void conn_peer_close(struct conn *c, const uint8_t *in, size_t len)
{
    size_t n = 0;

    if (len < 2)
        return;
    c->close_code = (unsigned)in[0] << 8 | in[1];
    for (size_t i = 2; i < len && n < PROBE_WHY_MAX; i++)
        c->close_why[n++] = in[i] >= 0x20 && in[i] < 0x7f ? (char)in[i] : '?';
    c->close_why[n] = '\0';
}

/* Listening: the first link is ours, any other is dropped. */
static struct conn *conn_accept(struct probe *pr, struct lws *wsi)
{
    struct conn *c = &pr->conns[0];

    if (pr->started > 0)
        return NULL;
    pr->started++;
    pr->active++;
    c->active = true;
    c->server = true;
    c->deadline = pr->deadline;
    lws_set_opaque_user_data(wsi, c);
    return c;
}

static int probe_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct probe *pr = lws_context_user(lws_get_context(wsi));
    struct conn *c = lws_get_opaque_user_data(wsi);

    switch (reason) {
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        /* any certificate: a node's proves nothing (the HELLO does) */
        X509_STORE_CTX_set_error((X509_STORE_CTX *)user, X509_V_OK);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        c = conn_accept(pr, wsi);
        return c != NULL && conn_established(c, wsi) ? 0 : -1;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        return c != NULL && conn_established(c, wsi) ? 0 : -1;
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return c != NULL && c->active ? conn_receive(c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return c != NULL && c->active ? conn_writeable(c) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c != NULL)
            conn_peer_close(c, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c != NULL)
            conn_finish(c, END_FAILED, in != NULL && len > 0 ? (const char *)in : "connect");
        return 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (c != NULL)
            conn_finish(c, c->up ? END_CLOSED : END_FAILED, "closed before the upgrade");
        if (reason == LWS_CALLBACK_WSI_DESTROY)
            lws_set_opaque_user_data(wsi, NULL);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
        {.name = PROBE_PROTOCOL, .callback = probe_cb, .rx_buffer_size = 16384},
        {.name = NULL},
};

static void conn_start(struct probe *pr)
{
    struct conn *c = &pr->conns[pr->started++];
    struct lws_client_connect_info ci;

    c->pr = pr;
    c->active = true;
    c->deadline = probe_now_ms(pr) + (uint64_t)pr->timeout_s * 1000;
    pr->active++;
    memset(&ci, 0, sizeof(ci));
    ci.context = pr->ctx;
    ci.address = pr->host;
    ci.port = pr->port;
    ci.path = "/";
    ci.host = pr->host;
    ci.origin = pr->host;
    ci.protocol = PROBE_PROTOCOL;
    ci.alpn = "http/1.1";
    ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    ci.opaque_user_data = c;
    /* a failure may be reported (conn_finish) before this returns */
    (void)lws_client_connect_via_info(&ci);
}

/* Every PROBE_TICK_MS: wakes links whose wait is over, ends those out of time, starts new ones. */
static void tick(lws_sorted_usec_list_t *sul)
{
    struct probe *pr = lws_container_of(sul, struct probe, tick);
    uint64_t now = probe_now_ms(pr);

    for (unsigned i = 0; i < pr->started; i++) {
        struct conn *c = &pr->conns[i];

        if (!c->active || c->wsi == NULL)
            continue;
        if (c->wake_ms != 0 && now >= c->wake_ms) {
            c->wake_ms = 0;
            lws_callback_on_writable(c->wsi);
        }
        if (now >= c->deadline && !c->timed_out) {
            c->timed_out = true;
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
    }
    while (!pr->listening && pr->started < pr->n_conns && pr->active < pr->parallel)
        conn_start(pr);
    if (pr->listening && pr->started == 0 && now >= pr->deadline) {
        pr->conns[0].pr = pr;
        pr->conns[0].active = true;
        pr->conns[0].timed_out = true;
        pr->started = pr->active = 1;
        conn_finish(&pr->conns[0], END_TIMEOUT, NULL);
    }
    if (!pr->stop)
        lws_sul_schedule(pr->ctx, 0, &pr->tick, tick, PROBE_TICK_MS * LWS_US_PER_MS);
}

/* ---- set-up ---- */

static bool split_hostport(struct probe *pr, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    size_t port;

    if (colon == NULL || (size_t)(colon - arg) >= sizeof(pr->host) || colon == arg ||
        !probe_parse_size(colon + 1, 65535, &port, '\0', NULL))
        return false;
    memcpy(pr->host, arg, (size_t)(colon - arg));
    pr->host[colon - arg] = '\0';
    pr->port = (int)port;
    return true;
}

static bool context_create(struct probe *pr, const char *cert, const char *key)
{
    struct lws_context_creation_info info;

    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS |
                   LWS_SERVER_OPTION_DISABLE_IPV6;
    info.port = pr->listening ? pr->port : CONTEXT_PORT_NO_LISTEN;
    info.iface = pr->listening ? pr->host : NULL;
    info.protocols = protocols;
    info.user = pr;
    info.alpn = "http/1.1";
    info.ssl_cert_filepath = cert;
    info.ssl_private_key_filepath = key;
    info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2;
    info.ssl_client_options_set = info.ssl_options_set;
    info.timeout_secs = pr->timeout_s;
    info.connect_timeout_secs = pr->timeout_s;
    pr->ctx = lws_create_context(&info);
    if (pr->ctx == NULL)
        fprintf(stderr, "wsprobe: cannot create the libwebsockets context\n");
    return pr->ctx != NULL;
}

static void print_summary(const struct probe *pr)
{
    printf("summary conns=%u", pr->finished);
    for (size_t i = 0; i < PROBE_CODES_MAX; i++)
        if (pr->codes[i].count > 0)
            printf(" closed:%u=%u", pr->codes[i].code, pr->codes[i].count);
    printf(" by-us=%u timeout=%u failed=%u other=%u\n", pr->by_us, pr->timeouts, pr->failures,
           pr->closed_other);
    fflush(stdout);
}

static int usage(void)
{
    fputs("usage: wsprobe [--as DIR] [--conns N] [--parallel P] [--timeout S] HOST:PORT STEP...\n"
          "       wsprobe --listen HOST:PORT --cert F --key F [--timeout S]\n"
          "steps: hex:HEX text:S bytes:N garbage:N frags:N:K echo hello hello-other outbox\n"
          "       outbox-newid outbox-flip wait:MS close (see tests/support/wsprobe.c)\n",
          stderr);
    return PROBE_EXIT_USAGE;
}

struct options {
    const char *as, *listen, *cert, *key;
    size_t conns, parallel, timeout_s;
};

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {
            {"as", required_argument, NULL, 'a'},       {"conns", required_argument, NULL, 'n'},
            {"parallel", required_argument, NULL, 'p'}, {"timeout", required_argument, NULL, 't'},
            {"listen", required_argument, NULL, 'l'},   {"cert", required_argument, NULL, 'c'},
            {"key", required_argument, NULL, 'k'},      {NULL, 0, NULL, 0}};
    int ch;
    bool ok = true;

    *o = (struct options){.conns = 1, .parallel = 32, .timeout_s = PROBE_DEFAULT_TIMEOUT};
    while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (ch == 'a')
            o->as = optarg;
        else if (ch == 'n')
            ok = ok && probe_parse_size(optarg, 100000, &o->conns, '\0', NULL) && o->conns > 0;
        else if (ch == 'p')
            ok = ok && probe_parse_size(optarg, 1000, &o->parallel, '\0', NULL) && o->parallel > 0;
        else if (ch == 't')
            ok = ok && probe_parse_size(optarg, 3600, &o->timeout_s, '\0', NULL) &&
                 o->timeout_s > 0;
        else if (ch == 'l')
            o->listen = optarg;
        else if (ch == 'c')
            o->cert = optarg;
        else if (ch == 'k')
            o->key = optarg;
        else
            ok = false;
    }
    if (o->listen != NULL && (o->cert == NULL || o->key == NULL || optind != argc))
        ok = false;
    if (o->listen == NULL && argc - optind < 2)
        ok = false;
    return ok ? 0 : -1;
}

static int setup(struct probe *pr, int argc, char **argv, const struct options *o)
{
    pr->n_conns = o->listen != NULL ? 1 : (unsigned)o->conns;
    pr->parallel = (unsigned)o->parallel;
    pr->timeout_s = (unsigned)o->timeout_s;
    pr->listening = o->listen != NULL;
    if (!split_hostport(pr, pr->listening ? o->listen : argv[optind]))
        return PROBE_EXIT_USAGE;
    if (!pr->listening) {
        pr->n_steps = (size_t)(argc - optind - 1);
        pr->steps = calloc(pr->n_steps, sizeof(*pr->steps));
        if (pr->steps == NULL)
            return PROBE_EXIT_FAIL;
        for (size_t i = 0; i < pr->n_steps; i++) {
            if (!probe_step_parse(&pr->steps[i], argv[optind + 1 + i])) {
                fprintf(stderr, "wsprobe: bad step '%s'\n", argv[optind + 1 + i]);
                return PROBE_EXIT_USAGE;
            }
            if (probe_step_needs_as(pr->steps[i].kind) && o->as == NULL) {
                fprintf(stderr, "wsprobe: step '%s' needs --as\n", argv[optind + 1 + i]);
                return PROBE_EXIT_USAGE;
            }
        }
    }
    pr->conns = calloc(pr->n_conns, sizeof(*pr->conns));
    if (pr->conns == NULL || (o->as != NULL && !probe_as_open(pr, o->as)))
        return PROBE_EXIT_FAIL;
    for (unsigned i = 0; i < pr->n_conns; i++)
        pr->conns[i].pr = pr;
    return context_create(pr, o->cert, o->key) ? 0 : PROBE_EXIT_FAIL;
}

static void teardown(struct probe *pr)
{
    pr->stop = true;
    if (pr->ctx != NULL) {
        lws_sul_cancel(&pr->tick);
        lws_context_destroy(pr->ctx); /* closes what is left: conn_finish for each */
    }
    for (unsigned i = 0; pr->conns != NULL && i < pr->n_conns; i++) {
        probe_queue_clear(&pr->conns[i]);
        free(pr->conns[i].rx);
        free(pr->conns[i].first);
    }
    for (size_t i = 0; i < pr->n_steps; i++)
        free(pr->steps[i].bytes);
    free(pr->steps);
    free(pr->conns);
    probe_as_close(&pr->as);
}

int main(int argc, char **argv)
{
    struct probe pr;
    struct options o;
    int code;

    memset(&pr, 0, sizeof(pr));
    if (sotto_env_global_init() != 0)
        return PROBE_EXIT_FAIL;
    sotto_env_init(&pr.env, NULL);
    if (parse_options(argc, argv, &o) != 0)
        return usage();
    code = setup(&pr, argc, argv, &o);
    if (code == PROBE_EXIT_USAGE)
        usage();
    if (code == 0) {
        pr.deadline = probe_now_ms(&pr) + (uint64_t)pr.timeout_s * 1000;
        lws_sul_schedule(pr.ctx, 0, &pr.tick, tick, 1);
        while (!pr.stop)
            if (lws_service(pr.ctx, 0) < 0)
                break;
    }
    teardown(&pr);
    if (code == 0)
        print_summary(&pr);
    return code;
}
