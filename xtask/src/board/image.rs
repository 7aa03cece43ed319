//! What an emulated board boots: Debian's arm64 kernel, an initramfs (newc cpio) holding
//! busybox, aplay/arecord, camloop, the shared libraries it links, the kernel modules in load
//! order, `/init` and the board's scenario, and for `virt` the machine's device tree with its
//! GPIO lines named.

use super::cpio::Cpio;
use super::debs;
use crate::cross::Target;
use crate::system::{output, run};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

pub struct Kernel {
    pub image: PathBuf,
    /// `lib/modules/RELEASE/kernel` of the unpacked package.
    pub modules: PathBuf,
    /// The device trees the package ships, by vendor (`broadcom/bcm2837-rpi-3-b.dtb`).
    pub device_trees: PathBuf,
}

/// Debian's current arm64 kernel: the metapackage names it; downloaded once into `cache`.
pub fn kernel(work: &Path) -> Result<Kernel> {
    let depends = output("apt-cache", &["depends", "linux-image-arm64:arm64"]).context(
        "apt-cache cannot resolve linux-image-arm64:arm64; is the arm64 architecture added?",
    )?;
    let package = depends
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .map(|p| p.trim_end_matches(":arm64").to_owned())
        .context("linux-image-arm64 depends on no kernel image")?;
    let release = package.trim_start_matches("linux-image-").to_owned();
    let root = debs::unpack(&format!("{package}:arm64"), work)?;
    let image = root.join(format!("boot/vmlinuz-{release}"));
    eprintln!("xtask: kernel {release}");
    // Debian's arm64 vmlinuz is already an uncompressed Image.
    Ok(Kernel {
        image,
        modules: root.join(format!("lib/modules/{release}/kernel")),
        device_trees: root.join(format!("usr/lib/linux-image-{release}")),
    })
}

/// The `key=` field of a module's `.modinfo` section (null-separated `key=value` strings).
fn modinfo(module: &[u8], key: &str) -> Option<String> {
    let needle = format!("\0{key}=");
    let at = module
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?
        + needle.len();
    let end = module[at..].iter().position(|&b| b == 0)? + at;
    Some(String::from_utf8_lossy(&module[at..end]).into_owned())
}

/// Module names use `-` and `_` interchangeably.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// The `.ko` files for `modules` (name, parameters) and their dependencies, dependencies first.
fn modules_in_order(kernel: &Kernel, modules: &[(&str, &str)]) -> Result<Vec<(PathBuf, String)>> {
    let mut index = BTreeMap::new();
    let mut stack = vec![kernel.modules.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".ko"))
            {
                index.insert(normalize(stem), path);
            }
        }
    }
    let mut ordered = Vec::new();
    let mut seen = HashSet::new();
    fn visit(
        name: &str,
        params: &str,
        index: &BTreeMap<String, PathBuf>,
        seen: &mut HashSet<String>,
        ordered: &mut Vec<(PathBuf, String)>,
    ) -> Result<()> {
        let name = normalize(name);
        if !seen.insert(name.clone()) {
            return Ok(());
        }
        let path = index
            .get(&name)
            .with_context(|| format!("the kernel has no module {name}"))?;
        let bytes = std::fs::read(path)?;
        for dependency in modinfo(&bytes, "depends")
            .unwrap_or_default()
            .split(',')
            .filter(|d| !d.is_empty())
        {
            visit(dependency, "", index, seen, ordered)?;
        }
        ordered.push((path.clone(), params.to_owned()));
        Ok(())
    }
    for (name, params) in modules {
        visit(name, params, &index, &mut seen, &mut ordered)?;
    }
    Ok(ordered)
}

/// The shared libraries `binary` needs, found in the target's multiarch folders, recursively;
/// (path on the host, path in the image). The program interpreter comes first.
fn libraries(binary: &Path, target: &Target) -> Result<Vec<(PathBuf, String)>> {
    let lib = target.multiarch_lib();
    let gnu = lib.file_name().context("multiarch path")?;
    // Multiarch packages first, then the cross toolchain's own runtime (libstdc++, libgcc_s).
    let folders = [
        lib.clone(),
        PathBuf::from("/lib").join(gnu),
        PathBuf::from("/usr").join(gnu).join("lib"),
    ];
    let interpreter = crate::elf::linking(&crate::elf::read(binary)?)?
        .interpreter
        .context("camloop has no program interpreter: not a dynamic executable?")?;
    let interpreter_name = Path::new(&interpreter)
        .file_name()
        .context("interpreter")?
        .to_owned();
    let host_interpreter = folders
        .iter()
        .map(|f| f.join(&interpreter_name))
        .find(|p| p.exists())
        .with_context(|| {
            format!(
                "{} is not installed; install libc6:arm64",
                interpreter_name.to_string_lossy()
            )
        })?;
    let mut found = vec![(host_interpreter, interpreter)];
    let mut pending = vec![binary.to_path_buf()];
    let mut seen = HashSet::new();
    while let Some(elf) = pending.pop() {
        let linking = crate::elf::linking(&crate::elf::read(&elf)?)
            .with_context(|| format!("reading {}", elf.display()))?;
        for name in linking.needed {
            if !seen.insert(name.clone()) {
                continue;
            }
            let host = folders
                .iter()
                .map(|f| f.join(&name))
                .find(|p| p.exists())
                .with_context(|| {
                    format!(
                        "camloop needs {name}, which is not installed for {}",
                        target.triple
                    )
                })?;
            pending.push(host.clone());
            found.push((host, format!("{}/{name}", lib.display())));
        }
    }
    Ok(found)
}

