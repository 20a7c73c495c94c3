/* bench/link_memory_bench.c: what an open peer link costs a node in memory (issue 5: RSS per
 * link with 1,000 links open), beside the same number of links to our link layer alone.
 *
 * node mode: opens N peer links from this one process to a running `sotto daemon`, each with an
 *   identity of its own, generated here, and each proving it as a node does (docs/PROTOCOL.md,
 *   "Peer links v1"): our HELLO signs the link's TLS exporter value; the daemon's HELLO is
 *   checked; the daemon's CARD, which it sends only once it has accepted our proof, marks the
 *   link as proven; then we send our own signed CARD (unless "hello" is given), so the daemon
 *   holds N proven links with N (unverified) contacts, as with N real peers. At most W links are
 *   unproven at once (the daemon closes links beyond its own cap of unproven ones).
 * raw mode: forks a server that is our link layer alone (src/net/link.c: libwebsockets, TLS 1.3,
 *   an echo of every frame, no node logic) and opens N links to it, each with one 100-byte
 *   ping-pong: the baseline.
 * Reads the server's VmRSS from /proc before the first link, at N/2 and N links, IDLE_MS later,
 * and after closing them all; also the server's CPU use over IDLE_MS with no link and with the N
 * links open and idle.
 * Usage: link-memory-bench CERT KEY N raw
 *        link-memory-bench CERT KEY N ADDR PID [hello]
 * Prints "name value unit" lines for bench/link_memory.py. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "e2e/e2e.h"
#include "identity/card.h"
#include "identity/number.h"
#include "net/link.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "util/bytes.h"
#include "wire/wire.h"

#define WINDOW    32   /* links dialed and not yet proven, at most */
#define SETTLE_MS 1500 /* quiet time before reading RSS */
#define IDLE_MS   5000 /* the window in which the server's idle CPU is measured */
#define PING      100

enum link_state { DIALING, UP, READY, DOWN };

struct blink {
    struct net_link *l;
    size_t idx;
    enum link_state state;
};

