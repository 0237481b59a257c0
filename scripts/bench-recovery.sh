#!/usr/bin/env bash
# Recovery after a backend returns (issue 15): a Redis-only cache under
# wrk GET load; redis-server is killed, restarted on the same port after
# $DOWN seconds, and a probe loop (curl every 20 ms) times how long after
# Redis answers PING again the cache answers 200 again. Prints the
# fail-fast latency of a 503 while Redis is down, too. $RUNS runs, each
# figure with its median.
# Usage: scripts/bench-recovery.sh   (needs wrk, redis-server, curl; builds nothing)
#        BIN=/tmp/strata-old scripts/bench-recovery.sh   # another binary
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
RUNS=${RUNS:-3} DOWN=${DOWN:-2}
bin=${BIN:-target/release/strata}
[ -x "$bin" ] || { echo "build it first: cargo build --release --bin strata" >&2; exit 2; }
pids=(); tmp=$(mktemp -d)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT

now_ms() { date +%s%3N; }
recoveries=(); fails=()
for run in $(seq "$RUNS"); do
  start_redis
  redis_pid=${pids[-1]}
  port=$(free_port)
  write_redis_config "[server]
listen = \"127.0.0.1:$port\"
[log]
filter = \"error\""
  "$bin" serve --grpc-listen "" --config "$tmp/strata.toml" & strata_pid=$!; pids+=($strata_pid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
  url="http://127.0.0.1:$port/v1/caches/shared/entries/k"
  curl -sf -X PUT --data-binary v "$url" >/dev/null
  wrk -t1 -c16 -d$((DOWN + 8))s "$url" >/dev/null & wrk_pid=$!; pids+=($wrk_pid)
  sleep 1
  kill -9 "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
  sleep 0.5
  # A 503 while Redis is down: how fast it fails.
  fails+=("$(curl -s -o /dev/null -w '%{time_total}' "$url")")
  sleep "$DOWN"
  redis-server --port "$redis_port" --save "" --appendonly no --daemonize no >/dev/null & pids+=($!)
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.01; done
  back=$(now_ms)
  # The value went with the old Redis: write it again, then wait for a 200.
  until curl -sf -o /dev/null -X PUT --data-binary v "$url"; do sleep 0.02; done
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; do sleep 0.02; done
  recoveries+=("$(( $(now_ms) - back ))")
  kill "$wrk_pid" "$strata_pid" 2>/dev/null || true; wait "$wrk_pid" "$strata_pid" 2>/dev/null || true
  kill "${pids[-1]}" 2>/dev/null || true
  echo "run $run: served again ${recoveries[-1]} ms after Redis answered PING; a 503 while down took ${fails[-1]} s"
done
printf 'recovery median %s ms (runs: %s); 503 fail-fast median %s s\n' \
  "$(printf '%s\n' "${recoveries[@]}" | median)" "${recoveries[*]}" "$(printf '%s\n' "${fails[@]}" | median)"
