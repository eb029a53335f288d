//! `runbook strip`: an annotated copy without its generated blocks — the
//! source again, byte for byte.

use crate::error::{Error, Result, exit};
use std::path::Path;

pub fn strip_command(file: &Path, output: Option<&Path>) -> Result<i32> {
    let text = crate::input::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let stripped = crate::document::splice::strip(&text);
    match output {
        Some(out) => crate::safe_fs::write_private(out, stripped.as_bytes())?,
        None => crate::console::out(stripped.as_bytes()).map_err(|e| Error::io("<stdout>", e))?,
    }
    Ok(exit::OK)
}
