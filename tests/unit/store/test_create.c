/* tests/unit/store/test_create.c: a new profile holds a whole identity, is private to the user,
 * and never lands on top of something that is already there. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "identity/number.h"
#include "store_test.h"

TestSuite(store_create, .init = store_fx_init, .fini = store_fx_fini);

Test(store_create, makes_a_profile_whose_identity_and_prekeys_read_back)
{
    struct store_create_params params = store_fx_params(NULL);
    struct store_self self;
    struct store_profile *p;
    unsigned one_time, signed_;

    params.n_prekeys = 0; /* the default pool */
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_OK);
    p = store_fx_open();
    cr_assert_eq(store_self_get(p, &self), SOTTO_OK);
    cr_assert_str_eq(self.name, "Alice");
    cr_assert_str_eq(self.username, "");
    cr_assert_eq(self.key[0], 0x05);
    cr_assert_eq(self.number, identity_number(self.key));
    cr_assert(self.registration_id >= 1 && self.registration_id <= 16380);
    cr_assert_eq(self.created_ms, fx.fa.now_ms);
    cr_assert_eq(self.n_addrs, 2);
    cr_assert_str_eq(self.addrs[0], "192.0.2.1:8766");
    cr_assert_str_eq(self.addrs[1], "alice.example:8766");
    cr_assert_eq(store_prekey_counts(p, &one_time, &signed_), SOTTO_OK);
    cr_assert_eq(one_time, PROFILE_PREKEYS_INITIAL);
    cr_assert_eq(signed_, 1);
    cr_assert_str_eq(store_profile_dir(p), fx.home);
    cr_assert_not(store_profile_has_passphrase(p));
    store_profile_close(p);
}

Test(store_create, makes_the_directory_0700_and_its_files_0600_with_nothing_left_beside)
{
    char path[PROFILE_PATH_MAX];

    store_fx_create(NULL);
    cr_assert_eq(path_mode(fx.home), 0700);
    path_of(path, fx.home, PROFILE_DB_NAME);
    cr_assert_eq(path_mode(path), 0600);
    path_of(path, fx.home, PROFILE_DATAKEY_NAME);
    cr_assert_eq(path_mode(path), 0600);
    cr_assert_eq(file_size(path), 32);
    path_of(path, fx.home, PROFILE_DB_NAME "-wal");
    cr_assert_not(path_exists(path), "the database was closed cleanly");
    path_of(path, fx.home, PROFILE_DB_NAME "-shm");
    cr_assert_not(path_exists(path));
    cr_assert_eq(raw_int(fx.home, "PRAGMA application_id"), PROFILE_APPLICATION_ID);
    cr_assert_eq(raw_int(fx.home, "PRAGMA user_version"), PROFILE_SCHEMA_VERSION);
    cr_assert_eq(dir_entries(fx.root), 1, "the temporary directory was renamed, not left");
}

Test(store_create, refuses_a_second_profile_in_the_same_place_and_keeps_the_first)
{
    struct store_create_params params = store_fx_params(NULL);
    uint8_t before[32];
    struct store_self a, b;
    struct store_profile *p;

    store_fx_create(NULL);
    p = store_fx_open();
    cr_assert_eq(store_self_get(p, &a), SOTTO_OK);
    store_profile_close(p);
    dir_digest(fx.home, before);
    params.name = "Mallory";
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EEXIST);
    assert_dir_same(fx.home, before, "a refused create");
    p = store_fx_open();
    cr_assert_eq(store_self_get(p, &b), SOTTO_OK);
    store_profile_close(p);
    cr_assert_str_eq(b.name, "Alice");
    cr_assert(memcmp(a.key, b.key, E2E_KEY_LEN) == 0);
}

Test(store_create, fills_an_existing_empty_directory_and_makes_it_private)
{
    struct store_profile *p;

    cr_assert_eq(mkdir(fx.home, 0755), 0);
    store_fx_create(NULL);
    cr_assert_eq(path_mode(fx.home), 0700);
    cr_assert_eq(dir_entries(fx.root), 1);
    p = store_fx_open();
    store_profile_close(p);
}

