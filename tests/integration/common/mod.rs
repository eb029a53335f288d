//! Helpers for tests that drive the real `runbook` binary.
#![allow(dead_code)]

pub mod pty;
pub mod samples;
pub mod test;

pub use test::Test;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runbook"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory with a runbook in it. Clones share the directory,
/// which is removed when the last one is dropped.
#[derive(Clone)]
pub struct Scratch {
    pub dir: Arc<tempfile::TempDir>,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: Arc::new(
                tempfile::Builder::new()
                    .prefix("runbook-test-")
                    .tempdir()
                    .expect("tempdir"),
            ),
        }
    }

    /// A [`Test`] that runs the binary in this directory.
    pub fn test(&self) -> Test {
        Test::in_scratch(self.clone())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// A Command for the binary in this directory (for runs a test must
    /// spawn and signal; plain runs go through [`Test`]).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .env_remove("GITLAB_CI")
            .env_remove("RUNBOOK_SIGN_KEY")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Replaces what changes from run to run (times, durations, hashes, the
/// temp dir, operator and machine) so annotated copies can be compared.
pub fn normalize(text: &str, scratch: &Path) -> String {
    let mut s = text.replace(&scratch.display().to_string(), "[DIR]");
    let rules: &[(&str, &str)] = &[
        (r"runbook:(begin|end) [0-9a-f]{16}", "runbook:$1 [TOKEN]"),
        (r"\b[0-9a-f]{64}\b", "[SHA256]"),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
            "[TIME]",
        ),
        (r"\b\d+(\.\d+)?\s?(ms|s)\b", "[DUR]"),
        (r"\| Operator \| [^|\n]+ \|", "| Operator | [USER] |"),
        (r" by \S+ at ", " by [USER] at "),
    ];
    for (pat, rep) in rules {
        let re = regex::Regex::new(pat).expect("regex");
        s = re.replace_all(&s, *rep).into_owned();
    }
    let user = std::env::var("USER").unwrap_or_default();
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !host.is_empty() {
        s = s.replace(&host, "[MACHINE]");
    }
    if user.len() > 2 {
        s = s.replace(&format!("`{user}`"), "`[USER]`");
    }
    s
}

/// The generated block of a step in an annotated copy.
pub fn block_of(annotated: &str, step: &str) -> String {
    // The label is followed by ` chain=…`, ` eol` or the marker's end.
    let start = [" chain=", " -->", " eol -->"]
        .iter()
        .find_map(|end| annotated.find(&format!(" step={step}{end}")))
        .unwrap_or_else(|| panic!("no block for {step} in:\n{annotated}"));
    let rest = &annotated[start..];
    let end = rest.find("<!-- runbook:end").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Every file below `dir`, recursively (none when it cannot be read).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
