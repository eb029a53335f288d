//! `runbook man`: the manual as roff, one page for the tool and one per
//! subcommand (`runbook-run(1)` …), each with the sections people look for
//! (ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES); `--out DIR` writes them all.

use crate::error::{Error, Result, exit};
use std::path::Path;

const EXIT_STATUS: &str = ".SH EXIT STATUS
.TP
0
every step ok (skipped and allow_failure steps included); a dry run that rendered everything
.TP
1
a step failed or timed out
.TP
2
invalid runbook or usage (nothing ran)
.TP
3
a precondition failed (no step ran)
.TP
4
aborted at a gate
.TP
5
the run ended but its record could not be written
.TP
130
interrupted (Ctrl\\-C, SIGTERM, SIGHUP); the record is still written
";

const ENVIRONMENT: &str = ".SH ENVIRONMENT
.TP
NO_COLOR, CLICOLOR_FORCE
colour off / on when not a terminal
.TP
GITLAB_CI
GitLab job logs: one collapsible section per step
.TP
GITLAB_USER_LOGIN, CI_JOB_URL
recorded as the operator and the job in the record
.TP
GITLAB_TOKEN, CI_API_V4_URL
publishing to a GitLab incident
.TP
AWS_REGION, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
EC2 inventory lookups
";

const FILES: &str = ".SH FILES
.TP
STEM.annotated.md
the annotated copy (or \\-o OUT.md, or DIR/STEM.md with \\-\\-report\\-dir)
.TP
OUT.md.state.jsonl
the resume journal (mode 0600)
.TP
OUT.md.logs/
full logs of steps whose output was cut
.TP
DIR/STEM.json, STEM.junit.xml, STEM.html, STEM.ipynb
the reports of \\-\\-report\\-dir
";

/// Every page, as (file name, roff).
fn pages(cmd: clap::Command) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = vec![("runbook.1".to_string(), page(cmd.clone(), None)?)];
    for sub in cmd.get_subcommands() {
        let name = format!("runbook-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        out.push((format!("{name}.1"), page(sub, Some(&name))?));
    }
    Ok(out)
}

fn page(cmd: clap::Command, sub: Option<&str>) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let examples = cmd.get_after_help().map(|h| h.to_string());
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| Error::Other(format!("cannot render the man page: {e}")))?;
    let mut extra = String::new();
    if sub.is_some()
        && let Some(ex) = examples
    {
        extra.push_str(".SH EXAMPLES\n.nf\n");
        extra.push_str(&ex.replace('\\', "\\\\").replace('-', "\\-"));
        extra.push_str("\n.fi\n");
    }
    extra.push_str(ENVIRONMENT);
    extra.push_str(FILES);
    extra.push_str(EXIT_STATUS);
    buf.extend_from_slice(extra.as_bytes());
    Ok(buf)
}

pub fn man_command(cmd: clap::Command, out: Option<&Path>) -> Result<i32> {
    let pages = pages(cmd)?;
    let Some(dir) = out else {
        let (_, main) = &pages[0];
        crate::console::out(main).map_err(|e| Error::io("<stdout>", e))?;
        return Ok(exit::OK);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, text) in &pages {
        let path = dir.join(name);
        crate::safe_fs::write_private(&path, text)?;
        crate::console::err(&format!("wrote {}\n", path.display()));
    }
    Ok(exit::OK)
}
