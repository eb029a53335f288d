//! `runbook publish` (and `run --publish`): a report directory to a GitLab
//! incident — the files uploaded, a note with links and a timeline event;
//! for `run --publish` also the live updates while the run goes (timeline
//! events, phase labels, internal notes: `crate::publish::live`).
//!
//! What is uploaded is public: when the runbook has `internal` steps, the
//! copy and the HTML report are rendered again with their output withheld.

use crate::cli::RunArgs;
use crate::document::Document;
use crate::error::{Error, Result, exit};
use crate::publish::{self, GitLabTarget, PublishConfig, ReportFile, live};
use crate::record::{FinalUpload, PublishRecord, RunRecord};
use crate::report::ReportOptions;
use crate::report::registry::{self, COPY};
use crate::secrets::Redactor;
use std::path::{Path, PathBuf};

pub fn publish_command(dir: &Path, to: &str, url: Option<String>) -> Result<i32> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let charts = chart_files(&entries)?;
    entries.extend(charts);
    let json_path = entries
        .iter()
        .find(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: no JSON report in this directory",
                dir.display()
            ))
        })?;
    let text = crate::input::read_to_string(json_path).map_err(|e| Error::io(json_path, e))?;
    let record: RunRecord = serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: not a runbook JSON report: {e}",
            json_path.display()
        ))
    })?;
    // The runbook, from its annotated copy: which steps are internal.
    let doc = match entries
        .iter()
        .find(|p| p.extension().and_then(|e| e.to_str()) == Some("md"))
    {
        Some(md) => {
            let text = crate::input::read_to_string(md).map_err(|e| Error::io(md, e))?;
            Some(crate::document::parse(
                md,
                crate::document::splice::strip(&text),
            )?)
        }
        None => None,
    };
    let opts = ReportOptions {
        hide_code: false,
        report_dir: Some(dir.to_path_buf()),
    };
    let rt = crate::cli::runtime()?;
    rt.block_on(publish_reports(
        to,
        url,
        doc.as_ref(),
        &record,
        &entries,
        &opts,
    ))
    .map_err(Error::Other)?;
    Ok(exit::OK)
}

