//! A real D-Bus session bus (`dbus-run-session`, Debian's `dbus`) with a
//! real Secret Service on it: `gnome-keyring-daemon --unlock
//! --components=secrets` fed a known password on stdin, its keyrings in a
//! temp dir. Items are stored and the collection locked with the real
//! clients (`secret-tool` from `libsecret-tools`, `dbus-send`). A bare bus
//! (no activatable services, so nothing provides the Secret Service) is
//! there too, for the errors.
//!
//! The session lives as long as the value: `dbus-run-session` runs a shell
//! that waits on a pipe the helper holds; dropping the helper closes it
//! (and signals the process group), which ends the bus, and the keyring
//! daemon with it.

use super::{require_program, wait_until};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The password the test keyring is created and unlocked with.
const KEYRING_PASSWORD: &str = "runbook-test-keyring";

pub struct KeyringSession {
    child: Child,
    /// `DBUS_SESSION_BUS_ADDRESS` of the session.
    pub address: String,
    dir: tempfile::TempDir,
}

/// Every program the keyring tests need; `None` (skip) when one is
/// missing outside CI, a panic under `CI=true`.
fn programs() -> Option<()> {
    let hint = "apt-get install -y dbus gnome-keyring libsecret-tools";
    for p in [
        "dbus-run-session",
        "dbus-send",
        "gnome-keyring-daemon",
        "secret-tool",
    ] {
        require_program(p, hint)?;
    }
    Some(())
}

impl KeyringSession {
    /// A session bus with an unlocked GNOME Keyring Secret Service.
    pub fn start() -> Option<KeyringSession> {
        programs()?;
        let s = Self::spawn(None, true);
        // The daemon answers once its `login` collection exists: store and
        // read back a probe item until it does.
        let ready = wait_until(Duration::from_secs(20), || {
            s.try_store("runbook-probe", "probe", "probe-value")
                && s.secret_tool(&["lookup", "service", "runbook-probe", "username", "probe"])
                    .is_some_and(|v| v == "probe-value")
        });
        assert!(
            ready,
            "gnome-keyring-daemon did not serve secrets within 20s"
        );
        Some(s)
    }

    /// A session bus on which nothing provides `org.freedesktop.secrets`
    /// (its configuration lists no service directories to activate from).
    pub fn bare() -> Option<KeyringSession> {
        programs()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("bare.conf");
        std::fs::write(
            &conf,
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
             <busconfig>\n  <type>session</type>\n  <listen>unix:tmpdir=/tmp</listen>\n\
             <auth>EXTERNAL</auth>\n\
             <policy context=\"default\">\n    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n\
             <allow eavesdrop=\"true\"/>\n    <allow own=\"*\"/>\n  </policy>\n</busconfig>\n",
        )
        .expect("write bare.conf");
        Some(Self::spawn_in(dir, Some(conf), false))
    }

    fn spawn(config: Option<PathBuf>, keyring: bool) -> KeyringSession {
        Self::spawn_in(tempfile::tempdir().expect("temp dir"), config, keyring)
    }

    fn spawn_in(dir: tempfile::TempDir, config: Option<PathBuf>, keyring: bool) -> KeyringSession {
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).expect("runtime dir");
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod runtime dir");
        let address_file = dir.path().join("address");
        let start_keyring = if keyring {
            format!(
                "printf %s '{KEYRING_PASSWORD}' | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1; "
            )
        } else {
            String::new()
        };
        // Wait on stdin: it closes when the helper is dropped.
        let script = format!(
            "{start_keyring}printf %s \"$DBUS_SESSION_BUS_ADDRESS\" > '{a}.tmp' && mv '{a}.tmp' '{a}' && exec cat >/dev/null",
            a = address_file.display()
        );
        let mut cmd = Command::new("dbus-run-session");
        if let Some(c) = &config {
            cmd.arg(format!("--config-file={}", c.display()));
        }
        let log = std::fs::File::create(dir.path().join("session.log")).expect("log file");
        let child = cmd
            .args(["--", "sh", "-c", &script])
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_RUNTIME_DIR", &run)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn dbus-run-session");
        let mut s = KeyringSession {
            child,
            address: String::new(),
            dir,
        };
        let up = wait_until(Duration::from_secs(20), || address_file.exists());
        assert!(up, "no session bus within 20s; log:\n{}", s.log());
        s.address = std::fs::read_to_string(&address_file).expect("read the bus address");
        s
    }

    /// What dbus-run-session, the bus and the keyring daemon printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("session.log")).unwrap_or_default()
    }

    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env_remove("DISPLAY");
        c
    }

    /// `secret-tool ARGS`, its stdout when it exits 0 (within 10 s).
    pub fn secret_tool(&self, args: &[&str]) -> Option<String> {
        let out = run_with_timeout(self.client("secret-tool").args(args), None)?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn try_store(&self, service: &str, user: &str, value: &str) -> bool {
        let mut c = self.client("secret-tool");
        c.args([
            "store",
            "--label=runbook test",
            "service",
            service,
            "username",
            user,
        ]);
        run_with_timeout(&mut c, Some(value)).is_some_and(|o| o.status.success())
    }

    /// `secret-tool store --label=… service SERVICE username USER`, the
    /// value on stdin (never in argv).
    pub fn store(&self, service: &str, user: &str, value: &str) {
        assert!(
            self.try_store(service, user, value),
            "secret-tool store {service}/{user} failed; log:\n{}",
            self.log()
        );
    }

    /// Locks the `login` collection (the default one) through the Secret
    /// Service's own `Lock` method.
    pub fn lock(&self) {
        let out = run_with_timeout(
            self.client("dbus-send").args([
                "--session",
                "--dest=org.freedesktop.secrets",
                "--print-reply",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ]),
            None,
        )
        .expect("dbus-send Lock");
        assert!(out.status.success(), "Lock failed: {out:?}");
    }
}

/// Runs `cmd` with `stdin` (or none), killed after 10 s.
fn run_with_timeout(cmd: &mut Command, stdin: Option<&str>) -> Option<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    if let Some(mut input) = child.stdin.take()
        && let Some(text) = stdin
    {
        input.write_all(text.as_bytes()).ok()?;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        // Closing stdin ends `cat`, the session, the bus and the daemon.
        drop(self.child.stdin.take());
        let gone = wait_until(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !gone {
            let pgid = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
            let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}
