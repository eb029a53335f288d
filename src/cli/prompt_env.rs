//! Values for Runme's prompts (`export NAME=[Enter a value]`,
//! `export NAME="default"` in a shell step), settled before anything runs:
//! `-p NAME=VALUE` first; on a terminal the operator is asked (echo off when
//! the name looks secret), the environment's value or the default offered;
//! without a terminal the environment's value, else the default, else the
//! run is refused (exit 2) naming the variable.

use super::RunArgs;
use crate::document::prompts::{Prompt, looks_secret, prompts};
use crate::document::{Document, Step};
use crate::engine::select::not_selected;
use crate::error::{Error, Result};
use std::io::IsTerminal;

/// The steps this run would run.
fn covered<'a>(args: &'a RunArgs, doc: &'a Document) -> impl Iterator<Item = &'a Step> {
    let first = args
        .from
        .as_ref()
        .and_then(|f| doc.steps.iter().position(|s| &s.name == f))
        .unwrap_or(0);
    doc.steps.iter().skip(first).filter(|s| {
        !s.attrs.skip && not_selected(s, &args.only, &args.tag, args.from.as_deref()).is_none()
    })
}

/// The prompts of this run, each name once.
fn unique(args: &RunArgs, doc: &Document) -> Vec<Prompt> {
    let mut out: Vec<Prompt> = Vec::new();
    for p in prompts(covered(args, doc)) {
        if !out.iter().any(|o| o.name == p.name) {
            out.push(p);
        }
    }
    out
}

/// The `-p` names that answer a prompt rather than a declared param.
pub fn answered_by_p(args: &RunArgs, doc: &Document) -> Vec<String> {
    let names: Vec<String> = unique(args, doc).into_iter().map(|p| p.name).collect();
    args.params
        .iter()
        .filter_map(|p| p.split_once('=').map(|(k, _)| k.to_string()))
        .filter(|k| names.contains(k) && !doc.front.params.contains_key(k))
        .collect()
}

/// Every prompt's value (a dry run asks nothing and leaves unknown ones as
/// written).
pub async fn resolve(args: &RunArgs, doc: &Document) -> Result<Vec<(String, String)>> {
    let given: Vec<(&str, &str)> = args
        .params
        .iter()
        .filter_map(|p| p.split_once('='))
        .collect();
    // Runme's `skipPrompts: true`: take -p, the environment or the default
    // without asking (never a confirmation gate: those are not prompts).
    let skip = doc.front.skip_prompts == Some(true);
    let tty = std::io::stdin().is_terminal() && !args.dry_run && !skip;
    let mut values = Vec::new();
    for p in unique(args, doc) {
        let from_p = given
            .iter()
            .rev()
            .find(|(k, _)| *k == p.name)
            .map(|(_, v)| v.to_string());
        let offered = std::env::var(&p.name).ok().or_else(|| p.default.clone());
        let value = match (from_p, tty) {
            (Some(v), _) => Some(v),
            (None, true) => Some(ask(&p, offered.as_deref()).await?),
            (None, false) => offered,
        };
        match value {
            Some(v) => values.push((p.name.clone(), v)),
            None if args.dry_run => {}
            None => {
                return Err(Error::Usage(format!(
                    "step `{}` (line {}) asks for {} (`export {}=[{}]`) and there is no terminal to ask on: \
                     pass -p {}=VALUE or set {} in the environment",
                    p.step, p.line, p.name, p.name, p.hint, p.name, p.name
                )));
            }
        }
    }
    Ok(values)
}

/// Asks on the terminal; an empty answer takes what is offered.
async fn ask(p: &Prompt, offered: Option<&str>) -> Result<String> {
    let secret = looks_secret(&p.name);
    let shown = match offered {
        Some(_) if secret => " [********]".to_string(),
        Some(o) => format!(" [{o}]"),
        None => String::new(),
    };
    let hint = if p.default.is_none() && !p.hint.is_empty() {
        format!(" ({})", p.hint)
    } else {
        String::new()
    };
    loop {
        let question = format!("{}{hint}{shown}: ", p.name);
        let Some(answer) = super::ask::read_line(&question, secret).await else {
            return Err(Error::Usage(format!(
                "no value for {}: end of input",
                p.name
            )));
        };
        match (answer.is_empty(), offered) {
            (false, _) => return Ok(answer),
            (true, Some(o)) => return Ok(o.to_string()),
            (true, None) => continue,
        }
    }
}

/// Turns the terminal's echo off; the settings to restore.
pub(super) fn echo_off() -> Option<nix::sys::termios::Termios> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok()?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
    Some(saved)
}

pub(super) fn restore(saved: nix::sys::termios::Termios) {
    let _ =
        nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &saved);
}

/// Ctrl-C at a question, before anything ran: the terminal is as it was,
/// and `runbook` ends as interrupted (SIGINT, exit 130 to the shell).
pub(super) fn interrupted() -> ! {
    crate::console::err("\n");
    use nix::sys::signal::{SigHandler, Signal, raise, signal};
    // SAFETY: restoring the default disposition before re-raising.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigDfl);
    }
    let _ = raise(Signal::SIGINT);
    std::process::exit(130)
}
