/* src/cli/cmd_node.c: sotto daemon (runs the node), and the commands that talk to it through
 * the local API: send, history, status. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "node/client.h"
#include "node/node.h"
#include "node/runfile.h"
#include "util/text.h"
#include "util/tlscert.h"

#define DEFAULT_LISTEN   "0.0.0.0:8766"
#define DEFAULT_API_PORT 8767
#define CONNECT_MS       5000
#define CALL_MS          30000

static struct node *volatile running; /* for the signal handler */
static volatile sig_atomic_t stop_asked;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_asked = 1;
    if (running != NULL)
        node_stop(running);
}

static const char daemon_usage[] =
        "Usage: sotto daemon [--listen ADDR:PORT] [--api-port N] [--tls-cert F --tls-key F]\n"
        "\n"
        "Runs your node: it accepts and dials peer links (WebSocket over TLS 1.3, on which\n"
        "both nodes prove their identity keys), keeps the outbox, and serves the local API on\n"
        "127.0.0.1 for `sotto send`, `history`, `status` and the web app. It writes\n"
        "$SOTTO_HOME/api.json (0600) while it runs. Stop it with Ctrl-C or SIGTERM.\n"
        "  --listen ADDR:PORT   peer links (default " DEFAULT_LISTEN ")\n"
        "  --api-port N         the local API's port on 127.0.0.1 (default 8767; 0: any)\n"
        "  --tls-cert F --tls-key F   your own certificate (default: a self-signed one kept in\n"
        "                       the profile, made on first start; it proves nothing by itself)\n"
        "  --sync full|normal   full (default): what the node acknowledged or sent survives a\n"
        "                       power cut; normal: it survives the process crashing, not the\n"
        "                       machine (faster: no fsync per commit)\n"
        "  --retry-max S        the longest wait between two attempts to reach a contact or\n"
        "                       resend a message (default 300; waits start at 5 s, doubling)\n";

int cmd_daemon(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
            {"listen", required_argument, NULL, 'l'},   {"api-port", required_argument, NULL, 'a'},
            {"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
            {"sync", required_argument, NULL, 's'},     {"retry-max", required_argument, NULL, 'r'},
            {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct node_params np = {.listen = DEFAULT_LISTEN, .api_port = DEFAULT_API_PORT};
    char cert[PROFILE_PATH_MAX + 32], key[PROFILE_PATH_MAX + 32];
    const char *user_cert = NULL, *user_key = NULL;
    struct node *n = NULL;
    struct sigaction sa;
    int c, code, lock = -1;
    long num;
    bool generated;
    enum sotto_err rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            np.listen = optarg;
            break;
        case 'a':
            if (!cli_parse_long(optarg, 0, 65535, &num))
                return cli_usage_error("daemon", "--api-port takes 0..65535");
            np.api_port = (unsigned)num;
            break;
        case 'c':
            user_cert = optarg;
            break;
        case 'k':
            user_key = optarg;
            break;
        case 's':
            if (strcmp(optarg, "full") != 0 && strcmp(optarg, "normal") != 0)
                return cli_usage_error("daemon", "--sync takes full or normal");
            np.sync_normal = strcmp(optarg, "normal") == 0;
            break;
        case 'r':
            if (!cli_parse_long(optarg, 5, 86400, &num))
                return cli_usage_error("daemon", "--retry-max takes 5..86400 seconds");
            np.retry_max_s = (unsigned)num;
            break;
        case 'h':
            fputs(daemon_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("daemon", "see `sotto daemon --help`");
        }
    }
    if (optind != argc)
        return cli_usage_error("daemon", "unexpected argument '%s'", argv[optind]);
    if ((user_cert == NULL) != (user_key == NULL))
        return cli_usage_error("daemon", "--tls-cert and --tls-key go together");
    code = cli_open_profile(cli);
    if (code == CLI_EXIT_OK)
        code = cli_unlock_profile(cli);
    if (code != CLI_EXIT_OK)
        return code;
    rc = node_lock_take(cli->home, &lock);
    if (rc == SOTTO_EEXIST) {
        fprintf(stderr, "sotto: daemon: a node of this profile is running already (see `sotto "
                        "status`)\n");
        return CLI_EXIT_EXISTS;
    }
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "taking the node lock");
    if (user_cert == NULL) {
        snprintf(cert, sizeof(cert), "%s/node-cert.pem", cli->home);
        snprintf(key, sizeof(key), "%s/node-key.pem", cli->home);
        rc = tls_self_signed_ensure(&cli->env, cert, key, "sotto-node", &generated);
        if (rc != SOTTO_OK) {
            close(lock);
            return cli_fail(cli, rc, "making the node's TLS certificate");
        }
        user_cert = cert;
        user_key = key;
    }
    np.env = &cli->env;
    np.profile = cli->profile;
    np.profile_dir = cli->home;
    np.cert_path = user_cert;
    np.key_path = user_key;
    /* before api.json exists: whoever sees the file may stop the node at once */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = cli_e2e(cli, &np.e2e);
    if (rc == SOTTO_OK)
        rc = node_create(&n, &np);
    if (rc != SOTTO_OK) {
        close(lock);
        return cli_fail(cli, rc, "starting the node");
    }
    running = n;
    if (stop_asked)
        node_stop(n);
    printf("peer links on port %u\nlocal API on 127.0.0.1:%u\n", node_peer_port(n),
           node_api_port(n));
    fflush(stdout);
    node_run(n);
    running = NULL;
    node_free(n);
    close(lock);
    fprintf(stderr, "sotto: daemon stopped\n");
    return CLI_EXIT_OK;
}

