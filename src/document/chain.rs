//! The hash chain of an annotated copy, and its verification.
//!
//! Every step block's begin marker carries `chain=HEX`, the link
//!
//! ```text
//! link(prev, S, B) = sha256( prev "\n" len(S) "\n" S len(B) "\n" B )
//! ```
//!
//! where `prev` is the previous step block's link in document order (64
//! lowercase hex digits; [`GENESIS`] for the first), `S` the exact source
//! bytes of the step's fenced block (opening fence line through the closing
//! fence line and its line ending) and `B` the block's body (the bytes
//! between its two marker lines, exactly what the marker token covers);
//! lengths are decimal byte counts. The run header's begin marker carries
//! the head, `link(last, "", header body)`: it seals the chain with the
//! result, operator and times. The exact format is in
//! docs/annotated-copy.md ("Hash chain").

use super::splice::{self, Begin};
use serde::Serialize;
use std::ops::Range;

/// The `prev` of the first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One link of the chain (see the module docs).
pub fn link(prev: &str, source: &[u8], body: &[u8]) -> String {
    let mut buf = Vec::with_capacity(prev.len() + source.len() + body.len() + 48);
    buf.extend_from_slice(prev.as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(source.len().to_string().as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(source);
    buf.extend_from_slice(body.len().to_string().as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(body);
    crate::text::sha256_hex(&buf, usize::MAX)
}

/// The chain head a copy's run header carries, without verifying it.
pub fn head(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let b = splice::parse_begin(l.strip_suffix('\r').unwrap_or(l))?;
        (b.label == "header").then(|| b.chain.map(str::to_string))?
    })
}

/// Why a copy does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No run header with a chain head: not an annotated copy, or one
    /// written before the chain existed.
    NotChained,
    /// The run header was edited (result, operator, times, …).
    HeaderEdited,
    /// A step block's body was edited.
    OutputEdited,
    /// A step's source is not what ran.
    SourceChanged,
    /// A step has no generated block, but later steps do.
    BlockRemoved,
    /// A block is not where the run put it.
    Reordered,
    /// The copy ends early.
    Truncated,
    /// `--source`: the copy's source part differs from the runbook.
    SourceMismatch,
    /// `--report`: the report carries another chain head.
    ReportMismatch,
    /// `--require-signature`, `--allowed-signers`: the copy has no signature.
    NotSigned,
    /// The signature block was edited, or holds no valid signature.
    SignatureInvalid,
    /// The signature was made for another namespace than `runbook-record`.
    WrongNamespace,
    /// The signature is valid, but over another chain head.
    SignatureOtherHead,
    /// `--allowed-signers`: the signer is not allowed (not listed, another
    /// namespace, outside its validity).
    SignerNotAllowed,
}

impl Reason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::NotChained => "not chained",
            Reason::HeaderEdited => "header edited",
            Reason::OutputEdited => "output edited",
            Reason::SourceChanged => "source changed",
            Reason::BlockRemoved => "block removed",
            Reason::Reordered => "reordered",
            Reason::Truncated => "truncated",
            Reason::SourceMismatch => "source mismatch",
            Reason::ReportMismatch => "report mismatch",
            Reason::NotSigned => "not signed",
            Reason::SignatureInvalid => "signature invalid",
            Reason::WrongNamespace => "wrong namespace",
            Reason::SignatureOtherHead => "signature over another head",
            Reason::SignerNotAllowed => "signer not allowed",
        }
    }
}

/// Where and why a copy stopped matching its record.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The step (`header` for the run header), when there is one.
    pub step: Option<String>,
    /// 1-based line in the copy.
    pub line: usize,
    pub reason: Reason,
    pub message: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub ok: bool,
    /// Chained step blocks.
    pub steps: usize,
    pub result: Option<String>,
    pub dry_run: bool,
    pub operator: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub runbook_sha256: Option<String>,
    pub chain_head: Option<String>,
    pub failure: Option<Failure>,
}

impl Verdict {
    /// Marks the verdict failed (the first failure wins).
    pub fn fail(&mut self, step: Option<&str>, line: usize, reason: Reason, message: String) {
        self.ok = false;
        if self.failure.is_none() {
            self.failure = Some(Failure {
                step: step.map(str::to_string),
                line,
                reason,
                message,
            });
        }
    }
}

/// A generated block found in a copy, whether or not its token matches.
pub(crate) struct Block {
    /// 1-based line of its begin marker.
    pub line: usize,
    pub label: String,
    chain: Option<String>,
    pub token_ok: bool,
    /// The bytes between its marker lines.
    pub body: Range<usize>,
    /// Where it starts (its begin marker, or the line ending the splice
    /// added before it) and ends (after its end marker line).
    pub start: usize,
    pub end: usize,
    /// Its offset in the stripped text.
    stripped_at: usize,
}

