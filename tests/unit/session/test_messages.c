/* tests/unit/session/test_messages.c: the message store: the outbox in encryption order, acks
 * only from the peer an entry went to, failures with their reason, history with bodies opened,
 * received ids, and writes that join the caller's transaction. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "session_test.h"

TestSuite(messages, .init = sess_fx_init, .fini = sess_fx_fini);

struct seen {
    size_t n;
    int64_t ids[16];
    bool encrypted[16];
    uint32_t attempts[16];
    char bodies[16][64];
    enum store_msg_state states[16];
    enum sotto_err reasons[16];
    bool read[16];
};

static enum sotto_err collect_outbox(void *arg, const struct store_outbox_entry *e)
{
    struct seen *s = arg;

    cr_assert_lt(s->n, 16);
    s->ids[s->n] = e->message_id;
    s->encrypted[s->n] = e->encrypted;
    s->attempts[s->n] = e->attempts;
    if (e->encrypted)
        snprintf(s->bodies[s->n], 64, "%.*s", (int)e->cipher_len, (const char *)e->cipher);
    else
        snprintf(s->bodies[s->n], 64, "%.*s", (int)e->body_len, (const char *)e->body);
    s->n++;
    return SOTTO_OK;
}

static enum sotto_err collect_history(void *arg, const struct store_message *m)
{
    struct seen *s = arg;

    cr_assert_lt(s->n, 16);
    s->ids[s->n] = m->id;
    s->states[s->n] = m->state;
    s->reasons[s->n] = m->fail_reason;
    s->read[s->n] = m->read;
    snprintf(s->bodies[s->n], 64, "%.*s", (int)m->body_len, (const char *)m->body);
    s->n++;
    return SOTTO_OK;
}

static int64_t queue(const char *text, uint8_t id, int64_t *outbox_id)
{
    struct store_msg_new m = {.contact_id = sx.alice.other, .type = 1, .sent_ms = 5};
    int64_t row = 0;
    enum sotto_err rc;

    memset(m.msg_id, id, sizeof(m.msg_id));
    m.body = (const uint8_t *)text;
    m.body_len = strlen(text);
    rc = store_message_send(sx.alice.p, sx.bob.self.key, &m, &row, outbox_id);
    cr_assert_eq(rc, SOTTO_OK, "%s", sotto_errname(rc));
    return row;
}

static void outbox_of(const uint8_t peer[static E2E_KEY_LEN], struct seen *s)
{
    memset(s, 0, sizeof(*s));
    cr_assert_eq(store_outbox_each(sx.alice.p, peer, 16, collect_outbox, s), SOTTO_OK);
}

Test(messages, the_outbox_is_sent_in_encryption_order_then_waiting_oldest_first)
{
    int64_t r1, r2, r3, o1, o2, o3;
    struct seen s;

    r1 = queue("first", 1, &o1);
    r2 = queue("second", 2, &o2);
    r3 = queue("third", 3, &o3);
    outbox_of(sx.bob.self.key, &s);
    cr_assert_eq(s.n, 3);
    cr_assert(!s.encrypted[0] && s.ids[0] == r1 && strcmp(s.bodies[0], "first") == 0);
    cr_assert_eq(s.ids[2], r3);
    /* the node encrypted the second before the first */
    cr_assert_eq(store_outbox_encrypted(sx.alice.p, o2, sx.bob.self.key, E2E_KIND_PREKEY,
                                        (const uint8_t *)"ct2", 3),
                 SOTTO_OK);
    cr_assert_eq(store_outbox_encrypted(sx.alice.p, o1, sx.bob.self.key, E2E_KIND_SIGNAL,
                                        (const uint8_t *)"ct1", 3),
                 SOTTO_OK);
    cr_assert_eq(store_outbox_attempted(sx.alice.p, o2, 9000), SOTTO_OK);
    outbox_of(sx.bob.self.key, &s);
    cr_assert_eq(s.n, 3);
    cr_assert(s.encrypted[0] && s.ids[0] == r2 && strcmp(s.bodies[0], "ct2") == 0);
    cr_assert_eq(s.attempts[0], 1);
    cr_assert(s.encrypted[1] && s.ids[1] == r1 && strcmp(s.bodies[1], "ct1") == 0);
    cr_assert(!s.encrypted[2] && s.ids[2] == r3);
    outbox_of(sx.alice.self.key, &s);
    cr_assert_eq(s.n, 0, "another peer's outbox is empty");
    cr_assert_eq(store_outbox_encrypted(sx.alice.p, 999, sx.bob.self.key, E2E_KIND_SIGNAL,
                                        (const uint8_t *)"x", 1),
                 SOTTO_ENOENT);
    cr_assert_eq(store_outbox_attempted(sx.alice.p, 999, 1), SOTTO_ENOENT);
    (void)o3;
    sess_done();
}