/* ---- clients of the node ---- */

static int no_node(struct cli *cli, enum sotto_err rc)
{
    if (rc == SOTTO_ENOENT) {
        fprintf(stderr, "sotto: no node is running for %s\n  start it with `sotto daemon`\n",
                cli->home);
        return CLI_EXIT_NODAEMON;
    }
    return cli_fail(cli, rc, "reaching the node");
}

static int call_failed(json_t *error, enum sotto_err rc)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *msg = json_string_value(json_object_get(error, "message"));

    int exit_code;

    if (rc == SOTTO_EREFUSED && msg != NULL) {
        fprintf(stderr, "sotto: %s\n", msg);
        exit_code =
                code != NULL && (strcmp(code, "not_found") == 0 || strcmp(code, "ambiguous") == 0)
                        ? CLI_EXIT_CONTACT
                        : CLI_EXIT_FAILURE;
        json_decref(error);
        return exit_code;
    }
    json_decref(error);
    fprintf(stderr, "sotto: the node did not answer (%s)\n", sotto_strerror(rc));
    return CLI_EXIT_NETWORK;
}

#define SEEN_MAX 64

/* One request to the running node (the reference to `req` is taken): CLI_EXIT_OK with *result
 * set, or the exit code, the error already printed. */
static int node_call(struct cli *cli, json_t *req, json_t **result)
{
    struct node_client *nc = NULL;
    json_t *error = NULL;
    enum sotto_err rc = node_client_open(&nc, &cli->env, cli->home, CONNECT_MS);

    *result = NULL;
    if (rc != SOTTO_OK) {
        json_decref(req);
        return no_node(cli, rc);
    }
    rc = node_client_call(nc, req, result, &error, CALL_MS);
    node_client_free(nc);
    return rc == SOTTO_OK ? CLI_EXIT_OK : call_failed(error, rc);
}

struct wait_ctx {
    const char *id; /* NULL until the send's answer came */
    bool delivered;
    /* deliveries seen before the answer (they may come in the same read as it) */
    char seen[SEEN_MAX][33];
    size_t n_seen;
};

static void wait_event(void *arg, json_t *ev)
{
    struct wait_ctx *w = arg;
    const char *e = json_string_value(json_object_get(ev, "event"));
    const char *id = json_string_value(json_object_get(ev, "id"));

    if (e == NULL || id == NULL || strcmp(e, "delivered") != 0 || strlen(id) != 32)
        return;
    if (w->id != NULL) {
        if (strcmp(id, w->id) == 0)
            w->delivered = true;
    } else {
        memcpy(w->seen[w->n_seen % SEEN_MAX], id, 33);
        w->n_seen++;
    }
}

static const char send_usage[] =
        "Usage: sotto send CONTACT TEXT [--wait [--timeout S]] [--json]\n"
        "\n"
        "Sends TEXT to CONTACT (a 15-digit number, a username or a contact's name) through the\n"
        "running node, end-to-end encrypted. The message is stored and queued at once; the node\n"
        "delivers it when a link to the contact is up. With --wait, waits until the contact's\n"
        "node acknowledged that it stored it: exit 0 when delivered, 19 when it is still queued\n"
        "after the timeout (default 30 s).\n";

