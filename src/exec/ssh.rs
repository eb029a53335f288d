//! Running steps on remote machines over SSH.
//!
//! One multiplexed OpenSSH connection per target (the system `ssh` client
//! as ControlMaster, through the `openssh` crate's process mux), opened on
//! first use and reused by every later step on that target. Remote steps
//! behave like local ones: a per-target state directory on the remote
//! machine carries the exported environment and the working directory from
//! one step to the next, and a timeout or an interrupt kills the remote
//! process group over the same connection, so nothing keeps running on the
//! machine after the step is over: SIGTERM, then SIGKILL after the grace
//! period, the escalation of [`super::kill`] that local steps follow too.

use super::kill::{self, Escalation, Kill};
use crate::exec::inventory::SshTarget;
use crate::exec::process::{Interrupts, ProcessOutcome, Stream, Termination};
use futures_util::stream::StreamExt;
use openssh::{ChildStderr, ChildStdout, Session, Stdio};
use remote::{Delivery, EndMarker, Pipe, RemoteStep};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

mod remote;

/// How long a master connection with no step running stays open.
const MASTER_IDLE: std::num::NonZeroUsize = std::num::NonZeroUsize::MIN.saturating_add(299);

/// Where one target's output goes during a fan-out.
pub type OutputSink = Box<dyn FnMut(Stream, &[u8]) + Send>;

/// Settings that apply to every connection of a pool.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// An ssh_config file passed to `ssh -F` (instead of `~/.ssh/config`).
    pub config_file: Option<PathBuf>,
    /// A known_hosts file used instead of `~/.ssh/known_hosts`.
    pub known_hosts_file: Option<PathBuf>,
    /// Time between SIGTERM and SIGKILL to the remote process group.
    pub kill_grace: Duration,
    /// After the step's shell has exited, how long to wait for the remote
    /// side to close the output before reporting the step as `leaked`
    /// (a background process still holds stdout or stderr).
    pub leak_grace: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            config_file: None,
            known_hosts_file: None,
            kill_grace: kill::KILL_GRACE,
            leak_grace: Duration::from_millis(500),
        }
    }
}

impl SshOptions {
    /// The defaults, with `config_file` from `RUNBOOK_SSH_CONFIG` and
    /// `known_hosts_file` from `RUNBOOK_SSH_KNOWN_HOSTS` when they are set.
    pub fn from_env() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        SshOptions {
            config_file: path("RUNBOOK_SSH_CONFIG"),
            known_hosts_file: path("RUNBOOK_SSH_KNOWN_HOSTS"),
            ..SshOptions::default()
        }
    }
}

/// Why a step could not be run on a target. Every message names the target.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{target}: cannot connect: {message}")]
    Connect { target: String, message: String },
    #[error("{target}: host key verification failed: {message}")]
    HostKey { target: String, message: String },
    #[error("{target}: authentication failed: {message}")]
    Auth { target: String, message: String },
    #[error("{target}: the connection was lost: {message}")]
    Disconnected { target: String, message: String },
    #[error("{target}: {message}")]
    Remote { target: String, message: String },
}

impl SshError {
    /// The target this error is about, as shown in the message.
    pub fn target(&self) -> &str {
        match self {
            SshError::Connect { target, .. }
            | SshError::HostKey { target, .. }
            | SshError::Auth { target, .. }
            | SshError::Disconnected { target, .. }
            | SshError::Remote { target, .. } => target,
        }
    }
}

/// One open connection and the remote state directory of its shell kernel.
struct Conn {
    session: Session,
    /// The state directory's name (`remote::state_path`).
    state: String,
    /// The directory is gone: the target's last step removed it.
    removed: AtomicBool,
}

/// A target's place in the pool: its connection once made, and a lock so
/// that steps on one target run one at a time (they share its state).
#[derive(Default)]
struct SlotInner {
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    busy: tokio::sync::Mutex<()>,
    /// The next step here is the last of the run ([`SshPool::mark_last`]).
    last: AtomicBool,
}

type Slot = Arc<SlotInner>;

