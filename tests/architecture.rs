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

#[test]
fn presentation_does_not_know_the_adapters() {
    let g = graph();
    assert_free_of(
        &g,
        "strata-presentation",
        &["strata-infrastructure", "redis", "memcache", "moka"],
    );
}

#[test]
fn infrastructure_does_not_know_http() {
    let g = graph();
    assert_free_of(
        &g,
        "strata-infrastructure",
        &["actix-web", "strata-presentation"],
    );
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

/// Inside strata-presentation the faces never import each other: `http`
/// and `grpc` build on `edge`, and `edge` imports no face (STYLE.md,
/// "Presentation in wings"). A face added later (`console`) joins
/// `FACES`.
#[test]
fn presentation_faces_never_import_each_other() {
    const FACES: [&str; 2] = ["http", "grpc"];
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
