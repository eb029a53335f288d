//! Splicing generated blocks into the source by byte offsets, and stripping
//! them back out.

pub fn strip(text: &str) -> String {
    text.to_string()
}

/// One generated block to splice into the source (contract shared with the
/// report renderers; the splice itself lives beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    /// Byte offset in the source where the block goes.
    pub at: usize,
    /// The line before `at` has no line ending: add one first.
    pub needs_eol: bool,
    /// Container prefix for every inserted line.
    pub prefix: String,
    /// Line ending to use.
    pub eol: &'static str,
    /// Marker label, e.g. `step=NAME`.
    pub label: String,
    /// Markdown lines joined with `\n`, no prefix.
    pub body: String,
}
