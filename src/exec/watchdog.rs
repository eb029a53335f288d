//! A step must not outlive `runbook`, even when `runbook` is killed with
//! SIGKILL (no handler runs, no guard drops).
//!
//! [`start`] forks a small watchdog process before the async runtime exists
//! (the process is single-threaded then, so forking is safe). The watchdog
//! holds the read end of a pipe whose write end only `runbook` holds, and
//! learns from it which steps run (`+PID START` when one starts, `-PID`
//! when it is over). When `runbook` dies, however it dies, the kernel
//! closes the write end; the watchdog reads end-of-file and kills every
//! step still registered: its process group and its whole family
//! ([`super::tree::family`]: the step's first process is a child subreaper,
//! so descendants that left the group are still below it), then exits.
//! When `runbook` ends normally nothing is registered any more and the
//! watchdog just exits.
//!
//! The watchdog has its own process group and ignores the terminal's
//! signals (Ctrl-C at the gate must not kill it), holds no file of
//! `runbook` (stdio on `/dev/null`, every other descriptor closed: it must
//! not keep a pipe reader or a lock alive), and never runs user code.

use super::tree;
use nix::sys::signal::{SigHandler, Signal, killpg, signal};
use nix::unistd::{ForkResult, Pid};
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

static CHANNEL: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

/// Starts the watchdog. Call once, before any thread is started; does
/// nothing (and says so) when that is not possible.
pub fn start() -> std::io::Result<()> {
    if CHANNEL.get().is_some() {
        return Ok(());
    }
    if !single_threaded() {
        return Err(std::io::Error::other(
            "the watchdog must start before any thread",
        ));
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the process is single-threaded (checked above), so the child
    // may run ordinary code.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            drop(write);
            watch(read)
        }
        ForkResult::Parent { .. } => {
            drop(read);
            let _ = CHANNEL.set(Mutex::new(std::fs::File::from(write)));
            Ok(())
        }
    }
}

fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim() == "1"))
        })
        .unwrap_or(false)
}

/// Registers the first process of a step (also its process group).
pub fn register(pid: i32) {
    if let Some(p) = tree::stat(pid) {
        send(&format!("+{} {}\n", p.pid, p.start));
    }
}

/// The step is over: the watchdog forgets it.
pub fn forget(pid: i32) {
    send(&format!("-{pid}\n"));
}

fn send(line: &str) {
    if let Some(ch) = CHANNEL.get()
        && let Ok(mut f) = ch.lock()
    {
        // One short line is written whole; a dead watchdog (EPIPE) is
        // not an error for the run.
        let _ = f.write_all(line.as_bytes());
    }
}

fn watch(read: OwnedFd) -> ! {
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGPIPE,
    ] {
        // SAFETY: ignoring a signal installs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    isolate(read.as_raw_fd());
    let mut steps: Vec<tree::Proc> = Vec::new();
    let reader = std::io::BufReader::new(std::fs::File::from(read));
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix('+') {
            let mut it = rest.split(' ').filter_map(|x| x.parse::<u64>().ok());
            if let (Some(pid), Some(start)) = (it.next(), it.next())
                && let Ok(pid) = i32::try_from(pid)
            {
                steps.push(tree::Proc {
                    pid,
                    ppid: 0,
                    pgrp: pid,
                    state: 'S',
                    start,
                });
            }
        } else if let Some(pid) = line.strip_prefix('-') {
            steps.retain(|p| Some(p.pid) != pid.parse().ok());
        }
    }
    // `runbook` is gone: nothing may outlive it.
    for step in &steps {
        kill_step(step);
    }
    // SAFETY: `_exit` ends the process without running the parent's
    // atexit handlers or flushing its buffers (which this copy must not).
    unsafe { nix::libc::_exit(0) }
}

fn kill_step(step: &tree::Proc) {
    let procs = tree::scan();
    let alive = tree::stat(step.pid).is_some_and(|p| p.start == step.start);
    let family = tree::family(&procs, alive.then_some(step.pid), step.pid);
    let _ = killpg(Pid::from_raw(step.pid), Signal::SIGKILL);
    tree::signal_each(&family, Signal::SIGKILL);
}

/// stdio to `/dev/null`, every other descriptor but `keep` closed.
fn isolate(keep: i32) {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this process.
            unsafe { nix::libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        if fd > 2 && fd != keep {
            // SAFETY: closing descriptors this process will never use; the
            // one the directory listing used is already closed (EBADF).
            unsafe { nix::libc::close(fd) };
        }
    }
}
