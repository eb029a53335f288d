//! The runbook as a document: source text with a line index, the YAML front
//! matter, and the fenced code blocks that are steps, each with the exact byte
//! spans needed to splice generated blocks in (and out) without re-rendering.
//!
//! Nothing in here runs anything.

pub mod attrs;
pub mod chain;
pub mod diagnostic;
pub mod frontmatter;
pub mod keyring_ref;
pub mod parse;
pub mod phases;
pub mod prompts;
pub mod signature;
pub mod source;
pub mod splice;
pub mod transcript;

pub use attrs::{Attrs, BatchSize, Capture, Confirm, Rollback};
pub use diagnostic::{Diagnostic, Severity};
pub use frontmatter::{FrontMatter, ParamSpec, Requires, SecretSpec};
pub use keyring_ref::KeyringRef;
pub use parse::{Parsed, parse, parse_all, parse_file};
pub use source::{Source, Span};
pub use transcript::{Expect, Transcript};

/// A parsed runbook.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: Source,
    pub front: FrontMatter,
    /// Byte range of the front matter block, both `---` lines and the line
    /// ending after the closing one included. `None` when there is none.
    pub front_span: Option<Span>,
    /// Where the run header is inserted: right after the front matter, or 0.
    pub header_at: usize,
    pub steps: Vec<Step>,
    /// Warnings found while parsing (errors abort the parse instead).
    pub warnings: Vec<Diagnostic>,
}

/// How a step is executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// A shell block: bash, sh, zsh, shell (the program to run it with).
    Shell { program: String },
    /// Another interpreter: python, node, ... or `interpreter=` (a command line).
    Interpreter { command: String },
    /// An `http` block in the `.http` file convention.
    Http,
}

/// One executable fenced block.
#[derive(Debug, Clone)]
pub struct Step {
    /// 0-based position among the steps.
    pub index: usize,
    /// `name=` or a stable default id (`step_N`, 1-based).
    pub name: String,
    /// Whether the name was given by the author.
    pub named: bool,
    /// The language word of the info string (`bash`, `http`, ...).
    pub lang: String,
    pub kind: StepKind,
    pub attrs: Attrs,
    /// The literal content of the block (before templating). What runs is
    /// [`Step::script`]: the same, unless the block is a transcript.
    pub code: String,
    /// A shell block written as a terminal transcript (`$ ` prompts and
    /// sample output): its commands and sample, derived once at parse time.
    pub transcript: Option<Transcript>,
    /// 1-based line and column (bytes) of the opening fence.
    pub line: usize,
    pub col: usize,
    /// 1-based line of the first content line (for template error positions).
    pub code_line: usize,
    /// Byte range of the whole block: the opening fence line's start through
    /// the end of the closing fence line (its line ending included); for an
    /// unclosed fence, through the end of its last line.
    pub block: Span,
    /// Byte offset where this step's generated block is spliced in.
    pub insert_at: usize,
    /// The line at `insert_at - 1` has no line ending (end of file without a
    /// final newline): the splice must add one first.
    pub needs_eol: bool,
    /// The container prefix every inserted line carries (`> ` in a
    /// blockquote, spaces in a list item), so the block stays in its container.
    pub prefix: String,
    /// The document's line ending at this point: `"\n"` or `"\r\n"`.
    pub eol: &'static str,
    /// Whether the fence was closed.
    pub closed: bool,
}

impl Document {
    /// The step with this name.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }
}

impl Step {
    /// A `{rollback}` block: never run in the normal flow, only to undo
    /// the step that names it (`rollback=NAME`).
    pub fn is_rollback(&self) -> bool {
        self.attrs.is_rollback
    }

    pub fn is_shell(&self) -> bool {
        matches!(self.kind, StepKind::Shell { .. })
    }

    /// The code that runs (before templating): the block, or for a
    /// transcript only its commands, prompts removed, on their own lines.
    /// `check`, the dry run and `run` all take it from here.
    pub fn script(&self) -> &str {
        match &self.transcript {
            Some(t) => &t.script,
            None => &self.code,
        }
    }

    /// The sample output a transcript block shows, when it has any.
    pub fn sample(&self) -> Option<String> {
        self.transcript
            .as_ref()
            .filter(|t| t.has_sample())
            .map(Transcript::sample)
    }
}
