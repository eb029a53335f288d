//! Confirmation gates answered through a real pseudo-terminal, as an
//! operator would: yes, skip, abort, and the record of each decision.

mod common;

use common::{Scratch, block_of};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process whose stdin, stdout and stderr are a pty.
struct PtyRun {
    child: std::process::Child,
    master: std::fs::File,
    screen: Arc<Mutex<String>>,
}

impl PtyRun {
    fn spawn(s: &Scratch, args: &[&str]) -> Self {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = s.cmd();
        cmd.args(args)
            .env("USER", "alice")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().expect("spawn");
        let master = std::fs::File::from(pty.master);
        let screen = Arc::new(Mutex::new(String::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        PtyRun {
            child,
            master,
            screen,
        }
    }

    /// Waits until the screen shows `needle` `count` times.
    fn wait_for(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.screen.lock().unwrap().matches(needle).count() >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out waiting for {needle:?}; screen:\n{}",
            self.screen.lock().unwrap()
        );
    }

    fn answer(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    fn wait(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                let screen = self.screen.lock().unwrap().clone();
                return (status.code().unwrap_or(-1), screen);
            }
            assert!(Instant::now() < deadline, "runbook did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

const GATED: &str = "\
```bash {name=prepare}
echo prepared
```

```bash {name=fix confirm=\"Restart the service?\"}
echo fixed
```

```bash {name=after}
echo after
```
";

#[test]
fn operator_approves_a_gate_on_a_tty() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("Restart the service?", 1);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    // What will run is shown before the question.
    run.wait_for("── gate: step `fix` (line 5) on local", 1);
    run.wait_for("│ echo fixed", 1);
    run.answer("y\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 0, "{screen}");
    let out = s.read("out.md");
    let fix = block_of(&out, "fix");
    assert!(fix.contains("approved"), "{fix}");
    assert!(fix.contains("alice"), "{fix}");
    assert!(fix.contains("fixed"), "{fix}");
    assert!(block_of(&out, "after").contains("after"));
}

#[test]
fn operator_skips_a_gate_and_the_run_goes_on() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    run.answer("what\n");
    run.wait_for("please answer y, s or a", 1);
    run.answer("s\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 0, "{screen}");
    let out = s.read("out.md");
    let fix = block_of(&out, "fix");
    assert!(fix.contains("skipped"), "{fix}");
    assert!(!fix.contains("\nfixed"), "{fix}");
    assert!(block_of(&out, "after").contains("after"));
}

#[test]
fn operator_aborts_at_a_gate_exit_4() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    run.answer("a\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 4, "{screen}");
    let out = s.read("out.md");
    assert!(block_of(&out, "fix").contains("aborted"));
    assert!(block_of(&out, "after").contains("not run"));
}

#[test]
fn step_mode_gates_every_step() {
    let s = Scratch::new();
    s.write(
        "p.md",
        "```bash {name=a}\necho a\n```\n\n```bash {name=b}\necho b\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "p.md", "--step", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    run.answer("y\n");
    run.wait_for("[y]es / [s]kip / [a]bort", 2);
    run.answer("s\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 0, "{screen}");
    let out = s.read("out.md");
    assert!(block_of(&out, "a").contains("approved"));
    assert!(block_of(&out, "b").contains("skipped"));
}
