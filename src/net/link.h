/* src/net/link.h: peer links, the transport under the node (docs/DESIGN.md, Peer links):
 * WebSocket over TLS 1.3 between two nodes, one binary WebSocket message per frame, on
 * libwebsockets with one service thread. This layer moves frames and knows nothing of what
 * they mean: it gives each link the TLS exporter value (RFC 9266) that the node signs to prove
 * its identity key, caps every incoming message before buffering it (close 1009), keeps a
 * bounded send queue per link, and reports links coming up and going down. Certificates prove
 * nothing here, so any server certificate is accepted; the identity proof does the work.
 *
 * Everything runs on the loop's thread; nothing here is thread-safe except net_loop_stop(). */
#ifndef SOTTO_NET_LINK_H
#define SOTTO_NET_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

#define NET_EXPORTER_LEN     32            /* RFC 9266 tls-exporter value */
#define NET_LINK_MSG_MAX     (128 * 1024)  /* default cap of one incoming message */
#define NET_LINK_QUEUE_MAX   (1024 * 1024) /* default cap of one link's unsent bytes */
#define NET_LINK_PROTOCOL    "sotto-link-v1"
#define NET_ADDR_TEXT_MAX    64 /* "[v6]:port" */
#define NET_CLOSE_TOO_BIG    1009
#define NET_CLOSE_PROTOCOL   1002
#define NET_CLOSE_POLICY     1008
#define NET_CLOSE_NORMAL     1000
#define NET_CLOSE_GOING_AWAY 1001

struct sotto_env;
struct net_loop;
struct net_link;

/* What the node is told. `arg` is net_link_params.arg. Links are only ever handed out through
 * these callbacks; a link pointer is valid until `down` returns for it. */
struct net_link_events {
    /* TLS is up and the exporter value is known: the node sends its proof now. `cookie` is
     * the dialer's value from net_link_dial(), NULL for an accepted link. */
    void (*up)(void *arg, struct net_link *l, void *cookie);
    /* One whole incoming message (a frame), at most the cap; `data` is valid during the call. */
    void (*frame)(void *arg, struct net_link *l, const uint8_t *data, size_t len);
    /* A dial that never came up: `cookie` as given to net_link_dial(), `why` for the user. */
    void (*dial_failed)(void *arg, void *cookie, const char *why);
    /* The link is gone (either side closed it, or the network did). `code` is the WebSocket
     * close code when one was received or sent (0 when none), `why` a short text. */
    void (*down)(void *arg, struct net_link *l, unsigned code, const char *why);
    /* net_loop_wake() was called (from any thread): on the loop's thread. May be NULL. */
    void (*wake)(void *arg);
    /* One turn of net_loop_run() is over: whatever was ready (frames, connections, timers,
     * wakes) has been handed out. The node commits what the turn wrote here, then sends what
     * waited for the commit (group commit). May be NULL. */
    void (*pass_end)(void *arg);
};

struct net_link_params {
    const char *listen;    /* "ADDR:PORT" (port 0: any), NULL: dial only */
    const char *cert_path; /* PEM certificate and key of the TLS server side */
    const char *key_path;
    size_t msg_max;               /* 0: NET_LINK_MSG_MAX */
    size_t queue_max;             /* 0: NET_LINK_QUEUE_MAX */
    unsigned fd_max;              /* descriptors the loop may use; 0: the open-files limit */
    unsigned handshake_timeout_s; /* 0: 10 s: TLS and the WebSocket upgrade together */
    struct net_link_events ev;
    void *arg;
};

/* Creates the loop (a libwebsockets context) with the peer-link vhost. Borrows `env`, which
 * must outlive it. SOTTO_EIO when the listening address cannot be bound (the log says why),
 * SOTTO_ECRYPTO when the certificate cannot be used, SOTTO_EINVAL for a bad address. */
enum sotto_err net_loop_create(struct net_loop **out, const struct sotto_env *env,
                               const struct net_link_params *params);
/* Closes every link (down is called for each) and frees the loop. NULL is a no-op. */
void net_loop_free(struct net_loop *loop);

/* Runs the loop until net_loop_stop(), calling `pass_end` after each turn. */
void net_loop_run(struct net_loop *loop);
/* Runs one pass of the loop; with `wait`, first waits for an event or the next timer. */
void net_loop_once(struct net_loop *loop, bool wait);
/* Makes the loop call the peer events' `wake` soon, on its own thread. Safe from other
 * threads: how a worker hands results back. */
