/* src/directory/supervise.h: the parent process of sotto-directory. It resolves and holds the
 * port, forks the workers (each binds the port itself with SO_REUSEPORT and dies with the
 * parent), waits until they all serve, prints the start-up lines, restarts a worker that
 * dies, and stops them all on SIGTERM or SIGINT. */
#ifndef SOTTO_DIRECTORY_SUPERVISE_H
#define SOTTO_DIRECTORY_SUPERVISE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "directory/server.h"
#include "sotto/err.h"

#define DIR_WORKERS_MAX 256

struct sotto_env;
struct dir_tls;

/* A listening address, resolved. */
struct dir_listen {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[80]; /* "127.0.0.1:8443", "[::1]:8443" */
};

/* Resolves "ADDR:PORT" (ADDR an IPv4 address, a bracketed IPv6 address or a host name; PORT
 * 0..65535, 0 for any free port) to the first address getaddrinfo gives. SOTTO_EINVAL when
 * malformed, SOTTO_ENOENT when the name does not resolve. */
enum sotto_err dir_listen_resolve(const char *spec, struct dir_listen *out);

/* Runs the server until SIGTERM or SIGINT and returns the exit code: 0 after a clean stop, 1
 * when the workers could not start or kept dying. In a forked worker it returns too, with
 * *is_worker set, once that worker has stopped: the caller then only cleans up and exits
 * with the code. Prints the start-up lines on stdout once every worker serves. Borrows
 * everything. */
int dir_supervise(const struct dir_config *cfg, const struct sotto_env *env,
                  const struct dir_tls *tls, const char *backend_kind, bool *is_worker);

#endif
