/* src/cli/cmd_directory.c: `sotto register`, `sotto lookup` and `sotto unregister`: the
 * directory as the user sees it, with its certificate pinned on first use (or to
 * --fingerprint) and remembered in the profile. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "store/signal_store.h"
#include "cli.h"
#include "identity/number.h"
#include "net/dir.h"
#include "util/text.h"

#define ESCAPED_MAX (4 * NET_MESSAGE_MAX + 1)

/* Where to go, and what the profile already knows about it. */
struct dir_target {
    char url[NET_URL_MAX + 1];
    char pin[NET_PIN_HEX_LEN + 1]; /* "" : trust on first use */
    bool pin_given;                /* --fingerprint */
    struct store_directory saved;  /* zeroed when none is remembered */
    bool saved_here;               /* the remembered directory is this URL */
};

/* Options shared by the three commands. */
struct dir_args {
    const char *url, *fingerprint;
    const char *addrs[CARD_ADDRS_MAX];
    size_t n_addrs;
    bool json, accept_new_key;
    bool quiet;          /* a lookup for another command: one line on stderr, not the report */
    const char *operand; /* USERNAME or NAME|NUMBER */
};

/* ---- the directory: which one, the pin, and failures ---- */

static int dir_resolve(struct cli *cli, const char *cmd, const struct dir_args *a,
                       struct dir_target *t)
{
    enum sotto_err rc = store_directory_get(cli->profile, &t->saved);

    if (rc != SOTTO_OK && rc != SOTTO_ENOENT)
        return cli_fail(cli, rc, "reading the remembered directory");
    if (a->url != NULL && net_url_normalize(a->url, t->url) != SOTTO_OK)
        return cli_usage_error(cmd, "--directory must be https://HOST[:PORT]");
    if (a->url == NULL && t->saved.url[0] == '\0')
        return cli_usage_error(cmd, "no directory is remembered yet: give --directory URL");
    if (a->url == NULL)
        memcpy(t->url, t->saved.url, sizeof(t->url));
    t->saved_here = t->saved.url[0] != '\0' && strcmp(t->saved.url, t->url) == 0;
    if (a->fingerprint != NULL) {
        if (net_pin_parse(a->fingerprint, t->pin) != SOTTO_OK)
            return cli_usage_error(cmd, "--fingerprint must be the 64 hex digits of the "
                                        "directory's SHA-256 pin");
        t->pin_given = true;
    } else if (t->saved_here) {
        memcpy(t->pin, t->saved.pin, sizeof(t->pin));
    }
    return CLI_EXIT_OK;
}

static int dir_open(struct cli *cli, const struct dir_target *t, struct net_dir **d)
{
    struct net_dir_params params = {.url = t->url, .pin = t->pin[0] != '\0' ? t->pin : NULL};
    enum sotto_err rc;

    /* a server closing the connection must fail the write, not kill us */
    signal(SIGPIPE, SIG_IGN);
    rc = net_dir_open(d, &cli->env, &params);
    return rc == SOTTO_OK ? CLI_EXIT_OK : cli_fail(cli, rc, "opening the directory session");
}

/* Records the pin once a certificate was accepted: the first one seen (trust on first use),
 * or the one given with --fingerprint. A registration elsewhere is never replaced here. */
static void dir_remember(struct cli *cli, const struct dir_target *t, const struct net_dir *d)
{
    const char *pin = net_dir_pin(d);
    enum sotto_err rc;

    if (!net_dir_pin_accepted(d) || (t->saved_here && strcmp(pin, t->saved.pin) == 0))
        return;
    if (!t->saved_here && t->saved.username[0] != '\0')
        return;
    rc = store_directory_remember(cli->profile, t->url, pin);
    if (rc != SOTTO_OK)
        fprintf(stderr, "sotto: warning: could not remember the directory: %s\n",
                sotto_strerror(rc));
    else if (!t->saved_here || t->pin_given)
        fprintf(stderr, "Pinned the directory %s: sha256:%s\n", t->url, pin);
}

