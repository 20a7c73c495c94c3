/* src/e2e/session.h: pairwise Signal sessions (X3DH from a prekey bundle, then the Double
 * Ratchet) over storage the caller supplies, with Sotto's trust rules in front of the library's
 * (DESIGN.md, "Trust"; notes/libsignal-protocol-c.md, pitfalls 11 and 12). The storage is a table
 * of plain functions over bytes, so that this module needs no database: src/store implements it
 * over the profile (store/signal_store.h). A peer's Signal address is the lowercase hex of its
 * 33-byte identity key with device id 1, so a session always belongs to one key.
 *
 * Transactions: the library writes the session record, and removes a used one-time prekey,
 * before it returns; a failed PreKey decrypt may already have written (pitfall 11). So every call
 * here that can write runs inside a transaction of the caller's, which also stores what the call
 * produced (the outbox row, or the plaintext and its received id) and then commits, or rolls back
 * on any error. The profile's implementation refuses to write outside a transaction.
 * All Signal work of a process stays on one thread; no e2e_session is thread-safe. */
#ifndef SOTTO_E2E_SESSION_H
#define SOTTO_E2E_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "sotto/err.h"

#define E2E_DEVICE_ID   1
#define E2E_ADDRESS_LEN (2 * E2E_KEY_LEN) /* lowercase hex of the key, without the NUL */
#define E2E_PLAIN_MAX   (256 * 1024)      /* largest plaintext e2e_session_encrypt takes */
/* Room a ciphertext needs beyond its plaintext: a PreKey message's header (about 100 bytes),
 * the SignalMessage's (about 60), CBC padding (up to 16) and the MAC (8); measured in the
 * tests, rounded up generously. */
#define E2E_CIPHER_OVERHEAD 512
#define E2E_CIPHER_MAX      (E2E_PLAIN_MAX + E2E_CIPHER_OVERHEAD)

/* The kind of a Signal message. The values are the kind byte of a MESSAGE frame
 * (docs/PROTOCOL.md, enum wire_message_kind), so that what is stored is what is sent; the
 * library numbers them otherwise (CIPHERTEXT_PREKEY_TYPE 3, CIPHERTEXT_SIGNAL_TYPE 2). */
enum e2e_kind {
    E2E_KIND_PREKEY = 1, /* a message that may also set up the session (X3DH) */
    E2E_KIND_SIGNAL = 2  /* a message of an established session */
};

/* A prekey bundle: from the directory (with one one-time prekey) or over a link (without). */
struct e2e_bundle {
    uint8_t identity[E2E_KEY_LEN]; /* the peer's identity key: its Signal address */
    uint32_t registration_id;
    uint32_t device_id; /* always E2E_DEVICE_ID in Sotto; anything else is refused */
    uint32_t signed_prekey_id;
    uint8_t signed_prekey[E2E_KEY_LEN];
    uint8_t signed_prekey_sig[E2E_SIG_LEN]; /* by `identity` over the 33 bytes of the key */
    uint32_t prekey_id;                     /* 0: no one-time prekey; `prekey` is ignored */
    uint8_t prekey[E2E_KEY_LEN];
};

/* Receives bytes a store function read: `data` is borrowed for the call only (and wiped after
 * it when secret). Returns SOTTO_OK or an error the store function passes back. */
typedef enum sotto_err (*e2e_sink_fn)(void *sink, const uint8_t *data, size_t len);

/* What a session context needs from storage. Keys are 33-byte identity keys. Functions that
 * load call `sink` once with the bytes and return what it returned, or SOTTO_ENOENT when there
 * is nothing (then `sink` is not called). None of them may begin or end a transaction. */
struct e2e_session_store {
    void *arg; /* passed first to every function; borrowed */
    /* Our identity key pair and registration id. `priv` is secret: the callee wipes it on
     * failure, the caller after use. `ctx` is the caller's, to check that the pair belongs
     * together. */
    enum sotto_err (*identity)(void *arg, struct e2e_ctx *ctx, uint8_t pub[static E2E_KEY_LEN],
                               uint8_t priv[static E2E_PRIV_LEN], uint32_t *registration_id);
    /* Sotto's trust in `peer`: SOTTO_OK when it is a contact's current key (and, when
     * `sending`, that contact is not held: a verified contact whose key changed, DESIGN.md
     * "Trust"); SOTTO_EKEYCHANGED when the key was replaced, is held, or its contact is held;
     * SOTTO_EUNTRUSTED when no contact has it (never trust on first use). */
    enum sotto_err (*trust)(void *arg, const uint8_t peer[static E2E_KEY_LEN], bool sending);
    enum sotto_err (*session_load)(void *arg, const uint8_t peer[static E2E_KEY_LEN],
                                   e2e_sink_fn sink, void *sink_arg);
    /* `record` holds the session's keys: the store keeps it sealed. */
    enum sotto_err (*session_save)(void *arg, const uint8_t peer[static E2E_KEY_LEN],
                                   const uint8_t *record, size_t len);
    /* Removes the session with `peer`; *deleted says whether there was one. */
    enum sotto_err (*session_delete)(void *arg, const uint8_t peer[static E2E_KEY_LEN],
                                     bool *deleted);
    /* Our one-time and signed prekeys' serialized records (secret), by id. */
    enum sotto_err (*prekey_load)(void *arg, uint32_t id, e2e_sink_fn sink, void *sink_arg);
    /* Removes a used one-time prekey; SOTTO_OK also when it was gone already. */
    enum sotto_err (*prekey_remove)(void *arg, uint32_t id);
    enum sotto_err (*signed_prekey_load)(void *arg, uint32_t id, e2e_sink_fn sink, void *sink_arg);
    /* Sender-key records (group messaging; unused by Sotto's pairwise fan-out, present so that
     * a stray library call finds a store instead of an assert). `group` is opaque bytes. */
    enum sotto_err (*sender_key_load)(void *arg, const uint8_t *group, size_t group_len,
                                      const uint8_t sender[static E2E_KEY_LEN], e2e_sink_fn sink,
                                      void *sink_arg);
    enum sotto_err (*sender_key_save)(void *arg, const uint8_t *group, size_t group_len,
                                      const uint8_t sender[static E2E_KEY_LEN],
                                      const uint8_t *record, size_t len);
};

