/* tests/unit/node/test_reach.c: which addresses a node publishes (src/node/reach.c): the
 * profile's first, a concrete listening address as given, the directory's view and the
 * interfaces' addresses with our port, never a loopback or link-local one that was found rather
 * than given, each once, at most CARD_ADDRS_MAX. */
#include <string.h>

#include <criterion/criterion.h>

#include "node/node_int.h"

static char out[CARD_ADDRS_MAX][CARD_ADDR_MAX + 1];
static size_t n;

static void run(const struct node_reach_in *in)
{
    memset(out, 0, sizeof(out));
    n = 99;
    node_reach_addresses(in, out, &n);
}

static void expect(const char *const *want, size_t count)
{
    cr_assert_eq(n, count, "got %zu addresses, first '%s'", n, n > 0 ? out[0] : "");
    for (size_t i = 0; i < count; i++)
        cr_assert_str_eq(out[i], want[i], "address %zu", i);
}

static const char *const ifs[] = {"192.0.2.2", "10.1.2.3", "169.254.7.7", "127.0.0.1",  "fd00::2",
                                  "fe80::1",   "::1",      "2001:db8::5", "224.0.0.251"};

Test(node_reach, a_wildcard_ipv4_listener_publishes_its_usable_ipv4_interfaces_with_its_port)
{
    struct node_reach_in in = {.listen = "0.0.0.0:0",
                               .port = 8766,
                               .ifaddrs = ifs,
                               .n_ifaddrs = sizeof(ifs) / sizeof(ifs[0])};
    static const char *const want[] = {"192.0.2.2:8766", "10.1.2.3:8766"};

    run(&in);
    expect(want, 2);
}

Test(node_reach, a_wildcard_ipv6_listener_publishes_both_families_ipv4_first)
{
    static const char *const v6_first[] = {"fd00::2", "192.0.2.2"};
    struct node_reach_in in = {
            .listen = "[::]:9000", .port = 9000, .ifaddrs = v6_first, .n_ifaddrs = 2};
    static const char *const want[] = {"192.0.2.2:9000", "[fd00::2]:9000"};

    run(&in);
    expect(want, 2);
}

Test(node_reach, the_profiles_addresses_come_first_and_are_not_repeated)
{
    static const char profile[2][CARD_ADDR_MAX + 1] = {"example.org:443", "192.0.2.2:8766"};
    struct node_reach_in in = {.profile = profile,
                               .n_profile = 2,
                               .listen = "0.0.0.0:8766",
                               .port = 8766,
                               .ifaddrs = ifs,
                               .n_ifaddrs = 2};
    static const char *const want[] = {"example.org:443", "192.0.2.2:8766", "10.1.2.3:8766"};

    run(&in);
    expect(want, 3);
}

Test(node_reach, a_loopback_address_is_published_only_when_given)
{
    static const char profile[1][CARD_ADDR_MAX + 1] = {"127.0.0.1:7000"};
    static const char *const lo[] = {"127.0.0.1", "::1", "fe80::1"};
    struct node_reach_in in = {.profile = profile,
                               .n_profile = 1,
                               .listen = "127.0.0.1:7001",
                               .port = 7001,
                               .seen_host = "127.0.0.1",
                               .ifaddrs = lo,
                               .n_ifaddrs = 3};
    static const char *const want[] = {"127.0.0.1:7000", "127.0.0.1:7001"};

    run(&in);
    expect(want, 2);
}

Test(node_reach, a_concrete_listener_is_published_with_the_port_bound_and_no_interfaces)
{
    struct node_reach_in in = {
            .listen = "192.0.2.2:0", .port = 41000, .ifaddrs = ifs, .n_ifaddrs = 2};
    static const char *const want[] = {"192.0.2.2:41000"};

    run(&in);
    expect(want, 1);
}

Test(node_reach, the_directorys_view_comes_with_our_listening_port_before_the_interfaces)
{
    struct node_reach_in in = {.listen = "0.0.0.0:8766",
                               .port = 8766,
                               .seen_host = "203.0.113.9",
                               .ifaddrs = ifs,
                               .n_ifaddrs = 1};
    static const char *const want[] = {"203.0.113.9:8766", "192.0.2.2:8766"};

    run(&in);
    expect(want, 2);
}

Test(node_reach, the_directorys_view_is_skipped_in_a_family_we_do_not_listen_on)
{
    struct node_reach_in v4 = {.listen = "0.0.0.0:8766", .port = 8766, .seen_host = "2001:db8::9"};
    struct node_reach_in lo = {
            .listen = "127.0.0.1:8766", .port = 8766, .seen_host = "203.0.113.9"};
    struct node_reach_in v6 = {
            .listen = "[2001:db8::1]:8766", .port = 8766, .seen_host = "2001:db8::9"};
    static const char *const want_lo[] = {"127.0.0.1:8766"};
    static const char *const want_v6[] = {"[2001:db8::1]:8766", "[2001:db8::9]:8766"};

    run(&v4);
    expect(NULL, 0);
    run(&lo);
    expect(want_lo, 1);
    run(&v6);
    expect(want_v6, 2);
}

Test(node_reach, no_more_than_a_card_holds_are_published)
{
    static const char *const many[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5",
                                       "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9", "10.0.0.10"};
    static const char profile[1][CARD_ADDR_MAX + 1] = {"198.51.100.1:1"};
    struct node_reach_in in = {.profile = profile,
                               .n_profile = 1,
                               .listen = "0.0.0.0:5",
                               .port = 5,
                               .ifaddrs = many,
                               .n_ifaddrs = 10};

    run(&in);
    cr_assert_eq(n, CARD_ADDRS_MAX);
    cr_assert_str_eq(out[0], "198.51.100.1:1");
    cr_assert_str_eq(out[CARD_ADDRS_MAX - 1], "10.0.0.7:5");
}

Test(node_reach, garbage_from_the_interfaces_or_the_directory_is_skipped)
{
    static const char *const bad[] = {"",        "not-an-ip", "1.2.3",
                                      "0.0.0.0", "::",        "255.255.255.255",
                                      "ff02::1", "fec0::1",   "::ffff:127.0.0.1"};
    struct node_reach_in in = {.listen = "[::]:5",
                               .port = 5,
                               .seen_host = "1.2.3.4 x",
                               .ifaddrs = bad,
                               .n_ifaddrs = sizeof(bad) / sizeof(bad[0])};

    run(&in);
    expect(NULL, 0);
}

Test(node_reach, a_seen_from_gives_its_canonical_host)
{
    char host[NODE_REACH_HOST_MAX];

    cr_assert(node_reach_seen_host("203.0.113.9:51234", host));
    cr_assert_str_eq(host, "203.0.113.9");
    cr_assert(node_reach_seen_host("[2001:DB8:0::9]:443", host));
    cr_assert_str_eq(host, "2001:db8::9");
    cr_assert(node_reach_seen_host("[::ffff:198.51.100.7]:1", host));
    cr_assert_str_eq(host, "198.51.100.7");
}

Test(node_reach, a_seen_from_that_is_not_an_ip_with_a_port_gives_nothing)
{
    static const char *const bad[] = {"",
                                      "203.0.113.9",
                                      "203.0.113.9:",
                                      "::1:80",
                                      "example.org:443",
                                      "[203.0.113.9]x:1",
                                      "1.2.3.4:8a",
                                      "[]:1",
                                      "unknown"};
    char host[NODE_REACH_HOST_MAX];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(node_reach_seen_host(bad[i], host), "%s", bad[i]);
        cr_assert_str_eq(host, "");
    }
}