static int dir_pin_failed(const struct dir_target *t, const struct net_dir *d)
{
    const struct net_dir_problem *pr = net_dir_problem(d);

    fprintf(stderr,
            "sotto: WARNING: the certificate of the directory %s is NOT the pinned one.\n"
            "  Nothing was sent to it and nothing was changed.\n"
            "    pinned:  sha256:%s\n"
            "    offered: sha256:%s\n"
            "  Either its operator replaced the certificate, or someone is intercepting the\n"
            "  connection. Ask the operator for the directory's fingerprint by another channel;\n"
            "  if it is the offered one, run the command again with --fingerprint SHA256.\n",
            t->url, net_dir_pin(d), pr->pin_seen[0] != '\0' ? pr->pin_seen : "(unreadable)");
    return cli_exit_code(SOTTO_EPIN);
}

static void server_says(const struct net_dir_problem *pr)
{
    char msg[ESCAPED_MAX], code[4 * NET_CODE_MAX + 1];

    if (pr->message[0] == '\0')
        return;
    text_escape(pr->message, msg, sizeof(msg));
    text_escape(pr->code, code, sizeof(code));
    fprintf(stderr, "  the directory says: %s%s%s%s\n", msg, code[0] ? " (" : "", code,
            code[0] ? ")" : "");
}

/* The directory answered, but not something we can use: treated like a network failure. */
static int bad_answer(const char *what, enum sotto_err rc, const struct net_dir_problem *pr)
{
    fprintf(stderr, "sotto: %s: the directory's answer %s%s%s; nothing was changed\n", what,
            rc == SOTTO_ENUMBER   ? "gives a number that does not belong to the key"
            : rc == SOTTO_ETOOBIG ? "is far too large"
                                  : "is malformed or not the account asked for",
            pr->detail[0] != '\0' ? ": " : "", pr->detail);
    return CLI_EXIT_NETWORK;
}

/* Prints why a directory call failed, and returns the exit code. */
static int dir_fail(struct cli *cli, const struct dir_target *t, const struct net_dir *d,
                    enum sotto_err rc, const char *what)
{
    const struct net_dir_problem *pr = net_dir_problem(d);

    switch (rc) {
    case SOTTO_EPIN:
        return dir_pin_failed(t, d);
    case SOTTO_ENET:
        if (pr->status != 0)
            fprintf(stderr, "sotto: %s: the directory %s failed (HTTP %d)\n", what, t->url,
                    pr->status);
        else
            fprintf(stderr, "sotto: %s: cannot reach the directory %s: %s\n", what, t->url,
                    pr->detail);
        fprintf(stderr, "  check the URL and your network, or try again later\n");
        break;
    case SOTTO_ERATE:
        fprintf(stderr,
                "sotto: %s: the directory is limiting requests from you; try again in "
                "%u s\n",
                what, pr->retry_after_s != 0 ? pr->retry_after_s : 60);
        break;
    case SOTTO_EREFUSED:
        fprintf(stderr, "sotto: %s: the directory refused (HTTP %d)\n", what, pr->status);
        break;
    case SOTTO_EPROTO:
    case SOTTO_ENUMBER:
    case SOTTO_ETOOBIG:
        return bad_answer(what, rc, pr);
    default:
        return cli_fail(cli, rc, what);
    }
    server_says(pr);
    return cli_exit_code(rc);
}

/* Unlocks the profile and fills the signing identity; the caller wipes `priv`. */
static int identity_of(struct cli *cli, const struct store_self *self,
                       uint8_t priv[static E2E_PRIV_LEN], struct net_identity *id)
{
    enum sotto_err rc;
    int code = cli_unlock_profile(cli);

    if (code != CLI_EXIT_OK)
        return code;
    rc = cli_e2e(cli, &id->e2e);
    if (rc == SOTTO_OK)
        rc = store_self_private_key(cli->profile, id->e2e, priv);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "reading your identity key");
    id->priv = priv;
    id->number = self->number;
    return CLI_EXIT_OK;
}

static void topup_report(enum sotto_err rc, const struct net_topup *up, const struct net_dir *d)
{
    const struct net_dir_problem *pr = net_dir_problem(d);

    if (rc != SOTTO_OK)
        fprintf(stderr, "sotto: warning: topping up your one-time prekeys failed: %s%s%s\n",
                sotto_strerror(rc), pr->detail[0] ? ": " : "", pr->detail);
    else if (up->made > 0)
        fprintf(stderr, "Topped up your one-time prekeys on the directory: %u left, %u new.\n",
                up->left_before, up->made);
}

/* ---- option parsing ---- */

enum dir_cmd { DIR_REGISTER, DIR_LOOKUP, DIR_UNREGISTER };

static const char *const dir_names[] = {"register", "lookup", "unregister"};

