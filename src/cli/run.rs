//! `runbook run`: from flags to a finished run. Parses and analyzes the
//! runbook (refusing what `check` refuses), makes sure every output is safe
//! to write and this run is the only one writing it, resolves params and
//! secrets, restores an earlier run for `--resume`/`--from`, then hands the
//! engine its options, its sinks (record, journal, terminal) and its
//! prompter. Whatever happens, the reports are written from the record.

use super::outputs::{self, Outputs};
use super::prompt::TerminalPrompter;
use super::{RunArgs, color_choice};
use crate::document::Document;
use crate::engine::gate::{Approve, Prompter, gate_message};
use crate::engine::journal::{self, Journal, JournalEntry};
use crate::engine::params::resolve_params;
use crate::engine::{Engine, RunHeader, RunInputs, RunOptions, SharedRecord, Sinks, now_rfc3339};
use crate::error::{Error, Result, exit};
use crate::exec::process::Interrupt;
use crate::record::RunRecord;
use crate::report::ReportOptions;
use crate::report::plain_value as plain;
use crate::report::progress::ProgressSink;
use crate::report::terminal;
use crate::secrets::Redactor;
use indexmap::IndexMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

pub fn run_command(args: RunArgs) -> Result<i32> {
    // Before any thread exists: the watchdog is forked.
    if let Err(e) = crate::exec::watchdog::start() {
        crate::console::err(&format!("warning: no watchdog for the steps: {e}\n"));
    }
    // The alert (and the runbook it links to) before anything else.
    let args = super::alert::prepare(args)?;
    let rt = crate::cli::runtime()?;
    let code = rt.block_on(run_async(args));
    // Never wait for a blocking thread (a gate's read) to finish.
    rt.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn run_async(args: RunArgs) -> Result<i32> {
    // Whatever `runbook check` refuses, refuse before anything runs.
    let doc = crate::analyze::load_file(&args.file)?.doc;
    // The document's own warnings (an unclosed fence, an ignored front
    // matter key), once, before anything starts.
    for w in &doc.warnings {
        crate::console::err(&format!("{w}\n"));
    }
    let outputs = Outputs::new(&args);
    // Nothing runs until every output is known to be safe to write, and
    // this run is the only one writing it.
    outputs.check(&args)?;
    // A key that cannot sign refuses the run before anything runs.
    let args = RunArgs {
        signer: super::signing::load(&args).await?,
        ..args
    };
    let header = header(&args, &doc);
    let _lock = if args.dry_run {
        None
    } else {
        let holder = outputs::holder(&header.operator, &header.started_at);
        Some(crate::safe_fs::RunLock::acquire(
            &outputs.lock,
            &outputs.markdown,
            &holder,
        )?)
    };
    let (previous, saved_params) = previous_run(&args, &outputs, &header.sha256)?;
    let trust = super::resume::check(&args, &outputs, &doc, &previous, &header.operator)?;
    let answered = super::prompt_env::answered_by_p(&args, &doc);
    let asked = super::ask::missing_params(&args, &doc, saved_params.as_ref()).await?;
    let params = params(&args, &doc, saved_params.as_ref(), &answered, &asked)?;
    refuse_without_tty(&args, &doc)?;
    let prompted = super::prompt_env::resolve(&args, &doc).await?;

    let asked = super::ask::missing_secrets(&args, &doc).await?;
    let specs = &doc.front.secrets;
    let resolved =
        crate::secrets::resolve_declared(&doc, &super::ask::without(specs, &asked)).await?;
    let secrets = super::ask::in_order(specs, resolved, asked);
    let mut masked = hidden(&secrets, &prompted);
    // A step could print the publish token it inherits: masked too.
    masked.extend(super::commands::publish::token_to_mask(&args));
    let redactor = Redactor::new(masked);
    for w in crate::secrets::weak_secret_warnings(&secrets, &doc.source.text) {
        crate::console::err(&format!("warning: {w}\n"));
    }
    if let Some(code) = super::plan::confirm(&args, &doc, &params, &redactor).await? {
        return Ok(code);
    }
    let (tx, interrupts) = watch::channel(Interrupt::None);
    spawn_signal_handler(tx);
    // After the steps, an interrupt stops waiting for GitLab.
    let stop = interrupts.clone();

    let record = SharedRecord::default();
    let mut sinks = Sinks::new(vec![
        Box::new(record.clone()),
        terminal_sink(&args, &redactor),
    ]);
    if !args.dry_run {
        let mut journal = open_journal(&args, &outputs, &previous, &header, &params, &redactor)?
            .with_sources(crate::engine::journal::step_sources(&doc));
        trust.journal(&mut journal)?;
        sinks.push(Box::new(journal));
    }
    // `--publish`: the incident follows the run (a sink; never stops it).
    let live = super::commands::publish::start_live(&args, &doc, &redactor).map(|(l, sink)| {
        sinks.push(Box::new(sink));
        l
    });
    if let Err(e) = crate::safe_fs::private_dir(&outputs.logs) {
        sinks.message(&format!(
            "warning: cannot create {}: {e}",
            outputs.logs.display()
        ));
    }
    let prompter: Box<dyn Prompter> = if args.yes {
        Box::new(Approve)
    } else {
        Box::new(TerminalPrompter)
    };
    let inputs = RunInputs {
        doc: doc.clone(),
        header,
        params,
        secrets,
        restored: journal::restored(previous),
        prompted,
        alert: args.chosen_alert.clone(),
    };
    let engine = Engine::new(
        inputs,
        options(&args, &outputs),
        sinks,
        prompter,
        interrupts,
    )?;
    let (code, mut sinks) = engine.run().await;
    let Some(mut record) = record.snapshot() else {
        return Ok(code);
    };
    if let Some(live) = live {
        record.publish = Some(super::commands::publish::finish_live(live, stop.clone()).await);
    }
    record.resume_forced = trust.forced;
    let ending = Ending {
        args: &args,
        outputs: &outputs,
        doc: &doc,
        redactor: &redactor,
        stop,
    };
    finish(&ending, &record, &mut sinks, code).await
}

/// What writing the record and publishing it need, once the steps are over.
struct Ending<'a> {
    args: &'a RunArgs,
    outputs: &'a Outputs,
    doc: &'a Document,
    redactor: &'a Redactor,
    /// Interrupts: the next one stops the final upload.
    stop: crate::exec::process::Interrupts,
}

