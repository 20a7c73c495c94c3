/* src/directory/backend.c: the backend interface: picks an implementation from the --db value,
 * checks every argument against the contract in backend.h before an implementation sees it,
 * times the replay cache's purges, and holds the checks both implementations apply to what
 * their database gives back. */
#include <string.h>

#include <jansson.h>

#include "directory/backend_int.h"
#include "identity/number.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define SQLITE_PREFIX "sqlite:"

/* Each instance purges the replay cache on this many checks, or when this long has passed. */
#define REPLAY_PURGE_EVERY    256
#define REPLAY_PURGE_AFTER_MS (60 * 1000)

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum sotto_err dir_backend_open(struct dir_backend **out, const struct sotto_env *env,
                                const char *db)
{
    if (out == NULL)
        return SOTTO_EINVAL;
    *out = NULL;
    if (env == NULL || db == NULL)
        return SOTTO_EINVAL;
    if (has_prefix(db, SQLITE_PREFIX) && db[strlen(SQLITE_PREFIX)] != '\0')
        return dir_sqlite_open(out, env, db + strlen(SQLITE_PREFIX));
    if (has_prefix(db, "postgresql://") || has_prefix(db, "postgres://"))
        return dir_pg_open(out, env, db);
    /* the value may be a URI with a password: say only that the scheme is unknown */
    log_error(env->log, "--db: expected sqlite:PATH or postgresql://...");
    return SOTTO_EINVAL;
}

void dir_backend_close(struct dir_backend *b)
{
    if (b != NULL)
        b->ops->close(b);
}

const char *dir_backend_kind(const struct dir_backend *b)
{
    return b != NULL ? b->ops->kind : "none";
}

/* ---- argument checks ---- */

static bool time_ok(uint64_t ms)
{
    return ms <= INT64_MAX;
}

static bool string_ok(const char *s, size_t max)
{
    size_t len;

    if (s == NULL)
        return false;
    len = strnlen(s, max + 1);
    return len >= 1 && len <= max;
}

static bool number_arg_ok(uint64_t number)
{
    return number >= NUMBER_MIN && number <= NUMBER_MAX;
}

/* Ids in range and distinct: a request naming one id twice is ambiguous, and PostgreSQL
 * refuses to upsert a row twice in one statement. */
static bool prekeys_ok(const struct dir_prekey *prekeys, size_t n)
{
    if (n > DIR_PREKEYS_PER_REQUEST || (n > 0 && prekeys == NULL))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!dir_prekey_id_ok(prekeys[i].id))
            return false;
        for (size_t j = 0; j < i; j++)
            if (prekeys[j].id == prekeys[i].id)
                return false;
    }
    return true;
}

/* Encodes checked addresses; the check also guarantees they need no escaping. */
static enum sotto_err addrs_encode(const char addrs[][CARD_ADDR_MAX + 1], size_t n,
                                   char out[static DIR_ADDRS_JSON_MAX])
{
    json_t *arr;
    size_t len = 0;
    bool ok = true;

    if (n > CARD_ADDRS_MAX || (n > 0 && addrs == NULL))
        return SOTTO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (identity_card_check_address(addrs[i]) != SOTTO_OK)
            return SOTTO_EINVAL;
    arr = json_array();
    if (arr == NULL)
        return SOTTO_ENOMEM;
    for (size_t i = 0; i < n && ok; i++)
        ok = json_array_append_new(arr, json_string(addrs[i])) == 0;
    if (ok)
        len = json_dumpb(arr, out, DIR_ADDRS_JSON_MAX - 1, JSON_COMPACT);
    json_decref(arr);
    if (!ok || len == 0)
        return SOTTO_ENOMEM;
    if (len >= DIR_ADDRS_JSON_MAX)
        return SOTTO_EINVAL;
    out[len] = '\0';
    return SOTTO_OK;
}

