//! `runbook verify`: recomputes an annotated copy's hash chain and says
//! whether the record is still what the run wrote (exit 0), or where and why
//! it stopped matching (exit 1). It also checks the reports of the same run
//! carry the same chain head, and who signed the head.

use crate::cli::VerifyFormat;
use crate::document::chain::{self, Reason, Verdict};
use crate::document::signature;
use crate::error::{Error, Result, exit};
use crate::sign::allowed;
use crate::sign::check::{self, Allowed, Checked, Failure};
use std::path::{Path, PathBuf};

/// What to check besides the copy itself.
pub struct VerifyArgs<'a> {
    pub copy: &'a Path,
    pub format: VerifyFormat,
    /// The runbook the copy's source part must equal, byte for byte.
    pub source: Option<&'a Path>,
    /// Reports of the same run (JSON, HTML, JUnit, notebook): each must
    /// carry the copy's chain head.
    pub reports: &'a [PathBuf],
    /// Who may sign (OpenSSH allowed_signers).
    pub allowed_signers: Option<&'a Path>,
    pub require_signature: bool,
    /// Print the chain head only.
    pub print_head: bool,
}

/// The verdict and, when the copy is signed, who signed.
#[derive(serde::Serialize)]
struct Out<'a> {
    #[serde(flatten)]
    verdict: &'a Verdict,
    signature: Option<&'a Checked>,
}

pub fn verify_command(args: &VerifyArgs) -> Result<i32> {
    let read = |p: &Path| crate::input::read(p).map_err(|e| Error::io(p, e));
    let bytes = read(args.copy)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{}: not UTF-8 text", args.copy.display())))?;
    // A malformed allowed_signers file is a usage error, before anything.
    let entries = match args.allowed_signers {
        Some(p) => Some(allowed::read(p)?),
        None => None,
    };
    let mut v = chain::verify(&text);
    if v.ok
        && let Some(src) = args.source
    {
        check_source(&mut v, &text, &read(src)?, src);
    }
    for rep in args.reports {
        if !v.ok {
            break;
        }
        check_report(&mut v, &read(rep)?, rep);
    }
    let mut signed = None;
    if v.ok && !args.print_head {
        let file = args
            .allowed_signers
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let allowed = entries.as_deref().map(|entries| Allowed {
            entries,
            file: &file,
            when: record_time(&v),
        });
        let required = args.require_signature || allowed.is_some();
        signed = check_signature(&mut v, &text, allowed.as_ref(), required);
    }
    let out = match (args.print_head, args.format) {
        (true, _) if v.ok => format!("{}\n", v.chain_head.as_deref().unwrap_or("")),
        (_, VerifyFormat::Json) if !args.print_head => {
            let out = Out {
                verdict: &v,
                signature: signed.as_ref(),
            };
            let mut s = serde_json::to_string_pretty(&out)
                .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))?;
            s.push('\n');
            s
        }
        _ => human(&v, signed.as_ref(), args.copy),
    };
    crate::console::out(out.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
    Ok(if v.ok { exit::OK } else { exit::STEP_FAILED })
}

