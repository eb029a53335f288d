//! The runner: turns a parsed runbook plus the command line into a run.
//!
//! Order of business: parse, resolve params, refuse early what cannot work
//! (gates without a TTY), resolve secrets, evaluate preconditions, then run
//! the steps one by one — gate, `when`, render, execute (local shell kernel,
//! interpreter, HTTP, SSH, fan-out), retry — filling in the [`RunRecord`]
//! and appending each finished step to a journal so `--resume` can continue.
//! Whatever happens (failure, abort, Ctrl-C) the reports are written.

use crate::cli::{CheckArgs, CheckFormat, ColorArg, ListFormat, ReportFormat, RunArgs};
use crate::document::{self, Confirm, Diagnostic, Document, Step, StepKind};
use crate::error::{Error, Result, exit};
use crate::exec::capture::{CaptureConfig, OutputCapture};
use crate::exec::kill::KILL_GRACE;
use crate::exec::process::{self, Interrupt, Interrupts, Stream, Termination};
use crate::exec::shell::{ShellKernel, ShellState};
use crate::outputs::Outputs;
use crate::record::*;
use crate::report::terminal::{self, ColorChoice, Progress};
use crate::secrets::Redactor;
use crate::template::{Escape, Templates, to_value};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Bytes of a step's stdout kept for `steps.X.stdout` and `capture=json`.
const KEEP_STDOUT: usize = 4 << 20;
/// Output lines kept per step in the reports when nothing else is said.
const DEFAULT_MAX_OUTPUT_LINES: usize = 200;

// ---------------------------------------------------------------------------
// Small shared helpers

/// Writes a file atomically and privately (0600): a new temp file in the
/// same directory, then rename. Refuses symlinks, special files and other
/// users' files (see [`crate::safe_fs`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::safe_fs::write_private(path, bytes)
}

pub fn now_rfc3339() -> String {
    let ts = jiff::Timestamp::now();
    ts.round(jiff::Unit::Millisecond).unwrap_or(ts).to_string()
}

/// Who runs: in GitLab CI the person behind the job (`GITLAB_USER_LOGIN`),
/// not the runner's account; else the login name.
fn operator() -> String {
    for var in ["GITLAB_USER_LOGIN", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

/// The CI job's page (`CI_JOB_URL`), when it is an http(s) URL.
fn job_url() -> Option<String> {
    std::env::var("CI_JOB_URL").ok().filter(|u| {
        (u.starts_with("https://") || u.starts_with("http://"))
            && !u.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// The flags that change what a run covers, for the record's Mode row.
fn run_mode(args: &RunArgs) -> Vec<String> {
    let mut mode = Vec::new();
    if args.resume {
        mode.push("--resume".to_string());
    }
    if let Some(from) = &args.from {
        mode.push(format!("--from {from}"));
    }
    for (on, flag) in [
        (args.dry_run, "--dry-run"),
        (args.yes, "--yes"),
        (args.step, "--step"),
    ] {
        if on {
            mode.push(flag.to_string());
        }
    }
    mode
}

fn machine() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn color_choice(c: ColorArg) -> ColorChoice {
    match c {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    }
}

/// Reads and parses a runbook (generated blocks stripped first).
pub fn load(path: &Path) -> Result<Document> {
    document::parse_file(path)
}

// ---------------------------------------------------------------------------
// Params

/// Parses `key=value` pairs and a params file against the declared params.
pub fn resolve_params(
    doc: &Document,
    cli: &[String],
    file: Option<&Path>,
) -> Result<IndexMap<String, serde_json::Value>> {
    let mut given: IndexMap<String, serde_json::Value> = IndexMap::new();
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        let map: IndexMap<String, serde_json::Value> = serde_saphyr::from_str(&text)
            .map_err(|e| Error::Usage(format!("{}: invalid params file: {e}", f.display())))?;
        given.extend(map);
    }
    for kv in cli {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Error::Usage(format!(
                "invalid param `{kv}`: expected KEY=VALUE"
            )));
        };
        given.insert(
            k.trim().to_string(),
            serde_json::Value::String(v.to_string()),
        );
    }
    let declared = &doc.front.params;
    let mut diags = Vec::new();
    let (pline, pcol, pwidth) = front_key_position(doc, "params");
    for k in given.keys() {
        if !declared.contains_key(k) {
            let names: Vec<&str> = declared.keys().map(|s| s.as_str()).collect();
            let msg = if names.is_empty() {
                format!("param `{k}` is not declared: this runbook declares no params")
            } else {
                format!(
                    "param `{k}` is not declared (declared: {})",
                    names.join(", ")
                )
            };
            diags.push(Diagnostic::at_line_col(
                &doc.source,
                pline,
                pcol,
                pwidth,
                msg,
            ));
        }
    }
    let mut out = IndexMap::new();
    for (name, spec) in declared {
        let value = match given.get(name).or(spec.default.as_ref()) {
            Some(v) => v.clone(),
            None if spec.required => {
                let (l, c, w) = front_key_position(doc, name);
                diags.push(Diagnostic::at_line_col(
                    &doc.source,
                    l,
                    c,
                    w,
                    format!("param `{name}` is required: pass it with -p {name}=VALUE"),
                ));
                continue;
            }
            None => serde_json::Value::Null,
        };
        if let Some(choices) = &spec.choices {
            if !value.is_null() && !choices.iter().any(|c| same_value(c, &value)) {
                let (l, c, w) = front_key_position(doc, name);
                let list: Vec<String> = choices.iter().map(plain).collect();
                diags.push(Diagnostic::at_line_col(
                    &doc.source,
                    l,
                    c,
                    w,
                    format!(
                        "param `{name}` must be one of {} (got `{}`)",
                        list.join(", "),
                        plain(&value)
                    ),
                ));
            }
        }
        out.insert(name.clone(), value);
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(diags))
    }
}

use crate::analyze::params::same_value;
use crate::report::plain_value as plain;

/// Line, column and width of `key:` inside the front matter (or 1:1).
fn front_key_position(doc: &Document, key: &str) -> (usize, usize, usize) {
    if let Some(span) = doc.front_span {
        let text = &doc.source.text[span.start..span.end];
        let mut offset = span.start;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if let Some(rest) = trimmed.strip_prefix(key) {
                if rest.starts_with(':') {
                    let (l, c) = doc.source.line_col(offset + indent);
                    return (l, c, key.len());
                }
            }
            offset += line.len();
        }
    }
    (1, 1, 1)
}

// ---------------------------------------------------------------------------
// Template context

/// What later steps see of an earlier one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepCtx {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub status: String,
    pub json: Option<serde_json::Value>,
    #[serde(default)]
    pub hosts: IndexMap<String, HostCtx>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostCtx {
    pub stdout: String,
    pub exit_code: Option<i32>,
    pub status: String,
}

struct Context {
    params: IndexMap<String, serde_json::Value>,
    env: IndexMap<String, String>,
    secrets: IndexMap<String, String>,
    hosts: IndexMap<String, serde_json::Value>,
    run: serde_json::Value,
    steps: IndexMap<String, StepCtx>,
    /// Template values, converted once. Every step renders against the
    /// context (several times), and converting the whole environment and
    /// every earlier step's result on each render made a run quadratic in
    /// its number of steps.
    cache: ValueCache,
}

#[derive(Default)]
struct ValueCache {
    /// params, env, hosts, run: fixed for the run.
    fixed: std::sync::OnceLock<[minijinja::Value; 4]>,
    /// `secrets` as shown (index 0) and revealed (index 1).
    secrets: [std::sync::OnceLock<minijinja::Value>; 2],
    /// Each step's result, converted when it is set.
    steps: IndexMap<String, minijinja::Value>,
    /// The `steps` map, until the next step result is set: without (0)
    /// and with (1) dry-run placeholders for steps not run.
    steps_map: [std::sync::Mutex<Option<minijinja::Value>>; 2],
}

impl Context {
    /// Sets the result of a step as later steps see it.
    fn set_step(&mut self, name: String, ctx: StepCtx) {
        self.cache.steps.insert(name.clone(), to_value(&ctx));
        for map in &mut self.cache.steps_map {
            *map.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        }
        self.steps.insert(name, ctx);
    }

