/* tests/unit/session/test_trust.c: Sotto's trust rules in front of the library (DESIGN.md,
 * "Trust"; notes pitfalls 11 and 12): no trust on first use, a PreKey message only from the key
 * proven on the link, a held verified contact gets nothing, a replaced key gets nothing, and a
 * bundle is checked before the library sees it. */
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "identity/card.h"
#include "identity/number.h"
#include "session_test.h"

TestSuite(trust, .init = sess_fx_init, .fini = sess_fx_fini);

static enum sotto_err take_signed(void *arg, const struct e2e_prekey *pk)
{
    struct e2e_bundle *b = arg;

    b->signed_prekey_id = pk->id;
    memcpy(b->signed_prekey, pk->pub, E2E_KEY_LEN);
    memcpy(b->signed_prekey_sig, pk->sig, E2E_SIG_LEN);
    return SOTTO_OK;
}

/* A valid bundle of a fresh identity, as a new device of someone would publish; its key in
 * key[]. */
static void stranger_bundle(struct e2e_bundle *b, uint8_t key[static E2E_KEY_LEN])
{
    uint8_t priv[E2E_PRIV_LEN];

    memset(b, 0, sizeof(*b));
    cr_assert_eq(e2e_identity_generate(sx.e2e, key, priv), SOTTO_OK);
    cr_assert_eq(e2e_signed_prekey_generate(sx.e2e, key, priv, 7, 0, take_signed, b), SOTTO_OK);
    sodium_memzero(priv, sizeof(priv));
    memcpy(b->identity, key, E2E_KEY_LEN);
    b->registration_id = 42;
    b->device_id = E2E_DEVICE_ID;
}

static enum sotto_err build_rc(struct sess_peer *pe, const struct e2e_bundle *b)
{
    enum sotto_err rc;

    cr_assert_eq(store_tx_begin(pe->p), SOTTO_OK);
    rc = e2e_session_from_bundle(pe->s, b);
    if (rc == SOTTO_OK)
        rc = store_tx_commit(pe->p);
    store_tx_rollback(pe->p);
    return rc;
}

static enum sotto_err encrypt_rc(struct sess_peer *from, const uint8_t to[static E2E_KEY_LEN])
{
    uint8_t ct[SESS_CT_MAX];
    enum e2e_kind kind;
    size_t len = 1;
    enum sotto_err rc;

    cr_assert_eq(store_tx_begin(from->p), SOTTO_OK);
    rc = e2e_session_encrypt(from->s, to, (const uint8_t *)"x", 1, &kind, ct, sizeof(ct), &len);
    if (rc != SOTTO_OK)
        cr_assert_eq(len, 0);
    store_tx_rollback(from->p);
    return rc;
}

Test(trust, a_bundle_from_a_key_that_is_no_contact_is_refused)
{
    struct e2e_bundle b;
    uint8_t key[E2E_KEY_LEN];

    stranger_bundle(&b, key);
    cr_assert_eq(build_rc(&sx.alice, &b), SOTTO_EUNTRUSTED, "never trust on first use");
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sessions"), 0);
    cr_assert_eq(store_peer_trust(sx.alice.p, key, false, NULL), SOTTO_EUNTRUSTED);
    cr_assert_eq(store_peer_trust(sx.alice.p, sx.alice.self.key, false, NULL), SOTTO_EUNTRUSTED,
                 "nobody is their own contact");
    sess_done();
}

Test(trust, a_bundle_is_checked_before_the_library_sees_it)
{
    struct e2e_bundle b, bad;

    bundle_of(&sx.bob, true, &b);
    bad = b;
    bad.signed_prekey_sig[5] ^= 0x01;
    cr_assert_eq(build_rc(&sx.alice, &bad), SOTTO_EBADSIG);
    bad = b;
    bad.device_id = 2;
    cr_assert_eq(build_rc(&sx.alice, &bad), SOTTO_EPROTO);
    bad = b;
    bad.prekey_id = 0x1000000;
    cr_assert_eq(build_rc(&sx.alice, &bad), SOTTO_EPROTO);
    bad = b;
    bad.signed_prekey[0] = 0x06;
    cr_assert_eq(build_rc(&sx.alice, &bad), SOTTO_EBADKEY);
    bad = b;
    memset(bad.prekey + 1, 0, 32); /* the identity point: of small order */
    cr_assert_eq(build_rc(&sx.alice, &bad), SOTTO_EBADKEY);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sessions"), 0);
    cr_assert_eq(build_rc(&sx.alice, &b), SOTTO_OK);
    sess_done();
}

