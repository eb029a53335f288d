//! comrak → steps with exact byte spans.

use super::Document;
use crate::error::Result;
use std::path::{Path, PathBuf};

/// Parses a runbook. The text must not contain generated blocks (see
/// [`super::splice::strip`]). All problems found are returned at once as
/// `Error::Invalid`.
pub fn parse(path: impl Into<PathBuf>, text: String) -> Result<Document> {
    let _ = (path.into(), text);
    unimplemented!("document::parse")
}

/// Reads, strips generated blocks, and parses.
pub fn parse_file(path: &Path) -> Result<Document> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
    parse(path, super::splice::strip(&text))
}
