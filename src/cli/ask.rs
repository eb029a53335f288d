//! On a terminal, a run asks for what it is missing instead of failing: a
//! required param nobody passed (its choices listed, the answer checked),
//! a secret whose environment variable is unset (echo off). Answers are
//! used for this run only; secrets are masked in every record like any
//! other secret. Without a terminal (CI) nothing is asked and the run is
//! refused with exit 2, naming what is missing, before anything runs.

use super::RunArgs;
use super::prompt_env::{echo_off, interrupted, restore};
use crate::document::{Document, SecretSpec};
use crate::error::{Error, Result};
use crate::report::plain_value as plain;
use indexmap::IndexMap;
use std::io::IsTerminal;

fn can_ask(args: &RunArgs) -> bool {
    !args.dry_run && std::io::stdin().is_terminal()
}

/// Keys a params file gives (none when it cannot be read: the run's own
/// params check reports that).
fn file_keys(args: &RunArgs) -> Vec<String> {
    let Some(f) = &args.params_file else {
        return Vec::new();
    };
    crate::input::read_to_string(f)
        .ok()
        .and_then(|t| serde_saphyr::from_str::<IndexMap<String, serde_json::Value>>(&t).ok())
        .map(|m| m.into_keys().collect())
        .unwrap_or_default()
}

/// `KEY=VALUE` for every required param without a value, asked on the
/// terminal; empty without one.
pub async fn missing_params(
    args: &RunArgs,
    doc: &Document,
    saved: Option<&IndexMap<String, serde_json::Value>>,
) -> Result<Vec<String>> {
    if !can_ask(args) {
        return Ok(Vec::new());
    }
    let given: Vec<String> = args
        .params
        .iter()
        .filter_map(|p| p.split_once('=').map(|(k, _)| k.to_string()))
        .chain(file_keys(args))
        .chain(saved.into_iter().flat_map(|s| s.keys().cloned()))
        .collect();
    let mut out = Vec::new();
    for (name, spec) in &doc.front.params {
        let from_alert = spec.from_alert.as_deref().and_then(|p| {
            let path = crate::alert::AlertPath::parse(p).ok()?;
            args.chosen_alert.as_ref()?.get(&path)
        });
        if !spec.required || spec.default.is_some() || given.contains(name) || from_alert.is_some()
        {
            continue;
        }
        let choices: Vec<String> = spec.choices.iter().flatten().map(plain).collect();
        let mut question = format!("param {name}");
        if let Some(d) = &spec.description {
            question.push_str(&format!(" ({d})"));
        }
        if !choices.is_empty() {
            question.push_str(&format!(" — one of: {}", choices.join(", ")));
        }
        loop {
            let answer = read(&format!("{question}: "), false).await?;
            if !answer.is_empty() && (choices.is_empty() || choices.contains(&answer)) {
                out.push(format!("{name}={answer}"));
                break;
            }
        }
    }
    Ok(out)
}

/// Values for `env:` secrets whose variable is unset, asked with echo off.
pub async fn missing_secrets(args: &RunArgs, doc: &Document) -> Result<Vec<(String, String)>> {
    if !can_ask(args) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (name, spec) in &doc.front.secrets {
        let Some(var) = unset_env(spec) else {
            continue;
        };
        let mut question = format!("secret {name} (${var} is not set)");
        if let Some(d) = &spec.description {
            question.push_str(&format!(" — {d}"));
        }
        let answer = loop {
            let a = read(&format!("{question}: "), true).await?;
            if !a.is_empty() {
                break a;
            }
        };
        out.push((name.clone(), answer));
    }
    Ok(out)
}

/// The environment variable of an `env:` secret, when it is unset or empty.
fn unset_env(spec: &SecretSpec) -> Option<&str> {
    let var = spec.env.as_deref()?;
    std::env::var(var)
        .map_or(true, |v| v.is_empty())
        .then_some(var)
}

/// The secrets left to resolve from their sources, and the answered ones
/// put back in declaration order.
pub fn without(
    specs: &IndexMap<String, SecretSpec>,
    asked: &[(String, String)],
) -> IndexMap<String, SecretSpec> {
    specs
        .iter()
        .filter(|(n, _)| !asked.iter().any(|(a, _)| a == *n))
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect()
}

pub fn in_order(
    specs: &IndexMap<String, SecretSpec>,
    resolved: Vec<(String, String)>,
    asked: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut all: IndexMap<String, String> = resolved.into_iter().chain(asked).collect();
    specs
        .keys()
        .filter_map(|n| all.shift_remove(n).map(|v| (n.clone(), v)))
        .collect()
}

/// One line from the terminal (`hidden`: echo off); Ctrl-C ends the run as
/// interrupted (the terminal restored first); `None` at end of input.
pub(super) async fn read_line(prompt: &str, hidden: bool) -> Option<String> {
    // Echo goes off before the question shows, so an answer typed the
    // moment the prompt appears is never echoed.
    let echo = hidden.then(echo_off).flatten();
    crate::console::err(prompt);
    let answer = tokio::select! {
        a = crate::console::read_answer() => a,
        _ = tokio::signal::ctrl_c() => {
            if let Some(saved) = echo {
                restore(saved);
            }
            interrupted();
        }
    };
    if let Some(saved) = echo {
        restore(saved);
        crate::console::err("\n");
    }
    answer
}

/// [`read_line`], trimmed; end of input refuses the run.
async fn read(prompt: &str, hidden: bool) -> Result<String> {
    read_line(prompt, hidden)
        .await
        .map(|a| a.trim().to_string())
        .ok_or_else(|| Error::Usage("no answer: end of input".into()))
}
