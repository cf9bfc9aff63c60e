//! `ml-operator check`: one scan of manifests or a cluster, printed.
//!
//! In: the `check` arguments (manifests or a cluster, filters, the tag source). Out: the
//! report on stdout (table, JSON, commands, helm upgrades or a values diff), the `--values`
//! files rewritten with `--write`, warnings and notes on stderr, `--export-tags`
//! written, and the exit code: 0, 3 with `--fail-on-update` and updates, 1 for a partial scan,
//! a `tag-overwritten` finding (unless `--allow-overwritten`) or a runtime failure, 2 for bad
//! input.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::{
    CheckArgs, ColorChoice, Failure, check_namespace_arg, load_config, registry_client_with,
    tag_source,
};
use crate::inventory::selector::Selector;
use crate::inventory::{RunningDigests, Workload, drop_controlled, server_selector};
use crate::report;
use crate::scan::pipeline::{self, Scanned};
use crate::scan::{Report, ScanOptions};
use crate::source::cluster::{Cluster, ClusterOptions};
use crate::source::manifest;
use crate::tags::TagSource;
use crate::tags::index;

pub(super) async fn check(args: &CheckArgs) -> Result<u8, Failure> {
    check_namespace_arg(args.namespace.as_deref())?;
    if let (Some(tags), Some(export)) = (&args.tags, &args.export_tags) {
        refuse_to_overwrite(tags, export)?;
    }
    let config = load_config(&args.registry)?;
    let selector: Selector = args
        .selector
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e: crate::inventory::selector::InvalidSelector| Failure::Input(e.to_string()))?;
    let services = if args.services.is_empty() {
        &config.services
    } else {
        &args.services
    };
    // Ready the tag source before reading the cluster, so a bad index or registry setting fails fast.
    let mut source = tag_source(args.tags.as_deref(), &args.registry, &config)?;

    let supply = crate::operator::settings::supply_policy(&config, args.pin_digests)
        .map_err(|e| Failure::Input(e.to_string()))?;

    let mut inventory = read_inventory(args, &selector, services).await?;
    // What the nodes run, from every Pod listed (before filtering: Pods and ReplicaSets need
    // not carry their workload's labels).
    let running = match &inventory.cluster {
        Some(_) => RunningDigests::from_listing(&inventory.workloads, &inventory.pods),
        None => RunningDigests::default(),
    };
    let mut workloads: Vec<Workload> = inventory
        .workloads
        .into_iter()
        .filter(|w| args.namespace.as_ref().is_none_or(|ns| &w.namespace == ns))
        .filter(|w| selector.matches(&w.labels))
        .filter(|w| w.is_one_of(services))
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
    // Helm releases hold secrets: read only with the caller's permissions, reduced at once to
    // image keys.
    let mut releases = Vec::new();
    if let Some(cluster) = &inventory.cluster
        && !args.no_helm_releases
    {
        let (found, warnings) = cluster.helm_releases(&workloads, args.max_input_size).await;
        releases = found;
        inventory.warnings.extend(warnings);
    }
    // Argo CD Applications: only their selfHeal, with the caller's permissions.
    let mut self_heal = crate::source::argocd::SelfHeal::new();
    let argocd_namespace = config
        .argocd
        .namespace
        .clone()
        .unwrap_or_else(|| crate::source::argocd::DEFAULT_ARGOCD_NAMESPACE.into());
    if let Some(cluster) = &inventory.cluster {
        let (found, warnings) = cluster
            .argocd_self_heal(&workloads, &argocd_namespace)
            .await;
        self_heal = found;
        inventory.warnings.extend(warnings);
    }
    let charts = helm_charts(&args.helm_chart)?;
    if args.output == report::Format::Diff && args.values.is_empty() {
        return Err(Failure::Input(
            "-o diff shows the changes to --values files: give --values FILE".into(),
        ));
    }
    let values_files = super::values::load(&args.values, args.max_input_size)?;
    for warning in &inventory.warnings {
        eprintln!("warning: {}", report::escape_control(warning));
    }

    let options = ScanOptions {
        strategy: args.strategy.or(config.strategy).unwrap_or_default(),
        explain: args.explain,
    };
    if inventory.cluster.is_none()
        && supply.check_overwritten
        && matches!(source, TagSource::Registry(_))
    {
        eprintln!(
            "note: manifests have no Pods, so the overwritten-tag check compares only digest-pinned images with the registry (the others are skipped)"
        );
    }
    let inputs = pipeline::Inputs {
        running: &running,
        policy: &supply,
        now: chrono::Utc::now(),
    };
    let mut scanned = pipeline::run(&source, &workloads, &inputs, options).await;
    for line in scanned.failure_lines() {
        eprintln!("warning: {}", report::escape_control(&line.to_string()));
    }
    if let Some(path) = &args.export_tags {
        let snapshot = index::snapshot(&workloads, &scanned.tags);
        let text = serde_json::to_string_pretty(&snapshot).expect("a tag index always serializes");
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    scanned.report.summary.other_objects = inventory.other_objects;
    scanned.report.summary.controlled = controlled;
    let Scanned {
        mut report,
        failures,
        ..
    } = scanned;
    crate::deliver::helm::attach(&mut report, &releases, &charts);
    for finding in &mut report.findings {
        if let Some(by) = finding
            .managed_by
            .as_mut()
            .filter(|by| by.tool == crate::inventory::Tool::Argocd)
        {
            let namespace = by.namespace.clone().unwrap_or(argocd_namespace.clone());
            by.self_heal = self_heal.get(&(namespace, by.name.clone())).copied();
        }
    }
    let edits = super::values::apply(&mut report, &values_files, args.write)?;

    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let view = report::table::View {
        color,
        explain: args.explain,
        all: args.all,
        wide: false,
        width: table_width(),
    };
    let text = report::render(&report, &inventory.warnings, args.output, view, &edits);
    if config.upgrades.enabled {
        let settings = crate::upgrade::UpgradeSettings::from_config(&config.upgrades)
            .map_err(|e| Failure::Input(e.to_string()))?;
        for note in window_notes(&report, &workloads, &settings, chrono::Utc::now()) {
            eprintln!("note: {}", report::escape_control(&note));
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
    if report.summary.tag_overwritten > 0 && !args.allow_overwritten {
        return Err(Failure::Runtime(format!(
            "{} containers run a tag the registry now serves other content for (tag-overwritten); --allow-overwritten to exit 0",
            report.summary.tag_overwritten
        )));
    }
    Ok(if args.fail_on_update && report.summary.updates > 0 {
        3
    } else {
        0
    })
}

/// `--helm-chart RELEASE=REF` arguments as a map.
fn helm_charts(args: &[String]) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((release, chart)) if !release.is_empty() && !chart.is_empty() => {
                Ok((release.to_string(), chart.to_string()))
            }
            _ => Err(Failure::Input(format!(
                "--helm-chart {arg:?}: expected RELEASE=CHART (a repository chart or a directory)"
            ))),
        })
        .collect()
}

