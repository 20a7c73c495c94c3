/* tests/unit/store/test_seal.c: private keys are sealed under the data key, bound to their row;
 * the data key opens only with the right passphrase, or from its own file. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "e2e/e2e.h"
#include "store/store_int.h"
#include "store_test.h"
#include "util/secret.h"

TestSuite(store_seal, .init = store_fx_init, .fini = store_fx_fini);

static enum sotto_err unlock_with(struct store_profile *p, const char *pass)
{
    return store_profile_unlock(p, pass, pass != NULL ? strlen(pass) : 0);
}

/* The private key that the profile gives matches its public key. */
static void assert_private_key_matches(struct store_profile *p)
{
    uint8_t priv[E2E_PRIV_LEN], pub[E2E_KEY_LEN];
    struct store_self self;

    cr_assert_eq(store_self_private_key(p, fx.e2e, priv), SOTTO_OK);
    cr_assert_eq(e2e_public_from_private(fx.e2e, priv, pub), SOTTO_OK);
    cr_assert_eq(store_self_get(p, &self), SOTTO_OK);
    cr_assert(memcmp(pub, self.key, E2E_KEY_LEN) == 0);
    sodium_memzero(priv, sizeof(priv));
}

/* Writes `plain` sealed as "<table>:<row>" under the profile's data key into identity.private_key.
 */
