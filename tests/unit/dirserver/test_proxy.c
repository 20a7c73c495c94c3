/* tests/unit/dirserver/test_proxy.c: the PROXY protocol v2 header, decoded from untrusted
 * bytes, and the rate limits' key of a client address. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "directory/proxy.h"

#define SIG 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a

/* PROXY, TCP over IPv4: 203.0.113.7:4242 to 192.0.2.1:443 */
static const uint8_t v4[] = {
        SIG,  0x21, 0x11, 0x00, 12, /* version 2 PROXY, TCP over IPv4, 12 bytes follow */
        203,  0,    113,  7,        /* source address */
        192,  0,    2,    1,        /* destination address */
        0x10, 0x92, 0x01, 0xbb,     /* source port 4242, destination port 443 */
};
/* PROXY, TCP over IPv6: [2001:db8:1:2::7]:4242 to [2001:db8::1]:443 */
static const uint8_t v6[] = {
        SIG,  0x21, 0x21, 0x00, 36,                                  /* TCP over IPv6, 36 bytes */
        0x20, 0x01, 0x0d, 0xb8, 0,  1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, /* source address */
        0x20, 0x01, 0x0d, 0xb8, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* destination address */
        0x10, 0x92, 0x01, 0xbb,                                      /* ports 4242, 443 */
};
/* LOCAL (a health check), family UNSPEC, no address */
static const uint8_t local[] = {SIG, 0x20, 0x00, 0x00, 0x00};

static void assert_needs_more_at_every_shorter_length(const uint8_t *in, size_t len)
{
    struct dir_proxy_header h;

    for (size_t n = 0; n < len; n++) {
        memset(&h, 0xaa, sizeof(h));
        cr_assert_eq(dir_proxy_parse(in, n, &h), SOTTO_ETRUNC, "length %zu of %zu", n, len);
        cr_assert_eq(h.len, 0, "nothing is said until the header is whole");
        cr_assert_eq(h.family, DIR_PROXY_UNSPEC);
    }
}

Test(dir_proxy, reads_the_client_of_tcp_over_ipv4)
{
    const uint8_t want[4] = {203, 0, 113, 7};
    struct dir_proxy_header h;

    cr_assert_eq(dir_proxy_parse(v4, sizeof(v4), &h), SOTTO_OK);
    cr_assert_eq(h.command, DIR_PROXY_PROXY);
    cr_assert_eq(h.family, DIR_PROXY_INET);
    cr_assert(memcmp(h.addr, want, sizeof(want)) == 0);
    cr_assert_eq(h.port, 4242);
    cr_assert_eq(h.len, 28);
}

Test(dir_proxy, reads_the_client_of_tcp_over_ipv6)
{
    const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7};
    struct dir_proxy_header h;

    cr_assert_eq(dir_proxy_parse(v6, sizeof(v6), &h), SOTTO_OK);
    cr_assert_eq(h.command, DIR_PROXY_PROXY);
    cr_assert_eq(h.family, DIR_PROXY_INET6);
    cr_assert(memcmp(h.addr, want, sizeof(want)) == 0);
    cr_assert_eq(h.port, 4242);
    cr_assert_eq(h.len, 52);
}

Test(dir_proxy, stops_at_the_header_and_leaves_the_bytes_after_it)
{
    uint8_t in[sizeof(v4) + 6];
    struct dir_proxy_header h;

    memcpy(in, v4, sizeof(v4));
    memcpy(in + sizeof(v4), "\x16\x03\x01\x02\x00\x01", 6); /* a ClientHello begins */
    cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_OK);
    cr_assert_eq(h.len, sizeof(v4));
    cr_assert_eq(h.port, 4242);
}

