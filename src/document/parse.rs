//! comrak → steps with exact byte spans.
//!
//! comrak finds the fenced code blocks (in lists and blockquotes too, with
//! CommonMark's rules for where a block ends); everything positional is then
//! recomputed from the source bytes themselves, because the splice has to
//! land on exact byte offsets and the info string has to be read as written
//! (comrak unescapes it).

use super::attrs::{self, AttrError, Attrs};
use super::frontmatter::{self, FrontMatter};
use super::splice::first_eol;
use super::{Diagnostic, Document, Severity, Source, Span, Step, StepKind};
use crate::error::{Error, Result};
use comrak::nodes::NodeValue;
use comrak::{Arena, Options, parse_document};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Languages whose blocks are steps (aliases included: `js` is node, `py`
/// python3, `rb` ruby, `shellscript` bash, `ts` TypeScript).
pub const STEP_LANGS: &[&str] = &[
    "bash",
    "sh",
    "zsh",
    "shell",
    "shellscript",
    "ksh",
    "fish",
    "pwsh",
    "python",
    "python3",
    "py",
    "node",
    "js",
    "javascript",
    "mjs",
    "ruby",
    "rb",
    "perl",
    "ts",
    "typescript",
    "http",
];

/// The interpreter command of a `ts`/`typescript` block: the engine runs it
/// with the first of `tsx`, `ts-node`, `deno run`, `bun` found on PATH.
pub const TYPESCRIPT: &str = "typescript";

/// Shells the shell kernel drives (POSIX syntax for its state handling).
const KERNEL_SHELLS: &[&str] = &["bash", "sh", "zsh", "dash"];

/// What runs a block of a step language.
fn step_kind(lower: &str, front: &FrontMatter) -> StepKind {
    let interp = |c: &str| StepKind::Interpreter {
        command: c.to_string(),
    };
    match lower {
        "bash" | "zsh" => StepKind::Shell {
            program: lower.to_string(),
        },
        // Generic shell blocks run with the front matter's `shell:` (Runme's
        // meaning too); a shell the kernel cannot drive runs as a script.
        "sh" | "shell" | "shellscript" => match front.shell.as_deref() {
            Some(sh) => {
                let base = sh.rsplit('/').next().unwrap_or(sh);
                if KERNEL_SHELLS.contains(&base) {
                    StepKind::Shell {
                        program: sh.to_string(),
                    }
                } else {
                    interp(sh)
                }
            }
            None if lower == "sh" => StepKind::Shell {
                program: "sh".into(),
            },
            None => StepKind::Shell {
                program: "bash".into(),
            },
        },
        "python" | "python3" | "py" => interp("python3"),
        "node" | "js" | "javascript" | "mjs" => interp("node"),
        "ruby" | "rb" => interp("ruby"),
        "ts" | "typescript" => interp(TYPESCRIPT),
        "http" => StepKind::Http,
        other => interp(other),
    }
}

/// A prose block that carries `{…}` attributes (other than Runme's `id`)
/// was probably meant to run: say that it will not.
fn prose_with_attributes(
    src: &Source,
    lang: &str,
    raw: &[attrs::RawAttr],
    info_at: usize,
    warnings: &mut Vec<Diagnostic>,
) {
    // Only `{…}` lists get here: Docusaurus' bare `title="x"` does not.
    if raw.iter().all(|r| r.key == "id" || r.key == "skip") {
        return;
    }
    let message = if lang.is_empty() {
        "a block without a language is not run: it is prose, and its attributes are ignored"
            .to_string()
    } else {
        format!(
            "`{lang}` blocks are not run: this block is prose, and its attributes are ignored \
             (runbook runs bash, sh, zsh, shellscript, ksh, fish, pwsh, python, py, node, js, \
             mjs, ruby, rb, perl, ts, http, or any block with `interpreter=`)"
        )
    };
    let end = info_at + lang.len().max(1);
    warnings.push(Diagnostic::at(src, info_at, end, message).warning());
}

/// Stands in for a lone `\r` while comrak parses: CommonMark treats it as a
/// line ending, the line index (and the splice) do not.
const CR_SENTINEL: char = '\u{FDD0}';

/// Parses a runbook. The text must not contain generated blocks (see
/// [`super::splice::strip`]). All problems found are returned at once as
/// `Error::Invalid`.
pub fn parse(path: impl Into<PathBuf>, text: String) -> Result<Document> {
    let parsed = parse_all(path, text);
    let mut errors = parsed.front_errors;
    errors.extend(parsed.body_errors);
    if !errors.is_empty() {
        errors.sort_by_key(|d| (d.line, d.col));
        return Err(Error::Invalid(errors));
    }
    Ok(parsed.doc)
}

/// A document with what could be parsed, and what could not.
pub struct Parsed {
    pub doc: Document,
    /// Problems in the front matter: the body was still read in full.
    pub front_errors: Vec<Diagnostic>,
    /// Problems in the body (attributes, names): steps may be missing.
    pub body_errors: Vec<Diagnostic>,
}

/// Parses what can be parsed: a front matter with errors still gives the
/// body's steps (and the entries that were fine), so every problem of the
/// file can be reported at once.
pub fn parse_all(path: impl Into<PathBuf>, text: String) -> Parsed {
    let source = Source::new(path, text);
    let mut front_errors: Vec<Diagnostic> = Vec::new();
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut warnings: Vec<Diagnostic> = Vec::new();

    let (front, front_span) = match frontmatter::locate(&source) {
        Ok(Some(block)) => {
            let (f, problems) = frontmatter::parse_front(&source, &block);
            for d in problems {
                match d.severity {
                    Severity::Error => front_errors.push(d),
                    Severity::Warning => warnings.push(d),
                }
            }
            (f, Some(block.span))
        }
        Ok(None) => (FrontMatter::default(), None),
        Err(d) => {
            front_errors.push(d);
            (FrontMatter::default(), None)
        }
    };
    if let (Some(span), Some(t)) = (front_span, front.timeout.as_deref())
        && let Err(e) = crate::duration::parse_duration(t)
    {
        front_errors.push(front_key_diagnostic(
            &source,
            span,
            "timeout",
            format!("front matter: invalid `timeout`: {e}"),
        ));
    }
    // A byte order mark stays first, before a run header.
    let bom = if source.text.starts_with('\u{feff}') {
        3
    } else {
        0
    };
    let header_at = front_span.map_or(bom, |s| s.end);
    let steps = find_steps(&source, &front, header_at, &mut errors, &mut warnings);
    Parsed {
        doc: Document {
            source,
            front,
            front_span,
            header_at,
            steps,
            warnings,
        },
        front_errors,
        body_errors: errors,
    }
}

/// A diagnostic at a top-level `key:` of the front matter.
fn front_key_diagnostic(
    source: &Source,
    span: super::Span,
    key: &str,
    message: String,
) -> Diagnostic {
    let text = &source.text[span.start..span.end];
    let mut offset = span.start;
    for line in text.split_inclusive('\n') {
        if line.starts_with(key) && line[key.len()..].trim_start().starts_with(':') {
            return Diagnostic::at(source, offset, offset + key.len(), message);
        }
        offset += line.len();
    }
    Diagnostic::at(source, span.start, span.start + 3, message)
}

/// Reads, strips generated blocks, and parses.
pub fn parse_file(path: &Path) -> Result<Document> {
    let text = crate::input::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
    parse(path, super::splice::strip(&text))
}

/// The body as comrak sees it: lone `\r` replaced so comrak's lines are the
/// line index's lines.
fn comrak_text(body: &str) -> (String, Option<char>) {
    let b = body.as_bytes();
    let lone_cr = |i: usize| b[i] == b'\r' && b.get(i + 1) != Some(&b'\n');
    if !(0..b.len()).any(lone_cr) {
        return (body.to_string(), None);
    }
    let sentinel = if body.contains(CR_SENTINEL) {
        None
    } else {
        Some(CR_SENTINEL)
    };
    let mut out = String::with_capacity(body.len() + 8);
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() != Some(&'\n') {
            out.push(sentinel.unwrap_or(' '));
        } else {
            out.push(c);
        }
    }
    (out, sentinel)
}

