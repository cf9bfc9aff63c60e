//! The tag grammar: `[v|V] N[.N[.N[.N]]] [-suffix] [+build]`, and the
//! [`NotAVersion`] error for everything else.

use std::fmt;

use crate::track;
use crate::version::{Prefix, Version};

/// Most numeric parts a version tag may have (`v15.1.2.1`).
pub(crate) const MAX_PARTS: usize = 4;

/// A tag that is not a version: `latest`, `main`, a git sha, `v.11.12.0`,
/// `v10.5.2.0.0-pisp`. Its `Display` names the tag and says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAVersion {
    tag: String,
    kind: Kind,
}

/// Why a tag is not a version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Empty,
    Name,
    NoNumber,
    Sha,
    BareV,
    DotAfterV,
    InvalidChar(char),
    EmptyPart,
    TooManyParts(usize),
    TooLarge(String),
    AfterNumbers(String),
    BadSuffix,
    BadBuild,
}

impl NotAVersion {
    fn new(tag: &str, kind: Kind) -> Self {
        NotAVersion {
            tag: tag.to_owned(),
            kind,
        }
    }

    /// The tag that failed to parse, exactly as given.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Why the tag is not a version, as a short phrase without the tag
    /// (e.g. "more than 4 numeric parts (5)").
    pub fn reason(&self) -> String {
        match &self.kind {
            Kind::Empty => "the tag is empty".into(),
            Kind::Name => "a name, not a version number".into(),
            Kind::NoNumber => "does not start with a version number".into(),
            Kind::Sha => "looks like a git commit sha".into(),
            Kind::BareV => "a bare `v` with no number".into(),
            Kind::DotAfterV => "`v.` is not a version prefix (write `v1.2.3`)".into(),
            Kind::InvalidChar(c) => format!(
                "contains `{}`, which is not allowed in a tag",
                c.escape_debug()
            ),
            Kind::EmptyPart => "a numeric part is empty".into(),
            Kind::TooManyParts(n) => format!("more than 4 numeric parts ({n})"),
            Kind::TooLarge(n) => format!("the number {n} is too large"),
            Kind::AfterNumbers(rest) => {
                format!("unexpected `{rest}` after the numbers (a suffix starts with `-`)")
            }
            Kind::BadSuffix => "the suffix has an empty or invalid part".into(),
            Kind::BadBuild => "the `+` build metadata is empty or invalid".into(),
        }
    }

    /// True when the tag is a plain name such as `latest`, `main` or
    /// `stable`, for which "not a version tag" needs no further reason.
    pub fn is_name(&self) -> bool {
        self.kind == Kind::Name
    }
}

impl fmt::Display for NotAVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a version tag: {}", self.tag, self.reason())
    }
}

impl std::error::Error for NotAVersion {}

/// Parses `tag` per the grammar in the crate docs.
pub(crate) fn parse(tag: &str) -> Result<Version, NotAVersion> {
    let fail = |kind| Err(NotAVersion::new(tag, kind));
    if tag.is_empty() {
        return fail(Kind::Empty);
    }
    if let Some(c) = tag
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')))
    {
        return fail(Kind::InvalidChar(c));
    }

    let (main, build) = match tag.split_once('+') {
        Some((main, build)) => (main, Some(build)),
        None => (tag, None),
    };
    if let Some(build) = build
        && (build.is_empty() || build.contains('+') || build.split(['.', '-']).any(str::is_empty))
    {
        return fail(Kind::BadBuild);
    }

    let (prefix, rest) = match main.as_bytes().first() {
        Some(b'v') => (Prefix::LowerV, &main[1..]),
        Some(b'V') => (Prefix::UpperV, &main[1..]),
        _ => (Prefix::None, main),
    };
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return fail(if looks_like_sha(tag) {
            Kind::Sha
        } else if prefix != Prefix::None && rest.is_empty() {
            Kind::BareV
        } else if prefix != Prefix::None && rest.starts_with('.') {
            Kind::DotAfterV
        } else if main
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
        {
            Kind::Name
        } else {
            Kind::NoNumber
        });
    }

    // Numbers: digits separated by dots, up to the first `-` or the end.
    let (numbers_text, suffix) = match rest.split_once('-') {
        Some((numbers, suffix)) => (numbers, Some(suffix)),
        None => (rest, None),
    };
    let mut numbers = Vec::with_capacity(MAX_PARTS);
    let mut offset = 0;
    for part in numbers_text.split('.') {
        if part.is_empty() {
            return fail(Kind::EmptyPart);
        }
        let digits = part.bytes().take_while(u8::is_ascii_digit).count();
        if digits < part.len() {
            // `06fddbe2`, `9.1.0.perf.1`: letters where a number or `-` belongs.
            if looks_like_sha(tag) {
                return fail(Kind::Sha);
            }
            let from = if digits == 0 {
                offset - 1
            } else {
                offset + digits
            };
            return fail(Kind::AfterNumbers(rest[from..].to_owned()));
        }
        match part.parse::<u64>() {
            Ok(n) => numbers.push(n),
            Err(_) => return fail(Kind::TooLarge(part.to_owned())),
        }
        offset += part.len() + 1;
    }
    if numbers.len() > MAX_PARTS {
        return fail(Kind::TooManyParts(numbers.len()));
    }

    let suffix = match suffix {
        None => None,
        Some(s) if s.is_empty() || s.split(['.', '-']).any(str::is_empty) => {
            return fail(Kind::BadSuffix);
        }
        Some(s) => Some(track::classify(s)),
    };

    Ok(Version::from_parts(
        tag.to_owned(),
        prefix,
        numbers,
        suffix,
        build.map(str::to_owned),
    ))
}

/// A 7–64 character hexadecimal string with at least one letter: the shape
/// of a (short) git commit sha or a digest.
fn looks_like_sha(tag: &str) -> bool {
    (7..=64).contains(&tag.len())
        && tag.bytes().all(|b| b.is_ascii_hexdigit())
        && tag.bytes().any(|b| b.is_ascii_alphabetic())
}
