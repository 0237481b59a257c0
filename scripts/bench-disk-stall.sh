#!/usr/bin/env bash
# Does a CAS flush of the disk store stall other requests? For each binary
# given: $BLOBS blobs (default 100,000 of 100 bytes) of instance `doomed`
# laid out straight into the disk store's layout, `strata serve` on them
# (2 workers), one blob of instance `kept` uploaded, then a CAS flush of
# instance `doomed` while 4 connections read the kept blob back to back
# and one more sends `GET /health/live` back to back. Prints the flush's
# wall time and the slowest and median latency of the reads and of
# /health/live during it (issue 25: a worker blocked on the store's lock
# froze every connection it serves, /health/live included).
#
#   scripts/bench-disk-stall.sh OLD_BINARY NEW_BINARY     # BLOBS=100000
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BLOBS=${BLOBS:-100000}
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY...]" >&2; exit 2; }
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
lay_out() {
  python3 - "$1" "$BLOBS" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    body = os.urandom(100)
    h = hashlib.sha256(body).hexdigest()
    d = os.path.join(root, "@doomed", "cas", h[:2])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, h), "wb") as f:
        f.write(body)
PY
}
printf '%-32s %9s %12s %12s %12s %12s\n' binary flush_ms read_max_ms read_p50_ms live_max_ms live_p50_ms
for bin in "$@"; do
  rm -rf "$tmp/bc"; lay_out "$tmp/bc"
  port=$(free_port)
  cat > "$tmp/strata.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
workers = 2
[log]
filter = "error"
[build_cache]
store = "disk"
dir = "$tmp/bc"
max_bytes = 10737418240
TOML
  "$bin" serve --grpc-listen "" --config "$tmp/strata.toml" > "$tmp/log" 2>&1 & pids+=($!)
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
  python3 - "$port" "$bin" <<'PY'
import hashlib, http.client, json, sys, threading, time
port, name = int(sys.argv[1]), sys.argv[2]
kept = b"a blob that no flush touches"
path = "/kept/cas/" + hashlib.sha256(kept).hexdigest()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
c.request("PUT", path, body=kept); assert c.getresponse().read() is not None
done = threading.Event()
result = {}
def flush():
    f = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t = time.monotonic()
    f.request("POST", "/admin/v1/cache/cas/flush",
              body=json.dumps({"scope": "instance", "instance_name": "doomed"}),
              headers={"Content-Type": "application/json"})
    r = f.getresponse(); r.read()
    result["ms"] = (time.monotonic() - t) * 1000
    result["status"] = r.status
    done.set()
def probe(target, out):
    p = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    while not done.is_set():
        t = time.monotonic()
        p.request("GET", target); r = p.getresponse(); r.read()
        assert r.status == 200, r.status
        out.append((time.monotonic() - t) * 1000)
reads, live = [], []
probes = [threading.Thread(target=probe, args=(path, reads)) for _ in range(4)]
probes.append(threading.Thread(target=probe, args=("/health/live", live)))
for p in probes: p.start()
time.sleep(0.2)
th = threading.Thread(target=flush); th.start()
th.join()
for p in probes: p.join()
reads.sort(); live.sort()
print(f"{name[-32:]:<32} {result['ms']:9.0f} {reads[-1]:12.1f} {reads[len(reads)//2]:12.2f} {live[-1]:12.1f} {live[len(live)//2]:12.2f}"
      + ("" if result["status"] == 200 else f"  (flush status {result['status']})"))
PY
  kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true
done
