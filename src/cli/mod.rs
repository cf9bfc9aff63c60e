//! The command line: argument definitions, exit codes and the shared set-up of each command.
//!
//! Exit codes (a contract): 0 success, 1 runtime error (also a `tag-overwritten` finding of
//! `check`, unless `--allow-overwritten`), 2 usage or input error, 3 updates available and
//! `--fail-on-update` given. Each command lives in its own module:
//! `check` (one scan: `read` for what it reads — manifests, a cluster or a fleet — and
//! `progress` for its progress line), `run` (operator mode), `tags` (list a repository's tags)
//! and `decide` (`approve` / `reject` an ImageUpgrade).

mod check;
mod completion;
mod decide;
mod progress;
mod read;
mod run;
mod tags;
mod values;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ml_operator_version::Strategy;

use crate::config::Config;
use crate::report::Format;
use crate::tags::index::TagIndex;
use crate::tags::{ImageWatcherClient, TagSource};
use ml_operator_registry::{ClientOptions, Credential, Registry};

/// Finds container images with newer allowed tags, and prints ready-to-run upgrades.
#[derive(Debug, Parser)]
#[command(name = "ml-operator", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan once and print the findings (manifests with -f; see `check --help`).
    Check(CheckArgs),
    /// Run the operator: watch the cluster, scan on CHECK_FOR_UPDATE_CRON, notify on change,
    /// serve the image-watcher API, /healthz, /readyz and /metrics; with `slack:` in the
    /// configuration, Approve / Reject buttons on proposals (POST /slack/interactions or Socket
    /// Mode), with `api.enabled` the admin API under /api/v1 and the dashboard at / (open it
    /// with `kubectl port-forward deploy/ml-operator 4006`, paste a token; docs/approvals.md).
    Run(RunArgs),
    /// List a repository's tags as the registry reports them (for debugging registry access).
    Tags(TagsArgs),
    /// Print the ImageUpgrade CustomResourceDefinition (YAML) for `kubectl apply -f -`.
    Crd,
    /// Approve an ImageUpgrade: it is applied in its upgrade window.
    Approve(DecideArgs),
    /// Reject an ImageUpgrade: it is never applied.
    Reject(DecideArgs),
    /// Print a shell completion script: `ml-operator completion bash > /etc/bash_completion.d/ml-operator`.
    Completion(CompletionArgs),
    /// Print the manual page (roff): `ml-operator man | man -l -`.
    Man,
    /// Print the version.
    Version,
}

