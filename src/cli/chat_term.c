/* src/cli/chat_term.c: the terminal of `sotto chat`, on the main thread.
 *
 * With stdin and stdout terminals, libedit reads in unbuffered mode, a character at a time, and
 * what the chat prints lands above the prompt: the prompt and the line being typed are taken off
 * and drawn again. Otherwise input is plain lines, each sent as it ends. Signals are blocked
 * everywhere but inside pselect(), where the main thread waits on the terminal and the event
 * queue's pipe, so that it neither spins nor lags. */
#define _XOPEN_SOURCE 700 /* wcwidth */

#include <errno.h>
#include <histedit.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli/chat.h"
#include "cli/cli.h"

#define LINGER_MS 30000 /* stdin ended: how long the node in this process gets to deliver */

#define SIG_QUIT  1
#define SIG_WINCH 2
#define SIG_CONT  4

/* Set by the handler, read and cleared by the main thread while the signals are blocked: they
 * are unblocked only inside pselect(), and the handler blocks them all while it runs. */
static volatile sig_atomic_t signals_seen;

/* ---- small helpers ---- */

uint64_t mono_ms(void)
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

char *fmt_alloc(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vfmt_alloc(fmt, ap);
    va_end(ap);
    return s;
}

unsigned term_cols(void)
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

size_t text_width(const char *s)
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

void ui_show(struct chat *ch)
{
    fflush(stdout);
    if (ch->el == NULL || !ch->hidden)
        return;
    el_set(ch->el, EL_REFRESH);
    ch->hidden = false;
}

void out_line(struct chat *ch, enum style st, const char *text)
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

void out_fmt(struct chat *ch, enum style st, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vfmt_alloc(fmt, ap);
    va_end(ap);
    out_line(ch, st, s);
    free(s);
}

void out_mark_last(struct chat *ch, const char *line, const char *mark)
{
    ui_hide(ch);
    printf("\033[1A\r\033[K%s%s\n", line, mark);
}

/* ---- the terminal ---- */

static char *prompt_fn(EditLine *el)
{
    struct chat *ch = NULL;

    el_get(el, EL_CLIENTDATA, &ch);
    return ch != NULL ? ch->prompt : (char *)"> ";
}

int tty_open(struct chat *ch)
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

void tty_close(struct chat *ch)
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

/* ---- lines typed ---- */

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
    chat_handle_line(ch, line);
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

static void plain_eof(struct chat *ch)
{
    ch->stdin_open = false;
    if (ch->ip == NULL || chat_undelivered(ch) == 0) {
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
            chat_handle_line(ch, ch->rx);
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
            chat_handle_line(ch, p);
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

/* ---- signals and the wait ---- */

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

static void on_wake_signal(int sig)
{
    (void)sig; /* only interrupts the event thread's poll() */
}

/* Signals come only to the main thread, and only inside pselect(): the threads started after
 * this inherit the blocked mask. `open` gets the mask to wait with. */
void signals_setup(sigset_t *open, sigset_t *saved)
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
        chat_drain(ch);
    if (!ch->done && ch->stdin_open && FD_ISSET(STDIN_FILENO, &rd)) {
        if (ch->el != NULL)
            tty_input(ch);
        else
            plain_input(ch);
    }
}

void run_loop(struct chat *ch, const sigset_t *open)
{
    while (!ch->done) {
        wait_once(ch, open);
        if (ch->linger_until_ms != 0 && !ch->done) {
            if (chat_undelivered(ch) == 0) {
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
