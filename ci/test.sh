#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the real components the
# tests start (sshd, Prometheus, Alertmanager, moto's EC2 server, Chromium, zsh, fish, jq,
# nbformat/nbconvert, D-Bus + GNOME Keyring + secret-tool), then
# formatting, clippy and every test. Safe to run again: installs are skipped
# when present.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v zsh >/dev/null 2>&1 || need_apt+=(zsh)
command -v fish >/dev/null 2>&1 || need_apt+=(fish)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
command -v setsid >/dev/null 2>&1 || need_apt+=(util-linux)
# keyring: secrets: a session bus (dbus-run-session, dbus-send), GNOME
# Keyring's Secret Service and secret-tool to store items.
command -v dbus-run-session >/dev/null 2>&1 || need_apt+=(dbus)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need_apt+=(gnome-keyring)
command -v secret-tool >/dev/null 2>&1 || need_apt+=(libsecret-tools)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's prometheus package starts a service where it can; the tests start
# their own on a free port, so stop it to keep the machine quiet.
$SUDO systemctl stop prometheus >/dev/null 2>&1 || true
$SUDO systemctl stop prometheus-alertmanager >/dev/null 2>&1 || true

# moto's EC2-compatible server goes into a venv outside the checkout (Debian's
# pip refuses installs into the system Python).
venv="${RUNBOOK_VENV:-$HOME/.cache/runbook/venv}"
if [ ! -x "$venv/bin/moto_server" ]; then
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "==> installing python3-venv"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  echo "==> installing moto[server] into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q 'moto[server]'
fi
# nbformat and nbconvert validate and render the notebook report.
if ! "$venv/bin/python" -c 'import nbformat, nbconvert' >/dev/null 2>&1; then
  echo "==> installing nbformat and nbconvert into $venv"
  "$venv/bin/python" -m pip install -q nbformat nbconvert
fi
export PATH="$venv/bin:$PATH"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "==> cargo test"
cargo test --no-fail-fast -- --test-threads="${RUNBOOK_TEST_THREADS:-4}"
