//! `cargo xtask`: what developers and CI run alike. `cargo xtask --help` lists the commands,
//! from [`cli`].

mod bitbake;
mod board;
mod cross;
mod deb;
mod elf;
mod instructions;
mod system;
mod yocto;
mod yocto_check;
mod yocto_tools;

use anyhow::{Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use cross::Target;
use system::run;

/// The commands and their flags.
fn cli() -> Command {
    let target = || Arg::new("target").long("target").value_name("TRIPLE");
    Command::new("xtask")
        .bin_name("cargo xtask")
        .subcommand_required(true)
        .subcommand(
            Command::new("deps")
                .about("Install what a fresh Debian/Ubuntu machine lacks to build and test camloop"),
        )
        .subcommand(
            Command::new("demo")
                .about("deps, a release build, then `camloop demo` with OPTIONS (output in target/demo/)")
                .arg(
                    Arg::new("options")
                        .value_name("OPTIONS")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true),
                ),
        )
        .subcommand(
            Command::new("test")
                .about(
                    "Formatting, lints and the host tests; then, without an option, the aarch64 \
                     tests under qemu-user, the shipped builds and their size, the Yocto checks, \
                     the board tests and the armhf package",
                )
                .arg(
                    Arg::new("host")
                        .long("host")
                        .action(ArgAction::SetTrue)
                        .help("Only the host's checks and tests"),
                )
                .arg(target().conflicts_with("host").help("Only that target's tests")),
        )
        .subcommand(
            Command::new("cross")
                .about("A stripped release build for a target with Debian's cross toolchain")
                .arg(target().required(true)),
        )
        .subcommand(
            Command::new("sizes")
                .about("The sizes of the cross-built binaries; fails past the 8 MiB budget"),
        )
        .subcommand(Command::new("instructions").about(
            "Guest instructions an aarch64 core spends a frame, and what a Pi 4 and a Pi 5 core \
             would make of them",
        ))
        .subcommand(
            Command::new("deb")
                .about("The Debian package for a target in target/debian/, checked by lintian")
                .arg(target().required(true)),
        )
        .subcommand(
            Command::new("yocto").about("The Yocto recipe's crate list from Cargo.lock"),
        )
        .subcommand(
            Command::new("yocto-check")
                .about(
                    "The Yocto layer's checks from the package registries; with the upstream \
                     layers in DIR, the real BitBake's too",
                )
                .arg(Arg::new("layers").long("layers").value_name("DIR")),
        )
        .subcommand(
            Command::new("board-test")
                .about("camloop on an emulated aarch64 board (board.rs)")
                .arg(
                    Arg::new("board")
                        .long("board")
                        .value_parser(["virt", "rpi3"])
                        .default_value("virt"),
                )
                .arg(Arg::new("config").long("config").value_name("FILE"))
                .arg(
                    Arg::new("os")
                        .long("os")
                        .value_parser(["debian"])
                        .help("The package on Debian's userland, booted on virt with systemd"),
                ),
        )
        .subcommand(
            Command::new("fuzz")
                .about(
                    "Each fuzz target in fuzz/ with nightly and cargo-fuzz, from fuzz/seeds/, \
                     growing and minimising fuzz/corpus/ (commit what it adds; cargo test feeds \
                     both to the same code on stable)",
                )
                .arg(
                    Arg::new("seconds")
                        .long("seconds")
                        .value_parser(clap::value_parser!(u32).range(1..))
                        .default_value("60"),
                ),
        )
}

fn main() -> Result<()> {
    let matches = cli().get_matches();
    // Paths below are relative to the workspace root, wherever cargo was invoked.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).context("cannot enter the workspace root")?;
    let text = |args: &ArgMatches, name: &str| args.get_one::<String>(name).cloned();
    let target = |args: &ArgMatches| Target::named(&text(args, "target").unwrap_or_default());
    match matches.subcommand() {
        Some(("deps", _)) => system::host_deps(),
        Some(("demo", args)) => demo(args.get_many::<String>("options").into_iter().flatten()),
        Some(("test", args)) if args.get_flag("host") => test_host(),
        Some(("test", args)) if args.contains_id("target") => cross::test(target(args)?),
        Some(("test", _)) => test_everything(),
        Some(("cross", args)) => cross::build(target(args)?).map(|_| ()),
        Some(("sizes", _)) => cross::sizes(),
        Some(("instructions", _)) => instructions::measure(),
        Some(("deb", args)) => deb::package(target(args)?).map(|_| ()),
        Some(("yocto", _)) => yocto::write(),
        Some(("yocto-check", args)) => {
            yocto_check::check(text(args, "layers").as_deref().map(std::path::Path::new))
        }
        Some(("board-test", args)) => {
            let board = match text(args, "os").as_deref() {
                Some("debian") => board::Board::Debian,
                _ => board::Board::named(&text(args, "board").unwrap_or_default())?,
            };
            let config = text(args, "config");
            board::test(board, config.as_deref().map(std::path::Path::new))
        }
        Some(("fuzz", args)) => fuzz(args.get_one::<u32>("seconds").copied().unwrap_or(60)),
        _ => unreachable!("clap requires a known command"),
    }
}

const FUZZ_TARGETS: [&str; 4] = ["config", "control_line", "ctl_reply", "rtp_video"];

fn fuzz(seconds: u32) -> Result<()> {
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

fn demo<'a>(options: impl Iterator<Item = &'a String>) -> Result<()> {
    system::host_deps()?;
    system::run_cargo(&["build", "--release", "--bin", "camloop"])?;
    let mut args = vec!["demo"];
    args.extend(options.map(String::as_str));
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
    /// Each command with the flags it takes.
    fn usage() -> Vec<(String, Vec<String>)> {
        super::cli()
            .get_subcommands()
            .map(|command| {
                let flags = command
                    .get_arguments()
                    .filter_map(|arg| Some(format!("--{}", arg.get_long()?)))
                    .collect();
                (command.get_name().to_string(), flags)
            })
            .collect()
    }

    #[test]
    fn the_command_line_is_consistent() {
        super::cli().debug_assert();
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
                let Some((_, flags)) = usage.iter().find(|(command, _)| command == name) else {
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
                            flags.iter().any(|flag| flag == word),
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
}
