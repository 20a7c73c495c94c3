/* src/node/api.c: the local API's server side (docs/API.md): JSON requests with ids over
 * WebSocket on 127.0.0.1, the token first, responses and pushed events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "node/api_parse.h"
#include "node/node_int.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "store/messages.h"
#include "store/signal_store.h"
#include "util/text.h"
#include "wire/wire.h"

#define HISTORY_ROOM 4096 /* the rest of a history answer besides its messages */
#define READ_ROUNDS  8    /* read receipts one `read` sends at most (of WIRE_IDS_MAX ids) */

enum sotto_err node_contact_by_id(struct node *n, int64_t id, struct store_contact *out)
{
    return store_contact_get(n->p.profile, id, out);
}

void node_api_write(struct api_conn *c, json_t *m)
{
    char *text = m != NULL ? json_dumps(m, JSON_COMPACT) : NULL;
    json_t *id = json_object_get(m, "id"), *err;
    enum sotto_err rc =
            text != NULL ? net_link_send(c->l, (const uint8_t *)text, strlen(text)) : SOTTO_ENOMEM;

    free(text);
    /* a response is never dropped silently: the client gets an error in its place */
    if (rc != SOTTO_OK && json_is_integer(id) && json_object_get(m, "event") == NULL) {
        err = json_pack(
                "{s:O, s:b, s:{s:s, s:s}}", "id", id, "ok", 0, "error", "code", "failed", "message",
                rc == SOTTO_ETOOBIG ? "the answer is too large: ask for less" : sotto_strerror(rc));
        text = err != NULL ? json_dumps(err, JSON_COMPACT) : NULL;
        if (text != NULL)
            (void)net_link_send(c->l, (const uint8_t *)text, strlen(text));
        free(text);
        json_decref(err);
    }
    json_decref(m);
}

void node_api_write_all(struct node *n, json_t *ev)
{
    if (ev == NULL)
        return;
    for (struct api_conn *c = n->api_conns; c != NULL; c = c->next)
        if (c->authed)
            node_api_write(c, json_incref(ev));
}

void node_api_event(struct node *n, json_t *ev)
{
    node_out_api(n, NULL, ev);
}

/* Answers go out when the turn's transaction committed, after what the request wrote. */
static void api_send(struct api_conn *c, json_t *m)
{
    node_out_api(c->n, c, m);
}

static void reply_ok(struct api_conn *c, json_t *id, json_t *result)
{
    api_send(c, json_pack("{s:O, s:b, s:o}", "id", id, "ok", 1, "result",
                          result != NULL ? result : json_object()));
}

static void reply_err(struct api_conn *c, json_t *id, const char *code, const char *message)
{
    api_send(c, json_pack("{s:O, s:b, s:{s:s, s:s}}", "id", id != NULL ? id : json_null(), "ok", 0,
                          "error", "code", code, "message", message));
}

static const char *err_code(enum sotto_err rc)
{
    switch (rc) {
    case SOTTO_ENOENT:
        return "not_found";
    case SOTTO_EAMBIG:
        return "ambiguous";
    case SOTTO_EKEYCHANGED:
        return "key_changed";
    case SOTTO_EUNTRUSTED:
        return "untrusted";
    case SOTTO_EINVAL:
    case SOTTO_ETOOBIG:
        return "bad_request";
    default:
        return "failed";
    }
}

/* CONTACT as the user typed it: exactly one match. */
static enum sotto_err resolve(struct node *n, const char *query, struct store_contact *out)
{
    struct store_contact found[STORE_MATCH_MAX];
    size_t k = 0;
    enum sotto_err rc = store_contact_find(n->p.profile, query, found, &k);

    if (rc != SOTTO_OK)
        return rc;
    if (k == 0)
        return SOTTO_ENOENT;
    if (k > 1)
        return SOTTO_EAMBIG;
    *out = found[0];
    return SOTTO_OK;
}

