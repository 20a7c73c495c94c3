/* tests/unit/session/test_rollback.c: the transaction rules of DESIGN.md and what each failure
 * of a decrypt says: duplicates, forgeries, unknown prekeys, missing sessions, garbage; and that
 * whatever failed leaves the profile as it was. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include <signal/protocol.h>
#include <signal/signal_protocol.h>

#include "session_test.h"
#include "store/store_int.h"

TestSuite(rollback, .init = sess_fx_init, .fini = sess_fx_fini);

static void assert_unchanged(struct sess_peer *pe, const uint8_t before[static 32],
                             const char *what)
{
    uint8_t after[32];

    tables_digest(pe, after);
    cr_assert_arr_eq(before, after, 32, "%s changed the profile", what);
}

Test(rollback, a_replayed_ciphertext_is_a_duplicate_and_nothing_is_stored_twice)
{
    struct sess_msg m, reply, next;
    uint8_t before[32];
    bool known = false;
    char got[64];

    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "once", &m);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    cr_assert_eq(store_received_known(sx.bob.p, sx.alice.self.key, m.id, &known), SOTTO_OK);
    cr_assert(known, "the node acks a known id again without decrypting");
    tables_digest(&sx.bob, before);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_EDUPLICATE,
                 "a replayed PreKey message");
    assert_unchanged(&sx.bob, before, "a replay");
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM messages"), 1);
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM received"), 1);

    send_text(&sx.bob, &sx.alice, "reply", &reply);
    cr_assert_eq(recv_text(&sx.alice, &sx.bob, NULL, &reply, got, sizeof(got)), SOTTO_OK);
    send_text(&sx.alice, &sx.bob, "twice?", &next);
    cr_assert_eq(next.kind, E2E_KIND_SIGNAL);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &next, got, sizeof(got)), SOTTO_OK);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &next, got, sizeof(got)), SOTTO_EDUPLICATE,
                 "a replayed SignalMessage");
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM messages WHERE direction = 0"), 2);
    sess_done();
}

Test(rollback, the_same_id_from_the_same_peer_is_stored_once)
{
    struct store_msg_new msg = {
            .contact_id = 0, .type = 1, .body = (const uint8_t *)"a", .body_len = 1};
    uint8_t other[E2E_KEY_LEN];
    int64_t row = -1;

    msg.contact_id = sx.bob.other;
    memset(msg.msg_id, 0x42, sizeof(msg.msg_id));
    cr_assert_eq(store_message_received(sx.bob.p, sx.alice.self.key, &msg, &row), SOTTO_OK);
    cr_assert_gt(row, 0);
    cr_assert_eq(store_message_received(sx.bob.p, sx.alice.self.key, &msg, &row), SOTTO_EEXIST);
    cr_assert_eq(row, 0);
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM messages"), 1);
    /* another peer may use the same id: the pair is what is unique */
    memcpy(other, sx.alice.self.key, sizeof(other));
    other[E2E_KEY_LEN - 1] ^= 0x01;
    cr_assert_eq(store_message_received(sx.bob.p, other, &msg, &row), SOTTO_OK);
    sess_done();
}

/* The offset just past the inner SignalMessage of PreKey message `m`, whose last 8 bytes are
 * its MAC (the PreKey message's own fields come after it on the wire). */
static size_t inner_mac_end(const struct sess_msg *m)
{
    pre_key_signal_message *pk = NULL;
    signal_buffer *inner;
    size_t end = 0;

    cr_assert_eq(pre_key_signal_message_deserialize(&pk, m->ct, m->len, e2e_ctx_signal(sx.e2e)), 0);
    inner = ciphertext_message_get_serialized(
            (ciphertext_message *)pre_key_signal_message_get_signal_message(pk));
    for (size_t i = 0; i + signal_buffer_len(inner) <= m->len; i++)
        if (memcmp(m->ct + i, signal_buffer_data(inner), signal_buffer_len(inner)) == 0)
            end = i + signal_buffer_len(inner);
    SIGNAL_UNREF(pk);
    cr_assert_gt(end, 8);
    return end;
}

