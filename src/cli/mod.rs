//! The command line: clap definitions and dispatch. This is the only module
//! that knows clap (nothing else imports `crate::cli`), and the only place
//! that prints an error and turns it into an exit code. Each command's body
//! is in [`commands`]; `run` turns its flags into the engine's options.

mod alert;
mod ask;
mod charts;
pub mod commands;
pub mod outputs;
mod plan;
mod prompt;
mod prompt_env;
mod resume;
mod run;
mod signing;

use crate::error::{Error, exit};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Run Markdown runbooks step by step, with gates, and write an annotated audit copy",
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 a step failed, 2 invalid runbook or usage, \
                  3 a precondition failed, 4 aborted or a gate declined, 5 the record could not be written, \
                  130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of `RunArgs` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a runbook and write its annotated copy.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Validate runbooks without running them.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Remove generated blocks from an annotated copy (gives back the source byte for byte).
    #[command(after_help = "Example:\n  runbook strip incident-42.annotated.md -o runbook.md")]
    Strip {
        /// The annotated copy.
        file: PathBuf,
        /// Write here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check that an annotated copy is exactly what the run wrote (its hash chain).
    #[command(
        after_help = "Exit codes: 0 the record verifies, 1 it does not (the first step and line that no longer match, and why).\n\nExamples:\n  runbook verify incident-42.annotated.md\n  runbook verify incident-42.annotated.md --source runbooks/disk-pressure.md --report reports/incident-42.json --report reports/incident-42.html\n  runbook verify incident-42.annotated.md --allowed-signers .config/allowed_signers\n  runbook verify incident-42.annotated.md --format json"
    )]
    Verify {
        /// The annotated copy.
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = VerifyFormat::Human)]
        format: VerifyFormat,
        /// The runbook: the copy's source part must equal it byte for byte.
        #[arg(long, value_name = "RUNBOOK.md")]
        source: Option<PathBuf>,
        /// A report of the same run (JSON, HTML, JUnit or notebook, told apart by content): it
        /// must carry the same chain head (repeatable).
        #[arg(long, value_name = "REPORT")]
        report: Vec<PathBuf>,
        /// Who may sign (OpenSSH allowed_signers format): the copy must be signed by one of
        /// them, for namespace runbook-record; the signer's principals are printed.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// Fail when the copy is not signed.
        #[arg(long)]
        require_signature: bool,
        /// Print only the chain head (what a signature signs: `ssh-keygen -Y sign` it), once
        /// the chain verifies.
        #[arg(long, conflicts_with = "format")]
        print_head: bool,
    },
    /// Sign an annotated copy's chain head (with a key or ssh-agent), or embed a signature that
    /// `ssh-keygen -Y sign -n runbook-record` made over it.
    #[command(
        after_help = "Exit codes: 0 signed, 1 the copy does not verify or the signature is not over its head, 2 usage.\n\nExamples:\n  runbook sign incident-42.annotated.md --key ~/.ssh/id_ed25519\n  runbook sign incident-42.annotated.md --key agent\n  runbook verify incident-42.annotated.md --print-head > head\n  ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n runbook-record head\n  runbook sign incident-42.annotated.md --signature head.sig"
    )]
    Sign {
        /// The annotated copy (rewritten with the signature, unless -o).
        file: PathBuf,
        /// The private key (OpenSSH format), a public key whose private half ssh-agent holds,
        /// or `agent` (the agent's first key).
        #[arg(
            long,
            value_name = "KEY|agent",
            required_unless_present = "signature",
            conflicts_with = "signature"
        )]
        key: Option<String>,
        /// An armored SSH signature (`-----BEGIN SSH SIGNATURE-----`) over the chain head.
        #[arg(long, value_name = "FILE.sig")]
        signature: Option<PathBuf>,
        /// Write the signed copy here instead.
        #[arg(short, long, value_name = "OUT.md")]
        output: Option<PathBuf>,
    },
    /// Combine the report directories of a sharded run (`run --shard I/N`) into one record.
    #[command(
        after_help = "Exit code: the merged run's (0 when every shard succeeded), or 2 when the directories are not the N shards of one run.\n\nExamples:\n  runbook merge shard-1 shard-2 shard-3 shard-4 --report-dir merged\n  runbook merge reports/shard-* --report-dir reports/merged"
    )]
    Merge {
        /// The shards' report directories (each from `run --shard I/N --report-dir DIR`).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged annotated copy, JSON, JUnit, HTML and notebook go.
        #[arg(long, value_name = "DIR", default_value = "merged")]
        report_dir: PathBuf,
    },
    /// List a runbook's steps and params.
    #[command(
        after_help = "Examples:\n  runbook list runbooks/disk-pressure.md\n  runbook list runbooks/disk-pressure.md --format json | jq '.steps[].name'"
    )]
    List {
        /// The runbook.
        file: PathBuf,
        /// `names`/`tags`: one per line (what shell completion of `run --from` asks).
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// Write a commented starter runbook.
    #[command(after_help = "Example:\n  runbook init restart-api --dir runbooks")]
    Init {
        /// The runbook's name (the file is NAME.md).
        name: String,
        /// Directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Convert a Jupyter notebook (nbformat 4) into a runbook.
    #[command(
        after_help = "Markdown cells are kept verbatim, code cells become steps, a papermill `parameters` cell becomes params.\n\nExamples:\n  runbook import triage.ipynb -o runbooks/triage.md\n  runbook import triage.ipynb | less"
    )]
    Import {
        /// The notebook.
        notebook: PathBuf,
        /// Write the runbook here instead of stdout (refused if it exists, unless --force).
        #[arg(short, long, value_name = "RUNBOOK.md")]
        output: Option<PathBuf>,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Publish a report directory to a GitLab incident (needs GITLAB_TOKEN).
    #[command(
        after_help = "Needs GITLAB_TOKEN (a token with the api scope) in the environment.\n\nExample:\n  GITLAB_TOKEN=… runbook publish reports --to gitlab:sre/incidents#42 --gitlab-url https://gitlab.example.com/api/v4"
    )]
    Publish {
        /// The directory `run --report-dir` wrote.
        report_dir: PathBuf,
        /// `gitlab:<project>#<issue_iid>`
        #[arg(long)]
        to: String,
        /// GitLab API base URL (default: $CI_API_V4_URL).
        #[arg(long, env = "CI_API_V4_URL")]
        gitlab_url: Option<String>,
    },
    /// Print shell completions (`run --from`/`--only` complete the runbook's step names).
    #[command(after_help = "Examples:
  runbook completions bash > ~/.local/share/bash-completion/completions/runbook
  runbook completions zsh > \"${fpath[1]}/_runbook\"
  runbook completions fish > ~/.config/fish/completions/runbook.fish")]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one per subcommand into a directory.
    #[command(
        after_help = "Examples:\n  runbook man | man -l -\n  runbook man --out /usr/local/share/man/man1"
    )]
    Man {
        /// Write runbook.1 and runbook-SUBCOMMAND.1 into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

const RUN_EXAMPLES: &str = "Examples:
  runbook run runbooks/disk-pressure.md                 # in a terminal: answer each gate
  runbook run runbooks/disk-pressure.md --dry-run       # the plan: every step rendered, only safe ones run
  runbook run runbooks/p90-latency.md -p threshold_seconds=0.5 --yes --report-dir reports
  runbook run runbooks/disk-pressure.md --resume        # continue after the last finished step
  runbook run --alert payload.json --runbooks-dir runbooks --yes   # the runbook the alert links to

Environment: NO_COLOR, CLICOLOR_FORCE, GITLAB_CI (section logs), GITLAB_USER_LOGIN and CI_JOB_URL
(recorded), GITLAB_TOKEN and CI_API_V4_URL (--publish), AWS_* (EC2 inventory).";

const CHECK_EXAMPLES: &str = "Examples:
  runbook check runbooks/
  runbook check runbooks/ --strict --format junit > check.xml
  runbook check runbooks/p90-latency.md --preconditions -p prometheus_url=http://localhost:9090";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Human,
    Json,
    Names,
    Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Junit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorArg {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The runbook (an annotated copy works too: its generated blocks are replaced). With
    /// --alert it may be left out: the alert's `annotations.runbook_url`, under --runbooks-dir.
    #[arg(value_name = "FILE", required_unless_present = "alert")]
    pub runbook: Option<PathBuf>,
    /// The runbook this run is of: FILE, or the one the alert links to (set by `run`).
    #[arg(skip)]
    pub file: PathBuf,
    /// The alert that drives the run: an Alertmanager webhook payload (version 4) or a
    /// Prometheus /api/v1/alerts response, `-` for stdin. Templates see it as `alert`; params
    /// declared `from_alert:` take its values.
    #[arg(long, value_name = "PAYLOAD.json")]
    pub alert: Option<PathBuf>,
    /// Take the firing alert whose labels match (repeatable; default: the first firing one).
    #[arg(long, value_name = "LABEL=VALUE", requires = "alert")]
    pub alert_match: Vec<String>,
    /// Where the runbook of the alert's `runbook_url` is looked for (with --alert and no FILE);
    /// nothing outside it is ever run.
    #[arg(long, value_name = "DIR", requires = "alert")]
    pub runbooks_dir: Option<PathBuf>,
    /// The alert chosen from --alert (set by `run`).
    #[arg(skip)]
    pub chosen_alert: Option<crate::alert::Alert>,
    /// Set a param: `-p key=value` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Params from a YAML file (a mapping); `-p` wins.
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// Approve every gate.
    #[arg(short, long)]
    pub yes: bool,
    /// Gate every step.
    #[arg(long)]
    pub step: bool,
    /// Render every step and show gates and targets; run only `safe` steps.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write the annotated copy (default: `<name>.annotated.md`, or inside --report-dir).
    #[arg(short, long, value_name = "OUT.md")]
    pub output: Option<PathBuf>,
    /// Write every report (md, json, junit, html) into this directory.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Report formats to write into --report-dir (default: all).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(crate::report::registry::names()))]
    pub format: Vec<String>,
    /// Continue after the last finished step of the previous run of the same output.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: continue even when the saved run cannot be trusted (its copy does not
    /// verify, or an executed step's source changed); the record says so.
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Sign the copy's chain head (SSH signature, namespace runbook-record) with this key: an
    /// OpenSSH private key file, a public key whose private half ssh-agent holds, or `agent`
    /// (ssh-agent's first key).
    #[arg(long, env = "RUNBOOK_SIGN_KEY", value_name = "KEY|agent")]
    pub sign_key: Option<String>,
    /// The signer loaded from --sign-key (set by `run`).
    #[arg(skip)]
    pub signer: Option<std::sync::Arc<crate::sign::Signer>>,
    /// Start at this step (an `excludeFromRunAll` step runs when it is this one).
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
    /// Run only this step (repeatable); the others are recorded as not selected.
    #[arg(long, value_name = "STEP")]
    pub only: Vec<String>,
    /// Run only steps with this Runme `tag` or `category` (repeatable).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// When a step fails or a gate is aborted, do not run the rollbacks of the steps that succeeded.
    #[arg(long)]
    pub no_rollback: bool,
    /// Output lines kept in the reports per step (head and tail); the full log is written beside
    /// them. Default: the front matter's `max_output_lines`, else 200.
    #[arg(long, value_name = "N")]
    pub max_output_lines: Option<usize>,
    /// How many hosts a fan-out step runs on at once.
    #[arg(long, default_value_t = 10)]
    pub forks: usize,
    /// Let steps run on up to N hosts, over their `max_hosts` (the blast radius the operator
    /// accepts for this run).
    #[arg(long, value_name = "N")]
    pub allow_hosts: Option<usize>,
    /// Run the I-th of N deterministic slices of every fan-out step's hosts (other steps run
    /// in shard 1 only, or in every shard with `each_shard`); `runbook merge` combines the
    /// shards' report directories. In GitLab: `--shard $CI_NODE_INDEX/$CI_NODE_TOTAL`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<crate::record::Shard>,
    /// HTML report: show outputs only, not the code.
    #[arg(long)]
    pub html_hide_code: bool,
    /// After the run, publish the report to a GitLab incident: `gitlab:<project>#<issue_iid>`.
    #[arg(long, value_name = "TARGET")]
    pub publish: Option<String>,
    /// GitLab API base URL (default: $CI_API_V4_URL).
    #[arg(long, env = "CI_API_V4_URL", value_name = "URL")]
    pub gitlab_url: Option<String>,
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// Print only failed steps, warnings, the files written and the final result line.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Files or directories (searched recursively for *.md).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Evaluate the runbooks' preconditions (`requires:`) too, and resolve each remote step's
    /// hosts (groups, EC2) to show its blast radius and check it against `max_hosts`.
    #[arg(long)]
    pub preconditions: bool,
    /// With --preconditions: the `run --allow-hosts N` the check assumes.
    #[arg(long, value_name = "N", requires = "preconditions")]
    pub allow_hosts: Option<usize>,
    /// Params for the precondition templates.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

fn parse_shard(s: &str) -> std::result::Result<crate::record::Shard, String> {
    crate::record::Shard::parse(s)
}

/// Parses the arguments, runs, prints any error, returns the exit code.
pub fn run_cli() -> i32 {
    // `--version` must be fast: clap handles it before anything is set up.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::INVALID } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            crate::console::err(&format!("{}\n", render_error(&e)));
            e.code()
        }
    }
}

