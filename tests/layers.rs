//! The architecture as a test: the folders under `src/` are layers, each may
//! use only the layers below it, and no module uses one that uses it back,
//! across folders or inside one. Read from the source text, so a new import
//! that breaks the layout fails here, with the files and the imports named.
//!
//! # How the source is read
//!
//! - **Modules.** Every `.rs` file under `src/` but `main.rs` (the binary, a
//!   crate of its own) is a module: `pipeline/plan.rs` is `pipeline::plan`,
//!   `pod/mod.rs` is `pod`, `service/daemon/tests.rs` is
//!   `service::daemon::tests`; `lib.rs`, the crate root, is read only for
//!   what it re-exports. An inline `mod name { ... }` (`#[cfg(test)] mod
//!   tests`) is a module of its own inside its file.
//! - **Paths.** From code only (comments, strings and characters left out: a
//!   doc may point anywhere): every path that starts with `crate::`,
//!   `super::` or `self::`, `use` trees included (`use super::{a::X, b::*}`),
//!   and a `use` that starts with a submodule's name (`use store::Store` in
//!   `emulator/mod.rs`). Each is resolved against the module it is written
//!   in (`super::` inside the `mod tests` of `emulator/store.rs` is
//!   `emulator::store`), to the longest path that is a module. A name a
//!   module only imports or re-exports is followed to where it comes from:
//!   `crate::pod::PodClient` is a use of `pod::client`, and `super::SeedUser`
//!   in an emulator file one of `emulator::people`, since the emulator's
//!   `mod.rs` re-exports it from there.
//! - **Edges.** A module's uses of its own submodules are not edges: a
//!   folder's face (`mod.rs`, or `foo.rs` beside `foo/`) declaring, wiring
//!   and re-exporting its parts is how it holds them. Every other use is one:
//!   between siblings, across folders, and from a part up to what its parent
//!   itself defines (`super::Problems`). So a part that reaches up to its
//!   folder's face, which calls into it, makes no circle here
//!   (`config/file.rs` uses `super::config_error`, `config/mod.rs` uses
//!   `file`); the emulator's parts reach up for nothing.
//! - **Test code.** A test module's uses are edges and keep to the layers
//!   like any others. But nothing uses a test module, so test code never
//!   closes a circle: the tests in `emulator/store.rs` may use `lists`,
//!   which uses `store`.
//!
//! Every import against the layers is reported, and every circle: each set of
//! modules that use each other, with their files and every import that ties
//! them, as written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The layers, bottom to top, one line each. A module may use the modules
/// of its own folder and of any lower layer; the ground floor's modules may
/// use each other, as long as there is no circle (checked below, as
/// everywhere). A new top-level module takes one line: its name in a
/// layer's list, or `&["kinds"],` as a layer of its own at its height.
const LAYERS: &[&[&str]] = &[
    &["model", "error", "shutdown", "text", "revision", "threads"],
    &["config"],
    &["desired", "emulator"],
    &["pod", "store"],
    &["kinds"],
    &["pipeline"],
    &["notify"],
    &["service"],
    &["demo"],
    &["cli"],
    &["commands"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

/// The layer of a module's folder; a folder in no layer is a mistake to fix in [`LAYERS`].
fn layer(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or_default();
    layer_of(top).unwrap_or_else(|| {
        panic!("src/{top} is in no layer: add {top:?} to LAYERS in tests/layers.rs")
    })
}

// ---------------------------------------------------------------------------
// Reading the code: tokens without comments, strings and characters.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The index just past a `"`-string whose body starts at `at`.
fn skip_string(chars: &[char], mut at: usize) -> usize {
    while at < chars.len() {
        match chars[at] {
            '\\' => at += 2,
            '"' => return at + 1,
            _ => at += 1,
        }
    }
    at
}

/// The index just past a raw string whose `#`s (if any) or `"` start at `at`,
/// or `None` if no `"` follows the `#`s (a raw identifier, `r#type`).
fn skip_raw_string(chars: &[char], at: usize) -> Option<usize> {
    let hashes = chars[at..].iter().take_while(|c| **c == '#').count();
    if chars.get(at + hashes) != Some(&'"') {
        return None;
    }
    let mut at = at + hashes + 1;
    while at < chars.len() {
        if chars[at] == '"' && chars[at + 1..].iter().take(hashes).all(|c| *c == '#') {
            return Some(at + 1 + hashes);
        }
        at += 1;
    }
    Some(at)
}

/// The index just past a character literal or a lifetime starting at the `'` at `at`.
fn skip_quote(chars: &[char], at: usize) -> usize {
    match (chars.get(at + 1), chars.get(at + 2)) {
        (Some('\\'), _) => {
            let close = chars[at + 3..].iter().position(|c| *c == '\'');
            close.map_or(chars.len(), |close| at + 3 + close + 1)
        }
        (Some(_), Some('\'')) => at + 3,
        // A lifetime or a label: `'a`, `'static`, `'outer`.
        _ => {
            let name = chars[at + 1..].iter().take_while(|c| is_ident_char(**c));
            at + 1 + name.count()
        }
    }
}

/// The code of a file as tokens: identifiers, `::` and single punctuation
/// characters; comments, strings, characters, lifetimes and numbers left out.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let next = chars.get(at + 1).copied();
        if c == '/' && next == Some('/') {
            at += chars[at..].iter().take_while(|c| **c != '\n').count();
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while at < chars.len() {
                match (chars[at], chars.get(at + 1)) {
                    ('/', Some('*')) => (depth, at) = (depth + 1, at + 2),
                    ('*', Some('/')) => (depth, at) = (depth - 1, at + 2),
                    _ => at += 1,
                }
                if depth == 0 {
                    break;
                }
            }
        } else if c == '"' {
            at = skip_string(&chars, at + 1);
        } else if c == '\'' {
            at = skip_quote(&chars, at);
        } else if c.is_ascii_digit() {
            at += chars[at..]
                .iter()
                .take_while(|c| is_ident_char(**c))
                .count();
        } else if is_ident_start(c) {
            let word: String = chars[at..]
                .iter()
                .take_while(|c| is_ident_char(**c))
                .collect();
            at += word.chars().count();
            let raw = matches!(word.as_str(), "r" | "br" | "cr");
            match chars.get(at) {
                Some('"' | '#') if raw => match skip_raw_string(&chars, at) {
                    Some(end) => at = end,
                    // `r#name`: a raw identifier.
                    None => {
                        let name: String = chars[at + 1..]
                            .iter()
                            .take_while(|c| is_ident_char(**c))
                            .collect();
                        at += 1 + name.chars().count();
                        tokens.push(Token::Ident(name));
                    }
                },
                Some('"') if word == "b" || word == "c" => at = skip_string(&chars, at + 1),
                Some('\'') if word == "b" => at = skip_quote(&chars, at),
                _ => tokens.push(Token::Ident(word)),
            }
        } else if c == ':' && next == Some(':') {
            tokens.push(Token::PathSep);
            at += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(Token::Punct(c));
            }
            at += 1;
        }
    }
    tokens
}

