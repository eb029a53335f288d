//! `runbook check`: validates runbooks without running anything, for CI on
//! every merge request that touches them. It reports every problem at once,
//! each with `file:line:col`, the source line and a caret: parse errors, template
//! syntax errors, references to params, secrets, hosts or steps that do not
//! exist (or to a step that only runs later), gates in a runbook meant for
//! pipelines, and inconsistent parameter declarations.
//!
//! Output comes in three forms from the same [`CheckReport`]: human text,
//! JSON, and JUnit XML for GitLab's test report widget.

use crate::analyze::{AnalyzeOptions, analyze};
use crate::document::{self, Diagnostic, Document, Severity, Source, Span, Step, StepKind};
use crate::report::junit;
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The top-level names templates see.
pub const TEMPLATE_ROOTS: &[&str] = &["params", "env", "secrets", "hosts", "run", "steps"];

/// Names minijinja itself provides (global functions and loop helpers); not
/// runbook variables, never reported as unknown.
const BUILTINS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "loop",
    "self",
    "super",
    "caller",
    "varargs",
    "kwargs",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Warnings fail the check too.
    pub strict: bool,
    /// Also evaluate `requires:` (the caller runs the preconditions evaluator).
    pub preconditions: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub files: Vec<FileReport>,
    /// Whether warnings count as failures (`--strict`).
    pub strict: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub diagnostics: Vec<Diagnostic>,
    /// Number of executable steps found (0 when the file did not parse).
    pub steps: usize,
}

impl FileReport {
    pub fn errors(&self) -> usize {
        count(&self.diagnostics, Severity::Error)
    }
    pub fn warnings(&self) -> usize {
        count(&self.diagnostics, Severity::Warning)
    }
    /// Whether this file fails the check.
    pub fn failed(&self, strict: bool) -> bool {
        self.errors() > 0 || (strict && self.warnings() > 0)
    }
}

fn count(d: &[Diagnostic], s: Severity) -> usize {
    d.iter().filter(|d| d.severity == s).count()
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.files.iter().map(FileReport::errors).sum()
    }
    pub fn warnings(&self) -> usize {
        self.files.iter().map(FileReport::warnings).sum()
    }
    /// 0 when clean; 2 (invalid runbook) on any error, or any warning with
    /// `strict`.
    pub fn exit_code(&self) -> i32 {
        if self.files.iter().any(|f| f.failed(self.strict)) {
            crate::error::exit::INVALID
        } else {
            crate::error::exit::OK
        }
    }
}

/// Checks files and directories (recursively, `*.md` files only, skipping
/// hidden directories and `target/`). A file named explicitly is checked
/// whatever its extension.
pub fn check_paths(paths: &[PathBuf], opts: &CheckOptions) -> CheckReport {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            collect_markdown(p, &mut found);
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    CheckReport {
        files: files.iter().map(|f| check_file(f)).collect(),
        strict: opts.strict,
    }
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            collect_markdown(&path, out);
        } else if name.ends_with(".md") && !name.starts_with('.') {
            out.push(path);
        }
    }
}

/// Reads and checks one file.
pub fn check_file(path: &Path) -> FileReport {
    match std::fs::read_to_string(path) {
        Ok(text) => check_text(path, &document::splice::strip(&text)),
        Err(e) => FileReport {
            path: path.display().to_string(),
            diagnostics: vec![file_diagnostic(
                path,
                format!("cannot read {}: {e}", path.display()),
            )],
            steps: 0,
        },
    }
}

/// Checks a runbook given as text (generated blocks already stripped).
pub fn check_text(path: &Path, text: &str) -> FileReport {
    let display = path.display().to_string();
    match document::parse(path, text.to_string()) {
        Ok(doc) => FileReport {
            path: display,
            steps: doc.steps.len(),
            diagnostics: match analyze(&doc, &AnalyzeOptions::default()) {
                Ok(analysis) => analysis.warnings,
                Err(all) => all,
            },
        },
        Err(crate::Error::Invalid(diagnostics)) => FileReport {
            path: display,
            diagnostics,
            steps: 0,
        },
        Err(e) => FileReport {
            path: display,
            diagnostics: vec![file_diagnostic(path, e.to_string())],
            steps: 0,
        },
    }
}

/// A diagnostic about a file as a whole (it could not be read).
fn file_diagnostic(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        message,
        path: path.display().to_string(),
        line: 1,
        col: 1,
        width: 1,
        source_line: String::new(),
        excerpt_col: 1,
    }
}

/// The minijinja environment used to compile templates: the one the run
/// renders with ([`crate::template::environment`]), with debug info.
pub fn template_env() -> minijinja::Environment<'static> {
    let mut env = crate::template::environment();
    env.set_debug(true);
    env
}

/// Every problem in a parsed runbook: the parser's warnings plus the semantic
/// checks. Sorted by position.
pub fn check_document(doc: &Document) -> Vec<Diagnostic> {
    let mut c = Checker {
        doc,
        env: template_env(),
        out: doc.warnings.clone(),
    };
    c.front_matter();
    for step in &doc.steps {
        c.step(step);
    }
    let mut out = c.out;
    out.sort_by_key(|d| (d.line, d.col));
    out.dedup();
    out
}

