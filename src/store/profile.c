/* src/store/profile.c: the profile directory and its SQLite database: the schema and its
 * migrations, creation beside the target and rename into place, and the checks made before
 * opening. The SQLite helpers are in db.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sotto/env.h"
#include "sotto/log.h"
#include "store/store_int.h"
#include "util/file.h"
#include "util/secret.h"

/* The schema. Migration i brings user_version i - 1 to i, in one transaction with the bump;
 * index 0 is unused. Later versions append here and raise PROFILE_SCHEMA_VERSION. Migrations
 * never hold BEGIN or COMMIT, and never touch application_id.
 *
 * Schema 1. Sealed columns (see seal.c) are bound to "<table>:<rowid>": identity.private_key,
 * signed_prekeys.record and prekeys.record (the library's serialized records, which hold the
 * private keys), and keyring.wrapped ("keyring:1"). contacts.key_added_ms is an addition to
 * the design's list: it is when the current key was first seen, and becomes
 * contact_keys.first_seen_ms when that key is replaced. contacts.addresses is a JSON array of
 * strings written with jansson. contacts.username is a username the directory confirmed (unique,
 * and what store_contact_find matches); contacts.claimed_username is what the contact's card
 * says, an unconfirmed claim that anyone can make, hence neither unique nor indexed nor ever
 * matched (DESIGN.md, Trust). Tables are STRICT so that a value of the wrong type is refused
 * rather than stored. */
