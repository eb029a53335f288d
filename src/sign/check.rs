//! Checking a record's signature: that it is an sshsig of the record
//! namespace, made over this copy's chain head, and (with an
//! allowed_signers file) by whom. Each way it can fail has its own message;
//! `runbook verify` prints them.

use super::allowed::{self, Entry, Refusal};
use super::{NAMESPACE, SignerInfo, message};
use ssh_key::PublicKey;

/// Who signed, once the signature verified.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checked {
    #[serde(flatten)]
    pub signer: SignerInfo,
    pub namespace: String,
    /// The allowed_signers principals of the key (`None` when no
    /// allowed_signers file was given: nobody vouched for the key).
    pub principals: Option<Vec<String>>,
}

/// Why a signature does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Not an SSH signature, or edited.
    Invalid,
    /// Made for another namespace.
    Namespace,
    /// Valid, but over another chain head.
    OtherHead,
    /// Valid, but the signer is not allowed.
    NotAllowed,
}

/// What an allowed_signers check needs: the entries, the file's name (for
/// messages) and the time the record says it was made (seconds).
pub struct Allowed<'a> {
    pub entries: &'a [Entry],
    pub file: &'a str,
    pub when: i64,
}

/// Whether `sig` verifies over `head` (with or without the newline).
fn verifies(key: &PublicKey, head: &str, sig: &ssh_key::SshSig) -> bool {
    key.verify(NAMESPACE, &message(head), sig).is_ok()
        || key.verify(NAMESPACE, head.as_bytes(), sig).is_ok()
}

/// Checks the armored signature `pem` against the copy's `head`;
/// `stated` is the head the signature block says it signs.
pub fn check(
    pem: &str,
    head: &str,
    stated: Option<&str>,
    allowed: Option<&Allowed>,
) -> Result<Checked, (Failure, String)> {
    let sig = super::parse(pem).map_err(|e| {
        (
            Failure::Invalid,
            format!("the signature block does not hold a readable SSH signature ({e})"),
        )
    })?;
    if sig.namespace() != NAMESPACE {
        return Err((
            Failure::Namespace,
            format!(
                "the signature is for namespace `{}`, not `{NAMESPACE}`: it was not made for a runbook record",
                sig.namespace().escape_debug()
            ),
        ));
    }
    let key = PublicKey::from(sig.public_key().clone());
    let signer = SignerInfo::of(&key);
    if !verifies(&key, head, &sig) {
        if let Some(other) = stated.filter(|s| *s != head && verifies(&key, s, &sig)) {
            return Err((
                Failure::OtherHead,
                format!(
                    "the signature by {} is over chain head {}, not this copy's {}",
                    signer.fingerprint,
                    short(other),
                    short(head)
                ),
            ));
        }
        return Err((
            Failure::Invalid,
            format!(
                "the signature does not verify over this copy's chain head {} (the signature was altered, or made over another head)",
                short(head)
            ),
        ));
    }
    let principals = match allowed {
        None => None,
        Some(a) => Some(
            allowed::principals(a.entries, &key, NAMESPACE, a.when)
                .map_err(|r| (Failure::NotAllowed, refusal(&r, &signer, a.file)))?,
        ),
    };
    Ok(Checked {
        signer,
        namespace: NAMESPACE.into(),
        principals,
    })
}

fn short(head: &str) -> &str {
    &head[..head.len().min(16)]
}

fn refusal(r: &Refusal, s: &SignerInfo, file: &str) -> String {
    let who = format!("the signer's key {} {}", s.key_type, s.fingerprint);
    match r {
        Refusal::NotListed => format!("{who} is not in {file}"),
        Refusal::Namespace(lines) => {
            let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            format!(
                "{who} is in {file} (line {}) but not for namespace {NAMESPACE}",
                lines.join(", ")
            )
        }
        Refusal::Time(line, why) => format!("{who} is in {file} (line {line}) but {why}"),
    }
}