/// Where a template sits in the file, to map positions inside it back.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// A step body: template offsets map through the step's code lines.
    Body(&'a Step),
    /// A string that appears verbatim (or nearly) at this byte range of the
    /// file: an attribute or a front matter value.
    Inline(Span),
}

/// What a template may refer to.
#[derive(Clone, Copy)]
struct Scope<'a> {
    /// The step the template belongs to, if any (for `steps.X` ordering).
    step: Option<&'a Step>,
    /// `steps.X` is not available at all (front matter preconditions).
    no_steps: bool,
}

struct Checker<'a> {
    doc: &'a Document,
    env: minijinja::Environment<'static>,
    out: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn src(&self) -> &'a Source {
        &self.doc.source
    }

    fn error(&mut self, start: usize, end: usize, msg: String) {
        self.out.push(Diagnostic::at(self.src(), start, end, msg));
    }

    fn warn(&mut self, start: usize, end: usize, msg: String) {
        self.out
            .push(Diagnostic::at(self.src(), start, end, msg).warning());
    }

    /// Offset of the step's opening fence (the one locator, in analyze).
    fn fence(&self, step: &Step) -> (usize, usize) {
        let span = crate::analyze::position::fence(self.doc, step);
        (span.start, span.end)
    }

    /// Span of an attribute, or the fence when it is not recorded.
    fn attr_span(&self, step: &Step, key: &str) -> Span {
        match step.attrs.span_of(key) {
            Some(s) if s.end <= self.src().text.len() && s.start <= s.end => s,
            _ => {
                let (s, e) = self.fence(step);
                Span::new(s, e)
            }
        }
    }

    fn front_matter(&mut self) {
        let front = &self.doc.front;
        let interactive = front.interactive != Some(false);
        if !interactive
            && let Some(c) = &front.confirm
            && c.gates_all()
        {
            let (s, e) = self.front_key(&["confirm"]);
            self.error(
                s,
                e,
                "`confirm: all` gates every step, but the runbook is `interactive: false`: \
                 a pipeline cannot answer gates"
                    .to_string(),
            );
        }
        for (name, p) in &front.params {
            if p.required && p.default.is_some() {
                let (s, e) = self.front_key(&["params", name, "default"]);
                self.warn(
                    s,
                    e,
                    format!(
                        "param `{name}` is required and has a default: the default is never used"
                    ),
                );
            }
            if let (Some(def), Some(choices)) = (&p.default, &p.choices)
                && !choices
                    .iter()
                    .any(|c| crate::analyze::params::same_value(c, def))
            {
                let (s, e) = self.front_key(&["params", name, "default"]);
                let list = choices
                    .iter()
                    .map(json_display)
                    .collect::<Vec<_>>()
                    .join(", ");
                self.error(
                    s,
                    e,
                    format!(
                        "default `{}` of param `{name}` is not one of its choices: {list}",
                        json_display(def)
                    ),
                );
            }
        }
        for (name, h) in &front.hosts {
            for member in h.group.iter().flatten() {
                if !front.hosts.contains_key(member) {
                    let (s, e) = self.front_value(&["hosts", name, "group"], member);
                    self.error(
                        s,
                        e,
                        format!(
                            "host group `{name}` lists `{member}`, which is not declared under `hosts:`"
                        ),
                    );
                }
            }
        }
        // Preconditions are templates too, rendered before any step runs.
        let req = &front.requires;
        let lists: [(&str, &Vec<String>); 4] = [
            ("http", &req.http),
            ("files", &req.files),
            ("check", &req.check),
            ("hosts", &req.hosts),
        ];
        for (key, items) in lists {
            for item in items {
                if !item.contains("{{") && !item.contains("{%") {
                    continue;
                }
                let (s, e) = self.front_value(&["requires", key], item);
                let span = self.locate_inline(Span::new(s, e), item);
                self.template(
                    item,
                    Origin::Inline(span),
                    Scope {
                        step: None,
                        no_steps: true,
                    },
                );
            }
        }
    }

    /// Finds the position of a value under a key path in the front matter.
    fn front_value(&self, keys: &[&str], value: &str) -> (usize, usize) {
        let span = crate::analyze::position::front_value(self.doc, keys, value);
        (span.start, span.end)
    }

    /// Position of the last key of a path like `params.service.default` in
    /// the front matter, found by successive searches (block or flow YAML).
    fn front_key(&self, keys: &[&str]) -> (usize, usize) {
        let span = crate::analyze::position::front_key(self.doc, keys);
        (span.start, span.end)
    }

    /// Narrows an inline span to where `value` itself stands (after a key
    /// and maybe a quote).
    fn locate_inline(&self, span: Span, value: &str) -> Span {
        let text = &self.src().text;
        if let Some(region) = text.get(span.start..span.end)
            && let Some(i) = region.find(value)
        {
            return Span::new(span.start + i, span.start + i + value.len());
        }
        // Value not verbatim in the file (quoted with escapes): search from
        // the span start to the end of its line.
        let line_end = text[span.start.min(text.len())..]
            .find('\n')
            .map(|i| span.start + i)
            .unwrap_or(text.len());
        if let Some(region) = text.get(span.start..line_end)
            && let Some(i) = region.find(value)
        {
            return Span::new(span.start + i, span.start + i + value.len());
        }
        span
    }

    fn step(&mut self, step: &'a Step) {
        let scope = Scope {
            step: Some(step),
            no_steps: false,
        };
        let a = &step.attrs;

        if !step.closed {
            let (s, e) = self.fence(step);
            let already = self
                .doc
                .warnings
                .iter()
                .any(|w| w.line == step.line && w.message.contains("unclosed"));
            if !already {
                self.warn(
                    s,
                    e,
                    "unclosed code fence: the block runs to the end of the file".to_string(),
                );
            }
        }

        self.template(&step.code, Origin::Body(step), scope);
        self.unquoted_template(step);

        if let Some(when) = &a.when {
            let span = self.attr_span(step, "when");
            let span = self.locate_inline(span, when);
            if when.contains("{{") || when.contains("{%") {
                self.template(when, Origin::Inline(span), scope);
            } else {
                self.expression(when, span, scope);
            }
        }
        if let Some(cwd) = &a.cwd {
            let span = self.attr_span(step, "cwd");
            let span = self.locate_inline(span, cwd);
            self.template(cwd, Origin::Inline(span), scope);
        }
        if !a.env.is_empty() {
            let span = self.attr_span(step, "env");
            for (_, v) in &a.env {
                let vspan = self.locate_inline(span, v);
                self.template(v, Origin::Inline(vspan), scope);
            }
        }
        if a.host.is_some() || a.hosts.is_some() {
            for key in ["cwd", "env"] {
                if a.span_of(key).is_some() {
                    let span = self.attr_span(step, key);
                    self.error(
                        span.start,
                        span.end,
                        format!(
                            "`{key}` is not supported on remote hosts: use `cd` / `export` in the step"
                        ),
                    );
                }
            }
        }
        for key in ["host", "hosts"] {
            let value = if key == "host" { &a.host } else { &a.hosts };
            let Some(h) = value else { continue };
            let span = self.attr_span(step, key);
            let span = self.locate_inline(span, h);
            if h.contains("{{") || h.contains("{%") {
                self.template(h, Origin::Inline(span), scope);
            } else if !self.doc.front.hosts.contains_key(h) && !h.contains('@') && h != "all" {
                self.error(
                    span.start,
                    span.end,
                    format!(
                        "unknown host `{h}`: not declared under `hosts:` in the front matter \
                         and not a `user@host` address"
                    ),
                );
            }
        }

        if a.confirm.is_some() && self.doc.front.interactive == Some(false) {
            let span = self.attr_span(step, "confirm");
            self.error(
                span.start,
                span.end,
                format!(
                    "step `{}` has a confirmation gate, but the runbook is `interactive: false`: \
                     a pipeline cannot answer gates",
                    step.name
                ),
            );
        }

        if let Some(interp) = &a.interpreter
            && let Some(program) = interp.split_whitespace().next()
            && !program.contains("{{")
            && !on_path(program)
        {
            let span = self.attr_span(step, "interpreter");
            let span = self.locate_inline(span, program);
            self.warn(
                span.start,
                span.end,
                format!("interpreter `{program}` is not found on PATH"),
            );
        }
    }

    /// Python, Node, Ruby … steps get template values pasted into their
    /// code with no quoting at all: a parameter there can run code.
    fn unquoted_template(&mut self, step: &Step) {
        let StepKind::Interpreter { command } = &step.kind else {
            return;
        };
        let Some(at) = step.code.find("{{") else {
            return;
        };
        let end = step.code[at..].find("}}").map_or(at + 2, |e| at + e + 2);
        let start = map_code_offset(self.src(), step, at);
        let stop = map_code_offset(self.src(), step, end);
        let program = command.split_whitespace().next().unwrap_or(command);
        self.warn(
            start,
            stop.max(start + 1),
            format!(
                "step `{}` pastes a template value into `{program}` code without any quoting: \
                 a parameter can run code there; pass it with env= (`env=\"NAME={{{{ params.x }}}}\"`) \
                 and read it from the environment",
                step.name
            ),
        );
    }

    /// Compiles a template and checks its references.
    fn template(&mut self, text: &str, origin: Origin<'a>, scope: Scope<'a>) {
        let refs = match self.env.template_from_str(text) {
            Ok(t) => t.undeclared_variables(true),
            Err(e) => {
                let detail = error_detail(&e);
                let (s, e2) = self.error_span(text, origin, &e);
                self.error(s, e2, format!("template syntax error: {detail}"));
                return;
            }
        };
        self.references(text, origin, scope, refs);
    }

    /// Compiles a bare expression (`when=`) and checks its references.
    fn expression(&mut self, text: &str, span: Span, scope: Scope<'a>) {
        let origin = Origin::Inline(span);
        let refs = match self.env.compile_expression(text) {
            Ok(x) => x.undeclared_variables(true),
            Err(e) => {
                let (s, e2) = self.error_span(text, origin, &e);
                self.error(
                    s,
                    e2,
                    format!("expression syntax error: {}", error_detail(&e)),
                );
                return;
            }
        };
        self.references(text, origin, scope, refs);
    }

    fn references(
        &mut self,
        text: &str,
        origin: Origin<'a>,
        scope: Scope<'a>,
        refs: std::collections::HashSet<String>,
    ) {
        let refs: BTreeSet<String> = refs.into_iter().collect();
        // A root used alone and with attributes appears twice; check each
        // distinct (root, name) once.
        let mut done = BTreeSet::new();
        for r in &refs {
            let mut parts = r.split('.');
            let root = parts.next().unwrap_or_default();
            let name = parts.next();
            if !done.insert((root.to_string(), name.map(str::to_string))) {
                continue;
            }
            if !TEMPLATE_ROOTS.contains(&root) {
                if BUILTINS.contains(&root) {
                    continue;
                }
                let (s, e) = self.reference_span(text, origin, root, None);
                self.error(
                    s,
                    e,
                    format!(
                        "unknown variable `{root}`: templates see params, env, secrets, hosts, run and steps"
                    ),
                );
                continue;
            }
            let Some(name) = name else { continue };
            let front = &self.doc.front;
            let msg = match root {
                "params" if !front.params.contains_key(name) => Some(format!(
                    "undefined param `{name}`: not declared under `params:` in the front matter"
                )),
                "secrets" if !front.secrets.contains_key(name) => Some(format!(
                    "undefined secret `{name}`: not declared under `secrets:` in the front matter"
                )),
                "hosts" if !front.hosts.contains_key(name) => Some(format!(
                    "undefined host `{name}`: not declared under `hosts:` in the front matter"
                )),
                "steps" => self.step_reference(name, scope),
                _ => None,
            };
            if let Some(msg) = msg {
                let (s, e) = self.reference_span(text, origin, root, Some(name));
                self.error(s, e, msg);
            }
        }
    }

    fn step_reference(&self, name: &str, scope: Scope<'a>) -> Option<String> {
        if scope.no_steps {
            return Some(format!(
                "preconditions run before any step: `steps.{name}` is not available here"
            ));
        }
        let target = self.doc.steps.iter().find(|s| s.name == name);
        match (target, scope.step) {
            (None, _) => Some(format!(
                "undefined step `{name}`: no step is named `{name}`"
            )),
            (Some(t), Some(cur)) if t.index == cur.index => Some(format!(
                "step `{name}` refers to its own result `steps.{name}`"
            )),
            (Some(t), Some(cur)) if t.index > cur.index => Some(format!(
                "step `{}` refers to `steps.{name}`, which only runs later (line {})",
                cur.name, t.line
            )),
            _ => None,
        }
    }

    /// Where a reference stands: inside a `{{ }}`/`{% %}` region if possible.
    fn reference_span(
        &self,
        text: &str,
        origin: Origin<'a>,
        root: &str,
        name: Option<&str>,
    ) -> (usize, usize) {
        let pat = match name {
            Some(n) => format!(r"\b{}\s*\.\s*{}\b", regex::escape(root), regex::escape(n)),
            None => format!(r"(^|[^.\w]){}\b", regex::escape(root)),
        };
        let found = Regex::new(&pat).ok().and_then(|re| {
            let regions = template_regions(text);
            let in_region = re.find_iter(text).find(|m| {
                regions.is_empty()
                    || regions
                        .iter()
                        .any(|(s, e)| m.start() >= *s && m.end() <= *e)
            });
            in_region.or_else(|| re.find(text)).map(|m| {
                // Skip the boundary character matched before a bare root.
                let lead = m.as_str().len()
                    - m.as_str()
                        .trim_start_matches(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .len();
                (m.start() + lead, m.end())
            })
        });
        match found {
            Some((s, e)) => (self.map(origin, s), self.map(origin, e)),
            None => self.origin_start(origin),
        }
    }

    fn origin_start(&self, origin: Origin<'a>) -> (usize, usize) {
        match origin {
            Origin::Body(step) => self.fence(step),
            Origin::Inline(span) => (span.start, span.end),
        }
    }

    /// The file range of a minijinja error.
    fn error_span(&self, text: &str, origin: Origin<'a>, e: &minijinja::Error) -> (usize, usize) {
        if let Some(r) = e.range()
            && r.start <= text.len()
        {
            let end = r.end.clamp(r.start, text.len());
            return (self.map(origin, r.start), self.map(origin, end));
        }
        if let Some(line) = e.line() {
            // Line only: point at the first non-blank character of that line.
            let start = text
                .split_inclusive('\n')
                .take(line.saturating_sub(1))
                .map(str::len)
                .sum::<usize>();
            let rest = &text[start.min(text.len())..];
            let indent = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            let s = start + indent;
            return (self.map(origin, s), self.map(origin, s + 1));
        }
        self.origin_start(origin)
    }

    /// Maps a byte offset inside a template to a file offset.
    fn map(&self, origin: Origin<'a>, offset: usize) -> usize {
        match origin {
            Origin::Inline(span) => (span.start + offset).min(span.end.max(span.start)),
            Origin::Body(step) => map_code_offset(self.src(), step, offset),
        }
    }
}

