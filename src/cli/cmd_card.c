/* src/cli/cmd_card.c: `sotto card export` and `sotto card import`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "identity/card.h"
#include "identity/number.h"
#include "util/file.h"
#include "util/text.h"

static const char card_usage[] =
        "Usage: sotto card export [--out FILE] [--address HOST:PORT]...\n"
        "       sotto card import FILE|- [--contact NAME] [--accept-new-key] [--json]\n"
        "\nexport prints your identity card: a short signed text block with your name, number,\n"
        "identity key and addresses. Send it to a friend any way you like; it is public.\n"
        "  --out FILE           write it to FILE instead of standard output\n"
        "  --address HOST:PORT  put this address in the card instead of the profile's own\n"
        "                       (repeatable, up to 8)\n"
        "\nimport reads a card (from FILE, or standard input with -), checks its signature and\n"
        "that its number belongs to its key, and adds or updates the contact.\n"
        "  --contact NAME       the card belongs to this contact (created under NAME if new)\n"
        "  --accept-new-key     accept a key that differs from the one stored for the\n"
        "                       contact (its verified mark is cleared)\n"
        "  --json               print the contact as JSON\n"
        "\nExit codes: 12 the card is malformed, tampered with or forged; 11 the contact's\n"
        "key changed and --accept-new-key was not given.\n";

static int export_write(const char *path, const char *text, size_t len)
{
    int fd = STDOUT_FILENO;

    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "sotto: card export: cannot write %s: %s\n", path, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
    }
    fflush(stdout);
    if (file_write_all(fd, text, len) != SOTTO_OK || (path && close(fd) != 0)) {
        fprintf(stderr, "sotto: card export: writing the card failed: %s\n", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

static int export_build(struct cli *cli, struct identity_card *card, const char *const *addrs,
                        size_t n_addrs)
{
    struct store_self self;
    enum sotto_err rc = store_self_get(cli->profile, &self);

    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "reading your identity");
    memset(card, 0, sizeof(*card));
    card->version = CARD_VERSION;
    card->number = self.number;
    memcpy(card->name, self.name, sizeof(card->name));
    memcpy(card->username, self.username, sizeof(card->username));
    memcpy(card->key, self.key, sizeof(card->key));
    card->created_s = sotto_now_ms(&cli->env) / 1000;
    if (n_addrs == 0) {
        card->n_addrs = self.n_addrs;
        memcpy(card->addrs, self.addrs, sizeof(card->addrs));
    }
    for (size_t i = 0; i < n_addrs; i++)
        snprintf(card->addrs[card->n_addrs++], sizeof(card->addrs[0]), "%s", addrs[i]);
    return CLI_EXIT_OK;
}

struct export_args {
    const char *out;
    const char *addrs[CARD_ADDRS_MAX];
    size_t n_addrs;
};

/* 0 to go on, -1 after printing help, else the exit code of a usage error. */
static int export_parse(int argc, char **argv, struct export_args *a)
{
    static const struct option opts[] = {
            {"out", required_argument, NULL, 'o'},
            {"address", required_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'o') {
            a->out = optarg;
        } else if (c == 'a' && a->n_addrs < CARD_ADDRS_MAX &&
                   identity_card_check_address(optarg) == SOTTO_OK) {
            a->addrs[a->n_addrs++] = optarg;
        } else if (c == 'a') {
            return cli_usage_error("card export",
                                   "--address '%s' is not HOST:PORT, or more than %d were given",
                                   optarg, CARD_ADDRS_MAX);
        } else if (c == 'h') {
            fputs(card_usage, stdout);
            return -1;
        } else {
            return cli_usage_error("card export", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage_error("card export", "unexpected argument '%s'", argv[optind]);
    return 0;
}

static int card_export(struct cli *cli, int argc, char **argv)
{
    struct export_args a = {0};
    uint8_t priv[E2E_PRIV_LEN];
    struct identity_card card;
    struct e2e_ctx *e2e;
    char *text = NULL;
    size_t len = 0;
    enum sotto_err rc;
    int code = export_parse(argc, argv, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK ||
        (code = export_build(cli, &card, a.addrs, a.n_addrs)) != CLI_EXIT_OK ||
        (code = cli_unlock_profile(cli)) != CLI_EXIT_OK)
        return code;
    rc = cli_e2e(cli, &e2e);
    if (rc == SOTTO_OK)
        rc = store_self_private_key(cli->profile, e2e, priv);
    if (rc == SOTTO_OK)
        rc = identity_card_export(e2e, &cli->env, &card, priv, &text, &len);
    sodium_memzero(priv, sizeof(priv));
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "making your card");
    code = export_write(a.out, text, len);
    sotto_free(&cli->env, text);
    if (code == CLI_EXIT_OK && a.out != NULL)
        fprintf(stderr, "Wrote your card to %s\n", a.out);
    return code;
}

static const char *card_error_text(enum sotto_err rc)
{
    switch (rc) {
    case SOTTO_ETOOBIG:
        return "this is not a Sotto card: it is far larger than any card";
    case SOTTO_ETRUNC:
        return "the card is incomplete; copy all of it, from the BEGIN line to the END line";
    case SOTTO_EPROTO:
        return "this is not a valid Sotto card: it is damaged, or not a card at all";
    case SOTTO_EBADKEY:
        return "the card's identity key is not a valid key";
    case SOTTO_ENUMBER:
        return "the card's number does not belong to its key: the card was forged or damaged";
    case SOTTO_EBADSIG:
        return "the card's signature does not verify: it was altered or forged";
    default:
        return sotto_strerror(rc);
    }
}

static bool blank(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (strchr(" \t\r\n\v\f", p[i]) == NULL || p[i] == '\0')
            return false;
    return true;
}

static int import_read(struct cli *cli, const char *src, struct identity_card *card)
{
    uint8_t *text = NULL;
    size_t len = 0;
    enum sotto_err rc;

    if (strcmp(src, "-") == 0) {
        rc = file_read_fd(&cli->env, STDIN_FILENO, CARD_TEXT_MAX, &text, &len);
    } else {
        /* a card is public and checked byte by byte: following a symbolic link is harmless */
        int fd = open(src, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? SOTTO_EIO : file_read_fd(&cli->env, fd, CARD_TEXT_MAX, &text, &len);
        if (fd >= 0)
            close(fd);
    }
    if (rc == SOTTO_ENOENT || rc == SOTTO_EIO) {
        fprintf(stderr, "sotto: card import: cannot read %s: %s\n", src, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (rc == SOTTO_OK && blank(text, len)) {
        sotto_free(&cli->env, text);
        fprintf(stderr, "sotto: card import: there is no card in %s: it is empty\n",
                strcmp(src, "-") == 0 ? "the input" : src);
        return CLI_EXIT_BADCARD;
    }
    if (rc == SOTTO_OK)
        rc = identity_card_import(&cli->env, (const char *)text, len, card);
    sotto_free(&cli->env, text);
    if (rc == SOTTO_ENOMEM)
        return cli_fail(cli, rc, "card import");
    if (rc != SOTTO_OK) {
        fprintf(stderr, "sotto: card import: %s\n", card_error_text(rc));
        return CLI_EXIT_BADCARD;
    }
    return CLI_EXIT_OK;
}

static int import_key_changed(const struct identity_card *card, const struct store_contact *prev)
{
    char name[4 * TEXT_NAME_MAX + 1], old_fp[FINGERPRINT_LEN], new_fp[FINGERPRINT_LEN];

    text_escape(prev->name, name, sizeof(name));
    identity_fingerprint(prev->key, old_fp);
    identity_fingerprint(card->key, new_fp);
    fprintf(stderr,
            "sotto: WARNING: this card is for '%s', but its identity key differs from the one\n"
            "  you have for them. Nothing was changed.\n"
            "    stored key:  %s\n"
            "    card's key:  %s\n"
            "  This happens when %s made a new profile, or when someone pretends to be them.\n"
            "  Ask %s by another channel (a call, in person). To accept the new key, import\n"
            "  again with --accept-new-key; if this is someone else, import with --contact NAME.\n",
            name, old_fp, new_fp, name, name);
    return CLI_EXIT_KEYCHANGED;
}

static int import_report(const struct store_contact *c, enum store_import_result what, bool json)
{
    static const char *const verb[] = {
            [STORE_IMPORT_ADDED] = "added",
            [STORE_IMPORT_UPDATED] = "updated",
            [STORE_IMPORT_UNCHANGED] = "unchanged",
            [STORE_IMPORT_KEY_REPLACED] = "key_replaced",
    };
    char name[4 * TEXT_NAME_MAX + 1], num[NUMBER_GROUPED_LEN];
    json_t *o;

    if (json) {
        o = cli_contact_json(c);
        if (o != NULL && json_object_set_new(o, "result", json_string(verb[what])) != 0) {
            json_decref(o);
            o = NULL;
        }
        return cli_print_json(o);
    }
    text_escape(c->name, name, sizeof(name));
    identity_number_grouped(c->number, num);
    if (what == STORE_IMPORT_ADDED)
        printf("Added contact %s (%s).\n", name, num);
    else if (what == STORE_IMPORT_UPDATED)
        printf("Updated contact %s (%s).\n", name, num);
    else if (what == STORE_IMPORT_UNCHANGED)
        printf("Contact %s (%s) is already up to date.\n", name, num);
    else
        printf("Accepted a new identity key for %s (%s). Their verified mark was cleared.\n", name,
               num);
    if (!c->verified)
        printf("Not verified yet: compare safety numbers with `sotto safety-number '%s'`.\n", name);
    return CLI_EXIT_OK;
}

struct import_args {
    const char *src;
    const char *as_name;
    bool accept, json;
};

/* 0 to go on, -1 after printing help, else the exit code of a usage error. */
static int import_parse(int argc, char **argv, struct import_args *a)
{
    static const struct option opts[] = {
            {"contact", required_argument, NULL, 'c'},
            {"accept-new-key", no_argument, NULL, 'A'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'c') {
            a->as_name = optarg;
        } else if (c == 'A') {
            a->accept = true;
        } else if (c == 'j') {
            a->json = true;
        } else if (c == 'h') {
            fputs(card_usage, stdout);
            return -1;
        } else {
            return cli_usage_error("card import", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("card import", "name one FILE, or - for standard input");
    if (a->as_name && text_check_name((const uint8_t *)a->as_name, strlen(a->as_name)) != SOTTO_OK)
        return cli_usage_error("card import",
                               "--contact must be a name without control characters, at most %d "
                               "bytes",
                               TEXT_NAME_MAX);
    a->src = argv[optind];
    return 0;
}

/* The store refused the card for a reason other than a changed key. */
static int import_refused(struct cli *cli, enum sotto_err rc)
{
    switch (rc) {
    case SOTTO_EINVAL:
        fprintf(stderr, "sotto: card import: this is your own card\n");
        return CLI_EXIT_BADCARD;
    case SOTTO_EAMBIG:
        fprintf(stderr, "sotto: card import: several contacts have this card's name; say which "
                        "one it belongs to with --contact NAME\n");
        return CLI_EXIT_CONTACT;
    case SOTTO_EEXIST:
        fprintf(stderr, "sotto: card import: another contact, with another key, already has this "
                        "card's number or username; nothing was changed\n"
                        "  see `sotto contacts`, and check with both people\n");
        return CLI_EXIT_KEYCHANGED;
    default:
        return cli_fail(cli, rc, "saving the contact");
    }
}

static int card_import(struct cli *cli, int argc, char **argv)
{
    struct import_args a = {0};
    struct identity_card card;
    struct store_contact result, previous;
    enum store_import_result what;
    enum sotto_err rc;
    int code = import_parse(argc, argv, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK ||
        (code = import_read(cli, a.src, &card)) != CLI_EXIT_OK)
        return code;
    rc = store_contact_import_card(cli->profile, &card, a.as_name, a.accept, &result, &previous,
                                   &what);
    if (rc == SOTTO_EKEYCHANGED)
        return import_key_changed(&card, &previous);
    if (rc != SOTTO_OK)
        return import_refused(cli, rc);
    return import_report(&result, what, a.json);
}

int cmd_card(struct cli *cli, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return card_export(cli, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "import") == 0)
        return card_import(cli, argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return fputs(card_usage, stdout), CLI_EXIT_OK;
    return cli_usage_error("card", "say `card export` or `card import FILE`");
}
