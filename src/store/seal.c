/* src/store/seal.c: secrets at rest. A random 256-bit data key seals every private value with
 * XChaCha20-Poly1305, bound to its table and row; the data key itself is wrapped under an
 * Argon2id key from the passphrase, or kept in a 0600 file when there is none. Also the making
 * of a new profile's key pairs, which are sealed as soon as they exist. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "e2e/e2e.h"
#include "identity/number.h"
#include "sotto/env.h"
#include "store/store_int.h"
#include "util/file.h"
#include "util/secret.h"

_Static_assert(STORE_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(STORE_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(STORE_DATAKEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(STORE_SALT_LEN == crypto_pwhash_SALTBYTES, "salt size");

#define KEYRING_TABLE "keyring"
#define KEYRING_ROW   1
#define WRAPPED_LEN   (STORE_DATAKEY_LEN + STORE_SEAL_OVERHEAD)

/* The keyring row as stored. For kind 'file', `wrapped` is an empty plaintext sealed under
 * the data key itself, so that a data key file from another profile is caught at unlock. */
struct keyring_row {
    bool passphrase;
    uint8_t salt[STORE_SALT_LEN];
    unsigned long long ops;
    size_t mem;
    uint8_t wrapped[WRAPPED_LEN];
    size_t wrapped_len;
};

static enum sotto_err seal_ad(char ad[static STORE_AD_MAX], const char *table, int64_t row,
                              size_t *len)
{
    int n = snprintf(ad, STORE_AD_MAX, "%s:%lld", table, (long long)row);

    if (n < 0 || n >= STORE_AD_MAX)
        return SOTTO_EINVAL;
    *len = (size_t)n;
    return SOTTO_OK;
}

uint8_t *store_datakey_new(const struct sotto_env *env)
{
    uint8_t *key = secret_alloc(STORE_DATAKEY_LEN);

    if (key != NULL)
        sotto_random(env, key, STORE_DATAKEY_LEN);
    return key;
}

enum sotto_err store_seal(const struct sotto_env *env, const uint8_t key[static STORE_DATAKEY_LEN],
                          const char *table, int64_t row, const uint8_t *plain, size_t len,
                          uint8_t **out, size_t *out_len)
{
    static const uint8_t empty[1];
    char ad[STORE_AD_MAX];
    size_t ad_len;
    unsigned long long c_len;
    uint8_t *buf;
    enum sotto_err rc;

    *out = NULL;
    *out_len = 0;
    rc = seal_ad(ad, table, row, &ad_len);
    if (rc != SOTTO_OK)
        return rc;
    if (len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX - STORE_SEAL_OVERHEAD)
        return SOTTO_ETOOBIG;
    buf = sotto_alloc(env, len + STORE_SEAL_OVERHEAD);
    if (buf == NULL)
        return SOTTO_ENOMEM;
    sotto_random(env, buf, STORE_NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf + STORE_NONCE_LEN, &c_len,
                                               len == 0 ? empty : plain, len, (uint8_t *)ad, ad_len,
                                               NULL, buf, key);
    *out = buf;
    *out_len = STORE_NONCE_LEN + (size_t)c_len;
    return SOTTO_OK;
}

enum sotto_err store_unseal(const uint8_t key[static STORE_DATAKEY_LEN], const char *table,
                            int64_t row, const uint8_t *sealed, size_t len, uint8_t *out,
                            size_t cap, size_t *out_len)
{
    char ad[STORE_AD_MAX];
    size_t ad_len;
    unsigned long long m_len;
    enum sotto_err rc;

    *out_len = 0;
    rc = seal_ad(ad, table, row, &ad_len);
    if (rc != SOTTO_OK)
        return rc;
    if (sealed == NULL || len < STORE_SEAL_OVERHEAD || len - STORE_SEAL_OVERHEAD > cap)
        return SOTTO_ECORRUPT;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &m_len, NULL, sealed + STORE_NONCE_LEN,
                                                   len - STORE_NONCE_LEN, (uint8_t *)ad, ad_len,
                                                   sealed, key) != 0) {
        sodium_memzero(out, cap);
        return SOTTO_ECORRUPT;
    }
    *out_len = (size_t)m_len;
    return SOTTO_OK;
}