// ---------------------------------------------------------------------------
// Paths as written, in the module they are written in.

/// A path in a file's code.
#[derive(Debug, Clone)]
struct Written {
    /// The module it is written in: the file's, or an inline module's inside it.
    scope: Vec<String>,
    segments: Vec<String>,
    /// Part of a `use` item, which may start with a submodule's name.
    in_use: bool,
    /// For a `use` of a single name: the name it binds in `scope`.
    binds: Option<String>,
}

impl Written {
    fn text(&self) -> String {
        self.segments.join("::")
    }
}

/// Reads the `use` tree at `tokens[*at..]` under `prefix`, pushing one
/// [`Written`] per leaf; stops after the tree.
fn use_tree(
    tokens: &[Token],
    at: &mut usize,
    scope: &[String],
    prefix: Vec<String>,
    found: &mut Vec<Written>,
) {
    let mut segments = prefix;
    loop {
        match tokens.get(*at) {
            Some(Token::PathSep) => *at += 1,
            Some(Token::Ident(name)) if name != "as" => {
                segments.push(name.clone());
                *at += 1;
                if tokens.get(*at) != Some(&Token::PathSep) {
                    break;
                }
            }
            Some(Token::Punct('{')) => {
                *at += 1;
                while !matches!(tokens.get(*at), None | Some(Token::Punct('}'))) {
                    let before = *at;
                    use_tree(tokens, at, scope, segments.clone(), found);
                    // A comma, or something no `use` holds: step over it.
                    if tokens.get(*at) == Some(&Token::Punct(',')) || *at == before {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            Some(Token::Punct('*')) => {
                *at += 1;
                found.push(Written {
                    scope: scope.to_vec(),
                    segments,
                    in_use: true,
                    binds: None,
                });
                return;
            }
            _ => break,
        }
    }
    // `a::b::{self}` is `a::b`.
    if segments.last().is_some_and(|last| last == "self") && segments.len() > 1 {
        segments.pop();
    }
    let mut binds = segments.last().cloned();
    if tokens.get(*at) == Some(&Token::Ident("as".into())) {
        binds = match tokens.get(*at + 1) {
            Some(Token::Ident(alias)) if alias != "_" => Some(alias.clone()),
            _ => None,
        };
        *at += 2;
    }
    if !segments.is_empty() {
        found.push(Written {
            scope: scope.to_vec(),
            segments,
            in_use: true,
            binds,
        });
    }
}

/// Every path a file's code writes (see the module doc), and the inline
/// modules it declares, both within `module`.
fn written_paths(module: &[String], text: &str) -> (Vec<Written>, Vec<Vec<String>>) {
    let tokens = tokens(text);
    let mut found = Vec::new();
    let mut inline_modules = Vec::new();
    // Open inline modules: name and the brace depth outside them.
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut at = 0;
    let scope = |open: &[(String, usize)]| -> Vec<String> {
        let inline = open.iter().map(|(name, _)| name.clone());
        module.iter().cloned().chain(inline).collect()
    };
    while at < tokens.len() {
        match &tokens[at] {
            Token::Ident(word) if word == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) =
                    (tokens.get(at + 1), tokens.get(at + 2))
                {
                    open.push((name.clone(), depth));
                    inline_modules.push(scope(&open));
                    depth += 1;
                    at += 3;
                    continue;
                }
            }
            Token::Ident(word) if word == "use" => {
                at += 1;
                use_tree(&tokens, &mut at, &scope(&open), Vec::new(), &mut found);
                continue;
            }
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && tokens.get(at + 1) == Some(&Token::PathSep)
                    && (at == 0 || tokens[at - 1] != Token::PathSep) =>
            {
                let mut segments = vec![word.clone()];
                at += 1;
                while let (Some(Token::PathSep), Some(Token::Ident(name))) =
                    (tokens.get(at), tokens.get(at + 1))
                {
                    segments.push(name.clone());
                    at += 2;
                }
                found.push(Written {
                    scope: scope(&open),
                    segments,
                    in_use: false,
                    binds: None,
                });
                continue;
            }
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth = depth.saturating_sub(1);
                if open.last().is_some_and(|(_, outside)| *outside == depth) {
                    open.pop();
                }
            }
            _ => {}
        }
        at += 1;
    }
    (found, inline_modules)
}

