//! Splicing generated blocks into the source by byte offsets, and stripping
//! them back out.
//!
//! The annotated copy must keep every byte of the author's document, so this
//! never re-renders Markdown: it copies the untouched slices of the source and
//! puts the generated blocks between them (as mdBook's link preprocessor
//! does). Each block is wrapped in HTML comment markers that carry a token —
//! the first 16 hex digits of the sha256 of the bytes between the two marker
//! lines — so output can never forge an end marker and an edited block is not
//! mistaken for a generated one:
//!
//! ```text
//! PREFIX<!-- runbook:begin TOKEN LABEL[ chain=HEX][ eol] -->EOL
//! PREFIX<body line>EOL
//! PREFIX<!-- runbook:end TOKEN -->EOL
//! ```
//!
//! `chain=HEX` links the step blocks into a hash chain sealed by the run
//! header ([`super::chain`]).
//!
//! `strip(splice(doc, inserts)) == doc`, byte for byte.

use super::{Document, Step, chain};
use std::ops::Range;

const BEGIN: &str = "<!-- runbook:begin ";
const END: &str = "<!-- runbook:end ";
const CLOSE: &str = " -->";
const CHAIN: &str = "chain=";

/// How a block takes part in the hash chain ([`super::chain`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Link {
    /// Not chained.
    #[default]
    None,
    /// A step's block: linked over these source bytes (its fenced block)
    /// and its own body.
    Step(Range<usize>),
    /// The run header: seals the chain (its head) over its own body.
    Seal,
}

/// One generated block to put into the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    /// Byte offset in the source (the start of a line).
    pub at: usize,
    /// The line before `at` has no line ending (end of file without a final
    /// newline): the splice adds `eol` first and marks the block so `strip`
    /// removes it again.
    pub needs_eol: bool,
    /// Container prefix put before every line (`> `, list indentation).
    pub prefix: String,
    /// Line ending of the inserted lines.
    pub eol: &'static str,
    /// Written into the begin marker, e.g. `step=deploy` (whitespace and `>`
    /// become `_` so the marker stays one well-formed comment).
    pub label: String,
    /// Markdown lines joined with `\n`, without prefix. One trailing `\n` is
    /// a terminator, not an extra blank line; an empty body has no lines.
    pub body: String,
    /// Its place in the hash chain.
    pub link: Link,
}

impl Step {
    /// The generated block for this step, right after its closing fence.
    pub fn insert(&self, label: impl Into<String>, body: impl Into<String>) -> Insert {
        Insert {
            at: self.insert_at,
            needs_eol: self.needs_eol,
            prefix: self.prefix.clone(),
            eol: self.eol,
            label: label.into(),
            body: body.into(),
            link: Link::Step(self.block.start..self.block.end),
        }
    }
}

impl Document {
    /// The run header block, right after the front matter (or at the top),
    /// labelled `header`.
    pub fn header_insert(&self, body: impl Into<String>) -> Insert {
        let text = &self.source.text;
        let at = self.header_at.min(text.len());
        Insert {
            at,
            needs_eol: at > 0 && !text[..at].ends_with('\n'),
            prefix: String::new(),
            eol: first_eol(text),
            label: "header".into(),
            body: body.into(),
            link: Link::Seal,
        }
    }
}

