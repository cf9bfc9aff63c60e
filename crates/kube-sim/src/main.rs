//! `kube-sim`: serve a test Kubernetes API server on loopback from manifests on disk.

use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// A test Kubernetes API server for kubectl and kube-rs.
#[derive(Debug, Parser)]
#[command(name = "kube-sim", version, about)]
struct Args {
    /// Manifest files or directories to load (YAML multi-doc, JSON, `kind: List`).
    #[arg(long = "load", value_name = "DIR_OR_FILE", num_args = 1..)]
    load: Vec<PathBuf>,
    /// Where to write a kubeconfig (cluster, user and context `kube-sim`).
    #[arg(long = "write-kubeconfig", value_name = "PATH")]
    write_kubeconfig: PathBuf,
    /// Loopback port to listen on (default: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Do not create ReplicaSets and Pods for workloads.
    #[arg(long)]
    no_pods: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBE_SIM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut b = kube_sim::KubeSim::builder()
            .port(args.port)
            .simulate_pods(!args.no_pods);
        for p in &args.load {
            b = b.load(p)?;
        }
        let running = b.start().await?;
        running
            .write_kubeconfig(&args.write_kubeconfig)
            .map_err(|e| {
                format!(
                    "cannot write kubeconfig {}: {e}",
                    args.write_kubeconfig.display()
                )
            })?;
        eprintln!(
            "kube-sim: serving {} (kubeconfig {})",
            running.url(),
            args.write_kubeconfig.display()
        );
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready")?;
            out.flush()?;
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        running.stop().await;
        Ok(())
    })
}
