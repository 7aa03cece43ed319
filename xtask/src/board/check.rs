//! What the board reported, checked: the failure the guest met (with camloop's last words), the
//! buttons and LED as the host saw them, what the kernel says of camloop's GPIO lines, and each
//! board's own scenario.

use super::{Board, CONNECT_LIMIT_S, MIN_DECODED_SHARE, Outcome, WORK, screen, tone};
use anyhow::{Context, Result, bail};
use std::path::Path;

pub fn check(outcome: &Outcome) -> Result<()> {
    let work = outcome.board.work();
    if let Some(uptime) = outcome.marker("init") {
        eprintln!("xtask: board booted to init in {uptime} s (guest clock)");
    }
    if let Some(devices) = outcome.marker("devices") {
        eprintln!("xtask: board devices: {devices}");
    }
    if let Some(failure) = outcome.marker("FAIL") {
        let said: Vec<&str> = outcome.markers("said").map(str::trim_end).collect();
        let panel = match &outcome.panel {
            Err(e) => format!("; the harness: {e:#}"),
            Ok(_) => String::new(),
        };
        bail!(
            "on the board: {failure}; camloop said: {}{panel}",
            said.join(" | ")
        );
    }
    match &outcome.panel {
        Ok(figures) => {
            for figure in figures {
                eprintln!("xtask: buttons and LED, {figure}");
            }
        }
        Err(e) => bail!("working the buttons and reading the LED: {e:#}"),
    }
    match outcome.board {
        Board::Virt => check_virt(outcome, &work.join("share")),
        Board::Rpi3 => check_rpi3(outcome, &work),
        Board::Debian => super::debian::check(outcome),
    }
}

/// While camloop ran, the kernel showed `inputs` held by camloop as inputs with an interrupt
/// (edge events) and `output` as an output.
fn lines_held(outcome: &Outcome, inputs: &[&str], output: &str) -> Result<()> {
    let held = |name: &str| -> Result<&str> {
        let prefix = format!("{name} ");
        outcome
            .markers("gpio-line")
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::trim)
            .with_context(|| format!("the guest never reported GPIO line {name}"))
    };
    for name in inputs {
        let seen = held(name)?;
        if !(seen.contains("|camloop") && seen.contains(" in ") && seen.contains("IRQ")) {
            bail!("GPIO line {name} is not an input with edge events held by camloop: {seen}");
        }
        eprintln!("xtask: kernel GPIO table, {name}: {seen}");
    }
    let seen = held(output)?;
    if !(seen.contains("|camloop") && seen.contains(" out ")) {
        bail!("GPIO line {output} is not an output held by camloop: {seen}");
    }
    eprintln!("xtask: kernel GPIO table, {output}: {seen}");
    Ok(())
}

