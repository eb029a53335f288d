//! Step kinds behind one trait. Each kind says which steps it claims, how
//! values are escaped into its code, and runs one attempt; the engine only
//! asks the [`registry`]. Adding a kind is one file here plus one line in
//! [`registry`].

mod http;
pub mod interpreter;
mod remote;
mod shell;

use super::context::Context;
use super::events::{RunEvent, Sinks};
use super::{DEFAULT_MAX_OUTPUT_LINES, RunOptions};
use crate::document::{Diagnostic, Document, Step};
use crate::exec::capture::{CaptureConfig, OutputCapture};
use crate::exec::process::{Interrupts, Stream, Termination};
use crate::exec::shell::{ShellKernel, ShellState};
use crate::record::{HostResult, HttpRecord, OutputRecord, StepRecord, StepStatus};
use crate::secrets::Redactor;
use crate::template::{Escape, Templates};
use indexmap::IndexMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// Bytes of a step's stdout kept for `steps.X.stdout` and `capture=json`.
const KEEP_STDOUT: usize = 4 << 20;

/// A kind of step.
pub trait StepExecutor: Sync {
    /// The kind's name, for messages.
    fn name(&self) -> &'static str;
    /// Whether this kind runs `step` (the first kind in the registry that
    /// claims a step runs it).
    fn claims(&self, step: &Step) -> bool;
    /// How template values are escaped into the step's code.
    fn escape(&self) -> Escape {
        Escape::None
    }
    /// Runs one attempt of the step.
    fn attempt<'a>(&'a self, cx: AttemptCx<'a>) -> Attempting<'a>;
    /// The kind's own rules, for `analyze` (and so for `check` and `run`):
    /// called for every step, whichever kind claims it. Never runs anything.
    fn analyze(&self, _doc: &Document, _step: &Step, _out: &mut Vec<Diagnostic>) {}
}

pub type Attempting<'a> = Pin<Box<dyn Future<Output = Attempt> + 'a>>;

/// Every kind, most specific first.
pub fn registry() -> &'static [&'static dyn StepExecutor] {
    &[
        &remote::Remote,
        &http::Http,
        &shell::Shell,
        &interpreter::Interpreter,
    ]
}

/// The kind that runs `step`.
pub fn executor_for(step: &Step) -> Option<&'static dyn StepExecutor> {
    registry().iter().copied().find(|k| k.claims(step))
}

/// The escaping of `step`'s code.
pub fn escape_for(step: &Step) -> Escape {
    executor_for(step).map_or(Escape::None, |k| k.escape())
}

/// What an attempt may use: the run's long-lived resources, the template
/// context, the sinks for its output, and the step itself.
pub struct AttemptCx<'a> {
    pub res: &'a mut Resources,
    pub doc: &'a Document,
    pub step: &'a Step,
    pub rendered: &'a str,
    pub timeout: Option<Duration>,
    pub rec: &'a StepRecord,
    pub ctx: &'a Context,
    pub templates: &'a Templates,
    pub redactor: &'a Redactor,
    pub sinks: &'a mut Sinks,
    pub interrupts: &'a Interrupts,
    pub opts: &'a RunOptions,
    /// An undo of a fan-out step: only the hosts (labels) the step
    /// succeeded on.
    pub only_hosts: Option<&'a [String]>,
}

impl AttemptCx<'_> {
    /// Where a step's output is kept: head and tail in the record, the full
    /// log beside it when cut.
    pub fn capture(&self, host: Option<&str>) -> Result<OutputCapture, String> {
        let step = log_stem(&self.step.name);
        let name = match host {
            Some(h) => format!("{step}.{}.log", sanitize(h)),
            None => format!("{step}.log"),
        };
        let cfg = CaptureConfig {
            // The command line wins over the front matter.
            max_lines: self
                .opts
                .max_output_lines
                .or(self.doc.front.max_output_lines)
                .unwrap_or(DEFAULT_MAX_OUTPUT_LINES),
            log_path: Some(self.opts.logs_dir.join(name)),
            keep_stdout: KEEP_STDOUT,
        };
        OutputCapture::new(cfg, self.redactor).map_err(|e| format!("cannot open the step log: {e}"))
    }

    /// The environment (secrets, then rendered `env=`) and the rendered
    /// `cwd=` of a local step.
    pub fn local_env(&self) -> Result<LocalEnv, String> {
        let mut env: Vec<(String, String)> = self
            .ctx
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let value = self.ctx.value(true, None);
        for (k, v) in &self.step.attrs.env {
            let v = self
                .templates
                .render(v, Escape::None, &value)
                .map_err(|e| format!("in `env` {k}: {e}"))?;
            env.push((k.clone(), v));
        }
        let cwd = match &self.step.attrs.cwd {
            Some(c) => Some(
                self.templates
                    .render(c, Escape::None, &value)
                    .map(|c| from_document_dir(self.doc, c))
                    .map_err(|e| format!("in `cwd`: {e}"))?,
            ),
            None => self.front_cwd(),
        };
        Ok((env, cwd))
    }

    /// The front matter's `cwd:` (Runme's), relative to the document's
    /// directory: the default `cwd=` of every local step, as in Runme.
    /// `""` is none.
    fn front_cwd(&self) -> Option<String> {
        let cwd = self
            .doc
            .front
            .cwd
            .as_deref()
            .filter(|c| !c.trim().is_empty())?;
        let base = self
            .doc
            .source
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let dir = base.join(cwd);
        Some(
            std::path::absolute(&dir)
                .unwrap_or(dir)
                .display()
                .to_string(),
        )
    }

    /// Passes a chunk of output on to the sinks.
    pub fn output(sinks: &mut Sinks, rec: &StepRecord, stream: Stream, bytes: &[u8]) {
        sinks.emit(RunEvent::Output {
            step: rec,
            stream,
            bytes,
        });
    }
}