    /// The template context. `reveal` = real secret values (for execution);
    /// otherwise secrets render as their template text (for reports).
    fn value(&self, reveal: bool, placeholders: Option<&Document>) -> minijinja::Value {
        let [params, env, hosts, run] = self.cache.fixed.get_or_init(|| {
            [
                to_value(&self.params),
                to_value(&self.env),
                to_value(&self.hosts),
                to_value(&self.run),
            ]
        });
        let secrets = self.cache.secrets[usize::from(reveal)].get_or_init(|| {
            let secrets: IndexMap<String, String> = self
                .secrets
                .iter()
                .map(|(k, v)| {
                    let shown = if reveal {
                        v.clone()
                    } else {
                        format!("{{{{ secrets.{k} }}}}")
                    };
                    (k.clone(), shown)
                })
                .collect();
            to_value(&secrets)
        });
        let steps_map = |placeholders: Option<&Document>| {
            let mut steps: std::collections::BTreeMap<String, minijinja::Value> = self
                .cache
                .steps
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(doc) = placeholders {
                for s in &doc.steps {
                    steps.entry(s.name.clone()).or_insert_with(|| {
                        crate::template::placeholder(&format!("steps.{}", s.name))
                    });
                }
            }
            minijinja::Value::from(steps)
        };
        // Built once per step result, not per render: rebuilding it (with a
        // placeholder for every step of the runbook) on each render made a
        // dry run quadratic in its number of steps.
        let steps = self.cache.steps_map[usize::from(placeholders.is_some())]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| steps_map(placeholders))
            .clone();
        minijinja::context! {
            params => params.clone(),
            env => env.clone(),
            secrets => secrets.clone(),
            hosts => hosts.clone(),
            run => run.clone(),
            steps => steps,
        }
    }
}

// ---------------------------------------------------------------------------
// Journal (crash-safe state for --resume)

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum JournalEntry {
    Start {
        sha256: String,
        params: IndexMap<String, serde_json::Value>,
        started_at: String,
    },
    Step {
        record: Box<StepRecord>,
        ctx: StepCtx,
        shell: ShellState,
    },
}

/// An append-only JSON-lines file beside the report: one line when the run
/// starts, one per finished step. Each line is one `write(2)`, so a crash
/// leaves at worst a torn last line, which `load` ignores. Appending keeps
/// the per-step cost constant however long the runbook is (rewriting a
/// whole state file after each step would be quadratic).
struct Journal {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Journal {
    fn create(path: PathBuf, append: bool) -> Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
        }
        // 0600, never through a planted symlink: the journal holds step
        // output and what steps exported.
        let file = crate::safe_fs::open_private_append(&path)?;
        if !append {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
        }
        Ok(Journal {
            path,
            file: Some(file),
        })
    }

    fn append(&mut self, entry: &JournalEntry, redactor: &Redactor) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let line = serde_json::to_string(entry).map_err(|e| Error::Other(e.to_string()))?;
        let mut line = redactor.redact(&line);
        line.push('\n');
        file.write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }

    fn load(path: &Path) -> Vec<JournalEntry> {
        let Ok(file) = std::fs::File::open(path) else {
            return Vec::new();
        };
        std::io::BufReader::new(file)
            .lines()
            .map_while(|l| l.ok())
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Gates

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Yes,
    Skip,
    Abort,
}

fn gate_message(doc: &Document, step: &Step, step_mode: bool) -> Option<String> {
    let default = || format!("Run step `{}`?", step.name);
    match &step.attrs.confirm {
        Some(Confirm::Message(m)) => Some(m.clone()),
        Some(Confirm::Default) => Some(default()),
        None => {
            let all = doc.front.confirm.as_ref().is_some_and(|c| c.gates_all());
            (all || step_mode).then(default)
        }
    }
}

/// Asks on the terminal. Runs on a blocking thread so an interrupt can win.
/// Lines of the rendered command shown above a gate question.
const GATE_PREVIEW_LINES: usize = 20;

async fn ask(
    step: &Step,
    message: &str,
    command: &str,
    target: &str,
    progress: &mut dyn Progress,
    interrupts: &mut Interrupts,
) -> Option<Decision> {
    // The operator approves what will actually run: show it (rendered,
    // secrets as their templates), with the target.
    // Nothing shown here is interpreted by the terminal (a value carrying
    // `\r` or `ESC[2K` could rewrite the question).
    use crate::report::visible_line;
    let lines: Vec<&str> = command.lines().collect();
    let mut preview: String = lines
        .iter()
        .take(GATE_PREVIEW_LINES)
        .map(|l| format!("   │ {}\n", visible_line(l)))
        .collect();
    if lines.len() > GATE_PREVIEW_LINES {
        preview.push_str(&format!(
            "   │ … {} more lines\n",
            lines.len() - GATE_PREVIEW_LINES
        ));
    }
    let prompt = format!(
        "\n── gate: step `{}` (line {}) on {}\n{preview}   {}\n   [y]es / [s]kip / [a]bort: ",
        visible_line(&step.name),
        step.line,
        visible_line(target),
        visible_line(message)
    );
    let mut shown = false;
    progress.suspend(&mut || {
        crate::console::err(&prompt);
        shown = true;
    });
    loop {
        let line = tokio::select! {
            biased;
            _ = interrupts.wait_for(|i| *i != Interrupt::None) => {
                // Leave the question's line; the read is abandoned.
                crate::console::err("\n");
                return None;
            }
            line = crate::console::read_answer() => line,
        };
        let Some(line) = line else {
            return Some(Decision::Abort);
        };
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Some(Decision::Yes),
            "s" | "skip" | "n" | "no" => return Some(Decision::Skip),
            "a" | "abort" | "q" | "quit" => return Some(Decision::Abort),
            _ => crate::console::err("   please answer y, s or a: "),
        }
    }
}

// ---------------------------------------------------------------------------
// The run

