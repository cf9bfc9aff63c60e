//! `ml-operator run`: logging, configuration (file, then environment), then operator mode.
//!
//! In: the `run` arguments. Out: the operator's exit — 0 after a signal, 2 for a setting that
//! does not check ([`StartError`](crate::operator::StartError)), 1 when it cannot run
//! ([`RunError`](crate::operator::RunError)).

use std::io::IsTerminal;

use super::{Failure, LogFormat, RunArgs, load_config, tag_source};

pub(super) async fn run(args: RunArgs) -> Result<u8, Failure> {
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
    if let Some(listen) = &args.listen {
        config.listen = Some(listen.clone());
    }
    // Every scan of a long-running operator should see new tags.
    config.cache_ttl.get_or_insert(std::time::Duration::ZERO);
    let source = tag_source(args.tags.as_deref(), &args.registry, &config)?;
    let mut settings =
        crate::operator::Settings::from_config(config, source, args.kubeconfig, args.context)
            .map_err(|e| Failure::Input(e.to_string()))?;
    settings.dry_run = args.dry_run;
    crate::operator::run(settings)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    Ok(0)
}
