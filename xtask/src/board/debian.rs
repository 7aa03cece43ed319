//! `cargo xtask board-test --os debian`: the Debian package on a real Debian userland. An arm64
//! Debian root file system (mmdebstrap, its maintainer scripts run by qemu-user through
//! binfmt_misc; built once and cached), camloop's `.deb` installed into it with `dpkg -i`, the
//! virt board's config put in as an owner edits it, then booted on the emulated `virt` board with
//! systemd as PID 1: Debian's kernel, its modules copied in and indexed, and an initramfs made on
//! the host that mounts the root disk (`board/qemu-debian/init.sh`). `board/qemu-debian/scenario.sh` checks the
//! service from inside; Call and Hangup are pressed from the host on the PL061's lines.

use super::qemu::{self, Limits};
use super::{Board, CONNECT_LIMIT_S, Outcome, VIRT_MACHINE, VIVID, WORK, image, panel};
use crate::cross::Target;
use crate::deb;
use crate::system::{cache_dir, install, is_root, run, sha256, text};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// What the root file system has beyond apt: systemd as init, udev for the devices' groups,
/// modprobe, camloop's libraries, and what the scenario uses. Not the kernel: its package would
/// run mkinitramfs under qemu-user, most of the time making the root file system took; the
/// kernel the other boards boot comes in from the host with an initramfs made there.
const PACKAGES: [&str; 8] = [
    "systemd-sysv",
    "udev",
    "kmod",
    "libasound2",
    "libopus0",
    "libstdc++6",
    "procps",
    "dbus",
];

/// What the initramfs loads to mount the root disk, with their dependencies; ext4 asks the
/// crypto API for crc32c (its metadata checksums), which no module dependency names.
const ROOT_DISK_MODULES: [(&str, &str); 4] = [
    ("virtio_mmio", ""),
    ("virtio_blk", ""),
    ("crc32c_generic", ""),
    ("ext4", ""),
];

