#!/usr/bin/env bash
# Scale benchmark (issue 14 item 5):
#   1. a 1000-entry inventory, each entry its own loopback address
#      (127.0.X.Y, so 1000 distinct SSH connections) on one sshd, one
#      trivial command with `runbook run --forks 50`, against the floor
#      (plain ssh under `xargs -P 50`); wall time, peak RSS, every host's
#      output checked in the JSON record;
#   2. the same run as 4 shards at once (`--shard I/4`, forks 50/4 each, the
#      same total concurrency on this one machine) then `runbook merge`;
#      the merged record checked to hold all 1000 hosts;
#   3. `runbook check` and `runbook list` of 1000- and 10 000-step runbooks:
#      time per step at both sizes (linear when the ratio is ~1).
#
# The sshd listens on all addresses of a random high port for the few
# minutes of the run (one sshd cannot bind 1000 loopback addresses one by
# one) and lets the user in only from 127.0.0.0/8 (AllowUsers user@CIDR).
#
# Usage: bench/scale.sh [OUT.md]        (default: bench/results-scale.md)
# Env:   RUNBOOK=path (default: $CARGO_TARGET_DIR/release/runbook, else
#        target/release/runbook; built if missing), HOSTS=1000, FORKS=50,
#        SHARDS=4, STEPS="1000 10000".
# Needs: /usr/sbin/sshd, ssh, python3, GNU time (/usr/bin/time).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$here/results-scale.md}
hosts=${HOSTS:-1000}
forks=${FORKS:-50}
shards=${SHARDS:-4}
step_counts=${STEPS:-1000 10000}
runbook=${RUNBOOK:-${CARGO_TARGET_DIR:-$root/target}/release/runbook}

