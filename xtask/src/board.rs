//! The board test: camloop on an emulated aarch64 board with real kernel drivers.
//!
//! QEMU's `virt` machine boots Debian's arm64 kernel (resolved from the metapackage at run time)
//! with an initramfs of busybox, the cross-built camloop and the libraries it links. The kernel
//! brings up vivid (camera), snd-aloop (sound), the PL061 GPIO lines named CALL, HANGUP and LED
//! through the device tree, and virtio-gpu. A script in the guest (`board/qemu-virt/scenario.sh`)
//! drives `camloop run` with `camloop ctl` through a call on vivid and snd-aloop and the device
//! faults (camera missing, unbound mid-call, no sound card, audio off), and leaves the reports
//! and the far end's recording of the tone played in on a 9p share. Debian packages are cached
//! in `${XDG_CACHE_HOME:-$HOME/.cache}/camloop/debs` (checked by SHA256); what they unpack to,
//! the console log and the artifacts stay in `target/board-test/`.

mod debs;
mod image;
mod panel;
mod tone;

use crate::cross::{self, Target};
use crate::system::install;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WORK: &str = "target/board-test";
const BOARD: &str = "board/qemu-virt";
/// Boot, scenario and poweroff together; a run past this is killed.
const TIMEOUT: Duration = Duration::from_secs(420);
/// The bar: Connected within this long of Call.
const CONNECT_LIMIT_S: f64 = 20.0;
const MIN_DECODED_SHARE: f64 = 0.8;
const MACHINE: &[&str] = &[
    "-M",
    "virt",
    "-cpu",
    "cortex-a72",
    "-m",
    "1024",
    "-smp",
    "2",
    "-accel",
    "tcg",
];

/// Kills QEMU on every path out, including errors and panics in the harness.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one boot produced.
struct Outcome {
    console: String,
    share: PathBuf,
    /// What the buttons and LED showed the harness, or where that went wrong.
    panel: Result<Vec<String>>,
}

impl Outcome {
    /// The value of a `camloop-board: KEY VALUE` line the guest printed.
    fn marker(&self, key: &str) -> Option<&str> {
        let prefix = format!("camloop-board: {key} ");
        self.console
            .lines()
            .find_map(|l| l.trim().strip_prefix(&prefix))
    }
}

pub fn test(config: Option<&Path>) -> Result<()> {
    let config = config.map_or_else(
        || PathBuf::from(BOARD).join("camloop.toml"),
        Path::to_path_buf,
    );
    let outcome = boot(&config)?;
    check(&outcome)
}

/// The harness must fail, and say why, when camloop cannot start: one boot with a broken config.
pub fn test_harness_rejects_a_broken_config() -> Result<()> {
    let broken = PathBuf::from(WORK).join("broken.toml");
    std::fs::create_dir_all(WORK)?;
    std::fs::write(&broken, "[camera]\nwidth = \"wide\"\n")?;
    let outcome = boot(&broken)?;
    match check(&outcome) {
        Ok(()) => bail!("the board test passed with a broken config"),
        Err(e) if format!("{e:#}").contains("camera.width") => {
            eprintln!("xtask: the harness rejected the broken config as it should: {e:#}");
            Ok(())
        }
        Err(e) => bail!("the board test failed, but without naming the broken key: {e:#}"),
    }
}

