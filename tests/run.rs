//! `camloop run` as a process, as a person or a script uses it: driven by `camloop ctl` over
//! its control socket, stopped by a signal, failing with a reason it reports.

mod common;

use common::{
    CONNECT, ONE_CALL_AT_A_TIME, READY, ctl, out_dir, quit, start_daemon, start_daemon_with,
    wait_exit, wait_for_state,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn ctl_drives_a_run_daemon_through_call_connected_hangup_and_quit() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("ctl");
    let (mut child, socket) = start_daemon(&dir, "");
    wait_for_state(&socket, "ready", READY);
    let pressed = ctl(&socket, "call");
    assert_eq!(pressed["state"], "connecting", "{pressed}");
    // Connected is pc2's first picture decoded: the report has it whenever Hangup comes.
    wait_for_state(&socket, "connected", CONNECT);
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
fn a_call_that_cannot_open_its_output_ends_in_error_with_the_reason_until_a_call_works() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("badoutput");
    let later = dir.join("made-later");
    let _ = std::fs::remove_dir_all(&later);
    let recording = later.join("remote.y4m");
    let (mut child, socket) =
        start_daemon(&dir, &format!("video = \"y4m:{}\"", recording.display()));
    wait_for_state(&socket, "ready", READY);
    ctl(&socket, "call");
    let status = wait_for_state(&socket, "error", CONNECT);
    let why = status["last_error"].as_str().unwrap_or_default();
    assert!(why.contains(&*recording.to_string_lossy()), "{status}");
    assert_eq!(
        (
            status["call_enabled"].as_bool(),
            status["hangup_enabled"].as_bool()
        ),
        (Some(true), Some(true))
    );
    ctl(&socket, "hangup");
    let status = wait_for_state(&socket, "ready", READY);
    assert!(
        status["last_error"].is_string(),
        "kept after Hangup: {status}"
    );
    // The folder is there now: the next call works, and the error is history.
    std::fs::create_dir_all(&later).unwrap();
    ctl(&socket, "call");
    let status = wait_for_state(&socket, "connected", CONNECT);
    assert!(status["last_error"].is_null(), "{status}");
    ctl(&socket, "quit");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(5)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(recording.exists());
}

/// Connects to the daemon's socket, with reads bounded in time.
fn client(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

fn reply(reader: &mut impl BufRead) -> serde_json::Value {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

#[test]
fn every_line_on_a_control_connection_is_answered_in_order_and_a_huge_one_is_refused_short() {
    let dir = out_dir("lines");
    let (child, socket) = start_daemon(&dir, "");
    wait_for_state(&socket, "ready", READY);
    let mut stream = client(&socket);
    stream
        .write_all(b"status\nstatus\n\xff\xfe\nbogus\ndebug-stall\nstatus\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        assert_eq!(reply(&mut reader)["state"], "ready");
    }
    let not_text = reply(&mut reader);
    assert!(
        not_text["error"].as_str().unwrap().contains("UTF-8"),
        "{not_text}"
    );
    let unknown = reply(&mut reader);
    assert!(
        unknown["error"].as_str().unwrap().contains("bogus"),
        "{unknown}"
    );
    // The watchdog test's command is refused unless the config allows it, and hangs nothing.
    let stall = reply(&mut reader);
    assert!(
        stall["error"].as_str().unwrap().contains("debug_commands"),
        "{stall}"
    );
    assert_eq!(reply(&mut reader)["state"], "ready");

    // 10 MiB on one line: a short error, nothing echoed, the connection closed.
    let mut writer = stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let _ = writer.write_all(&vec![b'x'; 10 << 20]);
    });
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    flood.join().unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("longer than 4096 bytes"), "{rest}");
    assert!(rest.len() < 200, "{} bytes answered", rest.len());
    quit(child, &socket);
}

