/* tests/unit/directory/test_prekeys.c: bundles consume one-time prekeys exactly once, also
 * under concurrent takers in separate processes; top-ups replace by id and respect the cap. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dir_test.h"

#define TAKERS       6
#define PER_TAKER    60
#define TAKE_PREKEYS (TAKERS * PER_TAKER)

static void take(uint64_t number, bool take_prekey, struct dir_prekey *pk, bool *has,
                 unsigned *left)
{
    struct dir_account got;

    cr_assert_eq(dir_backend_take_bundle(fx.b, number, take_prekey, &got, pk, has, left), SOTTO_OK,
                 "%s", fx.logbuf);
    cr_assert_eq(got.number, number);
}

BOTH(prekeys, bundle_consumes_exactly_one_prekey_and_says_how_many_are_left)
{
    struct dir_account a, got;
    struct dir_prekey p[3], pk;
    bool has = false;
    unsigned left = 99;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 3, 10, 1);
    fx_register(&a, p, 3);
    cr_assert_eq(dir_backend_take_bundle(fx.b, a.number, true, &got, &pk, &has, &left), SOTTO_OK);
    fx_assert_same(&got, &a);
    cr_assert(has);
    cr_assert_eq(pk.id, 10);
    cr_assert_arr_eq(pk.key, p[0].key, E2E_KEY_LEN);
    cr_assert_eq(left, 2);
    cr_assert_eq(fx_count_prekeys(), 2);
    take(a.number, true, &pk, &has, &left);
    cr_assert(has && pk.id == 11 && left == 1);
    cr_assert_arr_eq(pk.key, p[1].key, E2E_KEY_LEN);
    take(a.number, true, &pk, &has, &left);
    cr_assert(has && pk.id == 12 && left == 0);
}

BOTH(prekeys, bundle_with_none_left_has_no_prekey_but_the_rest)
{
    struct dir_account a, got;
    struct dir_prekey p[1], pk;
    bool has = true;
    unsigned left = 99;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 1, 1, 1);
    fx_register(&a, p, 1);
    take(a.number, true, &pk, &has, &left);
    cr_assert(has);
    cr_assert_eq(dir_backend_take_bundle(fx.b, a.number, true, &got, &pk, &has, &left), SOTTO_OK);
    cr_assert_not(has);
    cr_assert_eq(left, 0);
    cr_assert_eq(pk.id, 0);
    fx_assert_same(&got, &a);
}

BOTH(prekeys, bundle_without_taking_consumes_nothing)
{
    struct dir_account a;
    struct dir_prekey p[3], pk;
    bool has = true;
    unsigned left = 0;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 3, 1, 1);
    fx_register(&a, p, 3);
    take(a.number, false, &pk, &has, &left);
    cr_assert_not(has);
    cr_assert_eq(left, 3);
    cr_assert_eq(fx_count_prekeys(), 3);
}

BOTH(prekeys, bundle_of_an_unknown_number_is_not_found)
{
    struct dir_account got;
    struct dir_prekey pk;
    bool has;
    unsigned left;

    cr_assert_eq(dir_backend_take_bundle(fx.b, NUMBER_MIN + 5, true, &got, &pk, &has, &left),
                 SOTTO_ENOENT);
}

BOTH(prekeys, takes_only_touch_the_account_asked_for)
{
    struct dir_account a, b;
    struct dir_prekey p[2], pk;
    bool has;
    unsigned left;

    fx_account(&a, 1, "alice");
    fx_account(&b, 2, "bob");
    fx_prekeys(p, 2, 1, 1);
    fx_register(&a, p, 2);
    fx_register(&b, p, 2);
    take(a.number, true, &pk, &has, &left);
    take(a.number, true, &pk, &has, &left);
    take(a.number, true, &pk, &has, &left);
    cr_assert_not(has);
    take(b.number, false, &pk, &has, &left);
    cr_assert_eq(left, 2);
}

/* ---- concurrency: separate processes, each with its own connection ---- */

