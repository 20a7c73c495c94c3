/* src/directory/ratelimit.h: token buckets per key (a source address, a target number) in a
 * bounded table, per process (docs/DESIGN.md: with N workers a source may get up to N times
 * the rate). */
#ifndef SOTTO_DIRECTORY_RATELIMIT_H
#define SOTTO_DIRECTORY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

#define DIR_RATE_KEY_MAX 63      /* bytes of a key that count; longer keys are cut */
#define DIR_RATE_PER_MAX 1000000 /* highest rate accepted, per minute */
#define DIR_RATE_WAYS    8       /* entries per hash set: eviction looks at these only */

struct sotto_env;
struct dir_rate;

/* A table of at least `capacity` buckets (rounded up to whole sets of DIR_RATE_WAYS), each
 * holding `per_min` tokens when full and refilled at `per_min` a minute. per_min 0 turns the
 * limit off (every take succeeds and nothing is allocated). Keys are hashed with a secret
 * SipHash key from env->random, so that nobody can aim many keys at one set. Borrows `env`.
 * SOTTO_EINVAL for per_min > DIR_RATE_PER_MAX or capacity 0; SOTTO_ENOMEM. On failure *out is
 * NULL. Not thread-safe. */
enum sotto_err dir_rate_create(struct dir_rate **out, const struct sotto_env *env, unsigned per_min,
                               size_t capacity);
/* NULL is a no-op. */
void dir_rate_free(struct dir_rate *r);

/* Takes one token from `key`'s bucket at `now_ms`. A key not in the table gets a full bucket,
 * evicting the least recently used entry of its set when the set is full (a bucket unused for
 * a minute is full again anyway). True when a token was taken; otherwise *retry_after_s is
 * how many whole seconds until one will be there (at least 1). */
bool dir_rate_take(struct dir_rate *r, const char *key, uint64_t now_ms, unsigned *retry_after_s);

/* True when dir_rate_take() would take a token from `key`'s bucket at now_ms; changes nothing
 * and never adds the key (so that asking about keys that turn out not to matter, such as
 * numbers with no account, cannot evict anyone's bucket). */
bool dir_rate_would_take(const struct dir_rate *r, const char *key, uint64_t now_ms);

/* How many keys the table holds now (for tests). */
size_t dir_rate_size(const struct dir_rate *r);

#endif
