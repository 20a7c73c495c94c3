#!/usr/bin/env bash
# make fuzz: a short libFuzzer run of every target, starting from its corpus. New inputs land in
# fuzz/out/<target>/ (not committed); a crash leaves crash-* files there: add the input to
# fuzz/corpus/<target>/ once fixed, so the fuzz-replay suite keeps it fixed.
set -euo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
status=0
for exe in "$BUILD"/fuzz/fuzz-*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    name=${exe##*/fuzz-}
    out="fuzz/out/$name"
    mkdir -p "$out"
    echo "== fuzzing $name for ${SECONDS_EACH}s"
    if ! "$exe" -max_total_time="$SECONDS_EACH" -max_len=20000 -artifact_prefix="$out/" \
            "$out" "fuzz/corpus/$name" 2>&1 | tail -5; then
        status=1
    fi
done
exit $status
