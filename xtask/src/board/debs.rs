//! Debian arm64 packages for the board image, fetched once per version into the user's cache
//! (`${XDG_CACHE_HOME:-$HOME/.cache}/camloop/debs`, outside any clone, so every CI run on a
//! machine reuses them) and checked against the archive's SHA256 before each use.

use crate::system::{cache_dir, output, run_with, sha256};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The candidate version's file name in the archive and its SHA256, as apt knows them.
fn archive_entry(package: &str) -> Result<(String, String)> {
    let show = output("apt-cache", &["show", "--no-all-versions", package]).with_context(|| {
        format!("apt-cache cannot show {package}; is the arm64 architecture added?")
    })?;
    let field = |name: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("apt-cache show {package} has no {name}"))
    };
    let file = field("Filename:")?;
    let name = file.rsplit('/').next().unwrap_or(&file).to_owned();
    Ok((name, field("SHA256:")?))
}

/// The package's .deb from the cache, downloaded first when missing or not the archive's.
pub fn download(package: &str) -> Result<PathBuf> {
    let cache = cache_dir("debs")?;
    let (name, want) = archive_entry(package)?;
    let deb = cache.join(&name);
    if deb.exists() && sha256(&deb)? == want {
        return Ok(deb);
    }
    let fresh = cache.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&fresh)?;
    run_with(
        Command::new("apt-get")
            .arg("download")
            .arg(package)
            .current_dir(&fresh),
    )?;
    let got = std::fs::read_dir(&fresh)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("apt-get download {package} left no .deb"))?;
    if sha256(&got)? != want {
        bail!(
            "{} does not match the archive's SHA256 {want}",
            got.display()
        );
    }
    std::fs::rename(&got, &deb)?;
    std::fs::remove_dir_all(&fresh)?;
    Ok(deb)
}

/// The package unpacked under `work` (once per version); returns the root of its files.
pub fn unpack(package: &str, work: &Path) -> Result<PathBuf> {
    let deb = download(package)?;
    let stem = deb
        .file_stem()
        .and_then(|s| s.to_str())
        .context("deb name")?;
    let unpacked = work.join("unpacked");
    let root = unpacked.join(stem);
    if !root.exists() {
        // Unpacked aside and renamed, so an interrupted run never leaves a half tree in use.
        let partial = unpacked.join(format!(".{stem}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial)?;
        }
        std::fs::create_dir_all(&partial)?;
        run_with(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial))?;
        std::fs::rename(&partial, &root)?;
    }
    Ok(root)
}
