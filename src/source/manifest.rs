//! Reading workloads from manifest files: `check -f PATH`.
//!
//! Accepts what people actually have lying around: single files, directories (walked
//! recursively for `.yaml`, `.yml` and `.json`), `-` for stdin, multi-document YAML, JSON
//! (including `kubectl get -o json` output), `kind: List` and typed lists (`DeploymentList`, as
//! the API returns them, whose items have no `kind`), and live-cluster exports with `status` and
//! `managedFields`. Every error names the file and the line of the document.
//!
//! Hostile or careless input is bounded: one input (a file, stdin) is read up to
//! `max_input_bytes` ([`DEFAULT_MAX_INPUT_BYTES`]); a directory walk follows symbolic links but
//! reads each real file (device and inode) once and leaves loops; FIFOs, sockets and devices met
//! in a walk are skipped with a warning (one named on the command line is read, up to the limit:
//! `-f <(helm template …)`); a document nested deeper than the parsers allow is skipped with a
//! warning, unless it is a workload or a list, which is an error.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::inventory::{Workload, WorkloadKind};

/// The largest input read by default: 64 MiB per file or stdin (`check --max-input-size`).
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// How deep a YAML document may nest (serde-saphyr's default budget): deeper ones are skipped.
const YAML_MAX_DEPTH: usize = 64;
/// How deep a JSON document may nest (serde_json's recursion limit): deeper ones are skipped.
const JSON_MAX_DEPTH: usize = 128;

/// What a set of manifest paths holds.
#[derive(Debug, Default)]
pub struct Manifests {
    /// Every workload found, in file and document order.
    pub workloads: Vec<Workload>,
    /// Objects that are not workloads (Services, ConfigMaps, …): counted, then skipped.
    pub other_objects: usize,
    /// Documents and files skipped, each saying where and why.
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

impl ManifestError {
    fn new(location: impl fmt::Display, message: impl Into<String>) -> ManifestError {
        ManifestError {
            location: location.to_string(),
            message: message.into(),
        }
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
/// warnings for what was skipped. Each input may hold at most `max_input_bytes`.
pub fn read_objects(
    paths: &[PathBuf],
    max_input_bytes: u64,
) -> Result<(Vec<Object>, Vec<String>), ManifestError> {
    let mut reader = Reader {
        max_input_bytes,
        ..Reader::default()
    };
    for path in paths {
        reader.read_path(path)?;
    }
    Ok((reader.objects, reader.warnings))
}

/// Reads every workload under `paths` (`-` is stdin), each input at most `max_input_bytes`.
/// Objects without a namespace get `default_namespace`, as `kubectl apply` would.
pub fn load(
    paths: &[PathBuf],
    default_namespace: &str,
    max_input_bytes: u64,
) -> Result<Manifests, ManifestError> {
    let (objects, warnings) = read_objects(paths, max_input_bytes)?;
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
            Err(e) => return Err(ManifestError::new(object.location, e.to_string())),
        }
    }
    Ok(manifests)
}

/// `1 GiB`, `64 MiB`, `512 KiB` or `1000 bytes`: a limit as people set it.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(size, _)| bytes >= *size && bytes.is_multiple_of(*size))
        .map_or_else(
            || format!("{bytes} bytes"),
            |(size, unit)| format!("{} {unit}", bytes / size),
        )
}

/// A size that is not `BYTES` or a number with a `K`, `M` or `G` suffix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid size {0:?}: give bytes (1048576) or a number with K, M or G (64M = 64 MiB), at least 1 byte"
)]
pub struct InvalidSize(String);

/// Parses a size: plain bytes (`1048576`) or a number with a binary suffix `K`, `M`, `G` (also
/// `KiB`, `MiB`, `GiB`, any case): `64M` is 64 MiB. Zero is refused: nothing could be read.
pub fn parse_size(text: &str) -> Result<u64, InvalidSize> {
    let invalid = || InvalidSize(text.to_string());
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(invalid()),
    };
    let number: u64 = number.parse().map_err(|_| invalid())?;
    number
        .checked_mul(1 << shift)
        .filter(|&bytes| bytes > 0)
        .ok_or_else(invalid)
}

/// The state of one [`read_objects`]: what was read so far and which real files were seen.
#[derive(Default)]
struct Reader {
    max_input_bytes: u64,
    /// Regular files and directories already read, by (device, inode), with the path read.
    seen: HashMap<(u64, u64), PathBuf>,
    objects: Vec<Object>,
    warnings: Vec<String>,
}