pub fn boot() -> Result<Outcome> {
    if !is_root() {
        bail!(
            "the Debian board test makes a root file system with its owners and chroots into it: run it as root"
        );
    }
    let package = deb::package(Target::named("aarch64-unknown-linux-gnu")?)?;
    install(
        &[
            "qemu-system-arm",
            "device-tree-compiler",
            "mmdebstrap",
            "binfmt-support",
            "qemu-user-static",
            "arch-test",
            "e2fsprogs",
            "kmod",
        ]
        .map(String::from),
    )?;
    foreign_binaries()?;
    let tar = root_file_system()?;
    let work = Board::Debian.work();
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    std::fs::create_dir_all(&root)?;
    run("tar", &["-xf", text(&tar)?, "-C", text(&root)?])?;

    // What an owner does: install the package, then edit its config for this board.
    std::fs::copy(&package, root.join("tmp/camloop.deb"))?;
    let installed = Command::new("chroot")
        .arg(&root)
        .args(["dpkg", "-i", "/tmp/camloop.deb"])
        .output()?;
    println!("{}", String::from_utf8_lossy(&installed.stdout).trim_end());
    if !installed.status.success() {
        bail!(
            "dpkg -i {} failed: {}",
            package.display(),
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    std::fs::remove_file(root.join("tmp/camloop.deb"))?;
    let config = std::fs::read_to_string(Board::Debian.config())?;
    let report = "report = \"/mnt/stats.json\"";
    if !config.contains(report) {
        bail!(
            "{} no longer has {report}",
            Board::Debian.config().display()
        );
    }
    // The service may write only its state directory; debug-stall shows the watchdog at work.
    let config = config
        .replace(report, "report = \"/var/lib/camloop/last-call.json\"")
        .replace("[control]\n", "[control]\ndebug_commands = true\n");
    std::fs::write(root.join("etc/camloop/camloop.toml"), config)?;
    // The board's camera and sound card, loaded at boot as on a board that has them.
    std::fs::write(
        root.join("etc/modules-load.d/camloop-board.conf"),
        "vivid\nsnd-aloop\n",
    )?;
    std::fs::write(
        root.join("etc/modprobe.d/camloop-board.conf"),
        format!("options vivid {}\n", VIVID.1),
    )?;
    std::fs::write(root.join("etc/hostname"), "camloop-board\n")?;
    // The serial console is the harness's: a login prompt there would hang up the scenario's
    // output (agetty revokes the tty).
    std::os::unix::fs::symlink(
        "/dev/null",
        root.join("etc/systemd/system/serial-getty@ttyAMA0.service"),
    )?;
    let scenario = root.join("usr/local/lib/camloop-board");
    std::fs::create_dir_all(&scenario)?;
    std::fs::copy("board/qemu/helpers.sh", scenario.join("helpers.sh"))?;
    let folder = Path::new(Board::Debian.folder());
    std::fs::copy(folder.join("scenario.sh"), scenario.join("scenario.sh"))?;
    let unit = "camloop-board-test.service";
    std::fs::copy(
        folder.join(unit),
        root.join("etc/systemd/system").join(unit),
    )?;
    std::os::unix::fs::symlink(
        format!("/etc/systemd/system/{unit}"),
        root.join("etc/systemd/system/multi-user.target.wants")
            .join(unit),
    )?;

    // The kernel's modules, indexed as its package's postinst would, for systemd and udev.
    let kernel = image::kernel(Path::new(WORK))?;
    let modules = kernel
        .modules
        .parent()
        .context("the kernel's module folder")?;
    let release = modules
        .file_name()
        .and_then(|n| n.to_str())
        .context("the kernel's release")?;
    let guest_modules = root.join("usr/lib/modules");
    std::fs::create_dir_all(&guest_modules)?;
    run("cp", &["-a", text(modules)?, text(&guest_modules)?])?;
    run("depmod", &["-b", text(&root)?, release])?;
    let initrd = work.join("initrd.img");
    image::root_disk_initramfs(
        &initrd,
        &kernel,
        Path::new(WORK),
        include_bytes!("../../../board/qemu-debian/init.sh"),
        &ROOT_DISK_MODULES,
    )?;

    let disk = work.join("disk.img");
    run(
        "mke2fs",
        &[
            "-q",
            "-t",
            "ext4",
            "-L",
            "root",
            "-d",
            text(&root)?,
            text(&disk)?,
            "3G",
        ],
    )?;
    let mut qemu = Command::new("qemu-system-aarch64");
    qemu.args(VIRT_MACHINE)
        .args(["-nographic", "-nic", "none"])
        .arg("-dtb")
        .arg(image::virt_tree(&work, VIRT_MACHINE)?)
        .arg("-kernel")
        .arg(&kernel.image)
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            "root=/dev/vda rw console=ttyAMA0 panic=-1 loglevel=4",
        ])
        .arg("-drive")
        .arg(format!(
            "if=none,id=root,format=raw,file={}",
            disk.display()
        ))
        .args(["-device", "virtio-blk-device,drive=root"]);
    let limits = Limits {
        init: Duration::from_secs(400),
        all: Duration::from_secs(900),
    };
    let (console, panel) = qemu::run(qemu, panel::Gpio::Pl061, &work, "virt (Debian)", limits)?;
    Ok(Outcome {
        board: Board::Debian,
        console,
        panel,
    })
}

/// arm64 programs run through qemu-user, as the maintainer scripts in the chroot must.
fn foreign_binaries() -> Result<()> {
    let misc = Path::new("/proc/sys/fs/binfmt_misc");
    if !misc.join("register").exists() {
        run("mount", &["-t", "binfmt_misc", "binfmt_misc", text(misc)?])?;
    }
    if !misc.join("qemu-aarch64").exists() {
        run("update-binfmts", &["--enable", "qemu-aarch64"])?;
    }
    Ok(())
}