/// Every block of `text`, paired by marker (not by token), or the line of a
/// begin marker that has no end marker.
pub(crate) fn scan(text: &str) -> Result<Vec<Block>, (usize, String)> {
    let lines = splice::lines(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (ls, le) = lines[i];
        let (content, line_eol) = splice::split_eol(&text[ls..le]);
        let Some(Begin {
            prefix,
            token,
            label,
            chain,
            eol,
        }) = splice::parse_begin(content)
        else {
            i += 1;
            continue;
        };
        let end_line = splice::end_line(prefix, token);
        let close = lines
            .iter()
            .enumerate()
            .skip(i + 1)
            .find(|(_, (ms, me))| splice::split_eol(&text[*ms..*me]).0 == end_line);
        let Some((j, &(ms, me))) = close else {
            return Err((i + 1, label.to_string()));
        };
        let mut start = ls;
        if eol && !line_eol.is_empty() && text[..ls].ends_with(line_eol) {
            start -= line_eol.len();
        }
        found.push(Block {
            line: i + 1,
            label: label.to_string(),
            chain: chain.map(str::to_string),
            token_ok: splice::token(&text.as_bytes()[le..ms]) == token,
            body: le..ms,
            start,
            end: me,
            stripped_at: 0,
        });
        i = j + 1;
    }
    Ok(found)
}

/// The copy without its blocks; sets each block's `stripped_at`.
fn strip_blocks(text: &str, blocks: &mut [Block]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for b in blocks.iter_mut() {
        out.push_str(&text[last..b.start.max(last)]);
        b.stripped_at = out.len();
        last = b.end.max(last);
    }
    out.push_str(&text[last..]);
    out
}

/// 1-based line numbers of byte offsets, from one pass over the text (a
/// copy of 10 000 steps asks for one per step: no rescanning).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        let nl = text
            .bytes()
            .enumerate()
            .filter(|(_, c)| *c == b'\n')
            .map(|(i, _)| i);
        Lines(nl.collect())
    }

    /// 1-based line of a byte offset.
    fn at(&self, off: usize) -> usize {
        self.0.partition_point(|&p| p < off) + 1
    }
}

