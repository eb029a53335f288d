//! Which steps a run covers: Runme's `excludeFromRunAll` (a step that runs
//! only when named), `--only NAME` and `--tag T`; and the values of Runme's
//! `export NAME=...` prompts, put where the step asked for them.

use super::Engine;
use crate::document::Step;

/// Why an `excludeFromRunAll` step does not run in a whole run.
pub const EXCLUDED: &str = "excludeFromRunAll: runs only when named (--only NAME or --from NAME)";

/// Why a step is left out of the run, if it is.
pub fn not_selected(
    step: &Step,
    only: &[String],
    tags: &[String],
    from: Option<&str>,
) -> Option<String> {
    let named = only.contains(&step.name) || from == Some(step.name.as_str());
    if named {
        return None;
    }
    if step.attrs.exclude_from_run_all {
        return Some(EXCLUDED.into());
    }
    if only.is_empty() && tags.is_empty() {
        return None;
    }
    if step.attrs.tags.iter().any(|t| tags.contains(t)) {
        return None;
    }
    let mut flags = Vec::new();
    if !only.is_empty() {
        flags.push("--only");
    }
    if !tags.is_empty() {
        flags.push("--tag");
    }
    Some(format!("not selected ({})", flags.join(", ")))
}

impl Engine {
    /// Why this run leaves `step` out, if it does.
    pub(super) fn not_selected(&self, step: &Step) -> Option<String> {
        not_selected(
            step,
            &self.opts.only,
            &self.opts.tags,
            self.opts.from.as_deref(),
        )
        .or_else(|| other_shard(step, self.opts.shard))
    }
}

/// `--shard I/N` with I > 1: a step that is not a fan-out (`hosts=`) runs
/// in shard 1 only, unless it is marked `each_shard`.
pub fn other_shard(step: &Step, shard: Option<crate::record::Shard>) -> Option<String> {
    let shard = shard?;
    if shard.index == 1 || step.attrs.hosts.is_some() || step.attrs.each_shard {
        return None;
    }
    Some(format!(
        "runs in shard 1/{} only (not a fan-out step)",
        shard.total
    ))
}

/// The hosts of a fan-out step that are this shard's, in order.
pub fn shard_slice<T>(targets: Vec<T>, shard: Option<crate::record::Shard>) -> Vec<T> {
    match shard {
        None => targets,
        Some(s) => targets
            .into_iter()
            .enumerate()
            .filter(|(i, _)| s.owns(*i))
            .map(|(_, t)| t)
            .collect(),
    }
}

impl Engine {
    /// `code` with Runme's `export NAME=...` prompt lines set to the values
    /// the caller settled (shell steps that ask only).
    pub(super) fn prompted_into(&self, step: &Step, code: String) -> String {
        if self.prompted.is_empty() || !crate::document::prompts::asks(step) {
            return code;
        }
        let value = |n: &str| self.prompted.get(n).cloned();
        crate::document::prompts::apply(step, &code, &value, &crate::exec::shell::quote)
    }
}
