/* src/cli/cmd_chat.c: sotto chat CONTACT, the full-duplex terminal chat.
 *
 * The terminal lives on the main thread: libedit in unbuffered mode when stdin and stdout are
 * terminals, plain lines otherwise. The node's events arrive on a second thread, which owns a
 * local API connection of its own (a node_client is not thread-safe) and queues them, with a
 * wake-up pipe; the main thread waits in pselect() on the terminal and that pipe, so that it
 * neither spins nor lags. Requests (send, history, status) go through the main thread's own
 * connection. With no node running, the node runs in-process on a third thread for as long as
 * the chat lasts (it holds the node lock and writes api.json like a daemon), and the chat talks
 * to it through its local API as it would to a daemon: libsignal and the profile stay on the
 * node's thread. */
#define _XOPEN_SOURCE 700 /* wcwidth */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <histedit.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <jansson.h>

#include "cli/cli.h"
#include "node/client.h"
#include "node/node.h"
#include "node/runfile.h"
#include "util/text.h"
#include "util/tlscert.h"
#include "wire/wire.h"

#define DEFAULT_LISTEN "0.0.0.0:8766"
#define CONNECT_MS     5000
#define CALL_MS        30000
#define SLICE_MS       250 /* the event thread's wait: then it looks at the quit flag */
#define LINGER_MS      30000
#define SHOWN_AT_START 10
#define HISTORY_CMD    20
#define TEXT_MAX       65536
#define ADDR_MAX       80
#define ID_HEX         33

enum chat_mode { MODE_AUTO, MODE_CONNECT, MODE_LISTEN };
enum style { ST_PLAIN, ST_DIM, ST_WARN };
enum item_kind { ITEM_EVENT, ITEM_LOG, ITEM_GONE };

#define SIG_QUIT  1
#define SIG_WINCH 2
#define SIG_CONT  4

/* Set by the handler, read and cleared by the main thread while the signals are blocked: they
 * are unblocked only inside pselect(), and the handler blocks them all while it runs. */
static volatile sig_atomic_t signals_seen;

/* One thing for the main thread, from any thread. */
struct item {
    struct item *next;
    enum item_kind kind;
    char text[]; /* the event's JSON, or a log line */
};

struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the event thread's start */
    struct item *head, **tail;
    int wake[2]; /* a byte when the queue stops being empty */
};

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

/* A line sent in this chat, until it is delivered. */
struct sent {
    char id[ID_HEX];
    char *line;        /* owned: the line as shown, without its marks */
    unsigned long row; /* chat.rows_out right after it was printed; 0: from history */
    bool one_row;
};

struct chat {
    struct cli *cli;
    const char *query; /* CONTACT as given */
    const char *connect;
    char connect_addr[ADDR_MAX];
    const char *listen;
    enum chat_mode mode;
    bool mode_given;

    char name[256];     /* the contact's name as the node has it */
    char shown[4 * 64]; /* the same, escaped */
    json_int_t contact_id;
    unsigned peer_port;
    struct node_client *req; /* owned; the main thread's connection */
    struct inbox q;
    struct inproc *ip; /* NULL when a daemon runs the node */
    pthread_t ev_thread;
    bool ev_started, ev_ready, ev_done; /* under q.mu */
    enum sotto_err ev_rc;
    atomic_bool quit;

    EditLine *el;
    History *hist;
    bool tty, color, hidden, stdin_open;
    char prompt[300];
    size_t prompt_w;
    unsigned long rows_out;
    struct sent *sent;
    size_t n_sent, cap_sent;
    char (*seen)[ID_HEX]; /* ids shown at start, so that an event does not show one twice */
    size_t n_seen;
    char *rx; /* plain mode: bytes of a line not yet ended */
    size_t rx_len;
    bool rx_skip;
    bool done;
    int code;
    uint64_t linger_until_ms;
};