static enum sotto_err keyring_insert(struct store_profile *p, const char *kind, const uint8_t *salt,
                                     unsigned long long ops, size_t mem, const uint8_t *wrapped,
                                     size_t wrapped_len)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_prepare(p,
                          "INSERT INTO keyring(id, kind, salt, opslimit, memlimit, wrapped) "
                          "VALUES(1, ?, ?, ?, ?, ?)",
                          &st);
    if (rc != SOTTO_OK)
        return rc;
    /* without a passphrase, salt and limits stay NULL */
    if (sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC) != SQLITE_OK ||
        (salt != NULL &&
         (sqlite3_bind_blob(st, 2, salt, STORE_SALT_LEN, SQLITE_STATIC) != SQLITE_OK ||
          sqlite3_bind_int64(st, 3, (sqlite3_int64)ops) != SQLITE_OK ||
          sqlite3_bind_int64(st, 4, (sqlite3_int64)mem) != SQLITE_OK)) ||
        sqlite3_bind_blob(st, 5, wrapped, (int)wrapped_len, SQLITE_STATIC) != SQLITE_OK)
        return store_db_bind_failed(p, st);
    return store_db_run(p, st);
}

/* The Argon2id limits we accept, on creation and when read back: from libsodium's minimum to
 * its SENSITIVE limits (4 passes, 1 GiB). libsodium's own maxima (2^32 - 1 passes, 4 TiB) would
 * let a tampered keyring row hang unlock or exhaust memory. */
static bool kdf_limits_ok(unsigned long long ops, unsigned long long mem)
{
    return ops >= crypto_pwhash_OPSLIMIT_MIN && ops <= crypto_pwhash_OPSLIMIT_SENSITIVE &&
           mem >= crypto_pwhash_MEMLIMIT_MIN && mem <= crypto_pwhash_MEMLIMIT_SENSITIVE;
}

static enum sotto_err kdf_limits(const struct store_kdf *kdf, unsigned long long *ops, size_t *mem)
{
    *ops = kdf->ops != 0 ? kdf->ops : crypto_pwhash_OPSLIMIT_MODERATE;
    *mem = kdf->mem != 0 ? kdf->mem : crypto_pwhash_MEMLIMIT_MODERATE;
    /* a profile made with more could never be unlocked */
    return kdf_limits_ok(*ops, *mem) ? SOTTO_OK : SOTTO_EINVAL;
}

