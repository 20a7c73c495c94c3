/* src/util/bytes.c: reader and writer. */
#include <string.h>

#include <sodium.h>

#include "sotto/env.h"
#include "util/bytes.h"

void reader_init(struct reader *r, const void *p, size_t len)
{
    r->p = p;
    r->left = p == NULL ? 0 : len;
}

enum sotto_err reader_take(struct reader *r, size_t n, const uint8_t **out)
{
    *out = NULL;
    if (r->left < n)
        return SOTTO_ETRUNC;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return SOTTO_OK;
}

enum sotto_err reader_copy(struct reader *r, void *out, size_t n)
{
    const uint8_t *p;
    enum sotto_err rc = reader_take(r, n, &p);

    if (rc == SOTTO_OK && n > 0)
        memcpy(out, p, n);
    return rc;
}

static enum sotto_err reader_be(struct reader *r, size_t n, uint64_t *out)
{
    const uint8_t *p;
    enum sotto_err rc = reader_take(r, n, &p);

    *out = 0;
    if (rc != SOTTO_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        *out = (*out << 8) | p[i];
    return SOTTO_OK;
}

enum sotto_err reader_u8(struct reader *r, uint8_t *out)
{
    uint64_t v;
    enum sotto_err rc = reader_be(r, 1, &v);

    *out = (uint8_t)v;
    return rc;
}

enum sotto_err reader_u16(struct reader *r, uint16_t *out)
{
    uint64_t v;
    enum sotto_err rc = reader_be(r, 2, &v);

    *out = (uint16_t)v;
    return rc;
}

enum sotto_err reader_u32(struct reader *r, uint32_t *out)
{
    uint64_t v;
    enum sotto_err rc = reader_be(r, 4, &v);

    *out = (uint32_t)v;
    return rc;
}

enum sotto_err reader_u64(struct reader *r, uint64_t *out)
{
    return reader_be(r, 8, out);
}

static enum sotto_err reader_bytes_n(struct reader *r, size_t width, size_t max,
                                     const uint8_t **out, size_t *len)
{
    struct reader save = *r;
    uint64_t n;
    enum sotto_err rc;

    *out = NULL;
    *len = 0;
    rc = reader_be(r, width, &n);
    if (rc != SOTTO_OK)
        return rc;
    if (n > max)
        rc = SOTTO_ETOOBIG;
    else
        rc = reader_take(r, (size_t)n, out);
    if (rc != SOTTO_OK) {
        *r = save;
        return rc;
    }
    *len = (size_t)n;
    return SOTTO_OK;
}

enum sotto_err reader_bytes8(struct reader *r, size_t max, const uint8_t **out, size_t *len)
{
    return reader_bytes_n(r, 1, max, out, len);
}

enum sotto_err reader_bytes16(struct reader *r, size_t max, const uint8_t **out, size_t *len)
{
    return reader_bytes_n(r, 2, max, out, len);
}

enum sotto_err reader_end(const struct reader *r)
{
    return r->left == 0 ? SOTTO_OK : SOTTO_EPROTO;
}

void writer_init(struct writer *w, const struct sotto_env *env, size_t max)
{
    w->env = env;
    w->p = NULL;
    w->len = 0;
    w->cap = 0;
    w->max = max;
    w->err = SOTTO_OK;
}

void writer_clear(struct writer *w)
{
    if (w->p != NULL) {
        sodium_memzero(w->p, w->cap);
        sotto_free(w->env, w->p);
    }
    writer_init(w, w->env, w->max);
}

static enum sotto_err writer_grow(struct writer *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 64;
    uint8_t *p;

    while (cap < need)
        cap = cap > w->max / 2 ? w->max : cap * 2;
    if (cap > w->max)
        cap = w->max;
    p = sotto_alloc(w->env, cap);
    if (p == NULL)
        return SOTTO_ENOMEM;
    if (w->len > 0)
        memcpy(p, w->p, w->len);
    if (w->p != NULL) {
        sodium_memzero(w->p, w->cap);
        sotto_free(w->env, w->p);
    }
    w->p = p;
    w->cap = cap;
    return SOTTO_OK;
}

enum sotto_err writer_put(struct writer *w, const void *p, size_t n)
{
    if (w->err != SOTTO_OK)
        return w->err;
    if (n > w->max - w->len) {
        w->err = SOTTO_ETOOBIG;
        return w->err;
    }
    if (w->len + n > w->cap) {
        w->err = writer_grow(w, w->len + n);
        if (w->err != SOTTO_OK)
            return w->err;
    }
    if (n > 0)
        memcpy(w->p + w->len, p, n);
    w->len += n;
    return SOTTO_OK;
}

static enum sotto_err writer_be(struct writer *w, uint64_t v, size_t n)
{
    uint8_t b[8];

    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return writer_put(w, b, n);
}

enum sotto_err writer_u8(struct writer *w, uint8_t v)
{
    return writer_be(w, v, 1);
}

enum sotto_err writer_u16(struct writer *w, uint16_t v)
{
    return writer_be(w, v, 2);
}

enum sotto_err writer_u32(struct writer *w, uint32_t v)
{
    return writer_be(w, v, 4);
}

enum sotto_err writer_u64(struct writer *w, uint64_t v)
{
    return writer_be(w, v, 8);
}

enum sotto_err writer_bytes8(struct writer *w, const void *p, size_t n)
{
    if (n > UINT8_MAX) {
        if (w->err == SOTTO_OK)
            w->err = SOTTO_EINVAL;
        return w->err;
    }
    writer_u8(w, (uint8_t)n);
    return writer_put(w, p, n);
}

enum sotto_err writer_bytes16(struct writer *w, const void *p, size_t n)
{
    if (n > UINT16_MAX) {
        if (w->err == SOTTO_OK)
            w->err = SOTTO_EINVAL;
        return w->err;
    }
    writer_u16(w, (uint16_t)n);
    return writer_put(w, p, n);
}

enum sotto_err writer_take(struct writer *w, uint8_t **out, size_t *len)
{
    enum sotto_err rc = w->err;

    *out = NULL;
    *len = 0;
    if (rc == SOTTO_OK && w->len == 0)
        rc = SOTTO_EINVAL;
    if (rc != SOTTO_OK) {
        writer_clear(w);
        return rc;
    }
    *out = w->p;
    *len = w->len;
    w->p = NULL;
    w->len = 0;
    w->cap = 0;
    return SOTTO_OK;
}
