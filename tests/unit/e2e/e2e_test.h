/* tests/unit/e2e/e2e_test.h: what the e2e suites share: a context per test and helpers. */
#ifndef SOTTO_TEST_E2E_TEST_H
#define SOTTO_TEST_E2E_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "e2e/e2e.h"
#include "failalloc.h"
#include "sotto/env.h"

struct e2e_fixture {
    struct failalloc fa;
    struct sotto_env env;
    struct e2e_ctx *ctx;
};

extern struct e2e_fixture fx;

/* Criterion .init/.fini: a context over a failalloc env that never fails. */
void e2e_fixture_setup(void);
void e2e_fixture_teardown(void);

/* The library's own verdict on `sig` over label || 0x00 || msg (1 valid, 0 invalid, < 0 error),
 * with none of our checks in front of it. */
int library_verify(const uint8_t pub[E2E_KEY_LEN], const char *label, const uint8_t *msg,
                   size_t len, const uint8_t sig[E2E_SIG_LEN]);

#endif
