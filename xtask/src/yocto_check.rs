//! `cargo xtask yocto-check`: the Yocto layer's checks that need nothing but the package
//! registries: the crate list against Cargo.lock and the crates cargo downloads, the kas files
//! against kas's own schema and the pinned revisions, oelint-adv, BitBake's own parser on the
//! recipes (the unit's `systemd-analyze` checks are tests/service.rs). Each runs on the checkout and then on a copy of its
//! input broken on purpose, which it must reject: a check that passes everything fails here.

use crate::system::{run, sha256};
use crate::yocto::{INC, LOCKS};
use crate::yocto_tools::{PINS, venv};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const LAYER: &str = "yocto/meta-camloop";
const RECIPE: &str = "yocto/meta-camloop/recipes-multimedia/camloop/camloop_0.1.0.bb";
const IMAGE: &str = "yocto/meta-camloop/recipes-core/images/camloop-image.bb";
const KAS_DIR: &str = "yocto/kas";

/// The oelint-adv findings that do not apply: (the file they are in, or "" for any, the rule).
const OELINT_ALLOWED: [(&str, &str); 8] = [
    // camloop has no web page or public tracker: the layer lives in its checkout.
    ("", "oelint.var.mandatoryvar.HOMEPAGE"),
    ("", "oelint.var.suggestedvar.BUGTRACKER"),
    // The checkout carries no licence texts; oe-core's common ones are the same.
    ("camloop_0.1.0.bb", "oelint.var.licenseremotefile"),
    // A daemon for the board: there is nothing to build for the build host.
    ("camloop_0.1.0.bb", "oelint.var.bbclassextend"),
    // An image is no package: it has no section and no CVEs of its own.
    ("camloop-image.bb", "oelint.var.suggestedvar.SECTION"),
    ("camloop-image.bb", "oelint.var.suggestedvar.CVE_PRODUCT"),
    // The class writes the inc with a leading space oelint-adv frowns on; it is generated.
    ("camloop-crates.inc", "oelint.vars.inconspaces"),
    ("camloop-crates.inc", "oelint.vars.notneededspace"),
];

struct Check {
    name: &'static str,
    /// What it reads, from the checkout's root; a broken copy has the same layout.
    inputs: &'static [&'static str],
    /// Given the venv's Python and the root.
    run: fn(&Path, &Path) -> Result<()>,
    /// The input file to break and how.
    broken: (&'static str, fn(&str) -> String),
}

const CHECKS: [Check; 4] = [
    Check {
        name: "crate list",
        inputs: &[INC, LOCKS[0], LOCKS[1]],
        run: crate_sums,
        // One crate's checksum off by a digit.
        broken: (INC, |inc| {
            inc.replacen(".sha256sum] = \"", ".sha256sum] = \"0", 1)
        }),
    },
    Check {
        name: "kas files",
        inputs: &[KAS_DIR],
        run: kas_files,
        // A repo at another revision than the one checked.
        broken: ("yocto/kas/base.yml", |kas| {
            kas.replace(PINS[1].1, &"dead".repeat(10))
        }),
    },
    Check {
        name: "oelint-adv",
        inputs: &[LAYER],
        run: oelint,
        // Old override syntax on a variable: BitBake takes it for another name, oelint-adv not.
        broken: (RECIPE, |bb| {
            bb.replace("SYSTEMD_SERVICE:${PN}", "SYSTEMD_SERVICE_${PN}")
        }),
    },
    Check {
        name: "BitBake's parser",
        inputs: &[LAYER],
        run: bitbake_parse,
        // The override syntax BitBake dropped in 2021, on a task.
        broken: (RECIPE, |bb| {
            bb.replace("do_install:append()", "do_install_append()")
        }),
    },
];

/// The registry-only checks, then, with `layers` (the upstream repos checked out), BitBake's.
pub fn check(layers: Option<&Path>) -> Result<()> {
    let scratch = PathBuf::from("target/yocto-check");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let python = venv()?;
    for check in &CHECKS {
        (check.run)(&python, Path::new("."))
            .with_context(|| format!("yocto-check: {} fails on the checkout", check.name))?;
        let copy = broken_copy(&scratch, check)?;
        match (check.run)(&python, &copy) {
            Ok(()) => bail!(
                "yocto-check: {} passes a broken {}: it checks nothing",
                check.name,
                check.broken.0
            ),
            Err(e) => eprintln!(
                "xtask: {}: rejects a broken {}: {e:#}",
                check.name, check.broken.0
            ),
        }
        eprintln!("xtask: {}: ok", check.name);
    }
    match layers {
        Some(dir) => crate::bitbake::check(dir),
        None => {
            eprintln!(
                "xtask: BitBake itself: skipped (give the upstream layers: --layers DIR, one \
                 folder per repo of yocto/kas/, e.g. what `kas checkout` fetched)"
            );
            Ok(())
        }
    }
}

/// A copy of the check's inputs under `scratch` with one of them broken.
fn broken_copy(scratch: &Path, check: &Check) -> Result<PathBuf> {
    let root = scratch.join(check.name.replace(|c: char| !c.is_alphanumeric(), "-"));
    for input in check.inputs {
        let to = root.join(input);
        std::fs::create_dir_all(to.parent().context("input at /")?)?;
        run("cp", &["-r", input, to.to_str().context("path")?])?;
    }
    let (file, break_it) = check.broken;
    let path = root.join(file);
    let text = std::fs::read_to_string(&path)?;
    let broken = break_it(&text);
    if broken == text {
        bail!(
            "yocto-check: {}: breaking {file} changed nothing",
            check.name
        );
    }
    std::fs::write(&path, broken)?;
    Ok(root)
}

