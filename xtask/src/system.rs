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
    output_of(Command::new(program).args(args))
}

pub fn output_of(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}").replace('"', "");
    let out = command
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed: {}",
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

/// The folders cargo builds into, one per key, under the user's cache: every CI run on a
/// machine reuses what the run before compiled, dependencies above all. Its name is a SHA256 of
/// the toolchain, the lock file, the manifests and the cargo config, so a new compiler, a
/// dependency's new version or a changed profile starts a fresh folder and never reuses a wrong
/// artifact; within one, cargo's own fingerprints decide what is rebuilt (the clone's sources,
/// newer than anything built, always are). `CARGO_TARGET_DIR`, when set, is used as it is.
pub fn target_dir() -> Result<PathBuf> {
    static CHOSEN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(dir) = CHOSEN.get() {
        return Ok(dir.clone());
    }
    let dir = choose_target_dir()?;
    Ok(CHOSEN.get_or_init(|| dir).clone())
}

fn choose_target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let mut keyed = output("rustc", &["-vV"])?.into_bytes();
    for file in TARGET_KEY_FILES {
        keyed.extend(std::fs::read(file).with_context(|| format!("reading {file}"))?);
    }
    let key = &sha256_of(&keyed)?[..16];
    let builds = cache_dir("target")?;
    let dir = builds.join(key);
    std::fs::create_dir_all(&dir)?;
    // Its modification time says when a run last used it: the size cap removes the oldest.
    std::fs::write(dir.join("last-used"), format!("{}\n", std::process::id()))?;
    cap_builds(&builds, &dir)?;
    Ok(dir)
}

/// What the compiled output depends on beyond the sources cargo fingerprints itself.
const TARGET_KEY_FILES: &[&str] = &[
    "Cargo.lock",
    "Cargo.toml",
    "xtask/Cargo.toml",
    "xtask/count-insns/Cargo.toml",
    ".cargo/config.toml",
];
/// Target folders kept besides the one in use: the previous key's, for a branch switched back.
const KEPT_BUILDS: usize = 1;
/// Past this, the oldest target folders are removed even if fewer than `KEPT_BUILDS`.
const BUILDS_CAP_BYTES: u64 = 40 << 30;

/// Removes the least recently used target folders beyond `KEPT_BUILDS`, or while all of them
/// together are past `BUILDS_CAP_BYTES`; never `current`.
fn cap_builds(builds: &Path, current: &Path) -> Result<()> {
    let mut others: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(builds)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p != current)
        .map(|p| {
            let used = std::fs::metadata(p.join("last-used"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (used, p)
        })
        .collect();
    others.sort();
    let mut total = disk_usage(builds)?;
    while let Some((_, oldest)) = others.first().cloned() {
        if others.len() <= KEPT_BUILDS && total <= BUILDS_CAP_BYTES {
            break;
        }
        let size = disk_usage(&oldest)?;
        eprintln!(
            "xtask: removing the unused build folder {} ({:.1} GiB)",
            oldest.display(),
            size as f64 / (1u64 << 30) as f64
        );
        std::fs::remove_dir_all(&oldest)
            .with_context(|| format!("removing {}", oldest.display()))?;
        total = total.saturating_sub(size);
        others.remove(0);
    }
    Ok(())
}

/// Bytes a folder takes on disk.
fn disk_usage(dir: &Path) -> Result<u64> {
    let out = output("du", &["-sb", text(dir)?])?;
    out.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("du printed {out:?}"))
}

/// cargo building into `target_dir()`.
pub fn cargo() -> Result<Command> {
    let mut cargo = Command::new("cargo");
    cargo.env("CARGO_TARGET_DIR", target_dir()?);
    without_cargo_run_variables(&mut cargo);
    Ok(cargo)
}

