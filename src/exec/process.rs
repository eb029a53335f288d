//! Running one local process the way a runbook step needs it.
//!
//! The child gets its own process group, so the operator's Ctrl-C reaches
//! the runner (which decides what to do) and not the step, and so a timeout
//! or interrupt can stop the step together with everything it started
//! (`sleep 600 &`): SIGTERM to the whole group, SIGKILL after a grace
//! period, or SIGKILL at once on a second Ctrl-C (the escalation of
//! [`super::kill`], shared with SSH steps).
//!
//! stdout and stderr are read concurrently, chunk by chunk, and handed to
//! the caller in arrival order; nothing is accumulated here. After the child
//! exits we wait a short moment for the pipes to close. A background
//! grandchild that keeps them open does not make us hang: we stop reading
//! and report the output as `leaked` (as nextest does).
//!
//! If the future is dropped mid-run (the runner gave up on it), a guard
//! kills the group.
//!
//! A process that left the group (`setsid`, `set -m`) is stopped too: the
//! child is a child subreaper and its whole family is found in `/proc`
//! ([`super::tree`]); while it runs, the [`super::watchdog`] kills it if
//! `runbook` itself dies. A step that stops on job control (it opened
//! `/dev/tty` while `runbook` has a terminal: SIGTTIN/SIGTTOU) would wait
//! forever; it is killed and reported as [`Termination::NeedsTerminal`].

use super::kill::{self, Escalation, Kill};
use super::{tree, watchdog};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

/// What the operator asked for (the runner flips it on SIGINT/SIGTERM:
/// first `Graceful`, then `Immediate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    None,
    /// Stop the step: SIGTERM to its group, SIGKILL after the grace period.
    Graceful,
    /// SIGKILL the group now.
    Immediate,
}

pub type Interrupts = tokio::sync::watch::Receiver<Interrupt>;

/// Which pipe a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How long to wait for stdout/stderr to close once the child has exited.
pub const PIPE_GRACE: Duration = Duration::from_millis(200);

const CHUNK: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct ProcessSpec {
    pub program: String,
    pub args: Vec<String>,
    /// Working directory; `None` keeps the runner's.
    pub cwd: Option<PathBuf>,
    /// Added to (or overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    /// Bytes written to stdin, then closed; `None` is `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL on timeout or graceful interrupt.
    pub kill_grace: Duration,
}

impl ProcessSpec {
    /// `program args...` with no stdin, no timeout and [`kill::KILL_GRACE`].
    pub fn new(program: impl Into<String>, args: Vec<String>) -> Self {
        ProcessSpec {
            program: program.into(),
            args,
            cwd: None,
            env: Vec::new(),
            stdin: None,
            timeout: None,
            kill_grace: kill::KILL_GRACE,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// Exited on its own with this code.
    Exited(i32),
    /// Killed by this signal, not by us.
    Signaled(i32),
    /// The timeout fired and we stopped it.
    TimedOut,
    /// The operator interrupted it and we stopped it.
    Interrupted,
    /// A process of it was stopped by job control (it tried to use the
    /// terminal) and we killed it: see [`NEEDS_TERMINAL`].
    NeedsTerminal,
}

/// Why a [`Termination::NeedsTerminal`] step failed, for the operator.
pub const NEEDS_TERMINAL: &str = "stopped by the terminal (SIGTTIN/SIGTTOU): the step tried to read \
from or write to the terminal (/dev/tty), e.g. sudo asking for a password or ssh asking about a \
host key; steps run without a terminal: give the input another way (sudo -n, \
ssh -o BatchMode=yes, a param or a secret)";

/// How often a running step is checked for a stopped process, and how many
/// checks in a row must see the same process stopped.
const STOP_CHECK: Duration = Duration::from_millis(400);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessOutcome {
    pub termination: Termination,
    /// A process of the step still held stdout/stderr open when we stopped
    /// reading; output it wrote later is lost.
    pub leaked: bool,
    pub duration: Duration,
}

impl ProcessOutcome {
    /// The exit code when the process exited on its own; `None` when it
    /// was killed by a signal, timed out or was interrupted.
    pub fn exit_code(&self) -> Option<i32> {
        match self.termination {
            Termination::Exited(c) => Some(c),
            _ => None,
        }
    }

    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0)
    }
}

