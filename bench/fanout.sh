#!/usr/bin/env bash
# Fan-out benchmark: one trivial command on 50 inventory entries, all on a
# throwaway sshd on 127.0.0.1, with `runbook run --forks 10` against
# `ansible all -f 10 -m shell` (ansible-core from PyPI, in a venv).
# Both open 50 fresh SSH connections per run (ansible's ControlPersist is
# turned off so later runs do not reuse the first run's connections).
#
# Usage: bench/fanout.sh [OUT.md]       (default: bench/results-fanout.md)
# Env:   RUNBOOK=path/to/runbook (default: $CARGO_TARGET_DIR/release/runbook,
#        else target/release/runbook; built if missing), HOSTS=50, FORKS=10,
#        RUNS=10, ONLY=runbook|ansible, BENCH_VENV=venv for ansible-core
#        (default: ~/.cache/runbook/bench-venv, outside the checkout).
# Needs: /usr/sbin/sshd (apt-get install openssh-server), python3 -m venv,
#        hyperfine (apt-get install hyperfine; falls back to bash `time`).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$here/results-fanout.md}
hosts=${HOSTS:-50}
forks=${FORKS:-10}
runs=${RUNS:-10}
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
MaxStartups 200
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

# --- the runbook: $hosts inventory entries, one fan-out step ------------
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
} > "$work/RUNBOOK.md"

# --- the equivalent ansible inventory -----------------------------------
{
    echo "[bench]"
    for i in $(seq 0 $((hosts - 1))); do
        echo "h$i ansible_host=127.0.0.1 ansible_port=$port ansible_user=$user"
    done
    echo
    echo "[bench:vars]"
    echo "ansible_python_interpreter=/usr/bin/python3"
} > "$work/inventory.ini"

commands=()
names=()
# The floor: plain ssh, one fresh connection per entry, $forks at a time.
floor_cmd="seq 0 $((hosts - 1)) | xargs -P $forks -I{} ssh -F $work/ssh_config -p $port $user@127.0.0.1 'echo \"hello from \$(hostname)\"' >/dev/null"
if ! bash -c "$floor_cmd" 2>"$work/floor.err"; then
    echo "fanout.sh: plain ssh failed:" >&2
    cat "$work/floor.err" >&2
    exit 1
fi
commands+=("$floor_cmd")
names+=("ssh under xargs -P $forks")
if [ "$only" != ansible ]; then
    if [ ! -x "$runbook" ]; then
        (cd "$root" && cargo build --release --bin runbook >&2)
    fi
    # runbook reads the client's known_hosts from this variable
    # (SshOptions::from_env); the annotated copy goes to the work dir.
    export RUNBOOK_SSH_KNOWN_HOSTS="$work/known_hosts"
    runbook_cmd="cd $work && $runbook run RUNBOOK.md --yes --quiet --forks $forks >/dev/null"
    if ! bash -c "$runbook_cmd" 2>"$work/runbook.err"; then
        echo "fanout.sh: runbook run failed:" >&2
        cat "$work/runbook.err" >&2
        exit 1
    fi
    commands+=("$runbook_cmd")
    names+=("runbook run --forks $forks")
    (cd "$work" && /usr/bin/time -v "$runbook" run RUNBOOK.md --yes --quiet --forks "$forks" \
        >/dev/null 2>"$work/runbook-time.txt")
    runbook_rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/runbook-time.txt")
fi
if [ "$only" != runbook ]; then
    if [ ! -x "$venv/bin/ansible" ]; then
        [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet ansible-core
    fi
    export ANSIBLE_SSH_ARGS="-F $work/ssh_config -o ControlMaster=no"
    export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP="$work/ansible-local"
    ansible_cmd="$venv/bin/ansible all -i $work/inventory.ini -f $forks -m shell -a 'echo \"hello from \$(hostname)\"' >/dev/null"
    if ! bash -c "$ansible_cmd" 2>"$work/ansible.err"; then
        echo "fanout.sh: ansible failed:" >&2
        cat "$work/ansible.err" >&2
        exit 1
    fi
    commands+=("$ansible_cmd")
    names+=("ansible -f $forks -m shell")
fi

mkdir -p "$(dirname "$out")"
{
    echo "# Fan-out: $hosts hosts, forks=$forks"
    echo
    echo "One trivial command on $hosts inventory entries (all on one sshd on 127.0.0.1, a fresh"
    echo "SSH connection per entry), $runs runs each. $(nproc) CPUs, $(ssh -V 2>&1),"
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start."
    echo
} > "$out"

if command -v hyperfine >/dev/null; then
    args=()
    for i in "${!commands[@]}"; do
        args+=(--command-name "${names[$i]}" "${commands[$i]}")
    done
    hyperfine --shell bash --warmup 1 --runs "$runs" --export-markdown "$work/hyperfine.md" \
        --export-json "$work/hyperfine.json" "${args[@]}" >&2
    cat "$work/hyperfine.md" >> "$out"
    python3 - "$work/hyperfine.json" >> "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
floor = r[0]["mean"]
print()
for x in r[1:]:
    print(f"ratio to the ssh floor: {x['command']}: {x['mean'] / floor:.2f}x")
PY
else
    means=()
    {
        echo "| Command | Mean [s] | Runs |"
        echo "|:---|---:|---:|"
    } >> "$out"
    for i in "${!commands[@]}"; do
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
        python3 -c "print(f'ratio to the ssh floor: ${names[$i]}: {${means[$i]} / ${means[0]}:.2f}x')" >> "$out"
    done
fi
if [ -n "${runbook_rss:-}" ]; then
    printf '\nrunbook peak RSS (/usr/bin/time -v, one run): %s MiB\n' "$((runbook_rss / 1024))" >> "$out"
fi
echo "wrote $out" >&2
cat "$out"
