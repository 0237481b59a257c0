#!/usr/bin/env bash
# GET-hit throughput with leases and stale windows on against off (issue
# 27), in the same run on one release build: each scenario has a plain
# cache and a guarded one (lease_ttl = 5, stale_while_revalidate = 30,
# stale_if_error = 60), and wrk alternates between them round by round, so
# machine noise hits both alike. Scenarios: memory-only, Redis-only and
# stacked (memory over Redis); a 100-byte value, 32 connections.
#
#   scripts/bench-leases.sh [BINARY]          # ROUNDS=5 DURATION=5s
#
# Prints every run, then per scenario the median req/s of each and
# guarded/plain.
set -euo pipefail
BIN=${1:-target/release/strata}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing" >&2; exit 1; }

. "$(dirname "$0")/bench-lib.sh"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

start_redis
guard='default_ttl = 3600
lease_ttl = 5
stale_while_revalidate = 30
stale_if_error = 60'
write_redis_config "
[caches.memory-plain]
default_ttl = 3600
[caches.memory-guarded]
$guard
[caches.redis-plain]
tiers = [\"main\"]
default_ttl = 3600
[caches.redis-guarded]
tiers = [\"main\"]
$guard
[caches.stacked-plain]
tiers = [\"memory\", \"main\"]
default_ttl = 3600
[caches.stacked-guarded]
tiers = [\"memory\", \"main\"]
$guard"

port=$(free_port)
STRATA_CONFIG="$tmp/strata.toml" STRATA__LOG__FILTER=error "$BIN" serve --listen "127.0.0.1:$port" --grpc-listen "" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done

value=$(head -c 100 /dev/zero | tr '\0' 'v')
for scenario in memory redis stacked; do
  for side in plain guarded; do
    curl -fs -X PUT --data-binary "$value" "http://127.0.0.1:$port/v1/caches/$scenario-$side/entries/bench-hit" >/dev/null
  done
done

: > "$tmp/runs"
for _ in $(seq "$ROUNDS"); do
  for scenario in memory redis stacked; do
    for side in plain guarded; do
      rps=$(wrk -t2 -c32 -d"$DURATION" "http://127.0.0.1:$port/v1/caches/$scenario-$side/entries/bench-hit" | awk '/Requests\/sec/ {print $2}')
      echo "$scenario $side $rps" | tee -a "$tmp/runs"
    done
  done
done

for scenario in memory redis stacked; do
  plain=$(awk -v s="$scenario" '$1==s && $2=="plain" {print $3}' "$tmp/runs" | median)
  guarded=$(awk -v s="$scenario" '$1==s && $2=="guarded" {print $3}' "$tmp/runs" | median)
  awk -v s="$scenario" -v p="$plain" -v g="$guarded" \
    'BEGIN {printf "%-8s plain median %9.0f req/s   guarded median %9.0f req/s   guarded/plain %.2f\n", s, p, g, g / p}'
done
