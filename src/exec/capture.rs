//! Turning a step's raw output into what the reports keep, in constant
//! memory.
//!
//! Each chunk from [`process::run`](super::process::run) goes through, per
//! stream:
//!
//! 1. secret redaction ([`StreamRedactor`], which holds back a few bytes so
//!    a secret split across chunks is still caught),
//! 2. ANSI escape stripping (a small state machine that survives sequences
//!    split across chunks: CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ST`,
//!    DCS/SOS/PM/APC strings, two- and three-byte `ESC x` sequences; other
//!    C0 control characters but tab and newline are dropped too),
//! 3. line-ending normalisation: CRLF becomes LF, and so does a lone CR
//!    (progress bars), because a bare CR in the annotated Markdown would be
//!    read as a line break,
//! 4. redaction again, so a secret that only appears once escape sequences
//!    are removed (`sec\e[0mret`) is caught as well.
//!
//! The result of both streams, interleaved in arrival order as a terminal
//! would show `2>&1`, is written to the full log file as it arrives and cut
//! into lines: the first `max_lines / 2` are kept as the head, the last
//! `max_lines - max_lines / 2` in a ring buffer as the tail, each kept line
//! capped at [`MAX_LINE_BYTES`] (marked with `…`). Stdout and stderr are
//! also kept separately, up to `keep_stdout` bytes each, for templates
//! (`steps.X.stdout`).
//!
//! The full log is only worth keeping when the report does not already
//! hold everything: [`OutputCapture::finish`] keeps it when lines were
//! omitted or a kept line was shortened, and deletes it otherwise. The
//! first [`LOG_DEFER_BYTES`] are held in memory and the file is created
//! only once there is more, or at the end if it is kept: most steps print
//! a few lines, and creating then deleting a file on a disk filesystem for
//! each of them costs more than the rest of the capture.

use super::process::Stream;
use crate::secrets::{Redactor, StreamRedactor};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Longest line kept in the head or tail, in bytes (the full log has it all).
pub const MAX_LINE_BYTES: usize = 4096;

/// Output held in memory before the log file is created.
pub const LOG_DEFER_BYTES: usize = 64 * 1024;

/// Mark appended to a shortened line.
pub const CUT_MARK: &str = "…";

#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// Lines kept in the report: the first `max_lines / 2` and the last
    /// `max_lines - max_lines / 2`.
    pub max_lines: usize,
    /// Where to write the full (redacted, stripped) log.
    pub log_path: Option<PathBuf>,
    /// Bytes of stdout (and of stderr) kept for templates, e.g. 4 MiB.
    pub keep_stdout: usize,
}

/// The report's view of a step's output: head and tail lines and the
/// counts. `record` turns it into its `OutputRecord`; exec does not know
/// the record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputSummary {
    /// The first lines (all of it when nothing was cut).
    pub head: String,
    /// The last lines, when something was cut.
    pub tail: String,
    pub total_bytes: u64,
    pub total_lines: u64,
    /// Lines left out between head and tail.
    pub omitted_lines: u64,
    /// The full log, when it was kept.
    pub log_path: Option<String>,
    /// A background process still held stdout/stderr open after the step exited.
    pub leaked: bool,
}

/// What a finished capture hands back.
#[derive(Clone, Debug)]
pub struct Captured {
    /// `head` and `tail` are lines joined with `\n`, without a final
    /// newline. `total_bytes` counts the cleaned output (the size of the
    /// full log). `leaked` is always false here: the caller copies it from
    /// the [`ProcessOutcome`](super::process::ProcessOutcome).
    pub output: OutputSummary,
    /// Redacted, stripped stdout, at most `keep_stdout` bytes.
    pub stdout: String,
    /// Redacted, stripped stderr, at most `keep_stdout` bytes.
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

/// Streaming output capture. See the module documentation.
pub struct OutputCapture {
    stdout: StreamState,
    stderr: StreamState,
    lines: LineKeeper,
    /// The log file, once created.
    log: Option<BufWriter<File>>,
    log_path: Option<PathBuf>,
    /// Output not written to the log yet (until it is created).
    pending: Vec<u8>,
    log_error: Option<io::Error>,
    total_bytes: u64,
    keep: usize,
}

/// Steps 1–4 of the module documentation for one stream: what leaves the
/// process from a step's output (reports, logs, the terminal) is what
/// comes out of a `Cleaner`, so all of them see the same redaction.
pub struct Cleaner {
    before: StreamRedactor,
    after: StreamRedactor,
    ansi: AnsiStripper,
    cr: CrNormaliser,
    scratch_a: Vec<u8>,
    scratch_b: Vec<u8>,
}

impl Cleaner {
    pub fn new(redactor: &Redactor) -> Self {
        Cleaner {
            before: redactor.stream(),
            after: redactor.stream(),
            ansi: AnsiStripper::default(),
            cr: CrNormaliser::default(),
            scratch_a: Vec::new(),
            scratch_b: Vec::new(),
        }
    }