/// `--export-tags` onto the `--tags` input (the same file, whatever the path: a link, `./`)
/// would replace the index with only what this scan used: an input error instead.
fn refuse_to_overwrite(tags: &Path, export: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt;
    let identity = |path: &Path| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    match (identity(tags), identity(export)) {
        (Some(input), Some(output)) if input == output => Err(Failure::Input(format!(
            "--export-tags {} is the --tags input {}: writing the snapshot there would replace the index; give another file",
            export.display(),
            tags.display()
        ))),
        _ => Ok(()),
    }
}

/// Workloads from manifests (`-f`) or from the cluster, before filtering.
struct Inventory {
    workloads: Vec<Workload>,
    other_objects: usize,
    warnings: Vec<String>,
    /// What each listed Pod runs (empty for manifests).
    pods: std::collections::BTreeMap<(String, String), Vec<crate::inventory::RunningImage>>,
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
        let manifests = manifest::load(&args.files, default_namespace, args.max_input_size)
            .map_err(|e| Failure::Input(e.to_string()))?;
        return Ok(Inventory {
            workloads: manifests.workloads,
            other_objects: manifests.other_objects,
            warnings: manifests.warnings,
            pods: Default::default(),
            cluster: None,
        });
    }
    let options = ClusterOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        selector: server_selector(selector.as_str(), services),
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
        pods: inventory.pods,
        cluster: Some(cluster),
    })
}

/// With upgrades enabled: for each upgrade group the scan would propose, when it could be
/// applied (the window its workloads' annotations, namespace or default choose).
fn window_notes(
    report: &Report,
    workloads: &[Workload],
    settings: &crate::upgrade::UpgradeSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    use crate::upgrade::window::Choice;
    crate::upgrade::groups(report)
        .iter()
        .map(|upgrade| {
            let namespace = upgrade.namespace_or_default();
            let mut asked: Vec<&str> = upgrade
                .spec
                .targets
                .iter()
                .filter_map(|t| {
                    workloads
                        .iter()
                        .find(|w| w.kind.as_str() == t.kind && w.namespace == namespace && w.name == t.name)
                })
                .filter_map(|w| w.setting("window"))
                .collect();
            asked.sort_unstable();
            asked.dedup();
            let when = match asked.as_slice() {
                [_, _, ..] => format!(
                    "its workloads ask for different windows ({}): set spec.window on the ImageUpgrade",
                    asked.join(", ")
                ),
                _ => match settings.windows.choose(&namespace, asked.first().copied()) {
                    Ok(Choice::Anytime) => {
                        "no upgrade window: applied right after approval".to_string()
                    }
                    Ok(Choice::Window(window)) => window.describe(now),
                    Err(e) => e.to_string(),
                },
            };
            format!("ImageUpgrade {} ({}): {when}", upgrade.name(), upgrade.summary())
        })
        .collect()
}

/// The width the table fits in: `COLUMNS` when set, else the terminal's when stdout is one,
/// else [`report::table::DEFAULT_WIDTH`].
fn table_width() -> usize {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c >= 40)
    {
        return columns;
    }
    if std::io::stdout().is_terminal()
        && let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size()
    {
        return usize::from(w).max(40);
    }
    report::table::DEFAULT_WIDTH
}