static int dir_parse_one(int c, enum dir_cmd which, struct dir_args *a)
{
    if (c == 'd')
        a->url = optarg;
    else if (c == 'f')
        a->fingerprint = optarg;
    else if (c == 'j')
        a->json = true;
    else if (c == 'A' && which == DIR_LOOKUP)
        a->accept_new_key = true;
    else if (c == 'a' && which == DIR_REGISTER && a->n_addrs < CARD_ADDRS_MAX &&
             identity_card_check_address(optarg) == SOTTO_OK)
        a->addrs[a->n_addrs++] = optarg;
    else if (c == 'a' && which == DIR_REGISTER)
        return cli_usage_error(dir_names[which],
                               "--address '%s' is not HOST:PORT, or more than %d were given",
                               optarg, CARD_ADDRS_MAX);
    else
        return cli_usage_error(dir_names[which], "unknown option");
    return 0;
}

/* 0 to go on, -1 after printing help, else the exit code of a usage error. */
static int dir_parse(int argc, char **argv, enum dir_cmd which, const char *usage,
                     struct dir_args *a)
{
    static const struct option opts[] = {
            {"directory", required_argument, NULL, 'd'},
            {"fingerprint", required_argument, NULL, 'f'},
            {"address", required_argument, NULL, 'a'},
            {"accept-new-key", no_argument, NULL, 'A'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    int c, code;

    memset(a, 0, sizeof(*a));
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return -1;
        }
        if ((code = dir_parse_one(c, which, a)) != 0)
            return code;
    }
    if (which == DIR_UNREGISTER && optind != argc)
        return cli_usage_error(dir_names[which], "unexpected argument '%s'", argv[optind]);
    if (which != DIR_UNREGISTER && optind != argc - 1)
        return cli_usage_error(dir_names[which], "name one %s",
                               which == DIR_REGISTER ? "USERNAME" : "NAME or NUMBER");
    a->operand = which != DIR_UNREGISTER ? argv[optind] : NULL;
    return 0;
}

/* ---- register ---- */

static const char register_usage[] =
        "Usage: sotto register USERNAME [--directory URL] [--fingerprint SHA256]\n"
        "                      [--address HOST:PORT]... [--json]\n"
        "\nPublishes your account on a directory: USERNAME (3-32 characters of a-z 0-9 _ . -,\n"
        "starting with a letter), your number, identity key, signed prekey, up to 100 one-time\n"
        "prekeys and your addresses, signed with your identity key (it asks for your\n"
        "passphrase). The directory is remembered for lookup and unregister.\n"
        "  --directory URL       https://HOST[:PORT] (default: the remembered directory)\n"
        "  --fingerprint SHA256  the pin the directory's operator gave you (the SHA-256 of its\n"
        "                        certificate's public key); without it the first certificate\n"
        "                        seen is pinned, and a later change is refused\n"
        "  --address HOST:PORT   publish this address instead of the profile's own\n"
        "                        (repeatable, up to 8)\n"
        "  --json                print the result as JSON\n"
        "\nExit codes: 14 the directory cannot be reached or answered nonsense; 15 its\n"
        "certificate is not the pinned one; 16 it refused (the username or your number is\n"
        "taken: choose another username); 17 rate limited.\n";

struct reg_job {
    char username[TEXT_USERNAME_MAX + 1];
    struct store_self self;
    struct net_signed_prekey spk;
    struct store_prekey_pub pub[NET_PREKEYS_TARGET];
    struct net_prekey pks[NET_PREKEYS_TARGET];
    uint32_t ids[NET_PREKEYS_TARGET];
    size_t n_pks;
    const char *addrs[CARD_ADDRS_MAX];
    size_t n_addrs;
};

static int username_arg(const char *cmd, const char *arg, char out[static TEXT_USERNAME_MAX + 1])
{
    size_t len = strnlen(arg, TEXT_USERNAME_MAX + 1);

    if (len <= TEXT_USERNAME_MAX) {
        memcpy(out, arg, len + 1);
        text_lower_ascii(out);
        if (text_check_username((const uint8_t *)out, len) == SOTTO_OK)
            return CLI_EXIT_OK;
    }
    return cli_usage_error(cmd, "a username is 3-32 characters of a-z 0-9 _ . -, starting with "
                                "a letter");
}

