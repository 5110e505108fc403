//! The architecture as a test: the folders under `src/` are layers, each may
//! use only the layers below it, and no module imports one that imports it
//! back. Read from the source text, so a new `use crate::...` that breaks the
//! layout fails here, with the file and the import named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use modules of its own layer's folder and of
/// any lower layer; the ground floor's modules may use each other only
/// without a circle (checked below, as everywhere).
const LAYERS: &[&[&str]] = &[
    &["model", "error", "shutdown", "text"],
    &["config"],
    &["desired", "emulator"],
    &["pod", "store"],
    &["kinds"],
    &["pipeline"],
    &["service"],
    &["demo"],
    &["cli"],
    &["commands"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The module path of a source file: `src/pipeline/plan.rs` -> `pipeline::plan`,
/// `src/service/daemon/tests.rs` -> `service::daemon` (a file of its parent module).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|last| last == "mod" || last == "tests")
    {
        parts.pop();
    }
    parts.join("::")
}

/// The `crate::a::b` paths a file's code names (comments and doc links
/// left out: a doc may point anywhere).
fn crate_paths(text: &str) -> BTreeSet<Vec<String>> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let text = code.as_str();
    let mut found = BTreeSet::new();
    for (start, _) in text.match_indices("crate::") {
        let rest = &text[start + "crate::".len()..];
        let path: Vec<String> = rest
            .split("::")
            .map(|segment| {
                segment
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|segment| !segment.is_empty())
            .collect();
        if !path.is_empty() {
            found.insert(path);
        }
    }
    found
}

/// module -> the modules it names (resolved to the longest known module path).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<PathBuf> = rust_files(&src)
        .into_iter()
        .filter(|file| !file.ends_with("main.rs") && !file.ends_with("lib.rs"))
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|file| module_of(&src, file)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        for path in crate_paths(&text) {
            let target = (1..=path.len())
                .rev()
                .map(|len| path[..len].join("::"))
                .find(|candidate| modules.contains(candidate));
            if let Some(target) = target.filter(|target| *target != from) {
                graph.entry(from.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn every_module_uses_only_its_own_folder_and_the_layers_below() {
    let mut wrong = Vec::new();
    for (from, targets) in import_graph() {
        let from_layer = layer_of(top(&from)).unwrap_or_else(|| panic!("{from}: no layer"));
        for target in targets {
            let to_layer = layer_of(top(&target)).unwrap_or_else(|| panic!("{target}: no layer"));
            let same_folder = top(&from) == top(&target);
            let allowed =
                to_layer < from_layer || same_folder || (to_layer == 0 && from_layer == 0);
            if !allowed {
                wrong.push(format!("{from} uses {target}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

/// A circle in `graph`, as the path around it, if there is one (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    if let Some(cycle) = find_cycle(&import_graph()) {
        panic!("an import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_checker_can_fail() {
    // Paths stop at the first item that is not a module name.
    assert_eq!(
        crate_paths("use crate::pod::client::PodClient; // [`crate::model`]\ncrate::Result"),
        BTreeSet::from([vec!["pod".to_string(), "client".to_string()]])
    );
    let edge = |from: &str, to: &str| (from.to_string(), BTreeSet::from([to.to_string()]));
    let circle = BTreeMap::from([edge("config", "pod::auth"), edge("pod::auth", "config")]);
    assert_eq!(
        find_cycle(&circle),
        Some(vec!["config".into(), "pod::auth".into(), "config".into()])
    );
    let line = BTreeMap::from([edge("pod::auth", "config")]);
    assert_eq!(find_cycle(&line), None);
    assert!(layer_of("error") < layer_of("pod"));
    assert!(layer_of("pipeline") < layer_of("service"));
}
