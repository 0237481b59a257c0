#!/usr/bin/env bash
# A/B load test of two release builds of strata in the same run, for
# "within noise" claims after a refactor: both binaries serve at once over
# one throw-away redis-server, and wrk alternates between them, so machine
# noise hits both alike. Scenarios: GET hits of a 100-byte value on the
# memory cache `default` and on a Redis-only cache `shared`.
#
#   scripts/bench-ab.sh OLD_BINARY NEW_BINARY          # ROUNDS=5 DURATION=5s
#   ROUNDS=7 DURATION=8s scripts/bench-ab.sh old/target/release/strata target/release/strata
#   OLD_ENV="STRATA__CACHES__DEFAULT__EVICTION=sieve" \
#     scripts/bench-ab.sh target/release/strata target/release/strata
#       # one binary, two settings: OLD_ENV / NEW_ENV are extra environment
#       # (space-separated NAME=value) for that side's server
#
# Prints every run, then per scenario the median req/s of each and NEW/OLD.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing" >&2; exit 1; }

. "$(dirname "$0")/bench-lib.sh"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

start_redis
write_redis_config

declare -A port
for side in old new; do
  bin=$1; extra=${OLD_ENV:-}
  [ "$side" = new ] && bin=$2 && extra=${NEW_ENV:-}
  port[$side]=$(free_port)
  # shellcheck disable=SC2086 # word splitting of NAME=value pairs wanted
  env $extra STRATA_CONFIG="$tmp/strata.toml" STRATA__LOG__FILTER=error "$bin" serve --listen "127.0.0.1:${port[$side]}" --grpc-listen "" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:${port[$side]}/health/live" >/dev/null && break; sleep 0.1; done
done

value=$(head -c 100 /dev/zero | tr '\0' 'v')
for side in old new; do
  for cache in default shared; do
    curl -fs -X PUT --data-binary "$value" "http://127.0.0.1:${port[$side]}/v1/caches/$cache/entries/bench-hit" >/dev/null
  done
done

: > "$tmp/runs"
for _ in $(seq "$ROUNDS"); do
  for side in old new; do
    for cache in default shared; do
      rps=$(wrk -t2 -c32 -d"$DURATION" "http://127.0.0.1:${port[$side]}/v1/caches/$cache/entries/bench-hit" | awk '/Requests\/sec/ {print $2}')
      echo "$side $cache $rps" | tee -a "$tmp/runs"
    done
  done
done

for cache in default shared; do
  old=$(awk -v c="$cache" '$1=="old" && $2==c {print $3}' "$tmp/runs" | median)
  new=$(awk -v c="$cache" '$1=="new" && $2==c {print $3}' "$tmp/runs" | median)
  awk -v c="$cache" -v o="$old" -v n="$new" \
    'BEGIN {printf "%-8s old median %9.0f req/s   new median %9.0f req/s   new/old %.2f\n", c, o, n, n / o}'
done