impl Reader {
    fn read_path(&mut self, path: &Path) -> Result<(), ManifestError> {
        if path.as_os_str() == "-" {
            let text = read_capped(std::io::stdin().lock(), "<stdin>", self.max_input_bytes)?;
            return self.read_text("<stdin>", &text, false);
        }
        let metadata = std::fs::metadata(path).map_err(|e| cannot_read(path, &e))?;
        if metadata.is_dir() {
            self.walk(path)
        } else {
            self.read_file(path, &metadata)
        }
    }

    /// Every manifest below `root`, sorted so runs are reproducible, hidden entries (`.git`)
    /// skipped, symbolic links followed but each real directory and file visited once.
    fn walk(&mut self, root: &Path) -> Result<(), ManifestError> {
        let mut entries = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    self.walk_error(e)?;
                    continue;
                }
            };
            let path = entry.path();
            let is_dir = entry.file_type().is_dir();
            if entry.depth() > 0 && is_hidden(path) {
                if is_dir {
                    entries.skip_current_dir();
                }
                continue;
            }
            if !is_dir && !has_manifest_extension(path) {
                continue;
            }
            let metadata = entry.metadata().map_err(|e| {
                let io = walk_io_error(e);
                cannot_read(path, &io)
            })?;
            if is_dir {
                if !self.first_visit(path, &metadata) {
                    entries.skip_current_dir();
                }
            } else if metadata.is_file() {
                self.read_file(path, &metadata)?;
            } else {
                self.warnings.push(format!(
                    "{}: skipped: not a regular file ({})",
                    path.display(),
                    file_type_name(&metadata)
                ));
            }
        }
        Ok(())
    }

    /// A loop becomes a warning; a dangling link that is not named like a manifest is ignored
    /// (as it always was); anything else cannot be read.
    fn walk_error(&mut self, error: walkdir::Error) -> Result<(), ManifestError> {
        let path = error.path().map(Path::to_path_buf).unwrap_or_default();
        if let Some(ancestor) = error.loop_ancestor() {
            self.warnings.push(format!(
                "{}: skipped: a symbolic link back to {} (a loop)",
                path.display(),
                ancestor.display()
            ));
            return Ok(());
        }
        let io = walk_io_error(error);
        let dangling = io.kind() == std::io::ErrorKind::NotFound && !has_manifest_extension(&path);
        if dangling || is_hidden(&path) {
            return Ok(());
        }
        Err(cannot_read(&path, &io))
    }

    /// Whether this is the first time the real file or directory behind `path` is met; the
    /// second time is a warning naming both paths.
    fn first_visit(&mut self, path: &Path, metadata: &std::fs::Metadata) -> bool {
        let key = (metadata.dev(), metadata.ino());
        match self.seen.get(&key) {
            Some(first) => {
                self.warnings.push(format!(
                    "{}: skipped: the same {} as {}, already read",
                    path.display(),
                    if metadata.is_dir() {
                        "directory"
                    } else {
                        "file"
                    },
                    first.display()
                ));
                false
            }
            None => {
                self.seen.insert(key, path.to_path_buf());
                true
            }
        }
    }

    /// Reads one file: a regular file once and only when it fits the limit; anything else named
    /// on the command line (a FIFO from `<(…)`, `/dev/stdin`) up to the limit.
    fn read_file(
        &mut self,
        path: &Path,
        metadata: &std::fs::Metadata,
    ) -> Result<(), ManifestError> {
        let name = path.display().to_string();
        if metadata.is_file() {
            if !self.first_visit(path, metadata) {
                return Ok(());
            }
            if metadata.len() > self.max_input_bytes {
                return Err(too_large(&name, self.max_input_bytes));
            }
        }
        let file = std::fs::File::open(path).map_err(|e| cannot_read(path, &e))?;
        let text = read_capped(file, &name, self.max_input_bytes)?;
        let is_json = path.extension().is_some_and(|e| e == "json");
        self.read_text(&name, &text, is_json)
    }

    fn read_text(&mut self, name: &str, text: &str, is_json: bool) -> Result<(), ManifestError> {
        let looks_like_json = text.trim_start().starts_with(['{', '[']);
        let documents = if is_json || looks_like_json {
            json_documents(name, text)?
        } else {
            yaml_documents(name, text)?
        };
        for document in documents {
            let location = format!("{name}:{}", document.line);
            match document.parsed {
                Parsed::Value(value) => {
                    self.add_object(location, value, Some((name, &document.source)))?;
                }
                Parsed::TooDeep { kind, max_depth } => self.too_deep(location, kind, max_depth)?,
            }
        }
        Ok(())
    }

    /// A document nested deeper than its parser allows: a CRD's schema may be, and is skipped;
    /// a workload or a list (which may hold workloads) cannot be, and is an error.
    fn too_deep(
        &mut self,
        location: String,
        kind: Option<String>,
        max_depth: usize,
    ) -> Result<(), ManifestError> {
        let problem = format!("nested more than {max_depth} levels deep");
        match kind {
            Some(kind) if WorkloadKind::from_kind(&kind).is_some() || kind.ends_with("List") => {
                Err(ManifestError::new(location, format!("{kind}: {problem}")))
            }
            kind => {
                let what = kind.map_or_else(|| "a document".to_string(), |k| format!("a {k}"));
                self.warnings
                    .push(format!("{location}: {what} {problem}, skipped"));
                Ok(())
            }
        }
    }

    /// Adds an object, or the items of a list. `source` is the document's text, to find the
    /// lines of a `List`'s items for warnings (nested lists have none).
    fn add_object(
        &mut self,
        location: String,
        object: Value,
        source: Option<(&str, &Source)>,
    ) -> Result<(), ManifestError> {
        let Some(kind) = object.get("kind").and_then(Value::as_str) else {
            self.warnings.push(format!(
                "{location}: not a Kubernetes object (no `kind`), skipped"
            ));
            return Ok(());
        };
        if !(kind == "List" || (kind.ends_with("List") && object.get("items").is_some())) {
            self.objects.push(Object {
                location,
                value: object,
            });
            return Ok(());
        }
        let list_kind = kind.to_string();
        let Value::Object(mut list) = object else {
            unreachable!("an object with a kind is a map")
        };
        let Some(Value::Array(items)) = list.remove("items") else {
            return Err(ManifestError::new(
                location,
                format!("{list_kind}: items must be a list"),
            ));
        };
        let api_version = list.remove("apiVersion");
        let list = List {
            kind: &list_kind,
            location: &location,
            api_version,
            source,
        };
        self.add_items(&list, items)
    }

    /// The items of a list: those without a kind take a typed list's (`DeploymentList` items
    /// are Deployments, with its apiVersion); a plain `List` says nothing about its items, so
    /// one without a kind is skipped with a warning naming its line, index and name.
    fn add_items(&mut self, list: &List<'_>, items: Vec<Value>) -> Result<(), ManifestError> {
        let item_kind = list.kind.strip_suffix("List").filter(|k| !k.is_empty());
        let mut item_lines: Option<Vec<usize>> = None;
        for (index, mut item) in items.into_iter().enumerate() {
            if !item.get("kind").is_some_and(Value::is_string) {
                match item_kind {
                    Some(item_kind) if item.is_object() => {
                        item["kind"] = item_kind.into();
                        if let Some(api_version) = &list.api_version
                            && item.get("apiVersion").is_none()
                        {
                            item["apiVersion"] = api_version.clone();
                        }
                    }
                    _ => {
                        let lines = item_lines.get_or_insert_with(|| list.item_lines());
                        let warning = list.item_without_kind(index, lines.get(index), &item);
                        self.warnings.push(warning);
                        continue;
                    }
                }
            }
            self.add_object(list.location.to_string(), item, None)?;
        }
        Ok(())
    }
}