/* The public parts to publish: identity, signed prekey, prekeys, addresses. */
static int reg_prepare(struct cli *cli, const struct dir_args *a, struct reg_job *job)
{
    struct store_signed_prekey_pub spk;
    enum sotto_err rc = store_self_get(cli->profile, &job->self);

    if (rc == SOTTO_OK)
        rc = store_signed_prekey_public(cli->profile, &spk);
    if (rc == SOTTO_OK)
        rc = store_prekeys_public(cli->profile, false, job->pub, NET_PREKEYS_TARGET, &job->n_pks);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "reading your keys");
    job->spk.id = spk.id;
    memcpy(job->spk.key, spk.key, E2E_KEY_LEN);
    memcpy(job->spk.sig, spk.sig, E2E_SIG_LEN);
    for (size_t i = 0; i < job->n_pks; i++) {
        job->pks[i].id = job->ids[i] = job->pub[i].id;
        memcpy(job->pks[i].key, job->pub[i].key, E2E_KEY_LEN);
    }
    job->n_addrs = a->n_addrs > 0 ? a->n_addrs : job->self.n_addrs;
    for (size_t i = 0; i < job->n_addrs; i++)
        job->addrs[i] = a->n_addrs > 0 ? a->addrs[i] : job->self.addrs[i];
    return CLI_EXIT_OK;
}

static int reg_print(const struct reg_job *job, const struct net_registered *r,
                     const struct net_dir *d, const struct net_topup *up, bool json)
{
    char grouped[NUMBER_GROUPED_LEN], digits[NUMBER_DIGITS_LEN];

    identity_number_grouped(r->number, grouped);
    identity_number_digits(r->number, digits);
    if (json)
        return cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "username",
                                        r->username, "number", digits, "directory", net_dir_url(d),
                                        "pin", net_dir_pin(d), "seen_from", r->seen_from,
                                        "prekeys_uploaded", (json_int_t)(job->n_pks + up->uploaded),
                                        "prekeys_made", (json_int_t)up->made));
    printf("Registered %s on %s.\n"
           "  number     %s\n"
           "  pin        sha256:%s\n"
           "  seen from  %s\n"
           "Others can now find you with `sotto lookup %s`.\n",
           r->username, net_dir_url(d), grouped, net_dir_pin(d), r->seen_from, r->username);
    return CLI_EXIT_OK;
}

static int reg_refused(struct cli *cli, const struct dir_target *t, const struct net_dir *d,
                       enum sotto_err rc, const char *username)
{
    const struct net_dir_problem *pr = net_dir_problem(d);

    if (rc == SOTTO_EREFUSED && strcmp(pr->code, "username_taken") == 0)
        fprintf(stderr,
                "sotto: register: the username '%s' is taken (or too like one that is): "
                "choose another one\n",
                username);
    else if (rc == SOTTO_EREFUSED && strcmp(pr->code, "number_taken") == 0)
        fprintf(stderr,
                "sotto: register: your number is already registered on %s\n"
                "  `sotto unregister` first to register again under another name\n",
                t->url);
    else
        return dir_fail(cli, t, d, rc, "register");
    server_says(pr);
    return cli_exit_code(rc);
}

/* Registers, records it, then tops the prekeys up. */
static int reg_send(struct cli *cli, const struct dir_target *t, struct net_dir *d,
                    const struct net_identity *id, struct reg_job *job, bool json)
{
    struct net_register reg = {.username = job->username,
                               .key = job->self.key,
                               .registration_id = job->self.registration_id,
                               .signed_prekey = &job->spk,
                               .prekeys = job->pks,
                               .n_prekeys = job->n_pks,
                               .addrs = job->addrs,
                               .n_addrs = job->n_addrs};
    struct net_registered r;
    struct net_topup up = {0};
    enum sotto_err rc = net_dir_register(d, id, &reg, &r);

    if (rc != SOTTO_OK) {
        dir_remember(cli, t, d);
        return reg_refused(cli, t, d, rc, job->username);
    }
    rc = store_directory_registered(cli->profile, t->url, net_dir_pin(d), r.username,
                                    sotto_now_ms(&cli->env), job->ids, job->n_pks);
    if (rc != SOTTO_OK) {
        fprintf(stderr,
                "sotto: register: the directory registered you, but saving that "
                "failed: %s\n  run `sotto register` again, or `sotto unregister "
                "--directory %s`\n",
                sotto_strerror(rc), t->url);
        return cli_exit_code(rc);
    }
    if (!t->saved_here || t->pin_given)
        fprintf(stderr, "Pinned the directory %s: sha256:%s\n", t->url, net_dir_pin(d));
    rc = net_prekeys_topup(d, cli->profile, id, (int)job->n_pks, &up);
    topup_report(rc, &up, d);
    return reg_print(job, &r, d, &up, json);
}