struct sotto_env;
struct e2e_session;

/* Binds a session context to `ctx` and `env` (borrowed; both must outlive it) and `store`
 * (copied; store->arg must outlive it). Reads our identity key pair once, into secret memory that
 * e2e_session_free() wipes. On failure *out is NULL: the store's error (a locked profile, for
 * one), SOTTO_EINVAL for a NULL argument or a missing function, SOTTO_ENOMEM. */
enum sotto_err e2e_session_open(struct e2e_session **out, const struct sotto_env *env,
                                struct e2e_ctx *ctx, const struct e2e_session_store *store);
/* Wipes our private key and frees the context. NULL is a no-op. */
void e2e_session_free(struct e2e_session *s);

/* *exists says whether a session with `peer` is stored. Writes nothing. */
enum sotto_err e2e_session_exists(struct e2e_session *s, const uint8_t peer[static E2E_KEY_LEN],
                                  bool *exists);

/* Builds a session with b->identity from its bundle (X3DH). Before the library sees it: the
 * store's trust(identity, sending) must say SOTTO_OK (else SOTTO_EKEYCHANGED or
 * SOTTO_EUNTRUSTED); every key must pass e2e_pubkey_check (SOTTO_EBADKEY); the signed prekey's
 * signature must be exactly valid (SOTTO_EBADSIG); device_id must be E2E_DEVICE_ID and the
 * prekey ids within the library's 24 bits (SOTTO_EPROTO). Processing a bundle for a peer that
 * has a session archives the old state. Writes: run inside the caller's transaction. */
enum sotto_err e2e_session_from_bundle(struct e2e_session *s, const struct e2e_bundle *b);

/* Encrypts plain[0..len) (at most E2E_PLAIN_MAX, else SOTTO_ETOOBIG) for `peer` into
 * out[0..cap) (E2E_CIPHER_OVERHEAD more than len always suffices; less may fail with
 * SOTTO_ETOOBIG); *kind and *out_len say what was written. Refuses, before the library runs:
 * SOTTO_EKEYCHANGED or SOTTO_EUNTRUSTED as trust(peer, sending) says; SOTTO_ENOSESSION when
 * there is none; SOTTO_EUNTRUSTED when the session's remote identity is not `peer` (pitfall
 * 12). Advances the sending chain: run inside the caller's transaction, which also stores the
 * ciphertext in the outbox; roll back on any error, or the ratchet state and the outbox part. */
enum sotto_err e2e_session_encrypt(struct e2e_session *s, const uint8_t peer[static E2E_KEY_LEN],
                                   const uint8_t *plain, size_t len, enum e2e_kind *kind,
                                   uint8_t *out, size_t cap, size_t *out_len);

/* Decrypts a message of `kind` that came over the link on which `peer` proved its key. A
 * PreKey message whose identity key is not `peer` is refused before the library sees it
 * (SOTTO_EUNTRUSTED), and so is one from a key trust(peer, receiving) does not accept. The
 * plaintext goes to out[0..cap): it is always shorter than the ciphertext, so cap >= len
 * suffices; *out_len is its length. Results: SOTTO_EDUPLICATE (decrypted before; nothing to
 * show), SOTTO_ENOSESSION, SOTTO_ENOPREKEY (the signed or one-time prekey it names is not ours
 * or used), SOTTO_EUNTRUSTED, SOTTO_EBADMSG (does not parse or authenticate; also an unknown
 * `kind`), SOTTO_ETOOBIG (over E2E_CIPHER_MAX, or a plaintext over `cap`), or a store error. Writes
 * the session and removes a used one-time prekey: run inside the caller's transaction, which stores
 * the plaintext and its received id and then commits; on ANY error roll back, as the library writes
 * before it checks the MAC. On error out[0..cap) is wiped. */
enum sotto_err e2e_session_decrypt(struct e2e_session *s, const uint8_t peer[static E2E_KEY_LEN],
                                   enum e2e_kind kind, const uint8_t *ct, size_t len, uint8_t *out,
                                   size_t cap, size_t *out_len);

/* The Signal address name of `key`: its lowercase hex, NUL-terminated. */
void e2e_address_name(const uint8_t key[static E2E_KEY_LEN], char out[static E2E_ADDRESS_LEN + 1]);

#endif
