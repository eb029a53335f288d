//! `runbook import NOTEBOOK.ipynb [-o RUNBOOK.md]`: the clap side of
//! [`crate::notebook::import`]. Prints the runbook, or writes it privately
//! (0600, never through a symlink) to a file that must not exist yet
//! unless `--force`: an import never overwrites someone's runbook by
//! accident.

use crate::error::{Error, Result, exit};
use std::path::Path;

pub fn import_command(notebook: &Path, output: Option<&Path>, force: bool) -> Result<i32> {
    let text = crate::input::read_to_string(notebook).map_err(|e| Error::io(notebook, e))?;
    let origin = notebook.display().to_string();
    let imported = crate::notebook::import::import(&origin, &text).map_err(Error::Usage)?;
    for w in &imported.warnings {
        crate::console::err(&format!("warning: {w}\n"));
    }
    let Some(out) = output else {
        crate::console::out(imported.runbook.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
        return Ok(exit::OK);
    };
    if out.symlink_metadata().is_ok() && !force {
        return Err(Error::Usage(format!(
            "{} already exists (use --force to overwrite)",
            out.display()
        )));
    }
    crate::safe_fs::write_private(out, imported.runbook.as_bytes())?;
    crate::console::err(&format!("wrote {}\n", out.display()));
    Ok(exit::OK)
}
