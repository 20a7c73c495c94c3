/* tests/unit/session/test_at_rest.c: session records, message bodies and sender keys are sealed
 * at rest (DESIGN.md, "Identity": secrets at rest): neither the plaintext of a message nor a
 * session record appears in the database files, and a sealed value is bound to its row. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <signal/ratchet.h>
#include <signal/session_record.h>
#include <signal/session_state.h>
#include <signal/signal_protocol.h>

#include "session_test.h"
#include "store/store_int.h"

TestSuite(at_rest, .init = sess_fx_init, .fini = sess_fx_fini);

#define SECRET_TEXT "zebra-quokka-4711: a distinctive plaintext nobody else writes"

struct blob {
    uint8_t b[8192];
    size_t len;
};

static enum sotto_err sink_blob(void *arg, const uint8_t *data, size_t len)
{
    struct blob *out = arg;

    cr_assert(len <= sizeof(out->b));
    memcpy(out->b, data, len);
    out->len = len;
    return SOTTO_OK;
}

/* The 32-byte root key of a serialized session record. */
static void root_key(const struct blob *rec, struct blob *out)
{
    session_record *r = NULL;
    signal_buffer *key = NULL;

    cr_assert_eq(session_record_deserialize(&r, rec->b, rec->len, e2e_ctx_signal(sx.e2e)), 0);
    cr_assert_eq(
            ratchet_root_key_get_key(session_state_get_root_key(session_record_get_state(r)), &key),
            0);
    cr_assert_eq(signal_buffer_len(key), 32);
    memcpy(out->b, signal_buffer_data(key), 32);
    out->len = 32;
    signal_buffer_bzero_free(key);
    SIGNAL_UNREF(r);
}

/* True when `needle` is in the database or its write-ahead log (where fresh pages live). */
static bool on_disk(const struct sess_peer *pe, const uint8_t *needle, size_t len)
{
    static const char *const files[] = {PROFILE_DB_NAME, PROFILE_DB_NAME "-wal"};
    bool found = false;

    for (size_t i = 0; i < 2; i++) {
        size_t n = 0;
        uint8_t *bytes = file_bytes(pe->home, files[i], &n);
        found = found || bytes_contain(bytes, n, needle, len);
        free(bytes);
    }
    return found;
}

Test(at_rest, neither_a_message_body_nor_a_session_record_is_stored_in_plaintext)
{
    struct e2e_session_store ops;
    struct sess_msg m, reply;
    struct blob rec, root;
    char got[128];

    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, SECRET_TEXT, &m);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    send_text(&sx.bob, &sx.alice, SECRET_TEXT " (reply)", &reply);
    cr_assert_eq(recv_text(&sx.alice, &sx.bob, NULL, &reply, got, sizeof(got)), SOTTO_OK);
    cr_assert(bytes_contain(m.ct, m.len, sx.alice.self.key, E2E_KEY_LEN),
              "the search works: a PreKey message carries its sender's key in the clear");
    cr_assert(on_disk(&sx.bob, sx.alice.self.key, E2E_KEY_LEN), "and so does the contact row");

    for (int i = 0; i < 2; i++) {
        struct sess_peer *pe = i == 0 ? &sx.alice : &sx.bob;
        const uint8_t *peer = i == 0 ? sx.bob.self.key : sx.alice.self.key;
        store_session_store(pe->p, &ops);
        cr_assert_eq(ops.session_load(ops.arg, peer, sink_blob, &rec), SOTTO_OK);
        cr_assert_gt(rec.len, 200, "a real session record");
        cr_assert_not(on_disk(pe, rec.b, rec.len), "the session record is sealed");
        root_key(&rec, &root);
        cr_assert_not(on_disk(pe, root.b, root.len), "its root key is nowhere in the clear");
        cr_assert_not(on_disk(pe, (const uint8_t *)SECRET_TEXT, 20), "the body is sealed");
    }
    sess_done();
}

Test(at_rest, a_sealed_value_moved_to_another_row_does_not_open)
{
    struct e2e_session_store ops;
    struct sess_peer carol;
    struct blob rec;

    peer_make(&carol, "Carol");
    peer_befriend(&sx.alice, &carol);
    session_build(&sx.alice, &sx.bob, false);
    session_build(&sx.alice, &carol, false);
    cr_assert_eq(store_db_exec(sx.alice.p, "UPDATE sessions SET record = (SELECT record FROM "
                                           "sessions WHERE id = 2) WHERE id = 1"),
                 SOTTO_OK);
    store_session_store(sx.alice.p, &ops);
    cr_assert_eq(ops.session_load(ops.arg, sx.bob.self.key, sink_blob, &rec), SOTTO_ECORRUPT,
                 "the row id is the associated data");
    peer_close(&carol);
    sess_done();
}

