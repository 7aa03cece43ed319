//! Shared by the integration tests.

// Each test binary compiles this module and uses its own part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Calls share the machine's two cores; one at a time keeps their timing honest.
pub static ONE_CALL_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A fresh folder for one test's files.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("camloop-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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