/* Why messages to a contact wait, in words for the user. */
static void waiting_why(struct node *n, const struct store_contact *ct, bool held,
                        const struct node_peer *p, char *out, size_t cap)
{
    if (held)
        snprintf(out, cap,
                 "held: %s has a new key on the directory; compare the new safety number "
                 "(sotto verify %s) or accept it (sotto lookup %s --accept-new-key)",
                 ct->name, ct->name, ct->username[0] != '\0' ? ct->username : ct->name);
    else if (p != NULL && p->link != NULL)
        snprintf(out, cap, "linked: waiting for %s's node to acknowledge", ct->name);
    else if (p != NULL && p->why[0] != '\0')
        snprintf(out, cap, "%s; the node keeps trying", p->why);
    else
        snprintf(out, cap, "%s's node has not been reached yet; the node keeps trying", ct->name);
    (void)n;
}

static struct node_peer *peer_of(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (memcmp(n->peers[i].key, key, E2E_KEY_LEN) == 0)
            return &n->peers[i];
    return NULL;
}

/* Why messages to contact `ct` wait now; true when it is held. */
static bool contact_why(struct node *n, const struct store_contact *ct, char *out, size_t cap)
{
    uint8_t key[E2E_KEY_LEN];
    bool held = false;

    if (store_contact_held_key(n->p.profile, ct->id, key, &held) != SOTTO_OK)
        held = false;
    waiting_why(n, ct, held, peer_of(n, ct->key), out, cap);
    return held;
}

static void op_send(struct node *n, struct api_conn *c, const struct node_api_req *r)
{
    json_t *id = r->id;
    const char *who = r->contact;
    struct store_contact ct;
    struct store_msg_new m = {0};
    char idhex[2 * WIRE_ID_LEN + 1], msg[256], why[1024];
    json_t *result;
    bool held;
    enum sotto_err rc;

    rc = resolve(n, who, &ct);
    if (rc != SOTTO_OK) {
        snprintf(msg, sizeof(msg), "%s: %s", who,
                 rc == SOTTO_ENOENT   ? "no such contact (import their card, or look them up)"
                 : rc == SOTTO_EAMBIG ? "several contacts match: use the number"
                                      : sotto_strerror(rc));
        reply_err(c, id, err_code(rc), msg);
        return;
    }
    m.contact_id = ct.id;
    sotto_random(n->env, m.msg_id, sizeof(m.msg_id));
    m.type = WIRE_RECORD_TEXT;
    m.sent_ms = sotto_now_ms(n->env);
    m.body = (const uint8_t *)r->text;
    m.body_len = r->text_len;
    /* stored, with its outbox entry, before the first attempt; in the turn's transaction,
     * encrypted at its end, and answered once that committed */
    rc = node_tx(n);
    if (rc == SOTTO_OK)
        rc = store_message_send(n->p.profile, ct.key, &m, NULL, NULL);
    if (rc != SOTTO_OK) {
        reply_err(c, id, err_code(rc), sotto_strerror(rc));
        return;
    }
    sodium_bin2hex(idhex, sizeof(idhex), m.msg_id, sizeof(m.msg_id));
    held = contact_why(n, &ct, why, sizeof(why));
    result = json_pack("{s:s, s:s, s:s, s:b}", "id", idhex, "contact", ct.name, "state", "stored",
                       "held", held);
    if (held && result != NULL)
        json_object_set_new(result, "reason", json_string(why));
    reply_ok(c, id, result);
    node_flush(n, ct.key);
}

/* Marks the contact's unread messages read and stores the receipts that say so. */
static enum sotto_err read_receipts(struct node *n, const struct store_contact *ct, size_t *total)
{
    struct wire_ids ids;
    uint8_t body[2 + WIRE_IDS_MAX * WIRE_ID_LEN];
    struct store_msg_new m = {0};
    size_t blen = 0;
    enum sotto_err rc = SOTTO_OK;

    for (int round = 0; rc == SOTTO_OK && round < READ_ROUNDS; round++) {
        rc = store_messages_mark_read(n->p.profile, ct->id, WIRE_IDS_MAX, ids.ids, &ids.n);
        if (rc != SOTTO_OK || ids.n == 0)
            break;
        *total += ids.n;
        rc = wire_receipt_encode(&ids, body, sizeof(body), &blen);
        if (rc != SOTTO_OK)
            break;
        m.contact_id = ct->id;
        sotto_random(n->env, m.msg_id, sizeof(m.msg_id));
        m.type = WIRE_RECORD_RECEIPT;
        m.sent_ms = sotto_now_ms(n->env);
        m.body = body;
        m.body_len = blen;
        rc = store_message_send(n->p.profile, ct->key, &m, NULL, NULL);
        if (ids.n < WIRE_IDS_MAX)
            break;
    }
    return rc;
}

