//! `cargo xtask deb --target T`: the Debian package of the cross-built camloop, made by cargo-deb
//! from `[package.metadata.deb]` in Cargo.toml, then checked by lintian.

use crate::cross::{self, Target};
use crate::system::{install, run, run_with};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const OUT_DIR: &str = "target/debian";

/// Builds `camloop_<version>_<arch>.deb` for `target` and returns its path; lintian errors fail.
pub fn package(target: &Target) -> Result<PathBuf> {
    cross::build(target)?;
    if Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        run("cargo", &["install", "--locked", "cargo-deb"])?;
    }
    install(&["lintian".to_string()])?;
    // The manual page goes in compressed, as Debian's are.
    std::fs::create_dir_all(OUT_DIR)?;
    let page = std::fs::File::create(format!("{OUT_DIR}/camloop.1.gz"))?;
    run_with(
        Command::new("gzip")
            .args(["-9", "-n", "-c", "board/debian/camloop.1"])
            .stdout(page),
    )?;
    // Already stripped by its profile; no cross strip tool is needed. cargo-deb reads the
    // binary from the target folder cargo built it in, `target/release/` in the assets standing
    // for the profile's folder.
    let printed = crate::system::output_of(crate::system::cargo()?.args([
        "deb",
        "--target",
        target.triple,
        "--profile",
        cross::SHIPPED_PROFILE,
        "--no-build",
        "--no-strip",
        "--output",
        OUT_DIR,
    ]))?;
    let deb = PathBuf::from(
        printed
            .lines()
            .last()
            .context("cargo deb printed no package path")?
            .trim(),
    );
    eprintln!("xtask: packaged {}", deb.display());
    lint(&deb)?;
    Ok(deb)
}

/// lintian's findings, shown whole; any error fails.
fn lint(deb: &Path) -> Result<()> {
    let out = Command::new("lintian")
        .args(["--tag-display-limit", "0", "--info"])
        .arg(deb)
        .output()
        .context("cannot start lintian")?;
    let findings = String::from_utf8_lossy(&out.stdout);
    let errors = findings.lines().filter(|l| l.starts_with("E:")).count();
    let warnings = findings.lines().filter(|l| l.starts_with("W:")).count();
    print!("{findings}");
    eprintln!("xtask: lintian: {errors} errors, {warnings} warnings");
    if errors > 0 {
        bail!("lintian found {errors} errors in {}", deb.display());
    }
    if !out.status.success() && findings.trim().is_empty() {
        bail!(
            "lintian failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
