/* src/e2e/session_store.c: the five stores of libsignal-protocol-c over struct
 * e2e_session_store: each callback turns the library's address back into a key and the store's
 * enum sotto_err into the library's conventions (notes/libsignal-protocol-c.md, pitfall 10).
 * The first store error of a call is kept in the session for session.c to return in place of
 * the library's generic code. Identities are never stored: trust is the contacts'. */
#include <string.h>

#include <sodium.h>

#include <signal/signal_protocol.h>

#include "e2e/session_int.h"

/* The key an address name spells; only our own form (lowercase hex of 33 bytes) is read. */
static bool name_key(const char *name, size_t len, uint8_t key[static E2E_KEY_LEN])
{
    size_t bin_len = 0;

    if (name == NULL || len != E2E_ADDRESS_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return sodium_hex2bin(key, E2E_KEY_LEN, name, len, NULL, &bin_len, NULL) == 0 &&
           bin_len == E2E_KEY_LEN;
}

static bool address_key(const signal_protocol_address *a, uint8_t key[static E2E_KEY_LEN])
{
    return a != NULL && a->device_id == E2E_DEVICE_ID && name_key(a->name, a->name_len, key);
}

/* Keeps the first store error of the call and hands the library a code it propagates. */
static int store_failed(struct e2e_session *s, enum sotto_err rc)
{
    if (s->store_err == SOTTO_OK)
        s->store_err = rc;
    return rc == SOTTO_ENOMEM ? SG_ERR_NOMEM : SG_ERR_UNKNOWN;
}

static enum sotto_err sink_buffer(void *arg, const uint8_t *data, size_t len)
{
    signal_buffer **out = arg;

    *out = signal_buffer_create(data, len);
    return *out == NULL ? SOTTO_ENOMEM : SOTTO_OK;
}

/* For "is there one?": the bytes are not needed. */
static enum sotto_err sink_none(void *arg, const uint8_t *data, size_t len)
{
    (void)arg, (void)data, (void)len;
    return SOTTO_OK;
}

/* Runs a load into *out: 1 found, 0 not found, negative on failure (then *out is NULL). */
static int load_result(struct e2e_session *s, enum sotto_err rc, signal_buffer **out)
{
    if (rc == SOTTO_OK)
        return 1;
    signal_buffer_bzero_free(*out);
    *out = NULL;
    return rc == SOTTO_ENOENT ? 0 : store_failed(s, rc);
}

/* ---- session store ---- */

/* The key of a session's address: 1, or 0 for another device (Sotto has none: no session),
 * or the library's error for an address that is not ours. */
static int session_key(struct e2e_session *s, const signal_protocol_address *address,
                       uint8_t key[static E2E_KEY_LEN])
{
    if (address != NULL && address->device_id != E2E_DEVICE_ID)
        return 0;
    return address_key(address, key) ? 1 : store_failed(s, SOTTO_EINVAL);
}

static int cb_load_session(signal_buffer **record, signal_buffer **user_record,
                           const signal_protocol_address *address, void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];
    int rc;

    (void)user_record; /* we keep none */
    *record = NULL;
    rc = session_key(s, address, key);
    if (rc <= 0)
        return rc;
    return load_result(s, s->store.session_load(s->store.arg, key, sink_buffer, record), record);
}

int e2e_session_present(struct e2e_session *s, const uint8_t key[static E2E_KEY_LEN])
{
    signal_buffer *none = NULL;

    return load_result(s, s->store.session_load(s->store.arg, key, sink_none, &none), &none);
}

static int cb_sub_device_sessions(signal_int_list **sessions, const char *name, size_t name_len,
                                  void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];
    signal_int_list *list;
    int n;

    *sessions = NULL;
    if (!name_key(name, name_len, key))
        return store_failed(s, SOTTO_EINVAL);
    n = e2e_session_present(s, key);
    if (n < 0)
        return n;
    list = signal_int_list_alloc();
    if (list == NULL)
        return store_failed(s, SOTTO_ENOMEM);
    if (n == 1 && signal_int_list_push_back(list, E2E_DEVICE_ID) < 0) {
        signal_int_list_free(list);
        return store_failed(s, SOTTO_ENOMEM);
    }
    *sessions = list;
    return n;
}

static int cb_store_session(const signal_protocol_address *address, uint8_t *record,
                            size_t record_len, uint8_t *user_record, size_t user_record_len,
                            void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];
    enum sotto_err rc;

    (void)user_record;
    /* the library never sends user data; storing it nowhere would lose it silently */
    if (!address_key(address, key) || user_record_len != 0)
        return store_failed(s, SOTTO_EINVAL);
    rc = s->store.session_save(s->store.arg, key, record, record_len);
    return rc == SOTTO_OK ? SG_SUCCESS : store_failed(s, rc);
}