static const char *const migrations[PROFILE_SCHEMA_VERSION + 1] = {
        [1] = "CREATE TABLE identity (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL,"
              " username TEXT, public_key BLOB NOT NULL CHECK (length(public_key) = 33),"
              " private_key BLOB NOT NULL, registration_id INTEGER NOT NULL,"
              " number INTEGER NOT NULL, created_ms INTEGER NOT NULL) STRICT;"
              "CREATE TABLE keyring (id INTEGER PRIMARY KEY CHECK (id = 1),"
              " kind TEXT NOT NULL CHECK (kind IN ('passphrase', 'file')),"
              " salt BLOB, opslimit INTEGER, memlimit INTEGER, wrapped BLOB NOT NULL) STRICT;"
              "CREATE TABLE signed_prekeys (id INTEGER PRIMARY KEY, public_key BLOB NOT NULL,"
              " signature BLOB NOT NULL, record BLOB NOT NULL, created_ms INTEGER NOT NULL)"
              " STRICT;"
              "CREATE TABLE prekeys (id INTEGER PRIMARY KEY, public_key BLOB NOT NULL,"
              " record BLOB NOT NULL) STRICT;"
              "CREATE TABLE self_addresses (pos INTEGER PRIMARY KEY, address TEXT NOT NULL)"
              " STRICT;"
              "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
              " username TEXT UNIQUE, claimed_username TEXT, number INTEGER NOT NULL UNIQUE,"
              " public_key BLOB NOT NULL UNIQUE, verified INTEGER NOT NULL DEFAULT 0,"
              " addresses TEXT NOT NULL DEFAULT '[]', key_added_ms INTEGER NOT NULL,"
              " added_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL) STRICT;"
              "CREATE INDEX contacts_name ON contacts(name);"
              "CREATE TABLE contact_keys (id INTEGER PRIMARY KEY,"
              " contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
              " public_key BLOB NOT NULL, number INTEGER NOT NULL,"
              " first_seen_ms INTEGER NOT NULL, replaced_ms INTEGER NOT NULL) STRICT;"
              "CREATE INDEX contact_keys_contact ON contact_keys(contact_id);",
        /* Schema 2 (issue 4, directory.c): the directory the profile uses, with the pin of its
         * certificate (lowercase hex SHA-256 of its SubjectPublicKeyInfo) and, once registered,
         * the username it holds there; prekeys.uploaded_ms marks the one-time prekeys the
         * directory was given (NULL: not yet); prekey_state.next_id is the id of the next
         * one-time prekey to make, so that an id is never reused once its prekey was consumed
         * and deleted (no row yet: one past the highest stored id). */
        [2] = "CREATE TABLE directory (id INTEGER PRIMARY KEY CHECK (id = 1), url TEXT NOT NULL,"
              " pin TEXT NOT NULL CHECK (length(pin) = 64), username TEXT,"
              " registered_ms INTEGER) STRICT;"
              "ALTER TABLE prekeys ADD COLUMN uploaded_ms INTEGER;"
              "CREATE TABLE prekey_state (id INTEGER PRIMARY KEY CHECK (id = 1),"
              " next_id INTEGER NOT NULL) STRICT;",
        /* Schema 3 (signal_store.c, messages.c): Signal sessions by address (the lowercase hex
         * of the peer's 33-byte key) and device id, and sender-key records, both sealed under
         * "<table>:<rowid>" like the private keys; there is no table of remote identities, as
         * trust is the contacts' (a session's identity is the key its address spells).
         * contact_holds: a verified contact whose key changed is held (nothing is sent to it)
         * while it is verified and the row's key differs from its own. messages: both
         * directions; body sealed under "messages:<rowid>" (AUTOINCREMENT, so that a row id, and
         * with it an AD, is never reused); state 0 incoming, 1 waiting, 2 encrypted,
         * 3 delivered, 4 failed (fail_reason: the sotto_errname of why). received: the (peer key,
         * message id) pairs committed, for duplicates, kept when the message row goes. outbox:
         * what is still to deliver to a peer; seq, kind (enum e2e_kind: the MESSAGE frame's kind
         * byte) and ciphertext are set together when it is encrypted, seq numbering each peer's
         * entries in encryption order. */
        [3] = "CREATE TABLE sessions (id INTEGER PRIMARY KEY,"
              " address TEXT NOT NULL CHECK (length(address) = 66), device_id INTEGER NOT NULL,"
              " record BLOB NOT NULL, updated_ms INTEGER NOT NULL, UNIQUE (address, device_id))"
              " STRICT;"
              "CREATE TABLE sender_keys (id INTEGER PRIMARY KEY, group_id BLOB NOT NULL,"
              " sender TEXT NOT NULL, device_id INTEGER NOT NULL, record BLOB NOT NULL,"
              " updated_ms INTEGER NOT NULL, UNIQUE (group_id, sender, device_id)) STRICT;"
              "CREATE TABLE contact_holds (contact_id INTEGER PRIMARY KEY"
              " REFERENCES contacts(id) ON DELETE CASCADE,"
              " public_key BLOB NOT NULL CHECK (length(public_key) = 33),"
              " held_ms INTEGER NOT NULL) STRICT;"
              "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,"
              " contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
              " direction INTEGER NOT NULL CHECK (direction IN (0, 1)),"
              " msg_id BLOB NOT NULL CHECK (length(msg_id) = 16), type INTEGER NOT NULL,"
              " sent_ms INTEGER NOT NULL, stored_ms INTEGER NOT NULL, body BLOB NOT NULL,"
              " state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4), fail_reason TEXT,"
              " read INTEGER NOT NULL DEFAULT 0, CHECK ((direction = 0) = (state = 0))) STRICT;"
              "CREATE INDEX messages_history ON messages(contact_id, stored_ms, id);"
              "CREATE UNIQUE INDEX messages_sent ON messages(msg_id) WHERE direction = 1;"
              "CREATE TABLE received (peer_key BLOB NOT NULL CHECK (length(peer_key) = 33),"
              " msg_id BLOB NOT NULL CHECK (length(msg_id) = 16),"
              " message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,"
              " received_ms INTEGER NOT NULL, PRIMARY KEY (peer_key, msg_id)) STRICT,"
              " WITHOUT ROWID;"
              "CREATE INDEX received_message ON received(message_id);"
              "CREATE TABLE outbox (id INTEGER PRIMARY KEY,"
              " message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
              " peer_key BLOB NOT NULL CHECK (length(peer_key) = 33), seq INTEGER,"
              " kind INTEGER CHECK (kind IN (1, 2)), ciphertext BLOB,"
              " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL,"
              " created_ms INTEGER NOT NULL, UNIQUE (message_id, peer_key),"
              " CHECK ((seq IS NULL) = (ciphertext IS NULL) AND"
              " (kind IS NULL) = (ciphertext IS NULL))) STRICT;"
              "CREATE INDEX outbox_peer ON outbox(peer_key, seq);"
              "CREATE INDEX outbox_due ON outbox(next_ms);",
        /* 4: the unread messages of a contact found without reading the whole conversation (a
         * read mark, after every message the chat shows) */
        [4] = "CREATE INDEX messages_unread ON messages(contact_id, id)"
              " WHERE direction = 0 AND read = 0 AND type = 1;",
};

