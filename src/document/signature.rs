//! The signature block of an annotated copy: the armored SSH signature of
//! the chain head, right after the run header, inside an HTML comment so it
//! renders as nothing on GitLab/GitHub:
//!
//! ```text
//! <!-- runbook:begin TOKEN signature -->
//! <!--
//! runbook-record signature of chain head HEX
//! -----BEGIN SSH SIGNATURE-----
//! ...
//! -----END SSH SIGNATURE-----
//! -->
//! <!-- runbook:end TOKEN -->
//! ```
//!
//! It is a generated block like the others (so `strip` removes it and the
//! source comes back byte for byte) but not a link of the chain: it signs
//! the head, so it cannot be inside what the head covers. Only text here;
//! the cryptography is `crate::sign`.

use super::chain;
use super::splice::{self, Insert, Link};

pub const LABEL: &str = "signature";
const INTRO: &str = "runbook-record signature of chain head ";

/// The signature block found in a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// 1-based line of its begin marker.
    pub line: usize,
    /// The block's content matches its marker's token.
    pub token_ok: bool,
    /// The head the block says it signs.
    pub head: Option<String>,
    /// The armored signature (`-----BEGIN SSH SIGNATURE-----` …).
    pub pem: String,
}

/// The signature blocks of a copy (none when it has none, or when its
/// blocks cannot be read: `verify` reports that on its own).
pub fn find(text: &str) -> Vec<Found> {
    let Ok(blocks) = chain::scan(text) else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter(|b| b.label == LABEL)
        .map(|b| {
            let body = &text[b.body.clone()];
            let head = body.lines().find_map(|l| {
                let h = l.trim_end_matches('\r').strip_prefix(INTRO)?;
                Some(h.to_string())
            });
            let pem = match (
                body.find("-----BEGIN SSH SIGNATURE-----"),
                body.find("-----END SSH SIGNATURE-----"),
            ) {
                (Some(a), Some(z)) if a < z => {
                    body[a..z + "-----END SSH SIGNATURE-----".len()].replace('\r', "")
                }
                _ => String::new(),
            };
            Found {
                line: b.line,
                token_ok: b.token_ok,
                head,
                pem,
            }
        })
        .collect()
}

/// The body of a signature block for `pem` over `head`.
fn body(head: &str, pem: &str) -> String {
    // The armor is base64 and fixed lines: it never holds `-->`.
    format!("<!--\n{INTRO}{head}\n{}\n-->\n", pem.trim())
}

/// The copy with its signature block replaced by one for `pem` (over
/// `head`), right after the run header; `None` when the copy has no run
/// header.
pub fn embed(text: &str, head: &str, pem: &str) -> Option<String> {
    let blocks = chain::scan(text).ok()?;
    // Drop any earlier signature block first.
    let mut clean = String::with_capacity(text.len());
    let mut last = 0;
    for b in blocks.iter().filter(|b| b.label == LABEL) {
        clean.push_str(&text[last..b.start.max(last)]);
        last = b.end.max(last);
    }
    clean.push_str(&text[last..]);
    let header = chain::scan(&clean)
        .ok()?
        .into_iter()
        .find(|b| b.label == "header")?;
    let insert = Insert {
        at: header.end,
        needs_eol: false,
        prefix: String::new(),
        eol: splice::first_eol(&clean),
        label: LABEL.into(),
        body: body(head, pem),
        link: Link::None,
    };
    Some(splice::splice(&clean, &[insert]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n";

    #[test]
    fn embed_find_strip_round_trip() {
        let src = "# T\n\n```bash {name=a}\necho a\n```\n";
        let doc = crate::document::parse("t.md", src.into()).expect("parses");
        let copy = splice::splice(
            src,
            &[
                doc.header_insert(format!(
                    "| Runbook run | ✓ ok (exit 0) |\n|---|---|\n| sha256 | `{}` |",
                    crate::text::sha256_hex(src.as_bytes(), usize::MAX)
                )),
                doc.steps[0].insert("step=a", "out"),
            ],
        );
        let head = chain::head(&copy).expect("head");
        let signed = embed(&copy, &head, PEM).expect("embeds");
        let again = embed(&signed, &head, PEM).expect("replaces");
        assert_eq!(signed, again, "one signature block, replaced in place");
        let found = find(&signed);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].head.as_deref(), Some(head.as_str()));
        assert_eq!(found[0].pem, PEM.trim());
        assert!(found[0].token_ok);
        assert_eq!(splice::strip(&signed), src);
        assert!(chain::verify(&copy).ok, "{copy}");
        assert!(chain::verify(&signed).ok, "{signed}");
        let crlf = copy.replace('\n', "\r\n");
        let signed = embed(&crlf, &head, PEM).expect("embeds");
        assert!(signed.contains("-->\r\n<!-- runbook:end "), "{signed}");
        assert_eq!(find(&signed)[0].pem, PEM.trim());
    }
}
