//! The processes a step started, found in `/proc`, including those that left
//! its process group (`setsid`, `setpgid`, `set -m`).
//!
//! Killing the step's process group is not enough: a descendant that moved
//! to its own group or session survives it. So the step's first process is
//! made a *child subreaper* (`PR_SET_CHILD_SUBREAPER`, see
//! [`make_subreaper`]): an orphan anywhere below it is re-parented to it
//! instead of to init, and the step's whole family stays one tree below
//! that process for as long as it lives. [`family`] walks that tree (plus
//! the group, for members whose parent already exited); the runner stops
//! every member, and remembers them with their start times so it can kill
//! them later even after the tree has come apart, without ever hitting a
//! process that merely reused a pid.
//!
//! This module only reads `/proc` and sends signals; it knows nothing about
//! steps.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};

/// One process as `/proc/PID/stat` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    /// `R`, `S`, `D`, `T` (stopped by a signal), `t` (traced), `Z`, ...
    pub state: char,
    /// Start time in clock ticks since boot: with `pid`, identifies the
    /// process even after its pid is reused.
    pub start: u64,
}

impl Proc {
    /// Stopped by a signal (SIGTTIN, SIGTTOU, SIGSTOP, SIGTSTP); a process
    /// stopped by a debugger (`t`) is not.
    pub fn is_stopped(&self) -> bool {
        self.state == 'T'
    }
}

/// Parses `/proc/PID/stat`. The command name is in parentheses and may
/// itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let (head, tail) = text.rsplit_once(')')?;
    let pid = head.split_once(' ')?.0.trim().parse().ok()?;
    let fields: Vec<&str> = tail.split_whitespace().collect();
    Some(Proc {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The process `pid` now, if it exists.
pub fn stat(pid: i32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The command name of `pid` (`sudo`, `bash`), for messages.
pub fn comm(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(text.trim_end().to_string())
}

/// Every process visible in `/proc`.
pub fn scan() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// `root` (when listed), every descendant of it, and every member of the
/// process group `pgid` with its descendants. Zombies are left out: they
/// are already dead.
pub fn family(procs: &[Proc], root: Option<i32>, pgid: i32) -> Vec<Proc> {
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut seen = HashSet::new();
    let mut todo: Vec<&Proc> = procs
        .iter()
        .filter(|p| p.pgrp == pgid || Some(p.pid) == root)
        .collect();
    let mut out = Vec::new();
    while let Some(p) = todo.pop() {
        if !seen.insert(p.pid) {
            continue;
        }
        if p.state != 'Z' {
            out.push(*p);
        }
        if let Some(kids) = children.get(&p.pid) {
            todo.extend(kids.iter().copied());
        }
    }
    out
}

/// Sends `sig` to each process that is still the one recorded (same pid,
/// same start time).
pub fn signal_each(procs: &[Proc], sig: Signal) {
    let me = std::process::id() as i32;
    for p in procs {
        if p.pid <= 1 || p.pid == me {
            continue;
        }
        if stat(p.pid).is_some_and(|now| now.start == p.start) {
            // ESRCH (gone meanwhile) is fine.
            let _ = kill(Pid::from_raw(p.pid), sig);
        }
    }
}

/// Makes the calling process a child subreaper. Called between `fork` and
/// `exec` of a step (the attribute survives `exec`), so only a raw,
/// async-signal-safe system call.
pub fn make_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments has no memory effects.
    let r = unsafe { nix::libc::prctl(nix::libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let line =
            "4242 (a) b (c) S 17 4242 4242 34816 4242 4194304 1 2 3 4 5 6 7 8 20 0 1 0 998877 1 2";
        let p = parse_stat(line).unwrap();
        assert_eq!(
            p,
            Proc {
                pid: 4242,
                ppid: 17,
                pgrp: 4242,
                state: 'S',
                start: 998877
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn family_follows_the_tree_and_the_group() {
        let p = |pid, ppid, pgrp, state| Proc {
            pid,
            ppid,
            pgrp,
            state,
            start: 1,
        };
        let procs = [
            p(10, 1, 10, 'S'),  // root
            p(11, 10, 10, 'S'), // in the group
            p(12, 11, 12, 'S'), // left the group, still below the root
            p(13, 12, 13, 'T'), // below that
            p(14, 1, 10, 'S'),  // in the group, parent gone
            p(15, 14, 15, 'S'), // below it
            p(16, 10, 10, 'Z'), // a zombie
            p(20, 1, 20, 'S'),  // unrelated
        ];
        let mut got: Vec<i32> = family(&procs, Some(10), 10).iter().map(|p| p.pid).collect();
        got.sort();
        assert_eq!(got, vec![10, 11, 12, 13, 14, 15]);
        let mut got: Vec<i32> = family(&procs, None, 10).iter().map(|p| p.pid).collect();
        got.sort();
        assert_eq!(got, vec![10, 11, 12, 13, 14, 15]);
    }
}
