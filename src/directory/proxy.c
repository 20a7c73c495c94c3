/* src/directory/proxy.c: the PROXY protocol v2 header, decoded from untrusted bytes, and the
 * rate limits' key of a client address. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "directory/proxy.h"

#define VERSION_2      0x20 /* the high nibble of the 13th byte */
#define PROXY_V4_LEN   12   /* 2 addresses of 4 bytes, 2 ports */
#define PROXY_V6_LEN   36   /* 2 addresses of 16 bytes, 2 ports */
#define PROXY_UNIX_LEN 216  /* 2 paths of 108 bytes */

static const uint8_t proxy_sig[DIR_PROXY_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                                     0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* The 14th byte of a PROXY command: the seven combinations the specification lists. Those
 * the directory has no use for are read as UNSPEC, as it says a receiver should. */
static const struct {
    uint8_t byte;
    enum dir_proxy_family family;
    size_t addr_len; /* the least the address block may hold */
} proxy_families[] = {
        {0x00, DIR_PROXY_UNSPEC, 0},              /* UNSPEC */
        {0x11, DIR_PROXY_INET, PROXY_V4_LEN},     /* TCP over IPv4 */
        {0x12, DIR_PROXY_UNSPEC, PROXY_V4_LEN},   /* UDP over IPv4 */
        {0x21, DIR_PROXY_INET6, PROXY_V6_LEN},    /* TCP over IPv6 */
        {0x22, DIR_PROXY_UNSPEC, PROXY_V6_LEN},   /* UDP over IPv6 */
        {0x31, DIR_PROXY_UNSPEC, PROXY_UNIX_LEN}, /* AF_UNIX stream */
        {0x32, DIR_PROXY_UNSPEC, PROXY_UNIX_LEN}, /* AF_UNIX datagram */
};

static int family_index(uint8_t byte)
{
    for (size_t i = 0; i < sizeof(proxy_families) / sizeof(proxy_families[0]); i++)
        if (proxy_families[i].byte == byte)
            return (int)i;
    return -1;
}

/* The 16 fixed bytes, each checked as soon as it is there. On SOTTO_OK *fam is the index in
 * proxy_families (-1 for LOCAL) and *body_len the length the header declares after them. */
static enum sotto_err parse_fixed(const uint8_t *in, size_t len, struct dir_proxy_header *out,
                                  int *fam, size_t *body_len)
{
    size_t sig = len < DIR_PROXY_SIG_LEN ? len : DIR_PROXY_SIG_LEN;

    if (memcmp(in, proxy_sig, sig) != 0)
        return SOTTO_EPROTO;
    if (len < DIR_PROXY_SIG_LEN + 1)
        return SOTTO_ETRUNC;
    if ((in[12] & 0xf0) != VERSION_2 || (in[12] & 0x0f) > DIR_PROXY_PROXY)
        return SOTTO_EPROTO;
    out->command = (enum dir_proxy_command)(in[12] & 0x0f);
    if (len < DIR_PROXY_SIG_LEN + 2)
        return SOTTO_ETRUNC;
    /* LOCAL: the family is ignored, whatever it says */
    *fam = out->command == DIR_PROXY_PROXY ? family_index(in[13]) : -1;
    if (out->command == DIR_PROXY_PROXY && *fam < 0)
        return SOTTO_EPROTO;
    if (len < DIR_PROXY_FIXED_LEN)
        return SOTTO_ETRUNC;
    *body_len = (size_t)in[14] << 8 | in[15];
    if (*body_len > DIR_PROXY_HEADER_MAX - DIR_PROXY_FIXED_LEN)
        return SOTTO_ETOOBIG;
    if (*fam >= 0 && *body_len < proxy_families[*fam].addr_len)
        return SOTTO_EPROTO;
    return SOTTO_OK;
}

/* The client's address and port from a whole address block of TCP over IPv4 or IPv6: the
 * source address, the destination address, the source port, the destination port. */
static void take_source(const uint8_t *block, struct dir_proxy_header *out)
{
    size_t addr_len = out->family == DIR_PROXY_INET ? 4 : DIR_PROXY_ADDR_MAX;
    const uint8_t *port = block + 2 * addr_len;

    memcpy(out->addr, block, addr_len);
    out->port = (uint16_t)(port[0] << 8 | port[1]);
}

enum sotto_err dir_proxy_parse(const uint8_t *in, size_t len, struct dir_proxy_header *out)
{
    enum sotto_err rc;
    size_t body_len = 0;
    int fam = -1;

    if (out == NULL || (in == NULL && len > 0))
        return SOTTO_EINVAL;
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return SOTTO_ETRUNC;
    rc = parse_fixed(in, len, out, &fam, &body_len);
    if (rc == SOTTO_OK && len - DIR_PROXY_FIXED_LEN < body_len)
        rc = SOTTO_ETRUNC;
    if (rc != SOTTO_OK) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->len = DIR_PROXY_FIXED_LEN + body_len;
    if (fam >= 0)
        out->family = proxy_families[fam].family;
    if (out->family != DIR_PROXY_UNSPEC)
        take_source(in + DIR_PROXY_FIXED_LEN, out);
    return SOTTO_OK;
}

size_t dir_proxy_wanted(const uint8_t *in, size_t len)
{
    size_t total;

    if (in == NULL || len < DIR_PROXY_FIXED_LEN)
        return DIR_PROXY_FIXED_LEN;
    total = DIR_PROXY_FIXED_LEN + ((size_t)in[14] << 8 | in[15]);
    return total < DIR_PROXY_HEADER_MAX ? total : DIR_PROXY_HEADER_MAX;
}

void dir_proxy_source_key(const char *addr, char *out, size_t out_len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];

    if (out == NULL || out_len == 0)
        return;
    if (addr == NULL || inet_pton(AF_INET6, addr, &a6) != 1) {
        snprintf(out, out_len, "%s", addr != NULL ? addr : "");
        return;
    }
    if (memcmp(a6.s6_addr, mapped, sizeof(mapped)) == 0) {
        if (inet_ntop(AF_INET, a6.s6_addr + sizeof(mapped), text, sizeof(text)) == NULL)
            text[0] = '\0';
        snprintf(out, out_len, "%s", text);
        return;
    }
    memset(a6.s6_addr + 8, 0, 8);
    if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) == NULL)
        text[0] = '\0';
    snprintf(out, out_len, "%s/64", text);
}