static int reg_refuse_elsewhere(const struct dir_target *t)
{
    fprintf(stderr,
            "sotto: register: you are registered as %s on %s\n"
            "  run `sotto unregister` first to move to another directory\n",
            t->saved.username, t->saved.url);
    return CLI_EXIT_REFUSED;
}

static int register_run(struct cli *cli, const struct dir_args *a, struct reg_job *job)
{
    struct dir_target t = {0};
    uint8_t priv[E2E_PRIV_LEN];
    struct net_identity id = {0};
    struct net_dir *d = NULL;
    int code;

    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK ||
        (code = dir_resolve(cli, "register", a, &t)) != CLI_EXIT_OK)
        return code;
    if (!t.saved_here && t.saved.username[0] != '\0')
        return reg_refuse_elsewhere(&t);
    if ((code = reg_prepare(cli, a, job)) != CLI_EXIT_OK)
        return code;
    code = identity_of(cli, &job->self, priv, &id);
    if (code == CLI_EXIT_OK)
        code = dir_open(cli, &t, &d);
    if (code == CLI_EXIT_OK)
        code = reg_send(cli, &t, d, &id, job, a->json);
    sodium_memzero(priv, sizeof(priv));
    net_dir_free(d);
    return code;
}

int cmd_register(struct cli *cli, int argc, char **argv)
{
    struct dir_args a;
    struct reg_job *job;
    int code = dir_parse(argc, argv, DIR_REGISTER, register_usage, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    job = sotto_zalloc(&cli->env, sizeof(*job));
    if (job == NULL)
        return cli_fail(cli, SOTTO_ENOMEM, "register");
    code = username_arg("register", a.operand, job->username);
    if (code == CLI_EXIT_OK)
        code = register_run(cli, &a, job);
    sotto_free(&cli->env, job);
    return code;
}

/* ---- lookup ---- */

static const char lookup_usage[] =
        "Usage: sotto lookup NAME|NUMBER [--directory URL] [--fingerprint SHA256]\n"
        "                    [--accept-new-key] [--json]\n"
        "\nFinds an account on the directory by username or 15-digit number, checks that the\n"
        "number belongs to its key, and adds the contact (named after the username) or\n"
        "refreshes it: the username counts as confirmed, the addresses are updated. When a known\n"
        "contact's key changed you are warned with both fingerprints: an unverified contact\n"
        "moves to the new key; a verified one is left as it is (exit code 11) until you accept\n"
        "the new key with --accept-new-key (its verified mark is then cleared). When you are\n"
        "registered there, it also tops up your one-time prekeys if the directory runs low\n"
        "(when your passphrase is in SOTTO_PASSPHRASE, or the profile has none).\n"
        "  --directory URL       https://HOST[:PORT] (default: the remembered directory)\n"
        "  --fingerprint SHA256  the directory's pin, if you have not pinned it yet or it\n"
        "                        changed\n"
        "  --accept-new-key      accept a verified contact's new key\n"
        "  --json                print the contact as JSON, with \"result\"\n"
        "\nExit codes: 10 no such account; 11 a verified contact's key changed; 14 the directory\n"
        "cannot be reached or answered nonsense; 15 its certificate is not the pinned one;\n"
        "17 rate limited.\n";

static void account_copy(const struct net_account *n, struct store_dir_account *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->username, n->username, sizeof(s->username));
    s->number = n->number;
    memcpy(s->key, n->key, E2E_KEY_LEN);
    s->n_addrs = n->n_addrs;
    memcpy(s->addrs, n->addrs, sizeof(s->addrs));
}

