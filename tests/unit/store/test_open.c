/* tests/unit/store/test_open.c: opening checks a profile before touching it, tells apart the
 * ways it can be wrong, and changes nothing on disk when it refuses. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store/store_int.h"
#include "store_test.h"

TestSuite(store_open, .init = store_fx_init, .fini = store_fx_fini);

/* Opens fx.home expecting `want`, and checks that the refusal changed no byte on disk. */
static void open_refused(enum sotto_err want, const char *what)
{
    struct store_profile *p = (struct store_profile *)&p;
    uint8_t before[32];
    enum sotto_err rc;

    dir_digest(fx.home, before);
    rc = store_profile_open(&p, &fx.env, fx.home);
    cr_assert_eq(rc, want, "%s: %s, not %s", what, sotto_errname(rc), sotto_errname(want));
    cr_assert_null(p, "%s: no half-open profile is handed out", what);
    assert_dir_same(fx.home, before, what);
}

Test(store_open, leaves_no_wal_files_after_close)
{
    char path[PROFILE_PATH_MAX];
    uint8_t before[32];

    store_fx_create(NULL);
    dir_digest(fx.home, before);
    store_profile_close(store_fx_open());
    assert_dir_same(fx.home, before, "an open and a close");
    path_of(path, fx.home, PROFILE_DB_NAME "-wal");
    cr_assert_not(path_exists(path));
}

Test(store_open, says_enoent_for_a_missing_profile)
{
    char path[PROFILE_PATH_MAX];

    open_refused(SOTTO_ENOENT, "no directory");
    cr_assert_not(path_exists(fx.home), "open creates nothing");
    cr_assert_eq(mkdir(fx.home, 0700), 0);
    open_refused(SOTTO_ENOENT, "no database");
    path_of(path, fx.home, PROFILE_DB_NAME);
    cr_assert_not(path_exists(path));
}

Test(store_open, refuses_a_directory_open_to_others)
{
    store_fx_create(NULL);
    cr_assert_eq(chmod(fx.home, 0755), 0);
    open_refused(SOTTO_EPERM, "directory 0755");
    cr_assert_eq(chmod(fx.home, 0710), 0);
    open_refused(SOTTO_EPERM, "directory 0710");
}

Test(store_open, refuses_a_database_open_to_others)
{
    char path[PROFILE_PATH_MAX];

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DB_NAME);
    cr_assert_eq(chmod(path, 0644), 0);
    open_refused(SOTTO_EPERM, "database 0644");
    cr_assert_eq(chmod(path, 0620), 0);
    open_refused(SOTTO_EPERM, "database 0620");
}

Test(store_open, refuses_a_data_key_file_open_to_others)
{
    char path[PROFILE_PATH_MAX];

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DATAKEY_NAME);
    cr_assert_eq(chmod(path, 0644), 0);
    open_refused(SOTTO_EPERM, "datakey 0644");
}

Test(store_open, refuses_a_wal_file_open_to_others)
{
    char path[PROFILE_PATH_MAX];

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DB_NAME "-wal");
    file_put(path, "", 0, 0644);
    open_refused(SOTTO_EPERM, "-wal 0644");
}

Test(store_open, refuses_a_database_that_is_a_symlink)
{
    char path[PROFILE_PATH_MAX], moved[PROFILE_PATH_MAX];

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DB_NAME);
    path_of(moved, fx.root, "elsewhere.db");
    cr_assert_eq(rename(path, moved), 0);
    cr_assert_eq(symlink(moved, path), 0);
    open_refused(SOTTO_EPERM, "symlinked database");
}

Test(store_open, says_a_text_file_is_not_a_profile)
{
    static const char text[] = "just some notes, long enough to be more than a header line.\n"
                               "SQLite would want 'SQLite format 3' at the start of this.\n";
    char path[PROFILE_PATH_MAX];

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DB_NAME);
    file_put(path, text, sizeof(text) - 1, 0600);
    open_refused(SOTTO_ENOTPROFILE, "a text file");
}

Test(store_open, says_another_sqlite_database_is_not_a_profile)
{
    char path[PROFILE_PATH_MAX];
    sqlite3 *db;

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DB_NAME);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "CREATE TABLE notes(x); INSERT INTO notes VALUES('hi')", NULL,
                              NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
    cr_assert_eq(chmod(path, 0600), 0);
    open_refused(SOTTO_ENOTPROFILE, "application_id 0");
    cr_assert_eq(raw_int(fx.home, "PRAGMA application_id"), 0);
}