#define PREKEY_ID_MAX 0xfffffe /* the library's ids are 24-bit and skip 0 */
#define SUFFIX_ROOM   32       /* room left in a path for "/profile.db-journal", ".init-XXXXXX" */

/* ---- paths ---- */

static enum sotto_err path_join(char out[static PROFILE_PATH_MAX], const char *dir,
                                const char *name)
{
    int n = snprintf(out, PROFILE_PATH_MAX, "%s/%s", dir, name);

    return n < 0 || n >= PROFILE_PATH_MAX ? SOTTO_EINVAL : SOTTO_OK;
}

/* Copies `home` without trailing slashes, so that "<home>.init-XXXXXX" is its sibling. */
static enum sotto_err home_copy(char out[static PROFILE_PATH_MAX], const char *home)
{
    size_t len;

    if (home == NULL)
        return SOTTO_EINVAL;
    len = strlen(home);
    while (len > 1 && home[len - 1] == '/')
        len--;
    if (len == 0 || (len == 1 && home[0] == '/') || len >= PROFILE_PATH_MAX - SUFFIX_ROOM)
        return SOTTO_EINVAL;
    memcpy(out, home, len);
    out[len] = '\0';
    return SOTTO_OK;
}

static enum sotto_err home_from(char out[static PROFILE_PATH_MAX], const char *base,
                                const char *tail)
{
    int n = snprintf(out, PROFILE_PATH_MAX, "%s%s", base, tail);

    if (n < 0 || n >= PROFILE_PATH_MAX - SUFFIX_ROOM) {
        out[0] = '\0';
        return SOTTO_EINVAL;
    }
    return SOTTO_OK;
}

enum sotto_err store_profile_home(char out[static PROFILE_PATH_MAX])
{
    const char *v = getenv("SOTTO_HOME");

    if (v != NULL && v[0] != '\0')
        return home_from(out, v, "");
    /* the XDG spec says to ignore a relative XDG_DATA_HOME */
    v = getenv("XDG_DATA_HOME");
    if (v != NULL && v[0] == '/')
        return home_from(out, v, "/sotto");
    v = getenv("HOME");
    if (v != NULL && v[0] != '\0')
        return home_from(out, v, "/.local/share/sotto");
    out[0] = '\0';
    return SOTTO_EINVAL;
}

/* ---- creation ---- */

struct create_job {
    struct store_profile p; /* the profile being built in `tmp`; never handed out */
    struct e2e_ctx *e2e;    /* borrowed */
    const struct store_create_params *params;
    char home[PROFILE_PATH_MAX];
    char tmp[PROFILE_PATH_MAX]; /* "" once renamed or removed */
};

static enum sotto_err create_check(const struct store_create_params *params)
{
    if (params == NULL || params->home == NULL || params->name == NULL)
        return SOTTO_EINVAL;
    if (text_check_name((const uint8_t *)params->name, strlen(params->name)) != SOTTO_OK)
        return SOTTO_EINVAL;
    /* an empty passphrase protects nothing: the caller passes NULL for none */
    if (params->passphrase != NULL &&
        (params->passphrase_len == 0 || params->passphrase_len > PROFILE_PASSPHRASE_MAX))
        return SOTTO_EINVAL;
    if (params->n_prekeys > PREKEY_ID_MAX || params->n_addrs > CARD_ADDRS_MAX ||
        (params->n_addrs > 0 && params->addrs == NULL))
        return SOTTO_EINVAL;
    for (size_t i = 0; i < params->n_addrs; i++) {
        const char *a = params->addrs[i];
        if (a == NULL || strnlen(a, CARD_ADDR_MAX + 1) > CARD_ADDR_MAX ||
            identity_card_check_address(a) != SOTTO_OK)
            return SOTTO_EINVAL;
    }
    return SOTTO_OK;
}

