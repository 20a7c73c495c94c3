/* src/node/pass.c: the node's turn of the loop, and group commit (DESIGN.md, "Delivery").
 *
 * Everything one turn does — frames in, API requests, timers, directory results — writes into
 * one transaction, which the first write opens (node_tx). What may only follow a commit is held
 * here meanwhile: acknowledgements (the receiver acknowledges only what it committed), the
 * frames of messages just encrypted (a ciphertext leaves only once the ratchet step that made it
 * is stored, or a crash would make the session encrypt again under the same key), API answers
 * ("stored" means committed) and events. At the end of the turn (node_pass_end) the outboxes of
 * the peers that want it are flushed into the same transaction, the transaction commits, once,
 * and what was held goes out in the order it was held. A commit that fails sends nothing it
 * held: peers send again, as after a crash, and each API request held gets an error instead of
 * its answer.
 *
 * Frames for a link that goes down before the end of the turn are dropped (what they carried is
 * still in an outbox, or will be acknowledged again); so are answers to an API connection that
 * went. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "node/node_int.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "wire/wire.h"

/* A transaction gathers turns while each brings frames, up to these; then it commits. */
#define GATHER_TURNS 64
#define GATHER_NS    (2 * 1000 * 1000)

enum out_kind { OUT_FRAME, OUT_ACK, OUT_API };

struct node_out {
    struct node_out *next;
    enum out_kind kind;
    struct net_link *l;   /* OUT_FRAME, OUT_ACK: NULL once the link went down */
    struct nlink *nl;     /* the link's state, for its count of held bytes */
    struct api_conn *c;   /* OUT_API: NULL for an event to every authenticated client */
    bool to_all;          /* OUT_API: an event */
    json_t *json;         /* OUT_API */
    struct wire_ids *ids; /* OUT_ACK: the ids acknowledged at once */
    size_t len;           /* OUT_FRAME */
    uint8_t data[];
};

uint64_t node_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void out_push(struct node *n, struct node_out *o)
{
    o->next = NULL;
    *n->out_tail = o;
    n->out_tail = &o->next;
}

static void out_free(struct node_out *o)
{
    json_decref(o->json);
    free(o->ids);
    free(o);
}

enum sotto_err node_tx(struct node *n)
{
    enum sotto_err rc;

    if (n->tx_lost)
        return SOTTO_EDB;
    if (n->tx_open) {
        if (store_tx_open(n->p.profile))
            return SOTTO_OK;
        /* SQLite rolled it back by itself (disk full, I/O error): the turn's work is gone,
         * and nothing more of this turn may commit on its own as if it were whole */
        n->tx_lost = true;
        return SOTTO_EDB;
    }
    rc = store_tx_begin(n->p.profile);
    if (rc == SOTTO_OK) {
        n->tx_open = true;
        n->tx_since_ns = node_mono_ns();
    }
    return rc;
}

enum sotto_err node_step_begin(struct node *n)
{
    enum sotto_err rc = node_tx(n);

    return rc == SOTTO_OK ? store_tx_step_begin(n->p.profile) : rc;
}

enum sotto_err node_step_end(struct node *n, enum sotto_err rc)
{
    return store_tx_step_end(n->p.profile, rc);
}

enum sotto_err node_out_frame(struct node *n, struct net_link *l, const struct wire_frame *f)
{
    struct nlink *nl = net_link_is_api(l) ? NULL : net_link_user(l);
    size_t size = wire_frame_size(f);
    struct node_out *o;
    enum sotto_err rc;

    if (size == 0)
        return SOTTO_EINVAL;
    o = calloc(1, sizeof(*o) + size);
    if (o == NULL)
        return SOTTO_ENOMEM;
    rc = wire_frame_encode(f, o->data, size, &o->len);
    if (rc != SOTTO_OK) {
        free(o);
        return rc;
    }
    o->kind = OUT_FRAME;
    o->l = l;
    o->nl = nl;
    if (nl != NULL)
        nl->held += o->len;
    out_push(n, o);
    return SOTTO_OK;
}

void node_out_ack(struct node *n, struct nlink *nl, const uint8_t id[static WIRE_ID_LEN])
{
    struct node_out *o = nl->ack_out;

    if (o == NULL || o->ids->n == WIRE_ACK_MAX) {
        o = calloc(1, sizeof(*o));
        if (o != NULL)
            o->ids = calloc(1, sizeof(*o->ids));
        if (o == NULL || o->ids == NULL) {
            free(o);
            return; /* not acknowledged now: the peer sends it again, and we acknowledge then */
        }
        o->kind = OUT_ACK;
        o->l = nl->l;
        o->nl = nl;
        nl->ack_out = o;
        out_push(n, o);
    }
    memcpy(o->ids->ids[o->ids->n++], id, WIRE_ID_LEN);
}

void node_out_api(struct node *n, struct api_conn *c, json_t *m)
{
    struct node_out *o;

    if (m == NULL)
        return;
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        /* an answer is never dropped silently: the client's deadline tells it */
        log_warn(n->env->log, "local API: out of memory: an answer is lost");
        json_decref(m);
        return;
    }
    o->kind = OUT_API;
    o->c = c;
    o->to_all = c == NULL;
    o->json = m;
    out_push(n, o);
}

void node_out_forget_link(struct node *n, struct net_link *l)
{
    for (struct node_out *o = n->out_head; o != NULL; o = o->next)
        if (o->kind != OUT_API && o->l == l) {
            o->l = NULL;
            o->nl = NULL;
        }
}

