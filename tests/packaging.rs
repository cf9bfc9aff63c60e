//! Packaging: the Helm chart (`charts/ml-operator`), the kustomize base and overlay
//! (`deploy/kustomize`), the Dockerfile, and the configuration reference (`docs/configuration.md`).
//!
//! The real `helm` (from the tool cache, installed by `scripts/install-test-deps`, or `$HELM`)
//! and the real `kubectl` render the manifests; every rendered object must deserialize as the
//! Kubernetes type it claims to be without losing a field, and the RBAC must be exactly what the
//! code needs. Installing the chart and the kustomize base on the real control plane and running
//! the operator under their RBAC is tests/e2e_chart.rs and tests/e2e_kustomize.rs.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use ml_operator::config::Config;
use ml_operator::rbac::{
    ADMIN_API, ARGOCD, HELM_RELEASES, READ_ONLY, Scope, UPGRADES, permissions,
};
use serde_json::{Value, json};
use support::repo;

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

/// The helm binary: `$HELM`, else `~/.cache/ml-operator/tools/bin/helm` (see
/// `ml_operator_testkit::tools`). Missing is a failure, not a skip.
fn helm() -> PathBuf {
    let path = ml_operator_testkit::tools::helm();
    let runs = Command::new(&path)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "helm not found at {}: run scripts/install-test-deps (it installs helm into {}), or set HELM",
        path.display(),
        ml_operator_testkit::tools::bin_dir().display()
    );
    path
}

fn chart() -> PathBuf {
    repo().join("charts/ml-operator")
}

fn all_features() -> PathBuf {
    chart().join("ci/all-features-values.yaml")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `helm template RELEASE charts/ml-operator -n NAMESPACE ARGS...`: the rendered YAML, or helm's error.
fn helm_template(release: &str, namespace: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(helm())
        .args(["template", release])
        .arg(chart())
        .args(["--namespace", namespace])
        .args(args)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(text(&output))
    }
}

fn helm_lint(args: &[&str]) -> Output {
    Command::new(helm())
        .args(["lint", "--strict"])
        .arg(chart())
        .args(args)
        .output()
        .unwrap()
}

/// `kubectl kustomize DIR`.
fn kustomize(dir: &str) -> String {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new("kubectl")
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("kustomize")
        .arg(repo().join(dir))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl kustomize {dir}: {}",
        text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The objects of a multi-document YAML stream.
fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{yaml}"))
        .into_iter()
        .filter(|o| !o.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = find(objects, kind);
    assert_eq!(found.len(), 1, "one {kind} expected, found {}", found.len());
    found[0]
}

fn describe(object: &Value) -> String {
    format!(
        "{} {}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

// ---------------------------------------------------------------------------------------------
// "Parse as the Kubernetes types they claim"
// ---------------------------------------------------------------------------------------------

/// Deserializes `object` as `T` (which checks apiVersion and kind) and serializes it back: a
/// field the type does not know (a typo, a misplaced key) is dropped, and reported.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
    object: &Value,
) -> Result<(), String> {
    let typed: T =
        serde_json::from_value(object.clone()).map_err(|e| format!("{}: {e}", describe(object)))?;
    let back = serde_json::to_value(&typed).unwrap();
    let mut lost = Vec::new();
    dropped(object, &back, "", &mut lost);
    if lost.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: fields the type does not know: {lost:?}",
            describe(object)
        ))
    }
}

/// Paths in `original` that are missing or different in `back`.
fn dropped(original: &Value, back: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => dropped(value, other, &format!("{path}.{key}"), lost),
                    None => lost.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                dropped(x, y, &format!("{path}[{i}]"), lost);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        _ => lost.push(format!("{path}: {original} became {back}")),
    }
}

/// Checks every object against its Kubernetes type; kinds without a k8s-openapi type (the
/// Prometheus Operator's ServiceMonitor) are checked by hand.
fn check_types(objects: &[Value]) {
    assert!(!objects.is_empty());
    for object in objects {
        let result = match object["kind"].as_str().unwrap() {
            "Namespace" => round_trip::<Namespace>(object),
            "ServiceAccount" => round_trip::<ServiceAccount>(object),
            "ConfigMap" => round_trip::<ConfigMap>(object),
            "Secret" => round_trip::<Secret>(object),
            "ClusterRole" => round_trip::<ClusterRole>(object),
            "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(object),
            "Role" => round_trip::<Role>(object),
            "RoleBinding" => round_trip::<RoleBinding>(object),
            "Deployment" => round_trip::<Deployment>(object),
            "Service" => round_trip::<Service>(object),
            "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(object),
            "CustomResourceDefinition" => round_trip::<CustomResourceDefinition>(object),
            "ServiceMonitor" => check_service_monitor(object),
            other => Err(format!("unexpected kind {other} in the rendered objects")),
        };
        result.unwrap();
    }
}

