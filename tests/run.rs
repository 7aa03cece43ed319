//! `camloop run` as a process, as a person or a script uses it: driven by `camloop ctl` over
//! its control socket, stopped by a signal, failing with a reason it reports.

mod common;

use common::{ONE_CALL_AT_A_TIME, out_dir};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const READY: Duration = Duration::from_secs(20);
const CONNECT: Duration = Duration::from_secs(30);

fn ctl(socket: &Path, command: &str) -> serde_json::Value {
    let output = common::camloop_command()
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

fn wait_for_state(socket: &Path, state: &str, timeout: Duration) -> serde_json::Value {
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

/// A `camloop run` daemon with a control socket in `dir`; `output` is its `[output]` section.
fn start_daemon(dir: &Path, output: &str) -> (std::process::Child, PathBuf) {
    let socket = dir.join("control.sock");
    let config = dir.join("camloop.toml");
    std::fs::write(
        &config,
        format!(
            "[camera]\nwidth = 320\nheight = 240\nfps = 15\n[video]\nbitrate_kbps = 500\n[control]\nsocket = \"{}\"\n[stats]\nreport = \"{}\"\n[output]\n{output}\n",
            socket.display(),
            dir.join("stats.json").display()
        ),
    )
    .unwrap();
    let child = common::camloop_command()
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("camloop.log")).unwrap())
        .spawn()
        .unwrap();
    let until = Instant::now() + READY;
    while !socket.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, socket)
}

fn wait_exit(
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

#[test]
fn ctl_drives_a_run_daemon_through_call_connected_hangup_and_quit() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("ctl");
    let (mut child, socket) = start_daemon(&dir, "");
    wait_for_state(&socket, "ready", READY);
    let pressed = ctl(&socket, "call");
    assert_eq!(pressed["state"], "connecting", "{pressed}");
    wait_for_state(&socket, "connected", CONNECT);
    std::thread::sleep(Duration::from_secs(2));
    ctl(&socket, "hangup");
    let status = wait_for_state(&socket, "ready", READY);
    assert!(
        status["last_call"]["video"]["decoded"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert!(
        dir.join("stats.json").exists(),
        "the report is written at hangup"
    );
    let quit = ctl(&socket, "quit");
    assert_eq!(
        quit["state"], "stopping",
        "quit is answered before it is carried out: {quit}"
    );
    let exit = wait_exit(&mut child, Duration::from_secs(5));
    assert_eq!(exit.map(|s| s.code()), Some(Some(0)));
    assert!(!socket.exists(), "the socket file is removed at exit");
}

#[test]
fn sigterm_during_a_call_hangs_up_and_exits_0_within_a_second() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("sigterm");
    let (mut child, socket) = start_daemon(&dir, "");
    wait_for_state(&socket, "ready", READY);
    ctl(&socket, "call");
    wait_for_state(&socket, "connected", CONNECT);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let exit = wait_exit(&mut child, Duration::from_secs(1));
    assert_eq!(
        exit.map(|s| s.code()),
        Some(Some(0)),
        "exit 0 within 1 s of SIGTERM"
    );
}

#[test]
fn a_call_that_cannot_open_its_output_ends_in_error_with_the_reason_in_the_status() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("badoutput");
    let (mut child, socket) = start_daemon(&dir, "video = \"y4m:/nonexistent/camloop/remote.y4m\"");
    wait_for_state(&socket, "ready", READY);
    ctl(&socket, "call");
    let status = wait_for_state(&socket, "error", CONNECT);
    let why = status["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("/nonexistent/camloop/remote.y4m"), "{status}");
    assert_eq!(
        (
            status["call_enabled"].as_bool(),
            status["hangup_enabled"].as_bool()
        ),
        (Some(true), Some(true))
    );
    ctl(&socket, "hangup");
    wait_for_state(&socket, "ready", READY);
    ctl(&socket, "quit");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(5)).map(|s| s.code()),
        Some(Some(0))
    );
}
