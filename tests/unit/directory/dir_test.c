/* tests/unit/directory/dir_test.c: the fixture, and main(), which starts one throw-away
 * PostgreSQL cluster for the whole run (tests/support/pg_cluster.sh) and stops it at the end,
 * whatever the tests did; the script's watchdog stops it if this process is killed instead.
 * Each test runs in a process of its own and finds the cluster's URI in SOTTO_TEST_PG_URI;
 * set that variable beforehand to use a running server instead. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "dir_test.h"

#define PG_URI_ENV "SOTTO_TEST_PG_URI"

struct fx fx;

/* ---- the log: kept, so that tests can say what was (not) logged ---- */

static void fx_sink(void *ctx, enum sotto_log_level level, const char *file, int line,
                    const char *func, const char *msg)
{
    struct fx *f = ctx;
    int n;

    (void)level;
    (void)file;
    (void)line;
    (void)func;
    n = snprintf(f->logbuf + f->loglen, sizeof(f->logbuf) - f->loglen, "%s\n", msg);
    if (n > 0)
        f->loglen += (size_t)n < sizeof(f->logbuf) - f->loglen ? (size_t)n
                                                               : sizeof(f->logbuf) - f->loglen - 1;
}

static void fx_env(enum fx_kind kind)
{
    memset(&fx, 0, sizeof(fx));
    fx.kind = kind;
    failalloc_env(&fx.env, &fx.fa, 0);
    fx.log.level = SOTTO_LOG_DEBUG;
    fx.log.sink = fx_sink;
    fx.log.ctx = &fx;
    fx.env.log = &fx.log;
}

/* ---- PostgreSQL: a database per test in the run's cluster ---- */

static const char *pg_base_uri(void)
{
    const char *uri = getenv(PG_URI_ENV);

    cr_assert(uri != NULL && uri[0] != '\0',
              "no PostgreSQL cluster: main() could not start one (see the messages above)");
    return uri;
}

/* The cluster's URI with another database: the path after the authority is replaced. */
static void pg_uri_with_db(const char *db, char out[static 1024])
{
    const char *base = pg_base_uri();
    const char *auth = strstr(base, "://");
    const char *path, *query;
    int n;

    cr_assert(auth != NULL);
    path = strchr(auth + 3, '/');
    cr_assert(path != NULL, "the cluster's URI has no database: %s", base);
    query = strchr(path, '?');
    n = snprintf(out, 1024, "%.*s/%s%s", (int)(path - base), base, db, query != NULL ? query : "");
    cr_assert(n > 0 && n < 1024);
}

