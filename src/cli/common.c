/* src/cli/common.c: what every subcommand needs: the profile, the Signal context, contact
 * resolution, and error messages that say what to do next. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "identity/number.h"
#include "util/secret.h"
#include "util/text.h"

static const int exit_of[SOTTO_ERR_COUNT] = {
        [SOTTO_OK] = CLI_EXIT_OK,
        [SOTTO_ENOENT] = CLI_EXIT_NOPROFILE,
        [SOTTO_EEXIST] = CLI_EXIT_EXISTS,
        [SOTTO_EPASS] = CLI_EXIT_PASSPHRASE,
        [SOTTO_ENOPASS] = CLI_EXIT_PASSPHRASE,
        [SOTTO_ENOTPROFILE] = CLI_EXIT_NOTPROFILE,
        [SOTTO_ECORRUPT] = CLI_EXIT_CORRUPT,
        [SOTTO_EPERM] = CLI_EXIT_PERM,
        [SOTTO_ENEWER] = CLI_EXIT_NEWER,
        [SOTTO_EAMBIG] = CLI_EXIT_CONTACT,
        [SOTTO_EKEYCHANGED] = CLI_EXIT_KEYCHANGED,
        [SOTTO_EBADSIG] = CLI_EXIT_BADCARD,
        [SOTTO_EBADKEY] = CLI_EXIT_BADCARD,
        [SOTTO_ENUMBER] = CLI_EXIT_BADCARD,
        [SOTTO_EPROTO] = CLI_EXIT_BADCARD,
        [SOTTO_ETRUNC] = CLI_EXIT_BADCARD,
        [SOTTO_ETOOBIG] = CLI_EXIT_BADCARD,
        [SOTTO_ECANCELED] = CLI_EXIT_UNVERIFIED,
        [SOTTO_EMISMATCH] = CLI_EXIT_UNVERIFIED,
        [SOTTO_ENET] = CLI_EXIT_NETWORK,
        [SOTTO_EPIN] = CLI_EXIT_PIN,
        [SOTTO_EREFUSED] = CLI_EXIT_REFUSED,
        [SOTTO_ERATE] = CLI_EXIT_RATE,
};

int cli_exit_code(enum sotto_err rc)
{
    if ((unsigned)rc >= SOTTO_ERR_COUNT || (rc != SOTTO_OK && exit_of[rc] == 0))
        return CLI_EXIT_FAILURE;
    return exit_of[rc];
}

static const char *hint_for(enum sotto_err rc)
{
    switch (rc) {
    case SOTTO_ENOENT:
        return "create a profile with `sotto init`, or point --home/SOTTO_HOME at yours";
    case SOTTO_EPASS:
        return "check SOTTO_PASSPHRASE or type the passphrase again";
    case SOTTO_ENOPASS:
        return "set SOTTO_PASSPHRASE, or run the command in a terminal to be asked";
    case SOTTO_ENOTPROFILE:
        return "this file was not made by Sotto; move it away or use another --home";
    case SOTTO_ECORRUPT:
        return "restore the profile directory from a backup; Sotto changed nothing in it";
    case SOTTO_ENEWER:
        return "run a newer version of Sotto on this profile";
    case SOTTO_EDB:
        return "check free disk space and that no other program holds the database";
    case SOTTO_ENET:
        return "check the directory's URL and your network, or try again later";
    case SOTTO_EPIN:
        return "ask the directory's operator for its fingerprint; give it with --fingerprint";
    case SOTTO_ERATE:
        return "wait a minute and try again";
    default:
        return NULL;
    }
}

int cli_fail(struct cli *cli, enum sotto_err rc, const char *what)
{
    const char *hint = hint_for(rc);

    (void)cli;
    fprintf(stderr, "sotto: %s: %s\n", what, sotto_strerror(rc));
    if (hint != NULL)
        fprintf(stderr, "  %s\n", hint);
    return cli_exit_code(rc);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "sotto%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  see `sotto%s%s --help`\n", cmd ? " " : "", cmd ? cmd : "");
    return CLI_EXIT_USAGE;
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

bool cli_parse_long(const char *arg, long min, long max, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (*end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int cli_print_json(json_t *o)
{
    int rc;

    if (o == NULL) {
        fprintf(stderr, "sotto: could not make the JSON output (a stored value is not valid "
                        "UTF-8, or memory ran out)\n");
        return CLI_EXIT_FAILURE;
    }
    rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(o);
    fputc('\n', stdout);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int cli_parse_json_only(int argc, char **argv, const char *usage, bool *json)
{
    *json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return -1;
        } else {
            return cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]);
        }
    }
    return 0;
}

enum sotto_err cli_e2e(struct cli *cli, struct e2e_ctx **out)
{
    enum sotto_err rc = SOTTO_OK;

    if (cli->e2e == NULL)
        rc = e2e_ctx_create(&cli->e2e, &cli->env);
    *out = cli->e2e;
    return rc;
}

int cli_open_profile(struct cli *cli)
{
    enum sotto_err rc;

    if (cli->profile != NULL)
        return CLI_EXIT_OK;
    rc = store_profile_open(&cli->profile, &cli->env, cli->home);
    if (rc == SOTTO_OK)
        return CLI_EXIT_OK;
    switch (rc) {
    case SOTTO_ENOENT:
        fprintf(stderr, "sotto: no profile in %s\n  create one with `sotto init`\n", cli->home);
        return CLI_EXIT_NOPROFILE;
    case SOTTO_EPERM:
        fprintf(stderr,
                "sotto: the profile in %s can be read or changed by other users, or is a "
                "symbolic link; refusing to use it\n"
                "  if only you should have it: chmod 700 '%s' && chmod 600 '%s'/*\n"
                "  (a symbolic link: point --home or SOTTO_HOME at the real directory)\n",
                cli->home, cli->home, cli->home);
        return CLI_EXIT_PERM;
    default:
        fprintf(stderr, "sotto: cannot open the profile in %s: %s\n", cli->home,
                sotto_strerror(rc));
        if (hint_for(rc) != NULL)
            fprintf(stderr, "  %s\n", hint_for(rc));
        return cli_exit_code(rc);
    }
}

static int unlock_failed(struct cli *cli, enum sotto_err rc)
{
    switch (rc) {
    case SOTTO_EPASS:
        fprintf(stderr, "sotto: wrong passphrase for the profile in %s\n  %s\n", cli->home,
                hint_for(rc));
        return CLI_EXIT_PASSPHRASE;
    case SOTTO_ENOPASS:
        fprintf(stderr,
                "sotto: the profile in %s has a passphrase, and none could be read\n"
                "  %s\n",
                cli->home, hint_for(rc));
        return CLI_EXIT_PASSPHRASE;
    case SOTTO_EINVAL:
    case SOTTO_ETOOBIG:
        fprintf(stderr, "sotto: the passphrase given is %s\n  %s\n",
                rc == SOTTO_EINVAL ? "empty" : "longer than any Sotto passphrase",
                hint_for(SOTTO_EPASS));
        return CLI_EXIT_PASSPHRASE;
    case SOTTO_ECORRUPT:
        if (!store_profile_has_passphrase(cli->profile)) {
            fprintf(stderr,
                    "sotto: the data key file %s/%s is missing or does not belong to this "
                    "profile\n  restore it from a backup of the profile directory\n",
                    cli->home, PROFILE_DATAKEY_NAME);
            return CLI_EXIT_CORRUPT;
        }
        return cli_fail(cli, rc, "unlocking the profile");
    default:
        return cli_fail(cli, rc, "unlocking the profile");
    }
}

int cli_unlock_profile(struct cli *cli)
{
    char *pass = NULL;
    size_t len = 0;
    enum sotto_err rc;

    if (store_profile_has_passphrase(cli->profile)) {
        rc = prompt_passphrase("Passphrase: ", false, &pass, &len);
        if (rc == SOTTO_OK)
            rc = store_profile_unlock(cli->profile, pass, len);
        secret_free(pass);
    } else {
        rc = store_profile_unlock(cli->profile, NULL, 0);
    }
    return rc == SOTTO_OK ? CLI_EXIT_OK : unlock_failed(cli, rc);
}

int cli_resolve_contact(struct cli *cli, const char *query, struct store_contact *out)
{
    struct store_contact found[STORE_MATCH_MAX];
    char name[4 * TEXT_NAME_MAX + 1], digits[NUMBER_GROUPED_LEN];
    size_t n = 0;
    enum sotto_err rc = store_contact_find(cli->profile, query, found, &n);

    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "looking up the contact");
    text_escape(query, name, sizeof(name));
    if (n == 0) {
        fprintf(stderr,
                "sotto: no contact matches '%s'\n  see `sotto contacts`, or import their "
                "card with `sotto card import`\n",
                name);
        return CLI_EXIT_CONTACT;
    }
    if (n > 1) {
        fprintf(stderr, "sotto: '%s' matches %zu contacts; name one by its number:\n", name, n);
        for (size_t i = 0; i < n; i++) {
            text_escape(found[i].name, name, sizeof(name));
            identity_number_grouped(found[i].number, digits);
            fprintf(stderr, "  %s  %s\n", digits, name);
        }
        return CLI_EXIT_CONTACT;
    }
    *out = found[0];
    return CLI_EXIT_OK;
}