/// The connections of one run, one per target.
pub struct SshPool {
    // Field order matters: the connections are dropped (which closes their
    // masters through the control sockets) before the socket directory.
    conns: Mutex<HashMap<SshTarget, Slot>>,
    options: SshOptions,
    control_dir: tempfile::TempDir,
}

impl SshPool {
    /// A pool with no connections yet. Fails only when the local directory
    /// for the control sockets cannot be created.
    pub fn new(options: SshOptions) -> std::io::Result<Self> {
        // Control socket paths must fit in sun_path (108 bytes): keep the
        // directory short and in /tmp rather than a long $TMPDIR.
        let control_dir = tempfile::Builder::new()
            .prefix("runbook-ssh.")
            .tempdir_in(short_tmp())?;
        Ok(SshPool {
            options,
            control_dir,
            conns: Mutex::new(HashMap::new()),
        })
    }

    /// The options this pool was made with.
    pub fn options(&self) -> &SshOptions {
        &self.options
    }

    /// The local directory holding the control sockets of this pool's
    /// master connections.
    pub fn control_dir(&self) -> &std::path::Path {
        self.control_dir.path()
    }

    /// How many targets currently have an open connection.
    pub fn open_connections(&self) -> usize {
        self.slots()
            .iter()
            .filter(|(_, slot)| slot.conn.try_lock().map(|c| c.is_some()).unwrap_or(true))
            .count()
    }

    /// Connects (or reuses the connection) and checks that the master is
    /// alive: for `requires: hosts:` preconditions.
    pub async fn check_reachable(&self, target: &SshTarget) -> Result<(), SshError> {
        let conn = self.connection(&self.slot(target), target).await?;
        conn.session
            .check()
            .await
            .map_err(|e| classify(target, "", e))
    }

    /// Runs a shell step on `target` with `set -eo pipefail`, streaming its
    /// output. The exported environment and working directory carry over
    /// from the previous step on the same target.
    pub async fn run(
        &self,
        target: &SshTarget,
        script: &str,
        timeout: Option<Duration>,
        on_output: &mut (dyn FnMut(Stream, &[u8]) + Send),
        interrupts: Interrupts,
    ) -> Result<ProcessOutcome, SshError> {
        let started = Instant::now();
        let interrupted_outcome = || ProcessOutcome {
            termination: Termination::Interrupted,
            leaked: false,
            duration: started.elapsed(),
        };
        if interrupted(&interrupts).is_some() {
            return Ok(interrupted_outcome());
        }
        let slot = self.slot(target);
        let _busy = slot.busy.lock().await;
        // Connecting can take up to the connect timeout: an interrupt
        // meanwhile ends the step before it starts.
        let conn = tokio::select! {
            conn = self.connection(&slot, target) => conn?,
            _ = until_interrupted(interrupts.clone()) => {
                return Ok(interrupted_outcome());
            }
        };
        let last = slot.last.swap(false, Ordering::Relaxed);
        let step = RemoteStep::new(&conn.state, last);
        conn.removed.store(false, Ordering::Relaxed);
        let (child, stdout, stderr) = start(&conn.session, &step, target, script).await?;

        let mut follow = Follow {
            session: &conn.session,
            step: &step,
            on_output,
            interrupts,
            deadline: timeout.map(|t| tokio::time::Instant::now() + t),
            leak_grace: self.options.leak_grace,
            out: Pipe::new(stdout),
            err: Pipe::new(stderr),
            marker: EndMarker::new(&step.token),
            status: None,
            watching_interrupts: true,
            stop_reason: None,
            escalation: Escalation::new(self.options.kill_grace),
            resignal_at: None,
            leak_at: None,
            leaked: false,
        };
        let wait = child.wait();
        tokio::pin!(wait);
        follow.run(wait).await;
        let (termination, leaked) = follow.termination(target).await?;
        if last && termination == Termination::Exited(0) {
            conn.removed.store(true, Ordering::Relaxed);
        }
        Ok(ProcessOutcome {
            termination,
            leaked,
            duration: started.elapsed(),
        })
    }

