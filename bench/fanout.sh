#!/usr/bin/env bash
# Fan-out benchmark: one trivial command on N inventory entries, all on a
# throwaway sshd on 127.0.0.1, with `runbook run --forks F` against the
# floor, plain `ssh` under `xargs -P F`, and `ansible all -f F -m shell`
# (ansible-core from PyPI, in a venv), at N = 50 and 200, F = 10 and 50.
# All open N fresh SSH connections per run (ansible's ControlPersist is
# turned off so later runs do not reuse the first run's connections).
# Prints each tool's ratio to the ssh floor of the same configuration, and
# runbook's peak RSS.
#
# Usage: bench/fanout.sh [OUT.md]       (default: bench/results-fanout.md)
# Env:   RUNBOOK=path/to/runbook (default: $CARGO_TARGET_DIR/release/runbook,
#        else target/release/runbook; built if missing), HOSTS="50 200",
#        FORKS="10 50" (each a list: every pair is measured), RUNS=5, ONLY=runbook|ansible, BENCH_VENV=venv for ansible-core
#        (default: ~/.cache/runbook/bench-venv, outside the checkout).
# Needs: /usr/sbin/sshd (apt-get install openssh-server), python3 -m venv,
#        hyperfine (apt-get install hyperfine; falls back to bash `time`).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$here/results-fanout.md}
host_counts=${HOSTS:-50 200}
fork_counts=${FORKS:-10 50}
runs=${RUNS:-5}
only=${ONLY:-}
runbook=${RUNBOOK:-${CARGO_TARGET_DIR:-$root/target}/release/runbook}
venv=${BENCH_VENV:-$HOME/.cache/runbook/bench-venv}

