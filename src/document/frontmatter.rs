//! The YAML front matter: metadata, params, secrets, preconditions, hosts
//! and defaults. Parsed with serde-saphyr (serde_yaml is deprecated and
//! archived); unknown keys are errors with their position in the `.md`
//! file, not in the extracted YAML.

use super::diagnostic::Diagnostic;
use super::source::{Source, Span};
use crate::inventory_spec::HostSpec;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_saphyr::MessageFormatter;

/// Where the front matter sits in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontBlock {
    /// Both delimiter lines included, and the closing line's ending.
    pub span: Span,
    /// The YAML between the delimiter lines.
    pub yaml: Span,
    /// 1-based line of the opening `---`.
    pub line: usize,
}

/// Line starts/ends (end excludes the line ending) and the end including it.
fn next_line(text: &str, start: usize) -> (usize, usize) {
    let rest = &text[start..];
    match rest.find('\n') {
        Some(i) => {
            let content_end = if i > 0 && rest.as_bytes()[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            (start + content_end, start + i + 1)
        }
        None => (text.len(), text.len()),
    }
}

/// Finds the front matter: the document starts with a `---` line (after an
/// optional byte order mark) and it ends at the next `---` or `...` line.
/// An opening line with no closing one is an error.
pub fn locate(src: &Source) -> Result<Option<FrontBlock>, Diagnostic> {
    let text = src.text.as_str();
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let (first_end, mut pos) = next_line(text, start);
    if text[start..first_end].trim_end_matches([' ', '\t']) != "---" {
        return Ok(None);
    }
    let yaml_start = pos;
    while pos < text.len() {
        let (end, next) = next_line(text, pos);
        let line = text[pos..end].trim_end_matches([' ', '\t']);
        if line == "---" || line == "..." {
            return Ok(Some(FrontBlock {
                span: Span::new(0, next),
                yaml: Span::new(yaml_start, pos),
                line: 1,
            }));
        }
        pos = next;
    }
    Err(Diagnostic::at(
        src,
        start,
        start + 3,
        "unclosed front matter: expected a closing `---` line",
    ))
}

/// Parses the YAML of the front matter. Errors point at the exact line and
/// column in the Markdown file.
pub fn parse_front(src: &Source, block: &FrontBlock) -> Result<FrontMatter, Diagnostic> {
    let yaml = &src.text[block.yaml.start..block.yaml.end];
    if yaml
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(FrontMatter::default());
    }
    serde_saphyr::from_str::<FrontMatter>(yaml).map_err(|e| {
        let e = e.without_snippet();
        let message = serde_saphyr::UserMessageFormatter.format_message(e);
        let message = format!("front matter: {}", message.trim());
        let (yaml_line, _) = src.line_col(block.yaml.start);
        match e.location() {
            Some(loc) if loc.line() > 0 => {
                let line = yaml_line + (loc.line() as usize) - 1;
                // saphyr counts columns in characters; diagnostics use bytes.
                let text = src.line_text(line);
                let chars = (loc.column() as usize).saturating_sub(1);
                let col = text
                    .char_indices()
                    .nth(chars)
                    .map(|(i, _)| i)
                    .unwrap_or(text.len())
                    + 1;
                let start = src.offset(line, col);
                let width = text[col - 1..]
                    .find([' ', ':', '\t', ',', ']', '}'])
                    .unwrap_or(text.len() - (col - 1))
                    .max(1);
                Diagnostic::at(src, start, start + width, message)
            }
            _ => Diagnostic::at(src, block.span.start, block.span.start + 3, message),
        }
    })
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub params: IndexMap<String, ParamSpec>,
    #[serde(default)]
    pub secrets: IndexMap<String, SecretSpec>,
    #[serde(default)]
    pub requires: Requires,
    #[serde(default)]
    pub hosts: IndexMap<String, HostSpec>,
    /// Default shell for `shell`/`sh`-less blocks, e.g. `bash`.
    pub shell: Option<String>,
    /// Prelude for bash steps; default `set -eo pipefail`.
    pub shell_options: Option<String>,
    /// Default step timeout, e.g. `5m`.
    pub timeout: Option<String>,
    /// `confirm: all` gates every step; `true` is the same.
    pub confirm: Option<ConfirmDefault>,
    /// `interactive: false` marks a runbook meant for pipelines: gates are
    /// then an error in `runbook check`.
    pub interactive: Option<bool>,
    /// Lines of output kept in the annotated copy (head + tail).
    pub max_output_lines: Option<usize>,
}