Test(messages, an_ack_counts_only_from_the_peer_the_entry_went_to)
{
    uint8_t ids[3][STORE_MSG_ID_LEN];
    int64_t o1, o2;
    size_t n = 9;
    struct seen s;

    queue("one", 1, &o1);
    queue("two", 2, &o2);
    cr_assert_eq(store_outbox_encrypted(sx.alice.p, o1, sx.bob.self.key, E2E_KIND_SIGNAL,
                                        (const uint8_t *)"c1", 2),
                 SOTTO_OK);
    memset(ids[0], 1, STORE_MSG_ID_LEN);
    memset(ids[1], 2, STORE_MSG_ID_LEN);
    memset(ids[2], 7, STORE_MSG_ID_LEN); /* unknown */
    cr_assert_eq(store_messages_delivered(sx.alice.p, sx.alice.self.key,
                                          (const uint8_t(*)[STORE_MSG_ID_LEN])ids, 3, &n),
                 SOTTO_OK);
    cr_assert_eq(n, 0, "an ack from someone else marks nothing");
    cr_assert_eq(store_messages_delivered(sx.alice.p, sx.bob.self.key,
                                          (const uint8_t(*)[STORE_MSG_ID_LEN])ids, 3, &n),
                 SOTTO_OK);
    cr_assert_eq(n, 2);
    outbox_of(sx.bob.self.key, &s);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM messages WHERE state = 3"), 2);
    cr_assert_eq(store_messages_delivered(sx.alice.p, sx.bob.self.key,
                                          (const uint8_t(*)[STORE_MSG_ID_LEN])ids, 3, &n),
                 SOTTO_OK);
    cr_assert_eq(n, 0, "acked again: nothing new");
    sess_done();
}

Test(messages, a_failure_keeps_its_reason_and_history_opens_the_newest_bodies_in_order)
{
    struct store_msg_new in = {
            .type = 1, .sent_ms = 3, .body = (const uint8_t *)"incoming", .body_len = 8};
    int64_t r1, r2, r4, o1, o2;
    struct seen s = {0};

    in.contact_id = sx.alice.other;
    r1 = queue("m1", 1, &o1);
    r2 = queue("m2", 2, &o2);
    memset(in.msg_id, 9, sizeof(in.msg_id));
    sx.fa.now_ms += 10;
    cr_assert_eq(store_message_received(sx.alice.p, sx.bob.self.key, &in, NULL), SOTTO_OK);
    sx.fa.now_ms += 10;
    r4 = queue("m4", 4, NULL);
    cr_assert_eq(store_message_failed(sx.alice.p, r2, SOTTO_EKEYCHANGED), SOTTO_OK);
    cr_assert_eq(store_message_failed(sx.alice.p, r2, SOTTO_OK), SOTTO_EINVAL);
    cr_assert_eq(store_message_set_read(sx.alice.p, r4), SOTTO_OK);
    cr_assert_eq(store_message_set_read(sx.alice.p, 999), SOTTO_ENOENT);
    cr_assert_eq(store_history_each(sx.alice.p, sx.alice.other, 3, collect_history, &s), SOTTO_OK);
    cr_assert_eq(s.n, 3, "the newest three");
    cr_assert_eq(s.ids[0], r2);
    cr_assert_str_eq(s.bodies[0], "m2");
    cr_assert_eq(s.states[0], STORE_MSG_FAILED);
    cr_assert_eq(s.reasons[0], SOTTO_EKEYCHANGED);
    cr_assert_str_eq(s.bodies[1], "incoming");
    cr_assert_eq(s.states[1], STORE_MSG_RECEIVED);
    cr_assert_eq(s.ids[2], r4);
    cr_assert(s.read[2]);
    cr_assert_eq(s.states[2], STORE_MSG_WAITING);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM outbox"), 2, "the failed entry went");
    (void)r1;
    (void)o1;
    (void)o2;
    sess_done();
}

