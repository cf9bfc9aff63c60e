//! A Helm release as Helm stores it in the cluster (Secret `sh.helm.release.v1.<name>.v<N>`,
//! key `release`: base64 of gzip of JSON), reduced at once to what an upgrade needs: the
//! release's name, namespace, chart and version, the image keys of its values (the chart's
//! defaults `chart.values` with the user's `config` over them, as Helm merges them) and, from the
//! rendered `manifest`, the (sub)chart each workload was rendered from. Nothing else of the
//! payload is kept: values hold passwords, and no error repeats any of it.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::images::{ImageKey, TooLarge, image_keys};
use super::path::Segment;
use crate::inventory::ImageRef;

/// Why a release payload could not be read. Never quotes the payload.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Not base64.
    #[error("the release is not base64")]
    Base64,
    /// Gzip could not be inflated.
    #[error("the release's gzip stream is corrupt")]
    Gzip,
    /// Inflated beyond the limit.
    #[error("the release inflates to more than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Not the JSON Helm writes (only where, never what).
    #[error("the release is not Helm's JSON ({category} at line {line}, column {column})")]
    Json {
        /// Syntax, data, …
        category: &'static str,
        /// 1-based line of the inflated JSON.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Values beyond the bounds.
    #[error("the release's values: {0}")]
    Values(#[from] TooLarge),
}

/// A deployed release, as far as image upgrades are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Revision.
    pub revision: u64,
    /// The chart's name (`chart.metadata.name`).
    pub chart: String,
    /// The chart's version.
    pub chart_version: String,
    /// The image keys of the merged values.
    pub keys: Vec<ImageKey>,
    /// For each rendered object (kind, name): the value scope of the chart that rendered it —
    /// `[]` for the release's own chart, `[centralledger, centralledger-service]` for a subchart
    /// two levels down (aliases are the names Helm renders under).
    pub scopes: BTreeMap<(String, String), Vec<String>>,
}

/// Which values key renders an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Exactly this one.
    Found(&'a ImageKey),
    /// More than one key, and nothing tells which.
    Ambiguous(Vec<&'a ImageKey>),
    /// No key holds the image (it comes from a subchart's own defaults or a template).
    NotFound,
}

#[derive(Deserialize)]
struct Payload {
    name: String,
    namespace: String,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    chart: Chart,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    manifest: String,
}

#[derive(Deserialize, Default)]
struct Chart {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    values: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

impl Release {
    /// Reads the `release` key of a Helm release Secret (already base64-decoded once by the
    /// API client: Helm encodes it again), inflating at most `limit` bytes.
    pub fn decode(data: &[u8], limit: u64) -> Result<Release, ReleaseError> {
        let compact: Vec<u8> = data
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| ReleaseError::Base64)?;
        // Helm gzips; a release written without compression is plain JSON.
        let json = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .take(limit + 1)
                .read_to_end(&mut inflated)
                .map_err(|_| ReleaseError::Gzip)?;
            inflated
        } else {
            raw
        };
        if json.len() as u64 > limit {
            return Err(ReleaseError::TooLarge { limit });
        }
        let payload: Payload = serde_json::from_slice(&json).map_err(|e| ReleaseError::Json {
            category: match e.classify() {
                serde_json::error::Category::Io => "read error",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected data",
                serde_json::error::Category::Eof => "truncated",
            },
            line: e.line(),
            column: e.column(),
        })?;
        drop(json);
        let merged = coalesce(
            payload.chart.values.unwrap_or(Value::Null),
            payload.config.unwrap_or(Value::Null),
        );
        Ok(Release {
            keys: image_keys(&merged)?,
            scopes: scopes(&payload.manifest),
            name: payload.name,
            namespace: payload.namespace,
            revision: payload.version,
            chart: payload.chart.metadata.name,
            chart_version: payload.chart.metadata.version,
        })
    }

    /// The key that renders `image` in the workload `kind`/`name`: among the keys holding that
    /// image, those in the scope of the chart that rendered the workload, nearest first.
    pub fn lookup(&self, kind: &str, name: &str, image: &ImageRef) -> Lookup<'_> {
        let candidates: Vec<&ImageKey> = self.keys.iter().filter(|k| k.renders(image)).collect();
        let scope: Option<Vec<Segment>> = self
            .scopes
            .get(&(kind.to_string(), name.to_string()))
            .map(|s| s.iter().cloned().map(Segment::Key).collect());
        let narrowed: Vec<&ImageKey> = match &scope {
            Some(scope) => {
                let inside: Vec<&ImageKey> = candidates
                    .iter()
                    .copied()
                    .filter(|k| k.path.starts_with(scope))
                    .collect();
                // Nearest the chart's own values: a deeper key belongs to a subchart of it.
                match inside.iter().map(|k| k.path.0.len()).min() {
                    Some(depth) => inside
                        .into_iter()
                        .filter(|k| k.path.0.len() == depth)
                        .collect(),
                    None => candidates,
                }
            }
            None => candidates,
        };
        match narrowed.as_slice() {
            [] => Lookup::NotFound,
            [one] => Lookup::Found(one),
            _ => Lookup::Ambiguous(narrowed),
        }
    }
}

