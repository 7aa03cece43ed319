//! The README and `docs/` against the code: every configuration example loads, and every
//! `camloop …` command shown exists with the flags it is shown with.

use camloop::cli::Cli;
use camloop::config::Config;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

fn pages() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is there")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

/// The fenced blocks of one language in a page.
fn blocks<'a>(text: &'a str, language: &str) -> Vec<&'a str> {
    let fence = format!("```{language}\n");
    text.split(&fence)
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default())
        .collect()
}

#[test]
fn every_configuration_example_loads() {
    let mut examples = 0;
    for (path, text) in pages() {
        for block in blocks(&text, "toml") {
            examples += 1;
            if let Err(e) = Config::parse(block) {
                panic!("{}: an example does not load: {e}\n{block}", path.display());
            }
        }
    }
    assert!(
        examples >= 2,
        "the README's configuration and its USB example"
    );
}

/// The commands of a page: each line of its shell blocks, up to a comment, and each inline
/// span of its prose, joined where the text wraps it. Other blocks are examples and output.
fn code(text: &str) -> Vec<String> {
    let (mut code, mut prose) = (Vec::new(), String::new());
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        if let Some(language) = line.strip_prefix("```") {
            fence = if fence.is_some() {
                None
            } else {
                Some(language)
            };
        } else if fence == Some("sh") {
            code.push(line.split('#').next().unwrap_or_default().to_string());
        } else if fence.is_none() {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    code.extend(
        prose
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|span| span.replace('\n', " ")),
    );
    code
}

/// Each `camloop SUBCOMMAND …` in a page's code: the subcommand and the rest of its line.
fn commands(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for line in code(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("camloop ") {
            let word_begins = rest[..at]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || c == '/');
            let after = &rest[at + "camloop ".len()..];
            if !word_begins {
                rest = after;
                continue;
            }
            let sub: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            // `journalctl -u camloop -f` is camloop the unit's name.
            if sub.starts_with(|c: char| c.is_ascii_lowercase()) {
                found.push((sub, after.to_string()));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn every_camloop_command_shown_exists_with_its_flags() {
    let cli = Cli::command();
    let mut checked = 0;
    for (path, text) in pages() {
        for (sub, line) in commands(&text) {
            let Some(command) = cli.find_subcommand(&sub) else {
                panic!("{}: `camloop {line}`: no subcommand {sub}", path.display());
            };
            let longs: Vec<&str> = command
                .get_arguments()
                .filter_map(|a| a.get_long())
                .collect();
            for flag in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                let Some(name) = flag.strip_prefix("--") else {
                    continue;
                };
                assert!(
                    longs.contains(&name),
                    "{}: `camloop {line}`: {sub} has no --{name} (it has {longs:?})",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} commands found");
}

#[test]
fn the_check_finds_a_subcommand_or_flag_that_does_not_exist() {
    let page = "Run `camloop\nbench --fast`, not meta-camloop or:\n```sh\ncamloop probe --json  # camloop all\n```\n";
    assert_eq!(
        commands(page),
        [
            ("probe".to_string(), "probe --json  ".to_string()),
            ("bench".to_string(), "bench --fast".to_string()),
        ]
    );
    let cli = Cli::command();
    let bench = cli.find_subcommand("bench").unwrap();
    assert!(!bench.get_arguments().any(|a| a.get_long() == Some("fast")));
}
