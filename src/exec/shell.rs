//! The shell "kernel": shell steps behave like cells of one notebook.
//!
//! Each step runs in a fresh shell process (so it can be timed out, killed
//! and captured on its own), but what it exported and where it `cd`-ed
//! carries over to the next shell step, as if they were typed into one
//! terminal. [`ShellKernel::prepare`] writes a script that:
//!
//! 1. restores the exported environment saved by the previous step
//!    (sourcing its `export -p` output, after unsetting what it unset) and
//!    its working directory (the first step inherits both from the runner),
//! 2. installs an EXIT trap that saves `export -p` and `$PWD` into the state
//!    directory and exits with the step's own status,
//! 3. applies the step's extra environment and `cwd` (for this step only:
//!    they are undone before saving unless the step changed them itself),
//! 4. applies the prelude (`set -eo pipefail` for bash by default),
//! 5. runs the user's code verbatim, in the same shell (not a subshell), so
//!    `export FOO=1` and `cd /tmp` take effect. The code starts on line 2
//!    of the script, so shell error messages are off by one line.
//!
//! All of this is done with shell builtins: no extra process per step.
//! A step that replaces the EXIT trap, or is killed (timeout, interrupt),
//! does not save its state: the next step starts from the previous state.
//!
//! The trap writes `env.new` and `cwd.new`; the kernel adopts them (renames
//! them to `env` and `cwd`) when it prepares the next step, and only when
//! both were written, so a step killed mid-save cannot leave half a state.
//!
//! Works with bash, sh (dash) and zsh. `export -p` output is in each
//! shell's own syntax (bash and zsh use `$'...'`, which dash cannot read),
//! so a kernel serves one shell program: give each shell its own kernel
//! and state directory.

use super::process::ProcessSpec;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The state carried from one shell step to the next (saved for
/// `--resume`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellState {
    /// Shell code that restores the exported environment (`unset` lines
    /// and `export -p` output).
    pub env_script: Option<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// The shell that wrote `env_script` (`export -p` output is in that
    /// shell's own syntax).
    #[serde(default)]
    pub shell: Option<String>,
}

pub struct ShellKernel {
    dir: PathBuf,
    program: String,
    prelude: String,
    counter: AtomicU64,
}

const ENV: &str = "env";
const CWD: &str = "cwd";
const ENV_NEW: &str = "env.new";
const CWD_NEW: &str = "cwd.new";