pub fn run_command(args: RunArgs) -> Result<i32> {
    // Before any thread exists: the watchdog is forked.
    if let Err(e) = crate::exec::watchdog::start() {
        crate::console::err(&format!("warning: no watchdog for the steps: {e}\n"));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let code = rt.block_on(run_async(args));
    // Never wait for a blocking thread (a gate's read) to finish.
    rt.shutdown_timeout(Duration::from_millis(200));
    code
}

struct Runner {
    doc: Document,
    args: RunArgs,
    outputs: Outputs,
    templates: Templates,
    redactor: Redactor,
    ctx: Context,
    record: RunRecord,
    progress: Box<dyn Progress>,
    interrupts: Interrupts,
    kernels: IndexMap<String, ShellKernel>,
    state_dir: tempfile::TempDir,
    journal: Option<Journal>,
    ssh: Option<crate::exec::ssh::SshPool>,
    /// Built once per run, used by every remote step and the preconditions.
    ec2: Box<dyn crate::exec::inventory::Ec2Resolver>,
    restored_shell: Option<ShellState>,
    started: Instant,
}

async fn run_async(args: RunArgs) -> Result<i32> {
    let doc = load(&args.file)?;
    // Whatever `runbook check` refuses, refuse before anything runs.
    crate::analyze::refuse_invalid(&doc)?;
    let outputs = Outputs::new(&args);
    // Nothing runs until every output is known to be safe to write, and
    // this run is the only one writing it.
    outputs.check(&args)?;
    let operator = operator();
    let started_at = now_rfc3339();
    let _lock = if args.dry_run {
        None
    } else {
        let holder = crate::outputs::holder(&operator, &started_at);
        Some(crate::safe_fs::RunLock::acquire(
            &outputs.lock,
            &outputs.markdown,
            &holder,
        )?)
    };

    // Resume: the journal of the previous run of the same output.
    let sha = crate::text::sha256_hex(doc.source.text.as_bytes(), usize::MAX);
    let previous = if args.resume || args.from.is_some() {
        Journal::load(&outputs.journal)
    } else {
        Vec::new()
    };
    if args.resume && previous.is_empty() {
        return Err(Error::Usage(format!(
            "--resume: no saved run at {} (run without --resume first, with the same -o/--report-dir)",
            outputs.journal.display()
        )));
    }
    let mut previous = previous;
    let mut saved_params = None;
    if let Some(JournalEntry::Start { sha256, params, .. }) = previous.first() {
        if *sha256 != sha {
            if args.resume {
                return Err(Error::Usage(format!(
                    "--resume: {} changed since the saved run (sha256 differs), so its results cannot be reused; run it again without --resume",
                    args.file.display()
                )));
            }
            // --from on an edited runbook: start there, reuse nothing.
            crate::console::err(&format!(
                "note: {} changed since the saved run; earlier results are not reused\n",
                args.file.display()
            ));
            previous.clear();
        } else {
            saved_params = Some(params.clone());
        }
    }

    let mut cli_params = Vec::new();
    if let Some(saved) = &saved_params {
        if args.resume {
            for (k, v) in saved {
                if !v.is_null() {
                    cli_params.push(format!("{k}={}", plain(v)));
                }
            }
        }
    }
    cli_params.extend(args.params.iter().cloned());
    let params = resolve_params(&doc, &cli_params, args.params_file.as_deref())?;

    if let Some(from) = &args.from {
        if !doc.steps.iter().any(|s| &s.name == from) {
            let names: Vec<&str> = doc.steps.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "--from: no step named `{from}` (steps: {})",
                names.join(", ")
            )));
        }
    }

    // Gates need a human unless --yes: refuse before anything runs.
    if !args.yes && !args.dry_run && !std::io::stdin().is_terminal() {
        if let Some(step) = doc
            .steps
            .iter()
            .find(|s| gate_message(&doc, s, args.step).is_some())
        {
            return Err(Error::Usage(format!(
                "{} has confirmation gates (first: step `{}` at line {}) and stdin is not a terminal; \
                 pass --yes to approve them, or run it from a terminal",
                args.file.display(),
                step.name,
                step.line
            )));
        }
    }

    // Secrets.
    let secret_values = crate::secrets::resolve(&doc.front.secrets).await?;
    let redactor = Redactor::new(secret_values.clone());

    let (tx, interrupts) = watch::channel(Interrupt::None);
    spawn_signal_handler(tx);

    let stderr_tty = std::io::stderr().is_terminal();
    let mode = if args.quiet {
        terminal::TerminalMode::Quiet
    } else {
        terminal::detect_mode(
            stderr_tty,
            std::env::var("GITLAB_CI").is_ok_and(|v| v == "true"),
        )
    };
    let color = terminal::color_enabled(color_choice(args.color), stderr_tty);
    // Every string shown on the terminal goes through the redactor.
    let progress = crate::report::redacting::Redacting::wrap(
        terminal::progress_for(mode, color),
        redactor.clone(),
    );
    for w in crate::secrets::weak_secret_warnings(&secret_values, &doc.source.text) {
        eprintln!("warning: {w}");
    }

    let masked_params: IndexMap<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::Value::String(redactor.redact(&plain(v))),
            )
        })
        .collect();
    let record = RunRecord {
        schema_version: SCHEMA_VERSION,
        runbook: RunbookInfo {
            path: args.file.display().to_string(),
            sha256: sha.clone(),
            title: doc.front.title.clone(),
        },
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        operator,
        job_url: job_url(),
        machine: machine(),
        params: masked_params,
        started_at: started_at.clone(),
        finished_at: None,
        duration_ms: None,
        result: RunResult::Running,
        exit_code: None,
        dry_run: args.dry_run,
        mode: run_mode(&args),
        preconditions: Vec::new(),
        steps: doc
            .steps
            .iter()
            .map(|s| StepRecord {
                index: s.index,
                name: s.name.clone(),
                lang: s.lang.clone(),
                line: s.line,
                status: StepStatus::NotRun,
                reason: None,
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
            })
            .collect(),
    };

    let ctx = Context {
        params: params.clone(),
        env: std::env::vars().collect(),
        secrets: secret_values.into_iter().collect(),
        hosts: doc
            .front
            .hosts
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
            .collect(),
        run: serde_json::json!({
            "started_at": started_at,
            "operator": record.operator,
            "machine": record.machine,
            "dry_run": args.dry_run,
            "runbook": args.file.display().to_string(),
        }),
        steps: IndexMap::new(),
        cache: ValueCache::default(),
    };

    let state_dir = tempfile::Builder::new()
        .prefix("runbook-state-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;

    let journal = if args.dry_run {
        None
    } else {
        let append = args.resume || args.from.is_some();
        let mut j = Journal::create(outputs.journal.clone(), append && !previous.is_empty())?;
        if previous.is_empty() || !append {
            j.append(
                &JournalEntry::Start {
                    sha256: sha.clone(),
                    params: params.clone(),
                    started_at: started_at.clone(),
                },
                &redactor,
            )?;
        }
        Some(j)
    };

    let mut runner = Runner {
        doc,
        outputs,
        templates: Templates::new(),
        redactor,
        ctx,
        record,
        progress,
        interrupts,
        kernels: IndexMap::new(),
        state_dir,
        journal,
        ssh: None,
        ec2: ec2_resolver(),
        restored_shell: None,
        started: Instant::now(),
        args,
    };
    runner.restore(previous);
    let code = runner.run().await;
    runner.finish(code).await
}

fn spawn_signal_handler(tx: watch::Sender<Interrupt>) {
    use tokio::signal::unix::{SignalKind, signal};
    // SIGHUP (the terminal or SSH session went away) is an interrupt too:
    // the step is stopped, the record written, the exit code 130.
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            let next = match *tx.borrow() {
                Interrupt::None => Interrupt::Graceful,
                _ => Interrupt::Immediate,
            };
            let _ = tx.send(next);
        }
    });
}

impl Runner {
    fn interrupted(&self) -> bool {
        *self.interrupts.borrow() != Interrupt::None
    }

    /// Takes earlier results from the journal (`--resume` / `--from`).
    fn restore(&mut self, previous: Vec<JournalEntry>) {
        let mut shell = None;
        for entry in previous {
            if let JournalEntry::Step {
                record,
                ctx,
                shell: s,
            } = entry
            {
                if let Some(slot) = self.record.steps.get_mut(record.index) {
                    if slot.name == record.name {
                        self.ctx.set_step(record.name.clone(), ctx);
                        *slot = *record;
                        shell = Some(s);
                    }
                }
            }
        }
        if let Some(state) = shell {
            self.restored_shell = Some(state);
        }
    }

    /// Index of the first step to run.
    fn first_step(&self) -> usize {
        if let Some(from) = &self.args.from {
            return self
                .doc
                .steps
                .iter()
                .position(|s| &s.name == from)
                .unwrap_or(0);
        }
        if self.args.resume {
            return self
                .record
                .steps
                .iter()
                .position(|s| !s.status.is_done())
                .unwrap_or(self.record.steps.len());
        }
        0
    }

    async fn run(&mut self) -> i32 {
        self.progress.run_started(&self.record);
        if let Err(e) = crate::safe_fs::private_dir(&self.outputs.logs) {
            self.progress.message(&format!(
                "warning: cannot create {}: {e}",
                self.outputs.logs.display()
            ));
        }

        if let Some(code) = self.refuse_unsafe_values() {
            return code;
        }
        // Preconditions.
        if !self.doc.front.requires.is_empty() && !self.args.dry_run {
            let results = self.preconditions().await;
            let failed = results.iter().any(|r| !r.ok);
            self.record.preconditions = results;
            if failed {
                for r in self.record.preconditions.iter().filter(|r| !r.ok) {
                    self.progress.message(&r.failure_message());
                }
                self.record.result = RunResult::PreconditionFailed;
                return exit::PRECONDITION;
            }
        }

        let first = self.first_step();
        for i in 0..first {
            let rec = &mut self.record.steps[i];
            if rec.status == StepStatus::NotRun {
                rec.reason = Some(if self.args.from.is_some() {
                    "before --from".into()
                } else {
                    "not run".into()
                });
            }
        }
        let mut render_failed = false;
        for i in first..self.doc.steps.len() {
            if self.interrupted() {
                break;
            }
            let outcome = self.run_step(i).await;
            match outcome {
                StepFlow::Continue => {}
                StepFlow::RenderFailed => render_failed = true,
                StepFlow::Stop(result) => {
                    self.record.result = result;
                    self.mark_rest_not_run(i + 1);
                    return exit_code_for(result);
                }
            }
        }
        if self.interrupted() {
            self.record.result = RunResult::Interrupted;
            return exit::INTERRUPTED;
        }
        if self.args.dry_run {
            self.record.result = if render_failed {
                RunResult::DryRunFailed
            } else {
                RunResult::DryRunOk
            };
            return if render_failed {
                exit::INVALID
            } else {
                exit::OK
            };
        }
        self.record.result = RunResult::Ok;
        exit::OK
    }

    /// Before anything runs (preconditions included), renders every shell
    /// step still to run, results of later steps as placeholders: a value
    /// the shell-context guard refuses (arithmetic, nested shell) stops the
    /// run with exit 2. A dry run reports each step instead.
    fn refuse_unsafe_values(&mut self) -> Option<i32> {
        if self.args.dry_run {
            return None;
        }
        let value = self.ctx.value(true, Some(&self.doc));
        let (i, e) = (self.first_step()..self.doc.steps.len()).find_map(|i| {
            let step = &self.doc.steps[i];
            if !step.is_shell() || step.attrs.skip {
                return None;
            }
            match self.templates.preview(&step.code, Escape::Shell, &value) {
                Err(e) if e.refused => Some((i, e)),
                _ => None,
            }
        })?;
        let _ = self.render_failure(i, &e.message, e.line);
        self.record.result = RunResult::Failed;
        self.mark_rest_not_run(0);
        Some(exit::INVALID)
    }

