/* src/node/node_int.h: what node.c and api.c share. */
#ifndef SOTTO_NODE_NODE_INT_H
#define SOTTO_NODE_NODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "e2e/e2e.h"
#include "net/link.h"
#include "node/node.h"
#include "node/runfile.h"
#include "store/profile.h"
#include "wire/wire.h"

struct e2e_session;
struct node_dirwork;
struct node_out;
struct wire_frame;

/* Secret working memory, allocated once (sodium_malloc: locked, guarded) and wiped after each
 * use: a record's plaintext (decrypted, or to encrypt), and the bodies a flush encrypts. */
#define NODE_SCRATCH WIRE_FRAME_MAX
#define NODE_ARENA   (256 * 1024)

/* A peer node, by identity key. */
struct node_peer {
    uint8_t key[E2E_KEY_LEN];
    struct net_link *link; /* the proven link, or NULL */
    bool dialing;
    bool bundle_asked;
    bool need_session; /* the peer refused for want of a session: build a fresh one */
    bool fresh;        /* its link just came up: resend what went out on earlier links */
    int64_t sent_seq;  /* the outbox sent on this link up to this place in encryption order */
    bool dir_bundle_pending, dir_lookup_pending;
    uint64_t next_lookup_ms;
    uint64_t dir_bundle_retry_ms; /* the directory failed: the link's bundle until then */
    unsigned refusals;
    uint64_t next_dial_ms;
    unsigned dials;  /* dial rounds since its link was last up: the back-off's exponent */
    char why[640];   /* why it cannot be reached now ("" when unknown or linked), for status */
    bool want_flush; /* its outbox is flushed at the end of this turn */
    bool blocked;    /* the last flush stopped at the link's queue */
};

/* A link's state, hung on it as its user pointer. */
struct nlink {
    struct net_link *l;
    struct node *n;
    struct net_timer deadline; /* the proof must come before it */
    bool deadline_armed;
    bool proven;
    uint8_t key[E2E_KEY_LEN]; /* once proven */
    bool has_expect;          /* dialed for a contact: the key it must prove */
    uint8_t expect[E2E_KEY_LEN];
    char addr[CARD_ADDR_MAX + 1];
    size_t held;              /* bytes of frames for it held until this turn commits */
    struct node_out *ack_out; /* this turn's ACK to it, gathering ids */
};

/* A dial's cookie. */
struct node_dial {
    uint8_t key[E2E_KEY_LEN];
    char addr[CARD_ADDR_MAX + 1];
};

/* A local API connection's state. */
struct api_conn {
    struct node *n;
    struct net_link *l;
    bool authed;
    struct api_conn *next;
};

/* Where the node's time goes, for `status` (docs/API.md) and bench/node.py: cumulative
 * since the node started, from the monotonic clock. */
struct node_times {
    uint64_t turns_written; /* turns that wrote, each ending in one commit */
    uint64_t encrypted, decrypted;
    uint64_t encrypt_ns; /* Signal encryption with its ratchet and outbox writes */
    uint64_t decrypt_ns; /* Signal decryption with its ratchet and message writes */
    uint64_t commit_ns;  /* COMMIT: the WAL write, and its fsync with --sync full */
    uint64_t send_ns;    /* handing what was held to the links (TLS, socket writes) */
};

uint64_t node_mono_ns(void);

struct node {
    const struct sotto_env *env;
    struct node_params p;
    struct net_loop *loop;
    struct e2e_session *sess;
    uint8_t *priv;    /* sodium_malloc: our identity private key */
    uint8_t *scratch; /* sodium_malloc, NODE_SCRATCH bytes */
    uint8_t *arena;   /* sodium_malloc, NODE_ARENA bytes */
    struct store_self self;
    uint8_t *card; /* our signed card, as CARD frames carry it */
    size_t card_len;
    struct node_peer *peers;
    size_t n_peers, cap_peers;
    struct net_timer tick;
    char token[NODE_TOKEN_LEN + 1];
    struct api_conn *api_conns;
    unsigned n_unproven;                 /* links up and not yet proven */
    unsigned n_proven, links_max;        /* proven links up, and the most the node takes */
    struct node_dirwork *dir;            /* NULL without a remembered directory */
    bool registered;                     /* we have a username there: publish our addresses */
    char dir_url[STORE_DIR_URL_MAX + 1]; /* the directory n->dir talks to ("" when none) */
    char dir_pin[STORE_PIN_HEX_LEN + 1];
    uint64_t next_dir_check_ms;
    struct node_reach *reach; /* reach.c: addresses published, prekeys topped up; or NULL */
    /* the turn (pass.c) */
    bool tx_open;            /* the turn's transaction */
    bool tx_lost;            /* SQLite rolled the turn's transaction back by itself */
    bool again;              /* work is left: the next turn must not wait */
    uint64_t frames_in;      /* frames and API requests handed to us, ever */
    uint64_t frames_at_end;  /* ... as of the end of the last turn */
    uint64_t frames_at_tick; /* ... as of the last tick */
    unsigned turns_open;     /* turns the open transaction has gathered */
    uint64_t tx_since_ns;    /* when it opened */
    struct node_times times;
    struct node_out *out_head, **out_tail;
};

/* node.c */
/* Asks for the peer's outbox to be flushed at the end of this turn: what waits is encrypted,
 * what is due is sent, or the peer dialed. */
