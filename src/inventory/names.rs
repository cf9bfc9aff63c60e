//! Kubernetes object names, checked the way the API server checks them
//! (`k8s.io/apimachinery/pkg/util/validation`).
//!
//! Namespaces and container names are DNS-1123 labels (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at
//! most 63 characters); the names of workloads, ConfigMaps and Leases are DNS-1123 subdomains
//! (labels joined by dots, at most 253). A name from a manifest, a configuration file or the
//! command line is checked before it is printed into a command or sent in a URL, so a typo —
//! or a hostile name — fails early, naming its field.

/// Longest DNS-1123 label: namespaces, container names.
pub const LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain: the names of workloads, ConfigMaps, Leases.
pub const SUBDOMAIN_MAX: usize = 253;

/// A name that is not a valid Kubernetes name; the caller says which field held it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a valid name: {rule}")]
pub struct InvalidName {
    /// The name as given.
    pub name: String,
    /// The rule it breaks, in words.
    pub rule: &'static str,
}

/// Checks a DNS-1123 label: what a namespace or a container name must be.
pub fn check_label(name: &str) -> Result<(), InvalidName> {
    if name.len() <= LABEL_MAX && is_label(name) {
        return Ok(());
    }
    Err(InvalidName {
        name: name.to_string(),
        rule: "a DNS-1123 label is at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
    })
}

/// Checks a DNS-1123 subdomain: what the name of a workload, ConfigMap or Lease must be.
pub fn check_subdomain(name: &str) -> Result<(), InvalidName> {
    if name.len() <= SUBDOMAIN_MAX && name.split('.').all(is_label) {
        return Ok(());
    }
    Err(InvalidName {
        name: name.to_string(),
        rule: "a DNS-1123 subdomain is at most 253 characters of a-z, 0-9, '-' and '.', each '.'-separated part starting and ending with a letter or digit",
    })
}

fn is_label(part: &str) -> bool {
    let alphanumeric = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = part.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alphanumeric(first)
                && alphanumeric(last)
                && bytes.iter().all(|&c| alphanumeric(c) || c == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        for ok in ["mojaloop", "a", "pisp-lab", "0x1"] {
            assert_eq!(check_label(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Bad_NS!", "-a", "a-", "a.b", &"a".repeat(64)] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
        for ok in ["ml-operator-state", "a.b.c", &"a".repeat(253)] {
            assert_eq!(check_subdomain(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a..b", "A", "state!", ".a", &"a".repeat(254)] {
            assert!(check_subdomain(bad).is_err(), "{bad}");
        }
        let err = check_label("Bad_NS!").unwrap_err().to_string();
        assert!(
            err.starts_with("\"Bad_NS!\" is not a valid name: a DNS-1123 label"),
            "{err}"
        );
    }
}
