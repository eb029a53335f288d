//! Steps with `host=`/`hosts=`: the target is resolved through the
//! inventory (groups, lists, EC2), the script runs over SSH on each host
//! (`--forks` at once), secrets travel as exported variables on the
//! channel's stdin, never on a command line.

use super::{Attempt, AttemptCx, Attempting, StepExecutor, status_of};
use crate::analyze::{error, position};
use crate::document::{Diagnostic, Document, Step};
use crate::exec::capture::OutputCapture;
use crate::exec::inventory::{self, SshTarget};
use crate::exec::process::Stream;
use crate::exec::ssh::{OutputSink, SshOptions, SshPool};
use crate::record::{HostResult, StepStatus};
use crate::template::Escape;
use crate::text::is_identifier;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Remote;

impl StepExecutor for Remote {
    fn name(&self) -> &'static str {
        "remote"
    }

    fn claims(&self, step: &Step) -> bool {
        step.attrs.host.is_some() || step.attrs.hosts.is_some()
    }

    fn escape(&self) -> Escape {
        Escape::Shell
    }

    fn attempt<'a>(&'a self, cx: AttemptCx<'a>) -> Attempting<'a> {
        Box::pin(attempt(cx))
    }

    /// `host=` (one machine) and `hosts=` (a fan-out) are mutually
    /// exclusive; only shell steps run on a host (the script goes to the
    /// remote shell on stdin); `cwd=`/`env=` are refused on a remote step,
    /// which does its own `cd` / `export`.
    fn analyze(&self, doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
        if !self.claims(step) {
            return;
        }
        let a = &step.attrs;
        for key in ["cwd", "env"] {
            if a.span_of(key).is_some() {
                let message = format!(
                    "`{key}` is not supported on remote hosts: use `cd` / `export` in the step"
                );
                out.push(error(doc, position::attr(doc, step, key), message));
            }
        }
        if a.host.is_some() && a.hosts.is_some() {
            let message = format!(
                "step `{}` sets both `host` and `hosts`: use `host` for one machine \
                 or `hosts` for several, not both",
                step.name
            );
            out.push(error(doc, position::attr(doc, step, "hosts"), message));
        }
        if !step.is_shell() {
            let key = if a.host.is_some() { "host" } else { "hosts" };
            let message = format!(
                "step `{}`: only shell steps can run on a host (this one is `{}`)",
                step.name, step.lang
            );
            out.push(error(doc, position::attr(doc, step, key), message));
        }
    }
}

async fn attempt(mut cx: AttemptCx<'_>) -> Attempt {
    let (name, targets) = match resolve(&cx).await {
        Ok(t) => t,
        Err(e) => return Attempt::error(e),
    };
    // Checked again here: a target that depended on a result was not
    // known before the run.
    if let Some(why) =
        crate::engine::blast::over_limit(cx.doc, cx.step, cx.opts.allow_hosts, targets.len())
    {
        return Attempt::error(format!("refused: {why}"));
    }
    // `--shard`: this shard's slice of the full list (a batch or an undo
    // names its hosts already, from this shard's).
    let targets = match cx.only_hosts {
        Some(_) => targets,
        None => crate::engine::select::shard_slice(targets, cx.opts.shard),
    };
    if cx.res.ssh.is_none() {
        match SshPool::new(SshOptions::from_env()) {
            Ok(pool) => cx.res.ssh = Some(pool),
            Err(e) => return Attempt::error(format!("cannot set up SSH: {e}")),
        }
    }
    let mut captures = Vec::new();
    for t in &targets {
        match cx.capture(Some(&t.label)) {
            Ok(c) => captures.push(Mutex::new(c)),
            Err(e) => return Attempt::error(e),
        }
    }
    let captures = Arc::new(captures);
    let Some(pool) = cx.res.ssh.as_ref() else {
        return Attempt::error("cannot set up SSH".into());
    };
    if last_remote_step(&cx) {
        pool.mark_last(&targets);
    }
    let results = pool
        .run_many(
            &targets,
            cx.opts.forks.max(1),
            &script(&cx),
            cx.timeout,
            sink_maker(&targets, captures.clone()),
            cx.interrupts.clone(),
        )
        .await;
    let Ok(captures) = Arc::try_unwrap(captures) else {
        return Attempt::error("internal error: output capture still in use".into());
    };
    let mut per_host = Vec::new();
    for ((target, result), cap) in results.into_iter().zip(captures) {
        let cap = cap.into_inner().unwrap_or_else(|p| p.into_inner());
        match host_result(&cx, target, result, cap) {
            Ok(r) => per_host.push(r),
            Err(e) => return Attempt::error(e),
        }
    }
    combine(&mut cx, &name, &targets, per_host)
}

/// No remote step follows this one in the document (rollback blocks and
/// unselected steps included: when one runs after all, it makes the state
/// directory anew and the pool removes it at the end), and no undo may need
/// this one's state: an inline `rollback="…"` of a remote step runs with the
/// state its step left.
fn last_remote_step(cx: &AttemptCx<'_>) -> bool {
    let remote = |s: &crate::document::Step| s.attrs.host.is_some() || s.attrs.hosts.is_some();
    let undo_here = |s: &crate::document::Step| remote(s) && s.attrs.rollback.is_some();
    let mut upto = cx.doc.steps.iter().take_while(|s| s.name != cx.step.name);
    let mut after = cx
        .doc
        .steps
        .iter()
        .skip_while(|s| s.name != cx.step.name)
        .skip(1);
    !after.any(remote) && !upto.any(undo_here) && !undo_here(cx.step)
}