/// Takes away what `cargo run` set for xtask itself: ring's build script watches
/// CARGO_MANIFEST_DIR, which is the clone's path, so every CI clone rebuilt ring and the WebRTC
/// stack above it in each profile.
fn without_cargo_run_variables(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if CARGO_RUN_VARIABLES.contains(&name.as_ref()) || name.starts_with("CARGO_PKG_") {
            command.env_remove(name.as_ref());
        }
    }
}

/// What `cargo run` sets for the program it runs, besides `CARGO_PKG_*`.
const CARGO_RUN_VARIABLES: [&str; 5] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
];

/// Runs cargo (into `target_dir()`) with `args`.
pub fn run_cargo(args: &[&str]) -> Result<()> {
    run_with(cargo()?.args(args))
}

/// A path as the text a command line takes.
pub fn text(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// SHA256 of bytes, in hex.
fn sha256_of(bytes: &[u8]) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start sha256sum")?;
    child
        .stdin
        .take()
        .context("sha256sum's input")?
        .write_all(bytes)?;
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

pub fn sha256(path: &Path) -> Result<String> {
    let out = output("sha256sum", &[path.to_str().context("path")?])?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

pub fn is_root() -> bool {
    output("id", &["-u"]).is_ok_and(|uid| uid.trim() == "0")
}

/// Whether `package` (`name` for the machine's own architecture, or `name:arch`) is installed.
/// A bare name also matches the same package of another architecture, as the arm64 one a cross
/// build installs, which must not stand in for the host's: each instance's architecture is
/// checked (`all` counting as the machine's).
fn installed(package: &str) -> bool {
    let (name, wanted) = match package.split_once(':') {
        Some((name, arch)) => (name, arch.to_owned()),
        None => (
            package,
            output("dpkg", &["--print-architecture"])
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ),
    };
    output(
        "dpkg-query",
        &["-W", "-f=${Architecture} ${Status}\n", name],
    )
    .is_ok_and(|instances| installed_for(&instances, &wanted))
}

/// Whether dpkg-query's `ARCH STATUS` lines have an installed instance for architecture `wanted`.
fn installed_for(instances: &str, wanted: &str) -> bool {
    instances.lines().any(|line| {
        line.split_once(' ').is_some_and(|(arch, status)| {
            (arch == wanted || arch == "all") && status == "install ok installed"
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_package_of_another_architecture_is_not_the_hosts() {
        let cross_only = "arm64 install ok installed\narmhf install ok installed\n";
        assert!(!installed_for(cross_only, "amd64"));
        assert!(installed_for(cross_only, "arm64"));
        assert!(installed_for("all install ok installed\n", "amd64"));
        assert!(!installed_for("amd64 deinstall ok config-files\n", "amd64"));
    }

    #[test]
    fn the_least_recently_used_build_folders_go_and_the_current_one_stays() {
        let builds = std::env::temp_dir().join(format!("camloop-builds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&builds);
        let folder = |name: &str, used_s: u64| {
            let dir = builds.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let stamp = std::fs::File::create(dir.join("last-used")).unwrap();
            stamp
                .set_modified(UNIX_EPOCH + Duration::from_secs(used_s))
                .unwrap();
            dir
        };
        let (oldest, older, current) = (folder("a", 100), folder("b", 200), folder("c", 50));
        cap_builds(&builds, &current).unwrap();
        assert!(!oldest.exists(), "the least recently used folder is kept");
        assert!(older.exists() && current.exists());
        std::fs::remove_dir_all(&builds).unwrap();
    }

    #[test]
    fn a_nested_cargo_does_not_see_what_cargo_run_set_for_xtask() {
        // `cargo test` sets these for its tests as `cargo run` does for xtask.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let mut cargo = Command::new("cargo");
        without_cargo_run_variables(&mut cargo);
        let removed: Vec<String> = cargo
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"] {
            assert!(removed.iter().any(|r| r == name), "{name}: {removed:?}");
        }
        assert!(!removed.iter().any(|r| r == "CARGO_HOME"), "{removed:?}");
    }
}
