//! Cross builds with Debian's toolchains, reproducing what `Cross.toml` gives users of cross-rs:
//! the same target libraries (read from `Cross.toml`), the linker and qemu-user runner of
//! `.cargo/config.toml`, and pkg-config pointed at the target's libraries for that target only,
//! so host build scripts are untouched.

use crate::system::{install, output, run, run_with, target_dir};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Cargo.toml's profile of the shipped binary: fat LTO and one codegen unit.
pub const SHIPPED_PROFILE: &str = "dist";

pub struct Target {
    pub triple: &'static str,
    /// Debian's name for the architecture (`dpkg --add-architecture`).
    deb_arch: &'static str,
    /// The GNU triplet of Debian's cross toolchain and multiarch folders.
    gnu: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        triple: "aarch64-unknown-linux-gnu",
        deb_arch: "arm64",
        gnu: "aarch64-linux-gnu",
    },
    Target {
        triple: "armv7-unknown-linux-gnueabihf",
        deb_arch: "armhf",
        gnu: "arm-linux-gnueabihf",
    },
];

impl Target {
    pub fn named(triple: &str) -> Result<&'static Target> {
        TARGETS
            .iter()
            .find(|t| t.triple == triple)
            .with_context(|| {
                let known: Vec<&str> = TARGETS.iter().map(|t| t.triple).collect();
                format!(
                    "unknown target {triple}; camloop cross-builds for {}",
                    known.join(", ")
                )
            })
    }

    /// The shipped binary, once `build` made it.
    pub fn binary(&self) -> Result<PathBuf> {
        Ok(self.binary_in(&target_dir()?))
    }

    fn binary_in(&self, folder: &Path) -> PathBuf {
        folder
            .join(self.triple)
            .join(SHIPPED_PROFILE)
            .join("camloop")
    }

    /// Where the target's shared libraries are installed (Debian multiarch).
    pub fn multiarch_lib(&self) -> PathBuf {
        PathBuf::from(format!("/usr/lib/{}", self.gnu))
    }

    /// cargo with the target's pkg-config variables set (`pkg_config`).
    fn cargo(&self) -> Result<Command> {
        let mut cargo = crate::system::cargo()?;
        self.pkg_config(&mut cargo);
        Ok(cargo)
    }

    /// pkg-config pointed at the target's libraries for this target only.
    fn pkg_config(&self, cargo: &mut Command) {
        let var = |name: &str| format!("{name}_{}", self.triple.replace('-', "_"));
        cargo.env(var("PKG_CONFIG_ALLOW_CROSS"), "1").env(
            var("PKG_CONFIG_LIBDIR"),
            format!("/usr/lib/{}/pkgconfig:/usr/share/pkgconfig", self.gnu),
        );
    }
}

/// The array of strings at `[target.<triple>] key` in the TOML file `path`.
fn target_setting(path: &str, target: &Target, key: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let toml: toml::Table = text.parse().with_context(|| format!("parsing {path}"))?;
    let values = toml
        .get("target")
        .and_then(|t| t.get(target.triple))
        .and_then(|t| t.get(key))
        .and_then(|p| p.as_array())
        .with_context(|| format!("{path} has no [target.{}] {key}", target.triple))?;
    Ok(values
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect())
}

/// The packages `Cross.toml` installs for `target`: (target libraries, host tools).
fn cross_toml_packages(target: &Target) -> Result<(Vec<String>, Vec<String>)> {
    let (mut libraries, mut tools) = (Vec::new(), Vec::new());
    for command in target_setting("Cross.toml", target, "pre-build")? {
        let Some((_, packages)) = command.split_once(" install ") else {
            continue;
        };
        for word in packages.split_whitespace().filter(|w| !w.starts_with('-')) {
            match word.strip_suffix(":$CROSS_DEB_ARCH") {
                Some(library) => libraries.push(format!("{library}:{}", target.deb_arch)),
                None => tools.push(word.to_owned()),
            }
        }
    }
    if libraries.is_empty() {
        bail!(
            "Cross.toml installs no target libraries for {}",
            target.triple
        );
    }
    Ok((libraries, tools))
}

/// The qemu-user runner `.cargo/config.toml` gives the target, as one command line.
fn runner(target: &Target) -> Result<String> {
    Ok(target_setting(".cargo/config.toml", target, "runner")?.join(" "))
}

/// The runner's options after its program: where qemu-user finds the target's libraries.
pub fn runner_options(target: &Target) -> Result<Vec<String>> {
    Ok(target_setting(".cargo/config.toml", target, "runner")?
        .into_iter()
        .skip(1)
        .collect())
}