    /// Runs the same step on many targets, at most `forks` at a time. Each
    /// target's output goes to its own sink from `make_sink`; the results
    /// come back in the order of `targets`. A target that cannot be reached
    /// fails on its own.
    pub async fn run_many<F>(
        &self,
        targets: &[SshTarget],
        forks: usize,
        script: &str,
        timeout: Option<Duration>,
        make_sink: F,
        interrupts: Interrupts,
    ) -> Vec<(SshTarget, Result<ProcessOutcome, SshError>)>
    where
        F: Fn(&SshTarget) -> OutputSink,
    {
        // Collected first: a lazy `map` over borrowed targets makes the
        // future lose `Send` (rust-lang/rust#102211).
        let runs: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(i, target)| {
                let mut sink = make_sink(target);
                let interrupts = interrupts.clone();
                async move {
                    let result = self
                        .run(target, script, timeout, &mut *sink, interrupts)
                        .await;
                    (i, target.clone(), result)
                }
            })
            .collect();
        let mut results: Vec<_> = futures_util::stream::iter(runs)
            .buffer_unordered(forks.max(1))
            .collect()
            .await;
        results.sort_by_key(|(i, _, _)| *i);
        results.into_iter().map(|(_, t, r)| (t, r)).collect()
    }

    /// Says that the next step on each of `targets` is the last one of the
    /// run there: when it succeeds it removes the remote state directory
    /// itself, and [`close_all`](Self::close_all) has one session less to
    /// open per target. A later step on the target makes the directory
    /// anew, and the pool removes it at the end as before.
    pub fn mark_last(&self, targets: &[SshTarget]) {
        for t in targets {
            self.slot(t).last.store(true, Ordering::Relaxed);
        }
    }

    /// Removes the remote state directories the last steps did not, and
    /// closes every connection, all at once.
    pub async fn close_all(&self) {
        let slots: Vec<(SshTarget, Slot)> = match self.conns.lock() {
            Ok(mut conns) => conns.drain().collect(),
            Err(poisoned) => poisoned.into_inner().drain().collect(),
        };
        let closes = slots.into_iter().map(|(_, slot)| async move {
            let Some(conn) = Arc::into_inner(slot).and_then(|s| s.conn.into_inner()) else {
                return;
            };
            if !conn.removed.load(Ordering::Relaxed) {
                let _ = conn
                    .session
                    .raw_command(format!("rm -rf -- {}", remote::state_path(&conn.state)))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await;
            }
            if let Some(conn) = Arc::into_inner(conn) {
                let _ = conn.session.close().await;
            }
        });
        futures_util::future::join_all(closes).await;
    }

    fn slots(&self) -> Vec<(SshTarget, Slot)> {
        let conns = match self.conns.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        conns.iter().map(|(t, s)| (t.clone(), s.clone())).collect()
    }

    fn slot(&self, target: &SshTarget) -> Slot {
        let mut conns = match self.conns.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        conns.entry(target.clone()).or_default().clone()
    }

    /// The target's connection: made on first use, and made again (keeping
    /// the remote state directory) when the master has died since, e.g.
    /// after a network outage while an operator pondered a gate.
    async fn connection(&self, slot: &Slot, target: &SshTarget) -> Result<Arc<Conn>, SshError> {
        let mut current = slot.conn.lock().await;
        let mut previous_state = None;
        if let Some(conn) = current.as_ref() {
            if conn.session.check().await.is_ok() {
                return Ok(conn.clone());
            }
            previous_state = Some(conn.state.clone());
        }
        *current = None;
        let conn = self.connect(target, previous_state.as_deref()).await?;
        *current = Some(conn.clone());
        Ok(conn)
    }

    async fn connect(
        &self,
        target: &SshTarget,
        previous_state: Option<&str>,
    ) -> Result<Arc<Conn>, SshError> {
        let connect_secs = target.connect_timeout.as_secs().max(1);
        // ConnectTimeout covers the TCP connect and the banner; the outer
        // limit also covers a server that stalls during authentication.
        // An idle master goes away by itself (ControlPersist), so a runbook
        // process that is killed outright leaves nothing behind for long;
        // the next step after a long pause reconnects (see `connection`).
        let limit = Duration::from_secs(connect_secs * 2 + 10);
        let launch = super::ssh_master::launch(
            target,
            &self.options,
            self.control_dir.path(),
            connect_secs,
            MASTER_IDLE,
        );
        let session = match tokio::time::timeout(limit, launch).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => return Err(classify(target, "", e)),
            Err(_) => {
                return Err(SshError::Connect {
                    target: target.display_name(),
                    message: format!("no SSH session after {}s", limit.as_secs()),
                });
            }
        };
        // The state directory is made by the first step (see `remote`); a
        // new master after an outage keeps the old one.
        let state = previous_state.map_or_else(remote::state_name, str::to_string);
        Ok(Arc::new(Conn {
            session,
            state,
            removed: AtomicBool::new(false),
        }))
    }
}

