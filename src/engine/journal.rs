//! The resume journal: an append-only JSON-lines file beside the record, one
//! line when the run starts and one per finished step, so `--resume` and
//! `--from` can take earlier results over. It is a [`Sink`] of the run's
//! events. Each line is one `write(2)`, so a crash leaves at worst a torn
//! last line, which [`load`] ignores; appending keeps the per-step cost
//! constant however long the runbook is.
//!
//! Lines are redacted, the file is private (0600) and never opened through a
//! planted symlink: it holds step output and what steps exported.

use super::Restored;
use super::context::StepCtx;
use super::events::{RunEvent, Sink};
use crate::error::{Error, Result};
use crate::exec::shell::ShellState;
use crate::record::StepRecord;
use crate::secrets::Redactor;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JournalEntry {
    Start {
        sha256: String,
        params: IndexMap<String, serde_json::Value>,
        started_at: String,
    },
    Step {
        record: Box<StepRecord>,
        ctx: StepCtx,
        shell: ShellState,
        /// The sha256 of the step's fenced block as it ran (see
        /// [`step_sources`]): `--resume` reuses the result only while the
        /// source is the same.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_sha256: Option<String>,
    },
    /// `--resume --force` went ahead although the saved run could not be
    /// trusted: who, when, why, and the sources of the steps it took over
    /// as they are now (a later `--resume` compares with these).
    Forced {
        operator: String,
        at: String,
        reasons: Vec<String>,
        sources: IndexMap<String, String>,
    },
}

/// The sha256 of each step's fenced block (its exact source bytes, as the
/// hash chain links them), by step name.
pub fn step_sources(doc: &crate::document::Document) -> IndexMap<String, String> {
    let text = doc.source.text.as_bytes();
    doc.steps
        .iter()
        .map(|s| {
            let r = s.block.start.min(text.len())..s.block.end.min(text.len());
            (
                s.name.clone(),
                crate::text::sha256_hex(&text[r], usize::MAX),
            )
        })
        .collect()
}

pub struct Journal {
    path: PathBuf,
    file: Option<std::fs::File>,
    redactor: Redactor,
    /// The first write error, reported once by [`Journal::take_error`].
    error: Option<String>,
    /// Each step's record as this run knows it (the plan, then as each
    /// finished), so an undone step can be journaled as not done.
    steps: IndexMap<String, StepRecord>,
    /// Each step's source hash ([`step_sources`]), written with its entry.
    sources: IndexMap<String, String>,
}

impl Journal {
    /// Opens the journal: appended to when `append`, else emptied.
    pub fn create(path: PathBuf, append: bool, redactor: Redactor) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = crate::safe_fs::open_private_append(&path)?;
        if !append {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
        }
        Ok(Journal {
            path,
            file: Some(file),
            redactor,
            error: None,
            steps: IndexMap::new(),
            sources: IndexMap::new(),
        })
    }

    /// The step sources written with each step's entry.
    pub fn with_sources(mut self, sources: IndexMap<String, String>) -> Self {
        self.sources = sources;
        self
    }

    pub fn append(&mut self, entry: &JournalEntry) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let line = serde_json::to_string(entry).map_err(|e| Error::Other(e.to_string()))?;
        let mut line = self.redactor.redact(&line);
        line.push('\n');
        file.write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

impl Sink for Journal {
    fn event(&mut self, event: &RunEvent<'_>) {
        if let RunEvent::RunStarted { record } = event {
            for s in &record.steps {
                self.steps.insert(s.name.clone(), s.clone());
            }
        }
        // Steps that end without a shell state (a template error, an
        // interrupted gate) are not resumed from.
        let RunEvent::StepFinished {
            step,
            ctx,
            shell: Some(shell),
        } = event
        else {
            return;
        };
        let entry = match &step.undoes {
            // A step undone by the rollback is not done any more: `--resume`
            // runs it again.
            Some(undone) => {
                let Some(mut record) = self.steps.get(undone).cloned() else {
                    return;
                };
                if step.status != crate::record::StepStatus::Ok {
                    return;
                }
                record.status = crate::record::StepStatus::NotRun;
                record.reason = Some(format!("rolled back by `{}`", step.name));
                JournalEntry::Step {
                    record: Box::new(record),
                    ctx: StepCtx::default(),
                    shell: (*shell).clone(),
                    source_sha256: None,
                }
            }
            None => {
                self.steps.insert(step.name.clone(), (*step).clone());
                JournalEntry::Step {
                    record: Box::new((*step).clone()),
                    ctx: (*ctx).clone(),
                    shell: (*shell).clone(),
                    source_sha256: self.sources.get(&step.name).cloned(),
                }
            }
        };
        if let Err(e) = self.append(&entry) {
            // One warning, then no more writes: a half-written journal
            // would resume from the wrong place.
            self.error = Some(format!("warning: cannot save the run state: {e}"));
            self.file = None;
            crate::console::err(&format!("{}\n", self.error.as_deref().unwrap_or("")));
        }
    }
}

/// Every whole entry of a journal (none when it does not exist).
pub fn load(path: &Path) -> Vec<JournalEntry> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(|l| l.ok())
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// The steps (and the local shell's last state) an earlier run left.
pub fn restored(entries: Vec<JournalEntry>) -> Restored {
    let mut out = Restored::default();
    for entry in entries {
        if let JournalEntry::Step {
            record, ctx, shell, ..
        } = entry
        {
            out.steps.push((*record, ctx));
            out.shell = Some(shell);
        }
    }
    out
}
