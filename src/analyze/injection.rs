//! Python, Node, Ruby … steps get template values pasted into their code
//! with no quoting at all (only shell steps have a quoting guard): a
//! parameter there can run code. Such a step is warned about, at its first
//! `{{ … }}`, with the safe form (pass the value with `env=`).

use super::templates::map_code_offset;
use crate::document::{Diagnostic, Document, Step, StepKind};

pub(super) fn unquoted(doc: &Document, step: &Step, out: &mut Vec<Diagnostic>) {
    let StepKind::Interpreter { command } = &step.kind else {
        return;
    };
    // Literal Go / GitHub Actions text pastes no value.
    let code = crate::template::literal::blank(&step.code);
    let Some(at) = code.find("{{") else {
        return;
    };
    let end = code[at..].find("}}").map_or(at + 2, |e| at + e + 2);
    let start = map_code_offset(&doc.source, step, at);
    let stop = map_code_offset(&doc.source, step, end);
    let program = command.split_whitespace().next().unwrap_or(command);
    out.push(
        Diagnostic::at(
            &doc.source,
            start,
            stop.max(start + 1),
            format!(
                "step `{}` pastes a template value into `{program}` code without any quoting: \
                 a parameter can run code there; pass it with env= (`env=\"NAME={{{{ params.x }}}}\"`) \
                 and read it from the environment",
                step.name
            ),
        )
        .warning(),
    );
}