fn render_error(e: &Error) -> String {
    match e {
        Error::Invalid(_) => e.to_string(),
        _ => format!("error: {e}"),
    }
}

fn dispatch(cli: Cli) -> Result<i32, Error> {
    use commands::*;
    match cli.command {
        Command::Run(args) => run::run_command(args),
        Command::Check(args) => check::check_command(args),
        Command::Strip { file, output } => strip::strip_command(&file, output.as_deref()),
        Command::Merge { dirs, report_dir } => merge::merge_command(&merge::MergeArgs {
            dirs: &dirs,
            report_dir: &report_dir,
        }),
        Command::Verify {
            file,
            format,
            source,
            report,
            allowed_signers,
            require_signature,
            print_head,
        } => verify::verify_command(&verify::VerifyArgs {
            copy: &file,
            format,
            source: source.as_deref(),
            reports: &report,
            allowed_signers: allowed_signers.as_deref(),
            require_signature,
            print_head,
        }),
        Command::Sign {
            file,
            key,
            signature,
            output,
        } => {
            let with = match (&key, &signature) {
                (_, Some(sig)) => signing::SignWith::Signature(sig),
                (Some(k), None) => signing::SignWith::Key(k),
                (None, None) => return Err(Error::Usage("sign: pass --key or --signature".into())),
            };
            signing::sign_command(&file, with, output.as_deref())
        }
        Command::List { file, format } => list::list_command(&file, format),
        Command::Init { name, dir, force } => init::init_command(&name, &dir, force),
        Command::Import {
            notebook,
            output,
            force,
        } => import::import_command(&notebook, output.as_deref(), force),
        Command::Publish {
            report_dir,
            to,
            gitlab_url,
        } => publish::publish_command(&report_dir, &to, gitlab_url),
        Command::Completions { shell } => completions::completions_command(shell, Cli::command()),
        Command::Man { out } => man::man_command(Cli::command(), out.as_deref()),
    }
}

/// The one async runtime a command runs on (two workers: a gate's blocking
/// read never starves a step's output).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))
}

/// `--color` as the terminal module takes it.
pub fn color_choice(c: ColorArg) -> crate::report::terminal::ColorChoice {
    use crate::report::terminal::ColorChoice;
    match c {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    }
}
