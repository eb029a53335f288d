//! Signed records: the chain head of an annotated copy signed as an SSH
//! signature (`sshsig`, the format `ssh-keygen -Y sign` writes and git's SSH
//! commit signing uses), namespace [`NAMESPACE`], SHA-512. The signer is a
//! private key file or a key held by ssh-agent ([`agent`]); who may sign is
//! an OpenSSH `allowed_signers` file ([`allowed`]). No clap here and no
//! Markdown: the copy's signature block is `document::signature`.

pub mod agent;
pub mod allowed;
pub mod check;
mod rsa;

use crate::error::{Error, Result};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::path::{Path, PathBuf};

/// The sshsig namespace of a runbook record: a signature made for another
/// purpose (a git commit, a file) never verifies as a record's.
pub const NAMESPACE: &str = "runbook-record";

/// The bytes signed: the chain head (64 lowercase hex digits) and a
/// newline, exactly what `runbook verify --print-head` prints. A signature
/// over the head without the newline is accepted too.
pub fn message(head: &str) -> Vec<u8> {
    format!("{head}\n").into_bytes()
}

/// What signs: a decrypted private key, or a key held by ssh-agent.
pub enum Signer {
    Key(Box<PrivateKey>),
    Agent { socket: PathBuf, key: PublicKey },
}

impl std::fmt::Debug for Signer {
    // Never the key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", describe(self.public()))
    }
}

impl Signer {
    pub fn public(&self) -> &PublicKey {
        match self {
            Signer::Key(k) => k.public_key(),
            Signer::Agent { key, .. } => key,
        }
    }

    /// Signs `head`; the armored signature (`-----BEGIN SSH SIGNATURE-----`).
    pub fn sign(&self, head: &str) -> Result<String> {
        let msg = message(head);
        let sig = match self {
            Signer::Key(k) => match rsa::sign(k, NAMESPACE, &msg) {
                Some(sig) => sig?,
                None => k
                    .sign(NAMESPACE, HashAlg::Sha512, &msg)
                    .map_err(|e| Error::Other(format!("cannot sign the chain head: {e}")))?,
            },
            Signer::Agent { socket, key } => agent::sign(socket, key, &msg)?,
        };
        sig.to_pem(LineEnding::LF)
            .map_err(|e| Error::Other(format!("cannot encode the signature: {e}")))
    }

    /// The signer as the record keeps it.
    pub fn info(&self) -> SignerInfo {
        SignerInfo::of(self.public())
    }
}

/// Who signed, as the record and `verify` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignerInfo {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub key_type: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The key's comment (empty when it has none).
    pub comment: String,
}

impl SignerInfo {
    pub fn of(key: &PublicKey) -> SignerInfo {
        SignerInfo {
            key_type: key.algorithm().as_str().to_string(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            comment: key.comment().to_string(),
        }
    }
}

/// `ssh-ed25519 SHA256:…` (and the comment, when there is one).
pub fn describe(key: &PublicKey) -> String {
    let i = SignerInfo::of(key);
    if i.comment.is_empty() {
        format!("{} {}", i.key_type, i.fingerprint)
    } else {
        format!("{} {} ({})", i.key_type, i.fingerprint, i.comment)
    }
}

/// `--sign-key`'s value: a key file, or `agent` (the first key of the
/// running ssh-agent).
pub const AGENT: &str = "agent";

/// A signer as far as it could be loaded without asking anything.
pub enum Loaded {
    Ready(Signer),
    /// A passphrase-protected key that no agent holds: the caller asks for
    /// the passphrase on a terminal, or refuses.
    Encrypted(Box<PrivateKey>),
}

/// Loads the signer `spec` names (`agent`, a private key file, or a public
/// key file whose private key ssh-agent holds). `agent_socket` is
/// `SSH_AUTH_SOCK`.
pub fn load(spec: &str, agent_socket: Option<&Path>) -> Result<Loaded> {
    if spec == AGENT {
        let socket = agent_socket.ok_or_else(|| {
            Error::Usage(
                "--sign-key agent: no ssh-agent (SSH_AUTH_SOCK is not set); start one and ssh-add the key, or pass the key file".into(),
            )
        })?;
        let keys = agent::identities(socket)?;
        let key = keys.into_iter().find(agent::can_sign).ok_or_else(|| {
            Error::Usage(format!(
                "--sign-key agent: the ssh-agent at {} holds no ed25519, ecdsa or rsa key (ssh-add one first)",
                socket.display()
            ))
        })?;
        return Ok(Loaded::Ready(Signer::Agent {
            socket: socket.to_path_buf(),
            key,
        }));
    }
    let path = Path::new(spec);
    let file = read_key_file(path)?;
    let text = &file.text;
    let trimmed = text.trim_start();
    if !trimmed.starts_with("-----BEGIN") {
        // A public key: its private half must be in the agent.
        let key = PublicKey::from_openssh(trimmed.trim_end()).map_err(|e| {
            Error::Usage(format!(
                "--sign-key {spec}: neither an OpenSSH private key nor a public key ({e})"
            ))
        })?;
        return from_agent(spec, key, agent_socket)?
            .map(Loaded::Ready)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--sign-key {spec}: a public key, and no ssh-agent holds its private key ({})",
                    describe_agent(agent_socket)
                ))
            });
    }
    file.private_to_owner(path)?;
    let key = PrivateKey::from_openssh(text.as_bytes()).map_err(|e| {
        let hint = if trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            String::new()
        } else {
            " — only the OpenSSH format is read; convert it with `ssh-keygen -p -f KEY`".into()
        };
        Error::Usage(format!(
            "--sign-key {spec}: not a usable OpenSSH private key ({e}){hint}"
        ))
    })?;
    if !key.is_encrypted() {
        return Ok(Loaded::Ready(Signer::Key(Box::new(key))));
    }
    // An encrypted key's public half is in clear: the agent may hold it.
    if let Ok(Some(signer)) = from_agent(spec, key.public_key().clone(), agent_socket) {
        return Ok(Loaded::Ready(signer));
    }
    Ok(Loaded::Encrypted(Box::new(key)))
}

