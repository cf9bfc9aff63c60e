//! Durations as people write them in configuration: `30s`, `10m`, `4h`, `1h30m`, `7d`.

use std::time::Duration;

/// Parses `<number><unit>` pairs (units `ms`, `s`, `m`, `h`, `d`), e.g. `1h30m`; the error
/// names the text and says what is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration: write e.g. 30s, 10m, 4h, 1h30m or 7d");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(invalid()),
        };
        total = unit
            .checked_mul(u32::try_from(number).map_err(|_| invalid())?)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(invalid)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Formats a duration the way [`parse`] reads it (`1h30m`, `45s`, `0s`).
pub fn format(duration: Duration) -> String {
    let mut seconds = duration.as_secs();
    if seconds == 0 {
        return if duration.is_zero() {
            "0s".into()
        } else {
            format!("{}ms", duration.as_millis())
        };
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    out
}

/// serde support: `#[serde(with = "crate::duration::serde_text")]` on a `Duration` field.
pub mod serde_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Reads a duration written as text (`10m`).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }

    /// Writes a duration as text (`10m`).
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let cases = [
            ("30s", 30),
            ("10m", 600),
            ("4h", 14_400),
            ("1h30m", 5400),
            ("7d", 604_800),
            ("1d2h3m4s", 93_784),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse(text).unwrap(), Duration::from_secs(seconds), "{text}");
            assert_eq!(format(Duration::from_secs(seconds)), text);
        }
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for text in [
            "",
            "10",
            "m",
            "10x",
            "1.5h",
            "-1s",
            "10 m",
            "99999999999999999999s",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }
}