/// Installs the toolchain, the target libraries and the rustup target.
fn setup(target: &Target) -> Result<()> {
    crate::system::host_deps()?;
    let architectures = output("dpkg", &["--print-foreign-architectures"])?;
    if !architectures.lines().any(|a| a.trim() == target.deb_arch) {
        crate::system::as_root(&["dpkg", "--add-architecture", target.deb_arch])?;
    }
    let (libraries, tools) = cross_toml_packages(target)?;
    let mut packages = libraries;
    packages.extend(tools);
    packages.extend([
        format!("gcc-{}", target.gnu),
        format!("g++-{}", target.gnu),
        "qemu-user-static".into(),
    ]);
    install(&packages)?;
    let targets = output("rustup", &["target", "list", "--installed"])?;
    if !targets.lines().any(|t| t.trim() == target.triple) {
        run("rustup", &["target", "add", target.triple])?;
    }
    Ok(())
}

/// The shipped build of camloop for `target`, stripped; returns the binary's path.
pub fn build(target: &Target) -> Result<PathBuf> {
    let binary = shipped_build(target, &target_dir()?, true)?;
    eprintln!(
        "xtask: built {} ({} bytes)",
        binary.display(),
        std::fs::metadata(&binary)?.len()
    );
    Ok(binary)
}

/// The shipped build for every target in one cargo run, so the two LTO links, one thread each,
/// run side by side; then their sizes against the budget.
pub fn build_all() -> Result<()> {
    let mut cargo = crate::system::cargo()?;
    let mut args = vec!["build", "--profile", SHIPPED_PROFILE, "--bin", "camloop"];
    for target in TARGETS {
        setup(target)?;
        target.pkg_config(&mut cargo);
        args.extend(["--target", target.triple]);
    }
    run_with(cargo.args(args))?;
    sizes()
}

/// The shipped build with its symbols, in a target folder of its own so as not to replace the
/// stripped one: for tools that name the functions they see (`cargo xtask instructions`).
pub fn build_with_symbols(target: &Target) -> Result<PathBuf> {
    shipped_build(target, &target_dir()?.join("symbols"), false)
}

fn shipped_build(target: &Target, folder: &Path, strip: bool) -> Result<PathBuf> {
    setup(target)?;
    let mut cargo = target.cargo()?;
    if !strip {
        cargo.env("CARGO_PROFILE_DIST_STRIP", "false");
    }
    run_with(cargo.env("CARGO_TARGET_DIR", folder).args([
        "build",
        "--profile",
        SHIPPED_PROFILE,
        "--bin",
        "camloop",
        "--target",
        target.triple,
    ]))?;
    Ok(target.binary_in(folder))
}

/// The whole test suite built for `target` and run under qemu-user, in the release profile:
/// optimised as the shipped binary is, without its LTO, which would link each test binary whole
/// and take longer than running them. The board tests run the shipped binary.
pub fn test(target: &Target) -> Result<()> {
    setup(target)?;
    // Tests that start the camloop binary themselves need the runner too (no binfmt here).
    run_with(
        target
            .cargo()?
            .env("CAMLOOP_TEST_RUNNER", runner(target)?)
            .args([
                "test",
                "--release",
                "--package",
                "camloop",
                "--target",
                target.triple,
                "--",
                // It reads camloop's signal mask in /proc, where qemu-user shows its own.
                "--skip",
                "a_signal_right_after_start_is_held_until_the_daemon_can_act_on_it",
            ]),
    )
}

/// What a stripped camloop may weigh on each target: the flash image and every update carry it.
const SIZE_BUDGET: u64 = 8 * 1024 * 1024;

/// The cross-built binaries' sizes against the budget; fails when one is past it.
pub fn sizes() -> Result<()> {
    let mut built = Vec::new();
    for target in TARGETS {
        let binary = target.binary()?;
        if binary.exists() {
            built.push((target.triple, binary));
        } else {
            println!(
                "{:<32} not built: cargo xtask cross --target {}",
                target.triple, target.triple
            );
        }
    }
    if built.is_empty() {
        bail!("no cross-built binary yet");
    }
    within_budget(&built, SIZE_BUDGET)
}

/// Prints each binary's size beside `budget` and fails naming every binary past it.
fn within_budget(binaries: &[(&str, PathBuf)], budget: u64) -> Result<()> {
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    let mut over = Vec::new();
    for (name, path) in binaries {
        let size = std::fs::metadata(path)
            .with_context(|| format!("{}", path.display()))?
            .len();
        println!(
            "{name:<32} {:>6.2} MiB of {:.2} MiB  {}",
            mib(size),
            mib(budget),
            path.display()
        );
        if size > budget {
            over.push(format!("{name} is {:.2} MiB", mib(size)));
        }
    }
    if !over.is_empty() {
        bail!(
            "past the {:.2} MiB budget: {}; see what grew with cargo bloat, or what the release profile lost",
            mib(budget),
            over.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_one_byte_past_its_budget_fails_and_is_named() {
        let dir = std::env::temp_dir().join(format!("camloop-sizes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, len: u64| {
            let path = dir.join(name);
            std::fs::File::create(&path).unwrap().set_len(len).unwrap();
            path
        };
        let budget = 4096;
        let fits = file("fits", budget);
        let grew = file("grew", budget + 1);
        assert!(within_budget(&[("fits", fits.clone())], budget).is_ok());
        let error = within_budget(&[("fits", fits), ("grew", grew)], budget)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("grew is") && !error.contains("fits"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
