/* tests/support/wsprobe.h: what the two files of wsprobe share (see wsprobe.c for what the
 * tool does): its state, and the steps (wsprobe_steps.c) that the links (wsprobe.c) run. */
#ifndef SOTTO_TESTS_WSPROBE_H
#define SOTTO_TESTS_WSPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "sotto/env.h"
#include "store/profile.h"
#include "wire/wire.h"

#define PROBE_PROTOCOL        "sotto-link-v1"
#define PROBE_EXPORTER_LABEL  "EXPORTER-Channel-Binding"
#define PROBE_RX_MAX          (4 * 1024 * 1024) /* what the probe gathers of one message */
#define PROBE_STEP_BYTES_MAX  (256 * 1024 * 1024)
#define PROBE_TICK_MS         20
#define PROBE_CODES_MAX       16
#define PROBE_OUTBOX_MAX      1000
#define PROBE_WHY_MAX         123
#define PROBE_EXIT_USAGE      2
#define PROBE_EXIT_FAIL       1
#define PROBE_DEFAULT_TIMEOUT 10

enum step_kind {
    STEP_HEX,
    STEP_TEXT,
    STEP_BYTES,
    STEP_GARBAGE,
    STEP_FRAGS,
    STEP_ECHO,
    STEP_HELLO,
    STEP_HELLO_OTHER,
    STEP_OUTBOX,
    STEP_OUTBOX_NEWID,
    STEP_OUTBOX_FLIP,
    STEP_WAIT,
    STEP_CLOSE,
};

struct step {
    enum step_kind kind;
    size_t n, k;    /* sizes, counts, milliseconds */
    uint8_t *bytes; /* owned: hex: */
    const char *text;
};

/* One write: one WebSocket message, or one fragment of one. */
struct out {
    struct out *next;
    int flags; /* LWS_WRITE_* */
    size_t len;
    uint8_t buf[]; /* LWS_PRE bytes of headroom, then the data */
};

enum end_kind { END_NONE, END_CLOSED, END_BY_US, END_TIMEOUT, END_FAILED };

struct conn {
    struct probe *pr;
    struct lws *wsi;
    bool active, up, server;
    size_t step;       /* the next step */
    bool need_first;   /* a step waits for the node's first message */
    uint64_t wake_ms;  /* a wait: run the next step at this time */
    uint64_t deadline; /* the link's time is up */
    bool closing, timed_out;
    struct out *head, *tail;
    uint8_t exporter[WIRE_EXPORTER_LEN];
    uint8_t *first; /* the first message received (owned) */
    size_t first_len;
    uint8_t *rx; /* the message being gathered (owned) */
    size_t rx_len;
    unsigned close_code;
    char close_why[PROBE_WHY_MAX + 1];
    enum end_kind end;
};

/* The identity the probe speaks as (--as): a profile opened like the node opens it. */
struct as_identity {
    struct store_profile *profile;
    struct e2e_ctx *e2e;
    struct store_self self;
    uint8_t *priv; /* sodium_malloc */
};

struct probe {
    struct sotto_env env;
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick;
    char host[64];
    int port;
    bool listening, stop;
    struct step *steps;
    size_t n_steps;
    unsigned n_conns, parallel, timeout_s;
    struct conn *conns;
    unsigned started, finished, active;
    uint64_t deadline; /* listening: give up at */
    struct as_identity as;
    struct {
        unsigned code, count;
    } codes[PROBE_CODES_MAX];
    unsigned by_us, timeouts, failures, closed_other;
};

/* wsprobe_steps.c */
uint64_t probe_now_ms(const struct probe *pr);
/* Frees the link's queued writes. */
void probe_queue_clear(struct conn *c);
/* Runs the link's steps until one queued a write or waits; false when the probe cannot go on. */
bool probe_steps_advance(struct conn *c);
/* A decimal number up to `max` that ends at `stop` ('\0': the end of `s`); with a stop
 * character, *rest is what follows it. */
bool probe_parse_size(const char *s, size_t max, size_t *out, char stop, const char **rest);
/* Parses one step argument; false for one that is not a step. */
bool probe_step_parse(struct step *s, const char *arg);
/* True for the steps that need --as (an identity to prove). */
bool probe_step_needs_as(enum step_kind k);
/* Opens the profile in `dir` (no passphrase) for --as; false, with a message, when it cannot. */
bool probe_as_open(struct probe *pr, const char *dir);
void probe_as_close(struct as_identity *a);

#endif