static int cb_contains_session(const signal_protocol_address *address, void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];
    int rc = session_key(s, address, key);

    return rc <= 0 ? rc : e2e_session_present(s, key);
}

static int session_remove(struct e2e_session *s, const uint8_t key[static E2E_KEY_LEN])
{
    bool deleted = false;
    enum sotto_err rc = s->store.session_delete(s->store.arg, key, &deleted);

    return rc == SOTTO_OK ? (int)deleted : store_failed(s, rc);
}

static int cb_delete_session(const signal_protocol_address *address, void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];
    int rc = session_key(s, address, key);

    return rc <= 0 ? rc : session_remove(s, key);
}

static int cb_delete_all_sessions(const char *name, size_t name_len, void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];

    if (!name_key(name, name_len, key))
        return store_failed(s, SOTTO_EINVAL);
    return session_remove(s, key);
}

/* ---- prekey stores: the library reads and removes; Sotto makes and rotates them itself ---- */

static int key_load(struct e2e_session *s, enum sotto_err rc, signal_buffer **record)
{
    if (rc == SOTTO_OK)
        return SG_SUCCESS;
    signal_buffer_bzero_free(*record);
    *record = NULL;
    return rc == SOTTO_ENOENT ? SG_ERR_INVALID_KEY_ID : store_failed(s, rc);
}

static int cb_load_pre_key(signal_buffer **record, uint32_t id, void *user_data)
{
    struct e2e_session *s = user_data;

    *record = NULL;
    return key_load(s, s->store.prekey_load(s->store.arg, id, sink_buffer, record), record);
}

/* Writing prekeys is store_prekeys_add()'s job (ids, upload marks); the library never calls
 * these in the flows Sotto uses, so a call is a bug, refused rather than half-done. */
static int cb_store_refused(uint32_t id, uint8_t *record, size_t record_len, void *user_data)
{
    (void)id, (void)record, (void)record_len;
    return store_failed(user_data, SOTTO_EINVAL);
}

static int cb_remove_refused(uint32_t id, void *user_data)
{
    (void)id;
    return store_failed(user_data, SOTTO_EINVAL);
}

static int cb_contains_pre_key(uint32_t id, void *user_data)
{
    struct e2e_session *s = user_data;
    signal_buffer *none = NULL;

    return load_result(s, s->store.prekey_load(s->store.arg, id, sink_none, &none), &none);
}

static int cb_remove_pre_key(uint32_t id, void *user_data)
{
    struct e2e_session *s = user_data;
    enum sotto_err rc = s->store.prekey_remove(s->store.arg, id);

    return rc == SOTTO_OK ? SG_SUCCESS : store_failed(s, rc);
}

static int cb_load_signed_pre_key(signal_buffer **record, uint32_t id, void *user_data)
{
    struct e2e_session *s = user_data;

    *record = NULL;
    return key_load(s, s->store.signed_prekey_load(s->store.arg, id, sink_buffer, record), record);
}

static int cb_contains_signed_pre_key(uint32_t id, void *user_data)
{
    struct e2e_session *s = user_data;
    signal_buffer *none = NULL;

    return load_result(s, s->store.signed_prekey_load(s->store.arg, id, sink_none, &none), &none);
}

/* ---- identity store: no trust on first use; Sotto's contacts decide ---- */

static int cb_identity_key_pair(signal_buffer **public_data, signal_buffer **private_data,
                                void *user_data)
{
    struct e2e_session *s = user_data;

    /* the library frees the private copy with signal_buffer_free, unwiped: its limitation */
    *public_data = signal_buffer_create(s->pub, E2E_KEY_LEN);
    *private_data = signal_buffer_create(s->priv, E2E_PRIV_LEN);
    if (*public_data != NULL && *private_data != NULL)
        return SG_SUCCESS;
    signal_buffer_free(*public_data);
    signal_buffer_bzero_free(*private_data);
    *public_data = NULL;
    *private_data = NULL;
    return store_failed(s, SOTTO_ENOMEM);
}

static int cb_registration_id(void *user_data, uint32_t *registration_id)
{
    const struct e2e_session *s = user_data;

    *registration_id = s->registration_id;
    return SG_SUCCESS;
}

/* The key is the address: a session only ever belongs to the key it is named after. */
static bool key_is_address(const signal_protocol_address *address, const uint8_t *key_data,
                           size_t key_len, uint8_t key[static E2E_KEY_LEN])
{
    return address_key(address, key) && key_data != NULL && key_len == E2E_KEY_LEN &&
           sodium_memcmp(key, key_data, E2E_KEY_LEN) == 0;
}

/* Called after is_trusted_identity accepted the same key: nothing to store, as trust lives in
 * the contacts (pitfall 11: the library calls this before it checks the MAC). */
