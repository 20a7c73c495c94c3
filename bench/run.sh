#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures beside a baseline measured in the same
# run. Figures go into docs/BENCHMARKS.md by hand, with the machine they came from.
set -euo pipefail
BUILD=${1:-build-bench}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "openssl speed baseline (sha512, 1 s):"
openssl speed -elapsed -seconds 1 sha512 2>/dev/null | tail -1
"$BUILD/bench/identity-bench" "${BENCH_RUNS:-5}"
bash bench/directory.sh "$BUILD" "${BENCH_SECONDS:-10}"
/usr/bin/python3 bench/node.py "$BUILD" "${BENCH_NODE_N:-1000}" "${BENCH_NODE_M:-2000}"
/usr/bin/python3 bench/first_contact.py "$BUILD" "${BENCH_FIRST_K:-15}"
/usr/bin/python3 bench/link_memory.py "$BUILD" "${BENCH_LINKS:-1000}"