/* `home` may be missing or an empty directory: rename(2) replaces either. */
static enum sotto_err home_check_free(const char *home)
{
    struct stat st;
    struct dirent *e;
    bool empty = true;
    DIR *d;

    if (lstat(home, &st) != 0)
        return errno == ENOENT ? SOTTO_OK : SOTTO_EIO;
    if (!S_ISDIR(st.st_mode))
        return SOTTO_EEXIST;
    d = opendir(home);
    if (d == NULL)
        return SOTTO_EIO;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty ? SOTTO_OK : SOTTO_EEXIST;
}

static enum sotto_err make_parents(const char *home)
{
    char path[PROFILE_PATH_MAX];
    size_t len = strlen(home);

    memcpy(path, home, len + 1);
    for (size_t i = 1; i < len; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return SOTTO_EIO;
        path[i] = '/';
    }
    return SOTTO_OK;
}

/* The temporary directory holds only plain files that we made. */
static void remove_dir(const char *dir)
{
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d != NULL) {
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

static enum sotto_err db_open(struct store_profile *p, bool create)
{
    char path[PROFILE_PATH_MAX];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE;
    enum sotto_err rc;
    int src;

    rc = path_join(path, p->dir, PROFILE_DB_NAME);
    if (rc != SOTTO_OK)
        return rc;
    if (create) {
        /* SQLite would make the file 0644 less the umask; -wal and -shm copy its mode */
        rc = file_write_new(path, "", 0, 0600);
        if (rc != SOTTO_OK)
            return rc;
        flags |= SQLITE_OPEN_CREATE;
    }
    src = sqlite3_open_v2(path, &p->db, flags, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_busy_timeout(p->db, 5000);
    return src == SQLITE_OK ? SOTTO_OK : store_db_error(p, src, "open");
}

/* Connection settings; journal_mode is also written to the file, so this runs only once the
 * file is known to be ours. */
static enum sotto_err db_settings(struct store_profile *p)
{
    char mode[16];
    enum sotto_err rc;

    rc = store_db_query_text(p, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
    if (rc == SOTTO_OK && strcmp(mode, "wal") != 0)
        rc = store_db_error(p, SQLITE_ERROR, "journal_mode=WAL");
    if (rc != SOTTO_OK)
        return rc;
    return store_db_exec(p, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                            "PRAGMA secure_delete = ON");
}

static void db_close(struct store_profile *p)
{
    int rc;

    if (p->db == NULL)
        return;
    store_db_release_all(p);
    rc = sqlite3_close_v2(p->db);
    if (rc != SQLITE_OK)
        log_warn(p->env->log, "%s: close: %s", p->dir, sqlite3_errstr(rc));
    p->db = NULL;
}

static enum sotto_err insert_addresses(struct create_job *job)
{
    struct store_profile *p = &job->p;
    sqlite3_stmt *st;
    enum sotto_err rc = SOTTO_OK;

    for (size_t i = 0; i < job->params->n_addrs && rc == SOTTO_OK; i++) {
        rc = store_db_prepare(p, "INSERT INTO self_addresses(pos, address) VALUES(?, ?)", &st);
        if (rc != SOTTO_OK)
            break;
        if (sqlite3_bind_int64(st, 1, (sqlite3_int64)i) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, job->params->addrs[i], -1, SQLITE_STATIC) != SQLITE_OK)
            rc = store_db_bind_failed(p, st);
        else
            rc = store_db_run(p, st);
    }
    return rc;
}

/* Everything a profile holds, inside the creation transaction. */
static enum sotto_err create_fill(struct create_job *job)
{
    const struct store_create_params *params = job->params;
    struct store_profile *p = &job->p;
    char app_id[64];
    enum sotto_err rc;

    snprintf(app_id, sizeof(app_id), "PRAGMA application_id = %d", PROFILE_APPLICATION_ID);
    rc = store_db_exec(p, app_id);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_keyring_create(p, params->passphrase, params->passphrase_len, &params->kdf);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_identity_create(p, job->e2e, params->name,
                               params->n_prekeys != 0 ? params->n_prekeys
                                                      : PROFILE_PREKEYS_INITIAL);
    if (rc != SOTTO_OK)
        return rc;
    return insert_addresses(job);
}

/* A clean close is what removes -wal and -shm, so its failure fails the creation. */
static enum sotto_err create_close(struct store_profile *p, enum sotto_err rc)
{
    int src;

    if (p->db == NULL)
        return rc;
    store_db_release_all(p);
    src = sqlite3_close(p->db);
    if (src == SQLITE_OK)
        p->db = NULL;
    else if (rc == SOTTO_OK)
        rc = store_db_error(p, src, "close");
    db_close(p);
    return rc;
}

/* Builds the database in job->tmp and closes it, so that its -wal and -shm files are gone. */
static enum sotto_err create_build(struct create_job *job)
{
    struct store_profile *p = &job->p;
    enum sotto_err rc;

    memcpy(p->dir, job->tmp, sizeof(p->dir));
    p->datakey = store_datakey_new(p->env);
    if (p->datakey == NULL)
        return SOTTO_ENOMEM;
    rc = db_open(p, true);
    if (rc != SOTTO_OK)
        goto out;
    rc = db_settings(p);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_db_migrate(p, migrations, 0, PROFILE_SCHEMA_VERSION);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_db_begin(p);
    if (rc != SOTTO_OK)
        goto out;
    rc = create_fill(job);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_db_commit(p);
out:
    store_db_rollback(p);
    rc = create_close(p, rc);
    secret_free(p->datakey);
    p->datakey = NULL;
    return rc;
}

static enum sotto_err sync_file(const char *dir, const char *name)
{
    char path[PROFILE_PATH_MAX];
    enum sotto_err rc = path_join(path, dir, name);

    return rc != SOTTO_OK ? rc : file_sync(path);
}

static enum sotto_err sync_parent(const char *home)
{
    char parent[PROFILE_PATH_MAX];
    const char *slash = strrchr(home, '/');
    size_t len;

    if (slash == NULL)
        return file_sync(".");
    len = slash == home ? 1 : (size_t)(slash - home);
    memcpy(parent, home, len);
    parent[len] = '\0';
    return file_sync(parent);
}

/* Makes the finished directory durable, then moves it into place in one step. */
static enum sotto_err create_commit(struct create_job *job)
{
    enum sotto_err rc = sync_file(job->tmp, PROFILE_DB_NAME);

    if (rc != SOTTO_OK)
        return rc;
    rc = file_sync(job->tmp);
    if (rc != SOTTO_OK)
        return rc;
    if (rename(job->tmp, job->home) != 0)
        return errno == ENOTEMPTY || errno == EEXIST ? SOTTO_EEXIST : SOTTO_EIO;
    job->tmp[0] = '\0';
    return sync_parent(job->home);
}

static enum sotto_err create_tmp(struct create_job *job)
{
    int n = snprintf(job->tmp, sizeof(job->tmp), "%s.init-XXXXXX", job->home);

    if (n < 0 || (size_t)n >= sizeof(job->tmp) || mkdtemp(job->tmp) == NULL) {
        job->tmp[0] = '\0';
        return SOTTO_EIO;
    }
    return SOTTO_OK;
}

enum sotto_err store_profile_create(const struct sotto_env *env, struct e2e_ctx *e2e,
                                    const struct store_create_params *params)
{
    struct create_job *job;
    enum sotto_err rc = create_check(params);

    if (rc != SOTTO_OK)
        return rc;
    if (e2e == NULL)
        return SOTTO_EINVAL;
    job = sotto_zalloc(env, sizeof(*job));
    if (job == NULL)
        return SOTTO_ENOMEM;
    job->p.env = env;
    job->e2e = e2e;
    job->params = params;
    rc = home_copy(job->home, params->home);
    if (rc != SOTTO_OK)
        goto out;
    rc = home_check_free(job->home);
    if (rc != SOTTO_OK)
        goto out;
    rc = make_parents(job->home);
    if (rc != SOTTO_OK)
        goto out;
    rc = create_tmp(job);
    if (rc != SOTTO_OK)
        goto out;
    rc = create_build(job);
    if (rc != SOTTO_OK)
        goto out;
    rc = create_commit(job);
out:
    if (job->tmp[0] != '\0')
        remove_dir(job->tmp);
    sotto_free(env, job);
    return rc;
}

/* ---- opening ---- */

/* A path of the profile must be ours and closed to group and others; symlinks are refused. */
static enum sotto_err check_private(const struct store_profile *p, const char *path, bool dir,
                                    bool required)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return required ? SOTTO_ENOENT : SOTTO_OK;
        return SOTTO_EIO;
    }
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        log_warn(p->env->log, "%s: not a %s", path, dir ? "directory" : "regular file");
        return SOTTO_EPERM;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        log_warn(p->env->log, "%s: mode %03o, owner %ld: must be ours and mode %s", path,
                 (unsigned)(st.st_mode & 0777), (long)st.st_uid, dir ? "0700" : "0600");
        return SOTTO_EPERM;
    }
    return SOTTO_OK;
}

