/* tests/support/wsprobe_steps.c: wsprobe's steps: what each one writes on a link (frames
 * well-formed or not, proofs of --as's identity, the MESSAGE frames of its outbox), and how a
 * step argument is parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e/e2e.h"
#include "store/messages.h"
#include "util/bytes.h"
#include "wsprobe.h"

uint64_t probe_now_ms(const struct probe *pr)
{
    return sotto_now_ms(&pr->env);
}

/* ---- writes ---- */

static bool queue_write(struct conn *c, const uint8_t *data, size_t len, int flags)
{
    struct out *o = malloc(sizeof(*o) + LWS_PRE + len);

    if (o == NULL)
        return false;
    o->next = NULL;
    o->flags = flags;
    o->len = len;
    if (len > 0)
        memcpy(o->buf + LWS_PRE, data, len);
    if (c->tail != NULL)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    return true;
}

void probe_queue_clear(struct conn *c)
{
    struct out *o = c->head, *next;

    for (; o != NULL; o = next) {
        next = o->next;
        free(o);
    }
    c->head = c->tail = NULL;
}

static bool queue_frame(struct conn *c, const struct wire_frame *f)
{
    uint8_t *buf;
    size_t size = wire_frame_size(f), len = 0;
    bool ok;

    if (size == 0 || (buf = malloc(size)) == NULL)
        return false;
    ok = wire_frame_encode(f, buf, size, &len) == SOTTO_OK &&
         queue_write(c, buf, len, LWS_WRITE_BINARY);
    free(buf);
    return ok;
}

/* A MESSAGE header announcing n - 6 bytes of payload, then zeros. */
static uint8_t *message_like(size_t n)
{
    uint8_t *buf = calloc(1, n > WIRE_HEADER_LEN ? n : WIRE_HEADER_LEN);
    size_t len = n > WIRE_HEADER_LEN ? n - WIRE_HEADER_LEN : 0;

    if (buf == NULL)
        return NULL;
    buf[0] = WIRE_MAGIC;
    buf[1] = WIRE_MESSAGE;
    for (int i = 0; i < 4; i++)
        buf[2 + i] = (uint8_t)(len >> (24 - 8 * i));
    return buf;
}

/* ---- steps ---- */

static bool step_hello(struct conn *c, bool other)
{
    struct probe *pr = c->pr;
    struct wire_frame f = {.type = WIRE_HELLO};
    uint8_t exporter[WIRE_EXPORTER_LEN];

    memcpy(exporter, c->exporter, sizeof(exporter));
    if (other)
        sotto_random(&pr->env, exporter, sizeof(exporter));
    f.hello.version_min = WIRE_VERSION_MIN;
    f.hello.version_max = WIRE_VERSION_MAX;
    f.hello.role = c->server ? WIRE_ROLE_LISTENER : WIRE_ROLE_DIALER;
    memcpy(f.hello.key, pr->as.self.key, E2E_KEY_LEN);
    if (wire_hello_sign(pr->as.e2e, pr->as.priv, exporter, &f.hello) != SOTTO_OK) {
        fprintf(stderr, "wsprobe: cannot sign a HELLO\n");
        return false;
    }
    return queue_frame(c, &f);
}

struct outbox_walk {
    struct conn *c;
    enum step_kind kind;
    bool ok;
};

static enum sotto_err outbox_entry(void *arg, const struct store_outbox_entry *e)
{
    struct outbox_walk *w = arg;
    struct wire_frame f = {.type = WIRE_MESSAGE};
    uint8_t *cipher;

    if (!e->encrypted)
        return SOTTO_OK;
    cipher = malloc(e->cipher_len);
    if (cipher == NULL)
        return SOTTO_ENOMEM;
    memcpy(cipher, e->cipher, e->cipher_len);
    memcpy(f.message.id, e->msg_id, WIRE_ID_LEN);
    if (w->kind == STEP_OUTBOX_NEWID)
        sotto_random(&w->c->pr->env, f.message.id, WIRE_ID_LEN);
    if (w->kind == STEP_OUTBOX_FLIP)
        cipher[e->cipher_len / 2] ^= 0x01;
    f.message.kind = e->kind == E2E_KIND_PREKEY ? WIRE_KIND_PREKEY : WIRE_KIND_SIGNAL;
    f.message.ciphertext = cipher;
    f.message.ciphertext_len = e->cipher_len;
    w->ok = w->ok && queue_frame(w->c, &f);
    free(cipher);
    return SOTTO_OK;
}

