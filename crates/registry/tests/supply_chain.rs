//! The supply-chain lookups against the real registry: a tag's digest by `HEAD` only (counted,
//! cached, revalidated), an image's build time (one manifest and one config `GET`, cached by
//! digest), and cosign signatures — laid out as cosign documents them and, when
//! `scripts/install-test-deps`'s optional cosign is installed, made by the real `cosign`.

mod support;

use std::time::Duration;

use ml_operator_registry::{CosignKey, Registry, RequestKind, SignatureCheck};
use ml_operator_testkit::cosign::{FormatSigner, RealCosign, cosign_binary};
use support::proxy::FaultProxy;
use support::registry::{AuthMode, RegistryProc};
use support::test_options;

/// Requests the proxy saw with `method` whose path contains `pattern`.
fn seen(proxy: &FaultProxy, method: &str, pattern: &str) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|s| s.method == method && s.target.contains(pattern))
        .count()
}

#[tokio::test]
async fn a_tags_digest_is_learnt_by_head_only_and_follows_a_re_push() {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let first = registry
        .push_image("hub/app", &["v1.0.0"], "first build", None)
        .await;
    let proxy = FaultProxy::start(&registry.base()).await;
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    let host = proxy.host();
    let hour = Duration::from_secs(3600);

    let digest = client
        .manifest_digest(&host, "hub/app", "v1.0.0", hour)
        .await;
    assert_eq!(digest.unwrap().as_deref(), Some(first.as_str()));
    // Within the interval: no request at all.
    let again = client
        .manifest_digest(&host, "hub/app", "v1.0.0", hour)
        .await;
    assert_eq!(again.unwrap().as_deref(), Some(first.as_str()));
    assert_eq!(seen(&proxy, "HEAD", "/manifests/v1.0.0"), 1);
    assert_eq!(
        seen(&proxy, "GET", "/manifests/"),
        0,
        "never a GET for a digest"
    );
    let stats = client.stats();
    assert_eq!(stats.requests_of(RequestKind::HeadManifest), 1);
    assert_eq!(stats.requests_of(RequestKind::GetManifest), 0);
    assert_eq!(stats.digest_cache_hits, 1);

    // Re-pushed with other content: the next check after the interval sees the new digest.
    let second = registry
        .push_image("hub/app", &["v1.0.0"], "second build", None)
        .await;
    assert_ne!(first, second);
    let digest = client
        .manifest_digest(&host, "hub/app", "v1.0.0", Duration::ZERO)
        .await;
    assert_eq!(digest.unwrap().as_deref(), Some(second.as_str()));
    assert_eq!(seen(&proxy, "HEAD", "/manifests/v1.0.0"), 2);
    assert_eq!(seen(&proxy, "GET", "/manifests/"), 0);

    // A tag that does not exist: no digest, no error.
    let gone = client
        .manifest_digest(&host, "hub/app", "v9.9.9", hour)
        .await
        .unwrap();
    assert_eq!(gone, None);
}

