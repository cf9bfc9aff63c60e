//! cosign signatures for tests: the real `cosign` binary when `scripts/install-test-deps` built
//! it, and a signer that lays signatures out exactly as cosign documents them (a P-256 key,
//! SHA-256, the simple-signing JSON) for checking the byte-level format on its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

/// A P-256 key pair made for one test: signs simple-signing payloads as cosign does.
pub struct FormatSigner {
    key: ring::signature::EcdsaKeyPair,
    /// The public key as `cosign.pub` holds it (PEM `PUBLIC KEY`).
    pub public_pem: String,
}

impl FormatSigner {
    /// A fresh key pair.
    pub fn generate() -> FormatSigner {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &pair.serialize_der(),
            &rng,
        )
        .unwrap();
        FormatSigner {
            key,
            public_pem: pair.public_key_pem(),
        }
    }

    /// The simple-signing payload cosign signs for `reference` (`host/repo`) at `digest`.
    pub fn payload(reference: &str, digest: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "critical": {
                "identity": {"docker-reference": reference},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": null,
        }))
        .unwrap()
    }

    /// The base64 ASN.1 DER ECDSA-P256-SHA256 signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let rng = ring::rand::SystemRandom::new();
        let signature = self.key.sign(&rng, payload).unwrap();
        base64::engine::general_purpose::STANDARD.encode(signature.as_ref())
    }
}

/// The real `cosign` binary, when `scripts/install-test-deps` built it into the tools
/// directory (or it is on PATH).
pub fn cosign_binary() -> Option<PathBuf> {
    let tools = crate::tools::bin_dir().join("cosign");
    if tools.is_file() {
        return Some(tools);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("cosign"))
            .find(|c| c.is_file())
    })
}

/// A key pair made by the real `cosign generate-key-pair` in `dir` (password empty).
pub struct RealCosign {
    /// The binary.
    pub binary: PathBuf,
    /// `cosign.key` (encrypted with the empty password).
    pub key: PathBuf,
    /// `cosign.pub`.
    pub public_key: PathBuf,
}

impl RealCosign {
    /// Generates a key pair in `dir` with `binary`.
    pub fn generate(binary: &Path, dir: &Path) -> RealCosign {
        let status = Command::new(binary)
            .args(["generate-key-pair"])
            .current_dir(dir)
            .env("COSIGN_PASSWORD", "")
            .status()
            .unwrap();
        assert!(status.success(), "cosign generate-key-pair failed");
        RealCosign {
            binary: binary.to_path_buf(),
            key: dir.join("cosign.key"),
            public_key: dir.join("cosign.pub"),
        }
    }

    /// `cosign sign` of `image` (`host/repo@sha256:…`) on a plain-HTTP registry, without the
    /// transparency log (no network here).
    pub fn sign(&self, image: &str) {
        let output = Command::new(&self.binary)
            .args([
                "sign",
                "--yes",
                "--key",
                self.key.to_str().unwrap(),
                "--tlog-upload=false",
                "--allow-insecure-registry",
                "--allow-http-registry",
                image,
            ])
            .env("COSIGN_PASSWORD", "")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cosign sign {image}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