/// What goes into a board's initramfs besides busybox, camloop and its libraries.
pub struct Contents<'a> {
    /// Kernel modules with their parameters, loaded by `/init` in order.
    pub modules: &'a [(&'a str, &'a str)],
    /// The board's scenario, run by `/init` as `/scenario.sh`.
    pub scenario: &'a Path,
    /// Files placed as they are: (path in the image, path on the host).
    pub files: &'a [(&'a str, &'a Path)],
}

/// Writes the initramfs: busybox, `/init` with its helpers and the scenario, camloop, its
/// libraries, ALSA's configuration, the kernel modules with the order to load them in, and the
/// board's own files.
pub fn initramfs(
    path: &Path,
    kernel: &Kernel,
    binary: &Path,
    target: &Target,
    work: &Path,
    contents: &Contents,
) -> Result<()> {
    // aplay and arecord (one binary that reads its name) play and record the test tone.
    let aplay = debs::unpack("alsa-utils:arm64", work)?.join("usr/bin/aplay");
    let mut cpio = busybox_image(path, work)?;
    // The users and groups an OS has: ALSA's dmix and dsnoop (the `default` device) need `audio`.
    cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)?;
    cpio.file(
        "etc/group",
        b"root:x:0:\naudio:x:29:\nvideo:x:44:\ngpio:x:997:\n",
        0o644,
    )?;
    cpio.file("init", include_bytes!("../../../board/qemu/init.sh"), 0o755)?;
    cpio.file(
        "helpers.sh",
        include_bytes!("../../../board/qemu/helpers.sh"),
        0o644,
    )?;
    let scenario = std::fs::read(contents.scenario)
        .with_context(|| format!("reading {}", contents.scenario.display()))?;
    cpio.file("scenario.sh", &scenario, 0o755)?;
    for (guest, host) in contents.files {
        let data = std::fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        cpio.file(guest, &data, 0o644)?;
    }
    cpio.file("usr/bin/camloop", &std::fs::read(binary)?, 0o755)?;
    let aplay = std::fs::read(&aplay)?;
    cpio.file("usr/bin/aplay", &aplay, 0o755)?;
    cpio.file("usr/bin/arecord", &aplay, 0o755)?;
    for (host, guest) in libraries(binary, target)? {
        cpio.file(guest.trim_start_matches('/'), &std::fs::read(&host)?, 0o755)?;
    }
    // Without alsa.conf even hw: device names fail, with a misleading ENOENT; `default` needs the
    // card and PCM definitions too.
    cpio.file(
        "usr/share/alsa/alsa.conf",
        &std::fs::read("/usr/share/alsa/alsa.conf")
            .context("no /usr/share/alsa/alsa.conf: install libasound2-data")?,
        0o644,
    )?;
    for folder in ["cards", "pcm", "ctl"] {
        let host = Path::new("/usr/share/alsa").join(folder);
        for entry in
            std::fs::read_dir(&host).with_context(|| format!("reading {}", host.display()))?
        {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let guest = format!(
                    "usr/share/alsa/{folder}/{}",
                    entry.file_name().to_str().context("file name")?
                );
                cpio.file(&guest, &std::fs::read(entry.path())?, 0o644)?;
            }
        }
    }
    add_modules(&mut cpio, kernel, contents.modules)?;
    cpio.finish()
}

/// An initramfs that only mounts a root disk and hands over to its init (`init`, the script):
/// busybox and the kernel `modules` the disk needs.
pub fn root_disk_initramfs(
    path: &Path,
    kernel: &Kernel,
    work: &Path,
    init: &[u8],
    modules: &[(&str, &str)],
) -> Result<()> {
    let mut cpio = busybox_image(path, work)?;
    cpio.file("init", init, 0o755)?;
    add_modules(&mut cpio, kernel, modules)?;
    cpio.finish()
}

