//! Findings traced to the values key of their Helm release, and one `helm upgrade` per release
//! that changes exactly those keys (`--reuse-values`, the deployed chart version kept).

use std::collections::BTreeMap;

use crate::inventory::{ImageRef, Tool, shell};
use crate::scan::{Finding, HelmUpgrade, HelmValues, Report, Status};
use crate::values::release::{Lookup, Release};

/// Sets `helm` on every finding of a Helm-managed workload whose release is in `releases`,
/// notes on updates whose key cannot be told, and `report.helm_upgrades`. `charts` maps a
/// release name to the chart reference to upgrade it with (`--helm-chart RELEASE=REF`).
pub fn attach(report: &mut Report, releases: &[Release], charts: &BTreeMap<String, String>) {
    // Per release (namespace, name): values path → new value.
    let mut sets: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for finding in &mut report.findings {
        // Helm's own markers; under Flux's helm-controller, the release it installed.
        let (name, namespace) = match &finding.managed_by {
            Some(by) if by.tool == Tool::Helm => (Some(&by.name), by.namespace.as_ref()),
            _ => (finding.helm_release.as_ref(), None),
        };
        let Some(name) = name else {
            continue;
        };
        let namespace = namespace.unwrap_or(&finding.namespace);
        let Some(release) = releases
            .iter()
            .find(|r| &r.name == name && &r.namespace == namespace)
        else {
            continue;
        };
        // A Flux HelmRelease is a Helm release too, but `helm upgrade` would be reverted.
        let gitops = finding.managed_by.as_ref().is_some_and(|by| by.is_gitops());
        let Ok(image) = ImageRef::parse(&finding.image) else {
            continue;
        };
        let lookup = release.lookup(finding.kind, &finding.name, &image);
        finding.helm = Some(Box::new(HelmValues {
            release: release.name.clone(),
            namespace: release.namespace.clone(),
            chart: release.chart.clone(),
            chart_version: release.chart_version.clone(),
            values_path: match &lookup {
                Lookup::Found(key) => Some(key.path.to_string()),
                _ => None,
            },
        }));
        if finding.status != Status::UpdateAvailable {
            continue;
        }
        let Some(latest) = finding.latest_tag.clone() else {
            continue;
        };
        match lookup {
            Lookup::Found(_) if gitops => {}
            Lookup::Found(key) => {
                let wanted = sets
                    .entry((release.namespace.clone(), release.name.clone()))
                    .or_default();
                let path = key.path.to_string();
                let value = key.new_value(&latest);
                match wanted.get(&path) {
                    Some(other) if *other != value => finding.notes.push(format!(
                        "values key {path} of release {:?} renders other workloads that move to {other}: set it by hand",
                        release.name
                    )),
                    _ => {
                        wanted.insert(path, value);
                    }
                }
            }
            Lookup::Ambiguous(keys) => finding.notes.push(format!(
                "several values keys of release {:?} hold {}: {} — set the one that renders this workload",
                release.name,
                finding.image,
                keys.iter().map(|k| k.path.to_string()).collect::<Vec<_>>().join(", ")
            )),
            Lookup::NotFound => finding.notes.push(format!(
                "no values key of release {:?} holds {} (a subchart's own default or a template builds it): add the image's key to the release's values",
                release.name, finding.image
            )),
        }
    }
    report.helm_upgrades = sets
        .into_iter()
        .filter_map(|((namespace, name), set)| {
            let release = releases
                .iter()
                .find(|r| r.name == name && r.namespace == namespace)?;
            Some(upgrade(
                release,
                charts.get(&name),
                set.into_iter().collect(),
            ))
        })
        .collect();
    for finding in &mut report.findings {
        add_git_hint(finding);
    }
}

/// On a GitOps-managed finding with a known values path, the key to change in git.
fn add_git_hint(finding: &mut Finding) {
    if let (Some(by), Some(path)) = (
        finding.managed_by.as_ref().filter(|by| by.is_gitops()),
        finding.helm.as_ref().and_then(|h| h.values_path.as_ref()),
    ) && finding.status == Status::UpdateAvailable
    {
        let note = format!("managed by {}: change {path} in git", by.describe());
        finding.notes.push(note);
    }
}