Test(at_rest, sender_keys_are_sealed_and_found_by_group_and_sender)
{
    static const uint8_t group[] = {'g', 0, 'r', 'p'};
    static const uint8_t record[] = "a sender key record, secret";
    struct e2e_session_store ops;
    struct blob got;

    store_session_store(sx.alice.p, &ops);
    cr_assert_eq(
            ops.sender_key_load(ops.arg, group, sizeof(group), sx.bob.self.key, sink_blob, &got),
            SOTTO_ENOENT);
    cr_assert_eq(ops.sender_key_save(ops.arg, group, sizeof(group), sx.bob.self.key, record,
                                     sizeof(record)),
                 SOTTO_EINVAL, "only inside a transaction");
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(ops.sender_key_save(ops.arg, group, sizeof(group), sx.bob.self.key, record,
                                     sizeof(record)),
                 SOTTO_OK);
    cr_assert_eq(store_tx_commit(sx.alice.p), SOTTO_OK);
    cr_assert_eq(
            ops.sender_key_load(ops.arg, group, sizeof(group), sx.bob.self.key, sink_blob, &got),
            SOTTO_OK);
    cr_assert_eq(got.len, sizeof(record));
    cr_assert_arr_eq(got.b, record, sizeof(record));
    cr_assert_eq(ops.sender_key_load(ops.arg, group, 1, sx.bob.self.key, sink_blob, &got),
                 SOTTO_ENOENT, "another group");
    cr_assert_not(on_disk(&sx.alice, record, sizeof(record) - 1));
    sess_done();
}

/* The store keeps the session row it last used, so that saving it again is one UPDATE; a row
 * id freed and handed to another peer's session must never take the first peer's record. */
Test(at_rest, a_remembered_session_row_given_to_another_peer_is_not_overwritten)
{
    static const uint8_t rec_a[] = "record of alice's session with bob, second version";
    struct e2e_session_store ops;
    struct sess_peer carol;
    struct blob got;
    char addr[E2E_ADDRESS_LEN + 1], sql[512];

    peer_make(&carol, "Carol");
    peer_befriend(&sx.alice, &carol);
    session_build(&sx.alice, &sx.bob, false);
    store_session_store(sx.alice.p, &ops);
    cr_assert_eq(ops.session_load(ops.arg, sx.bob.self.key, sink_blob, &got), SOTTO_OK,
                 "Bob's row is the one remembered now");
    cr_assert_eq(db_int(&sx.alice, "SELECT id FROM sessions"), 1);
    /* behind the store's back (another process, say): Bob's row goes, and a row of Carol's
     * takes its id, while the store still remembers row 1 as Bob's */
    e2e_address_name(carol.self.key, addr);
    snprintf(sql, sizeof(sql),
             "DELETE FROM sessions; INSERT INTO sessions(id, address, device_id, record, "
             "updated_ms) VALUES(1, '%s', 1, x'00', 0)",
             addr);
    cr_assert_eq(store_db_exec(sx.alice.p, sql), SOTTO_OK);
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(ops.session_save(ops.arg, sx.bob.self.key, rec_a, sizeof(rec_a)), SOTTO_OK);
    cr_assert_eq(store_tx_commit(sx.alice.p), SOTTO_OK);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sessions"), 2, "a row of its own");
    cr_assert_eq(db_int(&sx.alice, "SELECT length(record) FROM sessions WHERE id = 1"), 1,
                 "Carol's row is as it was");
    cr_assert_eq(ops.session_load(ops.arg, sx.bob.self.key, sink_blob, &got), SOTTO_OK);
    cr_assert_eq(got.len, sizeof(rec_a));
    cr_assert_arr_eq(got.b, rec_a, sizeof(rec_a));
    peer_close(&carol);
    sess_done();
}

/* Inside a step, the store's writes take no savepoint of their own: the step undoes them all. */
Test(at_rest, a_failed_step_undoes_every_write_made_in_it)
{
    static const uint8_t rec[] = "a session record written in a step that fails";
    struct e2e_session_store ops;
    struct blob got;

    session_build(&sx.alice, &sx.bob, false);
    store_session_store(sx.alice.p, &ops);
    cr_assert_eq(ops.session_load(ops.arg, sx.bob.self.key, sink_blob, &got), SOTTO_OK);
    size_t before = got.len;
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(store_tx_step_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(ops.session_save(ops.arg, sx.bob.self.key, rec, sizeof(rec)), SOTTO_OK);
    cr_assert_eq(ops.session_load(ops.arg, sx.bob.self.key, sink_blob, &got), SOTTO_OK);
    cr_assert_eq(got.len, sizeof(rec), "written, inside the step");
    cr_assert_eq(store_tx_step_end(sx.alice.p, SOTTO_EBADMSG), SOTTO_EBADMSG);
    cr_assert_eq(ops.session_load(ops.arg, sx.bob.self.key, sink_blob, &got), SOTTO_OK);
    cr_assert_eq(got.len, before, "the step's failure undid it");
    /* and the transaction goes on: a write after the step is kept */
    cr_assert_eq(ops.session_save(ops.arg, sx.bob.self.key, rec, sizeof(rec)), SOTTO_OK);
    cr_assert_eq(store_tx_commit(sx.alice.p), SOTTO_OK);
    cr_assert_eq(ops.session_load(ops.arg, sx.bob.self.key, sink_blob, &got), SOTTO_OK);
    cr_assert_eq(got.len, sizeof(rec));
    sess_done();
}
