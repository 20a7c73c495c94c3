/* tests/unit/session/session_test.h: the fixture of the session tests: Alice and Bob, each a
 * profile in a scratch directory, each the other's contact, each with a session context bound to
 * the profile (no Signal session built yet), over an env that counts allocations. */
#ifndef SOTTO_TEST_SESSION_TEST_H
#define SOTTO_TEST_SESSION_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e/session.h"
#include "failalloc.h"
#include "store/messages.h"
#include "store/profile.h"
#include "store/signal_store.h"

#define SESS_PREKEYS 5
#define SESS_CT_MAX  (1024 + E2E_CIPHER_OVERHEAD)

struct sess_peer {
    char home[PROFILE_PATH_MAX];
    struct store_profile *p;
    struct e2e_session *s;
    struct store_self self;
    int64_t other; /* the other peer's contact id in this profile, 0 when none */
};

/* A message as it would travel: the Signal message, its kind, the id beside it. */
struct sess_msg {
    enum e2e_kind kind;
    uint8_t ct[SESS_CT_MAX];
    size_t len;
    uint8_t id[STORE_MSG_ID_LEN];
    int64_t outbox_id; /* the sender's */
};

struct sess_fx {
    struct failalloc fa;
    struct sotto_env env;     /* for store and session calls; fa.live counts their leaks */
    struct sotto_env ctx_env; /* the Signal context's own */
    struct e2e_ctx *e2e;
    char root[PROFILE_PATH_MAX];
    struct sess_peer alice, bob;
};

extern struct sess_fx sx;

/* Criterion .init: Alice and Bob as above. */
void sess_fx_init(void);
/* Criterion .init for tests that make their profiles themselves: env, context, scratch dir. */
void sess_fx_init_bare(void);
/* Criterion .fini of both: closes what is open, removes the scratch dir, checks for leaks. */
void sess_fx_fini(void);

/* Ends a test: closes Alice and Bob and asserts that nothing of ours leaked. Called at the end
 * of every test, as Criterion 2.4 reports a failed assertion in .fini without failing the test. */
void sess_done(void);

/* Creates profile `name` under the scratch dir, opens and unlocks it, reads its identity and
 * opens its session context. */
void peer_make(struct sess_peer *pe, const char *name);
/* Opens and unlocks pe->home and opens the session context again. */
void peer_open(struct sess_peer *pe);
void peer_close(struct sess_peer *pe);
/* Imports `whom`'s card into `to`: `to` gets `whom` as a contact; returns its id. */
int64_t peer_befriend(struct sess_peer *to, const struct sess_peer *whom);

/* pe's bundle as served over a link, plus its lowest one-time prekey when `one_time`. */
void bundle_of(struct sess_peer *pe, bool one_time, struct e2e_bundle *b);
/* Builds from's session with `to` from to's bundle, in a transaction; asserts success. */
void session_build(struct sess_peer *from, struct sess_peer *to, bool one_time);

/* Stores `text` as an outgoing message to `to` and encrypts it into the outbox, all in one
 * transaction, as the node will; asserts success and fills *m. */
void send_text(struct sess_peer *from, struct sess_peer *to, const char *text, struct sess_msg *m);
/* Decrypts *m as coming from `from` over a link where `link_key` was proven (from's key when
 * NULL) and stores it with its id, in one transaction: committed on success, rolled back on any
 * error. The plaintext goes to out (NUL-terminated). */
enum sotto_err recv_text(struct sess_peer *to, struct sess_peer *from, const uint8_t *link_key,
                         const struct sess_msg *m, char *out, size_t cap);

/* The first column of the first row of `sql` on pe's database. */
int64_t db_int(struct sess_peer *pe, const char *sql);
/* A digest of every row of the tables a decrypt or encrypt could touch. */
void tables_digest(struct sess_peer *pe, uint8_t out[static 32]);
/* The bytes of "<home>/<name>" into a malloc'd buffer (NULL, 0 when missing). */
uint8_t *file_bytes(const char *home, const char *name, size_t *len);
bool bytes_contain(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m);

#endif
