//! Prometheus metrics (`/metrics`): what is outdated, how scans go, how registries and
//! notifiers behave. Label values never hold secrets (no URLs, no credentials).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ml_operator_registry::Registry as RegistryClient;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::scan::{Report, Status};

/// Labels of `ml_operator_update_available`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerLabels {
    namespace: String,
    kind: String,
    name: String,
    container: String,
    image: String,
    current: String,
    latest: String,
}

/// Labels of `ml_operator_tag_integrity`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntegrityLabels {
    namespace: String,
    kind: String,
    name: String,
    container: String,
    image: String,
    status: String,
}

/// Labels of per-result counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

/// Labels of notifier counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifierLabels {
    notifier: String,
    result: String,
}

/// The operator's metrics; cheap to clone (handles share their values).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    update_available: Family<ContainerLabels, Gauge>,
    tag_integrity: Family<IntegrityLabels, Gauge>,
    scan_duration: Histogram,
    scans: Family<ResultLabels, Counter>,
    workloads: Gauge,
    containers: Gauge,
    notifications: Family<NotifierLabels, Counter>,
}

impl Metrics {
    /// Registers every metric; `registry_client`'s request counts are read at scrape time.
    pub fn new(registry_client: Option<RegistryClient>) -> Metrics {
        let mut registry = Registry::default();
        let update_available = Family::<ContainerLabels, Gauge>::default();
        registry.register(
            "ml_operator_update_available",
            "1 when a newer tag is allowed by the strategy for this container, 0 when it is up to date",
            update_available.clone(),
        );
        let tag_integrity = Family::<IntegrityLabels, Gauge>::default();
        registry.register(
            "ml_operator_tag_integrity",
            "1 for each container whose running tag was overwritten in the registry (status tag-overwritten) or is gone from it (tag-missing)",
            tag_integrity.clone(),
        );
        let scan_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "ml_operator_scan_duration_seconds",
            "Time one scan takes",
            scan_duration.clone(),
        );
        let scans = Family::<ResultLabels, Counter>::default();
        registry.register(
            "ml_operator_scans",
            "Scans run, by result (complete, partial)",
            scans.clone(),
        );
        let workloads = Gauge::default();
        registry.register(
            "ml_operator_workloads",
            "Workloads in the last scan",
            workloads.clone(),
        );
        let containers = Gauge::default();
        registry.register(
            "ml_operator_containers",
            "Containers in the last scan",
            containers.clone(),
        );
        let notifications = Family::<NotifierLabels, Counter>::default();
        registry.register(
            "ml_operator_notifications",
            "Notifications by notifier and result (sent, failed)",
            notifications.clone(),
        );
        if let Some(client) = registry_client {
            let known = client.configured_servers();
            registry.register_collector(Box::new(RegistryRequests { client, known }));
        }
        Metrics {
            registry: Arc::new(registry),
            update_available,
            tag_integrity,
            scan_duration,
            scans,
            workloads,
            containers,
            notifications,
        }
    }

    /// Records a finished scan.
    pub fn record_scan(&self, report: &Report, took: Duration, partial: bool) {
        self.scan_duration.observe(took.as_secs_f64());
        let result = if partial { "partial" } else { "complete" };
        self.scans
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        self.workloads.set(report.summary.workloads as i64);
        self.containers.set(report.summary.containers as i64);
        self.update_available.clear();
        self.tag_integrity.clear();
        for finding in &report.findings {
            if matches!(finding.status, Status::TagOverwritten | Status::TagMissing) {
                self.tag_integrity
                    .get_or_create(&IntegrityLabels {
                        namespace: finding.namespace.clone(),
                        kind: finding.kind.to_string(),
                        name: finding.name.clone(),
                        container: finding.container.clone(),
                        image: finding.image.clone(),
                        status: finding.status.as_str().to_string(),
                    })
                    .set(1);
            }
            let value = match finding.status {
                _ if finding.latest_tag.is_some() => 1,
                Status::UpToDate | Status::TagOverwritten | Status::TagMissing => 0,
                Status::UpdateAvailable | Status::Unresolved | Status::Skipped => continue,
            };
            let current = finding.current_tag.clone().unwrap_or_default();
            let labels = ContainerLabels {
                namespace: finding.namespace.clone(),
                kind: finding.kind.to_string(),
                name: finding.name.clone(),
                container: finding.container.clone(),
                image: finding.image.clone(),
                latest: finding
                    .latest_tag
                    .clone()
                    .unwrap_or_else(|| current.clone()),
                current,
            };
            self.update_available.get_or_create(&labels).set(value);
        }
    }

    /// Records one notification attempt.
    pub fn record_notification(&self, notifier: &str, sent: bool) {
        let result = if sent { "sent" } else { "failed" };
        self.notifications
            .get_or_create(&NotifierLabels {
                notifier: notifier.into(),
                result: result.into(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// `ml_operator_registry_requests_total{registry,status}`, read from the client's own counters.
///
/// The `registry` label is a server the client was configured for (Docker Hub, a
/// `registries:` entry or its mirror) or `other`: servers met only in image references (or
/// asked about by anyone) must not each add a series.
#[derive(Debug)]
struct RegistryRequests {
    client: RegistryClient,
    known: BTreeSet<String>,
}

impl RegistryRequests {
    /// Request counts by (label, status), unknown servers folded into `other`.
    fn rows(&self) -> BTreeMap<(&str, String), u64> {
        let mut rows = BTreeMap::new();
        for request in self.client.stats().requests {
            let registry = self
                .known
                .get(&request.host)
                .map_or(OTHER_REGISTRY, String::as_str);
            *rows.entry((registry, request.outcome)).or_default() += request.count;
        }
        rows
    }
}

/// The `registry` label of requests to servers that were not configured.
const OTHER_REGISTRY: &str = "other";

impl Collector for RegistryRequests {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "ml_operator_registry_requests",
            "HTTP requests to registries, by registry (a configured server, or other) and status (or error kind)",
            None,
            MetricType::Counter,
        )?;
        for ((registry, status), count) in self.rows() {
            let labels = [("registry", registry), ("status", status.as_str())];
            ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
        }
        let mut by_kind = encoder.encode_descriptor(
            "ml_operator_registry_requests_by_kind",
            "HTTP requests to registries, by what they asked for (tag-list, head-manifest, get-manifest, get-blob, token, ping)",
            None,
            MetricType::Counter,
        )?;
        for row in self.client.stats().requests_by_kind {
            let labels = [("kind", row.kind.as_str())];
            ConstCounter::new(row.count).encode(by_kind.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ml_operator_registry::{ClientOptions, RegistryConfig};

    use super::*;

    /// A loopback `host:port` nothing listens on.
    fn closed_port() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    }

    #[tokio::test]
    async fn the_registry_label_is_a_configured_server_or_other() {
        let configured = closed_port();
        let dir = tempfile::tempdir().unwrap();
        let client = RegistryClient::new(ClientOptions {
            registries: vec![RegistryConfig {
                host: configured.clone(),
                ..Default::default()
            }],
            docker_config: Some(dir.path().into()),
            max_retries: 0,
            ..Default::default()
        })
        .unwrap();
        let strangers: Vec<String> = (0..5).map(|_| closed_port()).collect();
        for host in strangers.iter().chain([&configured]) {
            client.list_tags(host, "x/app").await.unwrap_err();
        }
        let metrics = Metrics::new(Some(client)).encode();
        let series: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("ml_operator_registry_requests_total"))
            .collect();
        assert_eq!(
            series,
            [
                format!(
                    "ml_operator_registry_requests_total{{registry=\"{configured}\",status=\"connect\"}} 1"
                ),
                "ml_operator_registry_requests_total{registry=\"other\",status=\"connect\"} 5"
                    .to_string(),
            ],
            "{metrics}"
        );
        for host in &strangers {
            assert!(!metrics.contains(host.as_str()), "{host} in\n{metrics}");
        }
    }
}