static PGconn *pg_admin(const char *uri)
{
    PGconn *c = PQconnectdb(uri);

    cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

static void pg_run(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);

    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void pg_new_db(char uri[static 1024])
{
    char name[64], sql[128];
    PGconn *c = pg_admin(pg_base_uri());

    snprintf(name, sizeof(name), "t_%ld_%u", (long)getpid(), fx.n_dbs++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    pg_run(c, sql);
    PQfinish(c);
    pg_uri_with_db(name, uri);
}

void fx_pg_init(void)
{
    fx_env(FX_PG);
    pg_new_db(fx.db);
    cr_assert_eq(dir_backend_open(&fx.b, &fx.env, fx.db), SOTTO_OK, "%s", fx.logbuf);
}

/* ---- SQLite: a file in a temporary directory ---- */

static void sqlite_new_db(char out[static 1024])
{
    int n = snprintf(out, 1024, "sqlite:%s/directory-%u.db", fx.dir, fx.n_dbs++);

    cr_assert(n > 0 && n < 1024);
}

void fx_sqlite_init(void)
{
    fx_env(FX_SQLITE);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/sotto-dirtest.XXXXXX");
    cr_assert(mkdtemp(fx.dir) != NULL);
    sqlite_new_db(fx.db);
    cr_assert_eq(dir_backend_open(&fx.b, &fx.env, fx.db), SOTTO_OK, "%s", fx.logbuf);
}

static void remove_dir(const char *dir)
{
    char path[512];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void pg_drop_dbs(void)
{
    char sql[160];
    PGconn *c = PQconnectdb(getenv(PG_URI_ENV));

    for (unsigned i = 0; i < fx.n_dbs && PQstatus(c) == CONNECTION_OK; i++) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS t_%ld_%u WITH (FORCE)", (long)getpid(),
                 i);
        PQclear(PQexec(c, sql));
    }
    PQfinish(c);
}

void fx_fini(void)
{
    dir_backend_close(fx.b);
    fx.b = NULL;
    if (fx.kind == FX_SQLITE && fx.dir[0] != '\0')
        remove_dir(fx.dir);
    if (fx.kind == FX_PG && getenv(PG_URI_ENV) != NULL)
        pg_drop_dbs();
}

void fx_fresh_db(char out[static 1024])
{
    if (fx.kind == FX_SQLITE)
        sqlite_new_db(out);
    else
        pg_new_db(out);
}

struct dir_backend *fx_open(void)
{
    struct dir_backend *b = NULL;

    cr_assert_eq(dir_backend_open(&b, &fx.env, fx.db), SOTTO_OK, "%s", fx.logbuf);
    return b;
}

/* ---- raw SQL ---- */

static sqlite3 *sqlite_raw(void)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open(fx.db + strlen("sqlite:"), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

void fx_sql(const char *sqlite_sql, const char *pg_sql)
{
    if (fx.kind == FX_SQLITE) {
        sqlite3 *db = sqlite_raw();
        char *err = NULL;
        int rc = sqlite3_exec(db, sqlite_sql, NULL, NULL, &err);
        cr_assert_eq(rc, SQLITE_OK, "%s: %s", sqlite_sql, err != NULL ? err : "");
        sqlite3_free(err);
        sqlite3_close(db);
    } else {
        PGconn *c = pg_admin(fx.db);
        pg_run(c, pg_sql);
        PQfinish(c);
    }
}

int64_t fx_sql_int(const char *sqlite_sql, const char *pg_sql)
{
    int64_t v;

    if (fx.kind == FX_SQLITE) {
        sqlite3 *db = sqlite_raw();
        sqlite3_stmt *st = NULL;
        cr_assert_eq(sqlite3_prepare_v2(db, sqlite_sql, -1, &st, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sqlite_sql);
        v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    } else {
        PGconn *c = pg_admin(fx.db);
        PGresult *r = PQexec(c, pg_sql);
        cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", pg_sql,
                  PQerrorMessage(c));
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
    }
    return v;
}

/* ---- accounts ---- */

void fx_account(struct dir_account *a, unsigned seed, const char *username)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->username, sizeof(a->username), "%s", username);
    a->number = NUMBER_MIN + seed;
    a->identity_key[0] = 0x05;
    for (size_t i = 1; i < E2E_KEY_LEN; i++)
        a->identity_key[i] = (uint8_t)(seed * 31 + i);
    a->registration_id = 1 + seed % 16000;
    a->signed_prekey.id = 100 + seed;
    a->signed_prekey.key[0] = 0x05;
    for (size_t i = 1; i < E2E_KEY_LEN; i++)
        a->signed_prekey.key[i] = (uint8_t)(seed * 7 + i * 3);
    for (size_t i = 0; i < E2E_SIG_LEN; i++)
        a->signed_prekey.sig[i] = (uint8_t)(seed + i * 5);
    a->n_addrs = 2;
    snprintf(a->addrs[0], sizeof(a->addrs[0]), "192.0.2.%u:7000", 1 + seed % 250);
    snprintf(a->addrs[1], sizeof(a->addrs[1]), "node-%u.example.org:7001", seed);
}

void fx_prekeys(struct dir_prekey *p, size_t n, uint32_t first, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i].id = first + (uint32_t)i;
        p[i].key[0] = 0x05;
        for (size_t j = 1; j < E2E_KEY_LEN; j++)
            p[i].key[j] = (uint8_t)(seed ^ (p[i].id * 13 + j));
    }
}

