/* tests/unit/dirserver/test_encode.c: the JSON answers carry exactly the documented members. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "directory/encode.h"
#include "identity/number.h"

static void sample(struct dir_account *a)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->username, sizeof(a->username), "alice");
    a->number = 123456789012345;
    memset(a->identity_key, 0xab, E2E_KEY_LEN);
    a->registration_id = 42;
    a->signed_prekey.id = 9;
    memset(a->signed_prekey.key, 0x05, E2E_KEY_LEN);
    memset(a->signed_prekey.sig, 0xcd, E2E_SIG_LEN);
    a->n_addrs = 2;
    snprintf(a->addrs[0], sizeof(a->addrs[0]), "192.0.2.1:1");
    snprintf(a->addrs[1], sizeof(a->addrs[1]), "[::1]:2");
    a->updated_ms = 1700000000000;
}

static void assert_b64(json_t *v, uint8_t byte, size_t len)
{
    uint8_t out[64], want[64];
    size_t got = 0;
    const char *s = json_string_value(v);

    cr_assert_not_null(s);
    cr_assert_eq(sodium_base642bin(out, sizeof(out), s, strlen(s), NULL, &got, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(got, len);
    memset(want, byte, len);
    cr_assert(memcmp(out, want, len) == 0);
}

Test(dir_encode, writes_the_public_record)
{
    struct dir_account a;
    json_t *j;

    sample(&a);
    j = dir_encode_account(&a);
    cr_assert_not_null(j);
    cr_assert_eq(json_object_size(j), 7);
    cr_assert_str_eq(json_string_value(json_object_get(j, "username")), "alice");
    cr_assert_str_eq(json_string_value(json_object_get(j, "number")), "123456789012345");
    assert_b64(json_object_get(j, "identity_key"), 0xab, E2E_KEY_LEN);
    cr_assert_eq(json_integer_value(json_object_get(j, "registration_id")), 42);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "signed_prekey"), "id")), 9);
    assert_b64(json_object_get(json_object_get(j, "signed_prekey"), "signature"), 0xcd,
               E2E_SIG_LEN);
    cr_assert_eq(json_array_size(json_object_get(j, "addresses")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "updated_ms")), 1700000000000);
    json_decref(j);
}

Test(dir_encode, writes_a_bundle_with_and_without_a_prekey)
{
    struct dir_account a;
    struct dir_prekey pk = {.id = 77};
    json_t *j;

    sample(&a);
    memset(pk.key, 0x05, sizeof(pk.key));
    j = dir_encode_bundle(&a, &pk, 4);
    cr_assert_eq(json_object_size(j), 7);
    cr_assert_eq(json_integer_value(json_object_get(j, "device_id")), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "prekey"), "id")), 77);
    cr_assert_eq(json_integer_value(json_object_get(j, "prekeys_left")), 4);
    json_decref(j);
    j = dir_encode_bundle(&a, NULL, 0);
    cr_assert(json_is_null(json_object_get(j, "prekey")));
    json_decref(j);
}

Test(dir_encode, writes_errors_with_their_code_and_advice)
{
    struct dir_problem p;
    json_t *j;

    dir_problem_set(&p, 409, "username_taken", "choose another than %s", "bob");
    j = dir_encode_problem(&p);
    cr_assert_eq(json_object_size(j), 2);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "username_taken");
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")), "choose another than bob");
    json_decref(j);
}
