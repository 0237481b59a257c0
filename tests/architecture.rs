//! Architecture conformance: the layers depend only in the allowed
//! directions (read from `cargo metadata`, each crate's normal (non-dev)
//! dependency closure), and inside each crate no modules import each
//! other in a loop (read from the source, see [`module_graph`]).

#[path = "architecture/module_graph.rs"]
mod module_graph;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use cargo_metadata::{DependencyKind, MetadataCommand, PackageId};

struct Graph {
    names: HashMap<PackageId, String>,
    edges: HashMap<PackageId, Vec<PackageId>>,
    by_name: HashMap<String, PackageId>,
}

fn graph() -> Graph {
    let metadata = MetadataCommand::new()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .exec()
        .expect("cargo metadata runs");
    let resolve = metadata
        .resolve
        .clone()
        .expect("a resolved dependency graph");
    let names: HashMap<_, _> = metadata
        .packages
        .iter()
        .map(|p| (p.id.clone(), p.name.to_string()))
        .collect();
    let edges = resolve
        .nodes
        .iter()
        .map(|node| {
            let deps = node
                .deps
                .iter()
                .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal))
                .map(|d| d.pkg.clone())
                .collect();
            (node.id.clone(), deps)
        })
        .collect();
    let by_name = metadata
        .workspace_packages()
        .iter()
        .map(|p| (p.name.to_string(), p.id.clone()))
        .collect();
    Graph {
        names,
        edges,
        by_name,
    }
}

impl Graph {
    fn closure(&self, crate_name: &str) -> BTreeSet<String> {
        let start = self
            .by_name
            .get(crate_name)
            .unwrap_or_else(|| panic!("{crate_name} is a workspace member"));
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(id) = stack.pop() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                if seen.insert(self.names[dep].clone()) {
                    stack.push(dep.clone());
                }
            }
        }
        seen
    }

    fn direct(&self, crate_name: &str) -> BTreeSet<String> {
        let id = &self.by_name[crate_name];
        self.edges[id]
            .iter()
            .map(|d| self.names[d].clone())
            .collect()
    }
}

fn assert_free_of(graph: &Graph, krate: &str, forbidden: &[&str]) {
    let closure = graph.closure(krate);
    let violations: Vec<_> = forbidden
        .iter()
        .filter(|f| {
            closure
                .iter()
                .any(|c| c == *f || (f.ends_with('*') && c.starts_with(f.trim_end_matches('*'))))
        })
        .collect();
    assert!(
        violations.is_empty(),
        "{krate} must not depend (even transitively) on {violations:?}"
    );
}

#[test]
fn domain_knows_no_runtime_format_http_or_driver() {
    let g = graph();
    assert_free_of(
        &g,
        "strata-domain",
        &[
            "tokio", "serde", "actix*", "redis", "memcache", "moka", "strata-*",
        ],
    );
}

#[test]
fn application_depends_on_the_domain_only() {
    let g = graph();
    assert_free_of(
        &g,
        "strata-application",
        &[
            "strata-infrastructure",
            "strata-presentation",
            "actix*",
            "redis",
            "memcache",
            "moka",
            "serde",
            "tokio",
        ],
    );
    let workspace_deps: Vec<_> = g
        .direct("strata-application")
        .into_iter()
        .filter(|d| d.starts_with("strata-"))
        .collect();
    assert_eq!(workspace_deps, vec!["strata-domain".to_owned()]);
}

/// Server frameworks: a crate that depends on one serves a protocol.
const SERVERS: &[&str] = &["actix*", "tonic*", "axum*", "warp", "tiny_http"];

/// Protocol clients and wire formats: a crate that depends on one speaks
/// a protocol or a serialization format (as a client, or to store data).
const PROTOCOL_CLIENTS_AND_FORMATS: &[&str] = &[
    "reqwest",
    "hyper",
    "prost",
    "serde_json",
    "rmp-serde",
    "redis",
    "memcache",
    "lapin",
];

#[test]
fn domain_and_application_speak_no_protocol_and_no_wire_format() {
    let g = graph();
    for krate in ["strata-domain", "strata-application"] {
        assert_free_of(&g, krate, SERVERS);
        assert_free_of(&g, krate, PROTOCOL_CLIENTS_AND_FORMATS);
    }
}

#[test]
fn presentation_does_not_know_the_adapters() {
    let g = graph();
    // Nor the drivers the inbound invalidation-event consumers use (they
    // live in the root package's `src/inbound/`).
    assert_free_of(
        &g,
        "strata-presentation",
        &[
            "strata-infrastructure",
            "redis",
            "memcache",
            "moka",
            "lapin",
            "reqwest",
        ],
    );
}

