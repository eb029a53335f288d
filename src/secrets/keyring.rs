//! `keyring:` secrets: the value of an item in the OS keyring — the
//! freedesktop Secret Service over the D-Bus session bus on Linux
//! (GNOME Keyring, KeePassXC, KWallet), where desktop users already keep
//! their passwords.
//!
//! An item is found by the attributes `service` and `username`, the pair
//! `secret-tool store … service S username N`, Python's `keyring` and
//! keyring-rs write, so items stored by any of them are found. Exactly one
//! item must match. A locked item is unlocked through the Secret Service
//! (on a desktop that shows its unlock dialog); every wait is bounded.
//!
//! A keyring that cannot be read stops the run before anything runs
//! (exit 2): the message names the secret, the item, why, and what to do,
//! and [`at_declaration`] puts it at the `keyring:` line of the front
//! matter. The value itself is never in a message or a log. The D-Bus
//! side is in `keyring/dbus.rs`, behind the default-on cargo feature
//! `keyring`; without it a `keyring:` secret is an error that says so.

use crate::analyze::position;
use crate::document::{Diagnostic, Document, KeyringRef};
use crate::error::Error;
use std::time::Duration;

#[cfg(feature = "keyring")]
mod dbus;

/// How long the Secret Service may take to answer a lookup (connecting,
/// opening a session, searching, reading the item).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an unlock may take: on a desktop the operator types the
/// keyring's password into a dialog.
pub const UNLOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an item could not be read. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No session bus to talk to (why).
    NoBus(String),
    /// A bus, but nothing on it owns `org.freedesktop.secrets`.
    NoService,
    NotFound,
    /// More than one item matches.
    Ambiguous(usize),
    /// The item is locked and unlocking it failed (how).
    Locked(String),
    NotUtf8,
    /// No answer within this long.
    Timeout(Duration),
    /// Any other error of the Secret Service or the bus.
    Service(String),
    /// Built without the `keyring` feature.
    Unsupported,
}

/// The message for a failure: `secret NAME: cannot read keyring item
/// service=S username=N: REASON; WHAT TO DO`.
pub fn message(secret: &str, item: &KeyringRef, failure: &Failure) -> String {
    let q = |s: &str| shell_words::quote(s).into_owned();
    let attrs = format!("service {} username {}", q(&item.service), q(&item.name));
    let (reason, todo) = match failure {
        Failure::NoBus(why) => (
            format!("no D-Bus session bus ({why})"),
            "run it in the desktop session that holds the keyring (or under `dbus-run-session` \
             with `gnome-keyring-daemon --unlock`), or give the secret through `env:`, `file:` \
             or `command:`"
                .to_string(),
        ),
        Failure::NoService => (
            "no Secret Service on the D-Bus session bus (nothing provides org.freedesktop.secrets)"
                .to_string(),
            "start one (`gnome-keyring-daemon --start --components=secrets`, or KeePassXC with \
             its Secret Service integration) and unlock it"
                .to_string(),
        ),
        Failure::NotFound => (
            "no such item".to_string(),
            format!(
                "store it with `secret-tool store --label={} {attrs}`",
                q(secret)
            ),
        ),
        Failure::Ambiguous(n) => (
            format!("{n} items match"),
            format!("keep only one; `secret-tool search --all {attrs}` lists them"),
        ),
        Failure::Locked(how) => (
            format!("the item is locked ({how})"),
            "unlock the keyring (log in to the desktop session, or `gnome-keyring-daemon \
             --unlock` with its password on stdin) and run again"
                .to_string(),
        ),
        Failure::NotUtf8 => (
            "the stored secret is not valid UTF-8".to_string(),
            format!(
                "store it as text with `secret-tool store --label={} {attrs}`",
                q(secret)
            ),
        ),
        Failure::Timeout(d) => (
            format!(
                "the Secret Service did not answer within {}",
                crate::duration::format_duration(*d)
            ),
            format!("check that the keyring daemon answers: `secret-tool search {attrs}`"),
        ),
        Failure::Service(e) => (
            format!("the Secret Service failed: {e}"),
            format!("check the keyring daemon: `secret-tool search {attrs}`"),
        ),
        Failure::Unsupported => (
            "this runbook binary was built without keyring support (cargo feature `keyring`)"
                .to_string(),
            format!(
                "build it with `--features keyring`, or use `command: secret-tool lookup {attrs}`"
            ),
        ),
    };
    format!("secret {secret}: cannot read keyring item {attrs}: {reason}; {todo}")
}