int cmd_send(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"wait", no_argument, NULL, 'w'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool wait = false, json = false;
    long timeout_s = 30;
    struct node_client *nc = NULL;
    json_t *result = NULL, *error = NULL;
    struct wait_ctx w = {0};
    double until;
    int c, code;
    enum sotto_err rc;

    optind = 0; /* a full restart of getopt, which permutes arguments here */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            wait = true;
            break;
        case 't':
            if (!cli_parse_long(optarg, 1, 86400, &timeout_s))
                return cli_usage_error("send", "--timeout takes 1..86400 seconds");
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(send_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("send", "see `sotto send --help`");
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("send", "give CONTACT and TEXT (quote the text)");
    rc = node_client_open(&nc, &cli->env, cli->home, CONNECT_MS);
    if (rc != SOTTO_OK)
        return no_node(cli, rc);
    node_client_on_event(nc, wait_event, &w); /* before the call: see wait_ctx.seen */
    for (int tries = 0;; tries++) {
        rc = node_client_call(nc,
                              json_pack("{s:s, s:s, s:s}", "op", "send", "contact", argv[optind],
                                        "text", argv[optind + 1]),
                              &result, &error, CALL_MS);
        /* not a contact yet: looked up on the directory (DESIGN.md, Trust), then sent */
        if (tries > 0 || rc != SOTTO_EREFUSED ||
            strcmp(json_string_value(json_object_get(error, "code")) != NULL
                           ? json_string_value(json_object_get(error, "code"))
                           : "",
                   "not_found") != 0 ||
            cli_lookup_contact(cli, argv[optind]) != CLI_EXIT_OK)
            break;
        json_decref(error);
        error = NULL;
    }
    if (rc != SOTTO_OK) {
        node_client_free(nc);
        return call_failed(error, rc);
    }
    w.id = json_string_value(json_object_get(result, "id"));
    for (size_t i = 0; w.id != NULL && i < w.n_seen && i < SEEN_MAX; i++)
        if (strcmp(w.seen[i], w.id) == 0)
            w.delivered = true;
    code = CLI_EXIT_OK;
    if (wait && w.id != NULL) {
        until = (double)time(NULL) + (double)timeout_s;
        while (!w.delivered && !node_client_gone(nc) && (double)time(NULL) < until)
            node_client_wait(nc, 1000);
        code = w.delivered ? CLI_EXIT_OK : CLI_EXIT_QUEUED;
    }
    if (json) {
        json_object_set_new(result, "state",
                            json_string(w.delivered ? "delivered"
                                        : wait      ? "queued"
                                                    : "stored"));
        json_dumpf(result, stdout, JSON_COMPACT);
        putchar('\n');
    } else if (wait) {
        printf(w.delivered ? "✓✓ delivered\n"
                           : "✓ stored and queued: not delivered yet (the node keeps trying)\n");
    } else {
        printf("✓ stored and queued\n");
    }
    if (!json && json_is_true(json_object_get(result, "held")) && !w.delivered)
        fprintf(stderr, "sotto: send: %s\n",
                json_string_value(json_object_get(result, "reason")) != NULL
                        ? json_string_value(json_object_get(result, "reason"))
                        : "the contact is held");
    json_decref(result);
    node_client_free(nc);
    return code;
}

static const char history_usage[] = "Usage: sotto history CONTACT [--limit N] [--json]\n"
                                    "\n"
                                    "Shows the newest N (default 50) messages with CONTACT, "
                                    "oldest first, from the running node.\n";

int cmd_history(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    long limit = 50;
    json_t *result = NULL, *m;
    size_t i;
    char esc[4 * 65536 + 1];
    int c, code;

    optind = 0; /* a full restart of getopt, which permutes arguments here */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!cli_parse_long(optarg, 1, 1000, &limit))
                return cli_usage_error("history", "--limit takes 1..1000");
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(history_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("history", "see `sotto history --help`");
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("history", "give CONTACT");
    code = node_call(cli,
                     json_pack("{s:s, s:s, s:I}", "op", "history", "contact", argv[optind], "limit",
                               (json_int_t)limit),
                     &result);
    if (code != CLI_EXIT_OK)
        return code;
    if (json) {
        json_dumpf(result, stdout, JSON_COMPACT);
        putchar('\n');
    } else {
        json_array_foreach(json_object_get(result, "messages"), i, m)
        {
            const char *dir = json_string_value(json_object_get(m, "direction"));
            const char *state = json_string_value(json_object_get(m, "state"));
            time_t t = (time_t)(json_integer_value(json_object_get(m, "sent_ms")) / 1000);
            struct tm tm;
            char when[32];

            localtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
            text_escape(json_string_value(json_object_get(m, "text")), esc, sizeof(esc));
            printf("%s  %s %s%s\n", when, dir != NULL && strcmp(dir, "out") == 0 ? "→" : "←", esc,
                   state == NULL || strcmp(state, "received") == 0 ? ""
                   : strcmp(state, "delivered") == 0 && json_is_true(json_object_get(m, "read"))
                           ? "  ✓✓ read"
                   : strcmp(state, "delivered") == 0 ? "  ✓✓"
                   : strcmp(state, "failed") == 0    ? "  ✗ failed"
                   : strcmp(state, "waiting") == 0   ? "  ⏳ waiting"
                                                     : "  ✓");
            if (state != NULL && (strcmp(state, "failed") == 0 || strcmp(state, "waiting") == 0) &&
                json_is_string(json_object_get(m, "reason"))) {
                text_escape(json_string_value(json_object_get(m, "reason")), esc, sizeof(esc));
                printf("      (%s)\n", esc);
            }
        }
    }
    json_decref(result);
    return CLI_EXIT_OK;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    static const char usage[] = "Usage: sotto status [--json]\n"
                                "\n"
                                "Shows the running node: its ports, the peer links up, and what\n"
                                "waits in its outbox, per contact, with the reason.\n";
    json_t *result = NULL, *l;
    bool json = false;
    size_t i;
    int code = cli_parse_json_only(argc, argv, usage, &json);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    code = node_call(cli, json_pack("{s:s}", "op", "status"), &result);
    if (code != CLI_EXIT_OK)
        return code;
    if (json) {
        json_dumpf(result, stdout, JSON_COMPACT);
        putchar('\n');
    } else {
        printf("node of %s: peer links on port %lld, local API on 127.0.0.1:%lld\n",
               json_string_value(json_object_get(result, "name")),
               (long long)json_integer_value(json_object_get(result, "peer_port")),
               (long long)json_integer_value(json_object_get(result, "api_port")));
        if (json_array_size(json_object_get(result, "links")) == 0)
            printf("no links up\n");
        json_array_foreach(json_object_get(result, "links"), i, l)
                printf("  link with %s at %s (%s)\n", json_string_value(json_object_get(l, "peer")),
                       json_string_value(json_object_get(l, "address")),
                       json_is_true(json_object_get(l, "dialed")) ? "dialed" : "accepted");
        if (json_array_size(json_object_get(result, "outbox")) == 0)
            printf("outbox empty: everything sent was delivered\n");
        json_array_foreach(json_object_get(result, "outbox"), i, l)
        {
            const char *why = json_string_value(json_object_get(l, "why"));
            const char *who = json_string_value(json_object_get(l, "contact"));
            char esc[1024], name[4 * TEXT_NAME_MAX + 1];

            text_escape(why != NULL ? why : "", esc, sizeof(esc));
            text_escape(who != NULL ? who : "?", name, sizeof(name));
            printf("  to %s: %lld waiting, %lld sent and not acknowledged\n      %s\n", name,
                   (long long)json_integer_value(json_object_get(l, "waiting")),
                   (long long)json_integer_value(json_object_get(l, "sent")), esc);
        }
    }
    json_decref(result);
    return CLI_EXIT_OK;
}

/* ---- sotto events ---- */

static struct node_client *volatile listening; /* for the signal handler */

static void on_events_signal(int sig)
{
    (void)sig;
    if (listening != NULL)
        node_client_interrupt(listening);
}

static void print_event(void *arg, json_t *ev)
{
    bool json = *(bool *)arg;
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *what = json_string_value(json_object_get(ev, "message"));
    char esc[1024];

    if (name == NULL)
        return; /* an answer, not an event */
    if (json) {
        json_dumpf(ev, stdout, JSON_COMPACT);
        putchar('\n');
    } else {
        text_escape(what != NULL ? what : "", esc, sizeof(esc));
        printf("%s%s%s\n", name, what != NULL ? ": " : "", esc);
    }
    fflush(stdout);
}

int cmd_events(struct cli *cli, int argc, char **argv)
{
    static const char usage[] =
            "Usage: sotto events [--json]\n"
            "\n"
            "Prints the running node's events as they come (messages, deliveries, links, key\n"
            "changes: docs/API.md lists them), one a line; with --json, each as the JSON object\n"
            "the local API sends. Runs until interrupted (exit 0) or the node stops (exit 18).\n";
    struct node_client *nc = NULL;
    struct sigaction sa = {0};
    bool json = false;
    int code = cli_parse_json_only(argc, argv, usage, &json);
    enum sotto_err rc;

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    rc = node_client_open(&nc, &cli->env, cli->home, CONNECT_MS);
    if (rc != SOTTO_OK)
        return no_node(cli, rc);
    node_client_on_event(nc, print_event, &json);
    listening = nc;
    sa.sa_handler = on_events_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* the first line says the stream is open, so that a script knows events from now on come */
    if (json)
        printf("{\"event\":\"listening\"}\n");
    else
        printf("listening for events (Ctrl-C to stop)\n");
    fflush(stdout);
    while (node_client_wait(nc, 0) && !node_client_gone(nc))
        ;
    code = node_client_gone(nc) ? CLI_EXIT_NODAEMON : CLI_EXIT_OK;
    listening = NULL;
    node_client_free(nc);
    if (code != CLI_EXIT_OK)
        fprintf(stderr, "sotto: events: the node stopped\n");
    return code;
}
