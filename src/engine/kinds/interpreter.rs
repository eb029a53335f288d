//! Interpreter steps (python, node, ruby, perl, `interpreter=`): the code
//! goes into a private script file run by the interpreter, in the working
//! directory and with the variables the bash steps left.

use super::{Attempt, AttemptCx, Attempting, StepExecutor, shell::run_local, state_path};
use crate::document::{Step, StepKind};
use std::path::PathBuf;

pub struct Interpreter;

impl StepExecutor for Interpreter {
    fn name(&self) -> &'static str {
        "interpreter"
    }

    fn claims(&self, step: &Step) -> bool {
        matches!(step.kind, StepKind::Interpreter { .. })
    }

    fn attempt<'a>(&'a self, cx: AttemptCx<'a>) -> Attempting<'a> {
        Box::pin(attempt(cx))
    }
}

async fn attempt(cx: AttemptCx<'_>) -> Attempt {
    let StepKind::Interpreter { command } = &cx.step.kind else {
        return Attempt::error("not an interpreter step".into());
    };
    let (env, cwd) = match cx.local_env() {
        Ok(v) => v,
        Err(e) => return Attempt::error(e),
    };
    let (command, suffix) = match script_command(&cx.step.lang, command) {
        Ok(c) => c,
        Err(e) => return Attempt::error(e),
    };
    let dir = state_path(cx.res, "scripts");
    let local = cx.res.kernels.get("local");
    let spec = std::fs::create_dir_all(&dir).and_then(|_| {
        let mut spec =
            crate::exec::shell::interpreter_spec_as(&command, cx.rendered, &dir, suffix)?;
        spec.timeout = cx.timeout;
        spec.kill_grace = crate::exec::kill::KILL_GRACE;
        spec.cwd = match (&cwd, local) {
            (Some(cwd), _) => Some(PathBuf::from(cwd)),
            (None, Some(k)) => k.cwd().map(PathBuf::from),
            (None, None) => None,
        };
        // Variables exported by earlier bash steps, then the step's own.
        if let Some(k) = local {
            spec.env.extend(k.exported());
        }
        spec.env.extend(env.iter().cloned());
        Ok(spec)
    });
    match spec {
        Ok(spec) => run_local(cx, &spec).await,
        Err(e) => Attempt::error(format!("cannot prepare the step: {e}")),
    }
}

/// Interpreters a `ts` block runs with, the first found on PATH.
pub const TYPESCRIPT_INTERPRETERS: &[&str] = &["tsx", "ts-node", "deno run", "bun"];

/// The TypeScript interpreter found on PATH.
pub fn typescript_interpreter() -> Option<&'static str> {
    TYPESCRIPT_INTERPRETERS.iter().copied().find(|c| {
        let program = c.split_whitespace().next().unwrap_or(c);
        crate::exec::path::find_on_path(program).is_some()
    })
}

/// The command line a step's script runs with, and its file suffix when
/// the language decides it.
fn script_command(lang: &str, command: &str) -> Result<(String, Option<&'static str>), String> {
    if command == crate::document::parse::TYPESCRIPT {
        return match typescript_interpreter() {
            Some(c) => Ok((c.to_string(), Some(".ts"))),
            None => Err(format!(
                "`{lang}` block: no TypeScript interpreter on PATH (tried {})",
                TYPESCRIPT_INTERPRETERS.join(", ")
            )),
        };
    }
    let suffix = (lang.eq_ignore_ascii_case("mjs")).then_some(".mjs");
    Ok((command.to_string(), suffix))
}
