/* src/cli/cmd_contacts.c: `sotto contacts`, `sotto contact remove`, `sotto safety-number` and
 * `sotto verify`. */
#define _XOPEN_SOURCE 700 /* wcswidth */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include <jansson.h>
#include <sodium.h>

#include "store/signal_store.h"
#include "cli.h"
#include "identity/number.h"
#include "identity/safety.h"
#include "util/text.h"

json_t *cli_contact_json(const struct store_contact *c)
{
    char num[NUMBER_DIGITS_LEN], fp[FINGERPRINT_LEN];
    json_t *addrs = json_array(), *o;

    if (addrs == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_addrs; i++)
        json_array_append_new(addrs, json_string(c->addrs[i]));
    identity_number_digits(c->number, num);
    identity_fingerprint(c->key, fp);
    o = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:b, s:o, s:I, s:I}", "name", c->name, "username",
                  c->username[0] ? c->username : NULL, "claimed_username",
                  c->claimed_username[0] ? c->claimed_username : NULL, "number", num, "fingerprint",
                  fp, "verified", c->verified, "addresses", addrs, "added_ms",
                  (json_int_t)c->added_ms, "updated_ms", (json_int_t)c->updated_ms);
    return o;
}

static enum sotto_err list_json(void *arg, const struct store_contact *c)
{
    json_t *o = cli_contact_json(c);

    if (o == NULL || json_array_append_new(arg, o) != 0)
        return SOTTO_ENOMEM;
    return SOTTO_OK;
}

/* Prints `s` and pads it with spaces to `width` terminal columns (wide and combining characters
 * counted as the terminal shows them; byte count where the locale cannot tell). */
static void print_padded(const char *s, int width)
{
    wchar_t wide[4 * TEXT_NAME_MAX + 1];
    size_t n = mbstowcs(wide, s, sizeof(wide) / sizeof(wide[0]) - 1);
    int cols = -1;

    if (n != (size_t)-1) {
        wide[n] = L'\0';
        cols = wcswidth(wide, n);
    }
    if (cols < 0)
        cols = (int)strlen(s);
    fputs(s, stdout);
    for (; cols < width; cols++)
        fputc(' ', stdout);
}

static enum sotto_err list_text(void *arg, const struct store_contact *c)
{
    char name[4 * TEXT_NAME_MAX + 1], num[NUMBER_GROUPED_LEN], fp[FINGERPRINT_LEN];
    char user[TEXT_USERNAME_MAX + 2];

    ++*(size_t *)arg;
    text_escape(c->name, name, sizeof(name));
    identity_number_grouped(c->number, num);
    identity_fingerprint(c->key, fp);
    fp[19] = '\0'; /* the first four groups suffice to tell contacts apart at a glance */
    /* a claim from the contact's own card is marked ~ until the directory confirms it */
    if (c->username[0])
        snprintf(user, sizeof(user), "%s", c->username);
    else if (c->claimed_username[0])
        snprintf(user, sizeof(user), "~%s", c->claimed_username);
    else
        snprintf(user, sizeof(user), "-");
    fputs(c->verified ? "\u2713 " : "  ", stdout);
    print_padded(name, 24);
    printf(" %s  %-21s %s\u2026\n", num, user, fp);
    return SOTTO_OK;
}

static const char contacts_usage[] =
        "Usage: sotto contacts [--json]\n"
        "\nLists your contacts: ✓ verified, display name, number, username (~name: claimed by\n"
        "their card, not yet confirmed by the directory), and the start of their key\n"
        "fingerprint. --json prints them as an array of objects.\n";

int cmd_contacts(struct cli *cli, int argc, char **argv)
{
    bool json = false;
    size_t n = 0;
    json_t *arr = NULL;
    enum sotto_err rc;
    int code;

    code = cli_parse_json_only(argc, argv, contacts_usage, &json);
    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK)
        return code;
    if (json && (arr = json_array()) == NULL)
        return cli_fail(cli, SOTTO_ENOMEM, "listing contacts");
    rc = store_contacts_each(cli->profile, json ? list_json : list_text, json ? (void *)arr : &n);
    if (rc != SOTTO_OK) {
        json_decref(arr);
        return cli_fail(cli, rc, "listing contacts");
    }
    if (json)
        return cli_print_json(arr);
    if (n == 0)
        printf("No contacts yet. Import a card with `sotto card import FILE`.\n");
    return CLI_EXIT_OK;
}

static const char contact_usage[] =
        "Usage: sotto contact remove CONTACT\n"
        "\nRemoves a contact. CONTACT is a 15-digit number (spaces allowed), a username or a\n"
        "display name.\n";

