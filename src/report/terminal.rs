//! Progress on the terminal while a run goes on, driven by the runner's
//! events. Four views of the same events: spinners on a TTY, line-oriented
//! logs elsewhere, collapsible sections in GitLab job logs, and nearly
//! nothing with `--quiet`. Everything goes to stderr (stdout is for data).
//!
//! Step output is shown with its control characters made visible, so a
//! command can neither move the cursor nor forge a GitLab section marker.

use super::tty::{TtyProgress, WriterTerm};
use super::{one_line, split_lines, status_symbol, visible_controls};
use crate::duration::format_duration_ms;
use crate::record::{OutputRecord, RunRecord, StepRecord, StepStatus};
use indicatif::ProgressDrawTarget;
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Receives the runner's events and shows them.
pub trait Progress: Send {
    fn run_started(&mut self, rec: &RunRecord);
    fn step_started(&mut self, step: &StepRecord);
    /// A chunk of output, not necessarily whole lines.
    fn step_output(&mut self, step: &StepRecord, stream_is_err: bool, text: &str);
    fn step_finished(&mut self, step: &StepRecord);
    /// A line for the operator (warnings, notes).
    fn message(&mut self, text: &str);
    /// Runs `f` with spinners hidden (a gate prompt is being shown).
    fn suspend(&mut self, f: &mut dyn FnMut());
    fn run_finished(&mut self, rec: &RunRecord);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalMode {
    /// Spinners per running step.
    Tty,
    /// Line-oriented logs.
    Plain,
    /// Plain logs with GitLab's collapsible sections.
    GitLab,
    /// Only failures and messages.
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// GitLab CI wins (its logs are not a TTY but understand sections), then a
/// TTY gets spinners, anything else plain lines.
pub fn detect_mode(stderr_is_tty: bool, gitlab_ci: bool) -> TerminalMode {
    if gitlab_ci {
        TerminalMode::GitLab
    } else if stderr_is_tty {
        TerminalMode::Tty
    } else {
        TerminalMode::Plain
    }
}

/// Whether to colour: `--color always|never` decides; with `auto`, a
/// non-empty `NO_COLOR` disables, a `CLICOLOR_FORCE` other than `0` enables,
/// and otherwise colour follows the TTY.
pub fn color_enabled(choice: ColorChoice, is_tty: bool) -> bool {
    color_enabled_with(
        choice,
        is_tty,
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("CLICOLOR_FORCE").ok().as_deref(),
    )
}

/// [`color_enabled`] with the environment passed in.
pub fn color_enabled_with(
    choice: ColorChoice,
    is_tty: bool,
    no_color: Option<&str>,
    clicolor_force: Option<&str>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if no_color.is_some_and(|v| !v.is_empty()) {
                false
            } else if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
                true
            } else {
                is_tty
            }
        }
    }
}

/// Progress on stderr.
pub fn progress_for(mode: TerminalMode, color: bool) -> Box<dyn Progress> {
    match mode {
        TerminalMode::Tty => Box::new(TtyProgress::new(
            ProgressDrawTarget::stderr(),
            color,
            super::tty::stderr_width(),
        )),
        other => progress_to(other, color, Box::new(io::stderr())),
    }
}

/// Progress written to `out` (tests capture it this way). A `Tty` view
/// draws its spinners into `out` with ANSI cursor movements.
pub fn progress_to(
    mode: TerminalMode,
    color: bool,
    out: Box<dyn Write + Send>,
) -> Box<dyn Progress> {
    match mode {
        TerminalMode::Tty => Box::new(TtyProgress::new(
            ProgressDrawTarget::term_like(Box::new(WriterTerm(Mutex::new(out)))),
            color,
            100,
        )),
        TerminalMode::Plain => Box::new(LineProgress::new(out, color, false)),
        TerminalMode::GitLab => Box::new(LineProgress::new(out, color, true)),
        TerminalMode::Quiet => Box::new(QuietProgress { out, color }),
    }
}

// ---------------------------------------------------------------- shared

pub(super) fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn status_color(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Ok | StepStatus::DryRun => "32",
        StepStatus::FailedAllowed | StepStatus::Skipped => "33",
        StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted => "31",
        StepStatus::Aborted => "35",
        StepStatus::NotRun | StepStatus::Running => "2",
    }
}

