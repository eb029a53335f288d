//! Finding a program the way `execvp` would, before running it: the one
//! `PATH` lookup of the crate. The shell kernel resolves its interpreter
//! once per run with it, preconditions (`requires.commands`) and `check`
//! (a step's interpreter) ask whether a command exists.

use std::path::{Path, PathBuf};

/// Whether `p` is a regular file with an execute bit set.
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where `program` would be found: itself when it contains a `/` (and is
/// executable), else the first executable file of that name in a `PATH`
/// directory. Relative `PATH` entries (an empty one included) are passed
/// over: they name different directories for the runner and for its steps.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_refuses_what_is_not_there() {
        let sh = find_on_path("sh").expect("sh is on PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"));
        assert_eq!(find_on_path(&sh.display().to_string()), Some(sh));
        assert_eq!(find_on_path("/nonexistent/bin/sh"), None);
        assert_eq!(find_on_path("no-such-program-xyz"), None);
        assert!(!is_executable(Path::new("/")));
    }
}
