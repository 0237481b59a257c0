//! The module graph inside each crate, read from the source text: which
//! module names which other module (in `use` trees and in inline
//! `crate::`/`super::` paths), so a test can assert that no modules import
//! each other in a loop (STYLE.md: "shared types move down into their own
//! module").
//!
//! - A file is a module: `src/lib.rs` is the root (``), `src/a/mod.rs` and
//!   `src/a.rs` are `a`, `src/a/b.rs` is `a::b`.
//! - A path resolves to the longest known module prefix, then through that
//!   module's `pub use` re-exports (`crate::PolicyStore` resolves to the
//!   module that defines it, not to `lib.rs`).
//! - A parent naming its own descendants (`mod child; pub use
//!   child::Thing`) is how Rust declares modules, not a dependency, so
//!   edges from a module to its descendants are left out.
//! - Code after the first `#[cfg(test)]` of a file is left out: test
//!   modules may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One crate's modules and the edges between them.
pub(crate) struct ModuleGraph {
    /// Module path (`a::b`, root is ``) -> the paths it names, each as
    /// segments relative to the crate root.
    named: BTreeMap<String, Vec<Vec<String>>>,
    /// Module path -> re-exported name -> the path it re-exports.
    reexports: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src`.
    pub(crate) fn read(src: &Path) -> Self {
        let mut files = Vec::new();
        collect_rs(src, &mut files);
        let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
        let mut named = BTreeMap::new();
        let mut reexports = BTreeMap::new();
        for file in &files {
            let module = module_of(src, file);
            let text = fs::read_to_string(file).expect("source file reads");
            let text = strip(&text);
            let mut paths = Vec::new();
            let mut exported = BTreeMap::new();
            for (is_pub, tree) in use_statements(&text) {
                for path in expand(&tree) {
                    let Some(abs) = absolute(&module, &modules, &path) else {
                        continue;
                    };
                    if is_pub
                        && let Some(last) = abs.last()
                        && last != "*"
                        && last != "self"
                    {
                        exported.insert(last.clone(), abs.clone());
                    }
                    paths.push(abs);
                }
            }
            for path in inline_paths(&text) {
                if let Some(abs) = absolute(&module, &modules, &path) {
                    paths.push(abs);
                }
            }
            named.insert(module.clone(), paths);
            reexports.insert(module, exported);
        }
        Self { named, reexports }
    }

    /// The module a crate-relative path lands in, following re-exports.
    fn resolve(&self, path: &[String]) -> String {
        let mut path: Vec<String> = path.iter().filter(|s| *s != "self").cloned().collect();
        for _ in 0..16 {
            let (module, rest) = self.longest_module(&path);
            let Some(next) = rest.first() else {
                return module;
            };
            match self.reexports.get(&module).and_then(|m| m.get(next)) {
                Some(target) if target.as_slice() != path.as_slice() => {
                    let mut followed = target.clone();
                    followed.extend(rest[1..].iter().cloned());
                    path = followed;
                }
                _ => return module,
            }
        }
        self.longest_module(&path).0
    }

    fn longest_module<'p>(&self, path: &'p [String]) -> (String, &'p [String]) {
        for n in (0..=path.len()).rev() {
            let candidate = path[..n].join("::");
            if self.named.contains_key(&candidate) {
                return (candidate, &path[n..]);
            }
        }
        (String::new(), path)
    }

    /// Module -> the modules it depends on (not itself, not its descendants).
    pub(crate) fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.named
            .iter()
            .map(|(from, paths)| {
                let targets = paths
                    .iter()
                    .map(|p| self.resolve(p))
                    .filter(|to| to != from && !is_descendant(to, from))
                    .collect();
                (from.clone(), targets)
            })
            .collect()
    }

    /// Every loop of modules, each as the modules of one strongly connected
    /// component (Tarjan, 1972), sorted.
    pub(crate) fn cycles(&self) -> Vec<Vec<String>> {
        let edges = self.edges();
        let mut tarjan = Tarjan::default();
        for node in edges.keys() {
            if !tarjan.index.contains_key(node) {
                tarjan.visit(node, &edges);
            }
        }
        tarjan.components.retain(|c| c.len() > 1);
        for c in &mut tarjan.components {
            c.sort();
        }
        tarjan.components.sort();
        tarjan.components
    }
}

#[derive(Default)]
struct Tarjan {
    next: usize,
    index: BTreeMap<String, usize>,
    low: BTreeMap<String, usize>,
    stack: Vec<String>,
    on_stack: BTreeSet<String>,
    components: Vec<Vec<String>>,
}

impl Tarjan {
    fn visit(&mut self, node: &str, edges: &BTreeMap<String, BTreeSet<String>>) {
        self.index.insert(node.to_owned(), self.next);
        self.low.insert(node.to_owned(), self.next);
        self.next += 1;
        self.stack.push(node.to_owned());
        self.on_stack.insert(node.to_owned());
        for to in edges.get(node).into_iter().flatten() {
            if !self.index.contains_key(to) {
                self.visit(to, edges);
                let low = self.low[node].min(self.low[to]);
                self.low.insert(node.to_owned(), low);
            } else if self.on_stack.contains(to) {
                let low = self.low[node].min(self.index[to]);
                self.low.insert(node.to_owned(), low);
            }
        }
        if self.low[node] == self.index[node] {
            let mut component = Vec::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack.remove(&top);
                let done = top == node;
                component.push(top);
                if done {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

fn is_descendant(module: &str, ancestor: &str) -> bool {
    ancestor.is_empty() && !module.is_empty() || module.starts_with(&format!("{ancestor}::"))
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("source dir reads")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut segments: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        segments.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segments.pop();
    }
    segments.join("::")
}

/// The source without comments, string and char literal contents, and
/// test code.
fn strip(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident_before = |i: usize| i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && !ident_before(i) && matches!(next, Some('#' | '"')) {
            // Raw string r#"..."#: ends at a quote followed by as many hashes.
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            j += 1;
            while j < chars.len()
                && !(chars[j] == '"' && (1..=hashes).all(|h| chars.get(j + h) == Some(&'#')))
            {
                j += 1;
            }
            out.push_str("\"\"");
            i = j + 1 + hashes;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // A char literal with an escape: '\n', '\'', '\u{..}'.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Each `use` statement's tree text, and whether it is a re-export
/// (`pub use`, `pub(crate) use`, ...).
fn use_statements(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = find_word(rest, "use") {
        let before = rest[..at].trim_end();
        let is_statement_start = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('}')
            || before.ends_with('{')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with(')');
        let is_pub = before.ends_with("pub")
            || before.ends_with("pub(crate)")
            || before.ends_with("pub(super)");
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else { break };
        if is_statement_start {
            out.push((is_pub, after[..end].trim().to_owned()));
        }
        rest = &after[end..];
    }
    out
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before_ok = at == 0 || !is_ident(bytes[at - 1]);
        let after_ok = bytes.get(at + word.len()).is_none_or(|b| !is_ident(*b));
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `a::{b, c::{d, e as f}}` -> `[a,b]`, `[a,c,d]`, `[a,c,e]`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    expand_into(&tree, &mut Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim().trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let depth = prefix.len();
        prefix.extend(segments(&tree[..open]));
        for part in split_top_level(inner) {
            expand_into(part, prefix, out);
        }
        prefix.truncate(depth);
    } else if !tree.is_empty() {
        let item = tree.split(" as ").next().unwrap_or(tree);
        let mut path = prefix.clone();
        path.extend(segments(item));
        out.push(path);
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn split_top_level(inner: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// `crate::a::b` and `super::x` paths written inline in code.
fn inline_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (is_ident(text.as_bytes()[at - 1]) || text.as_bytes()[at - 1] == b':') {
                continue;
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(segments(&path));
        }
    }
    out
}

/// A `use` path made crate-relative; `None` for external crates and std.
fn absolute(module: &str, modules: &BTreeSet<String>, path: &[String]) -> Option<Vec<String>> {
    let here: Vec<String> = segments(module);
    let first = path.first()?;
    let mut abs = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.clone(),
        "super" => {
            let mut base = here.clone();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        child => {
            let mut candidate = here.clone();
            candidate.push(child.to_owned());
            if modules.contains(&candidate.join("::")) {
                let mut abs = here.clone();
                abs.extend(path.iter().cloned());
                return Some(abs);
            }
            return None;
        }
    };
    abs.extend(path[1..].iter().cloned());
    Some(abs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_trees_expand_to_every_path() {
        let paths = expand("crate::{a::{self, B}, c::D as E, f}");
        assert_eq!(
            paths,
            vec![
                vec!["crate", "a", "self"],
                vec!["crate", "a", "B"],
                vec!["crate", "c", "D"],
                vec!["crate", "f"],
            ]
        );
    }

    #[test]
    fn a_loop_between_siblings_is_found_and_parent_child_is_not() {
        let dir = tempfile_dir();
        let src = dir.join("src");
        fs::create_dir_all(src.join("w")).unwrap();
        fs::write(
            src.join("lib.rs"),
            "mod a;\nmod b;\nmod w;\npub use w::T;\n",
        )
        .unwrap();
        fs::write(src.join("a.rs"), "use crate::b::X;\npub struct Y;\n").unwrap();
        fs::write(src.join("b.rs"), "pub struct X;\nfn f() { crate::a::Y; }\n").unwrap();
        fs::write(src.join("w/mod.rs"), "mod t;\npub use t::T;\n").unwrap();
        fs::write(
            src.join("w/t.rs"),
            "use super::super::a::Y;\npub struct T;\n",
        )
        .unwrap();
        let graph = ModuleGraph::read(&src);
        assert_eq!(graph.cycles(), vec![vec!["a".to_owned(), "b".to_owned()]]);
        assert!(graph.edges()["w::t"].contains("a"));
        // `crate::T` resolves through two re-exports to `w::t`.
        assert_eq!(graph.resolve(&segments("T")), "w::t");
        fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("strata-module-graph-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
