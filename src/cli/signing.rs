//! Signing records from the command line: `run --sign-key` loads the signer
//! before anything runs (asking for a passphrase on a terminal, refusing
//! without one) and signs the copy's chain head when the copy is written;
//! `runbook sign` signs an existing copy, or embeds a signature made by
//! `ssh-keygen -Y sign` over its head.

use super::RunArgs;
use crate::document::{chain, signature};
use crate::error::{Error, Result, exit};
use crate::record::{RunRecord, SignatureRecord};
use crate::secrets::Redactor;
use crate::sign::{self, Loaded, Signer};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `SSH_AUTH_SOCK`, when set.
fn agent_socket() -> Option<PathBuf> {
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// The signer `spec` names, ready to sign; a passphrase is asked on a
/// terminal (three tries), refused without one.
pub async fn load_signer(spec: &str) -> Result<Signer> {
    let key = match sign::load(spec, agent_socket().as_deref())? {
        Loaded::Ready(s) => return Ok(s),
        Loaded::Encrypted(key) => key,
    };
    if !std::io::stdin().is_terminal() {
        return Err(sign::encrypted_refusal(spec));
    }
    let mut last = None;
    for _ in 0..3 {
        let prompt = format!("Passphrase for {spec}: ");
        let Some(p) = super::ask::read_line(&prompt, true).await else {
            return Err(Error::Usage(format!(
                "--sign-key {spec}: no passphrase (end of input)"
            )));
        };
        match sign::decrypt(spec, &key, p.trim_end_matches(['\r', '\n'])) {
            Ok(s) => return Ok(s),
            Err(e) => {
                crate::console::err(&format!("{e}\n"));
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::Usage(format!("--sign-key {spec}: wrong passphrase"))))
}

/// `run`: the signer of `--sign-key` / `RUNBOOK_SIGN_KEY`, before anything
/// runs.
pub async fn load(args: &RunArgs) -> Result<Option<Arc<Signer>>> {
    match args.sign_key.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(spec) => Ok(Some(Arc::new(load_signer(spec).await?))),
    }
}

/// The record's `signature` for this run's signer (its comment redacted
/// like every other string of the record).
pub fn record_of(args: &RunArgs, redactor: &Redactor) -> Option<SignatureRecord> {
    let s = args.signer.as_deref()?;
    let i = s.info();
    Some(SignatureRecord {
        namespace: sign::NAMESPACE.into(),
        key_type: i.key_type,
        fingerprint: i.fingerprint,
        comment: redactor.redact(&i.comment),
        via: match s {
            Signer::Key(_) => "key".into(),
            Signer::Agent { .. } => "agent".into(),
        },
    })
}

/// The copy with the signature of its chain head, or the unsigned copy and
/// why it could not be signed (the record then has no signature).
pub fn sign_copy(args: &RunArgs, text: String, record: &mut RunRecord) -> (String, Option<Error>) {
    let Some(signer) = args.signer.as_deref() else {
        record.signature = None;
        return (text, None);
    };
    let signed = chain::head(&text)
        .ok_or_else(|| Error::Other("the copy has no chain head to sign".into()))
        .and_then(|head| {
            let pem = signer.sign(&head)?;
            signature::embed(&text, &head, &pem)
                .ok_or_else(|| Error::Other("the copy has no run header".into()))
        });
    match signed {
        Ok(t) => (t, None),
        Err(e) => {
            record.signature = None;
            let e = Error::Other(format!("cannot sign the copy: {e}"));
            (text, Some(e))
        }
    }
}

/// `runbook sign COPY`: what signs it.
pub enum SignWith<'a> {
    /// A key file or `agent`.
    Key(&'a str),
    /// A signature file made by `ssh-keygen -Y sign -n runbook-record`
    /// over the head (`runbook verify --print-head`).
    Signature(&'a Path),
}

/// `runbook sign`: embeds a signature of the copy's chain head (replacing
/// any earlier one). A copy that does not verify is not signed (exit 1).
pub fn sign_command(copy: &Path, with: SignWith, output: Option<&Path>) -> Result<i32> {
    let text = crate::input::read_to_string(copy).map_err(|e| Error::io(copy, e))?;
    let v = chain::verify(&text);
    let (Some(head), None) = (v.chain_head.clone(), v.failure.as_ref()) else {
        let why = v
            .failure
            .map(|f| format!("line {}: {}: {}", f.line, f.reason.as_str(), f.message))
            .unwrap_or_default();
        crate::console::err(&format!(
            "error: {} does not verify, so it is not signed: {why}\n",
            copy.display()
        ));
        return Ok(exit::STEP_FAILED);
    };
    let pem = match with {
        SignWith::Key(spec) => {
            let rt = super::runtime()?;
            let signer = rt.block_on(load_signer(spec))?;
            signer.sign(&head)?
        }
        SignWith::Signature(path) => {
            let pem = crate::input::read_to_string(path).map_err(|e| Error::io(path, e))?;
            if let Err((_, why)) = sign::check::check(&pem, &head, None, None) {
                crate::console::err(&format!("error: {}: {why}\n", path.display()));
                return Ok(exit::STEP_FAILED);
            }
            pem
        }
    };
    let signed = signature::embed(&text, &head, &pem)
        .ok_or_else(|| Error::Other(format!("{}: no run header", copy.display())))?;
    let out = output.unwrap_or(copy);
    crate::safe_fs::write_private(out, signed.as_bytes())?;
    crate::console::err(&format!(
        "signed {}{}\n",
        out.display(),
        replaced(&text, &pem)
    ));
    Ok(exit::OK)
}

/// ` (replacing the signature by …)` when the copy was signed by another
/// key before: a copy holds one signature, and the operator is told.
fn replaced(text: &str, new_pem: &str) -> String {
    let Some(old) = signature::find(text).into_iter().next() else {
        return String::new();
    };
    let key = |pem: &str| {
        sign::parse(pem)
            .ok()
            .map(|sig| ssh_key::PublicKey::from(sig.public_key().clone()))
    };
    let by = match (key(&old.pem), key(new_pem)) {
        (Some(a), Some(b)) if a.key_data() == b.key_data() => return String::new(),
        (Some(a), _) => {
            let info = sign::SignerInfo::of(&a);
            format!("{} {}", info.key_type, info.fingerprint)
        }
        (None, _) => "an unreadable signature".into(),
    };
    format!(" (replacing the signature by {by})")
}
