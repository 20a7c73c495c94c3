/* tests/unit/net/net_test.c: the net tests' fixture and fake TLS server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "e2e/e2e.h"
#include "net_test.h"

struct net_fx nfx;

void net_fx_init(void)
{
    static struct sotto_env ctx_env;

    memset(&nfx, 0, sizeof(nfx));
    signal(SIGPIPE, SIG_IGN); /* the fake server writes to clients that gave up */
    failalloc_env(&nfx.env, &nfx.fa, 0);
    nfx.fa.now_ms = 1700000000000ULL;
    sotto_env_init(&ctx_env, NULL);
    cr_assert_eq(e2e_ctx_create(&nfx.e2e, &ctx_env), SOTTO_OK);
    nfx.srv.fd = -1;
    pthread_mutex_init(&nfx.srv.lock, NULL);
}

void fake_stop(void)
{
    struct fake_server *s = &nfx.srv;

    if (s->running) {
        s->stop = 1;
        pthread_join(s->thread, NULL);
    }
    if (s->fd >= 0)
        close(s->fd);
    SSL_CTX_free(s->ctx);
    for (size_t i = 0; i < s->n_responses; i++)
        free(s->responses[i]);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    pthread_mutex_init(&s->lock, NULL);
}

void net_fx_fini(void)
{
    fake_stop();
    e2e_ctx_free(nfx.e2e);
    cr_expect_eq(nfx.fa.live, 0, "net leaked %ld allocations", nfx.fa.live);
}

char *fake_response(int status, const char *headers, const char *body)
{
    size_t len = strlen(body) + strlen(headers) + 256;
    char *r = malloc(len);

    cr_assert_not_null(r);
    snprintf(r, len,
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s"
             "Connection: close\r\n\r\n%s",
             status, strlen(body), headers, body);
    return r;
}

/* ---- the certificate ---- */

static X509 *cert_make(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name;

    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fake", -1, -1, 0);
    X509_set_issuer_name(x, name);
    cr_assert_gt(X509_sign(x, key, EVP_sha256()), 0);
    return x;
}

static void pin_of(X509 *x, char out[static NET_PIN_HEX_LEN + 1])
{
    unsigned char *der = NULL;
    uint8_t h[32];
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

    cr_assert_gt(len, 0);
    crypto_hash_sha256(h, der, (unsigned long long)len);
    OPENSSL_free(der);
    sodium_bin2hex(out, NET_PIN_HEX_LEN + 1, h, sizeof(h));
}

static void ctx_make(struct fake_server *s)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x;

    cr_assert_not_null(key);
    x = cert_make(key);
    s->ctx = SSL_CTX_new(TLS_server_method());
    cr_assert_not_null(s->ctx);
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION);
    cr_assert_eq(SSL_CTX_use_certificate(s->ctx, x), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey(s->ctx, key), 1);
    pin_of(x, s->pin);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* ---- serving ---- */

/* strcasestr is a GNU extension */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Reads a request: headers, then Content-Length bytes of body. */
static void read_request(struct fake_server *s, SSL *ssl)
{
    char buf[FAKE_REQUEST_MAX];
    size_t len = 0, want = SIZE_MAX;
    int n;

    while (len < sizeof(buf) - 1 && len < want) {
        n = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len));
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL && want == SIZE_MAX) {
            const char *cl = find_ci(buf, "\r\nContent-Length:");
            want = (size_t)(end - buf) + 4 + (cl != NULL ? strtoul(cl + 17, NULL, 10) : 0);
        }
    }
    pthread_mutex_lock(&s->lock);
    memcpy(s->request, buf, len);
    s->request[len] = '\0';
    s->request_len = len;
    s->n_requests += len > 0;
    pthread_mutex_unlock(&s->lock);
}

static void serve_one(struct fake_server *s, int fd, int i)
{
    SSL *ssl = SSL_new(s->ctx);
    const char *r;

    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        s->n_handshakes++;
        read_request(s, ssl);
        r = s->responses[(size_t)i < s->n_responses ? (size_t)i : s->n_responses - 1];
        SSL_write(ssl, r, (int)strlen(r));
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(fd);
}

static void *serve(void *arg)
{
    struct fake_server *s = arg;
    struct pollfd p = {.fd = s->fd, .events = POLLIN};

    for (int i = 0; !s->stop;) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c >= 0)
            serve_one(s, c, i++);
    }
    return NULL;
}

static int listen_any(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

void fake_start(char *const *responses, size_t n)
{
    struct fake_server *s = &nfx.srv;

    fake_stop();
    cr_assert(n >= 1 && n <= FAKE_RESPONSES_MAX);
    for (size_t i = 0; i < n; i++)
        s->responses[i] = responses[i];
    s->n_responses = n;
    ctx_make(s);
    s->fd = listen_any(&s->port);
    snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%u", (unsigned)s->port);
    cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
    s->running = true;
}

struct net_dir *fake_session(const char *pin, uint32_t timeout_ms)
{
    struct net_dir_params params = {.url = nfx.srv.url, .pin = pin, .timeout_ms = timeout_ms};
    struct net_dir *d = NULL;

    cr_assert_eq(net_dir_open(&d, &nfx.env, &params), SOTTO_OK);
    return d;
}

bool fake_header(const char *name, char *out, size_t cap)
{
    char key[64];
    const char *at, *end;

    snprintf(key, sizeof(key), "\r\n%s:", name);
    at = find_ci(nfx.srv.request, key);
    if (at == NULL)
        return false;
    at += strlen(key);
    while (*at == ' ')
        at++;
    end = strstr(at, "\r\n");
    if (end == NULL || (size_t)(end - at) >= cap)
        return false;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
    return true;
}

const char *fake_body(size_t *len)
{
    const char *end = strstr(nfx.srv.request, "\r\n\r\n");

    cr_assert_not_null(end);
    *len = nfx.srv.request_len - (size_t)(end + 4 - nfx.srv.request);
    return end + 4;
}
