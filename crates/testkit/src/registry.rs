//! Starts the real CNCF distribution registry (`docker-registry`, 2.8) on a free loopback port
//! with a temporary config and filesystem storage, and pushes real images to it over the v2 API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::pki::Pki;
use crate::token::TokenIssuer;

/// How the registry authenticates.
pub enum AuthMode {
    Anonymous,
    /// htpasswd (bcrypt) Basic auth with these users.
    Htpasswd(Vec<(String, String)>),
    /// `auth: token` trusting `issuer`, with the given realm URL.
    Token {
        realm: String,
        issuer: Arc<TokenIssuer>,
    },
}

pub struct RegistryProc {
    pub addr: SocketAddr,
    pub tls: Option<Pki>,
    pub dir: tempfile::TempDir,
    child: Child,
    pusher: reqwest::Client,
    push_auth: PushAuth,
}

enum PushAuth {
    None,
    Basic(String, String),
    Token(Arc<TokenIssuer>),
}

impl Drop for RegistryProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails (never skips) when the binary is missing, with the fix in the message.
pub fn registry_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("docker-registry"))
                .find(|c| c.is_file())
        })
        .unwrap_or(None);
    match found {
        Some(p) => p,
        None => panic!(
            "docker-registry (CNCF distribution 2.8, Debian package `docker-registry`) is not on PATH; \
             these tests need the real registry: run scripts/install-test-deps"
        ),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RegistryProc {
    pub async fn start(auth: AuthMode, tls: bool) -> RegistryProc {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bin = registry_binary();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let pki = tls.then(Pki::generate);

        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: test-secret\n",
            dir.path().join("data").display()
        );
        if let Some(p) = &pki {
            write(dir.path(), "server.pem", &p.server_cert_pem);
            write(dir.path(), "server.key", &p.server_key_pem);
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("server.pem").display(),
                dir.path().join("server.key").display()
            );
        }
        let push_auth = match &auth {
            AuthMode::Anonymous => PushAuth::None,
            AuthMode::Htpasswd(users) => {
                let lines: Vec<String> = users
                    .iter()
                    .map(|(u, p)| format!("{u}:{}", bcrypt::hash(p, 4).unwrap()))
                    .collect();
                write(dir.path(), "htpasswd", &(lines.join("\n") + "\n"));
                config += &format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                );
                PushAuth::Basic(users[0].0.clone(), users[0].1.clone())
            }
            AuthMode::Token { realm, issuer } => {
                write(dir.path(), "token-root.pem", &issuer.cert_pem);
                config += &format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    issuer.service,
                    issuer.issuer,
                    dir.path().join("token-root.pem").display()
                );
                PushAuth::Token(issuer.clone())
            }
        };
        write(dir.path(), "config.yml", &config);
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(&bin)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));

        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(p) = &pki {
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(p.ca_pem.as_bytes()).unwrap());
        }
        let mut me = RegistryProc {
            addr,
            tls: pki,
            dir,
            child,
            pusher: builder.build().unwrap(),
            push_auth,
        };
        me.wait_ready().await;
        me
    }

    pub fn base(&self) -> String {
        format!(
            "{}://{}",
            if self.tls.is_some() { "https" } else { "http" },
            self.addr
        )
    }

    /// The registry as written in image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Readiness: the first HTTP answer on /v2/ (any status).
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "docker-registry exited ({status}) during start:\n{}",
                    self.log()
                );
            }
            if self
                .pusher
                .get(format!("{}/v2/", self.base()))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on {} within 30s:\n{}",
                self.base(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn authed(&self, rb: reqwest::RequestBuilder, repo: &str) -> reqwest::RequestBuilder {
        match &self.push_auth {
            PushAuth::None => rb,
            PushAuth::Basic(u, p) => rb.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                ),
            ),
            PushAuth::Token(issuer) => rb.header(
                "Authorization",
                format!(
                    "Bearer {}",
                    issuer.mint("pusher", repo, &["pull", "push"], 300)
                ),
            ),
        }
    }

    /// Uploads a blob (monolithic: `POST` then `PUT ?digest=`) and returns its digest.
    pub async fn upload_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = format!(
            "sha256:{}",
            hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
        );
        let resp = self
            .authed(
                self.pusher
                    .post(format!("{}/v2/{repo}/blobs/uploads/", self.base())),
                repo,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            202,
            "start upload to {repo}: {:?}",
            resp.text().await
        );
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let mut url = url::Url::parse(&self.base())
            .unwrap()
            .join(&location)
            .unwrap();
        url.query_pairs_mut().append_pair("digest", &digest);
        let resp = self
            .authed(self.pusher.put(url), repo)
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "finish upload to {repo}: {:?}",
            resp.text().await
        );
        digest
    }

    /// Pushes one image (a config blob and a layer) to `repo` under every tag in `tags`,
    /// as an OCI manifest (`oci = true`) or a Docker v2 schema2 manifest.
    pub async fn push(&self, repo: &str, tags: &[String], oci: bool) {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"comment":"{repo}"}}"#
        );
        let layer = format!("layer of {repo}").into_bytes();
        let config_digest = self.upload_blob(repo, config.as_bytes()).await;
        let layer_digest = self.upload_blob(repo, &layer).await;
        let (mt, cmt, lmt) = if oci {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        } else {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": cmt, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": lmt, "digest": layer_digest, "size": layer.len()}],
        })
        .to_string();
        for tag in tags {
            self.put_manifest(repo, tag, mt, &manifest).await;
        }
    }

    /// Pushes one OCI image whose config says `created` (RFC 3339) and whose single layer is
    /// `content`, under every tag in `tags`; returns the manifest's digest. Different content
    /// gives a different digest: re-pushing a tag with other content overwrites it.
    pub async fn push_image(
        &self,
        repo: &str,
        tags: &[&str],
        content: &str,
        created: Option<&str>,
    ) -> String {
        let mut config = serde_json::json!({"architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []}, "comment": content});
        if let Some(created) = created {
            config["created"] = created.into();
        }
        let config = config.to_string();
        let layer = format!("layer: {content}").into_bytes();
        let config_digest = self.upload_blob(repo, config.as_bytes()).await;
        let layer_digest = self.upload_blob(repo, &layer).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest, "size": layer.len()}],
        })
        .to_string();
        let mut digest = String::new();
        for tag in tags {
            digest = self
                .put_manifest(
                    repo,
                    tag,
                    "application/vnd.oci.image.manifest.v1+json",
                    &manifest,
                )
                .await;
        }
        digest
    }

    /// Puts a manifest under `reference` (a tag or digest); returns its digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: &str,
    ) -> String {
        let resp = self
            .authed(
                self.pusher
                    .put(format!("{}/v2/{repo}/manifests/{reference}", self.base())),
                repo,
            )
            .header("Content-Type", media_type)
            .body(manifest.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "put manifest {repo}:{reference}: {:?}",
            resp.text().await
        );
        format!(
            "sha256:{}",
            hex(ring::digest::digest(&ring::digest::SHA256, manifest.as_bytes()).as_ref())
        )
    }

    /// Deletes the manifest `digest` of `repo` — and with it every tag pointing to it
    /// (the registry's delete API; storage deletion is enabled in the test config).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) {
        let resp = self
            .authed(
                self.pusher
                    .delete(format!("{}/v2/{repo}/manifests/{digest}", self.base())),
                repo,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            202,
            "delete {repo}@{digest}: {:?}",
            resp.text().await
        );
    }

    /// Pushes a cosign signature of `digest` exactly as cosign lays it out: an OCI manifest
    /// tagged `sha256-HEX.sig` whose one layer is the simple-signing `payload` (media type
    /// `application/vnd.dev.cosign.simplesigning.v1+json`) with the base64 signature in the
    /// annotation `dev.cosignproject.cosign/signature`, and an empty `{}` config.
    pub async fn push_cosign_signature(
        &self,
        repo: &str,
        digest: &str,
        payload: &[u8],
        signature_b64: &str,
    ) {
        let config = b"{}";
        let config_digest = self.upload_blob(repo, config).await;
        let payload_digest = self.upload_blob(repo, payload).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": payload_digest, "size": payload.len(),
                "annotations": {"dev.cosignproject.cosign/signature": signature_b64}}],
        })
        .to_string();
        let tag = format!("{}.sig", digest.replacen(':', "-", 1));
        self.put_manifest(
            repo,
            &tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await;
    }

    /// Writes the CA to a file in the registry's temp dir and returns its path.
    pub fn ca_file(&self) -> PathBuf {
        let p = self.dir.path().join("ca.pem");
        std::fs::write(&p, &self.tls.as_ref().expect("TLS registry").ca_pem).unwrap();
        p
    }
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `prefix1.0.0` .. style tags: `n` distinct version tags.
pub fn version_tags(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("v{}.{}.{}", i / 100, (i / 10) % 10, i % 10))
        .collect()
}
