//! The command line: argument definitions and the `check` command.
//!
//! Exit codes (a contract): 0 success, 1 runtime error, 2 usage or input error, 3 updates
//! available and `--fail-on-update` given.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ml_operator_version::Strategy;

use crate::cluster::{Cluster, ClusterOptions};
use crate::config::Config;
use crate::image::ImageRef;
use crate::inventory::{SERVICE_NAME_LABEL, Workload, drop_controlled};
use crate::output::{self, Format};
use crate::scan::{ScanOptions, scan};
use crate::selector::Selector;
use crate::tag_index;
use crate::tag_index::TagIndex;
use crate::tag_source::{ImageWatcherClient, TagSource};
use crate::{manifest, scan::Report};
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
    /// serve the image-watcher API, /healthz, /readyz and /metrics.
    Run(RunArgs),
    /// List a repository's tags as the registry reports them (for debugging registry access).
    Tags(TagsArgs),
    /// Print the ImageUpgrade CustomResourceDefinition (YAML) for `kubectl apply -f -`.
    Crd,
    /// Approve an ImageUpgrade: it is applied in its upgrade window.
    Approve(DecideArgs),
    /// Reject an ImageUpgrade: it is never applied.
    Reject(DecideArgs),
    /// Print the version.
    Version,
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

/// `check`'s arguments (DESIGN.md "CLI" is the contract).
#[derive(Debug, Args)]
struct CheckArgs {
    /// Manifest file or directory (recursive .yaml/.yml/.json), or - for stdin. Repeatable.
    /// Without -f, the cluster of the kubeconfig (or the in-cluster service account) is read.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Kubeconfig for reading a live cluster (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context for reading a live cluster.
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
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
    #[arg(long, value_parser = parse_strategy)]
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
    #[command(flatten)]
    registry: RegistryArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Explain every decision: the candidates rejected and why.
    #[arg(long)]
    explain: bool,
    /// Exit with code 3 when any update is available (for CI pipelines).
    #[arg(long)]
    fail_on_update: bool,
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

fn parse_strategy(text: &str) -> Result<Strategy, String> {
    text.parse::<Strategy>().map_err(|e| e.to_string())
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
        Command::Check(args) => runtime.block_on(check(&args)),
        Command::Tags(args) => runtime.block_on(tags(&args)),
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Crd => {
            print!("{}", crate::upgrade::crd_yaml());
            Ok(0)
        }
        Command::Approve(args) => {
            runtime.block_on(decide(&args, crate::upgrade::decide::Decision::Approve))
        }
        Command::Reject(args) => {
            runtime.block_on(decide(&args, crate::upgrade::decide::Decision::Reject))
        }
        Command::Version => {
            println!("ml-operator {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let (Failure::Input(message) | Failure::Runtime(message)) = &failure;
            eprintln!("error: {message}");
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn check(args: &CheckArgs) -> Result<u8, Failure> {
    let config = load_config(&args.registry)?;
    let selector: Selector = args
        .selector
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e: crate::selector::InvalidSelector| Failure::Input(e.to_string()))?;
    let services = if args.services.is_empty() {
        &config.services
    } else {
        &args.services
    };
    // Ready the tag source before reading the cluster, so a bad index or registry setting fails fast.
    let mut source = tag_source(args.tags.as_deref(), &args.registry, &config)?;

    let mut inventory = read_inventory(args, &selector, services).await?;
    let mut workloads: Vec<Workload> = inventory
        .workloads
        .into_iter()
        .filter(|w| args.namespace.as_ref().is_none_or(|ns| &w.namespace == ns))
        .filter(|w| selector.matches(&w.labels))
        .filter(|w| {
            services.is_empty()
                || w.labels
                    .get(SERVICE_NAME_LABEL)
                    .is_some_and(|name| services.contains(name))
        })
        .collect();
    let controlled = drop_controlled(&mut workloads);
    // On a cluster, registries see the credentials kubelet pulls with.
    if let (Some(cluster), TagSource::Registry(_)) = (&inventory.cluster, &source)
        && !args.no_pull_secrets
    {
        let (credentials, warnings) = cluster.pull_secret_credentials(&workloads).await;
        inventory.warnings.extend(warnings);
        if !credentials.is_empty() {
            source =
                TagSource::Registry(registry_client_with(&args.registry, &config, credentials)?);
        }
    }
    for warning in &inventory.warnings {
        eprintln!("warning: {warning}");
    }

    let strategy = args.strategy.or(config.strategy).unwrap_or_default();
    let lookup = source.fetch(&workloads, strategy).await;
    let failures = lookup.failures();
    for failure in &failures {
        eprintln!("warning: cannot list tags of {failure}");
    }
    if let Some(path) = &args.export_tags {
        let snapshot = tag_index::snapshot(&workloads, &lookup);
        let text = serde_json::to_string_pretty(&snapshot).expect("a tag index always serializes");
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?;
    }

    let options = ScanOptions {
        strategy,
        explain: args.explain,
    };
    let mut report: Report = scan(&workloads, &lookup, options);
    report.summary.other_objects = inventory.other_objects;
    report.summary.controlled = controlled;

    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let text = output::render(
        &report,
        &inventory.warnings,
        args.output,
        color,
        args.explain,
    );
    if config.upgrades.enabled {
        let settings = crate::upgrade::UpgradeSettings::from_config(&config.upgrades)
            .map_err(Failure::Input)?;
        for note in window_notes(&report, &workloads, &settings, chrono::Utc::now()) {
            eprintln!("note: {note}");
        }
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`| head`) is not an error worth reporting.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Failure::Runtime(format!("cannot write output: {e}")));
        }
    }
    if !failures.is_empty() {
        return Err(Failure::Runtime(format!(
            "partial scan: the tags of {} repositories could not be listed (their images are unresolved)",
            failures.len()
        )));
    }
    Ok(if args.fail_on_update && report.summary.updates > 0 {
        3
    } else {
        0
    })
}

