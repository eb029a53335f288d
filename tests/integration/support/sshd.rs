//! A real OpenSSH server on 127.0.0.1 for tests: host keys, a user key,
//! authorized_keys and a client known_hosts generated per instance in a
//! temporary directory. Tests that need SSH `mod support;` and call
//! [`Sshd::start`]; the server is killed when the value is dropped.
//!
//! When `/usr/sbin/sshd` is missing, `start` returns `None` (the test
//! skips) unless `CI=true`, where it panics: CI must install
//! openssh-server.

#![allow(dead_code)]

use runbook::exec::inventory::{HostKeyChecking, SshTarget};
use runbook::exec::ssh::SshOptions;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The user the tests log in as (the user running the tests).
    pub user: String,
    /// The client's private key.
    pub identity_file: PathBuf,
    /// A known_hosts file that lists this server's host key, as
    /// `127.0.0.1` and as `localhost`.
    pub known_hosts: PathBuf,
    /// An ssh_config for command-line clients (ssh, ansible): identity,
    /// known_hosts and strict checking.
    pub ssh_config: PathBuf,
    pub log: PathBuf,
    child: Child,
}

/// Whether sshd can be used; panics under CI when it is missing.
pub fn available() -> bool {
    if Path::new(SSHD).exists() && which("ssh-keygen") && which("ssh") {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{SSHD}, ssh or ssh-keygen is missing; CI must run `apt-get install -y openssh-server openssh-client`"
        );
    }
    eprintln!("skipping: {SSHD} is not installed (apt-get install openssh-server)");
    false
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path, comment: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A port on 127.0.0.1 where nothing listens (right now).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Sshd {
    /// Starts a server, or returns `None` when sshd is not installed (see
    /// the module comment).
    pub fn start() -> Option<Sshd> {
        if !available() {
            return None;
        }
        // The privilege separation directory Debian's sshd insists on.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("runbook-sshd.")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "runbook-test-host");
        keygen(&d.join("id_ed25519"), "runbook-test-user");
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub")).expect("host key");
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = d.join("sshd_config");
            // `SetEnv SHLVL=1`: bash started by sshd sources the user's
            // ~/.bashrc only as the first shell level (SHLVL unset), so this
            // keeps the machine's
            // start-up files (root's `pyenv init`, which races with itself
            // across concurrent sessions and prints on stderr) out of the
            // tests' output. The tool itself is tested with what sshd gives.
            std::fs::write(
                &config,
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {dir}/host_ed25519\n\
                     PidFile none\n\
                     AuthorizedKeysFile {dir}/authorized_keys\n\
                     PermitRootLogin yes\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     MaxStartups 200\n\
                     MaxSessions 100\n\
                     LogLevel VERBOSE\n\
                     AcceptEnv LANG LC_*\n\
                     SetEnv SHLVL=1\n",
                    dir = d.display()
                ),
            )
            .expect("sshd_config");
            let log = d.join("sshd.log");
            let log_file = std::fs::File::create(&log).expect("sshd.log");
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log fd"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !up {
                let _ = child.kill();
                let _ = child.wait();
                last_log = std::fs::read_to_string(&log).unwrap_or_default();
                continue;
            }
            let known_hosts = d.join("known_hosts");
            std::fs::write(
                &known_hosts,
                format!(
                    "[127.0.0.1]:{port} {k} {v}\n[localhost]:{port} {k} {v}\n",
                    k = host_pub[0],
                    v = host_pub[1]
                ),
            )
            .expect("known_hosts");
            let identity_file = d.join("id_ed25519");
            let ssh_config = d.join("ssh_config");
            let mut f = std::fs::File::create(&ssh_config).expect("ssh_config");
            write!(
                f,
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
                identity_file.display(),
                known_hosts.display()
            )
            .expect("ssh_config");
            return Some(Sshd {
                port,
                user: current_user(),
                identity_file,
                known_hosts,
                ssh_config,
                log,
                child,
                dir,
            });
        }
        panic!("sshd did not start on 127.0.0.1; its log:\n{last_log}");
    }

    /// A target for this server, labelled `label`, with strict host key
    /// checking and a 5s connect timeout.
    pub fn target(&self, label: &str) -> SshTarget {
        SshTarget {
            label: label.to_string(),
            user: Some(self.user.clone()),
            host: "127.0.0.1".to_string(),
            port: Some(self.port),
            identity_file: Some(self.identity_file.clone()),
            jump: None,
            host_key_checking: HostKeyChecking::Strict,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Pool options that trust this server's host key.
    pub fn options(&self) -> SshOptions {
        SshOptions {
            known_hosts_file: Some(self.known_hosts.clone()),
            ..SshOptions::default()
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many logins the server has accepted so far.
    pub fn accepted_logins(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("Accepted publickey for"))
            .count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
