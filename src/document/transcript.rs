//! Transcript blocks: a shell block written as a terminal session, commands
//! behind a `$ ` prompt (or `# ` for a root prompt, when the block has at
//! least one `$ `) and the output the author saw under them.
//!
//! Only the prompt lines and their `\` continuation lines are commands; the
//! other lines are the author's sample output and never run. Runme strips
//! leading `$` from every line of a block (`TrimLeft(line, "$")`) and runs the
//! rest, sample output included; here the sample is kept apart, per
//! command, so it can be shown beside what really came out and, with
//! `expect=`, compared with it.
//!
//! This module is the one place the code to run is derived from a
//! transcript: `check`, the dry run and `run` all use [`super::Step::script`].

/// `expect=`: how a transcript's sample output is compared with what the
/// step printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Equal, after trimming trailing whitespace per line.
    Exact,
    /// Every sample line appears, in order.
    Contains,
    /// The sample is a regex that must match.
    Regex,
    /// The sample JSON is a subset of the output JSON.
    JsonSubset,
}

impl Expect {
    pub fn parse(v: &str) -> Option<Expect> {
        Some(match v {
            "exact" => Expect::Exact,
            "contains" => Expect::Contains,
            "regex" => Expect::Regex,
            "json-subset" => Expect::JsonSubset,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Expect::Exact => "exact",
            Expect::Contains => "contains",
            Expect::Regex => "regex",
            Expect::JsonSubset => "json-subset",
        }
    }
}

/// A shell block written as a terminal transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// What runs: line N of the script is line N of the block, with its
    /// prompt removed (a command line) or emptied (a sample-output line);
    /// trailing sample lines are dropped. Keeping the lines keeps template
    /// error positions right.
    pub script: String,
    /// The commands in order, each with the sample output written under it.
    pub commands: Vec<TranscriptCommand>,
}

/// One command of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptCommand {
    /// 0-based line of the prompt in the block.
    pub line: usize,
    /// The command, prompt removed, continuation lines included.
    pub command: String,
    /// Behind a `# ` root prompt (not `$ `).
    pub root: bool,
    /// The sample output under it (trailing blank lines removed), each line
    /// ending in `\n`; empty when there is none.
    pub sample: String,
}

impl Transcript {
    /// Every command's sample output, in order: what the runbook says the
    /// step prints.
    pub fn sample(&self) -> String {
        self.commands.iter().map(|c| c.sample.as_str()).collect()
    }

    /// Whether the author wrote any sample output.
    pub fn has_sample(&self) -> bool {
        self.commands.iter().any(|c| !c.sample.trim().is_empty())
    }
}

/// The command of a `$ ` prompt line (a lone `$` is an empty prompt).
fn user_prompt(line: &str) -> Option<&str> {
    match line.strip_prefix("$ ") {
        Some(rest) => Some(rest),
        None => (line.trim_end() == "$").then_some(""),
    }
}

/// The command of a `# ` root prompt line.
fn root_prompt(line: &str) -> Option<&str> {
    line.strip_prefix("# ")
}

/// The command of a prompt line of either kind.
fn prompt(line: &str) -> Option<&str> {
    user_prompt(line).or_else(|| root_prompt(line))
}

/// Whether a root-prompt command reads like a comment or output rather
/// than a command: a capitalised word (`# Check the pods`), or a first word
/// or line ending in `:` or `.` (`# /etc/fstab: static file system…`).
pub fn looks_like_prose(command: &str) -> bool {
    let first = command.split_whitespace().next().unwrap_or_default();
    let capitalised = first.starts_with(|c: char| c.is_ascii_uppercase())
        && first.chars().any(|c| c.is_ascii_lowercase())
        && !first.contains(['=', '/', '.']);
    let trimmed = command.trim_end();
    capitalised || first.ends_with(':') || trimmed.ends_with(':') || trimmed.ends_with('.')
}

/// Whether the block has a `$ ` prompt line at all.
pub fn has_prompt(code: &str) -> bool {
    code.lines().any(|l| user_prompt(l).is_some())
}

/// The 0-based line of the first `$ ` prompt, if any.
pub fn first_prompt_line(code: &str) -> Option<usize> {
    code.lines().position(|l| user_prompt(l).is_some())
}

