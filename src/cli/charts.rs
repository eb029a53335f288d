//! The charts beside the annotated copy: each step's SVG is written to
//! `OUT.md.assets/STEP.svg` (a private 0700 directory of ours, files 0600,
//! never through a planted symlink), and the record learns the relative
//! path, so the copy links it and `publish` uploads it.

use crate::error::Error;
use crate::record::RunRecord;
use crate::safe_fs;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// `OUT.md.assets` beside the copy `OUT.md`.
pub fn assets_dir(markdown: &Path) -> PathBuf {
    PathBuf::from(format!("{}.assets", markdown.display()))
}

/// Writes every chart of `record` and sets each one's `svg` path
/// (relative to the copy). Step names are made file names
/// ([`crate::chart::file_stem`]); two that come out alike get `-2`, `-3`.
/// A chart that cannot be written (the directory became a symlink or
/// another user's) keeps no link and stops the others; the error comes
/// back beside what was written, so the copy is still written without it.
pub fn write_assets(markdown: &Path, record: &mut RunRecord) -> (Vec<PathBuf>, Option<Error>) {
    let dir = assets_dir(markdown);
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "assets".into());
    let mut used = HashSet::new();
    let mut written = Vec::new();
    let mut failed = None;
    for step in &mut record.steps {
        // A path from another copy (a shard's, before `merge`) is not ours.
        if let Some(c) = &mut step.chart {
            c.svg = None;
        }
        if failed.is_some() {
            continue;
        }
        let Some(svg) = crate::report::charts::svg(step) else {
            continue;
        };
        let stem = crate::chart::file_stem(&step.name);
        let mut name = format!("{stem}.svg");
        let mut k = 2;
        while !used.insert(name.clone()) {
            name = format!("{stem}-{k}.svg");
            k += 1;
        }
        let path = dir.join(&name);
        let wrote = match written.is_empty() {
            true => safe_fs::private_dir(&dir),
            false => Ok(()),
        }
        .and_then(|()| safe_fs::write_private(&path, svg.as_bytes()));
        match wrote {
            Ok(()) => {
                if let Some(c) = &mut step.chart {
                    c.svg = Some(format!("{dir_name}/{name}"));
                }
                written.push(path);
            }
            Err(e) => failed = Some(Error::Other(format!("the charts were not written: {e}"))),
        }
    }
    (written, failed)
}
