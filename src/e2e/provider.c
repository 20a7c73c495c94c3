/* src/e2e/provider.c: the libsignal-protocol-c context and its crypto provider over OpenSSL 3.
 * The EVP objects are fetched once per context: fetching per call doubled the cost of a safety
 * number (notes/libsignal-protocol-c.md, section 5). */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include <signal/signal_protocol.h>

#include "e2e/e2e.h"
#include "sotto/env.h"
#include "sotto/log.h"
#include "util/text.h"

#define AES_KEY_LEN   32
#define AES_IV_LEN    16
#define AES_BLOCK_LEN 16
#define SG_LOG_LINE   512 /* the library formats its messages into 256 bytes; escaping grows */

struct e2e_ctx {
    const struct sotto_env *env; /* borrowed */
    signal_context *signal;      /* owned */
    EVP_MAC *hmac;               /* owned; "HMAC", keyed per use with SHA-256 */
    EVP_MD *sha512;              /* owned */
    EVP_CIPHER *aes_cbc;         /* owned; AES-256-CBC with PKCS#7 padding */
    EVP_CIPHER *aes_ctr;         /* owned; AES-256-CTR, only for the library's legacy v2 */
    pthread_mutex_t lock;        /* recursive: the library re-enters it from store callbacks */
    int lock_ready;
};

static int provider_random(uint8_t *data, size_t len, void *user_data)
{
    const struct e2e_ctx *ctx = user_data;

    sotto_random(ctx->env, data, len);
    return SG_SUCCESS;
}

static int provider_hmac_init(void **hmac_context, const uint8_t *key, size_t key_len,
                              void *user_data)
{
    static const uint8_t no_key[1];
    const struct e2e_ctx *ctx = user_data;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
    };
    EVP_MAC_CTX *mac;

    *hmac_context = NULL;
    mac = EVP_MAC_CTX_new(ctx->hmac);
    if (mac == NULL)
        return SG_ERR_NOMEM;
    /* a NULL key would mean "keep the previous key" to EVP_MAC_init */
    if (key == NULL)
        key = no_key;
    if (EVP_MAC_init(mac, key, key_len, params) != 1) {
        EVP_MAC_CTX_free(mac);
        return SG_ERR_UNKNOWN;
    }
    *hmac_context = mac;
    return SG_SUCCESS;
}

static int provider_hmac_update(void *hmac_context, const uint8_t *data, size_t data_len,
                                void *user_data)
{
    (void)user_data;
    if (EVP_MAC_update(hmac_context, data, data_len) != 1)
        return SG_ERR_UNKNOWN;
    return SG_SUCCESS;
}

static int provider_hmac_final(void *hmac_context, signal_buffer **output, void *user_data)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    size_t md_len = 0;
    int rc = SG_SUCCESS;

    (void)user_data;
    *output = NULL;
    if (EVP_MAC_final(hmac_context, md, &md_len, sizeof(md)) != 1) {
        rc = SG_ERR_UNKNOWN;
        goto out;
    }
    *output = signal_buffer_create(md, md_len);
    if (*output == NULL)
        rc = SG_ERR_NOMEM;
out:
    sodium_memzero(md, sizeof(md));
    return rc;
}

static void provider_hmac_cleanup(void *hmac_context, void *user_data)
{
    (void)user_data;
    EVP_MAC_CTX_free(hmac_context); /* wipes the key schedule */
}

