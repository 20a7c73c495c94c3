/* bench/first_contact_bench.c: the first message to a new contact, timed through the local APIs
 * of both running nodes (bench/first_contact.py starts them): Alice's node has the contact
 * (looked up on the directory) but no session and no link with it. From the `send` request on
 * Alice's API, the events give the steps:
 *   answer         Alice's node stored the message and its outbox entry and answered
 *   link_up        Alice's node: its dial came up and Bob's node proved its key (TLS 1.3, wss,
 *                  HELLO both ways)
 *   bob_link_up    the same link, as Bob's node saw it (it checked Alice's HELLO)
 *   bob_message    Bob's node decrypted (X3DH on its side) and stored the message
 *   delivered      Alice's node received Bob's ACK and marked the message delivered
 * Bob's events are read by a child process with a client of its own, so that they are stamped
 * when they arrive; both processes stamp with CLOCK_MONOTONIC.
 * Usage: first-contact-bench ALICE_HOME CONTACT BOB_HOME
 * Prints "name value ms" lines, each relative to the send request, for the driver to read, and
 * "t0 SECONDS s", the request's CLOCK_MONOTONIC time, to place other processes' stamps.
 *
 * With --bundle, the directory step alone, K times each, p50: a bundle fetched over a fresh
 * TLS 1.3 connection by plain blocking OpenSSL (the baseline: connect, handshake, one request,
 * the answer), and by our directory client (net_dir_bundle, what the node's worker runs).
 * Usage: first-contact-bench --bundle PORT PIN NUMBER K   (a directory on 127.0.0.1:PORT) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "net/dir.h"
#include "node/client.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define WAIT_MS 30000

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* When each event was first seen (0: not yet). */
struct seen {
    double link_up, message, delivered;
    char failure[256];
};

static void on_event(void *arg, json_t *ev)
{
    struct seen *s = arg;
    const char *e = json_string_value(json_object_get(ev, "event"));
    double t = now_s();

    if (e == NULL)
        return;
    if (strcmp(e, "link_up") == 0 && s->link_up == 0)
        s->link_up = t;
    else if (strcmp(e, "message") == 0 && s->message == 0)
        s->message = t;
    else if (strcmp(e, "delivered") == 0 && s->delivered == 0)
        s->delivered = t;
    else if (strcmp(e, "failed") == 0 || strcmp(e, "dial_failed") == 0 ||
             strcmp(e, "link_refused") == 0 || strcmp(e, "key_changed") == 0) {
        char *text = json_dumps(ev, JSON_COMPACT);

        snprintf(s->failure, sizeof(s->failure), "%s", text != NULL ? text : e);
        free(text);
    }
}

/* Bob's side: connect, say ready, then report when the link came up and the message arrived. */
static int bob_side(const struct sotto_env *env, const char *home, int out)
{
    struct node_client *nc = NULL;
    struct seen s = {0};
    double end;
    char line[128];
    int len;

    if (node_client_open(&nc, env, home, 10000) != SOTTO_OK) {
        fprintf(stderr, "first-contact-bench: no node runs for %s\n", home);
        return 1;
    }
    node_client_on_event(nc, on_event, &s);
    if (write(out, "R", 1) != 1)
        return 1;
    end = now_s() + WAIT_MS / 1e3;
    while (s.message == 0 && now_s() < end)
        if (!node_client_wait(nc, WAIT_MS) && node_client_gone(nc))
            break;
    len = snprintf(line, sizeof(line), "%.9f %.9f\n", s.link_up, s.message);
    node_client_free(nc);
    return write(out, line, (size_t)len) == len ? 0 : 1;
}

