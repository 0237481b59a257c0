#!/usr/bin/env bash
# Contract fuzzing (issue 10, "Fuzzing the contract"): starts the already
# built `strata` binary with one API key (admin on `*`), runs schemathesis
# against its /openapi.json with every check, authenticated, and fails on
# any failure or 5xx. Usage: scripts/schemathesis.sh [path/to/strata]
#
# Bounded to run in well under 3 minutes on 2 cores: a fixed seed and a
# small --max-examples per operation.
#
# One worker: with two, schemathesis 4.32.5 sometimes ends with a
# "Runtime Error" of its own ("AST constructor recursion depth mismatch",
# hypothesis parsing lambda sources with `ast` in two threads at once),
# and any error makes it exit 1 with every check passed. One worker is
# deterministic under --seed and still well inside the time bound.
#
# Checks left out, and why:
# - ignored_auth and object_level_authorization are not excluded: the
#   service must honour both.
# (Any further exclusion is listed here with its reason.)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
bin="${1:-target/debug/strata}"
[ -x "$bin" ] || { echo "schemathesis.sh: no strata binary at $bin (run cargo build first)" >&2; exit 2; }

venv="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh key for this run, and its SHA-256 for the config.
key="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
sha="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/strata.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
workers = 2
shutdown_timeout_secs = 1

[log]
format = "json"
filter = "warn"

[caches.default]
tiers = ["memory"]
max_entries = 10000

[auth.api_keys.ci]
sha256 = "$sha"
grants = [{ caches = "*", role = "admin" }]

# The limiters are tested in tests/api; here they would only hide the
# service from the fuzzer: ignored_auth sends refused credentials on every
# operation (the per-peer failed-auth limit would answer 429, not 401), and
# the default 10 admin operations a minute would leave the admin API
# untested. 0 turns the failed-auth limit off.
[auth.rate_limits]
admin_per_minute = 1000000
admin_burst = 1000000
failed_auth_per_minute = 0

[audit]
path = "$work/audit.jsonl"
EOF

"$bin" serve --grpc-listen "" --config "$work/strata.toml" >"$work/strata.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS "$url/health/live" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/strata.log" >&2; exit 1; }
  sleep 0.1
done

# --generation-deterministic (which also turns the example database off): the same tree gives
# the same cases on every machine (a seed alone still varied between runs).
set +e
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$url/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --generation-deterministic \
  --workers 1 \
  --request-timeout 10 \
  --no-color
status=$?
set -e
exit "$status"
