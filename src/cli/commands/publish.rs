//! `runbook publish` (and `run --publish`): a report directory to a GitLab
//! incident — the files uploaded, a note with links and a timeline event.

use crate::error::{Error, Result, exit};
use crate::record::RunRecord;
use std::path::{Path, PathBuf};

pub fn publish_command(dir: &Path, to: &str, url: Option<String>) -> Result<i32> {
    let json_path = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: no JSON report in this directory",
                dir.display()
            ))
        })?;
    let text = std::fs::read_to_string(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let record: RunRecord = serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: not a runbook JSON report: {e}",
            json_path.display()
        ))
    })?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    // The charts beside each copy (`OUT.md.assets/*.svg`), never through
    // a symlink.
    let assets: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".md.assets"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .cloned()
        .collect();
    for a in assets {
        let mut svgs: Vec<PathBuf> = std::fs::read_dir(&a)
            .map_err(|e| Error::io(&a, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
            .collect();
        svgs.sort();
        paths.extend(svgs);
    }
    let rt = crate::cli::runtime()?;
    rt.block_on(publish_reports(to, url, &record, &paths))
        .map_err(Error::Other)?;
    Ok(exit::OK)
}

pub async fn publish_reports(
    target: &str,
    url: Option<String>,
    record: &RunRecord,
    paths: &[PathBuf],
) -> std::result::Result<(), String> {
    use crate::publish;
    let target = publish::parse_target(target)?;
    let base_url =
        url.ok_or_else(|| "no GitLab API URL: set CI_API_V4_URL or pass --gitlab-url".to_string())?;
    let token = std::env::var("GITLAB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "GITLAB_TOKEN is not set".to_string())?;
    let files: Vec<PathBuf> = paths
        .iter()
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("html") | Some("md") | Some("svg")
            )
        })
        .cloned()
        .collect();
    let summary = publish::PublishSummary::from_record(record);
    let outcome = publish::publish(
        &publish::PublishConfig { base_url, token },
        &target,
        &summary,
        &files,
    )
    .await
    .map_err(|e| e.to_string())?;
    crate::console::err(&format!("{outcome}\n"));
    Ok(())
}