Test(rollback, a_forged_prekey_message_is_rolled_back_to_nothing)
{
    struct sess_msg m, forged;
    uint8_t before[32];
    enum sotto_err rc;
    char got[64];

    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "the real one", &m);
    tables_digest(&sx.bob, before);
    /* pitfall 11: the identity is taken before the MAC, the last 8 bytes of the inner
     * SignalMessage, is checked */
    forged = m;
    forged.ct[inner_mac_end(&m) - 1] ^= 0x01;
    rc = recv_text(&sx.bob, &sx.alice, NULL, &forged, got, sizeof(got));
    cr_assert_eq(rc, SOTTO_EBADMSG, "%s", sotto_errname(rc));
    cr_assert_str_empty(got);
    assert_unchanged(&sx.bob, before, "a forged PreKey message");
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM sessions"), 0);
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM prekeys"), SESS_PREKEYS);
    /* truncated, and a flipped byte inside the protobuf */
    forged = m;
    forged.len -= 9;
    rc = recv_text(&sx.bob, &sx.alice, NULL, &forged, got, sizeof(got));
    cr_assert_eq(rc, SOTTO_EBADMSG, "%s", sotto_errname(rc));
    forged = m;
    forged.ct[forged.len / 2] ^= 0x80;
    cr_assert_neq(recv_text(&sx.bob, &sx.alice, NULL, &forged, got, sizeof(got)), SOTTO_OK);
    assert_unchanged(&sx.bob, before, "damaged PreKey messages");
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    cr_assert_str_eq(got, "the real one");
    sess_done();
}

Test(rollback, a_message_naming_a_prekey_we_do_not_have_says_so)
{
    struct e2e_bundle b;
    struct sess_msg m;
    uint8_t before[32];
    char sql[64], got[64];

    bundle_of(&sx.bob, true, &b);
    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "your prekey", &m);
    /* the directory handed the same prekey to someone whose message came first */
    snprintf(sql, sizeof(sql), "DELETE FROM prekeys WHERE id = %u", b.prekey_id);
    cr_assert_eq(store_db_exec(sx.bob.p, sql), SOTTO_OK);
    tables_digest(&sx.bob, before);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_ENOPREKEY);
    assert_unchanged(&sx.bob, before, "an unknown one-time prekey");
    sess_done();
}

Test(rollback, a_message_naming_an_unknown_signed_prekey_says_so)
{
    struct e2e_bundle b;
    struct sess_msg m;
    char got[64];

    bundle_of(&sx.bob, false, &b);
    b.signed_prekey_id = 99; /* the signature covers the key, not its id */
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(e2e_session_from_bundle(sx.alice.s, &b), SOTTO_OK);
    cr_assert_eq(store_tx_commit(sx.alice.p), SOTTO_OK);
    send_text(&sx.alice, &sx.bob, "which prekey?", &m);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_ENOPREKEY);
    sess_done();
}

Test(rollback, no_session_garbage_and_an_unknown_kind_are_told_apart)
{
    struct sess_msg m, reply, next, bad;
    char got[64];

    session_build(&sx.alice, &sx.bob, false);
    send_text(&sx.alice, &sx.bob, "one", &m);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    send_text(&sx.bob, &sx.alice, "two", &reply);
    cr_assert_eq(recv_text(&sx.alice, &sx.bob, NULL, &reply, got, sizeof(got)), SOTTO_OK);
    send_text(&sx.alice, &sx.bob, "three", &next);
    cr_assert_eq(next.kind, E2E_KIND_SIGNAL);
    cr_assert_eq(store_db_exec(sx.bob.p, "DELETE FROM sessions"), SOTTO_OK);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &next, got, sizeof(got)), SOTTO_ENOSESSION);

    memset(&bad, 0, sizeof(bad));
    memcpy(bad.ct, "\x33garbage that is no protobuf", 29);
    bad.len = 29;
    bad.kind = E2E_KIND_SIGNAL;
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &bad, got, sizeof(got)), SOTTO_EBADMSG);
    bad.kind = E2E_KIND_PREKEY;
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &bad, got, sizeof(got)), SOTTO_EBADMSG);
    bad.kind = (enum e2e_kind)4;
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &bad, got, sizeof(got)), SOTTO_EBADMSG);
    bad.kind = E2E_KIND_SIGNAL;
    bad.len = 0;
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &bad, got, sizeof(got)), SOTTO_EBADMSG);
    sess_done();
}

Test(rollback, a_ciphertext_over_the_cap_is_refused_before_parsing)
{
    uint8_t out[16];
    size_t len = 1;

    cr_assert_eq(store_tx_begin(sx.bob.p), SOTTO_OK);
    /* only the length is looked at: the bytes are never read */
    cr_assert_eq(e2e_session_decrypt(sx.bob.s, sx.alice.self.key, E2E_KIND_SIGNAL, out,
                                     (size_t)E2E_CIPHER_MAX + 1, out, sizeof(out), &len),
                 SOTTO_ETOOBIG);
    cr_assert_eq(len, 0);
    store_tx_rollback(sx.bob.p);
    sess_done();
}

