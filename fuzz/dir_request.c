/* fuzz/dir_request.c: the directory server's request parsing over arbitrary bytes. The input
 * is a request head, a blank line, then a body:
 *   METHOD TARGET\n
 *   Name: value\n ...   (Host, Sotto-Number, Sotto-Timestamp, Sotto-Signature)
 *   \n
 *   body
 * The head goes through routing and the signature headers, the body through all three body
 * parsers. Nothing may crash, leak or read out of bounds; whatever is accepted must satisfy
 * every rule the protocol sets, and whatever is refused must say why and leave nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "directory/parse.h"
#include "directory/request.h"
#include "identity/number.h"
#include "util/text.h"

#define HEAD_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct head {
    char line[HEAD_MAX + 1];
    const char *method, *target, *host, *number, *timestamp, *signature;
};

static bool username_ok(const char *u)
{
    size_t len = strnlen(u, TEXT_USERNAME_MAX + 1);

    return len <= TEXT_USERNAME_MAX && text_check_username((const uint8_t *)u, len) == SOTTO_OK;
}

static void check_problem(const struct dir_problem *p)
{
    if (p->error == NULL || p->status < 400 || p->status > 599 || p->message[0] == '\0' ||
        strnlen(p->message, DIR_MESSAGE_MAX) == DIR_MESSAGE_MAX)
        abort();
}

static bool all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < len; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static void check_prekeys(const struct dir_prekey *pk, size_t n)
{
    if (n > DIR_PREKEYS_PER_REQUEST)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (pk[i].id == 0 || pk[i].id > DIR_PREKEY_ID_MAX || e2e_pubkey_check(pk[i].key) != 0)
            abort();
        for (size_t j = 0; j < i; j++)
            if (pk[j].id == pk[i].id)
                abort();
    }
}

static void check_addrs(const char addrs[][CARD_ADDR_MAX + 1], size_t n)
{
    if (n > CARD_ADDRS_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if (identity_card_check_address(addrs[i]) != SOTTO_OK)
            abort();
}

static void fuzz_register(const uint8_t *body, size_t len)
{
    static struct dir_register_req r;
    struct dir_problem p;
    const struct dir_account *a = &r.account;

    memset(&r, 0x5a, sizeof(r));
    if (dir_parse_register(body, len, &r, &p) != SOTTO_OK) {
        check_problem(&p);
        if (!all_zero(&r, sizeof(r)))
            abort();
        return;
    }
    if (!username_ok(a->username) || identity_number_check(a->identity_key, a->number) != 0 ||
        a->registration_id < 1 || a->registration_id > DIR_REGISTRATION_ID_MAX ||
        dir_signed_prekey_check(a->identity_key, &a->signed_prekey) != SOTTO_OK)
        abort();
    check_prekeys(r.prekeys, r.n_prekeys);
    check_addrs(a->addrs, a->n_addrs);
}

static void fuzz_updates(const uint8_t *body, size_t len)
{
    static struct dir_prekeys_req pk;
    static struct dir_addresses_req ad;
    struct dir_problem p;

    if (dir_parse_prekeys(body, len, &pk, &p) == SOTTO_OK) {
        check_prekeys(pk.prekeys, pk.n_prekeys);
        if (pk.has_signed_prekey && e2e_pubkey_check(pk.signed_prekey.key) != SOTTO_OK)
            abort();
    } else {
        check_problem(&p);
    }
    if (dir_parse_addresses(body, len, &ad, &p) == SOTTO_OK)
        check_addrs((const char(*)[CARD_ADDR_MAX + 1]) ad.addrs, ad.n_addrs);
    else
        check_problem(&p);
}

static void head_field(struct head *h, char *line)
{
    char *sep = strchr(line, h->method == NULL ? ' ' : ':');

    if (sep == NULL)
        return;
    *sep++ = '\0';
    while (*sep == ' ')
        sep++;
    if (h->method == NULL) {
        h->method = line;
        h->target = sep;
    } else if (strcmp(line, "Host") == 0) {
        h->host = sep;
    } else if (strcmp(line, "Sotto-Number") == 0) {
        h->number = sep;
    } else if (strcmp(line, "Sotto-Timestamp") == 0) {
        h->timestamp = sep;
    } else if (strcmp(line, "Sotto-Signature") == 0) {
        h->signature = sep;
    }
}

/* Splits the head into lines in place: "METHOD TARGET", then "Name: value" lines. */
static void head_parse(struct head *h, const uint8_t *data, size_t len)
{
    char *line, *end;

    memset(h, 0, sizeof(*h));
    memcpy(h->line, data, len);
    for (line = h->line; *line != '\0'; line = end + 1) {
        end = strchr(line, '\n');
        if (end == NULL) {
            head_field(h, line);
            break;
        }
        *end = '\0';
        head_field(h, line);
    }
}

