//! The architecture, checked: `src/` is laid out by pipeline stage and arrows point one way —
//! from the modes (`cli`, `operator`) to the stages, and from later stages to earlier ones
//! (docs/architecture.md). A `use crate::…` against the grain fails here, naming the file,
//! instead of growing a cycle. The subcrates `notify` and `registry` must have no import cycle
//! between their files either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each room of the root crate and the rooms it may use. The modes may use everything else.
const ALLOWED: &[(&str, &[&str])] = &[
    ("inventory", &[]),
    ("values", &["inventory"]),
    ("rbac", &[]),
    ("config", &["inventory"]),
    ("source", &["inventory", "values"]),
    ("tags", &["inventory"]),
    ("scan", &["inventory", "tags"]),
    ("report", &["deliver", "inventory", "scan"]),
    ("deliver", &["config", "inventory", "scan", "values"]),
    ("notify", &["config", "inventory", "scan", "tags"]),
    (
        "upgrade",
        &["config", "deliver", "inventory", "scan", "source"],
    ),
    ("approvals", &["config", "inventory", "scan", "upgrade"]),
    (
        "operator",
        &[
            "deliver",
            "approvals",
            "config",
            "inventory",
            "notify",
            "rbac",
            "report",
            "scan",
            "source",
            "tags",
            "upgrade",
            "values",
        ],
    ),
    (
        "cli",
        &[
            "deliver",
            "approvals",
            "config",
            "inventory",
            "notify",
            "operator",
            "rbac",
            "report",
            "scan",
            "source",
            "tags",
            "upgrade",
            "values",
        ],
    ),
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code of a file without its test module and comments: what it really depends on.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::name` a piece of code mentions.
fn crate_paths(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(at, _)| {
            code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn the_root_crate_s_arrows_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let room = first.to_str().unwrap().trim_end_matches(".rs");
        if matches!(room, "lib" | "main") {
            continue;
        }
        let Some(may_use) = allowed.get(room) else {
            wrong.push(format!(
                "{}: room `{room}` is not in tests/layers.rs ALLOWED",
                relative.display()
            ));
            continue;
        };
        for used in crate_paths(&code(&file)) {
            if used != room && !may_use.contains(&used.as_str()) {
                wrong.push(format!(
                    "{}: `{room}` uses `crate::{used}`, against the pipeline's direction",
                    relative.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The files of a crate's `src/` as modules (`a/b.rs` → `a::b`, `a/mod.rs` → `a`) and the
/// modules each one imports.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules: Vec<(String, PathBuf)> = rust_files(src)
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            (parts.join("::"), file)
        })
        .filter(|(name, _)| name != "lib")
        .collect();
    let names: BTreeSet<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    modules
        .iter()
        .map(|(name, file)| {
            let code = code(file);
            let used = names
                .iter()
                .filter(|other| **other != name && !other.starts_with(&format!("{name}::")))
                .filter(|other| code.contains(&format!("crate::{other}")))
                .map(|other| other.to_string())
                .collect();
            (name.clone(), used)
        })
        .collect()
}

/// A cycle in `graph`, if there is one, as the modules around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            return Some(path[at..].to_vec());
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
fn notify_and_registry_have_no_import_cycle_between_files() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    for name in ["notify", "registry"] {
        let graph = module_graph(&crates.join(name).join("src"));
        assert!(graph.len() > 3, "{name}: read its files");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("crates/{name}: import cycle {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph).unwrap(),
        ["a", "b", "c"].map(String::from)
    );
    assert_eq!(
        crate_paths("use crate::scan::Finding; crate::tags"),
        BTreeSet::from(["scan".to_string(), "tags".to_string()])
    );
}
