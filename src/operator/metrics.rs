//! Prometheus metrics (`/metrics`): what is outdated, how scans go, how registries and
//! notifiers behave. Label values never hold secrets (no URLs, no credentials).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use ml_operator_registry::Registry as RegistryClient;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::scan::{Report, Status};

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

/// Labels of `ml_operator_upgrades`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpgradeLabels {
    namespace: String,
    phase: String,
}

/// The operator's metrics; cheap to clone (handles share their values).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    updates: Updates,
    tag_integrity: Family<IntegrityLabels, Gauge>,
    scan_duration: Histogram,
    scans: Family<ResultLabels, Counter>,
    workloads: Gauge,
    containers: Gauge,
    notifications: Family<NotifierLabels, Counter>,
    upgrades: Family<UpgradeLabels, Gauge>,
}

impl Metrics {
    /// Registers every metric; `registry_client`'s request counts are read at scrape time.
    pub fn new(registry_client: Option<RegistryClient>) -> Metrics {
        let mut registry = Registry::default();
        let updates = Updates::default();
        registry.register_collector(Box::new(updates.clone()));
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
        let upgrades = Family::<UpgradeLabels, Gauge>::default();
        registry.register(
            "ml_operator_upgrades",
            "ImageUpgrade groups by namespace and phase, as the leader's last upgrade pass found them",
            upgrades.clone(),
        );
        if let Some(client) = registry_client {
            let known = client.configured_servers();
            registry.register_collector(Box::new(RegistryRequests { client, known }));
        }
        Metrics {
            registry: Arc::new(registry),
            updates,
            tag_integrity,
            scan_duration,
            scans,
            workloads,
            containers,
            notifications,
            upgrades,
        }
    }

