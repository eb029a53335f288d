//! Writing the files a run owns without ever destroying what it does not.
//!
//! `runbook` often runs as root (CI runners, incident shells), beside files
//! other people can create: a report directory kept as an artifact, a logs
//! directory next to the annotated copy. So every file it writes goes
//! through here:
//!
//! - a path that exists and is not a regular file (device, FIFO, socket,
//!   directory) or is a symbolic link is refused, never replaced or
//!   written through;
//! - a regular file that belongs to another user is refused too;
//! - new files are created with `O_CREAT | O_EXCL | O_NOFOLLOW` and mode
//!   0600 (a report is replaced by renaming a new private file over it,
//!   a step log by unlinking the old one and creating a new one), so a
//!   symlink or hard link planted between the check and the write is never
//!   followed;
//! - directories the run creates for itself (the step logs) are 0700.
//!
//! [`RunLock`] keeps two runs from writing the same output at once.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every file the run writes.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory the run creates for itself.
pub const DIR_MODE: u32 = 0o700;

/// Why `path` must not be written, or `None` when it may: it does not
/// exist, or it is a regular file of ours.
pub fn refusal(path: &Path) -> Option<String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        return Some(format!(
            "{} is a symbolic link: refusing to write through it",
            path.display()
        ));
    } else if ft.is_file() {
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Some(format!(
                "{} belongs to another user (uid {}): refusing to replace it",
                path.display(),
                meta.uid()
            ));
        }
        return None;
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a file"
    };
    Some(format!(
        "{} is {kind}, not a regular file: refusing to write a report over it",
        path.display()
    ))
}

/// [`refusal`] as an error (exit 2).
pub fn check_file(path: &Path) -> Result<()> {
    match refusal(path) {
        Some(m) => Err(Error::Usage(m)),
        None => Ok(()),
    }
}

/// Checks a directory the run writes into for itself: absent, or a real
/// directory (not a symlink) of ours.
pub fn check_dir(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(Error::Usage(format!(
            "{} is a symbolic link: refusing to write through it",
            path.display()
        )));
    }
    if !meta.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory: refusing to replace it",
            path.display()
        )));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(Error::Usage(format!(
            "{} belongs to another user (uid {}): refusing to write into it",
            path.display(),
            meta.uid()
        )));
    }
    Ok(())
}

/// Creates (or takes over) a private directory: 0700, ours, not a symlink.
pub fn private_dir(path: &Path) -> Result<()> {
    check_dir(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    check_dir(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))
        .map_err(|e| Error::io(path, e))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes a whole file: a new private temp file in the same directory,
/// then renamed over `path` (which must pass [`refusal`]).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    check_file(path)?;
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    // tempfile creates with O_CREAT | O_EXCL and mode 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".runbook-tmp-")
        .permissions(std::fs::Permissions::from_mode(FILE_MODE))
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_data())
        .map_err(|e| Error::io(path, e))?;
    // Checked again just before the rename, which replaces a directory
    // entry and never follows a link.
    check_file(path)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Creates a new private file at `path` for writing, replacing an old one
/// of ours (unlinked first, so a hard link to someone else's file is not
/// truncated). Never follows a symlink.
pub fn create_private(path: &Path) -> io::Result<File> {
    if let Some(m) = refusal(path) {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, m));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc_flags::NOFOLLOW)
        .open(path)
}

/// Opens `path` for appending (created 0600 if absent, kept otherwise),
/// never through a symlink, and makes it private.
pub fn open_private_append(path: &Path) -> Result<File> {
    check_file(path)?;
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .custom_flags(libc_flags::NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Usage(format!(
            "{} is not a regular file: refusing to write to it",
            path.display()
        )));
    }
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
        .map_err(|e| Error::io(path, e))?;
    Ok(file)
}

/// Whether two paths name the same existing file (after symlinks).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

mod libc_flags {
    /// `O_NOFOLLOW`: opening a symlink fails with `ELOOP`.
    pub const NOFOLLOW: i32 = nix::fcntl::OFlag::O_NOFOLLOW.bits();
}

/// An exclusive advisory lock (`flock`) on `OUT.lock` for the whole run,
/// so two runs never interleave one output's journal, logs and reports.
/// The file says who holds it; it stays behind (removing a lock file races
/// with the next run taking it).
pub struct RunLock {
    _lock: nix::fcntl::Flock<File>,
}

impl RunLock {
    /// Takes the lock or says who holds it. `holder` is one line: `pid N,
    /// operator X, started T`.
    pub fn acquire(path: &Path, output: &Path, holder: &str) -> Result<Self> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let file = open_private_append(path)?;
        let mut lock = match nix::fcntl::Flock::lock(
            file,
            nix::fcntl::FlockArg::LockExclusiveNonblock,
        ) {
            Ok(l) => l,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let who = std::fs::read_to_string(path).unwrap_or_default();
                let who = who.trim();
                let who = if who.is_empty() { "unknown" } else { who };
                return Err(Error::Usage(format!(
                    "{} is being written by another run ({}); wait for it to finish or use another -o",
                    output.display(),
                    crate::report::one_line(who)
                )));
            }
            Err((_, e)) => return Err(Error::io(path, io::Error::from(e))),
        };
        lock.set_len(0)
            .and_then(|_| writeln!(&mut *lock, "{holder}"))
            .map_err(|e| Error::io(path, e))?;
        Ok(RunLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_and_special_files_and_allows_absent_or_regular() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        assert_eq!(refusal(&f), None);
        std::fs::write(&f, "x").unwrap();
        assert_eq!(refusal(&f), None);
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(
            refusal(&l)
                .unwrap()
                .ends_with("is a symbolic link: refusing to write through it")
        );
        assert!(
            refusal(d.path())
                .unwrap()
                .contains("is a directory, not a regular file")
        );
    }

    #[test]
    fn private_files_replace_ours_without_following_links() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let hard = d.path().join("hard");
        std::fs::hard_link(&victim, &hard).unwrap();
        let mut f = create_private(&hard).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&hard).unwrap(), "new");
        let mode = std::fs::metadata(&hard).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
