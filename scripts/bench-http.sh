#!/usr/bin/env bash
# HTTP load benchmark (issue 15): one release build of Strata and its peers,
# every server started here on free ports and stopped by PID, every
# scenario in the same run, interleaved: each round runs every scenario
# once (`wrk -t$THREADS -c$CONNECTIONS -d$DURATION`), $RUNS rounds, and the
# table gives the median requests/s, MB/s and server CPU per request.
#
#   nginx-static     nginx (nginx-light) serving a 100-byte file, in its
#                    fastest configuration measured here for small files
#                    (open_file_cache, sendfile off for that file: 47k
#                    against 31k req/s with sendfile on and no cache)
#   health           Strata /health/live, the framework's own ceiling
#   get-hit          GET hits of a 100-byte value on the memory cache
#   get-miss         GETs of an absent key on the memory cache (404)
#   put              PUTs of a 100-byte value on the memory cache (one key,
#                    overwritten, as redis-benchmark's SET)
#   nginx-1mib       nginx serving a 1 MiB file
#   get-1mib         GET hits of a 1 MiB value on the memory cache
# and with redis-server on the PATH (a throw-away server):
#   webdis-get       webdis (GET /GET/key) in front of that Redis
#   redis-get-hit    GET hits on cache `shared` (tiers ["main"], Redis only)
#   redis-put        PUTs on `shared`
#   redis-benchmark  redis-benchmark GET and SET (-c $CONNECTIONS -d 100)
#
# Strata runs with its default log filter (`info`), as a new user would.
# wrk runs no per-request Lua anywhere (a `request` function costs the
# load generator about 14% of its throughput on this 2-core machine, which
# would penalise whichever scenario used it): PUTs use a static script.
#
# Server CPU per request: utime+stime of the server's processes
# (/proc/PID/stat, children included) over the scenario, divided by the
# requests it served; robust to the load generator sharing the cores.
#
#   scripts/bench-http.sh                      # RUNS=3 DURATION=10s THREADS=1 CONNECTIONS=32
#   BIN=target/release/strata scripts/bench-http.sh   # skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y wrk nginx-light curl)" >&2; exit 1; }
done

. scripts/bench-lib.sh
BIN=${BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --quiet --bin strata
  BIN=target/release/strata
fi
pids=()
tmp=$(mktemp -d)
# Stopped in reverse order of start: Strata before the Redis it uses.
trap 'for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
hz=$(getconf CLK_TCK)

with_redis=0
if command -v redis-server >/dev/null; then
  with_redis=1
  start_redis
  redis_pid=${pids[-1]}
  write_redis_config
else
  : > "$tmp/strata.toml"
fi
cat >> "$tmp/strata.toml" <<TOML
[caches.default]
tiers = ["memory"]
max_entries = 100000
max_value_bytes = 2097152
TOML

port=$(free_port)
STRATA_CONFIG="$tmp/strata.toml" STRATA__SERVER__WORKERS=2 \
  "$BIN" serve --listen "127.0.0.1:$port" --grpc-listen "" > "$tmp/strata.log" 2>&1 &
strata_pid=$!
pids+=("$strata_pid")
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done

# nginx with the same worker count, no access log, files in $tmp/www.
mkdir -p "$tmp/www" "$tmp/nginx"
# nginx's workers run as `nobody`: they must read the files.
chmod 755 "$tmp" "$tmp/www"
head -c 100 /dev/zero | tr '\0' 'v' > "$tmp/www/small"
head -c 1048576 /dev/urandom > "$tmp/www/large"
chmod 644 "$tmp/www/small" "$tmp/www/large"
nginx_port=$(free_port)
cat > "$tmp/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=64 inactive=60s;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $tmp/www;
    default_type application/octet-stream;
    location = /small { sendfile off; }
  }
}
CONF
nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
nginx_pid=$!
pids+=("$nginx_pid")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$nginx_port/small" >/dev/null && break; sleep 0.1; done

webdis_pid=
if [ "$with_redis" = 1 ] && command -v webdis >/dev/null; then
  webdis_port=$(free_port)
  cat > "$tmp/webdis.json" <<JSON
{"redis_host": "127.0.0.1", "redis_port": $redis_port, "http_host": "127.0.0.1",
 "http_port": $webdis_port, "threads": 2, "pool_size": 32, "daemonize": false,
 "database": 0, "verbosity": 0, "logfile": "$tmp/webdis.log"}
JSON
  webdis "$tmp/webdis.json" &
  webdis_pid=$!
  pids+=("$webdis_pid")
  redis-cli -p "$redis_port" set bench-webdis "$(cat "$tmp/www/small")" >/dev/null
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$webdis_port/GET/bench-webdis" >/dev/null && break; sleep 0.1; done
fi

value_file="$tmp/www/small"
curl -fs -X PUT --data-binary @"$value_file" "http://127.0.0.1:$port/v1/caches/default/entries/bench-hit" >/dev/null
curl -fs -X PUT --data-binary @"$tmp/www/large" "http://127.0.0.1:$port/v1/caches/default/entries/bench-large" >/dev/null
if [ "$with_redis" = 1 ]; then
  curl -fs -X PUT --data-binary @"$value_file" "http://127.0.0.1:$port/v1/caches/shared/entries/bench-hit" >/dev/null
