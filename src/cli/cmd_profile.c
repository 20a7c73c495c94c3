/* src/cli/cmd_profile.c: `sotto init` and `sotto whoami`. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "identity/card.h"
#include "identity/number.h"
#include "util/secret.h"
#include "util/text.h"

static const char init_usage[] =
        "Usage: sotto init [--name NAME] [--no-passphrase] [--address HOST:PORT]... [--json]\n"
        "\nCreates your profile in the profile directory: a Curve25519 identity key pair, a\n"
        "signed prekey and 100 one-time prekeys, and your 15-digit number. Private keys are\n"
        "encrypted with a key derived from your passphrase (Argon2id), read from\n"
        "SOTTO_PASSPHRASE or asked for twice without echo. An existing profile is never\n"
        "overwritten.\n"
        "\n  --name NAME          the display name others see (default: your login name)\n"
        "  --no-passphrase      keep the data key in a file only you can read instead\n"
        "  --address HOST:PORT  an address where your node can be reached (repeatable, up\n"
        "                       to 8); it goes into your identity card\n"
        "  --json               print the new identity as JSON\n";

struct init_args {
    const char *name;
    bool no_passphrase, json;
    const char *addrs[CARD_ADDRS_MAX];
    size_t n_addrs;
};

static int init_parse(int argc, char **argv, struct init_args *a)
{
    static const struct option opts[] = {
            {"name", required_argument, NULL, 'n'},    {"no-passphrase", no_argument, NULL, 'P'},
            {"address", required_argument, NULL, 'a'}, {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            a->name = optarg;
            break;
        case 'P':
            a->no_passphrase = true;
            break;
        case 'j':
            a->json = true;
            break;
        case 'a':
            if (a->n_addrs == CARD_ADDRS_MAX)
                return cli_usage_error("init", "at most %d addresses", CARD_ADDRS_MAX);
            if (identity_card_check_address(optarg) != SOTTO_OK)
                return cli_usage_error("init", "--address '%s' is not HOST:PORT", optarg);
            a->addrs[a->n_addrs++] = optarg;
            break;
        case 'h':
            fputs(init_usage, stdout);
            return -1;
        default:
            return cli_usage_error("init", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* True when `home` already holds a profile, or anything else: init would refuse it, so say so
 * before asking for a passphrase twice. store_profile_create checks again, atomically. */
static bool profile_present(const char *home)
{
    DIR *d = opendir(home);
    struct dirent *e;
    bool present = false;

    if (d == NULL)
        return false; /* missing: init makes it; unreadable: init reports why */
    while (!present && (e = readdir(d)) != NULL)
        present = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return present;
}

static int init_exists(const char *home)
{
    fprintf(stderr,
            "sotto: a profile already exists in %s (or the directory is not empty); it was left "
            "untouched\n  for a second profile, choose another directory with --home or "
            "SOTTO_HOME\n",
            home);
    return CLI_EXIT_EXISTS;
}

static const char *default_name(void)
{
    const struct passwd *pw = getpwuid(getuid());
    const char *user = getenv("USER");

    if (user != NULL && text_check_name((const uint8_t *)user, strlen(user)) == SOTTO_OK)
        return user;
    if (pw != NULL &&
        text_check_name((const uint8_t *)pw->pw_name, strlen(pw->pw_name)) == SOTTO_OK)
        return pw->pw_name;
    return "me";
}

static int print_identity(const struct store_self *self, const char *home, bool json)
{
    char num[NUMBER_GROUPED_LEN], fp[FINGERPRINT_LEN], name[4 * TEXT_NAME_MAX + 1];
    json_t *o;

    identity_number_grouped(self->number, num);
    identity_fingerprint(self->key, fp);
    if (json) {
        identity_number_digits(self->number, num);
        o = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I}", "name", self->name, "number", num,
                      "username", self->username[0] ? self->username : NULL, "fingerprint", fp,
                      "profile", home, "created_ms", (json_int_t)self->created_ms);
        return cli_print_json(o);
    }
    text_escape(self->name, name, sizeof(name));
    printf("Name:         %s\n", name);
    if (self->username[0])
        printf("Username:     %s\n", self->username);
    printf("Number:       %s\n", num);
    printf("Fingerprint:  %s\n", fp);
    printf("Profile:      %s\n", home);
    return CLI_EXIT_OK;
}

static int init_run(struct cli *cli, const struct init_args *a, const char *pass, size_t pass_len)
{
    struct store_create_params p = {
            .home = cli->home,
            .name = a->name ? a->name : default_name(),
            .passphrase = pass,
            .passphrase_len = pass_len,
            .addrs = a->addrs,
            .n_addrs = a->n_addrs,
    };
    struct store_self self;
    struct e2e_ctx *e2e;
    enum sotto_err rc = cli_e2e(cli, &e2e);

    if (rc == SOTTO_OK)
        rc = store_profile_create(&cli->env, e2e, &p);
    if (rc == SOTTO_EEXIST)
        return init_exists(cli->home);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "creating the profile");
    int code = cli_open_profile(cli);
    if (code != CLI_EXIT_OK)
        return code;
    rc = store_self_get(cli->profile, &self);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "reading the new profile");
    if (!a->json)
        printf("Created your profile.\n\n");
    code = print_identity(&self, cli->home, a->json);
    if (code != CLI_EXIT_OK)
        return code;
    if (!a->json)
        printf("\nNext: share your card with `sotto card export`, import a friend's with "
               "`sotto card import`.\n");
    return CLI_EXIT_OK;
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
    struct init_args a = {0};
    char *pass = NULL;
    size_t pass_len = 0;
    enum sotto_err rc;
    int code = init_parse(argc, argv, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if (a.name != NULL && text_check_name((const uint8_t *)a.name, strlen(a.name)) != SOTTO_OK)
        return cli_usage_error("init",
                               "--name must be 1 to %d bytes of text without control "
                               "characters",
                               TEXT_NAME_MAX);
    if (profile_present(cli->home))
        return init_exists(cli->home);
    if (!a.no_passphrase) {
        rc = prompt_passphrase("New passphrase: ", true, &pass, &pass_len);
        if (rc == SOTTO_ENOPASS) {
            fprintf(stderr, "sotto: init: no passphrase: set SOTTO_PASSPHRASE, run in a terminal, "
                            "or use --no-passphrase\n");
            return CLI_EXIT_PASSPHRASE;
        }
        if (rc != SOTTO_OK) {
            fprintf(stderr, "sotto: init: %s\n",
                    rc == SOTTO_EINVAL ? "the passphrases were empty or did not match"
                                       : sotto_strerror(rc));
            return CLI_EXIT_PASSPHRASE;
        }
    }
    code = init_run(cli, &a, pass, pass_len);
    secret_free(pass);
    return code;
}

static const char whoami_usage[] =
        "Usage: sotto whoami [--json]\n"
        "\nShows your display name, 15-digit number, identity key fingerprint and profile\n"
        "directory. Needs no passphrase.\n";

int cmd_whoami(struct cli *cli, int argc, char **argv)
{
    struct store_self self;
    bool json = false;
    enum sotto_err rc;
    int code;

    code = cli_parse_json_only(argc, argv, whoami_usage, &json);
    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    code = cli_open_profile(cli);
    if (code != CLI_EXIT_OK)
        return code;
    rc = store_self_get(cli->profile, &self);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "reading your identity");
    return print_identity(&self, cli->home, json);
}
