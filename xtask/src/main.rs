//! `cargo xtask`: what developers and CI run alike.
//!
//! - `deps`: installs what a fresh Debian/Ubuntu machine lacks to build and test camloop.
//! - `demo`: deps, a release build, then `camloop demo` (output in `target/demo/`).
//! - `test`: deps, then formatting, lints and the whole test suite.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// Debian packages the build needs: the Opus library, nasm for OpenH264's x86 assembly
/// (without it the codec silently builds as plain C, three times slower) and pkg-config.
const HOST_PACKAGES: &[&str] = &["pkg-config", "libopus-dev", "nasm"];
const RUST_COMPONENTS: &[&str] = &["clippy", "rustfmt"];

fn main() -> Result<()> {
    // Paths below are relative to the workspace root, wherever cargo was invoked.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).context("cannot enter the workspace root")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("deps") => deps(),
        Some("demo") => demo(&rest),
        Some("test") => test(),
        _ => bail!("usage: cargo xtask deps | demo [camloop demo options] | test"),
    }
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Installs the missing Debian packages (with sudo unless root) and rustup components.
fn deps() -> Result<()> {
    let missing: Vec<&str> = HOST_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if !missing.is_empty() {
        let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
        let apt = |args: &[&str]| -> Result<()> {
            let mut full: Vec<&str> = sudo.to_vec();
            full.extend(["apt-get", "-o", "DPkg::Lock::Timeout=600"]);
            full.extend(args);
            run(full[0], &full[1..])
        };
        // A mirror caught mid-sync fails one index; the install may still find everything.
        if let Err(e) = apt(&["update", "-q"]) {
            eprintln!("warning: {e}; installing from the package lists at hand");
        }
        let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
        install.extend(&missing);
        apt(&install)?;
    }
    let components = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .context("rustup is needed to add clippy and rustfmt")?;
    let installed = String::from_utf8_lossy(&components.stdout);
    for component in RUST_COMPONENTS {
        if !installed.lines().any(|l| l.starts_with(component)) {
            run("rustup", &["component", "add", component])?;
        }
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn demo(options: &[&str]) -> Result<()> {
    deps()?;
    run("cargo", &["build", "--release", "--bin", "camloop"])?;
    let mut args = vec!["demo"];
    args.extend(options);
    run("target/release/camloop", &args)
}

fn test() -> Result<()> {
    deps()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run("cargo", &["test", "--workspace"])
}