type Image = Cpio<std::io::BufWriter<std::fs::File>>;

/// A new initramfs at `path` with busybox, the folders it mounts on and the console.
fn busybox_image(path: &Path, work: &Path) -> Result<Image> {
    let busybox = debs::unpack("busybox-static:arm64", work)?.join("bin/busybox");
    let mut cpio = Cpio::new(std::io::BufWriter::new(std::fs::File::create(path)?));
    for dir in [
        "bin", "sbin", "dev", "proc", "sys", "tmp", "run", "mnt", "etc",
    ] {
        cpio.dir(dir)?;
    }
    // The kernel opens the console before /init runs, so it must exist in the image.
    cpio.char_device("dev/console", 5, 1)?;
    cpio.file("bin/busybox", &std::fs::read(&busybox)?, 0o755)?;
    Ok(cpio)
}

/// The `.ko` files of `modules` and their dependencies in `modules/`, with `modules/order`,
/// the order `/init` loads them in.
fn add_modules(cpio: &mut Image, kernel: &Kernel, modules: &[(&str, &str)]) -> Result<()> {
    let mut order = String::new();
    for (module, params) in modules_in_order(kernel, modules)? {
        let name = module
            .file_name()
            .and_then(|n| n.to_str())
            .context("module name")?;
        cpio.file(&format!("modules/{name}"), &std::fs::read(&module)?, 0o644)?;
        order.push_str(&format!("{name} {params}\n"))
    }
    cpio.file("modules/order", order.as_bytes(), 0o644)
}

/// The `virt` machine's device tree with the GPIO lines named as on the product's board.
pub fn virt_tree(work: &Path, machine: &[&str]) -> Result<PathBuf> {
    let dumped = work.join("virt.dtb");
    let mut dump = vec![
        "-M".to_owned(),
        "virt,dumpdtb=".to_owned() + dumped.to_str().context("path")?,
    ];
    dump.extend(machine[2..].iter().map(|s| s.to_string()));
    dump.extend(["-nographic", "-nic", "none"].map(String::from));
    run(
        "qemu-system-aarch64",
        &dump.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let names =
        "\n\t\tgpio-line-names = \"CALL\", \"HANGUP\", \"LED\", \"\", \"\", \"\", \"\", \"\";";
    edited_tree(work, &dumped, "pl061@9030000 {", names)
}

/// The Pi 3's device tree with a `simple-framebuffer` node for QEMU's BCM2835 framebuffer, as
/// the Pi firmware adds one for its own: 32-bit XRGB, `width` x `height`, at `base`.
pub fn rpi3_tree(
    work: &Path,
    dtb: &Path,
    base: u32,
    (width, height): (u32, u32),
) -> Result<PathBuf> {
    let stride = width * 4;
    let framebuffer = format!(
        "\n\t\t#address-cells = <1>;\n\t\t#size-cells = <1>;\n\t\tranges;\n\
         \t\tframebuffer@{base:x} {{\n\t\t\tcompatible = \"simple-framebuffer\";\n\
         \t\t\treg = <{base:#x} {:#x}>;\n\t\t\twidth = <{width}>;\n\t\t\theight = <{height}>;\n\
         \t\t\tstride = <{stride}>;\n\t\t\tformat = \"x8r8g8b8\";\n\t\t}};",
        stride * height
    );
    edited_tree(work, dtb, "chosen {", &framebuffer)
}

/// `dtb` with `insertion` added at the end of `node`, a child of the root, as `board.dtb`
/// (at the end, as a node's subnodes must follow its properties).
fn edited_tree(work: &Path, dtb: &Path, node: &str, insertion: &str) -> Result<PathBuf> {
    let source = output(
        "dtc",
        &[
            "-q",
            "-I",
            "dtb",
            "-O",
            "dts",
            dtb.to_str().context("path")?,
        ],
    )?;
    let opened = source
        .find(&format!("\n\t{node}"))
        .with_context(|| format!("{} has no node {node}", dtb.display()))?;
    let at = opened
        + source[opened..]
            .find("\n\t};")
            .with_context(|| format!("{node} in {} is not closed", dtb.display()))?;
    let edited = format!("{}{insertion}{}", &source[..at], &source[at..]);
    let dts = work.join("board.dts");
    std::fs::write(&dts, edited)?;
    let board = work.join("board.dtb");
    run(
        "dtc",
        &[
            "-q",
            "-I",
            "dts",
            "-O",
            "dtb",
            "-o",
            board.to_str().context("path")?,
            dts.to_str().context("path")?,
        ],
    )?;
    Ok(board)
}
