#!/usr/bin/env bash
# Server instructions per HTTP GET hit (valgrind callgrind's Ir), for two
# release builds: a repeatable measure of the request path's cost, unlike
# req/s on a shared 2-core machine. Each build serves under callgrind with
# one worker; wrk sends GET hits of a 100-byte value for $DURATION; the
# instructions of a run with no requests (start-up and shutdown) are
# subtracted and the rest divided by the requests wrk completed.
# Scenarios: the memory cache `default` and a Redis-only cache `shared`.
#
#   scripts/http-instructions.sh OLD_BINARY NEW_BINARY     # DURATION=15s
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
DURATION=${DURATION:-15s}
for tool in valgrind wrk redis-server; do
  command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done
. "$(dirname "$0")/bench-lib.sh"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
start_redis
write_redis_config
value=$(head -c 100 /dev/zero | tr '\0' 'v')

# binary, cache, duration (0: no requests) -> "requests instructions"
measure() {
  local port server n=0
  port=$(free_port)
  STRATA_CONFIG="$tmp/strata.toml" STRATA__SERVER__WORKERS=1 STRATA__LOG__FILTER=error \
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" serve --listen "127.0.0.1:$port" --grpc-listen "" \
    > "$tmp/server.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
  curl -fs -X PUT --data-binary "$value" "http://127.0.0.1:$port/v1/caches/$2/entries/hit" >/dev/null
  if [ "$3" != 0 ]; then
    n=$(wrk -t1 -c8 -d"$3" "http://127.0.0.1:$port/v1/caches/$2/entries/hit" | awk '/requests in/ {print $1}')
  fi
  kill -TERM "$server"
  wait "$server" || true
  echo "$n $(awk '/Collected/ {print $4}' "$tmp/server.log")"
}

printf '%-8s %14s %14s %8s\n' cache "old Ir/req" "new Ir/req" new/old
for cache in default shared; do
  per=()
  for bin in "$1" "$2"; do
    read -r _ base < <(measure "$bin" "$cache" 0)
    read -r n total < <(measure "$bin" "$cache" "$DURATION")
    per+=("$(( (total - base) / n ))")
  done
  awk -v c="$cache" -v o="${per[0]}" -v n="${per[1]}" 'BEGIN {printf "%-8s %14d %14d %8.3f\n", c, o, n, n / o}'
done
