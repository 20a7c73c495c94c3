/* src/directory/supervise.c: the parent. Signals arrive through a signalfd, so that the
 * parent needs no handler and no global state: it blocks them before forking, and each
 * worker unblocks the ones it handles. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "directory/supervise.h"
#include "directory/tls.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define READY_TIMEOUT_MS  60000 /* a PostgreSQL far away may take a while */
#define STOP_TIMEOUT_MS   10000
#define RESTARTS_MAX      10 /* worker deaths tolerated per RESTART_WINDOW_MS */
#define RESTART_WINDOW_MS 60000

struct supervisor {
    const struct dir_config *cfg; /* borrowed */
    const struct sotto_env *env;  /* borrowed */
    const struct dir_tls *tls;    /* borrowed */
    struct dir_listen addr;
    int reserve_fd; /* holds the port while workers come and go */
    int sig_fd;
    int ready_rd, ready_wr;
    pid_t parent;
    pid_t pids[DIR_WORKERS_MAX]; /* 0: no worker in that slot */
    uint64_t window_start_ms;
    unsigned deaths;
};

static enum sotto_err split_spec(const char *spec, char *host, size_t host_len, char **port)
{
    const char *colon = strrchr(spec, ':');
    size_t len;

    if (colon == NULL || colon[1] == '\0')
        return SOTTO_EINVAL;
    len = (size_t)(colon - spec);
    if (spec[0] == '[') {
        if (len < 3 || spec[len - 1] != ']')
            return SOTTO_EINVAL;
        spec++;
        len -= 2;
    }
    if (len == 0 || len >= host_len)
        return SOTTO_EINVAL;
    memcpy(host, spec, len);
    host[len] = '\0';
    *port = (char *)colon + 1;
    return SOTTO_OK;
}

static void addr_text(struct dir_listen *l)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (getnameinfo((struct sockaddr *)&l->ss, l->len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(l->text, sizeof(l->text), "?");
        return;
    }
    snprintf(l->text, sizeof(l->text), l->ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
             port);
}

enum sotto_err dir_listen_resolve(const char *spec, struct dir_listen *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char host[NI_MAXHOST], *port, *end = NULL;
    unsigned long n;

    memset(out, 0, sizeof(*out));
    if (split_spec(spec, host, sizeof(host), &port) != SOTTO_OK)
        return SOTTO_EINVAL;
    errno = 0;
    n = strtoul(port, &end, 10);
    if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 || n > 65535)
        return SOTTO_EINVAL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return SOTTO_ENOENT;
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    addr_text(out);
    return SOTTO_OK;
}

/* Binds (without listening) a socket in the SO_REUSEPORT group, so that port 0 becomes one
 * port all workers share, and nobody else takes it while a worker restarts. */
static enum sotto_err reserve_port(struct supervisor *s)
{
    const int one = 1;
    int fd = socket(s->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&s->addr.ss, s->addr.len) != 0 ||
        getsockname(fd, (struct sockaddr *)&s->addr.ss, &s->addr.len) != 0) {
        log_error(s->env->log, "cannot bind %s: %s", s->cfg->listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return SOTTO_EIO;
    }
    s->reserve_fd = fd;
    addr_text(&s->addr);
    return SOTTO_OK;
}

static enum sotto_err signals_open(struct supervisor *s)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
        (s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        log_error(s->env->log, "signals: %s", strerror(errno));
        return SOTTO_EIO;
    }
    return SOTTO_OK;
}

/* In the child, before it becomes a worker: it must not outlive the parent. */
static bool child_setup(struct supervisor *s, int ready_fd)
{
    close(s->reserve_fd);
    close(s->sig_fd);
    if (s->ready_rd >= 0)
        close(s->ready_rd);
    if (s->ready_wr >= 0 && s->ready_wr != ready_fd)
        close(s->ready_wr);
    s->reserve_fd = s->sig_fd = s->ready_rd = s->ready_wr = -1;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    return getppid() == s->parent; /* else the parent died before prctl */
}

/* Forks worker `i`. In the parent: its pid, or -1. In the child: 0, after the worker ran,
 * with its exit code in *child_rc. */