/// A list document being read: its kind, where it is, and its text (top-level lists only).
struct List<'a> {
    kind: &'a str,
    location: &'a str,
    api_version: Option<Value>,
    source: Option<(&'a str, &'a Source<'a>)>,
}

impl List<'_> {
    fn item_lines(&self) -> Vec<usize> {
        self.source
            .map(|(_, source)| source.item_lines())
            .unwrap_or_default()
    }

    /// `file:line: item 1 ("name") of the List at file:line has no `kind`, skipped`.
    fn item_without_kind(&self, index: usize, line: Option<&usize>, item: &Value) -> String {
        let item_location = match (self.source, line) {
            (Some((name, _)), Some(line)) => format!("{name}:{line}"),
            _ => self.location.to_string(),
        };
        let item_name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        format!(
            "{item_location}: item {index} ({item_name:?}) of the {} at {} has no `kind`, skipped",
            self.kind, self.location
        )
    }
}

/// Reads at most `limit` bytes of UTF-8; more is an error naming the input and the limit (read
/// with `take(limit + 1)`, so an endless input such as `/dev/zero` stops there).
fn read_capped(reader: impl Read, name: &str, limit: u64) -> Result<String, ManifestError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ManifestError::new(name, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(name, limit));
    }
    String::from_utf8(bytes)
        .map_err(|_| ManifestError::new(name, "cannot read: stream did not contain valid UTF-8"))
}

