#!/usr/bin/env bash
# Instructions (valgrind callgrind's Ir) that `strata simulate` executes to
# replay a trace once per policy, for two builds: a repeatable measure of the
# eviction code's cost, unlike wall time on a shared 2-core machine (the
# same binary and input give the same count whatever else runs).
#
#   scripts/eviction-instructions.sh OLD_BINARY NEW_BINARY [TRACE] [SIZE]
#
# TRACE defaults to $STRATA_TRACES_DIR/cloudPhysicsIO.oracleGeneral.bin and
# SIZE to 256MiB. The count includes reading the trace, the same in both.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY [TRACE] [SIZE]" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
old=$1 new=$2
trace=${3:-${STRATA_TRACES_DIR:-../shared/traces}/cloudPhysicsIO.oracleGeneral.bin}
size=${4:-256MiB}
ir() { # binary, policy -> instruction count
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" simulate \
    --trace "$trace" --policies "$2" --sizes "$size" 2>&1 | awk '/Collected/ {print $4}'
}
printf '%-10s %14s %14s %8s\n' policy old new new/old
for policy in lru fifo lfu clock sieve s3fifo arc w-tinylfu ttl-first; do
  o=$(ir "$old" "$policy"); n=$(ir "$new" "$policy")
  awk -v p="$policy" -v o="$o" -v n="$n" 'BEGIN {printf "%-10s %14d %14d %8.3f\n", p, o, n, n / o}'
done
