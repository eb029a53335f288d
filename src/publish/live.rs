//! The incident, kept up to date while the run goes (`run --publish`): a
//! [`LiveSink`] fed by the engine's events turns the run start, each phase
//! reached, each gate decision and each failure into incident timeline
//! events, moves the phase label, and posts an `internal` step's output as
//! an internal note. The engine knows nothing of GitLab: this is one more
//! sink.
//!
//! Sending never holds the run up: the sink only queues, and one worker
//! task sends the queue in order. A request that fails is recorded, and
//! retried when the run is over ([`Live::finish`], with backoff, a few
//! rounds); what still failed is in the record's `publish` section. A
//! network failure never changes the run's result or exit code.

use super::{GitLab, GitLabTarget, PublishConfig, PublishError};
use crate::document::Document;
use crate::engine::events::{RunEvent, Sink};
use crate::phase::{PhasePoint, Reached};
use crate::record::{PublishEvent, PublishRecord, RunResult, StepRecord, StepStatus};
use crate::secrets::Redactor;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// One request to make.
#[derive(Debug, Clone)]
enum Request {
    Timeline {
        note: String,
    },
    /// The phase label on, the others off; `close`: the `closed` phase
    /// also closes the incident.
    Label {
        add: String,
        remove: Vec<String>,
        close: bool,
    },
    InternalNote {
        body: String,
    },
}

#[derive(Debug, Clone)]
enum Status {
    Pending,
    Sent,
    Failed { message: String, retry: bool },
    Superseded,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: &'static str,
    text: String,
    occurred_at: String,
    request: Request,
    status: Status,
    attempts: u32,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    /// The incident's global id, once known.
    gid: Option<String>,
    /// GitLab refused the token: nothing more is sent.
    refused: Option<String>,
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

enum Msg {
    Send(usize),
    Done,
}

/// The worker's side: what was queued, and how to end.
pub struct Live {
    state: Shared,
    tx: mpsc::UnboundedSender<Msg>,
    worker: tokio::task::JoinHandle<()>,
    gitlab: Arc<GitLab>,
    target: String,
}

/// How long [`Live::finish`] waits, and how it retries.
#[derive(Debug, Clone)]
pub struct FinishPolicy {
    /// The most it waits for the queue to be sent.
    pub drain: Duration,
    /// The wait before each retry round of what failed.
    pub backoff: Vec<Duration>,
    /// The most the retries may take in all: a GitLab that hangs cannot
    /// keep the run from ending (each request also gives up after 15 s).
    pub retry_budget: Duration,
}

impl Default for FinishPolicy {
    fn default() -> Self {
        FinishPolicy {
            drain: Duration::from_secs(60),
            backoff: vec![
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(2),
            ],
            retry_budget: Duration::from_secs(60),
        }
    }
}

/// Starts the worker (on the current tokio runtime) and returns it with the
/// sink the engine feeds. Every text sent goes through `redactor`.
pub fn start(
    cfg: &PublishConfig,
    target: &GitLabTarget,
    doc: &Document,
    redactor: Redactor,
) -> Result<(Live, LiveSink), PublishError> {
    let gitlab = Arc::new(GitLab::new(cfg, target, Duration::from_secs(15))?);
    let state: Shared = Arc::default();
    let (tx, rx) = mpsc::unbounded_channel();
    let worker = tokio::spawn(work(gitlab.clone(), state.clone(), rx));
    let sink = LiveSink {
        state: state.clone(),
        tx: tx.clone(),
        points: crate::phase::points(doc),
        reached: Vec::new(),
        labels: crate::phase::labels(&doc.front),
        internal: super::public::internal_steps(doc),
        redactor,
        current: None,
        started: false,
    };
    let live = Live {
        state,
        tx,
        worker,
        gitlab,
        target: target.to_string(),
    };
    Ok((live, sink))
}

async fn work(gitlab: Arc<GitLab>, state: Shared, mut rx: mpsc::UnboundedReceiver<Msg>) {
    while let Some(Msg::Send(i)) = rx.recv().await {
        attempt(&gitlab, &state, i).await;
    }
}

/// Sends entry `i` once and records how it went.
async fn attempt(gitlab: &GitLab, state: &Shared, i: usize) {
    let (request, at, gid, refused) = {
        let s = lock(state);
        let Some(e) = s.entries.get(i) else { return };
        (
            e.request.clone(),
            e.occurred_at.clone(),
            s.gid.clone(),
            s.refused.clone(),
        )
    };
    let requested = refused.is_none();
    let result = match refused {
        Some(why) => Err(Status::Failed {
            message: format!("not sent: {why}"),
            retry: false,
        }),
        None => send(gitlab, state, &request, &at, gid).await.map_err(|e| {
            if matches!(e, PublishError::Unauthorized { .. }) {
                lock(state).refused = Some(e.to_string());
            }
            Status::Failed {
                message: e.to_string(),
                retry: e.retryable(),
            }
        }),
    };
    let mut s = lock(state);
    if let Some(e) = s.entries.get_mut(i) {
        if requested {
            e.attempts += 1;
        }
        e.status = match result {
            Ok(()) => Status::Sent,
            Err(st) => st,
        };
    }
}

async fn send(
    gitlab: &GitLab,
    state: &Shared,
    request: &Request,
    at: &str,
    gid: Option<String>,
) -> Result<(), PublishError> {
    match request {
        Request::Timeline { note } => {
            let gid = match gid {
                Some(g) => g,
                None => {
                    let g = gitlab.issue_gid().await?;
                    lock(state).gid = Some(g.clone());
                    g
                }
            };
            gitlab.timeline_event(&gid, note, at).await.map(|_| ())
        }
        Request::Label { add, remove, close } => gitlab.move_label(add, remove, *close).await,
        Request::InternalNote { body } => gitlab.note(body, true).await.map(|_| ()),
    }
}

impl Live {
    /// Waits for the queue to be sent (at most `policy.drain`), retries what
    /// failed and may succeed later, and returns the record of every
    /// request. `stop` ends the wait at once (the operator's Ctrl-C):
    /// what was not sent yet is recorded as such.
    pub async fn finish(
        self,
        policy: &FinishPolicy,
        stop: impl std::future::Future<Output = ()>,
    ) -> PublishRecord {
        let Live {
            state,
            tx,
            mut worker,
            gitlab,
            target,
        } = self;
        let _ = tx.send(Msg::Done);
        let stopped = tokio::select! {
            () = send_the_rest(&state, &mut worker, &gitlab, policy) => false,
            () = stop => true,
        };
        if stopped {
            worker.abort();
            give_up_pending(
                &state,
                "not sent: the operator stopped waiting for GitLab (Ctrl-C)",
                false,
            );
        }
        let s = lock(&state);
        PublishRecord {
            target,
            events: s.entries.iter().map(event_record).collect(),
            final_upload: None,
        }
    }
}

/// The queue drained (at most `policy.drain`), then the retry rounds.
async fn send_the_rest(
    state: &Shared,
    worker: &mut tokio::task::JoinHandle<()>,
    gitlab: &GitLab,
    policy: &FinishPolicy,
) {
    if tokio::time::timeout(policy.drain, &mut *worker)
        .await
        .is_err()
    {
        worker.abort();
        let why = format!(
            "not sent: GitLab did not answer within {}s",
            policy.drain.as_secs()
        );
        give_up_pending(state, &why, true);
    }
    let deadline = tokio::time::Instant::now() + policy.retry_budget;
    'rounds: for delay in &policy.backoff {
        let todo = to_retry(state);
        if todo.is_empty() || tokio::time::Instant::now() + *delay >= deadline {
            break;
        }
        tokio::time::sleep(*delay).await;
        for i in todo {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero()
                || tokio::time::timeout(left, attempt(gitlab, state, i))
                    .await
                    .is_err()
            {
                break 'rounds;
            }
        }
    }
}