fn check_service_monitor(object: &Value) -> Result<(), String> {
    let known = ["apiVersion", "kind", "metadata", "spec"];
    let spec_known = ["selector", "namespaceSelector", "endpoints"];
    let endpoint_known = ["port", "path", "interval", "scrapeTimeout"];
    let ok = object["apiVersion"] == "monitoring.coreos.com/v1"
        && object
            .as_object()
            .unwrap()
            .keys()
            .all(|k| known.contains(&k.as_str()))
        && object["spec"]
            .as_object()
            .is_some_and(|s| s.keys().all(|k| spec_known.contains(&k.as_str())))
        && object["spec"]["endpoints"].as_array().is_some_and(|e| {
            e.iter().all(|e| {
                e.as_object()
                    .unwrap()
                    .keys()
                    .all(|k| endpoint_known.contains(&k.as_str()))
            })
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "not a ServiceMonitor as the Prometheus Operator defines it: {object}"
        ))
    }
}

fn typed<T: serde::de::DeserializeOwned>(object: &Value) -> T {
    serde_json::from_value(object.clone()).unwrap()
}

fn container(objects: &[Value]) -> Container {
    let deployment: Deployment = typed(one(objects, "Deployment"));
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers.len(), 1);
    pod.containers[0].clone()
}

