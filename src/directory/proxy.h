/* src/directory/proxy.h: who the client is. The PROXY protocol v2 header that a load balancer
 * sends ahead of the client's bytes (HAProxy's doc/proxy-protocol.txt, section 2.2), decoded
 * from untrusted bytes; and the key that the rate limits count a client's address under.
 * Pure functions: no I/O, no allocation, any thread. */
#ifndef SOTTO_DIRECTORY_PROXY_H
#define SOTTO_DIRECTORY_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "sotto/err.h"

#define DIR_PROXY_SIG_LEN   12 /* \r\n\r\n\0\r\nQUIT\n */
#define DIR_PROXY_FIXED_LEN 16 /* the signature, version and command, family, length */
/* The longest header accepted, address block and TLVs included: the smallest TCP segment
 * every host must take (576 - 40 bytes), which the specification designs the header to fit
 * in. A header that declares more is refused before its bytes arrive. */
#define DIR_PROXY_HEADER_MAX 536
#define DIR_PROXY_ADDR_MAX   16 /* bytes of an IPv6 address */
/* Room for any address dir_proxy_source_key() makes: a full IPv6 text and "/64". */
#define DIR_PROXY_KEY_MAX 64

enum dir_proxy_command {
    DIR_PROXY_LOCAL = 0, /* the balancer's own connection (a health check) */
    DIR_PROXY_PROXY = 1, /* relayed for the client the address block names */
};

enum dir_proxy_family {
    DIR_PROXY_UNSPEC = 0, /* no usable client address: use the socket's peer */
    DIR_PROXY_INET,       /* TCP over IPv4 */
    DIR_PROXY_INET6,      /* TCP over IPv6 */
};

struct dir_proxy_header {
    enum dir_proxy_command command;
    /* DIR_PROXY_UNSPEC for LOCAL (whose address block is ignored, as the specification
     * says), for the UNSPEC family, and for the valid families the directory has no use for
     * (UDP, AF_UNIX), which the specification says to treat as UNSPEC */
    enum dir_proxy_family family;
    uint8_t addr[DIR_PROXY_ADDR_MAX]; /* the client's address in network order: 4 bytes for
                                         DIR_PROXY_INET, 16 for DIR_PROXY_INET6, else zero */
    uint16_t port;                    /* the client's port, host order; 0 with UNSPEC */
    size_t len;                       /* bytes the whole header takes, TLVs included */
};

/* Decodes the PROXY v2 header at the start of `in` (`len` bytes, which may run on into the
 * connection's own bytes). Every byte is checked as soon as it is there, so that a
 * connection without a header (a TLS ClientHello, plain HTTP, a version 1 text header) is
 * refused at its first byte rather than waited for. Returns:
 *   SOTTO_OK      a whole valid header: *out says what it holds and how long it is;
 *   SOTTO_ETRUNC  valid so far, but more bytes are needed (never past DIR_PROXY_HEADER_MAX);
 *   SOTTO_ETOOBIG the header declares more than DIR_PROXY_HEADER_MAX bytes;
 *   SOTTO_EPROTO  not a PROXY v2 header: wrong signature, version 1 or another version, an
 *                 unknown command or family, or an address block too short for its family;
 *   SOTTO_EINVAL  `out` is NULL, or `in` is NULL with len > 0.
 * *out is zeroed on every path but SOTTO_EINVAL. TLVs are skipped, not read. */
enum sotto_err dir_proxy_parse(const uint8_t *in, size_t len, struct dir_proxy_header *out);

/* How many bytes the header at the start of `in` takes in all, as far as its first `len`
 * bytes tell: DIR_PROXY_FIXED_LEN until they hold its length field, then that length and the
 * fixed part, at most DIR_PROXY_HEADER_MAX. A reader that asks for no more than this never
 * takes a byte past the header. `in` may be NULL when len is 0. */
size_t dir_proxy_wanted(const uint8_t *in, size_t len);

/* Writes into `out` (`out_len` bytes, at least 1) the key the rate limits count the address
 * `addr` (numeric text, as inet_ntop or getnameinfo write it) under:
 *   an IPv6 address: its /64 ("2001:db8:1:2::/64"), since one host usually holds a whole /64;
 *   an IPv4-mapped IPv6 address (::ffff:192.0.2.1): the IPv4 address ("192.0.2.1");
 *   an IPv4 address, or anything else: `addr` as it is.
 * The key is cut to out_len - 1 bytes; DIR_PROXY_KEY_MAX always holds one made from an
 * address. */
void dir_proxy_source_key(const char *addr, char *out, size_t out_len);

#endif
