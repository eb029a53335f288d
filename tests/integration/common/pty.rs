//! A real pseudo-terminal around the `runbook` binary, for what an operator
//! sees and types (gates, Ctrl-C), and for job control: with
//! [`PtyRun::spawn_controlling`] the pty is `runbook`'s controlling terminal
//! and `runbook` its foreground process group, as in an interactive shell,
//! so Ctrl-C typed on the master is a real SIGINT from the line discipline
//! and a step that opens `/dev/tty` meets real job control.

use super::Scratch;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process whose stdin, stdout and stderr are a pty.
pub struct PtyRun {
    pub child: std::process::Child,
    master: std::fs::File,
    screen: Arc<Mutex<String>>,
}

impl PtyRun {
    /// The pty is the child's stdio only (no controlling terminal). The
    /// operator answers `y` to the plan's `Start? [y/N]` when it shows.
    pub fn spawn(s: &Scratch, args: &[&str]) -> Self {
        let run = Self::start(s, args, false);
        run.start_when_asked();
        run
    }

    /// Like [`PtyRun::spawn`], leaving `Start? [y/N]` to the test.
    pub fn spawn_manual(s: &Scratch, args: &[&str]) -> Self {
        Self::start(s, args, false)
    }

    /// The pty is the child's controlling terminal, the child the leader of
    /// a new session and its foreground process group; `Start?` answered.
    pub fn spawn_controlling(s: &Scratch, args: &[&str]) -> Self {
        let run = Self::start(s, args, true);
        run.start_when_asked();
        run
    }

    /// Types `y` at the plan's question, once, if it comes (a run with
    /// `--yes`, a dry run or another command never asks).
    fn start_when_asked(&self) {
        let screen = self.screen.clone();
        let mut master = self.master.try_clone().unwrap();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if screen.lock().unwrap().contains("Start? [y/N] ") {
                    let _ = master.write_all(b"y\n");
                    let _ = master.flush();
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }

    fn start(s: &Scratch, args: &[&str], controlling: bool) -> Self {
        // An 80×24 terminal, as an operator's default window.
        let size = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = s.cmd();
        cmd.args(args)
            .env("USER", "alice")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        if controlling {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    if nix::libc::setsid() < 0
                        || nix::libc::ioctl(0, nix::libc::TIOCSCTTY as _, 0) < 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
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

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    pub fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until the screen shows `needle` `count` times.
    pub fn wait_for(&self, needle: &str, count: usize) {
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

    /// Types `text` on the terminal.
    pub fn answer(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits for the exit (at most `limit`); returns the exit code (-1 when
    /// killed by a signal), the screen, and how long the wait took.
    pub fn wait_within(&mut self, limit: Duration) -> (i32, String, Duration) {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let took = t0.elapsed();
                std::thread::sleep(Duration::from_millis(100));
                return (status.code().unwrap_or(-1), self.screen(), took);
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "runbook did not exit within {limit:?}; screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wait(mut self) -> (i32, String) {
        let (code, screen, _) = self.wait_within(Duration::from_secs(30));
        (code, screen)
    }
}