Test(dir_proxy, local_is_a_health_check_whose_address_block_is_ignored)
{
    uint8_t with_block[sizeof(v4)];
    struct dir_proxy_header h;

    cr_assert_eq(dir_proxy_parse(local, sizeof(local), &h), SOTTO_OK);
    cr_assert_eq(h.command, DIR_PROXY_LOCAL);
    cr_assert_eq(h.family, DIR_PROXY_UNSPEC);
    cr_assert_eq(h.len, 16);
    /* a LOCAL header may still carry a block, and any family byte: skipped, never read */
    memcpy(with_block, v4, sizeof(v4));
    with_block[12] = 0x20;
    with_block[13] = 0x77;
    cr_assert_eq(dir_proxy_parse(with_block, sizeof(with_block), &h), SOTTO_OK);
    cr_assert_eq(h.command, DIR_PROXY_LOCAL);
    cr_assert_eq(h.family, DIR_PROXY_UNSPEC);
    cr_assert_eq(h.port, 0);
    cr_assert_eq(h.len, sizeof(v4));
}

Test(dir_proxy, unspec_and_the_families_we_do_not_use_fall_back_to_the_socket_address)
{
    const uint8_t unspec[] = {SIG, 0x21, 0x00, 0x00, 0x03, 1, 2, 3};
    uint8_t udp[sizeof(v4)];
    struct dir_proxy_header h;

    cr_assert_eq(dir_proxy_parse(unspec, sizeof(unspec), &h), SOTTO_OK);
    cr_assert_eq(h.command, DIR_PROXY_PROXY);
    cr_assert_eq(h.family, DIR_PROXY_UNSPEC);
    cr_assert_eq(h.len, sizeof(unspec));
    memcpy(udp, v4, sizeof(v4));
    udp[13] = 0x12;
    cr_assert_eq(dir_proxy_parse(udp, sizeof(udp), &h), SOTTO_OK);
    cr_assert_eq(h.family, DIR_PROXY_UNSPEC, "UDP over IPv4 is read as UNSPEC, as the spec says");
    cr_assert_eq(h.port, 0);
}

Test(dir_proxy, skips_tlvs_after_the_address_block)
{
    uint8_t in[sizeof(v4) + 3 + 15 + 3 + 2];
    size_t n = sizeof(v4);
    struct dir_proxy_header h;

    memcpy(in, v4, sizeof(v4));
    in[n++] = 0x02; /* PP2_TYPE_AUTHORITY "dir.example.org" */
    in[n++] = 0;
    in[n++] = 15;
    memcpy(in + n, "dir.example.org", 15);
    n += 15;
    in[n++] = 0x04; /* PP2_TYPE_NOOP, two bytes of padding */
    in[n++] = 0;
    in[n++] = 2;
    in[n++] = 0;
    in[n++] = 0;
    in[15] = (uint8_t)(n - 16);
    cr_assert_eq(dir_proxy_parse(in, n, &h), SOTTO_OK);
    cr_assert_eq(h.len, n);
    cr_assert_eq(h.family, DIR_PROXY_INET);
    cr_assert_eq(h.port, 4242);
    assert_needs_more_at_every_shorter_length(in, n);
}

Test(dir_proxy, needs_more_at_every_length_short_of_a_whole_header)
{
    assert_needs_more_at_every_shorter_length(v4, sizeof(v4));
    assert_needs_more_at_every_shorter_length(v6, sizeof(v6));
    assert_needs_more_at_every_shorter_length(local, sizeof(local));
}

Test(dir_proxy, refuses_a_wrong_signature_at_its_first_wrong_byte)
{
    const uint8_t client_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    const uint8_t v1[] = "PROXY TCP4 203.0.113.7 192.0.2.1 4242 443\r\n";
    uint8_t in[sizeof(v4)];
    struct dir_proxy_header h;

    cr_assert_eq(dir_proxy_parse(client_hello, 1, &h), SOTTO_EPROTO, "TLS is refused at once");
    cr_assert_eq(dir_proxy_parse(v1, sizeof(v1) - 1, &h), SOTTO_EPROTO, "version 1 is not read");
    cr_assert_eq(dir_proxy_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &h), SOTTO_EPROTO);
    for (size_t i = 0; i < DIR_PROXY_SIG_LEN; i++) {
        memcpy(in, v4, sizeof(v4));
        in[i] ^= 0x20;
        cr_assert_eq(dir_proxy_parse(in, i + 1, &h), SOTTO_EPROTO, "byte %zu", i);
        cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_EPROTO, "byte %zu", i);
        cr_assert_eq(h.len, 0);
    }
}

