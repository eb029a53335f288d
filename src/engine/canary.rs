//! Canary rollouts: a fan-out step with `serial=` runs on its hosts in
//! batches (`serial=[1,"10%","100%"]`: one host, then a tenth, then the
//! rest), each batch an ordinary run of the step (retries, timeout, per-host
//! results) on those hosts only. A batch with more failed hosts than
//! `max_fail_percentage` (default 0) stops the rollout: later batches never
//! start, and the step fails, so the run stops and rolls back where it can
//! (the undo of a fan-out step runs only on the hosts where it succeeded).
//! `batch_confirm` asks before each batch after the first, showing the last
//! one's results. The record keeps every batch.

use super::Engine;
use super::blast::Reach;
use super::context::{HostCtx, StepCtx};
use super::gate::{Decision, GateQuestion};
use crate::document::{BatchSize, Step};
use crate::record::{BatchRecord, StepRecord, StepStatus};
use indexmap::IndexMap;

/// The sizes of the batches that cover `n` hosts: each entry of `serial` in
/// turn, the last one repeated; a percentage is of all `n`, rounded down
/// but at least one host.
pub fn batch_sizes(serial: &[BatchSize], n: usize) -> Vec<usize> {
    let size = |b: &BatchSize| match *b {
        BatchSize::Count(c) => c,
        BatchSize::Percent(p) => (n * p as usize / 100).max(1),
    };
    let mut out = Vec::new();
    let mut left = n;
    let mut i = 0;
    while left > 0 {
        let Some(b) = serial.get(i.min(serial.len().saturating_sub(1))) else {
            return vec![n];
        };
        let take = size(b).min(left);
        out.push(take);
        left -= take;
        i += 1;
    }
    out
}

/// How a batch left the rollout.
enum After {
    Next,
    /// Failures over the limit: the step fails.
    Failed(String),
    /// The operator stopped it at the batch gate.
    Stopped(String),
    Interrupted,
}

impl Engine {
    /// Runs `step` batch by batch when it has `serial=` and its hosts are
    /// known; `None` when it is not a batched step (it runs as usual).
    pub(super) async fn batched(
        &mut self,
        step: &Step,
        rec: &mut StepRecord,
        rendered: &str,
    ) -> Option<StepCtx> {
        let serial = step.attrs.serial.as_ref()?;
        let Reach::Hosts { targets, .. } = self.reach(step, false).await else {
            return None;
        };
        let targets = super::select::shard_slice(targets, self.opts.shard);
        let sizes = batch_sizes(serial, targets.len());
        let total = sizes.len();
        let mut hosts = Vec::new();
        let mut ctx_hosts: IndexMap<String, HostCtx> = IndexMap::new();
        let mut attempts = Vec::new();
        let mut start = 0;
        let mut outcome = After::Next;
        for (k, size) in sizes.iter().enumerate() {
            let batch: Vec<String> = targets[start..start + size].to_vec();
            start += size;
            let decision = if k > 0 && step.attrs.batch_confirm {
                match self.batch_gate(step, rec, &hosts, k, total, &batch).await {
                    Ok(label) => Some(label),
                    Err(after) => {
                        outcome = after;
                        break;
                    }
                }
            } else {
                None
            };
            self.sinks.message(&format!(
                "step `{}`: batch {}/{total} on {} {}: {}",
                step.name,
                k + 1,
                batch.len(),
                if batch.len() == 1 { "host" } else { "hosts" },
                batch.join(", ")
            ));
            let mut brec = rec.clone();
            brec.attempts.clear();
            self.only_hosts = Some(batch.clone());
            let ctx = self.attempts(step, &mut brec, rendered).await;
            self.only_hosts = None;
            ctx_hosts.extend(ctx.hosts);
            attempts.append(&mut brec.attempts);
            let failed = brec.hosts.iter().filter(|h| h.status.is_failure()).count();
            let mut record = BatchRecord {
                batch: k + 1,
                hosts: batch.clone(),
                ok: brec
                    .hosts
                    .iter()
                    .filter(|h| h.status == StepStatus::Ok)
                    .count(),
                failed,
                decision,
                stopped: None,
            };
            hosts.append(&mut brec.hosts);
            rec.target = brec.target.clone();
            outcome = self.after_batch(step, &brec, &record, k + 1 < total);
            if let After::Failed(why) | After::Stopped(why) = &outcome {
                record.stopped = Some(why.clone());
            }
            rec.batches.push(record);
            if !matches!(outcome, After::Next) {
                break;
            }
        }
        Some(self.settle_batches(step, rec, hosts, attempts, ctx_hosts, outcome))
    }

