/* src/directory/main.c: sotto-directory, the registration and discovery server. Parses the
 * options, checks the database (running its migrations once, before any worker), makes or
 * loads the certificate, and hands over to the supervisor. Exit codes: 0 stopped cleanly,
 * 1 failed, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "directory/backend.h"
#include "directory/supervise.h"
#include "directory/tls.h"
#include "sotto/env.h"
#include "sotto/log.h"

#ifndef SOTTO_VERSION
#define SOTTO_VERSION "0.0.0"
#endif

#define EXIT_USAGE        2
#define DEFAULT_RATE      60
#define DEFAULT_CONNS     10000
#define DEFAULT_REQUEST_S 10
#define DEFAULT_IDLE_S    60
#define FDS_SPARE         64 /* descriptors kept for the database, logs and the listener */

static const char usage[] =
        "Usage: sotto-directory --listen ADDR:PORT --db sqlite:PATH|postgresql://...\n"
        "                       [--tls-cert FILE --tls-key FILE] [--state-dir DIR]\n"
        "                       [--workers N] [--rate-limit PER_MIN] [--max-connections N]\n"
        "                       [--request-timeout SECONDS] [--idle-timeout SECONDS]\n"
        "                       [--public-host NAME[:PORT]]... [--proxy-protocol]\n"
        "                       [--log-level error|warn|info|debug] [--help] [--version]\n"
        "\n"
        "Serves the Sotto directory API (docs/PROTOCOL.md) over HTTPS, TLS 1.3 only.\n"
        "\n"
        "  --listen ADDR:PORT     address to listen on; port 0 picks a free one\n"
        "  --db URI               sqlite:PATH (created if missing) or a PostgreSQL URI\n"
        "  --tls-cert, --tls-key  PEM certificate chain and key; without them a self-signed\n"
        "                         certificate is made once and kept beside the SQLite\n"
        "                         database, or in the state directory\n"
        "  --state-dir DIR        where the self-signed certificate lives (default: beside\n"
        "                         the SQLite database; $XDG_DATA_HOME/sotto-directory for\n"
        "                         PostgreSQL)\n"
        "  --workers N            worker processes sharing the port (default: one per core)\n"
        "  --rate-limit PER_MIN   registrations and bundle fetches per source address and\n"
        "                         bundles per target, per worker (default 60; 0: no limit)\n"
        "  --max-connections N    open connections per worker (default 10000, fewer when\n"
        "                         the file descriptor limit is lower)\n"
        "  --request-timeout S    a request must arrive whole within S seconds (default 10)\n"
        "  --idle-timeout S       idle connections are closed after S seconds (default 60)\n"
        "  --public-host NAME[:PORT]  a name clients reach this directory by (repeatable);\n"
        "                         signed writes are accepted only when signed for one of\n"
        "                         these or for the address they arrived on\n"
        "  --proxy-protocol       behind a load balancer: every connection starts with a\n"
        "                         PROXY protocol v2 header (at most 536 bytes) ahead of\n"
        "                         TLS, whose client address the rate limits and seen_from\n"
        "                         use; a connection without one is closed\n"
        "  --log-level L          error, warn, info (default) or debug; logs go to stderr\n"
        "\n"
        "At start it prints, one per line: \"listening on ADDR:PORT\", \"pin sha256:HEX\" (the\n"
        "SHA-256 of the certificate's public key, for sotto register --fingerprint),\n"
        "\"backend KIND\" and \"workers N\". SIGTERM stops it cleanly.\n";

struct options {
    struct dir_config cfg;
    int log_level;
    char cert_buf[PATH_MAX], key_buf[PATH_MAX], state_buf[PATH_MAX];
};

static void log_sink(void *ctx, enum sotto_log_level level, const char *file, int line,
                     const char *func, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    (void)ctx;
    if (level == SOTTO_LOG_DEBUG)
        fprintf(stderr, "sotto-directory[%ld]: %s: %s (%s:%d %s)\n", (long)getpid(), names[level],
                msg, file, line, func);
    else
        fprintf(stderr, "sotto-directory[%ld]: %s: %s\n", (long)getpid(), names[level], msg);
}

/* Decimal min..max, nothing else. */
static bool parse_unsigned(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
    char *end = NULL;
    unsigned long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "sotto-directory: %s\nTry sotto-directory --help.\n", what);
    return EXIT_USAGE;
}

