/* src/e2e/session_int.h: private to src/e2e: the session context that session.c (the API) and
 * session_store.c (the library's five stores over struct e2e_session_store) share. */
#ifndef SOTTO_E2E_SESSION_INT_H
#define SOTTO_E2E_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <signal/signal_protocol.h>

#include "e2e/session.h"
#include "sotto/err.h"

struct e2e_session {
    const struct sotto_env *env;       /* borrowed */
    struct e2e_ctx *ctx;               /* borrowed */
    struct e2e_session_store store;    /* copied; store.arg borrowed */
    signal_protocol_store_context *sp; /* owned */
    uint8_t *priv;                     /* owned, secret_alloc(E2E_PRIV_LEN): our identity key */
    uint8_t pub[E2E_KEY_LEN];
    uint32_t registration_id;
    enum sotto_err store_err; /* the first store error of the current call */
    bool sending;             /* which trust rule is_trusted_identity applies */
};

/* Installs the library's five stores on s->sp, each with `s` as its user data. Returns the
 * library's code. */
int e2e_session_stores_set(struct e2e_session *s);
/* 1 when a session with `key` is stored, 0 when none is; negative on failure, the store's error
 * then kept in s->store_err. */
int e2e_session_present(struct e2e_session *s, const uint8_t key[static E2E_KEY_LEN]);

#endif