Test(store_open, says_a_damaged_database_is_corrupt)
{
    char path[PROFILE_PATH_MAX];
    long size;

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DB_NAME);
    size = file_size(path);
    cr_assert_geq(size, 8 * 4096, "a database of a few pages");
    /* two whole pages from the middle: whatever b-tree pages they were, they are gone */
    file_poke(path, size / 2 / 4096 * 4096, 0xa5, 4096);
    file_poke(path, size / 2 / 4096 * 4096 + 4096, 0x00, 4096);
    open_refused(SOTTO_ECORRUPT, "overwritten pages");
}

Test(store_open, says_a_profile_from_a_newer_sotto_is_newer)
{
    store_fx_create(NULL);
    raw_exec(fx.home, "PRAGMA user_version = 99");
    open_refused(SOTTO_ENEWER, "user_version 99");
}

/* Creation writes our application id in the transaction that writes the identity, after the
 * schema: a file with our id and schema 0 was not made by Sotto, and migrating it would make a
 * profile without an identity. */
Test(store_open, says_our_id_with_schema_zero_is_not_a_profile)
{
    char path[PROFILE_PATH_MAX];
    sqlite3 *db;

    cr_assert_eq(mkdir(fx.home, 0700), 0);
    path_of(path, fx.home, PROFILE_DB_NAME);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA application_id = 1399813236", NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
    cr_assert_eq(chmod(path, 0600), 0);
    cr_assert_eq(raw_int(fx.home, "PRAGMA application_id"), PROFILE_APPLICATION_ID);
    open_refused(SOTTO_ENOTPROFILE, "schema 0");
    cr_assert_eq(raw_int(fx.home, "SELECT count(*) FROM sqlite_schema"), 0, "nothing migrated");
}

Test(store_open, says_a_profile_without_its_keyring_is_corrupt)
{
    store_fx_create(NULL);
    raw_exec(fx.home, "DELETE FROM keyring");
    open_refused(SOTTO_ECORRUPT, "no keyring row");
}

Test(store_open, migrates_step_by_step_and_keeps_a_failed_step_out)
{
    static const char *const good[] = {NULL, NULL, "CREATE TABLE t2(x)", "CREATE TABLE t3(x)"};
    static const char *const bad[] = {NULL, NULL, NULL, NULL,
                                      "CREATE TABLE t4(x); INSERT INTO missing VALUES(1)"};
    struct store_profile *p;

    store_fx_create(NULL);
    p = store_fx_open();
    cr_assert_eq(store_db_migrate(p, good, 1, 3), SOTTO_OK);
    cr_assert_eq(store_db_migrate(p, bad, 3, 4), SOTTO_EDB);
    store_profile_close(p);
    cr_assert_eq(raw_int(fx.home, "PRAGMA user_version"), 3);
    cr_assert_eq(raw_int(fx.home, "SELECT count(*) FROM sqlite_schema WHERE name = 't3'"), 1);
    cr_assert_eq(raw_int(fx.home, "SELECT count(*) FROM sqlite_schema WHERE name = 't4'"), 0,
                 "the failed migration rolled back with its version bump");
}

/* The node's checkpoints: none on a commit's way (SQLite's own would come at 1,000 pages) until
 * the owner asks while idle, or the log passes the cap. */
Test(store_open, manual_checkpoints_leave_commits_alone_until_asked_or_past_the_cap)
{
    struct store_profile *p;

    store_fx_create(NULL);
    p = store_fx_open();
    store_profile_manual_checkpoints(p, 100000);
    cr_assert_eq(store_db_exec(p, "CREATE TABLE t (x BLOB)"), SOTTO_OK);
    for (int i = 0; i < 1200; i++)
        cr_assert_eq(store_db_exec(p, "INSERT INTO t VALUES (zeroblob(100))"), SOTTO_OK);
    cr_assert_geq(p->wal_frames, 1200, "no checkpoint yet: %d pages in the log", p->wal_frames);
    cr_assert_eq(store_checkpoint(p), SOTTO_OK);
    cr_assert_eq(store_db_exec(p, "INSERT INTO t VALUES (zeroblob(100))"), SOTTO_OK);
    cr_assert_leq(p->wal_frames, 4, "the log starts over after the checkpoint: %d", p->wal_frames);
    store_profile_manual_checkpoints(p, 50);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(store_db_exec(p, "INSERT INTO t VALUES (zeroblob(100))"), SOTTO_OK);
    cr_assert_leq(p->wal_frames, 60, "past the cap a commit checkpoints: %d", p->wal_frames);
    store_profile_close(p);
}
