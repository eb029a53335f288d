#!/usr/bin/env bash
# Dry-run scaling benchmark (issue 8, item 25): `runbook run --dry-run` on a
# runbook of 1000 and of 4000 one-line steps, and `runbook check` on the
# same files for reference. Linear code takes ~4x as long for 4x the steps;
# quadratic code ~16x.
#
# Usage: bash bench/dryrun.sh
# Env:   RUNBOOK=path (default: $CARGO_TARGET_DIR/release/runbook, else
#        target/release/runbook; built with `cargo build --release` if
#        missing), RUNS=3 (median of), SIZES="1000 4000".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
runbook=${RUNBOOK:-$target/release/runbook}
runs=${RUNS:-3}
sizes=${SIZES:-1000 4000}
if [ ! -x "$runbook" ]; then
  (cd "$root" && cargo build --release --quiet)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-dryrun.XXXXXX")
trap 'rm -rf "$work"' EXIT

make_runbook() { # N FILE
  { echo "# Dry-run bench"; echo
    for i in $(seq 1 "$1"); do
      printf '```bash {name=s%d}\necho step %d {{ params.x }}\n```\n\n' "$i" "$i"
    done; } > "$2"
  sed -i '1i ---\nparams:\n  x: {default: hello}\n---' "$2"
}

# Median wall time in milliseconds of RUNS runs of a command.
median_ms() {
  local times=() t0 t1
  for _ in $(seq 1 "$runs"); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

printf '| steps | run --dry-run (ms) | check (ms) |\n|---:|---:|---:|\n'
declare -A dry
for n in $sizes; do
  f=$work/rb$n.md
  make_runbook "$n" "$f"
  d=$(median_ms "$runbook" run "$f" --dry-run -o "$work/dry$n.md")
  c=$(median_ms "$runbook" check "$f")
  dry[$n]=$d
  printf '| %s | %s | %s |\n' "$n" "$d" "$c"
done
set -- $sizes
if [ $# -ge 2 ] && [ "${dry[$1]}" -gt 0 ]; then
  awk -v a="${dry[$1]}" -v b="${dry[$2]}" -v n1="$1" -v n2="$2" \
    'BEGIN { printf "\ndry-run time ratio %s/%s steps: %.1f (steps ratio %.1f; ~%.1f is linear)\n", n2, n1, b / a, n2 / n1, n2 / n1 }'
fi
