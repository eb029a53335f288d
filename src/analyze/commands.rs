//! The program an `interpreter=` step runs must exist on this machine: a
//! path that is an executable file, or a name found on `PATH`. It is a
//! warning, not an error: `check` in CI may run where the runbook's tools
//! are not installed. A templated interpreter is left to the run.

use super::position;
use crate::document::{Diagnostic, Document, Step, StepKind};

pub(super) fn interpreter(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let Some(interp) = &step.attrs.interpreter else {
        return language(doc, step, out);
    };
    let Some(program) = interp.split_whitespace().next() else {
        return;
    };
    if program.contains("{{") || on_path(program) {
        return;
    }
    let span = position::inline(doc, position::attr(doc, step, "interpreter"), program);
    out.push(
        Diagnostic::at(
            &doc.source,
            span.start,
            span.end,
            format!("interpreter `{program}` is not found on PATH"),
        )
        .warning(),
    );
}

/// Blocks in a language whose program is often missing (`ksh`, `fish`,
/// `pwsh`, TypeScript) are warned about when it is not on PATH here.
fn language(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let StepKind::Interpreter { command } = &step.kind else {
        return;
    };
    let span = position::fence(doc, step);
    let at = span.end;
    let lang_span = (at, at + step.lang.len().max(1));
    let message = if command == crate::document::parse::TYPESCRIPT {
        if crate::engine::kinds::interpreter::typescript_interpreter().is_some() {
            return;
        }
        format!(
            "no TypeScript interpreter on PATH (tsx, ts-node, deno, bun): step `{}` will not run here",
            step.name
        )
    } else if ["ksh", "fish", "pwsh"].contains(&command.as_str()) && !on_path(command) {
        format!(
            "`{command}` is not found on PATH: step `{}` will not run here",
            step.name
        )
    } else {
        return;
    };
    out.push(Diagnostic::at(&doc.source, lang_span.0, lang_span.1, message).warning());
}

/// Whether a program can be found: a path that exists, or a name on PATH.
fn on_path(program: &str) -> bool {
    crate::exec::path::find_on_path(program).is_some()
}

#[cfg(test)]
mod tests {
    use super::on_path;
    use crate::analyze::diagnostics;
    use crate::analyze::testdoc::{doc, named};
    use crate::document::Diagnostic;

    #[test]
    fn unclosed_fence_and_missing_interpreter_warn() {
        let text = "```python {name=a interpreter=\"no-such-interp-xyz -u\"}\nprint(1)\n```\n\n```bash {name=b}\necho\n";
        let d = doc(text, |i| {
            let mut a = named(["a", "b"][i]);
            if i == 0 {
                a.interpreter = Some("no-such-interp-xyz -u".into());
            }
            a
        });
        let out = diagnostics(&d);
        assert_eq!(
            out.iter().map(Diagnostic::short).collect::<Vec<_>>(),
            vec![
                "rb.md:1:32: warning: interpreter `no-such-interp-xyz` is not found on PATH",
                "rb.md:5:1: warning: unclosed code fence: the block runs to the end of the file",
            ]
        );
        assert!(on_path("sh"));
        assert!(!on_path("/nonexistent/bin/sh"));
    }
}
