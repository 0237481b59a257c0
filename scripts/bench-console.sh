#!/usr/bin/env bash
# Page weight and server time of the web console (issue 29) on a cache of
# 1,000,000 keys. Starts the given `strata` binary (protected mode on
# loopback: the console opens as `anonymous`), fills the cache `big` with
# KEYS keys (16-byte values) and one 10 MiB value, then fetches each page
# ROUNDS times and prints, per page: the HTML bytes (and gzip -6 bytes, what
# a compressing proxy would send), and the median and 95th-percentile time
# to the last byte as the client sees it on loopback. It also walks the key
# browser from the first page to the last (1000 keys a page) and reports
# the median and slowest page of that walk. Usage:
#   KEYS=1000000 ROUNDS=20 scripts/bench-console.sh target/release/strata
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/strata}"
[ -x "$bin" ] || { echo "bench-console.sh: no strata binary at $bin" >&2; exit 2; }
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/strata.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
[log]
filter = "warn"
[caches.big]
tiers = ["memory"]
max_entries = 2000000
max_value_bytes = 16777216
EOF
"$bin" serve --grpc-listen "" --config "$work/strata.toml" >"$work/strata.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done
KEYS="${KEYS:-1000000}" ROUNDS="${ROUNDS:-20}" PORT="$port" python3 - <<'PY'
import gzip, http.client, json, os, re, statistics, time

port = int(os.environ["PORT"]); keys = int(os.environ["KEYS"]); rounds = int(os.environ["ROUNDS"])
conn = http.client.HTTPConnection("127.0.0.1", port)

def request(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r, data

t0 = time.time()
for start in range(0, keys, 1000):
    entries = [{"key": f"user:{i:07d}", "value": "v" * 16} for i in range(start, min(start + 1000, keys))]
    r, _ = request("POST", "/v1/caches/big/entries:batchPut", json.dumps({"entries": entries}),
                   {"content-type": "application/json"})
    assert r.status == 200, r.status
r, _ = request("PUT", "/v1/caches/big/entries/large", b"x" * (10 << 20), {"content-type": "text/plain"})
assert r.status in (201, 204), r.status
print(f"filled {keys} keys in {time.time() - t0:.1f} s")

r, _ = request("GET", "/console")
cookie = r.getheader("set-cookie").split(";")[0]

def fetch(path):
    start = time.perf_counter()
    r, data = request("GET", path, headers={"cookie": cookie})
    elapsed = time.perf_counter() - start
    assert r.status == 200, (path, r.status)
    return data, elapsed

pages = [
    ("overview", "/console"),
    ("cache detail (1h)", "/console/caches/big"),
    ("cache detail (30d)", "/console/caches/big?range=30d"),
    ("keys, first page of 100", "/console/caches/big/keys"),
    ("keys, first page of 1000", "/console/caches/big/keys?limit=1000"),
    ("keys, glob user:09999* (10 matches)", "/console/caches/big/keys?match=user%3A09999*&limit=100"),
    ("entry page (10 MiB value)", "/console/caches/big/entry?key=large"),
    ("preview of the 10 MiB value, text", "/console/caches/big/entry/preview?key=large&view=text"),
    ("preview of the 10 MiB value, hex", "/console/caches/big/entry/preview?key=large&view=hex"),
    ("configuration", "/console/caches/big/config"),
    ("invalidation form", "/console/caches/big/invalidate"),
    ("build cache", "/console/build-cache"),
]
print("| page | HTML bytes | gzip bytes | median ms | p95 ms |")
print("|---|---|---|---|---|")
for name, path in pages:
    times = []
    for _ in range(rounds):
        data, elapsed = fetch(path)
        times.append(elapsed * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"| {name} | {len(data):,} | {len(gzip.compress(data, 6)):,} | {statistics.median(times):.1f} | {p95:.1f} |")

assets = ["htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css", "console.css", "console.js"]
raw = gz = 0
for a in assets:
    r, data = request("GET", f"/console/assets/{a}")
    raw += len(data); gz += len(gzip.compress(data, 6))
print(f"\nassets (cached a year by ETag): {raw:,} bytes, {gz:,} gzip")

# The whole key browser, first page to last, 1000 keys a page.
path = "/console/caches/big/keys?limit=1000"
times = []; seen = 0
while True:
    data, elapsed = fetch(path)
    times.append(elapsed * 1000)
    seen += data.count(b'class="key"')
    m = re.search(rb'id="next-page" href="([^"]+)"', data)
    if not m:
        break
    path = m.group(1).decode().replace("&amp;", "&")
times.sort()
print(f"walk to the last page: {len(times)} pages, {seen:,} keys, median {statistics.median(times):.1f} ms, "
      f"p95 {times[int(len(times) * 0.95)]:.1f} ms, slowest {times[-1]:.1f} ms")
PY
