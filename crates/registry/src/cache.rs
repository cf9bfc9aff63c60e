//! Tag-list caching: in memory with a TTL (and a shorter TTL for failures), optionally on disk
//! across runs, keeping each page's `ETag` so a stale list is revalidated with
//! `If-None-Match` instead of downloaded again.
//!
//! The disk cache holds only public facts (tag names, ETags, page URLs without credentials);
//! it is written atomically (temp file + rename) and any disk problem is logged and ignored:
//! a cache must never make a lookup fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::tag_list::{TagList, Tags};

/// Entries kept in memory before expired ones are swept (a bound on growth in `run` mode).
const SWEEP_ABOVE: usize = 4096;

/// `(canonical registry, repository)`.
pub(crate) type Key = (String, String);

/// One page as fetched: enough to answer a `304 Not Modified` for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CachedPage {
    /// The page URL as requested.
    pub url: String,
    /// The page's `ETag`, if the registry sent one.
    pub etag: Option<String>,
    /// The tags on that page.
    pub tags: Vec<String>,
    /// The raw `Link` header the page came with.
    pub link: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct DiskEntry {
    version: u32,
    registry: String,
    repository: String,
    fetched_at_unix: u64,
    tags: Tags,
    pages: Vec<CachedPage>,
}

enum MemEntry {
    Ok {
        list: Arc<TagList>,
        pages: Arc<Vec<CachedPage>>,
        at: Instant,
    },
    Err {
        error: Error,
        at: Instant,
    },
}

/// The memory cache and, if configured, the disk cache.
pub(crate) struct Cache {
    ttl: Duration,
    error_ttl: Duration,
    mem: Mutex<HashMap<Key, MemEntry>>,
    dir: Option<PathBuf>,
}

impl Cache {
    pub(crate) fn new(ttl: Duration, error_ttl: Duration, dir: Option<PathBuf>) -> Self {
        Cache {
            ttl,
            error_ttl,
            mem: Mutex::new(HashMap::new()),
            dir,
        }
    }

    fn mem(&self) -> std::sync::MutexGuard<'_, HashMap<Key, MemEntry>> {
        self.mem.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A result young enough to reuse without asking the registry: a list within the TTL, or a
    /// failure within the error TTL. Falls back to a fresh disk entry.
    #[cfg(test)]
    pub(crate) fn fresh(&self, key: &Key) -> Option<Result<Arc<TagList>, Error>> {
        self.fresh_within(key, self.ttl)
    }

    /// Like [`Cache::fresh`], with `ttl` instead of the configured TTL for lists (failures
    /// keep the error TTL): a caller that can live with older answers than scans can.
    pub(crate) fn fresh_within(
        &self,
        key: &Key,
        ttl: Duration,
    ) -> Option<Result<Arc<TagList>, Error>> {
        if let Some(entry) = self.mem().get(key) {
            match entry {
                MemEntry::Ok { list, at, .. } if at.elapsed() < ttl => {
                    return Some(Ok(list.clone()));
                }
                MemEntry::Err { error, at } if at.elapsed() < self.error_ttl => {
                    return Some(Err(error.clone()));
                }
                _ => {}
            }
        }
        let disk = self.read_disk(key)?;
        let age = SystemTime::now()
            .duration_since(UNIX_EPOCH + Duration::from_secs(disk.fetched_at_unix))
            .unwrap_or(Duration::ZERO);
        if age >= ttl {
            return None;
        }
        let list = Arc::new(TagList {
            registry: disk.registry,
            repository: disk.repository,
            tags: disk.tags,
        });
        // Keep the remaining freshness: the entry is as old as the disk says.
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        self.mem().insert(
            key.clone(),
            MemEntry::Ok {
                list: list.clone(),
                pages: Arc::new(disk.pages),
                at,
            },
        );
        Some(Ok(list))
    }

    /// Pages of the last successful walk, fresh or not, for `If-None-Match` revalidation.
    pub(crate) fn stale_pages(&self, key: &Key) -> Option<Arc<Vec<CachedPage>>> {
        if let Some(MemEntry::Ok { pages, .. }) = self.mem().get(key) {
            return Some(pages.clone());
        }
        self.read_disk(key).map(|d| Arc::new(d.pages))
    }

    pub(crate) fn store_ok(&self, key: &Key, list: Arc<TagList>, pages: Vec<CachedPage>) {
        let pages = Arc::new(pages);
        self.write_disk(key, &list, &pages);
        let mut mem = self.mem();
        self.sweep(&mut mem);
        mem.insert(
            key.clone(),
            MemEntry::Ok {
                list,
                pages,
                at: Instant::now(),
            },
        );
    }

    pub(crate) fn store_err(&self, key: &Key, error: Error) {
        let mut mem = self.mem();
        self.sweep(&mut mem);
        // The failure replaces the memory entry so that it is what callers see for a while;
        // the disk copy (if any) keeps the last good pages for revalidation later.
        mem.insert(
            key.clone(),
            MemEntry::Err {
                error,
                at: Instant::now(),
            },
        );
    }

    /// Drops expired entries once the map is large; stale successes are still worth keeping
    /// for revalidation while the map is small.
    fn sweep(&self, mem: &mut HashMap<Key, MemEntry>) {
        if mem.len() < SWEEP_ABOVE {
            return;
        }
        mem.retain(|_, e| match e {
            MemEntry::Ok { at, .. } => at.elapsed() < self.ttl,
            MemEntry::Err { at, .. } => at.elapsed() < self.error_ttl,
        });
    }

