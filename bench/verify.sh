#!/usr/bin/env bash
# `runbook verify` on a large record (issue 12): a runbook of STEPS trivial
# bash steps (`echo step i`) is really run (`runbook run --yes`) into an
# annotated copy, signed with a throwaway ed25519 key; then hyperfine times
#   - sha256sum COPY                      (the floor: reading and hashing the bytes once)
#   - runbook verify COPY                 (the hash chain: every block, every step's source)
#   - runbook verify COPY --allowed-signers FILE   (the chain and the SSH signature)
# and, to show verify is linear, `runbook verify` at STEPS/10 too (the
# per-step time at both sizes should be about the same).
#
# Usage: bench/verify.sh [OUT.md]        (default: print the table)
# Env:   RUNBOOK=path (default: $CARGO_TARGET_DIR/release/runbook, else
#        target/release/runbook; built if missing), STEPS=10000, RUNS=10.
# Needs: hyperfine (apt-get install -y hyperfine), ssh-keygen, sha256sum.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-/dev/stdout}
steps=${STEPS:-10000}
runs=${RUNS:-10}
runbook=${RUNBOOK:-${CARGO_TARGET_DIR:-$root/target}/release/runbook}

command -v hyperfine >/dev/null || { echo "verify.sh: hyperfine is missing (apt-get install -y hyperfine)" >&2; exit 2; }
if [ ! -x "$runbook" ]; then
    (cd "$root" && cargo build --release --bin runbook >&2)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-verify.XXXXXX")
trap 'rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N '' -C bench -f "$work/key"
echo "bench@example.com $(cat "$work/key.pub")" > "$work/allowed"

# A runbook of N steps, run for real into a signed copy.
make_copy() {
    local n=$1 f="$work/steps-$1.md"
    {
        printf -- '---\ntitle: %s trivial steps\n---\n# %s steps\n\n' "$n" "$n"
        for i in $(seq 1 "$n"); do
            printf 'Step %s.\n\n```bash {name=s%s}\necho step %s\n```\n\n' "$i" "$i" "$i"
        done
    } > "$f"
    local t0=$SECONDS
    "$runbook" run "$f" --yes --quiet --sign-key "$work/key" -o "$work/copy-$n.md" >/dev/null 2>&1
    echo "generated $work/copy-$n.md ($n steps) in $((SECONDS - t0)) s" >&2
    # Fail loudly: a copy that does not verify must never time as a fast one.
    "$runbook" verify "$work/copy-$n.md" --allowed-signers "$work/allowed" \
        | grep -q "^verified: .*: $n steps, ok, .*signed by bench@example.com" \
        || { echo "verify.sh: the $n-step copy does not verify" >&2; exit 1; }
}

small=$((steps / 10))
make_copy "$small"
make_copy "$steps"
big="$work/copy-$steps.md"
bytes=$(wc -c < "$big")

hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/h.json" \
    -n "sha256sum ($steps steps)" "sha256sum $big" \
    -n "verify ($steps steps)" "$runbook verify $big" \
    -n "verify --allowed-signers ($steps steps)" "$runbook verify $big --allowed-signers $work/allowed" \
    -n "verify ($small steps)" "$runbook verify $work/copy-$small.md" >&2

python3 - "$work/h.json" "$steps" "$small" "$bytes" > "$out" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))["results"]
steps, small, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
med = {r["command"]: r["median"] * 1000 for r in h}
floor = med[f"sha256sum ({steps} steps)"]
print(f"Copy of {steps} steps: {size} bytes ({size / 1048576:.1f} MiB). Medians of hyperfine runs.\n")
print("| command | median | vs sha256sum | per step |")
print("|---|---:|---:|---:|")
for name, n in [(f"sha256sum ({steps} steps)", steps), (f"verify ({steps} steps)", steps),
                (f"verify --allowed-signers ({steps} steps)", steps), (f"verify ({small} steps)", small)]:
    m = med[name]
    print(f"| {name} | {m:.1f} ms | {m / floor:.1f}x | {m * 1000 / n:.1f} µs |")
PY