/// The operator's config.yaml as the Deployment mounts it (the ConfigMap behind the volume).
fn mounted_config(objects: &[Value]) -> String {
    let deployment: Deployment = typed(one(objects, "Deployment"));
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let volume = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "config")
        .unwrap();
    let name = volume.config_map.unwrap().name;
    let config_map = find(objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == name.as_str())
        .unwrap();
    config_map["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// RBAC
// ---------------------------------------------------------------------------------------------

type Triple = (bool, String, String, String);

/// What the code needs, as (cluster-wide?, group, resource, verb).
fn needed(rules: &[ml_operator::rbac::Rule]) -> BTreeSet<Triple> {
    permissions(rules)
        .into_iter()
        .map(|p| {
            (
                p.scope == Scope::Cluster,
                p.group.to_string(),
                p.resource.to_string(),
                p.verb.to_string(),
            )
        })
        .collect()
}

fn triples(rules: &[PolicyRule], cluster: bool) -> BTreeSet<Triple> {
    let mut out = BTreeSet::new();
    for rule in rules {
        assert!(
            rule.non_resource_urls.is_none(),
            "no non-resource URLs: {rule:?}"
        );
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    assert!(
                        group != "*" && resource != "*" && verb != "*",
                        "no wildcards: {rule:?}"
                    );
                    out.insert((cluster, group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

/// What the rendered RBAC grants: ClusterRole rules are cluster scope (bound cluster-wide or
/// per watched namespace), Role rules the operator's own namespace.
fn granted(objects: &[Value]) -> BTreeSet<Triple> {
    let mut out = BTreeSet::new();
    for role in find(objects, "ClusterRole") {
        out.extend(triples(
            &typed::<ClusterRole>(role).rules.unwrap_or_default(),
            true,
        ));
    }
    for role in find(objects, "Role") {
        out.extend(triples(
            &typed::<Role>(role).rules.unwrap_or_default(),
            false,
        ));
    }
    out
}

#[test]
fn helm_lint_passes_with_default_values_and_with_every_feature_on() {
    for args in [vec![], vec!["-f", all_features().to_str().unwrap()]] {
        let output = helm_lint(&args);
        assert!(
            output.status.success(),
            "helm lint {args:?}: {}",
            text(&output)
        );
        assert!(
            text(&output).contains("0 chart(s) failed"),
            "{}",
            text(&output)
        );
    }
}

#[test]
fn default_render_is_read_only_non_root_and_parses_as_kubernetes_types() {
    let objects = objects(&helm_template("ml-operator", "ml-operator", &[]).unwrap());
    check_types(&objects);
    let kinds: BTreeSet<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]),
    );
    for object in &objects {
        if object["kind"] != "ClusterRole" && object["kind"] != "ClusterRoleBinding" {
            assert_eq!(
                object["metadata"]["namespace"],
                "ml-operator",
                "{}",
                describe(object)
            );
        }
    }

    // The container: exactly the Dockerfile's entrypoint with `run`, hardened, probed.
    let deployment: Deployment = typed(one(&objects, "Deployment"));
    let pod = deployment.spec.clone().unwrap().template.spec.unwrap();
    let c = container(&objects);
    assert_eq!(c.command, None, "the image's ENTRYPOINT (ml-operator) runs");
    assert_eq!(c.args.as_deref().unwrap()[0], "run");
    let security = c.security_context.clone().unwrap();
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.capabilities.unwrap().drop.unwrap(), ["ALL"]);
    assert_eq!(security.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let pod_security = pod.security_context.clone().unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(
        pod_security.run_as_user,
        Some(65532),
        "the Dockerfile's USER"
    );
    assert_eq!(
        pod_security.seccomp_profile.unwrap().type_,
        "RuntimeDefault"
    );
    let probe_path = |probe: Option<k8s_openapi::api::core::v1::Probe>| {
        probe.unwrap().http_get.unwrap().path.unwrap()
    };
    assert_eq!(probe_path(c.liveness_probe.clone()), "/healthz");
    assert_eq!(probe_path(c.readiness_probe.clone()), "/readyz");
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 4006);
    let env: BTreeMap<String, String> = c
        .env
        .iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e.name.clone(),
                e.value_from
                    .as_ref()?
                    .field_ref
                    .as_ref()?
                    .field_path
                    .clone(),
            ))
        })
        .collect();
    assert_eq!(env["POD_NAME"], "metadata.name");
    assert_eq!(env["POD_NAMESPACE"], "metadata.namespace");
    assert!(
        c.volume_mounts
            .iter()
            .flatten()
            .all(|m| m.read_only == Some(true)),
        "only read-only mounts by default"
    );

    // The configuration parses as the code's Config, with the chart's names.
    let config = Config::parse(&mounted_config(&objects), "rendered config.yaml").unwrap();
    assert_eq!(
        config.leader_election.lease_name.as_deref(),
        Some("ml-operator")
    );
    assert_eq!(
        config.state.config_map.as_deref(),
        Some("ml-operator-state")
    );
    assert_eq!(
        config.state.namespace, None,
        "POD_NAMESPACE (the release's) decides"
    );
    assert!(config.notify.slack.is_none() && config.notify.webhooks.is_empty());
}