    fn mark_rest_not_run(&mut self, from: usize) {
        for rec in self.record.steps.iter_mut().skip(from) {
            if rec.status == StepStatus::NotRun || rec.status == StepStatus::Running {
                rec.status = StepStatus::NotRun;
                rec.reason.get_or_insert_with(|| "not run".into());
            }
        }
    }

    async fn preconditions(&mut self) -> Vec<PreconditionResult> {
        let templates = &self.templates;
        let value = self.ctx.value(true, None);
        let render = |s: &str| -> std::result::Result<String, String> {
            templates
                .render(s, Escape::None, &value)
                .map_err(|e| e.message)
        };
        let probe = InventoryProbe::new(
            &self.doc.front.requires.hosts,
            &self.rendered_hosts(),
            self.ec2.as_ref(),
        )
        .await;
        let results =
            crate::preconditions::evaluate(&self.doc.front.requires, &render, &probe).await;
        results
            .into_iter()
            .map(|mut r| {
                r.target = self.redactor.redact(&r.target);
                r.detail = r.detail.map(|d| self.redactor.redact(&d));
                r
            })
            .collect()
    }

    async fn run_step(&mut self, i: usize) -> StepFlow {
        let step = self.doc.steps[i].clone();

        if step.attrs.skip {
            return self.skip(i, "marked {skip}");
        }

        // `when`: skip with the reason recorded.
        if let Some(when) = &step.attrs.when {
            let value = self.ctx.value(true, self.args.dry_run.then_some(&self.doc));
            match self.templates.eval_bool(when, &value) {
                Ok(true) => {}
                Ok(false) => {
                    let reason = format!("when: `{}` is false", self.redactor.redact(when));
                    return self.skip(i, &reason);
                }
                Err(e) => {
                    return self.render_failure(i, &format!("in `when`: {e}"), None);
                }
            }
        }

        // Render (for execution, and for the record with secrets as templates).
        let escape = if step.is_shell() {
            Escape::Shell
        } else {
            Escape::None
        };
        let placeholders = self.args.dry_run.then_some(&self.doc);
        let exec_ctx = self.ctx.value(true, placeholders);
        let render = |t: &Templates, c: &minijinja::Value| match placeholders {
            Some(_) => t.preview(&step.code, escape, c),
            None => t.render(&step.code, escape, c),
        };
        let rendered = match render(&self.templates, &exec_ctx) {
            Ok(r) => r,
            Err(e) => return self.render_failure(i, &e.message, e.line),
        };
        let shown = render(&self.templates, &self.ctx.value(false, placeholders))
            .unwrap_or_else(|_| step.code.clone());
        self.record.steps[i].rendered = Some(self.redactor.redact(&shown));
        // A templated `host=` is shown rendered from here on.
        if let Some(h) = step.attrs.hosts.as_deref().or(step.attrs.host.as_deref()) {
            if h.contains("{{") {
                if let Ok(t) = self.templates.render(h, Escape::None, &exec_ctx) {
                    self.record.steps[i].target = self.redactor.redact(t.trim());
                }
            }
        }
        // The gate question is a template too (secrets shown as templates).
        let gate = gate_message(&self.doc, &step, self.args.step).map(|m| {
            let shown_ctx = self.ctx.value(false, placeholders);
            self.redactor.redact(
                &self
                    .templates
                    .render(&m, Escape::None, &shown_ctx)
                    .unwrap_or(m),
            )
        });

        if self.args.dry_run && !step.attrs.safe {
            let rec = &mut self.record.steps[i];
            rec.status = StepStatus::DryRun;
            rec.reason = Some(dry_run_summary(&step, gate.as_deref(), &rec.target));
            self.progress.step_finished(&self.record.steps[i]);
            return StepFlow::Continue;
        }

        // Gate.
        if !self.args.dry_run {
            if let Some(message) = gate {
                let (decision, label) = if self.args.yes {
                    (Decision::Yes, "approved (--yes)")
                } else {
                    let command = self.record.steps[i].rendered.clone().unwrap_or_default();
                    let target = self.record.steps[i].target.clone();
                    match ask(
                        &step,
                        &message,
                        &command,
                        &target,
                        self.progress.as_mut(),
                        &mut self.interrupts,
                    )
                    .await
                    {
                        Some(Decision::Yes) => (Decision::Yes, "approved"),
                        Some(Decision::Skip) => (Decision::Skip, "skipped"),
                        Some(Decision::Abort) => (Decision::Abort, "aborted"),
                        None => {
                            self.record.steps[i].status = StepStatus::Interrupted;
                            self.record.steps[i].reason = Some("interrupted at the gate".into());
                            return StepFlow::Stop(RunResult::Interrupted);
                        }
                    }
                };
                self.record.steps[i].gate = Some(GateRecord {
                    message,
                    decision: label.into(),
                    operator: self.record.operator.clone(),
                    at: now_rfc3339(),
                });
                match decision {
                    Decision::Yes => {}
                    Decision::Skip => return self.skip(i, "skipped by the operator at the gate"),
                    Decision::Abort => {
                        let rec = &mut self.record.steps[i];
                        rec.status = StepStatus::Aborted;
                        rec.reason = Some("aborted by the operator at the gate".into());
                        self.progress.step_finished(&self.record.steps[i]);
                        self.journal_step(i);
                        return StepFlow::Stop(RunResult::Aborted);
                    }
                }
            }
        }

        self.record.steps[i].started_at = Some(now_rfc3339());
        self.record.steps[i].status = StepStatus::Running;
        self.progress.step_started(&self.record.steps[i]);

        let timeout = step.attrs.timeout.or_else(|| {
            self.doc
                .front
                .timeout
                .as_deref()
                .and_then(|t| crate::duration::parse_duration(t).ok())
        });
        let attempts = step.attrs.retries + 1;
        let mut last = StepStatus::Failed;
        for attempt in 1..=attempts {
            let t0 = Instant::now();
            let attempt_started = now_rfc3339();
            let result = self.execute(&step, &rendered, timeout).await;
            let status = result.status;
            self.record.steps[i].attempts.push(AttemptRecord {
                attempt,
                status,
                exit_code: result.exit_code,
                started_at: attempt_started,
                duration_ms: ms(t0.elapsed()),
            });
            self.apply(i, &step, result);
            last = status;
            if status == StepStatus::Ok
                || status == StepStatus::Interrupted
                || self.interrupted()
                || attempt == attempts
            {
                break;
            }
            self.progress.message(&format!(
                "step `{}` {} (attempt {attempt}/{attempts}); retrying",
                step.name,
                status.as_str()
            ));
            if let Some(delay) = step.attrs.retry_delay {
                let mut irq = self.interrupts.clone();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = irq.wait_for(|i| *i != Interrupt::None) => break,
                }
            }
        }
        let rec = &mut self.record.steps[i];
        rec.duration_ms = Some(rec.attempts.iter().map(|a| a.duration_ms).sum());
        if last.is_failure() && last != StepStatus::Interrupted && step.attrs.allow_failure {
            rec.status = StepStatus::FailedAllowed;
            if last == StepStatus::TimedOut {
                rec.reason = Some("timed out (allow_failure)".into());
            }
        }
        self.progress.step_finished(&self.record.steps[i]);
        self.journal_step(i);