Test(dir_proxy, refuses_versions_other_than_2)
{
    static const uint8_t versions[] = {0x00, 0x10, 0x30, 0xf0};
    uint8_t in[sizeof(v4)];
    struct dir_proxy_header h;

    for (size_t i = 0; i < sizeof(versions); i++) {
        memcpy(in, v4, sizeof(v4));
        in[12] = versions[i] | 0x01;
        cr_assert_eq(dir_proxy_parse(in, 13, &h), SOTTO_EPROTO, "version byte %#x", in[12]);
        cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_EPROTO);
    }
}

Test(dir_proxy, refuses_unassigned_commands)
{
    uint8_t in[sizeof(v4)];
    struct dir_proxy_header h;

    for (unsigned cmd = 2; cmd <= 0x0f; cmd++) {
        memcpy(in, v4, sizeof(v4));
        in[12] = (uint8_t)(0x20 | cmd);
        cr_assert_eq(dir_proxy_parse(in, 13, &h), SOTTO_EPROTO, "command %u", cmd);
        cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_EPROTO, "command %u", cmd);
    }
}

Test(dir_proxy, refuses_families_the_spec_does_not_list)
{
    static const uint8_t bad[] = {0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0xff};
    uint8_t in[sizeof(v6)];
    struct dir_proxy_header h;

    for (size_t i = 0; i < sizeof(bad); i++) {
        memcpy(in, v6, sizeof(v6));
        in[13] = bad[i];
        cr_assert_eq(dir_proxy_parse(in, 14, &h), SOTTO_EPROTO, "family %#x", bad[i]);
        cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_EPROTO, "family %#x", bad[i]);
    }
}

Test(dir_proxy, refuses_a_declared_length_over_the_cap_before_its_bytes_arrive)
{
    uint8_t in[DIR_PROXY_HEADER_MAX + 1];
    struct dir_proxy_header h;
    size_t body = DIR_PROXY_HEADER_MAX - DIR_PROXY_FIXED_LEN;

    memset(in, 0, sizeof(in));
    memcpy(in, v4, sizeof(v4));
    in[14] = (uint8_t)((body + 1) >> 8);
    in[15] = (uint8_t)(body + 1);
    cr_assert_eq(dir_proxy_parse(in, DIR_PROXY_FIXED_LEN, &h), SOTTO_ETOOBIG);
    cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_ETOOBIG);
    in[14] = in[15] = 0xff;
    cr_assert_eq(dir_proxy_parse(in, DIR_PROXY_FIXED_LEN, &h), SOTTO_ETOOBIG);
    in[14] = (uint8_t)(body >> 8); /* exactly at the cap: TLVs of zeroes, accepted */
    in[15] = (uint8_t)body;
    cr_assert_eq(dir_proxy_parse(in, DIR_PROXY_HEADER_MAX - 1, &h), SOTTO_ETRUNC);
    cr_assert_eq(dir_proxy_parse(in, DIR_PROXY_HEADER_MAX, &h), SOTTO_OK);
    cr_assert_eq(h.len, DIR_PROXY_HEADER_MAX);
}

Test(dir_proxy, refuses_an_address_block_too_short_for_its_family)
{
    static const struct {
        uint8_t fam;
        uint16_t least;
    } fams[] = {{0x11, 12}, {0x12, 12}, {0x21, 36}, {0x22, 36}, {0x31, 216}, {0x32, 216}};
    uint8_t in[DIR_PROXY_HEADER_MAX];
    struct dir_proxy_header h;

    memset(in, 0, sizeof(in));
    memcpy(in, v6, sizeof(v6));
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        in[13] = fams[i].fam;
        in[14] = 0;
        in[15] = (uint8_t)(fams[i].least - 1);
        cr_assert_eq(dir_proxy_parse(in, DIR_PROXY_FIXED_LEN, &h), SOTTO_EPROTO, "%#x",
                     fams[i].fam);
        cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_EPROTO, "%#x", fams[i].fam);
        in[15] = (uint8_t)fams[i].least;
        cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_OK, "%#x", fams[i].fam);
    }
    in[13] = 0x21;
    in[15] = 0; /* an IPv6 header with no address block at all */
    cr_assert_eq(dir_proxy_parse(in, sizeof(in), &h), SOTTO_EPROTO);
}

