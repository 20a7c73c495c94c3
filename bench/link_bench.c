/* bench/link_bench.c: the baselines the node's latency is judged against, measured in the same
 * run: a 100-byte ping-pong over raw TCP on loopback, and over our peer-link transport alone
 * (TLS 1.3 WebSocket through libwebsockets, src/net/link.c) with no node logic. Each: R round
 * trips after a warm-up, p50 and p99, then round trips per second. With C, also C fresh links,
 * one after the other: dial, TCP, TLS 1.3 handshake and WebSocket upgrade, then one 100-byte
 * ping-pong, the baseline of a first message to a new contact: p50 and max of the time to the
 * link being up and to the pong.
 * Usage: link-bench CERT KEY R [C] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/link.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define MSG    100
#define WARMUP 500

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, size_t n, double total)
{
    qsort(lat, n, sizeof(*lat), cmp_double);
    printf("%s_p50 %.3f ms\n%s_p99 %.3f ms\n%s_rate %.0f rt/s\n", what, lat[n / 2] * 1e3, what,
           lat[n * 99 / 100] * 1e3, what, (double)n / total);
}

/* ---- raw TCP ---- */

static int tcp_listen(unsigned short *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        exit(1);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int read_full(int fd, char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t r = read(fd, buf + off, n - off);
        if (r <= 0)
            return -1;
        off += (size_t)r;
    }
    return 0;
}

static void *tcp_echo(void *arg)
{
    int lfd = *(int *)arg, one = 1, fd = accept(lfd, NULL, NULL);
    char buf[MSG];

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (read_full(fd, buf, MSG) == 0)
        if (write(fd, buf, MSG) != MSG)
            break;
    close(fd);
    return NULL;
}

static void bench_tcp(size_t r)
{
    unsigned short port;
    int lfd = tcp_listen(&port), fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    pthread_t th;
    char buf[MSG] = {0};
    double *lat = calloc(r, sizeof(*lat)), t0, start = 0;

    pthread_create(&th, NULL, tcp_echo, &lfd);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        exit(1);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t i = 0; i < WARMUP + r; i++) {
        if (i == WARMUP)
            start = now_s();
        t0 = now_s();
        if (write(fd, buf, MSG) != MSG || read_full(fd, buf, MSG) != 0)
            exit(1);
        if (i >= WARMUP)
            lat[i - WARMUP] = now_s() - t0;
    }
    report("tcp", lat, r, now_s() - start);
    close(fd);
    pthread_join(th, NULL);
    close(lfd);
    free(lat);
}

/* ---- raw wss (our link layer): an echo loop in a thread, the client loop here ---- */

struct side {
    struct net_loop *loop;
    struct net_link *link;
    size_t got;
    bool down;
    volatile int ready;
};

static struct side server, client;

static void srv_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    (void)arg;
    (void)net_link_send(l, data, len);
}

static void *srv_run(void *arg)
{
    (void)arg;
    server.ready = 1;
    net_loop_run(server.loop);
    return NULL;
}

static void cli_up(void *arg, struct net_link *l, void *cookie)
{
    (void)arg;
    (void)cookie;
    client.link = l;
}

static void cli_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    (void)arg;
    (void)l;
    (void)data;
    (void)len;
    client.got++;
}

static void cli_down(void *arg, struct net_link *l, unsigned code, const char *why)
{
    (void)arg;
    (void)code;
    (void)why;
    if (client.link == l)
        client.link = NULL;
    client.down = true;
}

static void cli_dial_failed(void *arg, void *cookie, const char *why)
{
    (void)arg;
    (void)cookie;
    fprintf(stderr, "link-bench: a dial failed: %s\n", why);
    exit(1);
}

/* C fresh links, one at a time, after a few that are not counted (the first pays for loading
 * what OpenSSL loads lazily) */
static void bench_connects(const char *addr, size_t c)
{
    uint8_t buf[MSG] = {0};
    double *up = calloc(c, sizeof(*up)), *pong = calloc(c, sizeof(*pong)), t0, t_up;

    for (size_t i = 0; i < 5 + c; i++) {
        size_t want = client.got + 1;

        client.down = false;
        t0 = now_s();
        net_link_dial(client.loop, addr, NULL);
        while (client.link == NULL)
            net_loop_once(client.loop, true);
        t_up = now_s();
        net_link_send(client.link, buf, MSG);
        while (client.got < want)
            net_loop_once(client.loop, true);
        if (i >= 5) {
            up[i - 5] = t_up - t0;
            pong[i - 5] = now_s() - t0;
        }
        net_link_close(client.link, NET_CLOSE_NORMAL, "done");
        while (!client.down)
            net_loop_once(client.loop, true);
    }
    qsort(up, c, sizeof(*up), cmp_double);
    qsort(pong, c, sizeof(*pong), cmp_double);
    printf("connect_up_p50 %.3f ms\nconnect_up_max %.3f ms\n", up[c / 2] * 1e3, up[c - 1] * 1e3);
    printf("connect_pong_p50 %.3f ms\nconnect_pong_max %.3f ms\n", pong[c / 2] * 1e3,
           pong[c - 1] * 1e3);
    free(up);
    free(pong);
}

static void bench_wss(const struct sotto_env *env, const char *cert, const char *key, size_t r,
                      size_t c)
{
    struct net_link_params sp = {.listen = "127.0.0.1:0",
                                 .cert_path = cert,
                                 .key_path = key,
                                 .ev = {.frame = srv_frame}};
    struct net_link_params cp = {.cert_path = cert,
                                 .key_path = key,
                                 .ev = {.up = cli_up,
                                        .frame = cli_frame,
                                        .down = cli_down,
                                        .dial_failed = cli_dial_failed}};
    uint8_t buf[MSG] = {0};
    char addr[32];
    pthread_t th;
    double *lat = calloc(r, sizeof(*lat)), t0, start = 0;

    if (net_loop_create(&server.loop, env, &sp) != SOTTO_OK ||
        net_loop_create(&client.loop, env, &cp) != SOTTO_OK)
        exit(1);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", net_loop_port(server.loop));
    pthread_create(&th, NULL, srv_run, NULL);
    net_link_dial(client.loop, addr, NULL);
    while (client.link == NULL)
        net_loop_once(client.loop, true);
    for (size_t i = 0; i < WARMUP + r; i++) {
        size_t want = client.got + 1;

        if (i == WARMUP)
            start = now_s();
        t0 = now_s();
        net_link_send(client.link, buf, MSG);
        while (client.got < want)
            net_loop_once(client.loop, true);
        if (i >= WARMUP)
            lat[i - WARMUP] = now_s() - t0;
    }
    report("wss", lat, r, now_s() - start);
    if (c > 0) {
        net_link_close(client.link, NET_CLOSE_NORMAL, "done");
        while (!client.down)
            net_loop_once(client.loop, true);
        bench_connects(addr, c);
    }
    net_loop_stop(server.loop);
    pthread_join(th, NULL);
    net_loop_free(client.loop);
    net_loop_free(server.loop);
    free(lat);
}

int main(int argc, char **argv)
{
    struct sotto_log log;
    struct sotto_env env;
    size_t r, c = 0;

    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: link-bench CERT KEY ROUNDS [CONNECTS]\n");
        return 2;
    }
    r = (size_t)strtoul(argv[3], NULL, 10);
    if (argc == 5)
        c = (size_t)strtoul(argv[4], NULL, 10);
    sotto_log_init(&log);
    sotto_env_init(&env, &log);
    bench_tcp(r);
    bench_wss(&env, argv[1], argv[2], r, c);
    return 0;
}
