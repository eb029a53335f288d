//! `runbook import`: a Jupyter notebook (nbformat 4) as a runbook. Markdown
//! cells are copied verbatim (their example code blocks marked `skip`: in
//! Jupyter nothing ran them, nor does the runbook); code cells become fenced steps in the
//! kernel's language (`%%bash`/`%%sh` cells bash steps, `!cmd` lines of a
//! Python cell bash steps of their own); a papermill `parameters` cell
//! becomes front matter `params` with defaults (simple `name = value`
//! assignments of str, int, float, bool and None; anything else is kept as
//! code, with a warning); outputs are dropped; `hide-input` cells get
//! `hide_code`. Step names come from the heading just above a cell, else
//! the cell's id. Steps do not share a kernel: what a notebook kept in
//! Python variables between cells has to be passed on explicitly.

use indexmap::IndexMap;
use serde_json::Value;

/// A converted notebook: the runbook text and what did not convert cleanly.
#[derive(Debug)]
pub struct Imported {
    pub runbook: String,
    pub warnings: Vec<String>,
}

/// Converts a notebook's text; `origin` names it in errors and warnings.
pub fn import(origin: &str, text: &str) -> Result<Imported, String> {
    let nb: Value = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let why = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
        format!(
            "{origin}:{}:{}: not a notebook (invalid JSON): {why}",
            e.line(),
            e.column()
        )
    })?;
    match nb.get("nbformat").and_then(Value::as_u64) {
        Some(4) => {}
        Some(n) => {
            return Err(format!(
                "{origin}: nbformat {n} is not supported: runbook imports nbformat 4 notebooks \
                 (convert with `jupyter nbconvert --to notebook --nbformat 4`)"
            ));
        }
        None => {
            return Err(format!(
                "{origin}: not a Jupyter notebook: no `nbformat` number at the top level"
            ));
        }
    }
    let Some(cells) = nb.get("cells").and_then(Value::as_array) else {
        return Err(format!("{origin}: not a Jupyter notebook: no `cells` list"));
    };
    let mut out = Builder {
        origin: origin.to_string(),
        lang: language(&nb),
        ..Builder::default()
    };
    for (i, cell) in cells.iter().enumerate() {
        out.cell(i + 1, cell);
    }
    let title = nb.pointer("/metadata/title").and_then(Value::as_str);
    Ok(Imported {
        runbook: out.finish(title),
        warnings: out.warnings,
    })
}

/// The kernel's language: `language_info.name`, else `kernelspec.language`,
/// else Python.
fn language(nb: &Value) -> String {
    [
        "/metadata/language_info/name",
        "/metadata/kernelspec/language",
    ]
    .iter()
    .find_map(|p| nb.pointer(p).and_then(Value::as_str))
    .unwrap_or("python")
    .to_ascii_lowercase()
}

