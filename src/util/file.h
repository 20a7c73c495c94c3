/* src/util/file.h: reading and writing files whose size and mode we do not trust. */
#ifndef SOTTO_UTIL_FILE_H
#define SOTTO_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

struct sotto_env;

/* Reads all of `fd` (a file or a pipe) into a new NUL-terminated buffer of at most `max`
 * bytes (free with sotto_free). SOTTO_ETOOBIG as soon as more than `max` bytes arrive;
 * SOTTO_EIO with errno set when a read fails. */
enum sotto_err file_read_fd(const struct sotto_env *env, int fd, size_t max, uint8_t **out,
                            size_t *len);
/* The same for a path, opened O_RDONLY|O_NOFOLLOW|O_CLOEXEC. SOTTO_ENOENT when missing. */
enum sotto_err file_read_path(const struct sotto_env *env, const char *path, size_t max,
                              uint8_t **out, size_t *len);
/* Creates `path` (which must not exist: SOTTO_EEXIST) with `mode`, O_EXCL|O_NOFOLLOW, writes
 * `len` bytes and fsyncs it. On failure the partial file is removed. */
enum sotto_err file_write_new(const char *path, const void *p, size_t len, unsigned mode);
/* Writes all bytes to `fd`, retrying short writes and EINTR. */
enum sotto_err file_write_all(int fd, const void *p, size_t len);
/* fsyncs `path`: a file, so that its contents are durable, or a directory, so that a rename
 * or create inside it is. Follows no symbolic link. */
enum sotto_err file_sync(const char *path);

#endif
