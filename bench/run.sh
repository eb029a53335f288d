#!/usr/bin/env bash
# Benchmarks for `runbook run` (issue 3). Anyone can run it:
#
#     bash bench/run.sh            # everything
#     SKIP_PAPERMILL=1 bash bench/run.sh
#
# It installs what it needs (hyperfine, GNU time from Debian; papermill and
# bash_kernel from PyPI into a venv outside the checkout), builds the release
# binary, and writes the results as Markdown to bench/results.md (or $OUT).
# Numbers are medians of several runs on the machine it runs on; compare
# ratios, not absolute times, across machines.
#
# Env: RUNS=10 (hyperfine runs per runbook/loop measurement), OUT=file,
#      RUNBOOK=path (skip the build and measure this binary),
#      BENCH_VENV=dir (default ~/.cache/runbook/bench-venv),
#      CARGO_TARGET_DIR (where the release build goes).
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

if [ -n "${RUNBOOK:-}" ]; then
  BIN=$RUNBOOK
else
  cargo build --release --quiet --bin runbook
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/runbook"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OUT=${OUT:-$ROOT/bench/results.md}
RUNS=${RUNS:-10}
VENV=${BENCH_VENV:-$HOME/.cache/runbook/bench-venv}

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

peak_rss_kb() { # command... -> max RSS in KiB of the measured process (fails loudly)
  if ! /usr/bin/time -v "$@" 2> "$WORK/time.txt" >/dev/null; then
    echo "bench: failed: $*" >&2; cat "$WORK/time.txt" >&2; exit 1
  fi
  awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt"
}

# Every measured command is run once first, so a broken command fails here
# instead of producing a (fast) number.
check() { if ! "$@" >/dev/null 2> "$WORK/check.err"; then
  echo "bench: failed: $*" >&2; cat "$WORK/check.err" >&2; exit 1; fi; }

TARGETS="$WORK/targets.tsv" # name, measured, limit, met
: > "$TARGETS"
target() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$TARGETS"; }

{
echo "# Benchmark results"
echo
echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr). $("$BIN" --version). Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg). Medians of $RUNS runs (hyperfine, 1 warm-up run)."
echo
echo "## N trivial bash steps: runbook vs a plain \`bash -c\` loop"
echo
echo "| steps | bash -c loop | runbook run --yes --quiet | ratio | runbook peak RSS |"
echo "|---:|---:|---:|---:|---:|"
} > "$OUT"

max_rss=0
for n in 1 10 100 1000; do
  gen_runbook "$n" "$WORK/n$n.md"
  gen_loop "$n" "$WORK/loop$n.sh"
  check bash "$WORK/loop$n.sh"
  check "$BIN" run "$WORK/n$n.md" --yes --quiet -o "$WORK/out$n.md"
  grep -q "step $n" "$WORK/out$n.md" || { echo "bench: step $n output missing from $WORK/out$n.md" >&2; exit 1; }
  # One hyperfine call for both, back to back, so they see similar load.
  hyperfine -N --runs "$RUNS" --warmup 1 --export-json "$WORK/both$n.json" \
    "bash $WORK/loop$n.sh" \
    "$BIN run $WORK/n$n.md --yes --quiet -o $WORK/out$n.md" >/dev/null
  python3 - "$WORK/both$n.json" "$WORK/loop$n.json" "$WORK/rb$n.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for i, path in enumerate(sys.argv[2:]):
    json.dump({"results": [d["results"][i]]}, open(path, "w"))
PY
  floor=$(median "$WORK/loop$n.json"); rb=$(median "$WORK/rb$n.json")
  rss=$(peak_rss_kb "$BIN" run "$WORK/n$n.md" --yes --quiet -o "$WORK/out$n.md")
  [ "$rss" -gt "$max_rss" ] && max_rss=$rss
  python3 -c "import sys; f,r,rss=float(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'| {sys.argv[4]} | {f*1000:.1f} ms | {r*1000:.1f} ms | {r/f:.2f}x | {rss/1024:.1f} MiB |')" \
    "$floor" "$rb" "$rss" "$n" >> "$OUT"
  if [ "$n" -ge 100 ]; then
    ratio=$(python3 -c "import sys; print(f'{float(sys.argv[2])/float(sys.argv[1]):.2f}')" "$floor" "$rb")
    target "wall time, $n steps, vs bash -c loop" "${ratio}x" "<= 1.3x" \
      "$(python3 -c "import sys; print('met' if float(sys.argv[1]) <= 1.3 else 'NOT met')" "$ratio")"
  fi
done

# One step printing 200 MB (2,000,000 lines of 100 bytes).
printf '```bash {name=flood}\nhead -c 200000000 /dev/zero | tr "\\\\0" "x" | fold -w 100\n```\n' > "$WORK/big.md"
/usr/bin/time -v "$BIN" run "$WORK/big.md" --yes --quiet -o "$WORK/big-out.md" 2> "$WORK/big-time.txt" >/dev/null \
  || { echo "bench: the 200 MB step failed" >&2; cat "$WORK/big-time.txt" >&2; exit 1; }
