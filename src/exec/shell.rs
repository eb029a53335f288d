//! The shell "kernel": shell steps behave like cells of one notebook.
//!
//! Each step runs in a fresh shell process (so it can be timed out, killed
//! and captured on its own), but what it exported and where it `cd`-ed
//! carries over to the next shell step, as if they were typed into one
//! terminal. [`ShellKernel::prepare`] builds a
//! `SHELL -c PREAMBLE SHELL RESTORE PRELUDE CODE` invocation whose one-line
//! preamble:
//!
//! 1. evaluates RESTORE: what the previous step changed in the exported
//!    environment (`export`/`unset`) and its `cd` (the first step
//!    inherits the runner's environment and directory),
//! 2. installs an EXIT trap that writes `export -p` and the directory to
//!    a state file and exits with the step's own status,
//! 3. applies the step's extra environment and `cwd` (for this step only:
//!    they are undone before saving unless the step changed them itself),
//! 4. evaluates the prelude (`set -eo pipefail` for bash by default),
//! 5. evaluates the user's code verbatim, in the same shell (not a
//!    subshell), so `export FOO=1` and `cd /tmp` take effect, and shell
//!    error messages give the line numbers of the step itself. Code too
//!    large for one argument is written to a file and sourced instead.
//!
//! All of this is done with shell builtins: no extra process per step. The
//! kernel parses the saved `export -p` output (bash, dash and zsh quoting)
//! and hands the next step only the difference from the runner's own
//! environment, so a step does not re-parse the whole environment, and the
//! shell writes one small file per step, on tmpfs (`/dev/shm`) when there
//! is one: on a disk filesystem that alone costs milliseconds per step.
//!
//! A step that replaces the EXIT trap, or is killed (timeout, interrupt),
//! does not save its state: the next step starts from the previous state.
//! The state file ends with an end mark and is only adopted when the mark
//! is there, so a step killed mid-save cannot leave half a state.
//!
//! Values are read as UTF-8 (a value that is not is restored with U+FFFD in
//! place of the bad bytes). Declarations the parser cannot restore
//! portably (zsh's tied `export -T PATH path=(...)`) are replayed verbatim,
//! which only the same shell understands: [`ShellKernel::restore`] refuses
//! such a state from another shell.

use super::process::ProcessSpec;
use crate::text::is_identifier;
use serde::{Deserialize, Serialize};
use state::{parse_state, statements};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

mod state;

/// The state carried from one shell step to the next (saved for
/// `--resume`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellState {
    /// Shell code that restores the exported environment (`export NAME=...`
    /// and `unset NAME` statements). `None` before the first step.
    pub env_script: Option<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// The shell that wrote the state.
    #[serde(default)]
    pub shell: Option<String>,
}

/// One exported variable as saved.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Var {
    /// Exported with this value.
    Set(String, String),
    /// Exported without a value (`export NAME` of an unset variable).
    Declared(String),
    /// A declaration replayed as it was written (zsh tied parameters).
    Raw(Option<String>, String),
}

