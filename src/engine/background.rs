//! The end of background steps (Runme's `background: true`): when the run
//! ends, however it ends, each one still running is stopped (its process
//! group, TERM then KILL) and its record says it ran in the background, how
//! it ended, and what it wrote.

use super::context::StepCtx;
use super::events::RunEvent;
use super::kinds::log_stem;
use super::{DEFAULT_MAX_OUTPUT_LINES, Engine};
use crate::exec::background::{Ended, GRACE};
use crate::exec::capture::{CaptureConfig, OutputCapture};
use crate::exec::process::{Interrupt, Stream};
use crate::record::OutputRecord;
use std::io::Read;
use std::path::Path;

/// Bytes of a background step's output read back for the record.
const MAX_READ: u64 = 16 << 20;

impl Engine {
    /// `--resume`: a background step an earlier run started is not running
    /// any more (that run stopped it), so it starts again before the run
    /// goes on; the flow when it cannot.
    pub(super) async fn restart_background(&mut self) -> Option<super::StepFlow> {
        if !self.opts.resume || self.opts.dry_run {
            return None;
        }
        let first = self.first_step();
        for i in 0..first.min(self.doc.steps.len()) {
            let step = &self.doc.steps[i];
            let done = self.status.get(&step.name).is_some_and(|s| s.is_done());
            if step.attrs.background && done && step.is_shell() {
                let flow = self.run_step(i).await;
                if matches!(flow, super::StepFlow::Stop(_)) {
                    return Some(flow);
                }
            }
        }
        None
    }

    /// Stops every background step and records how it ended.
    pub(super) async fn stop_background(&mut self) {
        let procs = std::mem::take(&mut self.res.background);
        for (name, mut bg) in procs {
            let immediate = *self.interrupts.borrow() == Interrupt::Immediate;
            let ended = bg.stop(GRACE, immediate).await;
            let Some(mut rec) = self.background.iter().find(|r| r.name == name).cloned() else {
                continue;
            };
            rec.reason = Some(format!("ran in the background; {}", ended.describe()));
            if let Ended::OnItsOwn(c) = ended {
                rec.exit_code = Some(c);
            }
            match self.background_output(&name, &bg.log) {
                Ok(out) => rec.output = Some(out),
                Err(e) => self.sinks.message(&format!(
                    "warning: cannot read the output of background step `{name}`: {e}"
                )),
            }
            let _ = std::fs::remove_file(&bg.log);
            self.sinks
                .message(&format!("background step `{name}` {}", ended.describe()));
            self.sinks.emit(RunEvent::StepFinished {
                step: &rec,
                ctx: &StepCtx::default(),
                shell: None,
            });
        }
    }

    /// What a background step wrote, cleaned and cut like any step's output.
    fn background_output(&self, name: &str, raw: &Path) -> std::io::Result<OutputRecord> {
        let cfg = CaptureConfig {
            max_lines: self
                .opts
                .max_output_lines
                .or(self.doc.front.max_output_lines)
                .unwrap_or(DEFAULT_MAX_OUTPUT_LINES),
            log_path: Some(self.opts.logs_dir.join(format!("{}.log", log_stem(name)))),
            keep_stdout: 0,
        };
        let mut capture = OutputCapture::new(cfg, &self.redactor)?;
        let mut file = std::fs::File::open(raw)?.take(MAX_READ);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            capture.push(Stream::Stdout, &buf[..n]);
        }
        Ok(capture.finish()?.output.into())
    }
}
