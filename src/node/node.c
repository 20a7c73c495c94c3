/* src/node/node.c: the node's core (see node.h). Everything runs on the loop's thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "e2e/session.h"
#include "identity/card.h"
#include "net/link.h"
#include "node/node.h"
#include "node/dirwork.h"
#include "node/node_int.h"
#include "node/runfile.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "store/messages.h"
#include "store/profile.h"
#include "store/signal_store.h"
#include "util/bytes.h"
#include "util/text.h"
#include "wire/wire.h"

_Static_assert(NET_LINK_MSG_MAX == WIRE_FRAME_MAX, "links carry whole frames");

#define UNPROVEN_RX_MAX 8192  /* until the peer proved its key: a HELLO and a CARD fit */
#define PROOF_MS        10000 /* a link must prove its key within this */
#define UNPROVEN_MAX    256   /* links waiting for a proof at once */
#define FDS_MAX         8192  /* descriptors the node asks for (the open-files limit raised) */
#define FDS_SPARE       64    /* of them, kept for the profile, the API and the directory */
#define TICK_MS         1000
#define RETRY_MS        5000 /* the first wait before another attempt; it doubles each time */
#define RETRY_MAX_S     300  /* the longest wait (--retry-max) */
#define RECENT_MS       (7 * 24 * 3600 * 1000ull) /* contacts talked to within this are dialed */
#define RECENT_MAX      64                        /* ... at start, at most this many */
#define WAL_CAP_PAGES   8000  /* a log this long is checkpointed at once, idle or not */
#define DIR_CHECK_MS    10000 /* the profile's directory and registration looked at this often */
#define LOOKUP_MS       30000 /* a contact's addresses are looked up again at most this often */
#define ENCRYPT_BATCH   256   /* messages one peer's flush encrypts in a turn */
#define SEND_BATCH      4096  /* frames one peer's flush sends in a turn (the queue caps it too) */
#define REFUSALS_MAX    3 /* fresh sessions tried for a peer before its refusals count as final */

/* ---- helpers ---- */

static void hex_of(const uint8_t *b, size_t n, char *out, size_t cap)
{
    sodium_bin2hex(out, cap, b, n);
}

static struct node_peer *peer_find(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (memcmp(n->peers[i].key, key, E2E_KEY_LEN) == 0)
            return &n->peers[i];
    return NULL;
}