    /// Whether the rollout goes on after a batch.
    fn after_batch(&self, step: &Step, brec: &StepRecord, b: &BatchRecord, more: bool) -> After {
        if brec.status == StepStatus::Interrupted || self.interrupted() {
            return After::Interrupted;
        }
        let limit = step.attrs.max_fail_percentage.unwrap_or(0) as usize;
        let n = b.hosts.len().max(1);
        if b.failed * 100 > limit * n {
            let pct = b.failed * 100 / n;
            let tail = if more {
                "; the later batches did not start"
            } else {
                ""
            };
            return After::Failed(format!(
                "batch {}: {} of {} hosts failed ({pct}%), more than max_fail_percentage={limit}{tail}",
                b.batch, b.failed, n
            ));
        }
        After::Next
    }

    /// The step's record and context from all its batches.
    fn settle_batches(
        &mut self,
        step: &Step,
        rec: &mut StepRecord,
        hosts: Vec<crate::record::HostResult>,
        attempts: Vec<crate::record::AttemptRecord>,
        ctx_hosts: IndexMap<String, HostCtx>,
        outcome: After,
    ) -> StepCtx {
        let failed = hosts.iter().any(|h| h.status.is_failure());
        rec.hosts = hosts;
        rec.attempts = attempts;
        rec.duration_ms = Some(rec.attempts.iter().map(|a| a.duration_ms).sum());
        rec.exit_code = None;
        (rec.status, rec.reason) = match outcome {
            After::Interrupted => (
                StepStatus::Interrupted,
                Some("interrupted during the rollout".into()),
            ),
            After::Stopped(why) => (StepStatus::Aborted, Some(why)),
            After::Failed(why) if step.attrs.allow_failure => {
                (StepStatus::FailedAllowed, Some(why))
            }
            After::Failed(why) => (StepStatus::Failed, Some(why)),
            After::Next if failed && step.attrs.allow_failure => (StepStatus::FailedAllowed, None),
            After::Next if failed => (StepStatus::Failed, None),
            After::Next => (StepStatus::Ok, None),
        };
        StepCtx {
            status: rec.status.as_str().into(),
            hosts: ctx_hosts,
            ..Default::default()
        }
    }

    /// `batch_confirm`: asks before batch `k` (0-based), showing the last
    /// batch's results. `Ok(label)` to go on; `Err` stops the rollout.
    async fn batch_gate(
        &mut self,
        step: &Step,
        rec: &StepRecord,
        done: &[crate::record::HostResult],
        k: usize,
        total: usize,
        next: &[String],
    ) -> Result<String, After> {
        let last = rec.batches.last();
        let (ok, failed) = last.map_or((0, 0), |b| (b.ok, b.failed));
        let message = format!(
            "Batch {k}/{total} done: {ok} ok, {failed} failed. Go on with batch {}/{total} ({} {}: {})?",
            k + 1,
            next.len(),
            if next.len() == 1 { "host" } else { "hosts" },
            next.join(", ")
        );
        let previous: Vec<(String, String)> = done
            .iter()
            .filter(|h| last.is_some_and(|b| b.hosts.contains(&h.host)))
            .map(|h| {
                (
                    h.host.clone(),
                    self.redactor
                        .redact(&format!("{}{}", h.output.head, h.output.tail)),
                )
            })
            .collect();
        let (heading, prose) = super::gate::context_of(&self.doc, step);
        let command = rec.rendered.clone().unwrap_or_default();
        let target = format!("batch {}/{total}", k + 1);
        let params = self.shown_params();
        loop {
            let question = GateQuestion {
                step: &step.name,
                line: step.line,
                target: &target,
                command: &command,
                message: &message,
                heading,
                prose,
                previous: &previous,
                params: &params,
            };
            let answer = self
                .prompter
                .ask(&question, &mut self.sinks, &mut self.interrupts)
                .await;
            let Some(answer) = answer else {
                return Err(After::Interrupted);
            };
            match answer.decision {
                Decision::Yes => return Ok(answer.label.to_string()),
                Decision::Edit => {
                    self.sinks
                        .message("params cannot change in the middle of a rollout");
                    continue;
                }
                Decision::Skip | Decision::Abort => {
                    return Err(After::Stopped(format!(
                        "rollout stopped by the operator before batch {}/{total} ({})",
                        k + 1,
                        answer.label
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BatchSize::{Count, Percent};

    #[test]
    fn batches_follow_serial_and_the_last_size_repeats() {
        assert_eq!(
            batch_sizes(&[Count(1), Percent(50), Percent(100)], 4),
            [1, 2, 1]
        );
        assert_eq!(batch_sizes(&[Count(5)], 12), [5, 5, 2]);
        assert_eq!(
            batch_sizes(&[Count(1), Percent(10), Percent(100)], 50),
            [1, 5, 44]
        );
        assert_eq!(batch_sizes(&[Percent(30)], 10), [3, 3, 3, 1]);
        assert_eq!(
            batch_sizes(&[Percent(1)], 3),
            [1, 1, 1],
            "at least one host"
        );
        assert_eq!(batch_sizes(&[Count(10)], 3), [3]);
        assert_eq!(batch_sizes(&[Count(2)], 0), Vec::<usize>::new());
    }
}
