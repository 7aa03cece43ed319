//! `cargo xtask instructions`: what one aarch64 core spends on a frame, as guest instructions
//! counted by a QEMU plugin (`count-insns/`) under qemu-user. Emulated time says nothing about
//! a board; instruction counts are the same on every machine.
//!
//! `camloop bench --codec` renders, encodes and decodes the scene picture on one thread. Each
//! size runs stopping after each stage, with 60 and then 120 frames, so that subtracting runs
//! leaves frames 60..119 of a stage alone (a keyframe among them, one in 60 as in a call): no
//! start-up, no encoder set-up. Instructions inside OpenH264's NEON functions are counted
//! apart, which needs the binary's symbols: it is built unstripped in a target folder of its own.

use crate::cross::{self, Target};
use crate::system::{self, install};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

const SIZES: &[&str] = &["320x240", "640x480", "1280x720"];
/// Frames in the shorter run; the longer one has twice as many.
const FRAMES: u64 = 60;

/// A core as the README's estimates assume it: its clock and the instructions it retires a
/// cycle on codec code (an assumption, said beside the figures).
struct Core {
    board: &'static str,
    name: &'static str,
    ghz: f64,
    ipc: f64,
}

const CORES: &[Core] = &[
    Core {
        board: "Pi 4",
        name: "Cortex-A72",
        ghz: 1.5,
        ipc: 1.0,
    },
    Core {
        board: "Pi 5",
        name: "Cortex-A76",
        ghz: 2.4,
        ipc: 1.6,
    },
];

/// What a run executed, as the plugin wrote it.
#[derive(Clone, Copy, Default)]
struct Count {
    instructions: u64,
    neon: u64,
    threads: u64,
}

pub fn measure() -> Result<()> {
    let target = Target::named("aarch64-unknown-linux-gnu")?;
    let binary = cross::build_with_symbols(target)?;
    install(&["qemu-user".into()])?;
    system::run_cargo(&["build", "--release", "--package", "count-insns"])?;
    let plugin = system::target_dir()?.join("release/libcount_insns.so");
    let neon = neon_functions(&binary)?;
    let plugin = format!(
        "{},neon={},code={:x}",
        plugin.display(),
        neon.display(),
        code_start(&binary)?
    );
    println!(
        "(guest instructions a frame of the scene picture; the share run in OpenH264's NEON functions)"
    );
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "size", "render", "encode", "decode", "enc neon", "dec neon"
    );
    let mut rows = Vec::new();
    for size in SIZES {
        let (mut per_frame, mut neon) = (Vec::new(), Vec::new());
        for stage in ["render", "encode", "decode"] {
            let short = count(&binary, &plugin, target, size, stage, FRAMES)?;
            let long = count(&binary, &plugin, target, size, stage, 2 * FRAMES)?;
            if stage == "decode" && long.neon == 0 {
                bail!("no instruction ran in OpenH264's NEON functions: its C code did the work");
            }
            per_frame.push((long.instructions - short.instructions) / FRAMES);
            neon.push((long.neon - short.neon) / FRAMES);
        }
        // Each stage's run includes the stages before it.
        let (render, encode, decode) = (
            per_frame[0],
            per_frame[1].saturating_sub(per_frame[0]),
            per_frame[2].saturating_sub(per_frame[1]),
        );
        let share = |part: u64, whole: u64| 100.0 * part as f64 / whole.max(1) as f64;
        let neon_encode = share(neon[1].saturating_sub(neon[0]), encode);
        let neon_decode = share(neon[2].saturating_sub(neon[1]), decode);
        println!(
            "{size:<10} {render:>12} {encode:>12} {decode:>12} {neon_encode:>9.1}% {neon_decode:>9.1}%"
        );
        rows.push((size, encode, decode));
    }
    println!(
        "\nOn paper, frames a second one core encodes / decodes (instructions a second = GHz × IPC):"
    );
    for core in CORES {
        let rate = core.ghz * 1e9 * core.ipc;
        let fps: Vec<String> = rows
            .iter()
            .map(|(size, encode, decode)| {
                format!(
                    "{size} {:.0} / {:.0}",
                    rate / *encode as f64,
                    rate / *decode as f64
                )
            })
            .collect();
        println!(
            "{} ({}, {} GHz, IPC {}): {}",
            core.board,
            core.name,
            core.ghz,
            core.ipc,
            fps.join(", ")
        );
    }
    Ok(())
}

/// The address ranges of OpenH264's NEON functions in `binary`, written to a file for the
/// plugin: each runs from its symbol to the next symbol (assembly functions have no size).
fn neon_functions(binary: &Path) -> Result<std::path::PathBuf> {
    let addresses = crate::elf::symbols(&crate::elf::read(binary)?)?;
    let mut ranges = String::new();
    for (i, (start, name)) in addresses.iter().enumerate() {
        let start = *start;
        if !name.ends_with("_AArch64_neon") {
            continue;
        }
        let end = addresses[i + 1..]
            .iter()
            .map(|(a, _)| *a)
            .find(|&a| a > start);
        if let Some(end) = end {
            ranges.push_str(&format!("{start:x} {end:x}\n"));
        }
    }
    if ranges.is_empty() {
        bail!(
            "{} has no OpenH264 NEON functions (…_AArch64_neon)",
            binary.display()
        );
    }
    let path = std::env::temp_dir().join("camloop-neon-functions.txt");
    std::fs::write(&path, ranges)?;
    Ok(path)
}

/// Where `binary`'s code starts as linked. The loader moves it by as much as the rest.
fn code_start(binary: &Path) -> Result<u64> {
    crate::elf::code_start(&crate::elf::read(binary)?)?
        .with_context(|| format!("{} has no executable segment", binary.display()))
}

/// The instructions of one `camloop bench --codec STAGE` run of `frames` frames at `size`.
fn count(
    binary: &Path,
    plugin: &str,
    target: &Target,
    size: &str,
    stage: &str,
    frames: u64,
) -> Result<Count> {
    let log = std::env::temp_dir().join(format!("camloop-instructions-{}.log", std::process::id()));
    let mut command = Command::new("qemu-aarch64");
    command
        .args(["-plugin", plugin, "-d", "plugin", "-D"])
        .arg(&log)
        .args(cross::runner_options(target)?)
        .arg(binary)
        .args([
            "bench",
            "--codec",
            stage,
            "--patterns",
            "scene",
            "--sizes",
            size,
        ])
        .args(["--frames", &frames.to_string()]);
    let ran = command.output().context("starting qemu-aarch64")?;
    if !ran.status.success() {
        bail!(
            "camloop bench --codec {stage} at {size} under qemu-aarch64: {}: {}",
            ran.status,
            String::from_utf8_lossy(&ran.stderr).trim()
        );
    }
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    std::fs::remove_file(&log)?;
    let mut found = Count::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(Ok(value))) = (words.next(), words.next().map(str::parse)) else {
            continue;
        };
        match name {
            "instructions" => found.instructions = value,
            "neon" => found.neon = value,
            "threads" => found.threads = value,
            _ => {}
        }
    }
    if found.instructions == 0 {
        bail!("the plugin counted nothing; QEMU's log said: {text}");
    }
    if found.threads > 1 {
        bail!(
            "{} guest threads ran; counts are exact for one",
            found.threads
        );
    }
    Ok(found)
}
