//! The run record: everything that happened in one run, in one serialisable
//! structure. The runner fills it in; every report (annotated Markdown, JSON,
//! JUnit, HTML, the GitLab note) is rendered from it and nothing else.
//!
//! Every string in here has already been through secret redaction.
//!
//! The record knows `exec`'s results (and converts them into its own
//! types); `exec` does not know the record.

use crate::exec::capture::OutputSummary;
use crate::exec::http::{HttpRequest, HttpResponseData};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Version of the JSON report schema (`docs/report-schema.json`).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema_version: u32,
    pub runbook: RunbookInfo,
    pub tool_version: String,
    pub operator: String,
    /// The CI job that made the run (`CI_JOB_URL`), when there is one.
    #[serde(default)]
    pub job_url: Option<String>,
    pub machine: String,
    /// The alert that drove the run (`--alert`), when there was one.
    #[serde(default)]
    pub alert: Option<AlertRecord>,
    /// Params as used (secrets masked).
    pub params: IndexMap<String, serde_json::Value>,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub result: RunResult,
    pub exit_code: Option<i32>,
    pub dry_run: bool,
    /// The command-line flags that change what the run covers, as typed:
    /// `--resume`, `--from STEP`, `--dry-run`, `--yes`, `--step`. Empty for
    /// a full run.
    #[serde(default)]
    pub mode: Vec<String>,
    #[serde(default)]
    pub preconditions: Vec<PreconditionResult>,
    pub steps: Vec<StepRecord>,
    /// The head of the annotated copy's hash chain (docs/annotated-copy.md,
    /// "Hash chain"): set when the copy is written, so the other reports of
    /// the same run carry it.
    #[serde(default)]
    pub chain_head: Option<String>,
    /// Who signed the chain head (`run --sign-key`): the signature itself
    /// is in the copy (docs/annotated-copy.md, "Signatures").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureRecord>,
    /// `--resume --force`: the saved run could not be trusted, and the
    /// operator continued anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_forced: Option<ResumeForced>,
    /// The rollback phase, when a step failed (or the operator aborted)
    /// and earlier steps had undos to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    /// `--shard I/N`: this run covered the I-th of N slices of every
    /// fan-out step's hosts; `runbook merge` combines the N records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// `run --publish`: every request made to the incident as the run
    /// went (timeline events, label moves, internal notes), sent or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishRecord>,
}

/// What `run --publish` sent to the incident while the run went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRecord {
    /// `gitlab:group/project#42`.
    pub target: String,
    pub events: Vec<PublishEvent>,
    /// The reports uploaded and the note posted once the run was over:
    /// only in the JSON report, which is written again when that is done
    /// (the copy and HTML report are what was uploaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_upload: Option<FinalUpload>,
}

/// The end of `run --publish`: the reports uploaded and the note posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalUpload {
    /// `sent` or `failed`.
    pub status: String,
    /// The names of the files uploaded (the links are in the note).
    pub files: Vec<String>,
    /// The id of the note posted on the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<u64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FinalUpload {
    pub fn sent(files: Vec<String>, note_id: Option<u64>) -> Self {
        FinalUpload {
            status: "sent".into(),
            files,
            note_id,
            error: None,
        }
    }

    pub fn failed(error: String) -> Self {
        FinalUpload {
            status: "failed".into(),
            files: Vec::new(),
            note_id: None,
            error: Some(error),
        }
    }
}

/// One request to the incident: what it said and whether it got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishEvent {
    /// `run_started`, `phase`, `label`, `gate`, `failure`, `internal_note`.
    pub kind: String,
    /// The timeline event's text, the label set, or what the note holds
    /// (never an internal step's output).
    pub text: String,
    /// RFC 3339: when it happened in the run.
    pub occurred_at: String,
    /// `sent`, `failed`, or `superseded` (a failed label move a later one
    /// replaced, so it is not retried).
    pub status: String,
    /// How many times it was tried (1, or more when retried at the end).
    pub attempts: u32,
    /// The last failure, when it was not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The SSH signature over a copy's chain head: who signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRecord {
    /// Always `runbook-record`.
    pub namespace: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub key_type: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The key's comment (empty when it has none).
    pub comment: String,
    /// `key` (a key file) or `agent` (signed through ssh-agent).
    pub via: String,
}