static enum sotto_err kdf_derive(uint8_t kek[static STORE_DATAKEY_LEN], const char *passphrase,
                                 size_t len, const uint8_t salt[static STORE_SALT_LEN],
                                 unsigned long long ops, size_t mem)
{
    /* crypto_pwhash fails only when it cannot get `mem` bytes */
    if (crypto_pwhash(kek, STORE_DATAKEY_LEN, passphrase, len, salt, ops, mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return SOTTO_ENOMEM;
    return SOTTO_OK;
}

static enum sotto_err keyring_create_passphrase(struct store_profile *p, const char *passphrase,
                                                size_t len, const struct store_kdf *kdf)
{
    uint8_t salt[STORE_SALT_LEN], kek[STORE_DATAKEY_LEN];
    uint8_t *wrapped = NULL;
    size_t wrapped_len, mem;
    unsigned long long ops;
    enum sotto_err rc;

    rc = kdf_limits(kdf, &ops, &mem);
    if (rc != SOTTO_OK)
        goto out;
    sotto_random(p->env, salt, sizeof(salt));
    rc = kdf_derive(kek, passphrase, len, salt, ops, mem);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_seal(p->env, kek, KEYRING_TABLE, KEYRING_ROW, p->datakey, STORE_DATAKEY_LEN,
                    &wrapped, &wrapped_len);
    if (rc != SOTTO_OK)
        goto out;
    rc = keyring_insert(p, "passphrase", salt, ops, mem, wrapped, wrapped_len);
out:
    sodium_memzero(kek, sizeof(kek));
    sotto_free(p->env, wrapped);
    return rc;
}

static enum sotto_err datakey_path(const struct store_profile *p, char out[static PROFILE_PATH_MAX])
{
    int n = snprintf(out, PROFILE_PATH_MAX, "%s/%s", p->dir, PROFILE_DATAKEY_NAME);

    return n < 0 || n >= PROFILE_PATH_MAX ? SOTTO_EINVAL : SOTTO_OK;
}

static enum sotto_err keyring_create_file(struct store_profile *p)
{
    char path[PROFILE_PATH_MAX];
    uint8_t *check = NULL;
    size_t check_len;
    enum sotto_err rc;

    rc = datakey_path(p, path);
    if (rc != SOTTO_OK)
        return rc;
    rc = store_seal(p->env, p->datakey, KEYRING_TABLE, KEYRING_ROW, NULL, 0, &check, &check_len);
    if (rc != SOTTO_OK)
        return rc;
    rc = file_write_new(path, p->datakey, STORE_DATAKEY_LEN, 0600);
    if (rc != SOTTO_OK)
        goto out;
    rc = keyring_insert(p, "file", NULL, 0, 0, check, check_len);
out:
    sotto_free(p->env, check);
    return rc;
}

enum sotto_err store_keyring_create(struct store_profile *p, const char *passphrase, size_t len,
                                    const struct store_kdf *kdf)
{
    if (passphrase != NULL)
        return keyring_create_passphrase(p, passphrase, len, kdf);
    return keyring_create_file(p);
}

static enum sotto_err keyring_kind_parse(sqlite3_stmt *st, bool *passphrase)
{
    const unsigned char *kind = sqlite3_column_text(st, 0);

    if (kind != NULL && strcmp((const char *)kind, "passphrase") == 0)
        *passphrase = true;
    else if (kind != NULL && strcmp((const char *)kind, "file") == 0)
        *passphrase = false;
    else
        return SOTTO_ECORRUPT;
    return SOTTO_OK;
}

enum sotto_err store_keyring_kind(struct store_profile *p)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_row(p, "SELECT kind FROM keyring WHERE id = 1", &st, SOTTO_ECORRUPT);
    if (rc != SOTTO_OK)
        return rc;
    rc = keyring_kind_parse(st, &p->has_passphrase);
    store_db_release(p, st);
    return rc;
}

/* Reads the limits as stored. Values outside kdf_limits_ok() mean a damaged or tampered row,
 * refused before crypto_pwhash() runs: the database is not trusted to bound our time or memory. */
static enum sotto_err keyring_row_limits(sqlite3_stmt *st, struct keyring_row *kr)
{
    sqlite3_int64 ops = sqlite3_column_int64(st, 2), mem = sqlite3_column_int64(st, 3);

    if (sqlite3_column_type(st, 2) != SQLITE_INTEGER ||
        sqlite3_column_type(st, 3) != SQLITE_INTEGER || ops < 0 || mem < 0 ||
        !kdf_limits_ok((unsigned long long)ops, (unsigned long long)mem))
        return SOTTO_ECORRUPT;
    kr->ops = (unsigned long long)ops;
    kr->mem = (size_t)mem;
    return store_col_blob(st, 1, kr->salt, STORE_SALT_LEN);
}

static enum sotto_err keyring_row_parse(sqlite3_stmt *st, struct keyring_row *kr)
{
    enum sotto_err rc = keyring_kind_parse(st, &kr->passphrase);

    if (rc != SOTTO_OK)
        return rc;
    kr->wrapped_len = kr->passphrase ? WRAPPED_LEN : STORE_SEAL_OVERHEAD;
    rc = store_col_blob(st, 4, kr->wrapped, kr->wrapped_len);
    if (rc == SOTTO_OK && kr->passphrase)
        rc = keyring_row_limits(st, kr);
    return rc;
}

static enum sotto_err keyring_load(struct store_profile *p, struct keyring_row *kr)
{
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_db_row(p,
                      "SELECT kind, salt, opslimit, memlimit, wrapped FROM keyring "
                      "WHERE id = 1",
                      &st, SOTTO_ECORRUPT);
    if (rc != SOTTO_OK)
        return rc;
    rc = keyring_row_parse(st, kr);
    store_db_release(p, st);
    return rc;
}

static enum sotto_err unwrap_passphrase(const struct keyring_row *kr, const char *passphrase,
                                        size_t len, uint8_t key[static STORE_DATAKEY_LEN])
{
    uint8_t kek[STORE_DATAKEY_LEN];
    size_t key_len;
    enum sotto_err rc;

    if (passphrase == NULL)
        return SOTTO_ENOPASS;
    rc = kdf_derive(kek, passphrase, len, kr->salt, kr->ops, kr->mem);
    if (rc != SOTTO_OK)
        goto out;
    /* a wrong passphrase and a damaged wrapping look alike: the AEAD fails */
    rc = store_unseal(kek, KEYRING_TABLE, KEYRING_ROW, kr->wrapped, kr->wrapped_len, key,
                      STORE_DATAKEY_LEN, &key_len);
    if (rc != SOTTO_OK || key_len != STORE_DATAKEY_LEN)
        rc = SOTTO_EPASS;
out:
    sodium_memzero(kek, sizeof(kek));
    return rc;
}

static enum sotto_err read_upto(int fd, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    while (*n < cap) {
        ssize_t got = read(fd, buf + *n, cap - *n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return SOTTO_EIO;
        if (got == 0)
            break;
        *n += (size_t)got;
    }
    return SOTTO_OK;
}

/* The data key file, checked like the database: ours, a regular file, private. */
static enum sotto_err datakey_read(const struct store_profile *p,
                                   uint8_t key[static STORE_DATAKEY_LEN])
{
    char path[PROFILE_PATH_MAX];
    uint8_t buf[STORE_DATAKEY_LEN + 1]; /* one more, to see a file that is too long */
    struct stat st;
    size_t n = 0;
    enum sotto_err rc;
    int fd;

    rc = datakey_path(p, path);
    if (rc != SOTTO_OK)
        return rc;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SOTTO_ECORRUPT : errno == ELOOP ? SOTTO_EPERM : SOTTO_EIO;
    rc = SOTTO_EIO;
    if (fstat(fd, &st) != 0)
        goto out;
    rc = SOTTO_EPERM;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        goto out;
    rc = read_upto(fd, buf, sizeof(buf), &n);
    if (rc != SOTTO_OK)
        goto out;
    rc = SOTTO_ECORRUPT;
    if (n != STORE_DATAKEY_LEN)
        goto out;
    memcpy(key, buf, STORE_DATAKEY_LEN);
    rc = SOTTO_OK;
out:
    sodium_memzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

static enum sotto_err unwrap_file(const struct store_profile *p, const struct keyring_row *kr,
                                  uint8_t key[static STORE_DATAKEY_LEN])
{
    uint8_t none[1];
    size_t none_len;
    enum sotto_err rc = datakey_read(p, key);

    if (rc != SOTTO_OK)
        return rc;
    return store_unseal(key, KEYRING_TABLE, KEYRING_ROW, kr->wrapped, kr->wrapped_len, none, 0,
                        &none_len);
}

enum sotto_err store_profile_unlock(struct store_profile *p, const char *passphrase, size_t len)
{
    struct keyring_row kr;
    uint8_t *key = NULL;
    enum sotto_err rc;

    if (passphrase != NULL && len > PROFILE_PASSPHRASE_MAX)
        return SOTTO_EINVAL;
    rc = keyring_load(p, &kr);
    if (rc != SOTTO_OK)
        return rc;
    key = secret_alloc(STORE_DATAKEY_LEN);
    if (key == NULL)
        return SOTTO_ENOMEM;
    if (kr.passphrase)
        rc = unwrap_passphrase(&kr, passphrase, len, key);
    else
        rc = unwrap_file(p, &kr, key);
    if (rc != SOTTO_OK) {
        secret_free(key);
        return rc;
    }
    secret_free(p->datakey);
    p->datakey = key;
    p->has_passphrase = kr.passphrase;
    return SOTTO_OK;
}

/* ---- a new profile's keys ---- */

static enum sotto_err insert_identity(struct store_profile *p, const char *name,
                                      const uint8_t pub[static E2E_KEY_LEN],
                                      const uint8_t priv[static E2E_PRIV_LEN], uint32_t reg_id)
{
    uint8_t *sealed = NULL;
    size_t sealed_len;
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_seal(p->env, p->datakey, "identity", 1, priv, E2E_PRIV_LEN, &sealed, &sealed_len);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_db_prepare(p,
                          "INSERT INTO identity(id, name, public_key, private_key, "
                          "registration_id, number, created_ms) VALUES(1, ?, ?, ?, ?, ?, ?)",
                          &st);
    if (rc != SOTTO_OK)
        goto out;
    if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, pub, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 3, sealed, (int)sealed_len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, reg_id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, (sqlite3_int64)identity_number(pub)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)
        rc = store_db_bind_failed(p, st);
    else
        rc = store_db_run(p, st);
out:
    sotto_free(p->env, sealed);
    return rc;
}

/* Seals a generated prekey's record (which holds its private key) under its row and inserts
 * it; a signed prekey also keeps its signature and its time. */
static enum sotto_err insert_prekey_row(struct store_profile *p, const struct e2e_prekey *pk,
                                        bool signed_)
{
    uint8_t *sealed = NULL;
    size_t sealed_len;
    sqlite3_stmt *st;
    enum sotto_err rc;

    rc = store_seal(p->env, p->datakey, signed_ ? "signed_prekeys" : "prekeys", pk->id, pk->record,
                    pk->record_len, &sealed, &sealed_len);
    if (rc != SOTTO_OK)
        goto out;
    rc = store_db_prepare(p,
                          signed_ ? "INSERT INTO signed_prekeys(id, public_key, record, "
                                    "signature, created_ms) VALUES(?1, ?2, ?3, ?4, ?5)"
                                  : "INSERT INTO prekeys(id, public_key, record) "
                                    "VALUES(?1, ?2, ?3)",
                          &st);
    if (rc != SOTTO_OK)
        goto out;
    if (sqlite3_bind_int64(st, 1, pk->id) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, pk->pub, E2E_KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 3, sealed, (int)sealed_len, SQLITE_STATIC) != SQLITE_OK ||
        (signed_ && (sqlite3_bind_blob(st, 4, pk->sig, E2E_SIG_LEN, SQLITE_STATIC) != SQLITE_OK ||
                     sqlite3_bind_int64(st, 5, (sqlite3_int64)sotto_now_ms(p->env)) != SQLITE_OK)))
        rc = store_db_bind_failed(p, st);
    else
        rc = store_db_run(p, st);
out:
    sotto_free(p->env, sealed);
    return rc;
}

static enum sotto_err insert_signed_prekey(void *arg, const struct e2e_prekey *pk)
{
    return insert_prekey_row(arg, pk, true);
}

static enum sotto_err insert_prekey(void *arg, const struct e2e_prekey *pk)
{
    return insert_prekey_row(arg, pk, false);
}

enum sotto_err store_identity_create(struct store_profile *p, struct e2e_ctx *e2e, const char *name,
                                     unsigned n_prekeys)
{
    uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];
    uint32_t reg_id;
    enum sotto_err rc;

    rc = e2e_identity_generate(e2e, pub, priv);
    if (rc != SOTTO_OK)
        goto out;
    rc = e2e_registration_id_generate(e2e, &reg_id);
    if (rc != SOTTO_OK)
        goto out;
    rc = insert_identity(p, name, pub, priv, reg_id);
    if (rc != SOTTO_OK)
        goto out;
    rc = e2e_signed_prekey_generate(e2e, pub, priv, 1, sotto_now_ms(p->env), insert_signed_prekey,
                                    p);
    if (rc != SOTTO_OK)
        goto out;
    rc = e2e_prekeys_generate(e2e, 1, n_prekeys, insert_prekey, p);
out:
    sodium_memzero(priv, sizeof(priv));
    return rc;
}
