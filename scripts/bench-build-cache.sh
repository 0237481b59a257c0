#!/usr/bin/env bash
# Build-cache HTTP benchmark (issue 11), one release build, same run:
#   GET of a 1 KiB, 64 KiB and 4 MiB CAS blob from the disk store, next to
#   nginx serving the same bytes as a static file (wrk -t2 -c$CONNECTIONS),
#   interleaved, median of $RUNS runs, MB/s from wrk's Transfer/sec;
#   PUT of $PUTS new blobs of each size (distinct contents, so every PUT
#   hashes, fsyncs and renames), two at a time with curl: blobs/s.
#   BASE_BIN=<another strata binary>: also serves the same blobs from a
#   second disk store, measured in the same interleaved rounds (A/B).
#   BIN defaults to target/release/strata.
# Usage: scripts/bench-build-cache.sh   (needs wrk, nginx, curl; builds nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
RUNS=${RUNS:-3} DURATION=${DURATION:-5s} CONNECTIONS=${CONNECTIONS:-32} PUTS=${PUTS:-200}
bin=${BIN:-target/release/strata}
[ -x "$bin" ] || { echo "build it first: cargo build --release --bin strata" >&2; exit 2; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx" >&2; exit 2; }
pids=(); tmp=$(mktemp -d)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT

port=$(free_port); nport=$(free_port); bport=$(free_port)
mkdir -p "$tmp/bc" "$tmp/www" "$tmp/nginx"
chmod 755 "$tmp" "$tmp/www"   # nginx workers run as another user
cat > "$tmp/strata.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
workers = 2
[log]
filter = "warn"
[build_cache]
store = "disk"
dir = "$tmp/bc"
max_bytes = 4294967296
TOML
"$bin" serve --grpc-listen "" --config "$tmp/strata.toml" & pids+=($!)
if [ -n "${BASE_BIN:-}" ]; then
  sed -e "s|127.0.0.1:$port|127.0.0.1:$bport|" -e "s|$tmp/bc|$tmp/bc-base|" "$tmp/strata.toml" > "$tmp/base.toml"
  "$BASE_BIN" serve --grpc-listen "" --config "$tmp/base.toml" & pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$bport/health/live" >/dev/null && break; sleep 0.1; done
fi
cat > "$tmp/nginx/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  server { listen 127.0.0.1:$nport; root $tmp/www; }
}
NGINX
nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && curl -s "http://127.0.0.1:$nport/" >/dev/null && break; sleep 0.1; done

mbs() { # wrk output -> MB/s
  awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) {sub("GB","",v); v*=1024} else if (v ~ /MB/) {sub("MB","",v)} else if (v ~ /KB/) {sub("KB","",v); v/=1024}; print v}'
}
rps() { awk '/Requests\/sec/ {print $2}'; }

for size in ${SIZES:-1024 65536 4194304}; do
  head -c "$size" /dev/urandom > "$tmp/blob"
  hash=$(sha256sum "$tmp/blob" | cut -d' ' -f1)
  curl -sf -X PUT --data-binary @"$tmp/blob" "http://127.0.0.1:$port/cas/$hash" >/dev/null
  [ -z "${BASE_BIN:-}" ] || curl -sf -X PUT --data-binary @"$tmp/blob" "http://127.0.0.1:$bport/cas/$hash" >/dev/null
  cp "$tmp/blob" "$tmp/www/$hash"; chmod 644 "$tmp/www/$hash"
  for url in "http://127.0.0.1:$port/cas/$hash" "http://127.0.0.1:$nport/$hash"; do
    got=$(curl -sf "$url" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$hash" ] || { echo "$url does not serve the blob" >&2; exit 1; }
  done
  s_r=(); s_m=(); n_r=(); n_m=(); b_r=()
  for _ in $(seq "$RUNS"); do
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$port/cas/$hash"); s_r+=("$(rps <<<"$out")"); s_m+=("$(mbs <<<"$out")")
    if [ -n "${BASE_BIN:-}" ]; then
      out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$bport/cas/$hash"); b_r+=("$(rps <<<"$out")")
    fi
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$nport/$hash"); n_r+=("$(rps <<<"$out")"); n_m+=("$(mbs <<<"$out")")
  done
  sr=$(printf '%s\n' "${s_r[@]}" | median); nr=$(printf '%s\n' "${n_r[@]}" | median)
  sm=$(printf '%s\n' "${s_m[@]}" | median); nm=$(printf '%s\n' "${n_m[@]}" | median)
  printf 'GET %8d B  strata %9.0f req/s %8.1f MB/s   nginx %9.0f req/s %8.1f MB/s   ratio %.2f   (runs strata: %s; nginx: %s)\n' \
    "$size" "$sr" "$sm" "$nr" "$nm" "$(python3 -c "print($sr/$nr)")" "${s_r[*]}" "${n_r[*]}"
  if [ -n "${BASE_BIN:-}" ]; then
    br=$(printf '%s\n' "${b_r[@]}" | median)
    printf 'GET %8d B  base   %9.0f req/s   ratio to nginx %.2f, new/base %.2f   (runs base: %s)\n' \
      "$size" "$br" "$(python3 -c "print($br/$nr)")" "$(python3 -c "print($sr/$br)")" "${b_r[*]}"
  fi

  n=$PUTS; [ "$size" -ge 4194304 ] && n=$((PUTS / 8))
  [ "$n" -gt 0 ] || continue
  mkdir -p "$tmp/put-$size"
  for i in $(seq "$n"); do head -c "$size" /dev/urandom > "$tmp/put-$size/$i"; done
  (cd "$tmp/put-$size" && for f in *; do echo "$(sha256sum "$f" | cut -d' ' -f1) $f"; done) > "$tmp/put-$size.list"
  start=$(date +%s.%N)
  (cd "$tmp/put-$size" && xargs -P2 -n2 sh -c 'curl -sf -o /dev/null -X PUT --data-binary @"$1" "http://127.0.0.1:'"$port"'/cas/$0"' < "$tmp/put-$size.list")
  end=$(date +%s.%N)
  python3 -c "t=$end-$start; print(f'PUT {$size:8d} B  {$n} new blobs in {t:.2f} s: {$n/t:.0f} blobs/s, {$n*$size/t/1048576:.1f} MB/s (curl, 2 at a time)')"
  rm -rf "$tmp/put-$size"
done