static int lookup_held(const struct store_contact *prev, const struct net_account *acct)
{
    char name[4 * TEXT_NAME_MAX + 1], old_fp[FINGERPRINT_LEN], new_fp[FINGERPRINT_LEN];

    text_escape(prev->name, name, sizeof(name));
    identity_fingerprint(prev->key, old_fp);
    identity_fingerprint(acct->key, new_fp);
    fprintf(stderr,
            "sotto: WARNING: the directory gives '%s' (username %s) a NEW identity key, and you\n"
            "  had verified the old one. Nothing was changed.\n"
            "    verified key:     %s\n"
            "    directory's key:  %s\n"
            "  This happens when %s made a new profile, or when someone took over the username.\n"
            "  Ask %s by another channel (a call, in person). If the new key is theirs, accept it\n"
            "  with `sotto lookup %s --accept-new-key`, then compare safety numbers and run\n"
            "  `sotto verify` again.\n",
            name, acct->username, old_fp, new_fp, name, name, acct->username);
    return CLI_EXIT_KEYCHANGED;
}

static void lookup_warn_moved(const struct store_contact *prev, const struct store_contact *c)
{
    char name[4 * TEXT_NAME_MAX + 1], old_fp[FINGERPRINT_LEN], new_fp[FINGERPRINT_LEN];

    text_escape(prev->name, name, sizeof(name));
    identity_fingerprint(prev->key, old_fp);
    identity_fingerprint(c->key, new_fp);
    fprintf(stderr,
            "sotto: WARNING: the identity key of '%s' (username %s) CHANGED on the directory.\n"
            "    old key:  %s\n"
            "    new key:  %s\n"
            "  The contact now uses the new key%s. A new profile looks like this, and so does\n"
            "  someone taking over the username: compare safety numbers with\n"
            "  `sotto safety-number %s` by another channel before trusting it.\n",
            name, c->username, old_fp, new_fp,
            prev->verified ? "; its verified mark was cleared" : "", c->username);
}

static int lookup_print(const struct store_contact *c, const struct store_contact *prev,
                        enum store_import_result what, const struct net_dir *d, bool json)
{
    static const char *const verb[] = {
            [STORE_IMPORT_ADDED] = "added",
            [STORE_IMPORT_UPDATED] = "updated",
            [STORE_IMPORT_UNCHANGED] = "unchanged",
            [STORE_IMPORT_KEY_REPLACED] = "key_replaced",
    };
    char name[4 * TEXT_NAME_MAX + 1], num[NUMBER_GROUPED_LEN], fp[FINGERPRINT_LEN];
    json_t *o;

    if (json) {
        o = cli_contact_json(c);
        identity_fingerprint(prev->key, fp);
        if (o != NULL &&
            (json_object_set_new(o, "result", json_string(verb[what])) != 0 ||
             json_object_set_new(o, "directory", json_string(net_dir_url(d))) != 0 ||
             json_object_set_new(o, "previous_fingerprint",
                                 what == STORE_IMPORT_KEY_REPLACED ? json_string(fp)
                                                                   : json_null()) != 0)) {
            json_decref(o);
            o = NULL;
        }
        return cli_print_json(o);
    }
    text_escape(c->name, name, sizeof(name));
    identity_number_grouped(c->number, num);
    printf("%s %s (%s), username %s confirmed by %s.\n",
           what == STORE_IMPORT_ADDED       ? "Added contact"
           : what == STORE_IMPORT_UNCHANGED ? "Contact is up to date:"
                                            : "Updated contact",
           name, num, c->username, net_dir_url(d));
    if (!c->verified)
        printf("Not verified yet: compare safety numbers with `sotto safety-number %s`.\n",
               c->username);
    return CLI_EXIT_OK;
}

/* The account found is ours: nothing to add. */
static int lookup_self(const struct net_account *acct, bool json)
{
    char num[NUMBER_GROUPED_LEN], digits[NUMBER_DIGITS_LEN];

    identity_number_grouped(acct->number, num);
    identity_number_digits(acct->number, digits);
    if (json)
        return cli_print_json(json_pack("{s:s, s:s, s:b}", "username", acct->username, "number",
                                        digits, "self", 1));
    printf("That is you: %s (%s).\n", acct->username, num);
    return CLI_EXIT_OK;
}