async fn tags(args: &TagsArgs) -> Result<u8, Failure> {
    let config = load_config(&args.registry)?;
    let image = ImageRef::parse(&args.repository).map_err(|e| Failure::Input(e.to_string()))?;
    if image.tag().is_some() || image.digest().is_some() {
        return Err(Failure::Input(format!(
            "{:?} names a tag or digest; give the repository only, e.g. {}",
            args.repository,
            image.familiar_name()
        )));
    }
    let registry = registry_client(&args.registry, &config)?;
    let list = registry
        .list_tags(image.registry(), &image.repository())
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut out = String::new();
    for tag in &list.tags {
        out.push_str(tag);
        out.push('\n');
    }
    print!("{out}");
    Ok(0)
}

async fn run(args: RunArgs) -> Result<u8, Failure> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match args.log_format {
        LogFormat::Human => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
    let mut config = load_config(&args.registry)?;
    config
        .apply_env(|key| std::env::var(key).ok())
        .map_err(|e| Failure::Input(e.to_string()))?;
    if let Some(listen) = &args.listen {
        config.listen = Some(listen.clone());
    }
    // Every scan of a long-running operator should see new tags.
    config.cache_ttl.get_or_insert(std::time::Duration::ZERO);
    let source = tag_source(args.tags.as_deref(), &args.registry, &config)?;
    let mut settings =
        crate::operator::Settings::from_config(config, source, args.kubeconfig, args.context)
            .map_err(Failure::Input)?;
    settings.dry_run = args.dry_run;
    crate::operator::run(settings)
        .await
        .map_err(Failure::Runtime)?;
    Ok(0)
}

