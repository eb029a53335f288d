//! Blast radius: how many hosts a remote step will run on, and which, known
//! before it runs — groups expanded, EC2 filters resolved — so that the
//! dry-run plan, `check --preconditions` and every gate can say it, and a
//! step wider than its `max_hosts` (or the front matter's) is refused before
//! anything runs unless the operator allowed that many (`--allow-hosts N`).
//! A target that depends on a result not known yet is resolved, and checked
//! against the limit, when the step runs.

use super::Engine;
use crate::document::{Document, Step};
use crate::exec::inventory::{self, Ec2Resolver};
use crate::template::{Escape, Templates, tracking};

/// Host names shown in one line; the rest are counted.
const SHOWN: usize = 20;

/// Where a step will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Local,
    /// The entry as rendered and the targets it resolves to, in order.
    Hosts {
        entry: String,
        targets: Vec<String>,
    },
    /// The target depends on a result the run does not have yet.
    Unknown,
    /// The target cannot be resolved (unknown entry, EC2 error, …).
    Invalid(String),
}

impl Reach {
    /// `web: 3 hosts (web[0], web[1], web[2])`, or what is known.
    pub fn summary(&self) -> String {
        match self {
            Reach::Local => "local".into(),
            Reach::Hosts { entry, targets } => {
                let n = targets.len();
                if n == 1 && targets[0] == *entry {
                    return format!("{entry}: 1 host");
                }
                let names: Vec<&str> = targets.iter().take(SHOWN).map(String::as_str).collect();
                let more = n.saturating_sub(SHOWN);
                let tail = if more > 0 {
                    format!(", … {more} more")
                } else {
                    String::new()
                };
                let noun = if n == 1 { "host" } else { "hosts" };
                format!("{entry}: {n} {noun} ({}{tail})", names.join(", "))
            }
            Reach::Unknown => {
                "hosts known when the step runs (they depend on an earlier result)".into()
            }
            Reach::Invalid(e) => format!("cannot resolve the hosts: {e}"),
        }
    }
}

/// The most hosts `step` may run on, if anything limits it: its own
/// `max_hosts`, else the front matter's, raised to `allow` (`--allow-hosts`).
pub fn limit(doc: &Document, step: &Step, allow: Option<usize>) -> Option<usize> {
    let declared = step.attrs.max_hosts.or(doc.front.max_hosts)?;
    Some(declared.max(allow.unwrap_or(0)))
}

/// Why a step reaching `count` hosts is refused, or `None` when it may run.
pub fn over_limit(
    doc: &Document,
    step: &Step,
    allow: Option<usize>,
    count: usize,
) -> Option<String> {
    let max = limit(doc, step, allow)?;
    if count <= max {
        return None;
    }
    let whose = if step.attrs.max_hosts.is_some() {
        "the step's"
    } else {
        "the front matter's"
    };
    Some(format!(
        "step `{}` would run on {count} hosts, more than {whose} max_hosts={max}; \
         run with --allow-hosts {count} to allow it",
        step.name
    ))
}

/// Where a refusal points: the step's `max_hosts`, else its `hosts=`.
pub fn refusal(doc: &Document, step: &Step, why: String) -> crate::document::Diagnostic {
    let key = if step.attrs.max_hosts.is_some() {
        "max_hosts"
    } else if step.attrs.hosts.is_some() {
        "hosts"
    } else {
        "host"
    };
    let span = crate::analyze::position::attr(doc, step, key);
    crate::document::Diagnostic::at(&doc.source, span.start, span.end, why)
}

/// Where `step` will run, rendered against `value` (a dry run's or a
/// check's placeholders stand for results not known yet).
pub async fn reach(
    doc: &Document,
    step: &Step,
    templates: &Templates,
    value: &minijinja::Value,
    ec2: &dyn Ec2Resolver,
) -> Reach {
    let Some(written) = step.attrs.hosts.as_deref().or(step.attrs.host.as_deref()) else {
        return Reach::Local;
    };
    let (entry, in_attr) = tracking(|| templates.render(written, Escape::None, value));
    let (hosts, in_hosts) = tracking(|| super::probe::render_hosts(doc, templates, value));
    if in_attr || in_hosts {
        return Reach::Unknown;
    }
    let entry = match entry {
        Ok(e) => e.trim().to_string(),
        Err(e) => return Reach::Invalid(format!("in `host`: {}", e.message)),
    };
    match inventory::resolve(&entry, &hosts, ec2).await {
        Ok(targets) => Reach::Hosts {
            entry,
            targets: targets.into_iter().map(|t| t.label).collect(),
        },
        Err(e) => Reach::Invalid(e),
    }
}

