//! Thin entry point: everything lives in the library; errors are printed and
//! mapped to exit codes in exactly one place (`runbook::run_cli`).

fn main() {
    std::process::exit(runbook::run_cli());
}
