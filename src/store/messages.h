/* src/store/messages.h: the messages of a profile (schema 3): history in both directions with
 * bodies sealed under "messages:<rowid>", the (peer, message id) pairs received (the
 * receiver's duplicate detection, DESIGN.md "Delivery"), and the outbox: per peer, in
 * encryption order, the Signal ciphertext as sent, attempts and the next attempt's time.
 *
 * Every function joins a transaction the caller holds (store_tx_begin), as a savepoint that a
 * failure undoes alone, or runs in one of its own when none is open: a decrypt commits with
 * store_message_received(), an encrypt with store_outbox_encrypted(). Bodies need
 * store_profile_unlock() (SOTTO_EINVAL otherwise). */
#ifndef SOTTO_STORE_MESSAGES_H
#define SOTTO_STORE_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "e2e/session.h"
#include "sotto/err.h"

#define STORE_MSG_ID_LEN   16           /* a message's random 128-bit id */
#define STORE_MSG_BODY_MAX (256 * 1024) /* bytes of a body, before sealing */

struct store_profile;

enum store_msg_state {
    STORE_MSG_RECEIVED = 0,  /* incoming */
    STORE_MSG_WAITING = 1,   /* outgoing, not encrypted yet (no session, or the contact held) */
    STORE_MSG_ENCRYPTED = 2, /* its ciphertext is in the outbox, sent and resent as it is */
    STORE_MSG_DELIVERED = 3, /* the peer acknowledged it */
    STORE_MSG_FAILED = 4     /* given up; fail_reason says why */
};

/* A message to store: what its record carried (or, outgoing, will carry). */
struct store_msg_new {
    int64_t contact_id;
    uint8_t msg_id[STORE_MSG_ID_LEN];
    uint32_t type;       /* the record type */
    uint64_t sent_ms;    /* the sender's clock, as the record says (at most INT64_MAX) */
    const uint8_t *body; /* borrowed; NULL when body_len is 0 */
    size_t body_len;     /* at most STORE_MSG_BODY_MAX */
};

/* A stored message, handed to a callback: `body` is borrowed for the call and wiped after. */
struct store_message {
    int64_t id; /* the row */
    int64_t contact_id;
    bool outgoing;
    uint8_t msg_id[STORE_MSG_ID_LEN];
    uint32_t type;
    uint64_t sent_ms;
    uint64_t stored_ms; /* when this profile stored it (received, or written) */
    enum store_msg_state state;
    enum sotto_err fail_reason; /* SOTTO_OK unless state is STORE_MSG_FAILED */
    bool read;
    const uint8_t *body;
    size_t body_len;
};

/* An outbox entry, handed to a callback. A waiting entry carries its message's type, sent_ms and
 * body (to build the record to encrypt); an encrypted one the ciphertext as sent. Pointers are
 * borrowed for the call; the body is wiped after it. */
struct store_outbox_entry {
    int64_t id;         /* the outbox row */
    int64_t message_id; /* the messages row */
    uint8_t peer[E2E_KEY_LEN];
    uint8_t msg_id[STORE_MSG_ID_LEN];
    bool encrypted;
    enum e2e_kind kind;    /* when encrypted */
    const uint8_t *cipher; /* when encrypted */
    size_t cipher_len;
    uint32_t type;       /* when waiting */
    uint64_t sent_ms;    /* when waiting */
    const uint8_t *body; /* when waiting */
    size_t body_len;
    uint32_t attempts;
    uint64_t next_ms; /* when to try again */
    int64_t seq;      /* its place in encryption order (0 while waiting) */
};

/* Stores an incoming message: the received pair (peer, m->msg_id) and the message row, body
 * sealed. SOTTO_EEXIST when that pair was received before: then nothing is stored. *row (may be
 * NULL) is the new row. `peer` is the key proven on the link. */
enum sotto_err store_message_received(struct store_profile *p,
                                      const uint8_t peer[static E2E_KEY_LEN],
                                      const struct store_msg_new *m, int64_t *row);
/* Records only the received pair, for a record that makes no message row (a read receipt, an
 * unknown type): SOTTO_EEXIST when it was received before. */
enum sotto_err store_received_mark(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                   const uint8_t msg_id[static STORE_MSG_ID_LEN]);
/* *known says whether (peer, msg_id) was received and committed. Writes nothing. */
enum sotto_err store_received_known(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                    const uint8_t msg_id[static STORE_MSG_ID_LEN], bool *known);

/* Stores an outgoing message, waiting, with its outbox entry for `peer` (due now): before the
 * first attempt, as DESIGN.md asks. SOTTO_EEXIST when an outgoing message has that id. *row and
 * *outbox_id (either may be NULL) are the new rows. */
enum sotto_err store_message_send(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                                  const struct store_msg_new *m, int64_t *row, int64_t *outbox_id);
/* Stores the ciphertext of outbox entry `outbox_id` as encrypted for `peer` (which may differ
 * from the entry's: re-encrypted under a new key, its id kept), after every other entry of that
 * peer in encryption order; zeroes its attempts, makes it due now, and marks its message
 * encrypted. Call it in the transaction of e2e_session_encrypt(). SOTTO_ENOENT when there is no
 * such entry. */
enum sotto_err store_outbox_encrypted(struct store_profile *p, int64_t outbox_id,
                                      const uint8_t peer[static E2E_KEY_LEN], enum e2e_kind kind,
                                      const uint8_t *cipher, size_t len);
