/* src/cli/main.c: the sotto command: global options, dispatch to subcommands, and the one place
 * where library errors become exit codes. */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "e2e/e2e.h"

struct command {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
};

static const struct command commands[] = {
        {"init", cmd_init, "create your profile: identity key, prekeys, passphrase"},
        {"whoami", cmd_whoami, "show your name, 15-digit number and key fingerprint"},
        {"card", cmd_card, "export your identity card, or import someone else's"},
        {"contacts", cmd_contacts, "list your contacts"},
        {"contact", cmd_contact, "manage one contact (remove)"},
        {"safety-number", cmd_safety_number, "show the safety number you share with a contact"},
        {"verify", cmd_verify, "mark a contact verified once the safety numbers match"},
        {"register", cmd_register, "publish your username and keys on a directory"},
        {"lookup", cmd_lookup, "find someone on the directory and add them as a contact"},
        {"unregister", cmd_unregister, "delete your account from the directory"},
        {"daemon", cmd_daemon, "run your node: peer links, delivery, the local API"},
        {"send", cmd_send, "send a message to a contact (through the running node)"},
        {"history", cmd_history, "show the messages with a contact"},
        {"status", cmd_status, "show the running node's links and outbox"},
        {"events", cmd_events, "print the running node's events as they come"},
        {"chat", cmd_chat, "chat with a contact in the terminal (runs the node if none is)"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: sotto [--home DIR] [--log-level LEVEL] COMMAND [ARGS...]\n"
                 "\nSotto: a peer-to-peer, end-to-end encrypted messenger.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nOptions:\n"
                 "  --home DIR         the profile directory (default: $SOTTO_HOME, else\n"
                 "                     $XDG_DATA_HOME/sotto, else ~/.local/share/sotto)\n"
                 "  --log-level LEVEL  error, warn (default), info or debug\n"
                 "  -h, --help         this help; `sotto COMMAND --help` for a command's\n"
                 "  --version          print the version\n"
                 "\nEnvironment: SOTTO_HOME, SOTTO_PASSPHRASE (read instead of prompting).\n"
                 "\nExit codes: 0 ok, 1 failure, 2 usage, 3 no profile, 4 profile exists,\n"
                 "  5 passphrase, 6 not a profile, 7 damaged profile, 8 permissions too open,\n"
                 "  9 newer profile, 10 contact not found or ambiguous, 11 contact's key\n"
                 "  changed, 12 invalid card, 13 not verified, 14 directory unreachable or\n"
                 "  its answer invalid, 15 directory certificate not the pinned one,\n"
                 "  16 refused by the directory, 17 rate limited, 18 no node running,\n"
                 "  19 sent but not delivered yet (send --wait). See docs/cli.md.\n");
}

static int parse_global(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
            {"home", required_argument, NULL, 'H'},
            {"log-level", required_argument, NULL, 'l'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
    };
    int c, level;

    /* '+': stop at the subcommand, whose options are its own */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof(cli->home))
                return cli_usage_error(NULL, "--home: give a directory path (at most %zu bytes)",
                                       sizeof(cli->home) - 1);
            snprintf(cli->home, sizeof(cli->home), "%s", optarg);
            break;
        case 'l':
            level = sotto_log_level_parse(optarg);
            if (level < 0)
                return cli_usage_error(NULL, "--log-level: use error, warn, info or debug");
            cli->log.level = (enum sotto_log_level)level;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            printf("sotto %s\n", SOTTO_VERSION);
            return -1;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    return 0;
}

static int run(struct cli *cli, int argc, char **argv)
{
    int rc = parse_global(cli, argc, argv);

    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (cli->home[0] == '\0' && store_profile_home(cli->home) != SOTTO_OK) {
        fprintf(stderr, "sotto: cannot tell where the profile lives: set SOTTO_HOME or HOME\n");
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0) {
            char **sub = argv + optind;
            int subc = argc - optind;
            optind = 0; /* getopt_long restarts for the subcommand (glibc: 0 re-initialises) */
            return commands[i].fn(cli, subc, sub);
        }
    }
    fprintf(stderr, "sotto: unknown command '%s' (see `sotto --help`)\n", argv[optind]);
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct cli cli;
    int code;

    memset(&cli, 0, sizeof(cli));
    setlocale(LC_CTYPE, "");
    umask(077); /* everything a profile holds is private; sqlite's -wal/-shm included */
    if (sotto_env_global_init() != 0) {
        fprintf(stderr, "sotto: libsodium failed to initialise\n");
        return CLI_EXIT_FAILURE;
    }
    sotto_log_init(&cli.log);
    cli.log.level = SOTTO_LOG_WARN;
    sotto_env_init(&cli.env, &cli.log);
    cli.prog = "sotto";
    code = run(&cli, argc, argv);
    store_profile_close(cli.profile);
    e2e_ctx_free(cli.e2e);
    if (fflush(stdout) != 0 && code == CLI_EXIT_OK) {
        perror("sotto: writing output");
        code = CLI_EXIT_FAILURE;
    }
    return code;
}
