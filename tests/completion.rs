//! `ml-operator completion SHELL` and `ml-operator man`: the scripts complete what the parser
//! accepts (bash is run for real: its completion function is called as bash would call it),
//! and the manual renders with `man` with a page per subcommand.

use std::process::{Command, Stdio};

fn ml_operator(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// What bash's completion function offers for the words typed so far.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ml-operator.bash");
    std::fs::write(&path, script).unwrap();
    let words_array = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let cword = words.len() - 1;
    let probe = format!(
        "source '{}'\nfunction=$(complete -p ml-operator | sed -E 's/.*-F ([^ ]+).*/\\1/')\nCOMP_WORDS=({words_array})\nCOMP_CWORD={cword}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n\"$function\" ml-operator \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path.display()
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_values() {
    let script = ml_operator(&["completion", "bash"]);
    assert!(
        script
            .contains("complete -F _ml_operator -o nosort -o bashdefault -o default ml-operator\n"),
        "registered for the binary's name"
    );
    let syntax = Command::new("bash")
        .args(["-n", "-c", &script])
        .status()
        .unwrap();
    assert!(syntax.success(), "the script is valid bash");

    let subcommands = bash_completes(&script, &["ml-operator", "c"]);
    for expected in ["check", "crd", "completion"] {
        assert!(
            subcommands.iter().any(|s| s == expected),
            "{expected} in {subcommands:?}"
        );
    }
    let flags = bash_completes(&script, &["ml-operator", "check", "--fail"]);
    assert_eq!(flags, ["--fail-on-update"]);
    // The fleet flags.
    let flags = bash_completes(&script, &["ml-operator", "check", "--all-c"]);
    assert_eq!(flags, ["--all-contexts"]);
    let flags = bash_completes(&script, &["ml-operator", "check", "--cluster-t"]);
    assert_eq!(flags, ["--cluster-timeout"]);
    let outputs = bash_completes(&script, &["ml-operator", "check", "-o", ""]);
    for format in ["table", "json", "commands"] {
        assert!(
            outputs.iter().any(|o| o == format),
            "{format} in {outputs:?}"
        );
    }
    let shells = bash_completes(&script, &["ml-operator", "completion", "z"]);
    assert_eq!(shells, ["zsh"]);
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = ml_operator(&["completion", shell]);
        for word in ["check", "run", "approve", "fail-on-update", "strategy"] {
            assert!(script.contains(word), "{shell}: {word}");
        }
        assert!(
            script.contains("ml-operator"),
            "{shell}: registered for ml-operator"
        );
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_manual_renders_with_a_page_per_subcommand() {
    let roff = ml_operator(&["man"]);
    let mut man = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    man.stdin
        .take()
        .unwrap()
        .write_all(roff.as_bytes())
        .unwrap();
    let output = man.wait_with_output().unwrap();
    assert!(output.status.success());
    // Without a terminal, man may still overstrike for bold (`-\x08-`): read the plain text.
    let raw = String::from_utf8_lossy(&output.stdout);
    let mut text = String::new();
    for c in raw.chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    for page in [
        "ml-operator(1)",
        "ml-operator-check(1)",
        "ml-operator-run(1)",
        "ml-operator-approve(1)",
    ] {
        assert!(text.contains(page), "{page} in the manual");
    }
    assert!(
        text.contains("--fail-on-update"),
        "check's flags are documented"
    );
}
