//! The files for Prometheus users (`deploy/prometheus/`): the alerting
//! rules pass `promtool check rules` and their unit tests pass
//! `promtool test rules`, one case where each alert fires and one where it
//! does not. Without `promtool` (Debian's `prometheus` package) the tests
//! are skipped with a notice, or fail under `STRATA_REQUIRE_SERVERS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_testkit::{find_client, require};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `promtool` with `args` in the repository's root; panics with its
/// output unless it exits with 0.
fn promtool(promtool: &Path, args: &[&str]) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(root())
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {} exited with {}:\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alerting_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(bin) = require(find_client("promtool")) else {
        return;
    };
    promtool(&bin, &["check", "rules", "deploy/prometheus/alerts.yml"]);
    promtool(
        &bin,
        &["test", "rules", "deploy/prometheus/alerts_test.yml"],
    );
}

#[test]
fn every_alert_has_a_unit_test_a_for_a_severity_and_annotations() {
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(root().join("deploy/prometheus/alerts_test.yml")).unwrap();
    let doc = &yaml_rust2::YamlLoader::load_from_str(&rules).unwrap()[0];
    let tested = &yaml_rust2::YamlLoader::load_from_str(&tests).unwrap()[0];
    let mut alerts = 0;
    for group in doc["groups"].as_vec().expect("groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            let name = rule["alert"].as_str().expect("only alerting rules");
            alerts += 1;
            assert!(rule["for"].as_str().is_some(), "{name}: for");
            assert!(
                ["info", "warning", "critical"]
                    .contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
                "{name}: labels.severity"
            );
            for field in ["summary", "description"] {
                assert!(
                    rule["annotations"][field].as_str().is_some(),
                    "{name}: annotations.{field}"
                );
            }
            // One evaluation where it fires and one where it does not.
            let cases: Vec<_> = tested["tests"]
                .as_vec()
                .unwrap()
                .iter()
                .flat_map(|t| t["alert_rule_test"].as_vec().cloned().unwrap_or_default())
                .filter(|c| c["alertname"].as_str() == Some(name))
                .collect();
            let firing =
                |c: &yaml_rust2::Yaml| c["exp_alerts"].as_vec().is_some_and(|a| !a.is_empty());
            assert!(cases.iter().any(firing), "{name}: no case where it fires");
            assert!(
                cases.iter().any(|c| !firing(c)),
                "{name}: no case where it stays quiet"
            );
        }
    }
    assert!(alerts >= 9, "{alerts} alerts");
}