    /// Feeds raw output; returns what is now clean and safe to emit.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        let redacted = self.before.push(bytes);
        self.scratch_a.clear();
        self.ansi.feed(&redacted, &mut self.scratch_a);
        self.scratch_b.clear();
        self.cr.feed(&self.scratch_a, &mut self.scratch_b);
        self.after.push(&self.scratch_b)
    }

    /// Bytes of scratch space held.
    fn retained_bytes(&self) -> usize {
        self.scratch_a.capacity() + self.scratch_b.capacity()
    }

    /// Flushes what was held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = self.before.finish();
        let mut a = Vec::new();
        self.ansi.feed(&rest, &mut a);
        let mut b = Vec::new();
        self.cr.feed(&a, &mut b);
        let mut clean = self.after.push(&b);
        clean.extend(self.after.finish());
        clean
    }
}

struct StreamState {
    clean: Cleaner,
    kept: Vec<u8>,
    truncated: bool,
}

impl StreamState {
    fn new(redactor: &Redactor) -> Self {
        StreamState {
            clean: Cleaner::new(redactor),
            kept: Vec::new(),
            truncated: false,
        }
    }
}

impl OutputCapture {
    /// Creates the capture. The log file at `cfg.log_path` is created when
    /// the output outgrows [`LOG_DEFER_BYTES`] or at [`finish`](Self::finish)
    /// if it is kept; a failure to create it is reported there.
    pub fn new(cfg: CaptureConfig, redactor: &Redactor) -> io::Result<Self> {
        Ok(OutputCapture {
            stdout: StreamState::new(redactor),
            stderr: StreamState::new(redactor),
            lines: LineKeeper::new(cfg.max_lines),
            log: None,
            log_path: cfg.log_path,
            pending: Vec::new(),
            log_error: None,
            total_bytes: 0,
            keep: cfg.keep_stdout,
        })
    }