/// Kills the process group, and every process of the step that left it,
/// when dropped, unless disarmed.
struct GroupGuard {
    pgid: Option<Pid>,
    /// The first process has not been reaped yet, so its pid is still its.
    root_alive: bool,
    /// The step's family as seen when we first stopped it.
    known: Vec<tree::Proc>,
}

impl GroupGuard {
    fn new(pgid: Option<Pid>) -> Self {
        if let Some(p) = pgid {
            watchdog::register(p.as_raw());
        }
        GroupGuard {
            pgid,
            root_alive: true,
            known: Vec::new(),
        }
    }

    /// `sig` to the group and to every process of the step outside it.
    fn signal(&mut self, sig: Signal) {
        let Some(pgid) = self.pgid else { return };
        let procs = tree::scan();
        let root = self.root_alive.then_some(pgid.as_raw());
        for p in tree::family(&procs, root, pgid.as_raw()) {
            if !self
                .known
                .iter()
                .any(|k| k.pid == p.pid && k.start == p.start)
            {
                self.known.push(p);
            }
        }
        // ESRCH (group already gone) is fine.
        let _ = killpg(pgid, sig);
        tree::signal_each(&self.known, sig);
    }

    /// A process of the step stopped by job control, if any.
    fn stopped(&self) -> Option<tree::Proc> {
        let pgid = self.pgid?;
        let procs = tree::scan();
        let root = self.root_alive.then_some(pgid.as_raw());
        tree::family(&procs, root, pgid.as_raw())
            .into_iter()
            .find(|p| p.is_stopped())
    }