struct bench {
    const struct sotto_env *env;
    struct net_loop *loop;
    struct e2e_ctx *e2e;
    bool raw, cards;
    size_t n, next, in_flight, ready, failed, lost;
    struct blink *links;
    uint8_t (*pub)[E2E_KEY_LEN];
    uint8_t *priv; /* n * E2E_PRIV_LEN, sodium_malloc: throw-away keys, kept as keys are */
    uint8_t **card;
    size_t *card_len;
    char why[160]; /* the last refusal */
    struct net_timer timer;
    bool timer_fired;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    long v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* utime + stime of `pid`, in seconds */
static double cpu_s(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    size_t len;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    p = strrchr(buf, ')'); /* the name may hold spaces */
    if (p == NULL)
        return -1;
    /* after ")": state (field 3) ... utime is field 14, stime 15 */
    p += 2;
    for (int field = 3; field < 14 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    if (p == NULL)
        return -1;
    ut = strtoul(p, &p, 10);
    st = strtoul(p, NULL, 10);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long open_files_limit(pid_t pid)
{
    char path[64], line[256];
    long v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "Max open files", 14) == 0) {
            v = strtol(line + 14, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static enum sotto_err send_frame(struct net_link *l, const struct wire_frame *f)
{
    uint8_t buf[WIRE_HEADER_LEN + WIRE_CARD_MAX];
    size_t len = 0;
    enum sotto_err rc = wire_frame_encode(f, buf, sizeof(buf), &len);

    return rc == SOTTO_OK ? net_link_send(l, buf, len) : rc;
}

static void settled(struct bench *b, struct blink *bl)
{
    bl->state = READY;
    b->ready++;
    b->in_flight--;
}

static void gone(struct bench *b, struct blink *bl, const char *why)
{
    if (bl->state == READY) {
        b->lost++;
    } else {
        b->failed++;
        b->in_flight--;
    }
    bl->state = DOWN;
    snprintf(b->why, sizeof(b->why), "%s", why);
}

static void on_up(void *arg, struct net_link *l, void *cookie)
{
    struct bench *b = arg;
    struct blink *bl = cookie;
    struct wire_frame f = {.type = WIRE_HELLO};
    uint8_t ping[PING] = {0};

    bl->l = l;
    bl->state = UP;
    net_link_set_user(l, bl);
    if (b->raw) {
        (void)net_link_send(l, ping, sizeof(ping));
        return;
    }
    f.hello.version_min = WIRE_VERSION_MIN;
    f.hello.version_max = WIRE_VERSION_MAX;
    f.hello.role = WIRE_ROLE_DIALER;
    memcpy(f.hello.key, b->pub[bl->idx], E2E_KEY_LEN);
    if (wire_hello_sign(b->e2e, b->priv + bl->idx * E2E_PRIV_LEN, net_link_exporter(l), &f.hello) !=
                SOTTO_OK ||
        send_frame(l, &f) != SOTTO_OK)
        net_link_close(l, NET_CLOSE_GOING_AWAY, "cannot send our HELLO");
}

static void on_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    struct bench *b = arg;
    struct blink *bl = net_link_user(l);
    struct wire_frame f, cf = {.type = WIRE_CARD};
    struct reader r;

    if (bl == NULL || bl->state != UP)
        return;
    if (b->raw) {
        settled(b, bl);
        return;
    }
    reader_init(&r, data, len);
    if (wire_frame_decode(&f, &r) != SOTTO_OK) {
        net_link_close(l, NET_CLOSE_PROTOCOL, "malformed frame");
        return;
    }
    if (f.type == WIRE_HELLO) {
        if (wire_hello_verify(&f.hello, net_link_exporter(l), WIRE_ROLE_LISTENER) != SOTTO_OK)
            net_link_close(l, NET_CLOSE_POLICY, "the daemon's proof does not verify");
        return;
    }
    if (f.type != WIRE_CARD)
        return;
    /* the daemon sends its card only once it accepted our HELLO: the link is proven */
    settled(b, bl);
    if (b->cards) {
        cf.card.bytes = b->card[bl->idx];
        cf.card.len = b->card_len[bl->idx];
        (void)send_frame(l, &cf);
    }
}

static void on_down(void *arg, struct net_link *l, unsigned code, const char *why)
{
    struct bench *b = arg;
    struct blink *bl = net_link_user(l);
    char text[160];

    if (bl == NULL || bl->state == DOWN)
        return;
    snprintf(text, sizeof(text), "closed %u %s", code, why);
    gone(b, bl, text);
    bl->l = NULL;
}

static void on_dial_failed(void *arg, void *cookie, const char *why)
{
    struct bench *b = arg;
    struct blink *bl = cookie;
    char text[160];

    snprintf(text, sizeof(text), "dial failed: %s", why);
    gone(b, bl, text);
}

static void timer_cb(struct net_timer *t)
{
    struct bench *b = (struct bench *)((char *)t - offsetof(struct bench, timer));

    b->timer_fired = true;
}

/* Runs the loop for `ms`. By the clock too: libwebsockets 4.1 may wake a little before the
 * timer is due and then sleep its default 30 s (src/node/client.c does the same). */
static void run_for(struct bench *b, uint64_t ms)
{
    double end = now_s() + (double)ms / 1e3;

    b->timer_fired = false;
    while (!b->timer_fired && now_s() < end) {
        net_timer_arm(b->loop, &b->timer, (uint64_t)((end - now_s()) * 1e3) + 1);
        net_loop_once(b->loop, true);
    }
    net_timer_cancel(&b->timer);
}

/* Opens links until `upto` have settled (proven or failed), WINDOW at a time. */
static void open_links(struct bench *b, const char *addr, size_t upto)
{
    double end = now_s() + 120;

    while (b->ready + b->failed + b->lost < upto && now_s() < end) {
        while (b->in_flight < WINDOW && b->next < upto) {
            struct blink *bl = &b->links[b->next];

            bl->idx = b->next++;
            bl->state = DIALING;
            b->in_flight++;
            if (net_link_dial(b->loop, addr, bl) != SOTTO_OK) {
                gone(b, bl, "cannot dial");
                break;
            }
        }
        net_timer_arm(b->loop, &b->timer, 100);
        net_loop_once(b->loop, true);
        net_timer_cancel(&b->timer);
    }
}

static void close_links(struct bench *b)
{
    double end = now_s() + 30;
    size_t open = 0;

    for (size_t i = 0; i < b->next; i++)
        if (b->links[i].l != NULL && b->links[i].state != DOWN) {
            net_link_close(b->links[i].l, NET_CLOSE_NORMAL, "bench done");
            open++;
        }
    while (open > 0 && now_s() < end) {
        open = 0;
        for (size_t i = 0; i < b->next; i++)
            open += b->links[i].state != DOWN;
        if (open > 0)
            run_for(b, 50);
    }
}

static int make_identities(struct bench *b)
{
    b->pub = calloc(b->n, sizeof(*b->pub));
    b->priv = sodium_malloc(b->n * E2E_PRIV_LEN);
    b->card = calloc(b->n, sizeof(*b->card));
    b->card_len = calloc(b->n, sizeof(*b->card_len));
    if (b->pub == NULL || b->priv == NULL || b->card == NULL || b->card_len == NULL)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        struct identity_card c = {.version = CARD_VERSION};
        uint8_t *priv = b->priv + i * E2E_PRIV_LEN;

        if (e2e_identity_generate(b->e2e, b->pub[i], priv) != SOTTO_OK)
            return -1;
        if (!b->cards)
            continue;
        memcpy(c.key, b->pub[i], E2E_KEY_LEN);
        c.number = identity_number(c.key);
        snprintf(c.name, sizeof(c.name), "bench peer %zu", i);
        c.created_s = (uint64_t)time(NULL);
        if (identity_card_sign_bytes(b->e2e, b->env, &c, priv, &b->card[i], &b->card_len[i]) !=
            SOTTO_OK)
            return -1;
    }
    return 0;
}

/* raw mode: our link layer alone, echoing, in a child process whose RSS is read */
static void echo_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    (void)arg;
    (void)net_link_send(l, data, len);
}

static pid_t raw_server(const struct sotto_env *env, const char *cert, const char *key, char *addr,
                        size_t cap)
{
    struct net_link_params sp = {.listen = "127.0.0.1:0",
                                 .cert_path = cert,
                                 .key_path = key,
                                 .ev = {.frame = echo_frame}};
    struct net_loop *loop = NULL;
    unsigned port = 0;
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (net_loop_create(&loop, env, &sp) != SOTTO_OK)
            _exit(1);
        port = net_loop_port(loop);
        if (write(fds[1], &port, sizeof(port)) != sizeof(port))
            _exit(1);
        net_loop_run(loop); /* until the parent kills it */
        _exit(0);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], &port, sizeof(port)) != sizeof(port)) {
        close(fds[0]);
        return -1;
    }
    close(fds[0]);
    snprintf(addr, cap, "127.0.0.1:%u", port);
    return pid;
}