/// `written` as a path from the crate root, or `None` if it does not start
/// in this crate (`std::`, `serde::`, a local name).
fn absolute(written: &Written, modules: &BTreeSet<String>) -> Option<Vec<String>> {
    let segments = &written.segments;
    let (mut base, rest) = match segments.first()?.as_str() {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (written.scope.clone(), &segments[1..]),
        "super" => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            let kept = written.scope.len().checked_sub(ups)?;
            (written.scope[..kept].to_vec(), &segments[ups..])
        }
        first if written.in_use => {
            let mut child = written.scope.clone();
            child.push(first.to_string());
            if !modules.contains(&child.join("::")) {
                return None;
            }
            (written.scope.clone(), &segments[..])
        }
        _ => return None,
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

// ---------------------------------------------------------------------------
// The graph.

/// Why `from` uses `to`: the first import found, in the file it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Evidence {
    file: String,
    written: String,
}

/// module -> the modules it uses, each with the first import that says so.
type Graph = BTreeMap<String, BTreeMap<String, Evidence>>;

/// The module a file under `src/` is: `pipeline/plan.rs` -> `pipeline::plan`,
/// `pod/mod.rs` -> `pod`, `service/daemon/tests.rs` -> `service::daemon::tests`,
/// `lib.rs` -> the root (empty).
fn module_of(relative: &str) -> Vec<String> {
    let path = Path::new(relative).with_extension("");
    let mut parts: Vec<String> = path
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        parts.clear();
    }
    parts
}