impl Var {
    fn name(&self) -> Option<&str> {
        match self {
            Var::Set(n, _) | Var::Declared(n) => Some(n),
            Var::Raw(n, _) => n.as_deref(),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Saved {
    /// `None` before the first step saved anything: inherit everything.
    vars: Option<Vec<Var>>,
    cwd: Option<String>,
    /// The `export -p` text `vars` was parsed from: most steps change
    /// nothing, and comparing is much cheaper than parsing again.
    raw_env: String,
    /// The restore script for the next step, once computed (the runner's
    /// environment is taken as fixed during a run).
    restore: Option<String>,
    /// The script of [`ShellKernel::snapshot`], once computed (the runner
    /// saves a snapshot after every step).
    full: Option<String>,
    /// What `--resume` gave back, applied while `vars` is `None` (until a
    /// step saves its own state): `export`/`unset` statements over the
    /// resuming run's own environment.
    base: Option<String>,
}

pub struct ShellKernel {
    dir: PathBuf,
    /// Where the trap writes the state (tmpfs when there is one).
    hot: PathBuf,
    _hot_guard: Option<tempfile::TempDir>,
    program: String,
    /// `program` found in `PATH` once: spawning by bare name makes the
    /// system try every `PATH` entry before it on every step.
    executable: String,
    prelude: String,
    counter: AtomicU64,
    saved: Mutex<Saved>,
    /// Applied to every value a snapshot holds (it goes to the journal).
    redactor: crate::secrets::Redactor,
}

/// Written by the EXIT trap, adopted by the next `prepare`.
const STATE_NEW: &str = "state.new";
const END_MARK: &str = "#runbook-end\n";

/// Arguments longer than this go through a file (Linux limits one argument
/// to 128 KiB).
const MAX_INLINE: usize = 100 * 1024;

/// Shell function setting `__rb_r` to its argument single-quoted.
const QUOTE_FN: &str = "__rb_q() { __rb_r=; __rb_t=$1; while :; do case $__rb_t in *\\'*) __rb_r=\"$__rb_r${__rb_t%%\\'*}'\\\\''\"; __rb_t=${__rb_t#*\\'};; *) break;; esac; done; __rb_r=\"'$__rb_r$__rb_t'\"; };";

impl ShellKernel {
    /// `state_dir` holds the kernel's files (created if missing); `program`
    /// is the shell (`bash`, `sh`, `zsh`, or a path); `prelude` is shell
    /// code run before each step's code.
    pub fn new(state_dir: &Path, program: &str, prelude: &str) -> io::Result<Self> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", state_dir.display()),
            )
        })?;
        let dir = std::fs::canonicalize(state_dir)?;
        // Step files hold rendered secrets: the directory is the user's alone.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let hot_guard = tempfile::Builder::new()
            .prefix("runbook-shell-")
            .tempdir_in("/dev/shm")
            .ok();
        let hot = match &hot_guard {
            Some(t) => t.path().to_path_buf(),
            None => dir.clone(),
        };
        Ok(ShellKernel {
            dir,
            hot,
            _hot_guard: hot_guard,
            program: program.to_string(),
            executable: find_in_path(program),
            prelude: prelude.to_string(),
            counter: AtomicU64::new(0),
            saved: Mutex::new(Saved::default()),
            redactor: crate::secrets::Redactor::empty(),
        })
    }

    /// Redacts the values of every [`snapshot`](Self::snapshot) with `r`.
    pub fn with_redactor(mut self, r: crate::secrets::Redactor) -> Self {
        self.redactor = r;
        self
    }

    /// The shell program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Saved> {
        // The state is plain data: a panic elsewhere cannot leave it torn.
        self.saved.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adopts the state saved by the last step's EXIT trap, if complete.
    fn absorb(&self) -> io::Result<()> {
        let new = self.hot.join(STATE_NEW);
        let bytes = match std::fs::read(&new) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        std::fs::remove_file(&new)?;
        let text = String::from_utf8_lossy(&bytes);
        // Cut short (killed while saving): keep the previous state.
        let Some(body) = text.strip_suffix(END_MARK) else {
            return Ok(());
        };
        let (env, cd) = match body.rfind("\ncd -- ") {
            Some(i) => body.split_at(i + 1),
            None => (body, ""),
        };
        let mut saved = self.lock();
        saved.base = None;
        let cwd = parse_state(cd).1;
        if cwd.is_some() && cwd != saved.cwd {
            saved.cwd = cwd;
            saved.restore = None;
        }
        if saved.vars.is_none() || saved.raw_env != env {
            saved.vars = Some(parse_state(env).0);
            saved.raw_env = env.to_string();
            saved.restore = None;
            saved.full = None;
        }
        Ok(())
    }

    /// Returns how to run one step's code. The caller sets the timeout
    /// (and may add stdin).
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
            for old in [
                self.hot.join(format!("restore-{}.sh", n - 1)),
                self.dir.join(format!("step-{}.sh", n - 1)),
            ] {
                let _ = std::fs::remove_file(old);
            }
        }
        let restore = {
            let mut saved = self.lock();
            match &saved.restore {
                Some(r) => r.clone(),
                None => {
                    let r = restore_script(&saved, None);
                    saved.restore = Some(r.clone());
                    r
                }
            }
        };

        // Nothing variable goes on the command line (any user can read it
        // with `ps`): the restore script, the prelude, the code and the
        // step's environment (secrets) travel in environment variables,
        // which only the same user can read, and are unset at once.
        let mut env: Vec<(String, String)> = Vec::with_capacity(extra_env.len() + 3);
        let mut s = String::with_capacity(1024);
        // All on one line: bash numbers the lines of an `eval` from the
        // line of the `eval` itself.
        s.push_str("__rb_e=${__RB_E-}; __rb_p=${__RB_P-}; __rb_c=${__RB_C-}; __rb_d=${__RB_D-};");
        for i in 0..extra_env.len() {
            s.push_str(&format!(" __rb_v{i}=${{__RB_V{i}-}};"));
        }
        s.push_str(" unset __RB_E __RB_P __RB_C __RB_D");
        for i in 0..extra_env.len() {
            s.push_str(&format!(" __RB_V{i}"));
        }
        s.push(';');
        if restore.len() <= MAX_INLINE {
            env.push(("__RB_E".into(), restore));
            s.push_str(" eval \"$__rb_e\";");
        } else {
            let path = self.hot.join(format!("restore-{n}.sh"));
            write_new(&path, &restore)?;
            s.push_str(" . ");
            s.push_str(&quote(&path.to_string_lossy()));
            s.push(';');
        }
        s.push(' ');
        s.push_str(QUOTE_FN);
        // The EXIT trap.
        s.push_str(" __rb_exit() { __rb_rc=$?; set +e; trap - EXIT;");
        for (i, (name, _)) in extra_env.iter().enumerate() {
            // Undo the step's own environment unless the step changed it.
            s.push_str(&format!(
                " if [ \"${{{name}-}}\" = \"$__rb_v{i}\" ]; then if [ -n \"$__rb_h{i}\" ]; then {name}=$__rb_o{i}; else unset {name}; fi; fi;"
            ));
        }
        if cwd_override.is_some() {
            s.push_str(
                " if [ \"$PWD\" = \"$__rb_od\" ]; then __rb_q \"$__rb_pd\"; else __rb_q \"$PWD\"; fi;",
            );
        } else {
            s.push_str(" __rb_q \"$PWD\";");
        }
        s.push_str(" { export -p; printf 'cd -- %s || exit 1\\n#runbook-end\\n' \"$__rb_r\"; } > ");
        s.push_str(&quote(&self.hot.join(STATE_NEW).to_string_lossy()));
        s.push_str("; exit $__rb_rc; }; trap __rb_exit EXIT;");
        for (i, (name, value)) in extra_env.iter().enumerate() {
            s.push_str(&format!(
                " __rb_o{i}=${{{name}-}}; __rb_h{i}=${{{name}+x}}; {name}=$__rb_v{i}; export {name};"
            ));
            env.push((format!("__RB_V{i}"), value.clone()));
        }
        if let Some(cwd) = cwd_override {
            s.push_str(" __rb_pd=$PWD; cd -- \"$__rb_d\" || exit 1; __rb_od=$PWD;");
            env.push(("__RB_D".into(), cwd.to_string()));
        }
        s.push_str(" eval \"$__rb_p\";");
        env.push(("__RB_P".into(), self.prelude.clone()));
        if code.len() <= MAX_INLINE {
            s.push_str(" eval \"$__rb_c\"");
            env.push(("__RB_C".into(), code.to_string()));
        } else {
            let path = self.dir.join(format!("step-{n}.sh"));
            write_new(&path, code)?;
            s.push_str(" . ");
            s.push_str(&quote(&path.to_string_lossy()));
        }
        let args = vec!["-c".to_string(), s, self.program.clone()];
        let mut spec = ProcessSpec::new(self.executable.clone(), args);
        spec.env = env;
        Ok(spec)
    }

    /// The state the next step would start from.
    /// The variables the last step left exported, as (name, value), so
    /// another interpreter (python, node, ...) can run in the same
    /// environment. Empty before the first step.
    pub fn exported(&self) -> Vec<(String, String)> {
        let _ = self.absorb();
        let saved = self.lock();
        let from_base = match (&saved.vars, &saved.base) {
            (None, Some(base)) => Some(parse_state(base).0),
            _ => None,
        };
        saved
            .vars
            .as_ref()
            .or(from_base.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Var::Set(n, val) => Some((n.clone(), val.clone())),
                _ => None,
            })
            .collect()
    }

    /// The working directory the next step starts in, when it moved.
    pub fn cwd(&self) -> Option<String> {
        let _ = self.absorb();
        self.lock().cwd.clone()
    }

    /// What the steps changed (for the `--resume` journal): the variables
    /// they exported or changed and the runner's variables they unset,
    /// values redacted (before quoting, so a `'` in a secret cannot split
    /// it), and the directory. Never the runner's own environment.
    pub fn snapshot(&self) -> ShellState {
        // A failure to adopt a new state leaves the previous one, which is
        // what the next step would see as well.
        let _ = self.absorb();
        let mut saved = self.lock();
        if saved.vars.is_none() && saved.cwd.is_none() && saved.base.is_none() {
            return ShellState::default();
        }
        let env_script = match (&saved.vars, &saved.full) {
            (None, _) => saved.base.clone(),
            (Some(_), Some(full)) => Some(full.clone()),
            (Some(_), None) => {
                let redact = |v: &str| self.redactor.redact(v);
                let full = restore_script(&saved, Some(&redact));
                saved.full = Some(full.clone());
                Some(full)
            }
        };
        ShellState {
            env_script,
            cwd: saved.cwd.clone(),
            shell: Some(self.program.clone()),
        }
    }

    /// Makes the next step start from `state` (for `--resume`): what the
    /// steps changed, over this process's own environment. A variable whose
    /// saved value was redacted is not restored (it would come back as the
    /// placeholder); its name is returned. Refuses a state holding
    /// declarations only another shell understands.
    pub fn restore(&mut self, state: ShellState) -> io::Result<Vec<String>> {
        let (base, raw, skipped) = match &state.env_script {
            Some(script) => resumable(script),
            None => (None, false, Vec::new()),
        };
        if raw
            && let Some(shell) = &state.shell
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
        match std::fs::remove_file(self.hot.join(STATE_NEW)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut saved = self.lock();
        *saved = Saved {
            vars: None,
            cwd: state.cwd,
            raw_env: String::new(),
            restore: None,
            full: None,
            base,
        };
        Ok(skipped)
    }
}

