//! Prometheus metrics (`/metrics`): what is outdated, how scans go, how registries and
//! notifiers behave. Label values never hold secrets (no URLs, no credentials).

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
            registry.register_collector(Box::new(RegistryRequests(client)));
        }
        Metrics {
            registry: Arc::new(registry),
            update_available,
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
        for finding in &report.findings {
            let value = match finding.status {
                Status::UpdateAvailable => 1,
                Status::UpToDate => 0,
                Status::Unresolved | Status::Skipped => continue,
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
#[derive(Debug)]
struct RegistryRequests(RegistryClient);

impl Collector for RegistryRequests {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let mut metric = encoder.encode_descriptor(
            "ml_operator_registry_requests",
            "HTTP requests to registries, by registry host and status (or error kind)",
            None,
            MetricType::Counter,
        )?;
        for request in &stats.requests {
            let labels = [
                ("registry", request.host.as_str()),
                ("status", request.outcome.as_str()),
            ];
            ConstCounter::new(request.count).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
