//! Where a run writes: the annotated copy, the reports of `--report-dir`,
//! the step logs, the journal and the lock, and the checks made on all of
//! them before anything runs. A dry run's default names say so
//! (`X.dry-run.md`), and it never writes over the record of a real run.

use super::RunArgs;
use crate::error::{Error, Result};
use crate::report::registry::{self, COPY, Report};
use crate::safe_fs;
use std::path::PathBuf;

pub struct Outputs {
    pub markdown: PathBuf,
    pub report_dir: Option<PathBuf>,
    pub formats: Vec<&'static dyn Report>,
    pub logs: PathBuf,
    pub journal: PathBuf,
    /// Held for the whole run (see [`safe_fs::RunLock`]).
    pub lock: PathBuf,
}

impl Outputs {
    pub fn new(args: &RunArgs) -> Self {
        let stem = args
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "runbook".into());
        let stem = stem.trim_end_matches(".annotated").to_string();
        let named = |suffix: &str| match (&args.output, &args.report_dir) {
            (Some(o), _) => o.clone(),
            (None, Some(dir)) => dir.join(format!("{stem}{suffix}.md")),
            (None, None) if suffix.is_empty() => PathBuf::from(format!("{stem}.annotated.md")),
            (None, None) => PathBuf::from(format!("{stem}{suffix}.md")),
        };
        let real_markdown = named("");
        let markdown = if args.dry_run {
            named(".dry-run")
        } else {
            real_markdown.clone()
        };
        let logs = match &args.report_dir {
            Some(dir) if args.dry_run => dir.join("logs.dry-run"),
            Some(dir) => dir.join("logs"),
            None => PathBuf::from(format!("{}.logs", markdown.display())),
        };
        // The journal is the real run's, also for `--dry-run --from`.
        let journal = PathBuf::from(format!("{}.state.jsonl", real_markdown.display()));
        let lock = PathBuf::from(format!("{}.lock", real_markdown.display()));
        let formats = if args.format.is_empty() {
            registry::registry().to_vec()
        } else {
            args.format
                .iter()
                .filter_map(|f| registry::by_name(f))
                .collect()
        };
        Outputs {
            markdown,
            report_dir: args.report_dir.clone(),
            formats,
            logs,
            journal,
            lock,
        }
    }

    /// The reports written into `--report-dir` besides the Markdown copy.
    pub fn report_files(&self) -> Vec<(&'static dyn Report, PathBuf)> {
        let Some(dir) = &self.report_dir else {
            return Vec::new();
        };
        let stem = self
            .markdown
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        self.formats
            .iter()
            .filter(|f| f.name() != COPY)
            .map(|f| (*f, dir.join(f.file_name(&stem))))
            .collect()
    }

    /// Refuses, before anything runs, every output that would destroy what
    /// is not the run's: a special file or symlink at any path written, the
    /// runbook itself as output, a real record under a dry run.
    pub fn check(&self, args: &RunArgs) -> Result<()> {
        let flag = if args.output.is_some() {
            "-o"
        } else {
            "--report-dir:"
        };
        safe_fs::check_file(&self.markdown)?;
        if safe_fs::same_file(&self.markdown, &args.file) {
            return Err(Error::Usage(format!(
                "{flag} {} is the runbook itself: refusing to overwrite it",
                self.markdown.display()
            )));
        }
        for (_, path) in self.report_files() {
            safe_fs::check_file(&path)?;
            if safe_fs::same_file(&path, &args.file) {
                return Err(Error::Usage(format!(
                    "--report-dir: {} is the runbook itself: refusing to overwrite it",
                    path.display()
                )));
            }
        }
        safe_fs::check_dir(&self.logs)?;
        safe_fs::check_dir(&super::charts::assets_dir(&self.markdown))?;
        if args.dry_run {
            return self.check_dry_run(args);
        }
        safe_fs::check_file(&self.journal)?;
        safe_fs::check_file(&self.lock)
    }

    fn check_dry_run(&self, args: &RunArgs) -> Result<()> {
        let text = match crate::input::read(&self.markdown) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => return Ok(()),
        };
        if !is_real_run_record(&text) {
            return Ok(());
        }
        let mut default = args.clone();
        default.output = None;
        Err(Error::Usage(format!(
            "--dry-run: {} is the record of a real run; a dry run never overwrites it (write the dry run elsewhere with -o, or leave -o out to write {})",
            self.markdown.display(),
            Outputs::new(&default).markdown.display()
        )))
    }
}

/// Whether an annotated copy holds the record of a real run: it has a run
/// header, and the header's Mode row does not say `--dry-run` (nor, in
/// copies made before the Mode row listed flags, `dry run`).
pub fn is_real_run_record(text: &str) -> bool {
    let mut has_header = false;
    for line in text.lines() {
        if line.starts_with("| Runbook run |") {
            has_header = true;
        } else if has_header && line.starts_with("| Mode |") {
            return !(line.contains("`--dry-run`") || line == "| Mode | dry run |");
        }
    }
    has_header
}

/// A one-line description of who holds an output, for the lock file.
pub fn holder(operator: &str, started_at: &str) -> String {
    format!(
        "pid {}, operator {operator}, started {started_at}",
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_records_are_told_from_dry_runs_and_other_files() {
        let real = "x\n| Runbook run | ✓ ok (exit 0) |\n|---|---|\n| Mode | full run |\n";
        assert!(is_real_run_record(real));
        assert!(!is_real_run_record(
            "| Runbook run | ✓ dry run ok (exit 0) |\n| Mode | `--dry-run`, `--yes` |\n"
        ));
        assert!(!is_real_run_record(
            "| Runbook run | x |\n| Mode | dry run |\n"
        ));
        assert!(!is_real_run_record("# just notes\n"));
    }
}