#[test]
fn idle_control_clients_are_dropped_crowds_refused_and_the_listener_outlives_running_out_of_descriptors()
 {
    let dir = out_dir("idle");
    let (child, socket) = start_daemon(&dir, "");
    wait_for_state(&socket, "ready", READY);
    let idle = Instant::now();
    let mut stream = client(&socket);
    let mut nothing = Vec::new();
    stream.read_to_end(&mut nothing).unwrap();
    let dropped_after = idle.elapsed();
    assert!(
        dropped_after >= Duration::from_secs(4) && dropped_after < Duration::from_secs(15),
        "dropped after {dropped_after:?}"
    );

    // A few descriptors above what the daemon holds at rest, then more clients than that: the
    // daemon runs out of descriptors, says so, and answers again once they leave.
    let pid = child.id() as i32;
    let open = procfs::process::Process::new(pid)
        .and_then(|process| process.fd_count())
        .unwrap() as u64;
    let original = set_descriptor_limit(pid, open + 3);
    let crowd: Vec<UnixStream> = (0..12).map(|_| client(&socket)).collect();
    let log = dir.join("camloop.log");
    let until = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("accept: Too many open files")
    {
        assert!(
            Instant::now() < until,
            "the daemon never ran out of descriptors"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(crowd);
    let until = Instant::now() + Duration::from_secs(10);
    let answered = loop {
        let output = common::camloop_command()
            .args(["ctl", "--socket", socket.to_str().unwrap(), "status"])
            .output()
            .unwrap();
        if output.status.success() || Instant::now() > until {
            break output.status.success();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        answered,
        "the control socket stopped answering after EMFILE"
    );
    set_descriptor_limit(pid, original);

    // Four clients of one user at once; the fifth is told its user has its share. The daemon
    // accepts in the order the clients connected, so it takes the four before it: no wait.
    let crowd: Vec<UnixStream> = (0..4).map(|_| client(&socket)).collect();
    let busy = reply(&mut BufReader::new(client(&socket)));
    assert_eq!(busy["busy"], true, "{busy}");
    assert!(
        busy["error"].as_str().unwrap().contains("your user"),
        "{busy}"
    );
    drop(crowd);
    quit(child, &socket);
}

#[test]
fn clients_that_never_read_their_answers_are_dropped_and_ctl_gets_in() {
    let dir = out_dir("unread");
    let (child, socket) = start_daemon(&dir, "");
    wait_for_state(&socket, "ready", READY);
    // Sixteen clients each ask for far more statuses than a socket's buffer holds, and read
    // none: the daemon's writes to them block.
    let flood: Vec<UnixStream> = (0..16)
        .map(|_| {
            let mut stream = client(&socket);
            let _ = stream.write_all(&b"status\n".repeat(5000));
            stream
        })
        .collect();
    let began = Instant::now();
    let output = common::camloop_command()
        .args(["ctl", "--timeout", "30", "--socket"])
        .arg(&socket)
        .arg("status")
        .output()
        .unwrap();
    let waited = began.elapsed();
    let log = std::fs::read_to_string(dir.join("camloop.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "ctl never got in: {}\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("ctl answered after {waited:?}");
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Four took this user's slots; the others were turned away at once, as was ctl (the same
    // user) until one of the four missed its answer's deadline and was dropped.
    let dropped = &status["control_clients_dropped"];
    assert!(dropped["unread"].as_u64().unwrap() >= 1, "{status}");
    assert!(dropped["user_busy"].as_u64().unwrap() >= 12, "{status}");
    // The other three go at their own deadlines, each a moment apart.
    let until = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let status = ctl(&socket, "status");
        if status["control_clients_dropped"]["unread"] == 4 || Instant::now() > until {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["control_clients_dropped"]["unread"], 4, "{status}");
    let spanned = began.elapsed();
    let log = std::fs::read_to_string(dir.join("camloop.log")).unwrap_or_default();
    assert!(log.contains("did not read its answer in time"), "{log}");
    // At most one line per reason a second, however many were dropped.
    let lines = log.matches("did not read its answer").count();
    assert!(
        lines as u64 <= 1 + spanned.as_secs(),
        "{lines} lines in {spanned:?}: {log}"
    );
    drop(flood);
    quit(child, &socket);
}

/// Sets the soft limit of open files of process `pid` (the hard one stays, so an unprivileged
/// test can put it back); returns the soft limit it had.
fn set_descriptor_limit(pid: i32, files: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit(2) on our own child, reading into a valid rlimit.
    let read = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(read, 0, "prlimit: {}", std::io::Error::last_os_error());
    let limit = libc::rlimit {
        rlim_cur: files,
        rlim_max: old.rlim_max,
    };
    // SAFETY: prlimit(2) on our own child, with a valid rlimit.
    let set = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
    old.rlim_cur
}

#[test]
fn the_socket_is_0660_whatever_the_umask_and_a_file_at_its_path_is_left_alone() {
    let dir = out_dir("mode");
    let (child, socket) = start_daemon_with(&dir, "", |command| {
        // SAFETY: umask(2) is async-signal-safe; it runs in the child before exec.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            })
        };
    });
    wait_for_state(&socket, "ready", READY);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "socket mode {mode:o} under umask 000");
    quit(child, &socket);

    std::fs::write(&socket, "a user's notes").unwrap();
    let (mut child, _) = start_daemon(&dir, "");
    let exit = wait_exit(&mut child, Duration::from_secs(20));
    let log = std::fs::read_to_string(dir.join("camloop.log")).unwrap();
    assert_eq!(exit.map(|s| s.code()), Some(Some(1)), "{log}");
    assert!(
        log.contains(socket.to_str().unwrap()) && log.contains("not a socket"),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "a user's notes");
}

#[test]
fn folders_camloop_makes_for_its_socket_are_private_whatever_the_umask() {
    let dir = out_dir("private");
    let _ = std::fs::remove_dir_all(dir.join("run"));
    let socket = dir.join("run/camloop/control.sock");
    common::write_config(&dir, "", "");
    let config = dir.join("camloop.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        &*dir.join("control.sock").to_string_lossy(),
        &socket.to_string_lossy(),
    );
    std::fs::write(&config, text).unwrap();
    let (child, _) = common::spawn_daemon(&dir, |command| {
        // SAFETY: umask(2) is async-signal-safe; it runs in the child before exec.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            })
        };
    });
    common::wait_for_socket(&socket);
    wait_for_state(&socket, "ready", READY);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    // Above the socket's folder: its group may pass, not list; the socket's own folder: read.
    assert_eq!(mode(&dir.join("run")), 0o710, "under umask 000");
    assert_eq!(mode(&dir.join("run/camloop")), 0o750, "under umask 000");
    quit(child, &socket);
}

#[test]
fn a_dead_socket_is_replaced_only_when_it_is_camloops_users_own() {
    let dir = out_dir("stale");
    let socket = dir.join("control.sock");
    let _ = std::fs::remove_file(&socket);
    // A socket nothing listens on: what a daemon that died leaves.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let (child, socket) = start_daemon(&dir, "");
    // The dead socket's file is there from the start: wait for one that answers.
    let until = Instant::now() + READY;
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < until, "the dead socket was not replaced");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for_state(&socket, "ready", READY);
    quit(child, &socket);

    // Another user's: left alone, and said. Only root can give a socket away to test this.
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("not root: the other user's socket is not tried");
        return;
    }
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    std::os::unix::fs::chown(&socket, Some(65534), Some(65534)).unwrap();
    let (mut child, _) = start_daemon(&dir, "");
    let exit = wait_exit(&mut child, Duration::from_secs(20));
    let log = std::fs::read_to_string(dir.join("camloop.log")).unwrap();
    assert_eq!(exit.map(|s| s.code()), Some(Some(1)), "{log}");
    assert!(log.contains("a socket of user 65534"), "{log}");
    assert!(
        std::fs::symlink_metadata(&socket).is_ok(),
        "left where it was"
    );
    std::fs::remove_file(&socket).unwrap();
}

#[test]
fn ctl_gives_up_on_a_daemon_that_does_not_answer_and_names_its_socket() {
    let dir = out_dir("mute");
    let socket = dir.join("mute.sock");
    let _ = std::fs::remove_file(&socket);
    let _mute = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let with_timeout = |timeout: &str| {
        common::camloop_command()
            .args(["ctl", "--socket", socket.to_str().unwrap()])
            .args(["--timeout", timeout, "status"])
            .output()
            .unwrap()
    };
    let asked = Instant::now();
    let output = with_timeout("1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(socket.to_str().unwrap()) && stderr.contains("no answer within 1s"),
        "{stderr}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    for bad in ["0", "-1", "nan", "soon", "1e20"] {
        let output = with_timeout(bad);
        assert_eq!(output.status.code(), Some(2), "--timeout {bad}");
    }
}
