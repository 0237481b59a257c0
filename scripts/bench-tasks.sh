#!/usr/bin/env bash
# Benchmarks of `strata run` (issue 13), results in docs/benchmarks.md.
#
#   scripts/bench-tasks.sh target/release/strata
#
# - digest time for 0, 10, 100, 1,000 and 10,000 input files of 1 KiB
#   (`strata run --explain`, which walks, hashes and encodes, and runs
#   nothing), with hyperfine;
# - hit overhead: `strata run -q build` replaying, next to running the
#   task's command directly, with hyperfine (100 and 10,000 inputs);
# - peak RSS (GNU time) of a replaying `strata run` on 10,000 inputs,
#   next to the command alone.
# Needs hyperfine (`apt-get install -y hyperfine`) and /usr/bin/time.
set -euo pipefail
BIN=$(realpath "${1:-target/release/strata}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export STRATA_CACHE_DIR=$WORK/cache XDG_CONFIG_HOME=$WORK/config
unset STRATA_REMOTE_URL STRATA_TOKEN || true
CMD='mkdir -p out && echo done > out/done.txt'

for n in 0 10 100 1000 10000; do
  p=$WORK/p$n
  mkdir -p "$p/src"
  python3 - "$p/src" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05}.txt"), "wb") as f:
        f.write((f"file {i}\n" * 128)[:1024].encode())
PY
  cat > "$p/strata.tasks.toml" <<TOML
[tasks.build]
command = "$CMD"
inputs = ["src/**"]
outputs = ["out/"]
TOML
done

echo "== digest time (strata run --explain), median of hyperfine runs"
for n in 0 10 100 1000 10000; do
  (cd "$WORK/p$n" && hyperfine -N --warmup 3 --min-runs 20 --export-json "$WORK/d$n.json" \
      "$BIN run --explain build" > /dev/null)
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'{sys.argv[2]:>6} files: median {r[\"median\"]*1000:8.2f} ms  (min {r[\"min\"]*1000:.2f}, max {r[\"max\"]*1000:.2f})')" "$WORK/d$n.json" "$n"
done

for n in 100 10000; do
  echo "== hit overhead, $n inputs"
  (cd "$WORK/p$n" && "$BIN" run -q build > /dev/null &&
    hyperfine -N --warmup 3 --min-runs 20 --export-json "$WORK/h$n.json" \
      "$BIN run -q build" "sh -c '$CMD'" > /dev/null)
  python3 - "$WORK/h$n.json" <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
for r in rs:
    print(f"  {r['command']:<60} median {r['median']*1000:8.2f} ms")
print(f"  ratio (strata hit / command): {rs[0]['median'] / rs[1]['median']:.1f}x, "
      f"overhead {1000 * (rs[0]['median'] - rs[1]['median']):.2f} ms")
PY
done

echo "== peak RSS, 10000 inputs (KiB)"
cd "$WORK/p10000"
hit=$(/usr/bin/time -f %M "$BIN" run -q build 2>&1 >/dev/null | tail -1)
miss_dir=$WORK/cache-miss
miss=$(STRATA_CACHE_DIR=$miss_dir /usr/bin/time -f %M "$BIN" run -q build 2>&1 >/dev/null | tail -1)
alone=$(/usr/bin/time -f %M sh -c "$CMD" 2>&1 >/dev/null | tail -1)
echo "  strata run (hit):  $hit"
echo "  strata run (miss): $miss"
echo "  the command alone: $alone"
