/* src/node/reach.c: how others reach us and start sessions with us (DESIGN.md, "Reach" and
 * "Directory API"), for a node registered on a directory.
 *
 * Addresses: the node publishes the profile's addresses, its listening address when that is a
 * concrete one, the address the directory says it saw us from with our listening port, and,
 * when it listens on a wildcard, its interfaces' addresses with that port; addresses found
 * rather than given are published only when usable from elsewhere (no loopback, link-local,
 * multicast or unspecified address). It publishes at start, every PUBLISH_MS, and as soon as
 * the set differs from what the directory holds (the interfaces are looked at every SCAN_MS).
 *
 * One-time prekeys: the directory is the only one who knows how many it still holds (a bundle
 * fetched by someone who never writes to us uses one up, and we never hear of it), and it says
 * so in its answer to PUT .../prekeys, which carries the prekeys it was not given yet, or none.
 * The node asks at start, every PREKEYS_CHECK_MS, and soon after a session was started with one
 * of ours (the profile then holds one fewer: the directory handed it out, maybe others too).
 * Below NET_PREKEYS_LOW it makes enough to bring the directory back to NET_PREKEYS_TARGET, in
 * the turn's transaction, and gives them only once a turn begins with no transaction open, so
 * that no public key ever leaves before its private half is committed. They are marked uploaded
 * when the directory took them; an upload that failed goes with the next check.
 *
 * Key generation and every store write happen here, on the loop's thread, with the node's
 * Signal context; the directory worker only signs and sends. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "identity/card.h"
#include "node/dirwork.h"
#include "node/node_int.h"
#include "sotto/env.h"
#include "sotto/log.h"

#define PUBLISH_MS       (30 * 60 * 1000) /* addresses published again this often */
#define PUBLISH_RETRY_MS 30000            /* after a failed publish */
#define SCAN_MS          10000            /* the interfaces' addresses looked at this often */
#define PREKEYS_CHECK_MS (10 * 60 * 1000) /* the directory's count asked for this often */
#define PREKEYS_GAP_MS   5000             /* sessions started with ours: asked at most this often */
#define PREKEYS_RETRY_MS 60000            /* after a failed check */
#define IFADDRS_MAX      32               /* interface addresses looked at */

struct node_reach {
    /* addresses */
    bool addr_busy; /* a DIR_JOB_ADDRESSES is out */
    bool published; /* pub[] is what the directory holds */
    size_t n_pub;
    char pub[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
    uint64_t next_publish_ms; /* the period, or the retry after a failure */
    uint64_t next_scan_ms;
    char seen_host[NODE_REACH_HOST_MAX]; /* where a write's answer said the directory saw us */
    /* one-time prekeys */
    bool pk_busy;       /* a DIR_JOB_PREKEYS is out */
    bool pk_upload;     /* prekeys were made: upload them once committed */
    bool pk_counted;    /* pk_stored is known */
    unsigned pk_stored; /* one-time prekeys in the profile at the last look */
    uint64_t pk_next_ms, pk_last_ms;
};

/* ---- which addresses: pure ---- */

enum fam { FAM_NONE = 0, FAM_V4 = 1, FAM_V6 = 2 };

/* A numeric host: its family and bytes. */
struct ip {
    enum fam fam;
    uint8_t b[16];
};

static bool ip_parse(const char *host, struct ip *ip)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(ip, 0, sizeof(*ip));
    if (inet_pton(AF_INET, host, ip->b) == 1) {
        ip->fam = FAM_V4;
        return true;
    }
    if (inet_pton(AF_INET6, host, ip->b) != 1)
        return false;
    ip->fam = FAM_V6;
    if (memcmp(ip->b, mapped, sizeof(mapped)) == 0) { /* ::ffff:a.b.c.d is IPv4 */
        memmove(ip->b, ip->b + 12, 4);
        memset(ip->b + 4, 0, 12);
        ip->fam = FAM_V4;
    }
    return true;
}

