//! `runbook check`: the analyzer's verdict on files and directories, plus
//! weak-secret warnings and (`--preconditions`) the runbooks' `requires:`
//! evaluated as `run` evaluates them, rendered for people, JSON or JUnit.

use crate::analyze::position::front_key_line_col;
use crate::cli::commands::check_report::{FileReport, StepHosts};
use crate::cli::{CheckArgs, CheckFormat, color_choice};
use crate::document::{self, Diagnostic, Document};
use crate::engine::params::resolve_params;
use crate::error::{Error, Result, exit};
use crate::report::terminal;
use crate::secrets::Redactor;
use crate::template::{Escape, Templates, to_value};
use indexmap::IndexMap;
use std::io::IsTerminal;
use std::path::Path;

pub fn check_command(args: CheckArgs) -> Result<i32> {
    use super::check_report as check;
    let opts = check::CheckOptions {
        strict: args.strict,
        preconditions: args.preconditions,
    };
    let mut report = check::check_paths(&args.paths, &opts);
    let mut secrets_of = IndexMap::new();
    for file in &mut report.files {
        let Ok(doc) = document::parse_file(Path::new(&file.path)) else {
            continue;
        };
        let secrets = crate::secrets::resolve_passive(&doc.front.secrets);
        let (line, col, width) = front_key_line_col(&doc, &["secrets"]);
        for w in crate::secrets::weak_secret_warnings(&secrets, &doc.source.text) {
            file.diagnostics
                .push(Diagnostic::at_line_col(&doc.source, line, col, width, w).warning());
        }
        secrets_of.insert(file.path.clone(), secrets);
    }
    if args.preconditions {
        let rt = crate::cli::runtime()?;
        for file in &mut report.files {
            let Ok(doc) = document::parse_file(Path::new(&file.path)) else {
                continue;
            };
            let params = match resolve_params(&doc, &args.params, None, None) {
                Ok(p) => p,
                Err(Error::Invalid(d)) => {
                    file.diagnostics.extend(d);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Rendered as `run` renders `requires:` (params, env, secrets,
            // hosts) and redacted as `run` redacts (the secrets `check` can read).
            let mut secrets = secrets_of.get(&file.path).cloned().unwrap_or_default();
            // `keyring:` items are read here, as `run` reads them (never printed).
            let (from_keyring, unreadable) = rt.block_on(crate::secrets::keyring::check(&doc));
            file.diagnostics.extend(unreadable);
            secrets.extend(from_keyring);
            let redactor = Redactor::new(secrets.clone());
            let secrets: IndexMap<String, String> = secrets.into_iter().collect();
            let templates = Templates::new();
            let value = minijinja::context! {
                params => to_value(&params),
                env => to_value(&std::env::vars().collect::<IndexMap<String,String>>()),
                secrets => to_value(&secrets),
                hosts => to_value(&doc.front.hosts),
            };
            let render = |s: &str| -> std::result::Result<String, String> {
                templates
                    .render(s, Escape::None, &value)
                    .map_err(|e| e.message)
            };
            let ec2 = crate::engine::probe::ec2_resolver();
            let results = rt.block_on(crate::engine::probe::evaluate(
                &doc.front.requires,
                &doc.front.hosts,
                &render,
                ec2.as_ref(),
            ));
            // Later results stand as placeholders, as in run's check.
            let with_steps = minijinja::context! { steps => crate::template::placeholder("steps"), ..value.clone() };
            blast_radius(
                file,
                &doc,
                &templates,
                &with_steps,
                ec2.as_ref(),
                &rt,
                args.allow_hosts,
            );
            let (line, col, width) = front_key_line_col(&doc, &["requires"]);
            for r in results.iter().filter(|r| !r.ok) {
                file.diagnostics.push(Diagnostic::at_line_col(
                    &doc.source,
                    line,
                    col,
                    width,
                    redactor.redact(&r.failure_message()),
                ));
            }
        }
    }
    // Human text goes to stderr; colour follows where it is printed.
    let color = terminal::color_enabled(color_choice(args.color), std::io::stderr().is_terminal());
    let text = match args.format {
        CheckFormat::Human => check::render_human(&report, color),
        CheckFormat::Json => check::render_json(&report),
        CheckFormat::Junit => check::render_junit(&report),
    };
    match args.format {
        CheckFormat::Human => crate::console::err(&text),
        _ => crate::console::out(text.as_bytes()).map_err(|e| Error::io("<stdout>", e))?,
    }
    let has_precondition_failure = report.files.iter().any(|f| {
        f.diagnostics
            .iter()
            .any(|d| d.message.starts_with("precondition failed"))
    });
    let code = report.exit_code();
    if has_precondition_failure && code == exit::INVALID {
        let only_pre = report.files.iter().all(|f| {
            f.diagnostics.iter().all(|d| {
                d.message.starts_with("precondition failed")
                    || d.severity == document::Severity::Warning
            })
        });
        if only_pre {
            return Ok(exit::PRECONDITION);
        }
    }
    Ok(code)
}

/// Each remote step's hosts, resolved as `run` resolves them before the
/// first step; a step over its `max_hosts` is the error `run` would stop on.
fn blast_radius(
    file: &mut FileReport,
    doc: &Document,
    templates: &Templates,
    value: &minijinja::Value,
    ec2: &dyn crate::exec::inventory::Ec2Resolver,
    rt: &tokio::runtime::Runtime,
    allow: Option<usize>,
) {
    use crate::engine::blast::{self, Reach};
    for step in doc.steps.iter().filter(|s| !s.attrs.skip) {
        let reach = rt.block_on(blast::reach(doc, step, templates, value, ec2));
        let targets = match &reach {
            Reach::Local => continue,
            Reach::Hosts { targets, .. } => Some(targets.clone()),
            _ => None,
        };
        if let Some(t) = &targets
            && let Some(why) = blast::over_limit(doc, step, allow, t.len())
        {
            file.diagnostics.push(blast::refusal(doc, step, why));
        }
        file.hosts.push(StepHosts {
            step: step.name.clone(),
            line: step.line,
            summary: reach.summary(),
            targets,
        });
    }
}
