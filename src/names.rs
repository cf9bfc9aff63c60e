//! Kubernetes object names, checked the way the API server checks them.
//!
//! Namespaces are DNS-1123 labels (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters);
//! most object names (ConfigMaps, Leases, Deployments) are DNS-1123 subdomains (labels joined by
//! dots, at most 253). A name from a configuration file or the command line is checked before
//! it reaches a URL, so a typo fails at start naming the key instead of as an odd HTTP error.

/// Why a name is not a valid Kubernetes name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a valid {rule}: {reason}")]
pub struct InvalidName {
    /// The name as given.
    pub name: String,
    /// The rule it breaks (`DNS-1123 label`, `DNS-1123 subdomain`).
    pub rule: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Checks a DNS-1123 label: what a namespace (or a container name) must be.
pub fn check_label(name: &str) -> Result<(), InvalidName> {
    let fail = |reason| InvalidName {
        name: name.to_string(),
        rule: "DNS-1123 label",
        reason,
    };
    if name.len() > 63 {
        return Err(fail("at most 63 characters"));
    }
    label_chars(name).map_err(fail)
}

/// Checks a DNS-1123 subdomain: what most object names (ConfigMap, Lease, Deployment) must be.
pub fn check_subdomain(name: &str) -> Result<(), InvalidName> {
    let fail = |reason| InvalidName {
        name: name.to_string(),
        rule: "DNS-1123 subdomain",
        reason,
    };
    if name.len() > 253 {
        return Err(fail("at most 253 characters"));
    }
    name.split('.').try_for_each(label_chars).map_err(fail)
}

fn label_chars(label: &str) -> Result<(), &'static str> {
    let bytes = label.as_bytes();
    if bytes.is_empty() {
        return Err("must not be empty (or have an empty part between dots)");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err("only lowercase letters, digits and '-' are allowed");
    }
    if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
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
            err.contains("\"Bad_NS!\"") && err.contains("DNS-1123 label"),
            "{err}"
        );
    }
}
