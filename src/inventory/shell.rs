//! POSIX shell quoting for the commands ml-operator prints (people pipe them to `sh`).
//!
//! A word made only of characters that no POSIX shell (nor bash or zsh) gives a meaning to is
//! printed as it is; any other word is wrapped in single quotes, inside which nothing is special,
//! and each single quote of the word becomes `'\''` (close the quotes, an escaped quote, reopen).
//! So `account-lookup-service` stays bare, `{"spec":…}` becomes `'{"spec":…}'` and
//! `app$(touch PWNED)` becomes `'app$(touch PWNED)'`, one literal argument.
//!
//! The crates that do this were looked at: `shell-words` quotes only characters on a deny list
//! (it leaves `{a,b}`, `!`, control characters and non-ASCII bare), and `shlex` switches to
//! double quotes around a single quote and refuses NUL; neither prints the documented form.

use std::borrow::Cow;

/// Whether `c` can stand unquoted anywhere in a word: letters, digits and `_ . / : @ % + , -`.
/// Deliberately short: `=` (zsh's `=cmd`), `~`, `!`, `{`, `}`, `*`, `?`, `[`, `#` and every
/// control, space or non-ASCII character are quoted.
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '@' | '%' | '+' | ',' | '-')
}

/// One word, quoted for a POSIX shell when it needs it: borrowed when every character is safe,
/// else single-quoted with `'\''` for each embedded single quote. The empty word is `''`.
pub fn quote(word: &str) -> Cow<'_, str> {
    if !word.is_empty() && word.chars().all(is_safe) {
        return Cow::Borrowed(word);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
}

/// Words joined by single spaces, each [`quote`]d: a command line that a POSIX shell splits back
/// into exactly these words, whatever they hold.
pub fn join<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words.into_iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// A command printed by [`join`] with `words` inserted right after its program (its first
/// word, a bare name such as `kubectl`), each [`quote`]d: `kubectl patch …` with
/// `["--context", "hub-a"]` becomes `kubectl --context hub-a patch …`. The words already there
/// are kept exactly as they were quoted.
pub fn insert_after_program<'a>(command: &str, words: impl IntoIterator<Item = &'a str>) -> String {
    let (program, rest) = command.split_once(' ').unwrap_or((command, ""));
    let mut out = program.to_string();
    for word in words {
        out.push(' ');
        out.push_str(&quote(word));
    }
    if !rest.is_empty() {
        out.push(' ');
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_words_stay_bare_and_the_rest_is_single_quoted() {
        let cases = [
            ("account-lookup-service", "account-lookup-service"),
            ("mojaloop/x:v1.2.3@sha256:ab", "mojaloop/x:v1.2.3@sha256:ab"),
            ("", "''"),
            (r#"{"a":1}"#, r#"'{"a":1}'"#),
            ("app$(touch PWNED)", "'app$(touch PWNED)'"),
            ("it's", r"'it'\''s'"),
            ("a=b", "'a=b'"),
            ("~root", "'~root'"),
            ("a b\nc", "'a b\nc'"),
            ("é", "'é'"),
        ];
        for (word, quoted) in cases {
            assert_eq!(quote(word), quoted, "{word:?}");
        }
        assert!(matches!(quote("plain"), Cow::Borrowed(_)));
        assert_eq!(join(["kubectl", "-n", "ns;x"]), "kubectl -n 'ns;x'");
    }

    #[test]
    fn words_go_right_after_the_program_quoted() {
        let command = join(["kubectl", "patch", "deployment", "a b"]);
        assert_eq!(
            insert_after_program(&command, ["--context", "hub-a"]),
            "kubectl --context hub-a patch deployment 'a b'"
        );
        assert_eq!(
            insert_after_program(&command, ["--context", "arn:aws:eks:x:cluster/$(id)"]),
            "kubectl --context 'arn:aws:eks:x:cluster/$(id)' patch deployment 'a b'"
        );
        assert_eq!(insert_after_program("helm", ["-h"]), "helm -h");
    }
}