        match self.record.steps[i].status {
            StepStatus::Interrupted => StepFlow::Stop(RunResult::Interrupted),
            s if s.is_failure() => StepFlow::Stop(RunResult::Failed),
            _ if self.interrupted() => StepFlow::Stop(RunResult::Interrupted),
            _ => StepFlow::Continue,
        }
    }

    fn skip(&mut self, i: usize, reason: &str) -> StepFlow {
        let rec = &mut self.record.steps[i];
        rec.status = StepStatus::Skipped;
        rec.reason = Some(reason.to_string());
        let name = rec.name.clone();
        self.ctx.set_step(
            name,
            StepCtx {
                status: "skipped".into(),
                ..Default::default()
            },
        );
        self.progress.step_finished(&self.record.steps[i]);
        self.journal_step(i);
        StepFlow::Continue
    }

    fn render_failure(&mut self, i: usize, message: &str, line: Option<usize>) -> StepFlow {
        let step = &self.doc.steps[i];
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
        let text = diag.to_string();
        self.progress.message(&text);
        let rec = &mut self.record.steps[i];
        rec.status = StepStatus::Failed;
        rec.reason = Some(diag.short());
        self.progress.step_finished(&self.record.steps[i]);
        if self.args.dry_run {
            StepFlow::RenderFailed
        } else {
            StepFlow::Stop(RunResult::Failed)
        }
    }

    fn journal_step(&mut self, i: usize) {
        let record = self.record.steps[i].clone();
        let ctx = self
            .ctx
            .steps
            .get(&record.name)
            .cloned()
            .unwrap_or_default();
        let shell = self
            .kernels
            .get("local")
            .map(|k| k.snapshot())
            .unwrap_or_default();
        if let Some(j) = self.journal.as_mut() {
            if let Err(e) = j.append(
                &JournalEntry::Step {
                    record: Box::new(record),
                    ctx,
                    shell,
                },
                &self.redactor,
            ) {
                self.progress
                    .message(&format!("warning: cannot save the run state: {e}"));
                self.journal = None;
            }
        }
    }

    fn log_path(&self, step: &Step, host: Option<&str>) -> PathBuf {
        let name = match host {
            Some(h) => format!("{}.{}.log", step.name, sanitize(h)),
            None => format!("{}.log", step.name),
        };
        self.outputs.logs.join(name)
    }

    fn capture_config(&self, step: &Step, host: Option<&str>) -> CaptureConfig {
        CaptureConfig {
            // The command line wins over the front matter.
            max_lines: self
                .args
                .max_output_lines
                .or(self.doc.front.max_output_lines)
                .unwrap_or(DEFAULT_MAX_OUTPUT_LINES),
            log_path: Some(self.log_path(step, host)),
            keep_stdout: KEEP_STDOUT,
        }
    }

    fn local_kernel(&mut self, program: &str) -> std::io::Result<&mut ShellKernel> {
        let key = if program == "bash" {
            "local".to_string()
        } else {
            format!("local:{program}")
        };
        if !self.kernels.contains_key(&key) {
            let prelude = self.doc.front.shell_options.clone().unwrap_or_else(|| {
                match program {
                    "bash" | "zsh" => "set -eo pipefail",
                    _ => "set -e",
                }
                .to_string()
            });
            let dir = self.state_dir.path().join(sanitize(&key));
            std::fs::create_dir_all(&dir)?;
            let mut kernel =
                ShellKernel::new(&dir, program, &prelude)?.with_redactor(self.redactor.clone());
            if key == "local" {
                if let Some(state) = self.restored_shell.take() {
                    match kernel.restore(state) {
                        Ok(skipped) => {
                            for name in skipped {
                                self.progress.message(&format!(
                                    "warning: --resume: {name} held a secret when it was saved and is not restored"
                                ));
                            }
                        }
                        Err(e) => self.progress.message(&format!(
                            "warning: cannot restore the saved shell state: {e}"
                        )),
                    }
                }
            }
            self.kernels.insert(key.clone(), kernel);
        }
        self.kernels
            .get_mut(&key)
            .ok_or_else(|| std::io::Error::other("shell kernel missing"))
    }

    /// Runs one attempt of a step.
    async fn execute(&mut self, step: &Step, rendered: &str, timeout: Option<Duration>) -> Exec {
        if step.attrs.host.is_some() || step.attrs.hosts.is_some() {
            return self.execute_remote(step, rendered, timeout).await;
        }
        // Secrets reach local steps as environment variables; `env=` and
        // `cwd=` are templates too.
        let (env, cwd) = match self.step_env(step) {
            Ok(v) => v,
            Err(e) => return Exec::error(e),
        };
        match &step.kind {
            StepKind::Http => self.execute_http(step, rendered, timeout).await,
            StepKind::Shell { program } => {
                let spec = match self.local_kernel(program).and_then(|k| {
                    let mut spec = k.prepare(rendered, cwd.as_deref(), &env)?;
                    spec.timeout = timeout;
                    spec.kill_grace = KILL_GRACE;
                    Ok(spec)
                }) {
                    Ok(spec) => spec,
                    Err(e) => return Exec::error(format!("cannot prepare the step: {e}")),
                };
                self.run_local(step, &spec).await
            }
            StepKind::Interpreter { command } => {
                let dir = self.state_dir.path().join("scripts");
                let spec = match std::fs::create_dir_all(&dir).and_then(|_| {
                    let mut spec = crate::exec::shell::interpreter_spec(command, rendered, &dir)?;
                    spec.timeout = timeout;
                    spec.kill_grace = KILL_GRACE;
                    if let Some(cwd) = &cwd {
                        spec.cwd = Some(PathBuf::from(cwd));
                    } else if let Some(k) = self.kernels.get("local") {
                        spec.cwd = k.cwd().map(PathBuf::from);
                    }
                    // Variables exported by earlier bash steps, then the step's own.
                    if let Some(k) = self.kernels.get("local") {
                        spec.env.extend(k.exported());
                    }
                    spec.env.extend(env.iter().cloned());
                    Ok(spec)
                }) {
                    Ok(spec) => spec,
                    Err(e) => return Exec::error(format!("cannot prepare the step: {e}")),
                };
                self.run_local(step, &spec).await
            }
        }
    }

    /// The inventory with templates rendered against the run so far, so an
    /// entry can depend on an earlier step (e.g. an EC2 filter on the address
    /// a query step found). Entries that cannot render yet stay as written.
    fn rendered_hosts(&self) -> IndexMap<String, crate::inventory_spec::HostSpec> {
        fn walk(v: &mut serde_json::Value, f: &dyn Fn(&str) -> Option<String>) {
            match v {
                serde_json::Value::String(s) if s.contains("{{") => {
                    if let Some(r) = f(s) {
                        *s = r;
                    }
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
                serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, f)),
                _ => {}
            }
        }
        let value = self.ctx.value(true, None);
        let render = |s: &str| self.templates.render(s, Escape::None, &value).ok();
        self.doc
            .front
            .hosts
            .iter()
            .map(|(name, spec)| {
                let rendered = serde_json::to_value(spec).ok().and_then(|mut v| {
                    walk(&mut v, &render);
                    serde_json::from_value(v).ok()
                });
                (name.clone(), rendered.unwrap_or_else(|| spec.clone()))
            })
            .collect()
    }

    /// The environment (secrets, then rendered `env=`) and the rendered
    /// `cwd=` of a local step.
    fn step_env(&self, step: &Step) -> std::result::Result<StepEnv, String> {
        let mut env: Vec<(String, String)> = self
            .ctx
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let value = self.ctx.value(true, None);
        for (k, v) in &step.attrs.env {
            let v = self
                .templates
                .render(v, Escape::None, &value)
                .map_err(|e| format!("in `env` {k}: {e}"))?;
            env.push((k.clone(), v));
        }
        let cwd = match &step.attrs.cwd {
            Some(c) => Some(
                self.templates
                    .render(c, Escape::None, &value)
                    .map_err(|e| format!("in `cwd`: {e}"))?,
            ),
            None => None,
        };
        Ok((env, cwd))
    }

    async fn run_local(&mut self, step: &Step, spec: &process::ProcessSpec) -> Exec {
        let mut capture = match OutputCapture::new(self.capture_config(step, None), &self.redactor)
        {
            Ok(c) => c,
            Err(e) => return Exec::error(format!("cannot open the step log: {e}")),
        };
        let mut term = TermOut::new(&self.redactor);
        let rec = self.record.steps[step.index].clone();
        let progress = &mut self.progress;
        let mut sink = |stream: Stream, bytes: &[u8]| {
            capture.push(stream, bytes);
            term.push(progress.as_mut(), &rec, stream, bytes);
        };
        let outcome = process::run(spec, &mut sink, self.interrupts.clone()).await;
        term.finish(progress.as_mut(), &rec);
        let captured = match capture.finish() {
            Ok(c) => c,
            Err(e) => return Exec::error(format!("cannot write the step log: {e}")),
        };
        match outcome {
            Ok(o) => {
                let (status, exit_code) = status_of(&o.termination);
                let mut output: OutputRecord = captured.output.into();
                output.leaked = output.leaked || o.leaked;
                Exec {
                    status,
                    exit_code,
                    output: Some(output),
                    stdout: captured.stdout,
                    stderr: captured.stderr,
                    hosts: Vec::new(),
                    http: None,
                    json_source: None,
                    error: (o.termination == Termination::NeedsTerminal)
                        .then(|| process::NEEDS_TERMINAL.to_string()),
                    target: None,
                }
            }
            Err(e) => Exec::error(format!("cannot start `{}`: {e}", spec.program)),
        }
    }

    async fn execute_http(
        &mut self,
        step: &Step,
        rendered: &str,
        timeout: Option<Duration>,
    ) -> Exec {
        use crate::exec::http;
        let request = match http::parse_request(rendered) {
            Ok(r) => r,
            Err(e) => return Exec::error(format!("invalid HTTP request: {e}")),
        };
        let response = http::send(&request, timeout, self.interrupts.clone()).await;
        let text = http::response_text(&response);
        let mut capture = match OutputCapture::new(self.capture_config(step, None), &self.redactor)
        {
            Ok(c) => c,
            Err(e) => return Exec::error(format!("cannot open the step log: {e}")),
        };
        capture.push(Stream::Stdout, text.as_bytes());
        let captured = match capture.finish() {
            Ok(c) => c,
            Err(e) => return Exec::error(format!("cannot write the step log: {e}")),
        };
        let body = self.redactor.redact(&response.body_text());
        let mut record = HttpRecord::from_exchange(&request, &response);
        record.url = self.redactor.redact(&record.url);
        for (_, v) in record.headers.iter_mut() {
            *v = self.redactor.redact(v);
        }
        record.error = record.error.map(|e| self.redactor.redact(&e));
        let (status, error) = match (&response.error, response.status) {
            (Some(http::HttpError::Interrupted), _) => {
                (StepStatus::Interrupted, Some("interrupted".to_string()))
            }
            (Some(e @ http::HttpError::TimedOut(_)), _) => {
                (StepStatus::TimedOut, Some(e.to_string()))
            }
            (Some(e), _) => (StepStatus::Failed, Some(e.to_string())),
            (None, Some(code)) => {
                match http::status_matches(step.attrs.expect_status.as_deref(), code) {
                    Ok(true) => (StepStatus::Ok, None),
                    Ok(false) => (
                        StepStatus::Failed,
                        Some(format!(
                            "unexpected status {code} (expected {})",
                            step.attrs.expect_status.as_deref().unwrap_or("2xx")
                        )),
                    ),
                    Err(e) => (StepStatus::Failed, Some(e)),
                }
            }
            (None, None) => (StepStatus::Failed, Some("no response".into())),
        };
        if let Some(e) = &error {
            self.progress.message(&format!(
                "step `{}`: {}",
                step.name,
                self.redactor.redact(e)
            ));
        }
        Exec {
            status,
            exit_code: response.status.map(i32::from),
            output: Some(captured.output.into()),
            stdout: body,
            stderr: String::new(),
            hosts: Vec::new(),
            http: Some(record),
            json_source: None,
            error: error.map(|e| self.redactor.redact(&e)),
            target: None,
        }
    }

    async fn execute_remote(
        &mut self,
        step: &Step,
        rendered: &str,
        timeout: Option<Duration>,
    ) -> Exec {
        use crate::exec::inventory;
        let written = step
            .attrs
            .hosts
            .clone()
            .or_else(|| step.attrs.host.clone())
            .unwrap_or_default();
        // `host="{{ params.target }}"`: the attribute is a template too.
        let name = match self
            .templates
            .render(&written, Escape::None, &self.ctx.value(true, None))
        {
            Ok(n) => n.trim().to_string(),
            Err(e) => return Exec::error(format!("in `host`: {e}")),
        };
        let hosts = self.rendered_hosts();
        let targets = match inventory::resolve(&name, &hosts, self.ec2.as_ref()).await {
            Ok(t) => t,
            Err(e) => return Exec::error(e),
        };
        if self.ssh.is_none() {
            match crate::exec::ssh::SshPool::new(crate::exec::ssh::SshOptions::from_env()) {
                Ok(pool) => self.ssh = Some(pool),
                Err(e) => return Exec::error(format!("cannot set up SSH: {e}")),
            }
        }
        let Some(pool) = self.ssh.as_ref() else {
            return Exec::error("cannot set up SSH".into());
        };
        let forks = self.args.forks.max(1);
        let mut captures = Vec::new();
        for t in &targets {
            match OutputCapture::new(self.capture_config(step, Some(&t.label)), &self.redactor) {
                Ok(c) => captures.push(std::sync::Mutex::new(c)),
                Err(e) => return Exec::error(format!("cannot open the step log: {e}")),
            }
        }
        let captures = Arc::new(captures);
        let labels: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
        let caps = captures.clone();
        let make_sink = move |t: &inventory::SshTarget| -> crate::exec::ssh::OutputSink {
            let idx = labels.iter().position(|l| *l == t.label).unwrap_or(0);
            let caps = caps.clone();
            Box::new(move |stream: Stream, bytes: &[u8]| {
                if let Some(m) = caps.get(idx) {
                    if let Ok(mut c) = m.lock() {
                        c.push(stream, bytes);
                    }
                }
            })
        };
        // Secrets reach remote steps as exported variables too. The script
        // travels on the SSH channel's stdin, never on a command line.
        let mut script = String::new();
        let secrets = self.ctx.secrets.iter();
        for (k, v) in secrets.filter(|(k, _)| crate::text::is_identifier(k)) {
            script.push_str(&format!("export {k}={}\n", crate::exec::shell::quote(v)));
        }
        script.push_str(rendered);
        let results = pool
            .run_many(
                &targets,
                forks,
                &script,
                timeout,
                make_sink,
                self.interrupts.clone(),
            )
            .await;
        let captures = match Arc::try_unwrap(captures) {
            Ok(c) => c,
            Err(_) => return Exec::error("internal error: output capture still in use".into()),
        };
        let mut hosts = Vec::new();
        let mut stdouts = Vec::new();
        let mut any_failed = false;
        let mut interrupted = false;
        let mut timed_out = false;
        for ((target, result), cap) in results.into_iter().zip(captures) {
            let cap = match cap.into_inner() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            let captured = match cap.finish() {
                Ok(c) => c,
                Err(e) => return Exec::error(format!("cannot write the step log: {e}")),
            };
            let (status, exit_code, error, duration) = match result {
                Ok(o) => {
                    let (s, c) = status_of(&o.termination);
                    (s, c, None, o.duration)
                }
                Err(e) => (
                    StepStatus::Failed,
                    None,
                    Some(self.redactor.redact(&e.to_string())),
                    Duration::ZERO,
                ),
            };
            any_failed |= status.is_failure();
            interrupted |= status == StepStatus::Interrupted;
            timed_out |= status == StepStatus::TimedOut;
            hosts.push(HostResult {
                host: target.label.clone(),
                address: Some(target.host.clone()),
                status,
                exit_code,
                duration_ms: ms(duration),
                output: captured.output.into(),
                error,
            });
            stdouts.push((captured.stdout, captured.stderr));
        }
        let single = step.attrs.hosts.is_none() && hosts.len() == 1;
        let status = if interrupted {
            StepStatus::Interrupted
        } else if timed_out && single {
            StepStatus::TimedOut
        } else if any_failed {
            StepStatus::Failed
        } else {
            StepStatus::Ok
        };
        for h in &hosts {
            if let Some(e) = &h.error {
                self.progress
                    .message(&format!("step `{}` on {}: {e}", step.name, h.host));
            }
        }
        if single {
            let h = hosts.remove(0);
            let (stdout, stderr) = stdouts.pop().unwrap_or_default();
            let target = targets.first().map(|t| format!("{name} ({})", t.address()));
            Exec {
                status,
                exit_code: h.exit_code,
                output: Some(h.output),
                stdout,
                stderr,
                hosts: Vec::new(),
                http: None,
                json_source: None,
                error: h.error,
                target,
            }
        } else {
            Exec {
                status,
                exit_code: hosts
                    .iter()
                    .filter_map(|h| h.exit_code)
                    .find(|c| *c != 0)
                    .or(Some(0)),
                output: None,
                stdout: String::new(),
                stderr: String::new(),
                hosts,
                http: None,
                json_source: None,
                error: None,
                target: None,
            }
        }
    }

    /// Puts an attempt's result into the record and the template context.
    fn apply(&mut self, i: usize, step: &Step, mut result: Exec) {
        let mut json = None;
        if step.attrs.capture == Some(document::Capture::Json) && result.status == StepStatus::Ok {
            let source = result
                .json_source
                .take()
                .unwrap_or_else(|| result.stdout.clone());
            match serde_json::from_str::<serde_json::Value>(&source) {
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
            self.record.steps[i].reason = Some(e.clone());
        }
        let host_ctx: IndexMap<String, HostCtx> = result
            .hosts
            .iter()
            .map(|h| {
                (
                    h.host.clone(),
                    HostCtx {
                        stdout: format!("{}{}", h.output.head, h.output.tail),
                        exit_code: h.exit_code,
                        status: h.status.as_str().into(),
                    },
                )
            })
            .collect();
        self.ctx.set_step(
            step.name.clone(),
            StepCtx {
                stdout: result.stdout,
                stderr: result.stderr,
                exit_code: result.exit_code,
                status: result.status.as_str().into(),
                json: json.clone(),
                hosts: host_ctx,
            },
        );
        let rec = &mut self.record.steps[i];
        if let Some(t) = result.target {
            rec.target = t;
        }
        rec.status = result.status;
        rec.exit_code = result.exit_code;
        rec.output = result.output;
        rec.hosts = result.hosts;
        rec.http = result.http;
        rec.json = json;
    }

    /// Writes every report; returns the exit code.
    async fn finish(&mut self, mut code: i32) -> Result<i32> {
        if let Some(pool) = self.ssh.take() {
            pool.close_all().await;
        }
        if self.interrupted() && code != exit::INTERRUPTED {
            code = exit::INTERRUPTED;
            self.record.result = RunResult::Interrupted;
        }
        // The header speaks for every step in the record, including those
        // an earlier run left there (`--from`, `--resume`).
        let settled = self.record.settled_result();
        if settled != self.record.result {
            self.record.result = settled;
            code = exit_code_for(settled);
        }
        for rec in &mut self.record.steps {
            if rec.status == StepStatus::Running {
                rec.status = StepStatus::Interrupted;
            }
        }
        self.record.finished_at = Some(now_rfc3339());
        self.record.duration_ms = Some(ms(self.started.elapsed()));
        self.record.exit_code = Some(code);
        self.progress.run_finished(&self.record);

        // Logs are kept only for cut output; drop the folder when it is empty.
        let _ = std::fs::remove_dir(&self.outputs.logs);
        let written = self.write_reports();
        match &written {
            Ok(paths) => {
                for p in paths {
                    self.progress.message(&format!("wrote {}", p.display()));
                }
            }
            Err(e) => {
                crate::console::err(&format!("error: {e}\n"));
                return Ok(code.max(exit::STEP_FAILED));
            }
        }
        if let (Some(target), Ok(paths)) = (self.args.publish.clone(), written) {
            if let Err(e) = self.publish(&target, &paths).await {
                // The local report is on disk; publishing is best effort.
                crate::console::err(&format!("error: publishing to {target} failed: {e}\n"));
                self.progress.message(&format!(
                    "the report is still at {}",
                    self.outputs.markdown.display()
                ));
            }
        }
        Ok(code)
    }

    fn write_reports(&self) -> Result<Vec<PathBuf>> {
        use crate::report::{html, json, junit, markdown};
        let mut written = Vec::new();
        // Redact the record, not the reports: before any escaping, and
        // never the runbook's own text or the markers.
        let record = self.record.redacted(&|s| self.redactor.redact(s));
        let md = markdown::annotate(&self.doc, &record, &markdown::MarkdownOptions::default());
        write_atomic(&self.outputs.markdown, md.as_bytes())?;
        written.push(self.outputs.markdown.clone());
        for (f, path) in self.outputs.report_files() {
            let text = match f {
                ReportFormat::Md => continue,
                ReportFormat::Json => json::to_json(&record),
                ReportFormat::Junit => junit::to_junit(&record),
                ReportFormat::Html => html::to_html(
                    &self.doc,
                    &record,
                    &html::HtmlOptions {
                        hide_code: self.args.html_hide_code,
                    },
                ),
            };
            write_atomic(&path, text.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }

    async fn publish(&self, target: &str, paths: &[PathBuf]) -> std::result::Result<(), String> {
        let record = self.record.redacted(&|s| self.redactor.redact(s));
        publish_reports(target, self.args.gitlab_url.clone(), &record, paths).await
    }
}

async fn publish_reports(
    target: &str,
    url: Option<String>,
    record: &RunRecord,
    paths: &[PathBuf],
) -> std::result::Result<(), String> {
    use crate::publish;
    let target = publish::parse_target(target)?;
    let base_url =
        url.ok_or_else(|| "no GitLab API URL: set CI_API_V4_URL or pass --gitlab-url".to_string())?;
    let token = std::env::var("GITLAB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "GITLAB_TOKEN is not set".to_string())?;
    let files: Vec<PathBuf> = paths
        .iter()
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("html") | Some("md")
            )
        })
        .cloned()
        .collect();
    let summary = publish::PublishSummary::from_record(record);
    let outcome = publish::publish(
        &publish::PublishConfig { base_url, token },
        &target,
        &summary,
        &files,
    )
    .await
    .map_err(|e| e.to_string())?;
    crate::console::err(&format!("{outcome}\n"));
    Ok(())
}