/// A command that must succeed and print nothing on standard error.
fn quiet(command: &mut Command) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("cannot start {command:?}"))?;
    let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() || !said.is_empty() {
        bail!("{said}");
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every crate of the inc has Cargo.lock's checksum, and the `.crate` cargo downloads has it too.
fn crate_sums(_: &Path, root: &Path) -> Result<()> {
    let inc = std::fs::read_to_string(root.join(INC))?;
    let in_inc: BTreeMap<String, String> = inc
        .lines()
        .filter_map(|l| {
            let (key, sum) = l.strip_prefix("SRC_URI[")?.split_once(".sha256sum] = \"")?;
            Some((key.to_owned(), sum.trim_end_matches('"').to_owned()))
        })
        .collect();
    let mut in_locks = BTreeMap::new();
    for lock in LOCKS {
        let text = std::fs::read_to_string(root.join(lock))?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("{lock} is not TOML"))?;
        for package in table["package"].as_array().into_iter().flatten() {
            if let Some(sum) = package.get("checksum").and_then(toml::Value::as_str) {
                let key = format!("{}-{}", package["name"].as_str().unwrap_or_default(), {
                    package["version"].as_str().unwrap_or_default()
                });
                in_locks.insert(key, sum.to_owned());
            }
        }
    }
    if in_inc != in_locks {
        let differ: Vec<_> = in_locks
            .iter()
            .filter(|(k, v)| in_inc.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .chain(
                in_inc
                    .keys()
                    .filter(|k| !in_locks.contains_key(*k))
                    .map(String::as_str),
            )
            .collect();
        bail!("{INC} and the Cargo.lock files disagree on {differ:?}");
    }
    let downloaded = crate_cache()?;
    for (key, sum) in &in_inc {
        let file = downloaded.join(format!("{key}.crate"));
        let got = sha256(&file).with_context(|| format!("{} is not there", file.display()))?;
        if &got != sum {
            bail!("{} has sha256 {got}, the inc says {sum}", file.display());
        }
    }
    println!(
        "yocto-check: {} crates: the inc, the locks and the downloads agree",
        in_inc.len()
    );
    Ok(())
}

/// Where `cargo fetch --locked` put the crates of every lock.
fn crate_cache() -> Result<PathBuf> {
    for lock in LOCKS {
        let manifest = Path::new(lock).with_file_name("Cargo.toml");
        run(
            "cargo",
            &[
                "fetch",
                "--locked",
                "-q",
                "--manifest-path",
                manifest.to_str().context("path")?,
            ],
        )?;
    }
    let home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cargo"),
    };
    let registries = home.join("registry/cache");
    std::fs::read_dir(&registries)
        .with_context(|| format!("cargo fetch left no {}", registries.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("index.crates.io-"))
        })
        .with_context(|| format!("no crates.io cache in {}", registries.display()))
}

fn kas_files(python: &Path, root: &Path) -> Result<()> {
    let pins: Vec<String> = PINS
        .iter()
        .map(|(name, commit)| format!("{name}={commit}"))
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(KAS_DIR))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    let printed = quiet(
        Command::new(python)
            .arg("xtask/yocto_check.py")
            .args(["kas", &pins.join(",")])
            .args(&files),
    )?;
    print!("{printed}");
    Ok(())
}

/// The layer's BitBake files.
fn layer_files(root: &Path) -> Vec<PathBuf> {
    [RECIPE, IMAGE, "yocto/meta-camloop/conf/layer.conf"]
        .map(|f| root.join(f))
        .to_vec()
}

fn oelint(python: &Path, root: &Path) -> Result<()> {
    let out = Command::new(python.with_file_name("oelint-adv"))
        .args(["--quiet", "--exit-zero", "--release", "wrynose"])
        .args(layer_files(root))
        .output()
        .context("cannot start oelint-adv")?;
    // A finding is `FILE:LINE:SEVERITY:RULE:MESSAGE`.
    let said = String::from_utf8_lossy(&out.stderr);
    let findings: Vec<&str> = said
        .lines()
        .filter(|line| {
            let mut fields = line.split(':');
            let (file, rule) = (fields.next().unwrap_or(""), fields.nth(2).unwrap_or(""));
            !OELINT_ALLOWED
                .iter()
                .any(|(allowed_in, allowed)| file.ends_with(allowed_in) && rule == *allowed)
        })
        .collect();
    if !out.status.success() || !findings.is_empty() {
        bail!("{}", findings.join("\n"));
    }
    println!("yocto-check: oelint-adv --release wrynose: no findings but those allowed");
    Ok(())
}

fn bitbake_parse(python: &Path, root: &Path) -> Result<()> {
    let printed = quiet(
        Command::new(python)
            .args(["xtask/yocto_check.py", "parse"])
            .arg(root.join(LAYER).canonicalize()?)
            .args([
                root.join(RECIPE).canonicalize()?,
                root.join(IMAGE).canonicalize()?,
            ]),
    )?;
    print!("{printed}");
    Ok(())
}
