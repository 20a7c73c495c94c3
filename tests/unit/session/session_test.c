/* tests/unit/session/session_test.c: the session tests' fixture. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "identity/card.h"
#include "identity/number.h"
#include "sotto/log.h"
#include "session_test.h"
#include "store/store_int.h"

struct sess_fx sx;

void sess_fx_init_bare(void)
{
    char tmpl[] = "/tmp/sotto-session-XXXXXX";

    memset(&sx, 0, sizeof(sx));
    failalloc_env(&sx.env, &sx.fa, 0);
    sx.fa.now_ms = 1700000000000;
    if (getenv("SESSION_TEST_LOG") != NULL) {
        static struct sotto_log log;
        sotto_log_init(&log);
        log.level = SOTTO_LOG_DEBUG;
        sx.env.log = &log;
    }
    sotto_env_init(&sx.ctx_env, NULL);
    cr_assert_eq(e2e_ctx_create(&sx.e2e, &sx.ctx_env), SOTTO_OK);
    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(sx.root, sizeof(sx.root), "%s", tmpl);
}

void sess_fx_init(void)
{
    sess_fx_init_bare();
    peer_make(&sx.alice, "Alice");
    peer_make(&sx.bob, "Bob");
    sx.alice.other = peer_befriend(&sx.alice, &sx.bob);
    sx.bob.other = peer_befriend(&sx.bob, &sx.alice);
}

static void remove_tree(const char *path)
{
    struct stat st;
    struct dirent *e;
    DIR *d;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char child[PROFILE_PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        remove_tree(child);
    }
    if (d != NULL)
        closedir(d);
    rmdir(path);
}

void sess_fx_fini(void)
{
    peer_close(&sx.alice);
    peer_close(&sx.bob);
    e2e_ctx_free(sx.e2e);
    if (sx.root[0] != '\0')
        remove_tree(sx.root);
    cr_expect_eq(sx.fa.live, 0, "%ld allocations leaked", sx.fa.live);
}

void sess_done(void)
{
    peer_close(&sx.alice);
    peer_close(&sx.bob);
    cr_assert_eq(sx.fa.live, 0, "%ld allocations leaked", sx.fa.live);
}

void peer_open(struct sess_peer *pe)
{
    enum sotto_err rc = store_profile_open(&pe->p, &sx.env, pe->home);

    cr_assert_eq(rc, SOTTO_OK, "open %s: %s", pe->home, sotto_errname(rc));
    cr_assert_eq(store_profile_unlock(pe->p, NULL, 0), SOTTO_OK);
    cr_assert_eq(store_self_get(pe->p, &pe->self), SOTTO_OK);
    rc = store_session_open(&pe->s, pe->p, sx.e2e);
    cr_assert_eq(rc, SOTTO_OK, "session open: %s", sotto_errname(rc));
}

void peer_close(struct sess_peer *pe)
{
    e2e_session_free(pe->s);
    pe->s = NULL;
    store_profile_close(pe->p);
    pe->p = NULL;
}

void peer_make(struct sess_peer *pe, const char *name)
{
    char addr[CARD_ADDR_MAX + 1];
    const char *addrs[] = {addr};
    struct store_create_params params = {
            .name = name,
            .kdf = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN},
            .addrs = addrs,
            .n_addrs = 1,
            .n_prekeys = SESS_PREKEYS,
    };

    memset(pe, 0, sizeof(*pe));
    cr_assert(strlen(sx.root) + strlen(name) + 2 <= sizeof(pe->home));
    memcpy(pe->home, sx.root, strlen(sx.root));
    pe->home[strlen(sx.root)] = '/';
    memcpy(pe->home + strlen(sx.root) + 1, name, strlen(name) + 1);
    snprintf(addr, sizeof(addr), "%s.example:8766", name[0] == 'A' ? "alice" : "peer");
    params.home = pe->home;
    cr_assert_eq(store_profile_create(&sx.env, sx.e2e, &params), SOTTO_OK);
    peer_open(pe);
}

int64_t peer_befriend(struct sess_peer *to, const struct sess_peer *whom)
{
    struct store_contact result, prev;
    enum store_import_result what;
    struct identity_card card;
    enum sotto_err rc;

    memset(&card, 0, sizeof(card));
    card.version = CARD_VERSION;
    card.number = whom->self.number;
    memcpy(card.key, whom->self.key, E2E_KEY_LEN);
    snprintf(card.name, sizeof(card.name), "%s", whom->self.name);
    card.n_addrs = whom->self.n_addrs;
    memcpy(card.addrs, whom->self.addrs, sizeof(card.addrs));
    card.created_s = 1700000000;
    rc = store_contact_import_card(to->p, &card, NULL, false, &result, &prev, &what);
    cr_assert_eq(rc, SOTTO_OK, "import: %s", sotto_errname(rc));
    return result.id;
}

void bundle_of(struct sess_peer *pe, bool one_time, struct e2e_bundle *b)
{
    struct store_prekey_pub pk;
    size_t n = 0;

    cr_assert_eq(store_own_bundle(pe->p, b), SOTTO_OK);
    cr_assert_eq(b->prekey_id, 0, "a bundle served over a link has no one-time prekey");
    if (!one_time)
        return;
    cr_assert_eq(store_prekeys_public(pe->p, false, &pk, 1, &n), SOTTO_OK);
    cr_assert_eq(n, 1);
    b->prekey_id = pk.id;
    memcpy(b->prekey, pk.key, E2E_KEY_LEN);
}

void session_build(struct sess_peer *from, struct sess_peer *to, bool one_time)
{
    struct e2e_bundle b;
    enum sotto_err rc;

    bundle_of(to, one_time, &b);
    cr_assert_eq(store_tx_begin(from->p), SOTTO_OK);
    rc = e2e_session_from_bundle(from->s, &b);
    cr_assert_eq(rc, SOTTO_OK, "from bundle: %s", sotto_errname(rc));
    cr_assert_eq(store_tx_commit(from->p), SOTTO_OK);
}

void send_text(struct sess_peer *from, struct sess_peer *to, const char *text, struct sess_msg *m)
{
    struct store_msg_new msg = {.contact_id = from->other, .type = 1, .sent_ms = 1700000000001};
    enum sotto_err rc;
    int64_t row;

    randombytes_buf(msg.msg_id, sizeof(msg.msg_id));
    msg.body = (const uint8_t *)text;
    msg.body_len = strlen(text);
    memcpy(m->id, msg.msg_id, sizeof(m->id));
    cr_assert_eq(store_tx_begin(from->p), SOTTO_OK);
    rc = store_message_send(from->p, to->self.key, &msg, &row, &m->outbox_id);
    cr_assert_eq(rc, SOTTO_OK, "send: %s", sotto_errname(rc));
    rc = e2e_session_encrypt(from->s, to->self.key, msg.body, msg.body_len, &m->kind, m->ct,
                             sizeof(m->ct), &m->len);
    cr_assert_eq(rc, SOTTO_OK, "encrypt: %s", sotto_errname(rc));
    rc = store_outbox_encrypted(from->p, m->outbox_id, to->self.key, m->kind, m->ct, m->len);
    cr_assert_eq(rc, SOTTO_OK, "outbox: %s", sotto_errname(rc));
    cr_assert_eq(store_tx_commit(from->p), SOTTO_OK);
}

enum sotto_err recv_text(struct sess_peer *to, struct sess_peer *from, const uint8_t *link_key,
                         const struct sess_msg *m, char *out, size_t cap)
{
    struct store_msg_new msg = {.contact_id = to->other, .type = 1, .sent_ms = 1700000000001};
    const uint8_t *key = link_key != NULL ? link_key : from->self.key;
    size_t len = 0;
    enum sotto_err rc;

    cr_assert(cap > 0);
    out[0] = '\0';
    rc = store_tx_begin(to->p);
    if (rc != SOTTO_OK)
        return rc;
    rc = e2e_session_decrypt(to->s, key, m->kind, m->ct, m->len, (uint8_t *)out, cap - 1, &len);
    if (rc == SOTTO_OK) {
        memcpy(msg.msg_id, m->id, sizeof(msg.msg_id));
        msg.body = (const uint8_t *)out;
        msg.body_len = len;
        rc = store_message_received(to->p, key, &msg, NULL);
    }
    if (rc == SOTTO_OK)
        rc = store_tx_commit(to->p);
    if (rc != SOTTO_OK) {
        store_tx_rollback(to->p);
        len = 0;
    }
    out[len] = '\0';
    return rc;
}

int64_t db_int(struct sess_peer *pe, const char *sql)
{
    int64_t v = -1;
    enum sotto_err rc = store_db_query_int(pe->p, sql, &v);

    cr_assert_eq(rc, SOTTO_OK, "%s: %s", sql, sotto_errname(rc));
    return v;
}

static void table_hash(struct sess_peer *pe, crypto_generichash_state *h, const char *table)
{
    char sql[128];
    sqlite3_stmt *st;
    bool row = true;

    snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1, 2", table);
    cr_assert_eq(store_db_prepare(pe->p, sql, &st), SOTTO_OK, "%s", sql);
    crypto_generichash_update(h, (const uint8_t *)table, strlen(table) + 1);
    while (store_db_step(pe->p, st, &row) == SOTTO_OK && row) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const void *b = sqlite3_column_blob(st, c);
            int type = sqlite3_column_type(st, c);
            crypto_generichash_update(h, (const uint8_t *)&type, sizeof(type));
            if (b != NULL)
                crypto_generichash_update(h, b, (size_t)sqlite3_column_bytes(st, c));
        }
    }
    cr_assert(!row, "%s: read every row", table);
    store_db_release(pe->p, st);
}

void tables_digest(struct sess_peer *pe, uint8_t out[static 32])
{
    static const char *const tables[] = {
            "sessions", "prekeys",  "signed_prekeys", "contacts", "contact_keys",
            "identity", "messages", "received",       "outbox",   "sender_keys",
    };
    crypto_generichash_state h;

    crypto_generichash_init(&h, NULL, 0, 32);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        table_hash(pe, &h, tables[i]);
    crypto_generichash_final(&h, out, 32);
}

uint8_t *file_bytes(const char *home, const char *name, size_t *len)
{
    char path[PROFILE_PATH_MAX];
    uint8_t *buf;
    long n;
    FILE *f;

    *len = 0;
    snprintf(path, sizeof(path), "%s/%s", home, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

bool bytes_contain(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    if (m == 0 || n < m)
        return false;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}
