//! The TTY view: every output line of the running step streams above a
//! status line (spinner, step, elapsed, last line) that stays at the bottom;
//! lines are whole per stream (stdout `│`, stderr `┃`), cut to the width,
//! and a very chatty step is rate-limited on screen (the record and the log
//! keep everything). A failed step's last lines are printed when it ends.

use super::one_line;
use super::terminal::{
    LineBuffers, Progress, failure_tail, paint, result_line, start_line, summary_line,
};
use super::visible_controls;
use crate::record::{RunRecord, StepRecord};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one step shown per second before the rest is only counted.
const LINES_PER_SECOND: usize = 40;

/// The status line per running step, the step's output streamed above it.
pub(super) struct TtyProgress {
    multi: MultiProgress,
    bars: HashMap<usize, ProgressBar>,
    lines: LineBuffers,
    color: bool,
    width: usize,
    limit: HashMap<usize, RateLimit>,
}

/// A one-second window of lines shown, and what was held back.
struct RateLimit {
    window: Instant,
    shown: usize,
    held: usize,
}

impl RateLimit {
    fn new() -> Self {
        RateLimit {
            window: Instant::now(),
            shown: 0,
            held: 0,
        }
    }

    /// Whether one more line may be shown; at a new window, how many were
    /// held back in the last one.
    fn admit(&mut self) -> (bool, usize) {
        let mut held = 0;
        if self.window.elapsed() >= Duration::from_secs(1) {
            held = std::mem::take(&mut self.held);
            self.window = Instant::now();
            self.shown = 0;
        }
        if self.shown < LINES_PER_SECOND {
            self.shown += 1;
            (true, held)
        } else {
            self.held += 1;
            (false, held)
        }
    }
}

impl TtyProgress {
    pub(super) fn new(target: ProgressDrawTarget, color: bool, width: usize) -> Self {
        TtyProgress {
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            lines: LineBuffers::default(),
            color,
            width: width.max(20),
            limit: HashMap::new(),
        }
    }

    fn println(&self, line: &str) {
        // An error here means the terminal went away; progress is best effort.
        let _ = self.multi.println(line);
    }

    /// One output line above the status line: `  │ ` (stdout) or `  ┃ `
    /// (stderr, red), cut to the width.
    fn output_line(&mut self, step: usize, is_err: bool, text: &str) {
        let limit = self.limit.entry(step).or_insert_with(RateLimit::new);
        let (show, held) = limit.admit();
        if held > 0 {
            self.held_back(held);
        }
        if !show {
            return;
        }
        let bar = if is_err {
            paint(self.color, "31", "┃")
        } else {
            paint(self.color, "2", "│")
        };
        let text = cut(&visible_controls(text), self.width.saturating_sub(5));
        self.println(&format!("  {bar} {text}"));
    }

    fn held_back(&self, n: usize) {
        let note = format!("  … {n} more lines not shown here (all of them are in the record)");
        self.println(&paint(self.color, "2", &note));
    }
}

/// `text` cut to `width` characters, `…` marking the cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The terminal's width (stderr), 80 when it cannot be told.
pub(super) fn stderr_width() -> usize {
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the pointer given.
    let ok = unsafe { nix::libc::ioctl(2, nix::libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

impl Progress for TtyProgress {
    fn run_started(&mut self, rec: &RunRecord) {
        self.println(&start_line(rec, self.color));
    }

    fn step_started(&mut self, step: &StepRecord) {
        let template = if self.color {
            "{spinner:.cyan} {prefix:.bold} {elapsed:.dim} {wide_msg:.dim}"
        } else {
            "{spinner} {prefix} {elapsed} {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
        let target = if step.target == "local" {
            String::new()
        } else {
            format!(" on {}", one_line(&step.target))
        };
        bar.set_prefix(format!("{}{target}", one_line(&step.name)));
        bar.enable_steady_tick(Duration::from_millis(120));
        self.println(&format!(
            "{} {} (line {}){target}",
            paint(self.color, "1", "▶"),
            paint(self.color, "1", &one_line(&step.name)),
            step.line
        ));
        self.bars.insert(step.index, bar);
    }

    fn step_output(&mut self, step: &StepRecord, stream_is_err: bool, text: &str) {
        let lines = self.lines.push(step.index, stream_is_err, text);
        for l in &lines {
            self.output_line(step.index, stream_is_err, l);
        }
        let Some(bar) = self.bars.get(&step.index) else {
            return;
        };
        // The line being written (progress bars), else the last whole one.
        match self
            .lines
            .pending(step.index)
            .filter(|p| !p.trim().is_empty())
        {
            Some(partial) => bar.set_message(one_line(partial)),
            None => {
                if let Some(last) = lines.last() {
                    bar.set_message(one_line(last));
                }
            }
        }
    }

    fn step_finished(&mut self, step: &StepRecord) {
        for l in self.lines.finish(step.index) {
            self.output_line(step.index, false, &l);
        }
        if let Some(held) = self.limit.remove(&step.index).map(|l| l.held)
            && held > 0
        {
            self.held_back(held);
        }
        if let Some(bar) = self.bars.remove(&step.index) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.println(&result_line(step, self.color));
        for l in failure_tail(step) {
            self.println(&cut(&l, self.width));
        }
    }

    fn message(&mut self, text: &str) {
        self.println(&visible_controls(text));
    }

    fn suspend(&mut self, f: &mut dyn FnMut()) {
        self.multi.suspend(f);
    }

    fn run_finished(&mut self, rec: &RunRecord) {
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
        self.println(&summary_line(rec, self.color));
    }
}

/// A writer seen as a terminal by indicatif, with ANSI cursor movements.
pub(super) struct WriterTerm(pub(super) Mutex<Box<dyn Write + Send>>);

impl std::fmt::Debug for WriterTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriterTerm")
    }
}

impl WriterTerm {
    fn write(&self, s: &str) -> io::Result<()> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| io::Error::other("progress writer poisoned"))?;
        w.write_all(s.as_bytes())
    }
}

impl TermLike for WriterTerm {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}A"))?;
        }
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}B"))?;
        }
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}C"))?;
        }
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}D"))?;
        }
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write(s)?;
        self.write("\n")
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.write(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.write("\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("progress writer poisoned"))?
            .flush()
    }
}