/* The user has seen the contact's messages: the unread ones are marked read, and read receipts
 * (Signal messages, record type 2, each listing up to WIRE_IDS_MAX ids) tell the contact. */
static void op_read(struct node *n, struct api_conn *c, const struct node_api_req *r)
{
    json_t *id = r->id;
    struct store_contact ct;
    size_t total = 0;
    enum sotto_err rc;

    rc = resolve(n, r->contact, &ct);
    if (rc != SOTTO_OK) {
        reply_err(c, id, err_code(rc), rc == SOTTO_ENOENT ? "no such contact" : sotto_strerror(rc));
        return;
    }
    /* the marks and their receipts: kept or undone together */
    rc = node_step_begin(n);
    if (rc == SOTTO_OK) {
        rc = read_receipts(n, &ct, &total);
        rc = node_step_end(n, rc);
    }
    if (rc != SOTTO_OK) {
        reply_err(c, id, err_code(rc), sotto_strerror(rc));
        return;
    }
    if (total > 0)
        node_flush(n, ct.key);
    reply_ok(c, id, json_pack("{s:s, s:I}", "contact", ct.name, "marked", (json_int_t)total));
}

/* Dials a contact now: at `address` when given (an IP literal with a port; the node there must
 * prove the contact's key), else at its known addresses, skipping the retry back-off. The
 * outcome comes as a link_up, link_refused or dial_failed event. */
static void op_connect(struct node *n, struct api_conn *c, const struct node_api_req *r)
{
    json_t *id = r->id;
    const char *addr = r->address;
    struct store_contact ct;
    enum sotto_err rc;

    rc = resolve(n, r->contact, &ct);
    if (rc != SOTTO_OK) {
        reply_err(c, id, err_code(rc), rc == SOTTO_ENOENT ? "no such contact" : sotto_strerror(rc));
        return;
    }
    if (n->p.no_dial) {
        reply_err(c, id, "bad_request", "this node only listens (chat --mode listen)");
        return;
    }
    if (addr != NULL) {
        rc = node_dial_at(n, ct.key, addr);
        if (rc == SOTTO_EINVAL) {
            reply_err(c, id, "bad_request",
                      "the address must be an IP literal with a port "
                      "(1.2.3.4:8766 or [::1]:8766)");
            return;
        }
    } else {
        for (size_t i = 0; i < n->n_peers; i++)
            if (memcmp(n->peers[i].key, ct.key, E2E_KEY_LEN) == 0)
                n->peers[i].next_dial_ms = 0;
        node_dial_contact(n, ct.key);
        rc = SOTTO_OK;
    }
    if (rc != SOTTO_OK) {
        reply_err(c, id, err_code(rc), sotto_strerror(rc));
        return;
    }
    reply_ok(c, id, NULL);
}

static const char *state_name(enum store_msg_state s)
{
    switch (s) {
    case STORE_MSG_RECEIVED:
        return "received";
    case STORE_MSG_WAITING:
        return "waiting";
    case STORE_MSG_ENCRYPTED:
        return "sent";
    case STORE_MSG_DELIVERED:
        return "delivered";
    default:
        return "failed";
    }
}

struct history_ctx {
    json_t *list;
    const char *why_waiting; /* the reason a waiting message waits */
};

static enum sotto_err history_each(void *arg, const struct store_message *m)
{
    struct history_ctx *hc = arg;
    json_t *list = hc->list;
    char idhex[2 * STORE_MSG_ID_LEN + 1];
    json_t *o;

