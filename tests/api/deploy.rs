//! The deploy files, checked statically (no Docker engine or cluster runs
//! in CI): the YAML parses, the Kubernetes manifests and the Compose file
//! carry what an operator relies on (limits, probes, secrets by
//! reference, a disruption budget, an autoscaler, two instances behind
//! nginx), the Dockerfile builds with the command `.ci/run` runs, and the
//! mounted configuration loads with its secrets supplied from outside.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use strata::config::Settings;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The single YAML document of `path`.
fn yaml(path: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: one document");
    docs.remove(0)
}

/// `doc` at the path of keys (and list indexes as numbers).
fn at<'a>(doc: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter()
        .fold(doc, |node, key| match key.parse::<usize>() {
            Ok(i) => &node[i],
            Err(_) => &node[*key],
        })
}

fn text<'a>(doc: &'a Yaml, path: &[&str]) -> &'a str {
    at(doc, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is no string: {:?}", at(doc, path)))
}

/// The settings `file` yields with the secrets the deploy files take from
/// the environment, supplied as the environment would.
fn settings_with_secrets(file: &Path) -> Settings {
    let secrets = [
        ("auth.api_keys.app.sha256", "a".repeat(64)),
        ("auth.api_keys.ops.sha256", "b".repeat(64)),
        (
            "encryption.keys.k1",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ),
    ];
    let mut figment =
        Figment::from(Serialized::defaults(Settings::default())).merge(Toml::file(file));
    for (key, value) in secrets {
        figment = figment.merge(Serialized::default(key, value));
    }
    figment
        .extract()
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The lines of a TOML text that are not comments or blank.
fn settings_lines(toml: &str) -> Vec<&str> {
    toml.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn every_yaml_file_parses() {
    let mut seen = 0;
    for dir in ["deploy", "deploy/k8s"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                YamlLoader::load_from_str(&std::fs::read_to_string(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
    }
    assert!(seen >= 7, "compose and six manifests, saw {seen}");
}

#[test]
fn the_deployment_has_limits_probes_and_secrets_by_reference() {
    let d = yaml("deploy/k8s/deployment.yaml");
    assert_eq!(text(&d, &["kind"]), "Deployment");
    assert!(at(&d, &["spec", "replicas"]).as_i64().unwrap() >= 2);
    let pod = at(&d, &["spec", "template", "spec"]);
    assert_eq!(
        at(pod, &["securityContext", "runAsNonRoot"]).as_bool(),
        Some(true)
    );
    let c = at(pod, &["containers", "0"]);
    for (kind, field) in [
        ("limits", "cpu"),
        ("limits", "memory"),
        ("requests", "cpu"),
        ("requests", "memory"),
    ] {
        assert!(
            !at(c, &["resources", kind, field]).is_badvalue(),
            "resources.{kind}.{field}"
        );
    }
    assert_eq!(
        text(c, &["readinessProbe", "httpGet", "path"]),
        "/health/ready"
    );
    assert_eq!(
        text(c, &["livenessProbe", "httpGet", "path"]),
        "/health/live"
    );
    let env = at(c, &["env"]).as_vec().expect("env list");
    let secret_of = |name: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(name))
            .map(|e| text(e, &["valueFrom", "secretKeyRef", "name"]).to_owned())
    };
    for var in [
        "STRATA__AUTH__API_KEYS__APP__SHA256",
        "STRATA__AUTH__API_KEYS__OPS__SHA256",
        "STRATA__ENCRYPTION__KEYS__K1",
    ] {
        assert_eq!(
            secret_of(var).as_deref(),
            Some("strata"),
            "{var} from the Secret"
        );
    }
    assert!(
        env.iter()
            .all(|e| e["value"].as_str().is_none_or(|v| !v.contains("sha256"))),
        "no secret inline"
    );
    let volumes = at(pod, &["volumes"]).as_vec().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["configMap"]["name"].as_str() == Some("strata-config"))
    );
}

