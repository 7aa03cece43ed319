//! The command line's error paths: one line naming the key, the value and what is allowed,
//! exit code 2 for configuration and usage errors.

mod common;

use std::path::PathBuf;
use std::process::Output;

fn camloop(args: &[&str]) -> Output {
    common::camloop_command()
        .args(args)
        .output()
        .expect("camloop runs")
}

fn write_config(name: &str, text: &str) -> PathBuf {
    let path = common::out_dir("cli").join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_config_error_is_one_line_naming_the_key_with_exit_code_2() {
    let long_socket = format!("[control]\nsocket = \"/run/{}.sock\"\n", "s".repeat(100));
    let cases = [
        (
            "[camera]\nwidth = \"wide\"\n",
            "camera.width = \"wide\": expected a whole number from 16 to 3840",
        ),
        (
            "[camera]\nheight = 3\n",
            "camera.height = 3: expected a whole number from 16 to 2160",
        ),
        (
            "[camera]\nfps = 0\n",
            "camera.fps = 0: expected a whole number from 1 to 120",
        ),
        (
            "[camera]\nsource = \"webcam\"\n",
            "camera.source = \"webcam\": expected one of \"pattern\"",
        ),
        (
            "[camera]\nsize = 3\n",
            "camera.size: unknown key; known keys in [camera] are",
        ),
        (
            "[audio]\nenabled = \"yes\"\n",
            "audio.enabled = \"yes\": expected true or false",
        ),
        (
            "[audio]\ntone_hz = 30000\n",
            "audio.tone_hz = 30000: expected a whole number from 20 to 20000",
        ),
        (
            "[video]\nbitrate_kbps = -5\n",
            "video.bitrate_kbps = -5: expected a whole number from 50 to 50000",
        ),
        (
            "[call]\nconnect_timeout_s = 0\n",
            "call.connect_timeout_s = 0: expected a whole number from 1 to 600",
        ),
        (
            "[output]\nvideo = \"screen\"\n",
            "output.video = \"screen\": expected \"drm\", \"drm:/dev/dri/cardN\", \"fb:/dev/fbN\", \"y4m:PATH\" or \"none\"",
        ),
        (
            "[output]\naudio = \"wav:\"\n",
            "output.audio = \"wav:\": expected \"wav:PATH\", \"alsa:DEVICE\" or \"none\"",
        ),
        (
            "[buttons]\nsource = \"mouse\"\n",
            "buttons.source = \"mouse\": expected one of \"keyboard\", \"gpio\", \"none\"",
        ),
        (
            "[control]\nsocket = 5\n",
            "control.socket = 5: expected a string",
        ),
        (
            "[camera]\nwidth = 4096\n",
            "camera.width = 4096: expected a whole number from 16 to 3840",
        ),
        (
            long_socket.as_str(),
            "expected a path of at most 107 bytes (a Unix socket's limit)",
        ),
        (
            "[stats]\ninterval_s = 0\n",
            "stats.interval_s = 0: expected a whole number from 1 to 3600",
        ),
        (
            "[log]\nlevel = \"loud\"\n",
            "log.level = \"loud\": expected one of \"error\", \"warn\", \"info\", \"debug\", \"trace\"",
        ),
        ("[speaker]\n", "[speaker]: unknown section"),
        ("camera = 5\n", "camera = 5: expected a section [camera]"),
        ("[camera]\nwidth = = 3\n", "line 2, column 9:"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = write_config(&format!("bad{i}.toml"), text);
        for command in ["check-config", "run"] {
            let output = match command {
                "run" => camloop(&["run", "--config", path.to_str().unwrap()]),
                _ => camloop(&["check-config", path.to_str().unwrap()]),
            };
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{command} {text:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{command} {text:?}: {err}");
            assert!(err.starts_with("camloop: config error: "), "{err}");
            assert!(err.contains(expected), "{command} {text:?}: {err}");
            assert!(
                err.contains(path.to_str().unwrap()),
                "the error names the file: {err}"
            );
        }
    }
}

#[test]
fn a_valid_config_checks_ok() {
    let path = write_config(
        "good.toml",
        "[camera]\nwidth = 320\nheight = 240\nfps = 15\n",
    );
    let output = camloop(&["check-config", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).ends_with(": ok\n"));
}

#[test]
fn every_board_config_checks_ok() {
    for board in ["qemu-virt", "rpi3", "rpi4", "rpi5"] {
        let path = format!("{}/board/{board}/camloop.toml", env!("CARGO_MANIFEST_DIR"));
        let output = camloop(&["check-config", &path]);
        assert!(output.status.success(), "{board}: {}", stderr(&output));
    }
}

#[test]
fn check_config_warns_of_output_files_that_cannot_be_written_here() {
    let dir = common::out_dir("cli-files");
    let private = dir.join("private");
    let _ = std::fs::remove_dir_all(&private);
    std::fs::create_dir_all(private.join("a-folder")).unwrap();
    let link = dir.join("shared-call");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&private, &link).unwrap();
    let path = write_config(
        "files.toml",
        &format!(
            "[output]\nvideo = \"y4m:{}\"\naudio = \"wav:{}\"\n[stats]\nreport = \"{}\"\n",
            private.join("a-folder").display(),
            link.join("remote.wav").display(),
            dir.join("not-there/stats.json").display(),
        ),
    );
    let output = camloop(&["check-config", path.to_str().unwrap()]);
    let err = stderr(&output);
    // Valid as a config (the board it is for may differ), with what would fail here said.
    assert!(output.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(warnings.len(), 3, "{err}");
    assert!(
        warnings[0].starts_with("camloop: warning: output.video = ")
            && warnings[0].ends_with("it is a folder: give the path of a file in it"),
        "{err}"
    );
    assert!(
        warnings[1].ends_with(&format!(
            "{} is a symbolic link, and camloop does not write through links: give the real path",
            link.display()
        )),
        "{err}"
    );
    assert!(
        warnings[2].contains("not-there is not there; make it"),
        "{err}"
    );
    let own = write_config("own.toml", "");
    std::fs::write(&own, format!("[stats]\nreport = \"{}\"\n", own.display())).unwrap();
    let output = camloop(&["check-config", own.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the configuration file itself"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unreadable_file_is_a_config_error() {
    let output = camloop(&["check-config", "/nonexistent/camloop.toml"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot read /nonexistent/camloop.toml"),
        "{err}"
    );
}

#[test]
fn a_config_that_is_not_a_regular_file_of_sane_size_is_refused_unread() {
    let dir = common::out_dir("cli-odd-configs");
    let fifo = dir.join("camloop.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
    let huge = dir.join("huge.toml");
    std::fs::write(&huge, "#".repeat(100_000)).unwrap();
    let cases = [
        ("/dev/zero".into(), "not a regular file"),
        (fifo, "not a regular file"),
        (dir.clone(), "a folder"),
        (huge, "larger than 64 KiB"),
    ];
    for (path, why) in cases {
        // Each would read forever or at length if it were read; a child that hangs fails here.
        let output = camloop(&["check-config", &path.to_string_lossy()]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{}: {err}", path.display());
        assert!(err.contains(why), "{}: {err}", path.display());
    }
}

#[test]
fn usage_errors_exit_with_2() {
    assert_eq!(camloop(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(camloop(&["ctl", "dance"]).status.code(), Some(2));
}

#[test]
fn every_numeric_option_refuses_zero_negative_huge_nan_and_words_by_name_with_exit_2() {
    let numbers = [
        "0",
        "-1",
        "1e20",
        "NaN",
        "inf",
        "18446744073709551616",
        "ten",
        "",
    ];
    let sizes = [
        "0x0",
        "-2x480",
        "641x480",
        "99999999999x480",
        "NaNxNaN",
        "tenxten",
        "640",
    ];
    let mut cases: Vec<(Vec<&str>, String)> = Vec::new();
    for n in numbers {
        cases.push((vec!["demo", "--duration"], n.to_string()));
        cases.push((vec!["bench", "--seconds"], n.to_string()));
        cases.push((vec!["bench", "--runs"], n.to_string()));
        cases.push((vec!["bench", "--frames"], n.to_string()));
        cases.push((vec!["ctl", "--timeout"], n.to_string()));
    }
    for size in sizes {
        cases.push((vec!["bench", "--sizes"], size.to_string()));
    }
    for (words, value) in cases {
        let option = words[1];
        let mut args = words.clone();
        let given = format!("{option}={value}");
        args[1] = &given;
        if words[0] == "ctl" {
            args.push("status");
        }
        let output = camloop(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(option), "{args:?}: {err}");
    }
}

#[test]
fn bench_codec_times_each_stage_it_runs_and_stops_where_told() {
    let rows = |args: &[&str]| -> Vec<Vec<String>> {
        let output = camloop(args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines()
            .skip(1)
            .map(|line| line.split_whitespace().map(String::from).collect())
            .collect()
    };
    let all = rows(&[
        "bench",
        "--codec",
        "--sizes",
        "160x120",
        "--patterns",
        "bars,scene",
        "--frames",
        "12",
    ]);
    assert_eq!(all.len(), 2, "{all:?}");
    for (row, picture) in all.iter().zip(["bars", "scene"]) {
        assert_eq!(row[..3], ["160x120", picture, "12"], "{row:?}");
        let ms: Vec<f64> = row[3..6]
            .iter()
            .map(|figure| figure.parse().unwrap_or_else(|_| panic!("{row:?}")))
            .collect();
        assert!(
            ms[1] > 0.0 && ms[2] > 0.0,
            "encode and decode take time: {row:?}"
        );
    }
    let encoded = rows(&[
        "bench", "--codec", "encode", "--sizes", "160x120", "--frames", "12",
    ]);
    let row = &encoded[0];
    assert!(row[4].parse::<f64>().is_ok() && row[5] == "-", "{row:?}");
}

#[test]
fn demo_writes_a_recording_and_a_whole_report_and_exits_0() {
    let _one = common::ONE_CALL_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let out = common::out_dir("demo");
    let output = camloop(&["demo", "--duration", "1", "--out", &out.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("stats.json")).unwrap()).unwrap();
    assert!(report["video"]["decoded"].as_u64() > Some(0), "{report}");
    let start = |name: &str, len| std::fs::read(out.join(name)).unwrap()[..len].to_vec();
    assert_eq!(start("remote.y4m", 9), b"YUV4MPEG2");
    assert_eq!(start("remote.wav", 4), b"RIFF");
}

#[test]
fn demo_exits_1_and_says_why_when_its_call_or_its_files_fail() {
    let _one = common::ONE_CALL_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = common::out_dir("demo-fails");
    // A link where the recording goes: refused, so the call does not connect.
    let linked = dir.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    let elsewhere = dir.join("elsewhere");
    let _ = std::os::unix::fs::symlink(&elsewhere, linked.join("remote.y4m"));
    let output = camloop(&[
        "demo",
        "--duration",
        "1",
        "--out",
        &linked.to_string_lossy(),
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("did not connect") && err.contains("symbolic link"),
        "{err}"
    );
    assert!(!elsewhere.exists(), "nothing written through the link");
    // A folder where the report goes: the call works, the report cannot be written.
    let blocked = dir.join("blocked");
    std::fs::create_dir_all(blocked.join("stats.json")).unwrap();
    let output = camloop(&[
        "demo",
        "--duration",
        "1",
        "--out",
        &blocked.to_string_lossy(),
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("stats.json was not written"), "{err}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("wrote"));
}

#[test]
fn ctl_without_a_daemon_says_what_to_check() {
    let output = camloop(&["ctl", "--socket", "/nonexistent/camloop.sock", "status"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("/nonexistent/camloop.sock"), "{err}");
    assert!(err.contains("is `camloop run` running"), "{err}");
}

/// A fake daemon on a socket in `dir`: it answers the first client with `reply` (written in
/// full, or until the client goes), then closes.
fn fake_daemon(name: &str, reply: Vec<u8>) -> (PathBuf, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, Write};
    let socket = common::out_dir("cli").join(name);
    let _ = std::fs::remove_file(&socket);
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut command = String::new();
        let _ = std::io::BufReader::new(&stream).read_line(&mut command);
        let _ = stream.write_all(&reply);
    });
    (socket, server)
}

fn ctl(socket: &std::path::Path) -> Output {
    camloop(&[
        "ctl",
        "--socket",
        socket.to_str().unwrap(),
        "--timeout",
        "30",
        "status",
    ])
}

#[test]
fn ctl_refuses_a_reply_past_its_bound_at_once() {
    // 64 MiB with no end of line: ctl stops reading at its bound (a read to the end would end
    // at the timeout instead, saying so).
    let (socket, server) = fake_daemon("endless.sock", vec![b'a'; 64 << 20]);
    let output = ctl(&socket);
    server.join().unwrap();
    // Its beginning only, should it be the whole reply echoed.
    let said: String = stderr(&output).chars().take(300).collect();
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("longer than"), "{said}");
    assert!(output.stderr.len() < 1024, "the reply is not echoed whole");
}

#[test]
fn ctl_prints_no_control_character_it_was_sent() {
    // Not JSON, with a terminal escape: refused, the escape shown escaped.
    let (socket, server) = fake_daemon("escape.sock", b"\x1b]0;owned\x07\n".to_vec());
    let output = ctl(&socket);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(!output.stderr.contains(&0x1b) && !output.stderr.contains(&0x07));
    assert!(
        stderr(&output).contains("\\u{1b}]0;owned\\u{7}"),
        "{}",
        stderr(&output)
    );
    // JSON whose string holds C1 controls (U+009B is CSI to some terminals) and DEL: printed
    // with them escaped, still JSON.
    let (socket, server) = fake_daemon(
        "c1.sock",
        "{\"state\":\"ready\",\"last_error\":\"a\u{9b}31mb\u{7f}\"}\n".into(),
    );
    let output = ctl(&socket);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        !printed.trim_end().contains(char::is_control),
        "{printed:?}"
    );
    let value: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(value["last_error"], "a\u{9b}31mb\u{7f}");
}
