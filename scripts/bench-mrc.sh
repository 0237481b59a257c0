#!/usr/bin/env bash
# Overhead of the live miss-ratio analysis on GET hits: two processes of one
# release build serve at once, one with `[analysis] enabled = false`, one
# with the defaults (analysis on) and, as a worst case, one sampling every
# key (`sample_rate = 1`, so every read goes through the queue). wrk
# alternates between them (same run, same noise) reading 10,000 warm keys of
# 100 bytes in turn (a Lua script), from the memory cache `default`.
#
#   scripts/bench-mrc.sh target/release/strata        # ROUNDS=5 DURATION=5s
#
# Prints every run, then per side the median req/s and the ratio to "off".
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
KEYS=${KEYS:-10000}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

. "$(dirname "$0")/bench-lib.sh"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

cat > "$tmp/keys.lua" <<LUA
local i = 0
request = function()
  i = (i + 1) % $KEYS
  return wrk.format("GET", "/v1/caches/default/entries/k" .. i)
end
LUA

declare -A port
sides=(off on all)
for side in "${sides[@]}"; do
  port[$side]=$(free_port)
  case $side in
    off) env=(STRATA__ANALYSIS__ENABLED=false) ;;
    on) env=() ;;
    all) env=(STRATA__ANALYSIS__SAMPLE_RATE=1) ;;
  esac
  env "${env[@]}" STRATA__LOG__FILTER=error "$1" serve --grpc-listen "" --listen "127.0.0.1:${port[$side]}" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:${port[$side]}/health/live" >/dev/null && break; sleep 0.1; done
done

value=$(head -c 100 /dev/zero | tr '\0' 'v')
for side in "${sides[@]}"; do
  for i in $(seq 0 $((KEYS - 1))); do echo "k$i"; done |
    xargs -P 4 -I{} curl -fs -o /dev/null -X PUT --data-binary "$value" "http://127.0.0.1:${port[$side]}/v1/caches/default/entries/{}"
done

: > "$tmp/runs"
for _ in $(seq "$ROUNDS"); do
  for side in "${sides[@]}"; do
    rps=$(wrk -t2 -c32 -d"$DURATION" -s "$tmp/keys.lua" "http://127.0.0.1:${port[$side]}" | awk '/Requests\/sec/ {print $2}')
    echo "$side $rps" | tee -a "$tmp/runs"
  done
done

off=$(awk '$1=="off" {print $2}' "$tmp/runs" | median)
for side in "${sides[@]}"; do
  m=$(awk -v s="$side" '$1==s {print $2}' "$tmp/runs" | median)
  awk -v s="$side" -v m="$m" -v o="$off" 'BEGIN {printf "%-4s median %9.0f req/s   ratio to off %.3f\n", s, m, m / o}'
done
for side in on all; do
  curl -fs "http://127.0.0.1:${port[$side]}/v1/caches/default/mrc" |
    python3 -c "import json,sys; b=json.load(sys.stdin); print('$side', 'rate', b['sampling_rate'], 'sampled', b['sampled_requests'], 'dropped', b['dropped_samples'], 'requests', b['requests'])"
done