/// A saved `--resume` script made safe to replay: its `unset` and `export`
/// statements re-quoted, without the variables whose value was redacted.
/// Returns (script, holds shell-specific declarations, skipped names).
fn resumable(script: &str) -> (Option<String>, bool, Vec<String>) {
    let redacted = |s: &str| s.contains("[REDACTED:");
    let mut out = String::new();
    let mut skipped = Vec::new();
    let unset: Vec<String> = statements(script)
        .iter()
        .filter(|st| st.words.first().is_some_and(|w| w.value == "unset"))
        .flat_map(|st| st.words[1..].iter().map(|w| w.value.clone()))
        .filter(|n| is_identifier(n))
        .collect();
    let (vars, _) = parse_state(script);
    let declared: HashSet<&str> = vars
        .iter()
        .filter_map(|v| match v {
            Var::Declared(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let unset: Vec<&String> = unset
        .iter()
        .filter(|n| !declared.contains(n.as_str()))
        .collect();
    if !unset.is_empty() {
        out.push_str("unset ");
        out.push_str(
            &unset
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        out.push('\n');
    }
    let mut raw = false;
    for v in &vars {
        match v {
            Var::Set(name, value) if redacted(value) => skipped.push(name.clone()),
            Var::Set(name, value) => {
                out.push_str(&format!("export {name}={}\n", quote(value)));
            }
            Var::Declared(name) => out.push_str(&format!("unset {name}; export {name}\n")),
            Var::Raw(name, text) if redacted(text) => {
                skipped.extend(name.clone());
            }
            Var::Raw(_, text) => {
                raw = true;
                out.push_str(text);
                out.push('\n');
            }
        }
    }
    (Some(out), raw, skipped)
}

/// Writes a file that does not exist yet (never truncates one in place).
/// Mode 0600: the file holds a step's code or environment, secrets
/// rendered in.
fn write_new(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// Shell code restoring `saved` over the runner's environment: the
/// variables that differ from it, `unset` for the runner's variables the
/// steps unset, and (for the next step, when `redact` is `None`) the `cd`.
/// With `redact` (a snapshot for the journal), every value goes through it
/// before it is quoted, and there is no `cd` (the state keeps the
/// directory apart).
fn restore_script(saved: &Saved, redact: Option<&dyn Fn(&str) -> String>) -> String {
    let mut out = String::new();
    match &saved.vars {
        None => {
            if let Some(base) = &saved.base {
                out.push_str(base);
            }
        }
        Some(vars) => vars_script(vars, redact, &mut out),
    }
    if redact.is_none()
        && let Some(cwd) = &saved.cwd
    {
        out.push_str("cd -- ");
        out.push_str(&quote(cwd));
        out.push_str(" || exit 1\n");
    }
    out
}

fn vars_script(vars: &[Var], redact: Option<&dyn Fn(&str) -> String>, out: &mut String) {
    let shown = |v: &str| redact.map_or_else(|| v.to_string(), |f| f(v));
    let exported: HashSet<&str> = vars.iter().filter_map(Var::name).collect();
    let missing: Vec<String> = inherited_names()
        .into_iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    if !missing.is_empty() {
        out.push_str("unset ");
        out.push_str(&missing.join(" "));
        out.push('\n');
    }
    for v in vars {
        match v {
            Var::Set(name, value) => {
                if std::env::var(name).is_ok_and(|cur| &cur == value) {
                    continue;
                }
                out.push_str("export ");
                out.push_str(name);
                out.push('=');
                out.push_str(&quote(&shown(value)));
                out.push('\n');
            }
            Var::Declared(name) => {
                out.push_str(&format!("unset {name}; export {name}\n"));
            }
            Var::Raw(_, text) => {
                out.push_str(&shown(text));
                out.push('\n');
            }
        }
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

/// The first executable `program` in the runner's `PATH` (which does not
/// change during a run); `program` itself when it names a path or is not
/// found (spawning it then fails the way it always did).
fn find_in_path(program: &str) -> String {
    if program.contains('/') {
        return program.to_string();
    }
    super::path::find_on_path(program)
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_else(|| program.to_string())
}

/// Single-quotes `s` for any POSIX shell (`'` is written as `'\''`). The
/// one quoting function of the crate: SSH and templates use it too.
pub fn quote(s: &str) -> String {
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
/// new script file in `dir` (left for the caller to clean up with `dir`)
/// and run as `command... file`. The command line is
/// split like a shell would (quotes, backslashes), without expansion.
pub fn interpreter_spec(command: &str, code: &str, dir: &Path) -> io::Result<ProcessSpec> {
    interpreter_spec_as(command, code, dir, None)
}

/// [`interpreter_spec`] with the script file's suffix chosen by the caller
/// (`.mjs` for an ES module, `.ts` for TypeScript).
pub fn interpreter_spec_as(
    command: &str,
    code: &str,
    dir: &Path,
    suffix: Option<&str>,
) -> io::Result<ProcessSpec> {
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
    let suffix = if let Some(s) = suffix {
        s
    } else if base.starts_with("python") {
        ".py"
    } else if base.starts_with("node") {
        ".js"
    } else if base.starts_with("ruby") {
        ".rb"
    } else if base.starts_with("perl") {
        ".pl"
    } else if ["tsx", "ts-node", "deno", "bun"].contains(&base) {
        ".ts"
    } else if base.starts_with("pwsh") {
        ".ps1"
    } else if base == "fish" {
        ".fish"
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
