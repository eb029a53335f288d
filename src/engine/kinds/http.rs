//! `http` steps: a request in the `.http` file convention, sent with the
//! step's timeout; the status is checked against `expect_status` (2xx by
//! default) and the exchange is recorded, redacted.

use super::{Attempt, AttemptCx, Attempting, StepExecutor};
use crate::analyze::error;
use crate::analyze::templates::map_code_offset;
use crate::document::{Diagnostic, Document, Span, Step, StepKind};
use crate::exec::http::{self, HttpError};
use crate::exec::process::Stream;
use crate::record::{HttpRecord, StepStatus};

pub struct Http;

impl StepExecutor for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn claims(&self, step: &Step) -> bool {
        matches!(step.kind, StepKind::Http)
    }

    fn attempt<'a>(&'a self, cx: AttemptCx<'a>) -> Attempting<'a> {
        Box::pin(attempt(cx))
    }

    /// The request structure (request line, headers, body), checked before
    /// rendering with the parser the run uses after rendering, lenient only
    /// where template syntax stands.
    fn analyze(&self, doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
        if step.kind != StepKind::Http {
            return;
        }
        let Err(e) = http::check_template(&step.code) else {
            return;
        };
        // The offending line of the block, as a range of `step.code`.
        let start: usize = step
            .code
            .split_inclusive('\n')
            .take(e.line.saturating_sub(1))
            .map(str::len)
            .sum();
        let start = start.min(step.code.len());
        let rest = &step.code[start..];
        let len = rest.find('\n').unwrap_or(rest.len());
        let span = Span::new(
            map_code_offset(&doc.source, step, start),
            map_code_offset(&doc.source, step, start + len),
        );
        let message = format!("step `{}`: invalid HTTP request: {}", step.name, e.message);
        out.push(error(doc, span, message));
    }
}

async fn attempt(cx: AttemptCx<'_>) -> Attempt {
    let request = match http::parse_request(cx.rendered) {
        Ok(r) => r,
        Err(e) => return Attempt::error(format!("invalid HTTP request: {e}")),
    };
    let response = http::send(&request, cx.timeout, cx.interrupts.clone()).await;
    let mut capture = match cx.capture(None) {
        Ok(c) => c,
        Err(e) => return Attempt::error(e),
    };
    capture.push(Stream::Stdout, http::response_text(&response).as_bytes());
    let captured = match capture.finish() {
        Ok(c) => c,
        Err(e) => return Attempt::error(format!("cannot write the step log: {e}")),
    };
    let redact = |s: &str| cx.redactor.redact(s);
    let mut record = HttpRecord::from_exchange(&request, &response);
    record.url = redact(&record.url);
    for (_, v) in record.headers.iter_mut() {
        *v = redact(v);
    }
    record.error = record.error.map(|e| redact(&e));
    let (status, error) = verdict(cx.step, &response);
    if let Some(e) = &error {
        cx.sinks
            .message(&format!("step `{}`: {}", cx.step.name, redact(e)));
    }
    Attempt {
        status,
        exit_code: response.status.map(i32::from),
        output: Some(captured.output.into()),
        stdout: redact(&response.body_text()),
        http: Some(record),
        error: error.map(|e| redact(&e)),
        ..Default::default()
    }
}

/// The step's status from the response (or the error that stood for it).
fn verdict(step: &Step, response: &http::HttpResponseData) -> (StepStatus, Option<String>) {
    match (&response.error, response.status) {
        (Some(HttpError::Interrupted), _) => {
            (StepStatus::Interrupted, Some("interrupted".to_string()))
        }
        (Some(e @ HttpError::TimedOut(_)), _) => (StepStatus::TimedOut, Some(e.to_string())),
        (Some(e), _) => (StepStatus::Failed, Some(e.to_string())),
        (None, Some(code)) => {
            let expected = step.attrs.expect_status.as_deref();
            match http::status_matches(expected, code) {
                Ok(true) => (StepStatus::Ok, None),
                Ok(false) => (
                    StepStatus::Failed,
                    Some(format!(
                        "unexpected status {code} (expected {})",
                        expected.unwrap_or("2xx")
                    )),
                ),
                Err(e) => (StepStatus::Failed, Some(e)),
            }
        }
        (None, None) => (StepStatus::Failed, Some("no response".into())),
    }
}