static void report(struct bench *b, pid_t pid, const char *addr)
{
    long idle, half, full, later, closed, anon_idle, anon_full;
    double c0, c1, c2, c3;

    run_for(b, SETTLE_MS);
    idle = status_kib(pid, "VmRSS");
    anon_idle = status_kib(pid, "RssAnon");
    c0 = cpu_s(pid);
    run_for(b, IDLE_MS);
    c1 = cpu_s(pid);
    open_links(b, addr, b->n / 2);
    run_for(b, SETTLE_MS);
    half = status_kib(pid, "VmRSS");
    open_links(b, addr, b->n);
    run_for(b, SETTLE_MS);
    full = status_kib(pid, "VmRSS");
    anon_full = status_kib(pid, "RssAnon");
    c2 = cpu_s(pid);
    run_for(b, IDLE_MS);
    c3 = cpu_s(pid);
    later = status_kib(pid, "VmRSS");
    printf("links_proven %zu links\nlinks_failed %zu links\nlinks_lost %zu links\n", b->ready,
           b->failed, b->lost);
    if (b->why[0] != '\0')
        printf("last_refusal %s\n", b->why);
    printf("fd_limit %ld files\n", open_files_limit(pid));
    printf("rss_idle %ld KiB\nrss_half %ld KiB\nrss_full %ld KiB\nrss_later %ld KiB\n", idle, half,
           full, later);
    printf("anon_idle %ld KiB\nanon_full %ld KiB\n", anon_idle, anon_full);
    printf("cpu_idle0 %.1f %%\ncpu_idle %.1f %%\n", (c1 - c0) * 100.0 / (IDLE_MS / 1e3),
           (c3 - c2) * 100.0 / (IDLE_MS / 1e3));
    close_links(b);
    run_for(b, SETTLE_MS);
    closed = status_kib(pid, "VmRSS");
    printf("rss_closed %ld KiB\n", closed);
}