    fn disarm(&mut self) {
        if let Some(p) = self.pgid.take() {
            watchdog::forget(p.as_raw());
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
        self.disarm();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopping {
    No,
    Timeout,
    Interrupt,
    Terminal,
}

/// A spawn failure, naming the program; a program not found on PATH is
/// said to be missing in so many words.
fn spawn_error(p: &str, e: io::Error) -> io::Error {
    let missing = e.kind() == io::ErrorKind::NotFound
        && !p.contains('/')
        && crate::exec::path::find_on_path(p).is_none();
    if missing {
        io::Error::new(
            e.kind(),
            format!("cannot run {p}: `{p}` is not installed (not found on PATH)"),
        )
    } else {
        io::Error::new(e.kind(), format!("cannot run {p}: {e}"))
    }
}

/// Runs `spec`, calling `on_output` with each chunk of stdout/stderr as it
/// arrives. See the module documentation.
///
/// An interrupt that is already set when this is called stops the process
/// right after it starts (nothing is skipped silently).
pub async fn run(
    spec: &ProcessSpec,
    on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    interrupts: Interrupts,
) -> io::Result<ProcessOutcome> {
    let started = Instant::now();
    let child = spawn(spec)?;
    let guard = GroupGuard::new(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    let mut step = Step::new(spec, child, guard, on_output, interrupts);
    let initial = *step.interrupts.borrow_and_update();
    step.apply(initial);
    while step.turn().await? {}
    step.finish(started).await
}

/// Starts `spec` in its own process group, as a child subreaper.
fn spawn(spec: &ProcessSpec) -> io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(&spec.args)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .kill_on_drop(false);
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
    cmd.spawn().map_err(|e| spawn_error(&spec.program, e))
}

/// A running step: its pipes, the interrupts, and where its stop stands,
/// moved on one `select!` at a time by [`Step::turn`].
///
/// Fields are dropped in order: when the future is dropped mid-run, the
/// pipes close, then the guard kills the group (before the child is let go).
struct Step<'a> {
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    stdin: Option<ChildStdin>,
    stdin_data: &'a [u8],
    stdin_pos: usize,
    out_buf: Vec<u8>,
    err_buf: Vec<u8>,
    on_output: &'a mut (dyn FnMut(Stream, &[u8]) + Send),
    interrupts: Interrupts,
    /// The runner still holds the sender.
    watching: bool,
    status: Option<ExitStatus>,
    stopping: Stopping,
    escalation: Escalation,
    pipes_deadline: Option<tokio::time::Instant>,
    timeout_at: Option<tokio::time::Instant>,
    leaked: bool,
    stop_check: tokio::time::Interval,
    stopped_seen: Option<tree::Proc>,
    guard: GroupGuard,
    child: tokio::process::Child,
}

impl<'a> Step<'a> {
    fn new(
        spec: &'a ProcessSpec,
        mut child: tokio::process::Child,
        guard: GroupGuard,
        on_output: &'a mut (dyn FnMut(Stream, &[u8]) + Send),
        interrupts: Interrupts,
    ) -> Self {
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut stdin = child.stdin.take();
        let stdin_data: &[u8] = spec.stdin.as_deref().unwrap_or(&[]);
        if stdin.is_some() && stdin_data.is_empty() {
            stdin = None;
        }
        Step {
            stdout,
            stderr,
            stdin,
            stdin_data,
            stdin_pos: 0,
            out_buf: vec![0u8; CHUNK],
            err_buf: vec![0u8; CHUNK],
            on_output,
            interrupts,
            watching: true,
            status: None,
            stopping: Stopping::No,
            escalation: Escalation::new(spec.kill_grace),
            pipes_deadline: None,
            timeout_at: spec.timeout.map(|t| tokio::time::Instant::now() + t),
            leaked: false,
            stop_check: tokio::time::interval_at(
                tokio::time::Instant::now() + STOP_CHECK,
                STOP_CHECK,
            ),
            stopped_seen: None,
            guard,
            child,
        }
    }

    /// Waits for the next thing to happen and handles it; `Ok(false)` when
    /// the step is over.
    async fn turn(&mut self) -> io::Result<bool> {
        if self.status.is_some() && self.stdout.is_none() && self.stderr.is_none() {
            return Ok(false);
        }
        let timeout_arm = if self.status.is_none() && self.stopping == Stopping::No {
            self.timeout_at
        } else {
            None
        };
        // Biased: the control branches (exit, timers, interrupts) come
        // first so a flood of output cannot starve them, and when both pipes
        // are ready stdout goes first, so the order is stable.
        tokio::select! {
            biased;
            r = self.child.wait(), if self.status.is_none() => self.exited(r?),
            _ = sleep_until(timeout_arm), if timeout_arm.is_some() => self.timed_out(),
            _ = sleep_until(self.escalation.kill_due()), if self.escalation.kill_due().is_some() => {
                self.kill_due();
            }
            r = self.interrupts.changed(), if self.watching => {
                match r {
                    Ok(()) => {
                        let level = *self.interrupts.borrow_and_update();
                        self.interrupted(level);
                    }
                    // The runner dropped the sender: no more interrupts.
                    Err(_) => self.watching = false,
                }
            }
            _ = self.stop_check.tick(), if self.status.is_none() && self.stopping == Stopping::No => {
                self.check_stopped();
            }
            _ = sleep_until(self.pipes_deadline), if self.status.is_some() && self.pipes_deadline.is_some() => {
                return Ok(self.pipes_overdue());
            }
            r = read_pipe(&mut self.stdout, &mut self.out_buf), if self.stdout.is_some() => {
                self.output(Stream::Stdout, r);
            }
            r = read_pipe(&mut self.stderr, &mut self.err_buf), if self.stderr.is_some() => {
                self.output(Stream::Stderr, r);
            }
            r = write_pipe(&mut self.stdin, &self.stdin_data[self.stdin_pos..]), if self.stdin.is_some() => {
                self.wrote(r);
            }
        }
        Ok(true)
    }

    /// Applies an interrupt level. A graceful interrupt only starts a stop
    /// (a timeout already stopping the step keeps its own clock); an
    /// immediate one always kills.
    fn apply(&mut self, level: Interrupt) {
        let Some(want) = kill::requested(level) else {
            return;
        };
        if want == Kill::Term && self.stopping != Stopping::No {
            return;
        }
        if self.stopping == Stopping::No {
            self.stopping = Stopping::Interrupt;
        }
        if self.escalation.raise(want) {
            self.guard.signal(want.signal());
        }
    }

    /// The first process exited.
    fn exited(&mut self, st: ExitStatus) {
        self.status = Some(st);
        self.guard.root_alive = false;
        self.stdin = None;
        if self.stopping != Stopping::No && !self.escalation.killed() {
            // Give the rest of the group until the kill deadline.
            self.pipes_deadline = self.escalation.kill_due();
        } else {
            self.pipes_deadline = Some(tokio::time::Instant::now() + PIPE_GRACE);
        }
    }

    fn timed_out(&mut self) {
        self.stopping = Stopping::Timeout;
        if self.escalation.raise(Kill::Term) {
            self.guard.signal(Signal::SIGTERM);
        }
    }

    /// The grace period after SIGTERM is over.
    fn kill_due(&mut self) {
        self.escalation.raise(Kill::Kill);
        self.guard.signal(Signal::SIGKILL);
        if self.status.is_some() {
            self.pipes_deadline = Some(tokio::time::Instant::now() + PIPE_GRACE);
        }
    }

    fn interrupted(&mut self, level: Interrupt) {
        self.apply(level);
        if self.escalation.killed() && self.status.is_some() {
            self.pipes_deadline = Some(tokio::time::Instant::now() + PIPE_GRACE);
        }
    }

    fn check_stopped(&mut self) {
        // Stopped twice in a row: it waits for a terminal it will
        // never get.
        let now = self.guard.stopped();
        if now.is_some() && now == self.stopped_seen {
            self.stopping = Stopping::Terminal;
            self.escalation.raise(Kill::Kill);
            self.guard.signal(Signal::SIGKILL);
        }
        self.stopped_seen = now;
    }

    /// The pipes are still open at their deadline: SIGKILL a step being
    /// stopped and wait a little more (`true`), or stop reading (`false`).
    fn pipes_overdue(&mut self) -> bool {
        if self.stopping != Stopping::No && !self.escalation.killed() {
            self.escalation.raise(Kill::Kill);
            self.guard.signal(Signal::SIGKILL);
            self.pipes_deadline = Some(tokio::time::Instant::now() + PIPE_GRACE);
            true
        } else {
            self.leaked = true;
            false
        }
    }

    /// A read from stdout or stderr: a chunk to pass on, or the end.
    fn output(&mut self, stream: Stream, r: io::Result<usize>) {
        let n = match r {
            Ok(n) if n > 0 => n,
            _ => {
                match stream {
                    Stream::Stdout => self.stdout = None,
                    Stream::Stderr => self.stderr = None,
                }
                return;
            }
        };
        let buf = match stream {
            Stream::Stdout => &self.out_buf,
            Stream::Stderr => &self.err_buf,
        };
        (self.on_output)(stream, &buf[..n]);
    }

    /// A write to stdin.
    fn wrote(&mut self, r: io::Result<usize>) {
        match r {
            Ok(n) if n > 0 => {
                self.stdin_pos += n;
                if self.stdin_pos >= self.stdin_data.len() {
                    self.stdin = None;
                }
            }
            // EPIPE: the child does not read stdin. Fine.
            _ => self.stdin = None,
        }
    }

    async fn finish(mut self, started: Instant) -> io::Result<ProcessOutcome> {
        if self.stopping == Stopping::No {
            // Finished normally: leave background processes that closed their
            // pipes (or leaked) alone, as a shell would.
            self.guard.disarm();
        } else if !self.escalation.killed() {
            // Stopped by us and the group is gone or going: make sure.
            self.guard.signal(Signal::SIGKILL);
            self.guard.disarm();
        } else {
            self.guard.disarm();
        }

        let status = match self.status {
            Some(s) => s,
            None => self.child.wait().await?,
        };
        let termination = match self.stopping {
            Stopping::Timeout => Termination::TimedOut,
            Stopping::Interrupt => Termination::Interrupted,
            Stopping::Terminal => Termination::NeedsTerminal,
            Stopping::No => match (status.code(), status.signal()) {
                (Some(c), _) => Termination::Exited(c),
                (None, Some(s)) => Termination::Signaled(s),
                (None, None) => Termination::Exited(-1),
            },
        };
        Ok(ProcessOutcome {
            termination,
            leaked: self.leaked,
            duration: started.elapsed(),
        })
    }
}

/// Resolves at `t`; never when there is none.
async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending::<()>().await,
    }
}

/// Reads a chunk from `pipe`; never resolves once it is closed.
async fn read_pipe(pipe: &mut Option<impl AsyncRead + Unpin>, buf: &mut [u8]) -> io::Result<usize> {
    match pipe.as_mut() {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Writes some of `data` to `pipe`; never resolves once it is closed.
async fn write_pipe(pipe: &mut Option<ChildStdin>, data: &[u8]) -> io::Result<usize> {
    match pipe.as_mut() {
        Some(s) => s.write(data).await,
        None => std::future::pending().await,
    }
}