static enum sotto_err open_check_files(const struct store_profile *p)
{
    static const char *const names[] = {PROFILE_DB_NAME, PROFILE_DATAKEY_NAME,
                                        PROFILE_DB_NAME "-wal", PROFILE_DB_NAME "-shm"};
    char path[PROFILE_PATH_MAX];
    enum sotto_err rc = check_private(p, p->dir, true, true);

    for (size_t i = 0; rc == SOTTO_OK && i < sizeof(names) / sizeof(names[0]); i++) {
        rc = path_join(path, p->dir, names[i]);
        if (rc != SOTTO_OK)
            return rc;
        rc = check_private(p, path, false, i == 0);
    }
    return rc;
}

/* Reads only the header: nothing is written before the file is known to be ours. A schema
 * version of 0 with our application id is refused: creation sets the id in the transaction
 * that writes the identity, after the schema, so Sotto never leaves such a file behind, and
 * migrating it would make a profile with no identity. */
static enum sotto_err open_check_header(struct store_profile *p, unsigned *version)
{
    int64_t app_id, v;
    enum sotto_err rc;

    rc = store_db_query_int(p, "PRAGMA application_id", &app_id);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_query_int(p, "PRAGMA user_version", &v);
    if (rc != SOTTO_OK)
        return rc;
    if (app_id != PROFILE_APPLICATION_ID || v <= 0) {
        log_warn(p->env->log, "%s: not a Sotto profile (application id %#llx, schema %lld)", p->dir,
                 (unsigned long long)app_id, (long long)v);
        return SOTTO_ENOTPROFILE;
    }
    if (v > PROFILE_SCHEMA_VERSION) {
        log_warn(p->env->log, "%s: schema %lld is newer than this Sotto's %d", p->dir, (long long)v,
                 PROFILE_SCHEMA_VERSION);
        return SOTTO_ENEWER;
    }
    *version = (unsigned)v;
    return SOTTO_OK;
}