/* Puts entry `outbox_id` back to waiting, for `peer` (its own, or the contact's new key after an
 * accepted key change): the ciphertext goes, its message reads waiting again, and the next walk
 * hands its body for a new encryption under a fresh session, its id kept (DESIGN.md,
 * "Delivery": the peer refused it, or the key changed). SOTTO_ENOENT when there is no such
 * entry. */
enum sotto_err store_outbox_rewait(struct store_profile *p, int64_t outbox_id,
                                   const uint8_t peer[static E2E_KEY_LEN]);
/* Counts an attempt of entry `outbox_id` and sets when to try next. SOTTO_ENOENT when gone. */
enum sotto_err store_outbox_attempted(struct store_profile *p, int64_t outbox_id, uint64_t next_ms);
/* Calls `each` for up to `max` entries of `peer`, encrypted ones first in encryption order, then
 * waiting ones oldest first; stops at and returns its first error. `each` must not write to the
 * outbox (collect what to change, and change it after the walk). */
enum sotto_err
store_outbox_each(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN], size_t max,
                  enum sotto_err (*each)(void *arg, const struct store_outbox_entry *e), void *arg);

/* Which entries a walk hands out. */
enum store_outbox_filter {
    STORE_OUTBOX_ALL,     /* as store_outbox_each() */
    STORE_OUTBOX_WAITING, /* waiting ones only, oldest first */
    /* encrypted ones to send now, in encryption order: those after `after_seq` (not sent on
     * the link up now: the caller keeps how far it sent on it; 0 for a new link), those never
     * attempted, and those due again by `due_ms` */
    STORE_OUTBOX_SENDABLE
};
/* store_outbox_each() restricted to `which`. */
enum sotto_err
store_outbox_walk(struct store_profile *p, const uint8_t peer[static E2E_KEY_LEN],
                  enum store_outbox_filter which, uint64_t due_ms, int64_t after_seq, size_t max,
                  enum sotto_err (*each)(void *arg, const struct store_outbox_entry *e), void *arg);

/* Calls `each` for every peer with an outbox entry due at or before `due_ms`, with the earliest
 * such time, earliest first: whom to dial or flush. Stops at and returns its first error; `each`
 * must not write to the outbox. */
enum sotto_err store_outbox_peers_due(struct store_profile *p, uint64_t due_ms,
                                      enum sotto_err (*each)(void *arg,
                                                             const uint8_t peer[E2E_KEY_LEN],
                                                             uint64_t next_ms),
                                      void *arg);

/* Calls `each` with the key of every contact with a message stored at or after `since_ms` (in
 * either direction), at most `max`, most recent first: whom a node coming back dials. */
enum sotto_err store_recent_peers(struct store_profile *p, uint64_t since_ms, size_t max,
                                  enum sotto_err (*each)(void *arg, const uint8_t key[E2E_KEY_LEN]),
                                  void *arg);

/* What one peer's outbox holds, for status. */
struct store_outbox_summary {
    uint8_t peer[E2E_KEY_LEN];
    size_t waiting;    /* not encrypted yet */
    size_t sent;       /* encrypted, sent or to send, not acknowledged */
    uint32_t attempts; /* the most any entry has had */
    uint64_t next_ms;  /* the earliest next attempt */
};
/* Calls `each` for every peer with outbox entries, in key order; stops at its first error. */
enum sotto_err store_outbox_summaries(struct store_profile *p,
                                      enum sotto_err (*each)(void *arg,
                                                             const struct store_outbox_summary *s),
                                      void *arg);

/* Marks delivered the outgoing messages ids[0..n) that `peer` acknowledged (an ack only counts
 * from the peer an entry was sent to) and removes their outbox entries, all at once. Unknown or
 * already delivered ids are skipped; *n_marked (may be NULL) counts the others. */
enum sotto_err store_messages_delivered(struct store_profile *p,
                                        const uint8_t peer[static E2E_KEY_LEN],
                                        const uint8_t (*ids)[STORE_MSG_ID_LEN], size_t n,
                                        size_t *n_marked);
/* Marks outgoing message `row` failed because of `reason` (not SOTTO_OK) and removes its outbox
 * entries. SOTTO_ENOENT when there is no such outgoing message. */
enum sotto_err store_message_failed(struct store_profile *p, int64_t row, enum sotto_err reason);
/* Sets the read mark of message `row`. SOTTO_ENOENT when there is none. */
enum sotto_err store_message_set_read(struct store_profile *p, int64_t row);

/* Marks read the oldest unread received text messages of contact `contact_id`, at most `max`
 * (<= 256), and copies their ids into ids[0..*n): what a read receipt to the contact lists. */
enum sotto_err store_messages_mark_read(struct store_profile *p, int64_t contact_id, size_t max,
                                        uint8_t (*ids)[STORE_MSG_ID_LEN], size_t *n);
/* The contact read our messages ids[0..n) (a read receipt from them): each of ours to that
 * contact with such an id is marked read; *n_marked counts those that were not yet. */
enum sotto_err store_messages_read_by_peer(struct store_profile *p, int64_t contact_id,
                                           const uint8_t (*ids)[STORE_MSG_ID_LEN], size_t n,
                                           size_t *n_marked);
/* Calls `each` for the newest `max` messages of contact `contact_id` (read receipts, record
 * type 2, are not messages to show: left out), oldest of them first,
 * bodies opened; stops at and returns its first error. `each` must not write to the messages
 * (a read mark included: collect the rows, mark them after the walk). */
enum sotto_err store_history_each(struct store_profile *p, int64_t contact_id, size_t max,
                                  enum sotto_err (*each)(void *arg, const struct store_message *m),
                                  void *arg);

#endif
