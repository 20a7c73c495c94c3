/* src/cli/prompt.c: reading a passphrase without echo, and yes/no questions. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "util/secret.h"

/* Reads one line from `fd` into buf (at most cap - 1 bytes, NUL-terminated, newline dropped).
 * SOTTO_ETOOBIG when the line is longer, SOTTO_ENOPASS at end of input before a newline
 * when nothing was read. */
static enum sotto_err read_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    char c;

    for (;;) {
        ssize_t got = read(fd, &c, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (n == 0)
                return SOTTO_ENOPASS;
            break;
        }
        if (c == '\n')
            break;
        if (n + 1 >= cap) {
            sodium_memzero(buf, cap);
            return SOTTO_ETOOBIG;
        }
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return SOTTO_OK;
}

/* The terminal settings to put back if a signal ends us while echo is off. Signal handlers
 * take no user pointer, so these are the file's one piece of mutable state; they are set only
 * while the prompt runs. */
static struct termios saved_termios;
static volatile sig_atomic_t saved_tty = -1;

static void restore_and_reraise(int sig)
{
    if (saved_tty >= 0)
        tcsetattr(saved_tty, TCSANOW, &saved_termios); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};

static void guard_signals(bool on, struct sigaction old[])
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
        if (on)
            sigaction(fatal_signals[i], &sa, &old[i]);
        else
            sigaction(fatal_signals[i], &old[i], NULL);
    }
}

static enum sotto_err read_hidden(int tty, const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct sigaction old_actions[sizeof(fatal_signals) / sizeof(fatal_signals[0])];
    struct termios old, quiet;
    enum sotto_err rc;
    bool restore = tcgetattr(tty, &old) == 0;

    if (restore) {
        saved_termios = old;
        saved_tty = tty;
        guard_signals(true, old_actions);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    if (write(tty, prompt, strlen(prompt)) < 0) {
        /* the prompt is a courtesy; reading still works */
    }
    rc = read_line(tty, buf, cap, len);
    if (restore) {
        tcsetattr(tty, TCSAFLUSH, &old);
        guard_signals(false, old_actions);
        saved_tty = -1;
    }
    if (write(tty, "\n", 1) < 0) {
        /* as above */
    }
    return rc;
}

static enum sotto_err from_env(const char *value, char **out, size_t *len)
{
    size_t n = strlen(value);

    if (n == 0)
        return SOTTO_EINVAL;
    if (n >= PROFILE_PASSPHRASE_MAX)
        return SOTTO_ETOOBIG;
    *out = secret_alloc(n + 1);
    if (*out == NULL)
        return SOTTO_ENOMEM;
    memcpy(*out, value, n + 1);
    *len = n;
    return SOTTO_OK;
}

static enum sotto_err from_tty(const char *prompt, bool confirm, char *buf, size_t *len)
{
    char *again = NULL;
    size_t again_len = 0;
    enum sotto_err rc;
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (tty < 0)
        return SOTTO_ENOPASS;
    rc = read_hidden(tty, prompt, buf, PROFILE_PASSPHRASE_MAX, len);
    if (rc == SOTTO_OK && *len == 0)
        rc = SOTTO_EINVAL;
    if (rc == SOTTO_OK && confirm) {
        again = secret_alloc(PROFILE_PASSPHRASE_MAX);
        rc = again ? read_hidden(tty, "Repeat passphrase: ", again, PROFILE_PASSPHRASE_MAX,
                                 &again_len)
                   : SOTTO_ENOMEM;
        if (rc == SOTTO_OK && (again_len != *len || sodium_memcmp(again, buf, *len) != 0))
            rc = SOTTO_EINVAL;
        secret_free(again);
    }
    close(tty);
    return rc;
}

enum sotto_err prompt_passphrase(const char *prompt, bool confirm, char **out, size_t *len)
{
    const char *env = getenv("SOTTO_PASSPHRASE");
    enum sotto_err rc;
    char *buf;

    *out = NULL;
    *len = 0;
    if (env != NULL)
        return from_env(env, out, len);
    buf = secret_alloc(PROFILE_PASSPHRASE_MAX);
    if (buf == NULL)
        return SOTTO_ENOMEM;
    rc = from_tty(prompt, confirm, buf, len);
    if (rc != SOTTO_OK) {
        secret_free(buf);
        return rc;
    }
    *out = buf;
    return SOTTO_OK;
}

bool prompt_confirm(const char *question)
{
    char answer[16];
    size_t len = 0;

    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (read_line(STDIN_FILENO, answer, sizeof(answer), &len) != SOTTO_OK)
        return false;
    return strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 || strcmp(answer, "yes") == 0 ||
           strcmp(answer, "YES") == 0 || strcmp(answer, "Yes") == 0;
}