/// Starts `step` over `session` and writes `script` to its stdin: the
/// ssh client and its stdout and stderr.
async fn start<'s>(
    session: &'s Session,
    step: &RemoteStep,
    target: &SshTarget,
    script: &str,
) -> Result<(openssh::Child<&'s Session>, ChildStdout, ChildStderr), SshError> {
    let mut child = session
        .raw_command(step.command())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .await
        .map_err(|e| classify(target, "cannot start the step", e))?;

    if let Some(mut stdin) = child.stdin().take() {
        // A failed write means the remote side is already gone; the exit
        // status below says why.
        let _ = stdin.write_all(script.as_bytes()).await;
        let _ = stdin.shutdown().await;
    }
    let (Some(stdout), Some(stderr)) = (child.stdout().take(), child.stderr().take()) else {
        return Err(SshError::Remote {
            target: target.display_name(),
            message: "the ssh client gave no output pipes".to_string(),
        });
    };
    Ok((child, stdout, stderr))
}

/// A remote step while it runs: its output, its end marker, the ssh
/// client's exit, and where its stop stands.
struct Follow<'a> {
    session: &'a Session,
    step: &'a RemoteStep,
    on_output: &'a mut (dyn FnMut(Stream, &[u8]) + Send),
    interrupts: Interrupts,
    deadline: Option<tokio::time::Instant>,
    leak_grace: Duration,
    out: Pipe<ChildStdout>,
    err: Pipe<ChildStderr>,
    marker: EndMarker,
    status: Option<Result<std::process::ExitStatus, openssh::Error>>,
    watching_interrupts: bool,
    /// Why the step is being stopped (the first reason sticks); `escalation`
    /// says how far.
    stop_reason: Option<Termination>,
    escalation: Escalation,
    resignal_at: Option<tokio::time::Instant>,
    leak_at: Option<tokio::time::Instant>,
    leaked: bool,
}