void net_loop_wake(struct net_loop *loop);
/* Makes net_loop_run() return soon. Safe from a signal handler and from other threads. */
void net_loop_stop(struct net_loop *loop);
bool net_loop_stopping(const struct net_loop *loop);

/* The port the peer-link listener is bound to (0 when not listening). */
unsigned net_loop_port(const struct net_loop *loop);

/* The local API (docs/DESIGN.md, Local API): WebSocket (protocol NET_API_PROTOCOL, text
 * messages of JSON) and plain HTTP on 127.0.0.1 only, in the same loop. A connection whose
 * Host is not 127.0.0.1:PORT or localhost:PORT, or whose Origin (when sent) is not
 * http://127.0.0.1:PORT or http://localhost:PORT, is refused before the upgrade. The token
 * check is the caller's (the first message). Connections are struct net_link too, with
 * net_link_is_api() true; `up` has a NULL cookie; dial_failed is never called. */
#define NET_API_PROTOCOL "sotto-api-v1"
/* a request carries up to 64 KiB of text, which JSON escaping may grow sixfold */
#define NET_API_MSG_MAX (512 * 1024)

struct lws_http_mount;

struct net_api_params {
    unsigned port;                       /* 0: any free port (see net_loop_api_port) */
    size_t msg_max;                      /* 0: NET_API_MSG_MAX */
    const struct lws_http_mount *mounts; /* static files, or NULL */
    struct net_link_events ev;
    void *arg;
};
/* SOTTO_EIO when the port cannot be bound, SOTTO_EINVAL when already listening. */
enum sotto_err net_loop_listen_api(struct net_loop *loop, const struct net_api_params *params);
unsigned net_loop_api_port(const struct net_loop *loop);
/* Connects to a node's local API on 127.0.0.1:params->port (the CLI's side), reporting
 * through params->ev as a server's API connections do: up (with `cookie`), frame, down, or
 * dial_failed. The first call's params become this loop's API events. */
enum sotto_err net_api_dial(struct net_loop *loop, const struct net_api_params *params,
                            void *cookie);
bool net_link_is_api(const struct net_link *l);

/* A timer on the loop: one callback, re-armed by calling net_timer_arm() again. The struct is
 * the caller's (embed it); net_timer_cancel() before freeing it. */
struct net_timer {
    void (*cb)(struct net_timer *t);
    uint8_t opaque[64]; /* the loop's bookkeeping */
};
void net_timer_arm(struct net_loop *loop, struct net_timer *t, uint64_t delay_ms);
void net_timer_cancel(struct net_timer *t);

/* Dials "HOST:PORT" (an IP literal: names are resolved by the caller, since libwebsockets 4.1
 * would block the loop in getaddrinfo), from a loop made with a certificate (a loop without
 * one has no TLS: SOTTO_EINVAL). The outcome arrives as up or dial_failed with
 * `cookie`, possibly before this returns. SOTTO_EINVAL for an address that is not an IP
 * literal with a port; SOTTO_ENOMEM. */
enum sotto_err net_link_dial(struct net_loop *loop, const char *addr, void *cookie);

/* Queues one frame (copied). SOTTO_ETOOBIG for a frame over the peer's cap as we know it
 * (msg_max) and SOTTO_EAGAIN-like SOTTO_ERATE when the link's queue is full: the caller keeps
 * the frame and tries again after net_link_queued() falls. SOTTO_ENET when the link is
 * closing. */
enum sotto_err net_link_send(struct net_link *l, const uint8_t *data, size_t len);
/* Bytes queued and not yet written to the socket. */
size_t net_link_queued(const struct net_link *l);
/* Sends a close frame with `code` and `why` (at most 120 bytes) after what is queued, then
 * closes; down follows. */
void net_link_close(struct net_link *l, unsigned code, const char *why);

/* The link's RFC 9266 tls-exporter value (the same 32 bytes on both ends). */
const uint8_t *net_link_exporter(const struct net_link *l);
/* True for a link we dialed, false for one we accepted. */
bool net_link_dialed(const struct net_link *l);
/* The peer's address as "ip:port" / "[ip]:port". */
const char *net_link_peer(const struct net_link *l);
/* Lowers the cap of one incoming message on this link (never above msg_max): a node keeps
 * it small until the peer has proven its identity. A message over it closes the link (1009)
 * before any of it is buffered. */
void net_link_set_rx_max(struct net_link *l, size_t max);
/* The node's own pointer for the link. */
void net_link_set_user(struct net_link *l, void *user);
void *net_link_user(const struct net_link *l);

#endif
