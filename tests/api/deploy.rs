//! The deploy files, checked statically (no Docker engine or cluster runs
//! in CI): the YAML parses, the Kubernetes manifests and the Compose file
//! carry what an operator relies on (limits, probes, secrets by
//! reference, a disruption budget, an autoscaler, two instances behind
//! nginx), the Dockerfile builds with the command `.ci/run` runs, and the
//! mounted configuration loads with its secrets supplied from outside.
//!
//! Issue 26 item 23, "the deploy files must run as shipped": the
//! Dockerfile's `docker run` example starts a server from what it names
//! alone; nginx passes every blob the build cache accepts; the Redis
//! holding the cache configurations never evicts; the Kubernetes image
//! says how to get it into the cluster; and HTTP/2 over TLS is built in
//! when the docs promise it (tests/api/tls.rs checks the negotiation).

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
    let config_backend = settings
        .cluster
        .config_backend
        .as_deref()
        .expect("instances share their run-time configurations through Redis");
    assert!(settings.backends.contains_key(config_backend));
    let auth = settings.auth.expect("API keys");
    assert_eq!(auth.api_keys.len(), 2);
}

/// A Dockerfile's instructions, continuation lines joined, comments out.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines().map(str::trim) {
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The `KEY=VALUE` pairs of the Dockerfile's `ENV` instructions.
fn dockerfile_env(dockerfile: &str) -> Vec<(String, String)> {
    instructions(dockerfile)
        .iter()
        .filter_map(|i| i.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The command of the Dockerfile's comment example that starts with
/// `prefix` (`docker run`), continuation lines joined.
fn example(dockerfile: &str, prefix: &str) -> String {
    let mut lines = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(str::trim)
        .skip_while(|l| !l.starts_with(prefix));
    let mut command = String::new();
    for line in lines.by_ref() {
        match line.strip_suffix('\\') {
            Some(head) => command.push_str(head),
            None => {
                command.push_str(line);
                return command;
            }
        }
    }
    panic!("no `{prefix}` example in the Dockerfile")
}

/// Shell words of `command`: split on blanks outside quotes and `$(...)`.
fn shell_words(command: &str) -> Vec<String> {
    let (mut words, mut word) = (Vec::new(), String::new());
    let (mut depth, mut quote) = (0usize, None::<char>);
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if chars.peek() == Some(&'(') => depth += 1,
            (None, ')') if depth > 0 => depth -= 1,
            (None, c) if c.is_whitespace() && depth == 0 => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `STRATA__AUTH__API_KEYS__APP__SHA256` as the figment key
/// `auth.api_keys.app.sha256`, as `Settings::load` reads the environment.
fn settings_key(var: &str) -> Option<String> {
    var.strip_prefix("STRATA__").map(|k| {
        k.split("__")
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(".")
    })
}

/// `host:port` with the port replaced by 0, keeping the host (and so
/// protected mode's view of it).
fn any_port(listen: &str) -> String {
    let (host, _) = listen.rsplit_once(':').expect("host:port");
    format!("{host}:0")
}

/// Issue 26 item 23: the Dockerfile's own `docker run` example mounted
/// deploy/strata.toml, which needs API key digests it did not pass and a
/// `redis` host a lone container does not have. What the line names alone
/// (its `-e` variables, its `-v` files or the image's own configuration)
/// must start a server.
#[tokio::test]
async fn the_dockerfile_docker_run_example_starts_a_server_from_what_it_names() {
    let docker = read("Dockerfile");
    let build = shell_words(&example(&docker, "docker build"));
    let tag = build
        .iter()
        .position(|w| w == "-t")
        .map(|i| build[i + 1].clone())
        .expect("docker build -t <image>");
    let run = shell_words(&example(&docker, "docker run"));
    let (mut env, mut mounts, mut image) = (Vec::new(), Vec::new(), None);
    let mut words = run.iter().skip(2);
    while let Some(word) = words.next() {
        match word.as_str() {
            "-e" | "--env" => {
                let pair = words.next().expect("-e KEY=VALUE");
                let (k, v) = pair.split_once('=').expect("-e KEY=VALUE");
                env.push((k.to_owned(), v.to_owned()));
            }
            "-v" | "--volume" => {
                let spec = words.next().expect("-v HOST:CONTAINER");
                let mut parts = spec.split(':');
                let host = parts.next().unwrap().trim_start_matches("$PWD/");
                let container = parts.next().expect("-v HOST:CONTAINER").to_owned();
                assert!(root().join(host).is_file(), "{host}, mounted, must exist");
                mounts.push((container, root().join(host)));
            }
            "-p" | "--publish" | "--name" => drop(words.next()),
            w if w.starts_with('-') => {}
            w => {
                image = Some(w.to_owned());
                break;
            }
        }
    }
    assert_eq!(image.as_deref(), Some(tag.as_str()), "runs the image built");

    // The environment the container sees: the image's, then the line's.
    let mut vars = dockerfile_env(&docker);
    vars.extend(env);
    let config_path = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "STRATA_CONFIG")
        .map(|(_, v)| v.clone())
        .expect("STRATA_CONFIG");
    let copied = instructions(&docker)
        .iter()
        .filter_map(|i| i.strip_prefix("COPY "))
        .filter(|args| !args.starts_with("--"))
        .find_map(|args| {
            let (src, dst) = args.split_once(' ')?;
            (dst.trim() == config_path).then(|| root().join(src))
        });
    let file = mounts
        .into_iter()
        .find(|(container, _)| *container == config_path)
        .map(|(_, host)| host)
        .or(copied)
        .expect("the configuration is mounted or in the image");

    let mut figment =
        Figment::from(Serialized::defaults(Settings::default())).merge(Toml::file(&file));
    for (var, value) in &vars {
        let Some(key) = settings_key(var) else {
            continue;
        };
        // A value the shell computes: stand in a well-formed one.
        let value = if !value.contains('$') {
            value.clone()
        } else if var.ends_with("__SHA256") {
            "c".repeat(64)
        } else {
            panic!("{var}={value}: no stand-in for a computed value")
        };
        figment = figment.merge(Serialized::default(&key, value));
    }
    let mut settings: Settings = figment
        .extract()
        .unwrap_or_else(|e| panic!("{} with the line's variables: {e}", file.display()));
    assert!(
        settings.backends.is_empty(),
        "a lone container has no Redis or Memcached to reach: {:?}",
        settings.backends.keys().collect::<Vec<_>>()
    );
    settings.server.listen = any_port(&settings.server.listen);
    settings.server.grpc_listen = any_port(&settings.server.grpc_listen);
    settings.server.shutdown_timeout_secs = 1;
    let app = strata::Application::build(settings)
        .await
        .unwrap_or_else(|e| panic!("the docker run example does not start: {e:#}"));
    drop(app);
}

/// nginx's `client_max_body_size` in bytes (`0` is no limit).
fn nginx_body_limit(conf: &str) -> u64 {
    let value = conf
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("client_max_body_size "))
        .expect("client_max_body_size")
        .trim_end_matches(';')
        .to_lowercase();
    let (digits, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let n: u64 = digits.parse().expect("a size");
    match unit {
        "" => n,
        "k" => n << 10,
        "m" => n << 20,
        "g" => n << 30,
        other => panic!("unit {other:?}"),
    }
}

/// Issue 26 item 23: nginx's 64m was below the build cache's blob limit
/// (1 GiB by default), so it answered 413 to blobs Strata accepts.
#[test]
fn nginx_passes_every_blob_the_build_cache_accepts() {
    let settings = settings_with_secrets(&root().join("deploy/strata.toml"));
    let build_cache = &settings.build_cache;
    let blob_limit = build_cache
        .max_blob_bytes
        .unwrap_or(strata_infrastructure::DEFAULT_MAX_BLOB_BYTES)
        .min(build_cache.max_bytes);
    let nginx = nginx_body_limit(&read("deploy/nginx.conf"));
    assert!(
        nginx == 0 || nginx >= blob_limit,
        "nginx client_max_body_size {nginx} is below the build cache's blob limit {blob_limit}"
    );
}

/// Issue 26 item 23: the compose Redis holding the cache configurations
/// ran `allkeys-lru`, which may delete them. The Redis that
/// `[cluster] config_backend` names must run `noeviction`.
#[test]
fn the_redis_holding_the_configurations_never_evicts() {
    let settings = settings_with_secrets(&root().join("deploy/strata.toml"));
    let name = settings.cluster.config_backend.expect("config_backend");
    let url = match &settings.backends[&name] {
        strata::config::BackendSettings::Redis { url, .. } => url.clone(),
        other => panic!("[backends.{name}] is no Redis: {other:?}"),
    };
    let host = url
        .trim_start_matches("redis://")
        .split([':', '/'])
        .next()
        .expect("a host")
        .to_owned();
    let compose = yaml("deploy/compose.yaml");
    let command: Vec<&str> = at(&compose, &["services", &host, "command"])
        .as_vec()
        .unwrap_or_else(|| panic!("compose service {host} (of {url}) with a command list"))
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let policy = command
        .iter()
        .position(|w| *w == "--maxmemory-policy")
        .map(|i| command[i + 1]);
    assert_eq!(
        policy,
        Some("noeviction"),
        "service {host} holds the configurations: {command:?}"
    );
    for instance in ["strata-a", "strata-b"] {
        assert!(
            !at(&compose, &["services", instance, "depends_on", &host]).is_badvalue(),
            "{instance} waits for {host}"
        );
    }
}

/// Issue 26 item 23: the Deployment named `strata:latest`, which no
/// registry has, with no word on building or loading it; with `latest`
/// Kubernetes pulls it by default and the pods never start.
#[test]
fn the_kubernetes_image_says_how_to_build_and_load_it() {
    let text = read("deploy/k8s/deployment.yaml");
    let d = yaml("deploy/k8s/deployment.yaml");
    let c = at(&d, &["spec", "template", "spec", "containers", "0"]);
    let image = text_of(c, "image");
    let name = image.split(':').next().unwrap_or(image);
    if !name.contains('/') {
        assert!(
            matches!(
                at(c, &["imagePullPolicy"]).as_str(),
                Some("IfNotPresent" | "Never")
            ),
            "{image} is local: imagePullPolicy IfNotPresent or Never"
        );
        for doc in [text.as_str(), read("docs/operations.md").as_str()] {
            assert!(
                doc.contains(&format!("docker build -t {image} ."))
                    && doc.contains(&format!("kind load docker-image {image}"))
                    && doc.contains(&format!("minikube image load {image}")),
                "how to build {image} and load it into kind or minikube"
            );
        }
    }
}

fn text_of<'a>(doc: &'a Yaml, key: &str) -> &'a str {
    text(doc, &[key])
}