fn too_large(name: &str, limit: u64) -> ManifestError {
    ManifestError::new(
        name,
        format!(
            "larger than the limit of {} for one input (--max-input-size)",
            format_bytes(limit)
        ),
    )
}

/// The I/O error behind a walk error (walkdir's own text when there is none, as for a loop).
fn walk_io_error(error: walkdir::Error) -> std::io::Error {
    let text = error.to_string();
    error
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other(text))
}

fn cannot_read(path: &Path, error: &std::io::Error) -> ManifestError {
    ManifestError::new(path.display(), format!("cannot read: {error}"))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

fn file_type_name(metadata: &std::fs::Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// One document of a file, parsed, with where it starts and the text it came from.
struct Document<'t> {
    /// File line of the document's first content.
    line: usize,
    parsed: Parsed,
    source: Source<'t>,
}

enum Parsed {
    Value(Value),
    /// Nested deeper than the parser allows; `kind` is its top-level kind when one was found.
    TooDeep {
        kind: Option<String>,
        max_depth: usize,
    },
}

/// A document's text, kept to find its items' lines when a `List` has items without a kind.
enum Source<'t> {
    /// The YAML document and the file line it starts on.
    Yaml { text: String, first_line: usize },
    /// The whole JSON file and where the document starts in it.
    Json { text: &'t str, start: usize },
}

impl Source<'_> {
    /// The file line of each of the document's `items`, in order (empty if they cannot be read).
    fn item_lines(&self) -> Vec<usize> {
        match self {
            Source::Yaml { text, first_line } => {
                #[derive(Deserialize)]
                struct Items {
                    items: Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>,
                }
                serde_saphyr::from_str::<Items>(text)
                    .map(|list| {
                        let line = |item: &serde_saphyr::Spanned<_>| {
                            first_line + (item.referenced.line() as usize).max(1) - 1
                        };
                        list.items.iter().map(line).collect()
                    })
                    .unwrap_or_default()
            }
            Source::Json { text, start } => {
                #[derive(Deserialize)]
                struct Items<'a> {
                    #[serde(borrow)]
                    items: Vec<&'a RawValue>,
                }
                let mut stream =
                    serde_json::Deserializer::from_str(&text[*start..]).into_iter::<Items>();
                match stream.next() {
                    Some(Ok(list)) => list
                        .items
                        .iter()
                        .map(|item| {
                            line_of(text, item.get().as_ptr() as usize - text.as_ptr() as usize)
                        })
                        .collect(),
                    _ => Vec::new(),
                }
            }
        }
    }
}

/// One or more concatenated JSON values, each with the line it starts on. A value nested deeper
/// than serde_json's recursion limit is skimmed (without recursion) for its kind and skipped.
fn json_documents<'t>(name: &str, text: &'t str) -> Result<Vec<Document<'t>>, ManifestError> {
    let mut documents = Vec::new();
    let mut start = 0;
    loop {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        loop {
            let offset = start + stream.byte_offset();
            let skipped_space = text[offset..].len() - text[offset..].trim_start().len();
            let line = line_of(text, offset + skipped_space);
            match stream.next() {
                None => return Ok(documents),
                Some(Ok(value)) => documents.push(Document {
                    line,
                    parsed: Parsed::Value(value),
                    source: Source::Json {
                        text,
                        start: offset,
                    },
                }),
                Some(Err(e)) if is_recursion_limit(&e) => {
                    let (kind, end) = json_kind(name, text, offset)?;
                    documents.push(Document {
                        line,
                        parsed: Parsed::TooDeep {
                            kind,
                            max_depth: JSON_MAX_DEPTH,
                        },
                        source: Source::Json {
                            text,
                            start: offset,
                        },
                    });
                    start = end;
                    break;
                }
                Some(Err(e)) => return Err(json_error(name, text, start, &e)),
            }
        }
    }
}