/// Where and with what to publish: the target, the API URL and the token.
fn config(
    target: &str,
    url: Option<String>,
) -> std::result::Result<(GitLabTarget, PublishConfig), String> {
    let target = publish::parse_target(target)?;
    let base_url =
        url.ok_or_else(|| "no GitLab API URL: set CI_API_V4_URL or pass --gitlab-url".to_string())?;
    let token = std::env::var("GITLAB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "GITLAB_TOKEN is not set".to_string())?;
    Ok((target, PublishConfig { base_url, token }))
}

/// Uploads the reports among `paths` (the copy and HTML, rendered again
/// without internal output when `doc` has internal steps) and posts the
/// note.
pub async fn publish_reports(
    target: &str,
    url: Option<String>,
    doc: Option<&Document>,
    record: &RunRecord,
    paths: &[PathBuf],
    opts: &ReportOptions,
) -> std::result::Result<FinalUpload, String> {
    let (target, cfg) = config(target, url)?;
    let files = public_files(doc, record, paths, opts)?;
    let summary = publish::PublishSummary::from_record(record);
    let outcome = publish::publish_files(&cfg, &target, &summary, &files)
        .await
        .map_err(|e| e.to_string())?;
    crate::console::err(&format!("{outcome}\n"));
    let names = files.iter().map(|f| f.name.clone()).collect();
    Ok(FinalUpload::sent(names, outcome.note_id))
}

/// The uploads: each `.md` and `.html` of `paths`, as written, or rendered
/// from the record with internal output withheld.
fn public_files(
    doc: Option<&Document>,
    record: &RunRecord,
    paths: &[PathBuf],
    opts: &ReportOptions,
) -> std::result::Result<Vec<ReportFile>, String> {
    let doc = doc.filter(|d| !publish::public::internal_steps(d).is_empty());
    let public = doc.map(|d| {
        let mut r = publish::public::withhold_internal(d, record);
        let copy = registry::by_name(COPY).map(|c| c.render(d, &r, opts));
        r.chain_head = copy.as_deref().and_then(crate::document::chain::head);
        (d, r, copy.unwrap_or_default())
    });
    let mut files = Vec::new();
    for path in paths {
        let ext = path.extension().and_then(|e| e.to_str());
        if !matches!(ext, Some("html") | Some("md") | Some("svg")) {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".to_string());
        let bytes = match (&public, ext) {
            (Some((_, _, copy)), Some("md")) => copy.clone().into_bytes(),
            (Some((d, r, _)), Some("html")) => registry::by_name("html")
                .map(|h| h.render(d, r, opts).into_bytes())
                .unwrap_or_default(),
            (_, _) => crate::input::read(path)
                .map_err(|e| format!("cannot read report {}: {e}", path.display()))?,
        };
        files.push(ReportFile { name, bytes });
    }
    Ok(files)
}

/// The charts beside each copy (`OUT.md.assets/*.svg`), never through a
/// symlink.
fn chart_files(entries: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let dirs = entries
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".md.assets"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
    for a in dirs {
        let mut svgs: Vec<PathBuf> = std::fs::read_dir(a)
            .map_err(|e| Error::io(a, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
            .collect();
        svgs.sort();
        out.extend(svgs);
    }
    Ok(out)
}

/// With `--publish`, `GITLAB_TOKEN` is masked like a secret: the steps
/// inherit it, and one that prints it must not carry it into a report, a
/// note or the incident.
pub fn token_to_mask(args: &RunArgs) -> Option<(String, String)> {
    args.publish.as_ref()?;
    let token = std::env::var("GITLAB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())?;
    Some(("GITLAB_TOKEN".to_string(), token))
}

/// `run --publish`: the live updates, started before the engine. `None`
/// for a dry run, or when the target, URL or token is missing (the final
/// publish says which).
pub fn start_live(
    args: &RunArgs,
    doc: &Document,
    redactor: &Redactor,
) -> Option<(live::Live, live::LiveSink)> {
    if args.dry_run {
        return None;
    }
    let (target, cfg) = config(args.publish.as_deref()?, args.gitlab_url.clone()).ok()?;
    live::start(&cfg, &target, doc, redactor.clone()).ok()
}

/// Ends the live updates: the record of what was sent, with what still
/// failed after the retries said on stderr.
pub async fn finish_live(
    live: live::Live,
    stop: crate::exec::process::Interrupts,
) -> PublishRecord {
    let policy = live::FinishPolicy::default();
    let finishing = live.finish(&policy, next_interrupt(stop));
    let rec = while_saying_so(finishing, "waiting for GitLab to take the run's updates").await;
    let failed: Vec<_> = rec.events.iter().filter(|e| e.status == "failed").collect();
    if !failed.is_empty() {
        let mut msg = format!(
            "warning: {} of {} updates to {} were not sent (the record's publish section lists them):\n",
            failed.len(),
            rec.events.len(),
            rec.target
        );
        for e in failed {
            msg.push_str(&format!(
                "  {} “{}”: {}\n",
                e.kind,
                e.text,
                e.error.as_deref().unwrap_or("not sent")
            ));
        }
        crate::console::err(&msg);
    }
    rec
}

/// Resolves at the next interrupt (Ctrl-C, SIGTERM, SIGHUP) after now;
/// never when there can be none.
pub async fn next_interrupt(mut rx: crate::exec::process::Interrupts) {
    rx.borrow_and_update();
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Awaits `work`; when it takes more than a moment, says what it waits
/// for and that Ctrl-C stops the wait (the record is written either way).
pub async fn while_saying_so<T>(work: impl std::future::Future<Output = T>, what: &str) -> T {
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => return out,
        () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
    }
    crate::console::err(&format!(
        "{what} (Ctrl-C stops waiting; the record is written either way)\n"
    ));
    work.await
}
