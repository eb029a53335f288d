//! One step through the engine: `{skip}` and `when`, rendering (for
//! execution, and for the record with secrets as their templates), the gate,
//! the attempts through the step's kind with retries, and what later steps
//! see of it. Every change to the step's record leaves as an event.

use super::context::{HostCtx, StepCtx};
use super::events::RunEvent;
use super::gate::{Decision, GateQuestion, context_of, gate_message};
use super::kinds::{self, Attempt, AttemptCx};
use super::{Engine, StepFlow, ms, now_rfc3339};
use crate::document::{self, Diagnostic, Step};
use crate::exec::process::Interrupt;
use crate::record::{AttemptRecord, ExpectRecord, GateRecord, RunResult, StepRecord, StepStatus};
use crate::template::{Escape, Templates, tracking};
use indexmap::IndexMap;
use std::time::Instant;

impl Engine {
    pub(super) async fn run_step(&mut self, i: usize) -> StepFlow {
        let step = self.doc.steps[i].clone();
        let mut rec = self.plan[i].clone();
        rec.expected = step.sample().map(|s| self.redactor.redact(&s));
        if step.attrs.skip {
            return self.skip(&mut rec, "marked {skip}");
        }
        if let Some(reason) = self.not_selected(&step) {
            return self.skip(&mut rec, &reason);
        }
        // A dry run plans, without running, a safe step whose `when`, code
        // or target depends on a result it does not have.
        let mut unknown = match self.when(&step, &mut rec) {
            When::Run => false,
            When::Unknown => true,
            When::Done(flow) => return flow,
        };
        let rendered = match self.render(&step, &mut rec) {
            Ok((r, placeholder)) => {
                unknown |= placeholder;
                r
            }
            Err(flow) => return flow,
        };
        let gate = self.gate_text(&step);
        if self.opts.dry_run && step.attrs.safe && !unknown {
            unknown = self.target_unknown(&step);
        }
        if self.opts.dry_run && (!step.attrs.safe || unknown) {
            return self.plan_only(&step, rec, gate.as_deref()).await;
        }
        let mut rendered = rendered;
        if let (Some(message), false) = (gate, self.opts.dry_run) {
            match self.ask(&step, &mut rec, message).await {
                Ok(Some(edited)) => rendered = edited,
                Ok(None) => {}
                Err(flow) => return flow,
            }
        }
        rec.started_at = Some(now_rfc3339());
        rec.status = StepStatus::Running;
        self.sinks.emit(RunEvent::StepStarted { step: &rec });
        let ctx = match self.batched(&step, &mut rec, &rendered).await {
            Some(ctx) => ctx,
            None => self.attempts(&step, &mut rec, &rendered).await,
        };
        if step.attrs.background && rec.status == StepStatus::Ok {
            rec.reason = Some("started in the background; stopped when the run ends".into());
            self.background.push(rec.clone());
        }
        if self.opts.dry_run && rec.status.is_failure() {
            // A plan: the safe step could not run here, the run goes on.
            let why = rec.reason.clone().unwrap_or_else(|| match rec.exit_code {
                Some(c) => format!("exit {c}"),
                None => rec.status.as_str().to_string(),
            });
            rec.status = StepStatus::DryRun;
            rec.reason = Some(format!("planned; the dry run could not run it: {why}"));
        }
        self.settle(rec, ctx, true)
    }

    /// `when`: false skips the step with the reason recorded; in a dry run
    /// a condition on a result not known yet is left open.
    fn when(&mut self, step: &Step, rec: &mut StepRecord) -> When {
        let Some(when) = step.attrs.when.as_ref() else {
            return When::Run;
        };
        let value = self.ctx.value(true, self.opts.dry_run.then_some(&self.doc));
        let (result, placeholder) = tracking(|| self.templates.eval_bool(when, &value));
        match result {
            _ if placeholder && self.opts.dry_run => When::Unknown,
            Ok(true) => When::Run,
            Ok(false) => {
                let reason = format!("when: `{}` is false", self.redactor.redact(when));
                When::Done(self.skip(rec, &reason))
            }
            Err(e) => When::Done(self.render_failure(rec, &format!("in `when`: {e}"), None)),
        }
    }