fi

value=$(cat "$value_file")
put_script() { # -> a static wrk script: PUT, its body and content type
  cat > "$tmp/put.lua" <<LUA
wrk.method = "PUT"
wrk.body = "$value"
wrk.headers["Content-Type"] = "application/octet-stream"
LUA
  echo "$tmp/put.lua"
}

# CPU ticks of a process and its children (threads are counted in the
# process's own utime+stime).
ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    if [ -r "/proc/$p/stat" ]; then
      total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    fi
  done
  echo "$total"
}

# name|pid|url|script
scenarios=(
  "nginx-static|$nginx_pid|http://127.0.0.1:$nginx_port/small|"
  "health|$strata_pid|http://127.0.0.1:$port/health/live|"
  "get-hit|$strata_pid|http://127.0.0.1:$port/v1/caches/default/entries/bench-hit|"
  "get-miss|$strata_pid|http://127.0.0.1:$port/v1/caches/default/entries/absent|"
  "put|$strata_pid|http://127.0.0.1:$port/v1/caches/default/entries/bench-put|$(put_script)"
  "nginx-1mib|$nginx_pid|http://127.0.0.1:$nginx_port/large|"
  "get-1mib|$strata_pid|http://127.0.0.1:$port/v1/caches/default/entries/bench-large|"
)
if [ -n "$webdis_pid" ]; then
  scenarios+=("webdis-get|$webdis_pid|http://127.0.0.1:$webdis_port/GET/bench-webdis|")
fi
if [ "$with_redis" = 1 ]; then
  scenarios+=(
    "redis-get-hit|$strata_pid|http://127.0.0.1:$port/v1/caches/shared/entries/bench-hit|"
    "redis-put|$strata_pid|http://127.0.0.1:$port/v1/caches/shared/entries/bench-put|$(put_script)"
  )
fi

declare -A rps mbs cpu
for round in $(seq "$RUNS"); do
  for s in "${scenarios[@]}"; do
    IFS='|' read -r name pid url script <<< "$s"
    before=$(ticks "$pid")
    if [ -n "$script" ]; then
      out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$script" "$url")
    else
      out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$url")
    fi
    after=$(ticks "$pid")
    if [ "$name" != get-miss ] && echo "$out" | grep -q 'Non-2xx'; then
      echo "$name: wrk saw non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    m=$(echo "$out" | awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) v*=1024; else if (v ~ /KB/) v/=1024; else if (v ~ /MB/) v+=0; else v/=1048576; printf "%.1f", v}')
    us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0)}')
    rps[$name]+="$r "; mbs[$name]+="$m "; cpu[$name]+="$us "
    echo "round $round: $name $r req/s, $m MB/s, $us us CPU/request" >&2
  done
  if [ "$with_redis" = 1 ]; then
    out=$(redis-benchmark -p "$redis_port" -t get,set -n 200000 -c "$CONNECTIONS" -d 100 -q 2>/dev/null | tr '\r' '\n')
    rps[redis-bench-set]+="$(echo "$out" | awk '/^SET:/ {print $2}' | tail -1) "
    rps[redis-bench-get]+="$(echo "$out" | awk '/^GET:/ {print $2}' | tail -1) "
  fi
done

med() { printf '%s\n' $1 | median; }
printf '| scenario | req/s (median of %s) | MB/s | server CPU us/request | runs (req/s) |\n| --- | --- | --- | --- | --- |\n' "$RUNS"
for s in "${scenarios[@]}"; do
  name=${s%%|*}
  printf '| %s | %.0f | %s | %s | %s |\n' "$name" "$(med "${rps[$name]}")" "$(med "${mbs[$name]}")" "$(med "${cpu[$name]}")" "${rps[$name]% }"
done
if [ "$with_redis" = 1 ]; then
  for name in redis-bench-get redis-bench-set; do
    printf '| %s | %.0f | | | %s |\n' "$name" "$(med "${rps[$name]}")" "${rps[$name]% }"
  done
fi
ratio() { awk -v a="$(med "${rps[$1]}")" -v b="$(med "${rps[$2]}")" 'BEGIN {printf "%.2fx", (b > 0 ? a / b : 0)}'; }
echo
echo "| ratio | value | target |"
echo "| --- | --- | --- |"
echo "| get-hit / nginx-static | $(ratio get-hit nginx-static) | >= 0.9x |"
echo "| health / nginx-static | $(ratio health nginx-static) | >= 1.0x |"
echo "| put / health | $(ratio put health) | >= 0.8x |"
echo "| get-miss / get-hit | $(ratio get-miss get-hit) | >= 0.9x |"
echo "| get-1mib / nginx-1mib | $(ratio get-1mib nginx-1mib) | (MB/s next to nginx) |"
if [ -n "$webdis_pid" ]; then
  echo "| redis-get-hit / webdis-get | $(ratio redis-get-hit webdis-get) | >= 1.3x |"
fi
if [ "$with_redis" = 1 ]; then
  echo "| redis-put / redis-bench-set | $(ratio redis-put redis-bench-set) | >= 0.7x |"
fi
