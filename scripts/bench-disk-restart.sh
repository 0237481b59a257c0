#!/usr/bin/env bash
# Issue 33, "serve at once after a restart": $BLOBS blobs (default
# 1,000,000 of 100 bytes) written straight into the disk store's layout,
# <dir>/@/cas/<2 hex>/<hash>; then `strata serve` is started over them
# and the script times, from the spawn of the process:
#   - the first served hit: a GET of a blob the scan has not reached yet
#     (the last one written), repeated until it answers 200;
#   - the end of the index rebuild: /health/ready polled until it no
#     longer reports `index_rebuild` (and the rebuild's own `rebuild_ms`
#     log field).
# Before issue 33 the server listened only after the rebuild, so the first
# hit came after `rebuild_ms`. RUNS restarts (default 3) over the same
# files; the files stay in the page cache between runs (cold-cache figures
# need `echo 3 > /proc/sys/vm/drop_caches` as root before each start).
# Needs target/release/strata (or BIN=...); the files need about 4.2 GB on
# ext4. KEEP=<dir> writes them there once and reuses them on later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BLOBS=${BLOBS:-1000000}
RUNS=${RUNS:-3}
bin=${BIN:-target/release/strata}
[ -x "$bin" ] || { echo "build it first: cargo build --release --bin strata" >&2; exit 2; }
pids=(); tmp=$(mktemp -d)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
store=${KEEP:-$tmp/bc}
if [ -f "$store/.last-$BLOBS" ]; then
  last=$(cat "$store/.last-$BLOBS")
else
echo "writing $BLOBS blobs..."
last=$(python3 - "$store" "$BLOBS" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(256):
    os.makedirs(os.path.join(root, "@", "cas", f"{i:02x}"), exist_ok=True)
h = None
for i in range(n):
    body = i.to_bytes(8, "little") * 12 + b"blob"
    h = hashlib.sha256(body).hexdigest()
    with open(os.path.join(root, "@", "cas", h[:2], h), "wb") as f:
        f.write(body)
print(h)
PY
)
[ -z "${KEEP:-}" ] || echo "$last" > "$store/.last-$BLOBS"
fi
for run in $(seq "$RUNS"); do
  port=$(free_port)
  cat > "$tmp/strata.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[log]
format = "json"
filter = "info"
[build_cache]
store = "disk"
dir = "$store"
max_bytes = 107374182400
TOML
  python3 - "$bin" "$tmp/strata.toml" "$port" "$last" "$tmp/log" <<'PY'
import http.client, json, subprocess, sys, time
bin, config, port, last, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def get(path):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body
    except OSError:
        return None, b""
with open(log, "w") as out:
    t0 = time.monotonic()
    p = subprocess.Popen([bin, "serve", "--grpc-listen", "", "--config", config], stdout=out, stderr=subprocess.STDOUT)
    try:
        while get(f"/cas/{last}")[0] != 200:
            time.sleep(0.005)
        first_hit = time.monotonic() - t0
        ready_during = None
        while True:
            status, body = get("/health/ready")
            if status == 200 and b"index_rebuild" not in body:
                break
            if status == 200 and ready_during is None:
                ready_during = json.loads(body)["index_rebuild"]
            time.sleep(0.005)
        rebuilt = time.monotonic() - t0
    finally:
        p.terminate()
        p.wait()
ms = None
for line in open(log):
    if "rebuild_ms" in line:
        ms = json.loads(line).get("fields", json.loads(line)).get("rebuild_ms")
print(f"first hit {first_hit*1000:.0f} ms; rebuild over {rebuilt*1000:.0f} ms "
      f"(rebuild_ms {ms}); /health/ready meanwhile: {ready_during}")
PY
done