static bool account_ok(const struct dir_account *a, const char *skeleton)
{
    return string_ok(a->username, TEXT_USERNAME_MAX) && string_ok(skeleton, TEXT_USERNAME_MAX) &&
           number_arg_ok(a->number) && dir_registration_id_ok(a->registration_id) &&
           dir_prekey_id_ok(a->signed_prekey.id);
}

/* ---- calls ---- */

enum sotto_err dir_backend_register(struct dir_backend *b, const struct dir_account *a,
                                    const char *skeleton, const struct dir_prekey *prekeys,
                                    size_t n, enum dir_conflict *conflict)
{
    char json[DIR_ADDRS_JSON_MAX];
    enum sotto_err rc;

    if (conflict == NULL)
        return SOTTO_EINVAL;
    *conflict = DIR_CONFLICT_NONE;
    if (b == NULL || a == NULL || !account_ok(a, skeleton) || !prekeys_ok(prekeys, n))
        return SOTTO_EINVAL;
    rc = addrs_encode(a->addrs, a->n_addrs, json);
    if (rc != SOTTO_OK)
        return rc;
    return b->ops->reg(b, a, skeleton, json, prekeys, n, sotto_now_ms(b->env), conflict);
}

enum sotto_err dir_backend_lookup(struct dir_backend *b, const char *username, uint64_t number,
                                  struct dir_account *out)
{
    if (out == NULL)
        return SOTTO_EINVAL;
    memset(out, 0, sizeof(*out));
    if (b == NULL)
        return SOTTO_EINVAL;
    if (username != NULL ? !string_ok(username, TEXT_USERNAME_MAX) : !number_arg_ok(number))
        return SOTTO_EINVAL;
    return b->ops->lookup(b, username, number, out);
}

enum sotto_err dir_backend_take_bundle(struct dir_backend *b, uint64_t number, bool take_prekey,
                                       struct dir_account *out, struct dir_prekey *prekey,
                                       bool *has_prekey, unsigned *left)
{
    if (out == NULL || prekey == NULL || has_prekey == NULL || left == NULL)
        return SOTTO_EINVAL;
    memset(out, 0, sizeof(*out));
    memset(prekey, 0, sizeof(*prekey));
    *has_prekey = false;
    *left = 0;
    if (b == NULL || !number_arg_ok(number))
        return SOTTO_EINVAL;
    return b->ops->take_bundle(b, number, take_prekey, out, prekey, has_prekey, left);
}

enum sotto_err dir_backend_set_addresses(struct dir_backend *b, uint64_t number,
                                         const char addrs[][CARD_ADDR_MAX + 1], size_t n)
{
    char json[DIR_ADDRS_JSON_MAX];
    enum sotto_err rc;

    if (b == NULL || !number_arg_ok(number))
        return SOTTO_EINVAL;
    rc = addrs_encode(addrs, n, json);
    if (rc != SOTTO_OK)
        return rc;
    return b->ops->set_addresses(b, number, json, sotto_now_ms(b->env));
}

enum sotto_err dir_backend_add_prekeys(struct dir_backend *b, uint64_t number,
                                       const struct dir_signed_prekey *spk,
                                       const struct dir_prekey *prekeys, size_t n, unsigned *left)
{
    if (left == NULL)
        return SOTTO_EINVAL;
    *left = 0;
    if (b == NULL || !number_arg_ok(number) || !prekeys_ok(prekeys, n) ||
        (spk != NULL && !dir_prekey_id_ok(spk->id)))
        return SOTTO_EINVAL;
    return b->ops->add_prekeys(b, number, spk, prekeys, n, sotto_now_ms(b->env), left);
}

enum sotto_err dir_backend_delete(struct dir_backend *b, uint64_t number)
{
    if (b == NULL || !number_arg_ok(number))
        return SOTTO_EINVAL;
    return b->ops->del(b, number);
}

