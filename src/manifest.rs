//! Reading workloads from manifest files: `check -f PATH`.
//!
//! Accepts what people actually have lying around: single files, directories (walked
//! recursively for `.yaml`, `.yml` and `.json`), `-` for stdin, multi-document YAML, JSON
//! (including `kubectl get -o json` output), `kind: List`, and live-cluster exports with
//! `status` and `managedFields`. Every error names the file and the line of the document.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::inventory::Workload;

/// What a set of manifest paths holds.
#[derive(Debug, Default)]
pub struct Manifests {
    /// Every workload found, in file and document order.
    pub workloads: Vec<Workload>,
    /// Objects that are not workloads (Services, ConfigMaps, …): counted, then skipped.
    pub other_objects: usize,
    /// Documents skipped because they are not Kubernetes objects, each saying where and why.
    pub warnings: Vec<String>,
}

/// A manifest that cannot be read, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub struct ManifestError {
    /// `path:line`, or just the path when no line applies.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// One Kubernetes object read from a manifest (items of a `List` are objects of their own).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// `path:line` of the document it came from.
    pub location: String,
    /// The object as JSON.
    pub value: Value,
}

/// Every Kubernetes object under `paths` (`-` is stdin), in file and document order, plus
/// warnings for documents that are not Kubernetes objects.
pub fn read_objects(paths: &[PathBuf]) -> Result<(Vec<Object>, Vec<String>), ManifestError> {
    let mut objects = Vec::new();
    let mut warnings = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| ManifestError {
                    location: "<stdin>".to_string(),
                    message: format!("cannot read: {e}"),
                })?;
            read_text("<stdin>", &text, false, &mut objects, &mut warnings)?;
            continue;
        }
        for file in manifest_files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|e| ManifestError {
                location: file.display().to_string(),
                message: format!("cannot read: {e}"),
            })?;
            let is_json = file.extension().is_some_and(|e| e == "json");
            read_text(
                &file.display().to_string(),
                &text,
                is_json,
                &mut objects,
                &mut warnings,
            )?;
        }
    }
    Ok((objects, warnings))
}

/// Reads every workload under `paths` (`-` is stdin). Objects without a namespace get
/// `default_namespace`, as `kubectl apply` would.
pub fn load(paths: &[PathBuf], default_namespace: &str) -> Result<Manifests, ManifestError> {
    let (objects, warnings) = read_objects(paths)?;
    workloads_of(objects, warnings, default_namespace)
}

fn workloads_of(
    objects: Vec<Object>,
    warnings: Vec<String>,
    default_namespace: &str,
) -> Result<Manifests, ManifestError> {
    let mut manifests = Manifests {
        warnings,
        ..Manifests::default()
    };
    for object in objects {
        match Workload::from_object(&object.value, default_namespace) {
            Ok(Some(workload)) => manifests.workloads.push(workload),
            Ok(None) => manifests.other_objects += 1,
            Err(e) => {
                return Err(ManifestError {
                    location: object.location,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(manifests)
}

/// The files a path stands for: itself, or every manifest below a directory, sorted so runs
/// are reproducible. Hidden entries (`.git`) are skipped.
fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let error = |e: std::io::Error| ManifestError {
        location: path.display().to_string(),
        message: format!("cannot read: {e}"),
    };
    let metadata = std::fs::metadata(path).map_err(error)?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(error)?;
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            files.extend(manifest_files(&entry)?);
        } else if entry
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            files.push(entry);
        }
    }
    Ok(files)
}

fn read_text(
    name: &str,
    text: &str,
    is_json: bool,
    objects: &mut Vec<Object>,
    warnings: &mut Vec<String>,
) -> Result<(), ManifestError> {
    let looks_like_json = text.trim_start().starts_with(['{', '[']);
    let documents = if is_json || looks_like_json {
        json_documents(name, text)?
    } else {
        yaml_documents(name, text)?
    };
    for (line, document) in documents {
        add_object(format!("{name}:{line}"), document, objects, warnings)?;
    }
    Ok(())
}

/// One or more concatenated JSON values, each with the line it starts on.
fn json_documents(name: &str, text: &str) -> Result<Vec<(usize, Value)>, ManifestError> {
    let mut documents = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let offset = stream.byte_offset();
        match stream.next() {
            None => return Ok(documents),
            Some(Ok(value)) => {
                let skipped_space = text[offset..].len() - text[offset..].trim_start().len();
                documents.push((line_of(text, offset + skipped_space), value));
            }
            Some(Err(e)) => {
                return Err(ManifestError {
                    location: format!("{name}:{}", e.line()),
                    message: format!("invalid JSON: {e}"),
                });
            }
        }
    }
}

fn line_of(text: &str, byte_offset: usize) -> usize {
    text[..byte_offset].matches('\n').count() + 1
}

/// Splits a YAML stream at `---` lines ourselves, so one bad document is reported with its own
/// line and the line numbers of every document are those of the file. A document's line is the
/// line of its first content (not a comment or blank line).
fn yaml_documents(name: &str, text: &str) -> Result<Vec<(usize, Value)>, ManifestError> {
    let mut documents = Vec::new();
    let mut chunk = Chunk::default();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let is_marker = |marker: &str| {
            line.strip_prefix(marker)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if is_marker("---") {
            documents.extend(chunk.parse(name)?);
            // Content on the marker line (`--- {a: 1}`) belongs to the new document.
            chunk = Chunk::default();
            chunk.push(line_number, line[3..].trim_start());
        } else if is_marker("...") {
            documents.extend(chunk.parse(name)?);
            chunk = Chunk::default();
        } else {
            chunk.push(line_number, line);
        }
    }
    documents.extend(chunk.parse(name)?);
    Ok(documents)
}