/// `requires.hosts` entries that name inventory entries are resolved
/// (groups, lists and EC2 lookups included) and every resolved address must
/// accept TCP connections on its SSH port; other entries are probed as
/// written (`[user@]host[:port]`).
struct InventoryProbe {
    tcp: crate::preconditions::TcpProbe,
    resolved: IndexMap<String, std::result::Result<Vec<String>, String>>,
}

impl InventoryProbe {
    async fn new(
        names: &[String],
        hosts: &IndexMap<String, crate::inventory_spec::HostSpec>,
        ec2: &dyn crate::exec::inventory::Ec2Resolver,
    ) -> Self {
        let mut resolved = IndexMap::new();
        for n in names.iter().filter(|n| hosts.contains_key(n.as_str())) {
            let r = crate::exec::inventory::resolve(n, hosts, ec2)
                .await
                .map(|targets| {
                    targets
                        .iter()
                        .map(|t| format!("{}:{}", t.host, t.port.unwrap_or(22)))
                        .collect()
                });
            resolved.insert(n.clone(), r);
        }
        InventoryProbe {
            tcp: crate::preconditions::TcpProbe::default(),
            resolved,
        }
    }
}

impl crate::preconditions::HostProbe for InventoryProbe {
    fn probe<'a>(&'a self, host: &'a str) -> crate::preconditions::ProbeFuture<'a> {
        Box::pin(async move {
            match self.resolved.get(host) {
                None => self.tcp.probe(host).await,
                Some(Err(e)) => Err(e.clone()),
                Some(Ok(addresses)) => {
                    let mut ok = Vec::new();
                    for a in addresses {
                        ok.push(self.tcp.probe(a).await?);
                    }
                    Ok(ok.join("; "))
                }
            }
        })
    }
}

