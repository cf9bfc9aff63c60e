//! Stage 1, sources: where workloads come from.
//!
//! In: paths (`check -f`), a kubeconfig or the pod's service account. Out: [`Workload`]s
//! (through [`Workload::from_object`], so every source reads objects the same way), plus the
//! warnings a partial read produced.
//!
//! - [`manifest`]: files, directories and stdin, with `file:line` errors.
//! - [`cluster`]: connecting to a cluster and listing every workload kind (`check` without `-f`).
//! - [`kube_client`]: the Kubernetes client every cluster access uses (kube's stack, bounded).
//! - [`helm`]: the deployed Helm releases behind the workloads, reduced to their image keys.
//! - [`argocd`]: the Argo CD Applications behind the workloads, for their `selfHeal`.
//! - [`pull_secrets`]: the workloads' `imagePullSecrets` as registry credentials.
//! - [`watch`]: the operator's live inventory, kept current by watches ([`watched_object`] is
//!   the slim decoding it keeps).
//!
//! [`Workload`]: crate::inventory::Workload
//! [`Workload::from_object`]: crate::inventory::Workload::from_object

pub mod argocd;
pub mod cluster;
pub mod helm;
pub mod kube_client;
pub mod manifest;
pub mod pull_secrets;
pub mod watch;
pub mod watched_object;