Test(trust, a_prekey_message_counts_only_from_the_key_proven_on_the_link)
{
    struct sess_peer carol;
    struct sess_msg m;
    uint8_t before[32], after[32];
    char got[64];

    peer_make(&carol, "Carol");
    peer_befriend(&sx.bob, &carol);
    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "from Alice", &m);
    tables_digest(&sx.bob, before);
    /* the same bytes relayed over a link where Carol, a contact of Bob's, proved her key */
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, carol.self.key, &m, got, sizeof(got)),
                 SOTTO_EUNTRUSTED);
    cr_assert_str_empty(got);
    tables_digest(&sx.bob, after);
    cr_assert_arr_eq(before, after, 32, "a refused PreKey message left nothing");
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    cr_assert_str_eq(got, "from Alice");
    peer_close(&carol);
    sess_done();
}

Test(trust, a_prekey_message_from_a_stranger_is_refused_and_leaves_nothing)
{
    struct sess_peer mallory;
    struct sess_msg m;
    uint8_t before[32], after[32];
    char got[64];

    peer_make(&mallory, "Mallory");
    mallory.other = peer_befriend(&mallory, &sx.bob); /* Mallory knows Bob; Bob does not know her */
    session_build(&mallory, &sx.bob, true);
    send_text(&mallory, &sx.bob, "let me in", &m);
    tables_digest(&sx.bob, before);
    cr_assert_eq(recv_text(&sx.bob, &mallory, NULL, &m, got, sizeof(got)), SOTTO_EUNTRUSTED);
    cr_assert_eq(recv_text(&sx.bob, &mallory, sx.alice.self.key, &m, got, sizeof(got)),
                 SOTTO_EUNTRUSTED, "nor by claiming to be Alice's link");
    tables_digest(&sx.bob, after);
    cr_assert_arr_eq(before, after, 32);
    cr_assert_eq(db_int(&sx.bob, "SELECT count(*) FROM prekeys"), SESS_PREKEYS);
    peer_close(&mallory);
    sess_done();
}

Test(trust, a_held_verified_contact_gets_nothing_until_the_hold_ends)
{
    struct e2e_bundle nb;
    uint8_t new_key[E2E_KEY_LEN];
    struct sess_msg m, reply;
    char got[64];

    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "before the change", &m);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    cr_assert_eq(store_contact_set_verified(sx.alice.p, sx.alice.other, sx.bob.self.key, true),
                 SOTTO_OK);
    /* a lookup said Bob has a new key, and Alice had verified the old one: held */
    stranger_bundle(&nb, new_key);
    cr_assert_eq(store_contact_hold(sx.alice.p, sx.alice.other, new_key), SOTTO_OK);
    cr_assert_eq(encrypt_rc(&sx.alice, sx.bob.self.key), SOTTO_EKEYCHANGED);
    cr_assert_eq(build_rc(&sx.alice, &nb), SOTTO_EKEYCHANGED, "nor a session with the new key");
    cr_assert_eq(store_peer_trust(sx.alice.p, new_key, true, NULL), SOTTO_EKEYCHANGED);
    /* what the old key still sends is read: receiving is not sending */
    send_text(&sx.bob, &sx.alice, "still me", &reply);
    cr_assert_eq(recv_text(&sx.alice, &sx.bob, NULL, &reply, got, sizeof(got)), SOTTO_OK);
    cr_assert_eq(store_contact_unhold(sx.alice.p, sx.alice.other), SOTTO_OK);
    cr_assert_eq(encrypt_rc(&sx.alice, sx.bob.self.key), SOTTO_OK);
    sess_done();
}

