/* src/net/prekeys.c: the top-up of our one-time prekeys on the directory. The directory's
 * count is learned from the answer to PUT .../prekeys (a bundle fetch would consume one), so a
 * top-up first gives the directory whatever prekey it has not been given yet, or nothing, and
 * reads the count from that answer. Prekeys are stored sealed before they are uploaded and
 * marked once the directory took them: a top-up cut short is finished by the next one. */
#include <string.h>

#include "net/net_int.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "store/profile.h"

#define UPLOAD_ROUNDS_MAX 8 /* 8 x 200 is more than the store ever makes at once */

struct upload {
    struct store_prekey_pub pub[NET_PREKEYS_MAX];
    struct net_prekey wire[NET_PREKEYS_MAX];
    uint32_t ids[NET_PREKEYS_MAX];
};

/* One PUT with up to NET_PREKEYS_MAX pending prekeys (maybe none); *n is how many went. */
static enum sotto_err upload_round(struct net_dir *d, struct store_profile *p,
                                   const struct net_identity *id, struct upload *u, size_t *n,
                                   unsigned *left)
{
    enum sotto_err rc = store_prekeys_public(p, true, u->pub, NET_PREKEYS_MAX, n);

    if (rc != SOTTO_OK)
        return rc;
    for (size_t i = 0; i < *n; i++) {
        u->wire[i].id = u->pub[i].id;
        memcpy(u->wire[i].key, u->pub[i].key, E2E_KEY_LEN);
        u->ids[i] = u->pub[i].id;
    }
    rc = net_dir_put_prekeys(d, id, NULL, u->wire, *n, left);
    if (rc == SOTTO_OK && *n > 0)
        rc = store_prekeys_mark_uploaded(p, u->ids, *n, sotto_now_ms(d->env));
    return rc;
}

/* Gives the directory every pending prekey. With none pending and `known_left` >= 0, sends
 * nothing and takes that count; otherwise at least one PUT tells the count. */
static enum sotto_err upload_pending(struct net_dir *d, struct store_profile *p,
                                     const struct net_identity *id, int known_left, unsigned *left,
                                     unsigned *uploaded)
{
    struct store_prekey_pub probe[1];
    struct upload *u;
    size_t n = 0;
    enum sotto_err rc = store_prekeys_public(p, true, probe, 1, &n);

    if (rc != SOTTO_OK)
        return rc;
    if (n == 0 && known_left >= 0) {
        *left = (unsigned)known_left;
        return SOTTO_OK;
    }
    u = sotto_alloc(d->env, sizeof(*u));
    if (u == NULL)
        return SOTTO_ENOMEM;
    for (int round = 0; round < UPLOAD_ROUNDS_MAX; round++) {
        rc = upload_round(d, p, id, u, &n, left);
        if (rc != SOTTO_OK)
            break;
        *uploaded += (unsigned)n;
        if (n < NET_PREKEYS_MAX)
            break;
    }
    sotto_free(d->env, u);
    return rc;
}

enum sotto_err net_prekeys_topup(struct net_dir *d, struct store_profile *p,
                                 const struct net_identity *id, int known_left,
                                 struct net_topup *out)
{
    unsigned left = 0;
    uint32_t first = 0;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    if (d == NULL || p == NULL || id == NULL || id->e2e == NULL)
        return SOTTO_EINVAL;
    rc = upload_pending(d, p, id, known_left, &left, &out->uploaded);
    if (rc != SOTTO_OK)
        return rc;
    out->left_before = left;
    out->left_after = left;
    if (left >= NET_PREKEYS_LOW)
        return SOTTO_OK;
    rc = store_prekeys_add(p, id->e2e, NET_PREKEYS_TARGET - left, &first);
    if (rc != SOTTO_OK)
        return rc;
    out->made = NET_PREKEYS_TARGET - left;
    log_info(d->env->log, "directory holds %u of our one-time prekeys: made %u from id %u", left,
             out->made, (unsigned)first);
    rc = upload_pending(d, p, id, -1, &left, &out->uploaded);
    if (rc == SOTTO_OK)
        out->left_after = left;
    return rc;
}
