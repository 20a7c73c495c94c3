/* src/cli/chat_node.c: the node of `sotto chat` when no node runs for the profile.
 *
 * The chat then runs the node in its own process, on a thread of its own, for as long as the
 * chat lasts: it takes the node lock and writes api.json like a daemon, and the chat talks to it
 * through its local API as it would to a daemon, so that libsignal and the profile stay on the
 * node's thread. --mode and --listen say whether it listens for peer links and whether it
 * dials. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/chat.h"
#include "cli/cli.h"
#include "node/node.h"
#include "node/runfile.h"
#include "util/tlscert.h"

/* The node, when it runs in this process. */
struct inproc {
    struct node_params np;
    char cert[PROFILE_PATH_MAX + 32], key[PROFILE_PATH_MAX + 32];
    int lock;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready;
    enum sotto_err rc;
    struct node *node; /* under mu; NULL once the node thread is done with it */
};

static void *node_main(void *arg)
{
    struct inproc *ip = arg;
    struct node *n = NULL;
    enum sotto_err rc = node_create(&n, &ip->np);

    pthread_mutex_lock(&ip->mu);
    ip->rc = rc;
    ip->node = n;
    ip->ready = true;
    pthread_cond_signal(&ip->cv);
    pthread_mutex_unlock(&ip->mu);
    if (rc != SOTTO_OK)
        return NULL;
    node_run(n);
    pthread_mutex_lock(&ip->mu);
    ip->node = NULL;
    pthread_mutex_unlock(&ip->mu);
    node_free(n);
    return NULL;
}

void inproc_stop(struct chat *ch)
{
    struct inproc *ip = ch->ip;

    if (ip == NULL)
        return;
    pthread_mutex_lock(&ip->mu);
    if (ip->node != NULL)
        node_stop(ip->node);
    pthread_mutex_unlock(&ip->mu);
    if (ip->started)
        pthread_join(ip->thread, NULL);
    pthread_mutex_destroy(&ip->mu);
    pthread_cond_destroy(&ip->cv);
    close(ip->lock);
    free(ip);
    ch->ip = NULL;
}

/* Runs the node on its own thread; returns once it serves (api.json written) or failed. */
static int inproc_run(struct chat *ch, struct inproc *ip)
{
    enum sotto_err rc;

    if (pthread_create(&ip->thread, NULL, node_main, ip) != 0)
        return cli_fail(ch->cli, SOTTO_ENOMEM, "starting the node");
    ip->started = true;
    pthread_mutex_lock(&ip->mu);
    while (!ip->ready)
        pthread_cond_wait(&ip->cv, &ip->mu);
    rc = ip->rc;
    pthread_mutex_unlock(&ip->mu);
    if (rc != SOTTO_OK) {
        inbox_to_stderr(ch); /* the node's log says why */
        return cli_fail(ch->cli, rc, "starting the node");
    }
    return CLI_EXIT_OK;
}

static int inproc_prepare(struct chat *ch, struct inproc *ip)
{
    struct cli *cli = ch->cli;
    bool generated;
    enum sotto_err rc;

    snprintf(ip->cert, sizeof(ip->cert), "%s/node-cert.pem", cli->home);
    snprintf(ip->key, sizeof(ip->key), "%s/node-key.pem", cli->home);
    rc = tls_self_signed_ensure(&cli->env, ip->cert, ip->key, "sotto-node", &generated);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "making the node's TLS certificate");
    ip->np.env = &cli->env;
    ip->np.profile = cli->profile;
    ip->np.profile_dir = cli->home;
    ip->np.listen = ch->mode == MODE_CONNECT ? NULL
                    : ch->listen != NULL     ? ch->listen
                                             : DEFAULT_LISTEN;
    ip->np.api_port = 0;
    ip->np.no_dial = ch->mode == MODE_LISTEN; /* wait, dial nobody */
    ip->np.cert_path = ip->cert;
    ip->np.key_path = ip->key;
    rc = cli_e2e(cli, &ip->np.e2e);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "starting the node");
    return inproc_run(ch, ip);
}

/* No node runs for the profile: runs one here. -1 when another process took the node lock
 * meanwhile (a daemon starting: the caller connects to it instead). */
int inproc_start(struct chat *ch)
{
    struct cli *cli = ch->cli;
    struct inproc *ip;
    int code = cli_open_profile(cli), lock = -1;
    enum sotto_err rc;

    if (code == CLI_EXIT_OK)
        code = cli_unlock_profile(cli);
    if (code != CLI_EXIT_OK)
        return code;
    rc = node_lock_take(cli->home, &lock);
    if (rc == SOTTO_EEXIST)
        return -1;
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "taking the node lock");
    ip = calloc(1, sizeof(*ip));
    if (ip == NULL) {
        close(lock);
        return cli_fail(cli, SOTTO_ENOMEM, "starting the node");
    }
    ip->lock = lock;
    pthread_mutex_init(&ip->mu, NULL);
    pthread_cond_init(&ip->cv, NULL);
    ch->ip = ip; /* inproc_stop() releases it all, whatever stage it reached */
    code = inproc_prepare(ch, ip);
    if (code != CLI_EXIT_OK)
        inproc_stop(ch);
    return code;
}