/// Every request still pending is recorded as not sent, for `why`
/// (`retry`: worth another try at the end).
fn give_up_pending(state: &Shared, why: &str, retry: bool) {
    let mut s = lock(state);
    for e in &mut s.entries {
        if matches!(e.status, Status::Pending) {
            e.status = Status::Failed {
                message: why.to_string(),
                retry,
            };
        }
    }
}

/// The failed entries worth another try, in order; a failed label move
/// that a later one replaces is superseded instead.
fn to_retry(state: &Shared) -> Vec<usize> {
    {
        let mut s = lock(state);
        let last_label = s
            .entries
            .iter()
            .rposition(|e| matches!(e.request, Request::Label { .. }));
        let mut out = Vec::new();
        for (i, e) in s.entries.iter_mut().enumerate() {
            let Status::Failed { retry: true, .. } = e.status else {
                continue;
            };
            if matches!(e.request, Request::Label { .. }) && Some(i) != last_label {
                e.status = Status::Superseded;
                continue;
            }
            out.push(i);
        }
        out
    }
}

fn event_record(e: &Entry) -> PublishEvent {
    let (status, error) = match &e.status {
        Status::Sent => ("sent", None),
        Status::Pending => ("failed", Some("not sent".to_string())),
        Status::Failed { message, .. } => ("failed", Some(message.clone())),
        Status::Superseded => ("superseded", None),
    };
    PublishEvent {
        kind: e.kind.to_string(),
        text: e.text.clone(),
        occurred_at: e.occurred_at.clone(),
        status: status.to_string(),
        attempts: e.attempts,
        error,
    }
}