fn is_recursion_limit(error: &serde_json::Error) -> bool {
    error.is_syntax() && error.to_string().starts_with("recursion limit exceeded")
}

/// The top-level `kind` of the JSON value at `offset`, and the offset where the value ends,
/// read without building the value (serde_json skips ignored values iteratively).
fn json_kind(
    name: &str,
    text: &str,
    offset: usize,
) -> Result<(Option<String>, usize), ManifestError> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow, default)]
        kind: Option<&'a RawValue>,
    }
    let mut stream = serde_json::Deserializer::from_str(&text[offset..]).into_iter::<Head>();
    match stream.next() {
        Some(Ok(head)) => {
            let kind = head
                .kind
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
            Ok((kind, offset + stream.byte_offset()))
        }
        Some(Err(e)) => Err(json_error(name, text, offset, &e)),
        None => Ok((None, text.len())),
    }
}

/// A JSON error at the file line it happened on (`start` is where the parser began reading).
fn json_error(name: &str, text: &str, start: usize, error: &serde_json::Error) -> ManifestError {
    let line = line_of(text, start) + error.line().max(1) - 1;
    ManifestError::new(format!("{name}:{line}"), format!("invalid JSON: {error}"))
}

fn line_of(text: &str, byte_offset: usize) -> usize {
    text[..byte_offset].matches('\n').count() + 1
}

/// Splits a YAML stream at `---` lines ourselves, so one bad document is reported with its own
/// line and the line numbers of every document are those of the file. A document's line is the
/// line of its first content (not a comment or blank line).
fn yaml_documents(name: &str, text: &str) -> Result<Vec<Document<'static>>, ManifestError> {
    let mut documents = Vec::new();
    let mut chunk = Chunk::default();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let is_marker = |marker: &str| {
            line.strip_prefix(marker)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if is_marker("---") {
            documents.extend(std::mem::take(&mut chunk).parse(name)?);
            // Content on the marker line (`--- {a: 1}`) belongs to the new document.
            chunk.push(line_number, line[3..].trim_start());
        } else if is_marker("...") {
            documents.extend(std::mem::take(&mut chunk).parse(name)?);
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

    fn parse(self, name: &str) -> Result<Option<Document<'static>>, ManifestError> {
        let (Some(first_line), Some(content_line)) = (self.first_line, self.content_line) else {
            return Ok(None);
        };
        let parsed = match serde_saphyr::from_str::<Value>(&self.text) {
            Ok(value) => Parsed::Value(value),
            Err(e) if is_depth_breach(&e) => Parsed::TooDeep {
                kind: yaml_kind(&self.text),
                max_depth: YAML_MAX_DEPTH,
            },
            Err(e) => {
                let line = e.location().map_or(1, |l| l.line() as usize).max(1);
                return Err(ManifestError::new(
                    format!("{name}:{}", first_line + line - 1),
                    format!("invalid YAML: {}", first_line_of(&e.to_string())),
                ));
            }
        };
        Ok(Some(Document {
            line: content_line,
            parsed,
            source: Source::Yaml {
                text: self.text,
                first_line,
            },
        }))
    }
}

/// Whether the YAML parser stopped at its nesting budget (`Depth { depth: 65 }`).
fn is_depth_breach(error: &serde_saphyr::Error) -> bool {
    matches!(
        error.without_snippet(),
        serde_saphyr::Error::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Depth { .. },
            ..
        }
    )
}