static bool ip_unspecified(const struct ip *ip)
{
    static const uint8_t zero[16];

    return memcmp(ip->b, zero, ip->fam == FAM_V4 ? 4 : 16) == 0;
}

static bool ip_loopback(const struct ip *ip)
{
    static const uint8_t one[16] = {[15] = 1};

    return ip->fam == FAM_V4 ? ip->b[0] == 127 : memcmp(ip->b, one, 16) == 0;
}

/* Usable by someone elsewhere: not unspecified, loopback, link-local (or the old site-local),
 * multicast, reserved or broadcast. */
static bool ip_usable(const struct ip *ip)
{
    const uint8_t *b = ip->b;

    if (ip->fam == FAM_NONE || ip_unspecified(ip) || ip_loopback(ip))
        return false;
    if (ip->fam == FAM_V4)
        return b[0] != 0 && !(b[0] == 169 && b[1] == 254) && b[0] < 224;
    return b[0] != 0xff && !(b[0] == 0xfe && (b[1] & 0x80) == 0x80) &&
           !(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 &&
             b[6] == 0 && b[7] == 0); /* ::/64: IPv4-compatible and the like */
}

static void ip_format(const struct ip *ip, unsigned port, char out[static CARD_ADDR_MAX + 1])
{
    char host[NODE_REACH_HOST_MAX];

    if (inet_ntop(ip->fam == FAM_V4 ? AF_INET : AF_INET6, ip->b, host, sizeof(host)) == NULL) {
        out[0] = '\0';
        return;
    }
    snprintf(out, CARD_ADDR_MAX + 1, ip->fam == FAM_V4 ? "%s:%u" : "[%s]:%u", host, port);
}

/* The host of "host:port" or "[v6]:port" into host[] (brackets removed). */
static bool host_of(const char *hostport, char host[static NODE_REACH_HOST_MAX])
{
    const char *colon = hostport != NULL ? strrchr(hostport, ':') : NULL;
    const char *start = hostport;
    size_t len;

    host[0] = '\0';
    if (colon == NULL || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return false;
    len = (size_t)(colon - hostport);
    if (len >= 2 && hostport[0] == '[' && hostport[len - 1] == ']') {
        start++;
        len -= 2;
    } else if (memchr(hostport, ':', len) != NULL) {
        return false; /* an IPv6 host goes in brackets */
    }
    if (len == 0 || len >= NODE_REACH_HOST_MAX)
        return false;
    memcpy(host, start, len);
    host[len] = '\0';
    return true;
}

bool node_reach_seen_host(const char *seen_from, char host[static NODE_REACH_HOST_MAX])
{
    char h[NODE_REACH_HOST_MAX];
    struct ip ip;

    host[0] = '\0';
    if (!host_of(seen_from, h) || !ip_parse(h, &ip) ||
        inet_ntop(ip.fam == FAM_V4 ? AF_INET : AF_INET6, ip.b, host, NODE_REACH_HOST_MAX) == NULL) {
        host[0] = '\0';
        return false;
    }
    return true;
}

struct addr_set {
    char (*out)[CARD_ADDR_MAX + 1];
    size_t n;
};

static void set_add(struct addr_set *s, const char *addr)
{
    if (s->n >= CARD_ADDRS_MAX || addr[0] == '\0' || identity_card_check_address(addr) != SOTTO_OK)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->out[i], addr) == 0)
            return;
    snprintf(s->out[s->n++], CARD_ADDR_MAX + 1, "%s", addr);
}

/* A host found rather than given, with our port, when its family is one we listen on. */
static void set_add_found(struct addr_set *s, const char *host, unsigned fams, unsigned port)
{
    char addr[CARD_ADDR_MAX + 1];
    struct ip ip;

    if (host == NULL || !ip_parse(host, &ip) || (ip.fam & fams) == 0 || !ip_usable(&ip))
        return;
    ip_format(&ip, port, addr);
    set_add(s, addr);
}

/* The families that found addresses may have, from the listening address: a wildcard takes
 * what the socket takes (0.0.0.0 IPv4, [::] both); a concrete address that others can reach
 * takes the directory's view of its own family (a router may forward to it); loopback and
 * anything not an IP literal, nothing. *wildcard says whether the interfaces count. */