/// Decrypts a passphrase-protected key.
pub fn decrypt(spec: &str, key: &PrivateKey, passphrase: &str) -> Result<Signer> {
    key.decrypt(passphrase.as_bytes())
        .map(|k| Signer::Key(Box::new(k)))
        .map_err(|_| Error::Usage(format!("--sign-key {spec}: wrong passphrase")))
}

/// The refusal for an encrypted key when nothing can be asked.
pub fn encrypted_refusal(spec: &str) -> Error {
    Error::Usage(format!(
        "--sign-key {spec}: the key is passphrase-protected and there is no terminal to ask on; \
         add it to ssh-agent (ssh-add {spec}) and run with SSH_AUTH_SOCK set, or use a key without a passphrase"
    ))
}

fn describe_agent(socket: Option<&Path>) -> String {
    match socket {
        Some(s) => format!("asked the agent at {}", s.display()),
        None => "SSH_AUTH_SOCK is not set".into(),
    }
}

/// The agent's copy of `key`, when an agent runs and holds it.
fn from_agent(spec: &str, key: PublicKey, socket: Option<&Path>) -> Result<Option<Signer>> {
    let Some(socket) = socket else {
        return Ok(None);
    };
    let held =
        agent::identities(socket).map_err(|e| Error::Usage(format!("--sign-key {spec}: {e}")))?;
    Ok(held
        .into_iter()
        .find(|k| k.key_data() == key.key_data())
        .map(|key| Signer::Agent {
            socket: socket.to_path_buf(),
            key,
        }))
}

/// A key file: its text and permission bits, from one open file.
struct KeyFile {
    text: String,
    mode: u32,
}

impl KeyFile {
    /// A private key others can read is refused, as ssh and `ssh-keygen -Y
    /// sign` refuse it: whoever can read it can sign records as its owner.
    fn private_to_owner(&self, path: &Path) -> Result<()> {
        if self.mode & 0o077 != 0 {
            return Err(Error::Usage(format!(
                "--sign-key {}: a private key readable by other users (mode {:o}); chmod 600 it (ssh refuses it too)",
                path.display(),
                self.mode
            )));
        }
        Ok(())
    }
}

/// A key file's text; refused when it is not a regular file or is writable
/// by others (anyone could have replaced the key). The checks are on the
/// file that is read (one open, then `fstat`), not on the path.
fn read_key_file(path: &Path) -> Result<KeyFile> {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    const MAX: u64 = 64 * 1024;
    let shown = path.display();
    let cannot =
        |e: std::io::Error| Error::Usage(format!("--sign-key {shown}: cannot read it: {e}"));
    // Non-blocking: opening a FIFO must not wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_file() {
        return Err(Error::Usage(format!(
            "--sign-key {shown}: not a regular file"
        )));
    }
    if mode & 0o022 != 0 {
        return Err(Error::Usage(format!(
            "--sign-key {shown}: writable by other users (mode {mode:o}); chmod 600 it"
        )));
    }
    if meta.len() > MAX {
        return Err(Error::Usage(format!(
            "--sign-key {shown}: too large for a key ({} bytes)",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX).read_to_end(&mut bytes).map_err(cannot)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        cannot(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })?;
    Ok(KeyFile { text, mode })
}

/// Parses an armored signature.
pub fn parse(pem: &str) -> std::result::Result<SshSig, String> {
    SshSig::from_pem(pem.trim().as_bytes()).map_err(|e| e.to_string())
}