[ -x /usr/sbin/sshd ] || { echo "scale.sh: /usr/sbin/sshd is missing (apt-get install -y openssh-server)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "scale.sh: GNU time is missing (apt-get install -y time)" >&2; exit 2; }
if [ ! -x "$runbook" ]; then
    (cd "$root" && cargo build --release --bin runbook >&2)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-scale.XXXXXX")
sshd_pid=
cleanup() {
    if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The i-th loopback address: 127.0.X.Y, X and Y in 1..250.
addr() { echo "127.0.$(($1 / 250 + 1)).$(($1 % 250 + 1))"; }

# --- one sshd for every loopback address ----------------------------------
mkdir -p /run/sshd 2>/dev/null || true
ssh-keygen -q -t ed25519 -N '' -C scale-host -f "$work/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C scale-user -f "$work/id_ed25519"
cp "$work/id_ed25519.pub" "$work/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user=$(id -un)
cat > "$work/sshd_config" <<CONF
Port $port
ListenAddress 0.0.0.0
AllowUsers $user@127.0.0.0/8
HostKey $work/host_ed25519
PidFile none
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 1000:30:2000
MaxSessions 100
CONF
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
key=$(cut -d' ' -f1,2 "$work/host_ed25519.pub")
for i in $(seq 0 $((hosts - 1))); do echo "[$(addr "$i")]:$port $key"; done > "$work/known_hosts"
cat > "$work/ssh_config" <<CONF
Host *
  IdentityFile $work/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
CONF
export RUNBOOK_SSH_KNOWN_HOSTS="$work/known_hosts"

{
    echo "---"
    echo "title: Scale"
    echo "hosts:"
    for i in $(seq 0 $((hosts - 1))); do
        echo "  h$i: { ssh: \"$user@$(addr "$i"):$port\", identity_file: \"$work/id_ed25519\" }"
    done
    echo "---"
    echo
    echo '```bash {name=hello hosts=all}'
    echo 'echo "hello from $(hostname)"'
    echo '```'
} > "$work/scale.md"

# Wall seconds and peak RSS (KiB) of a command, from GNU time.
timed() {
    local log=$1
    shift
    /usr/bin/time -f '%e %M' -o "$log" "$@"
}

# Hosts with a "hello from" line in a JSON record.
hosts_ok() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
hosts = r["steps"][0]["hosts"]
print(sum(1 for h in hosts if h["status"] == "ok" and "hello from" in h["output"]["head"]))
PY
}

cd "$work"
echo "scale.sh: the ssh floor ($hosts connections, -P $forks)…" >&2
for i in $(seq 0 $((hosts - 1))); do addr "$i"; done > addrs
timed floor.time bash -c "xargs -P $forks -I{} ssh -F $work/ssh_config -p $port $user@{} 'echo \"hello from \$(hostname)\"' < addrs > floor.out"
floor_ok=$(grep -c '^hello from ' floor.out || true)

echo "scale.sh: runbook run --forks $forks…" >&2
timed whole.time "$runbook" run scale.md --yes --quiet --forks "$forks" --report-dir whole >/dev/null
whole_ok=$(hosts_ok whole/scale.json)

echo "scale.sh: $shards shards at once, then merge…" >&2
shard_forks=$(((forks + shards - 1) / shards))
start=$(date +%s.%N)
pids=()
for i in $(seq 1 "$shards"); do
    timed "shard-$i.time" "$runbook" run scale.md --yes --quiet --forks "$shard_forks" \
        --shard "$i/$shards" --report-dir "shard-$i" >/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
timed merge.time "$runbook" merge $(for i in $(seq 1 "$shards"); do echo "shard-$i"; done) --report-dir merged 2>/dev/null
end=$(date +%s.%N)
merged_ok=$(hosts_ok merged/scale.json)
sharded_wall=$(python3 -c "print(f'{$end - $start:.1f}')")
shard_rss=$(cat shard-*.time | awk '{print $2}' | sort -n | tail -1)

for n in $step_counts; do
    python3 - "$n" > "steps-$n.md" <<'PY'
import sys
n = int(sys.argv[1])
print("---\ntitle: Many steps\n---\n")
for i in range(n):
    print(f"## Step {i}\n\nSome prose about step {i}.\n\n```bash {{name=s{i}}}\necho \"step {i}\"\n```\n")
PY
    timed "check-$n.time" "$runbook" check "steps-$n.md" 2>/dev/null
    timed "list-$n.time" "$runbook" list "steps-$n.md" >/dev/null
done

w() { awk '{print $1}' "$1"; }
m() { awk '{printf "%d", $2 / 1024}' "$1"; }
{
    echo "# Scale: $hosts hosts, forks $forks, $shards shards"
    echo
    echo "$(nproc) CPUs, $(ssh -V 2>&1), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "Each entry its own loopback address on one sshd: $hosts distinct SSH connections per run."
    echo
    echo "| run | wall [s] | peak RSS [MiB] | hosts with output |"
    echo "|:---|---:|---:|---:|"
    echo "| ssh under xargs -P $forks (floor) | $(w floor.time) | – | $floor_ok |"
    echo "| runbook run --forks $forks | $(w whole.time) | $(m whole.time) | $whole_ok |"
    echo "| $shards × runbook run --shard I/$shards --forks $shard_forks, at once, + merge | $sharded_wall | $((shard_rss / 1024)) (largest shard), $(m merge.time) (merge) | $merged_ok |"
    echo
    python3 -c "print(f'- ratio to the ssh floor: runbook run --forks $forks: **{$(w whole.time) / $(w floor.time):.2f}x**; sharded + merge: **{$sharded_wall / $(w floor.time):.2f}x**')"
    echo
    echo "| steps | check [s] | check per step [µs] | list [s] | list per step [µs] | check peak RSS [MiB] |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for n in $step_counts; do
        c=$(w "check-$n.time"); l=$(w "list-$n.time")
        python3 -c "print(f'| $n | $c | {$c / $n * 1e6:.0f} | $l | {$l / $n * 1e6:.0f} | $(m "check-$n.time") |')"
    done
} > "$out"
if [ "$whole_ok" != "$hosts" ] || [ "$merged_ok" != "$hosts" ]; then
    cat "$out"
    echo "scale.sh: not every host's output is in the record ($whole_ok whole, $merged_ok merged, of $hosts)" >&2
    exit 1
fi
echo "wrote $out" >&2
cat "$out"
