//! The kubeconfig kube-sim writes for `kubectl` and kube-rs.

use std::path::Path;

/// Renders a kubeconfig with cluster, user and context `kube-sim` pointing at `url`.
pub(crate) fn render(url: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-sim
  cluster:
    server: {url}
users:
- name: kube-sim
  user:
    token: {token}
contexts:
- name: kube-sim
  context:
    cluster: kube-sim
    user: kube-sim
    namespace: default
current-context: kube-sim
preferences: {{}}
"
    )
}

/// Writes the kubeconfig to `path` (creating parent directories).
pub(crate) fn write(path: &Path, url: &str, token: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, render(url, token))
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubeconfig_names_everything_kube_sim() {
        let k = super::render("http://127.0.0.1:1234", "kube-sim");
        assert!(k.contains("server: http://127.0.0.1:1234"));
        assert!(k.contains("current-context: kube-sim"));
        assert!(k.contains("namespace: default"));
    }
}