static int provider_sha512_init(void **digest_context, void *user_data)
{
    const struct e2e_ctx *ctx = user_data;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    *digest_context = NULL;
    if (md == NULL)
        return SG_ERR_NOMEM;
    if (EVP_DigestInit_ex2(md, ctx->sha512, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return SG_ERR_UNKNOWN;
    }
    *digest_context = md;
    return SG_SUCCESS;
}

static int provider_sha512_update(void *digest_context, const uint8_t *data, size_t data_len,
                                  void *user_data)
{
    (void)user_data;
    if (EVP_DigestUpdate(digest_context, data, data_len) != 1)
        return SG_ERR_UNKNOWN;
    return SG_SUCCESS;
}

static int provider_sha512_final(void *digest_context, signal_buffer **output, void *user_data)
{
    const struct e2e_ctx *ctx = user_data;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = SG_SUCCESS;

    *output = NULL;
    if (EVP_DigestFinal_ex(digest_context, md, &md_len) != 1) {
        rc = SG_ERR_UNKNOWN;
        goto out;
    }
    /* the fingerprint loop reuses the context 5200 times without a new init */
    if (EVP_DigestInit_ex2(digest_context, ctx->sha512, NULL) != 1) {
        rc = SG_ERR_UNKNOWN;
        goto out;
    }
    *output = signal_buffer_create(md, md_len);
    if (*output == NULL)
        rc = SG_ERR_NOMEM;
out:
    sodium_memzero(md, sizeof(md));
    return rc;
}

static void provider_sha512_cleanup(void *digest_context, void *user_data)
{
    (void)user_data;
    EVP_MD_CTX_free(digest_context);
}

static const EVP_CIPHER *provider_cipher(const struct e2e_ctx *ctx, int cipher)
{
    if (cipher == SG_CIPHER_AES_CBC_PKCS5)
        return ctx->aes_cbc;
    if (cipher == SG_CIPHER_AES_CTR_NOPADDING)
        return ctx->aes_ctr;
    return NULL;
}

/* Runs the whole cipher over `in` into `buf` (room for in_len + one block); *out_len is the
 * length written. A bad CBC padding on decryption is SG_ERR_INVALID_MESSAGE. */
static int provider_cipher_run(const EVP_CIPHER *cipher, int enc, const uint8_t *key,
                               const uint8_t *iv, const uint8_t *in, size_t in_len, uint8_t *buf,
                               size_t *out_len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, rc = SG_ERR_UNKNOWN;

    *out_len = 0;
    if (c == NULL)
        return SG_ERR_NOMEM;
    if (EVP_CipherInit_ex2(c, cipher, key, iv, enc, NULL) != 1)
        goto out;
    if (EVP_CipherUpdate(c, buf, &n, in, (int)in_len) != 1)
        goto out;
    if (EVP_CipherFinal_ex(c, buf + n, &fin) != 1) {
        rc = enc ? SG_ERR_UNKNOWN : SG_ERR_INVALID_MESSAGE;
        goto out;
    }
    *out_len = (size_t)n + (size_t)fin;
    rc = SG_SUCCESS;
out:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

static int provider_crypt(const struct e2e_ctx *ctx, int enc, signal_buffer **output, int cipher,
                          const uint8_t *key, size_t key_len, const uint8_t *iv, size_t iv_len,
                          const uint8_t *in, size_t in_len)
{
    const EVP_CIPHER *evp = provider_cipher(ctx, cipher);
    size_t cap, out_len = 0;
    uint8_t *buf;
    int rc;

    *output = NULL;
    if (evp == NULL || key_len != AES_KEY_LEN || iv_len != AES_IV_LEN)
        return SG_ERR_INVAL;
    if (in_len > (size_t)INT_MAX - 2 * AES_BLOCK_LEN || (in == NULL && in_len > 0))
        return SG_ERR_INVAL;
    if (!enc && cipher == SG_CIPHER_AES_CBC_PKCS5 && (in_len == 0 || in_len % AES_BLOCK_LEN))
        return SG_ERR_INVALID_MESSAGE;
    cap = in_len + AES_BLOCK_LEN;
    buf = sotto_alloc(ctx->env, cap);
    if (buf == NULL)
        return SG_ERR_NOMEM;
    rc = provider_cipher_run(evp, enc, key, iv, in, in_len, buf, &out_len);
    if (rc == SG_SUCCESS) {
        *output = signal_buffer_create(buf, out_len);
        if (*output == NULL)
            rc = SG_ERR_NOMEM;
    }
    sodium_memzero(buf, cap); /* plaintext on decryption */
    sotto_free(ctx->env, buf);
    return rc;
}

static int provider_encrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                            const uint8_t *iv, size_t iv_len, const uint8_t *plaintext,
                            size_t plaintext_len, void *user_data)
{
    return provider_crypt(user_data, 1, output, cipher, key, key_len, iv, iv_len, plaintext,
                          plaintext_len);
}

static int provider_decrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                            const uint8_t *iv, size_t iv_len, const uint8_t *ciphertext,
                            size_t ciphertext_len, void *user_data)
{
    return provider_crypt(user_data, 0, output, cipher, key, key_len, iv, iv_len, ciphertext,
                          ciphertext_len);
}

static void provider_lock(void *user_data)
{
    struct e2e_ctx *ctx = user_data;

    pthread_mutex_lock(&ctx->lock);
}

static void provider_unlock(void *user_data)
{
    struct e2e_ctx *ctx = user_data;

    pthread_mutex_unlock(&ctx->lock);
}

/* The library's messages name addresses and ids, never key bytes; they are escaped anyway
 * because an address name can come from a peer. */