/// A relative `cwd=` is taken from the runbook's directory (as Runme does),
/// not from wherever `runbook` was started or an earlier step `cd`-ed.
fn from_document_dir(doc: &Document, cwd: String) -> String {
    let path = std::path::Path::new(&cwd);
    if path.is_absolute() || cwd.starts_with('~') {
        return cwd;
    }
    let dir = match doc.source.path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.join(path).to_string_lossy().into_owned()
}

/// A local step's environment and working directory.
pub type LocalEnv = (Vec<(String, String)>, Option<String>);

/// What lives as long as the run: shell kernels (state carried between
/// steps), the private state directory, the SSH pool.
pub struct Resources {
    kernels: IndexMap<String, ShellKernel>,
    state_dir: tempfile::TempDir,
    ssh: Option<crate::exec::ssh::SshPool>,
    restored_shell: Option<ShellState>,
    /// EC2 lookups, built once per run.
    pub ec2: Box<dyn crate::exec::inventory::Ec2Resolver>,
    /// Steps started in the background, by step name; stopped when the run ends.
    pub background: Vec<(String, crate::exec::background::Background)>,
}

impl Resources {
    pub fn new(restored_shell: Option<ShellState>) -> crate::Result<Self> {
        let state_dir = tempfile::Builder::new()
            .prefix("runbook-state-")
            .tempdir()
            .map_err(|e| crate::Error::io(std::env::temp_dir(), e))?;
        Ok(Resources {
            kernels: IndexMap::new(),
            state_dir,
            ssh: None,
            restored_shell,
            ec2: super::probe::ec2_resolver(),
            background: Vec::new(),
        })
    }

    /// The local bash kernel's state, for the journal.
    pub fn local_shell(&self) -> Option<ShellState> {
        self.kernels.get("local").map(|k| k.snapshot())
    }

    /// Closes every SSH connection.
    pub async fn close(&mut self) {
        if let Some(pool) = self.ssh.take() {
            pool.close_all().await;
        }
    }
}

/// One attempt's result.
#[derive(Default)]
pub struct Attempt {
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub output: Option<OutputRecord>,
    pub stdout: String,
    pub stderr: String,
    pub hosts: Vec<HostResult>,
    pub http: Option<HttpRecord>,
    pub error: Option<String>,
    /// The resolved target, when it says more than the attribute did.
    pub target: Option<String>,
}

impl Attempt {
    pub fn error(message: String) -> Self {
        Attempt {
            status: StepStatus::Failed,
            error: Some(message),
            ..Default::default()
        }
    }
}

pub fn status_of(t: &Termination) -> (StepStatus, Option<i32>) {
    match t {
        Termination::Exited(0) => (StepStatus::Ok, Some(0)),
        Termination::Exited(c) => (StepStatus::Failed, Some(*c)),
        Termination::Signaled(s) => (StepStatus::Failed, Some(128 + s)),
        Termination::TimedOut => (StepStatus::TimedOut, None),
        Termination::Interrupted => (StepStatus::Interrupted, None),
        Termination::NeedsTerminal => (StepStatus::Failed, None),
    }
}

/// A name safe as one path component.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A step name as the start of a log file name: [`sanitize`]d, never a
/// hidden or relative name (`..`), and with a short hash of the name when
/// that changed it, so `a:b` and `a_b` do not share a log.
pub fn log_stem(name: &str) -> String {
    let clean = sanitize(name);
    if clean == name && !name.starts_with('.') {
        return clean;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{:08x}", clean.trim_start_matches('.'), hash as u32)
}

/// Where a step's scripts and kernels keep their files.
pub fn state_path(res: &Resources, name: &str) -> PathBuf {
    res.state_dir.path().join(sanitize(name))
}
