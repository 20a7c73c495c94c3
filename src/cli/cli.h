/* src/cli/cli.h: what the sotto command's files share: the run context, exit codes, and the
 * helpers every subcommand uses. */
#ifndef SOTTO_CLI_CLI_H
#define SOTTO_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "e2e/e2e.h"
#include "sotto/env.h"
#include "sotto/err.h"
#include "sotto/log.h"
#include "store/profile.h"

/* Exit codes; docs/cli.md lists them, and scripts may rely on them. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,     /* unexpected: I/O, database, out of memory */
    CLI_EXIT_USAGE = 2,       /* bad command line */
    CLI_EXIT_NOPROFILE = 3,   /* no profile: run `sotto init` */
    CLI_EXIT_EXISTS = 4,      /* init: a profile is already there (left untouched) */
    CLI_EXIT_PASSPHRASE = 5,  /* wrong passphrase, or none could be read */
    CLI_EXIT_NOTPROFILE = 6,  /* the database is not a Sotto profile */
    CLI_EXIT_CORRUPT = 7,     /* the profile database is damaged */
    CLI_EXIT_PERM = 8,        /* the profile is accessible by other users */
    CLI_EXIT_NEWER = 9,       /* the profile was written by a newer Sotto */
    CLI_EXIT_CONTACT = 10,    /* no such contact, or more than one match */
    CLI_EXIT_KEYCHANGED = 11, /* a contact's key changed: refused until accepted */
    CLI_EXIT_BADCARD = 12,    /* the card is malformed, tampered with or forged */
    CLI_EXIT_UNVERIFIED = 13, /* safety numbers differ, or the user did not confirm */
    CLI_EXIT_NETWORK = 14,    /* the directory cannot be reached, failed, or answered nonsense */
    CLI_EXIT_PIN = 15,        /* the directory's certificate is not the pinned one */
    CLI_EXIT_REFUSED = 16,    /* the directory refused (username taken...), or not registered */
    CLI_EXIT_RATE = 17,       /* the directory is rate limiting us: try again later */
    CLI_EXIT_NODAEMON = 18,   /* no node is running for the profile: start `sotto daemon` */
    CLI_EXIT_QUEUED = 19      /* send --wait: stored and queued, not delivered in time */
};

struct cli {
    struct sotto_log log;
    struct sotto_env env;
    char home[PROFILE_PATH_MAX];
    struct e2e_ctx *e2e;           /* owned; made on first use */
    struct store_profile *profile; /* owned; opened on first use */
    const char *prog;
};

/* A subcommand: argv[0] is its name. Returns an exit code. */
typedef int (*cli_cmd_fn)(struct cli *cli, int argc, char **argv);

int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_whoami(struct cli *cli, int argc, char **argv);
int cmd_card(struct cli *cli, int argc, char **argv);
int cmd_contacts(struct cli *cli, int argc, char **argv);
int cmd_contact(struct cli *cli, int argc, char **argv);
int cmd_safety_number(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_register(struct cli *cli, int argc, char **argv);
/* Looks `query` (a username or number) up on the remembered directory and adds it as a
 * contact, saying so in one line on stderr: for `send` and `chat` to someone not yet a contact
 * (DESIGN.md, Trust). CLI_EXIT_OK, or an exit code with the error printed (CLI_EXIT_CONTACT,
 * quietly, when `query` is neither a username nor a number). */
int cli_lookup_contact(struct cli *cli, const char *query);
int cmd_lookup(struct cli *cli, int argc, char **argv);
int cmd_unregister(struct cli *cli, int argc, char **argv);
int cmd_daemon(struct cli *cli, int argc, char **argv);
int cmd_send(struct cli *cli, int argc, char **argv);
int cmd_history(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_events(struct cli *cli, int argc, char **argv);
int cmd_chat(struct cli *cli, int argc, char **argv);

/* The Signal context, made on first use. */
enum sotto_err cli_e2e(struct cli *cli, struct e2e_ctx **out);
/* Opens the profile in cli->home on first use; on failure prints why and what to do, and
 * returns the exit code to use (0 on success). */
int cli_open_profile(struct cli *cli);
/* Unlocks the profile's private keys, reading the passphrase from SOTTO_PASSPHRASE or the
 * terminal when the profile has one. Prints and returns an exit code (0 on success). */
int cli_unlock_profile(struct cli *cli);
/* Resolves CONTACT; prints the candidates when several match. Returns an exit code. */
int cli_resolve_contact(struct cli *cli, const char *query, struct store_contact *out);

/* Prints "sotto: <what>: <sotto_strerror(rc)>" plus a hint for rc, and returns the exit code
 * that rc maps to. */
int cli_fail(struct cli *cli, enum sotto_err rc, const char *what);
/* The exit code rc maps to. */
int cli_exit_code(enum sotto_err rc);
/* Prints a usage error and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses the arguments of a command that takes only --json and --help: 0 to go on, -1 when
 * it printed `usage`, or the exit code of a usage error (which it printed). */
int cli_parse_json_only(int argc, char **argv, const char *usage, bool *json);
/* True when argv[1] is -h or --help (after the subcommand name). */
bool cli_wants_help(int argc, char **argv);
/* Parses `arg`, an option's value, as a decimal number from `min` to `max` into *out: false,
 * with *out untouched, when it is not one. */
bool cli_parse_long(const char *arg, long min, long max, long *out);

/* Reads a passphrase into secret memory (free with secret_free): from SOTTO_PASSPHRASE, else
 * from the terminal without echo (twice when `confirm`). SOTTO_ENOPASS when neither works,
 * SOTTO_EINVAL when the two entries differ or it is empty, SOTTO_ETOOBIG past the cap. */
enum sotto_err prompt_passphrase(const char *prompt, bool confirm, char **out, size_t *len);
/* Asks a yes/no question on stderr and reads the answer from stdin. True only for y or yes. */
bool prompt_confirm(const char *question);

/* A contact as a JSON object (new reference, NULL on allocation failure). */
struct json_t;
struct json_t *cli_contact_json(const struct store_contact *c);

/* Prints `o` (taking ownership) as indented JSON on stdout. NULL, from a failed json_pack,
 * prints an error instead: returns the exit code. */
int cli_print_json(struct json_t *o);

/* Prints `text` as a QR code with Unicode half blocks (two modules per character cell). */
enum sotto_err qr_print(FILE *out, const char *text);

#endif
