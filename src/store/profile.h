/* src/store/profile.h: a user's profile: a directory holding the SQLite database (WAL, schema
 * version, migrations), the identity and prekeys (private parts sealed under the data key),
 * the user's own addresses, and contacts. */
#ifndef SOTTO_STORE_PROFILE_H
#define SOTTO_STORE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "identity/card.h"
#include "sotto/err.h"
#include "util/text.h"

#define PROFILE_DB_NAME         "profile.db"
#define PROFILE_DATAKEY_NAME    "datakey"
#define PROFILE_SCHEMA_VERSION  4
#define PROFILE_APPLICATION_ID  0x536f7474 /* "Sott" */
#define PROFILE_PREKEYS_INITIAL 100
#define PROFILE_PATH_MAX        4096
#define PROFILE_PASSPHRASE_MAX  1024

struct sotto_env;
struct store_profile;

/* Argon2id limits for wrapping the data key. Zero fields mean libsodium's MODERATE limits,
 * which the CLI always uses; tests pass the minimum to stay fast. */
struct store_kdf {
    unsigned long long ops;
    size_t mem;
};

struct store_create_params {
    const char *home;       /* the profile directory; created 0700 */
    const char *name;       /* display name, checked with text_check_name */
    const char *passphrase; /* NULL: no passphrase, the data key goes to a 0600 file */
    size_t passphrase_len;
    struct store_kdf kdf;
    const char *const *addrs; /* the user's own addresses, checked, at most CARD_ADDRS_MAX */
    size_t n_addrs;
    unsigned n_prekeys; /* 0 means PROFILE_PREKEYS_INITIAL */
};

/* Resolves the profile directory: $SOTTO_HOME, else $XDG_DATA_HOME/sotto, else
 * $HOME/.local/share/sotto. SOTTO_EINVAL when none is set or the result is too long. */
enum sotto_err store_profile_home(char out[static PROFILE_PATH_MAX]);

/* Creates a new profile: identity key pair, registration id, signed prekey 1, n_prekeys
 * one-time prekeys, in a fresh directory built beside `home` and renamed into place, so that
 * an interrupted init leaves nothing behind. Never overwrites: SOTTO_EEXIST when `home`
 * holds a profile or is a non-empty directory. */
enum sotto_err store_profile_create(const struct sotto_env *env, struct e2e_ctx *e2e,
                                    const struct store_create_params *params);

/* Opens an existing profile for reading its public parts and contacts. Checks, before any
 * write: the directory and files belong to the user and are not accessible by group or others
 * (SOTTO_EPERM), the database exists (SOTTO_ENOENT), is SQLite and ours (SOTTO_ENOTPROFILE),
 * is not damaged (SOTTO_ECORRUPT), and is not from a newer Sotto (SOTTO_ENEWER); then runs
 * pending migrations. On failure nothing on disk has changed and *out is NULL. */
enum sotto_err store_profile_open(struct store_profile **out, const struct sotto_env *env,
                                  const char *home);
/* Wipes the data key and closes the database. NULL is a no-op. */
void store_profile_close(struct store_profile *p);

/* The directory, borrowed for the profile's lifetime. */
const char *store_profile_dir(const struct store_profile *p);
/* True when private keys are sealed under a passphrase-derived key. */
bool store_profile_has_passphrase(const struct store_profile *p);
/* Transactions (SQLite BEGIN IMMEDIATE), for work that must commit together: a decrypt with the
 * plaintext it produced, an encrypt with its outbox row (DESIGN.md, "End-to-end encryption").
 * Every write of the store's headers joins an open transaction (as a savepoint that a failure
 * undoes alone) or, with none open, runs in one of its own. Rollback is a no-op when none is
 * open. */
enum sotto_err store_tx_begin(struct store_profile *p);
enum sotto_err store_tx_commit(struct store_profile *p);
void store_tx_rollback(struct store_profile *p);
/* A step inside the open transaction (a SAVEPOINT; SOTTO_EINVAL when none is open), for work
 * that must succeed or fail as a whole while the transaction goes on: store_tx_step_end()
 * keeps what the step wrote when `rc` is SOTTO_OK and undoes it otherwise, and returns `rc`
 * (or the error of keeping it). Steps nest. */
enum sotto_err store_tx_step_begin(struct store_profile *p);
enum sotto_err store_tx_step_end(struct store_profile *p, enum sotto_err rc);
/* Durability of commits on this connection: `full` (the default: a commit survives a power cut;
 * SQLite synchronous=FULL) or not (synchronous=NORMAL in WAL mode: a commit survives the
 * process crashing, not the machine; the node's --sync=normal, an opt-in). */
enum sotto_err store_profile_set_durable(struct store_profile *p, bool full);
/* Checkpoints (copying the write-ahead log back into the database, with its fsyncs) leave the
 * commits of this connection: SQLite's automatic one, every 1,000 pages, is turned off, the
 * owner calls store_checkpoint() when it is idle, and a commit that leaves more than
 * `cap_pages` in the log checkpoints at once all the same, so that the log stays bounded. */
