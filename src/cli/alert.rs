//! `run --alert`: reads the payload (a file or stdin, bounded), picks the
//! alert (`--alert-match`), and when no runbook was named finds the one the
//! alert links to under `--runbooks-dir`. Every refusal is a usage error
//! (exit 2) before anything runs.

use super::RunArgs;
use crate::alert::{self, MAX_PAYLOAD_BYTES};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// `args` with `file` (and `chosen_alert`, with `--alert`) settled.
pub fn prepare(mut args: RunArgs) -> Result<RunArgs> {
    let Some(payload) = args.alert.clone() else {
        args.file = args.runbook.clone().unwrap_or_default();
        return Ok(args);
    };
    let (origin, text) = read_payload(&payload)?;
    let alerts = alert::parse(&origin, &text).map_err(Error::Usage)?;
    let matchers = alert::parse_matchers(&args.alert_match).map_err(Error::Usage)?;
    let (chosen, note) = alert::choose(&origin, &alerts, &matchers).map_err(Error::Usage)?;
    if let Some(note) = note {
        crate::console::err(&format!("note: {note}\n"));
    }
    args.file = match (&args.runbook, &args.runbooks_dir) {
        (Some(file), _) => file.clone(),
        (None, Some(dir)) => {
            let file = alert::resolve::runbook_for(&chosen, dir).map_err(Error::Usage)?;
            crate::console::err(&format!(
                "runbook: {} (the alert's runbook_url)\n",
                file.display()
            ));
            file
        }
        (None, None) => {
            return Err(Error::Usage(
                "--alert without a runbook FILE needs --runbooks-dir DIR: the alert's \
                 annotations.runbook_url is looked up there, and nowhere else"
                    .into(),
            ));
        }
    };
    args.chosen_alert = Some(chosen);
    Ok(args)
}

/// The payload's text, at most [`MAX_PAYLOAD_BYTES`], and its name for errors.
fn read_payload(path: &Path) -> Result<(String, String)> {
    let stdin = path.as_os_str() == "-";
    let origin = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let reader: Box<dyn Read> = if stdin {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| Error::io(path, e))?)
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_PAYLOAD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_PAYLOAD_BYTES {
        return Err(Error::Usage(format!(
            "{origin}: alert payload larger than {} MiB: refused",
            MAX_PAYLOAD_BYTES / (1024 * 1024)
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{origin}: alert payload is not UTF-8")))?;
    Ok((origin, text))
}

/// The flags that give a continued run the same alert (`--resume` hint);
/// none when the payload came from stdin.
pub fn resume_flags(args: &RunArgs) -> Vec<String> {
    let Some(p) = args.alert.as_ref().filter(|p| p.as_os_str() != "-") else {
        return Vec::new();
    };
    let mut out = vec!["--alert".to_string(), p.display().to_string()];
    for m in &args.alert_match {
        out.extend(["--alert-match".to_string(), m.clone()]);
    }
    out
}
