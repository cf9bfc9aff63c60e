//! `ml-operator check`: one scan of manifests, a cluster or a fleet of clusters, printed.
//!
//! In: the `check` arguments (manifests, a cluster or several, filters, the tag source). A fleet
//! is scanned with one tag fetch for all its clusters and reported as one (each finding's
//! `cluster`, [`crate::scan::fleet`]). Out: the
//! report on stdout (table, JSON, commands, helm upgrades or a values diff), the `--values`
//! files rewritten with `--write`, warnings and notes on stderr, `--export-tags`
//! written, and the exit code: 0, 3 with `--fail-on-update` and updates, 1 for a partial scan
//! (a repository or, in a fleet, a cluster that could not be read),
//! a `tag-overwritten` finding (unless `--allow-overwritten`) or a runtime failure, 2 for bad
//! input.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::progress::Progress;
use super::read::{self, Filters, Member, Plan};
use super::{
    CheckArgs, ColorChoice, Failure, check_namespace_arg, load_config, registry_client_with,
    tag_source,
};
use crate::inventory::Workload;
use crate::inventory::selector::Selector;
use crate::report;
use crate::scan::fleet::{self, ClusterReport};
use crate::scan::pipeline::{self, Part, ScannedParts};
use crate::scan::{FailedCluster, Report, ScanOptions};
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

    let plan = read::plan(args)?;
    let table = matches!(args.output, report::Format::Table | report::Format::Wide);
    let progress = Progress::start(
        table && !args.quiet && std::io::stderr().is_terminal(),
        plan.clusters(),
    );
    let filters = Filters {
        selector: &selector,
        services,
        pull_secrets: matches!(source, TagSource::Registry(_)),
        argocd_namespace: config
            .argocd
            .namespace
            .as_deref()
            .unwrap_or(crate::source::argocd::DEFAULT_ARGOCD_NAMESPACE),
        // Only the overwritten-tag check reads what Pods run, and only a registry answers it.
        running_images: supply.needs_running_digests() && !source.facts().is_unanswerable(),
    };
    let (mut members, unread) = read::read(args, &plan, &filters).await?;
    for cluster in &unread {
        progress.eprintln(&format!(
            "error: cluster {:?} not scanned: {}",
            cluster.name,
            report::escape_control(&cluster.error)
        ));
    }
    // On a cluster, registries see the credentials kubelet pulls with (in a fleet, every
    // cluster's; for a registry several clusters have credentials for, the first cluster's).
    let mut credentials = Vec::new();
    for member in &mut members {
        let earlier: std::collections::BTreeSet<String> = credentials
            .iter()
            .map(|(host, _)| String::clone(host))
            .collect();
        credentials.extend(
            std::mem::take(&mut member.credentials)
                .into_iter()
                .filter(|(host, _)| !earlier.contains(host)),
        );
    }
    if !credentials.is_empty() {
        source = TagSource::Registry(registry_client_with(&args.registry, &config, credentials)?);
    }
    let charts = helm_charts(&args.helm_chart)?;
    if args.output == report::Format::Diff && args.values.is_empty() {
        return Err(Failure::Input(
            "-o diff shows the changes to --values files: give --values FILE".into(),
        ));
    }
    let values_files = super::values::load(&args.values, args.max_input_size)?;
    let warnings: Vec<String> = members.iter().flat_map(|m| m.warnings.clone()).collect();
    for warning in &warnings {
        progress.eprintln(&format!("warning: {}", report::escape_control(warning)));
    }

    let options = ScanOptions {
        strategy: args.strategy.or(config.strategy).unwrap_or_default(),
        explain: args.explain,
    };
    if members.iter().any(|m| !m.is_cluster)
        && supply.check_overwritten
        && matches!(source, TagSource::Registry(_))
    {
        progress.eprintln(
            "note: manifests have no Pods, so the overwritten-tag check compares only digest-pinned images with the registry (the others are skipped)",
        );
    }
    let parts: Vec<Part<'_, Workload>> = members
        .iter()
        .map(|m| Part {
            workloads: &m.workloads,
            running: &m.running,
        })
        .collect();
    let fleet_settings = pipeline::Fleet {
        policy: &supply,
        now: chrono::Utc::now(),
        options,
    };
    let ScannedParts {
        reports,
        failures,
        tags,
    } = pipeline::run_parts(&source, &parts, &fleet_settings, &|done, total| {
        progress.repositories(done, total)
    })
    .await;
    progress.finish();
    for failure in &failures {
        let line = pipeline::FailureLine(failure).to_string();
        eprintln!("warning: {}", report::escape_control(&line));
    }
    if let Some(path) = &args.export_tags {
        let all: Vec<Workload> = members.iter().flat_map(|m| m.workloads.clone()).collect();
        let snapshot = index::snapshot(&all, &tags);
        let text = serde_json::to_string_pretty(&snapshot).expect("a tag index always serializes");
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    let mut notes = Vec::new();
    let mut reports: Vec<Report> = reports
        .into_iter()
        .zip(&members)
        .map(|(mut report, member)| {
            report.summary.other_objects = member.other_objects;
            report.summary.controlled = member.controlled;
            crate::deliver::helm::attach(&mut report, &member.releases, &charts);
            attach_self_heal(&mut report, &member.self_heal, filters.argocd_namespace);
            if config.upgrades.enabled {
                notes.push((member, window_notes_of(&report, member, &config)));
            }
            report
        })
        .collect();
    let failed_clusters: Vec<FailedCluster> = unread
        .iter()
        .map(|u| FailedCluster {
            name: u.name.clone(),
            error: u.error.clone(),
        })
        .collect();
    let mut report = match plan {
        Plan::Fleet(_) => fleet::merge(
            reports
                .into_iter()
                .zip(&members)
                .map(|(report, member)| ClusterReport {
                    name: member.name.clone().unwrap_or_default(),
                    report,
                })
                .collect(),
            failed_clusters,
        ),
        Plan::Manifests | Plan::Cluster => reports.pop().unwrap_or_default(),
    };
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
    for (member, member_notes) in notes {
        for note in member_notes? {
            let note = match &member.name {
                Some(name) => format!("cluster {name:?}: {note}"),
                None => note,
            };
            eprintln!("note: {}", report::escape_control(&note));
        }
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    if let Err(e) = report::write(&report, &warnings, args.output, view, &edits, &mut stdout)
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`| head`) is not an error worth reporting.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Failure::Runtime(format!("cannot write output: {e}")));
        }
    }
    let mut partial = Vec::new();
    if !unread.is_empty() {
        let names: Vec<String> = unread.iter().map(|u| format!("{:?}", u.name)).collect();
        partial.push(format!(
            "{} of {} clusters could not be read ({})",
            unread.len(),
            plan.clusters(),
            names.join(", ")
        ));
    }
    if !failures.is_empty() {
        partial.push(format!(
            "the tags of {} repositories could not be listed (their images are unresolved)",
            failures.len()
        ));
    }
    if !partial.is_empty() {
        return Err(Failure::Runtime(format!(
            "partial scan: {}",
            partial.join("; ")
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

/// With upgrades enabled, one member's [`window_notes`].
fn window_notes_of(
    report: &Report,
    member: &Member,
    config: &crate::config::Config,
) -> Result<Vec<String>, Failure> {
    let settings = crate::upgrade::UpgradeSettings::from_config(&config.upgrades)
        .map_err(|e| Failure::Input(e.to_string()))?;
    Ok(window_notes(
        report,
        &member.workloads,
        &settings,
        chrono::Utc::now(),
    ))
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

/// Fills each Argo CD-managed finding's `managedBy.selfHeal` from its Application, as read
/// from its cluster (`None` when it could not be read).
fn attach_self_heal(
    report: &mut Report,
    self_heal: &crate::source::argocd::SelfHeal,
    argocd_namespace: &str,
) {
    for finding in &mut report.findings {
        if let Some(by) = finding
            .managed_by
            .as_mut()
            .filter(|by| by.tool == crate::inventory::Tool::Argocd)
        {
            let namespace = by
                .namespace
                .clone()
                .unwrap_or_else(|| argocd_namespace.to_string());
            by.self_heal = self_heal.get(&(namespace, by.name.clone())).copied();
        }
    }
}