/* The node's key, from its HELLO (its first message). */
static bool node_key(const struct conn *c, uint8_t key[static E2E_KEY_LEN])
{
    struct wire_frame f;
    struct reader r;

    reader_init(&r, c->first, c->first_len);
    if (wire_frame_decode(&f, &r) != SOTTO_OK || f.type != WIRE_HELLO)
        return false;
    memcpy(key, f.hello.key, E2E_KEY_LEN);
    return true;
}

static bool step_outbox(struct conn *c, enum step_kind kind)
{
    struct outbox_walk w = {.c = c, .kind = kind, .ok = true};
    uint8_t key[E2E_KEY_LEN];

    if (!node_key(c, key)) {
        fprintf(stderr, "wsprobe: the node's first message is not a HELLO\n");
        return false;
    }
    if (store_outbox_each(c->pr->as.profile, key, PROBE_OUTBOX_MAX, outbox_entry, &w) != SOTTO_OK)
        w.ok = false;
    return w.ok;
}

static bool step_frags(struct conn *c, size_t n, size_t k)
{
    uint8_t *buf = message_like(n * k);
    bool ok = buf != NULL;

    for (size_t i = 0; ok && i < k; i++) {
        int flags = i == 0 ? LWS_WRITE_BINARY : LWS_WRITE_CONTINUATION;

        if (i + 1 < k)
            flags |= LWS_WRITE_NO_FIN;
        ok = queue_write(c, buf + i * n, n, flags);
    }
    free(buf);
    return ok;
}

static bool step_sized(struct conn *c, const struct step *s)
{
    uint8_t *buf = s->kind == STEP_BYTES ? message_like(s->n) : malloc(s->n);
    bool ok;

    if (buf == NULL)
        return false;
    if (s->kind == STEP_GARBAGE)
        sotto_random(&c->pr->env, buf, s->n);
    ok = queue_write(c, buf, s->n, LWS_WRITE_BINARY);
    free(buf);
    return ok;
}

static bool needs_first(enum step_kind k)
{
    return k == STEP_ECHO || k == STEP_OUTBOX || k == STEP_OUTBOX_NEWID || k == STEP_OUTBOX_FLIP;
}

/* Runs one step: queues its writes, or sets what it waits for. False: the probe cannot go on. */
static bool step_run(struct conn *c, const struct step *s)
{
    switch (s->kind) {
    case STEP_HEX:
        return queue_write(c, s->bytes, s->n, LWS_WRITE_BINARY);
    case STEP_TEXT:
        return queue_write(c, (const uint8_t *)s->text, strlen(s->text), LWS_WRITE_TEXT);
    case STEP_BYTES:
    case STEP_GARBAGE:
        return step_sized(c, s);
    case STEP_FRAGS:
        return step_frags(c, s->n, s->k);
    case STEP_ECHO:
        return queue_write(c, c->first, c->first_len, LWS_WRITE_BINARY);
    case STEP_HELLO:
    case STEP_HELLO_OTHER:
        return step_hello(c, s->kind == STEP_HELLO_OTHER);
    case STEP_OUTBOX:
    case STEP_OUTBOX_NEWID:
    case STEP_OUTBOX_FLIP:
        return step_outbox(c, s->kind);
    case STEP_WAIT:
        c->wake_ms = probe_now_ms(c->pr) + s->n;
        return true;
    case STEP_CLOSE:
        c->closing = true;
        return true;
    }
    return false;
}

/* Runs steps until one queued something or waits. */
bool probe_steps_advance(struct conn *c)
{
    struct probe *pr = c->pr;

    while (c->head == NULL && !c->closing && c->wake_ms == 0 && c->step < pr->n_steps) {
        const struct step *s = &pr->steps[c->step];

        if (needs_first(s->kind) && c->first == NULL) {
            c->need_first = true;
            return true;
        }
        c->step++;
        if (!step_run(c, s))
            return false;
    }
    return true;
}

/* ---- parsing ---- */

/* ---- set-up ---- */

/* A decimal number up to `max` that ends at `stop` ('\0': the end of `s`); with a stop
 * character, *rest is what follows it. */
