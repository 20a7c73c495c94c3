/* tests/unit/session/test_migrate.c: a profile made at schema 2 opens as schema 3 with its
 * contacts and prekeys kept, and can then hold sessions and messages. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "session_test.h"

TestSuite(migrate, .init = sess_fx_init, .fini = sess_fx_fini);

static void raw_exec(const char *home, const char *sql)
{
    char path[PROFILE_PATH_MAX + 16];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/%s", home, PROFILE_DB_NAME);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

/* Turns Alice's profile back into what schema 2 made. */
static void back_to_schema_2(void)
{
    peer_close(&sx.alice);
    raw_exec(sx.alice.home, "DROP TABLE outbox; DROP TABLE received; DROP TABLE messages;"
                            "DROP TABLE contact_holds; DROP TABLE sender_keys;"
                            "DROP TABLE sessions; DELETE FROM sqlite_sequence;"
                            "PRAGMA user_version = 2;");
}

Test(migrate, a_schema_2_profile_opens_as_the_current_schema_with_its_contacts)
{
    struct store_contact found[STORE_MATCH_MAX];
    struct sess_msg m;
    size_t n = 0;
    char got[64];

    back_to_schema_2();
    peer_open(&sx.alice);
    cr_assert_eq(db_int(&sx.alice, "PRAGMA user_version"), PROFILE_SCHEMA_VERSION);
    cr_assert_eq(PROFILE_SCHEMA_VERSION, 4);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                   "'messages_unread'"),
                 1, "schema 4's index");
    cr_assert_eq(store_contact_find(sx.alice.p, "Bob", found, &n), SOTTO_OK);
    cr_assert_eq(n, 1, "the contact survived the migration");
    cr_assert_eq(found[0].id, sx.alice.other);
    cr_assert_arr_eq(found[0].key, sx.bob.self.key, E2E_KEY_LEN);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM prekeys"), SESS_PREKEYS);
    cr_assert_eq(db_int(&sx.alice, "SELECT count(*) FROM sessions"), 0);
    session_build(&sx.alice, &sx.bob, true);
    send_text(&sx.alice, &sx.bob, "after the migration", &m);
    cr_assert_eq(recv_text(&sx.bob, &sx.alice, NULL, &m, got, sizeof(got)), SOTTO_OK);
    cr_assert_str_eq(got, "after the migration");
    sess_done();
}

Test(migrate, the_new_tables_are_strict)
{
    static const char *const tables[] = {"sessions", "sender_keys", "contact_holds",
                                         "messages", "received",    "outbox"};
    char sql[160];

    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql), "SELECT strict FROM pragma_table_list WHERE name = '%s'",
                 tables[i]);
        cr_assert_eq(db_int(&sx.alice, sql), 1, "%s is STRICT", tables[i]);
    }
    sess_done();
}
