/* fuzz/card.c: identity_card_import over arbitrary text. It must never crash, leak or read out
 * of bounds; a card it accepts must satisfy every rule import promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "identity/card.h"
#include "identity/number.h"
#include "sotto/env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct identity_card *c)
{
    size_t name_len = strnlen(c->name, sizeof(c->name));
    size_t user_len = strnlen(c->username, sizeof(c->username));

    if (c->version != CARD_VERSION || identity_number_check(c->key, c->number) != SOTTO_OK ||
        e2e_pubkey_check(c->key) != SOTTO_OK || c->n_addrs > CARD_ADDRS_MAX)
        abort();
    if (name_len == sizeof(c->name) || text_check_name((const uint8_t *)c->name, name_len) != 0)
        abort();
    if (user_len == sizeof(c->username) ||
        (user_len > 0 && text_check_username((const uint8_t *)c->username, user_len) != 0))
        abort();
    for (size_t i = 0; i < c->n_addrs; i++)
        if (identity_card_check_address(c->addrs[i]) != SOTTO_OK)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct identity_card zero;
    static int ready; /* sodium_init() once, whichever main() runs us */
    struct sotto_env env;
    struct identity_card card;

    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    sotto_env_init(&env, NULL);
    /* the same bytes as a CARD frame's binary card */
    memset(&card, 0x5a, sizeof(card));
    if (identity_card_decode(data, size, &card) != SOTTO_OK) {
        if (memcmp(&card, &zero, sizeof(card)) != 0)
            abort();
    } else {
        check_accepted(&card);
    }
    memset(&card, 0x5a, sizeof(card));
    if (identity_card_import(&env, (const char *)data, size, &card) != SOTTO_OK) {
        if (memcmp(&card, &zero, sizeof(card)) != 0)
            abort(); /* a refused card must leave nothing behind */
        return 0;
    }
    check_accepted(&card);
    return 0;
}