fn boot(config: &Path) -> Result<Outcome> {
    let target = Target::named("aarch64-unknown-linux-gnu")?;
    let binary = cross::build(target)?;
    install(&["qemu-system-arm", "device-tree-compiler"].map(String::from))?;
    let work = PathBuf::from(WORK);

    let started = Instant::now();
    let kernel = image::kernel(&work)?;
    let dtb = image::device_tree(&work, MACHINE)?;
    let initramfs = work.join("initramfs.cpio");
    image::initramfs(&initramfs, &kernel, &binary, target, &work)?;
    let share = work.join("share");
    if share.exists() {
        std::fs::remove_dir_all(&share)?;
    }
    std::fs::create_dir_all(&share)?;
    std::fs::copy(config, share.join("camloop.toml"))
        .with_context(|| format!("reading {}", config.display()))?;
    std::fs::copy(
        PathBuf::from(BOARD).join("scenario.sh"),
        share.join("scenario.sh"),
    )?;
    // Longer than the whole scenario: aplay plays it once, from the start.
    tone::write(&share.join("tone.wav"), 120)?;
    eprintln!(
        "xtask: board image ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let console_path = work.join("console.log");
    let (qtest, qmp) = (work.join("qtest.sock"), work.join("qmp.sock"));
    for socket in [&qtest, &qmp] {
        let _ = std::fs::remove_file(socket);
    }
    let console = std::fs::File::create(&console_path)?;
    let mut qemu = Command::new("qemu-system-aarch64");
    qemu.args(MACHINE)
        .args([
            "-nographic",
            "-nic",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ])
        .arg("-kernel")
        .arg(&kernel.image)
        .arg("-initrd")
        .arg(&initramfs)
        .arg("-dtb")
        .arg(&dtb)
        .args([
            "-append",
            "console=ttyAMA0 panic=-1 rdinit=/init loglevel=4",
        ])
        .arg("-fsdev")
        .arg(format!(
            "local,id=fs0,path={},security_model=none",
            share.display()
        ))
        .args(["-device", "virtio-9p-device,fsdev=fs0,mount_tag=host"])
        // Without this the legacy MMIO transport lacks VIRTIO_F_VERSION_1 and virtio-gpu never binds.
        // The buttons and the LED, worked from the host (panel.rs).
        .arg("-qtest")
        .arg(format!("unix:{},server=on,wait=off", qtest.display()))
        .args(["-qtest-log", "none"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp.display()))
        .args([
            "-global",
            "virtio-mmio.force-legacy=false",
            "-device",
            "virtio-gpu-device",
        ])
        .stdin(Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console);
    eprintln!(
        "xtask: booting the emulated board (console in {})",
        console_path.display()
    );
    let booted = Instant::now();
    let mut qemu = Qemu(qemu.spawn().context("cannot start qemu-system-aarch64")?);
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let panel = {
        let running = running.clone();
        let (console, share) = (console_path.clone(), share.clone());
        std::thread::spawn(move || -> Result<Vec<String>> {
            let mut panel = panel::Panel::connect(&qmp, &qtest, &console, &share)?;
            panel.serve(|| running.load(std::sync::atomic::Ordering::Relaxed))?;
            Ok(panel.figures)
        })
    };
    let status = loop {
        if let Some(status) = qemu.0.try_wait()? {
            break status;
        }
        if booted.elapsed() > TIMEOUT {
            drop(qemu);
            bail!(
                "the board did not power off within {} s; console in {}",
                TIMEOUT.as_secs(),
                console_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let panel = panel
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the panel thread panicked")));
    let console = std::fs::read_to_string(&console_path)?;
    eprintln!(
        "xtask: QEMU ran {:.1} s and exited with {status}",
        booted.elapsed().as_secs_f64()
    );
    Ok(Outcome {
        console,
        share,
        panel,
    })
}

fn check(outcome: &Outcome) -> Result<()> {
    let share = &outcome.share;
    if let Some(uptime) = outcome.marker("init") {
        eprintln!("xtask: board booted to init in {uptime} s (guest clock)");
    }
    if let Some(devices) = outcome.marker("devices") {
        eprintln!("xtask: board devices: {devices}");
    }
    if let Some(failure) = outcome.marker("FAIL") {
        // The log of the camloop run that was going when it failed.
        let log = outcome
            .console
            .lines()
            .filter_map(|l| l.trim().strip_prefix("camloop-board: log /mnt/"))
            .next_back()
            .map(|name| std::fs::read_to_string(share.join(name)).unwrap_or_default())
            .unwrap_or_default();
        let last = log.lines().rev().take(5).collect::<Vec<_>>();
        let last: Vec<&str> = last.into_iter().rev().collect();
        let panel = match &outcome.panel {
            Err(e) => format!("; the harness: {e:#}"),
            Ok(_) => String::new(),
        };
        bail!(
            "on the board: {failure}; camloop said: {}{panel}",
            last.join(" | ")
        );
    }
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
    match &outcome.panel {
        Ok(figures) => {
            for figure in figures {
                eprintln!("xtask: buttons and LED, {figure}");
            }
        }
        Err(e) => bail!("working the buttons and reading the LED: {e:#}"),
    }

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
    let far = tone::check(&share.join("far.wav")).context("the 1 kHz tone at the far end")?;
    eprintln!(
        "xtask: the tone played into hw:Loopback,0,0 came back from camloop's speaker as {far}"
    );
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
        "xtask: board call: {} sent, {} decoded; setup ice {} ms, peer {} ms, first frame {} ms; latency p50 {} ms, p95 {} ms (capture → decode, by RTP timestamp); encode {} ms, decode {} ms; audio {} sent, {} played, {} xruns, {} underruns",
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
        report["audio"]["xruns"],
        report["audio"]["underruns"]
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
    for key in ["no-card-exit", "video-only-exit"] {
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
    Ok(())
}

fn report(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("no stats report from the board at {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("unreadable {}", path.display()))
}