/// Maps a byte offset in `step.code` to a byte offset in the file: line
/// `code_line + n`, and the column shifted by the container prefix (`> `,
/// list indentation) the file line carries before the code.
pub fn map_code_offset(src: &Source, step: &Step, offset: usize) -> usize {
    let code = &step.code;
    let offset = offset.min(code.len());
    let before = &code[..floor_char_boundary(code, offset)];
    let line_idx = before.matches('\n').count();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col_in_code = before.len() - line_start;
    let code_line_text = code[line_start..]
        .split('\n')
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    let file_line = step.code_line + line_idx;
    let file_text = src.line_text(file_line);
    let prefix = if file_text.ends_with(code_line_text) {
        file_text.len() - code_line_text.len()
    } else {
        0
    };
    src.offset(file_line, prefix + col_in_code + 1)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte ranges of `{{ ... }}` and `{% ... %}` regions in a template.
fn template_regions(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(rel) = text[i..].find('{') {
        let s = i + rel;
        let close = match text.get(s + 1..s + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            _ => {
                i = s + 1;
                continue;
            }
        };
        match text[s + 2..].find(close) {
            Some(e) => {
                let end = s + 2 + e + 2;
                out.push((s, end));
                i = end;
            }
            None => {
                out.push((s, text.len()));
                break;
            }
        }
    }
    out
}

fn error_detail(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => d.to_string(),
        None => e.kind().to_string(),
    }
}

