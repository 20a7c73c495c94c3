/* tests/unit/session/test_failalloc.c: a decrypt and an encrypt, with what they store, survive
 * the failure of every allocation of ours and SQLite's: each failure leaves the profile as it
 * was and leaks nothing. libsignal-protocol-c calls malloc with no hook (STYLE.md, 6), so its
 * own allocations are not reached here. */
#include <string.h>

#include <criterion/criterion.h>

#include "session_test.h"
#include "sqlite_failalloc.h"
#include "store/store_int.h"

static long sqlite_base; /* SQLite's allocations with no connection open */

static void failalloc_init(void)
{
    sess_fx_init_bare();
    sqlite_failalloc_install(&sx.fa); /* before any connection is open */
    sqlite_base = sqlite_failalloc_live();
    peer_make(&sx.alice, "Alice");
    peer_make(&sx.bob, "Bob");
    sx.alice.other = peer_befriend(&sx.alice, &sx.bob);
    sx.bob.other = peer_befriend(&sx.bob, &sx.alice);
}

TestSuite(session_failalloc, .init = failalloc_init, .fini = sess_fx_fini);

/* With the profiles closed, SQLite holds what it held before they were opened: no failure left
 * a statement unfinalized. (While a connection is open its page cache grows as it reads, so the
 * count is compared only once they are closed.) Asserted in the test: Criterion reports a
 * failed assertion in .fini without failing the test. */
static void assert_sqlite_released(void)
{
    peer_close(&sx.alice);
    peer_close(&sx.bob);
    cr_assert_eq(sqlite_failalloc_live(), sqlite_base, "SQLite's allocations leaked");
    cr_assert_eq(sx.fa.live, 0, "ours leaked");
}

static void fail_at(unsigned long n)
{
    sx.fa.calls = 0;
    sx.fa.failed = 0;
    sx.fa.fail_at = n;
}

static void assert_clean_failure(struct sess_peer *pe, enum sotto_err rc, unsigned long n,
                                 const uint8_t before[static 32], long live)
{
    uint8_t after[32];

    cr_assert(rc == SOTTO_ENOMEM || rc == SOTTO_EDB, "allocation %lu: %s", n, sotto_errname(rc));
    cr_assert_eq(sx.fa.live, live, "allocation %lu: our allocations leaked", n);
    tables_digest(pe, after);
    cr_assert_arr_eq(before, after, 32, "allocation %lu: a failure changed the profile", n);
}

Test(session_failalloc, a_decrypt_and_its_storing_fail_cleanly_at_every_allocation)
{
    long live;
    uint8_t before[32];
    struct sess_msg m;
    enum sotto_err rc;
    unsigned long n;
    char got[64];

    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "under pressure", &m);
    tables_digest(&sx.bob, before);
    live = sx.fa.live;
    for (n = 1; n < 100000; n++) {
        fail_at(n);
        rc = recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got));
        sx.fa.fail_at = 0;
        if (rc == SOTTO_OK)
            break; /* every allocation was tried, or the failed one was SQLite's to survive */
        assert_clean_failure(&sx.bob, rc, n, before, live);
    }
    cr_assert_eq(rc, SOTTO_OK);
    cr_assert_str_eq(got, "under pressure");
    cr_log_info("decrypt and store: %lu allocations tried", n);
    cr_assert_gt(n, 20, "the store's allocations and SQLite's are counted");
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM prekeys"), SESS_PREKEYS - 1);
    assert_sqlite_released();
    sess_done();
}

static enum sotto_err send_rc(struct store_msg_new *msg, struct sess_msg *m)
{
    enum sotto_err rc = store_tx_begin(sx.alice.p);
    int64_t row;

    if (rc == SOTTO_OK)
        rc = store_message_send(sx.alice.p, sx.bob.self.key, msg, &row, &m->outbox_id);
    if (rc == SOTTO_OK)
        rc = e2e_session_encrypt(sx.alice.s, sx.bob.self.key, msg->body, msg->body_len, &m->kind,
                                 m->ct, sizeof(m->ct), &m->len);
    if (rc == SOTTO_OK)
        rc = store_outbox_encrypted(sx.alice.p, m->outbox_id, sx.bob.self.key, m->kind, m->ct,
                                    m->len);
    if (rc == SOTTO_OK)
        rc = store_tx_commit(sx.alice.p);
    if (rc != SOTTO_OK)
        store_tx_rollback(sx.alice.p);
    return rc;
}

Test(session_failalloc, an_encrypt_and_its_outbox_row_fail_cleanly_at_every_allocation)
{
    struct store_msg_new msg = {.type = 1, .body = (const uint8_t *)"queued", .body_len = 6};
    long live;
    uint8_t before[32];
    struct sess_msg m;
    enum sotto_err rc;
    unsigned long n;
    char got[64];

    msg.contact_id = sx.alice.other;
    memset(msg.msg_id, 0x11, sizeof(msg.msg_id));
    session_build(&sx.alice, &sx.bob, false);
    tables_digest(&sx.alice, before);
    live = sx.fa.live;
    for (n = 1; n < 100000; n++) {
        fail_at(n);
        rc = send_rc(&msg, &m);
        sx.fa.fail_at = 0;
        if (rc == SOTTO_OK)
            break;
        assert_clean_failure(&sx.alice, rc, n, before, live);
    }
    cr_assert_eq(rc, SOTTO_OK);
    cr_assert_gt(n, 20);
    memcpy(m.id, msg.msg_id, sizeof(m.id));
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK,
                 "the ratchet state that committed matches the ciphertext that did");
    cr_assert_str_eq(got, "queued");
    assert_sqlite_released();
    sess_done();
}

Test(session_failalloc, opening_a_session_context_fails_cleanly_at_every_allocation)
{
    struct e2e_session *s = NULL;
    enum sotto_err rc;
    unsigned long n;
    long live = sx.fa.live;

    for (n = 1; n < 100000; n++) {
        fail_at(n);
        rc = store_session_open(&s, sx.alice.p, sx.e2e);
        sx.fa.fail_at = 0;
        if (rc == SOTTO_OK)
            break;
        cr_assert_null(s);
        cr_assert(rc == SOTTO_ENOMEM || rc == SOTTO_EDB, "allocation %lu: %s", n,
                  sotto_errname(rc));
        cr_assert_eq(sx.fa.live, live, "allocation %lu leaked", n);
    }
    cr_assert_eq(rc, SOTTO_OK);
    cr_assert_gt(n, 1);
    e2e_session_free(s);
    cr_assert_eq(sx.fa.live, live);
    assert_sqlite_released();
    sess_done();
}
