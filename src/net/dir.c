/* src/net/dir.c: the directory session and the API calls (docs/PROTOCOL.md, "Directory API,
 * version 1"): request bodies built with jansson, writes signed, answers checked by parse.c and
 * then matched against what was asked. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "net/net_int.h"
#include "sotto/env.h"
#include "sotto/log.h"

/* ---- the session ---- */

enum sotto_err net_dir_open(struct net_dir **out, const struct sotto_env *env,
                            const struct net_dir_params *params)
{
    struct net_dir *d;
    enum sotto_err rc;

    *out = NULL;
    if (params == NULL)
        return SOTTO_EINVAL;
    d = sotto_zalloc(env, sizeof(*d));
    if (d == NULL)
        return SOTTO_ENOMEM;
    d->env = env;
    d->timeout_ms = params->timeout_ms != 0 ? params->timeout_ms : NET_TIMEOUT_MS;
    rc = net_url_parse(params->url, &d->url);
    if (rc == SOTTO_OK && params->pin != NULL)
        rc = net_pin_parse(params->pin, d->pin);
    if (rc == SOTTO_OK)
        rc = net_https_init(d);
    if (rc != SOTTO_OK) {
        net_dir_free(d);
        return rc;
    }
    *out = d;
    return SOTTO_OK;
}

void net_dir_free(struct net_dir *d)
{
    if (d == NULL)
        return;
    net_https_clear(d);
    sotto_free(d->env, d);
}

const char *net_dir_url(const struct net_dir *d)
{
    return d->url.normalized;
}

const char *net_dir_pin(const struct net_dir *d)
{
    return d->pin;
}

bool net_dir_pin_accepted(const struct net_dir *d)
{
    return d->pin_accepted;
}

const struct net_dir_problem *net_dir_problem(const struct net_dir *d)
{
    return &d->problem;
}

const char *net_dir_seen_from(const struct net_dir *d)
{
    return d->seen_from;
}

/* ---- one call ---- */

static enum sotto_err status_error(int status)
{
    if (status == 404)
        return SOTTO_ENOENT;
    if (status == 429)
        return SOTTO_ERATE;
    if (status >= 500 && status <= 599)
        return SOTTO_ENET;
    if (status >= 400 && status <= 499)
        return SOTTO_EREFUSED;
    return SOTTO_EPROTO; /* a status the API never answers */
}

struct call {
    const struct net_identity *id; /* NULL: not signed */
    const char *method;
    char target[NET_TARGET_MAX];
    uint8_t *body; /* owned (body_take) */
    size_t body_len;
    int expect; /* the status of success */
};

static enum sotto_err call_sign(struct net_dir *d, const struct call *c, struct net_request *rq,
                                struct net_signature *sig)
{
    enum sotto_err rc = net_sign_request(c->id, d->url.host_header, rq, sotto_now_ms(d->env), sig);

    if (rc != SOTTO_OK)
        return rc;
    rq->headers[0] = (struct net_header){"Sotto-Number", sig->number};
    rq->headers[1] = (struct net_header){"Sotto-Timestamp", sig->timestamp};
    rq->headers[2] = (struct net_header){"Sotto-Signature", sig->signature};
    rq->n_headers = 3;
    return SOTTO_OK;
}

/* Sends the call; on the expected status *resp holds the answer (the caller clears it). Any
 * other status becomes an error, with the server's code and message in d->problem. */
static enum sotto_err call_run(struct net_dir *d, const struct call *c, struct net_response *resp)
{
    struct net_request rq = {
            .method = c->method, .target = c->target, .body = c->body, .body_len = c->body_len};
    struct net_signature sig;
    enum sotto_err rc;

    memset(&d->problem, 0, sizeof(d->problem));
    memset(resp, 0, sizeof(*resp));
    d->seen_from[0] = '\0';
    if (c->id != NULL) {
        rc = call_sign(d, c, &rq, &sig);
        if (rc != SOTTO_OK)
            return rc;
    }
    rc = net_https_exchange(d, &rq, resp);
    if (rc != SOTTO_OK)
        return rc;
    if (resp->status == c->expect) {
        /* every write's answer says where the directory saw us; an answer without it is still
         * the write's success */
        if (c->id != NULL)
            (void)net_parse_seen_from(resp->body, resp->body_len, d->seen_from);
        return SOTTO_OK;
    }
    d->problem.status = resp->status;
    d->problem.retry_after_s = resp->retry_after_s;
    net_parse_problem(resp->body, resp->body_len, &d->problem);
    log_debug(d->env->log, "%s %s: %d", c->method, c->target, resp->status);
    net_response_clear(d->env, resp);
    return status_error(d->problem.status);
}

static void call_clear(const struct sotto_env *env, struct call *c)
{
    sotto_free(env, c->body);
    c->body = NULL;
}

/* Takes `o` (a new reference) and dumps it compactly as the call's body. */
static enum sotto_err body_take(const struct sotto_env *env, json_t *o, struct call *c)
{
    size_t len;

