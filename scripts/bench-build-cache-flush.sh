#!/usr/bin/env bash
# The disk store at $BLOBS blobs (default 100,000 of 100 bytes, written
# straight into its layout, <dir>/@/cas/<2 hex>/<hash>): the time
# `strata serve` takes to rebuild the index at start-up (its `rebuild_ms`
# log field), then the time a full CAS flush takes (wall clock of the
# request, and the store's own duration_ms). Needs target/release/strata.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
BLOBS=${BLOBS:-100000}
bin=target/release/strata
[ -x "$bin" ] || { echo "build it first: cargo build --release --bin strata" >&2; exit 2; }
pids=(); tmp=$(mktemp -d)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
python3 - "$tmp/bc" "$BLOBS" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    body = os.urandom(100)
    h = hashlib.sha256(body).hexdigest()
    d = os.path.join(root, "@", "cas", h[:2])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, h), "wb") as f:
        f.write(body)
PY
port=$(free_port)
cat > "$tmp/strata.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[log]
format = "json"
filter = "info"
[build_cache]
store = "disk"
dir = "$tmp/bc"
max_bytes = 10737418240
TOML
"$bin" serve --grpc-listen "" --config "$tmp/strata.toml" > "$tmp/log" 2>&1 & pids+=($!)
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
# The index is rebuilt in the background: wait for its end.
for _ in $(seq 6000); do curl -sf "http://127.0.0.1:$port/health/ready" | grep -q index_rebuild || break; sleep 0.1; done
rebuild=$(grep -o '"rebuild_ms":[0-9]*' "$tmp/log" | cut -d: -f2)
echo "index rebuild of $BLOBS blobs: ${rebuild} ms"
start=$(date +%s.%N)
out=$(curl -sf -X POST -H 'content-type: application/json' -d '{"scope":"all"}' "http://127.0.0.1:$port/admin/v1/cache/cas/flush")
end=$(date +%s.%N)
python3 - "$out" "$start" "$end" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); wall = float(sys.argv[3]) - float(sys.argv[2])
print(f"full CAS flush: {wall*1000:.0f} ms wall clock; removed {r.get('entries_removed', r.get('totals', {}).get('entries_removed'))}; response: {json.dumps(r)[:300]}")
PY