/// `virt`: probe, devices taken away and given back, the call's figures and the tone.
fn check_virt(outcome: &Outcome, share: &Path) -> Result<()> {
    let probe =
        std::fs::read_to_string(share.join("probe.txt")).context("no camloop probe output")?;
    eprintln!("xtask: camloop probe on the board:\n{probe}");
    for expected in [
        "vivid",
        "hw:CARD=Loopback",
        "9030000.pl061",
        "CALL",
        "HANGUP",
        "LED",
        ": opens",
    ] {
        if !probe.contains(expected) {
            bail!("camloop probe on the board does not show {expected}");
        }
    }
    lines_held(outcome, &["CALL", "HANGUP"], "LED")?;
    let log = std::fs::read_to_string(share.join("camloop.log")).context("no camloop.log")?;
    let opened = log.lines().find(|l| l.contains("screen: "));
    eprintln!(
        "xtask: camloop on the board: {}",
        opened.unwrap_or_default().trim()
    );
    screen_seen(outcome, &outcome.board.work())?;

    for (key, what) in [
        ("camera-missing", "camera missing at start"),
        ("camera-back-after", "vivid loaded → Ready (s)"),
        (
            "camera-unbound-error-after",
            "vivid unbound mid-call → Error (s)",
        ),
        (
            "camera-rebound-ready-after",
            "vivid bound again → Ready (s)",
        ),
        ("reconnected-after", "then Call → Connected (s)"),
        ("sound-missing", "sound card missing"),
        (
            "speaker-busy-error-after",
            "speaker held by another program: Call → Error (s)",
        ),
        (
            "video-only-connected-after",
            "audio disabled: Call → Connected (s)",
        ),
    ] {
        let seen = outcome
            .marker(key)
            .with_context(|| format!("the guest never reported {key}; see {WORK}/console.log"))?;
        eprintln!("xtask: {what}: {seen}");
    }
    let connected: f64 = outcome
        .marker("connected-after")
        .context("the guest never reported Connected; see target/board-test/console.log")?
        .parse()
        .context("unreadable connected-after marker")?;
    eprintln!("xtask: Call → Connected in {connected:.2} s on the board");
    if connected > CONNECT_LIMIT_S {
        bail!("Connected {connected:.1} s after Call; the limit is {CONNECT_LIMIT_S} s");
    }
    let video_only = report(&share.join("video-only.json"))?;
    let (audio_sent, video_decoded) = (
        video_only["audio"]["sent"].as_u64(),
        video_only["video"]["decoded"].as_u64().unwrap_or(0),
    );
    if audio_sent != Some(0) || video_decoded == 0 {
        bail!("the audio-disabled call sent audio {audio_sent:?}, decoded {video_decoded} frames");
    }
    eprintln!("xtask: audio disabled: {video_decoded} frames decoded, no audio sent");
    let report = report(&share.join("call.json"))?;
    let (video, setup) = (&report["video"], &report["setup_ms"]);
    eprintln!(
        "xtask: board call: {} sent, {} decoded; setup ice {} ms, peer {} ms, first frame {} ms; latency p50 {} ms, p95 {} ms (capture → decode, by RTP timestamp); encode {} ms, decode {} ms; audio {} sent, {} played, {} from FEC, {} ms concealed (longest {} ms), jitter buffer wait p50 {} ms, {} xruns, {} underruns",
        video["sent"],
        video["decoded"],
        setup["ice_connected"],
        setup["peer_connected"],
        setup["first_frame"],
        video["latency_ms"]["p50"],
        video["latency_ms"]["p95"],
        video["encode_ms_p50"],
        video["decode_ms_p50"],
        report["audio"]["sent"],
        report["audio"]["played"],
        report["audio"]["fec_recovered"],
        report["audio"]["concealed_ms"],
        report["audio"]["max_gap_ms"],
        report["audio"]["playout_delay_ms"]["p50"],
        report["audio"]["xruns"],
        report["audio"]["underruns"]
    );
    let audio = &report["audio"];
    let far = tone::check(&share.join("far.wav")).with_context(|| {
        format!(
            "the 1 kHz tone at the far end (the call's speaker had {} underruns, its microphone {} xruns)",
            audio["underruns"], audio["xruns"]
        )
    })?;
    eprintln!(
        "xtask: the tone played into hw:Loopback,0,0 came back from camloop's speaker as {far}"
    );
    if video["latency_ms"]["p50"].is_null() {
        bail!("no latency measured on vivid's frames");
    }
    let (sent, decoded) = (
        video["sent"].as_u64().unwrap_or(0),
        video["decoded"].as_u64().unwrap_or(0),
    );
    if sent == 0 || (decoded as f64) < MIN_DECODED_SHARE * sent as f64 {
        bail!(
            "decoded {decoded} of {sent} frames sent; at least {:.0} % must arrive",
            MIN_DECODED_SHARE * 100.0
        );
    }
    for key in ["no-card-exit", "speaker-busy-exit", "video-only-exit"] {
        if outcome.marker(key) != Some("0") {
            bail!(
                "camloop did not exit 0 after quit ({key} {:?})",
                outcome.marker(key)
            );
        }
    }
    if outcome.marker("exit") != Some("0") {
        bail!(
            "camloop did not exit 0 after quit (exit {:?})",
            outcome.marker("exit")
        );
    }
    let led_off = outcome
        .marker("led-off")
        .context("the scenario never ran camloop led-off")?;
    if !led_off.contains("killed mid-call: LED on;") {
        bail!("camloop killed mid-call should leave the LED lit for led-off to put out: {led_off}");
    }
    eprintln!("xtask: camloop led-off, {led_off}");
    Ok(())
}

/// The screendumps taken during the call and after Hangup show what camloop should.
fn screen_seen(outcome: &Outcome, work: &Path) -> Result<()> {
    if let Some(opened) = outcome.marker("screen") {
        eprintln!("xtask: camloop on the board: {}", opened.trim());
    }
    let shot = |name: &str| screen::Shot::read(&work.join(format!("screen-{name}.png")));
    for figure in screen::check(&shot("connected")?, &shot("ready")?)? {
        eprintln!("xtask: screen, {figure}");
    }
    eprintln!("xtask: screen, kept as {}/screen-*.png", work.display());
    Ok(())
}

/// `raspi3b`: camloop with the Pi 3's config found its chip by label and the lines it names; the
/// probe came back on the console.
fn check_rpi3(outcome: &Outcome, work: &Path) -> Result<()> {
    let probe: String = outcome.markers("probe").map(|l| format!("{l}\n")).collect();
    std::fs::write(work.join("probe.txt"), &probe)?;
    eprintln!("xtask: camloop probe on the rpi3 board:\n{probe}");
    for expected in ["pinctrl-bcm2835, 54 lines", "17 GPIO17", "vivid", ": opens"] {
        if !probe.contains(expected) {
            bail!("camloop probe on the rpi3 board does not show {expected}");
        }
    }
    if let Some(line) = probe.lines().find(|l| l.contains("does not open")) {
        bail!(
            "with board/rpi3/camloop.toml, camloop probe says: {}",
            line.trim()
        );
    }
    lines_held(outcome, &["GPIO17", "GPIO27"], "GPIO22")?;
    screen_seen(outcome, work)?;
    if outcome.markers("gpio-exit").count() != 1 {
        bail!("the rpi3 scenario did not end with camloop's exit");
    }
    Ok(())
}

fn report(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("no stats report from the board at {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("unreadable {}", path.display()))
}