/// `✓ name ok 1.2 s`, with the exit code when it is not 0 and the reason.
pub(super) fn result_line(step: &StepRecord, color: bool) -> String {
    let mut line = format!(
        "{} {} {}",
        paint(color, status_color(step.status), status_symbol(step.status)),
        paint(color, "1", &one_line(&step.name)),
        paint(color, status_color(step.status), step.status.as_str()),
    );
    if let Some(ms) = step.duration_ms {
        line.push(' ');
        line.push_str(&paint(color, "2", &format_duration_ms(ms)));
    }
    if let Some(code) = step.exit_code.filter(|c| *c != 0) {
        line.push_str(&format!(" (exit {code})"));
    }
    if step.target != "local" {
        line.push_str(&format!(" on {}", one_line(&step.target)));
    }
    if let Some(r) = &step.reason {
        line.push_str(&format!(": {}", one_line(r)));
    }
    line
}

pub(super) fn summary_line(rec: &RunRecord, color: bool) -> String {
    let code = match rec.result {
        crate::record::RunResult::Ok | crate::record::RunResult::DryRunOk => "32",
        _ => "31",
    };
    let mut line = format!(
        "{} {}: {}",
        paint(color, "1", "runbook"),
        paint(color, code, &rec.result_text()),
        super::Counts::of(rec).summary()
    );
    if let Some(ms) = rec.duration_ms {
        line.push_str(&format!(" in {}", format_duration_ms(ms)));
    }
    line
}

pub(super) fn start_line(rec: &RunRecord, color: bool) -> String {
    format!(
        "{} {} {} ({} step{}{})",
        paint(color, "1", "runbook"),
        if rec.dry_run { "dry run of" } else { "running" },
        one_line(&rec.runbook.path),
        rec.steps.len(),
        if rec.steps.len() == 1 { "" } else { "s" },
        rec.runbook
            .title
            .as_ref()
            .map(|t| format!(": {}", one_line(t)))
            .unwrap_or_default()
    )
}

/// Lines of a failed step's output printed again when it ends, in every
/// view (TTY, plain, GitLab, quiet).
pub const FAILURE_TAIL_LINES: usize = 20;

/// For a failed step: its last lines (per failed host for a fan-out) and
/// where its full log is. Empty for any other step.
pub fn failure_tail(step: &StepRecord) -> Vec<String> {
    if !step.status.is_failure() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut add = |host: Option<&str>, o: &OutputRecord| {
        // The real last lines: the tail when the output was cut.
        let lines = if o.is_cut() && !o.tail.is_empty() {
            split_lines(&o.tail)
        } else {
            split_lines(&o.head)
        };
        if lines.is_empty() {
            return;
        }
        let n = lines.len().min(FAILURE_TAIL_LINES);
        let on = host
            .map(|h| format!(" on {}", one_line(h)))
            .unwrap_or_default();
        let plural = if n == 1 { "" } else { "s" };
        out.push(format!(
            "── last {n} line{plural} of `{}`{on}:",
            one_line(&step.name)
        ));
        out.extend(
            lines[lines.len() - n..]
                .iter()
                .map(|l| format!("   {}", visible_controls(l))),
        );
        if let Some(p) = &o.log_path {
            out.push(format!("── full log: {}", one_line(p)));
        }
    };
    if let Some(o) = &step.output {
        add(None, o);
    }
    for h in step.hosts.iter().filter(|h| h.status.is_failure()) {
        add(Some(&h.host), &h.output);
    }
    out
}

/// Splits chunks into whole lines per step and stream (stdout and stderr
/// arrive independently: a line of one never takes in a piece of the
/// other); a lone `\r` ends a line too.
#[derive(Default)]
pub(super) struct LineBuffers {
    partial: HashMap<(usize, bool), String>,
}

/// Longest partial line kept before it is shown anyway.
const MAX_PARTIAL: usize = 64 * 1024;