static unsigned listen_families(const char *listen, bool *wildcard)
{
    char host[NODE_REACH_HOST_MAX];
    struct ip ip;

    *wildcard = false;
    if (!host_of(listen, host) || !ip_parse(host, &ip))
        return FAM_NONE;
    if (ip_unspecified(&ip)) {
        *wildcard = true;
        return ip.fam == FAM_V4 ? FAM_V4 : FAM_V4 | FAM_V6;
    }
    return ip_usable(&ip) ? ip.fam : FAM_NONE;
}

void node_reach_addresses(const struct node_reach_in *in, char out[][CARD_ADDR_MAX + 1], size_t *n)
{
    struct addr_set s = {.out = out};
    char listen[CARD_ADDR_MAX + 1], host[NODE_REACH_HOST_MAX];
    bool wildcard = false;
    unsigned fams = FAM_NONE;

    for (size_t i = 0; i < in->n_profile; i++)
        set_add(&s, in->profile[i]);
    if (in->listen != NULL && host_of(in->listen, host)) {
        fams = listen_families(in->listen, &wildcard);
        /* a concrete listening address was given: published as it is, loopback or not */
        if (!wildcard && snprintf(listen, sizeof(listen), "%.*s:%u",
                                  (int)(strrchr(in->listen, ':') - in->listen), in->listen,
                                  in->port) < (int)sizeof(listen))
            set_add(&s, listen);
    }
    if (in->seen_host != NULL)
        set_add_found(&s, in->seen_host, fams, in->port);
    for (unsigned fam = FAM_V4; wildcard && fam <= FAM_V6; fam++)
        for (size_t i = 0; i < in->n_ifaddrs; i++)
            set_add_found(&s, in->ifaddrs[i], fams & fam, in->port);
    *n = s.n;
}

/* ---- the interfaces ---- */

