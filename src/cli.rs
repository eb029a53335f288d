//! clap definitions and dispatch.

pub fn run_cli() -> i32 {
    0
}