static pid_t spawn(struct supervisor *s, unsigned i, int ready_fd, int *child_rc)
{
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        log_error(s->env->log, "fork: %s", strerror(errno));
    if (pid != 0)
        return pid;
    *child_rc = 1;
    if (child_setup(s, ready_fd))
        *child_rc = dir_worker_main(s->cfg, s->env, s->tls->ctx, (struct sockaddr *)&s->addr.ss,
                                    s->addr.len, i, ready_fd);
    return 0;
}

static void kill_all(struct supervisor *s, int sig)
{
    for (unsigned i = 0; i < s->cfg->workers; i++)
        if (s->pids[i] > 0)
            kill(s->pids[i], sig);
}

static void describe_death(const struct supervisor *s, unsigned i, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        log_warn(s->env->log, "worker %u (pid %ld) was killed by signal %d", i, (long)pid,
                 WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        log_warn(s->env->log, "worker %u (pid %ld) exited with %d", i, (long)pid,
                 WEXITSTATUS(status));
}

/* Reaps every dead child; returns how many workers died, and sets *failed when one did not
 * exit cleanly. Their slots become 0. */
static unsigned reap(struct supervisor *s, bool *failed)
{
    unsigned n = 0;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned i = 0; i < s->cfg->workers; i++) {
            if (s->pids[i] != pid)
                continue;
            describe_death(s, i, pid, status);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                *failed = true;
            s->pids[i] = 0;
            n++;
        }
    }
    return n;
}

