//! `cargo xtask yocto-check --layers DIR`: the real BitBake on the upstream layers checked out in
//! DIR (one folder per repo of the kas files, at the pinned revisions), offline: the crate list
//! as the pinned `cargo-update-recipe-crates` class itself writes it, `bitbake -p`, `bitbake -g
//! camloop-image` for each machine, and `bitbake -e camloop` with every crate and its checksum.
//! BitBake refuses root, so as root it runs as the user `camloop-bb`.

use crate::system::{install, is_root, output, run, run_with, text};
use crate::yocto::INC;
use crate::yocto_tools::{PINS, venv};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const MACHINES: [&str; 3] = ["raspberrypi4-64", "raspberrypi5", "qemuarm64"];
/// What each machine's graph must hold: camloop, what it builds with, and the image's tools.
const IN_GRAPH: [&str; 7] = [
    "camloop",
    "clang-native",
    "libopus",
    "alsa-lib",
    "v4l-utils",
    "alsa-utils",
    "libgpiod",
];
const BUILD_USER: &str = "camloop-bb";
/// Where kas fetches each pinned repo from; DIR stands in for them all.
const UPSTREAMS: [&str; 3] = [
    "https://git.openembedded.org/",
    "https://git.yoctoproject.org/",
    "https://github.com/kraj/",
];

pub fn check(layers: &Path) -> Result<()> {
    let layers = layers
        .canonicalize()
        .with_context(|| format!("--layers {}: no such folder", layers.display()))?;
    for (name, commit) in PINS {
        let repo = layers.join(name);
        let head = output("git", &["-C", text(&repo)?, "rev-parse", "HEAD"])
            .with_context(|| format!("{} is not a git checkout of {name}", repo.display()))?;
        if head.trim() != commit {
            bail!(
                "{} is at {}, camloop is checked against {commit}: `git -C {} checkout {commit}`",
                repo.display(),
                head.trim(),
                repo.display()
            );
        }
    }
    let work = std::env::current_dir()?.join("target/yocto-bitbake");
    let _ = std::fs::remove_dir_all(&work);
    let checkout = tracked_copy(&work.join("camloop"))?;
    class_writes_the_inc(&layers, &checkout, &work.join("class-written.inc"))?;

    install(&["locales", "chrpath", "diffstat", "gawk", "cpio"].map(String::from))?;
    if !output("locale", &["-a"])?.contains("en_US.utf8") {
        // BitBake's sanity check wants this locale.
        run(
            "sed",
            &["-i", "s/^# *en_US.UTF-8/en_US.UTF-8/", "/etc/locale.gen"],
        )?;
        run("locale-gen", &[])?;
    }
    let kas = venv()?.with_file_name("kas");
    let premirrors: Vec<String> = UPSTREAMS
        .iter()
        .map(|url| format!("{url} file://{}/", layers.display()))
        .collect();
    let mut parsed = false;
    for machine in MACHINES {
        // kas takes the checkout for the repo of its files only while git trusts its owner:
        // the build user's since the last BitBake run.
        run(
            "chown",
            &["-R", output("id", &["-u"])?.trim(), text(&work)?],
        )?;
        run_with(
            Command::new(&kas)
                .args([
                    "checkout",
                    text(&checkout.join(format!("yocto/kas/{machine}.yml")))?,
                ])
                .env("KAS_WORK_DIR", &work)
                .env("KAS_PREMIRRORS", premirrors.join("\n")),
        )?;
        let local = work.join("build/conf/local.conf");
        let conf = std::fs::read_to_string(&local)?;
        std::fs::write(&local, format!("{conf}\nBB_NO_NETWORK = \"1\"\n"))?;
        if !parsed {
            let said = bitbake(&work, "bitbake -p")?;
            let summary = said
                .lines()
                .find(|l| l.starts_with("Parsing of "))
                .context("bitbake -p printed no summary")?;
            if !summary.contains(" 0 errors") {
                bail!("bitbake -p: {summary}");
            }
            println!("yocto-check: bitbake -p: {summary}");
            parsed = true;
        }
        bitbake(&work, "bitbake -g camloop-image")?;
        let graph = std::fs::read_to_string(work.join("build/pn-buildlist"))?;
        let missing: Vec<_> = IN_GRAPH
            .iter()
            .filter(|r| !graph.lines().any(|l| l == **r))
            .collect();
        if !missing.is_empty() {
            bail!("bitbake -g camloop-image for {machine}: {missing:?} not in the graph");
        }
        println!(
            "yocto-check: bitbake -g camloop-image, MACHINE = {machine}: {} recipes, {} among them",
            graph.lines().count(),
            IN_GRAPH.join(", ")
        );
    }
    crates_in_the_environment(&work, &checkout)
}

/// The checkout's tracked files (and new ones not ignored) as a git repo of their own: what kas
/// and externalsrc see in a clean clone, with no `target/` and owned by whoever builds.
fn tracked_copy(to: &Path) -> Result<PathBuf> {
    let files = output(
        "git",
        &["ls-files", "--cached", "--others", "--exclude-standard"],
    )?;
    for file in files.lines().filter(|f| Path::new(f).is_file()) {
        let dest = to.join(file);
        std::fs::create_dir_all(dest.parent().context("file at /")?)?;
        std::fs::copy(file, &dest).with_context(|| format!("copying {file}"))?;
    }
    let git = |args: &[&str]| run_with(Command::new("git").arg("-C").arg(to).args(args));
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&[
        "-c",
        "user.name=camloop",
        "-c",
        "user.email=camloop@localhost",
        "commit",
        "-q",
        "-m",
        "yocto-check",
    ])?;
    Ok(to.to_owned())
}

