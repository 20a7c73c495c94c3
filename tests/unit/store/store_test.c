/* tests/unit/store/store_test.c: the store tests' fixture. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "e2e/e2e.h"
#include "identity/number.h"
#include "sotto/log.h"
#include "store_test.h"

struct store_fx fx;

void store_fx_init(void)
{
    char tmpl[] = "/tmp/sotto-store-XXXXXX";

    memset(&fx, 0, sizeof(fx));
    failalloc_env(&fx.env, &fx.fa, 0);
    if (getenv("STORE_TEST_LOG") != NULL) {
        static struct sotto_log log;
        sotto_log_init(&log);
        log.level = SOTTO_LOG_DEBUG;
        fx.env.log = &log;
    }
    sotto_env_init(&fx.ctx_env, NULL);
    cr_assert_eq(e2e_ctx_create(&fx.e2e, &fx.ctx_env), SOTTO_OK);
    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(fx.root, sizeof(fx.root), "%s", tmpl);
    path_of(fx.home, fx.root, "profile");
}

static void remove_tree(const char *path)
{
    struct stat st;
    struct dirent *e;
    DIR *d;

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        d = opendir(path);
        while (d != NULL && (e = readdir(d)) != NULL) {
            char child[PROFILE_PATH_MAX];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            path_of(child, path, e->d_name);
            remove_tree(child);
        }
        if (d != NULL)
            closedir(d);
        rmdir(path);
        return;
    }
    unlink(path);
}

void store_fx_fini(void)
{
    e2e_ctx_free(fx.e2e);
    if (fx.root[0] != '\0')
        remove_tree(fx.root);
    cr_expect_eq(fx.fa.live, 0, "the store leaked %ld allocations", fx.fa.live);
}

struct store_create_params store_fx_params(const char *passphrase)
{
    static const char *const addrs[] = {"192.0.2.1:8766", "alice.example:8766"};
    struct store_create_params params = {
            .home = fx.home,
            .name = "Alice",
            .passphrase = passphrase,
            .passphrase_len = passphrase != NULL ? strlen(passphrase) : 0,
            .kdf = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN},
            .addrs = addrs,
            .n_addrs = 2,
            .n_prekeys = TEST_PREKEYS,
    };
    return params;
}

void store_fx_create(const char *passphrase)
{
    struct store_create_params params = store_fx_params(passphrase);

    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_OK);
}

struct store_profile *store_fx_open(void)
{
    struct store_profile *p = NULL;
    enum sotto_err rc = store_profile_open(&p, &fx.env, fx.home);

    cr_assert_eq(rc, SOTTO_OK, "open: %s", sotto_errname(rc));
    return p;
}

struct store_profile *store_fx_open_unlocked(bool passphrase)
{
    struct store_profile *p = store_fx_open();
    const char *pass = passphrase ? TEST_PASSPHRASE : NULL;

    cr_assert_eq(store_profile_unlock(p, pass, pass != NULL ? strlen(pass) : 0), SOTTO_OK);
    return p;
}

void path_of(char out[static PROFILE_PATH_MAX], const char *dir, const char *name)
{
    int n = snprintf(out, PROFILE_PATH_MAX, "%s/%s", dir, name);

    cr_assert(n > 0 && n < PROFILE_PATH_MAX);
}

static int skip_dots(const struct dirent *e)
{
    return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

static void digest_file(crypto_generichash_state *h, const char *dir, const char *name)
{
    char path[PROFILE_PATH_MAX];
    uint8_t buf[4096];
    ssize_t n;
    int fd;

    crypto_generichash_update(h, (const uint8_t *)name, strlen(name) + 1);
    path_of(path, dir, name);
    fd = open(path, O_RDONLY | O_NOFOLLOW);
    if (fd < 0) {
        crypto_generichash_update(h, (const uint8_t *)"?", 1); /* a symlink or unreadable */
        return;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        crypto_generichash_update(h, buf, (size_t)n);
    close(fd);
}

void dir_digest(const char *dir, uint8_t out[static 32])
{
    crypto_generichash_state h;
    struct dirent **names;
    int n = scandir(dir, &names, skip_dots, alphasort);

    crypto_generichash_init(&h, NULL, 0, 32);
    if (n < 0 && errno == ENOENT) {
        crypto_generichash_update(&h, (const uint8_t *)"missing", 7);
        crypto_generichash_final(&h, out, 32);
        return;
    }
    cr_assert(n >= 0, "scandir %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        digest_file(&h, dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    crypto_generichash_final(&h, out, 32);
}

void assert_dir_same(const char *dir, const uint8_t before[static 32], const char *what)
{
    uint8_t after[32];

    dir_digest(dir, after);
    cr_assert(memcmp(before, after, 32) == 0, "%s changed the profile's files", what);
}

size_t dir_entries(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_dots, alphasort);

    cr_assert(n >= 0, "scandir %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return (size_t)n;
}

bool path_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

unsigned path_mode(const char *path)
{
    struct stat st;

    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    return (unsigned)(st.st_mode & 07777);
}

void file_put(const char *path, const void *p, size_t len, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode);

    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, p, len), (ssize_t)len);
    close(fd);
    cr_assert_eq(chmod(path, (mode_t)mode), 0);
}

void file_poke(const char *path, long offset, uint8_t byte, size_t len)
{
    uint8_t buf[4096];
    int fd = open(path, O_WRONLY);

    cr_assert(fd >= 0 && len <= sizeof(buf));
    memset(buf, byte, len);
    cr_assert_eq(pwrite(fd, buf, len, offset), (ssize_t)len);
    close(fd);
}

long file_size(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0);
    return (long)st.st_size;
}

static sqlite3 *raw_open(const char *home)
{
    char path[PROFILE_PATH_MAX];
    sqlite3 *db = NULL;

    path_of(path, home, PROFILE_DB_NAME);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

void raw_exec(const char *home, const char *sql)
{
    sqlite3 *db = raw_open(home);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

int64_t raw_int(const char *home, const char *sql)
{
    sqlite3 *db = raw_open(home);
    sqlite3_stmt *st = NULL;
    int64_t v;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
    return v;
}

void card_make(struct identity_card *c, const char *name, const char *username, size_t n_addrs)
{
    uint8_t priv[E2E_PRIV_LEN];

    memset(c, 0, sizeof(*c));
    c->version = CARD_VERSION;
    cr_assert_eq(e2e_identity_generate(fx.e2e, c->key, priv), SOTTO_OK);
    sodium_memzero(priv, sizeof(priv));
    c->number = identity_number(c->key);
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->username, sizeof(c->username), "%s", username);
    for (size_t i = 0; i < n_addrs && i < CARD_ADDRS_MAX; i++)
        snprintf(c->addrs[i], sizeof(c->addrs[i]), "198.51.100.%zu:8766", i + 1);
    c->n_addrs = n_addrs;
    c->created_s = 1700000000;
}
