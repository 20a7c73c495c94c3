#!/bin/sh
# tests/support/unit_wrap.sh: runs a Criterion test binary and fails when its output shows a
# problem Criterion itself lets pass: an assertion that failed in a suite's .fini (a leak check,
# for one), a crash during setup or teardown, or a sanitizer report (LeakSanitizer reports
# after a test has passed, from the test's own process). Output is passed through.
# SPDX-License-Identifier: GPL-3.0-or-later
out=$(mktemp "${TMPDIR:-/tmp}/unit-wrap.XXXXXX") || exit 1
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if grep -q -e 'Assertion Failed' -e 'crashed during its setup or teardown' \
        -e 'ERROR: LeakSanitizer' -e 'ERROR: AddressSanitizer' -e 'runtime error:' "$out"; then
    echo "unit_wrap.sh: a failed assertion, a teardown crash or a sanitizer report above" >&2
    [ "$rc" -eq 0 ] && rc=1
fi
rm -f "$out"
exit "$rc"
