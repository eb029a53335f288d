//! `runbook merge`: the records of the N shards of one run (`run --shard
//! I/N`, each on its own GitLab runner) combined into one record, as if one
//! run had done it — each fan-out step with every shard's hosts back in the
//! order one run would have had them (hosts are dealt round-robin, so the
//! k-th host of shard s stands at k·N + s − 1), the steps that ran in shard 1
//! only taken from it, an `each_shard` step with one section per shard, and
//! the run's result the worst of the shards'. Reports and the annotated copy
//! are then written from this record as from any other, so the copy's hash
//! chain is the merged record's own. Nothing here reads or writes files.

use crate::record::{
    HostResult, OutputRecord, RollbackRecord, RunRecord, RunResult, Shard, StepRecord, StepStatus,
};

/// The shards' records combined, or why they do not belong together.
pub fn merge(mut shards: Vec<RunRecord>) -> Result<RunRecord, String> {
    check(&shards)?;
    shards.sort_by_key(|r| r.shard.map(|s| s.index));
    let total = shards.len();
    let mut out = shards[0].clone();
    out.shard = None;
    out.chain_head = None;
    out.signature = None;
    out.operator = distinct(shards.iter().map(|r| r.operator.as_str()));
    out.machine = distinct(shards.iter().map(|r| r.machine.as_str()));
    out.started_at = min(shards.iter().map(|r| r.started_at.clone()));
    out.finished_at = shards.iter().filter_map(|r| r.finished_at.clone()).max();
    out.duration_ms = shards.iter().filter_map(|r| r.duration_ms).max();
    out.mode.retain(|m| !m.starts_with("--shard "));
    out.mode
        .extend((1..=total).map(|i| format!("--shard {i}/{total}")));
    let worst = shards
        .iter()
        .max_by_key(|r| severity(r.result))
        .map(|r| (r.result, r.exit_code));
    if let Some((result, code)) = worst {
        out.result = result;
        out.exit_code = code;
    }
    for r in &shards[1..] {
        out.preconditions
            .extend(r.preconditions.iter().filter(|p| !p.ok).cloned());
    }
    out.steps = (0..out.steps.len())
        .map(|i| merge_step(&shards, i))
        .collect();
    out.rollback = merge_rollback(&shards);
    Ok(out)
}

/// The shards are N records of the same runbook, shards 1..N once each.
fn check(shards: &[RunRecord]) -> Result<(), String> {
    let first = shards.first().ok_or("no shard report to merge")?;
    let total = first
        .shard
        .ok_or_else(|| {
            format!(
                "{}: not a shard's report (run with --shard I/N)",
                first.runbook.path
            )
        })?
        .total;
    let mut seen = vec![false; total];
    for r in shards {
        let Some(s) = r.shard else {
            return Err(format!(
                "{}: not a shard's report (run with --shard I/N)",
                r.runbook.path
            ));
        };
        if s.total != total {
            return Err(format!(
                "shard {}/{} does not belong with shards of {total}",
                s.index, s.total
            ));
        }
        if r.runbook.sha256 != first.runbook.sha256 {
            return Err(format!(
                "shard {}/{total} ran another runbook (sha256 {}…, not {}…)",
                s.index,
                &r.runbook.sha256.get(..12).unwrap_or(""),
                &first.runbook.sha256.get(..12).unwrap_or("")
            ));
        }
        if r.steps.len() != first.steps.len() || r.dry_run != first.dry_run {
            return Err(format!(
                "shard {}/{total} is not the same run (steps or dry run differ)",
                s.index
            ));
        }
        if std::mem::replace(&mut seen[s.index - 1], true) {
            return Err(format!("shard {}/{total} is given twice", s.index));
        }
    }
    let missing: Vec<String> = (1..=total)
        .filter(|i| !seen[i - 1])
        .map(|i| format!("{i}/{total}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing shard {}", missing.join(", ")));
    }
    Ok(())
}

