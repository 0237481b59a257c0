#!/usr/bin/env bash
# HTTP load benchmark with wrk (32 connections, 2 threads) against one
# release build, every scenario in the same run:
#   health        /health/live, the framework's own ceiling
#   get-hit       GET hits of a 100-byte value on the memory cache `default`
#   put           PUTs of a 100-byte value on `default`
# and, when redis-server is installed, against a throw-away redis-server:
#   redis-get-hit / redis-put   the same on cache `shared` (tiers ["main"])
#   tiered-get-hit              GET hits on `tiered` (tiers ["memory","main"])
#   redis-benchmark GET/SET     `redis-benchmark -t get,set -n 200000 -c 32`
#                               on the same server, as Redis's own ceiling
# Prints one line per scenario with the median requests/second of $RUNS runs.
#
#   scripts/bench-http.sh            # RUNS=3 DURATION=10s
#   RUNS=5 DURATION=15s scripts/bench-http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

. scripts/bench-lib.sh
cargo build --release --quiet
port=$(free_port)
pids=()
tmp=$(mktemp -d)
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

with_redis=0
if command -v redis-server >/dev/null; then
  with_redis=1
  start_redis
  write_redis_config '[caches.tiered]
tiers = ["memory", "main"]'
  export STRATA_CONFIG="$tmp/strata.toml"
fi

STRATA__LOG__FILTER=warn ./target/release/strata serve --listen "127.0.0.1:$port" --grpc-listen "" &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done

value=$(head -c 100 /dev/zero | tr '\0' 'v')
put_script() { # cache -> path of a wrk script PUTting 10000 distinct keys
  cat > "$tmp/put-$1.lua" <<LUA
wrk.method = "PUT"
wrk.body = "$value"
wrk.headers["Content-Type"] = "application/octet-stream"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v1/caches/$1/entries/bench-put-" .. (counter % 10000))
end
LUA
  echo "$tmp/put-$1.lua"
}

report() { # name, results...
  local name=$1; shift
  printf '%-16s median %10.0f req/s   runs: %s\n' "$name" "$(printf '%s\n' "$@" | median)" "$*"
}
run() { # name, url, [script]
  local name=$1 url=$2 script=${3:-}
  local results=()
  for _ in $(seq "$RUNS"); do
    if [ -n "$script" ]; then
      out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$script" "$url")
    else
      out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "$url")
    fi
    results+=("$(echo "$out" | awk '/Requests\/sec/ {print $2}')")
  done
  report "$name" "${results[@]}"
}
hit() { # cache: store the hit key, then benchmark GETs of it
  curl -fs -X PUT --data-binary "$value" "http://127.0.0.1:$port/v1/caches/$1/entries/bench-hit" >/dev/null
  run "$2" "http://127.0.0.1:$port/v1/caches/$1/entries/bench-hit"
}

run health "http://127.0.0.1:$port/health/live"
hit default get-hit
run put "http://127.0.0.1:$port" "$(put_script default)"
if [ "$with_redis" = 1 ]; then
  hit shared redis-get-hit
  run redis-put "http://127.0.0.1:$port" "$(put_script shared)"
  if curl -fs "http://127.0.0.1:$port/admin/v1/caches/tiered" >/dev/null; then
    hit tiered tiered-get-hit
  fi
  gets=(); sets=()
  for _ in $(seq "$RUNS"); do
    out=$(redis-benchmark -p "$redis_port" -t get,set -n 200000 -c "$CONNECTIONS" -d 100 -q 2>/dev/null | tr '\r' '\n')
    sets+=("$(echo "$out" | awk '/^SET:/ {print $2}' | tail -1)")
    gets+=("$(echo "$out" | awk '/^GET:/ {print $2}' | tail -1)")
  done
  report redis-bench-get "${gets[@]}"
  report redis-bench-set "${sets[@]}"
fi