Test(messages, an_outgoing_id_is_used_once_and_bad_messages_are_refused)
{
    struct store_msg_new m = {.type = 1, .body = (const uint8_t *)"x", .body_len = 1};

    m.contact_id = sx.alice.other;
    queue("first", 5, NULL);
    memset(m.msg_id, 5, sizeof(m.msg_id));
    cr_assert_eq(store_message_send(sx.alice.p, sx.bob.self.key, &m, NULL, NULL), SOTTO_EEXIST);
    memset(m.msg_id, 6, sizeof(m.msg_id));
    m.contact_id = 4242;
    cr_assert_eq(store_message_send(sx.alice.p, sx.bob.self.key, &m, NULL, NULL), SOTTO_ENOENT,
                 "no such contact");
    m.contact_id = sx.alice.other;
    m.body_len = STORE_MSG_BODY_MAX + 1;
    cr_assert_eq(store_message_send(sx.alice.p, sx.bob.self.key, &m, NULL, NULL), SOTTO_EINVAL);
    m.body_len = 1;
    m.sent_ms = (uint64_t)INT64_MAX + 1;
    cr_assert_eq(store_message_send(sx.alice.p, sx.bob.self.key, &m, NULL, NULL), SOTTO_EINVAL);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM messages"), 1);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM outbox"), 1);
    sess_done();
}

Test(messages, writes_join_the_callers_transaction_and_a_failed_one_undoes_only_itself)
{
    struct store_msg_new in = {.type = 2, .body = NULL, .body_len = 0};
    uint8_t id[STORE_MSG_ID_LEN];
    bool known = true;

    in.contact_id = sx.alice.other;
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    queue("rolled back", 1, NULL);
    store_tx_rollback(sx.alice.p);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM messages"), 0);

    memset(id, 3, sizeof(id));
    memcpy(in.msg_id, id, sizeof(id));
    cr_assert_eq(store_tx_begin(sx.alice.p), SOTTO_OK);
    cr_assert_eq(store_message_received(sx.alice.p, sx.bob.self.key, &in, NULL), SOTTO_OK);
    cr_assert_eq(store_message_received(sx.alice.p, sx.bob.self.key, &in, NULL), SOTTO_EEXIST);
    cr_assert(store_tx_open(sx.alice.p), "the caller's transaction goes on");
    cr_assert_eq(store_tx_commit(sx.alice.p), SOTTO_OK);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM messages"), 1);

    memset(id, 4, sizeof(id));
    cr_assert_eq(store_received_known(sx.alice.p, sx.bob.self.key, id, &known), SOTTO_OK);
    cr_assert_not(known);
    cr_assert_eq(store_received_mark(sx.alice.p, sx.bob.self.key, id), SOTTO_OK);
    cr_assert_eq(store_received_mark(sx.alice.p, sx.bob.self.key, id), SOTTO_EEXIST);
    cr_assert_eq(store_received_known(sx.alice.p, sx.bob.self.key, id, &known), SOTTO_OK);
    cr_assert(known);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM received"), 2);
    sess_done();
}

