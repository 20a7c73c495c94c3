/* tests/unit/link/test_link.c: peer links through a real libwebsockets loop over TLS 1.3 on
 * loopback. One loop listens and dials itself, so both ends of each link are in this process:
 * what one end sends, the other must receive whole; both ends must see the same exporter
 * value; a message over the cap must close the link with 1009 before it is buffered. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "failalloc.h"
#include "net/link.h"
#include "util/tlscert.h"

#define DEADLINE_S 20
#define MAX_LINKS  4

struct seen {
    struct net_link *links[MAX_LINKS];
    int n_up, n_down, n_failed;
    struct net_link *dialed, *accepted;
    unsigned down_code[MAX_LINKS];
    bool down_dialed[MAX_LINKS];
    char failed_why[128];
    uint8_t *got[2]; /* [dialed end, accepted end]: the last frame each received */
    size_t got_len[2];
    int n_frames[2];
};

static struct failalloc fa;
static struct sotto_env env;
static struct net_loop *loop;
static struct seen seen;
static char dir[64], cert[96], key[96];

static void on_up(void *arg, struct net_link *l, void *cookie)
{
    struct seen *s = arg;

    if (net_link_dialed(l)) {
        cr_assert_eq(cookie, (void *)&seen, "the dialer's cookie comes back");
        s->dialed = l;
    } else {
        cr_assert_null(cookie);
        s->accepted = l;
    }
    s->links[s->n_up++ % MAX_LINKS] = l;
}

static void on_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    struct seen *s = arg;
    int end = net_link_dialed(l) ? 0 : 1;

    free(s->got[end]);
    s->got[end] = malloc(len > 0 ? len : 1);
    cr_assert_not_null(s->got[end]);
    memcpy(s->got[end], data, len);
    s->got_len[end] = len;
    s->n_frames[end]++;
}

static void on_dial_failed(void *arg, void *cookie, const char *why)
{
    struct seen *s = arg;

    cr_assert_eq(cookie, (void *)&seen);
    snprintf(s->failed_why, sizeof(s->failed_why), "%s", why);
    s->n_failed++;
}