    if (o == NULL)
        return SOTTO_ENOMEM;
    len = json_dumpb(o, NULL, 0, JSON_COMPACT);
    c->body = len > 0 ? sotto_alloc(env, len) : NULL;
    if (c->body != NULL && json_dumpb(o, (char *)c->body, len, JSON_COMPACT) == len)
        c->body_len = len;
    json_decref(o);
    if (c->body_len == 0) {
        call_clear(env, c);
        return SOTTO_ENOMEM;
    }
    return SOTTO_OK;
}

static enum sotto_err target_for(struct call *c, uint64_t number, const char *tail)
{
    char digits[NUMBER_DIGITS_LEN];
    int n;

    if (number < NUMBER_MIN || number > NUMBER_MAX)
        return SOTTO_EINVAL;
    identity_number_digits(number, digits);
    n = snprintf(c->target, sizeof(c->target), "/v1/accounts/%s%s", digits, tail);
    return n < 0 || (size_t)n >= sizeof(c->target) ? SOTTO_EINVAL : SOTTO_OK;
}

/* ---- JSON of requests ---- */

static json_t *b64_json(const uint8_t *p, size_t len)
{
    char buf[NET_SIG_B64_LEN];

    if (net_b64_encode(p, len, buf, sizeof(buf)) != SOTTO_OK)
        return NULL;
    return json_string(buf);
}

static json_t *signed_prekey_json(const struct net_signed_prekey *spk)
{
    return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)spk->id, "key",
                     b64_json(spk->key, E2E_KEY_LEN), "signature", b64_json(spk->sig, E2E_SIG_LEN));
}

