//! `--resume` takes over only what it can trust: the saved copy must still
//! verify (its hash chain), and every step whose result is reused must have
//! the same source as when it ran (a per-step sha256 in the journal). Prose
//! and steps that have not run yet may change. Otherwise the run is refused
//! (exit 2) saying which step or line and why; `--resume --force` goes on
//! and the record says so (copy header, JSON, the journal for later
//! resumes).

use super::RunArgs;
use super::outputs::Outputs;
use crate::document::{Document, chain};
use crate::engine::journal::{self, Journal, JournalEntry};
use crate::error::{Error, Result};
use crate::record::{ResumeForced, StepStatus};
use indexmap::IndexMap;

/// What a resume found, for the record and the journal.
#[derive(Default)]
pub struct Trust {
    /// The record's `resume_forced` (this run's, or an earlier resume's
    /// whose results this run carries on).
    pub forced: Option<ResumeForced>,
    /// This run forced: the journal entry that says so.
    entry: Option<JournalEntry>,
}

impl Trust {
    /// Journals this run's forcing, so a later `--resume` knows.
    pub fn journal(&self, j: &mut Journal) -> Result<()> {
        match &self.entry {
            Some(e) => j.append(e),
            None => Ok(()),
        }
    }
}

/// Checks the saved run before `--resume` reuses it.
pub fn check(
    args: &RunArgs,
    outputs: &Outputs,
    doc: &Document,
    previous: &[JournalEntry],
    operator: &str,
) -> Result<Trust> {
    if !args.resume {
        return Ok(Trust::default());
    }
    let mut earlier_reasons = Vec::new();
    let mut last = None;
    for e in previous {
        if let JournalEntry::Forced {
            operator,
            at,
            reasons,
            ..
        } = e
        {
            earlier_reasons.extend(reasons.iter().cloned());
            last = Some((operator.clone(), at.clone()));
        }
    }
    let mut reasons = copy_doubts(outputs);
    reasons.extend(step_doubts(args, doc, previous));
    if reasons.is_empty() {
        let forced = last.map(|(operator, at)| ResumeForced {
            operator,
            at,
            reasons: earlier_reasons,
        });
        return Ok(Trust {
            forced,
            entry: None,
        });
    }
    if !args.force {
        let list: Vec<String> = reasons.iter().map(|r| format!("  - {r}")).collect();
        return Err(Error::Usage(format!(
            "--resume: the saved run cannot be trusted, so its results are not reused:\n{}\n\
             run it again without --resume, or continue anyway with --resume --force (the record says so)",
            list.join("\n")
        )));
    }
    let at = crate::engine::now_rfc3339();
    let sources = journal::step_sources(doc);
    let entry = JournalEntry::Forced {
        operator: operator.to_string(),
        at: at.clone(),
        reasons: reasons.clone(),
        sources,
    };
    earlier_reasons.extend(reasons);
    Ok(Trust {
        forced: Some(ResumeForced {
            operator: operator.to_string(),
            at,
            reasons: earlier_reasons,
        }),
        entry: Some(entry),
    })
}

/// The saved copy, when there is one, must verify.
fn copy_doubts(outputs: &Outputs) -> Vec<String> {
    let path = &outputs.markdown;
    let Ok(text) = crate::input::read_to_string(path) else {
        return Vec::new();
    };
    let v = chain::verify(&text);
    let Some(f) = v.failure else {
        return Vec::new();
    };
    let step = f.step.map(|s| format!(", step {s}")).unwrap_or_default();
    vec![format!(
        "the saved copy {} does not verify: line {}{step}: {}: {}",
        path.display(),
        f.line,
        f.reason.as_str(),
        f.message
    )]
}

/// Steps whose results would be reused but whose source is not what ran.
fn step_doubts(args: &RunArgs, doc: &Document, previous: &[JournalEntry]) -> Vec<String> {
    // The latest word on each step: its status, and its source hash.
    let mut ran: IndexMap<&str, (StepStatus, Option<&str>)> = IndexMap::new();
    let mut saved_sha = None;
    for e in previous {
        match e {
            JournalEntry::Start { sha256, .. } => saved_sha = Some(sha256.as_str()),
            JournalEntry::Step {
                record,
                source_sha256,
                ..
            } => {
                ran.insert(&record.name, (record.status, source_sha256.as_deref()));
            }
            JournalEntry::Forced { sources, .. } => {
                for (name, sha) in sources {
                    if let Some(slot) = ran.get_mut(name.as_str()) {
                        slot.1 = Some(sha);
                    }
                }
            }
        }
    }
    let now = journal::step_sources(doc);
    let file = args.file.display();
    let file_sha = crate::text::sha256_hex(doc.source.text.as_bytes(), usize::MAX);
    let mut out = Vec::new();
    for (name, (status, sha)) in ran.iter().filter(|(_, (st, _))| st.is_done()) {
        let status = status.as_str();
        let Some(step) = doc.step(name) else {
            out.push(format!(
                "step `{name}` already ran ({status}) but is no longer in {file}"
            ));
            continue;
        };
        let changed = match sha {
            Some(sha) => now.get(*name).is_none_or(|n| n != sha),
            // A journal from before per-step hashes: only an unchanged file.
            None => saved_sha.is_some_and(|s| s != file_sha),
        };
        if changed {
            out.push(format!(
                "step `{name}` (line {}) already ran ({status}), and its source changed since",
                step.line
            ));
        }
    }
    out
}
