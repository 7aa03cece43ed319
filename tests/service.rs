//! `camloop run` under systemd's notify protocol, with a real notify socket: READY=1 even when
//! the camera is missing (so systemd does not restart it in a loop), STATUS= naming the error,
//! WATCHDOG=1 while the owner task answers, STOPPING=1 at quit.

mod common;

use common::{
    ONE_CALL_AT_A_TIME, READY, ctl, out_dir, quit, spawn_daemon, wait_for_socket, write_config,
};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The messages received on `socket` until one holds `wanted`, up to `timeout`.
fn until(socket: &UnixDatagram, wanted: &str, timeout: Duration) -> Vec<String> {
    let until = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    while !got.iter().any(|m: &String| m.contains(wanted)) {
        let left = until.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no {wanted:?} within {timeout:?}; got {got:?}"
        );
        socket.set_read_timeout(Some(left)).unwrap();
        if let Ok(n) = socket.recv(&mut buffer) {
            got.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
    }
    got
}

/// `camloop run` on `dir/camloop.toml` as systemd starts it, with a 1 s watchdog: the socket it
/// notifies, the daemon, its control socket.
fn under_systemd(dir: &Path) -> (UnixDatagram, std::process::Child, PathBuf) {
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).unwrap();
    let (child, control) = spawn_daemon(dir, |command| {
        command
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", "1000000")
            .env_remove("WATCHDOG_PID");
    });
    (socket, child, control)
}

#[test]
fn systemd_is_told_ready_status_and_watchdog_even_with_the_camera_missing() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("service-notify");
    write_config(
        &dir,
        "source = \"v4l2\"\ndevice = \"/dev/camloop-test-no-camera\"",
        "",
    );
    let (socket, child, control) = under_systemd(&dir);
    let got = until(&socket, "READY=1", READY);
    let status = got
        .iter()
        .rev()
        .flat_map(|m| m.lines().rev())
        .filter_map(|l| l.strip_prefix("STATUS="))
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        status.starts_with("error; last error:") && status.contains("camloop-test-no-camera"),
        "STATUS={status}"
    );
    // Pinged at least twice a period (1 s): three pings in two seconds.
    let began = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        let got = until(&socket, "WATCHDOG=1", Duration::from_secs(2));
        pings += got.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    }
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "3 pings took {:?}",
        began.elapsed()
    );
    wait_for_socket(&control);
    quit(child, &control);
    until(&socket, "STOPPING=1", Duration::from_secs(1));
}

/// `systemd-analyze` on a copy of the unit, edited by `edit`, with this build's binary in it.
fn analyze(args: &[&str], edit: fn(String) -> String) -> std::process::Output {
    let dir = out_dir("service-unit");
    let unit = edit(
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/board/camloop.service"
        ))
        .unwrap(),
    )
    .replace("/usr/bin/camloop", env!("CARGO_BIN_EXE_camloop"));
    let path = dir.join("camloop.service");
    std::fs::write(&path, unit).unwrap();
    std::process::Command::new("systemd-analyze")
        .args(args)
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) runs the unit's checks")
}

#[test]
fn the_unit_verifies_and_its_exposure_is_at_most_2() {
    let verify = analyze(&["verify"], |unit| unit);
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    let security = analyze(&["security", "--offline=yes"], |unit| unit);
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for camloop.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|figure| figure.parse().ok())
        .unwrap_or_else(|| panic!("no exposure figure in:\n{report}"));
    println!("systemd-analyze security: exposure {exposure}");
    assert!(exposure <= 2.0, "exposure {exposure}:\n{report}");
}

#[test]
fn verify_finds_a_bad_value_in_the_unit() {
    // systemd-analyze exits 0 on a bad value and only says so: the check above reads what it says.
    let verify = analyze(&["verify"], |unit| {
        assert!(unit.contains("WatchdogSec=10s"));
        unit.replace("WatchdogSec=10s", "WatchdogSec=ten")
    });
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        said.contains("WatchdogSec") || said.contains("ten"),
        "{said}"
    );
}

#[test]
fn a_stalled_owner_task_gets_no_more_watchdog_pings() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("service-stall");
    write_config(&dir, "", "");
    let config = dir.join("camloop.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[control]\n", "[control]\ndebug_commands = true\n", 1),
    )
    .unwrap();
    let (socket, child, control) = under_systemd(&dir);
    // A stalled daemon never ends by itself: killed however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Killed(child);
    until(&socket, "READY=1", READY);
    until(&socket, "WATCHDOG=1", Duration::from_secs(2));
    wait_for_socket(&control);
    assert_eq!(ctl(&control, "debug-stall")["stalling"], true);
    // A ping already on its way may arrive; none after that, for three watchdog periods.
    let stalled = Instant::now();
    let mut late = Vec::new();
    let mut buffer = [0u8; 4096];
    while stalled.elapsed() < Duration::from_secs(3) {
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if message.contains("WATCHDOG=1") && stalled.elapsed() > Duration::from_millis(700) {
                late.push(format!("{:?}: {message}", stalled.elapsed()));
            }
        }
    }
    assert!(late.is_empty(), "pinged while stalled: {late:?}");
}