/// The top-level `kind: X` line of a YAML document that could not be parsed whole.
fn yaml_kind(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("kind:")?;
        let value = value.split(" #").next().unwrap_or(value).trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_string())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load_named(name: &str, text: &str, is_json: bool) -> Result<Manifests, ManifestError> {
        let mut reader = Reader::default();
        reader.read_text(name, text, is_json)?;
        workloads_of(reader.objects, reader.warnings, "default")
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

    fn nested_crd(levels: usize) -> String {
        nested(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: deep.example.com}\nspec:\n",
            levels,
        )
    }

    /// `header` then `levels` mappings nested in each other.
    fn nested(header: &str, levels: usize) -> String {
        let mut text = header.to_string();
        for level in 0..levels {
            text.push_str(&format!("{}l{level}:\n", "  ".repeat(level + 1)));
        }
        text.push_str(&format!("{}leaf: 1\n", "  ".repeat(levels + 1)));
        text
    }

    #[test]
    fn typed_list_items_take_the_list_kind_and_api_version() {
        let text = "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- metadata: {name: a}\n  spec: {template: {spec: {containers: [{name: c, image: 'x:1'}]}}}\n- kind: Service\n  metadata: {name: s}\n";
        let mut reader = Reader::default();
        reader.read_text("l.yaml", text, false).unwrap();
        assert_eq!(reader.objects[0].value["kind"], "Deployment");
        assert_eq!(reader.objects[0].value["apiVersion"], "apps/v1");
        assert_eq!(reader.objects[1].value["kind"], "Service");
        let manifests = workloads_of(reader.objects, reader.warnings, "default").unwrap();
        assert_eq!(manifests.workloads.len(), 1);
        assert_eq!(manifests.other_objects, 1);
        assert!(manifests.warnings.is_empty(), "{:?}", manifests.warnings);
    }

    #[test]
    fn list_items_without_kind_are_named_with_their_line() {
        let yaml = "# a list\nkind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: ok}\n- metadata:\n    name: lost\n";
        let manifests = load_str(yaml).unwrap();
        assert_eq!(manifests.other_objects, 1);
        assert_eq!(
            manifests.warnings,
            ["m.yaml:6: item 1 (\"lost\") of the List at m.yaml:2 has no `kind`, skipped"]
        );
        let json = "{\"kind\": \"Service\", \"metadata\": {\"name\": \"s\"}}\n{\"kind\": \"List\", \"items\": [\n  {\"kind\": \"ConfigMap\"},\n  {\"metadata\": {\"name\": \"lost\"}}]}\n";
        let manifests = load_named("x.json", json, true).unwrap();
        assert_eq!(
            manifests.warnings,
            ["x.json:4: item 1 (\"lost\") of the List at x.json:2 has no `kind`, skipped"]
        );
    }

    #[test]
    fn too_deep_documents_are_skipped_unless_they_are_workloads() {
        let text = format!("{}---\n{DEPLOYMENT}", nested_crd(70));
        let manifests = load_str(&text).unwrap();
        assert_eq!(manifests.workloads.len(), 1);
        assert_eq!(manifests.other_objects, 0);
        assert_eq!(
            manifests.warnings,
            ["m.yaml:1: a CustomResourceDefinition nested more than 64 levels deep, skipped"]
        );
        // 30 levels is not too deep.
        assert_eq!(load_str(&nested_crd(30)).unwrap().other_objects, 1);

        let deep_pod = nested("kind: Pod\nmetadata: {name: p}\nspec:\n", 70);
        let err = load_str(&deep_pod).unwrap_err();
        assert_eq!(err.location, "m.yaml:1");
        assert_eq!(err.message, "Pod: nested more than 64 levels deep");

        let deep = |kind: &str| {
            format!(
                "{{\"kind\": \"{kind}\", \"spec\": {}1{}}}",
                "[".repeat(200),
                "]".repeat(200)
            )
        };
        let json = format!(
            "{}\n{}\n{{\"kind\": \"Service\"}}",
            deep("CustomResourceDefinition"),
            deep("Thing")
        );
        let manifests = load_named("d.json", &json, true).unwrap();
        assert_eq!(manifests.other_objects, 1);
        assert_eq!(
            manifests.warnings,
            [
                "d.json:1: a CustomResourceDefinition nested more than 128 levels deep, skipped",
                "d.json:2: a Thing nested more than 128 levels deep, skipped"
            ]
        );
        let err =
            load_named("d.json", &format!("{{}}\n{}", deep("DeploymentList")), true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "d.json:2: DeploymentList: nested more than 128 levels deep"
        );
    }

    #[test]
    fn inputs_are_capped() {
        let err = read_capped(std::io::repeat(b'a'), "<stdin>", 1024).unwrap_err();
        assert_eq!(
            err.to_string(),
            "<stdin>: larger than the limit of 1 KiB for one input (--max-input-size)"
        );
        assert_eq!(read_capped(&b"abc"[..], "x", 3).unwrap(), "abc");
        let err = read_capped(&b"\xff"[..], "x", 3).unwrap_err();
        assert!(err.message.contains("valid UTF-8"), "{err}");
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("64M"), Ok(DEFAULT_MAX_INPUT_BYTES));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        for bad in ["", "0", "M", "1.5M", "-1", "1T", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_bytes(DEFAULT_MAX_INPUT_BYTES), "64 MiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
        assert_eq!(format_bytes(3 << 30), "3 GiB");
    }

    mod walks {
        use super::super::*;
        use std::os::unix::fs::symlink;

        const POD: &str =
            "kind: Pod\nmetadata: {name: NAME}\nspec: {containers: [{name: c, image: 'x:1'}]}\n";

        fn names(root: &Path) -> (Vec<String>, Vec<String>) {
            let (objects, warnings) = read_objects(&[root.to_path_buf()], 1 << 20).unwrap();
            let names = objects
                .iter()
                .map(|o| o.value["metadata"]["name"].as_str().unwrap().to_string())
                .collect();
            (names, warnings)
        }

        fn pod(dir: &Path, file: &str, name: &str) {
            std::fs::write(dir.join(file), POD.replace("NAME", name)).unwrap();
        }

        #[test]
        fn sorted_hidden_skipped_and_only_manifests() {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            std::fs::create_dir_all(root.join("b/.git")).unwrap();
            pod(root, "c.yml", "c");
            pod(&root.join("b"), "a.yaml", "ba");
            pod(&root.join("b/.git"), "x.yaml", "hidden");
            pod(root, ".hidden.yaml", "hidden");
            pod(root, "a.yaml", "a");
            pod(root, "notes.txt", "txt");
            symlink("nowhere", root.join("dangling")).unwrap();
            symlink("nowhere", root.join(".#lock.yaml")).unwrap();
            let (names, warnings) = names(root);
            assert_eq!(names, ["a", "ba", "c"]);
            assert!(warnings.is_empty(), "{warnings:?}");

            symlink("nowhere", root.join("broken.yaml")).unwrap();
            let err = read_objects(&[root.to_path_buf()], 1 << 20).unwrap_err();
            assert!(
                err.to_string().contains("broken.yaml: cannot read"),
                "{err}"
            );
        }

        #[test]
        fn each_real_file_is_read_once_and_loops_end() {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            std::fs::create_dir_all(root.join("x")).unwrap();
            std::fs::create_dir_all(root.join("y")).unwrap();
            pod(&root.join("x"), "a.yaml", "a");
            pod(&root.join("y"), "b.yaml", "b");
            symlink(".", root.join("dot")).unwrap();
            symlink(".", root.join("dot2")).unwrap();
            symlink("../y", root.join("x/to-y")).unwrap();
            symlink("../x", root.join("y/to-x")).unwrap();
            symlink("x/a.yaml", root.join("z.yaml")).unwrap();
            let (names, warnings) = names(root);
            assert_eq!(names, ["a", "b"], "{warnings:?}");
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains("dot: skipped: a symbolic link back to")),
                "{warnings:?}"
            );
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains("z.yaml: skipped: the same file as")),
                "{warnings:?}"
            );
            // The same file named twice is read once too.
            let file = root.join("x/a.yaml");
            let (objects, warnings) = read_objects(&[file.clone(), file], 1 << 20).unwrap();
            assert_eq!(objects.len(), 1);
            assert_eq!(warnings.len(), 1, "{warnings:?}");
        }

        #[test]
        fn fifos_in_a_walk_are_skipped_and_big_files_refused() {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            pod(root, "a.yaml", "a");
            let status = std::process::Command::new("mkfifo")
                .arg(root.join("x.yaml"))
                .status()
                .unwrap();
            assert!(status.success());
            let (names, warnings) = names(root);
            assert_eq!(names, ["a"]);
            assert_eq!(warnings.len(), 1);
            assert!(
                warnings[0].ends_with("x.yaml: skipped: not a regular file (a FIFO)"),
                "{warnings:?}"
            );

            std::fs::write(root.join("big.yaml"), "a: b\n".repeat(300)).unwrap();
            let err = read_objects(&[root.to_path_buf()], 1024).unwrap_err();
            assert!(err.location.ends_with("big.yaml"), "{err}");
            assert!(err.message.contains("limit of 1 KiB"), "{err}");
        }
    }
}