impl Engine {
    /// Where `step` will run, as far as the run knows now.
    pub(super) async fn reach(&self, step: &Step, placeholders: bool) -> Reach {
        let value = self.ctx.value(true, placeholders.then_some(&self.doc));
        reach(
            &self.doc,
            step,
            &self.templates,
            &value,
            self.res.ec2.as_ref(),
        )
        .await
    }

    /// A dry run's plan of a step it does not run: its target with how many
    /// hosts and which (this shard's, the batches), its gate; a step over its
    /// `max_hosts` fails the plan.
    pub(super) async fn plan_only(
        &mut self,
        step: &Step,
        mut rec: crate::record::StepRecord,
        gate: Option<&str>,
    ) -> super::StepFlow {
        use crate::record::StepStatus;
        rec.status = StepStatus::DryRun;
        let reach = self.reach(step, true).await;
        let mut reason = super::step::dry_run_summary(step, gate, &reach.summary());
        if let Reach::Hosts { targets, .. } = &reach {
            reason.push_str(&self.slices(step, targets));
        }
        if step.attrs.safe {
            reason.push_str("; not run: it depends on a result the dry run does not have");
        }
        let ctx = super::context::StepCtx::default();
        if let Some(why) = self.wider_than_allowed(step, &reach) {
            rec.status = StepStatus::Failed;
            rec.reason = Some(format!("{reason}; a run would be refused: {why}"));
            self.sinks.message(&format!("dry run: {why}"));
            self.settle(rec, ctx, false);
            return super::StepFlow::RenderFailed;
        }
        rec.reason = Some(reason);
        self.settle(rec, ctx, false)
    }

    /// `; shard 2/4: …` and `, in batches of …` for a planned fan-out.
    fn slices(&self, step: &Step, targets: &[String]) -> String {
        let mut out = String::new();
        let mut targets = targets.to_vec();
        if let Some(shard) = self.opts.shard {
            targets = super::select::shard_slice(targets, Some(shard));
            out.push_str(&format!(
                "; shard {}/{}: {} of them ({})",
                shard.index,
                shard.total,
                targets.len(),
                targets.join(", ")
            ));
        }
        if let Some(serial) = &step.attrs.serial {
            let sizes = super::canary::batch_sizes(serial, targets.len());
            let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
            let gate = if step.attrs.batch_confirm {
                ", a gate between batches"
            } else {
                ""
            };
            out.push_str(&format!(
                ", in batches of {} (max_fail_percentage {}{gate})",
                sizes.join(", "),
                step.attrs.max_fail_percentage.unwrap_or(0),
            ));
        }
        out
    }

    /// Why `reach` is more than `step` may run on, if it is.
    pub(super) fn wider_than_allowed(&self, step: &Step, reach: &Reach) -> Option<String> {
        let Reach::Hosts { targets, .. } = reach else {
            return None;
        };
        over_limit(&self.doc, step, self.opts.allow_hosts, targets.len())
    }

    /// A step refused before it runs: the message names the file and the
    /// step's line, the record says why.
    pub(super) fn refuse_step(&mut self, rec: &mut crate::record::StepRecord, why: &str) {
        let diag = refusal(&self.doc, &self.doc.steps[rec.index], why.to_string());
        self.sinks.message(&diag.to_string());
        rec.status = crate::record::StepStatus::Failed;
        rec.reason = Some(format!("refused before the run: {why}"));
        self.settle(rec.clone(), super::context::StepCtx::default(), false);
    }

    /// Before anything runs: the first step still to run whose known reach
    /// is over its limit, with the reason.
    pub(super) async fn too_wide(&self) -> Option<(usize, String)> {
        for i in self.first_step()..self.doc.steps.len() {
            let step = &self.doc.steps[i];
            if step.attrs.skip || limit(&self.doc, step, self.opts.allow_hosts).is_none() {
                continue;
            }
            if let Reach::Hosts { targets, .. } = self.reach(step, true).await
                && let Some(why) = over_limit(&self.doc, step, self.opts.allow_hosts, targets.len())
            {
                return Some((i, why));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Reach {
        Reach::Hosts {
            entry: "web".into(),
            targets: (0..n).map(|i| format!("web[{i}]")).collect(),
        }
    }

    #[test]
    fn summaries_count_and_name_the_hosts() {
        assert_eq!(hosts(2).summary(), "web: 2 hosts (web[0], web[1])");
        let one = Reach::Hosts {
            entry: "db1".into(),
            targets: vec!["db1".into()],
        };
        assert_eq!(one.summary(), "db1: 1 host");
        let s = hosts(50).summary();
        assert!(s.starts_with("web: 50 hosts (web[0], "), "{s}");
        assert!(s.ends_with("web[19], … 30 more)"), "{s}");
    }
}
