/* bench/identity_bench.c: the identity capability's figures, each beside the library's raw
 * operation measured in the same run: profile creation (vs Argon2id and key generation alone),
 * cards verified per second (vs curve_verify_signature alone), safety-number time (vs the
 * library's fingerprint generator alone). Prints where the time goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <signal/curve.h>
#include <signal/fingerprint.h>
#include <signal/key_helper.h>
#include <signal/signal_protocol.h>
#include <sodium.h>

#include "e2e/e2e.h"
#include "identity/card.h"
#include "identity/number.h"
#include "identity/safety.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "store/profile.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static void die(const char *what, enum sotto_err rc)
{
    fprintf(stderr, "bench: %s: %s\n", what, sotto_strerror(rc));
    exit(1);
}

/* Creates one profile in a fresh directory under `root`; returns seconds. */
static double create_once(const struct sotto_env *env, struct e2e_ctx *e2e, const char *root, int i,
                          const char *pass)
{
    char home[PROFILE_PATH_MAX];
    struct store_create_params p = {.home = home,
                                    .name = "bench",
                                    .passphrase = pass,
                                    .passphrase_len = pass ? strlen(pass) : 0};
    double t;
    enum sotto_err rc;

    snprintf(home, sizeof(home), "%s/p%d%s", root, i, pass ? "pw" : "");
    t = now_s();
    rc = store_profile_create(env, e2e, &p);
    t = now_s() - t;
    if (rc != SOTTO_OK)
        die("store_profile_create", rc);
    return t;
}