#[test]
fn every_feature_on_renders_what_each_value_asks_for() {
    let objects = objects(
        &helm_template(
            "hub",
            "ml-operator",
            &["-f", all_features().to_str().unwrap()],
        )
        .unwrap(),
    );
    check_types(&objects);
    for kind in ["Secret", "ServiceMonitor", "PodDisruptionBudget"] {
        one(&objects, kind);
    }
    // Extra labels and annotations on every object.
    for object in &objects {
        assert_eq!(
            object["metadata"]["labels"]["hub.example.com/team"],
            "hub-ops",
            "{}",
            describe(object)
        );
        assert_eq!(
            object["metadata"]["annotations"]["hub.example.com/contact"],
            "hub-ops@example.com",
            "{}",
            describe(object)
        );
    }
    // Watching two namespaces: bound there only, no ClusterRoleBinding.
    assert!(find(&objects, "ClusterRoleBinding").is_empty());
    let bound: BTreeSet<&str> = find(&objects, "RoleBinding")
        .into_iter()
        .filter(|b| b["roleRef"]["kind"] == "ClusterRole")
        .map(|b| b["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(bound, BTreeSet::from(["mojaloop", "pisp-lab"]));

    let deployment: Deployment = typed(one(&objects, "Deployment"));
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.image_pull_secrets.unwrap()[0].name,
        "hub-registry-credentials"
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("ml-operator-sa"));
    let volumes: BTreeMap<String, k8s_openapi::api::core::v1::Volume> = pod
        .volumes
        .unwrap()
        .into_iter()
        .map(|v| (v.name.clone(), v))
        .collect();
    assert_eq!(
        volumes["secrets"]
            .secret
            .as_ref()
            .unwrap()
            .secret_name
            .as_deref(),
        Some("hub-ml-operator-secrets")
    );
    assert!(
        volumes["cache"].empty_dir.is_some(),
        "cacheDir gets an emptyDir"
    );
    assert!(
        volumes["git-work"].empty_dir.is_some(),
        "git.url gets an emptyDir for the clones"
    );
    assert_eq!(
        volumes["docker-config"]
            .secret
            .as_ref()
            .unwrap()
            .items
            .as_ref()
            .unwrap()[0]
            .key,
        ".dockerconfigjson"
    );
    let c = container(&objects);
    assert_eq!(
        c.image.as_deref(),
        Some("registry.hub.local:5000/mojaloop/ml-operator:0.1.0")
    );
    let mounts: BTreeMap<String, String> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.clone(), m.mount_path.clone()))
        .collect();
    assert_eq!(mounts["cache"], "/var/cache/ml-operator");
    assert_eq!(mounts["secrets"], "/etc/ml-operator/secrets");
    assert_eq!(mounts["tag-index"], "/etc/ml-operator/tags");
    assert_eq!(mounts["git-work"], "/tmp");
    let args = c.args.clone().unwrap();
    assert!(
        args.windows(2)
            .any(|w| w == ["--tags", "/etc/ml-operator/tags/tags.json"]),
        "{args:?}"
    );
    let env: Vec<&str> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
    assert!(
        env.contains(&"NOTIFY_KUBECTL_PATCH_INSTRUCTIONS") && env.contains(&"DOCKER_CONFIG"),
        "{env:?}"
    );

    // Every secret file the configuration names is a key of the Secret.
    let secret: Secret = typed(one(&objects, "Secret"));
    let keys: BTreeSet<String> = secret.data.unwrap().into_keys().collect();
    let config = mounted_config(&objects);
    for line in config
        .lines()
        .filter(|l| l.contains("/etc/ml-operator/secrets/"))
    {
        let key = line.rsplit('/').next().unwrap().trim();
        assert!(keys.contains(key), "{key} is not in the Secret: {keys:?}");
    }
    assert!(
        !config.contains("hooks.slack.com"),
        "no secret in the ConfigMap:\n{config}"
    );

    // The ServiceMonitor scrapes the Service's port.
    let monitor = one(&objects, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
}

