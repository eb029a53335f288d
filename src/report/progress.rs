//! The terminal views as a sink of the engine's events: each event becomes
//! a [`Progress`] call, and a step's output is cleaned exactly as the
//! reports and logs are (redaction, escapes, line endings), one stream apart
//! from the other so lines stay whole.

use super::terminal::Progress;
use crate::engine::events::RecordBuilder;
use crate::engine::{RunEvent, Sink};
use crate::exec::capture::Cleaner;
use crate::exec::process::Stream;
use crate::record::StepRecord;
use crate::secrets::Redactor;

pub struct ProgressSink {
    progress: Box<dyn Progress>,
    redactor: Redactor,
    /// The record so far, handed to the view when the run is over.
    record: RecordBuilder,
    /// The running step's cleaners (stdout, stderr).
    streams: Option<(String, Cleaner, Cleaner)>,
}

impl ProgressSink {
    pub fn new(progress: Box<dyn Progress>, redactor: Redactor) -> Self {
        ProgressSink {
            progress,
            redactor,
            record: RecordBuilder::default(),
            streams: None,
        }
    }

    fn output(&mut self, step: &StepRecord, stream: Stream, bytes: &[u8]) {
        if self
            .streams
            .as_ref()
            .is_none_or(|(name, ..)| *name != step.name)
        {
            self.flush(step);
            let r = &self.redactor;
            self.streams = Some((step.name.clone(), Cleaner::new(r), Cleaner::new(r)));
        }
        let Some((_, out, err)) = self.streams.as_mut() else {
            return;
        };
        let (clean, is_err) = match stream {
            Stream::Stdout => (out.push(bytes), false),
            Stream::Stderr => (err.push(bytes), true),
        };
        if !clean.is_empty() {
            let text = String::from_utf8_lossy(&clean);
            self.progress.step_output(step, is_err, &text);
        }
    }

    /// What the running step's cleaners still hold.
    fn flush(&mut self, step: &StepRecord) {
        let Some((_, mut out, mut err)) = self.streams.take() else {
            return;
        };
        for (rest, is_err) in [(out.finish(), false), (err.finish(), true)] {
            if !rest.is_empty() {
                let text = String::from_utf8_lossy(&rest);
                self.progress.step_output(step, is_err, &text);
            }
        }
    }
}

impl Sink for ProgressSink {
    fn event(&mut self, event: &RunEvent<'_>) {
        self.record.event(event);
        match event {
            RunEvent::RunStarted { record } => self.progress.run_started(record),
            RunEvent::StepStarted { step } => self.progress.step_started(step),
            RunEvent::Output {
                step,
                stream,
                bytes,
            } => self.output(step, *stream, bytes),
            RunEvent::AttemptFinished { step, .. } => self.flush(step),
            RunEvent::StepFinished { step, .. } => {
                self.flush(step);
                self.progress.step_finished(step);
            }
            RunEvent::Message { text } => self.progress.message(text),
            RunEvent::RunFinished { .. } => {
                if let Some(rec) = self.record.record() {
                    self.progress.run_finished(rec);
                }
            }
            RunEvent::Preconditions { .. }
            | RunEvent::RollbackStarted { .. }
            | RunEvent::RollbackFinished { .. }
            | RunEvent::GateAsked { .. }
            | RunEvent::GateAnswered { .. } => {}
        }
    }

    fn suspend(&mut self, f: &mut dyn FnMut()) {
        self.progress.suspend(f);
    }
}