static enum dir_method method_of(const char *m)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE"};

    for (size_t i = 0; m != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(m, names[i]) == 0)
            return (enum dir_method)i;
    return DIR_METHOD_OTHER;
}

static void fuzz_route(const struct head *h)
{
    struct dir_target t;
    struct dir_problem p;

    memset(&t, 0x5a, sizeof(t));
    if (dir_route_parse(method_of(h->method), h->target, &t, &p) != SOTTO_OK) {
        check_problem(&p);
        if (t.number != 0 || t.username[0] != '\0' || (unsigned)t.route >= DIR_ROUTE_COUNT)
            abort();
        return;
    }
    if (t.route == DIR_ROUTE_NONE || (unsigned)t.route >= DIR_ROUTE_COUNT)
        abort();
    if (t.number != 0 && (t.number < NUMBER_MIN || t.number > NUMBER_MAX))
        abort();
    if (t.username[0] != '\0' && (!username_ok(t.username) || t.number != 0))
        abort();
}

static void fuzz_auth(const struct head *h, const uint8_t *body, size_t len)
{
    static const uint8_t key[E2E_KEY_LEN] = {0x05, 9}; /* the base point, a valid key */
    static uint8_t msg[DIR_AUTH_MSG_MAX];
    uint8_t digest[32];
    struct dir_auth a;
    struct dir_problem p;
    size_t msg_len = 0;

    if (dir_auth_parse(h->number, h->timestamp, h->signature, &a, &p) != SOTTO_OK) {
        check_problem(&p);
        return;
    }
    if (a.number < NUMBER_MIN || a.number > NUMBER_MAX || strlen(a.timestamp) == 0)
        abort();
    if (dir_auth_message(h->host, h->method, h->target, body, len, &a, msg, sizeof(msg), &msg_len,
                         &p) != SOTTO_OK) {
        check_problem(&p);
        return;
    }
    /* the fuzzer cannot sign: nothing it makes may verify under a fixed key */
    if (dir_auth_verify(&a, key, msg, msg_len, a.timestamp_ms, digest, &p) == SOTTO_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready; /* sodium_init() once, whichever main() runs us */
    static struct head h;
    const uint8_t *blank = NULL;
    size_t head_len;

    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    for (size_t i = 0; i + 1 < size && blank == NULL; i++)
        if (data[i] == '\n' && data[i + 1] == '\n')
            blank = data + i;
    head_len = blank != NULL ? (size_t)(blank - data) : 0;
    if (head_len <= HEAD_MAX && memchr(data, '\0', head_len) == NULL) {
        head_parse(&h, data, head_len);
        fuzz_route(&h);
        fuzz_auth(&h, blank != NULL ? blank + 2 : data, blank != NULL ? size - head_len - 2 : 0);
    }
    data = blank != NULL ? blank + 2 : data;
    size = blank != NULL ? size - head_len - 2 : size;
    fuzz_register(data, size);
    fuzz_updates(data, size);
    return 0;
}
