//! `runbook verify`: recomputes an annotated copy's hash chain and says
//! whether the record is still what the run wrote (exit 0), or where and why
//! it stopped matching (exit 1).

use crate::cli::VerifyFormat;
use crate::document::chain::{self, Reason, Verdict};
use crate::error::{Error, Result, exit};
use std::path::Path;

/// What to check besides the copy itself.
pub struct VerifyArgs<'a> {
    pub copy: &'a Path,
    pub format: VerifyFormat,
    /// The runbook the copy's source part must equal, byte for byte.
    pub source: Option<&'a Path>,
    /// A JSON report of the same run: its `chain_head` must match.
    pub report: Option<&'a Path>,
}

pub fn verify_command(args: &VerifyArgs) -> Result<i32> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(p, e));
    let bytes = read(args.copy)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{}: not UTF-8 text", args.copy.display())))?;
    let mut v = chain::verify(&text);
    if v.ok
        && let Some(src) = args.source
    {
        check_source(&mut v, &text, &read(src)?, src);
    }
    if v.ok
        && let Some(rep) = args.report
    {
        check_report(&mut v, &read(rep)?, rep);
    }
    let out = match args.format {
        VerifyFormat::Json => {
            let mut s = serde_json::to_string_pretty(&v)
                .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))?;
            s.push('\n');
            s
        }
        VerifyFormat::Human => human(&v, args.copy),
    };
    crate::console::out(out.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
    Ok(if v.ok { exit::OK } else { exit::STEP_FAILED })
}

/// The copy's source part (generated blocks stripped) against the runbook.
fn check_source(v: &mut Verdict, text: &str, runbook: &[u8], path: &Path) {
    let stripped = crate::document::splice::strip(text);
    if stripped.as_bytes() == runbook {
        return;
    }
    let a = stripped.as_bytes();
    let first = a.iter().zip(runbook).position(|(x, y)| x != y);
    let at = first.unwrap_or(a.len().min(runbook.len()));
    let line = a[..at].iter().filter(|&&c| c == b'\n').count() + 1;
    v.fail(
        None,
        line,
        Reason::SourceMismatch,
        format!(
            "the copy's source differs from {} from its line {line} on",
            path.display()
        ),
    );
}

/// The JSON report's `chain_head` against the copy's.
fn check_report(v: &mut Verdict, report: &[u8], path: &Path) {
    let theirs = serde_json::from_slice::<serde_json::Value>(report)
        .ok()
        .and_then(|j| j.get("chain_head")?.as_str().map(str::to_string));
    if theirs.is_some() && theirs == v.chain_head {
        return;
    }
    v.fail(
        Some("header"),
        1,
        Reason::ReportMismatch,
        format!(
            "{} carries chain head {}, the copy {}",
            path.display(),
            theirs.as_deref().unwrap_or("(none)"),
            v.chain_head.as_deref().unwrap_or("(none)")
        ),
    );
}

fn human(v: &Verdict, copy: &Path) -> String {
    let copy = copy.display();
    if let Some(f) = &v.failure {
        let step = f
            .step
            .as_deref()
            .map(|s| format!(", step {s}"))
            .unwrap_or_default();
        return format!(
            "verify failed: {copy} line {}{step}: {}: {}\n",
            f.line,
            f.reason.as_str(),
            f.message
        );
    }
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "?".into());
    let head = v.chain_head.as_deref().unwrap_or("");
    format!(
        "verified: {copy}: {} step{}, {}, operator {}, {} → {}, chain {}\n",
        v.steps,
        if v.steps == 1 { "" } else { "s" },
        opt(&v.result),
        opt(&v.operator),
        opt(&v.started_at),
        opt(&v.finished_at),
        &head[..head.len().min(16)]
    )
}