void node_flush(struct node *n, const uint8_t key[static E2E_KEY_LEN]);
/* Flushes the outboxes asked for (node_pass_end, before the commit). */
void node_flush_wanted(struct node *n);
/* The turn's commit failed: what the peers' state says was done in it (a bundle asked for,
 * the outbox sent on a new link) is to be done again. */
void node_turn_undone(struct node *n);
void node_dial_contact(struct node *n, const uint8_t key[static E2E_KEY_LEN]);
/* Dials `addr` (an IP literal with a port) now, expecting `key` there. */
enum sotto_err node_dial_at(struct node *n, const uint8_t key[static E2E_KEY_LEN],
                            const char *addr);
/* The contact's name, or a short description of an unknown key, into buf. */
const char *node_peer_label(struct node *n, const uint8_t key[static E2E_KEY_LEN], char *buf,
                            size_t cap);

/* pass.c: the turn and its transaction, and output held until it commits */
/* Opens the turn's transaction if it is not open yet. */
enum sotto_err node_tx(struct node *n);
/* A step of work inside the turn's transaction: kept whole, or undone whole on failure
 * (store_tx_step_begin/end). */
enum sotto_err node_step_begin(struct node *n);
enum sotto_err node_step_end(struct node *n, enum sotto_err rc);
/* Holds a frame for `l` (encoded now) until the turn commits. */
enum sotto_err node_out_frame(struct node *n, struct net_link *l, const struct wire_frame *f);
/* Adds `id` to this turn's ACK to the link. */
void node_out_ack(struct node *n, struct nlink *nl, const uint8_t id[static WIRE_ID_LEN]);
/* Holds an API message (the reference is taken; NULL is ignored) for connection `c`, or, with
 * `c` NULL, an event for every authenticated client. */
void node_out_api(struct node *n, struct api_conn *c, json_t *m);
/* A link or API connection is going: what was held for it is dropped. */
void node_out_forget_link(struct node *n, struct net_link *l);
void node_out_forget_api(struct node *n, struct api_conn *c);
void node_out_init(struct node *n);
void node_out_drop(struct node *n);
/* net_link_events.pass_end: flush, commit, send what was held. */
void node_pass_end(void *arg);
/* Before the node goes: commits the turn's work, drops what it held. */
void node_pass_close(struct node *n);

/* api.c */
/* Sends an API message now (the reference is taken). */
void node_api_write(struct api_conn *c, json_t *m);
/* Sends an event now to every authenticated client (the reference stays the caller's). */
void node_api_write_all(struct node *n, json_t *ev);
enum sotto_err node_api_listen(struct node *n, unsigned port);
void node_api_close(struct node *n);
/* An event (the reference is taken; NULL is ignored) for every authenticated client, sent when
 * the turn's transaction committed. */
void node_api_event(struct node *n, json_t *ev);
enum sotto_err node_contact_by_id(struct node *n, int64_t id, struct store_contact *out);

/* reach.c: what a node registered on a directory keeps there: the addresses it can be reached
 * at, and a supply of its one-time prekeys (DESIGN.md, "Reach", "Directory API"). */
struct dir_job;
/* Sets up n->reach (for a node with a directory it is registered on). SOTTO_ENOMEM. */
enum sotto_err node_reach_start(struct node *n);
/* Frees n->reach; NULL is a no-op. */
void node_reach_free(struct node *n);
/* From the tick: asks for the prekey count when due, gives made prekeys once committed,
 * publishes our addresses when due or changed. */
void node_reach_tick(struct node *n);
/* A DIR_JOB_ADDRESSES or DIR_JOB_PREKEYS came back (node_wake; the caller frees it). */
void node_reach_done(struct node *n, const struct dir_job *j);

#define NODE_REACH_HOST_MAX 46 /* INET6_ADDRSTRLEN: a numeric host with its NUL */

/* What the addresses to publish are made of. All borrowed. */
struct node_reach_in {
    const char (*profile)[CARD_ADDR_MAX + 1]; /* the profile's own, published first as given */
    size_t n_profile;
    const char *listen;         /* --listen "HOST:PORT" (port maybe 0), or NULL */
    unsigned port;              /* the port we listen on */
    const char *seen_host;      /* the numeric host the directory saw us from, or NULL */
    const char *const *ifaddrs; /* the interfaces' numeric hosts (no brackets), IPv4 first */
    size_t n_ifaddrs;
};
/* Into out[0..*n) (at most CARD_ADDRS_MAX, each passing identity_card_check_address, each
 * once): the profile's addresses; the listening address with our port when it is concrete;
 * then, with our port, the directory's view when its family is one we listen on (a wildcard's,
 * or a concrete address's that is not loopback), and with a wildcard the interfaces' addresses
 * (IPv4 only for 0.0.0.0). Hosts found rather than given are skipped when loopback,
 * link-local, multicast, unspecified or reserved. Pure. */
void node_reach_addresses(const struct node_reach_in *in, char out[][CARD_ADDR_MAX + 1], size_t *n);
/* The host of a seen_from "ip:port" or "[ipv6]:port", as a canonical numeric host (an IPv4
 * mapped into IPv6 becomes IPv4); false and "" when it is not an IP literal with a port. */
bool node_reach_seen_host(const char *seen_from, char host[static NODE_REACH_HOST_MAX]);

#endif