/// The container prefix of the lines spliced after a block: the bytes
/// before the fence with list markers turned into spaces.
fn container_prefix(before_fence: &str) -> String {
    before_fence
        .chars()
        .map(|c| match c {
            '>' | '\t' => c,
            _ => ' ',
        })
        .collect()
}

fn diag(src: &Source, e: &AttrError) -> Diagnostic {
    Diagnostic::at(src, e.span.start, e.span.end, e.message.clone())
}

/// Problems reported one by one for an info string; the rest are counted.
const MAX_ATTR_DIAGNOSTICS: usize = 20;

/// The diagnostics of one info string, at most `MAX_ATTR_DIAGNOSTICS` and
/// a summary: a hostile line with thousands of bad attributes must not
/// print (or hold) thousands of excerpts.
fn attr_diagnostics(src: &Source, es: &[AttrError]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = es
        .iter()
        .take(MAX_ATTR_DIAGNOSTICS)
        .map(|e| diag(src, e))
        .collect();
    if let Some(first) = es.get(MAX_ATTR_DIAGNOSTICS) {
        let more = es.len() - MAX_ATTR_DIAGNOSTICS;
        out.push(Diagnostic::at(
            src,
            first.span.start,
            first.span.end,
            format!(
                "{more} more problem{} in these attributes not shown",
                if more == 1 { "" } else { "s" }
            ),
        ));
    }
    out
}

