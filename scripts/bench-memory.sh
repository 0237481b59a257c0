#!/usr/bin/env bash
# Memory per entry: loads the same N entries (12-byte keys `key:00000000`,
# 100-byte values) into Strata's default memory cache (its default
# eviction, `auto` starting on W-TinyLFU, or $EVICTION when set; raised to
# max_entries = N, through batchPut in batches of 1000), into a throw-away
# redis-server (SET through `redis-cli --pipe`) and into a memcached
# (pipelined `set ... noreply`, -m 4096), all in the same run, and prints
# for each server the growth of its resident set (VmRSS of its PID,
# /proc/PID/status) per entry. Also prints Redis's `used_memory` delta and
# Strata's own `bytes` stat (its capacity accounting: key + value + content
# type) per entry. Every server is started here on a free port and stopped
# by its PID.
#
#   scripts/bench-memory.sh                 # N=1000000, release build
#   N=100000 scripts/bench-memory.sh
#   STRATA_BIN=/tmp/strata-old scripts/bench-memory.sh   # another binary
#   EVICTION=sieve scripts/bench-memory.sh  # the default cache pinned to sieve
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
for tool in redis-server redis-cli memcached python3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y redis-server redis-tools memcached)" >&2; exit 1; }
done

. scripts/bench-lib.sh
if [ -z "${STRATA_BIN:-}" ]; then
  cargo build --release --quiet --bin strata
  STRATA_BIN=./target/release/strata
fi
pids=()
tmp=$(mktemp -d)
# Servers already stopped by PID below make `kill` fail: not an error.
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
per_entry() { # before_kib after_kib -> bytes per entry
  python3 -c "print(round(($2 - $1) * 1024 / $N, 1))"
}

# The loaders: one Python program, three protocols, the same data.
cat > "$tmp/load.py" <<'PY'
import http.client, json, socket, sys
kind, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
value = "v" * 100
keys = (f"key:{i:08d}" for i in range(n))
if kind == "strata":
    conn = http.client.HTTPConnection("127.0.0.1", port)
    batch = []
    def flush():
        body = json.dumps({"entries": [{"key": k, "value": value} for k in batch]})
        conn.request("POST", "/v1/caches/default/entries:batchPut", body,
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"batchPut answered {r.status}")
        batch.clear()
    for k in keys:
        batch.append(k)
        if len(batch) == 1000:
            flush()
    if batch:
        flush()
elif kind == "redis":
    out = sys.stdout.buffer
    for k in keys:
        out.write(b"*3\r\n$3\r\nSET\r\n$12\r\n%s\r\n$100\r\n%s\r\n" % (k.encode(), value.encode()))
elif kind == "memcached":
    s = socket.create_connection(("127.0.0.1", port))
    chunk = []
    for k in keys:
        chunk.append(b"set %s 0 0 100 noreply\r\n%s\r\n" % (k.encode(), value.encode()))
        if len(chunk) == 1000:
            s.sendall(b"".join(chunk))
            chunk.clear()
    s.sendall(b"".join(chunk) + b"version\r\n")
    buf = b""
    while b"VERSION" not in buf:
        data = s.recv(65536)
        if not data:
            sys.exit("memcached closed the connection")
        buf += data
    if b"ERROR" in buf:
        sys.exit(buf.decode(errors="replace"))
PY

# Strata: the default cache, sized to hold every entry.
port=$(free_port)
if [ -n "${EVICTION:-}" ]; then export STRATA__CACHES__DEFAULT__EVICTION=$EVICTION; fi
STRATA__LOG__FILTER=warn STRATA__CACHES__DEFAULT__MAX_ENTRIES=$N \
  "$STRATA_BIN" serve --listen "127.0.0.1:$port" --grpc-listen "" &
strata_pid=$!
pids+=("$strata_pid")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/v1/caches/default/stats" >/dev/null
before=$(rss_kib "$strata_pid")
python3 "$tmp/load.py" strata "$port" "$N"
stats=$(curl -fs "http://127.0.0.1:$port/v1/caches/default/stats")
after=$(rss_kib "$strata_pid")
strata_bpe=$(per_entry "$before" "$after")
read -r strata_entries strata_bytes < <(echo "$stats" | python3 -c \
  'import json,sys; s=json.load(sys.stdin); print(s["entries"], s["bytes"])')
kill "$strata_pid"; wait "$strata_pid" 2>/dev/null || true

# redis-server, no persistence.
start_redis
redis_pid=${pids[-1]}
used() { redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
before=$(rss_kib "$redis_pid"); used_before=$(used)
python3 "$tmp/load.py" redis 0 "$N" | redis-cli -p "$redis_port" --pipe >/dev/null
after=$(rss_kib "$redis_pid"); used_after=$(used)
redis_bpe=$(per_entry "$before" "$after")
redis_used=$(python3 -c "print(round(($used_after - $used_before) / $N, 1))")
redis_keys=$(redis-cli -p "$redis_port" dbsize)
kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true

# memcached, with room for every entry.
mc_port=$(free_port)
memcached -p "$mc_port" -U 0 -l 127.0.0.1 -m 4096 -u "$(id -un)" &
mc_pid=$!
pids+=("$mc_pid")
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $mc_port))" 2>/dev/null && break; sleep 0.1; done
before=$(rss_kib "$mc_pid")
python3 "$tmp/load.py" memcached "$mc_port" "$N"
after=$(rss_kib "$mc_pid")
mc_bpe=$(per_entry "$before" "$after")
mc_items=$(printf 'stats\r\nquit\r\n' | python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $mc_port)); s.sendall(sys.stdin.buffer.read())
buf = b''
while b'END' not in buf: buf += s.recv(65536)
print([l.split()[2] for l in buf.decode().splitlines() if l.startswith('STAT curr_items ')][0])")
kill "$mc_pid"; wait "$mc_pid" 2>/dev/null || true

printf '%-14s %10s %16s  %s\n' server entries "RSS B/entry" notes
printf '%-14s %10s %16s  %s\n' strata "$strata_entries" "$strata_bpe" \
  "stats bytes/entry $(python3 -c "print(round($strata_bytes / max($strata_entries, 1), 1))")"
printf '%-14s %10s %16s  %s\n' redis-server "$redis_keys" "$redis_bpe" "used_memory delta/entry $redis_used"
printf '%-14s %10s %16s  %s\n' memcached "$mc_items" "$mc_bpe" ""