/// `completion`'s argument.
#[derive(Debug, Args)]
struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// How to reach registries: shared by `check` and `tags`.
#[derive(Debug, Args)]
struct RegistryArgs {
    /// Configuration file (YAML): strategy, services, registries (mirrors, CA files, credentials).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Reach this registry over plain HTTP or unverified TLS (`HOST[:PORT]`). Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// Keep tag lists on disk here and revalidate them with ETags on the next run.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// `run`'s arguments; the rest of the configuration is the file and the environment.
#[derive(Debug, Args)]
struct RunArgs {
    /// Kubeconfig (default: in-cluster service account, else KUBECONFIG, ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// HTTP listen address for the API, health and metrics (default 0.0.0.0:4006).
    #[arg(long, value_name = "ADDR", env = "ML_OPERATOR_LISTEN")]
    listen: Option<String>,
    /// Offline tag index instead of registries (demos, air-gapped test runs).
    #[arg(long, value_name = "FILE")]
    tags: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Decide and log everything (ImageUpgrades, approvals, patches) but change nothing in the
    /// cluster; notifications are still sent.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `approve`'s and `reject`'s arguments.
#[derive(Debug, Args)]
struct DecideArgs {
    /// The ImageUpgrade's name (`kubectl get imageupgrades -A` lists them).
    name: String,
    /// Its namespace (the workload's; default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
    /// Kubeconfig (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// Who decides, recorded on the object (default: $USER).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// `tags`' arguments.
#[derive(Debug, Args)]
struct TagsArgs {
    /// The repository, as in an image reference: `mojaloop/central-ledger`, `ghcr.io/org/app`.
    repository: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `check`'s arguments (a contract: scripts rely on these flags; see the README's `check` section).
#[derive(Debug, Args)]
struct CheckArgs {
    /// Manifest file or directory (recursive .yaml/.yml/.json), or - for stdin. Repeatable.
    /// Without -f, the cluster of the kubeconfig (or the in-cluster service account) is read.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Kubeconfig for reading a live cluster (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context for reading a live cluster. Repeatable: with two or more, each
    /// cluster is scanned (a fleet) and every finding carries its `cluster`.
    #[arg(long, value_name = "NAME", conflicts_with = "all_contexts")]
    context: Vec<String>,
    /// Scan every context of the kubeconfig, in its order (a fleet).
    #[arg(long)]
    all_contexts: bool,
    /// The longest one cluster may take to be read (listing, pull secrets, Helm releases).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    cluster_timeout: std::time::Duration,
    /// Only this namespace (for manifests: objects without a namespace count as in it).
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        conflicts_with = "all_namespaces"
    )]
    namespace: Option<String>,
    /// All namespaces (the default).
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only workloads matching this label selector (e.g. `app.kubernetes.io/part-of=mojaloop`).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// Only workloads whose `app.kubernetes.io/name` label is one of these (comma-separated).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    services: Vec<String>,
    /// Upgrade strategy: patch (same X.Y.Z), bugfix (same X.Y, the default), minor (same X), major.
    #[arg(long)]
    strategy: Option<Strategy>,
    /// Offline tag index: a JSON object from repository to its tags. No registry is contacted.
    #[arg(long, value_name = "FILE")]
    tags: Option<PathBuf>,
    /// On a cluster, do not read the workloads' imagePullSecrets for registry credentials.
    #[arg(long)]
    no_pull_secrets: bool,
    /// Write the tags used by this scan as a tag index, for `--tags` on an air-gapped hub.
    #[arg(long, value_name = "FILE")]
    export_tags: Option<PathBuf>,
    /// The largest manifest input (each -f file, and stdin) and the largest page of a cluster's
    /// lists read: bytes, or with K, M or G (binary: 64M = 64 MiB). A larger input is an error
    /// (exit 2; a larger list page fails that cluster's read).
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = crate::source::manifest::parse_size)]
    max_input_size: u64,
    /// On a cluster, do not read the Helm releases of Helm-managed workloads (their Secrets)
    /// to find the values key behind each image.
    #[arg(long)]
    no_helm_releases: bool,
    /// The chart to `helm upgrade` a release with (`-o helm`): `RELEASE=REF`, a repository
    /// chart (`mojaloop/mojaloop`) or a directory. Repeatable; without it, the chart's name.
    #[arg(long, value_name = "RELEASE=REF")]
    helm_chart: Vec<String>,
    /// A values file (or a directory of them, recursively) to locate each update's key in.
    /// Repeatable.
    #[arg(long = "values", value_name = "FILE")]
    values: Vec<PathBuf>,
    /// With --values: change the tags in those files in place (only the tag scalars change).
    #[arg(long, requires = "values")]
    write: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Explain every decision: the candidates rejected and why.
    #[arg(long)]
    explain: bool,
    /// List every container in the table, not only those that need attention.
    #[arg(long)]
    all: bool,
    /// Exit with code 3 when any update is available (for CI pipelines).
    #[arg(long)]
    fail_on_update: bool,
    /// Pin every target by its digest: `repo:tag@sha256:…` (one HEAD of the chosen tag).
    /// Images pinned now stay pinned either way.
    #[arg(long)]
    pin_digests: bool,
    /// Do not exit with code 1 when a running tag was overwritten in the registry
    /// (`tag-overwritten` findings are still reported).
    #[arg(long)]
    allow_overwritten: bool,
    /// No progress line on stderr (it is shown only on a terminal, for the table, after a
    /// second).
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Colour the table: auto (only on a terminal, and not when NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments or input files: exit 2.
    Input(String),
    /// Something went wrong while running: exit 1.
    Runtime(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Input(_) => 2,
            Failure::Runtime(_) => 1,
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::operator::memory::tune_malloc();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Check(args) => runtime.block_on(check::check(&args)),
        Command::Tags(args) => runtime.block_on(tags::tags(&args)),
        Command::Run(args) => runtime.block_on(run::run(args)),
        Command::Crd => {
            print!("{}", crate::upgrade::crd_yaml());
            Ok(0)
        }
        Command::Approve(args) => runtime.block_on(decide::decide(
            &args,
            crate::upgrade::decide::Decision::Approve,
        )),
        Command::Reject(args) => runtime.block_on(decide::decide(
            &args,
            crate::upgrade::decide::Decision::Reject,
        )),
        Command::Completion(args) => completion::print(args.shell),
        Command::Man => completion::print_man(),
        Command::Version => {
            println!("ml-operator {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
    };
    // Tasks still running (a watch, a retrying request) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let (Failure::Input(message) | Failure::Runtime(message)) = &failure;
            eprintln!("error: {}", crate::report::escape_control(message));
            ExitCode::from(failure.exit_code())
        }
    }
}

