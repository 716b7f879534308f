//! No import circles: the modules of each crate (backend, shared, frontend) form a graph without
//! cycles. An edge is a reference from one module's code to a module that is neither its
//! ancestor nor its descendant (`crate::a::b`, `super::x`, `self::x`, `use` groups included);
//! comments and test code (`#[cfg(test)] mod`, `*tests.rs` files) do not count. A cycle fails the
//! test with every edge in it, so the misplaced name is easy to find and move to its owner.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::common;

/// A module, as its path from the crate root (`["loadgen", "h1", "pool"]`).
type Module = Vec<String>;

/// Every module of the crate under `src`, with its file's text.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("read a source folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Module = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                parts.clear();
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| n.ends_with("tests.rs")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read a source file");
            out.insert(parts, text);
        }
    }
    out
}

/// The lines of `text` that are code outside test modules.
fn code(text: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut skip_from, mut test_attribute) = (0_i64, None::<i64>, false);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            test_attribute = true;
            continue;
        }
        if test_attribute && skip_from.is_none() {
            test_attribute = false;
            let module = trimmed.starts_with("mod ") || trimmed.contains(" mod ");
            if module && trimmed.ends_with('{') {
                skip_from = Some(depth);
            } else if module {
                continue;
            }
        }
        if skip_from.is_none() {
            out.push_str(line);
            out.push('\n');
        }
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        if skip_from.is_some_and(|from| depth <= from) {
            skip_from = None;
        }
    }
    out
}

/// Paths named in `text` from `module`: `crate::`, `super::` and `self::` paths, each item of a
/// `use` group counted.
fn named_paths(module: &[String], text: &str) -> Vec<Module> {
    let mut paths = Vec::new();
    let words: Vec<char> = text.chars().collect();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut at = 0;
    while at < words.len() {
        let starts_word = at == 0 || !is_ident(words[at - 1]);
        let rest: String = words[at..words.len().min(at + 7)].iter().collect();
        let base = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|b| starts_word && rest.starts_with(b));
        let Some(base) = base else {
            at += 1;
            continue;
        };
        let mut end = at;
        while end < words.len() && (is_ident(words[end]) || words[end] == ':') {
            end += 1;
        }
        let path: String = words[at..end].iter().collect();
        let mut parts: Vec<String> = path
            .split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let mut start: Module = match base {
            "crate::" => Vec::new(),
            "self::" => module.to_vec(),
            _ => module[..module.len().saturating_sub(1)].to_vec(),
        };
        parts.remove(0);
        while parts.first().is_some_and(|p| p == "super") {
            parts.remove(0);
            start.pop();
        }
        let mut prefix = start;
        prefix.extend(parts);
        // A `use` group: `crate::a::{b, c::d}`.
        if words.get(end) == Some(&'{') {
            let close = words[end..]
                .iter()
                .position(|c| *c == '}')
                .map_or(words.len(), |p| end + p);
            let group: String = words[end + 1..close].iter().collect();
            for item in group.split(',') {
                let item = item.split(" as ").next().unwrap_or("").trim();
                if item.is_empty() || item == "self" || item.contains('{') {
                    continue;
                }
                let mut full = prefix.clone();
                full.extend(item.split("::").map(str::to_string));
                paths.push(full);
            }
            end = close;
        }
        paths.push(prefix);
        at = end.max(at + 1);
    }
    paths
}

/// The module graph: each module's edges to the modules it names.
fn graph(src: &Path) -> BTreeMap<Module, BTreeMap<Module, usize>> {
    let modules = modules(src);
    let mut edges: BTreeMap<Module, BTreeMap<Module, usize>> = BTreeMap::new();
    for (module, text) in &modules {
        let from = edges.entry(module.clone()).or_default();
        for path in named_paths(module, &code(text)) {
            let target = (1..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|candidate| modules.contains_key(candidate));
            let Some(target) = target else { continue };
            let related = module.starts_with(&target) || target.starts_with(module);
            if !related {
                *from.entry(target).or_default() += 1;
            }
        }
    }
    edges
}

/// The cycles of a graph: its strongly connected components of more than one module.
fn cycles(edges: &BTreeMap<Module, BTreeMap<Module, usize>>) -> Vec<BTreeSet<Module>> {
    let reaches = |from: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(next) = todo.pop() {
            for to in edges.get(&next).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(to.clone()) {
                    todo.push(to.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&Module, BTreeSet<Module>> =
        edges.keys().map(|m| (m, reaches(m))).collect();
    let mut found: Vec<BTreeSet<Module>> = Vec::new();
    for (module, from) in &reach {
        if !from.contains(*module) || found.iter().any(|c| c.contains(*module)) {
            continue;
        }
        let component: BTreeSet<Module> = from
            .iter()
            .filter(|other| reach.get(other).is_some_and(|r| r.contains(*module)))
            .cloned()
            .collect();
        found.push(component);
    }
    found
}

fn describe(edges: &BTreeMap<Module, BTreeMap<Module, usize>>, cycle: &BTreeSet<Module>) -> String {
    let name = |m: &Module| {
        if m.is_empty() {
            "crate".into()
        } else {
            m.join("::")
        }
    };
    let mut text = String::new();
    for from in cycle {
        for to in edges[from].keys().filter(|to| cycle.contains(*to)) {
            text.push_str(&format!("\n  {} -> {}", name(from), name(to)));
        }
    }
    text
}

#[test]
fn no_crate_has_an_import_circle() {
    let mut found = Vec::new();
    for krate in ["backend/src", "shared/src", "frontend/src"] {
        let edges = graph(&common::root().join(krate));
        assert!(edges.len() > 5, "{krate}: no modules found");
        for cycle in cycles(&edges) {
            found.push(format!("{krate}:{}", describe(&edges, &cycle)));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_circle_when_there_is_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").expect("write");
    std::fs::write(src.join("a.rs"), "use crate::b::Thing;\n").expect("write");
    std::fs::write(
        src.join("b.rs"),
        "use super::{c::Other, a};\n// crate::c in a comment\n",
    )
    .expect("write");
    std::fs::write(
        src.join("c.rs"),
        "pub struct Other;\n#[cfg(test)]\nmod tests {\n    use crate::a::X;\n}\n",
    )
    .expect("write");
    let edges = graph(src);
    let found = cycles(&edges);
    assert_eq!(found.len(), 1, "{edges:?}");
    let names: Vec<String> = found[0].iter().map(|m| m.join("::")).collect();
    assert_eq!(names, ["a", "b"]);
    // c's test module names a, but test code does not count.
    assert!(!edges[&vec!["c".to_string()]].contains_key(&vec!["a".to_string()]));
}