static int send_text(struct node_client *nc, const char *contact)
{
    json_t *result = NULL, *error = NULL;
    enum sotto_err rc;

    rc = node_client_call(nc,
                          json_pack("{s:s, s:s, s:s}", "op", "send", "contact", contact, "text",
                                    "the first message to a new contact"),
                          &result, &error, WAIT_MS);
    if (rc != SOTTO_OK) {
        char *text = error != NULL ? json_dumps(error, JSON_COMPACT) : NULL;

        fprintf(stderr, "first-contact-bench: send refused: %s\n",
                text != NULL ? text : sotto_strerror(rc));
        free(text);
    }
    json_decref(result);
    json_decref(error);
    return rc == SOTTO_OK ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* One bundle over a fresh connection, by OpenSSL alone: *tls_s is when the handshake was done.
 * 0, or -1 when anything failed or the answer is not 200. */
static int raw_bundle(SSL_CTX *ctx, unsigned port, const char *number, double *tls_s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char req[256], buf[4096];
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, len, got, total = 0, ok = -1;
    SSL *ssl = NULL;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto out;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
        goto out;
    *tls_s = now_s();
    len = snprintf(req, sizeof(req),
                   "POST /v1/accounts/%s/bundle HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                   "Content-Length: 0\r\nConnection: close\r\n\r\n",
                   number, port);
    if (SSL_write(ssl, req, len) != len)
        goto out;
    while ((got = SSL_read(ssl, buf + total, (int)sizeof(buf) - 1 - total)) > 0)
        total += got;
    buf[total] = '\0';
    ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
out:
    if (ssl != NULL)
        SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    return ok;
}

static int bundle_bench(const struct sotto_env *env, char **argv)
{
    unsigned port = (unsigned)strtoul(argv[2], NULL, 10);
    size_t k = (size_t)strtoul(argv[5], NULL, 10);
    uint64_t number = strtoull(argv[4], NULL, 10);
    char url[64];
    struct net_dir_params dp = {.url = url, .pin = argv[3]};
    struct net_dir *d = NULL;
    struct net_bundle nb;
    double *tls = calloc(k + 1, sizeof(*tls)), *raw = calloc(k + 1, sizeof(*raw));
    double *ours = calloc(k + 1, sizeof(*ours)), t0, t_tls = 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    snprintf(url, sizeof(url), "https://127.0.0.1:%u", port);
    if (k == 0 || tls == NULL || raw == NULL || ours == NULL || ctx == NULL ||
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        net_dir_open(&d, env, &dp) != SOTTO_OK)
        return 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* one of each first, not counted: what OpenSSL loads on first use */
    for (size_t i = 0; i <= k; i++) {
        t0 = now_s();
        if (raw_bundle(ctx, port, argv[4], &t_tls) != 0)
            return fprintf(stderr, "first-contact-bench: the raw bundle fetch failed\n"), 1;
        tls[i] = t_tls - t0;
        raw[i] = now_s() - t0;
        t0 = now_s();
        if (net_dir_bundle(d, number, &nb) != SOTTO_OK)
            return fprintf(stderr, "first-contact-bench: net_dir_bundle failed\n"), 1;
        ours[i] = now_s() - t0;
    }
    printf("bundle_raw_tls %.3f ms\n", median(tls + 1, k) * 1e3);
    printf("bundle_raw %.3f ms\n", median(raw + 1, k) * 1e3);
    printf("bundle_ours %.3f ms\n", median(ours + 1, k) * 1e3);
    net_dir_free(d);
    SSL_CTX_free(ctx);
    free(tls);
    free(raw);
    free(ours);
    return 0;
}

static void print_since(const char *name, double t, double t0)
{
    if (t > 0)
        printf("%s %.3f ms\n", name, (t - t0) * 1e3);
}

int main(int argc, char **argv)
{
    struct sotto_log log;
    struct sotto_env env;
    struct node_client *nc = NULL;
    struct seen s = {0};
    int fds[2], status = 0;
    char buf[128] = {0};
    double t0, answer, bob_up = 0, bob_msg = 0, end;
    ssize_t got;
    pid_t child;

    sotto_log_init(&log);
    sotto_env_init(&env, &log);
    if (argc == 6 && strcmp(argv[1], "--bundle") == 0)
        return sotto_env_global_init() != 0 ? 1 : bundle_bench(&env, argv);
    if (argc != 4) {
        fprintf(stderr, "usage: first-contact-bench ALICE_HOME CONTACT BOB_HOME\n"
                        "       first-contact-bench --bundle PORT PIN NUMBER K\n");
        return 2;
    }
    if (sotto_env_global_init() != 0 || pipe(fds) != 0)
        return 1;
    /* before any loop exists in this process: the child makes its own */
    child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        close(fds[0]);
        _exit(bob_side(&env, argv[3], fds[1]));
    }
    close(fds[1]);
    if (read(fds[0], buf, 1) != 1) {
        fprintf(stderr, "first-contact-bench: Bob's side did not start\n");
        return 1;
    }
    if (node_client_open(&nc, &env, argv[1], 10000) != SOTTO_OK) {
        fprintf(stderr, "first-contact-bench: no node runs for %s\n", argv[1]);
        kill(child, SIGTERM);
        return 1;
    }
    node_client_on_event(nc, on_event, &s);
    t0 = now_s();
    if (send_text(nc, argv[2]) != 0) {
        kill(child, SIGTERM);
        return 1;
    }
    answer = now_s();
    end = t0 + WAIT_MS / 1e3;
    while (s.delivered == 0 && s.failure[0] == '\0' && now_s() < end)
        if (!node_client_wait(nc, WAIT_MS) && node_client_gone(nc))
            break;
    node_client_free(nc);
    if (s.delivered == 0) {
        fprintf(stderr, "first-contact-bench: not delivered within %d s%s%s\n", WAIT_MS / 1000,
                s.failure[0] != '\0' ? ": " : "", s.failure);
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
        return 1;
    }
    got = read(fds[0], buf, sizeof(buf) - 1);
    waitpid(child, &status, 0);
    if (got > 0) {
        char *p = buf, *e;

        buf[got] = '\0';
        bob_up = strtod(p, &e);
        bob_msg = strtod(e, NULL);
    }
    printf("t0 %.6f s\n", t0);
    print_since("answer", answer, t0);
    print_since("link_up", s.link_up, t0);
    print_since("bob_link_up", bob_up, t0);
    print_since("bob_message", bob_msg, t0);
    print_since("delivered", s.delivered, t0);
    return 0;
}