impl ShellKernel {
    /// `state_dir` holds the saved state and the step scripts (created if
    /// missing); `program` is the shell (`bash`, `sh`, `zsh`, or a path);
    /// `prelude` is shell code run before each step's code.
    pub fn new(state_dir: &Path, program: &str, prelude: &str) -> io::Result<Self> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", state_dir.display()),
            )
        })?;
        let dir = std::fs::canonicalize(state_dir)?;
        Ok(ShellKernel {
            dir,
            program: program.to_string(),
            prelude: prelude.to_string(),
            counter: AtomicU64::new(0),
        })
    }

    /// The shell program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// Adopts the state saved by the last step's EXIT trap, if complete.
    fn absorb(&self) -> io::Result<()> {
        let env_new = self.dir.join(ENV_NEW);
        let cwd_new = self.dir.join(CWD_NEW);
        if cwd_new.exists() {
            if env_new.exists() {
                std::fs::rename(&env_new, self.dir.join(ENV))?;
            }
            std::fs::rename(&cwd_new, self.dir.join(CWD))?;
        } else if env_new.exists() {
            std::fs::remove_file(&env_new)?;
        }
        Ok(())
    }

    /// Writes the script for one step and returns how to run it. The
    /// caller sets the timeout (and may add stdin).
    ///
    /// `cwd_override` is relative to the carried-over directory.
    /// `extra_env` names must be shell identifiers.
    pub fn prepare(
        &self,
        code: &str,
        cwd_override: Option<&str>,
        extra_env: &[(String, String)],
    ) -> io::Result<ProcessSpec> {
        for (name, _) in extra_env {
            if !is_identifier(name) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid environment variable name `{name}`"),
                ));
            }
        }
        self.absorb()?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        if n > 0 {
            let _ = std::fs::remove_file(self.dir.join(format!("step-{}.sh", n - 1)));
        }
        let saved_cwd = match std::fs::read_to_string(self.dir.join(CWD)) {
            Ok(s) => Some(s.strip_suffix('\n').unwrap_or(&s).to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let has_env = self.dir.join(ENV).exists();

        let mut s = String::with_capacity(code.len() + 4096);
        let dir = quote(&self.dir.to_string_lossy());
        // Everything before the user's code is on one line.
        s.push_str("__rb_s=");
        s.push_str(&dir);
        s.push(';');
        if has_env {
            s.push_str(" . \"$__rb_s/env\";");
        }
        if let Some(cwd) = &saved_cwd {
            s.push_str(" cd -- ");
            s.push_str(&quote(cwd));
            s.push_str(" || exit 1;");
        }
        // The EXIT trap.
        s.push_str(" __rb_exit() { __rb_rc=$?; set +e; trap - EXIT;");
        for (i, (name, value)) in extra_env.iter().enumerate() {
            // Undo the step's own environment unless the step changed it.
            s.push_str(&format!(
                " if [ \"${{{name}-}}\" = {v} ]; then if [ -n \"$__rb_h{i}\" ]; then {name}=$__rb_o{i}; else unset {name}; fi; fi;",
                v = quote(value)
            ));
        }
        if cwd_override.is_some() {
            s.push_str(
                " if [ \"$PWD\" = \"$__rb_od\" ]; then __rb_d=$__rb_pd; else __rb_d=$PWD; fi;",
            );
        } else {
            s.push_str(" __rb_d=$PWD;");
        }
        s.push_str(" {");
        for name in inherited_names() {
            s.push_str(&format!(
                " [ -n \"${{{name}+x}}\" ] || echo 'unset {name}';"
            ));
        }
        s.push_str(" export -p; } > \"$__rb_s/env.new\" && printf '%s\\n' \"$__rb_d\" > \"$__rb_s/cwd.new\"; exit $__rb_rc; };");
        s.push_str(" trap __rb_exit EXIT;");
        for (i, (name, value)) in extra_env.iter().enumerate() {
            s.push_str(&format!(
                " __rb_o{i}=${{{name}-}}; __rb_h{i}=${{{name}+x}}; {name}={v}; export {name};",
                v = quote(value)
            ));
        }
        if let Some(cwd) = cwd_override {
            s.push_str(" __rb_pd=$PWD; cd -- ");
            s.push_str(&quote(cwd));
            s.push_str(" || exit 1; __rb_od=$PWD;");
        }
        let prelude = self.prelude.trim();
        if !prelude.is_empty() {
            s.push(' ');
            s.push_str(prelude);
        }
        s.push('\n');
        s.push_str(code);
        if !code.ends_with('\n') {
            s.push('\n');
        }

        let path = self.dir.join(format!("step-{n}.sh"));
        std::fs::write(&path, s).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
        })?;
        Ok(ProcessSpec::new(
            self.program.clone(),
            vec![path.to_string_lossy().into_owned()],
        ))
    }

    /// The state the next step would start from.
    pub fn snapshot(&self) -> ShellState {
        // A failure to adopt new files leaves the previous state, which is
        // what the next step would see as well.
        let _ = self.absorb();
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).ok();
        let env_script = read(ENV);
        ShellState {
            shell: env_script.as_ref().map(|_| self.program.clone()),
            env_script,
            cwd: read(CWD).map(|s| s.strip_suffix('\n').unwrap_or(&s).to_string()),
        }
    }

    /// Makes the next step start from `state` (for `--resume`). Refuses an
    /// environment saved by another shell.
    pub fn restore(&mut self, state: ShellState) -> io::Result<()> {
        if let (Some(_), Some(shell)) = (&state.env_script, &state.shell)
            && shell != &self.program
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the saved shell state was written by {shell}, not {}",
                    self.program
                ),
            ));
        }
        for name in [ENV_NEW, CWD_NEW] {
            match std::fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        for (name, value) in [
            (ENV, state.env_script),
            (CWD, state.cwd.map(|c| format!("{c}\n"))),
        ] {
            let path = self.dir.join(name);
            match value {
                Some(v) => std::fs::write(&path, v)?,
                None => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
            }
        }
        Ok(())
    }
}

/// Names of the runner's environment that a step may unset: the next step
/// inherits them again unless the saved state unsets them.
fn inherited_names() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.to_str().map(str::to_string))
        .filter(|k| is_identifier(k) && k != "_")
        .collect()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Single-quotes `s` for any POSIX shell.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A step for another interpreter (`python3`, `node`, `ruby`, `perl`, or
/// an `interpreter="python3 -u"` command line): the code is written to a
/// script file in `dir` and run as `command... file`. The command line is
/// split like a shell would (quotes, backslashes), without expansion.
pub fn interpreter_spec(command: &str, code: &str, dir: &Path) -> io::Result<ProcessSpec> {
    let words = shell_words::split(command).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interpreter `{command}`: {e}"),
        )
    })?;
    let Some((program, args)) = words.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty interpreter command".to_string(),
        ));
    };
    let base = Path::new(program)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or(program);
    let suffix = if base.starts_with("python") {
        ".py"
    } else if base.starts_with("node") {
        ".js"
    } else if base.starts_with("ruby") {
        ".rb"
    } else if base.starts_with("perl") {
        ".pl"
    } else {
        ""
    };
    std::fs::create_dir_all(dir)?;
    let file = tempfile::Builder::new()
        .prefix("step-")
        .suffix(suffix)
        .tempfile_in(dir)?;
    std::fs::write(file.path(), code)?;
    let (_, path) = file.keep().map_err(|e| e.error)?;
    let mut args = args.to_vec();
    args.push(path.to_string_lossy().into_owned());
    Ok(ProcessSpec::new(program.clone(), args))
}