impl Follow<'_> {
    /// Streams the output until both pipes are closed and the client has
    /// exited (`wait` is its exit), stopping the step on timeout or
    /// interrupt, or until it is no use waiting any longer.
    async fn run<W>(&mut self, mut wait: std::pin::Pin<&mut W>)
    where
        W: std::future::Future<Output = Result<std::process::ExitStatus, openssh::Error>>,
    {
        let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
        loop {
            if self.out.done && self.err.done && self.status.is_some() {
                break;
            }
            if self.marker.rc.is_some() && self.leak_at.is_none() && self.stop_reason.is_none() {
                self.leak_at = Some(tokio::time::Instant::now() + self.leak_grace);
            }
            let mut request: Option<(Termination, Kill)> = None;
            tokio::select! {
                chunk = self.out.read(), if !self.out.done => {
                    if let Some(bytes) = chunk {
                        (self.on_output)(Stream::Stdout, bytes);
                    }
                }
                chunk = self.err.read(), if !self.err.done => {
                    let ended = self.marker.rc.is_some();
                    let bytes = match chunk {
                        Some(bytes) => self.marker.push(bytes),
                        None => self.marker.finish(),
                    };
                    if !ended && self.marker.rc.is_some() && self.stop_reason.is_some() {
                        // The shell ended while being stopped: what is left
                        // of its group gets the signal again, now (a child
                        // caught between fork and exec can miss the first).
                        self.resignal_at = Some(tokio::time::Instant::now());
                    }
                    if !bytes.is_empty() {
                        (self.on_output)(Stream::Stderr, &bytes);
                    }
                }
                s = &mut wait, if self.status.is_none() => {
                    self.status = Some(s);
                }
                _ = tokio::time::sleep_until(self.deadline.unwrap_or(far)),
                    if self.deadline.is_some() && self.stop_reason.is_none() && self.marker.rc.is_none() => {
                    request = Some((Termination::TimedOut, Kill::Term));
                }
                changed = self.interrupts.changed(), if self.watching_interrupts && self.marker.rc.is_none() => {
                    request = self.interrupt_request(changed);
                }
                _ = tokio::time::sleep_until(self.escalation.kill_due().unwrap_or(far)), if self.escalation.kill_due().is_some() => {
                    if let Some(why) = self.stop_reason {
                        request = Some((why, Kill::Kill));
                    }
                }
                _ = tokio::time::sleep_until(self.resignal_at.unwrap_or(far)), if self.resignal_at.is_some() => {
                    self.resignal_at = None;
                    request = self.stop_reason.zip(self.escalation.sent());
                }
                _ = tokio::time::sleep_until(self.escalation.give_up_at().unwrap_or(far)), if self.escalation.give_up_at().is_some() => {
                    // The remote side did not close even after SIGKILL:
                    // stop waiting; dropping the child ends the local client.
                    break;
                }
                _ = tokio::time::sleep_until(self.leak_at.unwrap_or(far)), if self.leak_at.is_some() && self.stop_reason.is_none() => {
                    self.leaked = true;
                    break;
                }
            }
            if let Some((why, kill)) = request {
                self.stop(why, kill).await;
            }
        }
    }

    /// What an interrupt asks of the step, if anything.
    fn interrupt_request(
        &mut self,
        changed: Result<(), tokio::sync::watch::error::RecvError>,
    ) -> Option<(Termination, Kill)> {
        match changed {
            Err(_) => {
                self.watching_interrupts = false;
                None
            }
            Ok(()) => match interrupted(&self.interrupts) {
                Some(Kill::Kill) => Some((Termination::Interrupted, Kill::Kill)),
                Some(Kill::Term) if self.stop_reason.is_none() => {
                    Some((Termination::Interrupted, Kill::Term))
                }
                _ => None,
            },
        }
    }

    /// Sends `kill` to the remote process group, for `why`.
    async fn stop(&mut self, why: Termination, kill: Kill) {
        // The first reason sticks: a timeout that is then
        // interrupted is still a timeout.
        let why = self.stop_reason.unwrap_or(why);
        // Even after the step's shell has ended (its end marker came), the
        // group is signalled: what is left of it holds the channel open.
        let delivery = self.step.signal(self.session, kill).await;
        let now = tokio::time::Instant::now();
        // Right at the start the step may not have recorded its process
        // group yet: try again shortly. A signal that may have been lost is
        // sent again, less often; one that was sent is never repeated (the
        // step may be cleaning up in its own trap).
        let again = match delivery {
            Delivery::Sent => None,
            Delivery::NotYet => Some(Duration::from_millis(100)),
            Delivery::Unknown => Some(Duration::from_secs(1)),
        };
        self.resignal_at = again.filter(|_| self.status.is_none()).map(|d| now + d);
        // A step up starts the next grace period: SIGKILL after
        // SIGTERM, giving up after SIGKILL.
        self.escalation.raise(kill);
        self.stop_reason = Some(why);
    }

    /// How the step ended, and whether its output leaked.
    async fn termination(self, target: &SshTarget) -> Result<(Termination, bool), SshError> {
        let mut leaked = self.leaked;
        let termination = match (self.stop_reason, self.marker.rc, self.status) {
            (Some(why), _, _) => why,
            (None, Some(rc), _) => Termination::Exited(rc),
            (None, None, Some(Ok(status))) => exit_termination(status),
            (None, None, Some(Err(openssh::Error::Remote(e))))
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                // The crate reports exit status 127 as "command not found".
                Termination::Exited(127)
            }
            (None, None, Some(Err(openssh::Error::RemoteProcessTerminated))) => {
                // ssh exits 255 both when the connection drops and when the
                // remote shell was killed by a signal; the master tells.
                match self.session.check().await {
                    Err(e) => return Err(classify(target, "", e)),
                    // Our EXIT trap runs for every catchable signal, so a
                    // shell that died without it got SIGKILL.
                    Ok(()) => Termination::Signaled(9),
                }
            }
            (None, None, Some(Err(e))) => return Err(classify(target, "", e)),
            (None, None, None) => {
                leaked = true;
                Termination::Exited(255)
            }
        };
        Ok((termination, leaked))
    }
}