    /// Sets `ml_operator_upgrades` to `counts` ((namespace, phase) → ImageUpgrades); phases no
    /// longer present disappear.
    pub fn record_upgrades(&self, counts: &BTreeMap<(String, crate::upgrade::Phase), usize>) {
        self.upgrades.clear();
        for ((namespace, phase), count) in counts {
            self.upgrades
                .get_or_create(&UpgradeLabels {
                    namespace: namespace.clone(),
                    phase: phase.to_string(),
                })
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
    }

    /// Records a finished scan (at `now`, Unix seconds, for the first-seen times).
    pub fn record_scan(&self, report: &Report, took: Duration, partial: bool) {
        self.record_scan_at(report, took, partial, chrono::Utc::now().timestamp());
    }

    fn record_scan_at(&self, report: &Report, took: Duration, partial: bool, now: i64) {
        self.scan_duration.observe(took.as_secs_f64());
        let result = if partial { "partial" } else { "complete" };
        self.scans
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        self.workloads.set(report.summary.workloads as i64);
        self.containers.set(report.summary.containers as i64);
        let previous = self
            .updates
            .rows
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut rows = UpdateRows::with_capacity(report.findings.len());
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
            let current = finding.current_tag.as_deref().unwrap_or_default();
            let values = [
                finding.namespace.as_str(),
                finding.name.as_str(),
                finding.container.as_str(),
                finding.image.as_str(),
                current,
                finding.latest_tag.as_deref().unwrap_or(current),
            ];
            // An update pending in the last scan keeps its time; one no longer pending was
            // forgotten, so if it comes back it is new again.
            let since = (value == 1).then(|| {
                previous
                    .find(finding.kind, &values)
                    .and_then(|row| row.since)
                    .unwrap_or(now)
            });
            rows.push(finding.kind, &values, since);
        }
        drop(previous);
        rows.sort_and_dedup();
        *self
            .updates
            .rows
            .write()
            .unwrap_or_else(PoisonError::into_inner) = rows;
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

    /// The same exposition gzip-compressed as it is written, for scrapers that accept gzip
    /// (Prometheus asks for it): at 2,000 workloads the text is megabytes (a series per
    /// container, two families), and its buffer, doubling as it grew, was the biggest thing in
    /// memory when a scrape met the end of a scan; compressed it is a few hundred kilobytes.
    pub fn encode_gzip(&self) -> Vec<u8> {
        let gzip = GzEncoder::new(Vec::new(), Compression::fast());
        let mut text = GzipText(std::io::BufWriter::with_capacity(GZIP_CHUNK, gzip));
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to memory cannot fail");
        let gzip = text.0.into_inner().expect("writing to memory cannot fail");
        gzip.finish().expect("writing to memory cannot fail")
    }
}

/// Bytes of text handed to the compressor at a time (the encoder writes a label at a time).
const GZIP_CHUNK: usize = 32 * 1024;

/// Text written into a gzip stream.
struct GzipText(std::io::BufWriter<GzEncoder<Vec<u8>>>);

impl std::fmt::Write for GzipText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write_all(s.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

/// `ml_operator_update_available` and `ml_operator_update_available_since_timestamp_seconds`,
/// encoded at scrape time from the last scan's rows: one row per container, sorted by labels.
///
/// Two metric families and the first-seen times kept this way take one vector of thousands of
/// rows on a big hub, where `Family`s took three hash tables of them (a label set each).
#[derive(Clone, Debug, Default)]
struct Updates {
    rows: Arc<RwLock<UpdateRows>>,
}

/// The names of the labels of [`UpdateRows`], in order; `kind` is the second.
const UPDATE_LABELS: [&str; 7] = [
    "namespace",
    "kind",
    "name",
    "container",
    "image",
    "current",
    "latest",
];

/// The label values of a row other than `kind`: namespace, name, container, image, current
/// tag, latest tag (the current one when up to date).
type RowValues<'a> = [&'a str; 6];

/// The last scan's containers, their label values back to back in one string.
///
/// Rebuilt every scan: one string and one vector instead of six small strings per container
/// (at 2,000 workloads, 23,000 allocations per scan, kept until the next one).
#[derive(Debug, Default)]
struct UpdateRows {
    text: String,
    rows: Vec<UpdateRow>,
}

/// One container: where its label values end in [`UpdateRows::text`] (each starts where the
/// one before it ends; the first where the previous row's last ends), its kind, and when this
/// replica first saw its update (`None`: up to date).
#[derive(Debug)]
struct UpdateRow {
    start: u32,
    ends: [u32; 6],
    kind: &'static str,
    since: Option<i64>,
}

impl UpdateRows {
    fn with_capacity(rows: usize) -> UpdateRows {
        UpdateRows {
            text: String::new(),
            rows: Vec::with_capacity(rows),
        }
    }

    /// Adds a row (unsorted until [`UpdateRows::sort_and_dedup`]).
    fn push(&mut self, kind: &'static str, values: &RowValues<'_>, since: Option<i64>) {
        let offset = |text: &String| u32::try_from(text.len()).expect("label text under 4 GiB");
        let start = offset(&self.text);
        let ends = values.map(|value| {
            self.text.push_str(value);
            offset(&self.text)
        });
        self.rows.push(UpdateRow {
            start,
            ends,
            kind,
            since,
        });
    }

    /// A row's values.
    fn values(&self, row: &UpdateRow) -> RowValues<'_> {
        let mut start = row.start as usize;
        row.ends.map(|end| {
            let value = &self.text[start..end as usize];
            start = end as usize;
            value
        })
    }

    /// The order of the series: by label values, `kind` second.
    fn key<'a>(&'a self, row: &UpdateRow) -> (&'a str, &'static str, RowValues<'a>) {
        let values = self.values(row);
        (values[0], row.kind, values)
    }

    /// Sorts the rows by their labels and keeps one of each label set.
    fn sort_and_dedup(&mut self) {
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_unstable_by(|a, b| self.key(a).cmp(&self.key(b)));
        rows.dedup_by(|a, b| self.key(a) == self.key(b));
        self.rows = rows;
        self.text.shrink_to_fit();
    }

    /// The row with these labels, when there is one (the rows being sorted).
    fn find(&self, kind: &'static str, values: &RowValues<'_>) -> Option<&UpdateRow> {
        let wanted = (values[0], kind, *values);
        self.rows
            .binary_search_by(|row| self.key(row).cmp(&wanted))
            .ok()
            .map(|i| &self.rows[i])
    }

    /// A row's labels as prometheus-client encodes them.
    fn labels<'a>(&'a self, row: &UpdateRow) -> [(&'static str, &'a str); 7] {
        let [namespace, name, container, image, current, latest] = self.values(row);
        let values = [namespace, row.kind, name, container, image, current, latest];
        std::array::from_fn(|i| (UPDATE_LABELS[i], values[i]))
    }
}