/* Takes PER_TAKER prekeys: with as many takes in all as prekeys stored, every take must get
 * one, since a prekey a concurrent take holds is one that take gets. */
static void taker(uint64_t number, int go, int out)
{
    struct dir_backend *b = NULL;
    struct dir_account got;
    struct dir_prekey pk;
    bool has = true;
    unsigned left;
    char c;
    int status = 0;

    /* the parent's connection is never touched here: it belongs to the parent */
    if (read(go, &c, 1) < 0 || dir_backend_open(&b, &fx.env, fx.db) != SOTTO_OK)
        _exit(2);
    for (int i = 0; i < PER_TAKER && status == 0; i++) {
        if (dir_backend_take_bundle(b, number, true, &got, &pk, &has, &left) != SOTTO_OK)
            status = 3;
        else if (!has)
            status = 4;
        else if (write(out, &pk.id, sizeof(pk.id)) != sizeof(pk.id))
            status = 5;
    }
    dir_backend_close(b);
    _exit(status);
}

static size_t collect(int in, uint32_t *ids, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    uint32_t id;

    while ((r = read(in, &id, sizeof(id))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        cr_assert_eq(r, (ssize_t)sizeof(id));
        cr_assert_lt(n, cap, "more prekeys handed out than were stored");
        ids[n++] = id;
    }
    return n;
}

static void register_many(struct dir_account *a)
{
    struct dir_prekey p[DIR_PREKEYS_PER_REQUEST];
    unsigned left;

    fx_account(a, 1, "alice");
    fx_prekeys(p, DIR_PREKEYS_PER_REQUEST, 1, 1);
    fx_register(a, p, DIR_PREKEYS_PER_REQUEST);
    fx_prekeys(p, TAKE_PREKEYS - DIR_PREKEYS_PER_REQUEST, DIR_PREKEYS_PER_REQUEST + 1, 1);
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a->number, NULL, p,
                                         TAKE_PREKEYS - DIR_PREKEYS_PER_REQUEST, &left),
                 SOTTO_OK);
    cr_assert_eq(left, TAKE_PREKEYS);
}

BOTH(prekeys, concurrent_takers_get_every_prekey_exactly_once)
{
    struct dir_account a;
    uint32_t ids[TAKE_PREKEYS + 1];
    bool seen[TAKE_PREKEYS + 1] = {false};
    int go[2], out[2], status;
    pid_t pids[TAKERS];
    size_t n;

    register_many(&a);
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(out), 0);
    for (int i = 0; i < TAKERS; i++) {
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0) {
            close(go[1]);
            close(out[0]);
            taker(a.number, go[0], out[1]);
        }
    }
    close(go[0]);
    close(out[1]);
    close(go[1]); /* all start at once */
    n = collect(out[0], ids, TAKE_PREKEYS);
    close(out[0]);
    for (int i = 0; i < TAKERS; i++) {
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "taker %d: status %#x", i, status);
    }
    cr_assert_eq(n, TAKE_PREKEYS);
    for (size_t i = 0; i < n; i++) {
        cr_assert(ids[i] >= 1 && ids[i] <= TAKE_PREKEYS, "id %u", ids[i]);
        cr_assert_not(seen[ids[i]], "prekey %u handed out twice", ids[i]);
        seen[ids[i]] = true;
    }
    cr_assert_eq(fx_count_prekeys(), 0);
}

/* ---- top-ups ---- */

BOTH(prekeys, top_up_adds_and_replaces_by_id)
{
    struct dir_account a;
    struct dir_prekey p[3], q[2], pk;
    bool has;
    unsigned left = 0;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, 3, 1, 1);
    fx_register(&a, p, 3);
    fx_prekeys(q, 2, 3, 9); /* ids 3 (stored: replaced) and 4 (new) */
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a.number, NULL, q, 2, &left), SOTTO_OK);
    cr_assert_eq(left, 4);
    take(a.number, true, &pk, &has, &left);
    take(a.number, true, &pk, &has, &left);
    take(a.number, true, &pk, &has, &left);
    cr_assert_eq(pk.id, 3);
    cr_assert_arr_eq(pk.key, q[0].key, E2E_KEY_LEN);
    cr_assert_arr_neq(pk.key, p[2].key, E2E_KEY_LEN);
    take(a.number, true, &pk, &has, &left);
    cr_assert(has && pk.id == 4 && left == 0);
}