/// The root file system as a tar in the user's cache, made by mmdebstrap when missing, made
/// from another package list, or not what was made (its SHA256 is kept beside it).
fn root_file_system() -> Result<PathBuf> {
    let dir = cache_dir("debian-rootfs")?;
    let tar = dir.join(format!("{SUITE}-arm64.tar"));
    let sum_file = dir.join(format!("{SUITE}-arm64.tar.sum"));
    let recipe = PACKAGES.join(",");
    if let Ok(kept) = std::fs::read_to_string(&sum_file)
        && let Some((sum, made_from)) = kept.trim().split_once(' ')
        && made_from == recipe
        && tar.exists()
        && sha256(&tar)? == sum
    {
        return Ok(tar);
    }
    let partial = dir.join(format!("{SUITE}-arm64.tar.partial"));
    eprintln!(
        "xtask: making the Debian {SUITE} arm64 root file system (once; cached in {})",
        dir.display()
    );
    // A run cut off half-way leaves its partial behind, which mmdebstrap refuses to overwrite.
    if partial.is_dir() {
        std::fs::remove_dir_all(&partial)?;
    } else if partial.exists() {
        std::fs::remove_file(&partial)?;
    }
    run(
        "mmdebstrap",
        &[
            "--architectures=arm64",
            "--variant=apt",
            // The file's name ends in .partial, from which mmdebstrap would guess a directory.
            "--format=tar",
            &format!("--include={recipe}"),
            SUITE,
            text(&partial)?,
            MIRROR,
        ],
    )?;
    std::fs::rename(&partial, &tar)?;
    std::fs::write(&sum_file, format!("{} {recipe}\n", sha256(&tar)?))?;
    Ok(tar)
}

/// What the scenario saw, checked.
pub fn check(outcome: &Outcome) -> Result<()> {
    let marker = |key: &str| {
        outcome.marker(key).with_context(|| {
            format!(
                "the scenario never said `{key}`; console in {}/console.log",
                Board::Debian.work().display()
            )
        })
    };
    let active = marker("active")?;
    if !active.ends_with(" notify") {
        bail!("camloop.service is not Type=notify: {active}");
    }
    let status = marker("status")?;
    if !status.starts_with("ready") {
        bail!("systemctl status camloop shows Status: {status:?}, not ready");
    }
    println!(
        "xtask: debian: camloop.service active through READY=1; systemctl status: Status: \"{status}\""
    );
    let user = marker("main-pid-user")?;
    if user != "camloop" {
        bail!("camloop runs as {user}, not its own user");
    }
    let exposure = marker("exposure")?;
    let figure: f64 = exposure
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .with_context(|| format!("no exposure figure in {exposure:?}"))?;
    println!("xtask: debian: systemd-analyze security camloop: {exposure}");
    if figure > 2.0 {
        bail!("the service's exposure is {figure}, above 2.0");
    }
    let connected: f64 = marker("connected")?.parse()?;
    println!(
        "xtask: debian: Call pressed on the PL061 → connected in {connected:.2} s; Hangup → ready"
    );
    if connected > CONNECT_LIMIT_S {
        bail!("connected {connected:.1} s after Call, over {CONNECT_LIMIT_S} s");
    }
    if marker("hung-up")? != "ready" {
        bail!("Hangup did not go back to ready");
    }
    let watchdog = marker("watchdog")?;
    let (after, journal) = watchdog.split_once(' ').unwrap_or((watchdog, ""));
    println!(
        "xtask: debian: camloop ctl debug-stall → running again {after} s later; journal: {journal}"
    );
    if !watchdog.to_lowercase().contains("watchdog timeout") {
        bail!("camloop was restarted, but not by the watchdog: {watchdog}");
    }
    let purge = marker("purge")?;
    let left = marker("left")?;
    println!("xtask: debian: apt-get purge camloop exited {purge}; left behind: {left}");
    if purge != "0" || left != "nothing" {
        bail!("purge exited {purge} and left {left}");
    }
    if let Some(kept) = outcome.marker("kept") {
        println!("xtask: debian: purge kept {kept} (shared with other users of the GPIO chips)");
    }
    marker("done")?;
    Ok(())
}
