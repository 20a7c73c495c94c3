/* tests/unit/directory/test_skeleton.c: the look-alike skeleton usernames are unique on. */
#include <criterion/criterion.h>

#include "directory/backend.h"

static void assert_skeleton(const char *username, const char *want)
{
    char out[TEXT_USERNAME_MAX + 1];

    dir_username_skeleton(username, out);
    cr_assert_str_eq(out, want, "%s", username);
}

static void assert_same(const char *a, const char *b)
{
    char sa[TEXT_USERNAME_MAX + 1], sb[TEXT_USERNAME_MAX + 1];

    dir_username_skeleton(a, sa);
    dir_username_skeleton(b, sb);
    cr_assert_str_eq(sa, sb, "%s and %s", a, b);
}

Test(skeleton, digit_one_capital_i_lookalike_and_hyphen_do_not_make_a_new_name)
{
    assert_same("a1ice", "alice");
    assert_same("al1ce", "alice");
    assert_same("al-ice", "alice");
    assert_same("a1ice", "al1ce");
    assert_skeleton("alice", "allce");
}

Test(skeleton, rn_reads_as_m)
{
    assert_same("rnary", "mary");
    assert_skeleton("rnary", "mary");
    assert_skeleton("barn", "bam");
}

Test(skeleton, vv_reads_as_w)
{
    assert_same("vvill", "will");
    assert_skeleton("vvill", "wlll");
}

Test(skeleton, zero_reads_as_o)
{
    assert_same("0scar", "oscar");
    assert_skeleton("b0b", "bob");
}

Test(skeleton, dots_hyphens_and_underscores_are_dropped)
{
    assert_skeleton("j.o_h-n", "john");
    assert_same("bob_smith", "bob.smith");
}

Test(skeleton, separators_cannot_hide_a_lookalike_pair)
{
    assert_same("r-nary", "mary");
    assert_same("v.vill", "will");
    assert_skeleton("r_n", "m");
}

Test(skeleton, pairs_are_replaced_left_to_right_without_overlap)
{
    assert_skeleton("vvv", "wv");
    assert_skeleton("rnn", "mn");
    assert_skeleton("rrn", "rm");
    assert_skeleton("vvvv", "ww");
}

Test(skeleton, other_letters_and_digits_are_kept)
{
    assert_skeleton("bob2345", "bob2345");
    assert_skeleton("zed", "zed");
}

Test(skeleton, different_names_keep_different_skeletons)
{
    char a[TEXT_USERNAME_MAX + 1], b[TEXT_USERNAME_MAX + 1];

    dir_username_skeleton("alice", a);
    dir_username_skeleton("alicia", b);
    cr_assert_str_neq(a, b);
    dir_username_skeleton("mary", a);
    dir_username_skeleton("marry", b);
    cr_assert_str_neq(a, b);
}

Test(skeleton, longest_username_fits_the_output)
{
    char out[TEXT_USERNAME_MAX + 1];
    const char *name = "abcdefghjkmnopqstuwxyz0123456789"; /* 32 characters */

    dir_username_skeleton(name, out);
    cr_assert_str_eq(out, "abcdefghjkmnopqstuwxyzol23456789");
}
