//! The rollback phase. When a step fails (after its retries) or the
//! operator aborts at a gate, the undos of the steps that had succeeded run
//! last-succeeded first: a `{rollback}` block named by `rollback=NAME`, or
//! an inline `rollback="..."` run with the step's kind and target. Each has
//! its own gate (`confirm` on the block), timeout and target; a fan-out
//! undo runs only on the hosts its step succeeded on. Best effort: a failed
//! undo is recorded and the next still runs. Ctrl-C asks whether to stop
//! (the terminal prompter) or stops (CI, `--yes`).
//!
//! Every undo leaves through the ordinary step events with `undoes` set,
//! between `RollbackStarted` and `RollbackFinished`.

use super::context::StepCtx;
use super::gate::Decision;
use super::{Engine, RunEvent, StepFlow, kinds, now_rfc3339};
use crate::document::{Confirm, Document, Rollback, Step};
use crate::error::exit;
use crate::exec::process::{Interrupt, Interrupts};
use crate::record::{RollbackRecord, RollbackResult, RunResult, StepRecord, StepStatus};
use crate::template::Escape;
use std::sync::Arc;
use tokio::sync::watch;

/// The step whose `rollback=` names the rollback block `block`.
pub fn undoes(doc: &Document, block: &Step) -> Option<String> {
    doc.steps
        .iter()
        .find(|s| matches!(&s.attrs.rollback, Some(Rollback::Block(n)) if *n == block.name))
        .map(|s| s.name.clone())
}

/// The step an inline undo runs as: the step's kind, target, `cwd`, `env`
/// and timeout, with the command in place of its code.
pub fn inline_step(step: &Step, command: &str) -> Step {
    let mut s = step.clone();
    s.name = format!("{}.rollback", step.name);
    s.code = format!("{command}\n");
    s.transcript = None;
    let a = &mut s.attrs;
    a.confirm = None;
    a.retries = 0;
    a.when = None;
    a.capture = None;
    a.expect = None;
    a.expect_status = None;
    a.background = false;
    a.allow_failure = false;
    a.rollback = None;
    s
}

/// One undo to run.
struct Undo {
    /// What runs: the rollback block, or the inline command as a step.
    step: Step,
    /// The step it undoes.
    undoes: String,
    /// The step's index (an inline undo is recorded under its step).
    index: usize,
    /// An inline `rollback="..."`.
    inline: bool,
    /// A fan-out: the hosts the step succeeded on.
    hosts: Option<Vec<String>>,
}

/// How one undo ended, for the phase's result.
enum Ended {
    Ok,
    NotOk,
    Stop(RollbackResult),
}

