/* tests/unit/session/test_session.c: X3DH from a bundle with and without a one-time prekey,
 * PreKey messages out of order, replies both ways, and the one-time prekey used up exactly when
 * the decrypt commits. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "session_test.h"

TestSuite(session, .init = sess_fx_init, .fini = sess_fx_fini);

static void assert_recv(struct sess_peer *to, struct sess_peer *from, const struct sess_msg *m,
                        const char *want)
{
    char got[256];
    enum sotto_err rc = recv_text(to, from, NULL, m, got, sizeof(got));

    cr_assert_eq(rc, SOTTO_OK, "decrypt \"%s\": %s", want, sotto_errname(rc));
    cr_assert_str_eq(got, want);
}

static int64_t prekey_count(struct sess_peer *pe)
{
    return db_int(pe, "SELECT count(*) FROM prekeys");
}

Test(session, prekey_messages_decrypt_out_of_order_and_replies_flow_both_ways)
{
    struct sess_msg m[3], reply, next;
    struct e2e_bundle b;
    char sql[128];

    bundle_of(&sx.bob, true, &b);
    session_build(&sx.alice, &sx.bob, true);
    for (int i = 0; i < 3; i++) {
        char text[32];
        snprintf(text, sizeof(text), "hello Bob, number %d", i + 1);
        send_text(&sx.alice, &sx.bob, text, &m[i]);
        cr_assert_eq(m[i].kind, E2E_KIND_PREKEY, "until Bob replies, every message sets up");
        cr_assert_leq(m[i].len, strlen(text) + E2E_CIPHER_OVERHEAD);
    }
    assert_recv(&sx.bob, &sx.alice, &m[1], "hello Bob, number 2");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM prekeys WHERE id = %u", b.prekey_id);
    cr_assert_eq(db_int(&sx.bob, sql), 0, "the one-time prekey went with the commit");
    cr_assert_eq(prekey_count(&sx.bob), SESS_PREKEYS - 1);
    assert_recv(&sx.bob, &sx.alice, &m[0], "hello Bob, number 1");
    assert_recv(&sx.bob, &sx.alice, &m[2], "hello Bob, number 3");
    cr_assert_eq(prekey_count(&sx.bob), SESS_PREKEYS - 1, "used once, removed once");

    send_text(&sx.bob, &sx.alice, "hi Alice", &reply);
    cr_assert_eq(reply.kind, E2E_KIND_SIGNAL, "Bob's session is set up");
    assert_recv(&sx.alice, &sx.bob, &reply, "hi Alice");
    send_text(&sx.alice, &sx.bob, "got your reply", &next);
    cr_assert_eq(next.kind, E2E_KIND_SIGNAL, "Alice's reply ended the PreKey messages");
    assert_recv(&sx.bob, &sx.alice, &next, "got your reply");
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM messages WHERE direction = 0"), 4);
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM received"), 4);
    sess_done();
}

Test(session, a_bundle_without_a_one_time_prekey_uses_the_signed_prekey_alone)
{
    struct sess_msg m, reply;

    session_build(&sx.alice, &sx.bob, false);
    send_text(&sx.alice, &sx.bob, "no one-time prekey", &m);
    cr_assert_eq(m.kind, E2E_KIND_PREKEY);
    assert_recv(&sx.bob, &sx.alice, &m, "no one-time prekey");
    cr_assert_eq(prekey_count(&sx.bob), SESS_PREKEYS, "no one-time prekey was used");
    send_text(&sx.bob, &sx.alice, "fine by me", &reply);
    assert_recv(&sx.alice, &sx.bob, &reply, "fine by me");
    sess_done();
}

Test(session, a_session_exists_once_built_and_only_for_its_key)
{
    bool yes = true;

    cr_assert_eq(e2e_session_exists(sx.alice.s, sx.bob.self.key, &yes), SOTTO_OK);
    cr_assert_not(yes);
    session_build(&sx.alice, &sx.bob, true);
    cr_assert_eq(e2e_session_exists(sx.alice.s, sx.bob.self.key, &yes), SOTTO_OK);
    cr_assert(yes);
    cr_assert_eq(e2e_session_exists(sx.alice.s, sx.alice.self.key, &yes), SOTTO_OK);
    cr_assert_not(yes);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sessions WHERE device_id = 1"), 1);
    sess_done();
}

Test(session, the_address_is_the_lowercase_hex_of_the_key)
{
    char name[E2E_ADDRESS_LEN + 1], sql[160];

    session_build(&sx.alice, &sx.bob, false);
    e2e_address_name(sx.bob.self.key, name);
    cr_assert_eq(strlen(name), 66);
    cr_assert_eq(strspn(name, "0123456789abcdef"), 66);
    cr_assert(strncmp(name, "05", 2) == 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM sessions WHERE address = '%s'", name);
    cr_assert_eq(db_int(&sx.alice, sql), 1);
    sess_done();
}

Test(session, a_reopened_profile_keeps_its_sessions)
{
    struct sess_msg m, reply;

    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "before", &m);
    assert_recv(&sx.bob, &sx.alice, &m, "before");
    peer_close(&sx.alice);
    peer_close(&sx.bob);
    peer_open(&sx.alice);
    peer_open(&sx.bob);
    send_text(&sx.bob, &sx.alice, "after", &reply);
    assert_recv(&sx.alice, &sx.bob, &reply, "after");
    sess_done();
}

Test(session, our_bundle_is_our_identity_and_newest_signed_prekey_without_a_one_time_prekey)
{
    struct e2e_bundle b;

    cr_assert_eq(store_own_bundle(sx.bob.p, &b), SOTTO_OK);
    cr_assert_eq(b.device_id, E2E_DEVICE_ID);
    cr_assert_eq(b.registration_id, sx.bob.self.registration_id);
    cr_assert_eq(b.signed_prekey_id, 1);
    cr_assert_eq(b.prekey_id, 0);
    cr_assert_arr_eq(b.identity, sx.bob.self.key, E2E_KEY_LEN);
    sess_done();
}
