//! Shared by the integration tests.

// Each test binary compiles this module and uses its own part of it.
#![allow(dead_code)]

use camloop::config::{AudioOutput, Config, VideoOutput};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls share the machine's two cores; one at a time keeps their timing honest.
pub static ONE_CALL_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A folder for one test's files, kept after the test: the daemon's log, recordings and report
/// in it are what a failure is read from (a `tempfile` folder would go with the test).
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

/// A call small enough for emulated boards: 320x240 at 15 fps, its outputs in `dir`.
pub fn small_config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.camera.width = 320;
    config.camera.height = 240;
    config.camera.fps = 15;
    config.video.bitrate_kbps = 500;
    config.output.video = VideoOutput::Y4m(dir.join("remote.y4m"));
    config.output.audio = AudioOutput::Wav(dir.join("remote.wav"));
    config.stats.report = Some(dir.join("stats.json"));
    config
}

// A `camloop run` daemon as a test drives it: started on a config in a folder, asked over
// `camloop ctl`, waited for.

pub const READY: Duration = Duration::from_secs(20);
pub const CONNECT: Duration = Duration::from_secs(30);

pub fn ctl(socket: &Path, command: &str) -> serde_json::Value {
    let output = camloop_command()
        .args(["ctl", "--socket", socket.to_str().unwrap(), command])
        .output()
        .unwrap();
    // The daemon's log sits beside its socket: show it with any failure.
    let log = std::fs::read_to_string(socket.with_file_name("camloop.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "ctl {command}: {}\ndaemon log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "ctl {command} answered {:?}: {e}\ndaemon log:\n{log}",
            output.stdout
        )
    })
}

pub fn wait_for_state(socket: &Path, state: &str, timeout: Duration) -> serde_json::Value {
    let until = Instant::now() + timeout;
    loop {
        let status = ctl(socket, "status");
        if status["state"] == state || Instant::now() > until {
            assert_eq!(status["state"], state, "{status}");
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `dir/camloop.toml`: a 320x240@15 camera (and the `camera` lines), the control socket and
/// stats.json in `dir`, `output` as the `[output]` section.
pub fn write_config(dir: &Path, camera: &str, output: &str) {
    let config = format!(
        "[camera]\nwidth = 320\nheight = 240\nfps = 15\n{camera}\n[video]\nbitrate_kbps = 500\n[control]\nsocket = \"{}\"\n[stats]\nreport = \"{}\"\n[output]\n{output}\n",
        dir.join("control.sock").display(),
        dir.join("stats.json").display()
    );
    std::fs::write(dir.join("camloop.toml"), config).unwrap();
}

/// `camloop run` on `dir/camloop.toml`, logging to `dir/camloop.log`, not waited for.
pub fn spawn_daemon(
    dir: &Path,
    prepare: impl FnOnce(&mut std::process::Command),
) -> (std::process::Child, PathBuf) {
    let config = dir.join("camloop.toml");
    let mut command = camloop_command();
    prepare(&mut command);
    let child = command
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("camloop.log")).unwrap())
        .spawn()
        .unwrap();
    (child, dir.join("control.sock"))
}

/// A `camloop run` daemon with a control socket in `dir`; `output` is its `[output]` section.
pub fn start_daemon(dir: &Path, output: &str) -> (std::process::Child, PathBuf) {
    start_daemon_with(dir, output, |_| {})
}

/// `start_daemon`, with the command prepared by `prepare` first.
pub fn start_daemon_with(
    dir: &Path,
    output: &str,
    prepare: impl FnOnce(&mut std::process::Command),
) -> (std::process::Child, PathBuf) {
    write_config(dir, "", output);
    let (child, socket) = spawn_daemon(dir, prepare);
    wait_for_socket(&socket);
    (child, socket)
}

/// Until the daemon has made its socket, up to [`READY`].
pub fn wait_for_socket(socket: &Path) {
    let until = Instant::now() + READY;
    while !socket.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn wait_exit(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

pub fn quit(mut child: std::process::Child, socket: &Path) {
    ctl(socket, "quit");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(5)).map(|s| s.code()),
        Some(Some(0))
    );
}