/// With upgrades enabled: for each applicable update, when it could be applied.
fn window_notes(
    report: &Report,
    workloads: &[Workload],
    settings: &crate::upgrade::UpgradeSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    use crate::upgrade::window::Choice;
    report
        .findings
        .iter()
        .filter_map(|finding| {
            let upgrade = crate::upgrade::proposal(finding)?;
            let workload = workloads.iter().find(|w| {
                w.kind.as_str() == finding.kind
                    && w.namespace == finding.namespace
                    && w.name == finding.name
            })?;
            let when = match settings
                .windows
                .choose(&finding.namespace, workload.setting("window"))
            {
                Ok(Choice::Anytime) => {
                    "no upgrade window: applied right after approval".to_string()
                }
                Ok(Choice::Window(window)) => window.describe(now),
                Err(e) => e,
            };
            Some(format!(
                "{} {}/{} container {} → {} (ImageUpgrade {}): {when}",
                finding.kind,
                finding.namespace,
                finding.name,
                finding.container,
                upgrade.spec.target_tag,
                upgrade.name()
            ))
        })
        .collect()
}

async fn decide(
    args: &DecideArgs,
    decision: crate::upgrade::decide::Decision,
) -> Result<u8, Failure> {
    use crate::upgrade::decide::{DecideError, Decision};
    let options = ClusterOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::connect(&options)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let client = cluster.client();
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let by = args
        .by
        .clone()
        .unwrap_or_else(crate::upgrade::decide::default_decider);
    let upgrade = crate::upgrade::decide::decide(client, &namespace, &args.name, decision, &by)
        .await
        .map_err(|e| match e {
            DecideError::NotFound { .. } | DecideError::Final { .. } => {
                Failure::Input(e.to_string())
            }
            DecideError::Api { .. } => Failure::Runtime(e.to_string()),
        })?;
    let verb = if decision == Decision::Approve {
        "approved"
    } else {
        "rejected"
    };
    println!(
        "imageupgrade.ml-operator.mojaloop.io/{} {verb}: {} {} → {}",
        upgrade.name(),
        upgrade.target_text(),
        upgrade.spec.current_image,
        upgrade.spec.target_image
    );
    Ok(0)
}

fn load_config(args: &RegistryArgs) -> Result<Config, Failure> {
    match &args.config {
        Some(path) => Config::load(path).map_err(|e| Failure::Input(e.to_string())),
        None => Ok(Config::default()),
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
            ImageWatcherClient::new(url).map_err(Failure::Input)?,
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

/// Workloads from manifests (`-f`) or from the cluster, before filtering.
struct Inventory {
    workloads: Vec<Workload>,
    other_objects: usize,
    warnings: Vec<String>,
    /// The cluster read, when not reading manifests.
    cluster: Option<Cluster>,
}

async fn read_inventory(
    args: &CheckArgs,
    selector: &Selector,
    services: &[String],
) -> Result<Inventory, Failure> {
    if !args.files.is_empty() {
        if args.kubeconfig.is_some() || args.context.is_some() {
            return Err(Failure::Input(
                "-f reads manifests; --kubeconfig and --context read a cluster: give one or the other".into(),
            ));
        }
        let default_namespace = args.namespace.as_deref().unwrap_or("default");
        let manifests = manifest::load(&args.files, default_namespace)
            .map_err(|e| Failure::Input(e.to_string()))?;
        return Ok(Inventory {
            workloads: manifests.workloads,
            other_objects: manifests.other_objects,
            warnings: manifests.warnings,
            cluster: None,
        });
    }
    let mut server_selector = selector.as_str().to_string();
    if !services.is_empty() {
        if !server_selector.is_empty() {
            server_selector.push(',');
        }
        server_selector.push_str(&format!("{SERVICE_NAME_LABEL} in ({})", services.join(",")));
    }
    let options = ClusterOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        selector: server_selector,
    };
    let cluster = Cluster::connect(&options)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let inventory = cluster
        .workloads(&options)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    Ok(Inventory {
        workloads: inventory.workloads,
        other_objects: 0,
        warnings: inventory.warnings,
        cluster: Some(cluster),
    })
}