Test(messages, removing_a_contact_removes_its_messages_but_keeps_received_ids)
{
    struct store_msg_new in = {.type = 1, .body = (const uint8_t *)"hi", .body_len = 2};

    in.contact_id = sx.alice.other;
    memset(in.msg_id, 8, sizeof(in.msg_id));
    cr_assert_eq(store_message_received(sx.alice.p, sx.bob.self.key, &in, NULL), SOTTO_OK);
    queue("bye", 1, NULL);
    cr_assert_eq(store_contact_remove(sx.alice.p, sx.alice.other), SOTTO_OK);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM messages"), 0);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM outbox"), 0);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM received WHERE message_id IS NULL"), 1,
                 "a duplicate is still recognised");
    sess_done();
}

struct due {
    size_t n;
    uint8_t peers[4][E2E_KEY_LEN];
    uint64_t next[4];
};

static enum sotto_err collect_due(void *arg, const uint8_t peer[E2E_KEY_LEN], uint64_t next_ms)
{
    struct due *d = arg;

    cr_assert_lt(d->n, 4);
    memcpy(d->peers[d->n], peer, E2E_KEY_LEN);
    d->next[d->n++] = next_ms;
    return SOTTO_OK;
}

Test(messages, the_peers_with_something_due_are_listed_earliest_first)
{
    struct store_msg_new m = {.type = 1, .body = (const uint8_t *)"x", .body_len = 1};
    uint64_t now = sx.fa.now_ms;
    struct due d = {0};
    int64_t o1, o2;

    queue("to Bob", 1, &o1);
    m.contact_id = sx.alice.other;
    memset(m.msg_id, 2, sizeof(m.msg_id));
    /* an entry for another key of the contact, as after a key change */
    cr_assert_eq(store_message_send(sx.alice.p, sx.alice.self.key, &m, NULL, &o2), SOTTO_OK);
    cr_assert_eq(store_outbox_attempted(sx.alice.p, o1, now + 5000), SOTTO_OK);
    cr_assert_eq(store_outbox_peers_due(sx.alice.p, now, collect_due, &d), SOTTO_OK);
    cr_assert_eq(d.n, 1, "Bob's entry waits for its back-off");
    cr_assert_arr_eq(d.peers[0], sx.alice.self.key, E2E_KEY_LEN);
    memset(&d, 0, sizeof(d));
    cr_assert_eq(store_outbox_peers_due(sx.alice.p, now + 5000, collect_due, &d), SOTTO_OK);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.next[0], now);
    cr_assert_eq(d.next[1], now + 5000);
    cr_assert_arr_eq(d.peers[1], sx.bob.self.key, E2E_KEY_LEN);
    sess_done();
}

Test(messages, a_refused_entry_waits_again_for_a_fresh_session_with_its_id_kept)
{
    uint8_t other[E2E_KEY_LEN];
    int64_t row, o1;
    struct seen s;

    row = queue("again", 1, &o1);
    cr_assert_eq(store_outbox_encrypted(sx.alice.p, o1, sx.bob.self.key, E2E_KIND_PREKEY,
                                        (const uint8_t *)"old", 3),
                 SOTTO_OK);
    cr_assert_eq(store_outbox_rewait(sx.alice.p, o1, sx.bob.self.key), SOTTO_OK);
    outbox_of(sx.bob.self.key, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_not(s.encrypted[0]);
    cr_assert_str_eq(s.bodies[0], "again", "the body, to encrypt again");
    cr_assert_eq(s.ids[0], row);
    cr_assert_eq(db_int(&sx.alice, "SELECT state FROM messages"), STORE_MSG_WAITING);
    /* moved to the contact's new key */
    memcpy(other, sx.bob.self.key, sizeof(other));
    other[1] ^= 0xff;
    cr_assert_eq(store_outbox_rewait(sx.alice.p, o1, other), SOTTO_OK);
    outbox_of(sx.bob.self.key, &s);
    cr_assert_eq(s.n, 0);
    outbox_of(other, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(store_outbox_rewait(sx.alice.p, 999, other), SOTTO_ENOENT);
    sess_done();
}