/// Resolves when an interrupt arrives; never when the sender is gone.
async fn until_interrupted(mut interrupts: Interrupts) {
    loop {
        if interrupted(&interrupts).is_some() {
            return;
        }
        if interrupts.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn interrupted(interrupts: &Interrupts) -> Option<Kill> {
    kill::requested(*interrupts.borrow())
}

fn exit_termination(status: std::process::ExitStatus) -> Termination {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Termination::Exited(code),
        (None, Some(sig)) => Termination::Signaled(sig),
        (None, None) => Termination::Exited(255),
    }
}

/// Turns an `openssh` error into one that names the target and says what
/// went wrong in the words of the ssh client.
fn classify(target: &SshTarget, context: &str, e: openssh::Error) -> SshError {
    let name = target.display_name();
    let with_context = |m: String| {
        if context.is_empty() {
            m
        } else {
            format!("{context}: {m}")
        }
    };
    match e {
        openssh::Error::Connect(io) | openssh::Error::Master(io) => {
            let message = one_line(&io.to_string());
            let message = if message.is_empty() {
                "ssh exited without saying why".to_string()
            } else {
                message
            };
            if message.contains("Host key verification failed")
                || message.contains("host key is known")
                || message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            {
                SshError::HostKey {
                    target: name,
                    message,
                }
            } else if message.contains("Permission denied") {
                SshError::Auth {
                    target: name,
                    message,
                }
            } else {
                SshError::Connect {
                    target: name,
                    message,
                }
            }
        }
        openssh::Error::Disconnected | openssh::Error::RemoteProcessTerminated => {
            SshError::Disconnected {
                target: name,
                message: with_context("the master connection is gone".to_string()),
            }
        }
        other => {
            let mut message = other.to_string();
            let mut source = std::error::Error::source(&other);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            SshError::Remote {
                target: name,
                message: with_context(message),
            }
        }
    }
}

/// ssh's log, trimmed, on one line: the lines joined with "; ", without
/// the "Warning: Permanently added" noise.
fn one_line(s: &str) -> String {
    s.lines()
        .map(|l| l.trim().trim_start_matches("ssh: "))
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn short_tmp() -> PathBuf {
    let tmp = PathBuf::from("/tmp");
    if tmp.is_dir() {
        tmp
    } else {
        std::env::temp_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::process::Interrupt;

    #[test]
    fn pool_and_run_future_can_move_between_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let pool = SshPool::new(SshOptions::default()).expect("control dir");
        send_sync(&pool);
        let target = SshTarget::parse_literal("root@127.0.0.1:1").expect("literal");
        let (_tx, rx) = tokio::sync::watch::channel(Interrupt::None);
        let mut sink = |_: Stream, _: &[u8]| {};
        let fut = pool.run(&target, "true", None, &mut sink, rx.clone());
        send(&fut);
        let many = pool.run_many(&[], 1, "true", None, |_| Box::new(|_, _| {}), rx);
        send(&many);
    }

    #[test]
    fn the_state_directory_is_unpredictable_and_a_single_word() {
        let (a, b) = (remote::state_name(), remote::state_name());
        assert_ne!(a, b);
        assert!(
            a.starts_with("runbook.") && a.len() == "runbook.".len() + 32,
            "{a}"
        );
        assert_eq!(
            remote::state_path("runbook.ab"),
            "\"${TMPDIR:-/tmp}\"/'runbook.ab'"
        );
    }

    #[test]
    fn ssh_log_on_one_line() {
        assert_eq!(
            one_line(
                "Warning: Permanently added 'x' (ED25519) to the list of known hosts.\r\nroot@x: Permission denied (publickey).\r\n"
            ),
            "root@x: Permission denied (publickey)."
        );
    }
}