static int cb_save_identity(const signal_protocol_address *address, uint8_t *key_data,
                            size_t key_len, void *user_data)
{
    uint8_t key[E2E_KEY_LEN];

    if (key_data == NULL && key_len == 0 && address_key(address, key))
        return SG_SUCCESS;
    if (!key_is_address(address, key_data, key_len, key))
        return store_failed(user_data, SOTTO_EUNTRUSTED);
    return SG_SUCCESS;
}

static int cb_is_trusted(const signal_protocol_address *address, uint8_t *key_data, size_t key_len,
                         void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];
    enum sotto_err rc;

    if (!key_is_address(address, key_data, key_len, key)) {
        store_failed(s, SOTTO_EUNTRUSTED);
        return 0;
    }
    rc = s->store.trust(s->store.arg, key, s->sending);
    if (rc == SOTTO_OK)
        return 1;
    if (rc == SOTTO_EKEYCHANGED || rc == SOTTO_EUNTRUSTED) {
        store_failed(s, rc);
        return 0;
    }
    return store_failed(s, rc);
}

/* ---- sender-key store ---- */

static int cb_store_sender_key(const signal_protocol_sender_key_name *name, uint8_t *record,
                               size_t record_len, uint8_t *user_record, size_t user_record_len,
                               void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];
    enum sotto_err rc;

    (void)user_record;
    if (name == NULL || !address_key(&name->sender, key) || user_record_len != 0 ||
        (name->group_id == NULL && name->group_id_len != 0))
        return store_failed(s, SOTTO_EINVAL);
    rc = s->store.sender_key_save(s->store.arg, (const uint8_t *)name->group_id, name->group_id_len,
                                  key, record, record_len);
    return rc == SOTTO_OK ? SG_SUCCESS : store_failed(s, rc);
}

static int cb_load_sender_key(signal_buffer **record, signal_buffer **user_record,
                              const signal_protocol_sender_key_name *name, void *user_data)
{
    struct e2e_session *s = user_data;
    uint8_t key[E2E_KEY_LEN];

    (void)user_record;
    *record = NULL;
    if (name == NULL || !address_key(&name->sender, key) ||
        (name->group_id == NULL && name->group_id_len != 0))
        return store_failed(s, SOTTO_EINVAL);
    return load_result(s,
                       s->store.sender_key_load(s->store.arg, (const uint8_t *)name->group_id,
                                                name->group_id_len, key, sink_buffer, record),
                       record);
}

/* The library copies each store; user_data is set to the session when they are installed. */
static const signal_protocol_session_store sessions_template = {
        .load_session_func = cb_load_session,
        .get_sub_device_sessions_func = cb_sub_device_sessions,
        .store_session_func = cb_store_session,
        .contains_session_func = cb_contains_session,
        .delete_session_func = cb_delete_session,
        .delete_all_sessions_func = cb_delete_all_sessions,
};
static const signal_protocol_pre_key_store prekeys_template = {
        .load_pre_key = cb_load_pre_key,
        .store_pre_key = cb_store_refused,
        .contains_pre_key = cb_contains_pre_key,
        .remove_pre_key = cb_remove_pre_key,
};
static const signal_protocol_signed_pre_key_store signed_prekeys_template = {
        .load_signed_pre_key = cb_load_signed_pre_key,
        .store_signed_pre_key = cb_store_refused,
        .contains_signed_pre_key = cb_contains_signed_pre_key,
        .remove_signed_pre_key = cb_remove_refused,
};
static const signal_protocol_identity_key_store identity_template = {
        .get_identity_key_pair = cb_identity_key_pair,
        .get_local_registration_id = cb_registration_id,
        .save_identity = cb_save_identity,
        .is_trusted_identity = cb_is_trusted,
};
static const signal_protocol_sender_key_store sender_keys_template = {
        .store_sender_key = cb_store_sender_key,
        .load_sender_key = cb_load_sender_key,
};

int e2e_session_stores_set(struct e2e_session *s)
{
    signal_protocol_session_store sessions = sessions_template;
    signal_protocol_pre_key_store prekeys = prekeys_template;
    signal_protocol_signed_pre_key_store signed_prekeys = signed_prekeys_template;
    signal_protocol_identity_key_store identity = identity_template;
    signal_protocol_sender_key_store sender_keys = sender_keys_template;
    int sg;

    sessions.user_data = prekeys.user_data = signed_prekeys.user_data = s;
    identity.user_data = sender_keys.user_data = s;
    sg = signal_protocol_store_context_set_session_store(s->sp, &sessions);
    if (sg >= 0)
        sg = signal_protocol_store_context_set_pre_key_store(s->sp, &prekeys);
    if (sg >= 0)
        sg = signal_protocol_store_context_set_signed_pre_key_store(s->sp, &signed_prekeys);
    if (sg >= 0)
        sg = signal_protocol_store_context_set_identity_key_store(s->sp, &identity);
    if (sg >= 0)
        sg = signal_protocol_store_context_set_sender_key_store(s->sp, &sender_keys);
    return sg;
}