static void put_sealed_private_key(struct store_profile *p, const char *table, int64_t row,
                                   const uint8_t plain[static E2E_PRIV_LEN])
{
    uint8_t *sealed;
    size_t len;
    sqlite3_stmt *st;

    cr_assert_eq(store_seal(&fx.env, p->datakey, table, row, plain, E2E_PRIV_LEN, &sealed, &len),
                 SOTTO_OK);
    cr_assert_eq(sqlite3_prepare_v2(p->db, "UPDATE identity SET private_key = ?", -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_blob(st, 1, sealed, (int)len, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sotto_free(&fx.env, sealed);
}

Test(store_seal, unlocks_with_the_right_passphrase_only)
{
    char path[PROFILE_PATH_MAX];
    struct store_profile *p;

    store_fx_create(TEST_PASSPHRASE);
    path_of(path, fx.home, PROFILE_DATAKEY_NAME);
    cr_assert_not(path_exists(path), "no data key file with a passphrase");
    p = store_fx_open();
    cr_assert(store_profile_has_passphrase(p));
    cr_assert_eq(unlock_with(p, NULL), SOTTO_ENOPASS);
    cr_assert_eq(unlock_with(p, "correct horse battery stapler"), SOTTO_EPASS);
    cr_assert_eq(unlock_with(p, ""), SOTTO_EPASS);
    cr_assert_eq(unlock_with(p, TEST_PASSPHRASE), SOTTO_OK);
    assert_private_key_matches(p);
    store_profile_close(p);
}

Test(store_seal, wraps_with_moderate_limits_when_given_zero)
{
    struct store_create_params params = store_fx_params(TEST_PASSPHRASE);
    struct store_profile *p;

    params.kdf.ops = 0;
    params.kdf.mem = 0;
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_OK);
    cr_assert_eq(raw_int(fx.home, "SELECT opslimit FROM keyring"), crypto_pwhash_OPSLIMIT_MODERATE);
    cr_assert_eq(raw_int(fx.home, "SELECT memlimit FROM keyring"), crypto_pwhash_MEMLIMIT_MODERATE);
    p = store_fx_open();
    cr_assert_eq(unlock_with(p, TEST_PASSPHRASE), SOTTO_OK);
    store_profile_close(p);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Sets the keyring's limits behind the store's back, then unlocks with the right passphrase. */
static enum sotto_err unlock_with_limits(const char *ops, const char *mem, double *seconds)
{
    char sql[160];
    struct store_profile *p;
    struct timespec t0;
    enum sotto_err rc;

    snprintf(sql, sizeof(sql), "UPDATE keyring SET opslimit = %s, memlimit = %s", ops, mem);
    raw_exec(fx.home, sql);
    p = store_fx_open();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = unlock_with(p, TEST_PASSPHRASE);
    *seconds = seconds_since(&t0);
    store_profile_close(p);
    return rc;
}

/* Without the check, 2^32 - 1 passes run for hours and 2^42 bytes is 4 TiB: the timeout turns
 * such a hang into a failure. */
Test(store_seal, refuses_argon2_limits_from_a_tampered_keyring_before_hashing, .timeout = 60)
{
    static const struct {
        const char *ops, *mem, *what;
    } bad[] = {
            {"4294967295", "8192", "2^32 - 1 passes"},
            {"5", "8192", "one pass above SENSITIVE"},
            {"0", "8192", "no pass"},
            {"-1", "8192", "a negative count"},
            {"NULL", "8192", "no count"},
            {"1", "4398046511104", "2^42 bytes"},
            {"1", "4398046510080", "libsodium's MEMLIMIT_MAX, 4 TiB"},
            {"1", "1073742848", "a KiB above SENSITIVE's 1 GiB"},
            {"1", "8191", "a byte below the minimum"},
    };
    double seconds;

    store_fx_create(TEST_PASSPHRASE);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(unlock_with_limits(bad[i].ops, bad[i].mem, &seconds), SOTTO_ECORRUPT, "%s",
                     bad[i].what);
        cr_assert_lt(seconds, 1.0, "%s: refused in %.3f s", bad[i].what, seconds);
    }
    /* the wrapping was made with 1 pass: 4 derive another key, which is no damage */
    cr_assert_eq(unlock_with_limits("4", "8192", &seconds), SOTTO_EPASS,
                 "SENSITIVE's 4 passes are accepted and run");
    cr_assert_eq(unlock_with_limits("1", "8192", &seconds), SOTTO_OK,
                 "the limits it was made with");
}

Test(store_seal, refuses_to_create_a_profile_it_would_refuse_to_unlock)
{
    struct store_create_params params = store_fx_params(TEST_PASSPHRASE);

    params.kdf.ops = crypto_pwhash_OPSLIMIT_SENSITIVE + 1;
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EINVAL);
    params.kdf.ops = crypto_pwhash_OPSLIMIT_MIN;
    params.kdf.mem = crypto_pwhash_MEMLIMIT_SENSITIVE + 1024;
    cr_assert_eq(store_profile_create(&fx.env, fx.e2e, &params), SOTTO_EINVAL);
    cr_assert_not(path_exists(fx.home));
}

Test(store_seal, unlocks_from_the_data_key_file_without_a_passphrase)
{
    struct store_profile *p;

    store_fx_create(NULL);
    p = store_fx_open();
    cr_assert_not(store_profile_has_passphrase(p));
    cr_assert_eq(unlock_with(p, NULL), SOTTO_OK);
    assert_private_key_matches(p);
    store_profile_close(p);
}

Test(store_seal, gives_no_private_key_before_unlock)
{
    uint8_t priv[E2E_PRIV_LEN];
    struct store_profile *p;

    store_fx_create(NULL);
    p = store_fx_open();
    cr_assert_eq(store_self_private_key(p, fx.e2e, priv), SOTTO_EINVAL);
    store_profile_close(p);
}

Test(store_seal, says_a_missing_short_long_or_foreign_data_key_is_corrupt)
{
    uint8_t key[33];
    char path[PROFILE_PATH_MAX];
    struct store_profile *p;

    store_fx_create(NULL);
    path_of(path, fx.home, PROFILE_DATAKEY_NAME);
    randombytes_buf(key, sizeof(key));
    p = store_fx_open();
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(unlock_with(p, NULL), SOTTO_ECORRUPT, "missing");
    file_put(path, key, 31, 0600);
    cr_assert_eq(unlock_with(p, NULL), SOTTO_ECORRUPT, "31 bytes");
    file_put(path, key, 33, 0600);
    cr_assert_eq(unlock_with(p, NULL), SOTTO_ECORRUPT, "33 bytes");
    file_put(path, key, 32, 0600);
    cr_assert_eq(unlock_with(p, NULL), SOTTO_ECORRUPT, "another profile's key");
    file_put(path, key, 32, 0640);
    cr_assert_eq(unlock_with(p, NULL), SOTTO_EPERM, "a key file open to the group");
    store_profile_close(p);
}

Test(store_seal, opens_a_value_only_in_the_row_it_was_sealed_for)
{
    uint8_t priv[E2E_PRIV_LEN], got[E2E_PRIV_LEN];
    struct store_profile *p;

    store_fx_create(NULL);
    p = store_fx_open_unlocked(false);
    cr_assert_eq(store_self_private_key(p, fx.e2e, priv), SOTTO_OK);
    put_sealed_private_key(p, "identity", 2, priv);
    cr_assert_eq(store_self_private_key(p, fx.e2e, got), SOTTO_ECORRUPT, "sealed for identity:2");
    put_sealed_private_key(p, "prekeys", 1, priv);
    cr_assert_eq(store_self_private_key(p, fx.e2e, got), SOTTO_ECORRUPT, "sealed for prekeys:1");
    put_sealed_private_key(p, "identity", 1, priv);
    cr_assert_eq(store_self_private_key(p, fx.e2e, got), SOTTO_OK, "sealed for its own row");
    cr_assert(sodium_memcmp(got, priv, E2E_PRIV_LEN) == 0);
    sodium_memzero(priv, sizeof(priv));
    sodium_memzero(got, sizeof(got));
    store_profile_close(p);
}

Test(store_seal, refuses_a_sealed_record_copied_from_another_table)
{
    uint8_t got[E2E_PRIV_LEN];
    struct store_profile *p;

    store_fx_create(NULL);
    raw_exec(fx.home,
             "UPDATE identity SET private_key = (SELECT record FROM prekeys WHERE id = 1)");
    p = store_fx_open_unlocked(false);
    cr_assert_eq(store_self_private_key(p, fx.e2e, got), SOTTO_ECORRUPT);
    store_profile_close(p);
}

Test(store_seal, refuses_an_altered_or_mismatched_private_key)
{
    uint8_t pub[E2E_KEY_LEN], other[E2E_PRIV_LEN], got[E2E_PRIV_LEN];
    struct store_profile *p;

    store_fx_create(NULL);
    raw_exec(fx.home, "UPDATE identity SET private_key = CAST(substr(private_key, 1, 30) || "
                      "CASE WHEN substr(private_key, 31, 1) = x'00' THEN x'01' ELSE x'00' END || "
                      "substr(private_key, 32) AS BLOB)");
    p = store_fx_open_unlocked(false);
    cr_assert_eq(store_self_private_key(p, fx.e2e, got), SOTTO_ECORRUPT, "one byte changed");
    cr_assert_eq(e2e_identity_generate(fx.e2e, pub, other), SOTTO_OK);
    put_sealed_private_key(p, "identity", 1, other);
    cr_assert_eq(store_self_private_key(p, fx.e2e, got), SOTTO_ECORRUPT, "another key pair's");
    sodium_memzero(other, sizeof(other));
    store_profile_close(p);
}

Test(store_seal, seals_to_a_fresh_nonce_each_time)
{
    static const uint8_t plain[] = "secret";
    uint8_t *key = secret_alloc(STORE_DATAKEY_LEN), *a, *b, out[16];
    size_t a_len, b_len, out_len;

    cr_assert_not_null(key);
    randombytes_buf(key, STORE_DATAKEY_LEN);
    cr_assert_eq(store_seal(&fx.env, key, "t", 1, plain, sizeof(plain), &a, &a_len), SOTTO_OK);
    cr_assert_eq(store_seal(&fx.env, key, "t", 1, plain, sizeof(plain), &b, &b_len), SOTTO_OK);
    cr_assert_eq(a_len, sizeof(plain) + STORE_SEAL_OVERHEAD);
    cr_assert(memcmp(a, b, a_len) != 0);
    cr_assert_eq(store_unseal(key, "t", 1, a, a_len, out, sizeof(out), &out_len), SOTTO_OK);
    cr_assert_eq(out_len, sizeof(plain));
    cr_assert_eq(store_unseal(key, "t", 1, a, a_len, out, 3, &out_len), SOTTO_ECORRUPT,
                 "too long for the buffer");
    cr_assert_eq(store_unseal(key, "t", 1, a, STORE_SEAL_OVERHEAD - 1, out, sizeof(out), &out_len),
                 SOTTO_ECORRUPT, "shorter than nonce and tag");
    sotto_free(&fx.env, a);
    sotto_free(&fx.env, b);
    secret_free(key);
}
