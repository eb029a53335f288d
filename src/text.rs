//! Small text helpers needed on both sides of a module boundary that must
//! not be crossed: `document` (Markdown), `exec` (running), `template` and
//! the runner each need them, and none may depend on another for them.

/// A shell variable name: a letter or `_`, then letters, digits and `_`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The SHA-256 of `bytes` in lowercase hex, cut to the first `len` bytes
/// of the digest (`usize::MAX` for all of it).
pub fn sha256_hex(bytes: &[u8], len: usize) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .take(len)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["a", "_", "_x1", "PATH", "a_b_9"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é", "a b"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn sha256() {
        let full = sha256_hex(b"abc", usize::MAX);
        assert_eq!(
            full,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(b"abc", 8), full[..16]);
    }
}