/* Housekeeping: a failed purge is logged and retried later; it never refuses a request. */
static void replay_maybe_purge(struct dir_backend *b, uint64_t now_ms)
{
    enum sotto_err rc;

    if (++b->replay_calls < REPLAY_PURGE_EVERY && now_ms < b->replay_purge_ms)
        return;
    b->replay_calls = 0;
    b->replay_purge_ms = now_ms + REPLAY_PURGE_AFTER_MS;
    rc = b->ops->replay_purge(b, now_ms);
    if (rc != SOTTO_OK)
        log_warn(b->env->log, "replay cache purge failed: %s", sotto_strerror(rc));
}

enum sotto_err dir_backend_replay_check(struct dir_backend *b, const uint8_t digest[32],
                                        uint64_t expires_ms, uint64_t now_ms)
{
    /* the purge time is now_ms plus a minute, which must not wrap */
    if (b == NULL || digest == NULL || !time_ok(expires_ms) ||
        now_ms > (uint64_t)INT64_MAX - REPLAY_PURGE_AFTER_MS)
        return SOTTO_EINVAL;
    replay_maybe_purge(b, now_ms);
    return b->ops->replay_insert(b, digest, expires_ms, now_ms);
}

enum sotto_err dir_backend_counts(struct dir_backend *b, uint64_t *accounts, uint64_t *prekeys)
{
    if (accounts == NULL || prekeys == NULL)
        return SOTTO_EINVAL;
    *accounts = 0;
    *prekeys = 0;
    if (b == NULL)
        return SOTTO_EINVAL;
    return b->ops->counts(b, accounts, prekeys);
}

enum sotto_err dir_backend_ping(struct dir_backend *b)
{
    if (b == NULL)
        return SOTTO_EINVAL;
    return b->ops->ping(b);
}

/* ---- checks of what the database gave back ---- */

enum sotto_err dir_text_copy(char *out, size_t cap, const void *s, size_t len)
{
    out[0] = '\0';
    if (s == NULL || len == 0 || len >= cap || memchr(s, '\0', len) != NULL)
        return SOTTO_ECORRUPT;
    memcpy(out, s, len);
    out[len] = '\0';
    return SOTTO_OK;
}

static enum sotto_err addrs_take(json_t *arr, struct dir_account *out)
{
    size_t n = json_array_size(arr);

    if (!json_is_array(arr) || n > CARD_ADDRS_MAX)
        return SOTTO_ECORRUPT;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) ||
            dir_text_copy(out->addrs[i], sizeof(out->addrs[i]), json_string_value(v),
                          json_string_length(v)) != SOTTO_OK)
            return SOTTO_ECORRUPT;
    }
    out->n_addrs = n;
    return SOTTO_OK;
}

enum sotto_err dir_addrs_decode(const char *s, size_t len, struct dir_account *out)
{
    json_error_t err;
    json_t *arr;
    enum sotto_err rc;

    out->n_addrs = 0;
    memset(out->addrs, 0, sizeof(out->addrs));
    /* a JSON string may spell a character six ways longer; anything past this is not ours */
    if (s == NULL || len > DIR_ADDRS_JSON_MAX * 6)
        return SOTTO_ECORRUPT;
    arr = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err);
    if (arr == NULL)
        return SOTTO_ECORRUPT;
    rc = addrs_take(arr, out);
    json_decref(arr);
    if (rc != SOTTO_OK) {
        out->n_addrs = 0;
        memset(out->addrs, 0, sizeof(out->addrs));
    }
    return rc;
}

bool dir_number_ok(int64_t v)
{
    return v >= (int64_t)NUMBER_MIN && v <= (int64_t)NUMBER_MAX;
}

bool dir_registration_id_ok(int64_t v)
{
    return v >= 1 && v <= DIR_REGISTRATION_ID_MAX;
}

bool dir_prekey_id_ok(int64_t v)
{
    return v >= 1 && v <= DIR_PREKEY_ID_MAX;
}