/// `config` over `defaults`, as Helm coalesces values: mappings merge key by key, anything else
/// replaces, and `null` deletes the default.
fn coalesce(defaults: Value, config: Value) -> Value {
    match (defaults, config) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (key, value) in over {
                if value.is_null() {
                    base.remove(&key);
                    continue;
                }
                let merged = match base.remove(&key) {
                    Some(old) => coalesce(old, value),
                    None => value,
                };
                base.insert(key, merged);
            }
            Value::Object(base)
        }
        (defaults, Value::Null) => defaults,
        (_, config) => config,
    }
}

#[derive(Deserialize)]
struct Head {
    kind: Option<String>,
    metadata: Option<HeadMetadata>,
}

#[derive(Deserialize)]
struct HeadMetadata {
    name: Option<String>,
}

/// From a rendered manifest's `# Source: root/charts/a/charts/b/templates/x.yaml` comments,
/// each object's (kind, name) and the value scope (`[a, b]`) of the chart that rendered it.
fn scopes(manifest: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut found = BTreeMap::new();
    for document in manifest.split("\n---") {
        let Some(source) = document
            .lines()
            .find_map(|line| line.trim().strip_prefix("# Source: "))
        else {
            continue;
        };
        let Some((chart_dir, _template)) = source.split_once("/templates/") else {
            continue;
        };
        let scope: Vec<String> = chart_dir
            .split('/')
            .skip(1)
            .collect::<Vec<_>>()
            .chunks(2)
            .filter_map(|pair| match pair {
                ["charts", name] => Some(name.to_string()),
                _ => None,
            })
            .collect();
        let Ok(head) = serde_saphyr::from_str::<Head>(document.trim_start_matches("---")) else {
            continue;
        };
        if let (Some(kind), Some(name)) = (head.kind, head.metadata.and_then(|m| m.name)) {
            found.insert((kind, name), scope);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    fn encode(payload: &Value) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(payload.to_string().as_bytes()).unwrap();
        let zipped = gz.finish().unwrap();
        base64::engine::general_purpose::STANDARD
            .encode(zipped)
            .into_bytes()
    }

    fn mojaloop_release() -> Value {
        json!({
            "name": "hub", "namespace": "hub", "version": 3,
            "info": {"status": "deployed"},
            "chart": {
                "metadata": {"name": "mojaloop", "version": "17.1.0"},
                "values": {
                    "centralledger": {
                        "centralledger-service": {"image": {"repository": "mojaloop/central-ledger", "tag": "v17.8.0"}},
                        "centralledger-handler-transfer-prepare": {"image": {"repository": "mojaloop/central-ledger", "tag": "v17.8.0"}},
                    },
                    "mysql": {"auth": {"rootPassword": "s3cret-root"}},
                },
            },
            "config": {"centralledger": {"centralledger-service": {"image": {"tag": "v17.8.0"}}}, "mysql": {"auth": {"password": "s3cret"}}},
            "manifest": "---\n# Source: mojaloop/charts/centralledger/charts/centralledger-service/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub-centralledger-service\n---\n# Source: mojaloop/charts/centralledger/charts/centralledger-handler-transfer-prepare/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub-centralledger-handler-transfer-prepare\n---\n# Source: mojaloop/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hub-db\nstringData:\n  password: s3cret\n",
        })
    }

    #[test]
    fn reads_the_release_and_traces_each_workload_to_its_key() {
        let release = Release::decode(&encode(&mojaloop_release()), 1 << 20).unwrap();
        assert_eq!((release.name.as_str(), release.revision), ("hub", 3));
        assert_eq!(
            (release.chart.as_str(), release.chart_version.as_str()),
            ("mojaloop", "17.1.0")
        );
        let image = ImageRef::parse("mojaloop/central-ledger:v17.8.0").unwrap();
        let found = |name| match release.lookup("Deployment", name, &image) {
            Lookup::Found(key) => key.path.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            found("hub-centralledger-service"),
            "centralledger.centralledger-service.image.tag"
        );
        assert_eq!(
            found("hub-centralledger-handler-transfer-prepare"),
            "centralledger.centralledger-handler-transfer-prepare.image.tag"
        );
        // Without a Source comment, two keys hold the image and nothing says which.
        assert!(matches!(
            release.lookup("Deployment", "unknown", &image),
            Lookup::Ambiguous(keys) if keys.len() == 2
        ));
        let other = ImageRef::parse("mojaloop/central-ledger:v1.0.0").unwrap();
        assert_eq!(
            release.lookup("Deployment", "hub-centralledger-service", &other),
            Lookup::NotFound
        );
        assert_eq!(
            release.scopes.get(&("Secret".into(), "hub-db".into())),
            Some(&Vec::new())
        );
    }

    #[test]
    fn user_values_win_and_null_deletes() {
        let mut payload = mojaloop_release();
        payload["config"] = json!({"centralledger": {
            "centralledger-service": {"image": {"tag": "v17.9.0"}},
            "centralledger-handler-transfer-prepare": null}});
        let release = Release::decode(&encode(&payload), 1 << 20).unwrap();
        let keys: Vec<String> = release
            .keys
            .iter()
            .map(|k| format!("{}={}", k.path, k.tag))
            .collect();
        assert_eq!(
            keys,
            ["centralledger.centralledger-service.image.tag=v17.9.0"]
        );
    }

    #[test]
    fn hostile_payloads_fail_without_repeating_them() {
        let too_big = Release::decode(&encode(&mojaloop_release()), 100).unwrap_err();
        assert!(matches!(too_big, ReleaseError::TooLarge { limit: 100 }));
        assert!(matches!(
            Release::decode(b"%%%", 1 << 20),
            Err(ReleaseError::Base64)
        ));
        let corrupt = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 0, 1, 2, 3]);
        assert!(matches!(
            Release::decode(corrupt.as_bytes(), 1 << 20),
            Err(ReleaseError::Gzip)
        ));
        let wrong = encode(&json!({"name": "hub", "namespace": {"password": "s3cret"}}));
        let err = Release::decode(&wrong, 1 << 20).unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
        // A zip bomb stops at the limit instead of filling memory.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 50 << 20]).unwrap();
        let bomb = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        assert!(matches!(
            Release::decode(bomb.as_bytes(), 1 << 20),
            Err(ReleaseError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_payload_s_other_values_are_not_kept() {
        let release = Release::decode(&encode(&mojaloop_release()), 1 << 20).unwrap();
        assert!(!format!("{release:?}").contains("s3cret"));
    }
}