static const struct option long_opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"state-dir", required_argument, NULL, 's'},
        {"workers", required_argument, NULL, 'w'},
        {"rate-limit", required_argument, NULL, 'r'},
        {"max-connections", required_argument, NULL, 'm'},
        {"request-timeout", required_argument, NULL, 't'},
        {"idle-timeout", required_argument, NULL, 'i'},
        {"public-host", required_argument, NULL, 'H'},
        {"proxy-protocol", no_argument, NULL, 'P'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

/* The options that take a number: which field, which range. */
static const struct {
    int c;
    unsigned long min, max;
    size_t offset;
    const char *error;
} number_opts[] = {
        {'w', 1, DIR_WORKERS_MAX, offsetof(struct dir_config, workers),
         "--workers takes a number from 1 to 256"},
        {'r', 0, 1000000, offsetof(struct dir_config, rate_per_min),
         "--rate-limit takes a number from 0 to 1000000"},
        {'m', 1, 10000000, offsetof(struct dir_config, max_conns),
         "--max-connections takes a positive number"},
        {'t', 1, 3600, offsetof(struct dir_config, request_timeout_s),
         "--request-timeout takes 1 to 3600 seconds"},
        {'i', 1, 86400, offsetof(struct dir_config, idle_timeout_s),
         "--idle-timeout takes 1 to 86400 seconds"},
};

static int take_number(struct options *o, int c, const char *arg)
{
    for (size_t i = 0; i < sizeof(number_opts) / sizeof(number_opts[0]); i++) {
        if (number_opts[i].c != c)
            continue;
        unsigned *field = (unsigned *)((char *)&o->cfg + number_opts[i].offset);
        return parse_unsigned(arg, number_opts[i].min, number_opts[i].max, field)
                       ? 0
                       : usage_error(number_opts[i].error);
    }
    return EXIT_USAGE;
}

/* A name clients use for this directory: printable ASCII without spaces, at most
 * DIR_HOST_MAX bytes ("dir.example.org", "dir.example.org:8443", "[2001:db8::1]:443"). */
static int take_public_host(struct dir_config *cfg, const char *arg)
{
    size_t len = strlen(arg);

    if (cfg->n_public_hosts == DIR_PUBLIC_HOSTS_MAX)
        return usage_error("--public-host: at most 16");
    if (len == 0 || len > DIR_HOST_MAX)
        return usage_error("--public-host takes NAME or NAME:PORT");
    for (size_t i = 0; i < len; i++)
        if (arg[i] <= ' ' || arg[i] > '~' || arg[i] == '/')
            return usage_error("--public-host takes NAME or NAME:PORT");
    cfg->public_hosts[cfg->n_public_hosts++] = arg;
    return 0;
}

/* One option's value; returns 0, or EXIT_USAGE. */
static int take_option(struct options *o, int c, const char *arg)
{
    struct dir_config *cfg = &o->cfg;

    switch (c) {
    case 'l':
        cfg->listen = arg;
        return 0;
    case 'd':
        cfg->db = arg;
        return 0;
    case 'c':
        cfg->tls_cert = arg;
        return 0;
    case 'k':
        cfg->tls_key = arg;
        return 0;
    case 's':
        cfg->state_dir = arg;
        return 0;
    case 'H':
        return take_public_host(cfg, arg);
    case 'P':
        cfg->proxy_protocol = true;
        return 0;
    case 'L':
        o->log_level = sotto_log_level_parse(arg);
        return o->log_level >= 0 ? 0 : usage_error("--log-level: error, warn, info or debug");
    default:
        return take_number(o, c, arg);
    }
}

static int check_options(const struct options *o)
{
    if (o->cfg.listen == NULL || o->cfg.db == NULL)
        return usage_error("--listen and --db are required");
    if ((o->cfg.tls_cert == NULL) != (o->cfg.tls_key == NULL))
        return usage_error("--tls-cert and --tls-key go together");
    return 0;
}

/* Returns -1 to go on, or an exit code. */
static int parse_options(struct options *o, int argc, char **argv)
{
    int c, rc;

    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c == 'V') {
            printf("sotto-directory %s\n", SOTTO_VERSION);
            return 0;
        }
        if (c == '?')
            return usage_error("unknown option");
        rc = take_option(o, c, optarg);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return usage_error("unexpected argument");
    rc = check_options(o);
    return rc != 0 ? rc : -1;
}

/* Raises the soft descriptor limit to the hard one, and keeps the connection cap below it. */
static void fd_limits(struct options *o)
{
    struct rlimit rl;
    unsigned long room;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    room = rl.rlim_cur > FDS_SPARE * 2 ? (unsigned long)(rl.rlim_cur - FDS_SPARE) : FDS_SPARE;
    if (o->cfg.max_conns == 0)
        o->cfg.max_conns = room < DEFAULT_CONNS ? (unsigned)room : DEFAULT_CONNS;
}

