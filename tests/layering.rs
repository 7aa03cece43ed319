//! Arrows that run one way: no two top-level modules of camloop (or of xtask) reach into each
//! other, directly or round a longer loop. A module's arrows are the `crate::…` paths in its
//! files; its unit tests count with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level module each file of `src` belongs to, and the modules its text names.
fn arrows(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let first = relative.components().next().unwrap();
            let top = first.as_os_str().to_string_lossy();
            let top = top.trim_end_matches(".rs");
            // `call_tests.rs` and the like are `call`'s, by `#[path]`.
            let top = ["_proptests", "_reload_tests", "_timing_tests", "_tests"]
                .iter()
                .find_map(|suffix| top.strip_suffix(suffix))
                .unwrap_or(top);
            if top == "lib" || top == "main" {
                continue;
            }
            let named = graph.entry(top.to_string()).or_default();
            named.extend(named_modules(&std::fs::read_to_string(&path).unwrap()));
            named.remove(top);
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for named in graph.values_mut() {
        named.retain(|m| modules.contains(m));
    }
    graph
}

/// The modules `crate::a::…` and `crate::{a, b::…}` name.
fn named_modules(text: &str) -> BTreeSet<String> {
    let word = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut named = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let after = &text[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // The group's own items only: `a::{b, c}` inside it names a.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        named.insert(word(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            named.insert(word(&item));
        } else {
            named.insert(word(after));
        }
    }
    named.remove("");
    named
}

/// A loop of modules, if there is one.
fn a_loop(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut found = path[start..].to_vec();
            found.push(module.to_string());
            return Some(found);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for next in &graph[module] {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(module.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_camloop_or_xtask_reaches_back_into_one_that_reaches_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for src in [root.join("src"), root.join("xtask/src")] {
        let graph = arrows(&src);
        assert!(graph.len() > 5, "{}: {graph:?}", src.display());
        if let Some(found) = a_loop(&graph) {
            panic!("{}: {}", src.display(), found.join(" → "));
        }
    }
}

#[test]
fn a_loop_is_found_and_named() {
    let text = "use crate::{call, daemon::{Input, Status}};\nlet x = crate::fault::Fault::new();";
    let named: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(named, ["call", "daemon", "fault"]);
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
        .collect();
    assert_eq!(a_loop(&graph).unwrap(), ["a", "b", "c", "a"]);
    let one_way: Graph = [("a", "b"), ("b", "c"), ("d", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
        .chain([("c".to_string(), BTreeSet::new())])
        .collect();
    assert_eq!(a_loop(&one_way), None);
}
