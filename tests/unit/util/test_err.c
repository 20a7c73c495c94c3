/* tests/unit/util/test_err.c */
#include <string.h>

#include <criterion/criterion.h>

#include "sotto/err.h"

Test(err, every_code_has_its_own_text_and_name)
{
    for (int i = 0; i < SOTTO_ERR_COUNT; i++) {
        const char *t = sotto_strerror((enum sotto_err)i);
        cr_assert_str_neq(t, "unknown error", "code %d has no text", i);
        cr_assert_str_neq(sotto_errname((enum sotto_err)i), "SOTTO_E_UNKNOWN", "code %d", i);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(t, sotto_strerror((enum sotto_err)j), "codes %d and %d share text", i,
                              j);
    }
}

Test(err, out_of_range_codes_say_unknown_error)
{
    cr_assert_str_eq(sotto_strerror(SOTTO_ERR_COUNT), "unknown error");
    cr_assert_str_eq(sotto_strerror((enum sotto_err) - 1), "unknown error");
    cr_assert_str_eq(sotto_errname((enum sotto_err)9999), "SOTTO_E_UNKNOWN");
}
