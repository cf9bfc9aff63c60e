//! `ml-operator approve` / `reject`: a person's decision on an ImageUpgrade.

use super::{DecideArgs, Failure, check_namespace_arg};
use crate::source::cluster::{Cluster, ClusterOptions};

pub(super) async fn decide(
    args: &DecideArgs,
    decision: crate::upgrade::decide::Decision,
) -> Result<u8, Failure> {
    use crate::upgrade::decide::{DecideError, Decision};
    check_namespace_arg(args.namespace.as_deref())?;
    crate::inventory::names::check_subdomain(&args.name)
        .map_err(|e| Failure::Input(format!("NAME: {e}")))?;
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
        "imageupgrade.ml-operator.mojaloop.io/{} {verb}: {}",
        upgrade.name(),
        upgrade.summary()
    );
    for target in &upgrade.spec.targets {
        let containers: Vec<String> = target
            .containers
            .iter()
            .map(|c| {
                let init = if c.init_container { " (init)" } else { "" };
                format!("{}{init} {} → {}", c.name, c.current_image, c.target_image)
            })
            .collect();
        println!(
            "  {} {}: {}",
            target.kind,
            target.name,
            containers.join(", ")
        );
    }
    Ok(0)
}
