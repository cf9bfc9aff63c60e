//! A fleet scan's reports made one: several clusters (kubeconfig contexts) scanned in one run.
//!
//! In: each cluster's [`Report`] (scanned against the one set of tags fetched for the whole
//! fleet) and the clusters that could not be read. Out: one report whose findings, patches and
//! `helm upgrade`s carry their `cluster`, whose commands act on that cluster
//! (`kubectl --context NAME …`, `helm --kube-context NAME …`, every word quoted), and whose
//! summary counts everything, then each cluster on its own (`clusters`) and the clusters that
//! failed (`failedClusters`).

use super::{ClusterSummary, FailedCluster, Report};
use crate::inventory::shell;

/// One cluster's report in a fleet scan.
pub struct ClusterReport {
    /// The kubeconfig context.
    pub name: String,
    /// What its scan found.
    pub report: Report,
}

/// The fleet's one report, clusters in the order given.
pub fn merge(clusters: Vec<ClusterReport>, failed: Vec<FailedCluster>) -> Report {
    let mut merged = Report::default();
    for ClusterReport { name, mut report } in clusters {
        let kubectl = |command: &str| shell::insert_after_program(command, ["--context", &name]);
        for finding in &mut report.findings {
            finding.cluster = Some(name.clone());
            finding.command = finding.command.as_deref().map(|c| kubectl(c).into());
        }
        for patch in &mut report.patches {
            patch.cluster = Some(name.clone());
            patch.command = kubectl(&patch.command).into();
        }
        for upgrade in &mut report.helm_upgrades {
            upgrade.cluster = Some(name.clone());
            upgrade.command =
                shell::insert_after_program(&upgrade.command, ["--kube-context", &name]);
        }
        merged.summary.add(&report.summary);
        merged.findings.append(&mut report.findings);
        merged.patches.append(&mut report.patches);
        merged.helm_upgrades.append(&mut report.helm_upgrades);
        merged.summary.clusters.push(ClusterSummary {
            name,
            counts: report.summary,
        });
    }
    merged.summary.failed_clusters = failed;
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Workload;
    use crate::tags::TagIndex;

    fn report(tag: &str) -> Report {
        let object = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "central-ledger", "namespace": "mojaloop"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": format!("mojaloop/central-ledger:{tag}")}
            ]}}}
        });
        let workloads: Vec<Workload> = Workload::from_object(&object, "default")
            .unwrap()
            .into_iter()
            .collect();
        let index =
            TagIndex::from_json(r#"{"mojaloop/central-ledger": ["v19.8.3", "v19.8.9"]}"#).unwrap();
        super::super::scan(&workloads, &index, Default::default())
    }

    #[test]
    fn each_cluster_s_findings_and_commands_name_it_and_the_counts_add_up() {
        let mut dev = report("v19.8.3");
        dev.helm_upgrades.push(crate::scan::HelmUpgrade {
            cluster: None,
            release: "hub".into(),
            namespace: "mojaloop".into(),
            chart: "mojaloop/mojaloop".into(),
            chart_source: "--helm-chart".into(),
            chart_version: "17.1.0".into(),
            set: vec![("image.tag".into(), "v19.8.9".into())],
            command: shell::join([
                "helm",
                "upgrade",
                "hub",
                "mojaloop/mojaloop",
                "-n",
                "mojaloop",
            ]),
        });
        let merged = merge(
            vec![
                ClusterReport {
                    name: "hub-dev".into(),
                    report: dev,
                },
                ClusterReport {
                    name: "hub prod".into(),
                    report: report("v19.8.9"),
                },
            ],
            vec![FailedCluster {
                name: "hub-gone".into(),
                error: "cannot read the cluster".into(),
            }],
        );
        let clusters: Vec<_> = merged
            .findings
            .iter()
            .map(|f| (f.cluster.as_deref().unwrap(), f.status.as_str()))
            .collect();
        assert_eq!(
            clusters,
            [("hub-dev", "update-available"), ("hub prod", "up-to-date")]
        );
        let command = merged.findings[0].command.as_deref().unwrap();
        assert!(
            command.starts_with(
                "kubectl --context hub-dev patch deployment central-ledger -n mojaloop --patch '"
            ),
            "{command}"
        );
        assert_eq!(merged.patches.len(), 1);
        assert_eq!(&*merged.patches[0].command, command);
        assert_eq!(merged.patches[0].cluster.as_deref(), Some("hub-dev"));
        assert_eq!(
            merged.helm_upgrades[0].command,
            "helm --kube-context hub-dev upgrade hub mojaloop/mojaloop -n mojaloop"
        );
        assert_eq!(merged.helm_upgrades[0].cluster.as_deref(), Some("hub-dev"));
        assert_eq!(
            (
                merged.summary.workloads,
                merged.summary.updates,
                merged.summary.up_to_date
            ),
            (2, 1, 1)
        );
        let names: Vec<_> = merged
            .summary
            .clusters
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["hub-dev", "hub prod"]);
        assert_eq!(merged.summary.clusters[1].counts.up_to_date, 1);
        let json = serde_json::to_value(&merged.summary).unwrap();
        assert_eq!(json["clusters"][0]["name"], "hub-dev");
        assert_eq!(json["clusters"][0]["updates"], 1);
        assert_eq!(json["failedClusters"][0]["name"], "hub-gone");
    }
}