impl Collector for Updates {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows = self.rows.read().unwrap_or_else(PoisonError::into_inner);
        let mut available = encoder.encode_descriptor(
            "ml_operator_update_available",
            "1 when a newer tag is allowed by the strategy for this container, 0 when it is up to date",
            None,
            MetricType::Gauge,
        )?;
        for row in &rows.rows {
            let value = i64::from(row.since.is_some());
            ConstGauge::new(value).encode(available.encode_family(&rows.labels(row))?)?;
        }
        let mut since = encoder.encode_descriptor(
            "ml_operator_update_available_since_timestamp_seconds",
            "When this replica first saw the update (Unix time): alert on time() minus it",
            None,
            MetricType::Gauge,
        )?;
        for row in &rows.rows {
            if let Some(at) = row.since {
                ConstGauge::new(at).encode(since.encode_family(&rows.labels(row))?)?;
            }
        }
        Ok(())
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

    fn finding(tag: &str, latest: Option<&str>) -> crate::scan::Finding {
        crate::scan::Finding {
            cluster: None,
            kind: "Deployment",
            namespace: "mojaloop".into(),
            name: "central-ledger".into(),
            container: "app".into(),
            init_container: false,
            image: format!("mojaloop/central-ledger:{tag}"),
            repository: "mojaloop/central-ledger".into(),
            current_tag: Some(tag.into()),
            latest_tag: latest.map(String::from),
            latest_image: latest.map(|l| format!("mojaloop/central-ledger:{l}")),
            strategy: ml_operator_version::Strategy::Bugfix,
            status: if latest.is_some() {
                Status::UpdateAvailable
            } else {
                Status::UpToDate
            },
            reason: String::new(),
            command: None,
            notes: Vec::new(),
            helm_release: None,
            managed_by: None,
            helm: None,
            running_digest: None,
            registry_digest: None,
            held_back: None,
            signature: None,
            explanation: None,
        }
    }