/* The addresses of the interfaces that are up and not loopback, IPv4 first. */
static size_t interfaces(char hosts[][NODE_REACH_HOST_MAX], size_t max)
{
    struct ifaddrs *all, *i;
    size_t n = 0;

    if (getifaddrs(&all) != 0)
        return 0;
    for (int fam = AF_INET; fam != 0; fam = fam == AF_INET ? AF_INET6 : 0)
        for (i = all; i != NULL && n < max; i = i->ifa_next) {
            const void *a;

            if (i->ifa_addr == NULL || i->ifa_addr->sa_family != fam ||
                (i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0)
                continue;
            a = fam == AF_INET
                        ? (const void *)&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
            if (inet_ntop(fam, a, hosts[n], NODE_REACH_HOST_MAX) != NULL)
                n++;
        }
    freeifaddrs(all);
    return n;
}

/* ---- publishing ---- */

static void our_addresses(struct node *n, struct node_reach *r, char out[][CARD_ADDR_MAX + 1],
                          size_t *count)
{
    char hosts[IFADDRS_MAX][NODE_REACH_HOST_MAX];
    const char *ifaddrs[IFADDRS_MAX];
    struct node_reach_in in = {
            .profile = (const char(*)[CARD_ADDR_MAX + 1]) n->self.addrs,
            .n_profile = n->self.n_addrs,
            .listen = n->p.listen,
            .port = net_loop_port(n->loop),
            .seen_host = r->seen_host[0] != '\0' ? r->seen_host : NULL,
            .ifaddrs = ifaddrs,
    };
    bool wildcard = false;

    if (listen_families(n->p.listen, &wildcard) != FAM_NONE && wildcard)
        in.n_ifaddrs = interfaces(hosts, IFADDRS_MAX);
    for (size_t i = 0; i < in.n_ifaddrs; i++)
        ifaddrs[i] = hosts[i];
    node_reach_addresses(&in, out, count);
}

static bool same_set(char a[][CARD_ADDR_MAX + 1], size_t na, char b[][CARD_ADDR_MAX + 1], size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static void addresses_tick(struct node *n, struct node_reach *r, uint64_t now)
{
    char set[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
    struct dir_job *j;
    size_t k = 0;

    if (r->addr_busy || (now < r->next_scan_ms && now < r->next_publish_ms))
        return;
    r->next_scan_ms = now + SCAN_MS;
    our_addresses(n, r, set, &k);
    if (now < r->next_publish_ms && (!r->published || same_set(set, k, r->pub, r->n_pub)))
        return;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->kind = DIR_JOB_ADDRESSES;
    j->number = n->self.number;
    j->n_addrs = k;
    memcpy(j->addrs, set, sizeof(set));
    r->addr_busy = true;
    node_dirwork_submit(n->dir, j);
}

/* Where the directory saw us: a new host means the set may have changed. */
static void seen_note(struct node_reach *r, const char *seen_from)
{
    char host[NODE_REACH_HOST_MAX];

    if (seen_from[0] == '\0')
        return;
    (void)node_reach_seen_host(seen_from, host);
    if (strcmp(host, r->seen_host) != 0) {
        memcpy(r->seen_host, host, sizeof(host));
        r->next_scan_ms = 0;
    }
}

static void addresses_done(struct node *n, struct node_reach *r, const struct dir_job *j)
{
    uint64_t now = sotto_now_ms(n->env);
    char list[CARD_ADDRS_MAX * (CARD_ADDR_MAX + 2)] = "";
    size_t used = 0;

    r->addr_busy = false;
    if (j->rc != SOTTO_OK) {
        log_warn(n->env->log, "cannot publish our addresses on the directory: %s", j->detail);
        r->published = false;
        r->next_publish_ms = now + PUBLISH_RETRY_MS;
        return;
    }
    r->published = true;
    r->n_pub = j->n_addrs;
    memcpy(r->pub, j->addrs, sizeof(r->pub));
    r->next_publish_ms = now + PUBLISH_MS;
    for (size_t i = 0; i < j->n_addrs && used < sizeof(list); i++) {
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? " " : "", j->addrs[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    log_info(n->env->log, "published %zu address(es) on the directory: %s", j->n_addrs, list);
}

/* ---- one-time prekeys ---- */

/* One fewer in the profile than at the last look: a session was started with one of ours. */
static void prekeys_notice_use(struct node *n, struct node_reach *r)
{
    unsigned one_time = 0, signed_ = 0;

    if (store_prekey_counts(n->p.profile, &one_time, &signed_) != SOTTO_OK)
        return;
    if (r->pk_counted && one_time < r->pk_stored && r->pk_last_ms + PREKEYS_GAP_MS < r->pk_next_ms)
        r->pk_next_ms = r->pk_last_ms + PREKEYS_GAP_MS;
    r->pk_stored = one_time;
    r->pk_counted = true;
}

static void prekeys_submit(struct node *n, struct node_reach *r, uint64_t now)
{
    struct store_prekey_pub *pub = calloc(NET_PREKEYS_MAX, sizeof(*pub));
    struct dir_job *j = calloc(1, sizeof(*j));
    enum sotto_err rc = pub != NULL && j != NULL ? SOTTO_OK : SOTTO_ENOMEM;

    /* no transaction is open: what is pending is committed */
    if (rc == SOTTO_OK)
        rc = store_prekeys_public(n->p.profile, true, pub, NET_PREKEYS_MAX, &j->n_prekeys);
    if (rc != SOTTO_OK) {
        log_warn(n->env->log, "cannot read our one-time prekeys: %s", sotto_strerror(rc));
        r->pk_next_ms = now + PREKEYS_RETRY_MS;
        free(pub);
        free(j);
        return;
    }
    for (size_t i = 0; i < j->n_prekeys; i++) {
        j->prekeys[i].id = pub[i].id;
        memcpy(j->prekeys[i].key, pub[i].key, E2E_KEY_LEN);
    }
    free(pub);
    j->kind = DIR_JOB_PREKEYS;
    j->number = n->self.number;
    r->pk_busy = true;
    r->pk_upload = false;
    r->pk_last_ms = now;
    r->pk_next_ms = now + PREKEYS_CHECK_MS;
    node_dirwork_submit(n->dir, j);
}

static void prekeys_tick(struct node *n, struct node_reach *r, uint64_t now)
{
    prekeys_notice_use(n, r);
    if (r->pk_busy || n->tx_open || (!r->pk_upload && now < r->pk_next_ms))
        return;
    prekeys_submit(n, r, now);
}

/* The directory holds `left`: make what brings it back to the target, in the turn's
 * transaction; they go up on a later turn, once committed. */
static void prekeys_make(struct node *n, struct node_reach *r, unsigned left)
{
    unsigned want = NET_PREKEYS_TARGET - left;
    uint32_t first = 0;
    enum sotto_err rc = node_tx(n);

    if (rc == SOTTO_OK)
        rc = store_prekeys_add(n->p.profile, n->p.e2e, want, &first);
    if (rc != SOTTO_OK) {
        log_warn(n->env->log, "cannot make new one-time prekeys: %s", sotto_strerror(rc));
        r->pk_next_ms = sotto_now_ms(n->env) + PREKEYS_RETRY_MS;
        return;
    }
    log_info(n->env->log,
             "made %u one-time prekeys (ids from %u) for the directory, which holds %u", want,
             (unsigned)first, left);
    r->pk_upload = true;
}

static void prekeys_done(struct node *n, struct node_reach *r, const struct dir_job *j)
{
    uint32_t ids[NET_PREKEYS_MAX];
    enum sotto_err rc;

    r->pk_busy = false;
    if (j->rc != SOTTO_OK) {
        /* what was not given stays pending and goes with the next check */
        log_warn(n->env->log, "cannot check our one-time prekeys on the directory: %s", j->detail);
        r->pk_next_ms = sotto_now_ms(n->env) + PREKEYS_RETRY_MS;
        return;
    }
    if (j->n_prekeys > 0) {
        for (size_t i = 0; i < j->n_prekeys; i++)
            ids[i] = j->prekeys[i].id;
        rc = node_tx(n);
        if (rc == SOTTO_OK)
            rc = store_prekeys_mark_uploaded(n->p.profile, ids, j->n_prekeys, sotto_now_ms(n->env));
        if (rc != SOTTO_OK)
            log_warn(n->env->log, "cannot mark one-time prekeys uploaded (%s): given again later",
                     sotto_strerror(rc));
        log_info(n->env->log, "gave the directory %zu one-time prekeys: it holds %u", j->n_prekeys,
                 j->prekeys_left);
    } else {
        log_info(n->env->log, "the directory holds %u of our one-time prekeys", j->prekeys_left);
    }
    if (j->n_prekeys == NET_PREKEYS_MAX)
        r->pk_upload = true; /* more may be pending: the next turn gives them and counts */
    else if (j->prekeys_left < NET_PREKEYS_LOW)
        prekeys_make(n, r, j->prekeys_left);
}

/* ---- the node's side ---- */

enum sotto_err node_reach_start(struct node *n)
{
    n->reach = calloc(1, sizeof(*n->reach));
    return n->reach != NULL ? SOTTO_OK : SOTTO_ENOMEM;
}

void node_reach_free(struct node *n)
{
    free(n->reach);
    n->reach = NULL;
}

void node_reach_tick(struct node *n)
{
    uint64_t now = sotto_now_ms(n->env);

    if (n->reach == NULL || n->dir == NULL)
        return;
    /* addresses first: at start, others may be looking for us already */
    addresses_tick(n, n->reach, now);
    prekeys_tick(n, n->reach, now);
}

void node_reach_done(struct node *n, const struct dir_job *j)
{
    if (n->reach == NULL)
        return;
    seen_note(n->reach, j->seen_from);
    if (j->kind == DIR_JOB_PREKEYS)
        prekeys_done(n, n->reach, j);
    else if (j->kind == DIR_JOB_ADDRESSES)
        addresses_done(n, n->reach, j);
}
