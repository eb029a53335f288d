//! The engine: runs an analyzed runbook. It never sees clap, report files or
//! the terminal: options arrive as a plain [`RunOptions`], gates go through a
//! [`Prompter`], and everything that happens leaves as a [`RunEvent`] to the
//! [`Sinks`] (record builder, resume journal, terminal views).
//!
//! Order of business: refuse values the shell guard cannot quote, evaluate
//! preconditions, then each step in turn — `when`, render, gate, execute
//! through its kind ([`kinds`]), retry — and finally the run's settled result.

mod background;
pub mod blast;
mod canary;
pub mod context;
mod edit;
pub mod events;
pub mod gate;
pub mod journal;
pub mod kinds;
pub mod params;
pub mod probe;
mod rollback;
pub mod select;
mod step;

pub use events::{RunEvent, SharedRecord, Sink, Sinks};
pub use gate::{Answer, Decision, GateQuestion, Prompter};
pub use rollback::undoes as rollback_of;

use crate::document::Document;
use crate::error::exit;
use crate::exec::process::{Interrupt, Interrupts};
use crate::exec::shell::ShellState;
use crate::record::*;
use crate::secrets::Redactor;
use crate::template::{Escape, Templates};
use context::{Context, StepCtx, ValueCache};
use indexmap::IndexMap;
use kinds::Resources;
use std::path::PathBuf;
use std::time::Instant;

/// Output lines kept per step in the reports when nothing else is said.
pub const DEFAULT_MAX_OUTPUT_LINES: usize = 200;

/// What the caller decided about this run (from the command line or a test).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Approve every gate (`--yes`); the answer is recorded as such.
    pub yes: bool,
    /// Gate every step.
    pub step_mode: bool,
    pub dry_run: bool,
    /// Start at this step (its name).
    pub from: Option<String>,
    /// Continue after the last finished step of the restored run.
    pub resume: bool,
    /// Output lines kept per step in the record; the front matter's value,
    /// then [`DEFAULT_MAX_OUTPUT_LINES`], when `None`.
    pub max_output_lines: Option<usize>,
    /// Hosts a fan-out step runs on at once.
    pub forks: usize,
    /// Where full step logs go when output is cut.
    pub logs_dir: PathBuf,
    /// Run only these steps (`--only`, by name); with `tags`, either selects.
    pub only: Vec<String>,
    /// Run only steps with one of these Runme `tag`/`category` words (`--tag`).
    pub tags: Vec<String>,
    /// `--allow-hosts N`: steps may run on up to N hosts whatever their
    /// `max_hosts` says.
    pub allow_hosts: Option<usize>,
    /// `--shard I/N`: fan-out steps run on their I-th slice of hosts; other
    /// steps in shard 1 only, unless `each_shard`.
    pub shard: Option<crate::record::Shard>,
    /// `--no-rollback`: a failed or aborted run undoes nothing.
    pub no_rollback: bool,
}

/// Facts about the run that the engine records but does not decide.
#[derive(Debug, Clone, Default)]
pub struct RunHeader {
    pub path: String,
    pub sha256: String,
    pub operator: String,
    pub job_url: Option<String>,
    pub machine: String,
    pub started_at: String,
    /// The flags that change what the run covers, for the Mode row.
    pub mode: Vec<String>,
}

/// What an earlier run of the same output left (`--resume`, `--from`).
#[derive(Debug, Default)]
pub struct Restored {
    pub steps: Vec<(StepRecord, StepCtx)>,
    pub shell: Option<ShellState>,
}

/// Everything a run needs, resolved by the caller.
pub struct RunInputs {
    pub doc: Document,
    pub header: RunHeader,
    pub params: IndexMap<String, serde_json::Value>,
    pub secrets: Vec<(String, String)>,
    pub restored: Restored,
    /// Values for Runme's `export NAME=...` prompts, settled by the caller.
    pub prompted: Vec<(String, String)>,
    /// The alert that drove the run (`--alert`): templates see it as `alert`.
    pub alert: Option<crate::alert::Alert>,
}

