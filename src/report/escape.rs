//! Text made safe for a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Text made safe for a terminal: each control character (ESC, newline, carriage return, tab,
/// DEL, C1 controls) and each bidirectional formatting character (U+202A–U+202E, U+2066–U+2069,
/// U+200E, U+200F) is printed as Rust's `\u{…}` escape (`\u{1b}`, `\u{a}`), so an image
/// string or a name cannot move the cursor, recolour the screen, forge a table line or reorder
/// what is shown. Everything else, backslashes included, is printed as it is.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    let needs_escape = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(
            escape_control("mojaloop/x:v1 é \\"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_control("a\u{1b}[31mb\nc\td\u{7f}\u{9b}\u{202e}e"),
            r"a\u{1b}[31mb\u{a}c\u{9}d\u{7f}\u{9b}\u{202e}e"
        );
    }
}