    /// Feeds a chunk of raw output.
    pub fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let st = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let clean = st.clean.push(bytes);
        self.emit(stream, &clean);
    }

    fn emit(&mut self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.total_bytes += bytes.len() as u64;
        if self.log.is_none() && self.log_path.is_some() && self.log_error.is_none() {
            if self.pending.len() + bytes.len() <= LOG_DEFER_BYTES {
                self.pending.extend_from_slice(bytes);
            } else {
                self.open_log();
            }
        }
        if let Some(log) = &mut self.log
            && self.log_error.is_none()
            && let Err(e) = log.write_all(bytes)
        {
            self.log_error = Some(e);
        }
        self.lines.feed(bytes);
        let st = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let room = self.keep.saturating_sub(st.kept.len());
        if bytes.len() <= room {
            st.kept.extend_from_slice(bytes);
        } else {
            st.kept.extend_from_slice(&bytes[..room]);
            st.truncated = true;
        }
    }

    /// Creates the log file and writes what was held back.
    fn open_log(&mut self) {
        let Some(p) = &self.log_path else {
            return;
        };
        match crate::safe_fs::create_private(p) {
            Ok(f) => {
                let mut log = BufWriter::with_capacity(64 * 1024, f);
                let pending = std::mem::take(&mut self.pending);
                if let Err(e) = log.write_all(&pending) {
                    self.log_error = Some(e);
                }
                self.log = Some(log);
            }
            Err(e) => {
                self.pending = Vec::new();
                self.log_error = Some(io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", p.display()),
                ));
            }
        }
    }

    /// The last non-blank line seen so far (for a progress spinner).
    pub fn last_line(&self) -> Option<String> {
        self.lines.last_line()
    }

    /// Bytes held in memory by the capture (head, tail, current line,
    /// kept stdout/stderr, buffers): bounded whatever the output size.
    pub fn retained_bytes(&self) -> usize {
        self.lines.retained_bytes()
            + self.stdout.kept.capacity()
            + self.stderr.kept.capacity()
            + self.stdout.clean.retained_bytes()
            + self.stderr.clean.retained_bytes()
            + self.pending.capacity()
            + self.log.as_ref().map_or(0, |l| l.capacity())
    }

    /// Flushes everything held back and builds the record. Keeps the log
    /// file only when the record does not hold the whole output.
    pub fn finish(mut self) -> io::Result<Captured> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let st = match stream {
                Stream::Stdout => &mut self.stdout,
                Stream::Stderr => &mut self.stderr,
            };
            let clean = st.clean.finish();
            self.emit(stream, &clean);
        }
        self.lines.finish();
        let (head, tail, omitted) = self.lines.render();
        let keep_log = omitted > 0 || self.lines.any_line_cut;
        if keep_log && self.log.is_none() && self.log_error.is_none() {
            self.open_log();
        }
        if let Some(e) = self.log_error.take() {
            return Err(e);
        }
        let created = self.log.is_some();
        if let Some(mut log) = self.log.take() {
            log.flush()?;
        }
        let log_path = match &self.log_path {
            Some(p) if keep_log => Some(p.display().to_string()),
            Some(p) => {
                // Not created: only a log left by an earlier run can be
                // there, and it must not stay beside the new report.
                match std::fs::remove_file(p) {
                    Err(e) if created || e.kind() != io::ErrorKind::NotFound => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("cannot remove {}: {e}", p.display()),
                        ));
                    }
                    _ => {}
                }
                None
            }
            None => None,
        };
        Ok(Captured {
            output: OutputSummary {
                head,
                tail,
                total_bytes: self.total_bytes,
                total_lines: self.lines.total_lines,
                omitted_lines: omitted,
                log_path,
                leaked: false,
            },
            stdout: utf8_prefix(&self.stdout.kept, self.stdout.truncated),
            stderr: utf8_prefix(&self.stderr.kept, self.stderr.truncated),
            stdout_truncated: self.stdout.truncated,
            stderr_truncated: self.stderr.truncated,
        })
    }
}

