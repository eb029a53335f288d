//! JUnit XML as GitLab reads it (`artifacts:reports:junit`): one testsuite
//! per run, one testcase per step, so a pipeline's test tab shows which step
//! failed and its output. Preconditions, when there are any, get a second
//! testsuite of their own, and so does the rollback phase (one testcase per
//! undo, in the order they ran); rollback blocks are not steps of the run's
//! own suite.
//!
//! All text is escaped (never CDATA, so no `]]>` can end anything early) and
//! characters that XML 1.0 forbids are replaced by visible stand-ins.

use super::output_lines;
use crate::duration::format_duration_ms;
use crate::record::{RunRecord, StepRecord, StepStatus};
use std::fmt::Write as _;

/// The run as a JUnit XML document.
pub fn to_junit(rec: &RunRecord) -> String {
    let path = &rec.runbook.path;
    let steps: Vec<&StepRecord> = rec.steps.iter().filter(|s| s.undoes.is_none()).collect();
    let undos: &[StepRecord] = rec.rollback.as_ref().map_or(&[], |r| &r.undos);
    let failures = steps.iter().filter(|s| is_failure(s.status)).count();
    let skipped = steps.iter().filter(|s| is_skipped(s.status)).count();
    let undo_failures = undos.iter().filter(|s| is_failure(s.status)).count();
    let undo_skipped = undos.iter().filter(|s| is_skipped(s.status)).count();

    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
    let pre_failures = rec.preconditions.iter().filter(|p| !p.ok).count();
    let _ = writeln!(
        x,
        " name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        attr(path),
        steps.len() + rec.preconditions.len() + undos.len(),
        failures + pre_failures + undo_failures,
        skipped + undo_skipped,
        secs(rec.duration_ms.unwrap_or(0)),
    );

    if !rec.preconditions.is_empty() {
        let _ = writeln!(
            x,
            "  <testsuite name=\"{} preconditions\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0.000\" timestamp=\"{}\">",
            attr(path),
            rec.preconditions.len(),
            pre_failures,
            attr(&rec.started_at),
        );
        for p in &rec.preconditions {
            let name = format!("{} {}", p.kind, p.target);
            let _ = write!(
                x,
                "    <testcase classname=\"{} preconditions\" name=\"{}\" time=\"0.000\"",
                attr(path),
                attr(&name)
            );
            if p.ok {
                x.push_str("/>\n");
            } else {
                let detail = p.detail.as_deref().unwrap_or("precondition failed");
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\" type=\"precondition\">{}</failure>\n    </testcase>",
                    attr(detail),
                    text(detail)
                );
            }
        }
        x.push_str("  </testsuite>\n");
    }

    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\">",
        attr(path),
        steps.len(),
        failures,
        skipped,
        secs(rec.duration_ms.unwrap_or(0)),
        attr(&rec.started_at),
        attr(&rec.machine),
    );
    if let Some(head) = &rec.chain_head {
        // `runbook verify --report` reads the chain head back.
        let _ = write!(
            x,
            "    <properties><property name=\"runbook.chain_head\" value=\"{}\"/>",
            attr(head)
        );
        if let Some(s) = &rec.signature {
            let signer = format!("{} {}", s.key_type, s.fingerprint);
            let _ = write!(
                x,
                "<property name=\"runbook.signer\" value=\"{}\"/>",
                attr(&signer)
            );
        }
        x.push_str("</properties>\n");
    }
    for step in steps {
        testcase(&mut x, path, step);
    }
    x.push_str("  </testsuite>\n");
    if let Some(rb) = &rec.rollback {
        let time: u64 = undos.iter().filter_map(|u| u.duration_ms).sum();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{} rollback\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
            attr(path),
            undos.len(),
            undo_failures,
            undo_skipped,
            secs(time),
            attr(&rec.started_at),
        );
        let _ = writeln!(
            x,
            "    <properties><property name=\"result\" value=\"{}\"/><property name=\"trigger\" value=\"{}\"/></properties>",
            attr(rb.result.as_str()),
            attr(&format!("{} {}", rb.trigger, rb.cause)),
        );
        for u in undos {
            testcase(&mut x, &format!("{path} rollback"), u);
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// A `<failure>`: a real failure, a failure `allow_failure` let pass (the
/// pipeline's test tab must not show it green; its message says it was
/// allowed), and a step the operator aborted.
fn is_failure(s: StepStatus) -> bool {
    s.is_failure()
        || matches!(
            s,
            StepStatus::Running | StepStatus::FailedAllowed | StepStatus::Aborted
        )
}

fn is_skipped(s: StepStatus) -> bool {
    matches!(
        s,
        StepStatus::Skipped | StepStatus::NotRun | StepStatus::DryRun
    )
}

fn testcase(x: &mut String, path: &str, step: &StepRecord) {
    let _ = writeln!(
        x,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
        attr(path),
        attr(&step.name),
        secs(step.duration_ms.unwrap_or(0)),
    );
    if is_failure(step.status) {
        let _ = writeln!(
            x,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            attr(&failure_message(step)),
            attr(
                &step
                    .status
                    .as_str()
                    .replace(" (", "_")
                    .replace([' ', '('], "_")
                    .replace(')', "")
            ),
            text(&failure_body(step)),
        );
    } else if is_skipped(step.status) {
        let message = match &step.reason {
            Some(r) => format!("{}: {r}", step.status.as_str()),
            None => step.status.as_str().to_string(),
        };
        let _ = writeln!(x, "      <skipped message=\"{}\"/>", attr(&message));
    }
    let out = system_out(step);
    if !out.is_empty() {
        let _ = writeln!(x, "      <system-out>{}</system-out>", text(&out));
    }
    x.push_str("    </testcase>\n");
}

/// Where the step failed; with `expect=`, the diff of the runbook's sample
/// against the output.
fn failure_body(step: &StepRecord) -> String {
    let mut body = format!(
        "step {} at line {} on {}",
        step.name, step.line, step.target
    );
    if let Some(e) = step.expect.as_ref().filter(|e| !e.ok) {
        let _ = write!(body, "\n{}", super::expect_line(e));
        if let Some(diff) = &e.diff {
            let _ = write!(body, "\n{}", diff.trim_end_matches('\n'));
        }
    }
    body
}

fn failure_message(step: &StepRecord) -> String {
    let mut m = step.status.as_str().to_string();
    if let Some(code) = step.exit_code {
        let _ = write!(m, ": exit code {code}");
    }
    if let Some(e) = step.http.as_ref().and_then(|h| h.error.as_ref()) {
        let _ = write!(m, ": {e}");
    }
    if let Some(r) = &step.reason {
        let _ = write!(m, ": {r}");
    }
    if step.status == StepStatus::FailedAllowed {
        m.push_str(" (allow_failure: the run went on)");
    }
    let failed_hosts: Vec<&str> = step
        .hosts
        .iter()
        .filter(|h| h.status.is_failure())
        .map(|h| h.host.as_str())
        .collect();
    if !failed_hosts.is_empty() {
        let _ = write!(m, " on {}", failed_hosts.join(", "));
    }
    m
}

/// What the step printed: a status line, then the HTTP exchange, per-host
/// sections, or the output.
fn system_out(step: &StepRecord) -> String {
    let mut lines: Vec<String> = Vec::new();
    if step.status == StepStatus::NotRun {
        return String::new();
    }
    let mut status = format!("{} on {}", step.status.as_str(), step.target);
    if let Some(ms) = step.duration_ms {
        let _ = write!(status, " in {}", format_duration_ms(ms));
    }
    if let Some(g) = &step.gate {
        let _ = write!(
            status,
            "; gate \"{}\" {} by {} at {}",
            g.message, g.decision, g.operator, g.at
        );
    }
    if step.attempts.len() > 1 {
        let _ = write!(status, "; {} attempts", step.attempts.len());
    }
    lines.push(status);
    if step.status == StepStatus::DryRun
        && let Some(r) = &step.rendered
    {
        lines.push(r.trim_end_matches('\n').to_string());
    }
    if let Some(h) = &step.http {
        lines.push(format!("{} {}", h.method, h.url));
        if let Some(s) = h.status {
            lines.push(format!("HTTP {s}"));
        }
        for (k, v) in &h.headers {
            lines.push(format!("{k}: {v}"));
        }
        if let Some(e) = &h.error {
            lines.push(format!("error: {e}"));
        }
    }
    for host in &step.hosts {
        let mut l = format!("--- {}: {}", host.host, host.status.as_str());
        if let Some(c) = host.exit_code {
            let _ = write!(l, ", exit {c}");
        }
        if let Some(e) = &host.error {
            let _ = write!(l, ", {e}");
        }
        lines.push(l);
        lines.extend(output_lines(&host.output));
    }
    if let Some(out) = &step.output {
        let body = output_lines(out);
        if step.http.is_some() && !body.is_empty() {
            lines.push(String::new());
        }
        lines.extend(body);
    }
    lines.join("\n")
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Escaped character data.
pub fn text(s: &str) -> String {
    escape(s, false)
}

/// An escaped attribute value (for double quotes); line breaks and tabs as
/// character references so they survive attribute normalisation.
pub fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, in_attr: bool) -> String {
    super::escape_markup(s, |c, out| match c {
        '"' if in_attr => out.push_str("&quot;"),
        '\n' if in_attr => out.push_str("&#10;"),
        '\t' if in_attr => out.push_str("&#9;"),
        '\r' => out.push_str("&#13;"),
        '\n' | '\t' => out.push(c),
        // Not allowed anywhere in XML 1.0, not even as references.
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
        '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
        c => out.push(c),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_handles_markup_and_illegal_characters() {
        assert_eq!(
            text("<a> & ]]> \u{1b}[0m\u{0}\r\n\u{ffff}"),
            "&lt;a&gt; &amp; ]]&gt; ␛[0m␀&#13;\n\u{fffd}"
        );
        assert_eq!(attr("say \"hi\"\n\tnow"), "say &quot;hi&quot;&#10;&#9;now");
    }

    #[test]
    fn seconds_have_millisecond_precision() {
        assert_eq!(secs(0), "0.000");
        assert_eq!(secs(61_005), "61.005");
    }
}
