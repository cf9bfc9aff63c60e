//! The progress line of `check`: on a terminal (a pseudo-terminal made by util-linux
//! `script`), while a slow registry is walked, stderr shows `walking registries N/M
//! repositories` and clears it before the table; never off a terminal, never with `-o json`,
//! never with `--quiet`. The registry is the real docker-registry behind the fault proxy, which
//! holds the first tag list back for longer than the line's one-second delay.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use ml_operator_testkit::proxy::{Fault, FaultProxy};
use support::small_hub_registry;

/// A config making `proxy` the docker.io mirror (no digest checks: only tag walks).
fn config(dir: &Path, proxy: &FaultProxy) -> String {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "checkOverwrittenTags: false\nregistries:\n  - {{host: docker.io, mirror: '{}'}}\n",
            proxy.host()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// The next tag list is answered only after a pause well over the line's delay.
fn slow_down(proxy: &FaultProxy) {
    proxy.inject("/tags/list", [Fault::Slow(Duration::from_millis(2500))]);
}

const HUB: &str = "tests/fixtures/small-hub.yaml";

/// `check -f HUB --config CONFIG ARGS…` as a plain child process (stderr a pipe).
async fn off_a_terminal(config: &str, args: &[&str]) -> Output {
    let docker_config = tempfile::tempdir().unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-operator"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DOCKER_CONFIG", docker_config.path())
        .env("TERM", "xterm")
        .args(["check", "-f", HUB, "--config", config])
        .args(args)
        .output()
        .await
        .unwrap()
}

/// The same on a pseudo-terminal (`script -qfec`): stdout and stderr both the terminal, what
/// it showed returned as bytes.
async fn on_a_terminal(config: &str, args: &[&str]) -> (Option<i32>, String) {
    let docker_config = tempfile::tempdir().unwrap();
    let mut command = format!(
        "{} check -f {HUB} --config {config}",
        env!("CARGO_BIN_EXE_ml-operator")
    );
    for arg in args {
        command.push(' ');
        command.push_str(arg);
    }
    let output = tokio::process::Command::new("script")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DOCKER_CONFIG", docker_config.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .args(["-qfec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("util-linux `script` runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn off_a_terminal_stderr_has_no_progress_bytes_even_for_a_slow_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, proxy) = small_hub_registry().await;
    let config = config(dir.path(), &proxy);
    slow_down(&proxy);
    let output = off_a_terminal(&config, &[]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        proxy.count_outcome("/tags/list", "slow"),
        1,
        "the registry was slow"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}') && !stderr.contains("walking"),
        "{stderr:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_a_slow_walk_shows_the_line_and_clears_it_before_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, proxy) = small_hub_registry().await;
    let config = config(dir.path(), &proxy);
    slow_down(&proxy);
    let (code, screen) = on_a_terminal(&config, &[]).await;
    assert_eq!(code, Some(0), "{screen:?}");
    assert_eq!(proxy.count_outcome("/tags/list", "slow"), 1);
    let shown = screen
        .rfind("walking registries ")
        .unwrap_or_else(|| panic!("no progress line: {screen:?}"));
    let line = &screen[shown..];
    let line = &line[..line.find(['\r', '\n', '\u{1b}']).unwrap_or(line.len())];
    assert!(
        line.contains("/6 repositories"),
        "the small hub has 6 repositories: {line:?}"
    );
    // Cleared (indicatif erases the line) before the table's header is drawn.
    let table = screen.find("NAMESPACE").expect("the table");
    assert!(shown < table, "{screen:?}");
    assert!(
        screen[shown..table].contains("\u{1b}[2K") || screen[shown..table].contains("\u{1b}[K"),
        "the line is erased before the table: {:?}",
        &screen[shown..table]
    );
    assert!(
        !screen[table..].contains("walking registries"),
        "{screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_json_and_quiet_never_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, proxy) = small_hub_registry().await;
    let config = config(dir.path(), &proxy);
    for args in [&["-o", "json"][..], &["-o", "commands"], &["--quiet"]] {
        slow_down(&proxy);
        proxy.clear_log();
        let (code, screen) = on_a_terminal(&config, args).await;
        assert_eq!(code, Some(0), "{args:?}: {screen:?}");
        assert_eq!(proxy.count_outcome("/tags/list", "slow"), 1, "{args:?}");
        assert!(!screen.contains("walking"), "{args:?}: {screen:?}");
        if args[0] != "--quiet" {
            // Nothing but the document: no escape sequence at all.
            assert!(!screen.contains('\u{1b}'), "{args:?}: {screen:?}");
        }
    }
}