void store_profile_manual_checkpoints(struct store_profile *p, unsigned cap_pages);
/* A checkpoint of what the log holds (PASSIVE: it never waits for readers), when there is
 * anything and no transaction is open; SOTTO_OK when there was nothing to do. */
enum sotto_err store_checkpoint(struct store_profile *p);
/* True while a transaction is open on the profile's connection. */
bool store_tx_open(const struct store_profile *p);

/* Loads the data key into secret memory so that private keys can be read: with a passphrase
 * profile, `passphrase` must be given (SOTTO_ENOPASS when NULL) and right (SOTTO_EPASS);
 * without one it reads the data key file (SOTTO_ECORRUPT when missing or wrong). */
enum sotto_err store_profile_unlock(struct store_profile *p, const char *passphrase, size_t len);

struct store_self {
    char name[TEXT_NAME_MAX + 1];
    char username[TEXT_USERNAME_MAX + 1]; /* "" until registered */
    uint64_t number;
    uint8_t key[E2E_KEY_LEN];
    uint32_t registration_id;
    uint64_t created_ms;
    size_t n_addrs;
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
};

/* Reads the profile's own public identity (no unlock needed) into *out. */
enum sotto_err store_self_get(struct store_profile *p, struct store_self *out);
/* The identity private key, unsealed (needs store_profile_unlock). The caller wipes `priv`.
 * SOTTO_ECORRUPT when it does not unseal or does not match the public key. */
enum sotto_err store_self_private_key(struct store_profile *p, struct e2e_ctx *e2e,
                                      uint8_t priv[static E2E_PRIV_LEN]);
/* Counts of stored one-time prekeys and signed prekeys. */
enum sotto_err store_prekey_counts(struct store_profile *p, unsigned *one_time, unsigned *signed_);

struct store_contact {
    int64_t id;
    char name[TEXT_NAME_MAX + 1];
    char username[TEXT_USERNAME_MAX + 1]; /* confirmed by the directory; "" when unknown */
    /* the username the contact's own card claims: unconfirmed, shown as such, never used to
     * find the contact (DESIGN.md, Trust); "" when the card named none */
    char claimed_username[TEXT_USERNAME_MAX + 1];
    uint64_t number;
    uint8_t key[E2E_KEY_LEN];
    bool verified;
    size_t n_addrs;
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
    uint64_t added_ms, updated_ms;
};

#define STORE_MATCH_MAX 16
/* Resolves what a user typed as CONTACT, in order: a 15-digit number (spaces allowed), a
 * username, a contact's display name. Fills up to STORE_MATCH_MAX matches of the first kind
 * that matched anything; *n is 0 when none did. */
enum sotto_err store_contact_find(struct store_profile *p, const char *query,
                                  struct store_contact out[static STORE_MATCH_MAX], size_t *n);
/* Calls `each` for every contact, ordered by name; stops at and returns its first error. */
enum sotto_err store_contacts_each(struct store_profile *p,
                                   enum sotto_err (*each)(void *arg, const struct store_contact *c),
                                   void *arg);
/* Reads contact `id` into *out: SOTTO_ENOENT when there is none. */
enum sotto_err store_contact_get(struct store_profile *p, int64_t id, struct store_contact *out);
/* Removes the contact and its key history. SOTTO_ENOENT when there is no such contact. */
enum sotto_err store_contact_remove(struct store_profile *p, int64_t id);
/* Sets or clears the verified mark, only if the contact's key is still `key` (the key whose
 * safety number the user compared): SOTTO_EKEYCHANGED when it changed meanwhile, SOTTO_ENOENT
 * when the contact is gone; nothing changes then. */
enum sotto_err store_contact_set_verified(struct store_profile *p, int64_t id,
                                          const uint8_t key[static E2E_KEY_LEN], bool verified);

/* What a card import did. */
enum store_import_result {
    STORE_IMPORT_ADDED,       /* a new contact */
    STORE_IMPORT_UPDATED,     /* same key: claimed username or addresses refreshed */
    STORE_IMPORT_UNCHANGED,   /* same key, nothing new */
    STORE_IMPORT_KEY_REPLACED /* known contact, new key accepted; verified mark cleared */
};

/* Adds or updates the contact a verified card describes. The contact is the one with the
 * card's key; else the one named `as_name` (the user's --contact NAME), which is created
 * under that name when none exists; else one whose display name is the card's name. A key
 * that differs from that contact's is refused with SOTTO_EKEYCHANGED (and *previous holds the
 * stored contact, so the caller can show both fingerprints) unless `accept_new_key`, which
 * keeps the old key in the contact's history and clears the verified mark. A contact found by
 * key keeps the name it has unless `as_name` renames it (the user's name for a contact wins
 * over the name in their card). The card's username is stored as claimed_username only. A
 * card for our own key is SOTTO_EINVAL; several contacts with the matched name SOTTO_EAMBIG;
 * another key already holding the card's number SOTTO_EEXIST. On success *result is the
 * contact as stored. All in one transaction. */
enum sotto_err store_contact_import_card(struct store_profile *p, const struct identity_card *card,
                                         const char *as_name, bool accept_new_key,
                                         struct store_contact *result,
                                         struct store_contact *previous,
                                         enum store_import_result *what);