/// The engine's events, as requests to the incident.
pub struct LiveSink {
    state: Shared,
    tx: mpsc::UnboundedSender<Msg>,
    points: Vec<PhasePoint>,
    /// Indexes into `points` already reached.
    reached: Vec<usize>,
    labels: Vec<(&'static str, String)>,
    internal: Vec<String>,
    redactor: Redactor,
    current: Option<&'static str>,
    started: bool,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl LiveSink {
    fn push(&mut self, kind: &'static str, text: String, request: Request) {
        let entry = Entry {
            kind,
            text,
            occurred_at: now(),
            request,
            status: Status::Pending,
            attempts: 0,
        };
        let i = {
            let mut s = lock(&self.state);
            s.entries.push(entry);
            s.entries.len() - 1
        };
        let _ = self.tx.send(Msg::Send(i));
    }

    fn timeline(&mut self, kind: &'static str, note: String) {
        let note = super::graphql::clip(&self.redactor.redact(&note));
        self.push(kind, note.clone(), Request::Timeline { note });
    }

    /// Point `i` is reached: a timeline event, then the label moves.
    fn reach(&mut self, i: usize) {
        if self.reached.contains(&i) {
            return;
        }
        self.reached.push(i);
        let p = self.points[i].clone();
        if self.current == Some(p.phase) {
            return;
        }
        self.current = Some(p.phase);
        let why = match &p.reached {
            Reached::AfterStep(name) => format!("step `{name}` succeeded"),
            Reached::AtHeading { heading, .. } => format!("the run reached “{heading}”"),
        };
        self.timeline(
            "phase",
            format!("phase {}: {why} (line {})", p.phase, p.line),
        );
        let add = self
            .labels
            .iter()
            .find(|(ph, _)| *ph == p.phase)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| crate::phase::default_label(p.phase));
        let remove: Vec<String> = self
            .labels
            .iter()
            .filter(|(_, l)| *l != add)
            .map(|(_, l)| l.clone())
            .collect();
        let close = p.phase == "closed";
        let text = if close {
            format!("{add} (closes the incident)")
        } else {
            add.clone()
        };
        self.push("label", text, Request::Label { add, remove, close });
    }

    /// The run got to `step`: every heading before it is reached.
    fn arrive(&mut self, step: &StepRecord) {
        if step.undoes.is_some() {
            return;
        }
        let due: Vec<usize> = (0..self.points.len())
            .filter(|i| {
                matches!(self.points[*i].reached,
                    Reached::AtHeading { first_step: Some(j), .. } if j <= step.index)
            })
            .collect();
        for i in due {
            self.reach(i);
        }
    }

    fn finished(&mut self, step: &StepRecord) {
        self.arrive(step);
        let internal = self.internal.contains(&step.name);
        if step.status == StepStatus::Ok && step.undoes.is_none() {
            let due: Vec<usize> = (0..self.points.len())
                .filter(|i| self.points[*i].reached == Reached::AfterStep(step.name.clone()))
                .collect();
            for i in due {
                self.reach(i);
            }
        }
        if matches!(
            step.status,
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
        ) {
            let mut note = format!("step `{}` {}", step.name, step.status.as_str());
            if let Some(c) = step.exit_code {
                note.push_str(&format!(" (exit code {c})"));
            }
            note.push_str(&format!(" at line {}", step.line));
            match (&step.reason, internal) {
                (_, true) => note.push_str("; its output is in an internal note"),
                (Some(r), false) => note.push_str(&format!(": {r}")),
                (None, false) => {}
            }
            self.timeline("failure", note);
        }
        let ran = !matches!(
            step.status,
            StepStatus::NotRun | StepStatus::Skipped | StepStatus::DryRun | StepStatus::Running
        );
        if internal && ran {
            let redact = |s: &str| self.redactor.redact(s);
            if let Some(body) = super::public::internal_note(step, &redact) {
                let text = format!("output of internal step `{}`", step.name);
                self.push("internal_note", text, Request::InternalNote { body });
            }
        }
    }
}

impl Sink for LiveSink {
    fn event(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { record } => {
                if std::mem::replace(&mut self.started, true) {
                    return;
                }
                let name = record
                    .runbook
                    .title
                    .clone()
                    .unwrap_or_else(|| record.runbook.path.clone());
                // A resume continues the incident's run: it says so.
                let verb = match record.mode.iter().any(|m| m.starts_with("--resume")) {
                    true => "resumed",
                    false => "started",
                };
                let note = format!(
                    "runbook “{name}” {verb} by {} on {}",
                    record.operator, record.machine
                );
                self.timeline("run_started", note);
            }
            RunEvent::GateAsked { step } | RunEvent::StepStarted { step } => self.arrive(step),
            RunEvent::GateAnswered { step } => {
                self.arrive(step);
                if let Some(g) = &step.gate {
                    let note = format!(
                        "gate before step `{}`: {} by {}",
                        step.name, g.decision, g.operator
                    );
                    self.timeline("gate", note);
                }
            }
            RunEvent::StepFinished { step, .. } => self.finished(step),
            RunEvent::RunFinished { result, .. } if *result == RunResult::Ok => {
                let due: Vec<usize> = (0..self.points.len())
                    .filter(|i| {
                        matches!(
                            self.points[*i].reached,
                            Reached::AtHeading {
                                first_step: None,
                                ..
                            }
                        )
                    })
                    .collect();
                for i in due {
                    self.reach(i);
                }
            }
            _ => {}
        }
    }
}
