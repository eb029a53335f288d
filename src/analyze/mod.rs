//! The only validator. [`analyze`] takes a parsed [`Document`] and returns
//! every problem at once, or an [`Analysis`] when it may run. `runbook check`
//! is this plus rendering; `runbook run` calls it before any precondition or
//! step and refuses (exit 2) with the same diagnostics whatever `check`
//! refuses, so a green `check` means the runbook can start.
//!
//! The rules live one family per file below; [`diagnostics`] calls them
//! all. Positions come from [`position`] and [`templates`], so every rule
//! points at the same spot for the same thing.

mod blast;
mod commands;
mod fences;
mod filters;
mod gates;
mod injection;
mod inventory;
pub mod params;
mod phases;
pub mod position;
mod references;
mod rollback;
mod runme;
mod secrets;
mod shell;
pub mod templates;
#[cfg(test)]
pub(crate) mod testdoc;
mod transcripts;

use crate::document::{Diagnostic, Document, Severity};

/// How strict the analysis is.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalyzeOptions {
    /// Warnings refuse the runbook too (`check --strict`).
    pub strict: bool,
}

/// A runbook that may run, with what did not stop it.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Warnings, sorted by position.
    pub warnings: Vec<Diagnostic>,
}

/// Every rule over `doc`. `Err` holds all diagnostics (errors and warnings,
/// sorted by position) when there is an error, or a warning with `strict`.
pub fn analyze(doc: &Document, opts: &AnalyzeOptions) -> Result<Analysis, Vec<Diagnostic>> {
    let out = diagnostics(doc);
    let refused = out
        .iter()
        .any(|d| d.severity == Severity::Error || (opts.strict && d.severity == Severity::Warning));
    if refused {
        Err(out)
    } else {
        Ok(Analysis { warnings: out })
    }
}

/// Every problem in a parsed runbook: the parser's warnings plus every
/// rule, errors and warnings, sorted by position (ties keep the order
/// below), duplicates removed.
pub fn diagnostics(doc: &Document) -> Vec<Diagnostic> {
    let mut out = doc.warnings.clone();
    let refs = references::References::new(doc);
    gates::runbook(doc, &mut out);
    params::declarations(doc, &mut out);
    inventory::groups(doc, &mut out);
    blast::front(doc, &mut out);
    refs.preconditions(&mut out);
    for step in &doc.steps {
        fences::unclosed(doc, step, &mut out);
        fences::runs_nothing(doc, step, &mut out);
        templates::literals(doc, step, &mut out);
        refs.body(step, &mut out);
        injection::unquoted(doc, step, &mut out);
        refs.attributes(step, &mut out);
        refs.hosts(step, &mut out);
        blast::local_step(doc, step, &mut out);
        gates::step(doc, step, &mut out);
        commands::interpreter(doc, step, &mut out);
        transcripts::mixed(doc, step, &mut out);
        transcripts::root_prose(doc, step, &mut out);
        transcripts::expect(doc, step, &mut out);
        runme::options(doc, step, &mut out);
    }
    rollback::rules(doc, &mut out);
    secrets::sources(doc, &mut out);
    inventory::settings(doc, &mut out);
    // Each step kind's own rules (where it may run, its block's syntax).
    for step in &doc.steps {
        for kind in crate::engine::kinds::registry() {
            kind.analyze(doc, step, &mut out);
        }
    }
    filters::known(doc, &mut out);
    shell::contexts(doc, &mut out);
    phases::rules(doc, &mut out);
    out.sort_by_key(|d| (d.line, d.col));
    out.dedup();
    out
}

/// For `run`: the analysis, or the diagnostics as an invalid-runbook error
/// (exit 2), printed as `check` prints them.
pub fn refuse_invalid(doc: &Document) -> crate::Result<Analysis> {
    analyze(doc, &AnalyzeOptions::default()).map_err(crate::Error::Invalid)
}

/// A runbook parsed and analyzed: the document (what could be parsed) and
/// every problem, errors and warnings, sorted by position.
pub struct Loaded {
    pub doc: Document,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Parses and analyzes a runbook's text (generated blocks stripped), for
/// `check` and `run` alike. Errors in the front matter do not hide the
/// body's problems: every rule still runs over what parsed. Errors in the
/// body (a bad attribute drops its step) stop the rules, which would
/// otherwise report every reference to the dropped step as well.
pub fn load(path: impl Into<std::path::PathBuf>, text: String) -> Loaded {
    let parsed = crate::document::parse_all(path, text);
    let mut diagnostics = parsed.front_errors;
    if parsed.body_errors.is_empty() {
        diagnostics.extend(self::diagnostics(&parsed.doc));
    } else {
        diagnostics.extend(parsed.body_errors);
        diagnostics.extend(parsed.doc.warnings.iter().cloned());
    }
    diagnostics.sort_by_key(|d| (d.line, d.col));
    diagnostics.dedup();
    Loaded {
        doc: parsed.doc,
        diagnostics,
    }
}

/// For `run`: reads, strips generated blocks, parses and analyzes; the
/// document with its warnings, or every diagnostic as an invalid-runbook
/// error (exit 2), printed as `check` prints them.
pub fn load_file(path: &std::path::Path) -> crate::Result<Loaded> {
    let text = crate::input::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
    let loaded = load(path, crate::document::splice::strip(&text));
    if loaded.has_errors() {
        return Err(crate::Error::Invalid(loaded.diagnostics));
    }
    Ok(loaded)
}

/// An error diagnostic at a byte range of the file.
pub(crate) fn error(doc: &Document, span: crate::document::Span, message: String) -> Diagnostic {
    Diagnostic::at(&doc.source, span.start, span.end, message)
}
