//! The runbook an alert links to: its `annotations.runbook_url`, found
//! inside one directory (`--runbooks-dir`) and nowhere else. A relative path
//! is taken under the directory; a URL matches by the longest suffix of its
//! path that names a file there (the usual
//! `https://git.example.com/sre/runbooks/-/blob/main/disk.md` → `disk.md`).
//! An alert is input from the network: `..`, absolute paths, symlinks that
//! lead out of the directory and URLs that match nothing are refused.

use super::Alert;
use std::path::{Component, Path, PathBuf};

/// The runbook for `alert` under `dir`, or why there is none.
pub fn runbook_for(alert: &Alert, dir: &Path) -> Result<PathBuf, String> {
    let Some(url) = alert.annotations.get("runbook_url").map(|u| u.trim()) else {
        return Err(format!(
            "the alert {} has no annotations.runbook_url: name the runbook (runbook run FILE --alert …)",
            alert.describe()
        ));
    };
    let shown = url.escape_debug().to_string();
    let root = dir
        .canonicalize()
        .map_err(|e| format!("--runbooks-dir {}: {e}", dir.display()))?;
    if let Some((_, rest)) = url.split_once("://") {
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        let (host, path) = path.split_once('/').unwrap_or((path, ""));
        let segments = segments(&percent_decode(path))
            .map_err(|why| format!("runbook_url `{shown}` refused: {why}"))?;
        for i in 0..segments.len() {
            let rel: PathBuf = segments[i..].iter().collect();
            if let Some(found) = inside(&root, dir, &rel, &shown)? {
                return Ok(found);
            }
        }
        // Nothing is ever fetched: say so, naming the host when there is one.
        let fetched = match host {
            "" => "the URL is not opened".to_string(),
            h => format!("a link to {} is not followed", h.escape_debug()),
        };
        return Err(format!(
            "runbook_url `{shown}` matches no runbook under {}: no suffix of its path names a file \
             there, and {fetched}",
            dir.display(),
        ));
    }
    let path = url.split('#').next().unwrap_or_default();
    if Path::new(path).is_absolute() {
        return Err(format!(
            "runbook_url `{shown}` refused: an absolute path, outside --runbooks-dir {}",
            dir.display()
        ));
    }
    let segments = segments(path).map_err(|why| format!("runbook_url `{shown}` refused: {why}"))?;
    let rel: PathBuf = segments.iter().collect();
    inside(&root, dir, &rel, &shown)?.ok_or_else(|| {
        format!(
            "runbook_url `{shown}`: no such runbook under --runbooks-dir {}",
            dir.display()
        )
    })
}

/// The path's normal parts; `..`, `.` tricks, backslashes and NULs refused.
fn segments(path: &str) -> Result<Vec<String>, String> {
    if path.contains(['\\', '\0']) {
        return Err("backslashes and NUL bytes are not part of a runbook path".into());
    }
    let mut out = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err("`..` would leave --runbooks-dir".into());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("an absolute path, outside --runbooks-dir".into());
            }
        }
    }
    if out.is_empty() {
        return Err("it names no file".into());
    }
    Ok(out)
}

/// `dir/rel` when it is a file whose real path stays under `root` (the
/// canonical `dir`); `None` when there is no such file; an error when it
/// exists but leads out (a symlink).
fn inside(root: &Path, dir: &Path, rel: &Path, shown: &str) -> Result<Option<PathBuf>, String> {
    let candidate = dir.join(rel);
    if candidate.symlink_metadata().is_err() {
        return Ok(None);
    }
    let real = candidate
        .canonicalize()
        .map_err(|e| format!("runbook_url `{shown}`: {}: {e}", candidate.display()))?;
    if !real.starts_with(root) {
        return Err(format!(
            "runbook_url `{shown}` refused: {} leads to {}, outside --runbooks-dir {}",
            candidate.display(),
            real.display(),
            dir.display()
        ));
    }
    Ok(real.is_file().then_some(candidate))
}

/// `%XX` decoded (invalid escapes kept as written).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
