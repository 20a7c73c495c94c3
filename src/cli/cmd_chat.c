/* src/cli/cmd_chat.c: sotto chat CONTACT, the full-duplex terminal chat.
 *
 * The terminal lives on the main thread (chat_term.c): libedit in unbuffered mode when stdin and
 * stdout are terminals, plain lines otherwise. The node's events arrive on a second thread
 * (chat_events.c), which owns a local API connection of its own (a node_client is not
 * thread-safe) and queues them, with a wake-up pipe; the main thread waits in pselect() on the
 * terminal and that pipe, so that it neither spins nor lags. Requests (send, history, status) go
 * through the main thread's own connection. With no node running, the node runs in-process on a
 * third thread for as long as the chat lasts (chat_node.c), and the chat talks to it through its
 * local API as it would to a daemon. This file parses the command line, reaches the node and the
 * contact, and shows what happens: messages and their marks, links, the /commands. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/chat.h"
#include "cli/cli.h"
#include "node/client.h"
#include "util/text.h"
#include "wire/wire.h"

#define CALL_MS        30000
#define SHOWN_AT_START 10
#define HISTORY_CMD    20

/* A line sent in this chat, until it is delivered. */
struct sent {
    char id[ID_HEX];
    char *line;        /* owned: the line as shown, without its marks */
    unsigned long row; /* chat.rows_out right after it was printed; 0: from history */
    bool one_row;
    bool delivered; /* ✓✓ shown: kept until its read mark */
};

#define TRACKED_MAX 1024 /* sent lines kept for their marks; the oldest delivered go first */

/* ---- small helpers ---- */

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

/* ---- sent lines and their marks ---- */

static const char *mark_of(const char *state, bool read)
{
    if (strcmp(state, "delivered") == 0)
        return read ? "  ✓✓ read" : "  ✓✓";
    if (strcmp(state, "failed") == 0)
        return "  ✗ failed";
    if (strcmp(state, "received") == 0 || state[0] == '\0')
        return "";
    return "  ✓";
}

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
static void sent_add(struct chat *ch, const char *id, char *line, bool on_screen, bool delivered)
{
    struct sent *grown;

    if (line == NULL || strlen(id) != ID_HEX - 1)
        goto drop;
    if (ch->n_sent >= TRACKED_MAX) { /* the oldest delivered line gives up its read mark */
        for (size_t i = 0; i < ch->n_sent; i++)
            if (ch->sent[i].delivered) {
                free(ch->sent[i].line);
                memmove(&ch->sent[i], &ch->sent[i + 1], (ch->n_sent - i - 1) * sizeof(*ch->sent));
                ch->n_sent--;
                break;
            }
        if (ch->n_sent >= TRACKED_MAX)
            goto drop;
    }
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
    ch->sent[ch->n_sent].one_row = text_width(line) + 9 < term_cols();
    ch->sent[ch->n_sent].delivered = delivered;
    ch->n_sent++;
    return;
drop:
    free(line);
}

/* A new mark for a sent line: rewritten in place when it is the line just above the prompt,
 * else said on a line of its own with the start of the text. */
static void remark(struct chat *ch, const struct sent *s, const char *mark, const char *what)
{
    char preview[40];
    const char *text;

    if (ch->el != NULL && s->row == ch->rows_out && s->one_row) {
        out_mark_last(ch, s->line, mark);
    } else {
        text = strstr(s->line, " → ");
        text = text != NULL ? text + strlen(" → ") : s->line;
        text_escape(text, preview, 30); /* already escaped: cuts at a character boundary */
        out_fmt(ch, ST_DIM, "   %s: %s%s", what, preview,
                strlen(preview) < strlen(text) ? "…" : "");
    }
}

static void on_delivered(struct chat *ch, const char *id)
{
    struct sent *s = sent_find(ch, id);

    if (s == NULL || s->delivered)
        return;
    remark(ch, s, "  ✓✓", "✓✓ delivered");
    s->delivered = true; /* its read mark may come */
}

/* The contact read these messages of ours. */
static void on_read(struct chat *ch, const json_t *ev)
{
    const json_t *id;
    struct sent *s;
    size_t i;

    if (json_integer_value(json_object_get(ev, "contact_id")) != ch->contact_id)
        return;
    json_array_foreach(json_object_get(ev, "ids"), i, id)
    {
        s = json_is_string(id) ? sent_find(ch, json_string_value(id)) : NULL;
        if (s == NULL)
            continue;
        remark(ch, s, "  ✓✓ read", "✓✓ read");
        sent_drop(ch, s);
    }
}

