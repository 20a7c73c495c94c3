/* src/net/url.c: directory URLs (https://HOST[:PORT]) and certificate pins as users type them. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net/net_int.h"

#define SCHEME "https://"

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/* 1..65535 in decimal, no sign, no leading zero. */
static enum sotto_err port_parse(const char *s, size_t len, uint16_t *out)
{
    unsigned long v = 0;

    if (len == 0 || len > 5 || s[0] == '0')
        return SOTTO_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SOTTO_EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return SOTTO_EINVAL;
    *out = (uint16_t)v;
    return SOTTO_OK;
}

/* "[v6]" at the start of s[0..len): the literal into out->host; *used is what it took. */
static enum sotto_err host_v6(const char *s, size_t len, struct net_url *out, size_t *used)
{
    const char *end = memchr(s, ']', len);
    unsigned char addr[16];
    size_t n;

    if (end == NULL)
        return SOTTO_EINVAL;
    n = (size_t)(end - s) - 1;
    if (n == 0 || n >= sizeof(out->host))
        return SOTTO_EINVAL;
    memcpy(out->host, s + 1, n);
    out->host[n] = '\0';
    if (inet_pton(AF_INET6, out->host, addr) != 1)
        return SOTTO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (out->host[i] >= 'A' && out->host[i] <= 'F')
            out->host[i] = (char)(out->host[i] - 'A' + 'a');
    *used = n + 2;
    return SOTTO_OK;
}

static enum sotto_err host_name(const char *s, size_t len, struct net_url *out, size_t *used)
{
    size_t n = 0;

    while (n < len && s[n] != ':')
        n++;
    if (n == 0 || n > NET_HOST_MAX || s[0] == '.' || s[0] == '-')
        return SOTTO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!host_char(s[i]))
            return SOTTO_EINVAL;
        out->host[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    }
    out->host[n] = '\0';
    *used = n;
    return SOTTO_OK;
}

static enum sotto_err url_finish(struct net_url *out, bool v6)
{
    int n;

    if (out->port == 443)
        n = snprintf(out->host_header, sizeof(out->host_header), v6 ? "[%s]" : "%s", out->host);
    else
        n = snprintf(out->host_header, sizeof(out->host_header), v6 ? "[%s]:%u" : "%s:%u",
                     out->host, (unsigned)out->port);
    if (n < 0 || (size_t)n >= sizeof(out->host_header))
        return SOTTO_EINVAL;
    n = snprintf(out->normalized, sizeof(out->normalized), SCHEME "%s", out->host_header);
    return n < 0 || (size_t)n >= sizeof(out->normalized) ? SOTTO_EINVAL : SOTTO_OK;
}

static enum sotto_err url_authority(const char *s, size_t len, struct net_url *out)
{
    size_t used = 0;
    bool v6 = len > 0 && s[0] == '[';
    enum sotto_err rc = v6 ? host_v6(s, len, out, &used) : host_name(s, len, out, &used);

    if (rc != SOTTO_OK)
        return rc;
    out->port = 443;
    if (used < len) {
        if (s[used] != ':')
            return SOTTO_EINVAL;
        rc = port_parse(s + used + 1, len - used - 1, &out->port);
        if (rc != SOTTO_OK)
            return rc;
    }
    return url_finish(out, v6);
}

enum sotto_err net_url_parse(const char *url, struct net_url *out)
{
    const char *auth, *slash;
    size_t len;
    enum sotto_err rc;

    memset(out, 0, sizeof(*out));
    if (url == NULL || strnlen(url, NET_URL_MAX + 1) > NET_URL_MAX ||
        strncasecmp(url, SCHEME, strlen(SCHEME)) != 0)
        return SOTTO_EINVAL;
    auth = url + strlen(SCHEME);
    slash = strchr(auth, '/');
    /* no path: the API's paths are absolute, and a prefix would not be what the server signs */
    if (slash != NULL && slash[1] != '\0')
        return SOTTO_EINVAL;
    len = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
    rc = url_authority(auth, len, out);
    if (rc != SOTTO_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

enum sotto_err net_url_normalize(const char *url, char out[static NET_URL_MAX + 1])
{
    struct net_url u;
    enum sotto_err rc = net_url_parse(url, &u);

    out[0] = '\0';
    if (rc == SOTTO_OK)
        memcpy(out, u.normalized, sizeof(u.normalized));
    return rc;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum sotto_err net_pin_parse(const char *in, char out[static NET_PIN_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;

    out[0] = '\0';
    if (in == NULL)
        return SOTTO_EINVAL;
    if (strncasecmp(in, "sha256:", 7) == 0)
        in += 7;
    for (; *in != '\0'; in++) {
        int v = hex_value(*in);
        if (v < 0 && (*in == ':' || *in == ' '))
            continue;
        if (v < 0 || n == NET_PIN_HEX_LEN) {
            out[0] = '\0';
            return SOTTO_EINVAL;
        }
        out[n++] = digits[v];
    }
    out[n] = '\0';
    if (n != NET_PIN_HEX_LEN) {
        out[0] = '\0';
        return SOTTO_EINVAL;
    }
    return SOTTO_OK;
}
