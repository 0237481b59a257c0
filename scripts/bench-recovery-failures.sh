#!/usr/bin/env bash
# Failed requests after a backend returns (issue 27, part 1): a Redis-only
# cache served by $WORKERS HTTP workers, each with its own Redis
# connection. Every worker's connection is warmed (wrk, 4 connections per
# worker), redis-server is killed, restarted on the same port after
# $DOWN seconds, and once it answers PING and a PUT succeeds:
#   - 50 sequential GETs, each on a new connection (spread over the workers);
#   - wrk with 8 connections for 2 s, its non-2xx count.
# Counts, not times: every one of these requests came after Redis was back.
# Usage: scripts/bench-recovery-failures.sh            (target/release/strata)
#        BIN=/work/bin/strata-old WORKERS="2 8 16" scripts/bench-recovery-failures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
DOWN=${DOWN:-1} WORKERS=${WORKERS:-"2 8 16"}
bin=${BIN:-target/release/strata}
[ -x "$bin" ] || { echo "build it first: cargo build --release --bin strata" >&2; exit 2; }
pids=(); tmp=$(mktemp -d)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT

for workers in $WORKERS; do
  start_redis
  redis_pid=${pids[-1]}
  port=$(free_port)
  write_redis_config "[server]
listen = \"127.0.0.1:$port\"
grpc_listen = \"\"
workers = $workers
[log]
filter = \"error\""
  "$bin" serve --config "$tmp/strata.toml" & strata_pid=$!; pids+=($strata_pid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
  url="http://127.0.0.1:$port/v1/caches/shared/entries/k"
  curl -sf -X PUT --data-binary v "$url" >/dev/null
  wrk -t1 -c$((4 * workers)) -d1s "$url" >/dev/null
  kill -9 "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
  sleep "$DOWN"
  redis-server --port "$redis_port" --save "" --appendonly no --daemonize no >/dev/null & pids+=($!)
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.01; done
  # The value went with the old Redis: write it again (the first PUTs may
  # meet the open breaker).
  until curl -sf -o /dev/null -X PUT --data-binary v "$url"; do sleep 0.02; done
  failed=0
  for _ in $(seq 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] || failed=$((failed + 1))
  done
  non2xx=$(wrk -t1 -c8 -d2s "$url" | awk '/Non-2xx/ {print $NF}')
  echo "workers $workers: $failed of 50 sequential GETs failed; wrk non-2xx: ${non2xx:-0}"
  kill "$strata_pid" 2>/dev/null || true; wait "$strata_pid" 2>/dev/null || true
  kill "${pids[-1]}" 2>/dev/null || true
done
