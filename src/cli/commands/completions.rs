//! `runbook completions SHELL`: clap's completion script, taught what clap
//! cannot know statically — the values of `run --from`/`--only` are the step
//! names of the runbook on the same command line, and `--tag` its tags. The
//! script asks `runbook list --format names|tags FILE` when the user presses
//! Tab; the word that is FILE is found by skipping the options that take a
//! value, a list taken from the clap definition itself so it cannot drift.

use crate::error::{Error, Result, exit};
use clap_complete::Shell;

/// Which `list --format` answers a step-valued option.
const STEP_OPTIONS: [(&str, &str); 3] = [("from", "names"), ("only", "names"), ("tag", "tags")];

pub fn completions_command(shell: Shell, mut cmd: clap::Command) -> Result<i32> {
    let value_options = value_options(&cmd, "run");
    // Into memory first: the generator panics on a write error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "runbook", &mut script);
    let script = String::from_utf8(script)
        .map_err(|_| Error::Other("completion script is not UTF-8".into()))?;
    let script = patch(shell, &script, &value_options)?;
    crate::console::out(script.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
    Ok(exit::OK)
}

/// The spellings (`-o`, `--output`) of a subcommand's options that take a
/// value: the word after one of them is not the runbook.
fn value_options(cmd: &clap::Command, sub: &str) -> Vec<String> {
    let Some(sub) = cmd.find_subcommand(sub) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arg in sub.get_arguments() {
        if arg.is_positional() || !arg.get_action().takes_values() {
            continue;
        }
        out.extend(arg.get_short().map(|s| format!("-{s}")));
        out.extend(arg.get_long().map(|l| format!("--{l}")));
    }
    out
}

/// The generated script with step-name completion wired in; an error when
/// the generator's output no longer has the shape the patch expects (a
/// clap_complete upgrade), rather than a script that silently lost it.
pub fn patch(shell: Shell, script: &str, value_options: &[String]) -> Result<String> {
    let vopts = value_options.join(" ");
    match shell {
        Shell::Bash => patch_bash(script, &vopts),
        Shell::Zsh => patch_zsh(script, &vopts),
        Shell::Fish => patch_fish(script, &vopts),
        _ => Ok(script.to_string()),
    }
}

fn replace_once(script: &str, from: &str, to: &str) -> Result<String> {
    match script.matches(from).count() {
        1 => Ok(script.replacen(from, to, 1)),
        n => Err(Error::Other(format!(
            "completion script: expected one `{}`, found {n}",
            from.trim()
        ))),
    }
}

fn patch_bash(script: &str, vopts: &str) -> Result<String> {
    let mut out = BASH_HELPER.replace("__VOPTS__", vopts);
    let mut body = script.to_string();
    for (opt, kind) in STEP_OPTIONS {
        let from = format!(
            "                --{opt})\n                    COMPREPLY=($(compgen -f \"${{cur}}\"))\n"
        );
        let to = format!(
            "                --{opt})\n                    _runbook_step_values {kind} \"${{cur}}\"\n"
        );
        body = replace_once(&body, &from, &to)?;
    }
    out.push_str(&body);
    Ok(out)
}

fn patch_zsh(script: &str, vopts: &str) -> Result<String> {
    let mut body = script.to_string();
    for (opt, kind) in STEP_OPTIONS {
        let value = if kind == "names" { "STEP" } else { "TAG" };
        let needle = format!("--{opt}=[");
        let start = body
            .find(&needle)
            .ok_or_else(|| Error::Other(format!("completion script: no `{needle}`")))?;
        let from = format!(":{value}:_default'");
        let end = start
            + body[start..]
                .find(&from)
                .ok_or_else(|| Error::Other(format!("completion script: no `{from}`")))?;
        body.replace_range(
            end..end + from.len(),
            &format!(":{value}:_runbook_step_values {kind}'"),
        );
    }
    let helper = ZSH_HELPER.replace("__VOPTS__", vopts);
    replace_once(
        &body,
        "autoload -U is-at-least\n",
        &format!("autoload -U is-at-least\n{helper}"),
    )
}

fn patch_fish(script: &str, vopts: &str) -> Result<String> {
    let mut body = FISH_HELPER.replace("__VOPTS__", vopts);
    let mut rest = script.to_string();
    for (opt, kind) in STEP_OPTIONS {
        let from = format!("__fish_runbook_using_subcommand run\" -l {opt} ");
        let line_start = rest
            .find(&from)
            .ok_or_else(|| Error::Other(format!("completion script: no `{from}`")))?;
        let line_end = line_start
            + rest[line_start..]
                .find('\n')
                .unwrap_or(rest.len() - line_start);
        let line = &rest[line_start..line_end];
        let Some(stripped) = line.strip_suffix(" -r") else {
            return Err(Error::Other(format!(
                "completion script: `{line}` does not end in -r"
            )));
        };
        let new = format!("{stripped} -x -a '(__runbook_step_values {kind})'");
        rest.replace_range(line_start..line_end, &new);
    }
    body.push_str(&rest);
    Ok(body)
}

const BASH_HELPER: &str = r#"# Step names for run --from/--only and tags for --tag: asked of
# `runbook list --format names|tags FILE`, FILE being the first word after
# `run` that is neither an option nor an option's value.
_runbook_step_values() {
    local kind="$1" cur="$2" file="" w want=0 seen=0 i name
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if ((seen == 0)); then [[ "$w" == run ]] && seen=1; continue; fi
        [[ "$w" == "=" ]] && continue
        if ((want)); then want=0; continue; fi
        case " __VOPTS__ " in *" $w "*) want=1; continue ;; esac
        [[ "$w" == -* ]] && continue
        file="$w"
        break
    done
    COMPREPLY=()
    [[ -n "$file" ]] || return 0
    file="${file/#\~/$HOME}"
    local bin="${COMP_WORDS[0]/#\~/$HOME}"
    while IFS= read -r name; do
        [[ "$name" == "$cur"* ]] && COMPREPLY+=("$(printf '%q' "$name")")
    done < <(command "$bin" list --format "$kind" -- "$file" 2>/dev/null)
    return 0
}

