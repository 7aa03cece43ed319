//! The board tests: camloop on an emulated aarch64 board with real kernel drivers.
//!
//! QEMU boots Debian's arm64 kernel (resolved from the metapackage at run time) with an
//! initramfs of busybox, the cross-built camloop, the libraries it links and the board's scenario
//! (`board/qemu-*/scenario.sh`, run by `board/qemu/init.sh`). On `virt` the kernel brings up
//! vivid (camera), snd-aloop (sound), the PL061 GPIO lines named CALL, HANGUP and LED through
//! the device tree, and virtio-gpu; the scenario goes through calls with the buttons pressed from
//! the host and the device faults (camera missing, unbound mid-call, no sound card, audio off),
//! and leaves the reports and the far end's recording of the tone played in on a 9p share. On
//! `raspi3b` the Pi 3's own device tree gives the real pinctrl-bcm2835 GPIO driver; camloop runs
//! with `board/rpi3/camloop.toml` and the results come back on the console. Both read the LED
//! from the host (`panel.rs`). `debian.rs` boots a Debian root file system with systemd and
//! camloop's own package instead. Debian packages are cached in
//! `${XDG_CACHE_HOME:-$HOME/.cache}/camloop/debs` (checked by SHA256); what they unpack to, the
//! console logs and the artifacts stay in `target/board-test/`.

mod check;
mod cpio;
mod debian;
mod debs;
mod image;
mod panel;
mod qemu;
mod screen;
mod tone;

use crate::cross::{self, Target};
use crate::system::install;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WORK: &str = "target/board-test";
/// Where QEMU's raspi3b keeps its framebuffer: 1 MiB into the video memory at the top of its
/// 1 GiB (64 MiB by default), which the kernel is not given.
const RPI3_FRAMEBUFFER: u32 = 0x3c10_0000;
const RPI3_SCREEN: (u32, u32) = (1280, 720);
/// Boot, scenario and poweroff together; a run past this is killed.
const TIMEOUT: Duration = Duration::from_secs(420);
/// An early kernel panic hangs QEMU: no init marker in this long is a failed boot.
const INIT_TIMEOUT: Duration = Duration::from_secs(120);
/// The bar: Connected within this long of Call.
pub(crate) const CONNECT_LIMIT_S: f64 = 20.0;
const MIN_DECODED_SHARE: f64 = 0.8;
const VIRT_MACHINE: &[&str] = &[
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
/// A webcam-like capture device (QEMU.md).
const VIVID: (&str, &str) = (
    "vivid",
    "n_devs=1 node_types=0x1 num_inputs=1 input_types=0x0",
);

/// The emulated boards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// QEMU's `virt`: PL061 GPIO with input events, virtio (9p share, GPU).
    Virt,
    /// QEMU's `raspi3b` with the Pi 3's own device tree and GPIO driver.
    Rpi3,
    /// `virt` booting a Debian root file system with systemd, camloop from its .deb (debian.rs).
    Debian,
}

impl Board {
    pub fn named(name: &str) -> Result<Board> {
        match name {
            "virt" => Ok(Board::Virt),
            "rpi3" => Ok(Board::Rpi3),
            other => bail!("no emulated board {other:?}; the boards are virt and rpi3"),
        }
    }

    /// Where its scenario is.
    fn folder(self) -> &'static str {
        match self {
            Board::Virt => "board/qemu-virt",
            Board::Rpi3 => "board/qemu-raspi3b",
            Board::Debian => "board/qemu-debian",
        }
    }

    /// The config camloop runs with unless one is given.
    fn config(self) -> PathBuf {
        match self {
            Board::Virt | Board::Debian => PathBuf::from("board/qemu-virt/camloop.toml"),
            Board::Rpi3 => PathBuf::from("board/rpi3/camloop.toml"),
        }
    }

    /// Its console log, sockets and artifacts.
    fn work(self) -> PathBuf {
        match self {
            Board::Virt => PathBuf::from(WORK),
            Board::Rpi3 => PathBuf::from(WORK).join("rpi3"),
            Board::Debian => PathBuf::from(WORK).join("debian"),
        }
    }

    /// Kernel modules, in load order, with their parameters.
    fn modules(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Board::Virt => &[
                ("virtio_mmio", ""),
                ("9pnet_virtio", ""),
                ("9p", ""),
                VIVID,
                ("snd-aloop", ""),
                ("virtio-gpu", ""),
            ],
            // Without the watchdog driver `poweroff -f` never ends QEMU (no PSCI on raspi).
            Board::Rpi3 => &[("bcm2835_wdt", ""), VIVID, ("snd-aloop", "")],
            // Debian's own initramfs and udev load what the devices need.
            Board::Debian => &[],
        }
    }
}

/// What one boot produced.
struct Outcome {
    board: Board,
    console: String,
    /// What the buttons and LED showed the harness, or where that went wrong.
    panel: Result<Vec<String>>,
}

impl Outcome {
    /// The value of the first `camloop-board: KEY VALUE` line the guest printed.
    fn marker(&self, key: &str) -> Option<&str> {
        self.markers(key).next().map(str::trim_end)
    }

