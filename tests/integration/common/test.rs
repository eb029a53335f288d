//! A builder for one run of the real binary, after casey/just's
//! `tests/test.rs`: the scratch directory and the files in it, the command
//! line, the environment and stdin, and what is expected of the run.
//!
//! ```ignore
//! Test::new()
//!     .runbook("```bash {name=a}\necho hi\n```\n")
//!     .args(["run", "runbook.md", "-o", "out.md"])
//!     .stderr_contains("a")
//!     .run();
//! ```
//!
//! The exit status is always checked (0 unless `.status(..)` says
//! otherwise; `.any_status()` opts out); stdout and stderr are checked only
//! when asked. Every mismatch is reported at once, with the command line,
//! the exit status, stdout and stderr.

use super::{Scratch, bin};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

#[must_use = "a Test does nothing until `.run()`"]
pub struct Test {
    scratch: Scratch,
    current_dir: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
    status: Option<i32>,
    stdout: Option<String>,
    stderr: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
    files: Vec<(String, String)>,
    context: Vec<String>,
}

impl Default for Test {
    fn default() -> Self {
        Test::new()
    }
}

impl Test {
    /// A test in a fresh scratch directory.
    pub fn new() -> Self {
        Test::in_scratch(Scratch::new())
    }

    /// A test in an existing scratch directory (to run several commands on
    /// the same files).
    pub fn in_scratch(scratch: Scratch) -> Self {
        Test {
            scratch,
            current_dir: None,
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            status: Some(0),
            stdout: None,
            stderr: None,
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
            files: Vec::new(),
            context: Vec::new(),
        }
    }

    /// The scratch directory.
    pub fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    /// A path in the scratch directory (for markers the runbook touches).
    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path(name)
    }

    /// Writes `runbook.md` in the scratch directory.
    pub fn runbook(self, text: &str) -> Self {
        self.file("runbook.md", text)
    }

    /// Writes a file (parent directories created) in the scratch directory.
    pub fn file(self, name: &str, text: &str) -> Self {
        let path = self.scratch.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Runs in `dir` instead of the scratch directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Text on stdin (otherwise stdin is /dev/null).
    pub fn stdin(mut self, text: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// The expected exit code (0 by default).
    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// Any exit status is accepted (the caller checks `Output::code`).
    pub fn any_status(mut self) -> Self {
        self.status = None;
        self
    }

    /// Stdout must be exactly `text`.
    pub fn stdout(mut self, text: impl Into<String>) -> Self {
        self.stdout = Some(text.into());
        self
    }

    /// Stderr must be exactly `text`.
    pub fn stderr(mut self, text: impl Into<String>) -> Self {
        self.stderr = Some(text.into());
        self
    }

    pub fn stdout_contains(mut self, text: impl Into<String>) -> Self {
        self.stdout_contains.push(text.into());
        self
    }

    pub fn stderr_contains(mut self, text: impl Into<String>) -> Self {
        self.stderr_contains.push(text.into());
        self
    }

    /// After the run, the file `name` (in the scratch directory) holds
    /// exactly `text`.
    pub fn expect_file(mut self, name: &str, text: impl Into<String>) -> Self {
        self.files.push((name.to_string(), text.into()));
        self
    }

    /// A note shown first in a failure message (which case of a loop).
    pub fn context(mut self, note: impl Into<String>) -> Self {
        self.context.push(note.into());
        self
    }

    /// The command line, runnable in a shell, for failure messages.
    fn describe(&self, dir: &Path) -> String {
        let mut s = format!("cd {} && ", quote(dir.as_os_str()));
        if let Some(input) = &self.stdin {
            let input = String::from_utf8_lossy(input);
            let _ = write!(s, "printf %s {} | ", quote(OsStr::new(input.as_ref())));
        }
        s.push_str("env -u GITLAB_CI");
        for (k, v) in &self.env {
            if v.is_none() {
                let _ = write!(s, " -u {}", k.to_string_lossy());
            }
        }
        s.push_str(" NO_COLOR=1");
        for (k, v) in &self.env {
            if let Some(v) = v {
                let _ = write!(s, " {}={}", k.to_string_lossy(), quote(v));
            }
        }
        let _ = write!(s, " {}", quote(bin().as_os_str()));
        for a in &self.args {
            let _ = write!(s, " {}", quote(a));
        }
        if self.stdin.is_none() {
            s.push_str(" < /dev/null");
        }
        s
    }

    /// Runs the binary and checks every expectation; panics with the whole
    /// story (command, status, stdout, stderr and what differed) if any
    /// fails.
    #[track_caller]
    pub fn run(self) -> Output {
        let dir = self
            .current_dir
            .clone()
            .unwrap_or_else(|| self.scratch.dir.path().to_path_buf());
        let mut cmd = Command::new(bin());
        cmd.args(&self.args)
            .current_dir(&dir)
            .env_remove("GITLAB_CI")
            // A developer's signing key never signs a test's copies.
            .env_remove("RUNBOOK_SIGN_KEY")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let command = self.describe(&dir);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command}: {e}"));
        let writer = self.stdin.clone().map(|input| {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            // A thread, so a child that does not read stdin cannot block us
            // (and a closed pipe is not our failure).
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            })
        });
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait for {command}: {e}"));
        if let Some(w) = writer {
            let _ = w.join();
        }
        let output = Output {
            scratch: self.scratch.clone(),
            command,
            exit: out.status,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };

        let mut failures = Vec::new();
        if let Some(code) = self.status
            && out.status.code() != Some(code)
        {
            failures.push(format!("exit status: expected {code}, got {}", out.status));
        }
        if let Some(expected) = &self.stdout
            && &output.stdout != expected
        {
            failures.push(format!("stdout: expected exactly\n{expected}"));
        }
        if let Some(expected) = &self.stderr
            && &output.stderr != expected
        {
            failures.push(format!("stderr: expected exactly\n{expected}"));
        }
        for s in &self.stdout_contains {
            if !output.stdout.contains(s.as_str()) {
                failures.push(format!("stdout: expected to contain\n{s}"));
            }
        }
        for s in &self.stderr_contains {
            if !output.stderr.contains(s.as_str()) {
                failures.push(format!("stderr: expected to contain\n{s}"));
            }
        }
        for (name, expected) in &self.files {
            match std::fs::read_to_string(self.scratch.path(name)) {
                Ok(text) if &text == expected => {}
                Ok(text) => failures.push(format!(
                    "file {name}: expected exactly\n{expected}\n--- but it holds\n{text}"
                )),
                Err(e) => failures.push(format!("file {name}: expected it, but {e}")),
            }
        }
        if !failures.is_empty() {
            let context: String = self.context.iter().map(|c| format!("{c}\n")).collect();
            panic!("{context}{}\n\n{}", output.story(), failures.join("\n\n"));
        }
        output
    }
}

/// What a run printed, and its scratch directory (kept until dropped).
pub struct Output {
    pub scratch: Scratch,
    /// The command line, as `describe` wrote it.
    pub command: String,
    pub exit: ExitStatus,
    /// The exit code, -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path(name)
    }

    pub fn read(&self, name: &str) -> String {
        self.scratch.read(name)
    }

    /// A new test in the same scratch directory.
    pub fn test(&self) -> Test {
        self.scratch.test()
    }

    /// The command, its exit status and what it printed, for messages.
    pub fn story(&self) -> String {
        format!(
            "command: {}\n{}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.exit, self.stdout, self.stderr
        )
    }
}

/// Single-quotes a word for the shell unless it is plainly safe.
fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