/// `confirm:` in the front matter: a closed set (`all`, `true`, `false`).
/// Any other word is an error: a typo in a safety setting must never turn
/// every gate off silently.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged, try_from = "ConfirmRaw")]
pub enum ConfirmDefault {
    Bool(bool),
    /// Only `all`.
    Word(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ConfirmRaw {
    Bool(bool),
    Word(String),
}

impl TryFrom<ConfirmRaw> for ConfirmDefault {
    type Error = String;
    fn try_from(raw: ConfirmRaw) -> Result<Self, String> {
        match raw {
            ConfirmRaw::Bool(b) => Ok(ConfirmDefault::Bool(b)),
            ConfirmRaw::Word(w) if w == "all" => Ok(ConfirmDefault::Word(w)),
            ConfirmRaw::Word(w) => {
                let lower = w.to_ascii_lowercase();
                let hint = ["all", "true", "false"]
                    .into_iter()
                    .find(|k| lower == *k || crate::document::attrs::distance(&lower, k) <= 2);
                let hint = hint
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                Err(format!(
                    "invalid value `{w}` for `confirm`: expected `all`, `true` or `false`{hint}"
                ))
            }
        }
    }
}

impl ConfirmDefault {
    pub fn gates_all(&self) -> bool {
        match self {
            ConfirmDefault::Bool(b) => *b,
            ConfirmDefault::Word(w) => w == "all",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub required: bool,
    pub choices: Option<Vec<serde_json::Value>>,
    pub description: Option<String>,
}

/// Where a secret comes from. Exactly one source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub env: Option<String>,
    pub file: Option<String>,
    pub command: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub http: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub check: Vec<String>,
}

impl Requires {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
            && self.env.is_empty()
            && self.files.is_empty()
            && self.http.is_empty()
            && self.hosts.is_empty()
            && self.check.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front_err(text: &str) -> String {
        let src = Source::new("rb.md", text.to_string());
        let block = match locate(&src) {
            Ok(Some(b)) => b,
            Ok(None) => panic!("no front matter"),
            Err(d) => return d.to_string(),
        };
        match parse_front(&src, &block) {
            Ok(_) => panic!("parsed"),
            Err(d) => d.to_string(),
        }
    }

    #[test]
    fn unknown_key_points_into_the_markdown_file() {
        assert_eq!(
            front_err("---\ntitle: x\ntitel: y\n---\n# T\n"),
            "error: front matter: unknown field `titel`, expected one of title, owner, description, tags, params, secrets, requires, hosts, shell, shell_options, timeout, confirm, interactive, max_output_lines\n --> rb.md:3:1\n  |\n3 | titel: y\n  | ^^^^^"
        );
    }

    #[test]
    fn nested_unknown_key_and_multibyte_columns() {
        assert_eq!(
            front_err("---\ntitle: \"é\"\nparams:\n  ä: {defualt: 1}\n---\n"),
            "error: front matter: unknown field `defualt`, expected one of default, required, choices, description\n --> rb.md:4:8\n  |\n4 |   ä: {defualt: 1}\n  |        ^^^^^^^"
        );
    }

    #[test]
    fn bad_yaml() {
        assert_eq!(
            front_err("---\r\ntitle: x\r\n  bad: : y\r\n---\r\n"),
            "error: front matter: mapping values are not allowed in this context\n --> rb.md:3:6\n  |\n3 |   bad: : y\n  |      ^"
        );
        assert_eq!(
            front_err("---\nmax_output_lines: lots\n...\n"),
            "error: front matter: invalid u64\n --> rb.md:2:19\n  |\n2 | max_output_lines: lots\n  |                   ^^^^"
        );
    }

    #[test]
    fn unclosed() {
        assert_eq!(
            front_err("---\ntitle: x\n"),
            "error: unclosed front matter: expected a closing `---` line\n --> rb.md:1:1\n  |\n1 | ---\n  | ^^^"
        );
    }

    #[test]
    fn empty_and_comments_only() {
        for text in ["---\n---\n", "---\n# nothing yet\n\n---"] {
            let src = Source::new("rb.md", text.to_string());
            let block = locate(&src).ok().flatten().expect("front matter");
            assert!(parse_front(&src, &block).is_ok());
            assert_eq!(block.span.end, text.len());
        }
        let src = Source::new("rb.md", "# no\n---\n".to_string());
        assert!(matches!(locate(&src), Ok(None)));
    }
}