/// The `helm upgrade` of one release.
fn upgrade(release: &Release, chart: Option<&String>, set: Vec<(String, String)>) -> HelmUpgrade {
    let (chart, chart_source) = match chart {
        Some(reference) => (reference.clone(), "--helm-chart".to_string()),
        None => (
            release.chart.clone(),
            format!(
                "guessed from the release's chart name {:?}: pass --helm-chart {}=REPO/CHART (or a chart directory) to name it as you installed it",
                release.chart, release.name
            ),
        ),
    };
    let mut words: Vec<String> = [
        "helm",
        "upgrade",
        &release.name,
        &chart,
        "-n",
        &release.namespace,
        "--version",
        &release.chart_version,
        "--reuse-values",
    ]
    .iter()
    .map(|w| w.to_string())
    .collect();
    for (path, value) in &set {
        // `--set` reads integers, `true`, `false` and `null` as such: keep those tags strings.
        let typed =
            value.parse::<i64>().is_ok() || matches!(value.as_str(), "true" | "false" | "null");
        words.push(if typed { "--set-string" } else { "--set" }.to_string());
        words.push(format!("{path}={value}"));
    }
    HelmUpgrade {
        cluster: None,
        release: release.name.clone(),
        namespace: release.namespace.clone(),
        chart,
        chart_source,
        chart_version: release.chart_version.clone(),
        set,
        command: shell::join(words.iter().map(String::as_str)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ManagedBy;
    use crate::values::{ImageKey, Layout, Segment, ValuesPath};
    use ml_operator_version::Strategy;

    fn key(path: &str, repository: &str, tag: &str) -> ImageKey {
        ImageKey {
            path: ValuesPath(path.split('.').map(|k| Segment::Key(k.into())).collect()),
            repository: repository.into(),
            tag: tag.into(),
            layout: Layout::RepositoryTag,
        }
    }

    fn release() -> Release {
        Release {
            name: "hub".into(),
            namespace: "hub".into(),
            revision: 1,
            chart: "mojaloop".into(),
            chart_version: "17.1.0".into(),
            keys: vec![
                key(
                    "centralledger.centralledger-service.image.tag",
                    "mojaloop/central-ledger",
                    "v17.8.0",
                ),
                key(
                    "account-lookup-service.image.tag",
                    "mojaloop/account-lookup-service",
                    "v15.1.0",
                ),
                key(
                    "quoting-service.image.tag",
                    "mojaloop/quoting-service",
                    "15.0.0",
                ),
                key(
                    "quoting-service.other.image.tag",
                    "mojaloop/quoting-service",
                    "15.0.0",
                ),
            ],
            scopes: BTreeMap::new(),
        }
    }

    fn finding(name: &str, image: &str, latest: &str) -> Finding {
        Finding {
            cluster: None,
            kind: "Deployment",
            namespace: "hub".into(),
            name: name.into(),
            container: "app".into(),
            init_container: false,
            image: image.into(),
            repository: String::new(),
            current_tag: None,
            latest_tag: Some(latest.into()),
            latest_image: None,
            strategy: Strategy::default(),
            status: Status::UpdateAvailable,
            reason: String::new(),
            command: None,
            notes: Vec::new(),
            helm_release: Some("hub".into()),
            managed_by: Some(Box::new(ManagedBy {
                tool: Tool::Helm,
                name: "hub".into(),
                namespace: Some("hub".into()),
                self_heal: None,
            })),
            helm: None,
            running_digest: None,
            registry_digest: None,
            held_back: None,
            signature: None,
            explanation: None,
        }
    }

    #[test]
    fn one_upgrade_per_release_with_each_traced_key() {
        let mut report = Report {
            findings: vec![
                finding("cl", "mojaloop/central-ledger:v17.8.0", "v17.8.1"),
                finding("cl-migration", "mojaloop/central-ledger:v17.8.0", "v17.8.1"),
                finding("als", "mojaloop/account-lookup-service:v15.1.0", "15.2"),
                finding("qs", "mojaloop/quoting-service:15.0.0", "15.0.1"),
                finding("other", "mojaloop/sdk-scheme-adapter:v24.0.0", "v24.0.1"),
            ],
            ..Report::default()
        };
        let charts = BTreeMap::from([("hub".to_string(), "./charts/my hub".to_string())]);
        attach(&mut report, &[release()], &charts);
        assert_eq!(report.helm_upgrades.len(), 1);
        assert_eq!(
            report.helm_upgrades[0].command,
            "helm upgrade hub './charts/my hub' -n hub --version 17.1.0 --reuse-values --set 'account-lookup-service.image.tag=15.2' --set 'centralledger.centralledger-service.image.tag=v17.8.1'"
        );
        let helm = report.findings[0].helm.as_ref().unwrap();
        assert_eq!(
            helm.values_path.as_deref(),
            Some("centralledger.centralledger-service.image.tag")
        );
        assert!(report.findings[3].notes[0].contains("several values keys"));
        assert_eq!(report.findings[3].helm.as_ref().unwrap().values_path, None);
        assert!(report.findings[4].notes[0].contains("no values key"));
    }

    #[test]
    fn integer_tags_stay_strings_and_the_chart_guess_is_explained() {
        let mut release = release();
        release.keys = vec![key("redis.image.tag", "redis", "7")];
        let mut report = Report {
            findings: vec![finding("redis", "redis:7", "8")],
            ..Report::default()
        };
        attach(&mut report, &[release], &BTreeMap::new());
        let upgrade = &report.helm_upgrades[0];
        assert!(
            upgrade
                .command
                .ends_with("--set-string 'redis.image.tag=8'"),
            "{}",
            upgrade.command
        );
        assert!(upgrade.chart_source.contains("guessed"));
    }
}