impl Engine {
    /// Rolls back when the run stopped on a failed step or an abort at a
    /// gate (not with `--no-rollback`, not in a dry run); the exit code.
    pub(super) async fn roll_back(&mut self, code: i32) -> i32 {
        let cause = match self.result {
            Some(RunResult::Failed) => "failed",
            Some(RunResult::Aborted) => "aborted",
            _ => return code,
        };
        if self.opts.no_rollback || self.opts.dry_run || self.interrupted() {
            return code;
        }
        let Some(trigger) = self.trigger() else {
            return code;
        };
        let undos = self.undo_plan();
        if undos.is_empty() {
            return code;
        }
        let mut phase = RollbackRecord {
            trigger: trigger.clone(),
            cause: cause.into(),
            result: RollbackResult::Running,
            undos: undos.iter().map(|u| self.undo_record(u)).collect(),
            without_rollback: self.without_rollback(),
        };
        let names: Vec<String> = undos.iter().map(|u| format!("`{}`", u.step.name)).collect();
        self.sinks.message(&format!(
            "step `{trigger}` {cause}: rolling back ({})",
            names.join(", ")
        ));
        self.sinks
            .emit(RunEvent::RollbackStarted { rollback: &phase });
        let (tx, forward) = self.own_interrupts();
        let mut result = RollbackResult::RolledBack;
        for (k, undo) in undos.iter().enumerate() {
            let mut rec = phase.undos[k].clone();
            let ended = self.undo(undo, &mut rec).await;
            phase.undos[k] = rec;
            let ended = match ended {
                Ended::Stop(r) => Ended::Stop(r),
                _ if self.interrupted() => {
                    let rest: Vec<String> =
                        undos[k + 1..].iter().map(|u| u.step.name.clone()).collect();
                    self.stop_asked(&tx, &rest).await
                }
                e => e,
            };
            match ended {
                Ended::Ok => {}
                Ended::NotOk => result = RollbackResult::Partial,
                Ended::Stop(r) => {
                    result = r;
                    for u in &mut phase.undos[k + 1..] {
                        u.reason = Some(format!("not run: {}", r.as_str()));
                    }
                    break;
                }
            }
        }
        forward.abort();
        if result == RollbackResult::RolledBack && !phase.without_rollback.is_empty() {
            result = RollbackResult::Partial;
        }
        phase.result = result;
        self.sinks
            .message(&format!("rollback: {}", result.as_str()));
        self.sinks
            .emit(RunEvent::RollbackFinished { rollback: &phase });
        match result {
            RollbackResult::RolledBack => exit::ROLLED_BACK,
            RollbackResult::Interrupted => exit::INTERRUPTED,
            _ => code,
        }
    }

    /// The step that stopped the run: the last failed or aborted one.
    fn trigger(&self) -> Option<String> {
        self.doc
            .steps
            .iter()
            .rev()
            .find(|s| {
                self.status
                    .get(&s.name)
                    .is_some_and(|st| st.is_failure() || *st == StepStatus::Aborted)
            })
            .map(|s| s.name.clone())
    }

    /// The hosts a fan-out step succeeded on (`None`: not a fan-out).
    fn ok_hosts(&self, step: &Step) -> Option<Vec<String>> {
        let ctx = self.ctx.steps.get(&step.name)?;
        if step.attrs.hosts.is_none() || ctx.hosts.is_empty() {
            return None;
        }
        Some(
            ctx.hosts
                .iter()
                .filter(|(_, h)| h.status == StepStatus::Ok.as_str())
                .map(|(name, _)| name.clone())
                .collect(),
        )
    }

    /// The undos to run, last step first: every step with a rollback that
    /// succeeded, and a fan-out step on the hosts it succeeded on.
    fn undo_plan(&self) -> Vec<Undo> {
        let mut out = Vec::new();
        for step in self.doc.steps.iter().rev().filter(|s| !s.is_rollback()) {
            let Some(rollback) = &step.attrs.rollback else {
                continue;
            };
            let status = self.status.get(&step.name).copied().unwrap_or_default();
            let hosts = self.ok_hosts(step);
            let ran = match &hosts {
                Some(h) => !h.is_empty() && status != StepStatus::Aborted,
                None => status == StepStatus::Ok,
            };
            if !ran {
                continue;
            }
            let undo = match rollback {
                Rollback::Inline(cmd) => inline_step(step, cmd),
                Rollback::Block(name) => {
                    let Some(block) = self.doc.step(name) else {
                        continue;
                    };
                    let mut b = block.clone();
                    // Where the step ran, unless the block says otherwise.
                    if b.attrs.host.is_none() && b.attrs.hosts.is_none() {
                        b.attrs.host = step.attrs.host.clone();
                        b.attrs.hosts = step.attrs.hosts.clone();
                    }
                    b
                }
            };
            let same_target = undo.attrs.hosts.is_some() && undo.attrs.hosts == step.attrs.hosts;
            out.push(Undo {
                step: undo,
                undoes: step.name.clone(),
                index: step.index,
                inline: matches!(rollback, Rollback::Inline(_)),
                hosts: hosts.filter(|_| same_target),
            });
        }
        out
    }

