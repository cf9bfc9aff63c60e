//! ImageUpgrade names: readable and deterministic — `central-ledger-v19.8.9` for
//! `mojaloop/central-ledger` moving to `v19.8.9` — sanitized to a DNS-1123 subdomain, and
//! given a short hash suffix only when the plain name would be too long or is already taken
//! by another group.
//!
//! In: a repository, a tag, and (for a suffix) what makes the group unique. Out: names.
//! Pure: which names are taken is the caller's to know ([`mod@super::propose`]).

/// Longest name we make (a label value's limit, so names fit everywhere).
pub const MAX_NAME: usize = 63;

/// The plain name of the group moving `repository` to `tag`: the repository's last path
/// segment and the tag, lowercased, other characters replaced by `-`
/// (`mojaloop/central-ledger`, `v19.8.9` → `central-ledger-v19.8.9`). Longer than 63
/// characters, it is cut and ends in a hash of the whole text, so it stays unique.
pub fn group_name(repository: &str, tag: &str) -> String {
    let short = repository.rsplit('/').next().unwrap_or(repository);
    let full = format!("{short}-{tag}");
    let name = sanitize(&full);
    if name.len() > MAX_NAME {
        return suffixed(&name, &full);
    }
    if name.is_empty() {
        return format!("upgrade-{:08x}", fnv1a(full.as_bytes()));
    }
    name
}

/// `base` with a hash of `unique` appended (`central-ledger-v19.8.9-1f2e3d4c`), cut so the
/// whole stays within 63 characters: the name of a group whose plain name is taken.
pub fn suffixed(base: &str, unique: &str) -> String {
    let hash = fnv1a(unique.as_bytes());
    let mut stem = base.to_string();
    stem.truncate(MAX_NAME - 9);
    let stem = sanitize(&stem);
    if stem.is_empty() {
        format!("upgrade-{hash:08x}")
    } else {
        format!("{stem}-{hash:08x}")
    }
}

/// Lowercase; anything but `a-z`, `0-9`, `-` and `.` becomes `-`; every dot-separated part a
/// DNS-1123 label (no `-` at its ends, none empty).
fn sanitize(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    name.split('.')
        .map(|part| part.trim_matches('-'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// 32-bit FNV-1a: stable across versions and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::names::check_subdomain;

    #[test]
    fn readable_deterministic_and_dns_safe() {
        assert_eq!(
            group_name("mojaloop/central-ledger", "v19.8.9"),
            "central-ledger-v19.8.9"
        );
        assert_eq!(group_name("ghcr.io/org/team/app", "1.2.3"), "app-1.2.3");
        assert_eq!(
            group_name("bitnami/mysql", "8.0.32-debian-11-r5"),
            "mysql-8.0.32-debian-11-r5"
        );
        assert_eq!(group_name("Org/App", "V1_2"), "app-v1-2");
        let long = group_name(&format!("org/{}", "a".repeat(70)), "v1.2.3");
        assert!(long.len() <= MAX_NAME, "{long}");
        assert_eq!(
            long,
            group_name(&format!("org/{}", "a".repeat(70)), "v1.2.3")
        );
        assert_ne!(
            long,
            group_name(&format!("org/{}", "a".repeat(70)), "v1.2.4"),
            "hashed, not just cut"
        );
        let taken = suffixed(
            "central-ledger-v19.8.9",
            "mojaloop/ghcr.io/x/central-ledger:v19.8.9",
        );
        assert!(
            taken.starts_with("central-ledger-v19.8.9-") && taken.len() == 22 + 9,
            "{taken}"
        );
        assert_ne!(taken, suffixed("central-ledger-v19.8.9", "other"));
        for name in [
            long,
            taken,
            group_name("--", "__"),
            suffixed(&"x".repeat(80), "y"),
        ] {
            assert!(name.len() <= MAX_NAME, "{name}");
            check_subdomain(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