    sodium_bin2hex(idhex, sizeof(idhex), m->msg_id, sizeof(m->msg_id));
    o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s%, s:b}", "id", idhex, "direction",
                  m->outgoing ? "out" : "in", "sent_ms", (json_int_t)m->sent_ms, "stored_ms",
                  (json_int_t)m->stored_ms, "state", state_name(m->state), "text",
                  (const char *)m->body, m->body_len, "read", m->read);
    if (o == NULL)
        return SOTTO_ENOMEM;
    if (m->state == STORE_MSG_FAILED)
        json_object_set_new(o, "reason", json_string(sotto_strerror(m->fail_reason)));
    else if (m->state == STORE_MSG_WAITING)
        json_object_set_new(o, "reason", json_string(hc->why_waiting));
    return json_array_append_new(list, o) == 0 ? SOTTO_OK : SOTTO_ENOMEM;
}

static void op_history(struct node *n, struct api_conn *c, const struct node_api_req *r)
{
    json_t *id = r->id, *list;
    bool truncated = false;
    struct store_contact ct;
    struct history_ctx hc;
    char why[1024];
    enum sotto_err rc;

    rc = resolve(n, r->contact, &ct);
    if (rc != SOTTO_OK) {
        reply_err(c, id, err_code(rc), rc == SOTTO_ENOENT ? "no such contact" : sotto_strerror(rc));
        return;
    }
    list = json_array();
    hc.list = list;
    hc.why_waiting = why;
    contact_why(n, &ct, why, sizeof(why));
    rc = list != NULL ? store_history_each(n->p.profile, ct.id, r->limit, history_each, &hc)
                      : SOTTO_ENOMEM;
    if (rc != SOTTO_OK) {
        json_decref(list);
        reply_err(c, id, "failed", sotto_strerror(rc));
        return;
    }
    /* the answer must fit in one API message: the oldest of the window go first */
    while (json_array_size(list) > 0 &&
           json_dumpb(list, NULL, 0, JSON_COMPACT) > NET_API_MSG_MAX - HISTORY_ROOM) {
        json_array_remove(list, 0);
        truncated = true;
    }
    reply_ok(c, id,
             json_pack("{s:s, s:I, s:o, s:b}", "contact", ct.name, "contact_id", (json_int_t)ct.id,
                       "messages", list, "truncated", truncated));
}

struct outbox_ctx {
    struct node *n;
    json_t *list;
};

static enum sotto_err outbox_each(void *arg, const struct store_outbox_summary *s)
{
    struct outbox_ctx *oc = arg;
    struct node *n = oc->n;
    struct store_contact ct = {0};
    uint8_t key[E2E_KEY_LEN];
    int64_t cid = 0;
    bool held = false;
    char why[1024];
    struct node_peer *p = peer_of(n, s->peer);

    if (store_peer_trust(n->p.profile, s->peer, false, &cid) != SOTTO_OK ||
        node_contact_by_id(n, cid, &ct) != SOTTO_OK)
        snprintf(ct.name, sizeof(ct.name), "%s", "a former key of a contact");
    else if (store_contact_held_key(n->p.profile, cid, key, &held) != SOTTO_OK)
        held = false;
    waiting_why(n, &ct, held, p, why, sizeof(why));
    return json_array_append_new(
                   oc->list, json_pack("{s:s, s:I, s:I, s:I, s:b, s:b, s:I, s:s}", "contact",
                                       ct.name, "waiting", (json_int_t)s->waiting, "sent",
                                       (json_int_t)s->sent, "attempts", (json_int_t)s->attempts,
                                       "linked", p != NULL && p->link != NULL, "held", held,
                                       "next_attempt_ms", (json_int_t)s->next_ms, "why", why)) == 0
                   ? SOTTO_OK
                   : SOTTO_ENOMEM;
}

