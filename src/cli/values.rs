//! `check --values FILE… [--write]`: the values files read (directories recurse into their
//! `.yaml`/`.yml` files, hidden entries and symbolic links inside them skipped), the updates
//! located in them, and with `--write` each changed file replaced atomically (a temporary file
//! beside it, synced, then renamed over it; its permissions kept), so a failure never leaves a
//! half-written file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::Failure;
use crate::deliver::files::{FileEdit, LoadedFile, plan};
use crate::scan::Report;

/// Reads every values file under `paths`, each at most `limit` bytes.
pub(super) fn load(paths: &[PathBuf], limit: u64) -> Result<Vec<LoadedFile>, Failure> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path)
            .map_err(|e| Failure::Input(format!("--values {}: {e}", path.display())))?;
        if !metadata.is_dir() {
            found.push(path.clone());
            continue;
        }
        let walk = walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walk {
            let entry =
                entry.map_err(|e| Failure::Input(format!("--values {}: {e}", path.display())))?;
            let yaml = entry
                .path()
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml");
            if entry.file_type().is_file() && yaml {
                found.push(entry.into_path());
            }
        }
    }
    found
        .into_iter()
        .map(|path| {
            let name = path.display().to_string();
            let text = read_capped(&path, limit)
                .map_err(|problem| Failure::Input(format!("--values {name}: {problem}")))?;
            LoadedFile::parse(name, text).map_err(|e| Failure::Input(e.to_string()))
        })
        .collect()
}

fn read_capped(path: &Path, limit: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes (--max-input-size)"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Locates the report's updates in `files`; the edits, written when `write`.
pub(super) fn apply(
    report: &mut Report,
    files: &[LoadedFile],
    write: bool,
) -> Result<Vec<FileEdit>, Failure> {
    let edits = plan(report, files).map_err(|e| Failure::Input(e.to_string()))?;
    if write {
        for edit in &edits {
            write_atomically(Path::new(&edit.path), &edit.after)
                .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", edit.path)))?;
            eprintln!("wrote {}", crate::report::escape_control(&edit.path));
        }
    }
    Ok(edits)
}

/// Replaces the file `path` points to (through links) with `text`, atomically.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let directory = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = directory.join(format!(".{name}.ml-operator-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.set_permissions(std::fs::metadata(&target)?.permissions())?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}