    /// The values of every `camloop-board: KEY VALUE` line, in order.
    fn markers(&self, key: &str) -> impl Iterator<Item = &str> {
        let prefix = format!("camloop-board: {key} ");
        self.console.lines().filter_map(move |l| {
            let l = l.trim_end_matches('\r');
            l.find(&prefix).map(|at| &l[at + prefix.len()..])
        })
    }
}

pub fn test(board: Board, config: Option<&Path>) -> Result<()> {
    let config = config.map_or_else(|| board.config(), Path::to_path_buf);
    let outcome = match board {
        Board::Debian => debian::boot()?,
        _ => boot(board, &config)?,
    };
    check::check(&outcome)
}

/// The harness must fail, and say why, when camloop cannot start: one boot with a broken config.
pub fn test_harness_rejects_a_broken_config() -> Result<()> {
    let broken = PathBuf::from(WORK).join("broken.toml");
    std::fs::create_dir_all(WORK)?;
    std::fs::write(&broken, "[camera]\nwidth = \"wide\"\n")?;
    let outcome = boot(Board::Virt, &broken)?;
    match check::check(&outcome) {
        Ok(()) => bail!("the board test passed with a broken config"),
        Err(e) if format!("{e:#}").contains("camera.width") => {
            eprintln!("xtask: the harness rejected the broken config as it should: {e:#}");
            Ok(())
        }
        Err(e) => bail!("the board test failed, but without naming the broken key: {e:#}"),
    }
}

fn boot(board: Board, config: &Path) -> Result<Outcome> {
    let target = Target::named("aarch64-unknown-linux-gnu")?;
    let binary = cross::build(target)?;
    install(&["qemu-system-arm", "device-tree-compiler"].map(String::from))?;
    let work = board.work();
    std::fs::create_dir_all(&work)?;

    let started = Instant::now();
    let kernel = image::kernel(Path::new(WORK))?;
    let mut qemu = Command::new("qemu-system-aarch64");
    let scenario = PathBuf::from(board.folder()).join("scenario.sh");
    let mut contents = image::Contents {
        modules: board.modules(),
        scenario: &scenario,
        files: &[],
    };
    let installed = [("etc/camloop/camloop.toml", config)];
    let gpio = match board {
        Board::Debian => bail!("the Debian board boots its own root file system (debian.rs)"),
        Board::Virt => {
            let share = work.join("share");
            if share.exists() {
                std::fs::remove_dir_all(&share)?;
            }
            std::fs::create_dir_all(&share)?;
            std::fs::copy(config, share.join("camloop.toml"))
                .with_context(|| format!("reading {}", config.display()))?;
            // Longer than the whole scenario: aplay plays it once, from the start.
            tone::write(&share.join("tone.wav"), 120)?;
            qemu.args(VIRT_MACHINE)
                .args(["-nographic", "-nic", "none"])
                .arg("-dtb")
                .arg(image::virt_tree(&work, VIRT_MACHINE)?)
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
                // Without this the legacy MMIO transport lacks VIRTIO_F_VERSION_1 and virtio-gpu
                // never binds.
                .args([
                    "-global",
                    "virtio-mmio.force-legacy=false",
                    "-device",
                    "virtio-gpu-device",
                ]);
            panel::Gpio::Pl061
        }
        Board::Rpi3 => {
            // No virtio: the config goes in the image, where a Pi owner installs it.
            contents.files = &installed;
            // The machine is fixed (4× A53, 1 GiB); its console is the mini UART, ttyS1.
            let pi3 = kernel.device_trees.join("broadcom/bcm2837-rpi-3-b.dtb");
            let (width, height) = RPI3_SCREEN;
            qemu.args(["-M", "raspi3b", "-accel", "tcg", "-display", "none"])
                .arg("-dtb")
                .arg(image::rpi3_tree(
                    &work,
                    &pi3,
                    RPI3_FRAMEBUFFER,
                    RPI3_SCREEN,
                )?)
                // 32 bits per pixel, blue first in memory (pixo 0): XRGB, as camloop draws.
                .args(["-global", &format!("bcm2835-fb.xres={width}")])
                .args(["-global", &format!("bcm2835-fb.yres={height}")])
                .args([
                    "-global",
                    "bcm2835-fb.bpp=32",
                    "-global",
                    "bcm2835-fb.pixo=0",
                ])
                .args(["-serial", "null"])
                .args([
                    "-append",
                    "console=ttyS1,115200 panic=-1 rdinit=/init loglevel=4",
                ]);
            panel::Gpio::Bcm2835
        }
    };
    let initramfs = work.join("initramfs.cpio");
    image::initramfs(
        &initramfs,
        &kernel,
        &binary,
        target,
        Path::new(WORK),
        &contents,
    )?;
    eprintln!(
        "xtask: {board:?} board image ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    qemu.arg("-kernel")
        .arg(&kernel.image)
        .arg("-initrd")
        .arg(&initramfs);
    let limits = qemu::Limits {
        init: INIT_TIMEOUT,
        all: TIMEOUT,
    };
    let (console, panel) = qemu::run(qemu, gpio, &work, &format!("{board:?}"), limits)?;
    Ok(Outcome {
        board,
        console,
        panel,
    })
}