/* ---- small helpers ---- */

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *vfmt_alloc(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *vfmt_alloc(const char *fmt, va_list ap)
{
    va_list again;
    int n;
    char *s;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
        return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vfmt_alloc(fmt, ap);
    va_end(ap);
    return s;
}

/* Peer-supplied text made harmless for the terminal (owned; NULL on allocation failure). */
static char *escaped(const char *s)
{
    size_t cap = (s != NULL ? strlen(s) : 0) * 4 + 1;
    char *out = malloc(cap);

    if (out != NULL)
        text_escape(s != NULL ? s : "", out, cap);
    return out;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static void when_text(json_int_t ms, char out[static 32])
{
    time_t t = (time_t)(ms / 1000), now = time(NULL);
    struct tm tm, today;

    localtime_r(&t, &tm);
    localtime_r(&now, &today);
    strftime(out, 32,
             tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday ? "%H:%M"
                                                                        : "%Y-%m-%d %H:%M",
             &tm);
}

static unsigned term_cols(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static size_t wide_width(const wchar_t *s, size_t n)
{
    size_t w = 0;

    for (size_t i = 0; i < n; i++) {
        int cw = wcwidth(s[i]);
        w += cw >= 0 ? (size_t)cw : 2; /* libedit shows a control character as ^X */
    }
    return w;
}

/* Columns that `s` (UTF-8) takes on the terminal. */
static size_t text_width(const char *s)
{
    size_t n = mbstowcs(NULL, s, 0), w;
    wchar_t *ws;

    if (n == (size_t)-1) { /* not this locale's text: libedit shows such bytes as \ooo */
        for (w = 0; *s != '\0'; s++)
            w += (unsigned char)*s >= 0x80 ? 4 : (unsigned char)*s < 0x20 ? 2 : 1;
        return w;
    }
    if ((ws = calloc(n + 1, sizeof(*ws))) == NULL)
        return strlen(s);
    mbstowcs(ws, s, n + 1);
    w = wide_width(ws, n);
    free(ws);
    return w;
}

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

static struct item *inbox_take(struct inbox *q)
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

static void items_free(struct item *it)
{
    while (it != NULL) {
        struct item *next = it->next;
        free(it);
        it = next;
    }
}

static int inbox_init(struct inbox *q)
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

static void inbox_clear(struct inbox *q)
{
    items_free(inbox_take(q));
    close(q->wake[0]);
    close(q->wake[1]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

/* The log sink while the chat runs: every thread's log lines go through the queue, so that none
 * lands in the middle of the line being typed. */
static void chat_log_sink(void *ctx, enum sotto_log_level level, const char *file, int line,
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

static void on_wake_signal(int sig)
{
    (void)sig; /* only interrupts the event thread's poll() */
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

static enum sotto_err events_start(struct chat *ch)
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
static void events_stop(struct chat *ch)
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

/* ---- the node in this process ---- */

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

static void inproc_stop(struct chat *ch)
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

static void inbox_to_stderr(struct chat *ch)
{
    struct item *all = inbox_take(&ch->q);

    for (struct item *it = all; it != NULL; it = it->next)
        if (it->kind == ITEM_LOG)
            fprintf(stderr, "%s\n", it->text);
    items_free(all);
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
static int inproc_start(struct chat *ch)
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

/* ---- output ---- */

/* Takes the prompt and the line being typed off the screen (the cursor goes to where the
 * prompt began), so that what is printed next lands above it; ui_show() puts it back. */
static void ui_hide(struct chat *ch)
{
    const LineInfoW *li;
    size_t col, row;

    if (ch->el == NULL || ch->hidden)
        return;
    li = el_wline(ch->el);
    col = ch->prompt_w + wide_width(li->buffer, (size_t)(li->cursor - li->buffer));
    row = col / term_cols();
    if (row > 0)
        printf("\033[%zuA", row);
    fputs("\r\033[J", stdout);
    ch->hidden = true;
}

static void ui_show(struct chat *ch)
{
    fflush(stdout);
    if (ch->el == NULL || !ch->hidden)
        return;
    el_set(ch->el, EL_REFRESH);
    ch->hidden = false;
}

static void out_line(struct chat *ch, enum style st, const char *text)
{
    static const char *const on[] = {
            [ST_PLAIN] = "", [ST_DIM] = "\033[2m", [ST_WARN] = "\033[1;31m"};

    ui_hide(ch);
    if (ch->color && st != ST_PLAIN)
        printf("%s%s\033[0m\n", on[st], text != NULL ? text : "(out of memory)");
    else
        printf("%s\n", text != NULL ? text : "(out of memory)");
    ch->rows_out++;
    if (ch->el == NULL)
        fflush(stdout);
}

static void out_fmt(struct chat *ch, enum style st, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void out_fmt(struct chat *ch, enum style st, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vfmt_alloc(fmt, ap);
    va_end(ap);
    out_line(ch, st, s);
    free(s);
}

static const char *mark_of(const char *state)
{
    if (strcmp(state, "delivered") == 0)
        return "  ✓✓";
    if (strcmp(state, "failed") == 0)
        return "  ✗ failed";
    if (strcmp(state, "received") == 0 || state[0] == '\0')
        return "";
    return "  ✓";
}

/* ---- sent lines and their marks ---- */

static struct sent *sent_find(struct chat *ch, const char *id)
{
    for (size_t i = 0; i < ch->n_sent; i++)
        if (strcmp(ch->sent[i].id, id) == 0)
            return &ch->sent[i];
    return NULL;
}

static void sent_drop(struct chat *ch, struct sent *s)
{
    free(s->line);
    *s = ch->sent[--ch->n_sent];
}

/* Remembers a line waiting for its "delivered" event; `line` is taken. */
static void sent_add(struct chat *ch, const char *id, char *line, bool on_screen)
{
    struct sent *grown;

    if (line == NULL || strlen(id) != ID_HEX - 1)
        goto drop;
    if (ch->n_sent == ch->cap_sent) {
        size_t cap = ch->cap_sent == 0 ? 16 : ch->cap_sent * 2;
        grown = realloc(ch->sent, cap * sizeof(*grown));
        if (grown == NULL)
            goto drop;
        ch->sent = grown;
        ch->cap_sent = cap;
    }
    memcpy(ch->sent[ch->n_sent].id, id, ID_HEX);
    ch->sent[ch->n_sent].line = line;
    ch->sent[ch->n_sent].row = on_screen ? ch->rows_out : 0;
    ch->sent[ch->n_sent].one_row = text_width(line) + 4 < term_cols();
    ch->n_sent++;
    return;
drop:
    free(line);
}

static void on_delivered(struct chat *ch, const char *id)
{
    struct sent *s = sent_find(ch, id);
    char preview[40];
    const char *text;

    if (s == NULL)
        return;
    if (ch->el != NULL && s->row == ch->rows_out && s->one_row) {
        ui_hide(ch); /* the line just above the prompt: its mark changes in place */
        printf("\033[1A\r\033[K%s  ✓✓\n", s->line);
    } else {
        text = strstr(s->line, " → ");
        text = text != NULL ? text + strlen(" → ") : s->line;
        text_escape(text, preview, 30); /* already escaped: cuts at a character boundary */
        out_fmt(ch, ST_DIM, "   ✓✓ delivered: %s%s", preview,
                strlen(preview) < strlen(text) ? "…" : "");
    }
    sent_drop(ch, s);
}

/* ---- requests through the main thread's connection ---- */

static void node_gone(struct chat *ch)
{
    if (ch->code == CLI_EXIT_NODAEMON)
        return;
    out_line(ch, ST_WARN, "!! the node stopped");
    ch->done = true;
    ch->code = CLI_EXIT_NODAEMON;
}

static enum sotto_err call(struct chat *ch, json_t *req, json_t **result, json_t **error)
{
    enum sotto_err rc;

    *result = NULL;
    *error = NULL;
    if (req == NULL)
        return SOTTO_ENOMEM;
    rc = node_client_call(ch->req, req, result, error, CALL_MS);
    if (rc == SOTTO_ENET && node_client_gone(ch->req))
        node_gone(ch);
    return rc;
}

/* A message from history or an event; `track`: an undelivered one of ours gets its ✓✓ later. */
static void print_message(struct chat *ch, const json_t *m, bool track)
{
    const char *dir = jstr(m, "direction");
    bool out = strcmp(dir, "out") == 0;
    char when[32], *text = escaped(jstr(m, "text")), *line;

    when_text(json_integer_value(json_object_get(m, "sent_ms")), when);
    if (out)
        line = fmt_alloc("%s → %s", when, text != NULL ? text : "");
    else
        line = fmt_alloc("%s ← %s: %s", when, ch->shown, text != NULL ? text : "");
    free(text);
    if (line == NULL)
        return;
    out_fmt(ch, ST_PLAIN, "%s%s", line, out ? mark_of(jstr(m, "state")) : "");
    if (out && track && strcmp(jstr(m, "state"), "delivered") != 0 &&
        strcmp(jstr(m, "state"), "failed") != 0)
        sent_add(ch, jstr(m, "id"), line, false);
    else
        free(line);
}

static void show_history(struct chat *ch, long limit, bool at_start)
{
    json_t *result, *error, *m;
    enum sotto_err rc;
    size_t i;

    rc = call(ch,
              json_pack("{s:s, s:s, s:I}", "op", "history", "contact", ch->query, "limit",
                        (json_int_t)limit),
              &result, &error);
    if (rc != SOTTO_OK) {
        out_fmt(ch, ST_WARN, "✗ history: %s",
                error != NULL ? jstr(error, "message") : sotto_strerror(rc));
        json_decref(error);
        return;
    }
    json_array_foreach(json_object_get(result, "messages"), i, m)
    {
        print_message(ch, m, at_start);
        if (at_start && ch->seen != NULL && ch->n_seen < SHOWN_AT_START &&
            strlen(jstr(m, "id")) == ID_HEX - 1)
            memcpy(ch->seen[ch->n_seen++], jstr(m, "id"), ID_HEX);
    }
    if (json_array_size(json_object_get(result, "messages")) == 0)
        out_line(ch, ST_DIM, "-- no messages yet");
    json_decref(result);
}

static void show_status(struct chat *ch, bool at_start)
{
    json_t *result, *error, *l;
    bool up = false;
    size_t i;
    char *addr;

    if (call(ch, json_pack("{s:s}", "op", "status"), &result, &error) != SOTTO_OK) {
        json_decref(error);
        return;
    }
    ch->peer_port = (unsigned)json_integer_value(json_object_get(result, "peer_port"));
    json_array_foreach(json_object_get(result, "links"), i, l)
    {
        if (strcmp(jstr(l, "peer"), ch->name) != 0)
            continue;
        up = true;
        addr = escaped(jstr(l, "address"));
        out_fmt(ch, ST_DIM, "-- link up with %s via %s (%s)", ch->shown, addr ? addr : "?",
                json_is_true(json_object_get(l, "dialed")) ? "dialed" : "accepted");
        free(addr);
    }
    if (!up)
        out_fmt(ch, ST_DIM, "-- no link with %s now: %s", ch->shown,
                at_start ? "messages wait in the outbox until one is up"
                         : "messages wait in the outbox");
    if (ch->ip != NULL && ch->mode == MODE_CONNECT)
        out_line(ch, ST_DIM, "-- your node runs inside this chat (it dials, it does not listen)");
    else if (ch->ip != NULL)
        out_fmt(ch, ST_DIM, "-- your node runs inside this chat (peer links on port %u)",
                ch->peer_port);
    json_decref(result);
}

/* --connect, and the dial of auto and connect modes: the node's "connect" op. */
static void ask_connect(struct chat *ch)
{
    json_t *req, *result, *error;
    enum sotto_err rc;

    if (ch->connect == NULL && (ch->ip == NULL || ch->mode == MODE_LISTEN))
        return;
    req = json_pack("{s:s, s:s}", "op", "connect", "contact", ch->query);
    if (req != NULL && ch->connect != NULL)
        json_object_set_new(req, "address", json_string(ch->connect_addr));
    rc = call(ch, req, &result, &error);
    if (rc == SOTTO_EREFUSED && strcmp(jstr(error, "code"), "unknown_op") == 0) {
        if (ch->connect != NULL)
            out_fmt(ch, ST_DIM,
                    "-- this node cannot dial %s on request yet: it dials %s's known "
                    "addresses when there is something to send",
                    ch->connect_addr, ch->shown);
    } else if (rc != SOTTO_OK) {
        out_fmt(ch, ST_WARN, "✗ cannot dial %s: %s", ch->shown,
                error != NULL ? jstr(error, "message") : sotto_strerror(rc));
    }
    json_decref(result);
    json_decref(error);
}

static void send_line(struct chat *ch, const char *text)
{
    json_t *result, *error;
    char when[32], *esc = escaped(text), *line;
    enum sotto_err rc;

    when_text((json_int_t)time(NULL) * 1000, when);
    line = fmt_alloc("%s → %s", when, esc != NULL ? esc : "");
    free(esc);
    rc = call(ch, json_pack("{s:s, s:s, s:s}", "op", "send", "contact", ch->query, "text", text),
              &result, &error);
    if (rc == SOTTO_OK) {
        out_fmt(ch, ST_PLAIN, "%s  ✓", line != NULL ? line : "");
        sent_add(ch, jstr(result, "id"), line, true);
    } else if (rc == SOTTO_EREFUSED && strcmp(jstr(error, "code"), "key_changed") == 0) {
        out_fmt(ch, ST_WARN,
                "!! %s's identity key changed: nothing was sent. Check with them "
                "(`sotto safety-number %s`), then import their new card with "
                "--accept-new-key",
                ch->shown, ch->shown);
        free(line);
    } else {
        out_fmt(ch, ST_WARN, "%s  ✗ not sent: %s", line != NULL ? line : "",
                error != NULL ? jstr(error, "message") : sotto_strerror(rc));
        free(line);
    }
    json_decref(result);
    json_decref(error);
}

/* ---- events ---- */

static bool seen_at_start(struct chat *ch, const char *id)
{
    for (size_t i = 0; i < ch->n_seen; i++)
        if (strcmp(ch->seen[i], id) == 0)
            return true;
    return false;
}

static void on_message(struct chat *ch, const json_t *ev)
{
    char *from;

    if (json_integer_value(json_object_get(ev, "contact_id")) != ch->contact_id) {
        from = escaped(jstr(ev, "from"));
        out_fmt(ch, ST_DIM, "-- a message from %s (`sotto chat %s` to read it)", from ? from : "?",
                from ? from : "?");
        free(from);
        return;
    }
    if (seen_at_start(ch, jstr(ev, "id")))
        return;
    print_message(ch, ev, false);
}

static const char *refuse_text(json_int_t reason)
{
    switch (reason) {
    case WIRE_REFUSE_NO_SESSION:
        return "it has no session with you";
    case WIRE_REFUSE_UNKNOWN_PREKEY:
        return "the prekey it was sent under is gone";
    case WIRE_REFUSE_UNTRUSTED:
        return "it does not trust your key: compare safety numbers with them";
    case WIRE_REFUSE_CANNOT_DECRYPT:
        return "it cannot decrypt the message";
    default:
        return "the message is malformed";
    }
}

static void on_link_event(struct chat *ch, const char *name, const json_t *ev)
{
    char *addr = escaped(jstr(ev, "address")), *msg;

    if (strcmp(name, "link_up") == 0 && strcmp(jstr(ev, "peer"), ch->name) == 0) {
        out_fmt(ch, ST_DIM, "-- link up with %s via %s (%s)", ch->shown, addr ? addr : "?",
                json_is_true(json_object_get(ev, "dialed")) ? "dialed" : "accepted");
    } else if (strcmp(name, "link_down") == 0 && strcmp(jstr(ev, "peer"), ch->name) == 0) {
        out_fmt(ch, ST_DIM, "-- link with %s down", ch->shown);
    } else if (strcmp(name, "link_refused") == 0) {
        msg = escaped(jstr(ev, "message"));
        out_fmt(ch, ST_WARN,
                "!! %s: link refused. Their key changed, or another node answers at that "
                "address: check with them (`sotto safety-number`)",
                msg ? msg : "?");
        free(msg);
    } else if (strcmp(name, "dial_failed") == 0 && strcmp(jstr(ev, "peer"), ch->name) == 0) {
        msg = escaped(jstr(ev, "message"));
        out_fmt(ch, ST_DIM, "-- cannot reach %s at %s (%s)%s", ch->shown, addr ? addr : "?",
                msg ? msg : "?",
                ch->ip != NULL && ch->mode == MODE_AUTO ? ": waiting for them to connect" : "");
        free(msg);
    }
    free(addr);
}

static void on_event_item(struct chat *ch, const char *text)
{
    json_t *ev = json_loads(text, 0, NULL);
    const char *name = jstr(ev, "event");

    if (strcmp(name, "message") == 0)
        on_message(ch, ev);
    else if (strcmp(name, "delivered") == 0)
        on_delivered(ch, jstr(ev, "id"));
    else if (strcmp(name, "refused") == 0)
        out_fmt(ch, ST_WARN, "!! a contact's node refused a message: %s",
                refuse_text(json_integer_value(json_object_get(ev, "reason"))));
    else
        on_link_event(ch, name, ev);
    json_decref(ev);
}

static void drain(struct chat *ch)
{
    struct item *all = inbox_take(&ch->q);
    char *esc;

    for (struct item *it = all; it != NULL; it = it->next) {
        if (it->kind == ITEM_EVENT) {
            on_event_item(ch, it->text);
        } else if (it->kind == ITEM_LOG) {
            esc = escaped(it->text);
            out_line(ch, ST_DIM, esc);
            free(esc);
        } else if (!ch->done) {
            node_gone(ch);
        }
    }
    items_free(all);
}

/* ---- lines typed ---- */

static const char help_text[] = "-- type a line and Enter to send it; ✓ stored, ✓✓ delivered\n"
                                "-- /history [N]  the last N messages (default 20)\n"
                                "-- /status       the link with the contact\n"
                                "-- /quit         leave (also Ctrl-D, Ctrl-C)\n"
                                "-- //text        sends \"/text\"";

static void command(struct chat *ch, const char *line)
{
    char *end, name[48];
    long n;

    if (strcmp(line, "/quit") == 0 || strcmp(line, "/q") == 0 || strcmp(line, "/exit") == 0) {
        ch->done = true;
    } else if (strcmp(line, "/help") == 0 || strcmp(line, "/?") == 0) {
        for (const char *p = help_text, *nl; *p != '\0'; p = *nl ? nl + 1 : nl) {
            nl = strchr(p, '\n');
            nl = nl != NULL ? nl : p + strlen(p);
            out_fmt(ch, ST_DIM, "%.*s", (int)(nl - p), p);
        }
    } else if (strncmp(line, "/history", 8) == 0 && (line[8] == '\0' || line[8] == ' ')) {
        n = line[8] == '\0' ? HISTORY_CMD : strtol(line + 9, &end, 10);
        if (line[8] != '\0' && (*end != '\0' || n < 1 || n > 1000))
            out_line(ch, ST_WARN, "✗ /history takes a number of messages, 1..1000");
        else
            show_history(ch, n, false);
    } else if (strcmp(line, "/status") == 0) {
        show_status(ch, false);
    } else {
        text_escape(line, name, sizeof(name));
        out_fmt(ch, ST_WARN,
                "✗ unknown command %s: /help lists them (// sends a line that "
                "starts with /)",
                name);
    }
}

static void handle_line(struct chat *ch, char *line)
{
    size_t n = strlen(line);

    if (n > 0 && line[n - 1] == '\r') /* a CRLF line from a pipe */
        line[n - 1] = '\0';
    if (line[0] == '/' && line[1] != '/') {
        command(ch, line);
        return;
    }
    if (line[0] == '/')
        line++;
    if (line[0] != '\0')
        send_line(ch, line);
}

static void tty_line_done(struct chat *ch, char *line)
{
    HistEvent hev;
    size_t rows = (ch->prompt_w + text_width(line)) / term_cols() + 1;

    /* libedit moved below the line: take the typed line off, it comes back with its marks */
    printf("\033[%zuA\r\033[J", rows);
    el_set(ch->el, EL_UNBUFFERED, 0); /* a fresh, empty line (the readline emulation's way) */
    el_set(ch->el, EL_UNBUFFERED, 1);
    ch->hidden = false;
    if (line[0] != '\0')
        history(ch->hist, &hev, H_ENTER, line);
    handle_line(ch, line);
}

static void tty_input(struct chat *ch)
{
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    const char *buf;
    char *line;
    int n = 0;

    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
        ch->done = true; /* the terminal is gone */
        return;
    }
    errno = 0;
    buf = el_gets(ch->el, &n);
    if (buf == NULL) {
        if (n < 0 && errno != 0 && errno != EINTR && errno != EAGAIN)
            ch->done = true;
        return;
    }
    if (n == 1 && buf[0] == '\x04') { /* Ctrl-D on an empty line */
        ch->done = true;
        return;
    }
    if (n < 1 || buf[n - 1] != '\n')
        return; /* still typing */
    line = strndup(buf, (size_t)n - 1);
    if (line != NULL)
        tty_line_done(ch, line);
    free(line);
}

/* Lines sent in this chat and not delivered yet. */
static size_t undelivered(const struct chat *ch)
{
    size_t n = 0;

    for (size_t i = 0; i < ch->n_sent; i++)
        n += ch->sent[i].row != 0;
    return n;
}

static void plain_eof(struct chat *ch)
{
    ch->stdin_open = false;
    if (ch->ip == NULL || undelivered(ch) == 0) {
        ch->done = true;
        return;
    }
    /* the node goes away with the chat: give what was sent a chance to arrive */
    ch->linger_until_ms = mono_ms() + LINGER_MS;
    fprintf(stderr, "sotto: waiting for delivery (up to %d s)...\n", LINGER_MS / 1000);
}

static void plain_input(struct chat *ch)
{
    char *nl, *p;
    ssize_t got;

    got = read(STDIN_FILENO, ch->rx + ch->rx_len, TEXT_MAX + 1 - ch->rx_len);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (got <= 0) {
        if (ch->rx_len > 0 && !ch->rx_skip) { /* a last line without its newline */
            ch->rx[ch->rx_len] = '\0';
            handle_line(ch, ch->rx);
        }
        ch->rx_len = 0;
        plain_eof(ch);
        return;
    }
    ch->rx_len += (size_t)got;
    p = ch->rx;
    while (!ch->done && (nl = memchr(p, '\n', ch->rx_len - (size_t)(p - ch->rx))) != NULL) {
        *nl = '\0';
        if (!ch->rx_skip)
            handle_line(ch, p);
        ch->rx_skip = false;
        p = nl + 1;
    }
    ch->rx_len -= (size_t)(p - ch->rx);
    memmove(ch->rx, p, ch->rx_len);
    if (ch->rx_len > TEXT_MAX) { /* no newline within the cap: the line is refused whole */
        out_fmt(ch, ST_WARN, "✗ not sent: a line longer than %d bytes", TEXT_MAX);
        ch->rx_len = 0;
        ch->rx_skip = true;
    }
}

/* ---- the terminal ---- */

static char *prompt_fn(EditLine *el)
{
    struct chat *ch = NULL;

    el_get(el, EL_CLIENTDATA, &ch);
    return ch != NULL ? ch->prompt : (char *)"> ";
}

static int tty_open(struct chat *ch)
{
    HistEvent hev;

    snprintf(ch->prompt, sizeof(ch->prompt), "%s> ", ch->shown);
    ch->prompt_w = text_width(ch->prompt);
    ch->hist = history_init();
    ch->el = el_init("sotto", stdin, stdout, stderr);
    if (ch->hist == NULL || ch->el == NULL)
        return -1;
    history(ch->hist, &hev, H_SETSIZE, 500);
    el_set(ch->el, EL_CLIENTDATA, ch);
    el_set(ch->el, EL_EDITOR, "emacs");
    el_set(ch->el, EL_HIST, history, ch->hist);
    el_set(ch->el, EL_PROMPT, prompt_fn);
    el_source(ch->el, NULL); /* the user's ~/.editrc, if any */
    ch->hidden = true;       /* nothing drawn yet */
    el_set(ch->el, EL_UNBUFFERED, 1);
    ch->hidden = false;
    return 0;
}

static void tty_close(struct chat *ch)
{
    if (ch->el != NULL) {
        ui_hide(ch);
        fflush(stdout);
        el_end(ch->el); /* the terminal as it was */
        ch->el = NULL;
    }
    if (ch->hist != NULL)
        history_end(ch->hist);
    ch->hist = NULL;
}

/* After Ctrl-Z and fg: the terminal modes may be the shell's; the line typed is kept. */
static void tty_resume(struct chat *ch)
{
    const LineInfo *li = el_line(ch->el);
    char *saved = strndup(li->buffer, (size_t)(li->lastchar - li->buffer));

    el_set(ch->el, EL_UNBUFFERED, 0);
    el_set(ch->el, EL_UNBUFFERED, 1);
    if (saved != NULL && saved[0] != '\0')
        el_insertstr(ch->el, saved);
    free(saved);
    fputs("\r\033[J", stdout); /* the prompt drawn by the reset: drawn again with the line */
    el_set(ch->el, EL_REFRESH);
}

static void on_signals(struct chat *ch)
{
    int seen = signals_seen;

    signals_seen = 0;
    if (seen & SIG_QUIT)
        ch->done = true;
    if (ch->el == NULL)
        return;
    if (seen & SIG_CONT)
        tty_resume(ch);
    if (seen & SIG_WINCH) {
        fputs("\r\033[J", stdout);
        el_resize(ch->el);
        ch->hidden = true;
        ch->rows_out++; /* the terminal reflowed: no mark is changed in place any more */
    }
}

static void on_signal(int sig)
{
    signals_seen |= sig == SIGWINCH ? SIG_WINCH : sig == SIGCONT ? SIG_CONT : SIG_QUIT;
}

/* Signals come only to the main thread, and only inside pselect(): the threads started after
 * this inherit the blocked mask. `open` gets the mask to wait with. */
static void signals_setup(sigset_t *open, sigset_t *saved)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGCONT};
    struct sigaction sa;
    sigset_t block;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&block, sigs[i]);
    sa.sa_mask = block;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sa.sa_handler = on_wake_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaddset(&block, SIGUSR1); /* the event thread unblocks it for itself */
    pthread_sigmask(SIG_BLOCK, &block, saved);
    *open = *saved;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigdelset(open, sigs[i]);
    sigaddset(open, SIGUSR1);
}

static void wait_once(struct chat *ch, const sigset_t *open)
{
    fd_set rd;
    struct timespec ts, *tsp = NULL;
    uint64_t now;
    int nfds = ch->q.wake[0] + 1;

    FD_ZERO(&rd);
    FD_SET(ch->q.wake[0], &rd);
    if (ch->stdin_open) {
        FD_SET(STDIN_FILENO, &rd);
        nfds = nfds > STDIN_FILENO + 1 ? nfds : STDIN_FILENO + 1;
    }
    if (ch->linger_until_ms != 0) {
        now = mono_ms();
        now = now < ch->linger_until_ms ? ch->linger_until_ms - now : 0;
        ts.tv_sec = (time_t)(now / 1000);
        ts.tv_nsec = (long)(now % 1000) * 1000000;
        tsp = &ts;
    }
    if (pselect(nfds, &rd, NULL, NULL, tsp, open) < 0) {
        FD_ZERO(&rd);
        if (errno != EINTR)
            ch->done = true;
    }
    on_signals(ch);
    if (FD_ISSET(ch->q.wake[0], &rd))
        drain(ch);
    if (!ch->done && ch->stdin_open && FD_ISSET(STDIN_FILENO, &rd)) {
        if (ch->el != NULL)
            tty_input(ch);
        else
            plain_input(ch);
    }
}

static void run_loop(struct chat *ch, const sigset_t *open)
{
    while (!ch->done) {
        wait_once(ch, open);
        if (ch->linger_until_ms != 0 && !ch->done) {
            if (undelivered(ch) == 0) {
                ch->done = true;
            } else if (mono_ms() >= ch->linger_until_ms) {
                ch->done = true;
                ch->code = CLI_EXIT_QUEUED;
            }
        }
        if (!ch->done)
            ui_show(ch);
    }
}

/* ---- starting and ending ---- */

static int call_failed(json_t *error, enum sotto_err rc)
{
    const char *code = jstr(error, "code");
    int exit_code = CLI_EXIT_FAILURE;

    if (rc == SOTTO_EREFUSED && error != NULL) {
        fprintf(stderr, "sotto: %s\n", jstr(error, "message"));
        if (strcmp(code, "not_found") == 0 || strcmp(code, "ambiguous") == 0)
            exit_code = CLI_EXIT_CONTACT;
    } else {
        fprintf(stderr, "sotto: the node did not answer (%s)\n", sotto_strerror(rc));
        exit_code = CLI_EXIT_NETWORK;
    }
    json_decref(error);
    return exit_code;
}

/* Who CONTACT is, as the node resolves it (the same resolution as `sotto send`). */
static int find_contact(struct chat *ch)
{
    json_t *result, *error;
    enum sotto_err rc;

    rc = call(ch, json_pack("{s:s, s:s, s:i}", "op", "history", "contact", ch->query, "limit", 1),
              &result, &error);
    if (rc != SOTTO_OK)
        return call_failed(error, rc);
    snprintf(ch->name, sizeof(ch->name), "%s", jstr(result, "contact"));
    text_escape(ch->name, ch->shown, sizeof(ch->shown));
    ch->contact_id = json_integer_value(json_object_get(result, "contact_id"));
    json_decref(result);
    return CLI_EXIT_OK;
}

/* Waits for the node that another process is starting (it took the lock first). */
static enum sotto_err await_daemon(struct chat *ch)
{
    uint64_t until = mono_ms() + CONNECT_MS;
    enum sotto_err rc;

    do {
        usleep(50 * 1000);
        rc = node_client_open(&ch->req, &ch->cli->env, ch->cli->home, CONNECT_MS);
    } while (rc == SOTTO_ENOENT && mono_ms() < until);
    return rc;
}

/* Connects to the profile's node; runs one in this process when there is none. */
static int reach_node(struct chat *ch)
{
    struct cli *cli = ch->cli;
    enum sotto_err rc = node_client_open(&ch->req, &cli->env, cli->home, CONNECT_MS);
    int code;

    if (rc == SOTTO_ENOENT) {
        code = inproc_start(ch);
        if (code > 0)
            return code;
        if (code == 0)
            rc = node_client_open(&ch->req, &cli->env, cli->home, CONNECT_MS);
        else
            rc = await_daemon(ch);
    }
    if (rc == SOTTO_ENOENT) {
        fprintf(stderr, "sotto: chat: another process holds this profile's node lock but "
                        "serves no local API\n");
        return CLI_EXIT_EXISTS;
    }
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "reaching the node");
    if (ch->ip == NULL && (ch->mode_given || ch->listen != NULL))
        fprintf(stderr, "sotto: chat: a daemon runs this profile's node: --mode and --listen "
                        "apply only when the chat runs the node itself\n");
    return CLI_EXIT_OK;
}

static void greet(struct chat *ch)
{
    out_fmt(ch, ST_DIM, "-- chat with %s: type and Enter to send; /help, /quit or Ctrl-D",
            ch->shown);
    show_history(ch, SHOWN_AT_START, true);
    show_status(ch, true);
    ask_connect(ch);
}

static void finish(struct chat *ch)
{
    size_t left = undelivered(ch);

    if (ch->ip != NULL && left > 0 && ch->code != CLI_EXIT_QUEUED)
        out_fmt(ch, ST_DIM,
                "-- %zu message%s not delivered yet: %s when your node runs again "
                "(`sotto daemon`, or `sotto chat`)",
                left, left == 1 ? "" : "s", left == 1 ? "it goes out" : "they go out");
    if (ch->code == CLI_EXIT_QUEUED)
        fprintf(stderr,
                "sotto: %zu message%s stored, not delivered yet: delivered when your node "
                "runs again\n",
                left, left == 1 ? "" : "s");
}

static int chat_run(struct chat *ch)
{
    sigset_t open, saved;
    int code;

    signals_setup(&open, &saved);
    code = reach_node(ch);
    if (code == CLI_EXIT_OK)
        code = find_contact(ch);
    if (code == CLI_EXIT_OK && events_start(ch) != SOTTO_OK)
        code = cli_fail(ch->cli, ch->ev_rc != SOTTO_OK ? ch->ev_rc : SOTTO_ENOMEM,
                        "reaching the node");
    if (code == CLI_EXIT_OK && ch->tty && tty_open(ch) != 0)
        code = cli_fail(ch->cli, SOTTO_ENOMEM, "setting up the terminal");
    if (code == CLI_EXIT_OK) {
        greet(ch);
        ui_show(ch);
        run_loop(ch, &open);
        finish(ch);
        code = ch->code;
    }
    tty_close(ch);
    inproc_stop(ch); /* its local API closes: the event thread ends at once */
    events_stop(ch);
    node_client_free(ch->req);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return code;
}

/* ---- the command ---- */

static const char chat_usage[] =
        "Usage: sotto chat CONTACT [--connect HOST:PORT] [--mode auto|connect|listen]\n"
        "                  [--listen ADDR:PORT]\n"
        "\n"
        "A terminal chat with CONTACT (a 15-digit number, a username or a contact's name):\n"
        "type a line and Enter to send it; what they send appears as it arrives. ✓ marks a\n"
        "message stored and queued, ✓✓ one their node acknowledged. /help lists the commands;\n"
        "/quit, Ctrl-D or Ctrl-C leave. With stdin not a terminal, each line read is sent and\n"
        "the chat ends at end of input.\n"
        "When no node runs for the profile (`sotto daemon`), the chat runs it for as long as it\n"
        "lasts; then:\n"
        "  --mode auto       listen, and dial CONTACT (default)\n"
        "  --mode connect    dial only: do not listen\n"
        "  --mode listen     listen only: wait for CONTACT to connect\n"
        "  --listen ADDR:PORT  where to listen for peer links (default " DEFAULT_LISTEN ")\n"
        "  --connect HOST:PORT  dial CONTACT at this address (their node must prove their key)\n";

/* HOST:PORT (HOST a name, an IPv4 address or [IPv6]) to an IP literal with its port. */
static int resolve_connect(struct chat *ch, const char *arg)
{
    char host[256];
    const char *colon = strrchr(arg, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char ip[INET6_ADDRSTRLEN];
    size_t hl;
    char *end;
    long port;

    if (colon == NULL || colon == arg || (hl = (size_t)(colon - arg)) >= sizeof(host))
        return cli_usage_error("chat", "--connect takes HOST:PORT");
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return cli_usage_error("chat", "--connect: the port is 1..65535");
    memcpy(host, arg, hl);
    host[hl] = '\0';
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "sotto: chat: cannot resolve %s\n", host);
        return CLI_EXIT_NETWORK;
    }
    if (ai->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, ip,
                  sizeof(ip));
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, ip, sizeof(ip));
    snprintf(ch->connect_addr, sizeof(ch->connect_addr),
             ai->ai_family == AF_INET6 ? "[%s]:%ld" : "%s:%ld", ip, port);
    freeaddrinfo(ai);
    ch->connect = arg;
    return CLI_EXIT_OK;
}

static int parse_mode(struct chat *ch, const char *arg)
{
    static const char *const names[] = {
            [MODE_AUTO] = "auto", [MODE_CONNECT] = "connect", [MODE_LISTEN] = "listen"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(arg, names[i]) == 0) {
            ch->mode = (enum chat_mode)i;
            ch->mode_given = true;
            return CLI_EXIT_OK;
        }
    return cli_usage_error("chat", "--mode takes auto, connect or listen");
}

static int parse_args(struct chat *ch, int argc, char **argv)
{
    static const struct option opts[] = {{"connect", required_argument, NULL, 'c'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c, code = CLI_EXIT_OK;

    optind = 0; /* a full restart of getopt, which permutes arguments here */
    while (code == CLI_EXIT_OK && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'c')
            code = resolve_connect(ch, optarg);
        else if (c == 'm')
            code = parse_mode(ch, optarg);
        else if (c == 'l')
            ch->listen = optarg;
        else if (c == 'h')
            return fputs(chat_usage, stdout) < 0 ? CLI_EXIT_FAILURE : -1;
        else
            return cli_usage_error("chat", "see `sotto chat --help`");
    }
    if (code != CLI_EXIT_OK)
        return code;
    if (argc - optind != 1)
        return cli_usage_error("chat", "give one CONTACT");
    if (ch->mode == MODE_CONNECT && ch->listen != NULL)
        return cli_usage_error("chat", "--mode connect does not listen: drop --listen");
    ch->query = argv[optind];
    return CLI_EXIT_OK;
}

int cmd_chat(struct cli *cli, int argc, char **argv)
{
    struct chat ch = {.cli = cli, .code = CLI_EXIT_OK, .stdin_open = true};
    struct sotto_log saved_log = cli->log;
    char seen[SHOWN_AT_START][ID_HEX];
    int code = parse_args(&ch, argc, argv);

    if (code != CLI_EXIT_OK)
        return code < 0 ? CLI_EXIT_OK : code;
    ch.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    ch.color = ch.tty && getenv("NO_COLOR") == NULL &&
               (getenv("TERM") == NULL || strcmp(getenv("TERM"), "dumb") != 0);
    ch.seen = seen;
    atomic_init(&ch.quit, false);
    if (!ch.tty && (ch.rx = malloc(TEXT_MAX + 2)) == NULL)
        return cli_fail(cli, SOTTO_ENOMEM, "starting the chat");
    if (inbox_init(&ch.q) != 0) {
        free(ch.rx);
        return cli_fail(cli, SOTTO_EIO, "starting the chat");
    }
    cli->log.sink = chat_log_sink; /* before any thread: they all log through it */
    cli->log.ctx = &ch;
    code = chat_run(&ch);
    cli->log = saved_log;
    inbox_to_stderr(&ch);
    inbox_clear(&ch.q);
    while (ch.n_sent > 0)
        sent_drop(&ch, &ch.sent[0]);
    free(ch.sent);
    free(ch.rx);
    fflush(stdout);
    return code;
}
