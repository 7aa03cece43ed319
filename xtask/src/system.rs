//! Running programs and installing Debian packages.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages the host build needs: the Opus and ALSA libraries, nasm for OpenH264's x86
/// assembly (without it the codec silently builds as plain C, three times slower), libclang for
/// the V4L2 bindings' bindgen, and pkg-config.
const HOST_PACKAGES: &[&str] = &[
    "pkg-config",
    "libopus-dev",
    "libasound2-dev",
    "libclang-dev",
    "nasm",
];
const RUST_COMPONENTS: &[&str] = &["clippy", "rustfmt"];

pub fn run(program: &str, args: &[&str]) -> Result<()> {
    run_with(Command::new(program).args(args))
}

pub fn run_with(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Standard output of a command that must succeed.
pub fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/camloop/NAME`, made if missing: downloads kept outside any
/// clone, so every CI run on a machine reuses them.
pub fn cache_dir(name: &str) -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?,
        )
        .join(".cache"),
    };
    let dir = base.join("camloop").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A path as the text a command line takes.
pub fn text(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

pub fn sha256(path: &Path) -> Result<String> {
    let out = output("sha256sum", &[path.to_str().context("path")?])?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

pub fn is_root() -> bool {
    output("id", &["-u"]).is_ok_and(|uid| uid.trim() == "0")
}

fn installed(package: &str) -> bool {
    output("dpkg-query", &["-W", "-f=${Status}", package])
        .is_ok_and(|s| s.contains("install ok installed"))
}

/// Runs a command as root: with sudo unless already root.
pub fn as_root(args: &[&str]) -> Result<()> {
    let mut full: Vec<&str> = if is_root() { vec![] } else { vec!["sudo"] };
    full.extend(args);
    run(full[0], &full[1..])
}

/// apt-get, waiting for a lock another process holds.
fn apt(args: &[&str]) -> Result<()> {
    let mut full = vec!["apt-get", "-o", "DPkg::Lock::Timeout=600"];
    full.extend(args);
    as_root(&full)
}

/// Installs whichever of `packages` (`name` or `name:arch`) are missing.
pub fn install(packages: &[String]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .map(String::as_str)
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // A mirror caught mid-sync fails one index; the install may still find everything.
    if let Err(e) = apt(&["update", "-q"]) {
        eprintln!("warning: {e}; installing from the package lists at hand");
    }
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)
}

/// The host packages and the rustup components the checks use.
pub fn host_deps() -> Result<()> {
    install(
        &HOST_PACKAGES
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
    )?;
    let installed = output("rustup", &["component", "list", "--installed"])
        .context("rustup is needed to add clippy and rustfmt")?;
    for component in RUST_COMPONENTS {
        if !installed.lines().any(|l| l.starts_with(component)) {
            run("rustup", &["component", "add", component])?;
        }
    }
    Ok(())
}
