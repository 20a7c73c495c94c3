/* src/util/file.c: capped reads and exclusive, durable writes. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sotto/env.h"
#include "util/file.h"

enum sotto_err file_read_fd(const struct sotto_env *env, int fd, size_t max, uint8_t **out,
                            size_t *len)
{
    size_t cap = max < 4096 ? max + 2 : 4096, n = 0;
    uint8_t *buf = sotto_alloc(env, cap), *bigger;
    ssize_t got;

    *out = NULL;
    *len = 0;
    if (buf == NULL)
        return SOTTO_ENOMEM;
    for (;;) {
        if (n + 1 >= cap) {
            size_t want = cap * 2 > max + 2 ? max + 2 : cap * 2;
            if (want <= cap)
                goto too_big;
            bigger = sotto_alloc(env, want);
            if (bigger == NULL) {
                sotto_free(env, buf);
                return SOTTO_ENOMEM;
            }
            memcpy(bigger, buf, n);
            sotto_free(env, buf);
            buf = bigger;
            cap = want;
        }
        got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int saved = errno;
            sotto_free(env, buf);
            errno = saved;
            return SOTTO_EIO;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max)
            goto too_big;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SOTTO_OK;
too_big:
    sotto_free(env, buf);
    return SOTTO_ETOOBIG;
}

enum sotto_err file_read_path(const struct sotto_env *env, const char *path, size_t max,
                              uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    enum sotto_err rc;
    int saved;

    *out = NULL;
    *len = 0;
    if (fd < 0)
        return errno == ENOENT ? SOTTO_ENOENT : SOTTO_EIO;
    rc = file_read_fd(env, fd, max, out, len);
    saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

enum sotto_err file_write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;

    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return SOTTO_EIO;
        b += n;
        len -= (size_t)n;
    }
    return SOTTO_OK;
}

enum sotto_err file_write_new(const char *path, const void *p, size_t len, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    enum sotto_err rc;
    int saved;

    if (fd < 0)
        return errno == EEXIST ? SOTTO_EEXIST : SOTTO_EIO;
    rc = file_write_all(fd, p, len);
    if (rc == SOTTO_OK && fsync(fd) != 0)
        rc = SOTTO_EIO;
    saved = errno;
    if (close(fd) != 0 && rc == SOTTO_OK)
        rc = SOTTO_EIO;
    if (rc != SOTTO_OK)
        unlink(path);
    errno = saved;
    return rc;
}

enum sotto_err file_sync(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    enum sotto_err rc = SOTTO_OK;

    if (fd < 0)
        return SOTTO_EIO;
    if (fsync(fd) != 0)
        rc = SOTTO_EIO;
    close(fd);
    return rc;
}