/// The configuration every command starts from: the file (if given), then the original
/// environment variables over it (`SERVICES`, `UPGRADE_STRATEGY`, `IMAGE_WATCHER_CLIENT_URL`,
/// …), as docs/configuration.md says. Flags are applied over this by each command.
fn load_config(args: &RegistryArgs) -> Result<Config, Failure> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| Failure::Input(e.to_string()))?,
        None => Config::default(),
    };
    config
        .apply_env(|key| std::env::var(key).ok())
        .map_err(|e| Failure::Input(e.to_string()))?;
    Ok(config)
}

/// A duration flag above zero (`90s`, `2m`), as the configuration file writes durations.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match crate::config::duration::parse(text) {
        Ok(duration) if duration.is_zero() => Err(format!("{text:?}: must be above zero")),
        Ok(duration) => Ok(duration),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks a `-n NAMESPACE` argument, so a typo is an input error naming the flag instead of
/// an HTTP error from deep inside the client.
fn check_namespace_arg(namespace: Option<&str>) -> Result<(), Failure> {
    match namespace {
        Some(namespace) => crate::inventory::names::check_label(namespace)
            .map_err(|e| Failure::Input(format!("-n/--namespace: {e}"))),
        None => Ok(()),
    }
}

/// The tag source: the offline index when given, else an image-watcher when configured, else
/// the registries.
fn tag_source(
    tags: Option<&std::path::Path>,
    args: &RegistryArgs,
    config: &Config,
) -> Result<TagSource, Failure> {
    if let Some(path) = tags {
        return Ok(TagSource::Index(
            TagIndex::load(path).map_err(|e| Failure::Input(e.to_string()))?,
        ));
    }
    if let Some(url) = &config.image_watcher_url {
        return Ok(TagSource::ImageWatcher(
            ImageWatcherClient::new(url).map_err(|e| Failure::Input(e.to_string()))?,
        ));
    }
    Ok(TagSource::Registry(registry_client(args, config)?))
}

/// The registry client, from the config file and flags (flags add to the file's settings).
fn registry_client(args: &RegistryArgs, config: &Config) -> Result<Registry, Failure> {
    registry_client_with(args, config, Vec::new())
}

/// [`registry_client`] with credentials found elsewhere (image pull secrets); a config file
/// entry's own credentials still win over them.
fn registry_client_with(
    args: &RegistryArgs,
    config: &Config,
    extra_credentials: Vec<(String, Credential)>,
) -> Result<Registry, Failure> {
    let mut insecure_registries = config.insecure_registries.clone();
    insecure_registries.extend(args.insecure_registries.iter().cloned());
    let options = ClientOptions {
        registries: config.registries.clone(),
        insecure_registries,
        cache_dir: args.cache_dir.clone().or_else(|| config.cache_dir.clone()),
        cache_ttl: config
            .cache_ttl
            .unwrap_or(ClientOptions::default().cache_ttl),
        user_agent: format!("ml-operator/{}", env!("CARGO_PKG_VERSION")),
        extra_credentials,
        ..ClientOptions::default()
    };
    Registry::new(options).map_err(|e| Failure::Input(e.to_string()))
}
