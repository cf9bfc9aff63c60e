//! Decoding of Kubernetes protobuf request bodies for the few kinds `kubectl create <generator>`
//! sends that way (`namespace`, `configmap`, `secret`, `serviceaccount`): the `k8s\0` envelope
//! (`runtime.Unknown`), `ObjectMeta`, and each kind's own fields. Other kinds answer 415.

use base64::Engine;
use serde_json::{Map, Value, json};

/// The magic prefix of Kubernetes protobuf bodies.
const MAGIC: &[u8] = b"k8s\0";

/// Minimal protobuf wire reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A decoded field value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    /// The next (field number, value), or `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let n = self.varint()? as usize;
                let end = self
                    .pos
                    .checked_add(n)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or("truncated field")?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(b)
            }
            1 => {
                self.pos += 8;
                Wire::Fixed
            }
            5 => {
                self.pos += 4;
                Wire::Fixed
            }
            t => return Err(format!("unsupported wire type {t}")),
        };
        Ok(Some((tag >> 3, wire)))
    }
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in string field".to_string())
}

/// A `map<string, string>` (or `map<string, bytes>` rendered as base64) entry.
fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), String> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((f, w)) = r.field()? {
        match (f, w) {
            (1, Wire::Bytes(x)) => k = text(x)?,
            (2, Wire::Bytes(x)) if bytes_value => {
                v = json!(base64::engine::general_purpose::STANDARD.encode(x))
            }
            (2, Wire::Bytes(x)) => v = json!(text(x)?),
            _ => {}
        }
    }
    Ok((k, v))
}

fn insert_entry(m: &mut Map<String, Value>, field: &str, entry: (String, Value)) {
    let o = m.entry(field).or_insert_with(|| json!({}));
    if let Some(o) = o.as_object_mut() {
        o.insert(entry.0, entry.1);
    }
}

fn push(m: &mut Map<String, Value>, field: &str, v: Value) {
    let a = m.entry(field).or_insert_with(|| json!([]));
    if let Some(a) = a.as_array_mut() {
        a.push(v);
    }
}

/// `ObjectMeta`: the fields a client sets on create.
fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    while let Some((f, w)) = r.field()? {
        match (f, w) {
            (1, Wire::Bytes(x)) => {
                m.insert("name".into(), json!(text(x)?));
            }
            (2, Wire::Bytes(x)) => {
                m.insert("generateName".into(), json!(text(x)?));
            }
            (3, Wire::Bytes(x)) => {
                m.insert("namespace".into(), json!(text(x)?));
            }
            (6, Wire::Bytes(x)) => {
                m.insert("resourceVersion".into(), json!(text(x)?));
            }
            (11, Wire::Bytes(x)) => insert_entry(&mut m, "labels", map_entry(x, false)?),
            (12, Wire::Bytes(x)) => insert_entry(&mut m, "annotations", map_entry(x, false)?),
            (14, Wire::Bytes(x)) => push(&mut m, "finalizers", json!(text(x)?)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// `LocalObjectReference`/`ObjectReference` name (field 1 in `LocalObjectReference`, 3 in `ObjectReference`).
fn reference(b: &[u8], name_field: u64) -> Result<Value, String> {
    let mut r = Reader::new(b);
    let mut name = String::new();
    while let Some((f, w)) = r.field()? {
        if let (true, Wire::Bytes(x)) = (f == name_field, w) {
            name = text(x)?;
        }
    }
    Ok(json!({ "name": name }))
}

/// Decodes a protobuf body into JSON, for the supported kinds.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("missing the k8s protobuf magic prefix")?;
    let mut r = Reader::new(rest);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((f, w)) = r.field()? {
        match (f, w) {
            (1, Wire::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((tf, tw)) = t.field()? {
                    match (tf, tw) {
                        (1, Wire::Bytes(x)) => api_version = text(x)?,
                        (2, Wire::Bytes(x)) => kind = text(x)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let mut r = Reader::new(raw);
    while let Some((f, w)) = r.field()? {
        match (kind.as_str(), f, w) {
            (_, 1, Wire::Bytes(x)) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            ("Namespace", 2, Wire::Bytes(x)) => {
                let mut s = Reader::new(x);
                let mut spec = Map::new();
                while let Some((sf, sw)) = s.field()? {
                    if let (1, Wire::Bytes(v)) = (sf, sw) {
                        push(&mut spec, "finalizers", json!(text(v)?));
                    }
                }
                obj.insert("spec".into(), Value::Object(spec));
            }
            ("ConfigMap", 2, Wire::Bytes(x)) => {
                insert_entry(&mut obj, "data", map_entry(x, false)?)
            }
            ("ConfigMap", 3, Wire::Bytes(x)) => {
                insert_entry(&mut obj, "binaryData", map_entry(x, true)?)
            }
            ("ConfigMap", 4, Wire::Varint(v)) | ("Secret", 5, Wire::Varint(v)) => {
                obj.insert("immutable".into(), json!(v != 0));
            }
            ("Secret", 2, Wire::Bytes(x)) => insert_entry(&mut obj, "data", map_entry(x, true)?),
            ("Secret", 3, Wire::Bytes(x)) => {
                obj.insert("type".into(), json!(text(x)?));
            }
            ("Secret", 4, Wire::Bytes(x)) => {
                insert_entry(&mut obj, "stringData", map_entry(x, false)?)
            }
            ("ServiceAccount", 2, Wire::Bytes(x)) => push(&mut obj, "secrets", reference(x, 3)?),
            ("ServiceAccount", 3, Wire::Bytes(x)) => {
                push(&mut obj, "imagePullSecrets", reference(x, 1)?)
            }
            ("ServiceAccount", 4, Wire::Varint(v)) => {
                obj.insert("automountServiceAccountToken".into(), json!(v != 0));
            }
            ("Namespace" | "ConfigMap" | "Secret" | "ServiceAccount", _, _) => {}
            (other, _, _) => {
                return Err(format!(
                    "protobuf bodies are only decoded for Namespace, ConfigMap, Secret and ServiceAccount, not {other}; send JSON"
                ));
            }
        }
    }
    if obj.get("metadata").is_none() {
        obj.insert("metadata".into(), json!({}));
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(field: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![(field << 3) | 2, data.len() as u8];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_secret_envelope() {
        let meta = [
            ld(1, b"pull"),
            ld(
                11,
                &[ld(1, b"app").as_slice(), ld(2, b"x").as_slice()].concat(),
            ),
        ]
        .concat();
        let data_entry = [ld(1, b".dockerconfigjson"), ld(2, b"{}")].concat();
        let raw = [
            ld(1, &meta),
            ld(2, &data_entry),
            ld(3, b"kubernetes.io/dockerconfigjson"),
        ]
        .concat();
        let type_meta = [ld(1, b"v1"), ld(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), ld(1, &type_meta), ld(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "pull");
        assert_eq!(v["metadata"]["labels"]["app"], "x");
        assert_eq!(v["data"][".dockerconfigjson"], "e30=");
        assert_eq!(v["type"], "kubernetes.io/dockerconfigjson");
    }

    #[test]
    fn other_kinds_are_refused() {
        let type_meta = [ld(1, b"apps/v1"), ld(2, b"Deployment")].concat();
        let raw = [ld(1, &ld(1, b"d")), ld(2, b"")].concat();
        let body = [MAGIC.to_vec(), ld(1, &type_meta), ld(2, &raw)].concat();
        assert!(decode(&body).unwrap_err().contains("Deployment"));
        assert!(decode(b"{}").is_err());
    }
}