/// The graph of `sources`: (path under `src/`, text) of every file of the crate.
fn graph_of(sources: &[(String, String)]) -> Graph {
    let mut modules = BTreeSet::new();
    let mut all_written = Vec::new();
    for (relative, text) in sources {
        let module = module_of(relative);
        let (written, inline_modules) = written_paths(&module, text);
        for inline in inline_modules.into_iter().chain([module]) {
            modules.insert(inline.join("::"));
        }
        all_written.extend(written.into_iter().map(|path| (relative.clone(), path)));
    }
    // What each module's `use` items bind: name -> the path it stands for.
    let mut imports: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (_, written) in &all_written {
        if let (Some(name), Some(path)) = (&written.binds, absolute(written, &modules)) {
            let scope = written.scope.join("::");
            imports.entry(scope).or_default().insert(name.clone(), path);
        }
    }
    let mut graph = Graph::new();
    for (relative, written) in &all_written {
        let from = written.scope.join("::");
        let Some(path) = absolute(written, &modules) else {
            continue;
        };
        let Some(to) = resolve(path, &modules, &imports) else {
            continue;
        };
        let own_part = from.is_empty() || to.starts_with(&format!("{from}::"));
        if to.is_empty() || to == from || own_part {
            continue;
        }
        let evidence = Evidence {
            file: format!("src/{relative}"),
            written: written.text(),
        };
        graph.entry(from).or_default().entry(to).or_insert(evidence);
    }
    graph
}

/// The module `path` uses: its longest prefix that is a module, following a
/// name that module only imports to where it comes from.
fn resolve(
    mut path: Vec<String>,
    modules: &BTreeSet<String>,
    imports: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Option<String> {
    // Re-exports of re-exports are followed a few steps; a loop of them ends here.
    for _ in 0..8 {
        let known = (0..=path.len())
            .rev()
            .find(|len| modules.contains(&path[..*len].join("::")))?;
        let module = path[..known].join("::");
        let imported = path
            .get(known)
            .and_then(|name| imports.get(&module)?.get(name));
        match imported {
            Some(origin) if *origin != path[..=known] => {
                path = origin.iter().chain(&path[known + 1..]).cloned().collect();
            }
            _ => return Some(module),
        }
    }
    None
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

/// The graph of the crate under `src/`.
fn import_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources: Vec<(String, String)> = rust_files(&src)
        .into_iter()
        .filter(|file| !file.ends_with("main.rs"))
        .map(|file| {
            let relative = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, std::fs::read_to_string(&file).unwrap())
        })
        .collect();
    graph_of(&sources)
}

// ---------------------------------------------------------------------------
// Circles.

/// Every set of two or more modules that use each other (directly or round
/// about), each sorted, in order (Tarjan's strongly connected components).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct Search<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, node: &'a str) {
            let index = self.index.len();
            self.index.insert(node, index);
            self.low.insert(node, index);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flat_map(BTreeMap::keys) {
                if !self.index.contains_key(next.as_str()) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next.as_str()]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next.as_str()) {
                    let low = self.low[node].min(self.index[next.as_str()]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.to_string());
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.found.sort();
    search.found
}

/// One way round a circle: from its first module back to it, within `members`.
fn way_round(graph: &Graph, members: &[String]) -> Vec<String> {
    let start = &members[0];
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.as_str()]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if !members.contains(next) {
                continue;
            }
            if next == start {
                let mut way = vec![start.clone()];
                let mut at = node;
                while at != start {
                    way.push(at.to_string());
                    at = came_from[at];
                }
                way.push(start.clone());
                way.reverse();
                return way;
            }
            if !came_from.contains_key(next.as_str()) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    members.to_vec()
}