    /// The code to run, and whether it used a dry-run placeholder; the
    /// record gets it with secrets as templates, and a templated `host=`
    /// rendered. In a dry run, code that can only render with results it
    /// does not have is shown as written.
    fn render(&mut self, step: &Step, rec: &mut StepRecord) -> Result<(String, bool), StepFlow> {
        let escape = kinds::escape_for(step);
        let placeholders = self.opts.dry_run.then_some(&self.doc);
        let render = |t: &Templates, c: &minijinja::Value| match placeholders {
            Some(_) => t.preview(step.script(), escape, c),
            None => t.render(step.script(), escape, c),
        };
        let exec_ctx = self.ctx.value(true, placeholders);
        let (result, placeholder) = tracking(|| render(&self.templates, &exec_ctx));
        let rendered = match result {
            Ok(r) => r,
            Err(_) if placeholder && self.opts.dry_run => {
                rec.rendered = Some(self.redactor.redact(step.script()));
                return Ok((step.script().to_string(), true));
            }
            Err(e) => return Err(self.render_failure(rec, &e.message, e.line)),
        };
        let shown = render(&self.templates, &self.ctx.value(false, placeholders))
            .unwrap_or_else(|_| step.script().to_string());
        let (rendered, shown) = (
            self.prompted_into(step, rendered),
            self.prompted_into(step, shown),
        );
        rec.rendered = Some(self.redactor.redact(&shown));
        if let Some(h) = step.attrs.hosts.as_deref().or(step.attrs.host.as_deref())
            && h.contains("{{")
            && let Ok(t) = self.templates.render(h, Escape::None, &exec_ctx)
        {
            rec.target = self.redactor.redact(t.trim());
        }
        Ok((rendered, placeholder))
    }

    /// Whether a remote step's target depends on a result not known yet.
    fn target_unknown(&self, step: &Step) -> bool {
        if step.attrs.host.is_none() && step.attrs.hosts.is_none() {
            return false;
        }
        let value = self.ctx.value(true, Some(&self.doc));
        let attr = step.attrs.hosts.as_deref().or(step.attrs.host.as_deref());
        let (_, in_attr) = tracking(|| {
            self.templates
                .render(attr.unwrap_or_default(), Escape::None, &value)
        });
        let (_, in_hosts) = tracking(|| self.rendered_hosts_with(&value));
        in_attr || in_hosts
    }

    /// The gate question, rendered (secrets shown as templates), if any.
    fn gate_text(&self, step: &Step) -> Option<String> {
        let m = gate_message(&self.doc, step, self.opts.step_mode)?;
        let placeholders = self.opts.dry_run.then_some(&self.doc);
        let shown_ctx = self.ctx.value(false, placeholders);
        let text = self
            .templates
            .render(&m, Escape::None, &shown_ctx)
            .unwrap_or(m);
        Some(self.redactor.redact(&text))
    }