static json_t *prekeys_json(const struct net_prekey *pks, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *o = json_pack("{s:I, s:o}", "id", (json_int_t)pks[i].id, "key",
                              b64_json(pks[i].key, E2E_KEY_LEN));
        if (json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *addrs_json(const char *const *addrs, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (json_array_append_new(arr, json_string(addrs[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static enum sotto_err register_check(const struct net_identity *id, const struct net_register *r)
{
    if (id == NULL || r == NULL || r->username == NULL || r->key == NULL ||
        r->signed_prekey == NULL || r->n_prekeys > NET_PREKEYS_MAX ||
        (r->n_prekeys > 0 && r->prekeys == NULL) || r->n_addrs > CARD_ADDRS_MAX ||
        (r->n_addrs > 0 && r->addrs == NULL))
        return SOTTO_EINVAL;
    if (strnlen(r->username, TEXT_USERNAME_MAX + 1) > TEXT_USERNAME_MAX ||
        text_check_username((const uint8_t *)r->username, strlen(r->username)) != SOTTO_OK ||
        identity_number_check(r->key, id->number) != SOTTO_OK)
        return SOTTO_EINVAL;
    for (size_t i = 0; i < r->n_addrs; i++)
        if (r->addrs[i] == NULL || identity_card_check_address(r->addrs[i]) != SOTTO_OK)
            return SOTTO_EINVAL;
    return SOTTO_OK;
}

static json_t *register_json(const struct net_register *r)
{
    return json_pack(
            "{s:s, s:o, s:I, s:o, s:o, s:o}", "username", r->username, "identity_key",
            b64_json(r->key, E2E_KEY_LEN), "registration_id", (json_int_t)r->registration_id,
            "signed_prekey", signed_prekey_json(r->signed_prekey), "prekeys",
            prekeys_json(r->prekeys, r->n_prekeys), "addresses", addrs_json(r->addrs, r->n_addrs));
}

/* ---- the calls ---- */

static enum sotto_err register_answer(const struct net_response *resp,
                                      const struct net_identity *id, const struct net_register *reg,
                                      struct net_registered *out)
{
    enum sotto_err rc = net_parse_registered(resp->body, resp->body_len, out);

    if (rc == SOTTO_OK && (out->number != id->number || strcmp(out->username, reg->username) != 0))
        rc = SOTTO_EPROTO;
    return rc;
}

enum sotto_err net_dir_register(struct net_dir *d, const struct net_identity *id,
                                const struct net_register *reg, struct net_registered *out)
{
    struct call c = {.id = id, .method = "POST", .target = "/v1/accounts", .expect = 201};
    struct net_response resp;
    enum sotto_err rc = register_check(id, reg);

    memset(out, 0, sizeof(*out));
    if (rc == SOTTO_OK)
        rc = body_take(d->env, register_json(reg), &c);
    if (rc == SOTTO_OK)
        rc = call_run(d, &c, &resp);
    call_clear(d->env, &c);
    if (rc != SOTTO_OK)
        return rc;
    rc = register_answer(&resp, id, reg, out);
    net_response_clear(d->env, &resp);
    return rc;
}

/* The path for a lookup: the number's 15 digits, or the username lowercased. */
static enum sotto_err lookup_target(struct call *c, const char *query, uint64_t *number,
                                    char username[static TEXT_USERNAME_MAX + 1])
{
    size_t len;

    *number = 0;
    username[0] = '\0';
    if (query == NULL)
        return SOTTO_EINVAL;
    if (identity_number_parse(query, number) == SOTTO_OK)
        return target_for(c, *number, "");
    len = strnlen(query, TEXT_USERNAME_MAX + 1);
    if (len > TEXT_USERNAME_MAX)
        return SOTTO_EINVAL;
    memcpy(username, query, len + 1);
    text_lower_ascii(username);
    if (text_check_username((const uint8_t *)username, len) != SOTTO_OK)
        return SOTTO_EINVAL;
    snprintf(c->target, sizeof(c->target), "/v1/accounts/%s", username);
    return SOTTO_OK;
}

enum sotto_err net_dir_lookup(struct net_dir *d, const char *query, struct net_account *out)
{
    struct call c = {.method = "GET", .expect = 200};
    char username[TEXT_USERNAME_MAX + 1];
    struct net_response resp;
    uint64_t number;
    enum sotto_err rc = lookup_target(&c, query, &number, username);

    memset(out, 0, sizeof(*out));
    if (rc == SOTTO_OK)
        rc = call_run(d, &c, &resp);
    if (rc != SOTTO_OK)
        return rc;
    rc = net_parse_account(resp.body, resp.body_len, out);
    net_response_clear(d->env, &resp);
    /* the account must be the one asked for, not merely a valid one */
    if (rc == SOTTO_OK &&
        (number != 0 ? out->number != number : strcmp(out->username, username) != 0))
        rc = SOTTO_EPROTO;
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err net_dir_bundle(struct net_dir *d, uint64_t number, struct net_bundle *out)
{
    struct call c = {.method = "POST", .expect = 200};
    struct net_response resp;
    enum sotto_err rc = target_for(&c, number, "/bundle");

    memset(out, 0, sizeof(*out));
    if (rc == SOTTO_OK)
        rc = call_run(d, &c, &resp);
    if (rc != SOTTO_OK)
        return rc;
    rc = net_parse_bundle(resp.body, resp.body_len, out);
    net_response_clear(d->env, &resp);
    if (rc == SOTTO_OK && out->number != number)
        rc = SOTTO_EPROTO;
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

static json_t *put_prekeys_json(const struct net_signed_prekey *spk, const struct net_prekey *pks,
                                size_t n)
{
    json_t *o = json_pack("{s:o}", "prekeys", prekeys_json(pks, n));

    if (o != NULL && spk != NULL &&
        json_object_set_new(o, "signed_prekey", signed_prekey_json(spk)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

enum sotto_err net_dir_put_prekeys(struct net_dir *d, const struct net_identity *id,
                                   const struct net_signed_prekey *spk,
                                   const struct net_prekey *pks, size_t n, unsigned *left)
{
    struct call c = {.id = id, .method = "PUT", .expect = 200};
    struct net_response resp;
    enum sotto_err rc;

    *left = 0;
    if (id == NULL || n > NET_PREKEYS_MAX || (n > 0 && pks == NULL))
        return SOTTO_EINVAL;
    rc = target_for(&c, id->number, "/prekeys");
    if (rc == SOTTO_OK)
        rc = body_take(d->env, put_prekeys_json(spk, pks, n), &c);
    if (rc == SOTTO_OK)
        rc = call_run(d, &c, &resp);
    call_clear(d->env, &c);
    if (rc != SOTTO_OK)
        return rc;
    rc = net_parse_prekeys_left(resp.body, resp.body_len, left);
    net_response_clear(d->env, &resp);
    return rc;
}

enum sotto_err net_dir_put_addresses(struct net_dir *d, const struct net_identity *id,
                                     const char *const *addrs, size_t n)
{
    struct call c = {.id = id, .method = "PUT", .expect = 200};
    struct net_response resp;
    enum sotto_err rc;

    if (id == NULL || n > CARD_ADDRS_MAX || (n > 0 && addrs == NULL))
        return SOTTO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (identity_card_check_address(addrs[i]) != SOTTO_OK)
            return SOTTO_EINVAL;
    rc = target_for(&c, id->number, "/addresses");
    if (rc == SOTTO_OK)
        rc = body_take(d->env, json_pack("{s:o}", "addresses", addrs_json(addrs, n)), &c);
    if (rc == SOTTO_OK)
        rc = call_run(d, &c, &resp);
    call_clear(d->env, &c);
    if (rc == SOTTO_OK)
        net_response_clear(d->env, &resp);
    return rc;
}

enum sotto_err net_dir_delete(struct net_dir *d, const struct net_identity *id)
{
    struct call c = {.id = id, .method = "DELETE", .expect = 200};
    struct net_response resp;
    enum sotto_err rc;

    if (id == NULL)
        return SOTTO_EINVAL;
    rc = target_for(&c, id->number, "");
    if (rc == SOTTO_OK)
        rc = call_run(d, &c, &resp);
    if (rc == SOTTO_OK)
        net_response_clear(d->env, &resp);
    return rc;
}