#[test]
fn service_configmap_secret_budget_and_autoscaler_are_there() {
    let s = yaml("deploy/k8s/service.yaml");
    assert_eq!(text(&s, &["kind"]), "Service");
    let ports: Vec<i64> = at(&s, &["spec", "ports"])
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|p| p["port"].as_i64())
        .collect();
    assert_eq!(ports, vec![8080, 9092]);

    let cm = yaml("deploy/k8s/configmap.yaml");
    assert_eq!(text(&cm, &["kind"]), "ConfigMap");
    let mounted = text(&cm, &["data", "strata.toml"]);
    assert_eq!(
        settings_lines(mounted),
        settings_lines(&read("deploy/strata.toml")),
        "the ConfigMap's strata.toml is deploy/strata.toml"
    );

    let secret = yaml("deploy/k8s/secret.example.yaml");
    assert_eq!(text(&secret, &["kind"]), "Secret");
    for key in ["app-key-sha256", "ops-key-sha256", "encryption-key-k1"] {
        assert!(
            text(&secret, &["stringData", key]).starts_with('<'),
            "{key} is a placeholder"
        );
    }

    let pdb = yaml("deploy/k8s/pdb.yaml");
    assert_eq!(text(&pdb, &["kind"]), "PodDisruptionBudget");
    assert!(at(&pdb, &["spec", "minAvailable"]).as_i64().unwrap() >= 1);

    let hpa = yaml("deploy/k8s/hpa.yaml");
    assert_eq!(text(&hpa, &["kind"]), "HorizontalPodAutoscaler");
    assert_eq!(text(&hpa, &["spec", "scaleTargetRef", "name"]), "strata");
    assert!(at(&hpa, &["spec", "minReplicas"]).as_i64().unwrap() >= 2);
}

#[test]
fn compose_runs_two_instances_over_redis_behind_nginx() {
    let c = yaml("deploy/compose.yaml");
    for service in ["redis", "strata-a", "strata-b", "nginx"] {
        assert!(
            !at(&c, &["services", service]).is_badvalue(),
            "service {service}"
        );
    }
    for instance in ["strata-a", "strata-b"] {
        assert_eq!(
            text(&c, &["services", instance, "build", "dockerfile"]),
            "Dockerfile"
        );
        assert!(
            !at(&c, &["services", "nginx", "depends_on", instance]).is_badvalue(),
            "nginx waits for {instance}"
        );
    }
    let nginx = read("deploy/nginx.conf");
    assert!(nginx.contains("server strata-a:8080") && nginx.contains("server strata-b:8080"));
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_health_checked() {
    let docker = read("Dockerfile");
    let lines: Vec<&str> = docker.lines().map(str::trim).collect();
    assert!(lines.iter().filter(|l| l.starts_with("FROM ")).count() >= 2);
    let user = lines
        .iter()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("HEALTHCHECK") || l.contains("/health/live"))
            && docker.contains("/health/live")
    );
    assert!(docker.contains("STRATA_CONFIG=/etc/strata/strata.toml"));
    let build = lines
        .iter()
        .find(|l| l.starts_with("RUN cargo build"))
        .expect("the build stage's cargo build");
    assert!(build.contains("--release") && build.contains("--locked"));
    // .ci/run takes the command from the Dockerfile rather than a copy.
    let ci = read(".ci/run");
    assert!(
        ci.contains("RUN cargo build") && ci.contains("Dockerfile"),
        ".ci/run runs the Dockerfile's build command"
    );
}

#[test]
fn the_mounted_configuration_loads_with_its_secrets_from_outside() {
    let settings = settings_with_secrets(&root().join("deploy/strata.toml"));
    assert_eq!(settings.server.listen, "0.0.0.0:8080");
    assert!(settings.backends.contains_key("main"));
    assert!(settings.coherence.enabled);
    assert_eq!(
        settings.cluster.config_backend.as_deref(),
        Some("main"),
        "instances share their run-time configurations through Redis"
    );
    let auth = settings.auth.expect("API keys");
    assert_eq!(auth.api_keys.len(), 2);
}