static struct node_peer *peer_get(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    struct node_peer *p = peer_find(n, key), *grown;

    if (p != NULL)
        return p;
    if (n->n_peers == n->cap_peers) {
        size_t cap = n->cap_peers == 0 ? 16 : n->cap_peers * 2;

        grown = sotto_zalloc(n->env, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        if (n->n_peers > 0)
            memcpy(grown, n->peers, n->n_peers * sizeof(*grown));
        sotto_free(n->env, n->peers);
        n->peers = grown;
        n->cap_peers = cap;
        /* links point at peers by index-stable key lookups only (see nlink.peer_key) */
    }
    p = &n->peers[n->n_peers++];
    memset(p, 0, sizeof(*p));
    memcpy(p->key, key, E2E_KEY_LEN);
    return p;
}

static const char *peer_label(struct node *n, const uint8_t key[static E2E_KEY_LEN], char *buf,
                              size_t cap)
{
    int64_t cid = 0;
    struct store_contact c;
    char hex[2 * E2E_KEY_LEN + 1];

    if (store_peer_trust(n->p.profile, key, false, &cid) == SOTTO_OK &&
        node_contact_by_id(n, cid, &c) == SOTTO_OK) {
        snprintf(buf, cap, "%s", c.name);
        return buf;
    }
    hex_of(key, E2E_KEY_LEN, hex, sizeof(hex));
    snprintf(buf, cap, "an unknown node (key %.16s…)", hex + 2);
    return buf;
}

/* ---- frames out ---- */

/* Frames go out when the turn's transaction committed (pass.c). */
static enum sotto_err send_frame(struct node *n, struct net_link *l, const struct wire_frame *f)
{
    return node_out_frame(n, l, f);
}

static void send_refuse(struct node *n, struct net_link *l, const uint8_t id[static WIRE_ID_LEN],
                        uint8_t reason)
{
    struct wire_frame f = {.type = WIRE_REFUSE};

    memcpy(f.refuse.id, id, WIRE_ID_LEN);
    f.refuse.reason = reason;
    (void)send_frame(n, l, &f);
}

/* ---- the outbox ----
 * The store's walks must not write while they run, so each step collects first (copies of
 * what it needs) and acts after the walk. */

struct sendable {
    struct sendable *next;
    int64_t outbox_id;
    int64_t seq;
    uint32_t attempts;
    uint8_t msg_id[WIRE_ID_LEN];
    uint8_t kind;
    size_t len;
    uint8_t cipher[];
};

struct flush_ctx {
    size_t budget; /* bytes the link's queue can still take */
    struct sendable *head, **tail;
    bool full; /* stopped by the budget */
};

static enum sotto_err collect_sendable(void *arg, const struct store_outbox_entry *e)
{
    struct flush_ctx *fc = arg;
    struct sendable *sd;

    /* in encryption order: the first entry the link's queue cannot take stops the walk, so that
     * nothing overtakes it (the library refuses a counter 2000 ahead of its chain); what the
     * link carried already is not in the walk unless it is due again */
    if (e->cipher_len + 64 > fc->budget) {
        fc->full = true;
        return SOTTO_ECANCELED;
    }
    sd = malloc(sizeof(*sd) + e->cipher_len);
    if (sd == NULL)
        return SOTTO_ENOMEM;
    sd->next = NULL;
    sd->outbox_id = e->id;
    sd->attempts = e->attempts;
    sd->seq = e->seq;
    memcpy(sd->msg_id, e->msg_id, WIRE_ID_LEN);
    sd->kind = e->kind == E2E_KIND_PREKEY ? WIRE_KIND_PREKEY : WIRE_KIND_SIGNAL;
    sd->len = e->cipher_len;
    memcpy(sd->cipher, e->cipher, e->cipher_len);
    *fc->tail = sd;
    fc->tail = &sd->next;
    fc->budget -= e->cipher_len + 64;
    return SOTTO_OK;
}

/* A waiting entry of a peer, copied; its body in the node's secret arena. */
struct waiting {
    struct waiting *next;
    int64_t outbox_id;
    uint8_t msg_id[WIRE_ID_LEN];
    uint32_t type;
    uint64_t sent_ms;
    uint8_t *body; /* in n->arena */
    size_t body_len;
};

struct waiting_list {
    struct node *n;
    struct waiting *head, **tail;
    size_t used; /* bytes of the arena taken */
    bool full;   /* the arena could take no more: the rest in the next turn */
};

static void waiting_free(struct waiting_list *wl)
{
    struct waiting *w, *next;

    for (w = wl->head; w != NULL; w = next) {
        next = w->next;
        free(w);
    }
    sodium_memzero(wl->n->arena, wl->used);
}

static enum sotto_err collect_waiting(void *arg, const struct store_outbox_entry *e)
{
    struct waiting_list *wl = arg;
    struct waiting *w;

    if (e->body_len > NODE_ARENA - wl->used) {
        wl->full = true;
        return SOTTO_ECANCELED;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return SOTTO_ENOMEM;
    w->body = wl->n->arena + wl->used;
    wl->used += e->body_len;
    w->outbox_id = e->id;
    memcpy(w->msg_id, e->msg_id, WIRE_ID_LEN);
    w->type = e->type;
    w->sent_ms = e->sent_ms;
    if (e->body_len > 0)
        memcpy(w->body, e->body, e->body_len);
    w->body_len = e->body_len;
    *wl->tail = w;
    wl->tail = &w->next;
    return SOTTO_OK;
}

/* Encrypts one waiting entry: the record, the ratchet step and the outbox entry in one step of
 * the turn's transaction, kept or undone together. */
static enum sotto_err encrypt_one(struct node *n, const uint8_t key[static E2E_KEY_LEN],
                                  const struct waiting *w)
{
    struct wire_record rec = {.type = (uint8_t)w->type, .sent_at_ms = w->sent_ms};
    uint8_t *plain = n->scratch, *ct = NULL;
    size_t plen = 0, clen = 0, size;
    enum e2e_kind kind;
    enum sotto_err rc;
    uint64_t t0;

    memcpy(rec.id, w->msg_id, WIRE_ID_LEN);
    rec.body = w->body;
    rec.body_len = w->body_len;
    size = wire_record_size(&rec);
    if (size == 0 || size > NODE_SCRATCH)
        return SOTTO_EINVAL;
    ct = malloc(size + E2E_CIPHER_OVERHEAD);
    rc = ct != NULL ? SOTTO_OK : SOTTO_ENOMEM;
    if (rc == SOTTO_OK)
        rc = wire_record_encode(&rec, plain, size, &plen);
    t0 = node_mono_ns();
    if (rc == SOTTO_OK)
        rc = node_step_begin(n);
    if (rc == SOTTO_OK) {
        rc = e2e_session_encrypt(n->sess, key, plain, plen, &kind, ct, size + E2E_CIPHER_OVERHEAD,
                                 &clen);
        if (rc == SOTTO_OK)
            rc = store_outbox_encrypted(n->p.profile, w->outbox_id, key, kind, ct, clen);
        rc = node_step_end(n, rc);
    }
    n->times.encrypt_ns += node_mono_ns() - t0;
    n->times.encrypted += rc == SOTTO_OK;
    sodium_memzero(plain, size);
    free(ct);
    return rc;
}

/* Encrypts the peer's waiting entries, oldest first, when a session exists: up to ENCRYPT_BATCH
 * of them; true when that many were encrypted (more may wait). */
static bool encrypt_waiting(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    struct waiting_list wl = {.n = n, .tail = &wl.head};
    bool has = false;
    enum sotto_err rc;
    size_t done = 0;

    if (e2e_session_exists(n->sess, key, &has) != SOTTO_OK || !has)
        return false;
    rc = store_outbox_walk(n->p.profile, key, STORE_OUTBOX_WAITING, 0, 0, ENCRYPT_BATCH,
                           collect_waiting, &wl);
    if (rc == SOTTO_ECANCELED)
        rc = SOTTO_OK; /* the arena is full: what it took now, the rest next turn */
    for (struct waiting *w = wl.head; rc == SOTTO_OK && w != NULL; w = w->next) {
        rc = encrypt_one(n, key, w);
        done += rc == SOTTO_OK;
    }
    waiting_free(&wl);
    if (rc != SOTTO_OK) {
        /* held, or no longer trusted: it waits (status and the chat say why) */
        log_info(n->env->log, "a message waits: %s", sotto_strerror(rc));
        return false;
    }
    return done == ENCRYPT_BATCH || (wl.full && done > 0);
}

/* Capped exponential back-off (DESIGN.md, "Delivery"): the wait before attempt tries + 1. */
static uint64_t backoff_ms(const struct node *n, unsigned tries)
{
    uint64_t cap = (uint64_t)(n->p.retry_max_s != 0 ? n->p.retry_max_s : RETRY_MAX_S) * 1000;
    uint64_t d = (uint64_t)RETRY_MS << (tries < 16 ? tries : 16);

    return d < cap ? d : cap;
}

/* The contact behind `key`, when it is one. */
static bool contact_of(struct node *n, const uint8_t key[static E2E_KEY_LEN],
                       struct store_contact *c)
{
    int64_t cid = 0;

    return store_peer_trust(n->p.profile, key, false, &cid) == SOTTO_OK &&
           node_contact_by_id(n, cid, c) == SOTTO_OK;
}

static void dir_submit(struct node *n, struct node_peer *p, enum dir_job_kind kind,
                       const struct store_contact *c)
{
    struct dir_job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return;
    j->kind = kind;
    j->number = c->number;
    if (kind == DIR_JOB_LOOKUP)
        memcpy(j->username, c->username, sizeof(j->username));
    memcpy(j->key, p->key, E2E_KEY_LEN);
    if (kind == DIR_JOB_BUNDLE)
        p->dir_bundle_pending = true;
    else
        p->dir_lookup_pending = true;
    node_dirwork_submit(n->dir, j);
}

/* A contact the directory knows (its username is confirmed) gets its first session from a
 * directory bundle, with a one-time prekey (DESIGN.md); others from the link's. */
static bool bundle_from_directory(struct node *n, struct node_peer *p)
{
    struct store_contact c;

    if (n->dir == NULL || sotto_now_ms(n->env) < p->dir_bundle_retry_ms ||
        !contact_of(n, p->key, &c) || c.username[0] == '\0')
        return false;
    if (!p->dir_bundle_pending)
        dir_submit(n, p, DIR_JOB_BUNDLE, &c);
    return true;
}

/* Fresh addresses for a contact the directory knows, at most every LOOKUP_MS. */
static void lookup_addresses(struct node *n, struct node_peer *p)
{
    struct store_contact c;
    uint64_t now = sotto_now_ms(n->env);

    if (n->dir == NULL || p->dir_lookup_pending || now < p->next_lookup_ms ||
        !contact_of(n, p->key, &c) || c.username[0] == '\0')
        return;
    p->next_lookup_ms = now + LOOKUP_MS;
    dir_submit(n, p, DIR_JOB_LOOKUP, &c);
}

static void dir_bundle_done(struct node *n, struct node_peer *p, const struct dir_job *j)
{
    struct e2e_bundle b = {0};
    bool has = false;
    enum sotto_err rc;

    p->dir_bundle_pending = false;
    if (j->rc != SOTTO_OK) {
        /* meanwhile the link's bundle (without a one-time prekey) will do */
        log_info(n->env->log, "no bundle from the directory: %s", j->detail);
        p->dir_bundle_retry_ms = sotto_now_ms(n->env) + LOOKUP_MS;
        return;
    }
    if (e2e_session_exists(n->sess, p->key, &has) == SOTTO_OK && has && !p->need_session) {
        node_flush(n, p->key);
        return;
    }
    memcpy(b.identity, j->bundle.key, E2E_KEY_LEN);
    b.registration_id = j->bundle.registration_id;
    b.device_id = j->bundle.device_id;
    b.signed_prekey_id = j->bundle.signed_prekey.id;
    memcpy(b.signed_prekey, j->bundle.signed_prekey.key, E2E_KEY_LEN);
    memcpy(b.signed_prekey_sig, j->bundle.signed_prekey.sig, E2E_SIG_LEN);
    if (j->bundle.has_prekey) {
        b.prekey_id = j->bundle.prekey.id;
        memcpy(b.prekey, j->bundle.prekey.key, E2E_KEY_LEN);
    }
    /* the directory's key for the number must be the contact's: trust decides (a changed key
     * is never taken from a bundle) */
    rc = memcmp(b.identity, p->key, E2E_KEY_LEN) == 0 ? node_step_begin(n) : SOTTO_EKEYCHANGED;
    if (rc == SOTTO_OK)
        rc = node_step_end(n, e2e_session_from_bundle(n->sess, &b));
    if (rc != SOTTO_OK) {
        log_warn(n->env->log, "the directory's bundle is refused: %s", sotto_strerror(rc));
        return;
    }
    p->need_session = false;
    node_flush(n, p->key);
}

static void dir_lookup_done(struct node *n, struct node_peer *p, const struct dir_job *j)
{
    struct store_dir_account sa = {0};
    struct store_contact c, prev;
    enum store_import_result what;
    enum sotto_err rc;

    p->dir_lookup_pending = false;
    if (j->rc != SOTTO_OK) {
        log_info(n->env->log, "no fresh address from the directory: %s", j->detail);
        return;
    }
    memcpy(sa.username, j->account.username, sizeof(sa.username));
    sa.number = j->account.number;
    memcpy(sa.key, j->account.key, E2E_KEY_LEN);
    sa.n_addrs = j->account.n_addrs;
    memcpy(sa.addrs, j->account.addrs, sizeof(sa.addrs));
    rc = node_tx(n);
    if (rc == SOTTO_OK)
        rc = store_contact_from_directory(n->p.profile, &sa, false, &c, &prev, &what);
    if (rc == SOTTO_EKEYCHANGED && prev.id > 0) {
        (void)store_contact_hold(n->p.profile, prev.id, sa.key);
        log_warn(n->env->log, "%s has a new key on the directory: messages to them are held",
                 prev.name);
        node_api_event(n, json_pack("{s:s, s:s, s:b, s:s}", "event", "key_changed", "contact",
                                    prev.name, "held", 1, "message",
                                    "the directory gives this verified contact a new key: "
                                    "messages are held until you verify the new key "
                                    "(sotto verify) or accept it (sotto lookup "
                                    "--accept-new-key)"));
        return;
    }
    if (rc != SOTTO_OK)
        return;
    if (what == STORE_IMPORT_KEY_REPLACED) {
        /* an unverified contact moves to the directory's key (DESIGN.md, Trust): said, and
         * what waited for it follows it (store_outbox_follow) */
        log_warn(n->env->log, "%s has a new key on the directory: their messages now go to it",
                 c.name);
        node_api_event(n, json_pack("{s:s, s:s, s:b, s:s}", "event", "key_changed", "contact",
                                    c.name, "held", 0, "message",
                                    "this unverified contact has a new key on the directory: "
                                    "messages now go to it; compare safety numbers "
                                    "(sotto verify)"));
    }
    p = peer_get(n, c.key);
    if (p == NULL)
        return;
    p->next_dial_ms = 0; /* dial the fresh addresses now */
    node_flush(n, c.key);
}

/* Results from the directory worker, on the loop's thread. */
static void node_wake(void *arg)
{
    struct node *n = arg;
    struct dir_job *j, *next;
    struct node_peer *p;

    if (n->dir == NULL)
        return;
    for (j = node_dirwork_take(n->dir); j != NULL; j = next) {
        next = j->next;
        if (j->kind == DIR_JOB_ADDRESSES || j->kind == DIR_JOB_PREKEYS) {
            node_reach_done(n, j);
            free(j);
            continue;
        }
        p = peer_get(n, j->key);
        if (p != NULL && j->kind == DIR_JOB_BUNDLE)
            dir_bundle_done(n, p, j);
        else if (p != NULL)
            dir_lookup_done(n, p, j);
        free(j);
    }
}

static bool waiting_without_session(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    struct node_peer *p = peer_find(n, key);
    bool has = false;

    return (p != NULL && p->need_session) ||
           (e2e_session_exists(n->sess, key, &has) == SOTTO_OK && !has);
}

static enum sotto_err any_entry(void *arg, const struct store_outbox_entry *e)
{
    (void)e;
    *(bool *)arg = true;
    return SOTTO_OK;
}

static bool outbox_has(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    bool any = false;

    (void)store_outbox_each(n->p.profile, key, 1, any_entry, &any);
    return any;
}

static bool outbox_waits(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    bool any = false;

    (void)store_outbox_walk(n->p.profile, key, STORE_OUTBOX_WAITING, 0, 0, 1, any_entry, &any);
    return any;
}

void node_flush(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    struct node_peer *p = peer_get(n, key);

    if (p != NULL)
        p->want_flush = true;
}

/* Sends what the peer's outbox holds, when a proven link is up; asks for a bundle when messages
 * wait for a session; dials the contact when no link is up. In the turn's transaction: the
 * attempts are counted there, and the frames go once it committed. */
static void flush_peer(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    struct node_peer *p;
    struct nlink *nl;
    struct flush_ctx fc = {0};
    struct wire_frame req = {.type = WIRE_BUNDLE_REQUEST};
    struct wire_frame f = {.type = WIRE_MESSAGE};
    struct sendable *sd, *next;
    uint64_t now = sotto_now_ms(n->env);
    size_t queued;
    bool more;
    enum sotto_err rc;

    if (node_tx(n) != SOTTO_OK)
        return; /* the next tick tries again */
    more = encrypt_waiting(n, key);
    p = peer_find(n, key);
    if (p == NULL || p->link == NULL) {
        if (outbox_has(n, key)) {
            if (p != NULL && waiting_without_session(n, key))
                (void)bundle_from_directory(n, p);
            node_dial_contact(n, key);
        }
        return;
    }
    nl = net_link_user(p->link);
    queued = net_link_queued(p->link) + (nl != NULL ? nl->held : 0);
    fc.budget = queued < NET_LINK_QUEUE_MAX / 2 ? NET_LINK_QUEUE_MAX / 2 - queued : 0;
    fc.tail = &fc.head;
    if (p->fresh) /* a link that just came up: what earlier links took counts as not sent */
        p->sent_seq = 0;
    p->fresh = false;
    /* in encryption order: what this link has not carried yet, and what is due again */
    rc = store_outbox_walk(n->p.profile, key, STORE_OUTBOX_SENDABLE, now, p->sent_seq, SEND_BATCH,
                           collect_sendable, &fc);
    if (rc != SOTTO_OK && rc != SOTTO_ECANCELED)
        log_warn(n->env->log, "cannot read the outbox");
    for (sd = fc.head; sd != NULL; sd = next) {
        next = sd->next;
        memcpy(f.message.id, sd->msg_id, WIRE_ID_LEN);
        f.message.kind = sd->kind;
        f.message.ciphertext = sd->cipher;
        f.message.ciphertext_len = sd->len;
        if (store_outbox_attempted(n->p.profile, sd->outbox_id,
                                   now + backoff_ms(n, sd->attempts)) == SOTTO_OK &&
            send_frame(n, p->link, &f) == SOTTO_OK && sd->seq > p->sent_seq)
            p->sent_seq = sd->seq;
        free(sd);
    }
    p->blocked = fc.full;
    if (more) {
        p->want_flush = true; /* the rest in the next turn, which does not wait */
        n->again = true;
    }
    if (waiting_without_session(n, key) && outbox_waits(n, key) && !bundle_from_directory(n, p) &&
        p->link != NULL && !p->bundle_asked) {
        p->bundle_asked = true;
        (void)send_frame(n, p->link, &req);
    }
}

void node_turn_undone(struct node *n)
{
    for (size_t i = 0; i < n->n_peers; i++) {
        struct node_peer *p = &n->peers[i];

        p->bundle_asked = false;
        p->fresh = p->link != NULL; /* the frames of this turn were not sent: all again */
        p->want_flush = true;       /* at the end of the next turn */
    }
}

void node_flush_wanted(struct node *n)
{
    uint8_t key[E2E_KEY_LEN];

    /* by index, and by a copy of the key: a flush may add peers (which moves the table) */
    for (size_t i = 0; i < n->n_peers; i++) {
        if (!n->peers[i].want_flush)
            continue;
        n->peers[i].want_flush = false;
        memcpy(key, n->peers[i].key, E2E_KEY_LEN);
        flush_peer(n, key);
    }
}

/* The peer refused one of our messages: re-encrypt it under a fresh session (its id kept) when
 * the peer has no session or no longer has the prekey, a few times at most; otherwise mark it
 * failed, saying why. */
struct refused_ctx {
    const uint8_t *msg_id;
    int64_t outbox_id, row;
    uint32_t attempts;
    bool found;
};

static enum sotto_err find_refused(void *arg, const struct store_outbox_entry *e)
{
    struct refused_ctx *rc = arg;

    if (!rc->found && memcmp(e->msg_id, rc->msg_id, WIRE_ID_LEN) == 0) {
        rc->found = true;
        rc->outbox_id = e->id;
        rc->row = e->message_id;
        rc->attempts = e->attempts;
    }
    return SOTTO_OK;
}

static enum sotto_err refuse_error(uint8_t reason)
{
    switch (reason) {
    case WIRE_REFUSE_UNTRUSTED:
        return SOTTO_EUNTRUSTED;
    case WIRE_REFUSE_CANNOT_DECRYPT:
        return SOTTO_EBADMSG;
    default:
        return SOTTO_EPROTO;
    }
}

static void on_refuse(struct node *n, struct nlink *nl, const struct wire_refuse *r)
{
    struct refused_ctx fc = {.msg_id = r->id};
    struct node_peer *p = peer_find(n, nl->key);
    char idhex[2 * WIRE_ID_LEN + 1];
    bool retry = r->reason == WIRE_REFUSE_NO_SESSION || r->reason == WIRE_REFUSE_UNKNOWN_PREKEY;
    enum sotto_err rc;

    if (store_outbox_each(n->p.profile, nl->key, SIZE_MAX, find_refused, &fc) != SOTTO_OK ||
        !fc.found)
        return; /* not ours, or settled already */
    hex_of(r->id, WIRE_ID_LEN, idhex, sizeof(idhex));
    if (retry && p != NULL && p->refusals < REFUSALS_MAX) {
        p->refusals++;
        rc = store_outbox_rewait(n->p.profile, fc.outbox_id, nl->key);
        if (rc == SOTTO_OK) {
            log_info(n->env->log,
                     "link %s: the peer has no session for a message: it is "
                     "encrypted again under a new one",
                     net_link_peer(nl->l));
            p->need_session = true;
            p->bundle_asked = false;
            node_flush(n, nl->key);
            return;
        }
    }
    rc = store_message_failed(n->p.profile, fc.row,
                              retry ? SOTTO_ENOSESSION : refuse_error(r->reason));
    log_warn(n->env->log, "link %s: the peer refused a message (reason %u): marked failed",
             net_link_peer(nl->l), r->reason);
    node_api_event(n, json_pack("{s:s, s:s, s:i, s:s}", "event", "failed", "id", idhex, "reason",
                                (int)r->reason, "message",
                                retry ? "the contact's node has no session"
                                : r->reason == WIRE_REFUSE_UNTRUSTED ? "the contact's node does "
                                                                       "not trust our key"
                                                                     : "the contact's node could "
                                                                       "not read it"));
    (void)rc;
}

/* ---- frames in ---- */

static void on_hello(struct node *n, struct nlink *nl, const struct wire_hello *h)
{
    char label[512], who[128];
    uint8_t version;
    uint8_t their_role = net_link_dialed(nl->l) ? WIRE_ROLE_LISTENER : WIRE_ROLE_DIALER;
    struct node_peer *p;
    bool keep_new;

    if (wire_hello_verify(h, net_link_exporter(nl->l), their_role) != SOTTO_OK ||
        wire_version_pick(h, &version) != SOTTO_OK) {
        log_warn(n->env->log, "link %s: the identity proof does not verify: closed",
                 net_link_peer(nl->l));
        net_link_close(nl->l, NET_CLOSE_POLICY, "identity proof refused");
        return;
    }
    if (memcmp(h->key, n->self.key, E2E_KEY_LEN) == 0) {
        net_link_close(nl->l, NET_CLOSE_POLICY, "that is our own key");
        return;
    }
    if (nl->has_expect && memcmp(h->key, nl->expect, E2E_KEY_LEN) != 0) {
        peer_label(n, nl->expect, who, sizeof(who));
        snprintf(label, sizeof(label), "the node at %s is not %s", nl->addr, who);
        log_warn(n->env->log, "%s: link closed", label);
        node_api_event(n, json_pack("{s:s, s:s, s:s}", "event", "link_refused", "address", nl->addr,
                                    "message", label));
        net_link_close(nl->l, NET_CLOSE_POLICY, "not the expected identity");
        /* the contact may have moved, or have a new key: the directory says which */
        p = peer_find(n, nl->expect);
        if (p != NULL) {
            snprintf(p->why, sizeof(p->why), "%s", label);
            lookup_addresses(n, p);
        }
        return;
    }
    if (n->n_proven >= n->links_max) {
        log_warn(n->env->log, "link %s: %u links are up, the most this node takes: closed",
                 nl->addr, n->n_proven);
        net_link_close(nl->l, NET_CLOSE_POLICY, "too many links");
        return;
    }
    nl->proven = true;
    n->n_unproven--;
    n->n_proven++;
    if (nl->deadline_armed) {
        net_timer_cancel(&nl->deadline);
        nl->deadline_armed = false;
    }
    memcpy(nl->key, h->key, E2E_KEY_LEN);
    net_link_set_rx_max(nl->l, WIRE_FRAME_MAX);
    p = peer_get(n, h->key);
    if (p == NULL) {
        net_link_close(nl->l, NET_CLOSE_GOING_AWAY, "out of memory");
        return;
    }
    p->dialing = false;
    if (p->link != NULL && p->link != nl->l) {
        /* one link per pair: the one dialed by the node with the lower key stays */
        bool we_lower = memcmp(n->self.key, h->key, E2E_KEY_LEN) < 0;
        keep_new = net_link_dialed(nl->l) == we_lower;
        if (!keep_new) {
            net_link_close(nl->l, NET_CLOSE_NORMAL, "duplicate link");
            return;
        }
        net_link_close(p->link, NET_CLOSE_NORMAL, "duplicate link");
    }
    p->link = nl->l;
    p->why[0] = '\0';
    p->dials = 0;
    p->fresh = true;
    p->bundle_asked = false;
    if (n->card != NULL) {
        struct wire_frame cf = {.type = WIRE_CARD};

        cf.card.bytes = n->card;
        cf.card.len = n->card_len;
        (void)send_frame(n, nl->l, &cf);
    }
    peer_label(n, h->key, who, sizeof(who));
    log_info(n->env->log, "link with %s up (%s, %s)", who, net_link_peer(nl->l),
             net_link_dialed(nl->l) ? "dialed" : "accepted");
    node_api_event(n, json_pack("{s:s, s:s, s:s, s:b}", "event", "link_up", "peer", who, "address",
                                net_link_peer(nl->l), "dialed", net_link_dialed(nl->l)));
    node_flush(n, h->key);
}

static uint8_t refuse_reason(enum sotto_err rc)
{
    switch (rc) {
    case SOTTO_ENOSESSION:
        return WIRE_REFUSE_NO_SESSION;
    case SOTTO_ENOPREKEY:
        return WIRE_REFUSE_UNKNOWN_PREKEY;
    case SOTTO_EUNTRUSTED:
    case SOTTO_EKEYCHANGED:
        return WIRE_REFUSE_UNTRUSTED;
    default:
        return WIRE_REFUSE_CANNOT_DECRYPT;
    }
}

/* The contact read some of our messages: the chat and the web app mark them. */
static void read_event(struct node *n, int64_t contact_id, const struct wire_ids *ids)
{
    json_t *list = json_array();
    char idhex[2 * WIRE_ID_LEN + 1];

    for (size_t i = 0; list != NULL && i < ids->n; i++) {
        hex_of(ids->ids[i], WIRE_ID_LEN, idhex, sizeof(idhex));
        json_array_append_new(list, json_string(idhex));
    }
    if (list != NULL)
        node_api_event(n, json_pack("{s:s, s:I, s:o}", "event", "read", "contact_id",
                                    (json_int_t)contact_id, "ids", list));
}

static void on_message(struct node *n, struct nlink *nl, const struct wire_message *m)
{
    struct store_profile *pr = n->p.profile;
    enum e2e_kind kind = m->kind == WIRE_KIND_PREKEY ? E2E_KIND_PREKEY : E2E_KIND_SIGNAL;
    struct wire_record rec;
    struct reader r;
    struct store_msg_new sm = {0};
    uint8_t *plain = NULL;
    size_t plen = 0;
    int64_t cid = 0, row = 0;
    bool known = false;
    uint8_t reason = 0;
    uint64_t t0;
    size_t n_read = 0;
    enum sotto_err rc;
    char idhex[2 * WIRE_ID_LEN + 1], who[128];

    if (store_received_known(pr, nl->key, m->id, &known) == SOTTO_OK && known) {
        node_out_ack(n, nl, m->id); /* a duplicate: acknowledged again, never shown twice */
        return;
    }
    rc = store_peer_trust(pr, nl->key, false, &cid);
    if (rc != SOTTO_OK) {
        send_refuse(n, nl->l, m->id, refuse_reason(rc));
        return;
    }
    if (m->ciphertext_len > NODE_SCRATCH) {
        send_refuse(n, nl->l, m->id, WIRE_REFUSE_CANNOT_DECRYPT);
        return;
    }
    plain = n->scratch;
    /* decrypt, session update and the stored message: one step of the turn's transaction */
    t0 = node_mono_ns();
    rc = node_step_begin(n);
    if (rc == SOTTO_OK) {
        rc = e2e_session_decrypt(n->sess, nl->key, kind, m->ciphertext, m->ciphertext_len, plain,
                                 m->ciphertext_len, &plen);
        if (rc == SOTTO_OK) {
            reader_init(&r, plain, plen);
            if (wire_record_decode(&rec, &r) != SOTTO_OK)
                reason = WIRE_REFUSE_BAD_RECORD;
            else if (memcmp(rec.id, m->id, WIRE_ID_LEN) != 0)
                reason = WIRE_REFUSE_IDS_DIFFER;
            rc = reason != 0 ? SOTTO_EBADMSG : SOTTO_OK;
        }
        if (rc == SOTTO_OK) {
            sm.contact_id = cid;
            memcpy(sm.msg_id, rec.id, WIRE_ID_LEN);
            sm.type = rec.type;
            sm.sent_ms = rec.sent_at_ms;
            sm.body = rec.body;
            sm.body_len = rec.body_len;
            if (rec.type == WIRE_RECORD_TEXT)
                rc = store_message_received(pr, nl->key, &sm, &row);
            else /* a read receipt, or a type from a newer node: kept, acked */
                rc = store_received_mark(pr, nl->key, rec.id);
            if (rc == SOTTO_OK && rec.type == WIRE_RECORD_RECEIPT)
                rc = store_messages_read_by_peer(
                        pr, cid, (const uint8_t(*)[STORE_MSG_ID_LEN])rec.receipt.ids, rec.receipt.n,
                        &n_read);
        }
        rc = node_step_end(n, rc);
    }
    n->times.decrypt_ns += node_mono_ns() - t0;
    n->times.decrypted += rc == SOTTO_OK;
    if (rc != SOTTO_OK) {
        sodium_memzero(plain, m->ciphertext_len);
        log_info(n->env->log, "link %s: a message refused: %s", net_link_peer(nl->l),
                 sotto_strerror(rc));
        if (rc == SOTTO_EEXIST)
            node_out_ack(n, nl, m->id);
        else
            send_refuse(n, nl->l, m->id, reason != 0 ? reason : refuse_reason(rc));
        return;
    }
    /* acknowledged once the turn's transaction committed (pass.c) */
    node_out_ack(n, nl, m->id);
    hex_of(m->id, WIRE_ID_LEN, idhex, sizeof(idhex));
    if (rec.type == WIRE_RECORD_RECEIPT && n_read > 0)
        read_event(n, cid, &rec.receipt);
    if (rec.type == WIRE_RECORD_TEXT)
        node_api_event(n,
                       json_pack("{s:s, s:s, s:s, s:I, s:s%, s:I}", "event", "message", "from",
                                 peer_label(n, nl->key, who, sizeof(who)), "id", idhex, "sent_ms",
                                 (json_int_t)rec.sent_at_ms, "text", (const char *)rec.body,
                                 rec.body_len, "contact_id", (json_int_t)cid));
    sodium_memzero(plain, m->ciphertext_len);
}

static void on_ack(struct node *n, struct nlink *nl, const struct wire_ids *ids)
{
    size_t marked = 0;
    char idhex[2 * WIRE_ID_LEN + 1];

    struct node_peer *p = peer_find(n, nl->key);

    if (p != NULL)
        p->refusals = 0;
    if (node_tx(n) != SOTTO_OK ||
        store_messages_delivered(n->p.profile, nl->key,
                                 (const uint8_t(*)[STORE_MSG_ID_LEN])ids->ids, ids->n,
                                 &marked) != SOTTO_OK) {
        log_warn(n->env->log, "cannot mark messages delivered");
        return;
    }
    for (size_t i = 0; i < ids->n; i++) {
        hex_of(ids->ids[i], WIRE_ID_LEN, idhex, sizeof(idhex));
        node_api_event(n, json_pack("{s:s, s:s}", "event", "delivered", "id", idhex));
    }
    if (p != NULL && p->blocked)
        node_flush(n, nl->key); /* the last flush stopped at the link's queue: go on */
}

static void on_bundle_request(struct node *n, struct nlink *nl)
{
    struct e2e_bundle b;
    struct wire_frame f = {.type = WIRE_BUNDLE};

    if (store_own_bundle(n->p.profile, &b) != SOTTO_OK)
        return;
    f.bundle.registration_id = b.registration_id;
    f.bundle.device_id = b.device_id;
    f.bundle.signed_prekey_id = b.signed_prekey_id;
    memcpy(f.bundle.signed_prekey, b.signed_prekey, E2E_KEY_LEN);
    memcpy(f.bundle.signature, b.signed_prekey_sig, E2E_SIG_LEN);
    (void)send_frame(n, nl->l, &f);
}

static void on_bundle(struct node *n, struct nlink *nl, const struct wire_bundle *wb)
{
    struct e2e_bundle b = {0};
    bool has = false;
    enum sotto_err rc;

    struct node_peer *p = peer_find(n, nl->key);

    if (e2e_session_exists(n->sess, nl->key, &has) == SOTTO_OK && has &&
        (p == NULL || !p->need_session)) {
        node_flush(n, nl->key);
        return;
    }
    memcpy(b.identity, nl->key, E2E_KEY_LEN);
    b.registration_id = wb->registration_id;
    b.device_id = wb->device_id;
    b.signed_prekey_id = wb->signed_prekey_id;
    memcpy(b.signed_prekey, wb->signed_prekey, E2E_KEY_LEN);
    memcpy(b.signed_prekey_sig, wb->signature, E2E_SIG_LEN);
    rc = node_step_begin(n);
    if (rc == SOTTO_OK)
        rc = node_step_end(n, e2e_session_from_bundle(n->sess, &b));
    if (rc != SOTTO_OK) {
        log_warn(n->env->log, "link %s: its bundle is refused: %s", net_link_peer(nl->l),
                 sotto_strerror(rc));
        return;
    }
    if (p != NULL)
        p->need_session = false;
    node_flush(n, nl->key);
}

/* The peer's signed card, right after its proof: a node that is not yet a contact arrives with
 * a name and becomes an unverified contact; a known one refreshes its addresses. A card for
 * another key than the one the link proved closes the link. A name that clashes with a contact
 * of another key changes nothing (never a silent key change). */
static void on_card(struct node *n, struct nlink *nl, const uint8_t *bytes, size_t len)
{
    struct identity_card card;
    struct store_contact result, previous;
    enum store_import_result what;
    bool known;
    char esc[4 * TEXT_NAME_MAX + 1];
    enum sotto_err rc = identity_card_decode(bytes, len, &card);

    if (rc == SOTTO_OK && memcmp(card.key, nl->key, E2E_KEY_LEN) != 0)
        rc = SOTTO_EUNTRUSTED;
    if (rc != SOTTO_OK) {
        log_warn(n->env->log, "link %s: its card is refused (%s): closed", net_link_peer(nl->l),
                 sotto_strerror(rc));
        net_link_close(nl->l, NET_CLOSE_POLICY, "card refused");
        return;
    }
    known = store_peer_trust(n->p.profile, nl->key, false, NULL) == SOTTO_OK;
    rc = store_contact_import_card(n->p.profile, &card, NULL, false, &result, &previous, &what);
    if (rc != SOTTO_OK) {
        text_escape(card.name, esc, sizeof(esc));
        log_info(n->env->log, "link %s: the card of '%s' was not taken: %s", net_link_peer(nl->l),
                 esc, sotto_strerror(rc));
        return;
    }
    if (!known && what == STORE_IMPORT_ADDED)
        node_api_event(n,
                       json_pack("{s:s, s:s, s:I, s:b}", "event", "contact_added", "name",
                                 result.name, "number", (json_int_t)result.number, "verified", 0));
}

static void proof_deadline(struct net_timer *t)
{
    struct nlink *nl = (struct nlink *)((char *)t - offsetof(struct nlink, deadline));

    nl->deadline_armed = false;
    if (!nl->proven) {
        log_info(nl->n->env->log, "link %s: no identity proof within %u s: closed", nl->addr,
                 PROOF_MS / 1000);
        net_link_close(nl->l, NET_CLOSE_POLICY, "no identity proof in time");
    }
}

/* ---- link events ---- */

static void link_up(void *arg, struct net_link *l, void *cookie)
{
    struct node *n = arg;
    struct nlink *nl = sotto_zalloc(n->env, sizeof(*nl));
    struct node_dial *d = cookie;
    struct wire_frame f = {.type = WIRE_HELLO};

    if (nl == NULL) {
        net_link_close(l, NET_CLOSE_GOING_AWAY, "out of memory");
        if (d != NULL)
            sotto_free(n->env, d);
        return;
    }
    nl->l = l;
    snprintf(nl->addr, sizeof(nl->addr), "%s", net_link_peer(l));
    if (d != NULL) {
        nl->has_expect = true;
        memcpy(nl->expect, d->key, E2E_KEY_LEN);
        snprintf(nl->addr, sizeof(nl->addr), "%s", d->addr);
        sotto_free(n->env, d);
    }
    net_link_set_user(l, nl);
    net_link_set_rx_max(l, UNPROVEN_RX_MAX);
    n->n_unproven++;
    if (n->n_unproven > UNPROVEN_MAX) {
        log_warn(n->env->log, "link %s: too many links without a proof: closed", nl->addr);
        net_link_close(l, NET_CLOSE_POLICY, "too many unproven links");
        return;
    }
    /* a link that does not prove its key in time is closed, so that silent connections
     * cannot pile up */
    nl->n = n;
    nl->deadline.cb = proof_deadline;
    net_timer_arm(n->loop, &nl->deadline, PROOF_MS);
    nl->deadline_armed = true;
    memcpy(f.hello.key, n->self.key, E2E_KEY_LEN);
    f.hello.role = net_link_dialed(l) ? WIRE_ROLE_DIALER : WIRE_ROLE_LISTENER;
    f.hello.version_min = WIRE_VERSION_MIN;
    f.hello.version_max = WIRE_VERSION_MAX;
    if (wire_hello_sign(n->p.e2e, n->priv, net_link_exporter(l), &f.hello) != SOTTO_OK ||
        send_frame(n, l, &f) != SOTTO_OK)
        net_link_close(l, NET_CLOSE_GOING_AWAY, "cannot prove our identity");
}

static void link_frame(void *arg, struct net_link *l, const uint8_t *data, size_t len)
{
    struct node *n = arg;
    struct nlink *nl = net_link_user(l);
    struct wire_frame f;
    struct reader r;

    if (nl == NULL)
        return;
    n->frames_in++;
    reader_init(&r, data, len);
    if (wire_frame_decode(&f, &r) != SOTTO_OK) {
        log_info(n->env->log, "link %s: a malformed frame: closed", net_link_peer(l));
        net_link_close(l, NET_CLOSE_PROTOCOL, "malformed frame");
        return;
    }
    if (!nl->proven) {
        if (f.type != WIRE_HELLO) {
            net_link_close(l, NET_CLOSE_PROTOCOL, "HELLO first");
            return;
        }
        on_hello(n, nl, &f.hello);
        return;
    }
    switch (f.type) {
    case WIRE_HELLO:
        net_link_close(l, NET_CLOSE_PROTOCOL, "a second HELLO");
        break;
    case WIRE_CARD:
        on_card(n, nl, f.card.bytes, f.card.len);
        break;
    case WIRE_MESSAGE:
        on_message(n, nl, &f.message);
        break;
    case WIRE_ACK:
        on_ack(n, nl, &f.ack);
        break;
    case WIRE_REFUSE:
        on_refuse(n, nl, &f.refuse);
        break;
    case WIRE_BUNDLE_REQUEST:
        on_bundle_request(n, nl);
        break;
    case WIRE_BUNDLE:
        on_bundle(n, nl, &f.bundle);
        break;
    default:
        break;
    }
}

static void link_dial_failed(void *arg, void *cookie, const char *why)
{
    struct node *n = arg;
    struct node_dial *d = cookie;
    struct node_peer *p = peer_find(n, d->key);

    char who[128];

    log_info(n->env->log, "cannot reach %s: %s", d->addr, why);
    node_api_event(n, json_pack("{s:s, s:s, s:s, s:s}", "event", "dial_failed", "peer",
                                peer_label(n, d->key, who, sizeof(who)), "address", d->addr,
                                "message", why));
    if (p != NULL) {
        p->dialing = false;
        snprintf(p->why, sizeof(p->why), "cannot reach %s: %s", d->addr, why);
        lookup_addresses(n, p); /* the contact may have moved */
    }
    sotto_free(n->env, d);
}

static void link_down(void *arg, struct net_link *l, unsigned code, const char *why)
{
    struct node *n = arg;
    struct nlink *nl = net_link_user(l);
    struct node_peer *p = nl != NULL && nl->proven ? peer_find(n, nl->key) : NULL;
    char who[128];

    struct node_peer *expected = nl != NULL && nl->has_expect ? peer_find(n, nl->expect) : NULL;

    if (p != NULL && p->link == l) {
        p->link = NULL;
        peer_label(n, nl->key, who, sizeof(who));
        log_info(n->env->log, "link with %s down (%u %s)", who, code, why);
        node_api_event(n, json_pack("{s:s, s:s}", "event", "link_down", "peer", who));
    }
    /* a dial that came up and went before its proof: the contact may be dialed again */
    if (expected != NULL && expected->link == NULL)
        expected->dialing = false;
    node_out_forget_link(n, l);
    if (nl != NULL) {
        if (nl->deadline_armed)
            net_timer_cancel(&nl->deadline);
        if (!nl->proven)
            n->n_unproven--;
        else
            n->n_proven--;
        sotto_free(n->env, nl);
    }
    net_link_set_user(l, NULL);
}

/* ---- dialing ---- */

void node_dial_contact(struct node *n, const uint8_t key[static E2E_KEY_LEN])
{
    struct node_peer *p = peer_get(n, key);
    struct store_contact c;
    int64_t cid = 0;
    uint64_t now = sotto_now_ms(n->env);

    if (n->p.no_dial || p == NULL || p->link != NULL || p->dialing || now < p->next_dial_ms)
        return;
    if (store_peer_trust(n->p.profile, key, true, &cid) != SOTTO_OK ||
        node_contact_by_id(n, cid, &c) != SOTTO_OK)
        return;
    p->next_dial_ms = now + backoff_ms(n, p->dials++);
    for (size_t i = 0; i < c.n_addrs; i++) {
        struct node_dial *d = sotto_zalloc(n->env, sizeof(*d));

        if (d == NULL)
            return;
        memcpy(d->key, key, E2E_KEY_LEN);
        snprintf(d->addr, sizeof(d->addr), "%s", c.addrs[i]);
        if (net_link_dial(n->loop, c.addrs[i], d) != SOTTO_OK) {
            sotto_free(n->env, d); /* not an IP literal: names come with the directory */
            continue;
        }
        p->dialing = true;
    }
}

enum sotto_err node_dial_at(struct node *n, const uint8_t key[static E2E_KEY_LEN], const char *addr)
{
    struct node_peer *p = peer_get(n, key);
    struct node_dial *d;
    enum sotto_err rc;

    if (p == NULL)
        return SOTTO_ENOMEM;
    if (p->link != NULL)
        return SOTTO_OK; /* up already */
    d = sotto_zalloc(n->env, sizeof(*d));
    if (d == NULL)
        return SOTTO_ENOMEM;
    memcpy(d->key, key, E2E_KEY_LEN);
    snprintf(d->addr, sizeof(d->addr), "%s", addr);
    rc = net_link_dial(n->loop, addr, d);
    if (rc != SOTTO_OK) {
        sotto_free(n->env, d);
        return rc;
    }
    p->dialing = true;
    return SOTTO_OK;
}

const char *node_peer_label(struct node *n, const uint8_t key[static E2E_KEY_LEN], char *buf,
                            size_t cap)
{
    return peer_label(n, key, buf, cap);
}

/* ---- the tick: retries ---- */

static enum sotto_err due_peer(void *arg, const uint8_t peer[E2E_KEY_LEN], uint64_t next_ms)
{
    struct node *n = arg;

    (void)next_ms;
    node_flush(n, peer);
    return SOTTO_OK;
}

/* The directory the profile remembers, and whether we are registered there, may change while
 * the node runs (`sotto register`, `unregister` and `lookup --directory` write the profile
 * directly): the node follows, at start and every DIR_CHECK_MS. */
static void follow_directory(struct node *n)
{
    struct store_directory d;
    uint64_t now = sotto_now_ms(n->env);
    bool same;

    if (now < n->next_dir_check_ms)
        return;
    n->next_dir_check_ms = now + DIR_CHECK_MS;
    if (store_directory_get(n->p.profile, &d) != SOTTO_OK || d.pin[0] == '\0')
        memset(&d, 0, sizeof(d));
    same = strcmp(d.url, n->dir_url) == 0 && strcmp(d.pin, n->dir_pin) == 0;
    if (!same) {
        node_reach_free(n);
        node_dirwork_stop(n->dir); /* jobs not done yet are dropped: asked again later */
        n->dir = NULL;
        n->registered = false;
        for (size_t i = 0; i < n->n_peers; i++)
            n->peers[i].dir_bundle_pending = n->peers[i].dir_lookup_pending = false;
        memcpy(n->dir_url, d.url, sizeof(n->dir_url));
        memcpy(n->dir_pin, d.pin, sizeof(n->dir_pin));
        if (d.pin[0] != '\0' && node_dirwork_start(&n->dir, n->env, n->loop, d.url, d.pin, n->priv,
                                                   n->self.number) != SOTTO_OK) {
            log_warn(n->env->log, "cannot use the directory %s now", d.url);
            n->dir_url[0] = '\0'; /* tried again at the next check */
            return;
        }
        if (d.pin[0] != '\0')
            log_info(n->env->log, "using the directory %s", d.url);
    }
    if (n->dir != NULL && (d.username[0] != '\0') != n->registered) {
        n->registered = d.username[0] != '\0';
        if (n->registered && node_reach_start(n) != SOTTO_OK)
            n->registered = false; /* out of memory: tried again at the next check */
        else if (!n->registered)
            node_reach_free(n);
        log_info(n->env->log,
                 n->registered ? "registered as %s: our addresses and prekeys are kept "
                                 "on the directory"
                               : "no longer registered%s: nothing more is published",
                 d.username);
    }
}

static void tick(struct net_timer *t)
{
    struct node *n = (struct node *)((char *)t - offsetof(struct node, tick));

    follow_directory(n);
    node_reach_tick(n); /* addresses and prekeys on the directory */
    /* a second without frames or requests: the log goes back into the database now */
    if (n->frames_in == n->frames_at_tick && store_checkpoint(n->p.profile) != SOTTO_OK)
        log_warn(n->env->log, "a checkpoint of the profile failed");
    n->frames_at_tick = n->frames_in;
    /* peers with something due: flushed (or dialed) at the end of this turn */
    (void)store_outbox_peers_due(n->p.profile, sotto_now_ms(n->env), due_peer, n);
    net_timer_arm(n->loop, &n->tick, TICK_MS);
}

/* ---- life ---- */

static enum sotto_err own_card(struct node *n)
{
    struct identity_card c = {.version = CARD_VERSION};

    c.number = n->self.number;
    memcpy(c.name, n->self.name, sizeof(c.name));
    memcpy(c.username, n->self.username, sizeof(c.username));
    memcpy(c.key, n->self.key, E2E_KEY_LEN);
    c.n_addrs = n->self.n_addrs;
    memcpy(c.addrs, n->self.addrs, sizeof(c.addrs));
    c.created_s = n->self.created_ms / 1000;
    return identity_card_sign_bytes(n->p.e2e, n->env, &c, n->priv, &n->card, &n->card_len);
}

/* How many descriptors the node may use: the soft open-files limit, raised towards the hard
 * one up to FDS_MAX (1,024, the usual soft limit, is a thousand links). */
static unsigned fd_room(void)
{
    struct rlimit rl;
    rlim_t want;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    want = rl.rlim_max < FDS_MAX ? rl.rlim_max : FDS_MAX;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 1024;
    }
    return rl.rlim_cur < FDS_MAX ? (unsigned)rl.rlim_cur : FDS_MAX;
}

enum sotto_err node_create(struct node **out, const struct node_params *params)
{
    struct node *n;
    struct net_link_params lp = {0};
    struct node_runinfo info = {0};
    enum sotto_err rc;

    *out = NULL;
    n = sotto_zalloc(params->env, sizeof(*n));
    if (n == NULL)
        return SOTTO_ENOMEM;
    n->env = params->env;
    n->p = *params;
    n->tick.cb = tick;
    node_out_init(n);
    n->priv = sodium_malloc(E2E_PRIV_LEN);
    n->scratch = sodium_malloc(NODE_SCRATCH);
    n->arena = sodium_malloc(NODE_ARENA);
    rc = n->priv != NULL && n->scratch != NULL && n->arena != NULL ? SOTTO_OK : SOTTO_ENOMEM;
    if (rc == SOTTO_OK && params->sync_normal)
        rc = store_profile_set_durable(params->profile, false);
    if (rc == SOTTO_OK) /* checkpoints when idle, not on the way of a message */
        store_profile_manual_checkpoints(params->profile, WAL_CAP_PAGES);
    if (rc == SOTTO_OK)
        rc = store_self_get(params->profile, &n->self);
    if (rc == SOTTO_OK)
        rc = store_self_private_key(params->profile, params->e2e, n->priv);
    if (rc == SOTTO_OK)
        rc = own_card(n);
    if (rc == SOTTO_OK)
        rc = store_session_open(&n->sess, params->profile, params->e2e);
    lp.fd_max = fd_room();
    /* proven links are capped below it, so that the loop never runs out of descriptors */
    n->links_max = lp.fd_max > UNPROVEN_MAX + 2 * FDS_SPARE ? lp.fd_max - UNPROVEN_MAX - FDS_SPARE
                                                            : FDS_SPARE;
    lp.listen = params->listen;
    lp.cert_path = params->cert_path;
    lp.key_path = params->key_path;
    lp.ev = (struct net_link_events){.up = link_up,
                                     .frame = link_frame,
                                     .dial_failed = link_dial_failed,
                                     .down = link_down,
                                     .wake = node_wake,
                                     .pass_end = node_pass_end};
    lp.arg = n;
    if (rc == SOTTO_OK)
        rc = net_loop_create(&n->loop, n->env, &lp);
    if (rc == SOTTO_OK)
        rc = node_api_listen(n, params->api_port);
    if (rc == SOTTO_OK)
        follow_directory(n); /* and on the tick after */
    if (rc == SOTTO_OK) {
        info.port = net_loop_api_port(n->loop);
        info.pid = getpid();
        node_token_new(n->env, n->token);
        memcpy(info.token, n->token, sizeof(info.token));
        rc = node_runfile_write(params->profile_dir, &info);
        sodium_memzero(&info, sizeof(info));
    }
    if (rc != SOTTO_OK) {
        node_free(n);
        return rc;
    }
    /* coming back: every contact with something in its outbox is dialed on the first tick */
    net_timer_arm(n->loop, &n->tick, 10);
    *out = n;
    return SOTTO_OK;
}

static enum sotto_err dial_recent(void *arg, const uint8_t key[E2E_KEY_LEN])
{
    node_dial_contact(arg, key);
    return SOTTO_OK;
}

void node_run(struct node *n)
{
    /* coming back (DESIGN.md, "Peer links"): the contacts talked to lately are dialed, so that
     * whichever side comes up second, the link forms; those with something in the outbox are
     * dialed on the first tick anyway */
    uint64_t now = sotto_now_ms(n->env);

    (void)store_recent_peers(n->p.profile, now > RECENT_MS ? now - RECENT_MS : 0, RECENT_MAX,
                             dial_recent, n);
    net_loop_run(n->loop);
    node_runfile_remove(n->env, n->p.profile_dir);
}

void node_stop(struct node *n)
{
    net_loop_stop(n->loop);
}

void node_free(struct node *n)
{
    if (n == NULL)
        return;
    if (n->loop != NULL)
        net_timer_cancel(&n->tick);
    node_dirwork_stop(n->dir);
    node_reach_free(n);
    node_pass_close(n);
    node_api_close(n);
    net_loop_free(n->loop); /* link_down frees every nlink */
    node_out_drop(n);
    e2e_session_free(n->sess);
    if (n->priv != NULL)
        sodium_free(n->priv);
    if (n->scratch != NULL)
        sodium_free(n->scratch);
    if (n->arena != NULL)
        sodium_free(n->arena);
    sodium_memzero(n->token, sizeof(n->token));
    sotto_free(n->env, n->card);
    sotto_free(n->env, n->peers);
    sotto_free(n->env, n);
}

unsigned node_peer_port(const struct node *n)
{
    return net_loop_port(n->loop);
}

unsigned node_api_port(const struct node *n)
{
    return net_loop_api_port(n->loop);
}