#[test]
fn helm_install_prints_notes_that_say_what_was_installed_and_what_next() {
    let notes = |release: &str, args: &[&str]| {
        let output = Command::new(helm())
            .args(["install", release])
            .arg(chart())
            .args(["--namespace", "ml-operator", "--dry-run=client"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "helm install --dry-run {args:?}: {}",
            text(&output)
        );
        let out = String::from_utf8(output.stdout).unwrap();
        out[out.find("NOTES:").expect("NOTES are printed")..].to_string()
    };
    let default = notes("ml-operator", &[]);
    for expected in [
        "never changes a workload",
        "rollout status deployment/ml-operator",
        "No Slack, Teams or webhook notifier",
    ] {
        assert!(default.contains(expected), "{expected:?} not in\n{default}");
    }
    let all = notes("hub", &["-f", all_features().to_str().unwrap()]);
    for expected in [
        "MAY PATCH workloads",
        "WARNING: secrets.values",
        "2 replicas",
        "ConfigMap hub-tag-index",
    ] {
        assert!(all.contains(expected), "{expected:?} not in\n{all}");
    }
    assert!(
        !all.contains("hooks.slack.com"),
        "NOTES show a secret:\n{all}"
    );
}

#[test]
fn a_misspelt_or_invalid_value_fails_helm_template() {
    for (set, expect) in [
        ("config.stratgy=minor", "stratgy"),
        ("config.notify.slak.webhookUrlFile=/x", "slak"),
        ("config.strategy=newest", "strategy"),
        ("config.reminderInterval=daily", "reminderInterval"),
        ("replicaCoun=2", "replicaCoun"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
    ] {
        let error = helm_template("t", "ml-operator", &["--set", set]).expect_err(set);
        assert!(error.contains(expect), "--set {set}: {error}");
        let lint = helm_lint(&["--set", set]);
        assert!(!lint.status.success(), "helm lint --set {set} passed");
    }
}

#[test]
fn the_chart_refuses_secrets_in_the_config_map_and_broken_combinations() {
    for (args, expect) in [
        (
            vec![
                "--set",
                "config.notify.slack.webhookUrl=https://hooks.slack.com/x",
            ],
            "would put a secret in a ConfigMap",
        ),
        (
            vec!["--set", "config.notify.webhooks[0].webhookUrl=https://x"],
            "would put a secret in a ConfigMap",
        ),
        (
            vec![
                "--set",
                "config.notify.slack.webhookUrlFile=/etc/ml-operator/secrets/slack",
            ],
            "neither secrets.existingSecret nor secrets.values",
        ),
        (
            vec![
                "--set",
                "config.notify.slack.webhookUrlFile=/etc/ml-operator/secrets/slack",
                "--set",
                "secrets.values.other=x",
            ],
            "secrets.values has no key \"slack\"",
        ),
        (
            vec![
                "--set",
                "replicaCount=2",
                "--set",
                "config.leaderElection.enabled=false",
            ],
            "needs config.leaderElection.enabled",
        ),
        (
            vec![
                "--set",
                "secrets.existingSecret=a",
                "--set",
                "secrets.values.k=v",
            ],
            "not both",
        ),
    ] {
        let error = helm_template("t", "ml-operator", &args).expect_err(&format!("{args:?}"));
        assert!(error.contains(expect), "{args:?}: {error}");
        assert!(
            !error.contains("hooks.slack.com/x"),
            "the error repeats the secret: {error}"
        );
    }
    // existingSecret: mounted, not created.
    let objects = objects(
        &helm_template(
            "t",
            "ml-operator",
            &[
                "--set",
                "secrets.existingSecret=mine",
                "--set",
                "config.notify.slack.webhookUrlFile=/etc/ml-operator/secrets/slack",
            ],
        )
        .unwrap(),
    );
    assert!(find(&objects, "Secret").is_empty());
    let deployment = one(&objects, "Deployment");
    assert!(
        deployment.to_string().contains(r#""secretName":"mine""#),
        "{deployment}"
    );
}

#[test]
fn rbac_is_exactly_what_the_code_needs() {
    // Upgrades off (the default): read-only, as src/rbac.rs READ_ONLY says.
    let read_only = needed(READ_ONLY);
    let default = objects(&helm_template("ml-operator", "ml-operator", &[]).unwrap());
    assert_eq!(granted(&default), read_only);
    assert!(
        !granted(&default)
            .iter()
            .any(
                |(_, group, _, verb)| ["apps", "batch"].contains(&group.as_str())
                    && verb != "get"
                    && verb != "list"
                    && verb != "watch"
            ),
        "read-only on workloads"
    );
    let namespaced = objects(
        &helm_template(
            "ml-operator",
            "ml-operator",
            &["--set", "config.namespaces={mojaloop}"],
        )
        .unwrap(),
    );
    assert_eq!(granted(&namespaced), read_only);
    // The kustomize base grants the same.
    assert_eq!(
        granted(&objects(&kustomize("deploy/kustomize/base"))),
        read_only
    );

    // Upgrades on: READ_ONLY plus the code's UPGRADES list, and only then.
    let with_upgrades = needed(&[READ_ONLY, UPGRADES].concat());
    assert!(with_upgrades.len() > read_only.len());
    let upgrades = objects(
        &helm_template(
            "ml-operator",
            "ml-operator",
            &["--set", "config.upgrades.enabled=true"],
        )
        .unwrap(),
    );
    assert_eq!(granted(&upgrades), with_upgrades);
    let all = objects(
        &helm_template(
            "hub",
            "ml-operator",
            &["-f", all_features().to_str().unwrap()],
        )
        .unwrap(),
    );
    assert_eq!(granted(&all), with_upgrades);

    // Helm releases read: READ_ONLY plus HELM_RELEASES, in the workload ClusterRole (so bound
    // only in the watched namespaces when those are set), and only then.
    let helm = objects(
        &helm_template(
            "ml-operator",
            "ml-operator",
            &[
                "--set",
                "config.helm.readReleases=true",
                "--set",
                "config.namespaces={mojaloop,pisp}",
            ],
        )
        .unwrap(),
    );
    assert_eq!(granted(&helm), needed(&[READ_ONLY, HELM_RELEASES].concat()));
    assert!(
        find(&helm, "ClusterRoleBinding").is_empty(),
        "no cluster-wide secrets"
    );
    assert_eq!(
        find(&helm, "RoleBinding").len(),
        3,
        "mojaloop, pisp and the own namespace"
    );
    assert!(
        !granted(&upgrades)
            .iter()
            .any(|(_, _, resource, _)| resource == "secrets")
    );

    // Argo CD Applications read: with upgrades on, READ_ONLY plus UPGRADES plus ARGOCD, bound
    // cluster-wide even with namespaces (Applications live in Argo CD's); without upgrades the
    // key grants nothing.
    let argocd = objects(
        &helm_template(
            "ml-operator",
            "ml-operator",
            &[
                "--set",
                "config.upgrades.enabled=true",
                "--set",
                "config.argocd.readApplications=true",
                "--set",
                "config.namespaces={mojaloop}",
            ],
        )
        .unwrap(),
    );
    assert_eq!(
        granted(&argocd),
        needed(&[READ_ONLY, UPGRADES, ARGOCD].concat())
    );
    assert!(
        find(&argocd, "ClusterRoleBinding")
            .iter()
            .any(|b| b["roleRef"]["name"] == "ml-operator-argocd"),
        "bound cluster-wide"
    );
    let not_upgrading = objects(
        &helm_template(
            "ml-operator",
            "ml-operator",
            &["--set", "config.argocd.readApplications=true"],
        )
        .unwrap(),
    );
    assert_eq!(granted(&not_upgrading), read_only);

    // The admin API on: READ_ONLY plus ADMIN_API (with upgrades: plus UPGRADES), and only then;
    // its reviews are cluster-scoped, so they are bound cluster-wide even with namespaces.
    for (values, rules) in [
        (
            vec!["--set", "config.api.enabled=true"],
            [READ_ONLY, ADMIN_API].concat(),
        ),
        (
            vec![
                "--set",
                "config.api.enabled=true",
                "--set",
                "config.upgrades.enabled=true",
                "--set",
                "config.namespaces={mojaloop}",
            ],
            [READ_ONLY, UPGRADES, ADMIN_API].concat(),
        ),
    ] {
        let rendered = objects(&helm_template("ml-operator", "ml-operator", &values).unwrap());
        assert_eq!(granted(&rendered), needed(&rules), "{values:?}");
        let binding = find(&rendered, "ClusterRoleBinding")
            .into_iter()
            .find(|b| b["metadata"]["name"] == "ml-operator-admin-api")
            .unwrap_or_else(|| panic!("{values:?}: the admin API's ClusterRoleBinding"));
        assert_eq!(binding["roleRef"]["name"], "ml-operator-admin-api");
    }

    // Own-namespace rules name the operator's own Lease and ConfigMap.
    let role: Role = typed(one(&default, "Role"));
    let mut by_name: Vec<(String, Vec<String>)> = role
        .rules
        .unwrap()
        .into_iter()
        .filter_map(|r| Some((r.resources.unwrap()[0].clone(), r.resource_names?)))
        .collect();
    by_name.sort();
    assert_eq!(
        by_name,
        [
            (
                "configmaps".to_string(),
                vec!["ml-operator-state".to_string()]
            ),
            ("leases".to_string(), vec!["ml-operator".to_string()])
        ]
    );
}

#[test]
fn the_kustomize_base_is_the_charts_default_render() {
    let base = objects(&kustomize("deploy/kustomize/base"));
    check_types(&base);
    let chart = objects(&helm_template("ml-operator", "ml-operator", &["--include-crds"]).unwrap());
    // Labels and annotations differ by tool (helm.sh/chart, a checksum vs a hash suffix).
    let normalize = |objects: &[Value]| -> BTreeMap<String, Value> {
        objects
            .iter()
            .filter(|o| o["kind"] != "Namespace")
            .map(|o| {
                let mut o = o.clone();
                let strip = |meta: &mut Value| {
                    let meta = meta.as_object_mut().unwrap();
                    meta.remove("labels");
                    meta.remove("annotations");
                };
                strip(&mut o["metadata"]);
                if o["kind"] == "Deployment" {
                    strip(&mut o["spec"]["template"]["metadata"]);
                    o["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] =
                        json!("ml-operator-config");
                }
                if o["kind"] == "ConfigMap" {
                    o["metadata"]["name"] = json!("ml-operator-config");
                    let config = o["data"]["config.yaml"].as_str().unwrap();
                    o["data"]["config.yaml"] = serde_saphyr::from_str::<Value>(config).unwrap();
                }
                (describe(&o), o)
            })
            .collect()
    };
    let (base, chart) = (normalize(&base), normalize(&chart));
    assert_eq!(
        base.keys().collect::<Vec<_>>(),
        chart.keys().collect::<Vec<_>>()
    );
    for (name, object) in &chart {
        assert_eq!(
            &base[name], object,
            "{name} differs between deploy/kustomize/base and the chart"
        );
    }
}

#[test]
fn the_kustomize_overlay_moves_everything_and_keeps_it_consistent() {
    let overlay = objects(&kustomize("deploy/kustomize/overlays/example"));
    check_types(&overlay);
    one(&overlay, "Namespace");
    for object in &overlay {
        if ![
            "ClusterRole",
            "ClusterRoleBinding",
            "Namespace",
            "CustomResourceDefinition",
        ]
        .contains(&object["kind"].as_str().unwrap())
        {
            assert_eq!(
                object["metadata"]["namespace"],
                "hub-ops",
                "{}",
                describe(object)
            );
        }
    }
    for binding in find(&overlay, "ClusterRoleBinding")
        .into_iter()
        .chain(find(&overlay, "RoleBinding"))
    {
        assert_eq!(
            binding["subjects"][0]["namespace"],
            "hub-ops",
            "{}",
            describe(binding)
        );
    }
    let c = container(&overlay);
    assert_eq!(
        c.image.as_deref(),
        Some("registry.hub.local:5000/mojaloop/ml-operator:0.1.0")
    );
    assert!(
        c.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == "/etc/ml-operator/secrets")
    );
    let config = Config::parse(&mounted_config(&overlay), "overlay config.yaml").unwrap();
    assert!(config.notify.slack.is_some());
    assert_eq!(granted(&overlay), needed(READ_ONLY));
}

// ---------------------------------------------------------------------------------------------
// Tests: configuration keys, Dockerfile
// ---------------------------------------------------------------------------------------------

/// Keys of the chart's values schema under `config`, as `Config::keys()` writes them.
fn schema_keys(node: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(items) = node.get("items") {
        schema_keys(items, &format!("{prefix}[]"), out);
    }
    for (name, property) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        out.insert(key.clone());
        schema_keys(property, &key, out);
    }
}

#[test]
fn every_configuration_key_is_documented_and_mirrored_by_the_chart_values() {
    let keys: BTreeSet<String> = Config::keys().into_iter().collect();
    assert!(
        keys.contains("notify.slack.webhookUrlFile") && keys.contains("registries[].passwordFile"),
        "{keys:?}"
    );

    // docs/configuration.md names every key as `key`.
    let doc = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document {missing:?}"
    );
    // ... and every environment variable.
    for variable in ml_operator::config::ENVIRONMENT_VARIABLES {
        assert!(
            doc.contains(&format!("`{variable}`")),
            "docs/configuration.md does not document {variable}"
        );
    }

    // The chart's values schema under `config` has exactly the code's keys (the aliases
    // `url`/`urlFile` of webhookUrl/webhookUrlFile are accepted too).
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .unwrap();
    let mut chart_keys = BTreeSet::new();
    schema_keys(&schema["properties"]["config"], "", &mut chart_keys);
    let aliases = |k: &String| k.ends_with(".url") || k.ends_with(".urlFile");
    let not_in_chart: Vec<&String> = keys.iter().filter(|k| !chart_keys.contains(*k)).collect();
    assert!(
        not_in_chart.is_empty(),
        "charts/ml-operator/values.schema.json lacks config keys {not_in_chart:?}"
    );
    let not_in_code: Vec<&String> = chart_keys
        .iter()
        .filter(|k| !keys.contains(*k) && !aliases(k))
        .collect();
    assert!(
        not_in_code.is_empty(),
        "the chart offers config keys the code does not know: {not_in_code:?}"
    );

    // values.yaml sets every top-level key under `config:`.
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();
    for key in keys.iter().filter(|k| !k.contains('.') && !k.contains('[')) {
        assert!(
            values["config"].get(key).is_some(),
            "values.yaml has no config.{key}"
        );
    }
}

#[test]
fn the_shipped_crd_is_what_the_code_prints() {
    let output = Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .arg("crd")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ml-operator crd: {}",
        text(&output)
    );
    let printed = objects(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(printed.len(), 1);
    check_types(&printed);
    for file in [
        "charts/ml-operator/crds/imageupgrades.yaml",
        "deploy/kustomize/base/crd.yaml",
    ] {
        let shipped = objects(&std::fs::read_to_string(repo().join(file)).unwrap());
        assert_eq!(
            shipped, printed,
            "{file} is stale: regenerate it with `cargo run -q -- crd > {file}`"
        );
    }
    // helm installs it from crds/ (`--include-crds` shows it), and kustomize applies it.
    let rendered = objects(&helm_template("t", "ml-operator", &["--include-crds"]).unwrap());
    assert_eq!(find(&rendered, "CustomResourceDefinition"), [&printed[0]]);
    let base = objects(&kustomize("deploy/kustomize/base"));
    assert_eq!(find(&base, "CustomResourceDefinition").len(), 1);
}

#[test]
fn the_dockerfile_builds_the_release_binary_into_a_non_root_image() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let from: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(from.len() >= 2, "multi-stage: {from:?}");
    assert!(from[0].contains(" AS build"), "{}", from[0]);
    assert!(
        dockerfile.contains("cargo build --release --locked -p ml-operator"),
        "the release binary, from Cargo.lock"
    );
    assert!(
        dockerfile.contains("COPY --from=build "),
        "the runtime stage copies only the binary"
    );
    let last = from.last().unwrap();
    assert!(
        last.contains("distroless") || last.contains("slim"),
        "a minimal runtime: {last}"
    );
    assert_eq!(
        instructions
            .iter()
            .filter(|l| l.starts_with("USER "))
            .collect::<Vec<_>>(),
        [&"USER 65532:65532"]
    );
    assert!(instructions.contains(&r#"ENTRYPOINT ["ml-operator"]"#));
    assert!(instructions.contains(&r#"CMD ["run"]"#));
    assert!(instructions.contains(&"EXPOSE 4006"));
    for label in ["source", "title", "description", "licenses", "version"] {
        assert!(
            dockerfile.contains(&format!("org.opencontainers.image.{label}=")),
            "OCI label {label}"
        );
    }
    assert!(
        dockerfile.contains("ARG VERSION"),
        "the version label comes from a build argument"
    );
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    for entry in ["target/", ".git/", ".tools/"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

#[test]
fn the_link_order_is_written_for_the_compiler_the_dockerfile_and_the_tests_use() {
    // build.rs orders the release binary's functions by link/ml-operator.order only with the
    // rustc the file names on its first line: a stale file silently loses the layout.
    let order = std::fs::read_to_string(repo().join("link/ml-operator.order")).unwrap();
    let mut lines = order.lines();
    let made_with = lines
        .next()
        .and_then(|line| line.strip_prefix("# "))
        .expect("link/ml-operator.order starts with `# rustc …`");
    let rustc = Command::new(std::env::var_os("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    assert_eq!(
        made_with,
        rustc.trim(),
        "link/ml-operator.order was written for another compiler: run scripts/link-order"
    );
    let version = made_with.split(' ').nth(1).unwrap();
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("\nARG RUST_VERSION={version}\n")),
        "the Dockerfile's default RUST_VERSION is not {version}, the link order's compiler"
    );
    // The rest: comments, then one symbol per line (mangled Rust names, and a few C ones such
    // as `main`), each once.
    let names: Vec<&str> = lines.filter(|line| !line.starts_with('#')).collect();
    let distinct: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(distinct.len(), names.len(), "a function is named twice");
    assert!(names.len() > 1_000, "only {} functions", names.len());
    let rust = names
        .iter()
        .filter(|name| name.starts_with("_ZN") || name.starts_with("_R"))
        .count();
    assert!(
        rust * 100 >= names.len() * 99,
        "{rust} of {} are Rust names",
        names.len()
    );
    for name in names {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$')),
            "not a symbol name: {name:?}"
        );
    }
}