/// A resume that went ahead although the saved run could not be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeForced {
    /// Who forced it, and when (RFC 3339).
    pub operator: String,
    pub at: String,
    /// What could not be trusted, one line each.
    pub reasons: Vec<String>,
}

/// One of N deterministic slices of a run (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub total: usize,
}

impl Shard {
    /// `I/N`, `1 ≤ I ≤ N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}`: expected I/N with 1 ≤ I ≤ N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, total) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }

    /// Whether the host at `position` (0-based, in the step's full host
    /// list) is this shard's: hosts are dealt round-robin.
    pub fn owns(&self, position: usize) -> bool {
        position % self.total == self.index - 1
    }

    /// Where the `k`-th host of shard `index` stands in the full list.
    pub fn position(index: usize, total: usize, k: usize) -> usize {
        k * total + (index - 1)
    }
}

/// The rollback phase: what started it, each undo in the order it ran
/// (last succeeded step first), and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollbackRecord {
    /// The step whose failure, or whose gate's abort, started the rollback.
    pub trigger: String,
    /// `failed` or `aborted`.
    pub cause: String,
    pub result: RollbackResult,
    /// One record per undo, in the order they run. Each has `undoes` set;
    /// a rollback block's undo carries the block's name, an inline one
    /// `STEP.rollback`.
    pub undos: Vec<StepRecord>,
    /// Steps that succeeded, are not `safe`, and have no rollback: what the
    /// rollback could not undo.
    #[serde(default)]
    pub without_rollback: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackResult {
    Running,
    /// Every undo ran ok, and every step that succeeded had one (or is `safe`).
    RolledBack,
    /// An undo failed, was skipped or declined, or a step had none.
    Partial,
    /// The operator stopped the rollback (abort at an undo's gate).
    Stopped,
    /// Interrupted (Ctrl-C, SIGTERM) and stopped.
    Interrupted,
}

impl RollbackResult {
    pub fn as_str(&self) -> &'static str {
        match self {
            RollbackResult::Running => "rolling back",
            RollbackResult::RolledBack => "rolled back",
            RollbackResult::Partial => "partially rolled back",
            RollbackResult::Stopped => "rollback stopped",
            RollbackResult::Interrupted => "rollback interrupted",
        }
    }
}

impl RunRecord {
    /// The run's result as the reports word it: `failed, rolled back`,
    /// `aborted, partially rolled back`, or the result alone.
    pub fn result_text(&self) -> String {
        match &self.rollback {
            Some(rb) => format!("{}, {}", self.result.as_str(), rb.result.as_str()),
            None => self.result.as_str().to_string(),
        }
    }

    /// The result the record as a whole supports. A run that went fine from
    /// `--from` or `--resume` on still holds the earlier steps' results: a
    /// failed or aborted one among them makes the record failed or aborted,
    /// never `ok`.
    pub fn settled_result(&self) -> RunResult {
        if self.result != RunResult::Ok {
            return self.result;
        }
        if self.steps.iter().any(|s| s.status.is_failure()) {
            RunResult::Failed
        } else if self.steps.iter().any(|s| s.status == StepStatus::Aborted) {
            RunResult::Aborted
        } else {
            RunResult::Ok
        }
    }
}

/// Which alert drove a run: its identity, not its annotations (free text
/// that may hold anything).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The `alertname` label.
    pub alertname: Option<String>,
    /// `firing` (only a firing alert drives a run).
    pub status: String,
    pub labels: IndexMap<String, String>,
    /// RFC 3339, as the alert gave it.
    pub starts_at: Option<String>,
    /// Alertmanager's fingerprint, when the payload has one.
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunbookInfo {
    pub path: String,
    /// sha256 of the runbook source (generated blocks stripped), hex.
    pub sha256: String,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    Running,
    Ok,
    Failed,
    PreconditionFailed,
    Aborted,
    Interrupted,
    /// `--dry-run` that rendered everything.
    DryRunOk,
    /// `--dry-run` where something would fail to render.
    DryRunFailed,
}

