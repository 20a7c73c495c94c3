/* tests/unit/card/test_address.c: what counts as a reachable "host:port" in a card. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "identity/card.h"

static const char *const good[] = {
        "example.com:8766",
        "a:1",
        "localhost:65535",
        "Node-7.Example.ORG:443",
        "xn--bcher-kva.example:80",
        "a-b.c-d:9",
        "1a.example:80",
        "example.123a:80",
        "192.168.1.10:8766",
        "0.0.0.0:1",
        "255.255.255.255:65535",
        "10.0.0.1:80",
        "[::1]:8766",
        "[2001:db8::1]:443",
        "[2001:DB8:0:0:8:800:200C:417A]:80",
        "[::ffff:192.0.2.1]:80",
        "[fe80::1]:1",
};

static const char *const bad[] = {
        "",
        ":80",
        "example.com",
        "example.com:",
        "example.com:0",
        "example.com:00",
        "example.com:080",
        "example.com:65536",
        "example.com:99999",
        "example.com:123456",
        "example.com:18446744073709551617",
        "example.com:+80",
        "example.com:-1",
        "example.com: 80",
        "example.com:80 ",
        " example.com:80",
        "example.com:80:81",
        "example.com:8o",
        "-a.com:80",
        "a-.com:80",
        "a.-b.com:80",
        "a..b:80",
        ".a:80",
        "a.:80",
        "a_b:80",
        "ex ample:80",
        "exa\tmple:80",
        "b\xc3\xbc"
        "cher.example:80",
        "example.123:80",
        "http://example.com:80",
        "user@example.com:80",
        "example.com/x:80",
        "256.1.1.1:80",
        "1.2.3.256:80",
        "01.2.3.4:80",
        "1.2.3.04:80",
        "1.2.3:80",
        "1.2.3.4.5:80",
        "1..3.4:80",
        "1.2.3.4.:80",
        "1234.1.1.1:80",
        "[::1:80",
        "::1:80",
        "::1",
        "[::1]",
        "[::1]80",
        "[::1]:",
        "[::1]:0",
        "[::g]:80",
        "[]:80",
        "[:]:80",
        "[1.2.3.4]:80",
        "[::1%eth0]:80",
        "[ ::1]:80",
        "[1:2:3:4:5:6:7:8:9]:80",
        "[::1]]:80",
        "[[::1]:80",
        "[example.com]:80",
};

Test(card_address, good_addresses_are_accepted)
{
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_expect_eq(identity_card_check_address(good[i]), SOTTO_OK, "refused: %s", good[i]);
}

Test(card_address, bad_addresses_are_refused)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(identity_card_check_address(bad[i]), SOTTO_EPROTO, "accepted: %s", bad[i]);
}

Test(card_address, a_dns_label_may_have_63_characters_and_no_more)
{
    char a[128];
    const char *l63 = "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc";

    cr_assert_eq(strlen(l63), 63);
    snprintf(a, sizeof(a), "%s.example:80", l63);
    cr_assert_eq(identity_card_check_address(a), SOTTO_OK);
    snprintf(a, sizeof(a), "%sd.example:80", l63);
    cr_assert_eq(identity_card_check_address(a), SOTTO_EPROTO);
}

/* Four labels of 63 and dots: 255 host bytes; cut to 253 and 254. */
Test(card_address, a_dns_name_may_have_253_characters_and_no_more)
{
    char host[256], a[300];

    memset(host, 'a', 255);
    host[63] = host[127] = host[191] = '.';
    host[253] = '\0';
    snprintf(a, sizeof(a), "%s:1", host);
    cr_assert_eq(identity_card_check_address(a), SOTTO_OK, "253");
    host[253] = 'a';
    host[254] = '\0';
    snprintf(a, sizeof(a), "%s:1", host);
    cr_assert_eq(identity_card_check_address(a), SOTTO_EPROTO, "254");
}

Test(card_address, an_address_longer_than_255_bytes_is_refused)
{
    char a[CARD_ADDR_MAX + 2];

    /* 249 host bytes and ":65535" is 255: the longest; one more digit of host is too long */
    memset(a, 'a', sizeof(a));
    a[60] = a[120] = a[180] = a[240] = '.';
    memcpy(a + 249, ":65535", 7);
    cr_assert_eq(identity_card_check_address(a), SOTTO_OK);
    memcpy(a + 250, ":65535", 7);
    cr_assert_eq(strlen(a), CARD_ADDR_MAX + 1);
    cr_assert_eq(identity_card_check_address(a), SOTTO_EPROTO);
    cr_assert_eq(identity_card_check_address(NULL), SOTTO_EINVAL);
}
