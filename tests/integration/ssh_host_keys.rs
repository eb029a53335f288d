//! Host key checking through the real binary against a real sshd on
//! 127.0.0.1 (tests/integration/support/sshd.rs), each with an EMPTY known_hosts:
//!
//! - the user's ssh config (`RUNBOOK_SSH_CONFIG`, passed to ssh as `-F`)
//!   says `StrictHostKeyChecking accept-new` and the inventory says
//!   nothing: the config is in force, the step runs and the key is added;
//! - neither says anything: OpenSSH's default (`ask`) under `BatchMode`
//!   refuses the unknown host at once, with a host-key error, without
//!   prompting;
//! - the inventory says `host_key_checking: accept-new`: the step runs.
//!
//! The config given with `-F` replaces `~/.ssh/config` and
//! `/etc/ssh/ssh_config`, so what the developer's machine says cannot leak
//! in.

use crate::common::Scratch;
use crate::support::sshd::Sshd;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for a run: a hang (a prompt, a missing timeout) fails the
/// test instead of blocking it.
const BOUND: Duration = Duration::from_secs(30);

/// A runbook with one remote step on `box`; `extra` goes into the
/// inventory entry.
fn runbook(sshd: &Sshd, extra: &str) -> String {
    format!(
        "---\nhosts:\n  box: {{ ssh: \"{u}@127.0.0.1:{p}\", identity_file: {k}, connect_timeout: 5s{extra} }}\n---\n\n```bash {{name=hello host=box}}\necho \"hello from $(whoami)\"\n```\n",
        u = sshd.user,
        p = sshd.port,
        k = sshd.identity_file.display(),
    )
}

/// Waits for `child` at most [`BOUND`], killing it if it is still running.
fn wait_bounded(mut child: Child) -> (Output, Duration) {
    let t0 = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if t0.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runbook still running after {BOUND:?}: it hangs (a prompt?)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = t0.elapsed();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        elapsed,
    )
}

/// Runs `runbook run box.md` with `config` as the ssh config, stdin
/// closed, and no known_hosts override (the config names it).
fn run(s: &Scratch, config: &Path) -> (Output, Duration) {
    let child = s
        .cmd()
        .args(["run", "box.md", "--report-dir", "rep"])
        .env("RUNBOOK_SSH_CONFIG", config)
        .env_remove("RUNBOOK_SSH_KNOWN_HOSTS")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("SSH_ASKPASS")
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runbook");
    // Output is small (one step), so waiting before reading cannot block
    // on a full pipe.
    wait_bounded(child)
}

/// An empty known_hosts and an ssh config naming it, with `extra` lines.
fn config(s: &Scratch, extra: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let known = s.write("known_hosts", "");
    let config = s.write(
        "ssh_config",
        &format!(
            "Host *\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n{extra}",
            known.display()
        ),
    );
    (config, known)
}

/// The one step of the report (a single-host step is recorded on the
/// step itself: `status`, `reason`, `target`).
fn step(s: &Scratch) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/box.json")).unwrap();
    json["steps"][0].clone()
}

fn host_key(sshd: &Sshd) -> String {
    let k = std::fs::read_to_string(sshd.dir.path().join("host_ed25519.pub")).unwrap();
    k.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn accept_new_in_the_user_ssh_config_is_honoured() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write("box.md", &runbook(&sshd, ""));
    let (config, known) = config(&s, "  StrictHostKeyChecking accept-new\n");
    let (out, _) = run(&s, &config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let step = step(&s);
    assert_eq!(step["status"], "ok", "{step}");
    assert!(
        s.read("rep/box.md")
            .contains(&format!("hello from {}", sshd.user)),
        "{}",
        s.read("rep/box.md")
    );
    let known = std::fs::read_to_string(&known).unwrap();
    assert_eq!(known.lines().count(), 1, "{known}");
    assert!(
        known.contains(&format!("[127.0.0.1]:{}", sshd.port)),
        "{known}"
    );
    assert!(known.trim_end().ends_with(&host_key(&sshd)), "{known}");
    assert_eq!(sshd.accepted_logins(), 1);
}

#[test]
fn unknown_host_without_any_setting_fails_at_once_without_prompting() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write("box.md", &runbook(&sshd, ""));
    let (config, known) = config(&s, "");
    let (out, elapsed) = run(&s, &config);
    let err_text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err_text}");
    // Refused by ssh itself, not by the connect timeout.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let step = step(&s);
    assert_eq!(step["status"], "failed", "{step}");
    let error = step["reason"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "box ({}@127.0.0.1:{}): host key verification failed",
            sshd.user, sshd.port
        )),
        "{error}"
    );
    assert!(error.contains("Host key verification failed."), "{error}");
    assert!(
        err_text.contains("host key verification failed"),
        "{err_text}"
    );
    // Nothing was asked and nothing was trusted.
    assert!(!err_text.contains("(yes/no"), "{err_text}");
    assert!(!err_text.contains("continue connecting"), "{err_text}");
    assert_eq!(std::fs::read_to_string(&known).unwrap(), "");
    assert_eq!(sshd.accepted_logins(), 0);
    assert!(
        !s.read("rep/box.md")
            .contains(&format!("hello from {}", sshd.user))
    );
}

#[test]
fn accept_new_in_the_inventory_trusts_an_unknown_host() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write("box.md", &runbook(&sshd, ", host_key_checking: accept-new"));
    let (config, known) = config(&s, "");
    let (out, _) = run(&s, &config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let step = step(&s);
    assert_eq!(step["status"], "ok", "{step}");
    let known = std::fs::read_to_string(&known).unwrap();
    assert_eq!(known.lines().count(), 1, "{known}");
    assert!(known.trim_end().ends_with(&host_key(&sshd)), "{known}");
    assert_eq!(sshd.accepted_logins(), 1);
}

#[test]
fn inventory_strict_overrides_accept_new_in_the_user_ssh_config() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write("box.md", &runbook(&sshd, ", host_key_checking: strict"));
    let (config, known) = config(&s, "  StrictHostKeyChecking accept-new\n");
    let (out, _) = run(&s, &config);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let step = step(&s);
    assert_eq!(step["status"], "failed", "{step}");
    assert!(
        step["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("host key verification failed"),
        "{step}"
    );
    assert_eq!(std::fs::read_to_string(&known).unwrap(), "");
    assert_eq!(sshd.accepted_logins(), 0);
}
