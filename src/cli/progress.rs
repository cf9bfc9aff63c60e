//! The progress line `check` shows while it reads clusters and walks registries: on stderr,
//! only when stderr is a terminal, the output is the table (`-o table` or `-o wide`) and
//! `--quiet` is not given, and only once the run has lasted [`DELAY`] — a fast scan never
//! flashes it. It is cleared before anything is printed on stdout, and lines printed on stderr
//! meanwhile ([`Progress::eprintln`]) go above it. indicatif draws it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes on before the line appears.
pub(super) const DELAY: Duration = Duration::from_secs(1);

/// Where the line is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not drawn yet (or never will be, when disabled).
    Waiting,
    /// On the terminal.
    Shown,
    /// Cleared for good.
    Finished,
}

/// The progress line of one `check` run (hidden when disabled; then every call does nothing
/// visible).
pub(super) struct Progress {
    bar: ProgressBar,
    state: Arc<Mutex<State>>,
    reveal: Option<tokio::task::JoinHandle<()>>,
    clusters: usize,
}

impl Progress {
    /// Starts the clock: with `enabled`, the line appears after [`DELAY`] unless finished by
    /// then. `clusters` is how many clusters are read (0 for manifests).
    pub(super) fn start(enabled: bool, clusters: usize) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .expect("a valid progress template"),
        );
        let state = Arc::new(Mutex::new(State::Waiting));
        let reveal = enabled.then(|| {
            let (bar, state) = (bar.clone(), state.clone());
            tokio::spawn(async move {
                tokio::time::sleep(DELAY).await;
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                if *state == State::Waiting {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_millis(125));
                    *state = State::Shown;
                }
            })
        });
        let progress = Progress {
            bar,
            state,
            reveal,
            clusters,
        };
        if clusters > 0 {
            progress
                .bar
                .set_message(format!("reading {}", progress.clusters_text()));
        }
        progress
    }

    /// `1 cluster`, `3 clusters`.
    fn clusters_text(&self) -> String {
        match self.clusters {
            1 => "1 cluster".to_string(),
            n => format!("{n} clusters"),
        }
    }

    /// `walking registries 12/39 repositories · 1 cluster`.
    pub(super) fn repositories(&self, done: usize, total: usize) {
        let mut message = format!("walking registries {done}/{total} repositories");
        if self.clusters > 0 {
            message.push_str(" · ");
            message.push_str(&self.clusters_text());
        }
        self.bar.set_message(message);
    }

    /// Prints a line on stderr above the progress line (or plainly when it is not shown).
    pub(super) fn eprintln(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Clears the line for good (before the report is printed).
    pub(super) fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(reveal) = &self.reveal {
            reveal.abort();
        }
        if *state != State::Finished {
            self.bar.finish_and_clear();
            *state = State::Finished;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