/// When the record says it was made (its end, else its start; now when it
/// says neither): what allowed_signers' `valid-after`/`valid-before` are
/// checked against, as git checks them against the commit's time.
fn record_time(v: &Verdict) -> i64 {
    v.finished_at
        .as_deref()
        .or(v.started_at.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(jiff::Timestamp::now)
        .as_second()
}

/// The copy's signature block against its chain head (and allowed_signers).
fn check_signature(
    v: &mut Verdict,
    text: &str,
    allowed: Option<&Allowed>,
    required: bool,
) -> Option<Checked> {
    let head = v.chain_head.clone().unwrap_or_default();
    let found = signature::find(text);
    let Some(sig) = found.first() else {
        if required {
            let why =
                "the copy carries no signature (sign it with `run --sign-key` or `runbook sign`)";
            v.fail(Some("header"), 1, Reason::NotSigned, why.into());
        }
        return None;
    };
    let line = sig.line;
    if found.len() > 1 {
        let why = format!(
            "the copy has {} signature blocks; a run writes one",
            found.len()
        );
        v.fail(
            Some("signature"),
            found[1].line,
            Reason::SignatureInvalid,
            why,
        );
        return None;
    }
    if !sig.token_ok {
        let why = "the signature block was edited (its content no longer matches its marker)";
        v.fail(
            Some("signature"),
            line,
            Reason::SignatureInvalid,
            why.into(),
        );
        return None;
    }
    match check::check(&sig.pem, &head, sig.head.as_deref(), allowed) {
        Ok(c) => Some(c),
        Err((failure, why)) => {
            let reason = match failure {
                Failure::Invalid => Reason::SignatureInvalid,
                Failure::Namespace => Reason::WrongNamespace,
                Failure::OtherHead => Reason::SignatureOtherHead,
                Failure::NotAllowed => Reason::SignerNotAllowed,
            };
            v.fail(Some("signature"), line, reason, why);
            None
        }
    }
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

/// The 64 hex digits at the start of `s`.
fn hex_at(s: &str) -> Option<String> {
    let h = s.get(..64)?;
    h.bytes()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| h.to_ascii_lowercase())
}

/// What kind of report `bytes` is (told by its content), and the chain
/// head it carries.
fn report_head(bytes: &[u8]) -> (&'static str, Option<String>) {
    let text = String::from_utf8_lossy(bytes);
    let t = text.trim_start();
    let after = |needle: &str| {
        text.find(needle)
            .and_then(|i| hex_at(&text[i + needle.len()..]))
    };
    if t.starts_with('{') {
        let json = serde_json::from_str::<serde_json::Value>(t).ok();
        let Some(json) = json else {
            return ("unreadable JSON", None);
        };
        if json.get("nbformat").is_some() {
            let h = json.pointer("/metadata/runbook/chain_head");
            return ("notebook", h.and_then(|h| h.as_str()).map(str::to_string));
        }
        let h = json.get("chain_head").and_then(|h| h.as_str());
        return ("JSON report", h.map(str::to_string));
    }
    if t.starts_with("<?xml") || t.starts_with("<testsuites") {
        return (
            "JUnit report",
            after("<property name=\"runbook.chain_head\" value=\""),
        );
    }
    if t.starts_with("<!DOCTYPE html") || t.starts_with("<html") {
        return (
            "HTML report",
            after("<meta name=\"runbook-chain-head\" content=\""),
        );
    }
    (
        "not a report of runbook's (JSON, HTML, JUnit or notebook)",
        None,
    )
}

/// A report's chain head against the copy's.
fn check_report(v: &mut Verdict, report: &[u8], path: &Path) {
    let (kind, theirs) = report_head(report);
    if theirs.is_some() && theirs == v.chain_head {
        return;
    }
    v.fail(
        Some("header"),
        1,
        Reason::ReportMismatch,
        format!(
            "{} ({kind}) carries chain head {}, the copy {}",
            path.display(),
            theirs.as_deref().unwrap_or("(none)"),
            v.chain_head.as_deref().unwrap_or("(none)")
        ),
    );
}

fn human(v: &Verdict, signed: Option<&Checked>, copy: &Path) -> String {
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
    let signer = match signed {
        None => String::new(),
        Some(c) => {
            let key = format!("{} {}", c.signer.key_type, c.signer.fingerprint);
            match &c.principals {
                Some(p) => format!(", signed by {} ({key})", p.join(", ")),
                None => format!(", signed by {key} (signer not checked: no --allowed-signers)"),
            }
        }
    };
    format!(
        "verified: {copy}: {} step{}, {}, operator {}, {} → {}, chain {}{signer}\n",
        v.steps,
        if v.steps == 1 { "" } else { "s" },
        opt(&v.result),
        opt(&v.operator),
        opt(&v.started_at),
        opt(&v.finished_at),
        &head[..head.len().min(16)]
    )
}