/// The lines of one YAML document, remembering where they start in the file.
#[derive(Default)]
struct Chunk {
    text: String,
    /// File line of the chunk's first line: parser line numbers are relative to it.
    first_line: Option<usize>,
    /// File line of the first content line: where the document "is".
    content_line: Option<usize>,
}

impl Chunk {
    fn push(&mut self, line_number: usize, line: &str) {
        self.first_line.get_or_insert(line_number);
        let is_content = !line.trim().is_empty() && !line.trim_start().starts_with('#');
        if is_content {
            self.content_line.get_or_insert(line_number);
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn parse(&self, name: &str) -> Result<Option<(usize, Value)>, ManifestError> {
        let (Some(first_line), Some(content_line)) = (self.first_line, self.content_line) else {
            return Ok(None);
        };
        let value: Value = serde_saphyr::from_str(&self.text).map_err(|e| {
            let line = e.location().map_or(1, |l| l.line() as usize).max(1);
            ManifestError {
                location: format!("{name}:{}", first_line + line - 1),
                message: format!("invalid YAML: {}", first_line_of(&e.to_string())),
            }
        })?;
        Ok(Some((content_line, value)))
    }
}

/// The parser's message without its own "error: line N column M:" prefix (its lines count from
/// the document, ours from the file) and without the source snippet it appends.
fn first_line_of(message: &str) -> &str {
    let first = message.lines().next().unwrap_or(message);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((_position, rest)) => rest,
        None => first,
    }
}

fn add_object(
    location: String,
    object: Value,
    objects: &mut Vec<Object>,
    warnings: &mut Vec<String>,
) -> Result<(), ManifestError> {
    let Some(kind) = object.get("kind").and_then(Value::as_str) else {
        warnings.push(format!(
            "{location}: not a Kubernetes object (no `kind`), skipped"
        ));
        return Ok(());
    };
    if kind == "List" || (kind.ends_with("List") && object.get("items").is_some()) {
        let Some(Value::Array(items)) = object.get("items").cloned() else {
            return Err(ManifestError {
                location,
                message: format!("{kind}: items must be a list"),
            });
        };
        for item in items {
            add_object(location.clone(), item, objects, warnings)?;
        }
        return Ok(());
    }
    objects.push(Object {
        location,
        value: object,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_named(name: &str, text: &str, is_json: bool) -> Result<Manifests, ManifestError> {
        let (mut objects, mut warnings) = (Vec::new(), Vec::new());
        read_text(name, text, is_json, &mut objects, &mut warnings)?;
        workloads_of(objects, warnings, "default")
    }

    fn load_str(text: &str) -> Result<Manifests, ManifestError> {
        load_named("m.yaml", text, false)
    }

    const DEPLOYMENT: &str = "kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: 'x:1'}]\n";

    #[test]
    fn splits_documents_and_counts_other_objects() {
        let text = format!(
            "# leading comment\n---\n{DEPLOYMENT}---\nkind: Service\nmetadata: {{name: s}}\n--- # c\n...\n"
        );
        let manifests = load_str(&text).unwrap();
        assert_eq!(manifests.workloads.len(), 1);
        assert_eq!(manifests.other_objects, 1);
        assert!(manifests.warnings.is_empty());
    }

    #[test]
    fn yaml_errors_name_the_line_of_the_file() {
        let text = format!("{DEPLOYMENT}---\nkind: Service\nmetadata:\n  name: [unclosed\n");
        let err = load_str(&text).unwrap_err();
        assert!(err.location.starts_with("m.yaml:"), "{err}");
        let line: usize = err.location["m.yaml:".len()..].parse().unwrap();
        assert!((8..=11).contains(&line), "{err}");
        assert!(err.message.starts_with("invalid YAML"), "{err}");
    }

    #[test]
    fn workload_errors_name_the_document_line() {
        let text =
            format!("{DEPLOYMENT}---\nkind: StatefulSet\nmetadata: {{name: db}}\nspec: {{}}\n");
        let err = load_str(&text).unwrap_err();
        assert_eq!(err.location, "m.yaml:8");
        assert_eq!(
            err.message,
            "StatefulSet \"db\": spec.template.spec is missing"
        );
    }

    #[test]
    fn json_streams_and_lists() {
        let text = r#"{"kind": "List", "items": [
            {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}},
            {"kind": "ConfigMap", "metadata": {"name": "cm"}}]}
        {"kind": "Pod", "metadata": {"name": "q"}, "spec": {"containers": []}}"#;
        let err = load_named("x.json", text, true).unwrap_err();
        assert_eq!(err.location, "x.json:4");
        let valid = &text[..text
            .rfind("{\"kind\": \"Pod\", \"metadata\": {\"name\": \"q\"")
            .unwrap()];
        let manifests = load_named("x.json", valid, true).unwrap();
        assert_eq!(manifests.workloads.len(), 1);
        assert_eq!(manifests.other_objects, 1);

        let err = load_named("y.json", "{\"kind\": \n\"Pod\",,}", true).unwrap_err();
        assert_eq!(err.location, "y.json:2");
    }

    #[test]
    fn documents_without_kind_are_warned_about() {
        let manifests = load_str("replicaCount: 3\n---\n- a\n").unwrap();
        assert_eq!(manifests.warnings.len(), 2);
        assert!(manifests.warnings[0].starts_with("m.yaml:1: not a Kubernetes object"));
        assert!(manifests.warnings[1].starts_with("m.yaml:3:"));
    }
}