    fn since(metrics: &Metrics) -> Vec<String> {
        metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("ml_operator_update_available_since_timestamp_seconds{"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect()
    }

    #[test]
    fn upgrade_groups_are_counted_by_namespace_and_phase_and_gone_phases_disappear() {
        use crate::upgrade::Phase;
        let metrics = Metrics::new(None);
        let series = |m: &Metrics| -> Vec<String> {
            let mut lines: Vec<String> = m
                .encode()
                .lines()
                .filter(|l| l.starts_with("ml_operator_upgrades{"))
                .map(String::from)
                .collect();
            lines.sort();
            lines
        };
        let counts = BTreeMap::from([
            (("mojaloop".to_string(), Phase::Available), 2),
            (("mojaloop".to_string(), Phase::RolledBack), 1),
        ]);
        metrics.record_upgrades(&counts);
        assert_eq!(
            series(&metrics),
            [
                r#"ml_operator_upgrades{namespace="mojaloop",phase="Available"} 2"#,
                r#"ml_operator_upgrades{namespace="mojaloop",phase="RolledBack"} 1"#
            ]
        );
        metrics.record_upgrades(&BTreeMap::from([(
            ("mojaloop".to_string(), Phase::Succeeded),
            3,
        )]));
        assert_eq!(
            series(&metrics),
            [r#"ml_operator_upgrades{namespace="mojaloop",phase="Succeeded"} 3"#]
        );
    }

    #[test]
    fn an_update_keeps_the_time_it_was_first_seen_until_it_is_gone() {
        let metrics = Metrics::new(None);
        let report = |latest| crate::scan::Report {
            findings: vec![finding("v19.8.3", latest)],
            ..Default::default()
        };
        let took = Duration::from_millis(1);
        metrics.record_scan_at(&report(Some("v19.8.9")), took, false, 1_000);
        metrics.record_scan_at(&report(Some("v19.8.9")), took, false, 2_000);
        assert_eq!(since(&metrics), ["1000"], "kept from the first scan");
        metrics.record_scan_at(&report(Some("v19.8.10")), took, false, 3_000);
        assert_eq!(since(&metrics), ["3000"], "a newer target is a new update");
        metrics.record_scan_at(&report(None), took, false, 4_000);
        assert!(since(&metrics).is_empty(), "up to date: no series");
        metrics.record_scan_at(&report(Some("v19.8.10")), took, false, 5_000);
        assert_eq!(since(&metrics), ["5000"], "back again: new again");
    }

    #[test]
    fn the_gzip_exposition_is_the_text_one_compressed() {
        let metrics = Metrics::new(None);
        let findings = (0..500)
            .map(|i| {
                let mut finding = finding("v19.8.3", Some("v19.8.9"));
                finding.name = format!("ledger-{i}");
                finding
            })
            .collect();
        let report = crate::scan::Report {
            findings,
            ..Default::default()
        };
        metrics.record_scan_at(&report, Duration::from_millis(1), false, 1_000);
        let text = metrics.encode();
        let gzip = metrics.encode_gzip();
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
        assert!(text.contains("name=\"ledger-499\""), "{text}");
        assert!(
            gzip.len() * 10 < text.len(),
            "{} vs {}",
            gzip.len(),
            text.len()
        );
    }

    #[test]
    fn update_series_are_one_per_container_sorted_by_labels_each_keeping_its_first_seen_time() {
        let metrics = Metrics::new(None);
        let at = |namespace: &str, name: &str, container: &str, latest| {
            let mut finding = finding("v19.8.3", latest);
            (finding.namespace, finding.name, finding.container) =
                (namespace.into(), name.into(), container.into());
            finding
        };
        let took = Duration::from_millis(1);
        let first = crate::scan::Report {
            findings: vec![
                at("b", "ledger", "app", Some("v19.8.9")),
                at("a", "ledger", "app", None),
                at("b", "ledger", "app", Some("v19.8.9")),
            ],
            ..Default::default()
        };
        metrics.record_scan_at(&first, took, false, 1_000);
        let mut second = first.clone();
        second.findings[1].latest_tag = Some("v19.8.9".into());
        second.findings.push(at("b", "ledger", "migration", None));
        second
            .findings
            .push(at("a", "alias", "app", Some("v19.8.9")));
        metrics.record_scan_at(&second, took, false, 2_000);
        let text = metrics.encode();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ml_operator_update_available"))
            .collect();
        let labels = |ns, name, container, latest| {
            format!(
                r#"{{namespace="{ns}",kind="Deployment",name="{name}",container="{container}",image="mojaloop/central-ledger:v19.8.3",current="v19.8.3",latest="{latest}"}}"#
            )
        };
        let a_alias = labels("a", "alias", "app", "v19.8.9");
        let a_ledger = labels("a", "ledger", "app", "v19.8.9");
        let b_app = labels("b", "ledger", "app", "v19.8.9");
        let b_migration = labels("b", "ledger", "migration", "v19.8.3");
        assert_eq!(
            series,
            [
                format!("ml_operator_update_available{a_alias} 1"),
                format!("ml_operator_update_available{a_ledger} 1"),
                format!("ml_operator_update_available{b_app} 1"),
                format!("ml_operator_update_available{b_migration} 0"),
                format!("ml_operator_update_available_since_timestamp_seconds{a_alias} 2000"),
                format!("ml_operator_update_available_since_timestamp_seconds{a_ledger} 2000"),
                format!("ml_operator_update_available_since_timestamp_seconds{b_app} 1000"),
            ]
        );
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