/* SQLite reports a page it could not read for want of memory as a finding of the check
 * ("Page 5: unable to get the page. error code=7", SQLITE_NOMEM): that is no damage. */
static bool verdict_is_nomem(const char *result)
{
    const char *code = strstr(result, "error code=7");

    return code != NULL && (code[12] == '\0' || code[12] == '\n');
}

static enum sotto_err open_quick_check(struct store_profile *p)
{
    char result[256];
    enum sotto_err rc = store_db_query_text(p, "PRAGMA quick_check(1)", result, sizeof(result));

    if (rc == SOTTO_OK && strcmp(result, "ok") != 0 && verdict_is_nomem(result))
        return SOTTO_ENOMEM;
    if (rc == SOTTO_OK && strcmp(result, "ok") != 0) {
        log_warn(p->env->log, "%s: damaged database", p->dir);
        rc = SOTTO_ECORRUPT;
    }
    return rc;
}

/* The checks and settings of store_profile_open(), in order; nothing is written before the
 * migrations, which run only on a sound profile of ours. */
static enum sotto_err open_steps(struct store_profile *p)
{
    unsigned version = 0;
    enum sotto_err rc;

    rc = open_check_files(p);
    if (rc != SOTTO_OK)
        return rc;
    rc = db_open(p, false);
    if (rc != SOTTO_OK)
        return rc;
    rc = open_check_header(p, &version);
    if (rc != SOTTO_OK)
        return rc;
    rc = open_quick_check(p);
    if (rc != SOTTO_OK)
        return rc;
    rc = db_settings(p);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_db_migrate(p, migrations, version, PROFILE_SCHEMA_VERSION);
    if (rc != SOTTO_OK)
        return rc;
    return store_keyring_kind(p);
}

