#!/usr/bin/env bash
# Validates the OpenAPI document the built `strata` binary serves at
# /openapi.json against the OpenAPI 3.1 specification's schema with
# openapi-spec-validator (PyPI), issue 26 item 13. schemathesis checks the
# service against the document; this checks the document itself (required
# fields such as every response's description, well-formed references and
# parameters), which client generators rely on. Duplicate operation ids
# and operations without an example are checked by
# tests/api/monitoring.rs.
#
# Usage: scripts/openapi-validate.sh [path/to/strata]
# The validator lives in its own venv (OPENAPI_VALIDATOR_VENV, default
# target/openapi-validator-venv), created and pip-installed on first use as
# scripts/schemathesis.sh does: its jsonschema pins are not schemathesis'.
set -euo pipefail
cd "$(dirname "$0")/.."

VALIDATOR_VERSION=0.9.0
bin="${1:-target/debug/strata}"
[ -x "$bin" ] || { echo "openapi-validate.sh: no strata binary at $bin (run cargo build first)" >&2; exit 2; }

venv="${OPENAPI_VALIDATOR_VENV:-target/openapi-validator-venv}"
if ! "$venv/bin/openapi-spec-validator" --version 2>/dev/null | grep -q "$VALIDATOR_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "openapi-spec-validator==$VALIDATOR_VERSION"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# /openapi.json is open: no credentials needed. The build cache is on so
# that the document is the whole one.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/strata.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
workers = 1
shutdown_timeout_secs = 1

[log]
format = "json"
filter = "warn"

[caches.default]
tiers = ["memory"]
max_entries = 1000

[build_cache]
enabled = true
store = "memory"
max_bytes = 1048576
TOML

"$bin" serve --grpc-listen "" --config "$work/strata.toml" >"$work/strata.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS "$url/health/live" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/strata.log" >&2; exit 1; }
  sleep 0.1
done

curl -fsS "$url/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" --schema 3.1 --validation-errors all "$work/openapi.json"