/// Text of `bytes`; when it was cut, a character split by the cut is
/// dropped rather than shown as U+FFFD.
fn utf8_prefix(bytes: &[u8], cut: bool) -> String {
    if cut
        && let Err(e) = std::str::from_utf8(bytes)
        && e.error_len().is_none()
    {
        return String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// Head lines, a ring buffer of tail lines, and the line being assembled.
struct LineKeeper {
    head_cap: usize,
    tail_cap: usize,
    head: Vec<String>,
    tail: VecDeque<String>,
    /// The current line, at most `MAX_LINE_BYTES` of it.
    cur: Vec<u8>,
    /// Full length of the current line.
    cur_len: usize,
    total_lines: u64,
    any_line_cut: bool,
    last: Option<String>,
}

impl LineKeeper {
    fn new(max_lines: usize) -> Self {
        let head_cap = max_lines / 2;
        LineKeeper {
            head_cap,
            tail_cap: max_lines - head_cap,
            head: Vec::new(),
            tail: VecDeque::new(),
            cur: Vec::new(),
            cur_len: 0,
            total_lines: 0,
            any_line_cut: false,
            last: None,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.append(&bytes[..i]);
                    self.complete();
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.append(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn append(&mut self, part: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.cur.len());
        self.cur.extend_from_slice(&part[..part.len().min(room)]);
        self.cur_len += part.len();
    }

    fn current_text(&self) -> String {
        if self.cur_len > self.cur.len() {
            let mut s = utf8_prefix(&self.cur, true);
            s.push_str(CUT_MARK);
            s
        } else {
            String::from_utf8_lossy(&self.cur).into_owned()
        }
    }

    fn complete(&mut self) {
        let line = self.current_text();
        if self.cur_len > self.cur.len() {
            self.any_line_cut = true;
        }
        self.cur.clear();
        self.cur_len = 0;
        self.total_lines += 1;
        if !line.trim().is_empty() {
            let mut last = line.clone();
            last.truncate(last.trim_end().len());
            self.last = Some(last);
        }
        if self.head.len() < self.head_cap {
            self.head.push(line);
        } else if self.tail_cap > 0 {
            if self.tail.len() == self.tail_cap {
                self.tail.pop_front();
            }
            self.tail.push_back(line);
        }
    }

    fn finish(&mut self) {
        if self.cur_len > 0 {
            self.complete();
        }
    }

    fn last_line(&self) -> Option<String> {
        let cur = self.current_text();
        let cur = cur.trim_end();
        if !cur.trim_start().is_empty() {
            return Some(cur.to_string());
        }
        self.last.clone()
    }

    /// `(head, tail, omitted lines)`.
    fn render(&self) -> (String, String, u64) {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let omitted = self.total_lines - kept;
        if omitted == 0 {
            let all: Vec<&str> = self
                .head
                .iter()
                .chain(self.tail.iter())
                .map(String::as_str)
                .collect();
            (all.join("\n"), String::new(), 0)
        } else {
            let tail: Vec<&str> = self.tail.iter().map(String::as_str).collect();
            (self.head.join("\n"), tail.join("\n"), omitted)
        }
    }

    fn retained_bytes(&self) -> usize {
        self.head.iter().map(String::capacity).sum::<usize>()
            + self.tail.iter().map(String::capacity).sum::<usize>()
            + self.cur.capacity()
            + self.last.as_ref().map_or(0, String::capacity)
    }
}

/// CRLF and lone CR to LF; a run of CRs before LF is one line ending.
#[derive(Default)]
struct CrNormaliser {
    after_cr: bool,
}

impl CrNormaliser {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        for &b in input {
            match b {
                b'\r' => {
                    if !self.after_cr {
                        out.push(b'\n');
                    }
                    self.after_cr = true;
                }
                b'\n' => {
                    if !self.after_cr {
                        out.push(b'\n');
                    }
                    self.after_cr = false;
                }
                _ => {
                    self.after_cr = false;
                    out.push(b);
                }
            }
        }
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum AnsiState {
    #[default]
    Ground,
    /// After ESC.
    Esc,
    /// After ESC and intermediate bytes (`ESC ( B`).
    EscIntermediate,
    /// Inside `ESC [`.
    Csi,
    /// Inside OSC (`ESC ]`), ended by BEL or ST.
    Osc,
    /// Inside DCS/SOS/PM/APC, ended by ST.
    Str,
    /// ESC seen inside a string: `\` ends it.
    StrEsc,
}

/// Removes terminal escape sequences and control characters, keeping
/// state across chunks.
#[derive(Default)]
pub struct AnsiStripper {
    state: AnsiState,
}

impl AnsiStripper {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `input` without escape sequences to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        for &b in input {
            self.byte(b, out);
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        use AnsiState::*;
        match self.state {
            Ground => self.ground(b, out),
            Esc => match b {
                b'[' => self.state = Csi,
                b']' => self.state = Osc,
                b'P' | b'X' | b'^' | b'_' => self.state = Str,
                0x1b => {}
                0x20..=0x2f => self.state = EscIntermediate,
                0x30..=0x7e => self.state = Ground,
                _ => {
                    self.state = Ground;
                    self.ground(b, out);
                }
            },
            EscIntermediate => match b {
                0x20..=0x2f => {}
                0x30..=0x7e => self.state = Ground,
                0x1b => self.state = Esc,
                _ => {
                    self.state = Ground;
                    self.ground(b, out);
                }
            },
            Csi => match b {
                0x20..=0x3f => {}
                0x40..=0x7e => self.state = Ground,
                0x1b => self.state = Esc,
                _ => {
                    self.state = Ground;
                    self.ground(b, out);
                }
            },
            Osc | Str => match b {
                0x07 if self.state == Osc => self.state = Ground,
                0x1b => self.state = StrEsc,
                // A runaway string (a stray `ESC ]`) must not swallow the
                // rest of the output: a newline ends it.
                b'\n' => {
                    self.state = Ground;
                    self.ground(b, out);
                }
                _ => {}
            },
            StrEsc => match b {
                b'\\' => self.state = Ground,
                _ => {
                    self.state = Esc;
                    self.byte(b, out);
                }
            },
        }
    }

    fn ground(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            0x1b => self.state = AnsiState::Esc,
            b'\t' | b'\n' | b'\r' => out.push(b),
            0x00..=0x1f | 0x7f => {}
            _ => out.push(b),
        }
    }
}

/// Strips escape sequences from a complete text.
pub fn strip_ansi(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    AnsiStripper::new().feed(s.as_bytes(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}