big_rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/big-time.txt")
big_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/big-time.txt")
[ "$big_rss" -gt "$max_rss" ] && max_rss=$big_rss
copy_size=$(stat -c %s "$WORK/big-out.md")
log_size=$(stat -c %s "$WORK/big-out.md.logs/flood.log")
marker=$(grep -o '… [0-9][0-9 ]* lines omitted (full log: [^)]*) …' "$WORK/big-out.md" | head -1 || true)
# What the step prints (fold adds a newline every 100 bytes).
big_bytes=$(head -c 200000000 /dev/zero | tr "\\0" "x" | fold -w 100 | wc -c)
{
echo
echo "## One step printing 200 MB"
echo
echo "| peak RSS | wall | annotated copy | full log beside it | cut marker in the copy |"
echo "|---:|---:|---:|---:|:---|"
echo "| $((big_rss / 1024)) MiB | $big_wall | $copy_size bytes | $log_size bytes | ${marker:-**missing**} |"
} >> "$OUT"
target "200 MB step: annotated copy" "$copy_size bytes" "< 1 MB, with a cut marker" \
  "$([ "$copy_size" -lt 1000000 ] && [ -n "$marker" ] && echo met || echo 'NOT met')"
target "200 MB step: full log beside it" "$log_size bytes" "= the whole output, $big_bytes bytes" \
  "$([ "$log_size" = "$big_bytes" ] && echo met || echo 'NOT met')"

# Start-up.
hyperfine -N --runs 100 --warmup 10 --export-json "$WORK/ver.json" "$BIN --version" >/dev/null
ver=$(median "$WORK/ver.json")
{
echo
echo "## Start-up"
echo
python3 -c "import sys; print(f'\`runbook --version\`: {float(sys.argv[1])*1000:.2f} ms (median of 100)')" "$ver"
} >> "$OUT"
ver_ms=$(python3 -c "import sys; print(f'{float(sys.argv[1])*1000:.2f}')" "$ver")
target "\`runbook --version\`" "$ver_ms ms" "< 5 ms" \
  "$(python3 -c "import sys; print('met' if float(sys.argv[1]) < 5 else 'NOT met')" "$ver_ms")"
target "peak RSS, every case above" "$((max_rss / 1024)) MiB" "< 64 MB" \
  "$([ "$max_rss" -lt 62500 ] && echo met || echo 'NOT met')"

# Peer: papermill with bash_kernel on the equivalent notebook.
if [ -z "${SKIP_PAPERMILL:-}" ]; then
  if [ ! -x "$VENV/bin/papermill" ] || [ ! -d "$VENV/share/jupyter/kernels/bash" ]; then
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q papermill bash_kernel ipykernel >/dev/null
    "$VENV/bin/python" -m bash_kernel.install --sys-prefix >/dev/null
  fi
  {
  echo
  echo "## Peer: papermill + bash_kernel"
  echo
  echo "papermill $("$VENV/bin/papermill" --version 2>&1 | awk '{print $1; exit}'), bash_kernel $("$VENV/bin/python" -c 'import bash_kernel; print(bash_kernel.__version__)'). Medians of 3 runs; the runbook column is the median from the table above."
  echo
  echo "| steps | papermill | runbook | papermill / runbook |"
  echo "|---:|---:|---:|---:|"
  } >> "$OUT"
  for n in 10 100; do
    "$VENV/bin/python" - "$n" "$WORK/nb$n.ipynb" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
          "source": f"echo step {i}"} for i in range(1, n + 1)]
nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
      "metadata": {"kernelspec": {"name": "bash", "display_name": "Bash", "language": "bash"}}}
json.dump(nb, open(path, "w"))
PY
    pm_cmd="$VENV/bin/papermill -k bash --no-progress-bar $WORK/nb$n.ipynb $WORK/nb$n-out.ipynb"
    # shellcheck disable=SC2086
    check $pm_cmd
    grep -q "step $n" "$WORK/nb$n-out.ipynb" || { echo "bench: papermill did not run step $n" >&2; exit 1; }
    hyperfine -N --runs 3 --export-json "$WORK/pm$n.json" "$pm_cmd" >/dev/null
    pm=$(median "$WORK/pm$n.json"); rb=$(median "$WORK/rb$n.json")
    python3 -c "import sys; p,r=float(sys.argv[1]),float(sys.argv[2]); print(f'| {sys.argv[3]} | {p*1000:.0f} ms | {r*1000:.1f} ms | {p/r:.1f}x |')" "$pm" "$rb" "$n" >> "$OUT"
    if [ "$n" = 100 ]; then
      x=$(python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.1f}')" "$pm" "$rb")
      target "papermill / runbook, 100 steps" "${x}x" ">= 20x" \
        "$(python3 -c "import sys; print('met' if float(sys.argv[1]) >= 20 else 'NOT met')" "$x")"
    fi
  done
fi

{
echo
echo "## Targets"
echo
echo "| target | measured | limit | |"
echo "|:---|---:|:---|:---|"
awk -F'\t' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$TARGETS"
} >> "$OUT"

cat "$OUT"
