//! `cargo xtask`: what developers and CI run alike.
//!
//! - `deps`: installs what a fresh Debian/Ubuntu machine lacks to build and test camloop.
//! - `demo`: deps, a release build, then `camloop demo` (output in `target/demo/`).
//! - `test [--host | --target T]`: formatting, lints and the host tests; then, without an option,
//!   the aarch64 tests under qemu-user, the armv7 build, the size budget and the board tests.
//!   With `--target`, only that target's tests.
//! - `cross --target T`: a stripped release build for T with Debian's cross toolchain.
//! - `sizes`: the sizes of the cross-built binaries; fails past the 8 MiB budget.
//! - `instructions`: guest instructions an aarch64 core spends a frame, and what a Pi 4 and a Pi
//!   5 core would make of them (`instructions.rs`).
//! - `deb --target T`: the Debian package for T in `target/debian/`, checked by lintian.
//! - `yocto`: the Yocto recipe's crate list from Cargo.lock (`yocto.rs`).
//! - `yocto-check [--layers DIR]`: the Yocto layer's checks from the package registries
//!   (`yocto_check.rs`); with the upstream layers in DIR, the real BitBake's too (`bitbake.rs`).
//! - `board-test [--board virt|rpi3] [--config FILE] [--os debian]`: camloop on an emulated aarch64 board
//!   (see `board.rs`).
//! - `fuzz [--seconds N]`: each fuzz target in `fuzz/` for N seconds (default 60) with nightly
//!   and cargo-fuzz, from the seeds in `fuzz/seeds/`, growing its corpus in `fuzz/corpus/`, then
//!   minimising it. Commit what it adds (a crash goes into the seeds once fixed): `cargo test`
//!   feeds both to the same code on stable.

mod bitbake;
mod board;
mod cross;
mod deb;
mod instructions;
mod system;
mod yocto;
mod yocto_check;
mod yocto_tools;

use anyhow::{Context, Result, bail};
use cross::Target;
use system::run;

const USAGE: &str = "usage: cargo xtask deps | demo [camloop demo options] | test [--host | --target TRIPLE] | cross --target TRIPLE | sizes | instructions | deb --target TRIPLE | yocto | yocto-check [--layers DIR] | board-test [--board virt|rpi3] [--config FILE] [--os debian] | fuzz [--seconds N]";

fn main() -> Result<()> {
    // Paths below are relative to the workspace root, wherever cargo was invoked.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).context("cannot enter the workspace root")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match (args.first().map(String::as_str), rest.as_slice()) {
        (Some("deps"), []) => system::host_deps(),
        (Some("demo"), options) => demo(options),
        (Some("test"), []) => test_everything(),
        (Some("test"), ["--host"]) => test_host(),
        (Some("test"), ["--target", triple]) => cross::test(Target::named(triple)?),
        (Some("cross"), ["--target", triple]) => cross::build(Target::named(triple)?).map(|_| ()),
        (Some("sizes"), []) => cross::sizes(),
        (Some("instructions"), []) => instructions::measure(),
        (Some("deb"), ["--target", triple]) => deb::package(Target::named(triple)?).map(|_| ()),
        (Some("yocto"), []) => yocto::write(),
        (Some("yocto-check"), []) => yocto_check::check(None),
        (Some("yocto-check"), ["--layers", dir]) => {
            yocto_check::check(Some(std::path::Path::new(dir)))
        }
        (Some("board-test"), options) => board_test(options),
        (Some("fuzz"), []) => fuzz("60"),
        (Some("fuzz"), ["--seconds", seconds]) if seconds.parse::<u32>().is_ok_and(|s| s > 0) => {
            fuzz(seconds)
        }
        _ => bail!("{USAGE}"),
    }
}

fn board_test(options: &[&str]) -> Result<()> {
    let (mut board, mut config) = (board::Board::Virt, None);
    for pair in options.chunks(2) {
        match pair {
            ["--board", name] => board = board::Board::named(name)?,
            ["--config", file] => config = Some(std::path::Path::new(*file)),
            // The package on Debian's userland, booted on virt with systemd (board/debian.rs).
            ["--os", "debian"] => board = board::Board::Debian,
            _ => bail!("{USAGE}"),
        }
    }
    board::test(board, config)
}

const FUZZ_TARGETS: [&str; 4] = ["config", "control_line", "ctl_reply", "rtp_video"];