#[cfg(feature = "ec2")]
fn ec2_resolver() -> Box<dyn crate::exec::inventory::Ec2Resolver> {
    Box::new(crate::exec::ec2::AwsEc2Resolver::new())
}

#[cfg(not(feature = "ec2"))]
fn ec2_resolver() -> Box<dyn crate::exec::inventory::Ec2Resolver> {
    Box::new(crate::exec::inventory::NoEc2)
}

fn sanitize(s: &str) -> String {
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

fn dry_run_summary(step: &Step, gate: Option<&str>, target: &str) -> String {
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
    parts.join(", ")
}

fn status_of(t: &Termination) -> (StepStatus, Option<i32>) {
    match t {
        Termination::Exited(0) => (StepStatus::Ok, Some(0)),
        Termination::Exited(c) => (StepStatus::Failed, Some(*c)),
        Termination::Signaled(s) => (StepStatus::Failed, Some(128 + s)),
        Termination::TimedOut => (StepStatus::TimedOut, None),
        Termination::Interrupted => (StepStatus::Interrupted, None),
        Termination::NeedsTerminal => (StepStatus::Failed, None),
    }
}

fn exit_code_for(result: RunResult) -> i32 {
    match result {
        RunResult::Ok | RunResult::DryRunOk | RunResult::Running => exit::OK,
        RunResult::Failed => exit::STEP_FAILED,
        RunResult::PreconditionFailed => exit::PRECONDITION,
        RunResult::Aborted => exit::ABORTED,
        RunResult::Interrupted => exit::INTERRUPTED,
        RunResult::DryRunFailed => exit::INVALID,
    }
}

enum StepFlow {
    Continue,
    RenderFailed,
    Stop(RunResult),
}

/// A local step's environment and working directory.
type StepEnv = (Vec<(String, String)>, Option<String>);

/// One attempt's result.
struct Exec {
    status: StepStatus,
    exit_code: Option<i32>,
    output: Option<OutputRecord>,
    stdout: String,
    stderr: String,
    hosts: Vec<HostResult>,
    http: Option<HttpRecord>,
    json_source: Option<String>,
    error: Option<String>,
    /// The resolved target, when it says more than the attribute did.
    target: Option<String>,
}

impl Exec {
    fn error(message: String) -> Self {
        Exec {
            status: StepStatus::Failed,
            exit_code: None,
            output: None,
            stdout: String::new(),
            stderr: String::new(),
            hosts: Vec::new(),
            http: None,
            json_source: None,
            error: Some(message),
            target: None,
        }
    }
}

/// Streams output to the terminal view, cleaned exactly as the reports
/// and logs are (redaction, escapes, line endings), one stream apart from
/// the other.
struct TermOut {
    out: crate::exec::capture::Cleaner,
    err: crate::exec::capture::Cleaner,
}

impl TermOut {
    fn new(r: &Redactor) -> Self {
        TermOut {
            out: crate::exec::capture::Cleaner::new(r),
            err: crate::exec::capture::Cleaner::new(r),
        }
    }

    fn push(&mut self, p: &mut dyn Progress, rec: &StepRecord, stream: Stream, bytes: &[u8]) {
        let (clean, is_err) = match stream {
            Stream::Stdout => (&mut self.out, false),
            Stream::Stderr => (&mut self.err, true),
        };
        let clean = clean.push(bytes);
        if !clean.is_empty() {
            p.step_output(rec, is_err, &String::from_utf8_lossy(&clean));
        }
    }

    fn finish(&mut self, p: &mut dyn Progress, rec: &StepRecord) {
        for (clean, is_err) in [(&mut self.out, false), (&mut self.err, true)] {
            let rest = clean.finish();
            if !rest.is_empty() {
                p.step_output(rec, is_err, &String::from_utf8_lossy(&rest));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Other commands

pub fn list_command(file: &Path, format: ListFormat) -> Result<i32> {
    let doc = load(file)?;
    match format {
        ListFormat::Json => {
            let steps: Vec<serde_json::Value> = doc
                .steps
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "lang": s.lang,
                        "line": s.line,
                        "gate": gate_message(&doc, s, false),
                        "target": s.attrs.hosts.as_deref().or(s.attrs.host.as_deref()).unwrap_or("local"),
                        "safe": s.attrs.safe,
                    })
                })
                .collect();
            let params: serde_json::Value =
                serde_json::to_value(&doc.front.params).unwrap_or_default();
            let out = serde_json::json!({
                "runbook": file.display().to_string(),
                "title": doc.front.title,
                "params": params,
                "steps": steps,
            });
            let text = serde_json::to_string_pretty(&out).unwrap_or_default() + "\n";
            crate::console::out(text.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
        }
        ListFormat::Human => {
            let mut out = String::new();
            if let Some(t) = &doc.front.title {
                out.push_str(&format!("{t}\n"));
            }
            if !doc.front.params.is_empty() {
                out.push_str("params:\n");
                for (name, p) in &doc.front.params {
                    let mut bits = Vec::new();
                    if p.required {
                        bits.push("required".to_string());
                    }
                    if let Some(d) = &p.default {
                        bits.push(format!("default {}", plain(d)));
                    }
                    if let Some(c) = &p.choices {
                        let c: Vec<String> = c.iter().map(plain).collect();
                        bits.push(format!("one of {}", c.join("|")));
                    }
                    let desc = p
                        .description
                        .as_ref()
                        .map(|d| format!("  {d}"))
                        .unwrap_or_default();
                    out.push_str(&format!("  {name} ({}){desc}\n", bits.join(", ")));
                }
            }
            out.push_str("steps:\n");
            let width = doc.steps.iter().map(|s| s.name.len()).max().unwrap_or(4);
            for s in &doc.steps {
                let target = s
                    .attrs
                    .hosts
                    .as_deref()
                    .or(s.attrs.host.as_deref())
                    .unwrap_or("local");
                let gate = gate_message(&doc, s, false)
                    .map(|m| format!("  gate: \"{m}\""))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {:>3}  {:<width$}  {:<6} line {:<4} {target}{gate}\n",
                    s.index + 1,
                    s.name,
                    s.lang,
                    s.line,
                ));
            }
            // A runbook is input too: its controls are shown, not obeyed.
            let out = crate::report::visible_controls(&out);
            crate::console::out(out.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    Ok(exit::OK)
}

pub fn check_command(args: CheckArgs) -> Result<i32> {
    use crate::check;
    let opts = check::CheckOptions {
        strict: args.strict,
        preconditions: args.preconditions,
    };
    let mut report = check::check_paths(&args.paths, &opts);
    let mut secrets_of = IndexMap::new();
    for file in &mut report.files {
        let Ok(doc) = load(Path::new(&file.path)) else {
            continue;
        };
        let secrets = crate::secrets::resolve_passive(&doc.front.secrets);
        let (line, col, width) = front_key_position(&doc, "secrets");
        for w in crate::secrets::weak_secret_warnings(&secrets, &doc.source.text) {
            file.diagnostics
                .push(Diagnostic::at_line_col(&doc.source, line, col, width, w).warning());
        }
        secrets_of.insert(file.path.clone(), secrets);
    }
    if args.preconditions {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
        for file in &mut report.files {
            let Ok(doc) = load(Path::new(&file.path)) else {
                continue;
            };
            let params = match resolve_params(&doc, &args.params, None) {
                Ok(p) => p,
                Err(Error::Invalid(d)) => {
                    file.diagnostics.extend(d);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Rendered as `run` renders `requires:` (params, env, secrets,
            // hosts) and redacted as `run` redacts (the secrets `check` can read).
            let secrets = secrets_of.get(&file.path).cloned().unwrap_or_default();
            let redactor = Redactor::new(secrets.clone());
            let secrets: IndexMap<String, String> = secrets.into_iter().collect();
            let templates = Templates::new();
            let value = minijinja::context! {
                params => to_value(&params),
                env => to_value(&std::env::vars().collect::<IndexMap<String,String>>()),
                secrets => to_value(&secrets),
                hosts => to_value(&doc.front.hosts),
            };
            let render = |s: &str| -> std::result::Result<String, String> {
                templates
                    .render(s, Escape::None, &value)
                    .map_err(|e| e.message)
            };
            let ec2 = ec2_resolver();
            let probe = rt.block_on(InventoryProbe::new(
                &doc.front.requires.hosts,
                &doc.front.hosts,
                ec2.as_ref(),
            ));
            let results = rt.block_on(crate::preconditions::evaluate(
                &doc.front.requires,
                &render,
                &probe,
            ));
            let (line, col, width) = front_key_position(&doc, "requires");
            for r in results.iter().filter(|r| !r.ok) {
                file.diagnostics.push(Diagnostic::at_line_col(
                    &doc.source,
                    line,
                    col,
                    width,
                    redactor.redact(&r.failure_message()),
                ));
            }
        }
    }
    let color = terminal::color_enabled(color_choice(args.color), std::io::stdout().is_terminal());
    let text = match args.format {
        CheckFormat::Human => check::render_human(&report, color),
        CheckFormat::Json => check::render_json(&report),
        CheckFormat::Junit => check::render_junit(&report),
    };
    match args.format {
        CheckFormat::Human => crate::console::err(&text),
        _ => crate::console::out(text.as_bytes()).map_err(|e| Error::io("<stdout>", e))?,
    }
    let has_precondition_failure = report.files.iter().any(|f| {
        f.diagnostics
            .iter()
            .any(|d| d.message.starts_with("precondition failed"))
    });
    let code = report.exit_code();
    if has_precondition_failure && code == exit::INVALID {
        let only_pre = report.files.iter().all(|f| {
            f.diagnostics.iter().all(|d| {
                d.message.starts_with("precondition failed")
                    || d.severity == document::Severity::Warning
            })
        });
        if only_pre {
            return Ok(exit::PRECONDITION);
        }
    }
    Ok(code)
}

pub fn publish_command(dir: &Path, to: &str, url: Option<String>) -> Result<i32> {
    let json_path = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: no JSON report in this directory",
                dir.display()
            ))
        })?;
    let text = std::fs::read_to_string(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let record: RunRecord = serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: not a runbook JSON report: {e}",
            json_path.display()
        ))
    })?;
    let paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(publish_reports(to, url, &record, &paths))
        .map_err(Error::Other)?;
    Ok(exit::OK)
}