static void op_status(struct node *n, struct api_conn *c, json_t *id)
{
    struct outbox_ctx oc = {.n = n, .list = json_array()};
    json_t *links = json_array();
    char name[128];
    struct store_contact ct;
    int64_t cid;

    for (size_t i = 0; i < n->n_peers; i++) {
        struct node_peer *p = &n->peers[i];

        if (p->link == NULL)
            continue;
        snprintf(name, sizeof(name), "?");
        if (store_peer_trust(n->p.profile, p->key, false, &cid) == SOTTO_OK &&
            node_contact_by_id(n, cid, &ct) == SOTTO_OK)
            snprintf(name, sizeof(name), "%s", ct.name);
        json_array_append_new(links, json_pack("{s:s, s:s, s:b}", "peer", name, "address",
                                               net_link_peer(p->link), "dialed",
                                               net_link_dialed(p->link)));
    }
    if (oc.list == NULL || store_outbox_summaries(n->p.profile, outbox_each, &oc) != SOTTO_OK) {
        json_decref(oc.list);
        json_decref(links);
        reply_err(c, id, "failed", "cannot read the outbox");
        return;
    }
    reply_ok(c, id,
             json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                       "name", n->self.name, "number", (json_int_t)n->self.number, "peer_port",
                       (json_int_t)net_loop_port(n->loop), "api_port",
                       (json_int_t)net_loop_api_port(n->loop), "links", links, "outbox", oc.list,
                       "times", "commits", (json_int_t)n->times.turns_written, "encrypted",
                       (json_int_t)n->times.encrypted, "decrypted", (json_int_t)n->times.decrypted,
                       "encrypt_us", (json_int_t)(n->times.encrypt_ns / 1000), "decrypt_us",
                       (json_int_t)(n->times.decrypt_ns / 1000), "commit_us",
                       (json_int_t)(n->times.commit_ns / 1000), "send_us",
                       (json_int_t)(n->times.send_ns / 1000)));
}

static void api_up(void *arg, struct net_link *l, void *cookie)
{
    struct node *n = arg;
    struct api_conn *c = sotto_zalloc(n->env, sizeof(*c));

    (void)cookie;
    if (c == NULL) {
        net_link_close(l, NET_CLOSE_GOING_AWAY, "out of memory");
        return;
    }
    c->n = n;
    c->l = l;
    c->next = n->api_conns;
    n->api_conns = c;
    net_link_set_user(l, c);
}

/* An accepted request, on an authenticated connection but for "auth" itself. */
static void api_do(struct node *n, struct api_conn *c, const struct node_api_req *r)
{
    switch (r->op) {
    case NODE_API_AUTH:
        c->authed = true;
        reply_ok(c, r->id, NULL);
        break;
    case NODE_API_SEND:
        op_send(n, c, r);
        break;
    case NODE_API_HISTORY:
        op_history(n, c, r);
        break;
    case NODE_API_STATUS:
        op_status(n, c, r->id);
        break;
    case NODE_API_CONNECT:
        op_connect(n, c, r);
        break;
    case NODE_API_READ:
        op_read(n, c, r);
        break;
    default:
        break; /* node_api_parse() accepts none other */
    }
}

static void api_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    struct node *n = arg;
    struct api_conn *c = net_link_user(l);
    struct node_api_req req;
    enum sotto_err rc;

    if (c == NULL)
        return;
    n->frames_in++;
    /* until the token came, the only request taken is "auth" carrying it */
    rc = node_api_parse(data, len, c->authed ? NULL : n->token, &req);
    if (rc == SOTTO_OK) {
        api_do(n, c, &req);
    } else {
        if (rc == SOTTO_EREFUSED)
            log_warn(n->env->log, "local API: a connection without the right token: closed");
        reply_err(c, req.id, req.err.code, req.err.message);
        if (req.err.close_why != NULL)
            net_link_close(l, NET_CLOSE_POLICY, req.err.close_why);
    }
    node_api_req_clear(&req);
}

static void api_down(void *arg, struct net_link *l, unsigned code, const char *why)
{
    struct node *n = arg;
    struct api_conn *c = net_link_user(l), **pp;

    (void)code;
    (void)why;
    for (pp = &n->api_conns; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c != NULL) {
        node_out_forget_api(n, c);
        sotto_free(n->env, c);
    }
    net_link_set_user(l, NULL);
}

enum sotto_err node_api_listen(struct node *n, unsigned port)
{
    struct net_api_params ap = {
            .port = port,
            .ev = {.up = api_up, .frame = api_frame, .down = api_down},
            .arg = n,
    };

    return net_loop_listen_api(n->loop, &ap);
}

void node_api_close(struct node *n)
{
    (void)n; /* connections go with the loop: api_down frees each */
}
