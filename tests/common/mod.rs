//! Shared by the integration tests.

use std::process::Command;

/// A command that starts the camloop binary under test. Cross-built tests run under qemu-user,
/// which this machine does not register for foreign binaries, so `cargo xtask test --target`
/// passes the runner in `CAMLOOP_TEST_RUNNER`.
pub fn camloop_command() -> Command {
    let binary = env!("CARGO_BIN_EXE_camloop");
    match std::env::var("CAMLOOP_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut command = Command::new(words.next().expect("a runner program"));
            command.args(words).arg(binary);
            command
        }
        _ => Command::new(binary),
    }
}