    /// Steps that succeeded and are not `safe` but have no rollback.
    fn without_rollback(&self) -> Vec<String> {
        self.doc
            .steps
            .iter()
            .filter(|s| !s.is_rollback() && !s.attrs.safe && s.attrs.rollback.is_none())
            .filter(|s| self.status.get(&s.name) == Some(&StepStatus::Ok))
            .map(|s| s.name.clone())
            .collect()
    }

    fn undo_record(&self, u: &Undo) -> StepRecord {
        let at = if u.inline { u.index } else { u.step.index };
        let mut rec = self.plan[at].clone();
        rec.name = u.step.name.clone();
        rec.lang = u.step.lang.clone();
        rec.undoes = Some(u.undoes.clone());
        rec.target = match &u.hosts {
            Some(h) => format!(
                "{} (only {})",
                u.step.attrs.hosts.as_deref().unwrap_or_default(),
                h.join(", ")
            ),
            None => u
                .step
                .attrs
                .hosts
                .clone()
                .or_else(|| u.step.attrs.host.clone())
                .unwrap_or_else(|| "local".into()),
        };
        rec.reason = None;
        rec
    }

    /// One undo: render, gate, run (with its retries and timeout).
    async fn undo(&mut self, u: &Undo, rec: &mut StepRecord) -> Ended {
        let step = &u.step;
        let escape = kinds::escape_for(step);
        let exec_ctx = self.ctx.value(true, None);
        let rendered = match self.templates.render(step.script(), escape, &exec_ctx) {
            Ok(r) => r,
            Err(e) => {
                rec.status = StepStatus::Failed;
                let why = self.redactor.redact(&e.message);
                rec.reason = Some(format!("template error: {why}"));
                self.sinks
                    .message(&format!("rollback `{}`: template error: {why}", step.name));
                self.finished(rec, &StepCtx::default());
                return Ended::NotOk;
            }
        };
        let shown = self
            .templates
            .render(step.script(), escape, &self.ctx.value(false, None))
            .unwrap_or_else(|_| step.script().to_string());
        rec.rendered = Some(self.redactor.redact(&shown));
        if let Some(message) = self.undo_gate(step) {
            match self.ask_undo(step, rec, &message).await {
                Some(Decision::Yes | Decision::Edit) => {}
                Some(Decision::Skip) => {
                    rec.status = StepStatus::Skipped;
                    rec.reason = Some("skipped by the operator at the gate".into());
                    self.finished(rec, &StepCtx::default());
                    return Ended::NotOk;
                }
                Some(Decision::Abort) => {
                    rec.status = StepStatus::Aborted;
                    rec.reason = Some("rollback stopped by the operator at the gate".into());
                    self.finished(rec, &StepCtx::default());
                    return Ended::Stop(RollbackResult::Stopped);
                }
                None => {
                    rec.status = StepStatus::Interrupted;
                    rec.reason = Some("interrupted at the gate".into());
                    self.finished(rec, &StepCtx::default());
                    return Ended::NotOk;
                }
            }
        }
        rec.started_at = Some(now_rfc3339());
        rec.status = StepStatus::Running;
        self.sinks.emit(RunEvent::StepStarted { step: rec });
        self.only_hosts = u.hosts.clone();
        let ctx = self.attempts(step, rec, &rendered).await;
        self.only_hosts = None;
        self.finished(rec, &ctx);
        if rec.status == StepStatus::Ok {
            Ended::Ok
        } else {
            Ended::NotOk
        }
    }

    fn finished(&mut self, rec: &StepRecord, ctx: &StepCtx) {
        let shell = self.res.local_shell().unwrap_or_default();
        self.sinks.emit(RunEvent::StepFinished {
            step: rec,
            ctx,
            shell: Some(&shell),
        });
    }

