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

struct e2e_session;
struct node_dirwork;

/* A peer node, by identity key. */
struct node_peer {
    uint8_t key[E2E_KEY_LEN];
    struct net_link *link; /* the proven link, or NULL */
    bool dialing;
    bool bundle_asked;
    bool need_session; /* the peer refused for want of a session: build a fresh one */
    bool fresh;        /* its link just came up: resend what went out on earlier links */
    bool dir_bundle_pending, dir_lookup_pending;
    uint64_t next_lookup_ms;
    uint64_t dir_bundle_retry_ms; /* the directory failed: the link's bundle until then */
    unsigned refusals;
    uint64_t next_dial_ms;
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
};

/* A dial's cookie. */
struct node_dial {
    uint8_t key[E2E_KEY_LEN];
    char addr[CARD_ADDR_MAX + 1];
};

/* A local API connection's state. */
struct api_conn {
    struct net_link *l;
    bool authed;
    struct api_conn *next;
};

struct node {
    const struct sotto_env *env;
    struct node_params p;
    struct net_loop *loop;
    struct e2e_session *sess;
    uint8_t *priv; /* sodium_malloc: our identity private key */
    struct store_self self;
    uint8_t *card; /* our signed card, as CARD frames carry it */
    size_t card_len;
    struct node_peer *peers;
    size_t n_peers, cap_peers;
    struct net_timer tick;
    char token[NODE_TOKEN_LEN + 1];
    struct api_conn *api_conns;
    unsigned n_unproven;      /* links up and not yet proven */
    struct node_dirwork *dir; /* NULL without a remembered directory */
    bool registered;          /* we have a username there: publish our addresses */
    uint64_t next_publish_ms;
};

/* node.c */
void node_flush(struct node *n, const uint8_t key[static E2E_KEY_LEN]);
void node_dial_contact(struct node *n, const uint8_t key[static E2E_KEY_LEN]);
/* Dials `addr` (an IP literal with a port) now, expecting `key` there. */
enum sotto_err node_dial_at(struct node *n, const uint8_t key[static E2E_KEY_LEN],
                            const char *addr);
/* The contact's name, or a short description of an unknown key, into buf. */
const char *node_peer_label(struct node *n, const uint8_t key[static E2E_KEY_LEN], char *buf,
                            size_t cap);

/* api.c */
enum sotto_err node_api_listen(struct node *n, unsigned port);
void node_api_close(struct node *n);
/* Pushes an event (the reference is taken; NULL is ignored) to every authenticated client. */
void node_api_event(struct node *n, json_t *ev);
enum sotto_err node_contact_by_id(struct node *n, int64_t id, struct store_contact *out);

#endif