#[tokio::test]
async fn an_unchanged_digest_is_revalidated_with_its_etag() {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let digest = registry
        .push_image("hub/app", &["v1.0.0"], "build", None)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    for _ in 0..3 {
        let found = client
            .manifest_digest(&registry.host(), "hub/app", "v1.0.0", Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(found.as_deref(), Some(digest.as_str()));
    }
    let stats = client.stats();
    assert_eq!(stats.requests_of(RequestKind::HeadManifest), 3);
    assert_eq!(stats.not_modified, 2, "{stats:?}");
}

#[tokio::test]
async fn an_images_build_time_costs_one_manifest_and_one_config_request_once() {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let digest = registry
        .push_image(
            "hub/app",
            &["v1.0.1"],
            "fresh",
            Some("2026-11-30T08:00:00.123456789Z"),
        )
        .await;
    let undated = registry
        .push_image("hub/app", &["v1.0.2"], "undated", None)
        .await;
    let proxy = FaultProxy::start(&registry.base()).await;
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    let host = proxy.host();
    for _ in 0..2 {
        let created = client
            .image_created(&host, "hub/app", &digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(created.to_rfc3339(), "2026-11-30T08:00:00.123456789+00:00");
    }
    assert_eq!(seen(&proxy, "GET", "/manifests/"), 1);
    assert_eq!(seen(&proxy, "GET", "/blobs/"), 1);
    assert_eq!(
        client
            .image_created(&host, "hub/app", &undated)
            .await
            .unwrap(),
        None
    );
    let stats = client.stats();
    assert_eq!(stats.requests_of(RequestKind::GetManifest), 2);
    assert_eq!(stats.requests_of(RequestKind::GetBlob), 2);
}

/// Signs `digest` of `repo` as cosign lays signatures out, with `signer`, over `signed_digest`
/// (the same digest, unless a test copies another image's signature).
async fn push_signature(
    registry: &RegistryProc,
    repo: &str,
    digest: &str,
    signed_digest: &str,
    signer: &FormatSigner,
) {
    let payload = FormatSigner::payload(&format!("{}/{repo}", registry.host()), signed_digest);
    let signature = signer.sign(&payload);
    registry
        .push_cosign_signature(repo, digest, &payload, &signature)
        .await;
}

#[tokio::test]
async fn signatures_in_cosigns_layout_are_verified_against_the_key() {
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let signer = FormatSigner::generate();
    let stranger = FormatSigner::generate();
    let key = CosignKey::from_pem(&signer.public_pem, "cosign.pub").unwrap();
    let signed = registry
        .push_image("hub/app", &["v1.0.1"], "signed", None)
        .await;
    let unsigned = registry
        .push_image("hub/app", &["v1.0.2"], "unsigned", None)
        .await;
    let by_stranger = registry
        .push_image("hub/app", &["v1.0.3"], "by a stranger", None)
        .await;
    let copied = registry
        .push_image("hub/app", &["v1.0.4"], "a copied signature", None)
        .await;
    push_signature(&registry, "hub/app", &signed, &signed, &signer).await;
    push_signature(&registry, "hub/app", &by_stranger, &by_stranger, &stranger).await;
    // A valid signature of another image, copied next to this one.
    push_signature(&registry, "hub/app", &copied, &signed, &signer).await;

    let proxy = FaultProxy::start(&registry.base()).await;
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    let host = proxy.host();
    let hour = Duration::from_secs(3600);
    let check = async |digest: &str| {
        client
            .verify_signature(&host, "hub/app", digest, &key, hour)
            .await
            .unwrap()
    };
    assert_eq!(check(&signed).await, SignatureCheck::Verified);
    assert_eq!(check(&unsigned).await, SignatureCheck::Unsigned);
    let SignatureCheck::Invalid(why) = check(&by_stranger).await else {
        panic!("a stranger's signature verified");
    };
    assert!(why.contains("does not verify"), "{why}");
    let SignatureCheck::Invalid(why) = check(&copied).await else {
        panic!("a copied signature verified");
    };
    assert!(why.contains("is for"), "{why}");
    // Verified once is verified for good: no more requests.
    let before = proxy.seen().len();
    assert_eq!(check(&signed).await, SignatureCheck::Verified);
    assert_eq!(proxy.seen().len(), before);
    assert_eq!(seen(&proxy, "GET", ".sig"), 4);
}

#[tokio::test]
async fn signatures_made_by_the_real_cosign_are_verified() {
    let Some(binary) = cosign_binary() else {
        println!(
            "skipped: cosign is not installed (scripts/install-test-deps builds it from its Go module when Go is there); the cosign layout is checked by signatures_in_cosigns_layout_are_verified_against_the_key"
        );
        return;
    };
    let registry = RegistryProc::start(AuthMode::Anonymous, false).await;
    let digest = registry
        .push_image("hub/app", &["v1.0.1"], "signed by cosign", None)
        .await;
    let unsigned = registry
        .push_image("hub/app", &["v1.0.2"], "not signed", None)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cosign = RealCosign::generate(&binary, dir.path());
    cosign.sign(&format!("{}/hub/app@{digest}", registry.host()));
    let key = CosignKey::from_file(&cosign.public_key).unwrap();
    let other = FormatSigner::generate();
    let other_key = CosignKey::from_pem(&other.public_pem, "other.pub").unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    let hour = Duration::from_secs(3600);
    let host = registry.host();
    assert_eq!(
        client
            .verify_signature(&host, "hub/app", &digest, &key, hour)
            .await
            .unwrap(),
        SignatureCheck::Verified
    );
    assert_eq!(
        client
            .verify_signature(&host, "hub/app", &unsigned, &key, hour)
            .await
            .unwrap(),
        SignatureCheck::Unsigned
    );
    assert!(matches!(
        client
            .verify_signature(&host, "hub/app", &digest, &other_key, hour)
            .await
            .unwrap(),
        SignatureCheck::Invalid(_)
    ));
}

/// A registry that answers with digests that are not digests: a `Docker-Content-Digest` with a
/// path in it, an index and a manifest whose descriptors point outside `/blobs/`, and a signature
/// layer named by a path. Each is refused naming what it was, and nothing is requested with it.
#[tokio::test]
async fn digests_a_registry_makes_up_are_refused_before_any_request_uses_them() {
    use sha2::{Digest as _, Sha256};
    use std::sync::{Arc, Mutex};
    use support::mini_http::{Action, HttpRequest, HttpResponse, serve};

    fn digest_of(body: &[u8]) -> String {
        let hex: String = Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:../../../_catalog", "size": 2},
        "layers": []}))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"digest": "sha256:../../../_catalog", "platform": {"os": "linux", "architecture": "amd64"}}]}))
    .unwrap();
    let good_digest = format!("sha256:{}", "ab".repeat(32));
    let signatures = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"digest": good_digest},
        "layers": [{"digest": "sha256:../../../_catalog", "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}}]}))
    .unwrap();
    let (manifest_digest, index_digest) = (digest_of(&manifest), digest_of(&index));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let bodies = Arc::new((
        manifest,
        index,
        signatures,
        manifest_digest.clone(),
        index_digest.clone(),
    ));
    let server = serve(move |req: HttpRequest| {
        log.lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.target));
        let bodies = bodies.clone();
        async move {
            let (manifest, index, signatures, manifest_digest, index_digest) = &*bodies;
            let path = req.path().to_string();
            let response = if path == "/v2/" {
                HttpResponse::new(200)
            } else if path.ends_with("/manifests/v1") {
                HttpResponse::new(200).header("Docker-Content-Digest", "sha256:../../x?")
            } else if path.ends_with(&format!("/manifests/{manifest_digest}")) {
                HttpResponse::new(200).body(manifest.clone())
            } else if path.ends_with(&format!("/manifests/{index_digest}")) {
                HttpResponse::new(200).body(index.clone())
            } else if path.ends_with(".sig") {
                HttpResponse::new(200).body(signatures.clone())
            } else {
                HttpResponse::new(404)
            };
            Action::Respond(response)
        }
    })
    .await;
    let host = server.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let client = Registry::new(test_options(dir.path())).unwrap();
    let hour = Duration::from_secs(3600);

    let err = client
        .manifest_digest(&host, "hub/app", "v1", hour)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the Docker-Content-Digest \"sha256:../../x?\" is not a digest"),
        "{err}"
    );
    let err = client
        .image_created(&host, "hub/app", &manifest_digest)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the manifest's config digest"), "{err}");
    let err = client
        .image_created(&host, "hub/app", &index_digest)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the image index's manifest digest"), "{err}");
    let err = client
        .image_created(&host, "hub/app", "sha256:../v2/_catalog")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the image digest"), "{err}");
    let key = FormatSigner::generate();
    let key = CosignKey::from_pem(&key.public_pem, "cosign.pub").unwrap();
    let check = client
        .verify_signature(&host, "hub/app", &good_digest, &key, hour)
        .await
        .unwrap();
    assert!(
        matches!(&check, SignatureCheck::Invalid(why) if why.contains("the signature layer's digest")),
        "{check:?}"
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .all(|r| !r.contains("_catalog") && !r.contains("/blobs/")),
        "a made-up digest was requested: {seen:#?}"
    );
}