/// The rendered `host=`/`hosts=` and the targets it resolves to.
async fn resolve(cx: &AttemptCx<'_>) -> Result<(String, Vec<SshTarget>), String> {
    let attrs = &cx.step.attrs;
    let written = attrs.hosts.clone().or_else(|| attrs.host.clone());
    // `host="{{ params.target }}"`: the attribute is a template too.
    let name = cx
        .templates
        .render(
            &written.unwrap_or_default(),
            Escape::None,
            &cx.ctx.value(true, None),
        )
        .map_err(|e| format!("in `host`: {e}"))?
        .trim()
        .to_string();
    let hosts = crate::engine::probe::rendered_hosts(cx.doc, cx.ctx, cx.templates);
    let mut targets = inventory::resolve(&name, &hosts, cx.res.ec2.as_ref()).await?;
    if let Some(only) = cx.only_hosts {
        targets.retain(|t| only.contains(&t.label));
    }
    Ok((name, targets))
}

/// Secrets as exported variables, then the step's code.
fn script(cx: &AttemptCx<'_>) -> String {
    let mut script = String::new();
    for (k, v) in cx.ctx.secrets.iter().filter(|(k, _)| is_identifier(k)) {
        script.push_str(&format!("export {k}={}\n", crate::exec::shell::quote(v)));
    }
    script.push_str(cx.rendered);
    script
}

/// Each host's output goes to its own capture.
fn sink_maker(
    targets: &[SshTarget],
    caps: Arc<Vec<Mutex<OutputCapture>>>,
) -> impl Fn(&SshTarget) -> OutputSink + use<> {
    let labels: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
    move |t: &SshTarget| -> OutputSink {
        let idx = labels.iter().position(|l| *l == t.label).unwrap_or(0);
        let caps = caps.clone();
        Box::new(move |stream: Stream, bytes: &[u8]| {
            if let Some(Ok(mut c)) = caps.get(idx).map(|m| m.lock()) {
                c.push(stream, bytes);
            }
        })
    }
}

/// One host's result, with its stdout and stderr for the template context.
struct PerHost {
    result: HostResult,
    stdout: String,
    stderr: String,
}

fn host_result(
    cx: &AttemptCx<'_>,
    target: SshTarget,
    result: Result<crate::exec::process::ProcessOutcome, crate::exec::ssh::SshError>,
    cap: OutputCapture,
) -> Result<PerHost, String> {
    let captured = cap
        .finish()
        .map_err(|e| format!("cannot write the step log: {e}"))?;
    let (status, exit_code, error, duration) = match result {
        Ok(o) => {
            let (s, c) = status_of(&o.termination);
            (s, c, None, o.duration)
        }
        Err(e) => (
            StepStatus::Failed,
            None,
            Some(cx.redactor.redact(&e.to_string())),
            Duration::ZERO,
        ),
    };
    Ok(PerHost {
        result: HostResult {
            host: target.label.clone(),
            address: Some(target.host.clone()),
            status,
            exit_code,
            duration_ms: duration.as_millis().min(u64::MAX as u128) as u64,
            output: captured.output.into(),
            error,
        },
        stdout: captured.stdout,
        stderr: captured.stderr,
    })
}

/// The step's result from every host's: one host (`host=`) reads as a
/// local step; a fan-out keeps each host's result.
fn combine(
    cx: &mut AttemptCx<'_>,
    name: &str,
    targets: &[SshTarget],
    mut per_host: Vec<PerHost>,
) -> Attempt {
    let single = cx.step.attrs.hosts.is_none() && per_host.len() == 1;
    let any = |s: StepStatus| per_host.iter().any(|h| h.result.status == s);
    let status = if any(StepStatus::Interrupted) {
        StepStatus::Interrupted
    } else if single && any(StepStatus::TimedOut) {
        StepStatus::TimedOut
    } else if per_host.iter().any(|h| h.result.status.is_failure()) {
        StepStatus::Failed
    } else {
        StepStatus::Ok
    };
    for h in &per_host {
        if let Some(e) = &h.result.error {
            cx.sinks.message(&format!(
                "step `{}` on {}: {e}",
                cx.step.name, h.result.host
            ));
        }
    }
    if single {
        let h = per_host.remove(0);
        return Attempt {
            status,
            exit_code: h.result.exit_code,
            output: Some(h.result.output),
            stdout: h.stdout,
            stderr: h.stderr,
            error: h.result.error,
            target: targets.first().map(|t| format!("{name} ({})", t.address())),
            ..Default::default()
        };
    }
    let hosts: Vec<HostResult> = per_host.into_iter().map(|h| h.result).collect();
    Attempt {
        status,
        exit_code: hosts
            .iter()
            .filter_map(|h| h.exit_code)
            .find(|c| *c != 0)
            .or(Some(0)),
        hosts,
        ..Default::default()
    }
}
