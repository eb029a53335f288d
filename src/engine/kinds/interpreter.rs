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
    let dir = state_path(cx.res, "scripts");
    let local = cx.res.kernels.get("local");
    let spec = std::fs::create_dir_all(&dir).and_then(|_| {
        let mut spec = crate::exec::shell::interpreter_spec(command, cx.rendered, &dir)?;
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