static void defaults(struct options *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    memset(o, 0, sizeof(*o));
    o->cfg.rate_per_min = DEFAULT_RATE;
    o->cfg.request_timeout_s = DEFAULT_REQUEST_S;
    o->cfg.idle_timeout_s = DEFAULT_IDLE_S;
    o->cfg.workers = cores < 1 ? 1 : cores > DIR_WORKERS_MAX ? DIR_WORKERS_MAX : (unsigned)cores;
    o->log_level = SOTTO_LOG_INFO;
}

/* Creates `path` and its missing parents, mode 0700. */
static bool mkdir_p(char *path)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int bad = mkdir(path, 0700) != 0 && errno != EEXIST;
        *p = saved;
        if (bad)
            return false;
        if (saved == '\0')
            return true;
    }
}

static bool join(char *out, const char *a, const char *b)
{
    int n = snprintf(out, PATH_MAX, "%s%s", a, b);

    return n > 0 && n < PATH_MAX;
}

/* The state directory when the certificate does not live beside a SQLite database. */
static bool state_dir(struct options *o, const struct sotto_env *env)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    bool ok;

    if (o->cfg.state_dir != NULL)
        ok = join(o->state_buf, o->cfg.state_dir, "");
    else if (xdg != NULL && xdg[0] == '/')
        ok = join(o->state_buf, xdg, "/sotto-directory");
    else if (home != NULL && home[0] == '/')
        ok = join(o->state_buf, home, "/.local/share/sotto-directory");
    else
        ok = false;
    if (!ok || !mkdir_p(o->state_buf)) {
        log_error(env->log, "no state directory for the certificate (%s): give --state-dir",
                  ok ? strerror(errno) : "HOME is not set");
        return false;
    }
    return true;
}

static bool tls_paths(struct options *o, const struct sotto_env *env)
{
    const char *db = o->cfg.db;

    if (o->cfg.state_dir == NULL && strncmp(db, "sqlite:", 7) == 0)
        return join(o->cert_buf, db + 7, ".tls-cert.pem") &&
               join(o->key_buf, db + 7, ".tls-key.pem");
    return state_dir(o, env) && join(o->cert_buf, o->state_buf, "/tls-cert.pem") &&
           join(o->key_buf, o->state_buf, "/tls-key.pem");
}

static enum sotto_err tls_setup(struct options *o, const struct sotto_env *env, struct dir_tls *tls)
{
    enum sotto_err rc;

    if (o->cfg.tls_cert != NULL)
        return dir_tls_load(tls, env, o->cfg.tls_cert, o->cfg.tls_key);
    if (!tls_paths(o, env))
        return SOTTO_EINVAL;
    rc = dir_tls_self_signed(tls, env, o->cert_buf, o->key_buf);
    if (rc == SOTTO_OK)
        log_info(env->log, "%s self-signed certificate %s", tls->generated ? "made a" : "using the",
                 o->cert_buf);
    return rc;
}

/* Opens the database once before any worker, so that its migrations run exactly once and a
 * database that cannot be reached stops the start with one clear message. */
static enum sotto_err check_db(const struct options *o, const struct sotto_env *env,
                               char kind[static 16])
{
    struct dir_backend *db = NULL;
    enum sotto_err rc = dir_backend_open(&db, env, o->cfg.db);

    if (rc != SOTTO_OK) {
        log_error(env->log, "cannot open the database: %s", sotto_strerror(rc));
        return rc;
    }
    snprintf(kind, 16, "%s", dir_backend_kind(db));
    dir_backend_close(db);
    return SOTTO_OK;
}

int main(int argc, char **argv)
{
    struct options o;
    struct sotto_log log;
    struct sotto_env env;
    struct dir_tls tls = {0};
    char kind[16];
    bool is_worker = false;
    int rc;

    defaults(&o);
    rc = parse_options(&o, argc, argv);
    if (rc >= 0)
        return rc;
    sotto_log_init(&log);
    log.level = (enum sotto_log_level)o.log_level;
    log.sink = log_sink;
    if (sotto_env_global_init() != 0) {
        fprintf(stderr, "sotto-directory: libsodium cannot start\n");
        return 1;
    }
    sotto_env_init(&env, &log);
    fd_limits(&o);
    if (check_db(&o, &env, kind) != SOTTO_OK || tls_setup(&o, &env, &tls) != SOTTO_OK)
        return 1;
    rc = dir_supervise(&o.cfg, &env, &tls, kind, &is_worker);
    dir_tls_clear(&tls);
    return rc;
}