pub struct Engine {
    doc: Document,
    opts: RunOptions,
    templates: Templates,
    redactor: Redactor,
    ctx: Context,
    sinks: Sinks,
    prompter: Box<dyn Prompter>,
    interrupts: Interrupts,
    res: Resources,
    /// Each step's status as the run stands, by name.
    status: IndexMap<String, StepStatus>,
    plan: Vec<StepRecord>,
    /// Set when the run ends.
    result: Option<RunResult>,
    operator: String,
    started: Instant,
    /// Records of the steps started in the background, completed when the run ends.
    background: Vec<StepRecord>,
    /// Runme prompt values, exported where the step's `export NAME=...` stood.
    prompted: IndexMap<String, String>,
    /// While an undo runs on a fan-out: the hosts its step succeeded on.
    only_hosts: Option<Vec<String>>,
}

/// How a step left the run.
enum StepFlow {
    Continue,
    RenderFailed,
    Stop(RunResult),
}

impl Engine {
    pub fn new(
        inputs: RunInputs,
        opts: RunOptions,
        sinks: Sinks,
        prompter: Box<dyn Prompter>,
        interrupts: Interrupts,
    ) -> crate::Result<Self> {
        let RunInputs {
            doc,
            header,
            params,
            secrets,
            restored,
            prompted,
            alert,
        } = inputs;
        let mut hidden = secrets.clone();
        hidden.extend(
            prompted
                .iter()
                .filter(|(k, v)| !v.is_empty() && crate::document::prompts::looks_secret(k))
                .cloned(),
        );
        let redactor = Redactor::new(hidden);
        let ctx = Context {
            params: params.clone(),
            env: std::env::vars().collect(),
            secrets: secrets.into_iter().collect(),
            hosts: doc
                .front
                .hosts
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                .collect(),
            run: serde_json::json!({
                "started_at": header.started_at,
                "operator": header.operator,
                "machine": header.machine,
                "dry_run": opts.dry_run,
                "runbook": header.path,
            }),
            alert: alert
                .as_ref()
                .map_or(serde_json::Value::Null, |a| a.template_value()),
            steps: IndexMap::new(),
            cache: ValueCache::default(),
        };
        let res = Resources::new(restored.shell)?;
        let mut engine = Engine {
            plan: plan(&doc),
            status: doc
                .steps
                .iter()
                .map(|s| (s.name.clone(), StepStatus::NotRun))
                .collect(),
            doc,
            opts,
            templates: Templates::new(),
            redactor,
            ctx,
            sinks,
            prompter,
            interrupts,
            res,
            result: None,
            operator: header.operator.clone(),
            started: Instant::now(),
            background: Vec::new(),
            prompted: prompted.into_iter().collect(),
            only_hosts: None,
        };
        engine.restore(restored.steps);
        let mut record = engine.header(header, &params);
        record.alert = alert.as_ref().map(|a| a.record());
        engine.sinks.emit(RunEvent::RunStarted { record: &record });
        Ok(engine)
    }

    fn header(&self, h: RunHeader, params: &IndexMap<String, serde_json::Value>) -> RunRecord {
        let masked = params
            .iter()
            .map(|(k, v)| {
                let shown = self.redactor.redact(&crate::report::plain_value(v));
                (k.clone(), serde_json::Value::String(shown))
            })
            .collect();
        let mut masked: IndexMap<String, serde_json::Value> = masked;
        for (k, v) in &self.prompted {
            let shown = serde_json::Value::String(self.redactor.redact(v));
            masked.insert(format!("export {k}"), shown);
        }
        RunRecord {
            schema_version: SCHEMA_VERSION,
            runbook: RunbookInfo {
                path: h.path,
                sha256: h.sha256,
                title: self.doc.front.title.clone(),
            },
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            operator: h.operator,
            job_url: h.job_url,
            machine: h.machine,
            alert: None,
            params: masked,
            started_at: h.started_at,
            finished_at: None,
            duration_ms: None,
            result: RunResult::Running,
            exit_code: None,
            dry_run: self.opts.dry_run,
            mode: h.mode,
            preconditions: Vec::new(),
            steps: self.plan.clone(),
            chain_head: None,
            signature: None,
            resume_forced: None,
            rollback: None,
            shard: self.opts.shard,
            publish: None,
        }
    }