Test(rollback, writes_outside_a_transaction_are_refused)
{
    uint8_t before[32], ct[SESS_CT_MAX];
    struct e2e_bundle b;
    enum e2e_kind kind;
    size_t len;

    bundle_of(&sx.bob, true, &b);
    cr_assert_eq(e2e_session_from_bundle(sx.alice.s, &b), SOTTO_EINVAL,
                 "the session write needs the caller's transaction");
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sessions"), 0);
    session_build(&sx.alice, &sx.bob, true);
    tables_digest(&sx.alice, before);
    cr_assert_eq(e2e_session_encrypt(sx.alice.s, sx.bob.self.key, (const uint8_t *)"x", 1, &kind,
                                     ct, sizeof(ct), &len),
                 SOTTO_EINVAL);
    assert_unchanged(&sx.alice, before, "an encrypt outside a transaction");
    sess_done();
}

Test(rollback, an_encrypt_rolled_back_leaves_the_ratchet_as_it_was)
{
    uint8_t before[32], ct1[SESS_CT_MAX], ct2[SESS_CT_MAX];
    enum e2e_kind kind;
    size_t len1, len2;

    session_build(&sx.alice, &sx.bob, false);
    tables_digest(&sx.alice, before);
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(e2e_session_encrypt(sx.alice.s, sx.bob.self.key, (const uint8_t *)"abc", 3, &kind,
                                     ct1, sizeof(ct1), &len1),
                 SOTTO_OK);
    store_tx_rollback(sx.alice.p);
    assert_unchanged(&sx.alice, before, "a rolled-back encrypt");
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(e2e_session_encrypt(sx.alice.s, sx.bob.self.key, (const uint8_t *)"abc", 3, &kind,
                                     ct2, sizeof(ct2), &len2),
                 SOTTO_OK);
    store_tx_rollback(sx.alice.p);
    cr_assert_eq(len1, len2);
    sess_done();
}

Test(rollback, buffers_too_small_are_refused_and_the_plaintext_wiped)
{
    uint8_t ct[SESS_CT_MAX], out[4] = {1, 2, 3, 4};
    enum e2e_kind kind;
    size_t len = 0;
    struct sess_msg m;

    session_build(&sx.alice, &sx.bob, false);
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(e2e_session_encrypt(sx.alice.s, sx.bob.self.key, (const uint8_t *)"abcdef", 6,
                                     &kind, ct, 20, &len),
                 SOTTO_ETOOBIG);
    store_tx_rollback(sx.alice.p);
    send_text(&sx.alice, &sx.bob, "longer than four", &m);
    cr_assert_eq(store_tx_begin(sx.bob.p), SOTTO_OK);
    cr_assert_eq(e2e_session_decrypt(sx.bob.s, sx.alice.self.key, m.kind, m.ct, m.len, out,
                                     sizeof(out), &len),
                 SOTTO_ETOOBIG);
    store_tx_rollback(sx.bob.p);
    cr_assert_eq(len, 0);
    for (size_t i = 0; i < sizeof(out); i++)
        cr_assert_eq(out[i], 0);
    sess_done();
}

Test(rollback, a_plaintext_over_the_cap_is_refused)
{
    uint8_t ct[16];
    enum e2e_kind kind;
    size_t len = 1;

    session_build(&sx.alice, &sx.bob, false);
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(e2e_session_encrypt(sx.alice.s, sx.bob.self.key, ct, (size_t)E2E_PLAIN_MAX + 1,
                                     &kind, ct, sizeof(ct), &len),
                 SOTTO_ETOOBIG);
    store_tx_rollback(sx.alice.p);
    sess_done();
}

Test(rollback, a_locked_profile_opens_no_session)
{
    struct e2e_session *s = (struct e2e_session *)1;
    struct store_profile *p = NULL;

    cr_assert_eq(store_profile_open(&p, &sx.env, sx.alice.home), SOTTO_OK);
    cr_assert_eq(store_session_open(&s, p, sx.e2e), SOTTO_EINVAL);
    cr_assert_null(s);
    store_profile_close(p);
    sess_done();
}

Test(rollback, no_session_to_encrypt_with_is_said)
{
    uint8_t ct[SESS_CT_MAX];
    enum e2e_kind kind;
    size_t len;

    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(e2e_session_encrypt(sx.alice.s, sx.bob.self.key, (const uint8_t *)"x", 1, &kind,
                                     ct, sizeof(ct), &len),
                 SOTTO_ENOSESSION);
    store_tx_rollback(sx.alice.p);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sessions"), 0,
                 "looking for a session stores none");
    sess_done();
}
