/* src/node/dirwork.h: the node's directory work on a thread of its own. The directory client
 * (src/net/dir.h) blocks for up to its deadline, which the node's loop must never do: jobs go
 * to a worker thread, and their results come back on the loop's thread through
 * net_loop_wake(). The worker only talks to the directory: it touches neither the profile nor
 * Signal state, so everything that changes the profile stays on the loop's thread. */
#ifndef SOTTO_NODE_DIRWORK_H
#define SOTTO_NODE_DIRWORK_H

#include <stdint.h>

#include "e2e/e2e.h"
#include "net/dir.h"
#include "sotto/err.h"
#include "util/text.h"

struct sotto_env;
struct net_loop;
struct node_dirwork;

enum dir_job_kind {
    DIR_JOB_BUNDLE,    /* POST /v1/accounts/{number}/bundle */
    DIR_JOB_LOOKUP,    /* GET /v1/accounts/{username, else number}: fresh addresses, or a key
                        * change (a number comes from its key: only the username finds a new one) */
    DIR_JOB_ADDRESSES, /* PUT /v1/accounts/{ours}/addresses: publish where we are */
    DIR_JOB_PREKEYS    /* PUT /v1/accounts/{ours}/prekeys: give it the prekeys it was not given
                        * yet (maybe none) and learn how many it holds */
};

struct dir_job {
    struct dir_job *next;
    enum dir_job_kind kind;
    uint64_t number;
    char username[TEXT_USERNAME_MAX + 1]; /* DIR_JOB_LOOKUP: asked for by it when not "" */
    uint8_t key[E2E_KEY_LEN];             /* the contact's key when asked */
    size_t n_addrs;                       /* DIR_JOB_ADDRESSES: what to publish */
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
    size_t n_prekeys; /* DIR_JOB_PREKEYS: the public halves to upload (stored and committed) */
    struct net_prekey prekeys[NET_PREKEYS_MAX];
    /* results */
    enum sotto_err rc;
    unsigned prekeys_left;                 /* DIR_JOB_PREKEYS: what the directory holds */
    char seen_from[NET_SEEN_FROM_MAX + 1]; /* a write's answer: where it saw us, or "" */
    struct net_bundle bundle;
    struct net_account account;
    char detail[NET_DETAIL_MAX + 1];
};

/* Starts the worker for the directory at `url` pinned to `pin`. Borrows env and loop. With
 * `priv` (our identity private key, copied into secret memory the worker wipes) and our
 * `number`, it can also sign writes (DIR_JOB_ADDRESSES, DIR_JOB_PREKEYS), with a Signal context
 * of its own. */
enum sotto_err node_dirwork_start(struct node_dirwork **out, const struct sotto_env *env,
                                  struct net_loop *loop, const char *url, const char *pin,
                                  const uint8_t *priv, uint64_t number);
/* Stops and joins the worker; unfinished jobs are dropped. NULL is a no-op. */
void node_dirwork_stop(struct node_dirwork *w);
/* Queues a job (taken: freed by whoever takes it back). */
void node_dirwork_submit(struct node_dirwork *w, struct dir_job *job);
/* The finished jobs, oldest first (the caller frees each with free()). */
struct dir_job *node_dirwork_take(struct node_dirwork *w);

#endif