    /// Takes earlier results (`--resume` / `--from`) into the plan and the
    /// template context; a step no longer in the runbook is dropped.
    fn restore(&mut self, previous: Vec<(StepRecord, StepCtx)>) {
        for (record, ctx) in previous {
            let Some(slot) = self.plan.iter_mut().find(|s| s.name == record.name) else {
                continue;
            };
            self.ctx.set_step(record.name.clone(), ctx);
            self.status.insert(record.name.clone(), record.status);
            *slot = record;
        }
        let first = self.first_step();
        let from = self.opts.from.is_some();
        for rec in self.plan.iter_mut().take(first) {
            if rec.status == StepStatus::NotRun {
                rec.reason = Some(if from { "before --from" } else { "not run" }.into());
            }
        }
    }

    fn interrupted(&self) -> bool {
        *self.interrupts.borrow() != Interrupt::None
    }

    /// Index of the first step to run.
    fn first_step(&self) -> usize {
        if let Some(from) = &self.opts.from {
            return self
                .doc
                .steps
                .iter()
                .position(|s| &s.name == from)
                .unwrap_or(0);
        }
        if self.opts.resume {
            return self
                .plan
                .iter()
                .position(|s| !s.status.is_done())
                .unwrap_or(self.plan.len());
        }
        0
    }

    /// Runs the runbook; returns the exit code and the sinks (the record is
    /// in them).
    pub async fn run(mut self) -> (i32, Sinks) {
        let code = self.run_steps().await;
        let code = self.roll_back(code).await;
        let code = self.finish(code).await;
        (code, self.sinks)
    }

    async fn run_steps(&mut self) -> i32 {
        if let Some(code) = self.refuse_unsafe_values() {
            return code;
        }
        if let Some(code) = self.refuse_wide_steps().await {
            return code;
        }
        if !self.doc.front.requires.is_empty()
            && !self.opts.dry_run
            && let Some(code) = self.preconditions().await
        {
            return code;
        }
        let mut render_failed = false;
        if let Some(StepFlow::Stop(result)) = self.restart_background().await {
            return self.stop(result);
        }
        for i in self.first_step()..self.doc.steps.len() {
            if self.interrupted() {
                break;
            }
            if self.doc.steps[i].is_rollback() {
                self.plan_rollback_block(i);
                continue;
            }
            match self.run_step(i).await {
                StepFlow::Continue => {}
                StepFlow::RenderFailed => render_failed = true,
                StepFlow::Stop(result) => return self.stop(result),
            }
        }
        if self.interrupted() {
            return self.stop(RunResult::Interrupted);
        }
        if self.opts.dry_run {
            let result = if render_failed {
                RunResult::DryRunFailed
            } else {
                RunResult::DryRunOk
            };
            return self.stop(result);
        }
        self.stop(RunResult::Ok)
    }

    fn stop(&mut self, result: RunResult) -> i32 {
        self.result = Some(result);
        exit_code_for(result)
    }

    /// Before anything runs (preconditions included), renders every shell
    /// step still to run, results of later steps as placeholders: a value
    /// the shell-context guard refuses (arithmetic, nested shell) stops the
    /// run with exit 2. A dry run reports each step instead.
    fn refuse_unsafe_values(&mut self) -> Option<i32> {
        if self.opts.dry_run {
            return None;
        }
        let value = self.ctx.value(true, Some(&self.doc));
        let (i, e) = (self.first_step()..self.doc.steps.len()).find_map(|i| {
            let step = &self.doc.steps[i];
            if !step.is_shell() || step.attrs.skip {
                return None;
            }
            match self.templates.preview(step.script(), Escape::Shell, &value) {
                Err(e) if e.refused => Some((i, e)),
                _ => None,
            }
        })?;
        let mut rec = self.plan[i].clone();
        let _ = self.render_failure(&mut rec, &e.message, e.line);
        self.result = Some(RunResult::Failed);
        Some(exit::INVALID)
    }

    /// Before anything runs (preconditions included): a step whose hosts
    /// are known and more than its `max_hosts` stops the run with exit 2.
    /// A dry run reports it on the step instead.
    async fn refuse_wide_steps(&mut self) -> Option<i32> {
        if self.opts.dry_run {
            return None;
        }
        let (i, why) = self.too_wide().await?;
        let mut rec = self.plan[i].clone();
        self.refuse_step(&mut rec, &why);
        self.result = Some(RunResult::Failed);
        Some(exit::INVALID)
    }