BOTH(prekeys, top_up_replaces_the_signed_prekey)
{
    struct dir_account a, got;
    struct dir_signed_prekey spk;
    unsigned left = 7;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    spk.id = 555;
    memset(spk.key, 0x42, sizeof(spk.key));
    memset(spk.sig, 0x24, sizeof(spk.sig));
    fx.fa.now_ms += 1000;
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a.number, &spk, NULL, 0, &left), SOTTO_OK);
    cr_assert_eq(left, 0);
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, a.number, &got), SOTTO_OK);
    cr_assert_eq(got.signed_prekey.id, 555);
    cr_assert_arr_eq(got.signed_prekey.key, spk.key, E2E_KEY_LEN);
    cr_assert_arr_eq(got.signed_prekey.sig, spk.sig, E2E_SIG_LEN);
    cr_assert_eq(got.updated_ms, fx.fa.now_ms);
}

BOTH(prekeys, top_up_past_the_cap_stores_nothing)
{
    struct dir_account a, got;
    struct dir_prekey p[DIR_PREKEYS_PER_REQUEST];
    struct dir_signed_prekey spk = {.id = 9};
    unsigned left = 0;

    fx_account(&a, 1, "alice");
    fx_prekeys(p, DIR_PREKEYS_PER_REQUEST, 1, 1);
    fx_register(&a, p, DIR_PREKEYS_PER_REQUEST);
    for (uint32_t first = 201; first < DIR_PREKEYS_STORED_MAX; first += DIR_PREKEYS_PER_REQUEST) {
        fx_prekeys(p, DIR_PREKEYS_PER_REQUEST, first, 1);
        cr_assert_eq(
                dir_backend_add_prekeys(fx.b, a.number, NULL, p, DIR_PREKEYS_PER_REQUEST, &left),
                SOTTO_OK);
    }
    cr_assert_eq(left, DIR_PREKEYS_STORED_MAX);
    /* one new id too many, with a new signed prekey: neither is kept */
    fx_prekeys(p, 2, DIR_PREKEYS_STORED_MAX, 2);
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a.number, &spk, p, 2, &left), SOTTO_ETOOBIG);
    cr_assert_eq(left, 0);
    cr_assert_eq(fx_count_prekeys(), DIR_PREKEYS_STORED_MAX);
    cr_assert_eq(dir_backend_lookup(fx.b, NULL, a.number, &got), SOTTO_OK);
    cr_assert_eq(got.signed_prekey.id, a.signed_prekey.id);
    /* replacing a stored id at the cap stores no more, so it is accepted */
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a.number, NULL, p, 1, &left), SOTTO_OK);
    cr_assert_eq(left, DIR_PREKEYS_STORED_MAX);
}

BOTH(prekeys, top_up_of_an_unknown_number_or_malformed_is_refused)
{
    struct dir_account a;
    struct dir_prekey p[2];
    unsigned left;

    fx_account(&a, 1, "alice");
    fx_register(&a, NULL, 0);
    fx_prekeys(p, 2, 1, 1);
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a.number + 1, NULL, p, 2, &left), SOTTO_ENOENT);
    cr_assert_eq(fx_count_prekeys(), 0);
    p[1].id = 1;
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a.number, NULL, p, 2, &left), SOTTO_EINVAL);
    p[1].id = 0x1000000;
    cr_assert_eq(dir_backend_add_prekeys(fx.b, a.number, NULL, p, 2, &left), SOTTO_EINVAL);
    cr_assert_eq(
            dir_backend_add_prekeys(fx.b, a.number, NULL, p, DIR_PREKEYS_PER_REQUEST + 1, &left),
            SOTTO_EINVAL);
    cr_assert_eq(fx_count_prekeys(), 0);
}
