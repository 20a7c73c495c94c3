/* src/cli/chat_events.c: the event thread of `sotto chat`, and the queue to the main thread.
 *
 * The node's events arrive on a thread of their own, which owns a local API connection of its
 * own (a node_client is not thread-safe). It queues each event, as its JSON text, for the main
 * thread; so do the log lines of every thread while the chat runs, so that none lands in the
 * middle of the line being typed. A byte on a pipe says that the queue stopped being empty: the
 * main thread waits on that pipe with the terminal. The thread ends when the node goes away or
 * when events_stop() asks it to (SIGUSR1, whose handler chat_term.c installs with the others). */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/chat.h"
#include "cli/cli.h"
#include "node/client.h"

#define SLICE_MS 250 /* the event thread's wait: then it looks at the quit flag */

/* ---- the queue from the other threads ---- */

static void inbox_push(struct inbox *q, enum item_kind kind, const char *text)
{
    size_t len = strlen(text);
    struct item *it = malloc(sizeof(*it) + len + 1);
    bool was_empty;
    ssize_t w;

    if (it == NULL)
        return; /* out of memory: one line lost is all we can do */
    it->next = NULL;
    it->kind = kind;
    memcpy(it->text, text, len + 1);
    pthread_mutex_lock(&q->mu);
    was_empty = q->head == NULL;
    *q->tail = it;
    q->tail = &it->next;
    pthread_mutex_unlock(&q->mu);
    if (was_empty) {
        w = write(q->wake[1], "", 1); /* a full pipe already wakes the reader */
        (void)w;
    }
}

struct item *inbox_take(struct inbox *q)
{
    char buf[64];
    struct item *it;

    while (read(q->wake[0], buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&q->mu);
    it = q->head;
    q->head = NULL;
    q->tail = &q->head;
    pthread_mutex_unlock(&q->mu);
    return it;
}

void items_free(struct item *it)
{
    while (it != NULL) {
        struct item *next = it->next;
        free(it);
        it = next;
    }
}

int inbox_init(struct inbox *q)
{
    q->head = NULL;
    q->tail = &q->head;
    if (pipe(q->wake) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(q->wake[i], F_SETFL, fcntl(q->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(q->wake[i], F_SETFD, FD_CLOEXEC);
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return 0;
}

void inbox_clear(struct inbox *q)
{
    items_free(inbox_take(q));
    close(q->wake[0]);
    close(q->wake[1]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

void inbox_to_stderr(struct chat *ch)
{
    struct item *all = inbox_take(&ch->q);

    for (struct item *it = all; it != NULL; it = it->next)
        if (it->kind == ITEM_LOG)
            fprintf(stderr, "%s\n", it->text);
    items_free(all);
}

/* The log sink while the chat runs: every thread's log lines go through the queue, so that none
 * lands in the middle of the line being typed. */
void chat_log_sink(void *ctx, enum sotto_log_level level, const char *file, int line,
                   const char *func, const char *msg)
{
    static const char *const names[] = {[SOTTO_LOG_ERROR] = "error",
                                        [SOTTO_LOG_WARN] = "warn",
                                        [SOTTO_LOG_INFO] = "info",
                                        [SOTTO_LOG_DEBUG] = "debug"};
    struct chat *ch = ctx;
    char text[1200];

    if (level == SOTTO_LOG_DEBUG)
        snprintf(text, sizeof(text), "sotto: %s: %s (%s:%d %s)", names[level], msg, file, line,
                 func);
    else
        snprintf(text, sizeof(text), "sotto: %s: %s", names[level], msg);
    inbox_push(&ch->q, ITEM_LOG, text);
}

/* ---- the event thread ---- */

static void on_event(void *arg, json_t *ev)
{
    struct chat *ch = arg;
    char *text = json_dumps(ev, JSON_COMPACT);

    if (text != NULL)
        inbox_push(&ch->q, ITEM_EVENT, text);
    free(text);
}

static void *events_main(void *arg)
{
    struct chat *ch = arg;
    struct node_client *c = NULL;
    sigset_t wake;
    enum sotto_err rc = node_client_open(&c, &ch->cli->env, ch->cli->home, CONNECT_MS);

    sigemptyset(&wake);
    sigaddset(&wake, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
    pthread_mutex_lock(&ch->q.mu);
    ch->ev_rc = rc;
    ch->ev_ready = true;
    pthread_cond_signal(&ch->q.cv);
    pthread_mutex_unlock(&ch->q.mu);
    if (rc == SOTTO_OK) {
        node_client_on_event(c, on_event, ch);
        while (!atomic_load(&ch->quit) && !node_client_gone(c))
            node_client_wait(c, SLICE_MS);
        if (!atomic_load(&ch->quit))
            inbox_push(&ch->q, ITEM_GONE, "");
        node_client_free(c);
    }
    pthread_mutex_lock(&ch->q.mu);
    ch->ev_done = true;
    pthread_cond_signal(&ch->q.cv);
    pthread_mutex_unlock(&ch->q.mu);
    return NULL;
}

enum sotto_err events_start(struct chat *ch)
{
    enum sotto_err rc;

    if (pthread_create(&ch->ev_thread, NULL, events_main, ch) != 0)
        return SOTTO_ENOMEM;
    ch->ev_started = true;
    pthread_mutex_lock(&ch->q.mu);
    while (!ch->ev_ready)
        pthread_cond_wait(&ch->q.cv, &ch->q.mu);
    rc = ch->ev_rc;
    pthread_mutex_unlock(&ch->q.mu);
    return rc;
}

/* node_client cannot be woken from another thread, and with libwebsockets 4.1 a wait's
 * deadline fires only when the loop next wakes for something else (its timer callback runs at
 * the start of a service pass, which then polls until lws's own next timer): SIGUSR1
 * interrupts the event thread's poll() until it has seen the quit flag. */
void events_stop(struct chat *ch)
{
    struct timespec ts;

    if (!ch->ev_started)
        return;
    atomic_store(&ch->quit, true);
    pthread_mutex_lock(&ch->q.mu);
    while (!ch->ev_done) {
        pthread_kill(ch->ev_thread, SIGUSR1);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&ch->q.cv, &ch->q.mu, &ts);
    }
    pthread_mutex_unlock(&ch->q.mu);
    pthread_join(ch->ev_thread, NULL);
    ch->ev_started = false;
}
