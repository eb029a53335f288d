//! Shell steps (`bash`, `sh`, `zsh`, `shell`) run locally in a kernel per
//! shell program, so exported variables and the working directory carry
//! over from one step to the next, as in a notebook.

use super::{Attempt, AttemptCx, Attempting, Resources, StepExecutor, state_path, status_of};
use crate::document::{Document, Step, StepKind};
use crate::exec::process::{self, Stream, Termination};
use crate::exec::shell::ShellKernel;
use crate::record::OutputRecord;
use crate::secrets::Redactor;
use crate::template::Escape;
use std::io::IsTerminal;

pub struct Shell;

impl StepExecutor for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn claims(&self, step: &Step) -> bool {
        matches!(step.kind, StepKind::Shell { .. })
    }

    fn escape(&self) -> Escape {
        Escape::Shell
    }

    fn attempt<'a>(&'a self, cx: AttemptCx<'a>) -> Attempting<'a> {
        Box::pin(attempt(cx))
    }
}

async fn attempt(cx: AttemptCx<'_>) -> Attempt {
    let StepKind::Shell { program } = &cx.step.kind else {
        return Attempt::error("not a shell step".into());
    };
    let (env, cwd) = match cx.local_env() {
        Ok(v) => v,
        Err(e) => return Attempt::error(e),
    };
    let mut notes = Vec::new();
    let spec = match kernel(cx.res, cx.doc, cx.redactor, program, &mut notes).and_then(|k| {
        let mut spec = k.prepare(cx.rendered, cwd.as_deref(), &env)?;
        spec.timeout = cx.timeout;
        spec.kill_grace = crate::exec::kill::KILL_GRACE;
        Ok(spec)
    }) {
        Ok(spec) => spec,
        Err(e) => return Attempt::error(format!("cannot prepare the step: {e}")),
    };
    for n in notes {
        cx.sinks.message(&n);
    }
    if cx.step.attrs.background {
        return background(cx, &spec);
    }
    if cx.step.attrs.interactive == Some(true) && std::io::stdin().is_terminal() {
        return on_terminal(cx, &spec);
    }
    run_local(cx, &spec).await
}

/// Runme's `interactive: true` with a terminal: the step gets it (what the
/// operator types goes to the step; its output is not captured). Without a
/// terminal (CI) the step runs like any other, stdin empty.
fn on_terminal(cx: AttemptCx<'_>, spec: &process::ProcessSpec) -> Attempt {
    let mut result = None;
    cx.sinks.suspend(&mut || {
        result = Some(crate::exec::terminal::run_on_terminal(spec));
    });
    match result {
        Some(Ok(t)) => {
            let (status, exit_code) = status_of(&t);
            let note = "interactive: ran on the terminal; its output was not captured\n";
            Attempt {
                status,
                exit_code,
                output: Some(OutputRecord {
                    head: note.into(),
                    total_lines: 1,
                    total_bytes: note.len() as u64,
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        Some(Err(e)) => Attempt::error(format!("cannot start `{}`: {e}", spec.program)),
        None => Attempt::error("the interactive step did not run".into()),
    }
}

/// Runme's `background: true`: started detached, its output to a private
/// file; the engine stops it and records its output when the run ends.
fn background(cx: AttemptCx<'_>, spec: &process::ProcessSpec) -> Attempt {
    let n = cx.res.background.len();
    let log = state_path(cx.res, &format!("background-{n}.log"));
    match crate::exec::background::Background::spawn(spec, &log) {
        Ok(bg) => {
            cx.sinks.message(&format!(
                "step `{}` runs in the background (pid {}); it is stopped when the run ends",
                cx.step.name,
                bg.pid()
            ));
            cx.res.background.push((cx.step.name.clone(), bg));
            Attempt {
                status: crate::record::StepStatus::Ok,
                ..Default::default()
            }
        }
        Err(e) => Attempt::error(format!(
            "cannot start `{}` in the background: {e}",
            spec.program
        )),
    }
}

/// The kernel for `program`, started on first use (the saved state of an
/// earlier run restored into the bash one).
fn kernel<'r>(
    res: &'r mut Resources,
    doc: &Document,
    redactor: &Redactor,
    program: &str,
    notes: &mut Vec<String>,
) -> std::io::Result<&'r mut ShellKernel> {
    let key = if program == "bash" {
        "local".to_string()
    } else {
        format!("local:{program}")
    };
    if !res.kernels.contains_key(&key) {
        let prelude = doc.front.shell_options.clone().unwrap_or_else(|| {
            match program {
                "bash" | "zsh" => "set -eo pipefail",
                _ => "set -e",
            }
            .to_string()
        });
        let dir = state_path(res, &key);
        std::fs::create_dir_all(&dir)?;
        let mut kernel = ShellKernel::new(&dir, program, &prelude)?.with_redactor(redactor.clone());
        if key == "local"
            && let Some(state) = res.restored_shell.take()
        {
            match kernel.restore(state) {
                    Ok(skipped) => notes.extend(skipped.into_iter().map(|name| format!(
                        "warning: --resume: {name} held a secret when it was saved and is not restored"
                    ))),
                    Err(e) => {
                        notes.push(format!("warning: cannot restore the saved shell state: {e}"))
                    }
                }
        }
        res.kernels.insert(key.clone(), kernel);
    }
    res.kernels
        .get_mut(&key)
        .ok_or_else(|| std::io::Error::other("shell kernel missing"))
}

/// Runs a prepared local process, its output to the capture and the sinks.
pub(super) async fn run_local(cx: AttemptCx<'_>, spec: &process::ProcessSpec) -> Attempt {
    let mut capture = match cx.capture(None) {
        Ok(c) => c,
        Err(e) => return Attempt::error(e),
    };
    let (sinks, rec) = (cx.sinks, cx.rec);
    let mut sink = |stream: Stream, bytes: &[u8]| {
        capture.push(stream, bytes);
        AttemptCx::output(sinks, rec, stream, bytes);
    };
    let outcome = process::run(spec, &mut sink, cx.interrupts.clone()).await;
    let captured = match capture.finish() {
        Ok(c) => c,
        Err(e) => return Attempt::error(format!("cannot write the step log: {e}")),
    };
    match outcome {
        Ok(o) => {
            let (status, exit_code) = status_of(&o.termination);
            let mut output: OutputRecord = captured.output.into();
            output.leaked = output.leaked || o.leaked;
            Attempt {
                status,
                exit_code,
                output: Some(output),
                stdout: captured.stdout,
                stderr: captured.stderr,
                error: (o.termination == Termination::NeedsTerminal)
                    .then(|| process::NEEDS_TERMINAL.to_string()),
                ..Default::default()
            }
        }
        Err(e) => Attempt::error(format!("cannot start `{}`: {e}", spec.program)),
    }
}
