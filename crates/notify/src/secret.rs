//! Secrets (webhook URLs, signing keys) and the redaction that keeps them out of output.

use std::fmt;

use url::Url;

/// A secret string: a webhook URL (Slack and Teams URLs are bearer credentials) or an HMAC key.
///
/// `Debug` and `Display` print `<redacted>`, so a secret can sit in a config struct that is
/// logged with `{:?}` without leaking. Read it with [`Secret::expose`], only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value itself. Call it only to use the secret, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// The printable form of a URL: `scheme://host[:port]/…`. Path, query, fragment and user
/// information are dropped, because that is where webhook services keep their tokens.
pub fn redact_url(url: &Url) -> String {
    let host = match url.host_str() {
        Some(h) => h,
        None => return format!("{}://<redacted>", url.scheme()),
    };
    match url.port() {
        Some(port) => format!("{}://{}:{}/…", url.scheme(), host, port),
        None => format!("{}://{}/…", url.scheme(), host),
    }
}

/// Replaces every occurrence of known secret fragments in text that comes from outside (a
/// response body, a transport error) before it goes into an error or a log line.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    /// A scrubber for `url` (whole, path, query, password) and any extra secrets.
    pub(crate) fn new(url: &Url, extra: &[&Secret]) -> Scrubber {
        let mut needles = vec![url.as_str().to_owned()];
        let path = url.path();
        if path.len() > 1 {
            needles.push(path.to_owned());
            // Each long path segment alone (Slack's T…/B…/token, a Teams workflow signature).
            needles.extend(path.split('/').filter(|s| s.len() >= 6).map(str::to_owned));
        }
        if let Some(q) = url.query() {
            needles.push(q.to_owned());
            needles.extend(
                q.split('&')
                    .filter_map(|kv| kv.split_once('=').map(|(_, v)| v))
                    .filter(|v| v.len() >= 6)
                    .map(str::to_owned),
            );
        }
        if let Some(p) = url.password() {
            needles.push(p.to_owned());
        }
        needles.extend(
            extra
                .iter()
                .map(|s| s.expose().to_owned())
                .filter(|s| !s.is_empty()),
        );
        // Longest first, so a whole URL is replaced before its parts.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Scrubber { needles }
    }

    /// `text` with every secret fragment replaced by `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "<redacted>");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_are_cut_to_scheme_and_host() {
        let u = Url::parse("https://hooks.slack.com/services/T0/B0/XYZ?x=1").unwrap();
        assert_eq!(redact_url(&u), "https://hooks.slack.com/…");
        let u = Url::parse("http://user:pw@127.0.0.1:8080/hook").unwrap();
        assert_eq!(redact_url(&u), "http://127.0.0.1:8080/…");
    }

    #[test]
    fn scrubber_removes_url_parts_and_keys() {
        let u = Url::parse("https://x.example/services/T000/B000/SECRETXYZ?sig=abcdef123").unwrap();
        let key = Secret::new("hmac-secret-key");
        let s = Scrubber::new(&u, &[&key]);
        let text = format!(
            "{} /services/T000/B000/SECRETXYZ SECRETXYZ abcdef123 hmac-secret-key",
            u
        );
        let out = s.scrub(&text);
        for bad in ["SECRETXYZ", "abcdef123", "hmac-secret-key"] {
            assert!(!out.contains(bad), "{out}");
        }
    }
}