[ -x /usr/sbin/sshd ] || { echo "fanout.sh: /usr/sbin/sshd is missing (apt-get install -y openssh-server)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-bench.XXXXXX")
sshd_pid=
cleanup() {
    if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- a throwaway sshd on 127.0.0.1 -------------------------------------
mkdir -p /run/sshd 2>/dev/null || true
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$work/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench-user -f "$work/id_ed25519"
cp "$work/id_ed25519.pub" "$work/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user=$(id -un)
cat > "$work/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_ed25519
PidFile none
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 400:30:800
MaxSessions 100
CONF
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/host_ed25519.pub")" > "$work/known_hosts"
cat > "$work/ssh_config" <<CONF
Host *
  IdentityFile $work/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
CONF

if [ "$only" != ansible ] && [ ! -x "$runbook" ]; then
    (cd "$root" && cargo build --release --bin runbook >&2)
fi
if [ "$only" != runbook ] && [ ! -x "$venv/bin/ansible" ]; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet ansible-core
fi
# runbook reads the client's known_hosts from this variable
# (SshOptions::from_env); ansible gets the same ssh_config.
export RUNBOOK_SSH_KNOWN_HOSTS="$work/known_hosts"
export ANSIBLE_SSH_ARGS="-F $work/ssh_config -o ControlMaster=no"
export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP="$work/ansible-local"

# The runbook and the ansible inventory for $1 entries, in directory $2.
write_inputs() {
    local hosts=$1 dir=$2 i
    mkdir -p "$dir"
    {
        echo "---"
        echo "title: Fan-out benchmark"
        echo "hosts:"
        for i in $(seq 0 $((hosts - 1))); do
            echo "  h$i: { ssh: \"$user@127.0.0.1:$port\", identity_file: \"$work/id_ed25519\" }"
        done
        echo "---"
        echo
        echo '# Fan-out'
        echo
        echo '```bash {hosts=all}'
        echo 'echo "hello from $(hostname)"'
        echo '```'
    } > "$dir/RUNBOOK.md"
    {
        echo "[bench]"
        for i in $(seq 0 $((hosts - 1))); do
            echo "h$i ansible_host=127.0.0.1 ansible_port=$port ansible_user=$user"
        done
        echo
        echo "[bench:vars]"
        echo "ansible_python_interpreter=/usr/bin/python3"
    } > "$dir/inventory.ini"
}

# Runs $1 once and fails loudly unless it succeeds.
must() {
    if ! bash -c "$1" 2>"$work/last.err"; then
        echo "fanout.sh: failed: $1" >&2
        cat "$work/last.err" >&2
        exit 1
    fi
}

# One configuration: $1 entries, $2 forks; appends its table and ratios.
bench_one() {
    local hosts=$1 forks=$2 dir="$work/h$1" commands=() names=() i
    write_inputs "$hosts" "$dir"
    commands+=("seq 0 $((hosts - 1)) | xargs -P $forks -I{} ssh -F $work/ssh_config -p $port $user@127.0.0.1 'echo \"hello from \$(hostname)\"' >/dev/null")
    names+=("ssh under xargs -P $forks")
    if [ "$only" != ansible ]; then
        commands+=("cd $dir && $runbook run RUNBOOK.md --yes --quiet --forks $forks -o out.md >/dev/null")
        names+=("runbook run --forks $forks")
    fi
    if [ "$only" != runbook ]; then
        commands+=("$venv/bin/ansible all -i $dir/inventory.ini -f $forks -m shell -a 'echo \"hello from \$(hostname)\"' >/dev/null")
        names+=("ansible -f $forks -m shell")
    fi
    for c in "${commands[@]}"; do must "$c"; done
    local rss=""
    if [ "$only" != ansible ]; then
        # Every host's output is in the copy, and the peak RSS of one run.
        local got
        got=$(grep -c '^hello from ' "$dir/out.md" || true)
        if [ "$got" != "$hosts" ]; then
            echo "fanout.sh: the copy has $got host outputs, not $hosts" >&2
            exit 1
        fi
        (cd "$dir" && /usr/bin/time -v "$runbook" run RUNBOOK.md --yes --quiet --forks "$forks" \
            -o out.md >/dev/null 2>"$dir/time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
    fi
    {
        echo "## $hosts hosts, forks=$forks"
        echo
    } >> "$out"
    if command -v hyperfine >/dev/null; then
        local args=()
        for i in "${!commands[@]}"; do
            args+=(--command-name "${names[$i]}" "${commands[$i]}")
        done
        hyperfine --shell bash --warmup 1 --runs "$runs" --export-markdown "$dir/hf.md" \
            --export-json "$dir/hf.json" "${args[@]}" >&2
        cat "$dir/hf.md" >> "$out"
        python3 - "$dir/hf.json" >> "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
floor = r[0]["mean"]
print()
for x in r[1:]:
    print(f"- ratio to the ssh floor: {x['command']}: **{x['mean'] / floor:.2f}x**")
PY
    else
        local means=()
        {
            echo "| Command | Mean [s] | Runs |"
            echo "|:---|---:|---:|"
        } >> "$out"
        for i in "${!commands[@]}"; do
            local start end mean
            start=$(date +%s.%N)
            for _ in $(seq "$runs"); do bash -c "${commands[$i]}"; done
            end=$(date +%s.%N)
            mean=$(python3 -c "print(f'{($end - $start) / $runs:.3f}')")
            echo "| \`${names[$i]}\` | $mean | $runs |" >> "$out"
            means+=("$mean")
        done
        echo >> "$out"
        for i in "${!means[@]}"; do
            [ "$i" = 0 ] && continue
            python3 -c "print(f'- ratio to the ssh floor: ${names[$i]}: **{${means[$i]} / ${means[0]}:.2f}x**')" >> "$out"
        done
    fi
    if [ -n "$rss" ]; then
        printf -- '- runbook peak RSS (/usr/bin/time -v, one run): %s MiB\n' "$((rss / 1024))" >> "$out"
    fi
    echo >> "$out"
}

mkdir -p "$(dirname "$out")"
{
    echo "# Fan-out"
    echo
    echo "One trivial command on N inventory entries (all on one sshd on 127.0.0.1, a fresh"
    echo "SSH connection per entry), $runs runs each. $(nproc) CPUs, $(ssh -V 2>&1),"
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start."
    echo
} > "$out"
for h in $host_counts; do
    for f in $fork_counts; do
        bench_one "$h" "$f"
    done
done
echo "wrote $out" >&2
cat "$out"
