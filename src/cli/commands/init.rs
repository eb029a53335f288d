//! `runbook init NAME`: a commented starter runbook.

use crate::error::{Error, Result, exit};
use std::path::Path;

pub fn init_command(name: &str, dir: &Path, force: bool) -> Result<i32> {
    let path = dir.join(crate::scaffold::init_file_name(name));
    if path.exists() && !force {
        return Err(Error::Usage(format!(
            "{} already exists (use --force to overwrite)",
            path.display()
        )));
    }
    crate::safe_fs::write_private(&path, crate::scaffold::init_runbook(name).as_bytes())?;
    crate::console::err(&format!("wrote {}\n", path.display()));
    Ok(exit::OK)
}
