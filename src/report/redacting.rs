//! The one redaction path to the terminal.
//!
//! Everything the runner shows an operator while a run goes on — step
//! headers and result lines (targets, reasons), output, warnings — goes
//! through a [`Progress`], and [`Redacting`] wraps the view so each of
//! those strings is redacted on its way out, exactly as the reports are
//! (through [`RunRecord::redacted`]). A value that reaches the terminal by
//! a path nobody thought of (a target rendered from a secret, an error
//! message quoting a value) is still caught here.

use super::terminal::Progress;
use crate::record::{RunRecord, StepRecord};
use crate::secrets::Redactor;

/// A [`Progress`] that redacts every string before `inner` sees it.
pub struct Redacting {
    inner: Box<dyn Progress>,
    redactor: Redactor,
}

impl Redacting {
    pub fn wrap(inner: Box<dyn Progress>, redactor: Redactor) -> Box<dyn Progress> {
        if redactor.is_empty() {
            return inner;
        }
        Box::new(Redacting { inner, redactor })
    }

    fn step(&self, s: &StepRecord) -> StepRecord {
        s.redacted(&|t| self.redactor.redact(t))
    }

    fn record(&self, r: &RunRecord) -> RunRecord {
        r.redacted(&|t| self.redactor.redact(t))
    }
}

impl Progress for Redacting {
    fn run_started(&mut self, rec: &RunRecord) {
        let rec = self.record(rec);
        self.inner.run_started(&rec);
    }

    fn step_started(&mut self, step: &StepRecord) {
        let step = self.step(step);
        self.inner.step_started(&step);
    }

    fn step_output(&mut self, step: &StepRecord, stream_is_err: bool, text: &str) {
        // Output is already clean (see `exec::capture::Cleaner`); the step
        // header fields still need it.
        let step = self.step(step);
        let text = self.redactor.redact(text);
        self.inner.step_output(&step, stream_is_err, &text);
    }

    fn step_finished(&mut self, step: &StepRecord) {
        let step = self.step(step);
        self.inner.step_finished(&step);
    }

    fn message(&mut self, text: &str) {
        let text = self.redactor.redact(text);
        self.inner.message(&text);
    }

    fn suspend(&mut self, f: &mut dyn FnMut()) {
        self.inner.suspend(f);
    }

    fn run_finished(&mut self, rec: &RunRecord) {
        let rec = self.record(rec);
        self.inner.run_finished(&rec);
    }
}
