# Shell helpers shared by the load-test scripts (sourced, not run).
# Callers set `pids=()` and `tmp=$(mktemp -d)` and trap their cleanup.

# A free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts a throw-away redis-server (no persistence) on a free port, waits
# until it answers, records its pid in `pids` and its port in `redis_port`.
start_redis() {
  redis_port=$(free_port)
  redis-server --port "$redis_port" --save "" --appendonly no --daemonize no >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# Writes $tmp/strata.toml: backend `main` on that Redis, cache `shared`
# (tiers ["main"]), and the extra TOML given as $1 (e.g. more caches).
write_redis_config() {
  cat > "$tmp/strata.toml" <<TOML
[backends.main]
kind = "redis"
url = "redis://127.0.0.1:$redis_port"
[caches.shared]
tiers = ["main"]
${1:-}
TOML
}

# The median of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