/// The transcript a shell block is written as, if it is one: it has a `$ `
/// line and its first non-blank line is a prompt. A block with `$ ` lines
/// that starts with anything else runs as a whole script (`check` warns:
/// a mixed transcript).
pub fn detect(code: &str) -> Option<Transcript> {
    if !has_prompt(code) {
        return None;
    }
    let first = code.lines().find(|l| !l.trim().is_empty())?;
    prompt(first)?;

    let mut script: Vec<&str> = Vec::new();
    let mut commands: Vec<TranscriptCommand> = Vec::new();
    let mut samples: Vec<Vec<&str>> = Vec::new();
    let mut continued = false;
    for (i, line) in code.lines().enumerate() {
        if continued {
            script.push(line);
            if let Some(c) = commands.last_mut() {
                c.command.push('\n');
                c.command.push_str(line);
            }
            continued = line.ends_with('\\');
        } else if let Some(cmd) = prompt(line) {
            script.push(cmd);
            commands.push(TranscriptCommand {
                line: i,
                command: cmd.to_string(),
                root: user_prompt(line).is_none(),
                sample: String::new(),
            });
            samples.push(Vec::new());
            continued = cmd.ends_with('\\');
        } else {
            script.push("");
            if let Some(s) = samples.last_mut() {
                s.push(line);
            }
        }
    }
    while script.last().is_some_and(|l| l.is_empty()) {
        script.pop();
    }
    for (c, lines) in commands.iter_mut().zip(samples) {
        let keep = lines
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .map_or(0, |p| p + 1);
        c.sample = lines[..keep].iter().map(|l| format!("{l}\n")).collect();
    }
    let mut script = script.join("\n");
    script.push('\n');
    Some(Transcript { script, commands })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_commands_the_rest_is_sample() {
        let t =
            detect("$ kubectl get pods\nNAME  READY\napi   1/1\n\n$ echo done\ndone\n").unwrap();
        assert_eq!(t.script, "kubectl get pods\n\n\n\necho done\n");
        assert_eq!(t.commands.len(), 2);
        assert_eq!(t.commands[0].command, "kubectl get pods");
        assert_eq!(t.commands[0].sample, "NAME  READY\napi   1/1\n");
        assert_eq!(t.commands[1].line, 4);
        assert_eq!(t.sample(), "NAME  READY\napi   1/1\ndone\n");
        assert!(t.has_sample());
    }

    #[test]
    fn continuations_and_root_prompts() {
        let t = detect("$ echo a \\\n  b \\\n$ not-a-prompt\nout\n# id -u\n0\n").unwrap();
        assert_eq!(t.script, "echo a \\\n  b \\\n$ not-a-prompt\n\nid -u\n");
        assert_eq!(t.commands[0].command, "echo a \\\n  b \\\n$ not-a-prompt");
        assert_eq!(t.commands[0].sample, "out\n");
        assert!(!t.commands[0].root);
        assert_eq!(t.commands[1].command, "id -u");
        assert!(t.commands[1].root);
        assert_eq!(t.commands[1].sample, "0\n");
    }

    #[test]
    fn prose_behind_a_root_prompt() {
        assert!(looks_like_prose("Check the pods"));
        assert!(looks_like_prose(
            "/etc/fstab: static file system information."
        ));
        assert!(looks_like_prose("restart it if needed:"));
        assert!(!looks_like_prose("systemctl restart nginx"));
        assert!(!looks_like_prose("FOO=1 make"));
        assert!(!looks_like_prose("cat /etc/fstab"));
    }

    #[test]
    fn plain_scripts_are_not_transcripts() {
        assert_eq!(detect("# a comment\necho hi\n"), None);
        assert_eq!(detect("echo $HOME\n"), None);
        // `$ ` lines after a plain first line: a mixed block, run as a script.
        assert_eq!(detect("export X=1\n$ echo $X\n"), None);
        assert!(has_prompt("export X=1\n$ echo $X\n"));
        assert_eq!(first_prompt_line("export X=1\n$ echo $X\n"), Some(1));
    }

    #[test]
    fn commands_without_sample() {
        let t = detect("\n$ true\n$\n").unwrap();
        assert_eq!(t.script, "\ntrue\n");
        assert!(!t.has_sample());
    }
}