/// Reads the item's secret, one trailing newline removed (as `file:` and
/// `command:` values are).
pub async fn read(secret: &str, item: &KeyringRef) -> Result<String, Error> {
    lookup(item)
        .await
        .map(trim_one_newline)
        .map_err(|f| Error::Other(message(secret, item, &f)))
}

#[cfg(feature = "keyring")]
async fn lookup(item: &KeyringRef) -> Result<String, Failure> {
    dbus::lookup(&item.service, &item.name, LOOKUP_TIMEOUT, UNLOCK_TIMEOUT).await
}

#[cfg(not(feature = "keyring"))]
async fn lookup(_item: &KeyringRef) -> Result<String, Failure> {
    Err(Failure::Unsupported)
}

fn trim_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// `e` about secret `name` of `doc`: when it is a `keyring:` secret, the
/// same message as a diagnostic at its `keyring:` key; otherwise `e`.
pub fn at_declaration(doc: &Document, name: &str, e: Error) -> Error {
    let is_keyring = doc
        .front
        .secrets
        .get(name)
        .is_some_and(|s| s.keyring.is_some());
    match e {
        Error::Other(message) if is_keyring => {
            let span = position::front_key(doc, &["secrets", name, "keyring"]);
            Error::Invalid(vec![Diagnostic::at(
                &doc.source,
                span.start,
                span.end,
                message,
            )])
        }
        e => e,
    }
}

/// For `check --preconditions`: reads every `keyring:` secret of `doc`, as
/// `run` would. The values (for rendering and redacting what `check`
/// shows, never printed) and a diagnostic at the declaration for each item
/// that cannot be read.
pub async fn check(doc: &Document) -> (Vec<(String, String)>, Vec<Diagnostic>) {
    let mut values = Vec::new();
    let mut problems = Vec::new();
    for (name, spec) in &doc.front.secrets {
        let Some(item) = &spec.keyring else { continue };
        if spec.env.is_some() || spec.file.is_some() || spec.command.is_some() {
            continue; // more than one source: `analyze` reports it.
        }
        match read(name, item).await {
            Ok(v) => values.push((name.clone(), v)),
            Err(e) => match at_declaration(doc, name, e) {
                Error::Invalid(d) => problems.extend(d),
                other => problems.push(Diagnostic::at(&doc.source, 0, 1, other.to_string())),
            },
        }
    }
    (values, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_in_a_message_quote_what_the_runbook_wrote() {
        let item = KeyringRef::parse("it's a svc/$(touch pwned)");
        assert_eq!(
            message("S", &item, &Failure::NotFound),
            "secret S: cannot read keyring item service 'it'\\''s a svc' username '$(touch pwned)': \
             no such item; store it with `secret-tool store --label=S service 'it'\\''s a svc' \
             username '$(touch pwned)'`"
        );
    }

    #[test]
    fn a_build_without_the_feature_says_so_and_what_to_use() {
        let item = KeyringRef::parse("grafana/ops-bot");
        assert_eq!(
            message("G", &item, &Failure::Unsupported),
            "secret G: cannot read keyring item service grafana username ops-bot: this runbook \
             binary was built without keyring support (cargo feature `keyring`); build it with \
             `--features keyring`, or use `command: secret-tool lookup service grafana username ops-bot`"
        );
        assert_eq!(
            message("G", &item, &Failure::Timeout(LOOKUP_TIMEOUT)),
            "secret G: cannot read keyring item service grafana username ops-bot: the Secret \
             Service did not answer within 30s; check that the keyring daemon answers: \
             `secret-tool search service grafana username ops-bot`"
        );
    }
}