    /// Evaluates `requires:`; the exit code when one failed.
    async fn preconditions(&mut self) -> Option<i32> {
        let value = self.ctx.value(true, None);
        let templates = &self.templates;
        let render = |s: &str| -> Result<String, String> {
            templates
                .render(s, Escape::None, &value)
                .map_err(|e| e.message)
        };
        let hosts = self.rendered_hosts();
        let ec2 = self.res.ec2.as_ref();
        let results = probe::evaluate(&self.doc.front.requires, &hosts, &render, ec2).await;
        let results: Vec<PreconditionResult> = results
            .into_iter()
            .map(|mut r| {
                r.target = self.redactor.redact(&r.target);
                r.detail = r.detail.map(|d| self.redactor.redact(&d));
                r
            })
            .collect();
        self.sinks
            .emit(RunEvent::Preconditions { results: &results });
        if !results.iter().any(|r| !r.ok) {
            return None;
        }
        for r in results.iter().filter(|r| !r.ok) {
            self.sinks.message(&r.failure_message());
        }
        Some(self.stop(RunResult::PreconditionFailed))
    }

    /// Closes connections, settles the result over every step in the record
    /// (including those an earlier run left) and tells the sinks.
    async fn finish(&mut self, mut code: i32) -> i32 {
        self.stop_background().await;
        self.res.close().await;
        let mut result = self.result.unwrap_or(RunResult::Interrupted);
        if self.interrupted() && code != exit::INTERRUPTED {
            code = exit::INTERRUPTED;
            result = RunResult::Interrupted;
        }
        let settled = settled(result, self.status.values());
        if settled != result {
            result = settled;
            code = exit_code_for(settled);
        }
        let finished_at = now_rfc3339();
        self.sinks.emit(RunEvent::RunFinished {
            result,
            exit_code: code,
            finished_at: &finished_at,
            duration_ms: ms(self.started.elapsed()),
        });
        code
    }
}

/// Every step of the document as not yet run; a rollback block says which
/// step it undoes.
fn plan(doc: &Document) -> Vec<StepRecord> {
    doc.steps
        .iter()
        .map(|s| {
            let undoes = s.is_rollback().then(|| rollback::undoes(doc, s)).flatten();
            let reason = s.is_rollback().then(|| match &undoes {
                Some(step) => format!("rollback block: runs only to undo `{step}`"),
                None => "rollback block: no step names it".to_string(),
            });
            (s, undoes, reason)
        })
        .map(|(s, undoes, reason)| StepRecord {
            index: s.index,
            name: s.name.clone(),
            lang: s.lang.clone(),
            line: s.line,
            status: StepStatus::NotRun,
            reason,
            exit_code: None,
            started_at: None,
            duration_ms: None,
            rendered: None,
            gate: None,
            target: s
                .attrs
                .hosts
                .clone()
                .or_else(|| s.attrs.host.clone())
                .unwrap_or_else(|| "local".into()),
            attempts: Vec::new(),
            output: None,
            hosts: Vec::new(),
            http: None,
            json: None,
            expected: None,
            expect: None,
            undoes,
            batches: Vec::new(),
            chart: None,
        })
        .collect()
}

/// The result the steps support: a run that went fine from `--from` or
/// `--resume` on still holds the earlier steps' results, and a failed or
/// aborted one among them makes the record failed or aborted, never `ok`.
fn settled<'a>(result: RunResult, steps: impl Iterator<Item = &'a StepStatus>) -> RunResult {
    if result != RunResult::Ok {
        return result;
    }
    let mut aborted = false;
    for s in steps {
        if s.is_failure() {
            return RunResult::Failed;
        }
        aborted |= *s == StepStatus::Aborted;
    }
    if aborted {
        RunResult::Aborted
    } else {
        RunResult::Ok
    }
}

pub fn exit_code_for(result: RunResult) -> i32 {
    match result {
        RunResult::Ok | RunResult::DryRunOk | RunResult::Running => exit::OK,
        RunResult::Failed => exit::STEP_FAILED,
        RunResult::PreconditionFailed => exit::PRECONDITION,
        RunResult::Aborted => exit::ABORTED,
        RunResult::Interrupted => exit::INTERRUPTED,
        RunResult::DryRunFailed => exit::INVALID,
    }
}

pub fn now_rfc3339() -> String {
    let ts = jiff::Timestamp::now();
    ts.round(jiff::Unit::Millisecond).unwrap_or(ts).to_string()
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}