static void provider_log(int level, const char *message, size_t len, void *user_data)
{
    const struct e2e_ctx *ctx = user_data;
    char raw[SG_LOG_LINE / 2], line[SG_LOG_LINE];

    if (ctx->env->log == NULL || ctx->env->log->level < SOTTO_LOG_DEBUG)
        return;
    if (len >= sizeof(raw))
        len = sizeof(raw) - 1;
    memcpy(raw, message, len);
    raw[len] = '\0';
    text_escape(raw, line, sizeof(line));
    log_debug(ctx->env->log, "signal (level %d): %s", level, line);
}

static const signal_crypto_provider provider_template = {
        .random_func = provider_random,
        .hmac_sha256_init_func = provider_hmac_init,
        .hmac_sha256_update_func = provider_hmac_update,
        .hmac_sha256_final_func = provider_hmac_final,
        .hmac_sha256_cleanup_func = provider_hmac_cleanup,
        .sha512_digest_init_func = provider_sha512_init,
        .sha512_digest_update_func = provider_sha512_update,
        .sha512_digest_final_func = provider_sha512_final,
        .sha512_digest_cleanup_func = provider_sha512_cleanup,
        .encrypt_func = provider_encrypt,
        .decrypt_func = provider_decrypt,
};

static enum sotto_err ctx_fetch(struct e2e_ctx *ctx)
{
    ctx->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx->sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    ctx->aes_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    ctx->aes_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
    if (ctx->hmac == NULL || ctx->sha512 == NULL || ctx->aes_cbc == NULL || ctx->aes_ctr == NULL)
        return SOTTO_ECRYPTO;
    return SOTTO_OK;
}

static enum sotto_err ctx_lock_init(struct e2e_ctx *ctx)
{
    pthread_mutexattr_t attr;
    enum sotto_err rc = SOTTO_ECRYPTO;

    if (pthread_mutexattr_init(&attr) != 0)
        return SOTTO_ENOMEM;
    if (pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE) != 0)
        goto out;
    if (pthread_mutex_init(&ctx->lock, &attr) != 0) {
        rc = SOTTO_ENOMEM;
        goto out;
    }
    ctx->lock_ready = 1;
    rc = SOTTO_OK;
out:
    pthread_mutexattr_destroy(&attr);
    return rc;
}

static enum sotto_err ctx_signal_init(struct e2e_ctx *ctx)
{
    signal_crypto_provider provider = provider_template;

    provider.user_data = ctx;
    if (signal_context_create(&ctx->signal, ctx) != SG_SUCCESS) {
        ctx->signal = NULL;
        return SOTTO_ENOMEM;
    }
    if (signal_context_set_crypto_provider(ctx->signal, &provider) != SG_SUCCESS ||
        signal_context_set_locking_functions(ctx->signal, provider_lock, provider_unlock) !=
                SG_SUCCESS ||
        signal_context_set_log_function(ctx->signal, provider_log) != SG_SUCCESS)
        return SOTTO_ECRYPTO;
    return SOTTO_OK;
}

enum sotto_err e2e_ctx_create(struct e2e_ctx **out, const struct sotto_env *env)
{
    struct e2e_ctx *ctx;
    enum sotto_err rc;

    *out = NULL;
    if (env == NULL)
        return SOTTO_EINVAL;
    ctx = sotto_zalloc(env, sizeof(*ctx));
    if (ctx == NULL)
        return SOTTO_ENOMEM;
    ctx->env = env;
    rc = ctx_fetch(ctx);
    if (rc != SOTTO_OK)
        goto out;
    rc = ctx_lock_init(ctx);
    if (rc != SOTTO_OK)
        goto out;
    rc = ctx_signal_init(ctx);
    if (rc != SOTTO_OK)
        goto out;
    *out = ctx;
out:
    if (rc != SOTTO_OK)
        e2e_ctx_free(ctx);
    return rc;
}

void e2e_ctx_free(struct e2e_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->signal != NULL)
        signal_context_destroy(ctx->signal);
    if (ctx->lock_ready)
        pthread_mutex_destroy(&ctx->lock);
    EVP_MAC_free(ctx->hmac);
    EVP_MD_free(ctx->sha512);
    EVP_CIPHER_free(ctx->aes_cbc);
    EVP_CIPHER_free(ctx->aes_ctr);
    sotto_free(ctx->env, ctx);
}

struct signal_context *e2e_ctx_signal(const struct e2e_ctx *ctx)
{
    return ctx->signal;
}