int cmd_contact(struct cli *cli, int argc, char **argv)
{
    struct store_contact c;
    char name[4 * TEXT_NAME_MAX + 1];
    enum sotto_err rc;
    int code;

    if (cli_wants_help(argc, argv))
        return fputs(contact_usage, stdout), CLI_EXIT_OK;
    if (argc != 3 || strcmp(argv[1], "remove") != 0)
        return cli_usage_error("contact", "say `contact remove CONTACT`");
    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK ||
        (code = cli_resolve_contact(cli, argv[2], &c)) != CLI_EXIT_OK)
        return code;
    rc = store_contact_remove(cli->profile, c.id);
    if (rc == SOTTO_ENOENT) {
        fprintf(stderr, "sotto: contact remove: the contact was already removed\n");
        return CLI_EXIT_CONTACT;
    }
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "removing the contact");
    text_escape(c.name, name, sizeof(name));
    printf("Removed contact %s.\n", name);
    return CLI_EXIT_OK;
}

/* Resolves CONTACT and computes our safety number with them. */
/* The safety number with the contact; while a new key is held for it (a verified contact whose
 * key changed on the directory), the one with the new key, which is what must be compared
 * before it is taken: *held says so, and c then carries the new key and its number. */
static int safety_for(struct cli *cli, const char *query, struct store_contact *c,
                      struct identity_safety *s, bool *held)
{
    struct store_self self;
    struct e2e_ctx *e2e;
    uint8_t key[E2E_KEY_LEN];
    enum sotto_err rc;
    int code;

    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK ||
        (code = cli_resolve_contact(cli, query, c)) != CLI_EXIT_OK)
        return code;
    rc = store_contact_held_key(cli->profile, c->id, key, held);
    if (rc == SOTTO_OK && *held) {
        memcpy(c->key, key, E2E_KEY_LEN);
        c->number = identity_number(key);
        c->verified = false;
    }
    if (rc == SOTTO_OK)
        rc = store_self_get(cli->profile, &self);
    if (rc == SOTTO_OK)
        rc = cli_e2e(cli, &e2e);
    if (rc == SOTTO_OK)
        rc = identity_safety_compute(e2e, self.number, self.key, c->number, c->key, s);
    return rc == SOTTO_OK ? CLI_EXIT_OK : cli_fail(cli, rc, "computing the safety number");
}

static void print_safety_text(const struct store_contact *c, const struct identity_safety *s,
                              bool held)
{
    char name[4 * TEXT_NAME_MAX + 1], num[NUMBER_GROUPED_LEN];

    text_escape(c->name, name, sizeof(name));
    identity_number_grouped(c->number, num);
    if (held)
        printf("WARNING: %s has a NEW identity key; messages to them wait until you compare\n"
               "the safety number of the new key with them (in person, or on a call you trust).\n"
               "Safety number with %s's new key (%s):\n\n",
               name, name, num);
    else
        printf("Safety number with %s (%s)%s:\n\n", name, num, c->verified ? ", verified ✓" : "");
    for (int row = 0; row < 3; row++) {
        const char *d = s->digits + row * 20;
        printf("    %.5s %.5s %.5s %.5s\n", d, d + 5, d + 10, d + 15);
    }
    printf("\n");
}

static int scannable_b64(const struct identity_safety *s, char *out, size_t len)
{
    if (len < sodium_base64_ENCODED_LEN(s->scannable_len, sodium_base64_VARIANT_ORIGINAL))
        return -1;
    sodium_bin2base64(out, len, s->scannable, s->scannable_len, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

static const char safety_usage[] =
        "Usage: sotto safety-number CONTACT [--qr] [--json]\n"
        "\nShows the 60-digit safety number of your identity key and CONTACT's. You both see\n"
        "the same number; compare it in person or on a call, then run `sotto verify`.\n"
        "  --qr    also show it as a QR code, and the code's text for `verify --scanned`\n"
        "  --json  print it as JSON\n";

int cmd_safety_number(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
            {"qr", no_argument, NULL, 'q'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    struct store_contact c;
    struct identity_safety s;
    char grouped[SAFETY_GROUPED_LEN], code_b64[2 * SAFETY_SCAN_MAX];
    bool qr = false, json = false, held = false;
    int opt, code;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'q')
            qr = true;
        else if (opt == 'j')
            json = true;
        else if (opt == 'h')
            return fputs(safety_usage, stdout), CLI_EXIT_OK;
        else
            return cli_usage_error("safety-number", "unknown option");
    }
    if (optind != argc - 1)
        return cli_usage_error("safety-number", "name one CONTACT");
    if ((code = safety_for(cli, argv[optind], &c, &s, &held)) != CLI_EXIT_OK)
        return code;
    identity_safety_grouped(&s, grouped);
    if (scannable_b64(&s, code_b64, sizeof(code_b64)) != 0)
        return cli_fail(cli, SOTTO_ETOOBIG, "encoding the safety code");
    if (json)
        return cli_print_json(json_pack("{s:s, s:s, s:s, s:b, s:b}", "contact", c.name,
                                        "safety_number", grouped, "scannable", code_b64, "verified",
                                        c.verified, "new_key_held", held));
    print_safety_text(&c, &s, held);
    if (qr) {
        if (qr_print(stdout, code_b64) != SOTTO_OK)
            return cli_fail(cli, SOTTO_ENOMEM, "drawing the QR code");
        printf("\nCode: %s\n(on the other side: sotto verify CONTACT --scanned CODE)\n\n",
               code_b64);
    }
    if (!c.verified)
        printf("If it matches what they see, run `sotto verify` to mark them verified.\n");
    return CLI_EXIT_OK;
}

/* libsodium 1.0.18 decodes bytes 0x80..0xff as '/' where char is signed: check the alphabet
 * before decoding, so that a garbled code is called garbled. */
static bool base64_text(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("+/= \t\r\n", *s) != NULL))
            return false;
    return true;
}