    /// An undo's gate: the block's own `confirm`, or `--step`.
    fn undo_gate(&self, step: &Step) -> Option<String> {
        let default = || format!("Run rollback `{}`?", step.name);
        let m = match &step.attrs.confirm {
            Some(Confirm::Message(m)) => m.clone(),
            Some(Confirm::Default) => default(),
            None if self.opts.step_mode => default(),
            None => return None,
        };
        let shown = self.ctx.value(false, None);
        let text = self.templates.render(&m, Escape::None, &shown).unwrap_or(m);
        Some(self.redactor.redact(&text))
    }

    /// Asks an undo's gate and records the answer; `None` when interrupted.
    async fn ask_undo(
        &mut self,
        step: &Step,
        rec: &mut StepRecord,
        message: &str,
    ) -> Option<Decision> {
        self.sinks.emit(RunEvent::GateAsked { step: rec });
        let answer = loop {
            let answer = self.ask_once(step, rec, message).await?;
            if answer.decision != Decision::Edit {
                break answer;
            }
            self.sinks
                .message("params cannot be changed at a rollback's gate");
        };
        rec.gate = Some(crate::record::GateRecord {
            message: message.to_string(),
            decision: answer.label.to_string(),
            operator: self.operator.clone(),
            at: now_rfc3339(),
        });
        self.sinks.emit(RunEvent::GateAnswered { step: rec });
        Some(answer.decision)
    }

    /// The rollback's own interrupt channel: every Ctrl-C/SIGTERM the run
    /// gets is passed on (the first stops the undo, the next kills it),
    /// and it can be reset when the operator goes on with the rollback.
    fn own_interrupts(&mut self) -> (Arc<watch::Sender<Interrupt>>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(Interrupt::None);
        let tx = Arc::new(tx);
        let mut outer: Interrupts = std::mem::replace(&mut self.interrupts, rx);
        outer.borrow_and_update();
        let fwd = tx.clone();
        let forward = tokio::spawn(async move {
            while outer.changed().await.is_ok() {
                fwd.send_modify(|l| {
                    *l = match *l {
                        Interrupt::None => Interrupt::Graceful,
                        _ => Interrupt::Immediate,
                    }
                });
            }
        });
        (tx, forward)
    }

    /// Interrupted during the rollback: the prompter decides (the terminal
    /// asks; CI and `--yes` stop).
    async fn stop_asked(&mut self, tx: &watch::Sender<Interrupt>, rest: &[String]) -> Ended {
        tx.send_replace(Interrupt::None);
        if rest.is_empty() {
            tx.send_replace(Interrupt::Graceful);
            return Ended::Stop(RollbackResult::Interrupted);
        }
        let stop = self
            .prompter
            .stop_rollback(rest, &mut self.sinks, &mut self.interrupts)
            .await;
        if stop {
            tx.send_replace(Interrupt::Graceful);
            Ended::Stop(RollbackResult::Interrupted)
        } else {
            tx.send_replace(Interrupt::None);
            self.interrupts.borrow_and_update();
            Ended::NotOk
        }
    }

    /// A dry run: a rollback block is planned, not run; it says which step
    /// it undoes, where and behind which gate.
    pub(super) fn plan_rollback_block(&mut self, i: usize) {
        if !self.opts.dry_run {
            return;
        }
        let block = &self.doc.steps[i];
        let mut rec = self.plan[i].clone();
        let mut parts = vec![match &rec.undoes {
            Some(s) => format!("rollback of `{s}`: runs only if a later step fails or is aborted"),
            None => "rollback block: no step names it".to_string(),
        }];
        if let Some(g) = self.undo_gate(block) {
            parts.push(format!("gate: \"{g}\""));
        }
        if let Some(t) = block.attrs.timeout {
            parts.push(format!("timeout {}s", t.as_secs_f64()));
        }
        rec.status = StepStatus::DryRun;
        rec.reason = Some(parts.join(", "));
        rec.rendered = Some(self.redactor.redact(block.script()));
        let _: StepFlow = self.settle(rec, StepCtx::default(), false);
    }
}
