#!/usr/bin/env bash
# Overhead of [analytics] (trends, the usage report's request sampling
# and its entry lifetimes, which follow every access of a sampled key) on
# GET hits: one release build serves twice at once, with analytics off and on
# (default settings: report_sample_rate 0.05), and wrk alternates between
# them, so machine noise hits both alike. GET hits of a 100-byte value on
# the memory cache `default`.
#
#   scripts/bench-analytics.sh target/release/strata     # ROUNDS=5 DURATION=5s
#
# Prints every run, then the median req/s of each and ON/OFF.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

. "$(dirname "$0")/bench-lib.sh"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

declare -A port
for side in off on; do
  port[$side]=$(free_port)
  enabled=false; [ "$side" = on ] && enabled=true
  STRATA__ANALYTICS__ENABLED=$enabled STRATA__LOG__FILTER=error "$1" serve --listen "127.0.0.1:${port[$side]}" --grpc-listen "" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:${port[$side]}/health/live" >/dev/null && break; sleep 0.1; done
done

value=$(head -c 100 /dev/zero | tr '\0' 'v')
for side in off on; do
  curl -fs -X PUT --data-binary "$value" "http://127.0.0.1:${port[$side]}/v1/caches/default/entries/bench-hit" >/dev/null
done

: > "$tmp/runs"
for _ in $(seq "$ROUNDS"); do
  for side in off on; do
    rps=$(wrk -t2 -c32 -d"$DURATION" "http://127.0.0.1:${port[$side]}/v1/caches/default/entries/bench-hit" | awk '/Requests\/sec/ {print $2}')
    echo "$side $rps" | tee -a "$tmp/runs"
  done
done

off=$(awk '$1=="off" {print $2}' "$tmp/runs" | median)
on=$(awk '$1=="on" {print $2}' "$tmp/runs" | median)
awk -v o="$off" -v n="$on" 'BEGIN {printf "analytics off median %9.0f req/s   on median %9.0f req/s   on/off %.3f\n", o, n, n / o}'
# The trends of the run, as a check that they were on.
curl -fs "http://127.0.0.1:${port[on]}/v1/caches/default/report" | head -c 300; echo