/// Runs the pinned class's own Python (the body of `do_update_crates`) on the checkout and
/// compares what it writes with the committed inc, byte for byte.
fn class_writes_the_inc(layers: &Path, checkout: &Path, written: &Path) -> Result<()> {
    let class =
        layers.join("openembedded-core/meta/classes-recipe/cargo-update-recipe-crates.bbclass");
    let source = std::fs::read_to_string(&class)?;
    let body = source
        .split_once("nativepython3 - <<EOF\n")
        .and_then(|(_, rest)| rest.split_once("\nEOF\n"))
        .map(|(body, _)| body)
        .with_context(|| format!("{}: no do_update_crates Python in it", class.display()))?;
    let script = body
        .replace("${CARGO_LOCK_SRC_DIR}", text(checkout)?)
        .replace("${PN}", "camloop")
        .replace("${TARGET_FILE}", text(written)?);
    let out = Command::new("python3")
        .args(["-c", &unquoted_heredoc(&script)])
        .output()?;
    if !out.status.success() {
        bail!(
            "the class's Python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (class_inc, ours) = (std::fs::read(written)?, std::fs::read(checkout.join(INC))?);
    if class_inc != ours {
        bail!(
            "{INC} differs from what {} writes ({} against {} bytes): run `cargo xtask yocto`",
            class.display(),
            class_inc.len(),
            ours.len()
        );
    }
    println!(
        "yocto-check: {INC} is byte for byte what the pinned cargo-update-recipe-crates writes ({} bytes)",
        ours.len()
    );
    Ok(())
}

/// What the shell makes of an unquoted here-document: `\\`, `\$` and `` \` `` lose their
/// backslash, a backslash before a newline joins the lines, any other backslash stays.
fn unquoted_heredoc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('\\' | '$' | '`')) => out.extend(chars.next()),
            ('\\', Some('\n')) => {
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// A BitBake command in the build environment, as the build user; what it printed.
fn bitbake(work: &Path, command: &str) -> Result<String> {
    let script = format!(
        "cd {} && . openembedded-core/oe-init-build-env build >/dev/null && {command}",
        work.display()
    );
    let mut shell = if is_root() {
        if !Command::new("id")
            .arg(BUILD_USER)
            .output()?
            .status
            .success()
        {
            run("useradd", &["--create-home", BUILD_USER])?;
        }
        run("chown", &["-R", BUILD_USER, text(work)?])?;
        let mut c = Command::new("runuser");
        c.args(["-u", BUILD_USER, "--", "env", "-i"])
            .arg(format!("HOME=/home/{BUILD_USER}"))
            .args([
                "PATH=/usr/bin:/bin",
                "LANG=en_US.UTF-8",
                "bash",
                "-c",
                &script,
            ]);
        c
    } else {
        let mut c = Command::new("bash");
        c.args(["-c", &script]).env("LANG", "en_US.UTF-8");
        c
    };
    eprintln!("$ {command}");
    let out = shell
        .output()
        .with_context(|| format!("cannot start {command}"))?;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{command} failed:\n{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(said)
}

/// `bitbake -e camloop`: every crate of the inc in SRC_URI, with the inc's checksum as its flag.
fn crates_in_the_environment(work: &Path, checkout: &Path) -> Result<()> {
    let env = bitbake(work, "bitbake -e camloop")?;
    let uris: Vec<&str> = env
        .lines()
        .find_map(|l| l.strip_prefix("SRC_URI=\""))
        .context("bitbake -e camloop shows no SRC_URI")?
        .trim_end_matches('"')
        .split_whitespace()
        .filter(|u| u.starts_with("crate://"))
        .collect();
    // Flags are shown as `#     [NAME-VERSION.sha256sum] "SUM"`.
    let flags: BTreeMap<&str, &str> = env
        .lines()
        .filter_map(|l| {
            let (key, sum) = l.strip_prefix("#     [")?.split_once(".sha256sum] ")?;
            Some((key, sum.trim_matches('"')))
        })
        .collect();
    let inc = std::fs::read_to_string(checkout.join(INC))?;
    let mut checked = 0;
    for uri in &uris {
        let key = uri
            .trim_start_matches("crate://crates.io/")
            .replacen('/', "-", 1);
        let line = format!(
            "SRC_URI[{key}.sha256sum] = \"{}\"",
            flags.get(key.as_str()).unwrap_or(&"")
        );
        if !inc.contains(&line) {
            bail!("bitbake -e camloop: {uri} has no checksum, or not the inc's");
        }
        checked += 1;
    }
    println!(
        "yocto-check: bitbake -e camloop: {checked} crate:// entries in SRC_URI ({} crates), each with the inc's sha256sum",
        flags.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_here_document_loses_the_backslashes_the_shell_takes() {
        // As `sh` reads `cat <<EOF` with these lines: \\ → \, \$ → $, \` → `, \newline joins,
        // and \n, \' and \" stay.
        let body = "a \\\\ b \\$x \\` c\\\nd '\\n' \\' \\\"";
        assert_eq!(unquoted_heredoc(body), "a \\ b $x ` cd '\\n' \\' \\\"");
        let shell = output("sh", &["-c", &format!("cat <<EOF\n{body}\nEOF")]).unwrap();
        assert_eq!(shell.trim_end_matches('\n'), unquoted_heredoc(body));
    }
}