/// Only presentation serves a protocol (the root package binds its
/// listeners); infrastructure may speak one as a client (Redis, Memcached,
/// the task cache's HTTP client) and write wire formats (prost, JSON,
/// MessagePack), but serves none.
///
/// tonic (and, through its feature-unified router, axum) reaches
/// infrastructure only through `bazel-remote-apis`, whose
/// message types (one REAPI `ActionResult`) it decodes: so tonic may be in
/// its closure but not among its direct dependencies, and its source names
/// no tonic item and no generated `*_server` module.
#[test]
fn infrastructure_serves_no_protocol() {
    let g = graph();
    // Not the whole of SERVERS: cargo unifies features, so the tonic that
    // presentation serves with (its router on axum) is the one
    // `bazel-remote-apis` brings here too.
    assert_free_of(&g, "strata-infrastructure", &["actix*"]);
    assert_free_of(&g, "strata-infrastructure", &["strata-presentation"]);
    let direct_servers: Vec<String> = g
        .direct("strata-infrastructure")
        .into_iter()
        .filter(|d| {
            SERVERS
                .iter()
                .any(|s| d.starts_with(s.trim_end_matches('*')))
        })
        .collect();
    assert!(
        direct_servers.is_empty(),
        "strata-infrastructure must not depend directly on a server framework: {direct_servers:?}"
    );
    let mut named = Vec::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/infrastructure/src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("source directory reads") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source file reads");
                for needle in ["tonic::", "_server::", "actix_web::", "HttpServer"] {
                    if text.contains(needle) {
                        named.push(format!("{} names {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        named.is_empty(),
        "infrastructure serves no protocol:\n{}",
        named.join("\n")
    );
}

/// The inbound adapters (invalidation-event consumers) drive the
/// application from the root package: no library crate knows AMQP.
#[test]
fn only_the_root_package_knows_the_inbound_drivers() {
    let g = graph();
    for krate in [
        "strata-domain",
        "strata-application",
        "strata-infrastructure",
        "strata-presentation",
    ] {
        assert_free_of(&g, krate, &["lapin"]);
    }
}

#[test]
fn no_modules_import_each_other_in_a_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut loops = Vec::new();
    for src in [
        "src",
        "crates/domain/src",
        "crates/application/src",
        "crates/infrastructure/src",
        "crates/presentation/src",
        "crates/testkit/src",
    ] {
        for cycle in module_graph::ModuleGraph::read(&root.join(src)).cycles() {
            loops.push(format!("{src}: {}", cycle.join(" <-> ")));
        }
    }
    assert!(
        loops.is_empty(),
        "module cycles (move the shared types down into their own module):\n{}",
        loops.join("\n")
    );
}

/// Inside strata-presentation the faces never import each other: `http`,
/// `grpc` and `console` build on `edge`, and `edge` imports no face
/// (STYLE.md, "Presentation in wings").
#[test]
fn presentation_faces_never_import_each_other() {
    const FACES: [&str; 3] = ["http", "grpc", "console"];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/presentation/src");
    let wing = |module: &str| module.split("::").next().unwrap_or_default().to_owned();
    let mut found = Vec::new();
    for (from, targets) in module_graph::ModuleGraph::read(&src).edges() {
        let from_wing = wing(&from);
        for to in targets {
            let to_wing = wing(&to);
            let to_a_face = FACES.contains(&to_wing.as_str());
            let face_to_other_face = FACES.contains(&from_wing.as_str()) && to_wing != from_wing;
            if to_a_face && (from_wing == "edge" || face_to_other_face) {
                found.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "presentation wings import across faces (move what both need into edge/):\n{}",
        found.join("\n")
    );
}

/// Lines of a source file before its first `#[cfg(test)]` (its test
/// module may add more).
const MAX_LINES_BEFORE_TESTS: usize = 800;

/// No file under `src/` or `crates/*/src/` has more than
/// [`MAX_LINES_BEFORE_TESTS`] lines before its test module: a file that
/// grows past it is split by role (as the disk store was).
#[test]
fn no_source_file_is_a_room_of_its_own() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("source directory reads") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    for krate in std::fs::read_dir(root.join("crates")).expect("crates/ reads") {
        let src = krate.expect("crate entry").path().join("src");
        if src.is_dir() {
            walk(&src, &mut files);
        }
    }
    let mut too_long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).expect("source file reads");
            let lines = text
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .count();
            (lines > MAX_LINES_BEFORE_TESTS).then(|| {
                format!(
                    "{} ({lines} lines)",
                    file.strip_prefix(root).unwrap_or(file).display()
                )
            })
        })
        .collect();
    too_long.sort();
    assert!(
        too_long.is_empty(),
        "files over {MAX_LINES_BEFORE_TESTS} lines before their tests:\n{}",
        too_long.join("\n")
    );
}