impl RunResult {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunResult::Running => "running",
            RunResult::Ok => "ok",
            RunResult::Failed => "failed",
            RunResult::PreconditionFailed => "precondition failed",
            RunResult::Aborted => "aborted",
            RunResult::Interrupted => "interrupted",
            RunResult::DryRunOk => "dry run ok",
            RunResult::DryRunFailed => "dry run failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not reached (an earlier step failed, the run was aborted, ...).
    #[default]
    NotRun,
    Running,
    Ok,
    Failed,
    /// Failed, but `allow_failure` let the run go on.
    FailedAllowed,
    TimedOut,
    Interrupted,
    /// `when` was false, `{skip}`, or the operator answered "skip".
    Skipped,
    /// The operator answered "abort" at the gate.
    Aborted,
    /// `--dry-run`: rendered, not executed.
    DryRun,
}

impl StepStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepStatus::NotRun => "not run",
            StepStatus::Running => "running",
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::FailedAllowed => "failed (allowed)",
            StepStatus::TimedOut => "timed out",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Skipped => "skipped",
            StepStatus::Aborted => "aborted",
            StepStatus::DryRun => "dry run",
        }
    }

    /// Whether the step counts as a failure of the run.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
        )
    }

    /// Whether the step has finished (for `--resume`).
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            StepStatus::Ok | StepStatus::FailedAllowed | StepStatus::Skipped
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub name: String,
    pub lang: String,
    /// 1-based line of the opening fence in the runbook.
    pub line: usize,
    pub status: StepStatus,
    /// Why it was skipped / not run, when that is known.
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// The command as rendered, secrets shown as their template
    /// (`{{ secrets.X }}`) — never the value.
    pub rendered: Option<String>,
    pub gate: Option<GateRecord>,
    /// Target: `local`, a host name, or the fan-out entry.
    pub target: String,
    pub attempts: Vec<AttemptRecord>,
    /// Output of the last attempt (local or single-host steps).
    pub output: Option<OutputRecord>,
    /// Fan-out: one entry per host.
    #[serde(default)]
    pub hosts: Vec<HostResult>,
    /// HTTP steps: the response.
    pub http: Option<HttpRecord>,
    /// `capture=json`, parsed (redacted).
    pub json: Option<serde_json::Value>,
    /// A transcript block's sample output: what the runbook says the step
    /// prints ("expected (from the runbook)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// `expect=`: how the output compared with the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectRecord>,
    /// A rollback block, or an undo run in the rollback phase: the step it
    /// undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    /// `serial=`: the batches of the rollout, in order; the hosts of a
    /// batch that did not start are in none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<BatchRecord>,
    /// A chart of the step's numbers (a Prometheus result, or `chart=`):
    /// its kind, unit and a summary per series (docs/dsl.md, "Charts").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<crate::chart::ChartRecord>,
}

/// One batch of a canary rollout (`serial=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// 1-based.
    pub batch: usize,
    /// The hosts of the batch, as labelled in `hosts`.
    pub hosts: Vec<String>,
    pub ok: usize,
    pub failed: usize,
    /// The operator's answer at the gate before this batch (`batch_confirm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Why the rollout stopped after this batch, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// The result of an `expect=` comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectRecord {
    /// `exact`, `contains`, `regex` or `json-subset`.
    pub mode: String,
    pub ok: bool,
    /// Unified diff, expected (the sample) against the actual stdout, both
    /// redacted; `None` when they match.
    #[serde(default)]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateRecord {
    /// The question asked.
    pub message: String,
    /// `approved`, `approved (--yes)`, `skipped`, `aborted`.
    pub decision: String,
    pub operator: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub started_at: String,
    pub duration_ms: u64,
}

/// Captured output: stdout and stderr interleaved in arrival order, ANSI
/// stripped, secrets redacted, cut to head and tail when long.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutputRecord {
    /// The first lines (all of it when nothing was cut).
    pub head: String,
    /// The last lines, when something was cut.
    pub tail: String,
    pub total_bytes: u64,
    pub total_lines: u64,
    /// Lines left out between head and tail.
    pub omitted_lines: u64,
    /// Full log beside the report, when one was written.
    pub log_path: Option<String>,
    /// A background process still held stdout/stderr open after the step exited.
    #[serde(default)]
    pub leaked: bool,
}

impl From<OutputSummary> for OutputRecord {
    fn from(o: OutputSummary) -> Self {
        OutputRecord {
            head: o.head,
            tail: o.tail,
            total_bytes: o.total_bytes,
            total_lines: o.total_lines,
            omitted_lines: o.omitted_lines,
            log_path: o.log_path,
            leaked: o.leaked,
        }
    }
}

