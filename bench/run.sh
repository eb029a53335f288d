#!/usr/bin/env bash
# Benchmarks for `runbook run` (issue 3). Anyone can run it:
#
#     bash bench/run.sh            # everything
#     SKIP_PAPERMILL=1 bash bench/run.sh
#
# It installs what it needs (hyperfine, GNU time from Debian; papermill and
# bash_kernel from PyPI), builds the release binary, and writes the results as
# Markdown to bench/results.md. Numbers are medians of several runs on the
# machine it runs on; compare ratios, not absolute times, across machines.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/runbook"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OUT="$ROOT/bench/results.md"
RUNS=${RUNS:-5}

median() { # hyperfine json -> median seconds
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"
}

gen_runbook() { # N FILE
  { echo "# $1 trivial steps"; echo
    for i in $(seq 1 "$1"); do printf '```bash {name=s%d}\necho step %d\n```\n\n' "$i" "$i"; done
  } > "$2"
}

gen_loop() { # N FILE: the floor, each step its own bash -c from a plain shell loop
  printf 'for i in $(seq 1 %d); do bash -c "echo step $i" >/dev/null; done\n' "$1" > "$2"
}

peak_rss_kb() { # command... -> max RSS in KiB of the measured process
  /usr/bin/time -v "$@" 2> "$WORK/time.txt" >/dev/null || true
  awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt"
}

{
echo "# Benchmark results"
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr). runbook $("$BIN" --version | awk '{print $2}'). Medians of $RUNS runs (hyperfine)."
echo
echo "## N trivial bash steps: runbook vs a plain \`bash -c\` loop"
echo
echo "| steps | bash -c loop | runbook run --yes | ratio | runbook peak RSS |"
echo "|---:|---:|---:|---:|---:|"
} > "$OUT"

for n in 1 10 100 1000; do
  gen_runbook "$n" "$WORK/n$n.md"
  gen_loop "$n" "$WORK/loop$n.sh"
  hyperfine -N --runs "$RUNS" --warmup 1 --export-json "$WORK/loop$n.json" "bash $WORK/loop$n.sh" >/dev/null
  hyperfine -N --runs "$RUNS" --warmup 1 --export-json "$WORK/rb$n.json" \
    "$BIN run $WORK/n$n.md --yes --quiet -o $WORK/out$n.md" >/dev/null
  floor=$(median "$WORK/loop$n.json"); rb=$(median "$WORK/rb$n.json")
  rss=$(peak_rss_kb "$BIN" run "$WORK/n$n.md" --yes --quiet -o "$WORK/out$n.md")
  python3 -c "import sys; f,r,rss=float(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'| {sys.argv[4]} | {f*1000:.1f} ms | {r*1000:.1f} ms | {r/f:.2f}x | {rss/1024:.1f} MiB |')" \
    "$floor" "$rb" "$rss" "$n" >> "$OUT"
done

# One step printing 200 MB.
printf '```bash {name=flood}\nhead -c 200000000 /dev/zero | tr "\\\\0" "x" | fold -w 100\n```\n' > "$WORK/big.md"
/usr/bin/time -v "$BIN" run "$WORK/big.md" --yes --quiet -o "$WORK/big-out.md" 2> "$WORK/big-time.txt" >/dev/null
big_rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/big-time.txt")
big_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/big-time.txt")
copy_size=$(stat -c %s "$WORK/big-out.md")
log_size=$(stat -c %s "$WORK/big-out.md.logs/flood.log")
{
echo
echo "## One step printing 200 MB"
echo
echo "| peak RSS | wall | annotated copy | full log beside it |"
echo "|---:|---:|---:|---:|"
echo "| $((big_rss / 1024)) MiB | $big_wall | $copy_size bytes | $log_size bytes |"
} >> "$OUT"

# Start-up.
hyperfine -N --runs 50 --warmup 5 --export-json "$WORK/ver.json" "$BIN --version" >/dev/null
ver=$(median "$WORK/ver.json")
{
echo
echo "## Start-up"
echo
python3 -c "import sys; print(f'\`runbook --version\`: {float(sys.argv[1])*1000:.2f} ms (median of 50)')" "$ver"
} >> "$OUT"

# Peer: papermill with bash_kernel on the equivalent notebook.
if [ -z "${SKIP_PAPERMILL:-}" ]; then
  python3 -m pip install -q papermill bash_kernel ipykernel >/dev/null 2>&1 || true
  python3 -m bash_kernel.install --user >/dev/null 2>&1 || python3 -m bash_kernel.install >/dev/null 2>&1 || true
  if command -v papermill >/dev/null; then
    {
    echo
    echo "## Peer: papermill + bash_kernel"
    echo
    echo "| steps | papermill | runbook | papermill / runbook |"
    echo "|---:|---:|---:|---:|"
    } >> "$OUT"
    for n in 10 100; do
      python3 - "$n" "$WORK/nb$n.ipynb" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
          "source": f"echo step {i}"} for i in range(1, n + 1)]
nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
      "metadata": {"kernelspec": {"name": "bash", "display_name": "Bash", "language": "bash"}}}
json.dump(nb, open(path, "w"))
PY
      hyperfine -N --runs 3 --export-json "$WORK/pm$n.json" \
        "papermill -k bash --no-progress-bar $WORK/nb$n.ipynb $WORK/nb$n-out.ipynb" >/dev/null 2>&1 || continue
      pm=$(median "$WORK/pm$n.json"); rb=$(median "$WORK/rb$n.json")
      python3 -c "import sys; p,r=float(sys.argv[1]),float(sys.argv[2]); print(f'| {sys.argv[3]} | {p*1000:.0f} ms | {r*1000:.1f} ms | {p/r:.1f}x |')" "$pm" "$rb" "$n" >> "$OUT"
    done
  fi
fi

cat "$OUT"