/// Every circle, one way round it, and every import that ties it (in its
/// file, as written), for a failure message; empty when there is none.
fn describe_circles(graph: &Graph) -> String {
    let circles = circles(graph);
    let mut text = String::new();
    for (number, members) in circles.iter().enumerate() {
        let _ = writeln!(
            text,
            "circle {} ({} modules): {}",
            number + 1,
            members.len(),
            way_round(graph, members).join(" -> ")
        );
        for from in members {
            for (to, evidence) in &graph[from] {
                if members.contains(to) {
                    let _ = writeln!(
                        text,
                        "  {} ({from}) uses {to}: `{}`",
                        evidence.file, evidence.written
                    );
                }
            }
        }
    }
    text
}

// ---------------------------------------------------------------------------
// The checks on the real tree.

#[test]
fn every_module_uses_only_its_own_folder_and_the_layers_below() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        for (to, evidence) in targets {
            let (from_layer, to_layer) = (layer(from), layer(to));
            let same_folder = from.split("::").next() == to.split("::").next();
            let allowed =
                to_layer < from_layer || same_folder || (to_layer == 0 && from_layer == 0);
            if !allowed {
                wrong.push(format!(
                    "{from} uses {to}: `{}` in {}",
                    evidence.written, evidence.file
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let circles = describe_circles(&import_graph());
    assert!(
        circles.is_empty(),
        "import circles (each: one way round, then every import among its modules):\n{circles}"
    );
}

#[test]
fn the_reader_sees_the_relative_imports_of_the_real_tree() {
    let graph = import_graph();
    let relative = graph
        .values()
        .flat_map(BTreeMap::values)
        .filter(|evidence| evidence.written.starts_with("super::"))
        .count();
    assert!(relative > 20, "only {relative} `super::` imports seen");
}

// ---------------------------------------------------------------------------
// The checker itself, on made-up files.

fn made_up(files: &[(&str, &str)]) -> Graph {
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect();
    graph_of(&sources)
}

fn edges(graph: &Graph) -> Vec<(String, String)> {
    graph
        .iter()
        .flat_map(|(from, targets)| targets.keys().map(|to| (from.clone(), to.clone())))
        .collect()
}

fn edge(from: &str, to: &str) -> (String, String) {
    (from.to_string(), to.to_string())
}

#[test]
fn a_super_circle_inside_a_folder_is_found_and_named() {
    let graph = made_up(&[
        ("emulator/mod.rs", "mod server;\nmod endpoints;\n"),
        (
            "emulator/server.rs",
            "use super::endpoints;\npub struct Failure;\nfn route() { endpoints::list(); }\n",
        ),
        (
            "emulator/endpoints.rs",
            "use super::{lists::Expand, server::{Failure}};\npub fn list() {}\n",
        ),
        ("emulator/lists.rs", "pub struct Expand;\n"),
    ]);
    assert_eq!(
        circles(&graph),
        [vec![
            "emulator::endpoints".to_string(),
            "emulator::server".to_string()
        ]]
    );
    assert_eq!(
        describe_circles(&graph),
        "circle 1 (2 modules): emulator::endpoints -> emulator::server -> emulator::endpoints\n\
         \x20 src/emulator/endpoints.rs (emulator::endpoints) uses emulator::server: \
         `super::server::Failure`\n\
         \x20 src/emulator/server.rs (emulator::server) uses emulator::endpoints: \
         `super::endpoints`\n"
    );
}

#[test]
fn every_circle_is_reported_across_folders_and_round_about() {
    let graph = made_up(&[
        ("config.rs", "use crate::pod::auth::Key;\n"),
        ("pod/mod.rs", "pub mod auth;\n"),
        ("pod/auth.rs", "fn f() { crate::config::load(); }\n"),
        ("emulator/a.rs", "use super::b::B;\n"),
        (
            "emulator/b.rs",
            "use self::inner::X;\nmod inner { use super::super::c::C; }\nuse super::c::C;\n",
        ),
        ("emulator/c.rs", "use crate::emulator::a::A;\n"),
    ]);
    assert_eq!(
        circles(&graph),
        [
            vec!["config".to_string(), "pod::auth".to_string()],
            vec![
                "emulator::a".to_string(),
                "emulator::b".to_string(),
                "emulator::c".to_string()
            ],
        ]
    );
    assert_eq!(
        way_round(&graph, &circles(&graph)[1]),
        ["emulator::a", "emulator::b", "emulator::c", "emulator::a"]
    );
}

#[test]
fn a_circle_through_a_re_export_is_found() {
    // `a` names `B` through the folder's face, which re-exports it from `b`.
    let graph = made_up(&[
        ("emulator/mod.rs", "mod a;\nmod b;\npub use b::B;\n"),
        ("emulator/a.rs", "use super::B;\npub struct A;\n"),
        (
            "emulator/b.rs",
            "pub struct B;\nfn f() -> crate::emulator::a::A { todo!() }\n",
        ),
    ]);
    assert_eq!(
        circles(&graph),
        [vec!["emulator::a".to_string(), "emulator::b".to_string()]]
    );
}

#[test]
fn a_folder_and_its_parts_and_test_code_make_no_circle() {
    let graph = made_up(&[
        // The face uses its parts; a part uses what the face defines.
        (
            "emulator/mod.rs",
            "mod store;\nmod lists;\nuse self::store::Store;\npub struct Shared;\n",
        ),
        (
            "emulator/store.rs",
            "use super::Shared;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::lists::Lists;\n}\n",
        ),
        (
            "emulator/lists.rs",
            "use super::store::Store;\npub struct Lists;\n",
        ),
        (
            "service/daemon.rs",
            "#[cfg(test)]\nmod tests;\npub fn run() {}\n",
        ),
        (
            "service/daemon/tests.rs",
            "use super::*;\nuse crate::service::watch::Watch;\n",
        ),
        ("service/watch.rs", "use crate::service::daemon::run;\n"),
    ]);
    assert_eq!(circles(&graph), Vec::<Vec<String>>::new());
    assert_eq!(
        edges(&graph),
        [
            edge("emulator::lists", "emulator::store"),
            edge("emulator::store", "emulator"),
            edge("emulator::store::tests", "emulator::lists"),
            edge("emulator::store::tests", "emulator::store"),
            edge("service::daemon::tests", "service::daemon"),
            edge("service::daemon::tests", "service::watch"),
            edge("service::watch", "service::daemon"),
        ]
    );
}

#[test]
fn comments_strings_and_other_crates_are_not_imports() {
    let graph = made_up(&[
        ("model.rs", "pub struct Group;\n"),
        (
            "text.rs",
            "//! See [`crate::model`] and super::model.\n\
             use std::fmt; use serde::Serialize;\n\
             /* crate::model /* nested */ crate::model */\n\
             const A: &str = \"crate::model::Group\";\n\
             const B: &str = r#\"use crate::model;\"#;\n\
             const C: char = '\"'; const D: char = '\\''; fn e<'a>(x: &'a str) -> &'a str { x }\n\
             const F: &[u8] = b\"crate::model\";\n\
             fn g() { Self::h(); self.crate_model(); let r#type = 1; }\n",
        ),
    ]);
    assert_eq!(edges(&graph), Vec::<(String, String)>::new());
}

#[test]
fn paths_resolve_to_the_longest_module_and_follow_what_is_imported() {
    let graph = made_up(&[
        ("lib.rs", "pub mod error;\npub use error::Error;\n"),
        (
            "error/mod.rs",
            "mod pod;\npub use pod::PodError;\npub struct Error;\n",
        ),
        ("error/pod.rs", "pub struct PodError;\n"),
        ("pod/mod.rs", "pub mod client;\npub use client::Client;\n"),
        ("pod/client.rs", "pub struct Client;\n"),
        (
            "pipeline/apply.rs",
            "use crate::pod::Client;\nfn f() -> crate::Result<()> { crate::error::PodError; Ok(()) }\n\
             fn g() -> crate::Error { todo!() }\n",
        ),
    ]);
    assert_eq!(
        edges(&graph),
        [
            edge("pipeline::apply", "error"),
            edge("pipeline::apply", "error::pod"),
            edge("pipeline::apply", "pod::client"),
        ]
    );
    assert!(layer_of("error") < layer_of("pod"));
    assert!(layer_of("pipeline") < layer_of("service"));
}
