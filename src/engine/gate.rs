//! Gates: which steps ask before they run, and the [`Prompter`] that gets
//! the answer. The engine never reads a terminal itself: the command line
//! gives it a terminal prompter, `--yes` an approving one, tests their own.

use super::events::Sinks;
use crate::document::{Confirm, Document, Step};
use crate::exec::process::Interrupts;
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Yes,
    Skip,
    Abort,
    /// Change a param (`Answer::edit`), then ask again.
    Edit,
}

/// An answer and how the record words it (`approved (--yes)`, `skipped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub decision: Decision,
    pub label: &'static str,
    /// With [`Decision::Edit`]: the param and its new value.
    pub edit: Option<(String, String)>,
}

/// What the operator is asked: the question, the step, where it runs and
/// the rendered command (secrets shown as their templates, already redacted).
#[derive(Debug, Clone)]
pub struct GateQuestion<'a> {
    pub step: &'a str,
    pub line: usize,
    pub target: &'a str,
    pub command: &'a str,
    pub message: &'a str,
    /// Where the step stands in the runbook: its section's heading and the
    /// prose paragraph just before it, as written (controls not yet made
    /// visible: the prompter does that).
    pub heading: Option<&'a str>,
    pub prose: Option<&'a str>,
    /// What the steps that ran before printed (name, last lines), redacted.
    pub previous: &'a [(String, String)],
    /// The declared params and their values now (secrets masked), for an
    /// `[e]dit` before answering.
    pub params: &'a [(String, String)],
}

/// The heading of the section a step is in and the paragraph right before
/// its block (what the operator reads before running it by hand).
pub fn context_of<'d>(doc: &'d Document, step: &Step) -> (Option<&'d str>, Option<&'d str>) {
    let before = &doc.source.text[..step.block.start.min(doc.source.text.len())];
    let heading = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('#') && l.trim_start_matches('#').starts_with(' '));
    // The last paragraph: trailing lines up to a blank line, stopping at a
    // fence or heading (prose only).
    let mut end = before.trim_end();
    if let Some(h) = heading
        && end.ends_with(h)
    {
        end = "";
    }
    let start = end.rfind("\n\n").map_or(0, |i| i + 2);
    let para = end[start..].trim();
    let prose = (!para.is_empty()
        && !para.starts_with('#')
        && !para.contains("```")
        && !para.contains("~~~")
        && !para.starts_with("<!--"))
    .then_some(para);
    (heading, prose)
}

/// A future that may borrow the prompter and its arguments.
pub type Asking<'a> = Pin<Box<dyn Future<Output = Option<Answer>> + 'a>>;

/// Gets a gate's answer. `None` means the run was interrupted while asking.
pub trait Prompter: Send {
    fn ask<'a>(
        &'a mut self,
        question: &'a GateQuestion<'a>,
        sinks: &'a mut Sinks,
        interrupts: &'a mut Interrupts,
    ) -> Asking<'a>;

    /// Ctrl-C (or SIGTERM) during the rollback phase: whether to stop it
    /// (`true`) or go on with the undos still to run (`remaining`). Nobody
    /// is there to ask by default (CI, `--yes`): the rollback stops.
    fn stop_rollback<'a>(
        &'a mut self,
        _remaining: &'a [String],
        _sinks: &'a mut Sinks,
        _interrupts: &'a mut Interrupts,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async { true })
    }
}

/// `--yes`: every gate approved, and recorded as approved by the flag.
pub struct Approve;

impl Prompter for Approve {
    fn ask<'a>(
        &'a mut self,
        _: &'a GateQuestion<'a>,
        _: &'a mut Sinks,
        _: &'a mut Interrupts,
    ) -> Asking<'a> {
        Box::pin(async {
            Some(Answer {
                decision: Decision::Yes,
                label: "approved (--yes)",
                edit: None,
            })
        })
    }
}

/// The gate's question, when the step has one (`confirm`, `confirm: all`,
/// `--step`).
pub fn gate_message(doc: &Document, step: &Step, step_mode: bool) -> Option<String> {
    let default = || format!("Run step `{}`?", step.name);
    match &step.attrs.confirm {
        Some(Confirm::Message(m)) => Some(m.clone()),
        Some(Confirm::Default) => Some(default()),
        None => {
            let all = doc.front.confirm.as_ref().is_some_and(|c| c.gates_all());
            (all || step_mode).then(default)
        }
    }
}
