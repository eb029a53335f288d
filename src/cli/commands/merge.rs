//! `runbook merge DIR…`: reads the report directories of the N shards of
//! one run (`run --shard I/N --report-dir DIR`), each one's JSON record and
//! annotated copy, and writes one annotated copy, JSON, JUnit, HTML and
//! notebook as if one run had done it (the record combination is
//! [`crate::merge`]). The runbook's source comes from the shards' copies
//! (stripping a copy gives it back byte for byte) and must hash to what
//! every record says ran. Exits with the merged run's exit code.

use crate::document::{self, Document};
use crate::error::{Error, Result};
use crate::record::RunRecord;
use crate::report::registry::{self, COPY, ReportOptions};
use std::path::{Path, PathBuf};

pub struct MergeArgs<'a> {
    pub dirs: &'a [PathBuf],
    pub report_dir: &'a Path,
}

pub fn merge_command(args: &MergeArgs) -> Result<i32> {
    let mut records = Vec::new();
    let mut source: Option<(PathBuf, String)> = None;
    for dir in args.dirs {
        let (record, copy) = read_shard(dir)?;
        if source.is_none() {
            source = Some(copy);
        }
        records.push(record);
    }
    let merged = crate::merge::merge(records).map_err(Error::Usage)?;
    let (copy_path, text) =
        source.ok_or_else(|| Error::Usage("no shard report to merge".into()))?;
    let doc = document::parse(copy_path.clone(), text)?;
    let written = write(&doc, &merged, args.report_dir)?;
    for p in written {
        crate::console::err(&format!("wrote {}\n", p.display()));
    }
    Ok(merged.exit_code.unwrap_or(crate::error::exit::OK))
}

/// One shard's record (its JSON report) and the runbook's source (its
/// annotated copy, stripped), checked against each other.
fn read_shard(dir: &Path) -> Result<(RunRecord, (PathBuf, String))> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let record = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let text = crate::input::read_to_string(p).ok()?;
            serde_json::from_str::<RunRecord>(&text).ok()
        })
        .find(|r| r.shard.is_some())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: no shard's JSON report (run with --shard I/N --report-dir DIR --format json)",
                dir.display()
            ))
        })?;
    let source = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter_map(|p| {
            let text = crate::input::read_to_string(p).ok()?;
            let stripped = document::splice::strip(&text);
            let hash = crate::text::sha256_hex(stripped.as_bytes(), usize::MAX);
            (hash == record.runbook.sha256).then(|| (p.clone(), stripped))
        })
        .next()
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: no annotated copy of the runbook that ran (sha256 {}…)",
                dir.display(),
                record.runbook.sha256.get(..12).unwrap_or("")
            ))
        })?;
    Ok((record, source))
}

/// The copy first (the other reports carry its chain head), then every
/// other format, into `dir`, named after the runbook.
fn write(doc: &Document, record: &RunRecord, dir: &Path) -> Result<Vec<PathBuf>> {
    crate::safe_fs::private_dir(dir)?;
    let stem = Path::new(&record.runbook.path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let opts = ReportOptions {
        hide_code: false,
        report_dir: Some(dir.to_path_buf()),
    };
    let mut written = Vec::new();
    let mut record = record.clone();
    // The charts beside the merged copy, linked from it.
    let copy =
        dir.join(registry::by_name(COPY).map_or(format!("{stem}.md"), |r| r.file_name(&stem)));
    let (charts, no_charts) = super::super::charts::write_assets(&copy, &mut record);
    for report in registry::registry() {
        let path = dir.join(report.file_name(&stem));
        crate::safe_fs::check_file(&path)?;
        let text = report.render(doc, &record, &opts);
        if report.name() == COPY {
            record.chain_head = document::chain::head(&text);
        }
        crate::safe_fs::write_private(&path, text.as_bytes())?;
        written.push(path);
    }
    written.extend(charts);
    match no_charts {
        Some(e) => Err(e),
        None => Ok(written),
    }
}