    /// Asks the gate; the flow when the step does not go on.
    /// Asks the gate until it is answered; an `[e]dit` changes a param and
    /// asks again with the step rendered anew. `Ok(Some(code))`: the code to
    /// run after an edit; `Err`: the step does not go on.
    async fn ask(
        &mut self,
        step: &Step,
        rec: &mut StepRecord,
        mut message: String,
    ) -> Result<Option<String>, StepFlow> {
        self.sinks.emit(RunEvent::GateAsked { step: rec });
        let mut edits: Vec<String> = Vec::new();
        let mut rendered = None;
        let answer = loop {
            let answer = self.ask_once(step, rec, &message).await;
            let Some(answer) = answer else {
                rec.status = StepStatus::Interrupted;
                rec.reason = Some("interrupted at the gate".into());
                self.settle(rec.clone(), StepCtx::default(), false);
                return Err(StepFlow::Stop(RunResult::Interrupted));
            };
            let Some((name, value)) = answer
                .edit
                .clone()
                .filter(|_| answer.decision == Decision::Edit)
            else {
                break answer;
            };
            match self.edit_param(&name, &value) {
                Ok(note) => edits.push(note),
                Err(e) => {
                    self.sinks.message(&e);
                    continue;
                }
            }
            rendered = Some(self.render(step, rec)?.0);
            message = self.gate_text(step).unwrap_or(message);
        };
        let mut decision = answer.label.to_string();
        if !edits.is_empty() {
            decision.push_str(&format!(" after editing params: {}", edits.join(", ")));
        }
        rec.gate = Some(GateRecord {
            message,
            decision,
            operator: self.operator.clone(),
            at: now_rfc3339(),
        });
        self.sinks.emit(RunEvent::GateAnswered { step: rec });
        match answer.decision {
            Decision::Yes | Decision::Edit => Ok(rendered),
            Decision::Skip => Err(self.skip(rec, "skipped by the operator at the gate")),
            Decision::Abort => {
                rec.status = StepStatus::Aborted;
                rec.reason = Some("aborted by the operator at the gate".into());
                self.settle(rec.clone(), StepCtx::default(), true);
                Err(StepFlow::Stop(RunResult::Aborted))
            }
        }
    }

    /// One question to the prompter, with the step as it renders now.
    pub(super) async fn ask_once(
        &mut self,
        step: &Step,
        rec: &StepRecord,
        message: &str,
    ) -> Option<super::gate::Answer> {
        let command = rec.rendered.clone().unwrap_or_default();
        let target = match self.reach(step, false).await {
            super::blast::Reach::Local => rec.target.clone(),
            reach => reach.summary(),
        };
        let (heading, prose) = context_of(&self.doc, step);
        let previous = self.previous_output();
        let params = self.shown_params();
        let question = GateQuestion {
            step: &step.name,
            line: step.line,
            target: &target,
            command: &command,
            message,
            heading,
            prose,
            previous: &previous,
            params: &params,
        };
        self.prompter
            .ask(&question, &mut self.sinks, &mut self.interrupts)
            .await
    }

    /// The last lines each earlier step printed, redacted, for a gate's
    /// `[v]iew`.
    fn previous_output(&self) -> Vec<(String, String)> {
        const LINES: usize = 200;
        self.ctx
            .steps
            .iter()
            .filter(|(_, c)| !c.stdout.is_empty() || !c.stderr.is_empty())
            .map(|(name, c)| {
                let text = self.redactor.redact(&format!("{}{}", c.stdout, c.stderr));
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
                (name.clone(), tail)
            })
            .collect()
    }

    /// Every attempt (`retries`), each recorded; returns what later steps
    /// see of the last one.
    pub(super) async fn attempts(
        &mut self,
        step: &Step,
        rec: &mut StepRecord,
        rendered: &str,
    ) -> StepCtx {
        let timeout = step.attrs.timeout.or_else(|| {
            self.doc
                .front
                .timeout
                .as_deref()
                .and_then(|t| crate::duration::parse_duration(t).ok())
        });
        let attempts = step.attrs.retries + 1;
        let mut ctx = StepCtx::default();
        for attempt in 1..=attempts {
            let t0 = Instant::now();
            let started_at = now_rfc3339();
            let mut result = self.attempt(step, rec, rendered, timeout).await;
            let expect = self.expectation(step, &mut result);
            let status = result.status;
            let record = AttemptRecord {
                attempt,
                status,
                exit_code: result.exit_code,
                started_at,
                duration_ms: ms(t0.elapsed()),
            };
            rec.attempts.push(record.clone());
            ctx = apply(step, rec, result);
            rec.expect = expect;
            self.sinks.emit(RunEvent::AttemptFinished {
                step: rec,
                attempt: &record,
            });
            if rec.status == StepStatus::Ok
                || rec.status == StepStatus::Interrupted
                || self.interrupted()
                || attempt == attempts
            {
                break;
            }
            self.sinks.message(&format!(
                "step `{}` {} (attempt {attempt}/{attempts}); retrying",
                step.name,
                rec.status.as_str()
            ));
            if !self.retry_delay(step).await {
                break;
            }
        }
        rec.duration_ms = Some(rec.attempts.iter().map(|a| a.duration_ms).sum());
        let last = rec.status;
        if last.is_failure() && last != StepStatus::Interrupted && step.attrs.allow_failure {
            rec.status = StepStatus::FailedAllowed;
            if last == StepStatus::TimedOut {
                rec.reason = Some("timed out (allow_failure)".into());
            }
        }
        ctx
    }

