#!/usr/bin/env bash
# The regression guard: runs the ingest bench (criterion) on a base revision and on the working
# tree, on the same machine one after the other, and reports each path's change, so that a
# change shows its cost in its own commit.
#
#   benches/compare.sh                 # the working tree against main
#   benches/compare.sh HEAD~1          # ... against another revision
#   benches/compare.sh main dcs_page   # only the benchmarks whose name matches a filter
#
# The base is built in a temporary worktree sharing this tree's target directory; criterion keeps
# the base's figures as the baseline `compare-base` and the working tree's against it. Exit
# status 0 always: the report is for people, not a gate (the machine's noise is a few percent).
set -euo pipefail
cd "$(dirname "$0")/.."

base="${1:-main}"
filter="${2:-}"
root="$(pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
worktree="$(mktemp -d)/base"

cleanup() { git worktree remove --force "$worktree" >/dev/null 2>&1 || true; }
trap cleanup EXIT

git worktree add --detach --quiet "$worktree" "$base"
echo "== base: $base ($(git rev-parse --short "$base"))" >&2
(cd "$worktree" && CARGO_TARGET_DIR="$target" cargo bench --quiet --bench ingest -- \
    --save-baseline compare-base --noplot $filter >&2)
echo "== working tree" >&2
CARGO_TARGET_DIR="$target" cargo bench --quiet --bench ingest -- \
    --baseline compare-base --noplot $filter >&2

python3 - "$target/criterion" <<'EOF'
import json, pathlib, sys

root = pathlib.Path(sys.argv[1])
rows = []
for change in sorted(root.glob("**/change/estimates.json")):
    bench = change.parent.parent
    base = bench / "compare-base" / "estimates.json"
    new = bench / "new" / "estimates.json"
    if not base.exists() or not new.exists():
        continue
    before = json.loads(base.read_text())["mean"]["point_estimate"]
    after = json.loads(new.read_text())["mean"]["point_estimate"]
    delta = json.loads(change.read_text())["mean"]
    low, high = delta["confidence_interval"]["lower_bound"], delta["confidence_interval"]["upper_bound"]
    rows.append((str(bench.relative_to(root)), before, after, delta["point_estimate"], low, high))

def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"

width = max((len(r[0]) for r in rows), default=10)
print(f"{'benchmark':<{width}}  {'base':>10}  {'now':>10}  change (95% interval)")
for name, before, after, point, low, high in rows:
    verdict = "slower" if low > 0.02 else "faster" if high < -0.02 else "same"
    print(f"{name:<{width}}  {fmt(before):>10}  {fmt(after):>10}  {point:+.1%} ({low:+.1%} .. {high:+.1%}) {verdict}")
EOF
