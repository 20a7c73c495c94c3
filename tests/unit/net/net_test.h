/* tests/unit/net/net_test.h: the fixture of the net tests: an env that counts allocations, a
 * Signal context, and a small TLS 1.3 server in a thread that answers each connection with the
 * next of a list of canned HTTP responses and records what it was sent. */
#ifndef SOTTO_TEST_NET_H
#define SOTTO_TEST_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "failalloc.h"
#include "net/net_int.h"

#define FAKE_RESPONSES_MAX 4
#define FAKE_REQUEST_MAX   (128 * 1024)

struct fake_server {
    int fd;
    uint16_t port;
    char url[64];
    char pin[NET_PIN_HEX_LEN + 1];
    struct ssl_ctx_st *ctx;
    pthread_t thread;
    bool running;
    volatile int stop;
    /* what to answer: connection i gets responses[min(i, n - 1)]; owned */
    char *responses[FAKE_RESPONSES_MAX];
    size_t n_responses;
    /* what came: the last request, whole; and how many came */
    char request[FAKE_REQUEST_MAX];
    size_t request_len;
    int n_requests;
    int n_handshakes; /* TLS handshakes that completed */
    pthread_mutex_t lock;
};

struct net_fx {
    struct failalloc fa;
    struct sotto_env env;
    struct e2e_ctx *e2e;
    struct fake_server srv;
};

extern struct net_fx nfx;

void net_fx_init(void);
void net_fx_fini(void);

/* An HTTP/1.1 response with Content-Length; `headers` ("Name: v\r\n"...) may be "". */
char *fake_response(int status, const char *headers, const char *body);
/* Starts the server on 127.0.0.1 with a fresh self-signed certificate; takes the responses. */
void fake_start(char *const *responses, size_t n);
/* Stops the server and forgets what it recorded; fake_start may run again. */
void fake_stop(void);
/* A session on the fake server: `pin` NULL trusts on first use. */
struct net_dir *fake_session(const char *pin, uint32_t timeout_ms);
/* The value of header `name` in the recorded request, copied into out[0..cap). */
bool fake_header(const char *name, char *out, size_t cap);
/* The recorded request's body (after the blank line). */
const char *fake_body(size_t *len);

#endif