static void on_down(void *arg, struct net_link *l, unsigned code, const char *why)
{
    struct seen *s = arg;

    (void)why;
    s->down_code[s->n_down % MAX_LINKS] = code;
    s->down_dialed[s->n_down % MAX_LINKS] = net_link_dialed(l);
    s->n_down++;
    if (l == s->dialed)
        s->dialed = NULL;
    if (l == s->accepted)
        s->accepted = NULL;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the loop until `cond` holds, failing the test past the deadline. */
#define RUN_UNTIL(cond)                                                                            \
    do {                                                                                           \
        double until_ = now_s() + DEADLINE_S;                                                      \
        while (!(cond)) {                                                                          \
            cr_assert(now_s() < until_, "timed out waiting for " #cond);                           \
            net_loop_once(loop, true);                                                             \
        }                                                                                          \
    } while (0)

static void start(size_t msg_max)
{
    struct net_link_params p = {
            .listen = "127.0.0.1:0",
            .cert_path = cert,
            .key_path = key,
            .msg_max = msg_max,
            .ev = {.up = on_up, .frame = on_frame, .dial_failed = on_dial_failed, .down = on_down},
            .arg = &seen,
    };
    bool generated;

    failalloc_env(&env, &fa, 0);
    snprintf(dir, sizeof(dir), "/tmp/sotto-link-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    cr_assert_eq(tls_self_signed_ensure(&env, cert, key, "sotto-node", &generated), SOTTO_OK);
    cr_assert(generated);
    memset(&seen, 0, sizeof(seen));
    cr_assert_eq(net_loop_create(&loop, &env, &p), SOTTO_OK);
    cr_assert_gt(net_loop_port(loop), 0);
}

static void stop(void)
{
    net_loop_free(loop);
    loop = NULL;
    free(seen.got[0]);
    free(seen.got[1]);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    cr_assert_eq(fa.live, 0, "every allocation is freed");
}

static void self_link(void)
{
    char addr[32];

    snprintf(addr, sizeof(addr), "127.0.0.1:%u", net_loop_port(loop));
    cr_assert_eq(net_link_dial(loop, addr, &seen), SOTTO_OK);
    RUN_UNTIL(seen.dialed != NULL && seen.accepted != NULL);
}

Test(link, both_ends_get_the_same_exporter_value_and_frames_arrive_whole, .fini = stop)
{
    uint8_t small[100], *big = malloc(100000);
    const uint8_t zero[NET_EXPORTER_LEN] = {0};

    start(0);
    self_link();
    cr_assert_arr_eq(net_link_exporter(seen.dialed), net_link_exporter(seen.accepted),
                     NET_EXPORTER_LEN);
    cr_assert_arr_neq(net_link_exporter(seen.dialed), zero, NET_EXPORTER_LEN);
    cr_assert(strncmp(net_link_peer(seen.accepted), "127.0.0.1:", 10) == 0, "%s",
              net_link_peer(seen.accepted));

    for (size_t i = 0; i < sizeof(small); i++)
        small[i] = (uint8_t)i;
    for (size_t i = 0; i < 100000; i++)
        big[i] = (uint8_t)(i * 7);
    cr_assert_eq(net_link_send(seen.dialed, small, sizeof(small)), SOTTO_OK);
    RUN_UNTIL(seen.n_frames[1] == 1);
    cr_assert_eq(seen.got_len[1], sizeof(small));
    cr_assert_arr_eq(seen.got[1], small, sizeof(small));
    /* a message bigger than one read arrives as one frame, in order after others */
    cr_assert_eq(net_link_send(seen.accepted, small, 10), SOTTO_OK);
    cr_assert_eq(net_link_send(seen.accepted, big, 100000), SOTTO_OK);
    RUN_UNTIL(seen.n_frames[0] == 2);
    cr_assert_eq(seen.got_len[0], 100000);
    cr_assert_arr_eq(seen.got[0], big, 100000);
    cr_assert_eq(net_link_queued(seen.accepted), 0);
    free(big);

    net_link_close(seen.dialed, NET_CLOSE_NORMAL, "bye");
    RUN_UNTIL(seen.n_down == 2);
    cr_assert_eq(seen.dialed, NULL);
    cr_assert_eq(seen.accepted, NULL);
}

Test(link, a_message_over_the_cap_closes_the_link_with_1009, .fini = stop)
{
    uint8_t *big = calloc(1, 5000);
    struct net_link *sender;

    start(4096);
    self_link();
    sender = seen.dialed;
    /* the sender's own check refuses it */
    cr_assert_eq(net_link_send(sender, big, 5000), SOTTO_ETOOBIG);
    cr_assert_eq(net_link_send(sender, big, 4096), SOTTO_OK, "at the cap is fine");
    RUN_UNTIL(seen.n_frames[1] == 1);
    free(big);
}

Test(link, a_peer_sending_over_our_cap_is_closed_with_1009_and_nothing_is_delivered, .fini = stop)
{
    uint8_t *big = calloc(1, 20000);

    start(0);
    self_link();
    net_link_set_rx_max(seen.accepted, 4096);
    cr_assert_eq(net_link_send(seen.dialed, big, 4096), SOTTO_OK, "at the cap is fine");
    RUN_UNTIL(seen.n_frames[1] == 1);
    cr_assert_eq(net_link_send(seen.dialed, big, 20000), SOTTO_OK);
    RUN_UNTIL(seen.n_down == 2);
    cr_assert_eq(seen.n_frames[1], 1, "nothing of it reached the node");
    for (int i = 0; i < 2; i++)
        if (seen.down_dialed[i])
            cr_assert_eq(seen.down_code[i], NET_CLOSE_TOO_BIG, "the sender is told 1009");
    free(big);
}

Test(link, a_dial_to_a_closed_port_fails_and_says_so, .fini = stop)
{
    start(0);
    cr_assert_eq(net_link_dial(loop, "127.0.0.1:1", &seen), SOTTO_OK);
    RUN_UNTIL(seen.n_failed == 1);
    cr_assert_eq(seen.n_up, 0);
    cr_assert_neq(seen.failed_why[0], '\0');
}

Test(link, only_ip_literals_with_a_port_are_dialed, .fini = stop)
{
    const char *bad[] = {"localhost:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "[::1]",
                         "::1:80x",      "",          ":80",         "1.2.3.4:-1"};

    start(0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(net_link_dial(loop, bad[i], &seen), SOTTO_EINVAL, "%s", bad[i]);
}

/* The local API's upgrade, sent by hand: the status line of the answer. */
static int api_upgrade(unsigned port, const char *host, const char *origin)
{
    char req[512], resp[512];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), n, off = 0, code = 0;
    double until = now_s() + DEADLINE_S;

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    n = snprintf(req, sizeof(req),
                 "GET / HTTP/1.1\r\nHost: %s\r\n%s%s%sUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " NET_API_PROTOCOL
                 "\r\n\r\n",
                 host, origin != NULL ? "Origin: " : "", origin != NULL ? origin : "",
                 origin != NULL ? "\r\n" : "");
    cr_assert_eq(write(fd, req, (size_t)n), n);
    while (off < 12) {
        cr_assert(now_s() < until, "no answer to the upgrade");
        net_loop_once(loop, false);
        n = (int)read(fd, resp + off, sizeof(resp) - 1 - (size_t)off);
        if (n == 0)
            break; /* closed without an answer */
        if (n > 0)
            off += n;
    }
    resp[off] = '\0';
    if (off >= 12)
        sscanf(resp, "HTTP/1.1 %d", &code);
    close(fd);
    return code;
}

Test(link, the_local_api_takes_only_its_own_host_and_origin, .fini = stop)
{
    struct net_api_params ap = {.port = 0};
    char host[64], origin[64];
    unsigned port;

    start(0);
    cr_assert_eq(net_loop_listen_api(loop, &ap), SOTTO_OK);
    port = net_loop_api_port(loop);
    cr_assert_gt(port, 0);
    snprintf(host, sizeof(host), "127.0.0.1:%u", port);
    snprintf(origin, sizeof(origin), "http://localhost:%u", port);
    cr_assert_eq(api_upgrade(port, host, NULL), 101, "the CLI sends no Origin");
    cr_assert_eq(api_upgrade(port, host, origin), 101, "the node's own page");
    cr_assert_neq(api_upgrade(port, host, "http://evil.example"), 101);
    cr_assert_neq(api_upgrade(port, host, "null"), 101);
    snprintf(origin, sizeof(origin), "http://127.0.0.1:%u", port + 1);
    cr_assert_neq(api_upgrade(port, host, origin), 101, "another port is another origin");
    cr_assert_neq(api_upgrade(port, "rebound.example", NULL), 101, "DNS rebinding");
}

Test(link, a_client_of_the_local_api_exchanges_text_messages, .fini = stop)
{
    struct net_api_params ap = {
            .ev = {.up = on_up, .frame = on_frame, .dial_failed = on_dial_failed, .down = on_down},
            .arg = &seen,
    };
    const char *req = "{\"id\":1,\"op\":\"status\"}", *resp = "{\"id\":1,\"ok\":true}";

    start(0);
    cr_assert_eq(net_loop_listen_api(loop, &ap), SOTTO_OK);
    ap.port = net_loop_api_port(loop);
    cr_assert_eq(net_api_dial(loop, &ap, &seen), SOTTO_OK);
    RUN_UNTIL(seen.dialed != NULL && seen.accepted != NULL);
    cr_assert(net_link_is_api(seen.dialed) && net_link_is_api(seen.accepted));
    cr_assert_eq(net_link_send(seen.dialed, (const uint8_t *)req, strlen(req)), SOTTO_OK);
    RUN_UNTIL(seen.n_frames[1] == 1);
    cr_assert_eq(seen.got_len[1], strlen(req));
    cr_assert_arr_eq(seen.got[1], req, strlen(req));
    cr_assert_eq(net_link_send(seen.accepted, (const uint8_t *)resp, strlen(resp)), SOTTO_OK);
    RUN_UNTIL(seen.n_frames[0] == 1);
    cr_assert_arr_eq(seen.got[0], resp, strlen(resp));
    net_link_close(seen.dialed, NET_CLOSE_NORMAL, "done");
    RUN_UNTIL(seen.n_down == 2);
}

Test(link, a_client_of_a_node_that_is_not_running_is_told, .fini = stop)
{
    struct net_api_params ap = {
            .port = 1,
            .ev = {.up = on_up, .dial_failed = on_dial_failed},
            .arg = &seen,
    };

    start(0);
    cr_assert_eq(net_api_dial(loop, &ap, &seen), SOTTO_OK);
    RUN_UNTIL(seen.n_failed == 1);
}

Test(link, a_loop_without_a_certificate_dials_no_peer_link)
{
    struct net_link_params p = {0};
    struct net_loop *bare = NULL;

    failalloc_env(&env, &fa, 0);
    cr_assert_eq(net_loop_create(&bare, &env, &p), SOTTO_OK);
    cr_assert_eq(net_link_dial(bare, "127.0.0.1:8766", &seen), SOTTO_EINVAL,
                 "no TLS there: refused at once, never a link that cannot come up");
    net_loop_free(bare);
    cr_assert_eq(fa.live, 0);
}