static int lookup_store(struct cli *cli, const struct net_account *acct, const struct net_dir *d,
                        const struct dir_args *a)
{
    struct store_dir_account sa;
    struct store_contact c, prev;
    enum store_import_result what = STORE_IMPORT_UNCHANGED;
    enum sotto_err rc;

    account_copy(acct, &sa);
    rc = store_contact_from_directory(cli->profile, &sa, a->accept_new_key, &c, &prev, &what);
    if (rc == SOTTO_EKEYCHANGED) {
        /* remembered, so that the node sends nothing to the contact and builds no session with
         * the new key until the user decides (DESIGN.md, Trust) */
        if (prev.id > 0 && store_contact_hold(cli->profile, prev.id, acct->key) != SOTTO_OK)
            fprintf(stderr, "sotto: lookup: could not record the hold on the contact\n");
        return lookup_held(&prev, acct);
    }
    if (rc == SOTTO_EEXIST) {
        fprintf(stderr,
                "sotto: lookup: another contact, with another key, has the number %s "
                "gives; nothing was changed\n  see `sotto contacts`\n",
                acct->username);
        return CLI_EXIT_KEYCHANGED;
    }
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "saving the contact");
    if (what == STORE_IMPORT_KEY_REPLACED)
        lookup_warn_moved(&prev, &c);
    if (a->quiet) {
        char name[4 * TEXT_NAME_MAX + 1];

        text_escape(c.name, name, sizeof(name));
        fprintf(stderr, "sotto: %s found on %s and added as a contact (not verified yet)\n", name,
                net_dir_url(d));
        return CLI_EXIT_OK;
    }
    return lookup_print(&c, &prev, what, d, a->json);
}

/* Tops our prekeys up when we are registered on this directory and the identity key can be
 * read without asking: a lookup is no reason to prompt for a passphrase. */
static void lookup_topup(struct cli *cli, const struct dir_target *t, struct net_dir *d)
{
    uint8_t priv[E2E_PRIV_LEN];
    struct net_identity id = {0};
    struct store_self self;
    struct net_topup up;
    enum sotto_err rc;

    if (!t->saved_here || t->saved.username[0] == '\0')
        return;
    if (store_profile_has_passphrase(cli->profile) && getenv("SOTTO_PASSPHRASE") == NULL)
        return;
    rc = store_self_get(cli->profile, &self);
    if (rc != SOTTO_OK || identity_of(cli, &self, priv, &id) != CLI_EXIT_OK) {
        fprintf(stderr, "sotto: warning: your one-time prekeys were not checked\n");
        sodium_memzero(priv, sizeof(priv));
        return;
    }
    rc = net_prekeys_topup(d, cli->profile, &id, -1, &up);
    sodium_memzero(priv, sizeof(priv));
    topup_report(rc, &up, d);
}

static int lookup_not_found(const struct dir_args *a, const struct dir_target *t)
{
    char q[4 * TEXT_USERNAME_MAX + 1];

    text_escape(a->operand, q, sizeof(q));
    fprintf(stderr, "sotto: lookup: the directory %s has no account '%s'\n", t->url, q);
    return CLI_EXIT_CONTACT;
}

static int lookup_run(struct cli *cli, const struct dir_args *a)
{
    struct dir_target t = {0};
    struct net_account acct;
    struct store_self self;
    struct net_dir *d = NULL;
    enum sotto_err rc;
    int code;

    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK ||
        (code = dir_resolve(cli, "lookup", a, &t)) != CLI_EXIT_OK ||
        (code = dir_open(cli, &t, &d)) != CLI_EXIT_OK)
        return code;
    rc = net_dir_lookup(d, a->operand, &acct);
    dir_remember(cli, &t, d);
    if (rc == SOTTO_ENOENT)
        code = lookup_not_found(a, &t);
    else if (rc != SOTTO_OK)
        code = dir_fail(cli, &t, d, rc, "lookup");
    else if ((rc = store_self_get(cli->profile, &self)) != SOTTO_OK)
        code = cli_fail(cli, rc, "reading your identity");
    else if (self.number == acct.number)
        code = lookup_self(&acct, a->json);
    else
        code = lookup_store(cli, &acct, d, a);
    /* only with a directory that answered sensibly: a top-up is a signed write */
    if (rc == SOTTO_OK || rc == SOTTO_ENOENT)
        lookup_topup(cli, &t, d);
    net_dir_free(d);
    return code;
}

int cli_lookup_contact(struct cli *cli, const char *query)
{
    struct dir_args a = {.operand = query, .quiet = true};
    uint64_t number;
    char username[TEXT_USERNAME_MAX + 1];
    size_t len = strnlen(query, TEXT_USERNAME_MAX + 1);
    struct store_directory saved;
    int code = cli_open_profile(cli);

    if (code != CLI_EXIT_OK)
        return code;
    if (store_directory_get(cli->profile, &saved) != SOTTO_OK || saved.pin[0] == '\0')
        return CLI_EXIT_CONTACT; /* no directory to ask */
    if (identity_number_parse(query, &number) != SOTTO_OK) {
        if (len > TEXT_USERNAME_MAX)
            return CLI_EXIT_CONTACT;
        memcpy(username, query, len + 1);
        text_lower_ascii(username);
        if (text_check_username((const uint8_t *)username, len) != SOTTO_OK)
            return CLI_EXIT_CONTACT; /* a name, not a username: nothing to ask the directory */
        a.operand = username;
    }
    return lookup_run(cli, &a);
}

