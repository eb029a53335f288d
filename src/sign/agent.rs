//! A small client of the ssh-agent protocol (draft-miller-ssh-agent): list
//! the agent's keys, and have it sign, so a key that never leaves the agent
//! (or a hardware token behind it) can sign a record. Two requests are all
//! it takes, over the `SSH_AUTH_SOCK` socket, blocking, with a timeout: a
//! dead or hostile agent never hangs a run, and an answer is bounded.

use crate::error::{Error, Result};
use ssh_key::{HashAlg, PublicKey, Signature, SshSig};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const FAILURE: u8 = 5;
const REQUEST_IDENTITIES: u8 = 11;
const IDENTITIES_ANSWER: u8 = 12;
const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
/// `SSH_AGENT_RSA_SHA2_512`: an RSA key signs with rsa-sha2-512.
const RSA_SHA2_512: u32 = 4;
/// Longest answer taken from an agent.
const MAX_ANSWER: usize = 1 << 20;
/// An agent may ask its user to confirm (`ssh-add -c`): give them time.
const TIMEOUT: Duration = Duration::from_secs(60);

fn agent_err(socket: &Path, what: impl std::fmt::Display) -> Error {
    Error::Other(format!("ssh-agent at {}: {what}", socket.display()))
}

/// One request, one answer: the answer's type and contents.
fn request(socket: &Path, kind: u8, body: &[u8]) -> Result<(u8, Vec<u8>)> {
    let mut s = UnixStream::connect(socket).map_err(|e| agent_err(socket, e))?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let mut msg = Vec::with_capacity(body.len() + 5);
    msg.extend_from_slice(&(body.len() as u32 + 1).to_be_bytes());
    msg.push(kind);
    msg.extend_from_slice(body);
    s.write_all(&msg).map_err(|e| agent_err(socket, e))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .map_err(|e| agent_err(socket, format!("no answer ({e})")))?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_ANSWER {
        return Err(agent_err(socket, format!("an answer of {len} bytes")));
    }
    let mut answer = vec![0u8; len];
    s.read_exact(&mut answer)
        .map_err(|e| agent_err(socket, format!("a cut answer ({e})")))?;
    let kind = answer[0];
    answer.remove(0);
    Ok((kind, answer))
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Reads a protocol string or u32 off the front of `buf`.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (n, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*n))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if n > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(s)
    }
}

/// Every key the agent holds that this tool can read (others, e.g.
/// certificates or security keys, are left out).
pub fn identities(socket: &Path) -> Result<Vec<PublicKey>> {
    let (kind, body) = request(socket, REQUEST_IDENTITIES, &[])?;
    if kind != IDENTITIES_ANSWER {
        return Err(agent_err(
            socket,
            format!("refused to list its keys ({kind})"),
        ));
    }
    let bad = || agent_err(socket, "a malformed list of keys");
    let mut r = Reader(&body);
    let n = r.u32().ok_or_else(bad)?;
    let mut keys = Vec::new();
    for _ in 0..n.min(4096) {
        let blob = r.string().ok_or_else(bad)?;
        let comment = r.string().ok_or_else(bad)?;
        if let Ok(mut key) = PublicKey::from_bytes(blob) {
            key.set_comment(String::from_utf8_lossy(comment));
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Whether a key's type can make an sshsig this tool verifies.
pub fn can_sign(key: &PublicKey) -> bool {
    use ssh_key::Algorithm::*;
    matches!(key.algorithm(), Ed25519 | Ecdsa { .. } | Rsa { .. })
}

/// Has the agent sign `msg` with `key` as an sshsig of the record namespace;
/// the signature is checked before it is returned.
pub fn sign(socket: &Path, key: &PublicKey, msg: &[u8]) -> Result<SshSig> {
    let fail = |e: &dyn std::fmt::Display| agent_err(socket, e);
    let data = SshSig::signed_data(super::NAMESPACE, HashAlg::Sha512, msg).map_err(|e| fail(&e))?;
    let blob = key.to_bytes().map_err(|e| fail(&e))?;
    let mut body = Vec::new();
    put_string(&mut body, &blob);
    put_string(&mut body, &data);
    let flags = if matches!(key.algorithm(), ssh_key::Algorithm::Rsa { .. }) {
        RSA_SHA2_512
    } else {
        0
    };
    body.extend_from_slice(&flags.to_be_bytes());
    let (kind, answer) = request(socket, SIGN_REQUEST, &body)?;
    if kind == FAILURE {
        return Err(fail(&format!(
            "refused to sign with {} (is it still loaded? was a confirmation declined?)",
            super::describe(key)
        )));
    }
    if kind != SIGN_RESPONSE {
        return Err(fail(&format!(
            "an unexpected answer ({kind}) to a signing request"
        )));
    }
    let raw = Reader(&answer)
        .string()
        .ok_or_else(|| fail(&"a malformed signature"))?;
    let signature = Signature::try_from(raw).map_err(|e| fail(&e))?;
    let sig = SshSig::new(
        key.key_data().clone(),
        super::NAMESPACE,
        HashAlg::Sha512,
        signature,
    )
    .map_err(|e| fail(&e))?;
    key.verify(super::NAMESPACE, msg, &sig)
        .map_err(|e| fail(&format!("its signature does not verify ({e})")))?;
    Ok(sig)
}