    /// `expect=`: the step's stdout compared with the runbook's sample,
    /// both redacted; a mismatch fails the attempt.
    fn expectation(&mut self, step: &Step, result: &mut Attempt) -> Option<ExpectRecord> {
        let mode = step.attrs.expect?;
        if result.status != StepStatus::Ok {
            return None;
        }
        let sample = self.redactor.redact(&step.sample()?);
        let outcome = crate::expect::compare(mode, &sample, &result.stdout);
        if !outcome.ok {
            let why = format!(
                "output does not match the runbook's sample (expect={})",
                mode.as_str()
            );
            // The operator sees the diff as it happens, not only in the reports.
            let diff = outcome.diff.as_deref().unwrap_or_default();
            self.sinks
                .message(&format!("step `{}`: {why}\n{}", step.name, diff.trim_end()));
            result.status = StepStatus::Failed;
            result.error = Some(why);
        }
        Some(ExpectRecord {
            mode: mode.as_str().into(),
            ok: outcome.ok,
            diff: outcome.diff,
        })
    }

    /// Waits `retry_delay`; false when interrupted meanwhile.
    async fn retry_delay(&self, step: &Step) -> bool {
        let Some(delay) = step.attrs.retry_delay else {
            return true;
        };
        let mut irq = self.interrupts.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = irq.wait_for(|i| *i != Interrupt::None) => false,
        }
    }

    /// One attempt, through the step's kind.
    async fn attempt(
        &mut self,
        step: &Step,
        rec: &StepRecord,
        rendered: &str,
        timeout: Option<std::time::Duration>,
    ) -> Attempt {
        let Some(kind) = kinds::executor_for(step) else {
            return Attempt::error(format!("no step kind runs `{}` blocks", step.lang));
        };
        let cx = AttemptCx {
            res: &mut self.res,
            doc: &self.doc,
            step,
            rendered,
            timeout,
            rec,
            ctx: &self.ctx,
            templates: &self.templates,
            redactor: &self.redactor,
            sinks: &mut self.sinks,
            interrupts: &self.interrupts,
            opts: &self.opts,
            only_hosts: self.only_hosts.as_deref(),
        };
        kind.attempt(cx).await
    }

    fn skip(&mut self, rec: &mut StepRecord, reason: &str) -> StepFlow {
        rec.status = StepStatus::Skipped;
        rec.reason = Some(reason.to_string());
        let ctx = StepCtx {
            status: "skipped".into(),
            ..Default::default()
        };
        self.settle(rec.clone(), ctx, true)
    }

    pub(super) fn render_failure(
        &mut self,
        rec: &mut StepRecord,
        message: &str,
        line: Option<usize>,
    ) -> StepFlow {
        let step = &self.doc.steps[rec.index];
        let file_line = step.code_line + line.unwrap_or(1) - 1;
        let diag = Diagnostic::at_line_col(
            &self.doc.source,
            if line.is_some() { file_line } else { step.line },
            1,
            self.doc.source.line_text(file_line).len().max(1),
            format!(
                "template error in step `{}`: {}",
                step.name,
                self.redactor.redact(message)
            ),
        );
        self.sinks.message(&diag.to_string());
        rec.status = StepStatus::Failed;
        rec.reason = Some(diag.short());
        self.settle(rec.clone(), StepCtx::default(), false);
        if self.opts.dry_run {
            StepFlow::RenderFailed
        } else {
            StepFlow::Stop(RunResult::Failed)
        }
    }

    /// The step is done: later steps see `ctx`, the sinks get its final
    /// record (`journal`: with the local shell's state, for `--resume`).
    pub(super) fn settle(&mut self, rec: StepRecord, ctx: StepCtx, journal: bool) -> StepFlow {
        let dry_failure = self.opts.dry_run && rec.status.is_failure();
        // A dry run keeps a failed safe step's result a placeholder, so
        // later steps are still planned against it.
        if rec.status != StepStatus::DryRun && !dry_failure {
            self.ctx.set_step(rec.name.clone(), ctx.clone());
        }
        self.status.insert(rec.name.clone(), rec.status);
        let shell = journal.then(|| self.res.local_shell().unwrap_or_default());
        self.sinks.emit(RunEvent::StepFinished {
            step: &rec,
            ctx: &ctx,
            shell: shell.as_ref(),
        });
        match rec.status {
            StepStatus::Interrupted => StepFlow::Stop(RunResult::Interrupted),
            // A rollout stopped at a batch gate.
            StepStatus::Aborted => StepFlow::Stop(RunResult::Aborted),
            // A dry run plans every step, whatever a safe one did.
            s if s.is_failure() && !self.opts.dry_run => StepFlow::Stop(RunResult::Failed),
            _ if self.interrupted() => StepFlow::Stop(RunResult::Interrupted),
            _ => StepFlow::Continue,
        }
    }
}

