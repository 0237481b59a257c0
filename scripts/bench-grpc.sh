#!/usr/bin/env bash
# gRPC vs HTTP benchmark (issue 12), one release build, same run: CAS reads
# of a 1 KiB, 64 KiB and 4 MiB blob from the memory store over HTTP
# `GET /cas/<hash>`, gRPC `ByteStream.Read` and gRPC `BatchReadBlobs`, from
# the Rust load generator examples/grpc_bench.rs (8 callers, interleaved
# rounds, median requests/s; SECS per round, default 3).
# STORE=disk serves them from the disk store instead (issue 33).
# Usage: scripts/bench-grpc.sh   (builds the release binary and example)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
STORE=${STORE:-memory}
cargo build --release --bin strata --example grpc_bench
bin=target/release/strata
pids=(); tmp=$(mktemp -d)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port); gport=$(free_port)
cat > "$tmp/strata.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
grpc_listen = "127.0.0.1:$gport"
workers = 2
[log]
filter = "warn"
[build_cache]
store = "$STORE"
dir = "$tmp/bc"
max_bytes = 1073741824
TOML
"$bin" serve --config "$tmp/strata.toml" & pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
target/release/examples/grpc_bench "http://127.0.0.1:$port" "http://127.0.0.1:$gport"
