/* src/node/runfile.c: node.lock and api.json (see runfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdlib.h>

#include <jansson.h>
#include <sodium.h>

#include "node/runfile.h"
#include "sotto/env.h"
#include "util/file.h"

#define LOCK_NAME    "node.lock"
#define RUNFILE_NAME "api.json"
#define PID_MAX_OK   4194304 /* Linux's pid_max ceiling */

static bool path_in(char out[static NODE_PATH_MAX], const char *dir, const char *name)
{
    int n = snprintf(out, NODE_PATH_MAX, "%s/%s", dir, name);

    return n > 0 && n < NODE_PATH_MAX;
}

enum sotto_err node_lock_take(const char *profile_dir, int *fd)
{
    char path[NODE_PATH_MAX];

    *fd = -1;
    if (!path_in(path, profile_dir, LOCK_NAME))
        return SOTTO_EINVAL;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return SOTTO_EIO;
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        close(*fd);
        *fd = -1;
        errno = e;
        return e == EWOULDBLOCK ? SOTTO_EEXIST : SOTTO_EIO;
    }
    return SOTTO_OK;
}

void node_token_new(const struct sotto_env *env, char out[static NODE_TOKEN_LEN + 1])
{
    uint8_t raw[NODE_TOKEN_LEN / 2];

    sotto_random(env, raw, sizeof(raw));
    sodium_bin2hex(out, NODE_TOKEN_LEN + 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
}

enum sotto_err node_runfile_write(const char *profile_dir, const struct node_runinfo *info)
{
    char path[NODE_PATH_MAX], tmp[NODE_PATH_MAX];
    json_t *o = json_pack("{s:I, s:I, s:s}", "port", (json_int_t)info->port, "pid",
                          (json_int_t)info->pid, "token", info->token);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    enum sotto_err rc = SOTTO_ENOMEM;
    char name[64];

    snprintf(name, sizeof(name), RUNFILE_NAME ".%ld.tmp", (long)getpid());
    if (text != NULL && path_in(path, profile_dir, RUNFILE_NAME) &&
        path_in(tmp, profile_dir, name)) {
        unlink(tmp); /* left by a process of this pid that died: ours now */
        rc = file_write_new(tmp, text, strlen(text), 0600);
        if (rc == SOTTO_OK && rename(tmp, path) != 0) {
            rc = SOTTO_EIO;
            unlink(tmp);
        }
        if (rc == SOTTO_OK)
            rc = file_sync(profile_dir);
    }
    if (text != NULL) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    json_decref(o);
    return rc;
}

void node_runfile_remove(const struct sotto_env *env, const char *profile_dir)
{
    struct node_runinfo info;
    char path[NODE_PATH_MAX];

    if (node_runfile_read(env, profile_dir, &info) == SOTTO_OK && info.pid == getpid() &&
        path_in(path, profile_dir, RUNFILE_NAME))
        unlink(path);
    sodium_memzero(info.token, sizeof(info.token));
}

static bool token_ok(const char *t)
{
    if (t == NULL || strlen(t) != NODE_TOKEN_LEN)
        return false;
    for (const char *p = t; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

enum sotto_err node_runfile_parse(const uint8_t *text, size_t len, struct node_runinfo *out)
{
    json_t *o, *port, *pid, *token;
    enum sotto_err rc = SOTTO_ECORRUPT;

    memset(out, 0, sizeof(*out));
    if (text == NULL || len > NODE_RUNFILE_MAX)
        return SOTTO_ECORRUPT;
    o = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
    port = json_object_get(o, "port");
    pid = json_object_get(o, "pid");
    token = json_object_get(o, "token");
    if (json_is_object(o) && json_is_integer(port) && json_integer_value(port) > 0 &&
        json_integer_value(port) <= 65535 && json_is_integer(pid) && json_integer_value(pid) > 0 &&
        json_integer_value(pid) <= PID_MAX_OK && json_is_string(token) &&
        token_ok(json_string_value(token))) {
        out->port = (unsigned)json_integer_value(port);
        out->pid = (pid_t)json_integer_value(pid);
        memcpy(out->token, json_string_value(token), NODE_TOKEN_LEN + 1);
        rc = SOTTO_OK;
    }
    json_decref(o);
    return rc;
}

enum sotto_err node_runfile_read(const struct sotto_env *env, const char *profile_dir,
                                 struct node_runinfo *out)
{
    char path[NODE_PATH_MAX];
    uint8_t *text = NULL;
    size_t len = 0;
    struct stat st;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    if (!path_in(path, profile_dir, RUNFILE_NAME))
        return SOTTO_EINVAL;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? SOTTO_ENOENT : SOTTO_EIO;
    if (!S_ISREG(st.st_mode))
        return SOTTO_ECORRUPT;
    if ((st.st_mode & 077) != 0 || st.st_uid != geteuid())
        return SOTTO_EPERM;
    rc = file_read_path(env, path, NODE_RUNFILE_MAX, &text, &len);
    if (rc == SOTTO_ETOOBIG)
        return SOTTO_ECORRUPT;
    if (rc != SOTTO_OK)
        return rc;
    rc = node_runfile_parse(text, len, out);
    /* a node that died without removing its file: no node */
    if (rc == SOTTO_OK && kill(out->pid, 0) != 0 && errno != EPERM)
        rc = SOTTO_ENOENT;
    if (rc != SOTTO_OK)
        sodium_memzero(out, sizeof(*out));
    sodium_memzero(text, len);
    sotto_free(env, text);
    return rc;
}