/* ---- the directory (issue 4; src/store/directory.c, schema 2) ----
 * The profile remembers one directory: its URL, the pin of its certificate, and, once
 * registered there, the username it holds. It also keeps which one-time prekeys the directory
 * was given, and the id of the next one to make. */

#define STORE_DIR_URL_MAX 255 /* bytes of a directory URL, without the NUL */
#define STORE_PIN_HEX_LEN 64  /* lowercase hex SHA-256 of the certificate's public key */

struct store_directory {
    char url[STORE_DIR_URL_MAX + 1];
    char pin[STORE_PIN_HEX_LEN + 1];
    char username[TEXT_USERNAME_MAX + 1]; /* "" unless registered there */
    uint64_t registered_ms;               /* 0 unless registered there */
};

/* The remembered directory into *out; SOTTO_ENOENT when there is none (out is zeroed). */
enum sotto_err store_directory_get(struct store_profile *p, struct store_directory *out);
/* Remembers `url` (1..STORE_DIR_URL_MAX bytes) and `pin` (64 lowercase hex digits, else
 * SOTTO_EINVAL). For the URL already remembered only the pin changes and a registration is
 * kept; another URL replaces the directory and forgets any registration with it (the caller
 * refuses that while registered). */
enum sotto_err store_directory_remember(struct store_profile *p, const char *url, const char *pin);
/* Records a successful registration of `username` at `url` with `pin`: the directory row, the
 * identity's username and the uploaded mark of the prekeys given (ids[0..n)), in one
 * transaction. */
enum sotto_err store_directory_registered(struct store_profile *p, const char *url, const char *pin,
                                          const char *username, uint64_t when_ms,
                                          const uint32_t *ids, size_t n);
/* Forgets the registration (the directory deleted the account): the username in the directory
 * row and in the identity, and every uploaded mark. The URL and pin stay, for lookups. */
enum sotto_err store_directory_forget_registration(struct store_profile *p);
/* Sets the profile's own username (lowercase, checked with text_check_username, else
 * SOTTO_EINVAL), or clears it when `username` is NULL. */
enum sotto_err store_set_username(struct store_profile *p, const char *username);

/* The public half of a prekey, for the directory. */
struct store_prekey_pub {
    uint32_t id;
    uint8_t key[E2E_KEY_LEN];
};
struct store_signed_prekey_pub {
    uint32_t id;
    uint8_t key[E2E_KEY_LEN];
    uint8_t sig[E2E_SIG_LEN]; /* Signal's signature over the 33-byte key */
};

/* The newest signed prekey's public parts (no unlock needed). SOTTO_ECORRUPT when none. */
enum sotto_err store_signed_prekey_public(struct store_profile *p,
                                          struct store_signed_prekey_pub *out);
/* Up to `max` one-time prekeys' public parts, lowest id first: all of them, or with
 * `pending_only` those the directory was not given yet. *n says how many were filled. */
enum sotto_err store_prekeys_public(struct store_profile *p, bool pending_only,
                                    struct store_prekey_pub *out, size_t max, size_t *n);
/* Marks prekeys ids[0..n) as given to the directory at `when_ms`. */
enum sotto_err store_prekeys_mark_uploaded(struct store_profile *p, const uint32_t *ids, size_t n,
                                           uint64_t when_ms);
/* Makes `count` (1..1000) new one-time prekeys from the next id on and stores them sealed,
 * not yet uploaded, in one transaction; needs store_profile_unlock. *first_id is the first new
 * id (ids wrap within the library's 1..0xfffffe). */
enum sotto_err store_prekeys_add(struct store_profile *p, struct e2e_ctx *e2e, unsigned count,
                                 uint32_t *first_id);

/* An account as the directory published it, after the caller checked it (the number belongs to
 * the key, the key is valid, the addresses pass identity_card_check_address). */
struct store_dir_account {
    char username[TEXT_USERNAME_MAX + 1];
    uint64_t number;
    uint8_t key[E2E_KEY_LEN];
    size_t n_addrs;
    char addrs[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
};

/* Adds or refreshes the contact that a directory lookup returned (DESIGN.md, "Trust"). The
 * contact is the one with the account's key, which gets the username as confirmed (taken from
 * any other contact that had it: the directory gave it to this key) and the addresses; else the
 * one whose confirmed username is the account's, whose key then changed: an unverified contact
 * moves to the new key (the old one goes to its history, its claimed username is dropped), a
 * verified one is refused with SOTTO_EKEYCHANGED and left as it is unless `accept_new_key`,
 * which moves it too and clears the verified mark; else a new unverified contact named after
 * the username. Our own key is SOTTO_EINVAL; another contact holding the number with another
 * key, SOTTO_EEXIST. *previous is the contact as it was when its key changed (or was refused),
 * *result the contact as stored; either may be NULL. All in one transaction. */
enum sotto_err store_contact_from_directory(struct store_profile *p,
                                            const struct store_dir_account *a, bool accept_new_key,
                                            struct store_contact *result,
                                            struct store_contact *previous,
                                            enum store_import_result *what);

#endif