/// The rows of the header table, values unescaped.
fn header_rows(body: &str) -> Vec<(String, String)> {
    body.lines()
        .filter_map(|l| {
            let l = l.strip_prefix("| ")?.strip_suffix(" |")?;
            let (k, v) = l.split_once(" | ")?;
            Some((k.to_string(), unescape(v)))
        })
        .collect()
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            out.extend(chars.next());
        } else if c != '`' {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// Fills the summary fields from the header's rows.
fn summarize(v: &mut Verdict, header_body: &str) {
    for (k, val) in header_rows(header_body) {
        match k.as_str() {
            "Runbook run" => {
                // `✓ ok (exit 0)`: the symbol, the result, the exit code.
                let r = val.split_once(' ').map(|x| x.1).unwrap_or(&val);
                let r = r.split(" (exit ").next().unwrap_or(r);
                v.dry_run = r.starts_with("dry run");
                v.result = Some(r.to_string());
            }
            "Operator" => v.operator = Some(val),
            "Started" => v.started_at = Some(val),
            "Finished" => v.finished_at = Some(val),
            "sha256" => v.runbook_sha256 = Some(val),
            "Mode" if val.contains("--dry-run") => v.dry_run = true,
            _ => {}
        }
    }
}

/// Recomputes the chain of an annotated copy.
pub fn verify(text: &str) -> Verdict {
    let mut v = Verdict {
        ok: true,
        ..Verdict::default()
    };
    let mut blocks = match scan(text) {
        Ok(b) => b,
        Err((line, label)) => {
            let step = label.strip_prefix("step=").unwrap_or(&label);
            v.fail(
                Some(step),
                line,
                Reason::Truncated,
                "the block has no end marker: the copy ends early, or its end marker was edited"
                    .into(),
            );
            return v;
        }
    };
    let stripped = strip_blocks(text, &mut blocks);
    let Some(h) = blocks.iter().position(|b| b.label == "header") else {
        v.fail(None, 1, Reason::NotChained, "no run header".into());
        return v;
    };
    let header = &blocks[h];
    summarize(&mut v, &text[header.body.clone()]);
    let Some(head) = header.chain.clone() else {
        v.fail(
            Some("header"),
            header.line,
            Reason::NotChained,
            "the run header carries no chain head (written before the hash chain)".into(),
        );
        return v;
    };
    v.chain_head = Some(head.clone());
    if !header.token_ok {
        v.fail(
            Some("header"),
            header.line,
            Reason::HeaderEdited,
            "the run header was edited (its content no longer matches its marker)".into(),
        );
        return v;
    }
    let last = walk_steps(text, &stripped, &blocks, &mut v);
    let Some(last) = last else { return v };
    seal(text, &stripped, &blocks[h], &last, &head, &mut v);
    v
}

/// Checks the seal and the runbook's sha256 once every step linked.
fn seal(text: &str, stripped: &str, header: &Block, last: &str, head: &str, v: &mut Verdict) {
    let sha_ok = v
        .runbook_sha256
        .as_deref()
        .is_some_and(|s| s == crate::text::sha256_hex(stripped.as_bytes(), usize::MAX));
    if link(last, b"", &text.as_bytes()[header.body.clone()]) != head {
        let (reason, why) = if sha_ok {
            (
                Reason::HeaderEdited,
                "the run header's chain head does not seal this chain",
            )
        } else {
            (
                Reason::Truncated,
                "the chain ends before the step the run header seals: the copy ends early",
            )
        };
        v.fail(
            Some("header"),
            text.lines().count().max(1),
            reason,
            why.into(),
        );
    } else if !sha_ok {
        v.fail(
            Some("header"),
            header.line,
            Reason::SourceChanged,
            "the runbook text outside the steps changed: its sha256 differs from the header's"
                .into(),
        );
    }
}

/// Links every step's block in document order; the last link, or `None`
/// after a failure.
fn walk_steps(text: &str, stripped: &str, blocks: &[Block], v: &mut Verdict) -> Option<String> {
    let doc = super::parse_all("copy", stripped.to_string()).doc;
    let lines = Lines::of(text);
    // Blocks are in document order, so their `stripped_at` never
    // decreases: offsets map back into the copy by binary search over the
    // running total of the blocks' lengths.
    let mut removed = Vec::with_capacity(blocks.len() + 1);
    removed.push(0usize);
    for b in blocks {
        removed.push(removed[removed.len() - 1] + (b.end - b.start));
    }
    let copy_pos =
        |off: usize| -> usize { off + removed[blocks.partition_point(|b| b.stripped_at <= off)] };
    let is_step = |b: &Block| b.label.starts_with("step=");
    let stored: Vec<&str> = blocks.iter().filter_map(|b| b.chain.as_deref()).collect();
    let mut used = vec![false; blocks.len()];
    let mut prev = GENESIS.to_string();
    for s in &doc.steps {
        let src_line = lines.at(copy_pos(s.block.start));
        let first = blocks.partition_point(|b| b.stripped_at < s.insert_at);
        let at = blocks[first..]
            .iter()
            .take_while(|b| b.stripped_at == s.insert_at)
            .position(is_step)
            .map(|k| first + k);
        let Some(k) = at else {
            let later = blocks
                .iter()
                .any(|b| is_step(b) && b.stripped_at > s.insert_at);
            let (reason, why) = if later {
                (Reason::BlockRemoved, "its generated block was removed")
            } else {
                (Reason::Truncated, "no generated block: the copy ends early")
            };
            v.fail(Some(&s.name), src_line, reason, why.into());
            return None;
        };
        used[k] = true;
        let b = &blocks[k];
        let body = &text.as_bytes()[b.body.clone()];
        let src = &stripped.as_bytes()[s.block.start..s.block.end.min(stripped.len())];
        let fail = |v: &mut Verdict, line, reason, why: String| {
            v.fail(Some(&s.name), line, reason, why);
        };
        if !b.token_ok {
            fail(
                v,
                b.line,
                Reason::OutputEdited,
                "its output block was edited".into(),
            );
            return None;
        }
        if b.label != splice::clean_label(&format!("step={}", s.name)) {
            let why = format!("the block after this step is {}'s", &b.label[5..]);
            fail(v, b.line, Reason::Reordered, why);
            return None;
        }
        let Some(c) = b.chain.as_deref() else {
            fail(
                v,
                b.line,
                Reason::NotChained,
                "its block has no chain hash".into(),
            );
            return None;
        };
        if link(&prev, src, body) != c {
            let moved = std::iter::once(GENESIS)
                .chain(stored.iter().copied())
                .any(|x| x != prev && link(x, src, body) == c);
            if moved {
                let why = "the step was run in another place: blocks were reordered";
                fail(v, src_line, Reason::Reordered, why.into());
            } else {
                let why = "the step's source (or its block) is not what ran";
                fail(v, src_line, Reason::SourceChanged, why.into());
            }
            return None;
        }
        prev = c.to_string();
        v.steps += 1;
    }
    if let Some(b) = blocks.iter().zip(&used).find(|(b, u)| is_step(b) && !**u) {
        let step = b.0.label.strip_prefix("step=").unwrap_or(&b.0.label);
        let why = "the block is not after its step's fenced block".into();
        v.fail(Some(step), b.0.line, Reason::Reordered, why);
        return None;
    }
    Some(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_is_exact() {
        let expected = crate::text::sha256_hex(b"ab\n3\nsrc4\nbody", usize::MAX);
        assert_eq!(link("ab", b"src", b"body"), expected);
        assert_eq!(GENESIS.len(), 64);
    }

    #[test]
    fn header_rows_unescape() {
        let mut v = Verdict::default();
        summarize(
            &mut v,
            "| Runbook run | ✓ dry run ok (exit 0) |\n|---|---|\n| Operator | a\\_b |\n",
        );
        assert_eq!(v.result.as_deref(), Some("dry run ok"));
        assert!(v.dry_run);
        assert_eq!(v.operator.as_deref(), Some("a_b"));
    }
}
