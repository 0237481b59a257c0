#!/usr/bin/env bash
# HTTP load benchmark with wrk (32 connections, 2 threads): GET hits of a
# 100-byte value, PUTs of a 100-byte value, and /health/live as the
# framework's own ceiling, all against one release build in the same run.
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

cargo build --release --quiet
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
STRATA__LOG__FILTER=warn ./target/release/strata serve --listen "127.0.0.1:$port" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$tmp"' EXIT
tmp=$(mktemp)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done

value=$(head -c 100 /dev/zero | tr '\0' 'v')
curl -fs -X PUT --data-binary "$value" "http://127.0.0.1:$port/v1/caches/default/entries/bench-hit" >/dev/null

cat > "$tmp" <<LUA
wrk.method = "PUT"
wrk.body = "$value"
wrk.headers["Content-Type"] = "application/octet-stream"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v1/caches/default/entries/bench-put-" .. (counter % 10000))
end
LUA

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
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
  printf '%-12s median %10.0f req/s   runs: %s\n' "$name" "$(printf '%s\n' "${results[@]}" | median)" "${results[*]}"
}

run health "http://127.0.0.1:$port/health/live"
run get-hit "http://127.0.0.1:$port/v1/caches/default/entries/bench-hit"
run put "http://127.0.0.1:$port" "$tmp"