/// What a fenced block is, once its info string is read.
enum Block {
    Prose,
    Step(Box<(String, StepKind, Attrs)>),
    Invalid,
}

fn classify(
    src: &Source,
    info: &str,
    info_at: usize,
    front: &FrontMatter,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Block {
    let (lang, rest, rest_off) = attrs::split_info(info);
    let base = info_at + rest_off;
    let lower = lang.to_ascii_lowercase();
    let attrs = if STEP_LANGS.contains(&lower.as_str()) {
        match attrs::parse(rest, base) {
            Ok(a) => a,
            Err(es) => {
                errors.extend(attr_diagnostics(src, &es));
                return Block::Invalid;
            }
        }
    } else {
        // Prose, unless it names an interpreter; only then are its
        // attributes this tool's business.
        match attrs::tokenize(rest, base) {
            Ok(raw) if raw.iter().any(|r| r.key == "interpreter") => match attrs::validate(&raw) {
                Ok(a) => a,
                Err(es) => {
                    errors.extend(attr_diagnostics(src, &es));
                    return Block::Invalid;
                }
            },
            Ok(raw) => {
                prose_with_attributes(src, lang, &raw, info_at, warnings);
                return Block::Prose;
            }
            Err(_) => return Block::Prose,
        }
    };
    if attrs.skip {
        return Block::Prose;
    }
    let kind = if let Some(cmd) = &attrs.interpreter {
        StepKind::Interpreter {
            command: cmd.clone(),
        }
    } else {
        step_kind(&lower, front)
    };
    Block::Step(Box::new((lang.to_string(), kind, attrs)))
}

fn find_steps(
    src: &Source,
    front: &FrontMatter,
    body_start: usize,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<Step> {
    let text = src.text.as_str();
    if body_start >= text.len() {
        return Vec::new();
    }
    let (body, sentinel) = comrak_text(&text[body_start..]);
    // Lines before the body (the front matter): comrak's line 1 is this + 1.
    let line0 = src.line_col(body_start).0 - 1;
    let arena = Arena::new();
    let root = parse_document(&arena, &body, &Options::default());

    let mut steps: Vec<Step> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for node in root.descendants() {
        let data = node.data();
        let NodeValue::CodeBlock(cb) = &data.value else {
            continue;
        };
        if !cb.fenced {
            continue;
        }
        let line = data.sourcepos.start.line + line0;
        if line == 0 || line > src.line_count() {
            continue;
        }
        // The block's last line, counted from its content: every content
        // line is one line of `literal` (containers only strip prefixes),
        // whereas comrak's end position is wrong for an unclosed fence
        // followed by blank lines in a list item.
        let content_lines = cb.literal.split_inclusive('\n').count();
        let end_line =
            (line + content_lines + usize::from(cb.closed)).clamp(line, src.line_count());
        let line_start = src.offset(line, 1);
        let content = src.line_text(line);
        let fence_char = cb.fence_char as char;
        let Some(fence_idx) = content.find(fence_char) else {
            continue;
        };
        let run = content[fence_idx..]
            .bytes()
            .take_while(|&b| b == cb.fence_char)
            .count();
        let fence_at = line_start + fence_idx;
        if !cb.closed {
            let message = unclosed_message(src, end_line, &content[..fence_idx]);
            warnings.push(Diagnostic::at(src, fence_at, fence_at + run, message).warning());
        }
        let raw_info = &content[fence_idx + run..];
        let lead = raw_info.len() - raw_info.trim_start().len();
        let info = raw_info.trim();
        let info_at = fence_at + run + lead;
        let (lang, kind, attrs) = match classify(src, info, info_at, front, errors, warnings) {
            Block::Step(b) => *b,
            Block::Prose | Block::Invalid => continue,
        };
        warnings.extend(
            attr_diagnostics(src, &attrs.warnings)
                .into_iter()
                .map(Diagnostic::warning),
        );

        let (insert_at, needs_eol, eol) = insertion(src, end_line);
        let code = step_code(&cb.literal, sentinel);
        let transcript = matches!(kind, StepKind::Shell { .. })
            .then(|| super::transcript::detect(&code))
            .flatten();

        let index = steps.len();
        let named = attrs.name.is_some();
        let name = attrs
            .name
            .clone()
            .unwrap_or_else(|| format!("step_{}", index + 1));
        if let Some(first) = names.get(&name) {
            let fallback = Span::new(fence_at, fence_at + run);
            errors.push(duplicate_name(src, &attrs, &name, *first, fallback));
        } else {
            names.insert(name.clone(), line);
        }
        steps.push(Step {
            index,
            name,
            named,
            lang,
            kind,
            attrs,
            code,
            transcript,
            line,
            col: fence_idx + 1,
            code_line: line + 1,
            block: Span::new(line_start, insert_at),
            insert_at,
            needs_eol,
            prefix: container_prefix(&content[..fence_idx]),
            eol,
            closed: cb.closed,
        });
    }
    steps
}

/// What an unclosed fence swallows: the rest of the document, or (in a
/// list item or a blockquote, which CommonMark closes it with) the rest of
/// its container, through `end_line`.
fn unclosed_message(src: &Source, end_line: usize, before_fence: &str) -> String {
    let rest_is_blank =
        (end_line + 1..=src.line_count()).all(|l| src.line_text(l).trim().is_empty());
    if rest_is_blank {
        return "unclosed code fence: the block runs to the end of the document".into();
    }
    let container = if before_fence.contains('>') {
        "blockquote"
    } else {
        "list item"
    };
    format!("unclosed code fence: the block runs to the end of its {container} (line {end_line})")
}

/// Where a step's generated block goes (after the fence's last line), and
/// the line ending it needs.
fn insertion(src: &Source, end_line: usize) -> (usize, bool, &'static str) {
    let text = src.text.as_str();
    let insert_at = if end_line < src.line_count() {
        src.offset(end_line + 1, 1)
    } else {
        text.len()
    };
    let needs_eol = !text[..insert_at].ends_with('\n');
    let eol = if needs_eol {
        first_eol(text)
    } else if text[..insert_at].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    (insert_at, needs_eol, eol)
}

/// What runs uses `\n` line endings, whatever the file uses (a bash script
/// with CRLF fails on its first `\r`).
fn step_code(literal: &str, sentinel: Option<char>) -> String {
    let code = literal.replace("\r\n", "\n");
    match sentinel {
        Some(s) => code.replace(s, "\r"),
        None => code,
    }
}

/// A second step with the same name, pointed at its `name=`.
fn duplicate_name(
    src: &Source,
    attrs: &Attrs,
    name: &str,
    first: usize,
    fallback: Span,
) -> Diagnostic {
    let span = attrs
        .spans
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, s)| *s)
        .unwrap_or(fallback);
    Diagnostic::at(
        src,
        span.start,
        span.end,
        format!("duplicate step name `{name}` (first used on line {first})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        match parse("t.md", text.to_string()) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse("t.md", text.to_string()) {
            Ok(_) => panic!("parsed: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn kinds_and_defaults() {
        let d = doc(
            "---\nshell: zsh\n---\n```shell\na\n```\n```python\nb\n```\n```ruby\nc\n```\n```text {interpreter=\"deno run\"}\nd\n```\n```http\nGET /\n```\n```json\n{}\n```\n```bash {skip}\nx\n```\n    ```bash\n    indented\n    ```\n",
        );
        let kinds: Vec<_> = d.steps.iter().map(|s| s.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                StepKind::Shell {
                    program: "zsh".into()
                },
                StepKind::Interpreter {
                    command: "python3".into()
                },
                StepKind::Interpreter {
                    command: "ruby".into()
                },
                StepKind::Interpreter {
                    command: "deno run".into()
                },
                StepKind::Http,
            ]
        );
        assert_eq!(d.step("step_2").map(|s| s.lang.as_str()), Some("python"));
        assert!(d.step("nope").is_none());
        let names: Vec<_> = d.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["step_1", "step_2", "step_3", "step_4", "step_5"]);
        assert_eq!(d.steps[0].code, "a\n");
        assert_eq!(d.steps[0].line, 4);
        assert_eq!(d.steps[0].code_line, 5);
        assert_eq!(d.header_at, 19);
        assert_eq!(d.front_span, Some(Span::new(0, 19)));
    }

    #[test]
    fn spans_in_containers() {
        let text = "- > ```bash\n  > echo\n  > ```\n\n1. x\n\n   ~~~sh\n   y\n   ~~~\r\n";
        let d = doc(text);
        assert_eq!(d.steps[0].prefix, "  > ");
        assert_eq!(d.steps[0].insert_at, 29);
        assert_eq!(d.steps[0].code, "echo\n");
        assert_eq!(d.steps[0].col, 5);
        assert_eq!(d.steps[1].prefix, "   ");
        assert_eq!(d.steps[1].insert_at, text.len());
        assert_eq!(d.steps[1].eol, "\r\n");
        assert!(!d.steps[1].needs_eol);
    }

    #[test]
    fn unclosed_and_no_final_newline() {
        let d = doc("```bash\necho");
        assert!(!d.steps[0].closed);
        assert!(d.steps[0].needs_eol);
        assert_eq!(d.steps[0].insert_at, 12);
        assert_eq!(
            d.warnings[0].to_string(),
            "warning: unclosed code fence: the block runs to the end of the document\n --> t.md:1:1\n  |\n1 | ```bash\n  | ^^^"
        );
        let d = doc("---\ntitle: x\n---");
        assert_eq!(d.header_at, 16);
        assert!(d.header_insert("h").needs_eol);
    }

    #[test]
    fn unclosed_fence_with_blank_lines_in_a_list_item_ends_at_its_last_line() {
        // comrak reports this block as ending on its fence line.
        let text = "- ```bash\n  echo\n\n\n- next\n";
        let d = doc(text);
        assert_eq!(d.steps[0].insert_at, 19);
        assert_eq!(d.steps[0].code, "echo\n\n\n");
    }

    #[test]
    fn byte_order_mark_stays_first() {
        let d = doc("\u{feff}# x\n```sh\ny\n```\n");
        assert_eq!(d.header_at, 3);
        assert_eq!(d.steps[0].line, 2);
        let d = doc("\u{feff}---\ntitle: t\n---\n");
        assert_eq!(d.header_at, 20);
        assert_eq!(d.front.title.as_deref(), Some("t"));
    }

    #[test]
    fn lone_carriage_return_keeps_lines() {
        let d = doc("a\rb\n```sh\nx\ry\n```\n```sh\nz\n```\n");
        assert_eq!(d.steps[0].code, "x\ry\n");
        assert_eq!(d.steps[1].line, 5);
    }

    #[test]
    fn duplicate_names() {
        assert_eq!(
            err("```sh {name=a}\n```\n\n```sh {name=a}\n```\n"),
            "error: duplicate step name `a` (first used on line 1)\n --> t.md:4:8\n  |\n4 | ```sh {name=a}\n  |        ^^^^^^"
        );
    }

    #[test]
    fn language_aliases() {
        let d = doc(
            "```js\n```\n```javascript\n```\n```mjs\n```\n```py\n```\n```rb\n```\n```shellscript\n```\n```ksh\n```\n```fish\n```\n```pwsh\n```\n```ts\n```\n```typescript\n```\n",
        );
        let kinds: Vec<String> = d
            .steps
            .iter()
            .map(|s| match &s.kind {
                StepKind::Shell { program } => format!("shell {program}"),
                StepKind::Interpreter { command } => command.clone(),
                StepKind::Http => "http".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "node",
                "node",
                "node",
                "python3",
                "ruby",
                "shell bash",
                "ksh",
                "fish",
                "pwsh",
                TYPESCRIPT,
                TYPESCRIPT
            ]
        );
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn front_matter_shell_runs_generic_shell_blocks() {
        let d = doc("---\nshell: zsh\n---\n```sh\n```\n```shellscript\n```\n```bash\n```\n");
        let programs: Vec<_> = d.steps.iter().map(|s| s.kind.clone()).collect();
        let shell = |p: &str| StepKind::Shell { program: p.into() };
        assert_eq!(programs, [shell("zsh"), shell("zsh"), shell("bash")]);
        let d = doc("---\nshell: fish\n---\n```sh\n```\n");
        assert_eq!(
            d.steps[0].kind,
            StepKind::Interpreter {
                command: "fish".into()
            }
        );
    }

    #[test]
    fn attributed_prose_blocks_warn() {
        let d = doc(
            "```json {name=x}\n{}\n```\n```yaml title=\"a.yml\"\n```\n```text {\"id\":\"01HF\"}\n```\n```go name=main\n```\n```{name=y}\n```\n",
        );
        let w: Vec<String> = d.warnings.iter().map(Diagnostic::short).collect();
        // `title="a.yml"` (Docusaurus), `{"id":…}` (Runme) and `go name=main`
        // (no braces) are plain prose.
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[0].starts_with("t.md:1:4: warning: `json` blocks are not run: this block is prose")
        );
        assert_eq!(
            w[1],
            "t.md:10:4: warning: a block without a language is not run: it is prose, and its attributes are ignored"
        );
    }

    #[test]
    fn all_errors_at_once() {
        let e = err("---\ntitel: x\n---\n```sh {tiemout=3s}\n```\n```sh {timeout=abc}\n```\n");
        assert_eq!(e.matches("error:").count(), 3, "{e}");
    }
}
