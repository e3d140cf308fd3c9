//! The runtime's layout rules (DESIGN.md §2), checked rather than remembered: no import
//! cycles between its files, and no file much over 800 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["server", "call"]`) → file.
type Modules = BTreeMap<Vec<String>, PathBuf>;

fn modules(root: &Path) -> Modules {
    let mut out = Modules::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .expect("under src")
                .with_extension("");
            let mut module: Vec<String> = rel
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            out.insert(module, path);
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let prefix = &tree[..open];
    let body = &tree[open + 1..tree.len() - 1];
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// Where the path of the next `use` item begins (just after `use `).
fn find_use(source: &str) -> Option<usize> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let item = ["pub(crate) ", "pub(super) ", "pub ", ""]
            .iter()
            .find_map(|vis| trimmed.strip_prefix(vis)?.strip_prefix("use "));
        if let Some(item) = item {
            return Some(offset + line.len() - item.len());
        }
        offset += line.len();
    }
    None
}

/// The files `module` imports from (`use crate::…`, `use super::…`), outside its tests.
fn imports(module: &[String], file: &Path, modules: &Modules) -> BTreeSet<Vec<String>> {
    let source = std::fs::read_to_string(file).expect("read file");
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    let mut rest = source;
    // Each `use` item starts a line, after an optional visibility.
    while let Some(at) = find_use(rest) {
        let end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        let tree: String = rest[at..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        rest = &rest[end..];
        for path in expand(&tree) {
            let segments: Vec<&str> = path.split("::").collect();
            let mut target: Vec<String> = match segments[0] {
                "crate" => Vec::new(),
                "super" => module[..module.len().saturating_sub(1)].to_vec(),
                "self" => module.to_vec(),
                _ => continue,
            };
            let mut rest = &segments[1..];
            while rest.first() == Some(&"super") {
                target.pop();
                rest = &rest[1..];
            }
            target.extend(rest.iter().map(|s| s.to_string()));
            // The longest prefix that is a file of its own.
            while !target.is_empty() && !modules.contains_key(&target) {
                target.pop();
            }
            let is_parent = target.len() < module.len() && module.starts_with(&target);
            if !target.is_empty() && target != module && !is_parent {
                out.insert(target);
            }
        }
    }
    out
}

#[test]
fn the_runtime_has_no_import_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&root);
    let graph: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> = modules
        .iter()
        .map(|(m, file)| (m, imports(m, file, &modules)))
        .collect();
    // A cycle exists iff some module reaches itself.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut stack: Vec<(Vec<String>, Vec<String>)> = graph[start]
            .iter()
            .map(|next| (next.clone(), vec![start.join("/"), next.join("/")]))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            if &at == *start {
                cycles.push(path.join(" -> "));
                break;
            }
            if !seen.insert(at.clone()) {
                continue;
            }
            for next in graph.get(&at).into_iter().flatten() {
                let mut longer = path.clone();
                longer.push(next.join("/"));
                stack.push((next.clone(), longer));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    // The checker itself: two files importing each other are found.
    let dir = std::env::temp_dir().join(format!("rgrpc-layout-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "mod b;\nmod c;\n").unwrap();
    std::fs::write(dir.join("a/b.rs"), "use super::c::{X, Y};\n").unwrap();
    std::fs::write(dir.join("a/c.rs"), "use crate::a::b::Z;\n").unwrap();
    let modules = modules(&dir);
    let b = vec!["a".to_owned(), "b".to_owned()];
    let c = vec!["a".to_owned(), "c".to_owned()];
    assert_eq!(
        imports(&b, &modules[&b], &modules),
        BTreeSet::from([c.clone()])
    );
    assert_eq!(imports(&c, &modules[&c], &modules), BTreeSet::from([b]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_runtime_file_is_much_over_800_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let too_long: Vec<String> = modules(&root)
        .values()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).ok()?.lines().count();
            // Generated code (health, reflection messages) is exempt.
            let generated = file.components().any(|c| c.as_os_str() == "gen");
            (lines > 900 && !generated).then(|| format!("{}: {lines} lines", file.display()))
        })
        .collect();
    assert!(too_long.is_empty(), "split these files: {too_long:?}");
}