/// Step `i` as one run would have recorded it.
fn merge_step(shards: &[RunRecord], i: usize) -> StepRecord {
    let recs: Vec<&StepRecord> = shards.iter().map(|r| &r.steps[i]).collect();
    let ran: Vec<(usize, &StepRecord)> = recs
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            !s.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("runs in shard 1/"))
        })
        .map(|(k, s)| (k + 1, *s))
        .collect();
    let fan_out = recs.iter().any(|s| !s.hosts.is_empty());
    if fan_out {
        return fan_out_step(&recs);
    }
    match ran.as_slice() {
        [(_, one)] => (*one).clone(),
        [] => recs[0].clone(),
        several => each_shard_step(several, shards.len()),
    }
}

/// A fan-out step: every shard's hosts, back in one run's order.
fn fan_out_step(recs: &[&StepRecord]) -> StepRecord {
    let total = recs.len();
    let mut placed: Vec<(usize, HostResult)> = Vec::new();
    for (s, rec) in recs.iter().enumerate() {
        for (k, h) in rec.hosts.iter().enumerate() {
            placed.push((Shard::position(s + 1, total, k), h.clone()));
        }
    }
    placed.sort_by_key(|(p, _)| *p);
    let worst = recs
        .iter()
        .max_by_key(|s| step_severity(s.status))
        .copied()
        .unwrap_or(recs[0]);
    let mut out = worst.clone();
    out.hosts = placed.into_iter().map(|(_, h)| h).collect();
    out.started_at = recs.iter().filter_map(|s| s.started_at.clone()).min();
    out.duration_ms = recs.iter().filter_map(|s| s.duration_ms).max();
    out.reason = distinct_opt(recs.iter().filter_map(|s| s.reason.as_deref()));
    out.batches = recs
        .iter()
        .flat_map(|s| s.batches.iter().cloned())
        .collect();
    out
}

/// An `each_shard` step: one section per shard that ran it.
fn each_shard_step(ran: &[(usize, &StepRecord)], total: usize) -> StepRecord {
    let worst = ran
        .iter()
        .max_by_key(|(_, s)| step_severity(s.status))
        .map(|(_, s)| *s)
        .unwrap_or(ran[0].1);
    let mut out = worst.clone();
    out.output = None;
    out.exit_code = None;
    out.hosts = ran
        .iter()
        .map(|(k, s)| HostResult {
            host: format!("shard {k}/{total}"),
            address: None,
            status: s.status,
            exit_code: s.exit_code,
            duration_ms: s.duration_ms.unwrap_or(0),
            output: s.output.clone().unwrap_or_else(empty_output),
            error: s.reason.clone().filter(|_| s.status.is_failure()),
        })
        .collect();
    out
}

fn empty_output() -> OutputRecord {
    OutputRecord::default()
}

/// The rollback phases of the shards that had one, as one.
fn merge_rollback(shards: &[RunRecord]) -> Option<RollbackRecord> {
    let phases: Vec<&RollbackRecord> = shards.iter().filter_map(|r| r.rollback.as_ref()).collect();
    let mut out = (*phases.first()?).clone();
    for p in &phases[1..] {
        out.undos.extend(p.undos.iter().cloned());
        for w in &p.without_rollback {
            if !out.without_rollback.contains(w) {
                out.without_rollback.push(w.clone());
            }
        }
        if p.result != out.result {
            out.result = crate::record::RollbackResult::Partial;
        }
    }
    Some(out)
}

fn severity(r: RunResult) -> u8 {
    match r {
        RunResult::Ok | RunResult::DryRunOk | RunResult::Running => 0,
        RunResult::DryRunFailed => 1,
        RunResult::Aborted => 2,
        RunResult::PreconditionFailed => 3,
        RunResult::Failed => 4,
        RunResult::Interrupted => 5,
    }
}

fn step_severity(s: StepStatus) -> u8 {
    match s {
        StepStatus::NotRun | StepStatus::Skipped | StepStatus::DryRun => 0,
        StepStatus::Ok | StepStatus::Running => 1,
        StepStatus::FailedAllowed => 2,
        StepStatus::Aborted => 3,
        StepStatus::Failed | StepStatus::TimedOut => 4,
        StepStatus::Interrupted => 5,
    }
}

fn min(values: impl Iterator<Item = String>) -> String {
    values.min().unwrap_or_default()
}

/// `a` when all agree, else `a, b` in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(", ")
}

fn distinct_opt<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    Some(distinct(values)).filter(|s| !s.is_empty())
}
