/* src/node/node.h: the node (docs/DESIGN.md): peer links with the identity proof, Signal
 * messages with delivery acknowledgements, the outbox, and the local API, on one loop thread.
 *
 * Where it stands (issue 5, first step): links prove both identity keys (HELLO over the TLS
 * exporter), refuse a node that is not the expected one, keep one link per pair; a text goes
 * through the outbox, is encrypted under a session built from a bundle asked for over the link
 * (direct mode: contacts from cards), decrypted, stored and acknowledged in one transaction;
 * acks mark delivered; the local API serves auth, send, history and status, and pushes events.
 * Still to come: directory bundles and address refresh, retries with back-off and a fresh
 * lookup, refusal handling (re-encrypting under a fresh session), cards over links, read
 * receipts, group commit. */
#ifndef SOTTO_NODE_NODE_H
#define SOTTO_NODE_NODE_H

#include <stdbool.h>

#include "sotto/err.h"

struct sotto_env;
struct store_profile;
struct e2e_ctx;
struct node;

struct node_params {
    const struct sotto_env *env;   /* borrowed */
    struct store_profile *profile; /* borrowed, unlocked */
    struct e2e_ctx *e2e;           /* borrowed */
    const char *profile_dir;       /* where api.json goes */
    const char *listen;            /* peer links: "ADDR:PORT" */
    unsigned api_port;             /* 0: any free port */
    const char *cert_path, *key_path;
    bool no_dial;     /* never dial (chat --mode listen): wait for contacts to connect */
    bool sync_normal; /* --sync=normal: commits survive a crash of the process, not the machine */
    unsigned retry_max_s; /* --retry-max: the longest wait between two attempts (0: 300 s) */
};

/* Starts listening (peer links and the local API) and writes api.json. SOTTO_EIO when a port
 * cannot be bound; the profile's errors. */
enum sotto_err node_create(struct node **out, const struct node_params *params);
/* Serves until node_stop(); then removes api.json. */
void node_run(struct node *n);
/* Safe from a signal handler. */
void node_stop(struct node *n);
void node_free(struct node *n);

unsigned node_peer_port(const struct node *n);
unsigned node_api_port(const struct node *n);

#endif