impl LineBuffers {
    pub(super) fn push(&mut self, step: usize, is_err: bool, text: &str) -> Vec<String> {
        let buf = self.partial.entry((step, is_err)).or_default();
        buf.push_str(text);
        let mut lines = Vec::new();
        while let Some(pos) = buf.find(['\n', '\r']) {
            if pos + 1 == buf.len() && buf.ends_with('\r') {
                // Maybe the first half of a `\r\n` split across chunks.
                break;
            }
            let line = buf[..pos].to_string();
            let skip = if buf[pos..].starts_with("\r\n") { 2 } else { 1 };
            buf.drain(..pos + skip);
            lines.push(line);
        }
        if buf.len() > MAX_PARTIAL {
            lines.push(std::mem::take(buf));
        }
        lines
    }

    /// The unfinished line of a step, if any (stderr's first).
    pub(super) fn pending(&self, step: usize) -> Option<&str> {
        [true, false].into_iter().find_map(|is_err| {
            self.partial
                .get(&(step, is_err))
                .map(|s| s.trim_end_matches('\r'))
                .filter(|s| !s.is_empty())
        })
    }

    /// The unfinished lines of a step: stdout's, then stderr's.
    pub(super) fn finish(&mut self, step: usize) -> Vec<String> {
        [false, true]
            .into_iter()
            .filter_map(|is_err| self.partial.remove(&(step, is_err)))
            .map(|s| s.trim_end_matches('\r').to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

// ---------------------------------------------------------------- plain / GitLab

/// Line-oriented logs; with `gitlab`, each step's output sits inside a
/// collapsible section.
struct LineProgress {
    out: Box<dyn Write + Send>,
    color: bool,
    gitlab: bool,
    lines: LineBuffers,
    /// Open GitLab sections by step index.
    sections: HashMap<usize, String>,
}

impl LineProgress {
    fn new(out: Box<dyn Write + Send>, color: bool, gitlab: bool) -> Self {
        LineProgress {
            out,
            color,
            gitlab,
            lines: LineBuffers::default(),
            sections: HashMap::new(),
        }
    }

    fn line(&mut self, step: &StepRecord, text: &str) {
        let text = visible_controls(text);
        if self.gitlab {
            let _ = writeln!(self.out, "{text}");
        } else {
            let prefix = paint(self.color, "2", &format!("[{}]", one_line(&step.name)));
            let _ = writeln!(self.out, "{prefix} {text}");
        }
    }
}

/// A GitLab section name for a step: `step_3_restart_api` ([a-z0-9_],
/// unique through the index).
pub fn section_name(step: &StepRecord) -> String {
    let mut name = format!("step_{}_", step.index + 1);
    for c in step.name.chars().take(40) {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else {
            name.push('_');
        }
    }
    name.trim_end_matches('_').to_string()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl LineProgress {
    /// A failed step's last lines; in GitLab, outside its collapsed
    /// section, in a section of their own that starts open.
    fn failure(&mut self, step: &StepRecord) {
        let tail = failure_tail(step);
        if tail.is_empty() {
            return;
        }
        let name = format!("{}_failed", section_name(step));
        if self.gitlab {
            let _ = writeln!(
                self.out,
                "\x1b[0Ksection_start:{}:{name}[collapsed=false]\r\x1b[0K{}",
                unix_now(),
                tail[0]
            );
        } else {
            say(&mut self.out, &tail[0]);
        }
        for l in &tail[1..] {
            let _ = writeln!(self.out, "{l}");
        }
        if self.gitlab {
            let _ = writeln!(
                self.out,
                "\x1b[0Ksection_end:{}:{name}\r\x1b[0K",
                unix_now()
            );
        }
        let _ = self.out.flush();
    }
}

impl Progress for LineProgress {
    fn run_started(&mut self, rec: &RunRecord) {
        say(&mut self.out, &start_line(rec, self.color));
    }

    fn step_started(&mut self, step: &StepRecord) {
        let header = format!(
            "{} {} (line {}) on {}",
            paint(self.color, "1", "▶"),
            paint(self.color, "1", &one_line(&step.name)),
            step.line,
            one_line(&step.target)
        );
        if self.gitlab {
            let name = section_name(step);
            let _ = writeln!(
                self.out,
                "\x1b[0Ksection_start:{}:{name}[collapsed=true]\r\x1b[0K{header}",
                unix_now()
            );
            self.sections.insert(step.index, name);
        } else {
            let _ = writeln!(self.out, "{header}");
        }
        let _ = self.out.flush();
    }

    fn step_output(&mut self, step: &StepRecord, stream_is_err: bool, text: &str) {
        for l in self.lines.push(step.index, stream_is_err, text) {
            self.line(step, &l);
        }
        let _ = self.out.flush();
    }

    fn step_finished(&mut self, step: &StepRecord) {
        for l in self.lines.finish(step.index) {
            self.line(step, &l);
        }
        if let Some(name) = self.sections.remove(&step.index) {
            let _ = writeln!(
                self.out,
                "\x1b[0Ksection_end:{}:{name}\r\x1b[0K",
                unix_now()
            );
        }
        say(&mut self.out, &result_line(step, self.color));
        self.failure(step);
    }

    fn message(&mut self, text: &str) {
        say(&mut self.out, &visible_controls(text));
    }

    fn suspend(&mut self, f: &mut dyn FnMut()) {
        let _ = self.out.flush();
        f();
    }

    fn run_finished(&mut self, rec: &RunRecord) {
        say(&mut self.out, &summary_line(rec, self.color));
    }
}

/// One line to the progress output, flushed at once (it may be a pipe).
fn say(out: &mut Box<dyn Write + Send>, line: &str) {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

// ---------------------------------------------------------------- quiet

struct QuietProgress {
    out: Box<dyn Write + Send>,
    color: bool,
}

impl Progress for QuietProgress {
    fn run_started(&mut self, _rec: &RunRecord) {}
    fn step_started(&mut self, _step: &StepRecord) {}
    fn step_output(&mut self, _step: &StepRecord, _stream_is_err: bool, _text: &str) {}
    fn step_finished(&mut self, step: &StepRecord) {
        if step.status.is_failure() {
            say(&mut self.out, &result_line(step, self.color));
            for l in failure_tail(step) {
                say(&mut self.out, &l);
            }
        }
    }
    fn message(&mut self, text: &str) {
        say(&mut self.out, &visible_controls(text));
    }
    fn suspend(&mut self, f: &mut dyn FnMut()) {
        f();
    }
    fn run_finished(&mut self, rec: &RunRecord) {
        say(&mut self.out, &summary_line(rec, self.color));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_prefers_gitlab_then_tty() {
        assert_eq!(detect_mode(true, true), TerminalMode::GitLab);
        assert_eq!(detect_mode(false, true), TerminalMode::GitLab);
        assert_eq!(detect_mode(true, false), TerminalMode::Tty);
        assert_eq!(detect_mode(false, false), TerminalMode::Plain);
    }

    #[test]
    fn color_obeys_flag_then_no_color_then_clicolor_force() {
        use ColorChoice::*;
        assert!(color_enabled_with(Always, false, Some("1"), None));
        assert!(!color_enabled_with(Never, true, None, Some("1")));
        assert!(!color_enabled_with(Auto, true, Some("1"), Some("1")));
        assert!(color_enabled_with(Auto, true, Some(""), None));
        assert!(color_enabled_with(Auto, false, None, Some("1")));
        assert!(!color_enabled_with(Auto, false, None, Some("0")));
        assert!(!color_enabled_with(Auto, false, None, None));
        assert!(color_enabled_with(Auto, true, None, None));
    }

    #[test]
    fn line_buffers_split_on_any_line_ending_and_keep_partials() {
        let mut b = LineBuffers::default();
        assert_eq!(b.push(0, false, "a\r\nb"), ["a"]);
        assert_eq!(b.push(0, false, "c\rd\n"), ["bc", "d"]);
        assert_eq!(b.push(0, false, "x\r"), Vec::<String>::new());
        assert_eq!(b.push(0, false, "\ny"), ["x",]);
        assert_eq!(b.push(0, false, "\ntail"), ["y"]);
        assert_eq!(b.pending(0), Some("tail"));
        assert_eq!(b.pending(1), None);
        // The other stream's pieces never join this line.
        assert_eq!(b.push(0, true, "err "), Vec::<String>::new());
        assert_eq!(b.push(0, false, "!\n"), ["tail!"]);
        assert_eq!(b.push(0, true, "line\nrest"), ["err line"]);
        assert_eq!(b.finish(0), ["rest"]);
        assert_eq!(b.finish(0), Vec::<String>::new());
    }
}