size_t chat_undelivered(const struct chat *ch)
{
    size_t n = 0;

    for (size_t i = 0; i < ch->n_sent; i++)
        n += ch->sent[i].row != 0 && !ch->sent[i].delivered;
    return n;
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

/* What the user has now seen of the contact's messages is marked read, and the contact told. */
static void mark_read(struct chat *ch)
{
    json_t *result = NULL, *error = NULL;

    ch->unread = false;
    (void)call(ch, json_pack("{s:s, s:s}", "op", "read", "contact", ch->query), &result, &error);
    json_decref(result);
    json_decref(error);
}

/* A message from history or an event; `track`: an undelivered one of ours gets its ✓✓ later. */
static void print_message(struct chat *ch, const json_t *m, bool track)
{
    const char *dir = jstr(m, "direction");
    bool out = strcmp(dir, "out") == 0, read;
    char when[32], *text = escaped(jstr(m, "text")), *line;

    when_text(json_integer_value(json_object_get(m, "sent_ms")), when);
    if (out)
        line = fmt_alloc("%s → %s", when, text != NULL ? text : "");
    else
        line = fmt_alloc("%s ← %s: %s", when, ch->shown, text != NULL ? text : "");
    free(text);
    if (line == NULL)
        return;
    read = json_is_true(json_object_get(m, "read"));
    out_fmt(ch, ST_PLAIN, "%s%s", line, out ? mark_of(jstr(m, "state"), read) : "");
    if (!out)
        ch->unread = true;
    if (out && track && !read && strcmp(jstr(m, "state"), "failed") != 0)
        sent_add(ch, jstr(m, "id"), line, false, strcmp(jstr(m, "state"), "delivered") == 0);
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
        sent_add(ch, jstr(result, "id"), line, true, false);
        if (json_is_true(json_object_get(result, "held"))) {
            char *why = escaped(jstr(result, "reason"));

            out_fmt(ch, ST_WARN, "!! it waits: %s", why != NULL ? why : "the contact is held");
            free(why);
        }
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
    else if (strcmp(name, "read") == 0)
        on_read(ch, ev);
    else if (strcmp(name, "failed") == 0)
        out_fmt(ch, ST_WARN, "!! a message was not delivered: the contact's node says %s",
                refuse_text(json_integer_value(json_object_get(ev, "reason"))));
    else if (strcmp(name, "key_changed") == 0 && strcmp(jstr(ev, "contact"), ch->name) == 0) {
        char *msg = escaped(jstr(ev, "message"));

        out_fmt(ch, ST_WARN, "!! %s: %s", ch->shown, msg != NULL ? msg : "their key changed");
        free(msg);
    } else
        on_link_event(ch, name, ev);
    json_decref(ev);
}

void chat_drain(struct chat *ch)
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
    if (ch->unread && !ch->done)
        mark_read(ch);
}

/* ---- lines typed ---- */

static const char help_text[] = "-- type a line and Enter to send it; ✓ stored, ✓✓ delivered\n"
                                "-- /history [N]  the last N messages (default 20)\n"
                                "-- /status       the link with the contact\n"
                                "-- /quit         leave (also Ctrl-D, Ctrl-C)\n"
                                "-- //text        sends \"/text\"";

static void command(struct chat *ch, const char *line)
{
    char name[48];
    long n = HISTORY_CMD;

    if (strcmp(line, "/quit") == 0 || strcmp(line, "/q") == 0 || strcmp(line, "/exit") == 0) {
        ch->done = true;
    } else if (strcmp(line, "/help") == 0 || strcmp(line, "/?") == 0) {
        for (const char *p = help_text, *nl; *p != '\0'; p = *nl ? nl + 1 : nl) {
            nl = strchr(p, '\n');
            nl = nl != NULL ? nl : p + strlen(p);
            out_fmt(ch, ST_DIM, "%.*s", (int)(nl - p), p);
        }
    } else if (strncmp(line, "/history", 8) == 0 && (line[8] == '\0' || line[8] == ' ')) {
        if (line[8] != '\0' && !cli_parse_long(line + 9, 1, 1000, &n))
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

void chat_handle_line(struct chat *ch, char *line)
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
    /* not a contact yet: looked up on the directory (DESIGN.md, Trust), when a daemon runs the
     * node (an in-process node owns the profile's connection on its own thread) */
    if (rc == SOTTO_EREFUSED && ch->ip == NULL && strcmp(jstr(error, "code"), "not_found") == 0 &&
        cli_lookup_contact(ch->cli, ch->query) == CLI_EXIT_OK) {
        json_decref(error);
        rc = call(ch,
                  json_pack("{s:s, s:s, s:i}", "op", "history", "contact", ch->query, "limit", 1),
                  &result, &error);
    }
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
    if (ch->unread)
        mark_read(ch);
    show_status(ch, true);
    ask_connect(ch);
}

static void finish(struct chat *ch)
{
    size_t left = chat_undelivered(ch);

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
    long port;

    if (colon == NULL || colon == arg || (hl = (size_t)(colon - arg)) >= sizeof(host))
        return cli_usage_error("chat", "--connect takes HOST:PORT");
    if (!cli_parse_long(colon + 1, 1, 65535, &port))
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