/// A cell's `source`: a string or a list of lines.
fn source(cell: &Value) -> String {
    match cell.get("source") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn tags(cell: &Value) -> Vec<&str> {
    cell.pointer("/metadata/tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[derive(Default)]
struct Builder {
    origin: String,
    lang: String,
    body: String,
    params: IndexMap<String, Value>,
    warnings: Vec<String>,
    names: Vec<String>,
    /// The last heading seen, until a step takes it as its name.
    heading: Option<String>,
    params_seen: bool,
}

impl Builder {
    fn cell(&mut self, n: usize, cell: &Value) {
        let text = source(cell);
        match cell.get("cell_type").and_then(Value::as_str) {
            Some("markdown") => {
                if let Some(h) = text
                    .lines()
                    .rev()
                    .find_map(|l| l.trim_start().strip_prefix('#'))
                {
                    self.heading = Some(h.trim_start_matches('#').trim().to_string());
                }
                let (text, skipped) = examples_stay_prose(&text);
                for (line, lang) in skipped {
                    self.warnings.push(format!(
                        "{}: cell {n}: the `{lang}` block on line {line} of this Markdown cell is an example (Jupyter never ran it): imported with `skip`, so it never runs",
                        self.origin
                    ));
                }
                self.push(&text);
            }
            Some("code") => self.code_cell(n, cell, &text),
            other => self.warnings.push(format!(
                "{}: cell {n} ({}) dropped: only markdown and code cells are imported",
                self.origin,
                other.unwrap_or("no cell_type")
            )),
        }
    }

    fn code_cell(&mut self, n: usize, cell: &Value, text: &str) {
        let tags = tags(cell);
        let hide = tags.contains(&"hide-input")
            || cell.pointer("/metadata/jupyter/source_hidden") == Some(&Value::Bool(true));
        let id = cell.get("id").and_then(Value::as_str).map(str::to_string);
        let mut text = text.to_string();
        if tags.contains(&"parameters") && !self.params_seen {
            self.params_seen = true;
            text = self.parameters(n, &text);
            if text.trim().is_empty() {
                return;
            }
        }
        if text.trim().is_empty() {
            return;
        }
        let first = text.lines().next().unwrap_or_default().trim();
        if let Some(magic) = first.strip_prefix("%%") {
            let lang = match magic.split_whitespace().next() {
                Some("bash") => "bash",
                Some("sh") => "sh",
                _ => {
                    self.warnings.push(format!(
                        "{}: cell {n}: cell magic `%%{magic}` is not run by runbook; kept as {} code",
                        self.origin, self.lang
                    ));
                    let lang = self.lang.clone();
                    return self.step(&lang, &text, id, hide);
                }
            };
            let body = text.split_once('\n').map_or("", |(_, b)| b);
            return self.step(lang, body, id, hide);
        }
        if self.lang.starts_with("python") && text.lines().any(|l| l.trim_start().starts_with('!'))
        {
            return self.split_shell_escapes(&text, id, hide);
        }
        let lang = self.lang.clone();
        self.step(&lang, &text, id, hide);
    }

    /// A Python cell with `!cmd` lines: each run of `!` lines a bash step,
    /// the Python between them Python steps, in order.
    fn split_shell_escapes(&mut self, text: &str, id: Option<String>, hide: bool) {
        let mut runs: Vec<(bool, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let shell = line.trim_start().strip_prefix('!');
            let is_shell = shell.is_some();
            let line = shell.unwrap_or(line);
            match runs.last_mut() {
                Some((s, buf)) if *s == is_shell => buf.push_str(line),
                _ => runs.push((is_shell, line.to_string())),
            }
        }
        let lang = self.lang.clone();
        for (shell, code) in runs {
            if code.trim().is_empty() {
                continue;
            }
            let lang = if shell { "bash" } else { lang.as_str() };
            self.step(lang, &code, id.clone(), hide);
        }
    }

    /// Takes `name = value` lines of a papermill `parameters` cell as
    /// params; returns the lines that are not such assignments.
    fn parameters(&mut self, n: usize, text: &str) -> String {
        let mut rest = String::new();
        for (i, line) in text.lines().enumerate() {
            let code = line.split(" #").next().unwrap_or(line).trim();
            if code.is_empty() || code.starts_with('#') {
                continue;
            }
            match assignment(code) {
                Some((name, value)) => {
                    self.params.insert(name, value);
                }
                None => {
                    self.warnings.push(format!(
                        "{}: cell {n} (parameters), line {}: `{}` is not a simple `name = value` \
                         (str, int, float, bool or None): kept as code, not a param",
                        self.origin,
                        i + 1,
                        line.trim()
                    ));
                    rest.push_str(line);
                    rest.push('\n');
                }
            }
        }
        rest
    }

    fn step(&mut self, lang: &str, code: &str, id: Option<String>, hide: bool) {
        let base = self
            .heading
            .take()
            .map(|h| slug(&h))
            .filter(|s| !s.is_empty())
            .or(id.map(|i| slug(&i)).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| format!("cell-{}", self.names.len() + 1));
        let mut name = base.clone();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        self.names.push(name.clone());
        let fence = "`".repeat(3.max(longest_backticks(code) + 1));
        let hide = if hide { " hide_code" } else { "" };
        let mut code = code.to_string();
        if !code.ends_with('\n') {
            code.push('\n');
        }
        self.push(&format!(
            "{fence}{lang} {{name={name}{hide}}}\n{code}{fence}"
        ));
    }

    fn push(&mut self, block: &str) {
        if !self.body.is_empty() {
            self.body.push_str("\n\n");
        }
        self.body.push_str(block.trim_end_matches('\n'));
    }

    fn finish(&self, title: Option<&str>) -> String {
        let mut front = String::new();
        if let Some(t) = title {
            front.push_str(&format!("title: {}\n", Value::String(t.to_string())));
        }
        if !self.params.is_empty() {
            front.push_str("params:\n");
            for (k, v) in &self.params {
                if v.is_null() {
                    front.push_str(&format!("  {k}: {{}}\n"));
                } else {
                    front.push_str(&format!("  {k}: {{default: {v}}}\n"));
                }
            }
        }
        let mut out = String::new();
        // A first cell opening with a `---` rule would read as front
        // matter: an empty front matter keeps it a rule.
        let rule_first = self
            .body
            .lines()
            .next()
            .is_some_and(|l| l.trim_end() == "---");
        if !front.is_empty() || rule_first {
            out.push_str(&format!("---\n{front}---\n\n"));
        }
        out.push_str(&self.body);
        out.push('\n');
        out
    }
}

/// `name = value` with a Python literal str, int, float, bool or None.
fn assignment(line: &str) -> Option<(String, Value)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    let value = value.trim();
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident || value.starts_with('=') {
        return None;
    }
    let v = match value {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::Null,
        _ => python_string(value).or_else(|| number(value))?,
    };
    Some((name.to_string(), v))
}

fn python_string(v: &str) -> Option<Value> {
    let q = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = v.strip_prefix(q)?.strip_suffix(q)?;
    if inner.contains(q) || inner.contains('\\') {
        return None;
    }
    Some(Value::String(inner.to_string()))
}

fn number(v: &str) -> Option<Value> {
    if let Ok(i) = v.replace('_', "").parse::<i64>() {
        return Some(Value::from(i));
    }
    let f: f64 = v.replace('_', "").parse().ok()?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// A step name from a heading or cell id: lower-case words joined by `-`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(60).collect()
}

/// A fenced block in a Markdown cell was only shown by Jupyter; in a
/// runbook the same block would be a step. Every block the runbook would
/// run gets `skip` (still shown, never run); the line (in the cell) and
/// language of each.
fn examples_stay_prose(text: &str) -> (String, Vec<(usize, String)>) {
    // A blank line first: a cell starting with `---` is a rule, not front
    // matter.
    let Ok(doc) = crate::document::parse("cell.md", format!("\n{text}")) else {
        return (text.to_string(), Vec::new());
    };
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let mut skipped = Vec::new();
    for step in &doc.steps {
        let Some(line) = step.line.checked_sub(2).and_then(|i| lines.get_mut(i)) else {
            continue;
        };
        *line = with_skip(line, step.col.saturating_sub(1));
        skipped.push((step.line - 1, step.lang.clone()));
    }
    (lines.concat(), skipped)
}

/// The fence opener `line` (its fence at byte `col`) with `skip` added to
/// its attributes.
fn with_skip(line: &str, col: usize) -> String {
    let body = line.trim_end_matches(['\n', '\r']);
    let eol = &line[body.len()..];
    let Some(rest) = body.get(col..) else {
        return line.to_string();
    };
    let fence = rest.len() - rest.trim_start_matches(['`', '~']).len();
    let info = rest[fence..].trim_end();
    let head = &body[..col + fence];
    let info = match (info.find('{'), info.ends_with('}')) {
        (Some(open), true) => {
            let inner = info[open + 1..info.len() - 1].trim();
            let attrs = match inner {
                "" => "skip".to_string(),
                i if i.starts_with('"') => format!("\"skip\":\"true\",{i}"),
                i => format!("{i} skip"),
            };
            format!("{}{{{attrs}}}", &info[..open])
        }
        _ => format!("{info} {{skip}}"),
    };
    format!("{head}{info}{eol}")
}

fn longest_backticks(s: &str) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        cur = if c == '`' { cur + 1 } else { 0 };
        best = best.max(cur);
    }
    best
}