/// The document's first line ending, `"\n"` when it has none.
pub(crate) fn first_eol(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

pub(crate) fn token(bytes: &[u8]) -> String {
    crate::text::sha256_hex(bytes, 8)
}

pub(crate) fn clean_label(label: &str) -> String {
    let l: String = label
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '>' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if l.is_empty() { "_".into() } else { l }
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The line ending and container prefix an insert is written with: only
/// what strip recognises (LF or CRLF; spaces, tabs and `>`).
fn eol_and_prefix(ins: &Insert) -> (&'static str, String) {
    let eol = if ins.eol == "\r\n" { "\r\n" } else { "\n" };
    let prefix = ins
        .prefix
        .chars()
        .map(|c| {
            if matches!(c, ' ' | '\t' | '>') {
                c
            } else {
                ' '
            }
        })
        .collect();
    (eol, prefix)
}

/// The bytes between an insert's two marker lines.
fn block_body(ins: &Insert, eol: &str, prefix: &str) -> String {
    let blank_prefix = prefix.trim_end_matches([' ', '\t']);
    let mut body = String::new();
    let text = ins.body.strip_suffix('\n').unwrap_or(&ins.body);
    if !ins.body.is_empty() {
        for line in text.split('\n') {
            if line.is_empty() {
                body.push_str(blank_prefix);
            } else {
                body.push_str(prefix);
                body.push_str(line);
            }
            body.push_str(eol);
        }
    }
    body
}

/// The chain hash of each insert (in the given order, which is the
/// document's): step blocks link one after the other, the seal closes the
/// chain after the last one.
fn chain_hashes(source: &str, sorted: &[&Insert], bodies: &[String]) -> Vec<Option<String>> {
    let mut prev = chain::GENESIS.to_string();
    let mut out: Vec<Option<String>> = vec![None; sorted.len()];
    for (i, ins) in sorted.iter().enumerate() {
        if let Link::Step(r) = &ins.link {
            let src = source.as_bytes();
            let r = r.start.min(src.len())..r.end.min(src.len());
            prev = chain::link(&prev, &src[r.start.min(r.end)..r.end], bodies[i].as_bytes());
            out[i] = Some(prev.clone());
        }
    }
    for (i, ins) in sorted.iter().enumerate() {
        if ins.link == Link::Seal {
            out[i] = Some(chain::link(&prev, b"", bodies[i].as_bytes()));
        }
    }
    out
}

/// Puts the generated blocks into `source`. Inserts are applied in order of
/// `at` (a stable sort keeps the given order for equal offsets). A line
/// ending is added before a block whenever the output so far does not end
/// at a line start (this is what `needs_eol` announces).
pub fn splice(source: &str, inserts: &[Insert]) -> String {
    let mut sorted: Vec<&Insert> = inserts.iter().collect();
    sorted.sort_by_key(|i| i.at);
    let shapes: Vec<(&'static str, String)> = sorted.iter().map(|i| eol_and_prefix(i)).collect();
    let bodies: Vec<String> = sorted
        .iter()
        .zip(&shapes)
        .map(|(i, (eol, prefix))| block_body(i, eol, prefix))
        .collect();
    let chains = chain_hashes(source, &sorted, &bodies);
    let extra: usize = bodies.iter().map(|b| b.len() + 240).sum();
    let mut out = String::with_capacity(source.len() + extra);
    let mut last = 0;
    for (k, ins) in sorted.iter().enumerate() {
        let (eol, prefix) = (shapes[k].0, shapes[k].1.as_str());
        let body = &bodies[k];
        let at = floor_boundary(source, ins.at).max(last);
        out.push_str(&source[last..at]);
        last = at;
        let add_eol = !out.is_empty() && !out.ends_with('\n');
        if add_eol {
            out.push_str(eol);
        }
        let tok = token(body.as_bytes());
        out.push_str(prefix);
        out.push_str(BEGIN);
        out.push_str(&tok);
        out.push(' ');
        out.push_str(&clean_label(&ins.label));
        if let Some(c) = &chains[k] {
            out.push(' ');
            out.push_str(CHAIN);
            out.push_str(c);
        }
        if add_eol {
            out.push_str(" eol");
        }
        out.push_str(CLOSE);
        out.push_str(eol);
        out.push_str(body);
        out.push_str(prefix);
        out.push_str(END);
        out.push_str(&tok);
        out.push_str(CLOSE);
        out.push_str(eol);
    }
    out.push_str(&source[last..]);
    out
}

/// A verified generated region: `start..end` is removed.
struct Region {
    start: usize,
    end: usize,
}

/// Line starts and ends (`end` includes the line ending).
pub(crate) fn lines(text: &str) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    while start < b.len() {
        let end = match b[start..].iter().position(|&c| c == b'\n') {
            Some(i) => start + i + 1,
            None => b.len(),
        };
        v.push((start, end));
        start = end;
    }
    v
}

/// The content of a line without its ending, and the ending.
pub(crate) fn split_eol(line: &str) -> (&str, &str) {
    if let Some(s) = line.strip_suffix("\r\n") {
        (s, "\r\n")
    } else if let Some(s) = line.strip_suffix('\n') {
        (s, "\n")
    } else {
        (line, "")
    }
}

/// A parsed begin marker line.
pub(crate) struct Begin<'a> {
    pub prefix: &'a str,
    pub token: &'a str,
    pub label: &'a str,
    /// The `chain=` hash, when the block is chained.
    pub chain: Option<&'a str>,
    /// The splice added a line ending before the block.
    pub eol: bool,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// A begin marker line (without its line ending).
pub(crate) fn parse_begin(content: &str) -> Option<Begin<'_>> {
    let pos = content.find(BEGIN)?;
    let prefix = &content[..pos];
    if !prefix.bytes().all(|c| matches!(c, b' ' | b'\t' | b'>')) {
        return None;
    }
    let rest = content[pos + BEGIN.len()..].strip_suffix(CLOSE)?;
    let mut parts = rest.split(' ').peekable();
    let token = parts.next().filter(|t| is_hex(t, 16))?;
    let label = parts.next().filter(|l| !l.is_empty())?;
    let chain = match parts.peek().and_then(|p| p.strip_prefix(CHAIN)) {
        Some(c) if is_hex(c, 64) => {
            parts.next();
            Some(c)
        }
        Some(_) => return None,
        None => None,
    };
    let eol = match parts.next() {
        None => false,
        Some("eol") => true,
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Begin {
        prefix,
        token,
        label,
        chain,
        eol,
    })
}

/// The end marker line (without its line ending) that closes a block.
pub(crate) fn end_line(prefix: &str, token: &str) -> String {
    format!("{prefix}{END}{token}{CLOSE}")
}

fn regions(text: &str) -> Vec<Region> {
    let lines = lines(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (ls, le) = lines[i];
        let (content, line_eol) = split_eol(&text[ls..le]);
        let Some(Begin {
            prefix,
            token: tok,
            eol: eol_flag,
            ..
        }) = parse_begin(content)
        else {
            i += 1;
            continue;
        };
        let end_line = end_line(prefix, tok);
        let mut matched = None;
        for (j, &(ms, me)) in lines.iter().enumerate().skip(i + 1) {
            let (c, e) = split_eol(&text[ms..me]);
            if c == end_line && token(&text.as_bytes()[le..ms]) == tok {
                // The splice always ends the end marker with the block's
                // line ending.
                if e == line_eol {
                    matched = Some((j, me));
                }
                break;
            }
        }
        let Some((j, end)) = matched else {
            i += 1;
            continue;
        };
        let mut start = ls;
        if eol_flag {
            if line_eol.is_empty() || !text[..ls].ends_with(line_eol) {
                i += 1;
                continue;
            }
            start -= line_eol.len();
        }
        // Regions never overlap: the previous one ended before line i.
        found.push(Region { start, end });
        i = j + 1;
    }
    found
}

/// Removes every generated block whose token verifies; anything else is
/// left as it is.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in regions(text) {
        if r.start < last {
            continue;
        }
        out.push_str(&text[last..r.start]);
        last = r.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Whether `text` holds at least one generated block that `strip` removes.
pub fn has_generated(text: &str) -> bool {
    !regions(text).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(at: usize, prefix: &str, eol: &'static str, body: &str) -> Insert {
        Insert {
            at,
            needs_eol: false,
            prefix: prefix.into(),
            eol,
            label: "step=a".into(),
            body: body.into(),
            link: Link::None,
        }
    }

    #[test]
    fn format_is_exact() {
        let src = "```bash\necho hi\n```\nafter\n";
        let out = splice(src, &[ins(20, "", "\n", "out\n\nmore")]);
        let tok = token(b"out\n\nmore\n");
        assert_eq!(
            out,
            format!(
                "```bash\necho hi\n```\n<!-- runbook:begin {tok} step=a -->\nout\n\nmore\n<!-- runbook:end {tok} -->\nafter\n"
            )
        );
        assert!(has_generated(&out));
        assert_eq!(strip(&out), src);
    }

    #[test]
    fn prefix_and_blank_lines() {
        let src = "> ```sh\n> x\n> ```\n";
        let out = splice(src, &[ins(src.len(), "> ", "\n", "a\n\nb")]);
        let body = "> a\n>\n> b\n";
        let tok = token(body.as_bytes());
        assert_eq!(
            out,
            format!(
                "{src}> <!-- runbook:begin {tok} step=a -->\n{body}> <!-- runbook:end {tok} -->\n"
            )
        );
        assert_eq!(strip(&out), src);
    }

    #[test]
    fn missing_final_newline_gets_eol_marker() {
        let src = "```sh\nx\n```";
        let mut i = ins(src.len(), "", "\r\n", "");
        i.needs_eol = true;
        let out = splice(src, &[i]);
        let tok = token(b"");
        assert_eq!(
            out,
            format!(
                "```sh\nx\n```\r\n<!-- runbook:begin {tok} step=a eol -->\r\n<!-- runbook:end {tok} -->\r\n"
            )
        );
        assert_eq!(strip(&out), src);
    }

    #[test]
    fn edited_block_is_left_alone() {
        let src = "a\n";
        let out = splice(src, &[ins(2, "", "\n", "x")]);
        let edited = out.replace("\nx\n", "\ny\n");
        assert!(!has_generated(&edited));
        assert_eq!(strip(&edited), edited);
    }

    #[test]
    fn body_with_forged_markers_strips_exactly() {
        let src = "a\n";
        let fake = "<!-- runbook:end 0123456789abcdef -->\n<!-- runbook:begin 0123456789abcdef x -->\r\n```\n";
        let out = splice(src, &[ins(2, "", "\n", fake)]);
        assert_eq!(strip(&out), src);
        // An annotated copy of an annotated copy: the outer block holds a
        // whole generated block; stripping removes it with the outer one.
        let nested = splice(src, &[ins(2, "", "\n", &out)]);
        assert_eq!(strip(&nested), src);
    }

    #[test]
    fn labels_are_kept_on_one_token() {
        let out = splice(
            "",
            &[Insert {
                label: "a b>c".into(),
                ..ins(0, "", "\n", "")
            }],
        );
        assert!(out.contains(" a_b_c -->"), "{out}");
        assert_eq!(strip(&out), "");
    }
}