int main(int argc, char **argv)
{
    struct sotto_log log;
    struct sotto_env env;
    struct bench b = {0};
    struct net_link_params cp = {0};
    struct rlimit rl;
    char addr[NET_ADDR_TEXT_MAX] = "";
    pid_t pid;
    double t0;

    if (argc < 5 || (strcmp(argv[4], "raw") == 0 ? argc != 5 : argc != 6 && argc != 7)) {
        fprintf(stderr, "usage: link-memory-bench CERT KEY N raw\n"
                        "       link-memory-bench CERT KEY N ADDR PID [hello]\n");
        return 2;
    }
    sotto_log_init(&log);
    log.level = SOTTO_LOG_ERROR;
    sotto_env_init(&env, &log);
    if (sotto_env_global_init() != 0)
        return 1;
    /* one descriptor per link here too */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    b.env = &env;
    b.n = (size_t)strtoul(argv[3], NULL, 10);
    b.raw = strcmp(argv[4], "raw") == 0;
    b.cards = !b.raw && !(argc == 7 && strcmp(argv[6], "hello") == 0);
    b.links = calloc(b.n > 0 ? b.n : 1, sizeof(*b.links));
    b.timer.cb = timer_cb;
    if (b.raw) {
        pid = raw_server(&env, argv[1], argv[2], addr, sizeof(addr));
        if (pid <= 0)
            return fprintf(stderr, "link-memory-bench: the raw server did not start\n"), 1;
    } else {
        snprintf(addr, sizeof(addr), "%s", argv[4]);
        pid = (pid_t)strtol(argv[5], NULL, 10);
        if (e2e_ctx_create(&b.e2e, &env) != SOTTO_OK)
            return 1;
        t0 = now_s();
        if (make_identities(&b) != 0)
            return fprintf(stderr, "link-memory-bench: cannot make identities\n"), 1;
        printf("identities %.0f ms\n", (now_s() - t0) * 1e3);
    }
    cp.cert_path = argv[1];
    cp.key_path = argv[2];
    cp.ev = (struct net_link_events){
            .up = on_up, .frame = on_frame, .down = on_down, .dial_failed = on_dial_failed};
    cp.arg = &b;
    if (net_loop_create(&b.loop, &env, &cp) != SOTTO_OK)
        return 1;
    t0 = now_s();
    report(&b, pid, addr);
    printf("elapsed %.1f s\n", now_s() - t0);
    net_loop_free(b.loop);
    if (b.raw)
        kill(pid, SIGKILL);
    for (size_t i = 0; b.card != NULL && i < b.n; i++)
        sotto_free(&env, b.card[i]);
    if (b.priv != NULL)
        sodium_free(b.priv);
    e2e_ctx_free(b.e2e);
    free(b.card);
    free(b.card_len);
    free(b.pub);
    free(b.links);
    return 0;
}
