/* src/node/dirwork.c: the directory worker thread (see dirwork.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "net/link.h"
#include "node/dirwork.h"
#include "sotto/env.h"
#include "sotto/log.h"

struct node_dirwork {
    const struct sotto_env *env;
    struct net_loop *loop;
    char url[NET_URL_MAX + 1];
    char pin[NET_PIN_HEX_LEN + 1];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct dir_job *in_head, **in_tail;
    struct dir_job *out_head, **out_tail;
    bool stop;
    uint8_t *priv; /* sodium_malloc, or NULL: no signed writes */
    uint64_t number;
};

static void run_job(struct node_dirwork *w, struct net_dir *d, struct e2e_ctx *e2e,
                    struct dir_job *j)
{
    struct net_identity id = {.e2e = e2e, .priv = w->priv, .number = w->number};
    const char *addrs[CARD_ADDRS_MAX];
    char digits[32];

    switch (j->kind) {
    case DIR_JOB_BUNDLE:
        j->rc = net_dir_bundle(d, j->number, &j->bundle);
        break;
    case DIR_JOB_LOOKUP:
        snprintf(digits, sizeof(digits), "%llu", (unsigned long long)j->number);
        j->rc = net_dir_lookup(d, j->username[0] != '\0' ? j->username : digits, &j->account);
        break;
    case DIR_JOB_ADDRESSES:
        for (size_t i = 0; i < j->n_addrs && i < CARD_ADDRS_MAX; i++)
            addrs[i] = j->addrs[i];
        j->rc = w->priv != NULL && e2e != NULL ? net_dir_put_addresses(d, &id, addrs, j->n_addrs)
                                               : SOTTO_EINVAL;
        snprintf(j->seen_from, sizeof(j->seen_from), "%s", net_dir_seen_from(d));
        break;
    case DIR_JOB_PREKEYS:
        j->rc = w->priv != NULL && e2e != NULL ? net_dir_put_prekeys(d, &id, NULL, j->prekeys,
                                                                     j->n_prekeys, &j->prekeys_left)
                                               : SOTTO_EINVAL;
        snprintf(j->seen_from, sizeof(j->seen_from), "%s", net_dir_seen_from(d));
        break;
    }
    if (j->rc != SOTTO_OK) {
        const struct net_dir_problem *p = net_dir_problem(d);
        snprintf(j->detail, sizeof(j->detail), "%s",
                 p->detail[0] != '\0' ? p->detail : sotto_strerror(j->rc));
    }
}

static void *worker(void *arg)
{
    struct node_dirwork *w = arg;
    struct net_dir_params dp = {.url = w->url, .pin = w->pin, .timeout_ms = 10000};
    struct net_dir *d = NULL;
    struct e2e_ctx *e2e = NULL;
    struct dir_job *j;

    /* Signal work of this thread goes through a context of its own */
    if (w->priv != NULL && e2e_ctx_create(&e2e, w->env) != SOTTO_OK)
        e2e = NULL;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->stop && w->in_head == NULL)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->stop)
            break;
        j = w->in_head;
        w->in_head = j->next;
        if (w->in_head == NULL)
            w->in_tail = &w->in_head;
        j->next = NULL;
        pthread_mutex_unlock(&w->lock);

        if (d == NULL && net_dir_open(&d, w->env, &dp) != SOTTO_OK) {
            j->rc = SOTTO_EINVAL;
            snprintf(j->detail, sizeof(j->detail), "the remembered directory URL is not usable");
        } else {
            run_job(w, d, e2e, j);
        }

        pthread_mutex_lock(&w->lock);
        *w->out_tail = j;
        w->out_tail = &j->next;
        net_loop_wake(w->loop);
    }
    pthread_mutex_unlock(&w->lock);
    net_dir_free(d);
    e2e_ctx_free(e2e);
    return NULL;
}

enum sotto_err node_dirwork_start(struct node_dirwork **out, const struct sotto_env *env,
                                  struct net_loop *loop, const char *url, const char *pin,
                                  const uint8_t *priv, uint64_t number)
{
    struct node_dirwork *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (w == NULL)
        return SOTTO_ENOMEM;
    if (priv != NULL) {
        w->priv = sodium_malloc(E2E_PRIV_LEN);
        if (w->priv == NULL) {
            free(w);
            return SOTTO_ENOMEM;
        }
        memcpy(w->priv, priv, E2E_PRIV_LEN);
        w->number = number;
    }
    w->env = env;
    w->loop = loop;
    snprintf(w->url, sizeof(w->url), "%s", url);
    snprintf(w->pin, sizeof(w->pin), "%s", pin);
    w->in_tail = &w->in_head;
    w->out_tail = &w->out_head;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, worker, w) != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        if (w->priv != NULL)
            sodium_free(w->priv);
        free(w);
        return SOTTO_ENOMEM;
    }
    *out = w;
    return SOTTO_OK;
}

static void free_list(struct dir_job *j)
{
    struct dir_job *next;

    for (; j != NULL; j = next) {
        next = j->next;
        free(j);
    }
}

void node_dirwork_stop(struct node_dirwork *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    free_list(w->in_head);
    free_list(w->out_head);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    if (w->priv != NULL)
        sodium_free(w->priv); /* wipes */
    free(w);
}

void node_dirwork_submit(struct node_dirwork *w, struct dir_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    *w->in_tail = job;
    w->in_tail = &job->next;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

struct dir_job *node_dirwork_take(struct node_dirwork *w)
{
    struct dir_job *list;

    pthread_mutex_lock(&w->lock);
    list = w->out_head;
    w->out_head = NULL;
    w->out_tail = &w->out_head;
    pthread_mutex_unlock(&w->lock);
    return list;
}
