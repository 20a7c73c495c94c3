/* fuzz/net_answer.c: the client's reading of the directory's answers (src/net/parse.c) over
 * arbitrary bytes. The first byte picks the parser (account, bundle, registered, prekeys left,
 * problem), the rest is the body. Nothing may crash, leak or read out of bounds; whatever is
 * accepted must satisfy what the rest of the client relies on: a key that passes the key
 * check, a number that is the key's, terminated strings within their sizes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "e2e/e2e.h"
#include "identity/number.h"
#include "net/net_int.h"
#include "util/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap)
{
    if (strnlen(s, cap) == cap)
        abort();
}

static void check_key_number(const uint8_t key[static E2E_KEY_LEN], uint64_t number)
{
    if (e2e_pubkey_check(key) != SOTTO_OK || identity_number(key) != number)
        abort();
}

static void check_username(const char *u)
{
    size_t len = strnlen(u, TEXT_USERNAME_MAX + 1);

    if (len > TEXT_USERNAME_MAX ||
        (len > 0 && text_check_username((const uint8_t *)u, len) != SOTTO_OK))
        abort();
}

static void account(const uint8_t *body, size_t len)
{
    struct net_account a;

    if (net_parse_account(body, len, &a) != SOTTO_OK)
        return;
    check_key_number(a.key, a.number);
    check_username(a.username);
    if (e2e_pubkey_check(a.signed_prekey.key) != SOTTO_OK || a.n_addrs > CARD_ADDRS_MAX)
        abort();
    for (size_t i = 0; i < a.n_addrs; i++)
        check_str(a.addrs[i], sizeof(a.addrs[i]));
}

static void bundle(const uint8_t *body, size_t len)
{
    struct net_bundle b;

    if (net_parse_bundle(body, len, &b) != SOTTO_OK)
        return;
    check_key_number(b.key, b.number);
    if (e2e_pubkey_check(b.signed_prekey.key) != SOTTO_OK ||
        (b.has_prekey && e2e_pubkey_check(b.prekey.key) != SOTTO_OK))
        abort();
}

static void registered(const uint8_t *body, size_t len)
{
    struct net_registered r;

    if (net_parse_registered(body, len, &r) != SOTTO_OK)
        return;
    check_username(r.username);
    check_str(r.seen_from, sizeof(r.seen_from));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct net_dir_problem p;
    unsigned left;

    if (size == 0)
        return 0;
    switch (data[0] % 5) {
    case 0:
        account(data + 1, size - 1);
        break;
    case 1:
        bundle(data + 1, size - 1);
        break;
    case 2:
        registered(data + 1, size - 1);
        break;
    case 3:
        (void)net_parse_prekeys_left(data + 1, size - 1, &left);
        break;
    default:
        memset(&p, 0, sizeof(p));
        net_parse_problem(data + 1, size - 1, &p);
        check_str(p.code, sizeof(p.code));
        check_str(p.message, sizeof(p.message));
        break;
    }
    return 0;
}