impl OutputRecord {
    pub fn is_cut(&self) -> bool {
        self.omitted_lines > 0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostResult {
    pub host: String,
    pub address: Option<String>,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub output: OutputRecord,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpRecord {
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub error: Option<String>,
}

impl HttpRecord {
    /// The record entry for an HTTP step.
    pub fn from_exchange(req: &HttpRequest, resp: &HttpResponseData) -> Self {
        HttpRecord {
            method: req.method.clone(),
            url: req.url.clone(),
            status: resp.status,
            headers: resp.headers.clone(),
            error: resp.error.as_ref().map(|e| e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreconditionResult {
    /// `commands`, `env`, `files`, `http`, `hosts`, `check`.
    pub kind: String,
    pub target: String,
    pub ok: bool,
    pub detail: Option<String>,
}

impl PreconditionResult {
    /// `precondition failed: commands `jq`: not found on PATH`.
    pub fn failure_message(&self) -> String {
        format!(
            "precondition failed: {} `{}`{}",
            self.kind,
            self.target,
            self.detail
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )
    }
}

impl RunRecord {
    /// The record with `f` (secret redaction) applied to every value that
    /// came from the run: params, preconditions, rendered commands, targets,
    /// reasons, gate questions, output, host errors, HTTP exchanges,
    /// captured JSON. What the tool generates or takes from the runbook
    /// text (names, timestamps, hashes, statuses) is left alone, so a
    /// secret that is an ordinary word cannot change it.
    ///
    /// Reports escape for their format after this: a secret is replaced
    /// before HTML, XML or Markdown escaping can change its form.
    pub fn redacted(&self, f: &dyn Fn(&str) -> String) -> RunRecord {
        let opt = |o: &Option<String>| o.as_deref().map(f);
        let mut r = self.clone();
        for v in r.params.values_mut() {
            redact_json(v, f);
        }
        if let Some(a) = &mut r.alert {
            a.alertname = opt(&a.alertname);
            for v in a.labels.values_mut() {
                *v = f(v);
            }
            a.starts_at = opt(&a.starts_at);
            a.fingerprint = opt(&a.fingerprint);
        }
        for p in &mut r.preconditions {
            p.target = f(&p.target);
            p.detail = opt(&p.detail);
        }
        for s in &mut r.steps {
            *s = s.redacted(f);
        }
        if let Some(rb) = &mut r.rollback {
            for s in &mut rb.undos {
                *s = s.redacted(f);
            }
        }
        r
    }
}

impl StepRecord {
    /// The step with `f` applied as [`RunRecord::redacted`] does.
    pub fn redacted(&self, f: &dyn Fn(&str) -> String) -> StepRecord {
        let opt = |o: &Option<String>| o.as_deref().map(f);
        let mut s = self.clone();
        s.reason = opt(&s.reason);
        s.rendered = opt(&s.rendered);
        s.target = f(&s.target);
        if let Some(g) = &mut s.gate {
            g.message = f(&g.message);
        }
        if let Some(o) = &mut s.output {
            o.head = f(&o.head);
            o.tail = f(&o.tail);
        }
        for h in &mut s.hosts {
            h.host = f(&h.host);
            h.address = opt(&h.address);
            h.error = opt(&h.error);
            h.output.head = f(&h.output.head);
            h.output.tail = f(&h.output.tail);
        }
        if let Some(h) = &mut s.http {
            h.url = f(&h.url);
            h.error = opt(&h.error);
            for (_, v) in &mut h.headers {
                *v = f(v);
            }
        }
        if let Some(j) = &mut s.json {
            redact_json(j, f);
        }
        s.expected = opt(&s.expected);
        if let Some(e) = &mut s.expect {
            e.diff = e.diff.as_deref().map(f);
        }
        if let Some(c) = s.chart.take() {
            s.chart = Some(crate::chart::redacted(&s, &c, f));
        }
        s
    }
}

fn redact_json(v: &mut serde_json::Value, f: &dyn Fn(&str) -> String) {
    match v {
        serde_json::Value::String(s) => *s = f(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| redact_json(x, f)),
        serde_json::Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut x) in old {
                redact_json(&mut x, f);
                o.insert(f(&k), x);
            }
        }
        _ => {}
    }
}
