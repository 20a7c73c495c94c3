/* fuzz/dir_proxy.c: the PROXY protocol v2 header parser over arbitrary bytes, as a balancer
 * (or anyone reaching a --proxy-protocol port) could send them. Nothing may crash or read out
 * of bounds; a header accepted must be whole, within the cap and within the input, and every
 * shorter prefix of it must ask for more; a refusal must not change with more bytes. The
 * input also goes, as text, through the rate limits' key of an address, as does the address
 * of every header accepted.
 *
 * The seeds in fuzz/corpus/dir_proxy/ are headers built by hand after the specification:
 * IPv4, IPv6 (a /64 and an IPv4-mapped one), LOCAL, UNSPEC, UDP, TLVs, a header followed by
 * a ClientHello, and the refusals (signature, version, command, family, lengths, cap). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "directory/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const char *addr)
{
    char key[DIR_PROXY_KEY_MAX], small[8];

    dir_proxy_source_key(addr, key, sizeof(key));
    if (memchr(key, '\0', sizeof(key)) == NULL)
        abort();
    dir_proxy_source_key(addr, small, sizeof(small));
    if (memchr(small, '\0', sizeof(small)) == NULL || strncmp(key, small, strlen(small)) != 0)
        abort();
}

static void check_accepted(const uint8_t *data, size_t size, const struct dir_proxy_header *h)
{
    struct dir_proxy_header again;
    char text[INET6_ADDRSTRLEN];

    if (h->len < DIR_PROXY_FIXED_LEN || h->len > DIR_PROXY_HEADER_MAX || h->len > size)
        abort();
    if (h->command != DIR_PROXY_LOCAL && h->command != DIR_PROXY_PROXY)
        abort();
    if (h->command == DIR_PROXY_LOCAL && h->family != DIR_PROXY_UNSPEC)
        abort();
    if (h->family == DIR_PROXY_UNSPEC && h->port != 0)
        abort();
    for (size_t n = 0; n < h->len; n++)
        if (dir_proxy_parse(data, n, &again) != SOTTO_ETRUNC || again.len != 0)
            abort();
    if (h->family == DIR_PROXY_UNSPEC)
        return;
    if (inet_ntop(h->family == DIR_PROXY_INET ? AF_INET : AF_INET6, h->addr, text, sizeof(text)) ==
        NULL)
        abort();
    check_key(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[DIR_PROXY_KEY_MAX * 2];
    struct dir_proxy_header h, more;
    enum sotto_err rc = dir_proxy_parse(data, size, &h);

    switch (rc) {
    case SOTTO_OK:
        check_accepted(data, size, &h);
        break;
    case SOTTO_ETRUNC:
        if (size >= DIR_PROXY_HEADER_MAX || h.len != 0)
            abort();
        break;
    case SOTTO_ETOOBIG:
    case SOTTO_EPROTO:
        /* decided on the bytes there: a longer input cannot change it */
        if (size < DIR_PROXY_FIXED_LEN && rc == SOTTO_ETOOBIG)
            abort();
        if (size > 0 && dir_proxy_parse(data, size - 1, &more) != rc &&
            dir_proxy_parse(data, size - 1, &more) != SOTTO_ETRUNC)
            abort();
        break;
    default:
        abort();
    }
    size = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    check_key(text);
    return 0;
}