fn fuzz(seconds: &str) -> Result<()> {
    let time = format!("-max_total_time={seconds}");
    for target in FUZZ_TARGETS {
        // New inputs go to the corpus (the first folder); the seeds are read, never minimised.
        let (corpus, seeds) = (
            format!("fuzz/corpus/{target}"),
            format!("fuzz/seeds/{target}"),
        );
        let started = std::time::Instant::now();
        run(
            "cargo",
            &[
                "+nightly", "fuzz", "run", target, &corpus, &seeds, "--", &time,
            ],
        )
        .context("is cargo-fuzz installed? `cargo install --locked cargo-fuzz`")?;
        run("cargo", &["+nightly", "fuzz", "cmin", target, &corpus])?;
        let inputs = std::fs::read_dir(&corpus)?.count();
        eprintln!(
            "xtask: fuzz {target}: {:.0} s, no crash, {inputs} inputs kept",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn demo(options: &[&str]) -> Result<()> {
    system::host_deps()?;
    system::run_cargo(&["build", "--release", "--bin", "camloop"])?;
    let mut args = vec!["demo"];
    args.extend(options);
    let camloop = system::target_dir()?.join("release/camloop");
    run(system::text(&camloop)?, &args)
}

fn test_host() -> Result<()> {
    system::host_deps()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    system::run_cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    system::run_cargo(&["test", "--workspace"])
}

/// Everything CI checks: the host, the aarch64 tests under emulation, the shipped cross builds
/// and their size, the Yocto layer, the emulated boards (Debian's userland with camloop's package
/// among them), the armhf package. Stops at the first failure; either way it ends with a table of
/// how long each step took.
fn test_everything() -> Result<()> {
    let aarch64 = Target::named("aarch64-unknown-linux-gnu")?;
    let armv7 = Target::named("armv7-unknown-linux-gnueabihf")?;
    let steps: [(&str, &dyn Fn() -> Result<()>); 9] = [
        ("host checks and tests", &test_host),
        ("aarch64 tests under qemu-user", &|| cross::test(aarch64)),
        (
            "shipped aarch64 and armv7 builds, within their size budget",
            &cross::build_all,
        ),
        ("Yocto layer checks", &|| yocto_check::check(None)),
        ("board test (virt)", &|| {
            board::test(board::Board::Virt, None)
        }),
        ("board test on the Pi 3's GPIO (raspi3b)", &|| {
            board::test(board::Board::Rpi3, None)
        }),
        (
            "board test harness with a broken config",
            &board::test_harness_rejects_a_broken_config,
        ),
        (
            "the arm64 Debian package on Debian, booted on virt with systemd",
            &|| board::test(board::Board::Debian, None),
        ),
        ("the armhf Debian package, checked by lintian", &|| {
            deb::package(armv7).map(|_| ())
        }),
    ];
    let started = std::time::Instant::now();
    let mut table = Vec::new();
    let mut failure = None;
    for (name, step) in steps {
        let began = std::time::Instant::now();
        let result = step();
        let took = began.elapsed().as_secs_f64();
        eprintln!("xtask: {name} took {took:.0} s");
        table.push((name, took, result.is_ok()));
        if let Err(e) = result {
            failure = Some(e.context(format!("{name} failed")));
            break;
        }
    }
    eprintln!("\nxtask: the steps of `cargo xtask test`");
    eprintln!("{:>8}  {:<6}  step", "seconds", "result");
    for (name, took, ok) in &table {
        let result = if *ok { "ok" } else { "FAILED" };
        eprintln!("{took:>8.0}  {result:<6}  {name}");
    }
    eprintln!(
        "{:>8.0}  {:<6}  in all ({:.1} min; build folder {})",
        started.elapsed().as_secs_f64(),
        if failure.is_none() { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64() / 60.0,
        system::target_dir()?.display()
    );
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::USAGE;

    /// Each command of the usage line with the flags it takes.
    fn usage() -> Vec<(&'static str, Vec<&'static str>)> {
        let commands = USAGE.strip_prefix("usage: cargo xtask ").unwrap();
        // The alternatives are split at the bars outside brackets: `[--host | --target T]` is
        // one command's.
        let mut alternatives = vec![String::new()];
        let mut depth = 0;
        for c in commands.chars() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                '|' if depth == 0 => {
                    alternatives.push(String::new());
                    continue;
                }
                _ => {}
            }
            alternatives.last_mut().unwrap().push(c);
        }
        alternatives
            .into_iter()
            .map(|alternative| {
                let alternative: &'static str = alternative.trim().to_string().leak();
                let name = alternative.split(' ').next().unwrap();
                let flags = alternative
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .filter(|word| word.starts_with("--"))
                    .collect();
                (name, flags)
            })
            .collect()
    }

    /// The README and docs/ show only `cargo xtask` commands and flags that exist.
    #[test]
    fn every_xtask_command_in_the_docs_exists_with_its_flags() {
        let usage = usage();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut pages = vec![root.join("README.md")];
        for entry in std::fs::read_dir(root.join("docs")).unwrap() {
            pages.push(entry.unwrap().path());
        }
        let mut checked = 0;
        for page in pages {
            let text = std::fs::read_to_string(&page).unwrap();
            for (_, after) in text
                .match_indices("cargo xtask ")
                .map(|(at, _)| text.split_at(at))
            {
                let line = after["cargo xtask ".len()..]
                    .split(['\n', '`', '#', '(', ')'])
                    .next()
                    .unwrap_or_default();
                let name = line.split(' ').next().unwrap_or_default();
                let Some((_, flags)) = usage.iter().find(|(command, _)| *command == name) else {
                    panic!(
                        "{}: `cargo xtask {line}`: no command {name}",
                        page.display()
                    );
                };
                // The demo passes its options on to `camloop demo` (tests/docs.rs checks those).
                if name == "demo" {
                    continue;
                }
                for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                    if word.starts_with("--") {
                        assert!(
                            flags.contains(&word),
                            "{}: `cargo xtask {line}`: {name} takes no {word}",
                            page.display()
                        );
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} commands found");
    }

    #[test]
    fn the_usage_line_has_each_command_with_its_flags() {
        let usage = usage();
        let board = usage
            .iter()
            .find(|(name, _)| *name == "board-test")
            .unwrap();
        assert_eq!(board.1, ["--board", "--config", "--os"]);
        assert!(usage.iter().any(|(name, _)| *name == "yocto-check"));
        let test = usage.iter().find(|(name, _)| *name == "test").unwrap();
        assert_eq!(test.1, ["--host", "--target"]);
    }
}