/// Issue 26 item 23: docs/security.md promised `h2` through ALPN while
/// actix-web was built without HTTP/2, so curl got HTTP/1.1. The root
/// package must turn on actix-web's `http2` feature when the docs promise
/// it (tests/api/tls.rs checks the negotiation itself).
#[test]
fn http2_over_tls_is_built_in_when_the_docs_promise_it() {
    let promised = read("docs/security.md").contains("ALPN `h2`");
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml");
    let features: Vec<&str> = manifest["dependencies"]["actix-web"]["features"]
        .as_array()
        .expect("actix-web features")
        .iter()
        .filter_map(toml::Value::as_str)
        .collect();
    assert!(
        !promised || features.contains(&"http2"),
        "docs/security.md promises h2; actix-web features: {features:?}"
    );
}

/// Issue 26 item 2: behind the shipped nginx, the instances must trust
/// exactly nginx, and nginx must append the client to X-Forwarded-For,
/// or one bad client locks out everyone.
#[test]
fn the_instances_trust_the_shipped_nginx_and_it_forwards_the_client() {
    let c = yaml("deploy/compose.yaml");
    let nginx_ip = text(
        &c,
        &["services", "nginx", "networks", "default", "ipv4_address"],
    );
    let subnet: ipnet::IpNet = at(&c, &["networks", "default", "ipam", "config"])[0]["subnet"]
        .as_str()
        .expect("the compose network's subnet")
        .parse()
        .expect("a CIDR");
    assert!(subnet.contains(&nginx_ip.parse::<std::net::IpAddr>().expect("an address")));
    for instance in ["strata-a", "strata-b"] {
        let trusted = text(
            &c,
            &[
                "services",
                instance,
                "environment",
                "STRATA__SERVER__TRUSTED_PROXIES",
            ],
        );
        let trusted: Vec<String> = serde_json::from_str(trusted).expect("a list");
        assert_eq!(trusted, vec![nginx_ip.to_owned()], "{instance}");
    }
    let nginx = read("deploy/nginx.conf");
    assert!(
        nginx.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"),
        "nginx appends the client"
    );
    assert!(nginx.contains("proxy_set_header X-Request-Id $request_id;"));
}
