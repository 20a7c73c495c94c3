/* src/store/signal_store.h: the profile as the storage of Signal sessions (e2e/session.h):
 * session records and sender keys sealed under the data key, our prekeys for the library,
 * Sotto's trust rules over the contacts (DESIGN.md, "Trust") with holds on verified contacts
 * whose key changed, and the bundle a node serves over a link. Schema 3. */
#ifndef SOTTO_STORE_SIGNAL_STORE_H
#define SOTTO_STORE_SIGNAL_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "e2e/session.h"
#include "sotto/err.h"

struct store_profile;

/* Fills *out with the store functions over `p`, which must outlive every session context
 * made from them and be unlocked before one is made. Their writes (session records, removal of
 * a used one-time prekey, sender keys) are refused with SOTTO_EINVAL outside a transaction
 * (store_tx_begin): DESIGN.md wants each commit together with what the call produced. */
void store_session_store(struct store_profile *p, struct e2e_session_store *out);

/* e2e_session_open() over store_session_store(p) and p's environment: a session context bound
 * to the profile. Needs store_profile_unlock() (SOTTO_EINVAL otherwise). */
enum sotto_err store_session_open(struct e2e_session **out, struct store_profile *p,
                                  struct e2e_ctx *e2e);

/* Sotto's trust in `key` (the rules of struct e2e_session_store.trust): SOTTO_OK when it is a
 * contact's current key, and, when `sending`, that contact is not held; then *contact_id (may be
 * NULL) is the contact's id. SOTTO_EKEYCHANGED when the key is one a contact had before, one
 * held for a contact, or, when `sending`, the key of a held contact. SOTTO_EUNTRUSTED when no
 * contact has it, or it is our own. */
enum sotto_err store_peer_trust(struct store_profile *p, const uint8_t key[static E2E_KEY_LEN],
                                bool sending, int64_t *contact_id);

/* Holds a verified contact whose key changed to `new_key` (a lookup refused it with
 * SOTTO_EKEYCHANGED, or a link proved it): nothing is encrypted to the contact, and no session is
 * built with `new_key`, until store_contact_unhold() or until the contact moves to `new_key`
 * (--accept-new-key clears its verified mark, which ends the hold). Replaces an earlier hold.
 * SOTTO_ENOENT when there is no such contact; SOTTO_EINVAL when `new_key` is its current key.
 * Joins an open transaction, else runs in its own. */
enum sotto_err store_contact_hold(struct store_profile *p, int64_t contact_id,
                                  const uint8_t new_key[static E2E_KEY_LEN]);
/* Ends a hold (the user verified the contact again). SOTTO_OK also when there was none. */
enum sotto_err store_contact_unhold(struct store_profile *p, int64_t contact_id);
/* The key held for the contact (*held false when no hold is in force). */
enum sotto_err store_contact_held_key(struct store_profile *p, int64_t contact_id,
                                      uint8_t key[static E2E_KEY_LEN], bool *held);
/* The user compared safety numbers with the held key `new_key` and they match: the contact
 * moves to it (number `number`, the one that key makes), verified; the old key goes to its
 * history, the hold ends, and the contact's unacknowledged messages follow it to the new key
 * (encrypted again, their ids kept). SOTTO_EKEYCHANGED when `new_key` is no longer the held
 * key; nothing changes then. Joins an open transaction, else runs in its own. */
enum sotto_err store_contact_accept_held(struct store_profile *p, int64_t contact_id,
                                         const uint8_t new_key[static E2E_KEY_LEN],
                                         uint64_t number);

/* The bundle a node serves over an authenticated link: our identity key, registration id,
 * device id 1 and the newest signed prekey, without a one-time prekey (DESIGN.md: the node
 * cannot know which ones the directory already handed out). Needs no unlock. */
enum sotto_err store_own_bundle(struct store_profile *p, struct e2e_bundle *out);

#endif
