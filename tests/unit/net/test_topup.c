/* tests/unit/net/test_topup.c: the prekey top-up learns the directory's count from a PUT, makes
 * and stores new prekeys only when it runs low, uploads them, and finishes an upload that was
 * cut short before making more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "net_test.h"
#include "store/profile.h"

static char root[64], home[128];
static struct store_profile *prof;
static uint8_t priv[E2E_PRIV_LEN];
static struct net_identity id;

static void topup_init(void)
{
    struct store_create_params params = {
            .name = "Alice",
            .n_prekeys = 5,
            .kdf = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN}};
    struct store_self self;

    net_fx_init();
    snprintf(root, sizeof(root), "/tmp/sotto-net-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(home, sizeof(home), "%s/p", root);
    params.home = home;
    cr_assert_eq(store_profile_create(&nfx.env, nfx.e2e, &params), SOTTO_OK);
    cr_assert_eq(store_profile_open(&prof, &nfx.env, home), SOTTO_OK);
    cr_assert_eq(store_profile_unlock(prof, NULL, 0), SOTTO_OK);
    cr_assert_eq(store_self_get(prof, &self), SOTTO_OK);
    cr_assert_eq(store_self_private_key(prof, nfx.e2e, priv), SOTTO_OK);
    id = (struct net_identity){.e2e = nfx.e2e, .priv = priv, .number = self.number};
}

static void topup_fini(void)
{
    char cmd[256];

    sodium_memzero(priv, sizeof(priv));
    store_profile_close(prof);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
    net_fx_fini();
}

TestSuite(net_topup, .init = topup_init, .fini = topup_fini, .timeout = 60);

static size_t pending(void)
{
    struct store_prekey_pub pk[256];
    size_t n = 0;

    cr_assert_eq(store_prekeys_public(prof, true, pk, 256, &n), SOTTO_OK);
    return n;
}

static size_t stored(void)
{
    struct store_prekey_pub pk[256];
    size_t n = 0;

    cr_assert_eq(store_prekeys_public(prof, false, pk, 256, &n), SOTTO_OK);
    return n;
}

static void all_uploaded(void)
{
    uint32_t ids[] = {1, 2, 3, 4, 5};

    cr_assert_eq(store_prekeys_mark_uploaded(prof, ids, 5, 1), SOTTO_OK);
}

static void serve_counts(const int *left, size_t n)
{
    char *r[FAKE_RESPONSES_MAX], body[64];

    for (size_t i = 0; i < n; i++) {
        snprintf(body, sizeof(body), "{\"prekeys_left\":%d,\"seen_from\":\"h:1\"}", left[i]);
        r[i] = fake_response(left[i] < 0 ? 503 : 200, "", left[i] < 0 ? "{}" : body);
    }
    fake_start(r, n);
}

static size_t body_prekeys(void)
{
    size_t len = 0;
    const char *text = fake_body(&len);
    json_t *o = json_loadb(text, len, 0, NULL);
    size_t n;

    cr_assert_not_null(o);
    n = json_array_size(json_object_get(o, "prekeys"));
    json_decref(o);
    return n;
}

Test(net_topup, a_directory_with_plenty_gets_only_what_it_was_not_given)
{
    static const int left[] = {50};
    struct net_topup up;
    struct net_dir *d;

    serve_counts(left, 1);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_prekeys_topup(d, prof, &id, -1, &up), SOTTO_OK);
    cr_assert_eq(up.uploaded, 5);
    cr_assert_eq(up.made, 0);
    cr_assert_eq(up.left_after, 50);
    cr_assert_eq(pending(), 0);
    cr_assert_eq(body_prekeys(), 5);
    net_dir_free(d);
}

Test(net_topup, a_known_count_with_nothing_pending_sends_nothing)
{
    static const int left[] = {50};
    struct net_topup up;
    struct net_dir *d;

    all_uploaded();
    serve_counts(left, 1);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_prekeys_topup(d, prof, &id, 30, &up), SOTTO_OK);
    cr_assert_eq(up.left_after, 30);
    cr_assert_eq(nfx.srv.n_handshakes, 0);
    net_dir_free(d);
}

Test(net_topup, running_low_makes_stores_and_uploads_up_to_the_target)
{
    static const int left[] = {3, NET_PREKEYS_TARGET};
    struct net_topup up;
    struct net_dir *d;

    all_uploaded();
    serve_counts(left, 2);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_prekeys_topup(d, prof, &id, -1, &up), SOTTO_OK);
    cr_assert_eq(up.left_before, 3);
    cr_assert_eq(up.made, NET_PREKEYS_TARGET - 3);
    cr_assert_eq(up.uploaded, NET_PREKEYS_TARGET - 3);
    cr_assert_eq(up.left_after, NET_PREKEYS_TARGET);
    cr_assert_eq(stored(), 5 + NET_PREKEYS_TARGET - 3);
    cr_assert_eq(pending(), 0);
    cr_assert_eq(body_prekeys(), NET_PREKEYS_TARGET - 3);
    cr_assert_eq(nfx.srv.n_requests, 2);
    net_dir_free(d);
}

Test(net_topup, an_upload_cut_short_is_finished_before_more_are_made)
{
    static const int fail[] = {3, -1}, ok[] = {NET_PREKEYS_TARGET};
    struct net_topup up;
    struct net_dir *d;

    all_uploaded();
    serve_counts(fail, 2);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_prekeys_topup(d, prof, &id, -1, &up), SOTTO_ENET);
    net_dir_free(d);
    cr_assert_eq(pending(), NET_PREKEYS_TARGET - 3, "made and kept, not yet given");
    fake_stop();
    serve_counts(ok, 1);
    d = fake_session(NULL, 5000);
    cr_assert_eq(net_prekeys_topup(d, prof, &id, -1, &up), SOTTO_OK);
    cr_assert_eq(up.uploaded, NET_PREKEYS_TARGET - 3);
    cr_assert_eq(up.made, 0);
    cr_assert_eq(pending(), 0);
    cr_assert_eq(stored(), 5 + NET_PREKEYS_TARGET - 3);
    net_dir_free(d);
}

Test(net_topup, a_writes_answer_tells_where_the_directory_saw_us_and_a_failure_forgets_it)
{
    char *r[3];
    struct net_dir *d;
    unsigned left = 0;

    r[0] = fake_response(200, "", "{\"prekeys_left\":7,\"seen_from\":\"203.0.113.9:40000\"}");
    r[1] = fake_response(200, "", "{\"seen_from\":\"[2001:db8::9]:1\"}");
    r[2] = fake_response(503, "", "{}");
    fake_start(r, 3);
    d = fake_session(NULL, 5000);
    cr_assert_str_eq(net_dir_seen_from(d), "");
    cr_assert_eq(net_dir_put_prekeys(d, &id, NULL, NULL, 0, &left), SOTTO_OK);
    cr_assert_eq(left, 7);
    cr_assert_str_eq(net_dir_seen_from(d), "203.0.113.9:40000");
    cr_assert_eq(net_dir_put_addresses(d, &id, NULL, 0), SOTTO_OK);
    cr_assert_str_eq(net_dir_seen_from(d), "[2001:db8::9]:1");
    cr_assert_eq(net_dir_put_addresses(d, &id, NULL, 0), SOTTO_ENET);
    cr_assert_str_eq(net_dir_seen_from(d), "");
    net_dir_free(d);
}