fn json_display(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a program can be found: a path that exists, or a name on PATH.
fn on_path(program: &str) -> bool {
    crate::exec::path::find_on_path(program).is_some()
}

// ---------------------------------------------------------------- renderers

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Human output: each diagnostic like rustc (message, `--> file:line:col`,
/// the line and a caret), then `N files checked: E errors, W warnings`.
pub fn render_human(report: &CheckReport, color: bool) -> String {
    let mut out = String::new();
    for f in &report.files {
        for d in &f.diagnostics {
            render_diagnostic(&mut out, d, color);
            out.push_str("\n\n");
        }
    }
    let files = report.files.len();
    let (e, w) = (report.errors(), report.warnings());
    let summary = format!(
        "{files} {} checked: {e} {}, {w} {}",
        plural(files, "file", "files"),
        plural(e, "error", "errors"),
        plural(w, "warning", "warnings"),
    );
    if color {
        let c = if e > 0 {
            RED
        } else if w > 0 {
            YELLOW
        } else {
            BOLD
        };
        let _ = writeln!(out, "{c}{summary}{RESET}");
    } else {
        let _ = writeln!(out, "{summary}");
    }
    out
}

fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 { one } else { many }
}

fn render_diagnostic(out: &mut String, d: &Diagnostic, color: bool) {
    if !color {
        if d.source_line.is_empty() && d.line == 1 && d.col == 1 {
            // About the file as a whole: no line to show.
            let _ = write!(
                out,
                "{}: {}\n --> {}",
                severity_word(d.severity),
                d.message,
                d.path
            );
        } else {
            let _ = write!(out, "{d}");
        }
        return;
    }
    let (label, c) = match d.severity {
        Severity::Error => ("error", RED),
        Severity::Warning => ("warning", YELLOW),
    };
    let num = d.line.to_string();
    let pad = " ".repeat(num.len());
    let _ = writeln!(out, "{c}{label}{RESET}{BOLD}: {}{RESET}", d.message);
    if d.source_line.is_empty() && d.line == 1 && d.col == 1 {
        let _ = write!(out, "{pad}{BLUE}-->{RESET} {}", d.path);
        return;
    }
    let _ = writeln!(out, "{pad}{BLUE}-->{RESET} {}:{}:{}", d.path, d.line, d.col);
    let _ = writeln!(out, "{pad} {BLUE}|{RESET}");
    let _ = writeln!(out, "{BLUE}{num} |{RESET} {}", d.source_line);
    let lead: String = d
        .source_line
        .bytes()
        .take(d.excerpt_col.saturating_sub(1))
        .map(|b| if b == b'\t' { '\t' } else { ' ' })
        .collect();
    let _ = write!(
        out,
        "{pad} {BLUE}|{RESET} {lead}{c}{}{RESET}",
        "^".repeat(d.width.max(1))
    );
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Machine-readable output: every file with its diagnostics, and totals.
pub fn render_json(report: &CheckReport) -> String {
    let v = serde_json::json!({
        "files": report.files,
        "errors": report.errors(),
        "warnings": report.warnings(),
        "strict": report.strict,
        "ok": report.exit_code() == 0,
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
}

/// JUnit XML for GitLab's test report: one `testcase` per runbook; a
/// `failure` lists its diagnostics when it fails the check, warnings that do
/// not fail it go to `system-out`.
pub fn render_junit(report: &CheckReport) -> String {
    let tests = report.files.len();
    let failures = report
        .files
        .iter()
        .filter(|f| f.failed(report.strict))
        .count();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"runbook check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"runbook check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">"
    );
    for f in &report.files {
        let path = junit::attr(&f.path);
        let _ = write!(
            x,
            "    <testcase classname=\"runbook check\" name=\"{path}\" file=\"{path}\""
        );
        let text = f
            .diagnostics
            .iter()
            .map(|d| {
                let mut s = String::new();
                render_diagnostic(&mut s, d, false);
                s
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        if f.diagnostics.is_empty() {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        let (e, w) = (f.errors(), f.warnings());
        let message = format!(
            "{e} {}, {w} {}",
            plural(e, "error", "errors"),
            plural(w, "warning", "warnings")
        );
        if f.failed(report.strict) {
            let first = f
                .diagnostics
                .iter()
                .find(|d| d.severity == Severity::Error)
                .or(f.diagnostics.first())
                .map(|d| format!(": {}", d.short()))
                .unwrap_or_default();
            let _ = writeln!(
                x,
                "      <failure type=\"runbook check\" message=\"{}\">{}</failure>",
                junit::attr(&format!("{message}{first}")),
                junit::text(&text)
            );
        } else {
            let _ = writeln!(x, "      <system-out>{}</system-out>", junit::text(&text));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    //! The checks on hand-built documents (the front matter is deserialized
    //! from the text, steps are found by a minimal fence scan), so this logic
    //! is tested independently of the Markdown parser.
    use super::*;
    use crate::document::{Attrs, Confirm, FrontMatter, StepKind};

    /// Builds a document from text: YAML front matter between `---` lines,
    /// steps from ```` ``` ```` fences, attributes from `attrs(i)`.
    fn doc(text: &str, attrs: impl Fn(usize) -> Attrs) -> Document {
        let source = Source::new("rb.md", text.to_string());
        let mut front = FrontMatter::default();
        let mut front_span = None;
        if let Some(rest) = text.strip_prefix("---\n") {
            let end = rest.find("\n---\n").expect("front matter end");
            front = serde_saphyr::from_str(&rest[..end]).expect("front matter");
            front_span = Some(Span::new(0, 4 + end + 5));
        }
        let lines: Vec<&str> = text.split('\n').collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let l = lines[i].trim_start_matches("> ");
            let prefix = lines[i].len() - l.len();
            if let Some(info) = l.strip_prefix("```")
                && !info.is_empty()
            {
                let lang = info
                    .split([' ', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let mut j = i + 1;
                let mut code = String::new();
                while j < lines.len() && lines[j].get(prefix..) != Some("```") {
                    code.push_str(lines[j].get(prefix..).unwrap_or_default());
                    code.push('\n');
                    j += 1;
                }
                let closed = j < lines.len();
                let index = steps.len();
                let mut a = attrs(index);
                let line_start = source.offset(i + 1, 1);
                for key in [
                    "name",
                    "confirm",
                    "when",
                    "host",
                    "hosts",
                    "cwd",
                    "env",
                    "interpreter",
                ] {
                    if let Some(k) = lines[i].find(&format!("{key}=")) {
                        let rest = &lines[i][k..];
                        let end = if rest[key.len() + 1..].starts_with('"') {
                            key.len() + 2 + rest[key.len() + 2..].find('"').unwrap_or(0) + 1
                        } else {
                            rest.find([' ', '}']).unwrap_or(rest.len())
                        };
                        a.spans.push((
                            key.to_string(),
                            Span::new(line_start + k, line_start + k + end),
                        ));
                    } else if key == "confirm" && lines[i].contains(" confirm") {
                        let k = lines[i].find(" confirm").unwrap_or(0) + 1;
                        a.spans.push((
                            key.to_string(),
                            Span::new(line_start + k, line_start + k + 7),
                        ));
                    }
                }
                let name = a.name.clone().unwrap_or(format!("step-{}", index + 1));
                steps.push(Step {
                    index,
                    named: a.name.is_some(),
                    name,
                    kind: if lang == "http" {
                        StepKind::Http
                    } else {
                        StepKind::Shell {
                            program: lang.clone(),
                        }
                    },
                    lang,
                    attrs: a,
                    code,
                    line: i + 1,
                    col: prefix + 1,
                    code_line: i + 2,
                    block: Span::default(),
                    insert_at: 0,
                    needs_eol: false,
                    prefix: " ".repeat(prefix),
                    eol: "\n",
                    closed,
                });
                i = j + 1;
            } else {
                i += 1;
            }
        }
        Document {
            source,
            front,
            front_span,
            header_at: 0,
            steps,
            warnings: vec![],
        }
    }

    fn named(n: &str) -> Attrs {
        Attrs {
            name: Some(n.to_string()),
            ..Attrs::default()
        }
    }

    fn render(d: &[Diagnostic]) -> String {
        d.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn clean_runbook_has_no_diagnostics() {
        let d = doc(
            "---\nparams:\n  svc: { default: api, choices: [api, worker] }\nsecrets:\n  TOKEN: { env: TOKEN }\nhosts:\n  db1: { ssh: root@10.0.0.5 }\n---\n\n```bash {name=a}\necho {{ params.svc }} {{ secrets.TOKEN }} {{ env.HOME }} {{ run.id }}\n```\n\n```bash {name=b host=db1}\n{% for l in steps.a.stdout.split() %}{{ l }}{{ loop.index }}{% endfor %}\n```\n",
            |i| {
                let mut a = named(["a", "b"][i]);
                if i == 1 {
                    a.host = Some("db1".into());
                }
                a
            },
        );
        assert_eq!(render(&check_document(&d)), "");
    }

    #[test]
    fn undefined_references_point_at_the_reference() {
        let d = doc(
            "---\nparams:\n  svc: {}\n---\n```bash {name=a}\necho ok\necho {{ params.nope }} {{ secrets.KEY }}\n  curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}\n```\n",
            |_| named("a"),
        );
        assert_eq!(
            render(&check_document(&d)),
            "\
error: undefined param `nope`: not declared under `params:` in the front matter
 --> rb.md:7:9
  |
7 | echo {{ params.nope }} {{ secrets.KEY }}
  |         ^^^^^^^^^^^
error: undefined secret `KEY`: not declared under `secrets:` in the front matter
 --> rb.md:7:27
  |
7 | echo {{ params.nope }} {{ secrets.KEY }}
  |                           ^^^^^^^^^^^
error: undefined host `web`: not declared under `hosts:` in the front matter
 --> rb.md:8:11
  |
8 |   curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}
  |           ^^^^^^^^^
error: undefined step `zzz`: no step is named `zzz`
 --> rb.md:8:27
  |
8 |   curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}
  |                           ^^^^^^^^^
error: unknown variable `bogus`: templates see params, env, secrets, hosts, run and steps
 --> rb.md:8:50
  |
8 |   curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}
  |                                                  ^^^^^"
        );
    }

    #[test]
    fn later_step_and_self_references() {
        let d = doc(
            "```bash {name=first}\necho {{ steps.second.stdout }}\n```\n\n```bash {name=second}\necho {{ steps.second.exit_code }} {{ steps.first.stdout }}\n```\n",
            |i| named(["first", "second"][i]),
        );
        let out = check_document(&d);
        assert_eq!(
            out.iter().map(Diagnostic::short).collect::<Vec<_>>(),
            vec![
                "rb.md:2:9: error: step `first` refers to `steps.second`, which only runs later (line 5)",
                "rb.md:6:9: error: step `second` refers to its own result `steps.second`",
            ]
        );
    }

    #[test]
    fn template_syntax_error_maps_to_file_line_in_a_blockquote() {
        let d = doc(
            "# T\n\n> ```bash {name=a}\n> echo one\n> echo {{ params.x }\n> ```\n",
            |_| named("a"),
        );
        let out = check_document(&d);
        // Line 2 of the code is line 5 of the file; the column counts the
        // `> ` prefix of the blockquote.
        assert_eq!(
            render(&out),
            "\
error: template syntax error: unexpected `}`, expected end of variable block
 --> rb.md:5:20
  |
5 | > echo {{ params.x }
  |                    ^"
        );
    }

    #[test]
    fn when_cwd_env_and_host_attributes_are_checked() {
        let text = "---\nhosts:\n  db1: { ssh: root@h }\n---\n```bash {name=a when=\"steps.b.exit_code == 0\" cwd=\"{{ params.dir }}\" env=\"X={{ secrets.S }}\" host=db9}\necho\n```\n\n```bash {name=b host=root@10.0.0.1 hosts=db1}\necho\n```\n\n```bash {name=c when=\"params.x ==\"}\necho\n```\n";
        let d = doc(text, |i| {
            let mut a = named(["a", "b", "c"][i]);
            match i {
                0 => {
                    a.when = Some("steps.b.exit_code == 0".into());
                    a.cwd = Some("{{ params.dir }}".into());
                    a.env = vec![("X".into(), "{{ secrets.S }}".into())];
                    a.host = Some("db9".into());
                }
                1 => {
                    a.host = Some("root@10.0.0.1".into());
                    a.hosts = Some("db1".into());
                }
                _ => a.when = Some("params.x ==".into()),
            }
            a
        });
        let out = check_document(&d);
        let short: Vec<_> = out.iter().map(Diagnostic::short).collect();
        assert_eq!(
            short,
            vec![
                "rb.md:5:23: error: step `a` refers to `steps.b`, which only runs later (line 9)",
                "rb.md:5:47: error: `cwd` is not supported on remote hosts: use `cd` / `export` in the step",
                "rb.md:5:55: error: undefined param `dir`: not declared under `params:` in the front matter",
                "rb.md:5:70: error: `env` is not supported on remote hosts: use `cd` / `export` in the step",
                "rb.md:5:80: error: undefined secret `S`: not declared under `secrets:` in the front matter",
                "rb.md:5:99: error: unknown host `db9`: not declared under `hosts:` in the front matter and not a `user@host` address",
                "rb.md:13:32: error: expression syntax error: unexpected end of input, expected expression",
            ]
        );
    }

    #[test]
    fn gates_in_a_non_interactive_runbook_are_errors() {
        let text = "---\ninteractive: false\nconfirm: all\n---\n```bash {name=a confirm}\nrm -rf /tmp/x\n```\n";
        let d = doc(text, |_| Attrs {
            confirm: Some(Confirm::Default),
            ..named("a")
        });
        assert_eq!(
            check_document(&d)
                .iter()
                .map(Diagnostic::short)
                .collect::<Vec<_>>(),
            vec![
                "rb.md:3:1: error: `confirm: all` gates every step, but the runbook is `interactive: false`: a pipeline cannot answer gates",
                "rb.md:5:17: error: step `a` has a confirmation gate, but the runbook is `interactive: false`: a pipeline cannot answer gates",
            ]
        );
    }

    #[test]
    fn param_declarations() {
        let text = "---\nparams:\n  a: { required: true, default: 1 }\n  b:\n    choices: [x, w]\n    default: z\n  c: { choices: [1, 2], default: 2 }\n---\n";
        let d = doc(text, |_| Attrs::default());
        let out = check_document(&d);
        assert_eq!(
            render(&out),
            "\
warning: param `a` is required and has a default: the default is never used
 --> rb.md:3:24
  |
3 |   a: { required: true, default: 1 }
  |                        ^^^^^^^
error: default `z` of param `b` is not one of its choices: x, w
 --> rb.md:6:5
  |
6 |     default: z
  |     ^^^^^^^"
        );
    }

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
        let out = check_document(&d);
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

    #[test]
    fn preconditions_cannot_see_steps() {
        let text = "---\nrequires:\n  http: [\"{{ params.url }}/-/ready\", \"{{ steps.a.stdout }}\"]\n---\n";
        let d = doc(text, |_| Attrs::default());
        assert_eq!(
            check_document(&d)
                .iter()
                .map(Diagnostic::short)
                .collect::<Vec<_>>(),
            vec![
                "rb.md:3:14: error: undefined param `url`: not declared under `params:` in the front matter",
                "rb.md:3:42: error: preconditions run before any step: `steps.a` is not available here",
            ]
        );
    }

    fn report(strict: bool) -> CheckReport {
        let d = doc(
            "---\nparams:\n  a: { required: true, default: 1 }\n---\n```bash {name=x}\necho {{ params.b }} <&>\n```\n",
            |_| named("x"),
        );
        CheckReport {
            files: vec![
                FileReport {
                    path: "runbooks/bad.md".into(),
                    diagnostics: check_document(&d),
                    steps: 1,
                },
                FileReport {
                    path: "runbooks/good.md".into(),
                    diagnostics: vec![],
                    steps: 3,
                },
            ],
            strict,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(report(false).exit_code(), 2);
        let mut only_warn = report(false);
        only_warn.files[0]
            .diagnostics
            .retain(|d| d.severity == Severity::Warning);
        assert_eq!(only_warn.exit_code(), 0);
        only_warn.strict = true;
        assert_eq!(only_warn.exit_code(), 2);
        assert_eq!(CheckReport::default().exit_code(), 0);
    }

    #[test]
    fn human_output() {
        let out = render_human(&report(false), false);
        assert!(
            out.ends_with("2 files checked: 1 error, 1 warning\n"),
            "{out}"
        );
        assert!(out.contains(" --> rb.md:6:9\n"), "{out}");
        let colored = render_human(&report(false), true);
        assert!(colored.contains("\x1b[1;31merror\x1b[0m"), "{colored}");
        assert!(colored.contains("\x1b[1;33mwarning\x1b[0m"), "{colored}");
    }

    #[test]
    fn junit_output() {
        let x = render_junit(&report(false));
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"runbook check\" tests=\"2\" failures=\"1\" errors=\"0\">\n"), "{x}");
        assert!(x.contains("<testcase classname=\"runbook check\" name=\"runbooks/bad.md\" file=\"runbooks/bad.md\">\n      <failure type=\"runbook check\" message=\"1 error, 1 warning: rb.md:6:9: error: undefined param `b`: not declared under `params:` in the front matter\">"), "{x}");
        assert!(x.contains("echo {{ params.b }} &lt;&amp;&gt;"), "{x}");
        assert!(x.contains("<testcase classname=\"runbook check\" name=\"runbooks/good.md\" file=\"runbooks/good.md\"/>\n"), "{x}");
        let mut warn_only = report(false);
        warn_only.files[0]
            .diagnostics
            .retain(|d| d.severity == Severity::Warning);
        let x = render_junit(&warn_only);
        assert!(x.contains("failures=\"0\""), "{x}");
        assert!(x.contains("<system-out>warning: param `a`"), "{x}");
        warn_only.strict = true;
        assert!(render_junit(&warn_only).contains("<failure type=\"runbook check\" message=\"0 errors, 1 warning: rb.md:3:24: warning: param `a`"));
    }

    #[test]
    fn json_output() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&report(false))).expect("json");
        assert_eq!(v["errors"], 1);
        assert_eq!(v["warnings"], 1);
        assert_eq!(v["ok"], false);
        assert_eq!(v["files"][0]["path"], "runbooks/bad.md");
        assert_eq!(v["files"][0]["diagnostics"][1]["severity"], "error");
        assert_eq!(v["files"][0]["diagnostics"][1]["line"], 6);
        assert_eq!(v["files"][1]["steps"], 3);
    }

    #[test]
    fn shell_length_expansion_is_not_a_template_comment() {
        let d = doc("```bash {name=a}\nn=${#arr[@]}\necho $n\n```\n", |_| {
            named("a")
        });
        assert_eq!(render(&check_document(&d)), "");
    }
}
