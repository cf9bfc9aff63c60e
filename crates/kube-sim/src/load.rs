//! Manifest loading: files and directories (recursively, `*.yaml`, `*.yml`, `*.json`, in name
//! order), multi-document YAML split by hand so each error names its file and line, JSON, and
//! `kind: List` (or any `*List` with `items`) flattened into its items.

use crate::error::Error;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One object read from disk, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// Source file.
    pub path: PathBuf,
    /// 1-based line where its document starts.
    pub line: usize,
    /// The object.
    pub object: Value,
}

/// Loads every manifest under `path` (a file or a directory).
pub(crate) fn load_path(path: &Path) -> Result<Vec<Loaded>, Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| Error::Read {
                path: path.into(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut out = vec![];
        for e in entries {
            let is_manifest = e
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"));
            if e.is_dir() || is_manifest {
                out.extend(load_path(&e)?);
            }
        }
        return Ok(out);
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    parse_text(path, &text)
}

/// Splits a YAML stream into (first line, document text), dropping empty documents.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = vec![];
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_sep =
            line == "---" || line.starts_with("--- ") || line.starts_with("---\t") || line == "...";
        if is_sep {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            if let Some(rest) = line.strip_prefix("--- ") {
                // Content on the separator line (`--- {a: 1}`) belongs to the next document.
                cur.push_str(rest);
                cur.push('\n');
                start = i + 1;
            }
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs.into_iter()
        .filter(|(_, d)| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Parses one file's text (JSON when it looks like JSON, else YAML).
pub(crate) fn parse_text(path: &Path, text: &str) -> Result<Vec<Loaded>, Error> {
    let mut values = vec![];
    let is_json = path.extension().and_then(|x| x.to_str()) == Some("json")
        || text.trim_start().starts_with('{');
    if is_json {
        let v: Value = serde_json::from_str(text).map_err(|e| Error::Parse {
            path: path.into(),
            line: e.line(),
            message: e.to_string(),
        })?;
        values.push((1, v));
    } else {
        for (start, doc) in split_documents(text) {
            let v: Value = serde_saphyr::from_str(&doc).map_err(|e| Error::Parse {
                path: path.into(),
                line: start
                    + e.location()
                        .map(|l| l.line() as usize)
                        .unwrap_or(1)
                        .saturating_sub(1),
                message: e.to_string(),
            })?;
            if !v.is_null() {
                values.push((start, v));
            }
        }
    }
    let mut out = vec![];
    for (line, v) in values {
        flatten(path, line, v, &mut out)?;
    }
    Ok(out)
}

/// Validates and flattens one document into objects.
pub(crate) fn flatten(
    path: &Path,
    line: usize,
    v: Value,
    out: &mut Vec<Loaded>,
) -> Result<(), Error> {
    let bad = |message: String| Error::Manifest {
        path: path.into(),
        line,
        message,
    };
    if !v.is_object() {
        return Err(bad(
            "document is not a mapping (expected a Kubernetes object)".into(),
        ));
    }
    let kind = v["kind"]
        .as_str()
        .ok_or_else(|| bad("missing \"kind\"".into()))?;
    if kind.ends_with("List") && v["items"].is_array() {
        for item in v["items"].as_array().into_iter().flatten() {
            flatten(path, line, item.clone(), out)?;
        }
        return Ok(());
    }
    if v["apiVersion"].as_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{kind}: missing \"apiVersion\"")));
    }
    if v["metadata"]["name"].as_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{kind}: missing \"metadata.name\"")));
    }
    out.push(Loaded {
        path: path.into(),
        line,
        object: v,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_doc_yaml_with_lists_and_empty_docs() {
        let text = "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: c}\n";
        let out = parse_text(Path::new("x.yaml"), text).unwrap();
        let names: Vec<_> = out
            .iter()
            .map(|l| l.object["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(out[0].line, 4);
        assert_eq!(out[1].line, 9);
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [unclosed\n";
        let e = parse_text(Path::new("bad.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.yaml:"), "{e}");
        let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
        assert!(line >= 5, "{e}");
    }

    #[test]
    fn missing_fields_are_reported_with_location() {
        let e = parse_text(
            Path::new("m.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "m.yaml:1: ConfigMap: missing \"metadata.name\"");
    }

    #[test]
    fn json_documents() {
        let out = parse_text(Path::new("o.json"), r#"{"apiVersion":"v1","kind":"ConfigMapList","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"}}]}"#).unwrap();
        assert_eq!(out.len(), 1);
    }
}
