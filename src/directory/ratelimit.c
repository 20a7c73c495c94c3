/* src/directory/ratelimit.c: token buckets in a set-associative table. A token is
 * UNITS_PER_TOKEN units and a bucket gains `per_min` units a millisecond, so that the
 * arithmetic stays in integers: a full bucket is per_min tokens, refilled in one minute. */
#include <string.h>

#include <sodium.h>

#include "directory/ratelimit.h"
#include "sotto/env.h"

#define MINUTE_MS       60000u
#define UNITS_PER_TOKEN MINUTE_MS

struct rate_entry {
    char key[DIR_RATE_KEY_MAX + 1]; /* "" when free */
    uint64_t units;
    uint64_t last_ms;
};

struct dir_rate {
    const struct sotto_env *env; /* borrowed */
    unsigned per_min;
    size_t n_sets;
    size_t n_used;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct rate_entry *entries; /* owned: n_sets * DIR_RATE_WAYS */
};

enum sotto_err dir_rate_create(struct dir_rate **out, const struct sotto_env *env, unsigned per_min,
                               size_t capacity)
{
    struct dir_rate *r;
    size_t n_sets = (capacity + DIR_RATE_WAYS - 1) / DIR_RATE_WAYS;

    *out = NULL;
    if (per_min > DIR_RATE_PER_MAX || capacity == 0 ||
        n_sets > SIZE_MAX / DIR_RATE_WAYS / sizeof(struct rate_entry))
        return SOTTO_EINVAL;
    r = sotto_zalloc(env, sizeof(*r));
    if (r == NULL)
        return SOTTO_ENOMEM;
    r->env = env;
    r->per_min = per_min;
    r->n_sets = n_sets;
    if (per_min > 0) {
        r->entries = sotto_zalloc(env, n_sets * DIR_RATE_WAYS * sizeof(struct rate_entry));
        if (r->entries == NULL) {
            sotto_free(env, r);
            return SOTTO_ENOMEM;
        }
        sotto_random(env, r->hash_key, sizeof(r->hash_key));
    }
    *out = r;
    return SOTTO_OK;
}

void dir_rate_free(struct dir_rate *r)
{
    if (r == NULL)
        return;
    sotto_free(r->env, r->entries);
    sodium_memzero(r->hash_key, sizeof(r->hash_key));
    sotto_free(r->env, r);
}

size_t dir_rate_size(const struct dir_rate *r)
{
    return r->n_used;
}

/* A free slot is taken first, then the least recently used. */
static bool better_victim(const struct rate_entry *cand, const struct rate_entry *cur)
{
    if (cur->key[0] == '\0')
        return false;
    if (cand->key[0] == '\0')
        return true;
    return cand->last_ms < cur->last_ms;
}

static struct rate_entry *set_of(const struct dir_rate *r, const char *key, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;

    crypto_shorthash(h, (const unsigned char *)key, len, r->hash_key);
    for (size_t i = 0; i < sizeof(v); i++)
        v = v << 8 | h[i];
    return &r->entries[(v % r->n_sets) * DIR_RATE_WAYS];
}

static bool entry_is(const struct rate_entry *e, const char *key, size_t len)
{
    return e->key[0] != '\0' && strncmp(e->key, key, len) == 0 && e->key[len] == '\0';
}

/* The entry for `key` (len bytes, already cut), a new full one in a free slot, or the least
 * recently used one of the set, reset. */
static struct rate_entry *entry_for(struct dir_rate *r, const char *key, size_t len,
                                    uint64_t now_ms)
{
    struct rate_entry *set = set_of(r, key, len), *victim = &set[0];

    for (size_t i = 0; i < DIR_RATE_WAYS; i++) {
        if (entry_is(&set[i], key, len))
            return &set[i];
        if (better_victim(&set[i], victim))
            victim = &set[i];
    }
    if (victim->key[0] == '\0')
        r->n_used++;
    memcpy(victim->key, key, len);
    victim->key[len] = '\0';
    victim->units = (uint64_t)r->per_min * UNITS_PER_TOKEN;
    victim->last_ms = now_ms;
    return victim;
}

/* The units `e` holds at now_ms. */
static uint64_t units_at(const struct dir_rate *r, const struct rate_entry *e, uint64_t now_ms)
{
    uint64_t full = (uint64_t)r->per_min * UNITS_PER_TOKEN;
    uint64_t elapsed = now_ms > e->last_ms ? now_ms - e->last_ms : 0;
    uint64_t units;

    /* a minute refills any bucket: capping here keeps the product below 2^64 */
    if (elapsed > MINUTE_MS)
        elapsed = MINUTE_MS;
    units = e->units + elapsed * r->per_min;
    return units > full ? full : units;
}

static void refill(const struct dir_rate *r, struct rate_entry *e, uint64_t now_ms)
{
    e->units = units_at(r, e, now_ms);
    if (now_ms > e->last_ms)
        e->last_ms = now_ms;
}

/* The key as the table holds it: cut to DIR_RATE_KEY_MAX bytes, "-" for the empty key (the
 * empty key is the free-slot marker). */
static const char *key_cut(const char *key, size_t *len)
{
    *len = strnlen(key, DIR_RATE_KEY_MAX);
    if (*len == 0) {
        *len = 1;
        return "-";
    }
    return key;
}

bool dir_rate_would_take(const struct dir_rate *r, const char *key, uint64_t now_ms)
{
    const struct rate_entry *set;
    size_t len;

    if (r->per_min == 0)
        return true;
    key = key_cut(key, &len);
    set = set_of(r, key, len);
    for (size_t i = 0; i < DIR_RATE_WAYS; i++)
        if (entry_is(&set[i], key, len))
            return units_at(r, &set[i], now_ms) >= UNITS_PER_TOKEN;
    return true; /* a new key starts full */
}

bool dir_rate_take(struct dir_rate *r, const char *key, uint64_t now_ms, unsigned *retry_after_s)
{
    struct rate_entry *e;
    size_t len;
    uint64_t missing_ms;

    *retry_after_s = 0;
    if (r->per_min == 0)
        return true;
    key = key_cut(key, &len);
    e = entry_for(r, key, len, now_ms);
    refill(r, e, now_ms);
    if (e->units >= UNITS_PER_TOKEN) {
        e->units -= UNITS_PER_TOKEN;
        return true;
    }
    missing_ms = (UNITS_PER_TOKEN - e->units + r->per_min - 1) / r->per_min;
    *retry_after_s = (unsigned)((missing_ms + 999) / 1000);
    if (*retry_after_s == 0)
        *retry_after_s = 1;
    return false;
}
