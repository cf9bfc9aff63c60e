//! Durations as people write them in configuration: `30s`, `10m`, `4h`, `1h30m`, `7d` —
//! humantime's grammar, with an error that names the text.

use std::time::Duration;

/// A text that is not a duration; names it and says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration ({reason}): write e.g. 30s, 10m, 4h, 1h30m or 7d")]
pub struct InvalidDuration {
    /// The text as given.
    pub text: String,
    /// The parser's words.
    pub reason: String,
}

/// Parses `1h30m`, `45s`, `500ms`, `7d` (and the rest of humantime's units).
pub fn parse(text: &str) -> Result<Duration, InvalidDuration> {
    humantime::parse_duration(text.trim()).map_err(|e| InvalidDuration {
        text: text.to_string(),
        reason: e.to_string(),
    })
}

/// Formats a duration the way [`parse`] reads it, without spaces: `1h30m`, `45s`, `7days`, `0s`.
pub fn format(duration: Duration) -> String {
    humantime::format_duration(duration)
        .to_string()
        .replace(' ', "")
}

/// serde for `Option<Duration>` written as text:
/// `#[serde(default, deserialize_with = "duration::optional::deserialize")]`.
pub mod optional {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Reads an optional duration written as text (`10m`).
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_what_people_write() {
        for (text, seconds) in [
            ("30s", 30),
            ("10m", 600),
            ("4h", 14_400),
            ("1h30m", 5_400),
            ("7d", 604_800),
        ] {
            let duration = parse(text).unwrap();
            assert_eq!(duration, Duration::from_secs(seconds), "{text}");
            assert_eq!(parse(&format(duration)), Ok(duration), "{text}");
        }
        assert_eq!(format(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(format(Duration::ZERO), "0s");
        let err = parse("soon").unwrap_err().to_string();
        assert!(err.contains("\"soon\"") && err.contains("10m"), "{err}");
    }
}