    fn path_for(&self, key: &Key) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(file_name(key)))
    }

    fn read_disk(&self, key: &Key) -> Option<DiskEntry> {
        let path = self.path_for(key)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read tag cache file; ignoring it");
                return None;
            }
        };
        match serde_json::from_str::<DiskEntry>(&text) {
            Ok(d) if d.version == 1 && d.registry == key.0 && d.repository == key.1 => Some(d),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "corrupt tag cache file; ignoring it");
                None
            }
        }
    }

    fn write_disk(&self, key: &Key, list: &TagList, pages: &[CachedPage]) {
        let Some(path) = self.path_for(key) else {
            return;
        };
        let entry = DiskEntry {
            version: 1,
            registry: key.0.clone(),
            repository: key.1.clone(),
            fetched_at_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            tags: list.tags.clone(),
            pages: pages.to_vec(),
        };
        if let Err(e) = write_atomically(&path, &entry) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write tag cache file");
        }
    }
}

fn write_atomically(path: &Path, entry: &DiskEntry) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    std::fs::write(
        &tmp,
        serde_json::to_vec(entry).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A readable, collision-free file name: the key with unsafe characters replaced, plus a hash
/// of the exact key.
fn file_name(key: &Key) -> String {
    let readable: String = format!("{}_{}", key.0, key.1)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(150)
        .collect();
    // FNV-1a 64: stable across runs and platforms (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.0.bytes().chain([0u8]).chain(key.1.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{readable}-{h:016x}.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn key(r: &str) -> Key {
        ("ghcr.io".into(), r.into())
    }

    fn list(r: &str, tags: &[&str]) -> Arc<TagList> {
        Arc::new(TagList {
            registry: "ghcr.io".into(),
            repository: r.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        })
    }

    #[test]
    fn memory_ttl_and_error_ttl() {
        let c = Cache::new(Duration::from_secs(60), Duration::ZERO, None);
        assert!(c.fresh(&key("a")).is_none());
        c.store_ok(&key("a"), list("a", &["1"]), vec![]);
        assert_eq!(c.fresh(&key("a")).unwrap().unwrap().tags, vec!["1"]);
        c.store_err(&key("b"), Error::new(ErrorKind::Timeout, "u", "slow"));
        assert!(
            c.fresh(&key("b")).is_none(),
            "error TTL 0 means failures are not reused"
        );
        let c = Cache::new(Duration::ZERO, Duration::from_secs(60), None);
        c.store_ok(
            &key("a"),
            list("a", &["1"]),
            vec![CachedPage {
                url: "u".into(),
                etag: Some("\"e\"".into()),
                tags: vec!["1".into()],
                link: None,
            }],
        );
        assert!(c.fresh(&key("a")).is_none(), "TTL 0: always revalidate");
        assert_eq!(
            c.stale_pages(&key("a")).unwrap()[0].etag.as_deref(),
            Some("\"e\"")
        );
        c.store_err(&key("b"), Error::new(ErrorKind::Timeout, "u", "slow"));
        assert_eq!(
            c.fresh(&key("b")).unwrap().unwrap_err().kind(),
            ErrorKind::Timeout
        );
    }

    #[test]
    fn a_longer_max_age_reuses_what_the_ttl_would_not() {
        let c = Cache::new(Duration::ZERO, Duration::ZERO, None);
        c.store_ok(&key("a"), list("a", &["1"]), vec![]);
        assert!(c.fresh(&key("a")).is_none(), "TTL 0 for scans");
        assert_eq!(
            c.fresh_within(&key("a"), Duration::from_secs(60))
                .unwrap()
                .unwrap()
                .tags,
            vec!["1"],
            "the API's minimum age reuses the scan's walk"
        );
        assert!(c.fresh_within(&key("a"), Duration::ZERO).is_none());
        c.store_err(&key("b"), Error::new(ErrorKind::Timeout, "u", "slow"));
        assert!(
            c.fresh_within(&key("b"), Duration::from_secs(60)).is_none(),
            "failures keep their own TTL"
        );
    }

    #[test]
    fn disk_survives_a_new_cache_and_ignores_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::new(
            Duration::from_secs(60),
            Duration::ZERO,
            Some(dir.path().to_path_buf()),
        );
        c.store_ok(&key("org/app"), list("org/app", &["v1", "v2"]), vec![]);
        let c2 = Cache::new(
            Duration::from_secs(60),
            Duration::ZERO,
            Some(dir.path().to_path_buf()),
        );
        assert_eq!(
            c2.fresh(&key("org/app")).unwrap().unwrap().tags,
            vec!["v1", "v2"]
        );
        let c3 = Cache::new(
            Duration::ZERO,
            Duration::ZERO,
            Some(dir.path().to_path_buf()),
        );
        assert!(c3.fresh(&key("org/app")).is_none(), "expired on disk");
        assert!(c3.stale_pages(&key("org/app")).is_some());
        for f in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::write(f.unwrap().path(), "{corrupt").unwrap();
        }
        let c4 = Cache::new(
            Duration::from_secs(60),
            Duration::ZERO,
            Some(dir.path().to_path_buf()),
        );
        assert!(c4.fresh(&key("org/app")).is_none());
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        let a = file_name(&("localhost:5000".into(), "a/b".into()));
        let b = file_name(&("localhost:5000".into(), "a_b".into()));
        assert_ne!(a, b);
        assert!(!a.contains('/') && !a.contains(':'), "{a}");
    }
}
