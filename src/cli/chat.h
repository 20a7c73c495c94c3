/* src/cli/chat.h: what the files of `sotto chat` share, private to them: the chat's state, the
 * queue that the other threads fill for the main thread, and the calls from one part to another.
 * cmd_chat.c parses the command line, runs the chat and shows what happens in it; chat_term.c is
 * the terminal (output, input, signals, the wait); chat_events.c the event thread and its queue;
 * chat_node.c the node when it runs in this process. */
#ifndef SOTTO_CLI_CHAT_H
#define SOTTO_CLI_CHAT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sotto/err.h"
#include "sotto/log.h"

struct cli;
struct node_client;
struct inproc;   /* chat_node.c */
struct sent;     /* cmd_chat.c */
struct editline; /* libedit's EditLine */
struct history;  /* libedit's History */

#define DEFAULT_LISTEN "0.0.0.0:8766"
#define CONNECT_MS     5000
#define TEXT_MAX       65536
#define ADDR_MAX       80
#define ID_HEX         33

enum chat_mode { MODE_AUTO, MODE_CONNECT, MODE_LISTEN };
enum style { ST_PLAIN, ST_DIM, ST_WARN };
enum item_kind { ITEM_EVENT, ITEM_LOG, ITEM_GONE };

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
    bool unread;       /* messages of the contact shown and not yet marked read */
    struct inproc *ip; /* NULL when a daemon runs the node */
    pthread_t ev_thread;
    bool ev_started, ev_ready, ev_done; /* under q.mu */
    enum sotto_err ev_rc;
    atomic_bool quit;

    struct editline *el;
    struct history *hist;
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

/* ---- cmd_chat.c: what the chat does with what arrives ---- */

/* A line typed or read: a message to send, or a /command. May change `line`. */
void chat_handle_line(struct chat *ch, char *line);
/* Shows what the other threads queued (events, log lines, the node's end). */
void chat_drain(struct chat *ch);
/* Lines sent in this chat and not delivered yet. */
size_t chat_undelivered(const struct chat *ch);

/* ---- chat_term.c: the terminal; main thread only ---- */

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t mono_ms(void);
/* printf into a new string (owned; NULL on allocation failure). */
char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The terminal's width in columns (80 when it cannot tell). */
unsigned term_cols(void);
/* Columns that `s` (UTF-8) takes on the terminal. */
size_t text_width(const char *s);

/* Puts back the prompt and the line being typed, when output took them off; flushes stdout. */
void ui_show(struct chat *ch);
/* Prints a line above the prompt; `text` NULL prints "(out of memory)". */
void out_line(struct chat *ch, enum style st, const char *text);
void out_fmt(struct chat *ch, enum style st, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Prints `line` and `mark` over the line just above the prompt, which `line` (shown there
 * without its mark) fits in one row. */
void out_mark_last(struct chat *ch, const char *line, const char *mark);

/* libedit on the terminal, with the prompt "<contact>> ". -1 on allocation failure. */
int tty_open(struct chat *ch);
/* Gives the terminal back as it was. Safe after a failed or no tty_open(). */
void tty_close(struct chat *ch);

/* Blocks the chat's signals on the calling thread (threads started later inherit the mask) and
 * installs their handlers. `saved` gets the mask to restore, `open` the one to wait with. */
void signals_setup(sigset_t *open, sigset_t *saved);
/* Waits for input, events and signals and handles them until ch->done. */
void run_loop(struct chat *ch, const sigset_t *open);

/* ---- chat_events.c: the event thread and the queue ---- */

/* An empty queue with its wake-up pipe. -1 when the pipe cannot be made. */
int inbox_init(struct inbox *q);
/* Frees what is queued and the queue's pipe, mutex and condition variable. */
void inbox_clear(struct inbox *q);
/* Everything queued, oldest first (owned: free with items_free()); empties the wake-up pipe. */
struct item *inbox_take(struct inbox *q);
void items_free(struct item *it);
/* Prints the queued log lines on stderr and drops the rest. */
void inbox_to_stderr(struct chat *ch);
/* A sotto_log sink (ctx: the struct chat) that queues each line: any thread may log. */
void chat_log_sink(void *ctx, enum sotto_log_level level, const char *file, int line,
                   const char *func, const char *msg);
/* Starts the event thread, which opens a local API connection of its own; returns once it is
 * open or failed (then ch->ev_rc says why). */
enum sotto_err events_start(struct chat *ch);
/* Ends the event thread and waits for it. A no-op when it was not started. */
void events_stop(struct chat *ch);

/* ---- chat_node.c: the node in this process ---- */

/* No node runs for the profile: runs one here, on its own thread. CLI_EXIT_OK once it serves,
 * -1 when another process took the node lock meanwhile (a daemon starting: the caller connects
 * to it instead), else an exit code, printed. */
int inproc_start(struct chat *ch);
/* Stops the node and waits for it; releases the node lock. A no-op when ch->ip is NULL. */
void inproc_stop(struct chat *ch);

#endif