int cmd_lookup(struct cli *cli, int argc, char **argv)
{
    struct dir_args a;
    uint64_t number;
    char username[TEXT_USERNAME_MAX + 1];
    int code = dir_parse(argc, argv, DIR_LOOKUP, lookup_usage, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    if (identity_number_parse(a.operand, &number) != SOTTO_OK &&
        (code = username_arg("lookup", a.operand, username)) != CLI_EXIT_OK)
        return code;
    return lookup_run(cli, &a);
}

/* ---- unregister ---- */

static const char unregister_usage[] =
        "Usage: sotto unregister [--directory URL] [--fingerprint SHA256] [--json]\n"
        "\nDeletes your account (username, keys, addresses) from the directory you registered\n"
        "on, signed with your identity key (it asks for your passphrase), and forgets the\n"
        "registration. The directory and its pin stay remembered for lookups.\n"
        "  --directory URL       another directory to delete your account from\n"
        "  --fingerprint SHA256  the directory's pin, if it changed\n"
        "  --json                print the result as JSON\n"
        "\nExit codes: 14 the directory cannot be reached; 15 its certificate is not the pinned\n"
        "one; 16 you are not registered, or the directory refused.\n";

static int unregister_done(struct cli *cli, const struct dir_target *t, const struct net_dir *d,
                           enum sotto_err rc, bool json)
{
    enum sotto_err src = SOTTO_OK;

    if (t->saved_here)
        src = store_directory_forget_registration(cli->profile);
    if (src != SOTTO_OK)
        return cli_fail(cli, src, "forgetting the registration");
    if (rc == SOTTO_ENOENT)
        fprintf(stderr, "The directory %s had no account with your number.\n", net_dir_url(d));
    if (json)
        return cli_print_json(
                json_pack("{s:s, s:b}", "directory", net_dir_url(d), "deleted", rc == SOTTO_OK));
    if (rc == SOTTO_OK)
        printf("Unregistered%s%s from %s.\n", t->saved.username[0] ? " " : "", t->saved.username,
               net_dir_url(d));
    return CLI_EXIT_OK;
}

static int unregister_run(struct cli *cli, const struct dir_args *a)
{
    struct dir_target t = {0};
    uint8_t priv[E2E_PRIV_LEN];
    struct net_identity id = {0};
    struct store_self self;
    struct net_dir *d = NULL;
    enum sotto_err rc;
    int code;

    if ((code = cli_open_profile(cli)) != CLI_EXIT_OK ||
        (code = dir_resolve(cli, "unregister", a, &t)) != CLI_EXIT_OK)
        return code;
    if (a->url == NULL && t.saved.username[0] == '\0') {
        fprintf(stderr, "sotto: unregister: you are not registered on %s\n", t.url);
        return CLI_EXIT_REFUSED;
    }
    rc = store_self_get(cli->profile, &self);
    if (rc != SOTTO_OK)
        return cli_fail(cli, rc, "reading your identity");
    code = identity_of(cli, &self, priv, &id);
    if (code == CLI_EXIT_OK)
        code = dir_open(cli, &t, &d);
    if (code == CLI_EXIT_OK) {
        rc = net_dir_delete(d, &id);
        dir_remember(cli, &t, d);
        code = rc == SOTTO_OK || rc == SOTTO_ENOENT ? unregister_done(cli, &t, d, rc, a->json)
                                                    : dir_fail(cli, &t, d, rc, "unregister");
    }
    sodium_memzero(priv, sizeof(priv));
    net_dir_free(d);
    return code;
}

int cmd_unregister(struct cli *cli, int argc, char **argv)
{
    struct dir_args a;
    int code = dir_parse(argc, argv, DIR_UNREGISTER, unregister_usage, &a);

    if (code != 0)
        return code < 0 ? CLI_EXIT_OK : code;
    return unregister_run(cli, &a);
}