static int verify_scanned(struct cli *cli, const struct identity_safety *s, const char *data)
{
    uint8_t theirs[SAFETY_SCAN_MAX];
    size_t len = 0;
    const char *end = NULL;
    enum sotto_err rc;

    if (!base64_text(data) ||
        sodium_base642bin(theirs, sizeof(theirs), data, strlen(data), " \t\r\n", &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *end != '\0') {
        fprintf(stderr, "sotto: verify: the scanned data is not a Sotto safety code\n");
        return CLI_EXIT_UNVERIFIED;
    }
    /* safety_for() made the context already */
    rc = identity_safety_compare(cli->e2e, s, theirs, len);
    if (rc == SOTTO_EMISMATCH || rc == SOTTO_EPROTO) {
        fprintf(stderr,
                "sotto: verify: the scanned code does NOT match your safety number with this\n"
                "  contact. Do not trust this contact's key until you find out why (another\n"
                "  contact's code, an old card, or someone in the middle).\n");
        return CLI_EXIT_UNVERIFIED;
    }
    return rc == SOTTO_OK ? CLI_EXIT_OK : cli_fail(cli, rc, "comparing safety numbers");
}

static const char verify_usage[] =
        "Usage: sotto verify CONTACT [--scanned CODE]\n"
        "\nMarks CONTACT verified once you have checked that your safety numbers match: shows\n"
        "the number and asks you to confirm (answer on standard input), or, with --scanned,\n"
        "compares the code from the other side's `sotto safety-number --qr`. The mark is\n"
        "cleared if the contact's key ever changes. Exit code 13 when not verified.\n";

int cmd_verify(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
            {"scanned", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    const char *scanned = NULL;
    struct store_contact c;
    struct identity_safety s;
    char name[4 * TEXT_NAME_MAX + 1];
    bool held = false;
    enum sotto_err rc;
    int opt, code;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 's')
            scanned = optarg;
        else if (opt == 'h')
            return fputs(verify_usage, stdout), CLI_EXIT_OK;
        else
            return cli_usage_error("verify", "unknown option");
    }
    if (optind != argc - 1)
        return cli_usage_error("verify", "name one CONTACT");
    if ((code = safety_for(cli, argv[optind], &c, &s, &held)) != CLI_EXIT_OK)
        return code;
    text_escape(c.name, name, sizeof(name));
    if (scanned != NULL) {
        code = verify_scanned(cli, &s, scanned);
    } else {
        print_safety_text(&c, &s, held);
        code = prompt_confirm("Does the other side see exactly these 60 digits?")
                       ? CLI_EXIT_OK
                       : (fprintf(stderr, "Not verified.\n"), CLI_EXIT_UNVERIFIED);
    }
    if (code != CLI_EXIT_OK)
        return code;
    if (held) /* the new key compared: taken, verified, and what waited goes to it */
        rc = store_contact_accept_held(cli->profile, c.id, c.key, c.number);
    else
        rc = store_contact_set_verified(cli->profile, c.id, c.key, true);
    if (rc == SOTTO_EKEYCHANGED || rc == SOTTO_ENOENT) {
        fprintf(stderr,
                "sotto: verify: %s's %s while you were comparing; nothing was marked\n"
                "  run `sotto verify` again\n",
                name, rc == SOTTO_ENOENT ? "contact was removed" : "identity key changed");
        return rc == SOTTO_ENOENT ? CLI_EXIT_CONTACT : CLI_EXIT_KEYCHANGED;
    }
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "saving the verified mark");
    if (held)
        printf("✓ %s's new key is verified; messages that waited go to it now.\n", name);
    else
        printf("✓ %s is verified.\n", name);
    return CLI_EXIT_OK;
}