bool probe_parse_size(const char *s, size_t max, size_t *out, char stop, const char **rest)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return false;
    v = strtoull(s, &end, 10);
    if (v > max || *end != stop)
        return false;
    if (rest != NULL && stop != '\0')
        *rest = end + 1;
    *out = (size_t)v;
    return true;
}

static bool parse_hex(struct step *s, const char *hex)
{
    size_t cap = strlen(hex) / 2 + 1;

    s->kind = STEP_HEX;
    s->bytes = malloc(cap);
    return s->bytes != NULL &&
           sodium_hex2bin(s->bytes, cap, hex, strlen(hex), " :", &s->n, NULL) == 0 && s->n > 0;
}

/* "NAME:N" steps: bytes, garbage, wait. */
static bool parse_sized(struct step *s, const char *arg)
{
    static const struct {
        const char *prefix;
        enum step_kind kind;
        size_t max;
    } sized[] = {
            {"bytes:", STEP_BYTES, PROBE_STEP_BYTES_MAX},
            {"garbage:", STEP_GARBAGE, PROBE_STEP_BYTES_MAX},
            {"wait:", STEP_WAIT, 600000},
    };

    for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++) {
        size_t len = strlen(sized[i].prefix);

        if (strncmp(arg, sized[i].prefix, len) == 0) {
            s->kind = sized[i].kind;
            return probe_parse_size(arg + len, sized[i].max, &s->n, '\0', NULL) && s->n > 0;
        }
    }
    return false;
}

static bool parse_frags(struct step *s, const char *arg)
{
    const char *rest = NULL;

    s->kind = STEP_FRAGS;
    return probe_parse_size(arg, PROBE_STEP_BYTES_MAX, &s->n, ':', &rest) && rest != NULL &&
           probe_parse_size(rest, 100000, &s->k, '\0', NULL) && s->n > 0 && s->k > 0 &&
           s->n * s->k <= PROBE_STEP_BYTES_MAX;
}

bool probe_step_parse(struct step *s, const char *arg)
{
    static const struct {
        const char *name;
        enum step_kind kind;
    } plain[] = {
            {"echo", STEP_ECHO},
            {"hello", STEP_HELLO},
            {"hello-other", STEP_HELLO_OTHER},
            {"outbox", STEP_OUTBOX},
            {"outbox-newid", STEP_OUTBOX_NEWID},
            {"outbox-flip", STEP_OUTBOX_FLIP},
            {"close", STEP_CLOSE},
    };

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (strcmp(arg, plain[i].name) == 0) {
            s->kind = plain[i].kind;
            return true;
        }
    if (strncmp(arg, "hex:", 4) == 0)
        return parse_hex(s, arg + 4);
    if (strncmp(arg, "text:", 5) == 0) {
        s->kind = STEP_TEXT;
        s->text = arg + 5;
        return true;
    }
    if (strncmp(arg, "frags:", 6) == 0)
        return parse_frags(s, arg + 6);
    return parse_sized(s, arg);
}

bool probe_step_needs_as(enum step_kind k)
{
    return k == STEP_HELLO || k == STEP_HELLO_OTHER || k == STEP_OUTBOX || k == STEP_OUTBOX_NEWID ||
           k == STEP_OUTBOX_FLIP;
}

bool probe_as_open(struct probe *pr, const char *dir)
{
    struct as_identity *a = &pr->as;

    a->priv = sodium_malloc(E2E_PRIV_LEN);
    if (a->priv == NULL || store_profile_open(&a->profile, &pr->env, dir) != SOTTO_OK ||
        store_profile_unlock(a->profile, NULL, 0) != SOTTO_OK ||
        e2e_ctx_create(&a->e2e, &pr->env) != SOTTO_OK ||
        store_self_get(a->profile, &a->self) != SOTTO_OK ||
        store_self_private_key(a->profile, a->e2e, a->priv) != SOTTO_OK) {
        fprintf(stderr, "wsprobe: cannot open the profile in %s (no passphrase expected)\n", dir);
        return false;
    }
    return true;
}

void probe_as_close(struct as_identity *a)
{
    if (a->priv != NULL)
        sodium_free(a->priv);
    e2e_ctx_free(a->e2e);
    store_profile_close(a->profile);
}