Test(store_create, refuses_a_directory_that_holds_anything)
{
    struct store_create_params params = store_fx_params(NULL);
    char path[PROFILE_PATH_MAX], db[PROFILE_PATH_MAX];

    cr_assert_eq(mkdir(fx.home, 0700), 0);
    path_of(path, fx.home, "notes.txt");
    file_put(path, "mine", 4, 0600);
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EEXIST);
    cr_assert_eq(dir_entries(fx.home), 1);
    cr_assert_eq(dir_entries(fx.root), 1);
    path_of(db, fx.home, PROFILE_DB_NAME);
    cr_assert_not(path_exists(db));
    cr_assert(path_exists(path));
}

Test(store_create, refuses_a_path_that_is_a_file)
{
    struct store_create_params params = store_fx_params(NULL);

    file_put(fx.home, "x", 1, 0600);
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EEXIST);
}

Test(store_create, makes_missing_parent_directories_private)
{
    struct store_create_params params = store_fx_params(NULL);
    char home[PROFILE_PATH_MAX], parent[PROFILE_PATH_MAX];
    struct store_profile *p = NULL;

    path_of(parent, fx.root, "a");
    path_of(home, parent, "b/sotto/");
    params.home = home;
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_OK);
    cr_assert_eq(path_mode(parent), 0700);
    cr_assert_eq(store_profile_open(&p, &fx.env, home), SOTTO_OK);
    store_profile_close(p);
}

Test(store_create, refuses_bad_names_and_addresses_and_leaves_nothing)
{
    static const char *const bad_addr[] = {"no port here"};
    struct store_create_params params = store_fx_params(NULL);

    params.name = "Eve\n";
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EINVAL);
    params.name = "";
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EINVAL);
    params = store_fx_params(NULL);
    params.addrs = bad_addr;
    params.n_addrs = 1;
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EINVAL);
    params = store_fx_params(NULL);
    params.n_addrs = CARD_ADDRS_MAX + 1;
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EINVAL);
    params = store_fx_params("");
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EINVAL,
                 "an empty passphrase is refused: NULL means none");
    cr_assert_not(path_exists(fx.home));
}

Test(store_create, resolves_the_home_from_the_environment_in_order)
{
    char out[PROFILE_PATH_MAX];

    setenv("SOTTO_HOME", "/srv/sotto", 1);
    setenv("XDG_DATA_HOME", "/home/u/.data", 1);
    setenv("HOME", "/home/u", 1);
    cr_assert_eq(store_profile_home(out), SOTTO_OK);
    cr_assert_str_eq(out, "/srv/sotto");
    unsetenv("SOTTO_HOME");
    cr_assert_eq(store_profile_home(out), SOTTO_OK);
    cr_assert_str_eq(out, "/home/u/.data/sotto");
    setenv("XDG_DATA_HOME", "relative", 1);
    cr_assert_eq(store_profile_home(out), SOTTO_OK);
    cr_assert_str_eq(out, "/home/u/.local/share/sotto", "a relative XDG_DATA_HOME is ignored");
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    cr_assert_eq(store_profile_home(out), SOTTO_EINVAL);
}

Test(store_create, that_fails_midway_leaves_nothing_behind)
{
    struct store_create_params params = store_fx_params(NULL);
    enum sotto_err rc = SOTTO_ENOMEM;
    unsigned long n;

    for (n = 1; rc != SOTTO_OK && n < 1000; n++) {
        fx.fa.calls = 0;
        fx.fa.failed = 0;
        fx.fa.fail_at = n;
        rc = store_profile_create(&fx.env, fx.e2e, &params);
        if (fx.fa.failed == 0)
            break;
        cr_assert_eq(rc, SOTTO_ENOMEM, "allocation %lu: %s", n, sotto_errname(rc));
        cr_assert_eq(dir_entries(fx.root), 0, "allocation %lu left a directory", n);
        cr_assert_eq(fx.fa.live, 0, "allocation %lu leaked", n);
    }
    cr_assert_eq(rc, SOTTO_OK);
    cr_assert_gt(n, 3, "the creation allocates through the env");
    fx.fa.fail_at = 0;
    store_profile_close(store_fx_open());
}
