//! The engine's one output channel. The engine does not write the record,
//! the journal or the terminal: it emits [`RunEvent`]s, and each of those is
//! a [`Sink`] (the shape of nextest's reporter and ripgrep's `Sink`). The
//! [`RecordBuilder`] folds the events into the [`RunRecord`] every report is
//! rendered from; the resume journal and the terminal views are sinks too.
//!
//! Steps are addressed by name (their id), never by position in the record,
//! so a step may run more than once (retry, rollback) without index hacks.

use super::context::StepCtx;
use crate::exec::process::Stream;
use crate::exec::shell::ShellState;
use crate::record::{
    AttemptRecord, PreconditionResult, RollbackRecord, RunRecord, RunResult, StepRecord, StepStatus,
};

/// What happened, in the order it happened.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The run's header and its plan: every step as not yet run, or as an
    /// earlier run left it (`--resume`/`--from`).
    RunStarted { record: &'a RunRecord },
    /// Every precondition, evaluated.
    Preconditions { results: &'a [PreconditionResult] },
    /// A step is rendered and (when it has one) its gate is about to ask.
    GateAsked { step: &'a StepRecord },
    /// The operator (or `--yes`) answered a gate; `step.gate` says how.
    GateAnswered { step: &'a StepRecord },
    /// A step started running (after its gate).
    StepStarted { step: &'a StepRecord },
    /// Raw bytes a running step wrote (not redacted yet: every sink that
    /// shows or keeps them redacts on its own path).
    Output {
        step: &'a StepRecord,
        stream: Stream,
        bytes: &'a [u8],
    },
    /// One attempt of a step ended (retries emit several).
    AttemptFinished {
        step: &'a StepRecord,
        attempt: &'a AttemptRecord,
    },
    /// A step is settled: its final record, what later steps see of it, and
    /// the local shell's state after it (for the resume journal).
    StepFinished {
        step: &'a StepRecord,
        ctx: &'a StepCtx,
        shell: Option<&'a ShellState>,
    },
    /// A step failed or a gate was aborted, and the steps that had
    /// succeeded are undone: the plan, every undo not run yet. Each undo
    /// then goes through the step events (`GateAsked` … `StepFinished`)
    /// with `undoes` set, and the phase ends with `RollbackFinished`.
    RollbackStarted { rollback: &'a RollbackRecord },
    /// The rollback phase is over: its result and every undo as it ended.
    RollbackFinished { rollback: &'a RollbackRecord },
    /// A line for the operator (warnings, notes, a step's error).
    Message { text: &'a str },
    /// The run is over: its result (settled over every step in the
    /// record), exit code and end.
    RunFinished {
        result: RunResult,
        exit_code: i32,
        finished_at: &'a str,
        duration_ms: u64,
    },
}

/// A consumer of the event stream.
pub trait Sink: Send {
    fn event(&mut self, event: &RunEvent<'_>);

    /// Runs `f` while the sink keeps out of the terminal (a gate question is
    /// being shown); sinks that draw nothing just call it.
    fn suspend(&mut self, f: &mut dyn FnMut()) {
        f()
    }
}

/// Every sink of a run, fed in order.
#[derive(Default)]
pub struct Sinks {
    sinks: Vec<Box<dyn Sink>>,
}

impl Sinks {
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Sinks { sinks }
    }

    pub fn push(&mut self, sink: Box<dyn Sink>) {
        self.sinks.push(sink);
    }

    pub fn emit(&mut self, event: RunEvent<'_>) {
        for s in &mut self.sinks {
            s.event(&event);
        }
    }

    pub fn message(&mut self, text: &str) {
        self.emit(RunEvent::Message { text });
    }

    /// Runs `f` once, with every sink suspended.
    pub fn suspend(&mut self, f: &mut dyn FnMut()) {
        fn nest(sinks: &mut [Box<dyn Sink>], f: &mut dyn FnMut()) {
            match sinks.split_first_mut() {
                None => f(),
                Some((first, rest)) => first.suspend(&mut || nest(rest, f)),
            }
        }
        nest(&mut self.sinks, f);
    }
}

/// Folds the events into the [`RunRecord`]. Shared with the caller through
/// an `Arc<Mutex<_>>` so the record can be read back when the run is over.
#[derive(Default)]
pub struct RecordBuilder {
    record: Option<RunRecord>,
}

impl RecordBuilder {
    /// The record as the events so far describe it.
    pub fn record(&self) -> Option<&RunRecord> {
        self.record.as_ref()
    }

    pub fn into_record(self) -> Option<RunRecord> {
        self.record
    }

    fn slot(&mut self, step: &StepRecord) -> Option<&mut StepRecord> {
        let rec = self.record.as_mut()?;
        rec.steps.iter_mut().find(|s| s.name == step.name)
    }

    fn put(&mut self, step: &StepRecord) {
        // An undo of the rollback phase (a rollback block's name is in the
        // steps too: the phase's record wins while it runs).
        if let Some(rb) = self.record.as_mut().and_then(|r| r.rollback.as_mut())
            && let Some(slot) = rb
                .undos
                .iter_mut()
                .find(|u| u.name == step.name && u.undoes == step.undoes)
        {
            *slot = step.clone();
            return;
        }
        if let Some(slot) = self.slot(step) {
            *slot = step.clone();
        }
    }
}

impl Sink for RecordBuilder {
    fn event(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { record } => self.record = Some((*record).clone()),
            RunEvent::RunFinished {
                result,
                exit_code,
                finished_at,
                duration_ms,
            } => {
                if let Some(rec) = self.record.as_mut() {
                    rec.result = *result;
                    rec.exit_code = Some(*exit_code);
                    rec.finished_at = Some(finished_at.to_string());
                    rec.duration_ms = Some(*duration_ms);
                    // A finished run has no running step, and says why a
                    // step never ran.
                    for step in &mut rec.steps {
                        if step.status == StepStatus::Running {
                            step.status = StepStatus::Interrupted;
                        }
                        if step.status == StepStatus::NotRun {
                            step.reason.get_or_insert_with(|| "not run".into());
                        }
                    }
                }
            }
            RunEvent::Preconditions { results } => {
                if let Some(rec) = self.record.as_mut() {
                    rec.preconditions = results.to_vec();
                }
            }
            RunEvent::GateAsked { step }
            | RunEvent::GateAnswered { step }
            | RunEvent::StepStarted { step }
            | RunEvent::StepFinished { step, .. } => self.put(step),
            RunEvent::AttemptFinished { step, .. } => self.put(step),
            RunEvent::RollbackStarted { rollback } | RunEvent::RollbackFinished { rollback } => {
                if let Some(rec) = self.record.as_mut() {
                    rec.rollback = Some((*rollback).clone());
                }
            }
            RunEvent::Output { .. } | RunEvent::Message { .. } => {}
        }
    }
}

/// A shared [`RecordBuilder`], so the caller keeps a handle while the
/// engine owns the sink.
#[derive(Clone, Default)]
pub struct SharedRecord(std::sync::Arc<std::sync::Mutex<RecordBuilder>>);

impl SharedRecord {
    /// The record as built so far (the last header the engine emitted, with
    /// every step as the events left it).
    pub fn snapshot(&self) -> Option<RunRecord> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record()
            .cloned()
    }
}

impl Sink for SharedRecord {
    fn event(&mut self, event: &RunEvent<'_>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .event(event);
    }
}
