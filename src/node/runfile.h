/* src/node/runfile.h: how a running node is found (docs/DESIGN.md, Local API). One process at a
 * time runs a profile's node, holding flock($SOTTO_HOME/node.lock); once it serves, it writes
 * $SOTTO_HOME/api.json (0600: port, pid, token) and removes it when it stops. Commands that
 * need the node read api.json: no file, or one whose pid is gone, means no node. */
#ifndef SOTTO_NODE_RUNFILE_H
#define SOTTO_NODE_RUNFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sotto/err.h"

#define NODE_TOKEN_LEN   64 /* hex of 32 random bytes */
#define NODE_RUNFILE_MAX 4096
#define NODE_PATH_MAX    4096

struct sotto_env;

struct node_runinfo {
    unsigned port; /* the local API's, on 127.0.0.1 */
    pid_t pid;
    char token[NODE_TOKEN_LEN + 1]; /* secret */
};

/* Takes the profile's node lock (non-blocking). SOTTO_EEXIST when another process holds it;
 * SOTTO_EIO otherwise (errno kept). *fd stays open for as long as the node runs: closing it
 * (or the process ending, however it ends) releases the lock. */
enum sotto_err node_lock_take(const char *profile_dir, int *fd);

/* A new random token (NODE_TOKEN_LEN hex digits) from env->random. */
void node_token_new(const struct sotto_env *env, char out[static NODE_TOKEN_LEN + 1]);

/* Writes api.json atomically (a 0600 temporary file, fsynced, renamed over). */
enum sotto_err node_runfile_write(const char *profile_dir, const struct node_runinfo *info);
/* Removes api.json when it is still ours (its pid is this process's). */
void node_runfile_remove(const struct sotto_env *env, const char *profile_dir);

/* Parses api.json's bytes (untrusted: at most NODE_RUNFILE_MAX of them, every member checked,
 * members it does not know ignored): SOTTO_OK with *out filled, else SOTTO_ECORRUPT with *out
 * zeroed. Does not ask whether the pid runs. Borrows `text` for the call; writes nothing else.
 * Any thread may call it. */
enum sotto_err node_runfile_parse(const uint8_t *text, size_t len, struct node_runinfo *out);

/* Reads and checks api.json: SOTTO_ENOENT when there is none or its process is gone (a node
 * that died without cleaning up); SOTTO_EPERM when it is readable by others (a token anyone
 * can read is no token: the file is refused); SOTTO_ECORRUPT when it is not what a node
 * writes. Untrusted input: size-capped, every member checked. */
enum sotto_err node_runfile_read(const struct sotto_env *env, const char *profile_dir,
                                 struct node_runinfo *out);

#endif
