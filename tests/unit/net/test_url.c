/* tests/unit/net/test_url.c: directory URLs are https only, normalized, and never carry a path;
 * pins are read as users paste them and nothing else. */
#include <string.h>

#include <criterion/criterion.h>

#include "net/net_int.h"

Test(net_url, normalizes_scheme_case_host_case_and_the_default_port)
{
    char out[NET_URL_MAX + 1];

    cr_assert_eq(net_url_normalize("HTTPS://Dir.Example:443/", out), SOTTO_OK);
    cr_assert_str_eq(out, "https://dir.example");
    cr_assert_eq(net_url_normalize("https://127.0.0.1:8443", out), SOTTO_OK);
    cr_assert_str_eq(out, "https://127.0.0.1:8443");
    cr_assert_eq(net_url_normalize("https://[::1]:8443/", out), SOTTO_OK);
    cr_assert_str_eq(out, "https://[::1]:8443");
}

Test(net_url, keeps_host_port_and_the_host_header_apart)
{
    struct net_url u;

    cr_assert_eq(net_url_parse("https://[FE80::1]:9000", &u), SOTTO_OK);
    cr_assert_str_eq(u.host, "fe80::1");
    cr_assert_eq(u.port, 9000);
    cr_assert_str_eq(u.host_header, "[fe80::1]:9000");
    cr_assert_eq(net_url_parse("https://dir.example", &u), SOTTO_OK);
    cr_assert_eq(u.port, 443);
    cr_assert_str_eq(u.host_header, "dir.example");
}

Test(net_url, refuses_anything_but_https_to_a_host_and_port)
{
    static const char *const bad[] = {
            "http://dir.example",
            "dir.example",
            "https://",
            "https://:443",
            "https://user@dir.example",
            "https://dir.example/v1",
            "https://dir.example?x=1",
            "https://dir.example#x",
            "https://dir.example:0",
            "https://dir.example:65536",
            "https://dir.example:08",
            "https://dir.example:+80",
            "https://dir.example:",
            "https://[::1",
            "https://[zz::1]:80",
            "https://dir_example",
            "https://-dir.example",
            "https://dir.example:80:80",
            "https://dir.ex\xc3\xa4mple",
            "https://[]:80",
    };
    char out[NET_URL_MAX + 1];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(net_url_normalize(bad[i], out), SOTTO_EINVAL, "%s", bad[i]);
        cr_assert_str_empty(out);
    }
    cr_assert_eq(net_url_normalize(NULL, out), SOTTO_EINVAL);
}

Test(net_url, refuses_a_url_longer_than_the_cap)
{
    char url[NET_URL_MAX + 16], out[NET_URL_MAX + 1];

    memset(url, 'a', sizeof(url) - 1);
    url[sizeof(url) - 1] = '\0';
    memcpy(url, "https://", 8);
    cr_assert_eq(net_url_normalize(url, out), SOTTO_EINVAL);
}

#define PIN "3a648170792d8d8409c1631828fe74467600a539638b8e6900dee53595ff435e"

Test(net_pin, reads_a_pin_with_prefix_separators_and_upper_case)
{
    char out[NET_PIN_HEX_LEN + 1];

    cr_assert_eq(net_pin_parse(PIN, out), SOTTO_OK);
    cr_assert_str_eq(out, PIN);
    cr_assert_eq(net_pin_parse("SHA256:3A:64:81:70:79:2D:8D:84:09:C1:63:18:28:FE:74:46:76:00:A5:39:"
                               "63:8B:8E:69:00:DE:E5:35:95:FF:43:5E",
                               out),
                 SOTTO_OK);
    cr_assert_str_eq(out, PIN);
    cr_assert_eq(net_pin_parse("sha256:3a64 8170 792d 8d84 09c1 6318 28fe 7446 7600 a539 638b "
                               "8e69 00de e535 95ff 435e",
                               out),
                 SOTTO_OK);
    cr_assert_str_eq(out, PIN);
}

Test(net_pin, refuses_a_pin_of_the_wrong_length_or_alphabet)
{
    static const char *const bad[] = {
            "",
            "sha256:",
            PIN "0",
            "3a64",
            PIN "\n",
            "sha1:" PIN,
            "ga648170792d8d8409c1631828fe74467600a539638b8e6900dee53595ff435e"};
    char out[NET_PIN_HEX_LEN + 1];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(net_pin_parse(bad[i], out), SOTTO_EINVAL, "%s", bad[i]);
        cr_assert_str_empty(out);
    }
}