Test(dir_proxy, refuses_null_arguments)
{
    struct dir_proxy_header h;

    cr_assert_eq(dir_proxy_parse(v4, sizeof(v4), NULL), SOTTO_EINVAL);
    cr_assert_eq(dir_proxy_parse(NULL, 1, &h), SOTTO_EINVAL);
    cr_assert_eq(dir_proxy_parse(NULL, 0, &h), SOTTO_ETRUNC);
}

static const char *key_of(const char *addr)
{
    static char out[DIR_PROXY_KEY_MAX];

    dir_proxy_source_key(addr, out, sizeof(out));
    return out;
}

Test(dir_proxy, source_key_of_an_ipv6_address_is_its_64)
{
    cr_assert_str_eq(key_of("2001:db8:1:2::7"), "2001:db8:1:2::/64");
    cr_assert_str_eq(key_of("2001:db8:1:2:ffff:eeee:dddd:cccc"), "2001:db8:1:2::/64");
    cr_assert_str_eq(key_of("2001:DB8:1:3::1"), "2001:db8:1:3::/64");
    cr_assert_str_eq(key_of("::1"), "::/64");
    cr_assert_str_eq(key_of("fe80::1"), "fe80::/64");
    cr_assert_str_eq(key_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "ffff:ffff:ffff:ffff::/64");
}

Test(dir_proxy, source_key_of_an_ipv4_mapped_address_is_the_ipv4_address)
{
    cr_assert_str_eq(key_of("::ffff:203.0.113.9"), "203.0.113.9");
    cr_assert_str_eq(key_of("::FFFF:cb00:7109"), "203.0.113.9");
}

Test(dir_proxy, source_key_of_ipv4_or_anything_else_is_the_text_itself)
{
    char small[6];

    cr_assert_str_eq(key_of("192.0.2.1"), "192.0.2.1");
    cr_assert_str_eq(key_of("unknown"), "unknown");
    cr_assert_str_eq(key_of(""), "");
    cr_assert_str_eq(key_of(NULL), "");
    cr_assert_str_eq(key_of("fe80::1%eth0"), "fe80::1%eth0");
    dir_proxy_source_key("2001:db8:1:2::7", small, sizeof(small));
    cr_assert_str_eq(small, "2001:", "cut to the room given");
    dir_proxy_source_key("192.0.2.1", small, 0); /* no room: nothing written */
    cr_assert_str_eq(small, "2001:");
}

Test(dir_proxy, wanted_asks_for_the_fixed_part_then_exactly_the_declared_length)
{
    uint8_t big[DIR_PROXY_FIXED_LEN];

    cr_assert_eq(dir_proxy_wanted(NULL, 0), DIR_PROXY_FIXED_LEN);
    for (size_t n = 0; n < DIR_PROXY_FIXED_LEN; n++)
        cr_assert_eq(dir_proxy_wanted(v6, n), DIR_PROXY_FIXED_LEN, "length %zu", n);
    cr_assert_eq(dir_proxy_wanted(v6, DIR_PROXY_FIXED_LEN), sizeof(v6));
    cr_assert_eq(dir_proxy_wanted(v4, sizeof(v4)), sizeof(v4));
    cr_assert_eq(dir_proxy_wanted(local, sizeof(local)), sizeof(local));
    memcpy(big, v4, sizeof(big));
    big[14] = big[15] = 0xff;
    cr_assert_eq(dir_proxy_wanted(big, sizeof(big)), DIR_PROXY_HEADER_MAX, "never past the cap");
}
