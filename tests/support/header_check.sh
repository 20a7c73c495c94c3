#!/bin/sh
# Writes a C file that includes header $1 (path relative to the source root) and nothing else.
h="$1"
case "$h" in
include/*) h="${h#include/}" ;;
src/*) h="${h#src/}" ;;
esac
printf '#include "%s"\n' "$h" > "$2"