/// What a step's `when` decided.
enum When {
    Run,
    /// A dry run cannot tell: it depends on a result not known yet.
    Unknown,
    Done(StepFlow),
}

/// Puts an attempt's result into the step's record; returns what later
/// steps see of it.
fn apply(step: &Step, rec: &mut StepRecord, mut result: Attempt) -> StepCtx {
    let mut json = None;
    if step.attrs.capture == Some(document::Capture::Json) && result.status == StepStatus::Ok {
        match serde_json::from_str::<serde_json::Value>(&result.stdout) {
            Ok(v) => json = Some(v),
            Err(e) => {
                result.status = StepStatus::Failed;
                result.error = Some(format!("capture=json: the output is not JSON: {e}"));
            }
        }
    }
    if let Some(e) = &result.error {
        let mut out = result.output.take().unwrap_or_default();
        if out.head.is_empty() && result.hosts.is_empty() {
            out.head = format!("runbook: {e}\n");
            out.total_lines = 1;
            out.total_bytes = out.head.len() as u64;
        }
        result.output = Some(out);
        rec.reason = Some(e.clone());
    }
    let hosts: IndexMap<String, HostCtx> = result
        .hosts
        .iter()
        .map(|h| {
            let ctx = HostCtx {
                stdout: format!("{}{}", h.output.head, h.output.tail),
                exit_code: h.exit_code,
                status: h.status.as_str().into(),
            };
            (h.host.clone(), ctx)
        })
        .collect();
    if let Some(t) = result.target {
        rec.target = t;
    }
    rec.status = result.status;
    rec.exit_code = result.exit_code;
    rec.output = result.output;
    rec.hosts = result.hosts;
    rec.http = result.http;
    rec.json = json.clone();
    rec.chart = crate::chart::summarize(rec, step.attrs.chart, step.attrs.chart_unit.as_deref());
    StepCtx {
        stdout: result.stdout,
        stderr: result.stderr,
        exit_code: result.exit_code,
        status: result.status.as_str().into(),
        json,
        hosts,
    }
}

/// What a dry run says of a step it does not run.
pub(super) fn dry_run_summary(step: &Step, gate: Option<&str>, target: &str) -> String {
    let mut parts = vec![format!("target {target}")];
    if let Some(m) = gate {
        parts.push(format!("gate: \"{m}\""));
    }
    if let Some(w) = &step.attrs.when {
        parts.push(format!("when: {w}"));
    }
    if let Some(t) = step.attrs.timeout {
        parts.push(format!("timeout {}s", t.as_secs_f64()));
    }
    if step.attrs.retries > 0 {
        parts.push(format!("retries {}", step.attrs.retries));
    }
    match &step.attrs.rollback {
        Some(document::Rollback::Block(b)) => parts.push(format!("rollback: `{b}`")),
        Some(document::Rollback::Inline(c)) => parts.push(format!("rollback: \"{c}\"")),
        None => {}
    }
    parts.join(", ")
}
