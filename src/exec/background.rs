//! Processes started in the background (Runme's `background: true`): a
//! server the next steps talk to. Each starts detached from the run's
//! output, in its own process group, with stdout and stderr going to a
//! private file; the run goes on at once. When the run ends (or is
//! interrupted) every one still running is stopped with the one
//! TERM→grace→KILL escalation of [`super::kill`], its whole group with it.

use super::kill::{Escalation, KILL_GRACE, Kill};
use super::process::ProcessSpec;
use super::tree;
use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A process running in the background.
pub struct Background {
    child: Child,
    pgid: Pid,
    /// Its stdout and stderr, interleaved.
    pub log: PathBuf,
}

/// How a background process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited before the run ended (exit code, or 128 + signal).
    OnItsOwn(i32),
    /// Stopped at the end of the run: SIGTERM was enough.
    Terminated,
    /// Stopped at the end of the run: it outlived SIGTERM, SIGKILL ended it.
    Killed,
}

impl Ended {
    /// For the record: "exited on its own with 1", "stopped with SIGTERM at the end of the run".
    pub fn describe(&self) -> String {
        match self {
            Ended::OnItsOwn(c) => format!("exited on its own with {c} before the run ended"),
            Ended::Terminated => "stopped with SIGTERM at the end of the run".into(),
            Ended::Killed => {
                "did not stop on SIGTERM: killed with SIGKILL at the end of the run".into()
            }
        }
    }
}

fn code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

impl Background {
    /// Starts `spec` (its timeout and stdin ignored) in its own process
    /// group, its output appended to `log` (created private).
    pub fn spawn(spec: &ProcessSpec, log: &Path) -> io::Result<Background> {
        let out = crate::safe_fs::create_private(log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // SAFETY: one raw system call between fork and exec.
        unsafe {
            cmd.pre_exec(tree::make_subreaper);
        }
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", spec.program)))?;
        let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        Ok(Background {
            child,
            pgid,
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether anything of its process group is still alive (the leader
    /// reaped first, so a zombie does not count).
    fn group_alive(&mut self) -> bool {
        let _ = self.child.try_wait();
        !matches!(killpg(self.pgid, None), Err(Errno::ESRCH))
    }

    /// Stops it (and its group): SIGTERM, SIGKILL after `grace` (at once
    /// when `immediate`). Says how it ended.
    pub async fn stop(&mut self, grace: Duration, immediate: bool) -> Ended {
        if !self.group_alive() {
            let status = self.child.try_wait().ok().flatten();
            return Ended::OnItsOwn(status.map_or(-1, code));
        }
        let mut esc = Escalation::new(grace);
        let first = if immediate { Kill::Kill } else { Kill::Term };
        esc.raise(first);
        let _ = killpg(self.pgid, first.signal());
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !self.group_alive() {
                break;
            }
            let now = tokio::time::Instant::now();
            if esc.kill_due().is_some_and(|d| now >= d) && esc.raise(Kill::Kill) {
                let _ = killpg(self.pgid, Kill::Kill.signal());
            }
            if esc.give_up_at().is_some_and(|d| now >= d) {
                break;
            }
        }
        let _ = self.child.try_wait();
        if esc.killed() {
            Ended::Killed
        } else {
            Ended::Terminated
        }
    }
}

impl Drop for Background {
    /// A run that never reached its end (a panic, an early return) still
    /// leaves nothing behind.
    fn drop(&mut self) {
        if self.group_alive() {
            let _ = killpg(self.pgid, Kill::Kill.signal());
            let _ = self.child.wait();
        }
    }
}

/// The grace period background processes get.
pub const GRACE: Duration = KILL_GRACE;