enum sotto_err store_profile_open(struct store_profile **out, const struct sotto_env *env,
                                  const char *home)
{
    struct store_profile *p;
    enum sotto_err rc;

    *out = NULL;
    p = sotto_zalloc(env, sizeof(*p));
    if (p == NULL)
        return SOTTO_ENOMEM;
    p->env = env;
    rc = home_copy(p->dir, home);
    if (rc != SOTTO_OK)
        goto out;
    rc = open_steps(p);
out:
    if (rc != SOTTO_OK) {
        store_profile_close(p);
        return rc;
    }
    *out = p;
    return SOTTO_OK;
}

void store_profile_close(struct store_profile *p)
{
    if (p == NULL)
        return;
    secret_free(p->datakey);
    db_close(p);
    sotto_free(p->env, p);
}

const char *store_profile_dir(const struct store_profile *p)
{
    return p->dir;
}

bool store_profile_has_passphrase(const struct store_profile *p)
{
    return p->has_passphrase;
}

enum sotto_err store_tx_begin(struct store_profile *p)
{
    return store_db_begin(p);
}

enum sotto_err store_tx_commit(struct store_profile *p)
{
    return store_db_commit(p);
}

void store_tx_rollback(struct store_profile *p)
{
    store_db_rollback(p);
}

enum sotto_err store_tx_step_begin(struct store_profile *p)
{
    enum sotto_err rc = store_tx_open(p) ? store_db_exec1(p, "SAVEPOINT tx_step") : SOTTO_EINVAL;

    if (rc == SOTTO_OK)
        p->step_depth++;
    return rc;
}

enum sotto_err store_tx_step_end(struct store_profile *p, enum sotto_err rc)
{
    if (p->step_depth > 0)
        p->step_depth--;
    if (rc == SOTTO_OK) {
        rc = store_db_exec1(p, "RELEASE tx_step");
        if (rc == SOTTO_OK)
            return SOTTO_OK;
    }
    /* undo the step, then end it; the transaction goes on */
    (void)store_db_exec1(p, "ROLLBACK TO tx_step");
    (void)store_db_exec1(p, "RELEASE tx_step");
    return rc;
}

bool store_tx_open(const struct store_profile *p)
{
    return p->db != NULL && !sqlite3_get_autocommit(p->db);
}

/* After each commit of this connection: the log's size, and a checkpoint past the cap. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct store_profile *p = arg;

    p->wal_frames = frames;
    if (frames > 0 && (unsigned)frames > p->wal_cap &&
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) == SQLITE_OK)
        p->wal_frames = 0;
    return SQLITE_OK;
}

void store_profile_manual_checkpoints(struct store_profile *p, unsigned cap_pages)
{
    p->wal_cap = cap_pages > 0 ? cap_pages : 1;
    sqlite3_wal_hook(p->db, wal_hook, p); /* replaces SQLite's automatic checkpoint */
}

enum sotto_err store_checkpoint(struct store_profile *p)
{
    int rc;

    if (p->wal_frames <= 0 || store_tx_open(p))
        return SOTTO_OK;
    rc = sqlite3_wal_checkpoint_v2(p->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        return store_db_error(p, rc, "checkpoint");
    p->wal_frames = 0;
    return SOTTO_OK;
}

enum sotto_err store_profile_set_durable(struct store_profile *p, bool full)
{
    return store_db_exec(p, full ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;");
}