fn options(args: &RunArgs, outputs: &Outputs) -> RunOptions {
    RunOptions {
        yes: args.yes,
        step_mode: args.step,
        dry_run: args.dry_run,
        from: args.from.clone(),
        resume: args.resume,
        max_output_lines: args.max_output_lines,
        forks: args.forks,
        allow_hosts: args.allow_hosts,
        shard: args.shard,
        logs_dir: outputs.logs.clone(),
        only: args.only.clone(),
        tags: args.tag.clone(),
        no_rollback: args.no_rollback,
    }
}

fn header(args: &RunArgs, doc: &Document) -> RunHeader {
    RunHeader {
        path: args.file.display().to_string(),
        sha256: crate::text::sha256_hex(doc.source.text.as_bytes(), usize::MAX),
        operator: operator(),
        job_url: job_url(),
        machine: hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into()),
        started_at: now_rfc3339(),
        mode: run_mode(args),
    }
}

type Params = IndexMap<String, serde_json::Value>;

/// The earlier run of the same output (`--resume`, `--from`): its journal
/// entries, and the params it ran with.
fn previous_run(
    args: &RunArgs,
    outputs: &Outputs,
    sha: &str,
) -> Result<(Vec<JournalEntry>, Option<Params>)> {
    let mut previous = if args.resume || args.from.is_some() {
        journal::load(&outputs.journal)
    } else {
        Vec::new()
    };
    if args.resume && previous.is_empty() {
        return Err(Error::Usage(format!(
            "--resume: no saved run at {} (run without --resume first, with the same -o/--report-dir)",
            outputs.journal.display()
        )));
    }
    let mut saved_params = None;
    if let Some(JournalEntry::Start { sha256, params, .. }) = previous.first() {
        // --resume on an edited runbook: `resume::check` decides, step by
        // step, whether the results can still be reused.
        if sha256 != sha && !args.resume {
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
    Ok((previous, saved_params))
}

/// What the reports mask: the secrets, and prompted values whose names look secret.
fn hidden(secrets: &[(String, String)], prompted: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = secrets.to_vec();
    out.extend(
        prompted
            .iter()
            .filter(|(k, v)| !v.is_empty() && crate::document::prompts::looks_secret(k))
            .cloned(),
    );
    out
}

/// Params from the saved run (`--resume`), the params file and `-p` (less
/// the `-p` that answer Runme prompts, `answered`).
fn params(
    args: &RunArgs,
    doc: &Document,
    saved: Option<&IndexMap<String, serde_json::Value>>,
    answered: &[String],
    asked: &[String],
) -> Result<IndexMap<String, serde_json::Value>> {
    let mut given = Vec::new();
    if let (Some(saved), true) = (saved, args.resume) {
        for (k, v) in saved.iter().filter(|(_, v)| !v.is_null()) {
            given.push(format!("{k}={}", plain(v)));
        }
    }
    given.extend(
        args.params
            .iter()
            .filter(|p| {
                p.split_once('=')
                    .is_none_or(|(k, _)| !answered.iter().any(|a| a == k))
            })
            .cloned(),
    );
    given.extend(asked.iter().cloned());
    let alert = args.chosen_alert.as_ref();
    let params = resolve_params(doc, &given, args.params_file.as_deref(), alert)?;
    check_selection(args, doc)?;
    Ok(params)
}

/// `--from`, `--only` and `--tag` must name what the runbook has.
fn check_selection(args: &RunArgs, doc: &Document) -> Result<()> {
    let names: Vec<&str> = doc.steps.iter().map(|s| s.name.as_str()).collect();
    let unknown = |flag: &str, name: &str| {
        Error::Usage(format!(
            "{flag}: no step named `{name}` (steps: {})",
            names.join(", ")
        ))
    };
    if let Some(from) = &args.from
        && !names.contains(&from.as_str())
    {
        return Err(unknown("--from", from));
    }
    if let Some(name) = args.only.iter().find(|n| !names.contains(&n.as_str())) {
        return Err(unknown("--only", name));
    }
    // A rollback block runs only to undo its step, never as a step.
    let flags = args.from.iter().map(|n| ("--from", n));
    let flags = flags.chain(args.only.iter().map(|n| ("--only", n)));
    for (flag, name) in flags {
        if doc.step(name).is_some_and(|s| s.is_rollback()) {
            return Err(Error::Usage(format!(
                "{flag}: `{name}` is a rollback block: it runs only to undo the step that names it"
            )));
        }
    }
    let mut tags: Vec<&str> = doc
        .steps
        .iter()
        .flat_map(|s| s.attrs.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    if let Some(tag) = args.tag.iter().find(|t| !tags.contains(&t.as_str())) {
        let known = if tags.is_empty() {
            "no step has a `tag` or `category`".to_string()
        } else {
            format!("tags: {}", tags.join(", "))
        };
        return Err(Error::Usage(format!(
            "--tag: no step has tag `{tag}` ({known})"
        )));
    }
    Ok(())
}

/// Gates need a human unless `--yes`: refused before anything runs.
fn refuse_without_tty(args: &RunArgs, doc: &Document) -> Result<()> {
    if args.yes || args.dry_run || std::io::stdin().is_terminal() {
        return Ok(());
    }
    let Some(step) = doc
        .steps
        .iter()
        .filter(|s| {
            crate::engine::select::not_selected(s, &args.only, &args.tag, args.from.as_deref())
                .is_none()
        })
        .find(|s| gate_message(doc, s, args.step).is_some())
    else {
        return Ok(());
    };
    Err(Error::Usage(format!(
        "{} has confirmation gates (first: step `{}` at line {}) and stdin is not a terminal; \
         pass --yes to approve them, or run it from a terminal",
        args.file.display(),
        step.name,
        step.line
    )))
}

/// The terminal view for this run; every string it shows is redacted.
fn terminal_sink(args: &RunArgs, redactor: &Redactor) -> Box<ProgressSink> {
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
    let progress = crate::report::redacting::Redacting::wrap(
        terminal::progress_for(mode, color),
        redactor.clone(),
    );
    Box::new(ProgressSink::new(progress, redactor.clone()))
}

/// The journal, appended to when an earlier run is continued.
fn open_journal(
    args: &RunArgs,
    outputs: &Outputs,
    previous: &[JournalEntry],
    header: &RunHeader,
    params: &IndexMap<String, serde_json::Value>,
    redactor: &Redactor,
) -> Result<Journal> {
    let append = (args.resume || args.from.is_some()) && !previous.is_empty();
    let mut j = Journal::create(outputs.journal.clone(), append, redactor.clone())?;
    if !append {
        j.append(&JournalEntry::Start {
            sha256: header.sha256.clone(),
            params: params.clone(),
            started_at: header.started_at.clone(),
        })?;
    }
    Ok(j)
}

/// Writes every report, then publishes when asked; returns the exit code.
async fn finish(end: &Ending<'_>, record: &RunRecord, sinks: &mut Sinks, code: i32) -> Result<i32> {
    let (args, outputs, doc, redactor) = (end.args, end.outputs, end.doc, end.redactor);
    // Logs are kept only for cut output; drop the folder when it is empty.
    let _ = std::fs::remove_dir(&outputs.logs);
    // Redact the record, not the reports: before any escaping, and never
    // the runbook's own text or the markers.
    let mut record = record.redacted(&|s| redactor.redact(s));
    record.signature = super::signing::record_of(args, redactor);
    let (paths, record) = match write_reports(args, outputs, doc, &record) {
        Ok(written) => written,
        Err(e) => {
            // Not "a step failed": the run's own outcome stays, and the
            // exit code says the record could not be written.
            crate::console::err(&format!("error: {e}\n"));
            return Ok(if code == exit::OK { exit::REPORT } else { code });
        }
    };
    for p in &paths {
        sinks.message(&format!("wrote {}", p.display()));
    }
    for line in next_steps(args, outputs, &record) {
        sinks.message(&line);
    }
    if let Some(target) = &args.publish {
        publish_at_end(end, target, record, &paths, sinks).await;
    }
    Ok(code)
}

/// `--publish`: the reports uploaded and the note posted, best effort (the
/// local record is on disk); the next interrupt stops it. The JSON report
/// is written again with how that went.
async fn publish_at_end(
    end: &Ending<'_>,
    target: &str,
    mut record: RunRecord,
    paths: &[PathBuf],
    sinks: &mut Sinks,
) {
    use super::commands::publish::{next_interrupt, publish_reports, while_saying_so};
    let opts = ReportOptions {
        hide_code: end.args.html_hide_code,
        report_dir: end.outputs.report_dir.clone(),
    };
    let url = end.args.gitlab_url.clone();
    let publishing = publish_reports(target, url, Some(end.doc), &record, paths, &opts);
    let what = format!("publishing to {target}");
    let published = tokio::select! {
        p = while_saying_so(publishing, &what) => p,
        () = next_interrupt(end.stop.clone()) => Err("stopped by the operator (Ctrl-C)".to_string()),
    };
    let outcome = published.unwrap_or_else(|e| {
        crate::console::err(&format!("error: publishing to {target} failed: {e}\n"));
        sinks.message(&format!(
            "the report is still at {}",
            end.outputs.markdown.display()
        ));
        crate::record::FinalUpload::failed(end.redactor.redact(&e))
    });
    let Some(publish) = &mut record.publish else {
        return;
    };
    publish.final_upload = Some(outcome);
    for (report, path) in end.outputs.report_files() {
        if report.name() != "json" {
            continue;
        }
        let text = report.render(end.doc, &record, &opts);
        if let Err(e) = crate::safe_fs::write_private(&path, text.as_bytes()) {
            crate::console::err(&format!("warning: {}: {e}\n", path.display()));
        }
    }
}

/// After a failed or interrupted run: where the failed output is, and the
/// exact command that continues after the last finished step.
fn next_steps(args: &RunArgs, outputs: &Outputs, record: &RunRecord) -> Vec<String> {
    use crate::record::RunResult;
    if args.dry_run || !matches!(record.result, RunResult::Failed | RunResult::Interrupted) {
        return Vec::new();
    }
    let mut lines = Vec::new();
    if let Some(step) = record.steps.iter().find(|s| s.status.is_failure()) {
        let log = step
            .output
            .as_ref()
            .and_then(|o| o.log_path.clone())
            .map(|p| format!(", full log {p}"))
            .unwrap_or_default();
        lines.push(format!(
            "failed: step `{}` (line {}): its output is in {}{log}",
            step.name,
            step.line,
            outputs.markdown.display()
        ));
    }
    let mut cmd = vec![
        "runbook".to_string(),
        "run".into(),
        args.file.display().to_string(),
        "--resume".into(),
    ];
    if let Some(o) = &args.output {
        cmd.extend(["-o".into(), o.display().to_string()]);
    }
    if let Some(d) = &args.report_dir {
        cmd.extend(["--report-dir".into(), d.display().to_string()]);
    }
    if args.yes {
        cmd.push("--yes".into());
    }
    cmd.extend(super::alert::resume_flags(args));
    let cmd: Vec<String> = cmd.iter().map(|w| shell_word(w)).collect();
    lines.push(format!(
        "next: fix the cause, then continue with: {}",
        cmd.join(" ")
    ));
    lines
}

/// A word as a shell reads it back: bare when plain, quoted otherwise.
fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./=:,@+-".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        w.to_string()
    } else {
        crate::exec::shell::quote(w)
    }
}

fn write_reports(
    args: &RunArgs,
    outputs: &Outputs,
    doc: &Document,
    record: &RunRecord,
) -> Result<(Vec<PathBuf>, RunRecord)> {
    let opts = ReportOptions {
        hide_code: args.html_hide_code,
        report_dir: outputs.report_dir.clone(),
    };
    let copy = crate::report::registry::by_name(crate::report::registry::COPY)
        .ok_or_else(|| Error::Other("no annotated-copy report".into()))?;
    let mut written = Vec::new();
    let mut record = record.clone();
    let (charts, no_charts) = super::charts::write_assets(&outputs.markdown, &mut record);
    // The copy first: the other reports carry its chain head (and signer).
    let text = copy.render(doc, &record, &opts);
    record.chain_head = crate::document::chain::head(&text);
    let (text, unsigned) = super::signing::sign_copy(args, text, &mut record);
    crate::safe_fs::write_private(&outputs.markdown, text.as_bytes())?;
    written.push(outputs.markdown.clone());
    written.extend(charts);
    for (report, path) in outputs.report_files() {
        let text = report.render(doc, &record, &opts);
        crate::safe_fs::write_private(&path, text.as_bytes())?;
        written.push(path);
    }
    // Everything that could be written is: then the first failure.
    match no_charts.or(unsigned) {
        Some(e) => Err(e),
        None => Ok((written, record)),
    }
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

/// Who runs: in GitLab CI the person behind the job (`GITLAB_USER_LOGIN`),
/// not the runner's account; else the login name.
fn operator() -> String {
    for var in ["GITLAB_USER_LOGIN", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
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
    if args.force {
        mode.push("--force".to_string());
    }
    if let Some(from) = &args.from {
        mode.push(format!("--from {from}"));
    }
    mode.extend(args.only.iter().map(|n| format!("--only {n}")));
    mode.extend(args.tag.iter().map(|t| format!("--tag {t}")));
    mode.extend(args.allow_hosts.map(|n| format!("--allow-hosts {n}")));
    mode.extend(
        args.shard
            .map(|s| format!("--shard {}/{}", s.index, s.total)),
    );
    for (on, flag) in [
        (args.dry_run, "--dry-run"),
        (args.yes, "--yes"),
        (args.step, "--step"),
        (args.no_rollback, "--no-rollback"),
    ] {
        if on {
            mode.push(flag.to_string());
        }
    }
    mode
}