"#;

const ZSH_HELPER: &str = r#"
# Step names for run --from/--only and tags for --tag: asked of
# `runbook list --format names|tags FILE`, FILE being the first word after
# `run` that is neither an option nor an option's value.
_runbook_step_values() {
    local kind=$1 file= w i want=0 seen=0
    local -a vopts values
    vopts=(__VOPTS__)
    for ((i = 2; i < CURRENT; i++)); do
        w=${words[i]}
        if ((seen == 0)); then [[ $w == run ]] && seen=1; continue; fi
        if ((want)); then want=0; continue; fi
        if ((${vopts[(Ie)$w]})); then want=1; continue; fi
        [[ $w == -* ]] && continue
        file=$w
        break
    done
    [[ -n $file ]] || return 1
    values=(${(f)"$(command ${words[1]/#\~/$HOME} list --format $kind -- ${file/#\~/$HOME} 2>/dev/null)"})
    compadd -a values
}
"#;

const FISH_HELPER: &str = r#"# Step names for run --from/--only and tags for --tag: asked of
# `runbook list --format names|tags FILE`, FILE being the first word after
# `run` that is neither an option nor an option's value.
function __runbook_step_values
    set -l kind $argv[1]
    set -l tokens (commandline -opc)
    set -l seen 0
    set -l want 0
    set -l file
    for w in $tokens[2..-1]
        if test $seen = 0
            test "$w" = run; and set seen 1
            continue
        end
        if test $want = 1
            set want 0
            continue
        end
        if contains -- $w __VOPTS__
            set want 1
            continue
        end
        string match -q -- '-*' $w; and continue
        set file $w
        break
    end
    test -n "$file"; or return 0
    command $tokens[1] list --format $kind -- (string replace -r '^~' $HOME -- $file) 2>/dev/null
end

"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(shell: Shell) -> String {
        let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        let vopts = value_options(&cmd, "run");
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "runbook", &mut script);
        patch(shell, &String::from_utf8(script).unwrap(), &vopts).unwrap()
    }

    #[test]
    fn every_shell_patch_applies_to_the_generated_script() {
        let bash = generated(Shell::Bash);
        assert_eq!(bash.matches("_runbook_step_values names").count(), 2);
        assert_eq!(bash.matches("_runbook_step_values tags").count(), 1);
        let zsh = generated(Shell::Zsh);
        assert!(zsh.contains(":STEP:_runbook_step_values names'"));
        assert!(zsh.contains(":TAG:_runbook_step_values tags'"));
        let fish = generated(Shell::Fish);
        assert!(fish.contains("-l from -d"));
        assert_eq!(
            fish.matches("-x -a '(__runbook_step_values names)'")
                .count(),
            2
        );
    }

    #[test]
    fn value_options_come_from_the_clap_definition() {
        let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        let v = value_options(&cmd, "run");
        for o in ["-o", "--output", "-p", "--param", "--from", "--format"] {
            assert!(v.iter().any(|x| x == o), "{o} missing from {v:?}");
        }
        assert!(!v.iter().any(|x| x == "--yes" || x == "--dry-run"), "{v:?}");
    }

    #[test]
    fn a_changed_generator_is_an_error_not_a_silent_loss() {
        let err = patch(Shell::Bash, "no such shape", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "completion script: expected one `--from)\n                    COMPREPLY=($(compgen -f \"${cur}\"))`, found 0"
        );
    }
}