Test(trust, a_hold_needs_a_contact_and_a_key_that_differs)
{
    cr_assert_eq(store_contact_hold(sx.alice.p, 9999, sx.bob.self.key), SOTTO_ENOENT);
    cr_assert_eq(store_contact_hold(sx.alice.p, sx.alice.other, sx.bob.self.key), SOTTO_EINVAL);
    cr_assert_eq(store_contact_hold(sx.alice.p, sx.alice.other, sx.alice.self.key), SOTTO_EINVAL);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM contact_holds"), 0);
    sess_done();
}

Test(trust, an_unverified_contact_with_a_hold_row_is_not_held)
{
    struct e2e_bundle nb;
    uint8_t new_key[E2E_KEY_LEN];

    session_build(&sx.alice, &sx.bob, false);
    stranger_bundle(&nb, new_key);
    cr_assert_eq(store_contact_hold(sx.alice.p, sx.alice.other, new_key), SOTTO_OK);
    cr_assert_eq(encrypt_rc(&sx.alice, sx.bob.self.key), SOTTO_OK,
                 "only a verified contact is held (DESIGN.md, Trust)");
    cr_assert_eq(build_rc(&sx.alice, &nb), SOTTO_EKEYCHANGED, "the new key is still not taken");
    sess_done();
}

Test(trust, after_an_accepted_key_change_the_old_key_gets_nothing)
{
    struct store_contact result, prev;
    enum store_import_result what;
    struct identity_card card;
    struct e2e_bundle nb;
    struct sess_msg m;
    char got[64];

    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "hello", &m);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    send_text(&sx.bob, &sx.alice, "sent with the old key", &m);
    memset(&card, 0, sizeof(card));
    stranger_bundle(&nb, card.key);
    card.version = CARD_VERSION;
    card.number = identity_number(card.key);
    memcpy(card.name, "Bob", 4);
    cr_assert_eq(store_contact_import_card(sx.alice.p, &card, NULL, true, &result, &prev, &what),
                 SOTTO_OK);
    cr_assert_eq(what, STORE_IMPORT_KEY_REPLACED);
    cr_assert_eq(encrypt_rc(&sx.alice, sx.bob.self.key), SOTTO_EKEYCHANGED,
                 "the session with the old key is not used again");
    cr_assert_eq(store_peer_trust(sx.alice.p, sx.bob.self.key, false, NULL), SOTTO_EKEYCHANGED);
    cr_assert_eq(build_rc(&sx.alice, &nb), SOTTO_OK, "a session with the accepted key is");
    cr_assert_eq(recv_text(&sx.alice, &sx.bob, NULL, &m, got, sizeof(got)), SOTTO_EKEYCHANGED);
    sess_done();
}

static enum sotto_err sink_copy(void *arg, const uint8_t *data, size_t len)
{
    struct sess_msg *m = arg; /* reused as a buffer */

    cr_assert(len <= sizeof(m->ct));
    memcpy(m->ct, data, len);
    m->len = len;
    return SOTTO_OK;
}

Test(trust, encrypting_checks_the_sessions_remote_identity)
{
    struct e2e_session_store ops;
    struct sess_peer carol;
    struct sess_msg rec;

    peer_make(&carol, "Carol");
    peer_befriend(&sx.alice, &carol);
    session_build(&sx.alice, &sx.bob, false);
    session_build(&sx.alice, &carol, false);
    /* Carol's session record filed under Bob's address (a damaged or tampered profile) */
    store_session_store(sx.alice.p, &ops);
    cr_assert_eq(ops.session_load(ops.arg, carol.self.key, sink_copy, &rec), SOTTO_OK);
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(ops.session_save(ops.arg, sx.bob.self.key, rec.ct, rec.len), SOTTO_OK);
    cr_assert_eq(store_tx_commit(sx.alice.p), SOTTO_OK);
    cr_assert_eq(encrypt_rc(&sx.alice, sx.bob.self.key), SOTTO_EUNTRUSTED,
                 "pitfall 12: the session's identity must be the peer's");
    cr_assert_eq(encrypt_rc(&sx.alice, carol.self.key), SOTTO_OK);
    peer_close(&carol);
    sess_done();
}