void node_out_forget_api(struct node *n, struct api_conn *c)
{
    for (struct node_out *o = n->out_head; o != NULL; o = o->next)
        if (o->kind == OUT_API && o->c == c)
            o->c = NULL; /* with to_all false: dropped */
}

/* The commit failed: each request's answer becomes an error; nothing else goes out. */
static void out_failed(struct node *n, enum sotto_err rc)
{
    for (struct node_out *o = n->out_head; o != NULL; o = o->next) {
        json_t *id = o->kind == OUT_API && !o->to_all ? json_object_get(o->json, "id") : NULL;
        json_t *err;

        o->l = NULL; /* not sent (out_send still gives its bytes back to the link's count) */
        if (!json_is_integer(id))
            continue;
        err = json_pack("{s:O, s:b, s:{s:s, s:s}}", "id", id, "ok", 0, "error", "code", "failed",
                        "message", sotto_strerror(rc));
        json_decref(o->json);
        o->json = err;
    }
    for (struct node_out *o = n->out_head; o != NULL; o = o->next)
        if (o->kind == OUT_API && o->to_all) {
            json_decref(o->json); /* events about what did not commit */
            o->json = NULL;
        }
}

static void out_send(struct node *n, struct node_out *o)
{
    struct wire_frame f = {.type = WIRE_ACK};

    switch (o->kind) {
    case OUT_FRAME:
        if (o->nl != NULL)
            o->nl->held -= o->len;
        if (o->l != NULL && net_link_send(o->l, o->data, o->len) != SOTTO_OK)
            log_info(n->env->log, "link %s: a frame is not sent now (its queue is full)",
                     net_link_peer(o->l));
        break;
    case OUT_ACK:
        if (o->nl != NULL && o->nl->ack_out == o)
            o->nl->ack_out = NULL;
        if (o->l != NULL) {
            f.ack = *o->ids;
            (void)node_out_frame(n, o->l, &f);
            /* encoded and queued behind: sent below, in this same turn */
        }
        break;
    case OUT_API:
        if (o->to_all)
            node_api_write_all(n, o->json);
        else if (o->c != NULL && o->json != NULL)
            node_api_write(o->c, json_incref(o->json));
        break;
    }
}

/* Sends what was held, in order. An ACK is encoded when its turn comes (it gathered the ids of
 * the whole turn); the frame it becomes is queued behind and sent in this same loop. */
static void out_flush(struct node *n)
{
    struct node_out *o;

    while ((o = n->out_head) != NULL) {
        out_send(n, o);
        n->out_head = o->next;
        if (n->out_head == NULL)
            n->out_tail = &n->out_head;
        out_free(o);
    }
}

void node_out_init(struct node *n)
{
    n->out_head = NULL;
    n->out_tail = &n->out_head;
}

void node_out_drop(struct node *n)
{
    struct node_out *o, *next;

    for (o = n->out_head; o != NULL; o = next) {
        next = o->next;
        if (o->kind == OUT_ACK && o->nl != NULL && o->nl->ack_out == o)
            o->nl->ack_out = NULL;
        out_free(o);
    }
    node_out_init(n);
}

/* Commits what the turn wrote. SOTTO_OK when nothing was open. */
static enum sotto_err commit(struct node *n)
{
    enum sotto_err rc;

    uint64_t t0;

    if (!n->tx_open)
        return SOTTO_OK;
    n->tx_open = false;
    if (n->tx_lost || !store_tx_open(n->p.profile)) {
        n->tx_lost = false;
        log_error(n->env->log, "the profile rolled this turn's work back (the disk is full or "
                               "failing?): it is undone");
        return SOTTO_EDB;
    }
    t0 = node_mono_ns();
    rc = store_tx_commit(n->p.profile);
    n->times.commit_ns += node_mono_ns() - t0;
    n->times.turns_written++;
    if (rc != SOTTO_OK) {
        store_tx_rollback(n->p.profile);
        log_error(n->env->log, "the profile cannot commit (%s): this turn's work is undone",
                  sotto_strerror(rc));
    }
    return rc;
}

/* Whether to keep gathering: this turn brought frames or requests (more may be on their way in
 * the same burst: a peer writes many frames at once, and each TLS record is a turn of its own),
 * and the transaction is young. The next turn then does not wait: when it brings nothing, the
 * burst is over and the transaction commits. */
static bool gather_more(struct node *n)
{
    bool busy = n->frames_in != n->frames_at_end;

    n->frames_at_end = n->frames_in;
    return n->tx_open && busy && n->turns_open < GATHER_TURNS &&
           node_mono_ns() - n->tx_since_ns < GATHER_NS;
}

void node_pass_end(void *arg)
{
    struct node *n = arg;
    enum sotto_err rc;
    uint64_t t0;

    node_flush_wanted(n);
    if (gather_more(n)) {
        n->turns_open++;
        net_loop_wake(n->loop);
        return;
    }
    n->turns_open = 0;
    rc = commit(n);
    if (rc != SOTTO_OK) {
        out_failed(n, rc);
        node_turn_undone(n);
    }
    t0 = node_mono_ns();
    out_flush(n);
    n->times.send_ns += node_mono_ns() - t0;
    if (n->again) {
        /* more is ready (a flush stopped at its batch size): a turn without waiting */
        n->again = false;
        net_loop_wake(n->loop);
    }
}

void node_pass_close(struct node *n)
{
    /* what the last turn wrote is kept; what it held is not sent (the links are going) */
    (void)commit(n);
    node_out_drop(n);
}