void fx_register(const struct dir_account *a, const struct dir_prekey *p, size_t n)
{
    char skeleton[TEXT_USERNAME_MAX + 1];
    enum dir_conflict c = DIR_CONFLICT_USERNAME;

    dir_username_skeleton(a->username, skeleton);
    cr_assert_eq(dir_backend_register(fx.b, a, skeleton, p, n, &c), SOTTO_OK, "%s", fx.logbuf);
    cr_assert_eq(c, DIR_CONFLICT_NONE);
}

void fx_assert_same(const struct dir_account *got, const struct dir_account *want)
{
    cr_assert_str_eq(got->username, want->username);
    cr_assert_eq(got->number, want->number);
    cr_assert_arr_eq(got->identity_key, want->identity_key, E2E_KEY_LEN);
    cr_assert_eq(got->registration_id, want->registration_id);
    cr_assert_eq(got->signed_prekey.id, want->signed_prekey.id);
    cr_assert_arr_eq(got->signed_prekey.key, want->signed_prekey.key, E2E_KEY_LEN);
    cr_assert_arr_eq(got->signed_prekey.sig, want->signed_prekey.sig, E2E_SIG_LEN);
    cr_assert_eq(got->n_addrs, want->n_addrs);
    for (size_t i = 0; i < want->n_addrs; i++)
        cr_assert_str_eq(got->addrs[i], want->addrs[i]);
}

uint64_t fx_count_prekeys(void)
{
    uint64_t accounts, prekeys;

    cr_assert_eq(dir_backend_counts(fx.b, &accounts, &prekeys), SOTTO_OK);
    return prekeys;
}

uint64_t fx_count_accounts(void)
{
    uint64_t accounts, prekeys;

    cr_assert_eq(dir_backend_counts(fx.b, &accounts, &prekeys), SOTTO_OK);
    return accounts;
}

/* ---- main: the run's cluster ---- */

static char pg_datadir[512];

/* Runs the script with its output in `out`; the exit status is returned. */
static int run_script(char *const argv[], char *out, size_t cap)
{
    int fds[2], status = -1;
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv("/bin/sh", argv);
        _exit(127);
    }
    close(fds[1]);
    while (pid > 0 && len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) != 0)
        if (n > 0)
            len += (size_t)n;
        else if (errno != EINTR)
            break;
    out[len] = '\0';
    close(fds[0]);
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void pg_start(void)
{
    char owner[32], out[2048];
    char *argv[] = {"sh", PG_CLUSTER_SH, "start", "--owner-pid", owner, NULL};
    char *nl;

    if (getenv(PG_URI_ENV) != NULL)
        return;
    snprintf(owner, sizeof(owner), "%ld", (long)getpid());
    nl = run_script(argv, out, sizeof(out)) == 0 ? strchr(out, '\n') : NULL;
    if (nl == NULL || strchr(nl + 1, '\n') == NULL) {
        fprintf(stderr, "dirbackend: no PostgreSQL cluster; the postgresql suites fail\n");
        return;
    }
    *nl = '\0';
    *strchr(nl + 1, '\n') = '\0';
    snprintf(pg_datadir, sizeof(pg_datadir), "%s", nl + 1);
    setenv(PG_URI_ENV, out, 1);
}

static void pg_stop(void)
{
    char out[512];
    char *argv[] = {"sh", PG_CLUSTER_SH, "stop", pg_datadir, NULL};

    if (pg_datadir[0] != '\0' && run_script(argv, out, sizeof(out)) != 0)
        fprintf(stderr, "dirbackend: stopping the cluster failed\n");
}

/* BoxFort, which runs each test in a process of its own, finds main() among the exported
 * symbols to divert it in those processes; the project builds with -fvisibility=hidden. */
__attribute__((visibility("default"))) int main(int argc, char *argv[]);

int main(int argc, char *argv[])
{
    struct criterion_test_set *tests = criterion_initialize();
    int result = 0;

    if (criterion_handle_args(argc, argv, true)) {
        pg_start();
        result = !criterion_run_all_tests(tests);
        pg_stop();
    }
    criterion_finalize(tests);
    return result;
}
