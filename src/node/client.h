/* src/node/client.h: the client side of a node's local API (docs/API.md), as the sotto
 * commands use it: find the node through api.json, connect to 127.0.0.1, authenticate with the
 * token, then requests with ids and their responses, and events the node pushes. Blocking calls
 * with deadlines, on a loop of the client's own. */
#ifndef SOTTO_NODE_CLIENT_H
#define SOTTO_NODE_CLIENT_H

#include <stdbool.h>

#include <jansson.h>

#include "sotto/err.h"

struct sotto_env;
struct node_client;

/* Called for each event the node pushes ({"event": ...}); `ev` is borrowed for the call. */
typedef void (*node_event_fn)(void *arg, json_t *ev);

/* Connects to the node of the profile in `profile_dir` and authenticates. SOTTO_ENOENT when no
 * node runs (no api.json, or its process is gone: "start `sotto daemon`"); SOTTO_EPERM for an
 * api.json others can read; SOTTO_ENET when the node does not answer within timeout_ms;
 * SOTTO_EREFUSED when it refuses the token. */
enum sotto_err node_client_open(struct node_client **out, const struct sotto_env *env,
                                const char *profile_dir, unsigned timeout_ms);
void node_client_free(struct node_client *c);

void node_client_on_event(struct node_client *c, node_event_fn fn, void *arg);

/* Sends `req` (an object with "op"; the call sets "id"; the reference is taken) and waits for
 * its response. On SOTTO_OK *result is the response's "result" (a new reference, possibly an
 * empty object). When the node answers an error: SOTTO_EREFUSED with *error set to its
 * {"code","message"} object (a new reference). SOTTO_ENET when the node went away or did not
 * answer in time. Events that arrive meanwhile go to the event function. */
enum sotto_err node_client_call(struct node_client *c, json_t *req, json_t **result, json_t **error,
                                unsigned timeout_ms);

/* Sends `req` like node_client_call() but without waiting: its response comes, in its turn,
 * to the event function as the whole response object ({"id", "ok", "result" | "error"}), when
 * the loop runs (node_client_wait). For clients that keep many requests in flight. *id (may be
 * NULL) is the id it was given. SOTTO_ENET when the node is gone. */
enum sotto_err node_client_post(struct node_client *c, json_t *req, json_int_t *id);

/* Runs the loop until an event arrived (true) or timeout_ms passed (false), or the node went
 * away (false, and node_client_gone() is true). timeout_ms 0 waits without a deadline. */
bool node_client_wait(struct node_client *c, unsigned timeout_ms);
bool node_client_gone(const struct node_client *c);
/* Makes a node_client_wait() or node_client_call() in progress return (false / SOTTO_ENET)
 * soon. Safe from other threads and from signal handlers. */
void node_client_interrupt(struct node_client *c);

#endif
