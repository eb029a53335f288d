//! A step that needs the operator's terminal (Runme's `interactive: true`):
//! it runs with the terminal as its stdin, stdout and stderr, in its own
//! process group made the terminal's foreground group (as a shell does for a
//! job), so what the operator types and Ctrl-C go to the step. Its output is
//! not captured. When it ends, `runbook` takes the terminal back.
//!
//! The caller only uses this when stdin is a terminal; elsewhere (CI) the
//! step runs like any other, with no stdin.

use super::process::{ProcessSpec, Termination};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{Pid, getpgrp, setpgid, tcgetpgrp, tcsetpgrp};
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

/// Gives the terminal's foreground to `pgrp`, ignoring the SIGTTOU a
/// background group gets for asking.
fn foreground(pgrp: Pid) {
    let stdin = std::io::stdin();
    // SAFETY: swapping a signal disposition to SIG_IGN and back.
    unsafe {
        let old = signal(Signal::SIGTTOU, SigHandler::SigIgn);
        let _ = tcsetpgrp(&stdin, pgrp);
        if let Ok(old) = old {
            let _ = signal(Signal::SIGTTOU, old);
        }
    }
}

/// Runs `spec` on the terminal (blocking until it ends; its timeout and
/// stdin are not used). Returns how it ended.
pub fn run_on_terminal(spec: &ProcessSpec) -> io::Result<Termination> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    // Only a `runbook` in the terminal's foreground hands it over (never
    // steal it from the shell that put `runbook` in the background).
    let ours = tcgetpgrp(std::io::stdin()).is_ok_and(|p| p == getpgrp());
    // SAFETY: only system calls between fork and exec: a new process group,
    // made the terminal's foreground group when it is ours to give.
    unsafe {
        cmd.pre_exec(move || {
            setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(io::Error::from)?;
            if ours {
                foreground(getpgrp());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", spec.program)))?;
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    // Both sides ask, as shells do, so neither order of events races.
    let _ = setpgid(pid, pid);
    if ours {
        foreground(pid);
    }
    let status = child.wait();
    if ours {
        foreground(getpgrp());
    }
    let status = status?;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => Termination::Exited(c),
        (None, Some(s)) => Termination::Signaled(s),
        (None, None) => Termination::Exited(-1),
    })
}