static double raw_argon2id(void)
{
    uint8_t key[32], salt[crypto_pwhash_SALTBYTES] = {1};
    double t = now_s();

    if (crypto_pwhash(key, sizeof(key), "passphrase", 10, salt, crypto_pwhash_OPSLIMIT_MODERATE,
                      crypto_pwhash_MEMLIMIT_MODERATE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        die("crypto_pwhash", SOTTO_ENOMEM);
    return now_s() - t;
}

static double raw_keygen(struct e2e_ctx *e2e)
{
    signal_context *sc = e2e_ctx_signal(e2e);
    ratchet_identity_key_pair *id = NULL;
    signal_protocol_key_helper_pre_key_list_node *head = NULL;
    session_signed_pre_key *spk = NULL;
    double t = now_s();

    if (signal_protocol_key_helper_generate_identity_key_pair(&id, sc) != 0 ||
        signal_protocol_key_helper_generate_pre_keys(&head, 1, PROFILE_PREKEYS_INITIAL, sc) != 0 ||
        signal_protocol_key_helper_generate_signed_pre_key(&spk, id, 1, 0, sc) != 0)
        die("libsignal key generation", SOTTO_ECRYPTO);
    t = now_s() - t;
    signal_protocol_key_helper_key_list_free(head);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(id);
    return t;
}

static void bench_profile(const struct sotto_env *env, struct e2e_ctx *e2e, int runs)
{
    char root[] = "/tmp/sotto-bench.XXXXXX", cmd[64];
    double pw[16], nopw[16], kdf[16], keys[16];

    if (mkdtemp(root) == NULL)
        die("mkdtemp", SOTTO_EIO);
    for (int i = 0; i < runs; i++) {
        pw[i] = create_once(env, e2e, root, i, "a passphrase for the benchmark");
        nopw[i] = create_once(env, e2e, root, i, NULL);
        kdf[i] = raw_argon2id();
        keys[i] = raw_keygen(e2e);
    }
    double m_pw = median(pw, runs), m_nopw = median(nopw, runs);
    double m_kdf = median(kdf, runs), m_keys = median(keys, runs);
    printf("profile creation, passphrase (Argon2id moderate): %8.1f ms  (median of %d)\n",
           m_pw * 1e3, runs);
    printf("profile creation, no passphrase:                  %8.1f ms\n", m_nopw * 1e3);
    printf("  raw crypto_pwhash Argon2id moderate:            %8.1f ms  (%.0f%% of creation)\n",
           m_kdf * 1e3, 100 * m_kdf / m_pw);
    printf("  raw libsignal keygen (identity, %d prekeys, signed): %5.1f ms\n",
           PROFILE_PREKEYS_INITIAL, m_keys * 1e3);
    printf("  rest (SQLite, sealing, fsync, rename): %.1f ms without passphrase\n",
           (m_nopw - m_keys) * 1e3);
    printf("  ratio creation / (Argon2id + keygen): %.2f\n", m_pw / (m_kdf + m_keys));
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", root);
}

static void make_card(const struct sotto_env *env, struct e2e_ctx *e2e, char **text, size_t *len,
                      uint8_t key[E2E_KEY_LEN])
{
    struct identity_card card = {.version = CARD_VERSION, .n_addrs = 2, .created_s = 1700000000};
    uint8_t priv[E2E_PRIV_LEN];
    enum sotto_err rc = e2e_identity_generate(e2e, card.key, priv);

    snprintf(card.name, sizeof(card.name), "Benchmark Person");
    snprintf(card.addrs[0], sizeof(card.addrs[0]), "192.0.2.10:8766");
    snprintf(card.addrs[1], sizeof(card.addrs[1]), "node.example.org:8766");
    card.number = identity_number(card.key);
    if (rc == SOTTO_OK)
        rc = identity_card_export(e2e, env, &card, priv, text, len);
    sodium_memzero(priv, sizeof(priv));
    if (rc != SOTTO_OK)
        die("card export", rc);
    memcpy(key, card.key, E2E_KEY_LEN);
}

static void bench_cards(const struct sotto_env *env, struct e2e_ctx *e2e, double seconds)
{
    uint8_t key[E2E_KEY_LEN], msg[CARD_BODY_MAX];
    struct identity_card card;
    signal_context *sc = e2e_ctx_signal(e2e);
    ec_key_pair *pair = NULL;
    signal_buffer *sig = NULL;
    char *text;
    size_t len, msg_len;
    unsigned long n_card = 0, n_raw = 0;
    double t0, t_card, t_raw;

    make_card(env, e2e, &text, &len, key);
    t0 = now_s();
    while ((t_card = now_s() - t0) < seconds)
        for (int i = 0; i < 50; i++, n_card++)
            if (identity_card_import(env, text, len, &card) != SOTTO_OK)
                die("card import", SOTTO_EPROTO);
    /* raw: the library's verification of a signature over as many bytes as a card body */
    memset(msg, 7, sizeof(msg));
    msg_len = len * 3 / 4 - E2E_SIG_LEN;
    if (msg_len > sizeof(msg))
        msg_len = sizeof(msg);
    if (curve_generate_key_pair(sc, &pair) != 0 ||
        curve_calculate_signature(sc, &sig, ec_key_pair_get_private(pair), msg, msg_len) != 0)
        die("raw signature set-up", SOTTO_ECRYPTO);
    t0 = now_s();
    while ((t_raw = now_s() - t0) < seconds)
        for (int i = 0; i < 50; i++, n_raw++)
            if (curve_verify_signature(ec_key_pair_get_public(pair), msg, msg_len,
                                       signal_buffer_data(sig), signal_buffer_len(sig)) != 1)
                die("raw verify", SOTTO_EBADSIG);
    /* where the time goes: the key checks beside the signature */
    double t_check, t_num;
    unsigned long n_check = 0, n_num = 0;
    volatile uint64_t sink = 0;
    t0 = now_s();
    while ((t_check = now_s() - t0) < seconds / 4)
        for (int i = 0; i < 50; i++, n_check++)
            if (e2e_pubkey_check(key) != SOTTO_OK)
                die("key check", SOTTO_EBADKEY);
    t0 = now_s();
    while ((t_num = now_s() - t0) < seconds / 4)
        for (int i = 0; i < 50; i++, n_num++)
            sink += identity_number(key);
    (void)sink;
    printf("cards verified:                  %8.0f /s  (%zu-byte card, import + all checks)\n",
           n_card / t_card, len);
    printf("  raw curve_verify_signature:    %8.0f /s  (ratio %.2f)\n", n_raw / t_raw,
           (n_card / t_card) / (n_raw / t_raw));
    printf("  per card: %.1f us = verify %.1f us + key check (canonical, small order) %.1f us"
           " + number %.2f us + rest (base64, parse, key decode, copies) %.1f us\n",
           1e6 * t_card / n_card, 1e6 * t_raw / n_raw, 1e6 * t_check / n_check, 1e6 * t_num / n_num,
           1e6 * (t_card / n_card - t_raw / n_raw - t_check / n_check - t_num / n_num));
    signal_buffer_free(sig);
    SIGNAL_UNREF(pair);
    sotto_free(env, text);
}

static void bench_safety(struct e2e_ctx *e2e, int runs)
{
    uint8_t a[E2E_KEY_LEN], b[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    signal_context *sc = e2e_ctx_signal(e2e);
    struct identity_safety s;
    fingerprint_generator *gen = NULL;
    ec_public_key *ka = NULL, *kb = NULL;
    char ida[NUMBER_DIGITS_LEN], idb[NUMBER_DIGITS_LEN];
    double ours[64], raw[64];

    if (e2e_identity_generate(e2e, a, priv) != SOTTO_OK ||
        e2e_identity_generate(e2e, b, priv) != SOTTO_OK)
        die("keys", SOTTO_ECRYPTO);
    sodium_memzero(priv, sizeof(priv));
    identity_number_digits(identity_number(a), ida);
    identity_number_digits(identity_number(b), idb);
    if (curve_decode_point(&ka, a, sizeof(a), sc) != 0 ||
        curve_decode_point(&kb, b, sizeof(b), sc) != 0 ||
        fingerprint_generator_create(&gen, SAFETY_ITERATIONS, 1, sc) != 0)
        die("raw fingerprint set-up", SOTTO_ECRYPTO);
    for (int i = 0; i < runs; i++) {
        fingerprint *fp = NULL;
        double t = now_s();
        if (identity_safety_compute(e2e, identity_number(a), a, identity_number(b), b, &s) !=
            SOTTO_OK)
            die("safety number", SOTTO_ECRYPTO);
        ours[i] = now_s() - t;
        t = now_s();
        if (fingerprint_generator_create_for(gen, ida, ka, idb, kb, &fp) != 0)
            die("raw fingerprint", SOTTO_ECRYPTO);
        raw[i] = now_s() - t;
        SIGNAL_UNREF(fp);
    }
    double m_ours = median(ours, runs), m_raw = median(raw, runs);
    printf("safety number:                   %8.2f ms  (median of %d; %d SHA-512 iterations x 2)\n",
           m_ours * 1e3, runs, SAFETY_ITERATIONS);
    printf("  raw fingerprint_generator_create_for: %.2f ms  (ratio %.2f)\n", m_raw * 1e3,
           m_ours / m_raw);
    fingerprint_generator_free(gen);
    SIGNAL_UNREF(ka);
    SIGNAL_UNREF(kb);
}

int main(int argc, char **argv)
{
    struct sotto_log log;
    struct sotto_env env;
    struct e2e_ctx *e2e = NULL;
    char *end = NULL;
    long runs = argc > 1 ? strtol(argv[1], &end, 10) : 5;

    if (argc > 1 && (*end != '\0' || runs < 1 || runs > 15)) {
        fprintf(stderr, "usage: identity-bench [RUNS 1..15]\n");
        return 2;
    }
    if (sotto_env_global_init() != 0)
        return 1;
    sotto_log_init(&log);
    log.level = SOTTO_LOG_WARN;
    sotto_env_init(&env, &log);
    if (e2e_ctx_create(&e2e, &env) != SOTTO_OK)
        die("e2e_ctx_create", SOTTO_ECRYPTO);
    printf("== identity (issue 3)\n");
    bench_profile(&env, e2e, (int)runs);
    bench_cards(&env, e2e, 2.0);
    bench_safety(e2e, 31);
    e2e_ctx_free(e2e);
    return 0;
}