/* The next signal from the signalfd, or 0 when none came within timeout_ms. */
static int next_signal(struct supervisor *s, int timeout_ms)
{
    struct pollfd p = {.fd = s->sig_fd, .events = POLLIN};
    struct signalfd_siginfo si;

    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    if (read(s->sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    return (int)si.ssi_signo;
}

static unsigned alive(const struct supervisor *s)
{
    unsigned n = 0;

    for (unsigned i = 0; i < s->cfg->workers; i++)
        n += s->pids[i] > 0;
    return n;
}

static void stop_all(struct supervisor *s)
{
    uint64_t deadline = sotto_now_ms(s->env) + STOP_TIMEOUT_MS;
    bool failed = false;

    kill_all(s, SIGTERM);
    while (alive(s) > 0 && sotto_now_ms(s->env) < deadline) {
        next_signal(s, 100);
        reap(s, &failed);
    }
    if (alive(s) > 0) {
        log_warn(s->env->log, "%u worker(s) did not stop within %d s: killing them", alive(s),
                 STOP_TIMEOUT_MS / 1000);
        kill_all(s, SIGKILL);
        for (unsigned i = 0; i < s->cfg->workers; i++)
            if (s->pids[i] > 0 && waitpid(s->pids[i], NULL, 0) == s->pids[i])
                s->pids[i] = 0;
    }
}

static enum sotto_err ready_read(struct supervisor *s, unsigned *ready)
{
    char buf[DIR_WORKERS_MAX];
    ssize_t n = read(s->ready_rd, buf, sizeof(buf));

    if (n > 0)
        *ready += (unsigned)n;
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        return SOTTO_EIO; /* every worker is gone */
    return SOTTO_OK;
}

/* Waits until every worker wrote its ready byte; fails when one dies first. */
static enum sotto_err wait_ready(struct supervisor *s)
{
    uint64_t deadline = sotto_now_ms(s->env) + READY_TIMEOUT_MS;
    unsigned ready = 0;
    bool failed = false;

    while (ready < s->cfg->workers) {
        struct pollfd p[2] = {{.fd = s->ready_rd, .events = POLLIN},
                              {.fd = s->sig_fd, .events = POLLIN}};
        uint64_t now = sotto_now_ms(s->env);
        if (now >= deadline || poll(p, 2, (int)(deadline - now)) < 0)
            return SOTTO_ENET;
        if ((p[0].revents & (POLLIN | POLLHUP)) && ready_read(s, &ready) != SOTTO_OK)
            return SOTTO_EIO;
        if (!(p[1].revents & POLLIN))
            continue;
        int sig = next_signal(s, 0);
        if (sig == SIGTERM || sig == SIGINT)
            return SOTTO_ECANCELED;
        if (sig == SIGCHLD && reap(s, &failed) > 0)
            return SOTTO_EIO;
    }
    return SOTTO_OK;
}

static void print_start(const struct supervisor *s, const char *backend_kind)
{
    printf("listening on %s\n", s->addr.text);
    printf("pin sha256:%s\n", s->tls->pin);
    printf("backend %s\n", backend_kind);
    printf("workers %u\n", s->cfg->workers);
    fflush(stdout);
    log_info(s->env->log, "serving https://%s with %u worker(s) on %s; pin sha256:%s", s->addr.text,
             s->cfg->workers, backend_kind, s->tls->pin);
}

/* Too many deaths in a window means something is wrong that restarting will not fix. */
static bool restart_allowed(struct supervisor *s, unsigned died)
{
    uint64_t now = sotto_now_ms(s->env);

    if (now - s->window_start_ms > RESTART_WINDOW_MS) {
        s->window_start_ms = now;
        s->deaths = 0;
    }
    s->deaths += died;
    return s->deaths <= RESTARTS_MAX;
}

/* Restarts the dead workers. Returns 0 in the parent; in a restarted child, 1 with its exit
 * code in *child_rc. */
static int restart_dead(struct supervisor *s, int *child_rc)
{
    for (unsigned i = 0; i < s->cfg->workers; i++) {
        if (s->pids[i] > 0)
            continue;
        pid_t pid = spawn(s, i, -1, child_rc);
        if (pid == 0)
            return 1;
        s->pids[i] = pid > 0 ? pid : 0;
        if (pid > 0)
            log_info(s->env->log, "worker %u restarted (pid %ld)", i, (long)pid);
    }
    return 0;
}

/* Serves until told to stop. Returns the exit code; *is_worker in a restarted child. */
static int serve(struct supervisor *s, bool *is_worker)
{
    int child_rc = 0;

    for (;;) {
        bool failed = false;
        int sig = next_signal(s, 1000);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info(s->env->log, "signal %d: stopping", sig);
            stop_all(s);
            return 0;
        }
        unsigned died = reap(s, &failed);
        if (died > 0 && !restart_allowed(s, died)) {
            log_error(s->env->log, "workers keep dying: stopping");
            stop_all(s);
            return 1;
        }
        if (restart_dead(s, &child_rc) != 0) {
            *is_worker = true;
            return child_rc;
        }
    }
}

/* Forks every worker and waits for them. Returns -1 in the parent when they all serve;
 * otherwise an exit code (and *is_worker in a child). */
static int start(struct supervisor *s, bool *is_worker)
{
    int child_rc = 0;
    enum sotto_err rc;

    for (unsigned i = 0; i < s->cfg->workers; i++) {
        pid_t pid = spawn(s, i, s->ready_wr, &child_rc);
        if (pid == 0) {
            *is_worker = true;
            return child_rc;
        }
        s->pids[i] = pid > 0 ? pid : 0;
    }
    close(s->ready_wr);
    s->ready_wr = -1;
    rc = alive(s) == s->cfg->workers ? wait_ready(s) : SOTTO_EIO;
    if (rc == SOTTO_OK)
        return -1;
    if (rc != SOTTO_ECANCELED)
        log_error(s->env->log, "the workers did not start: see the messages above");
    stop_all(s);
    return rc == SOTTO_ECANCELED ? 0 : 1;
}

static void supervisor_close(struct supervisor *s)
{
    int fds[] = {s->reserve_fd, s->sig_fd, s->ready_rd, s->ready_wr};

    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

int dir_supervise(const struct dir_config *cfg, const struct sotto_env *env,
                  const struct dir_tls *tls, const char *backend_kind, bool *is_worker)
{
    struct supervisor s = {.cfg = cfg,
                           .env = env,
                           .tls = tls,
                           .parent = getpid(),
                           .reserve_fd = -1,
                           .sig_fd = -1,
                           .ready_rd = -1,
                           .ready_wr = -1};
    int fds[2], code = 1;

    *is_worker = false;
    s.window_start_ms = sotto_now_ms(env);
    if (cfg->workers == 0 || cfg->workers > DIR_WORKERS_MAX)
        return 1;
    if (dir_listen_resolve(cfg->listen, &s.addr) != SOTTO_OK) {
        log_error(env->log, "cannot resolve %s", cfg->listen);
        return 1;
    }
    if (reserve_port(&s) != SOTTO_OK || signals_open(&s) != SOTTO_OK || pipe(fds) != 0)
        goto out;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    s.ready_rd = fds[0];
    s.ready_wr = fds[1];
    code = start(&s, is_worker);
    if (code == -1) {
        print_start(&s, backend_kind);
        code = serve(&s, is_worker);
    }
out:
    supervisor_close(&s);
    return code;
}
