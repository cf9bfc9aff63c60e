//! Key-based cosign signatures, checked without any I/O: the public key ([`CosignKey`]), the
//! simple-signing payload bound to an image digest, and the ECDSA P-256 / SHA-256 signature over
//! the payload's exact bytes (the `p256` crate; nothing here is hand-rolled crypto).
//!
//! cosign stores the signatures of image `REPO@sha256:HEX` as an OCI image manifest tagged
//! `sha256-HEX.sig` in the same repository. Each of its layers is one signature: the layer blob
//! is the payload (`application/vnd.dev.cosign.simplesigning.v1+json`),
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"REPO"},
//!              "image":{"docker-manifest-digest":"sha256:HEX"},
//!              "type":"cosign container image signature"},
//!  "optional":null}
//! ```
//!
//! and the layer's annotation `dev.cosignproject.cosign/signature` is the base64 of the ASN.1
//! DER ECDSA signature of those bytes. A signature counts when it verifies with the configured
//! key *and* its payload names the digest asked about (so a valid signature of another image
//! copied next to this one does not count).

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;

use crate::error::{Error, ErrorKind};

/// The annotation of a signature layer that holds the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a simple-signing payload layer.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The `critical.type` of a cosign container image signature.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// What a signature check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A signature made with the key and bound to the digest.
    Verified,
    /// No signature manifest (`sha256-HEX.sig`) for the digest.
    Unsigned,
    /// Signatures exist but none verifies; says why the first one failed.
    Invalid(String),
}

/// A cosign public key (ECDSA P-256, PEM `PUBLIC KEY`, as `cosign generate-key-pair` writes
/// `cosign.pub`). Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignKey {
    key: VerifyingKey,
    /// Where it came from, for messages.
    source: String,
}

impl fmt::Debug for CosignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl CosignKey {
    /// Reads a PEM public key file (`cosignPublicKeyFile`); the error names the file.
    pub fn from_file(path: &Path) -> Result<CosignKey, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                path.display().to_string(),
                format!("cannot read cosign public key: {e}"),
            )
        })?;
        CosignKey::from_pem(&text, &path.display().to_string())
    }

    /// Parses a PEM `PUBLIC KEY` (SubjectPublicKeyInfo of a P-256 key); `source` names it in
    /// errors.
    pub fn from_pem(pem: &str, source: &str) -> Result<CosignKey, Error> {
        let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                source,
                format!("not an ECDSA P-256 public key in PEM (as cosign.pub is): {e}"),
            )
        })?;
        Ok(CosignKey {
            key,
            source: source.to_string(),
        })
    }

    /// Where the key was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `signature_b64` (the layer annotation) is this key's signature of `payload`.
    pub(crate) fn verifies(&self, payload: &[u8], signature_b64: &str) -> Result<(), String> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature_b64.trim())
            .map_err(|e| format!("the signature is not base64: {e}"))?;
        let signature = Signature::from_der(&der)
            .or_else(|_| Signature::from_slice(&der))
            .map_err(|e| format!("the signature is not an ECDSA signature: {e}"))?;
        self.key
            .verify(payload, &signature)
            .map_err(|_| "the signature does not verify with the configured key".to_string())
    }
}

/// The simple-signing payload, as far as verification reads it.
#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: PayloadImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PayloadImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// Checks one signature: the payload names `digest` and is a cosign image signature, and
/// `signature_b64` verifies over its exact bytes with `key`. The error says which failed.
pub(crate) fn check(
    key: &CosignKey,
    digest: &str,
    payload: &[u8],
    signature_b64: &str,
) -> Result<(), String> {
    key.verifies(payload, signature_b64)?;
    let parsed: Payload = serde_json::from_slice(payload)
        .map_err(|e| format!("the signed payload is not a simple-signing document: {e}"))?;
    if parsed.critical.kind != PAYLOAD_TYPE {
        return Err(format!(
            "the signed payload's type is {:?}, not {PAYLOAD_TYPE:?}",
            parsed.critical.kind
        ));
    }
    if parsed.critical.image.digest != digest {
        return Err(format!(
            "the signature is for {}, not {digest}",
            parsed.critical.image.digest
        ));
    }
    Ok(())
}

/// The tag cosign stores the signatures of `digest` (`sha256:HEX`) under: `sha256-HEX.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;

    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    fn key_pair() -> (SigningKey, CosignKey) {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pem = signing
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        (signing, CosignKey::from_pem(&pem, "cosign.pub").unwrap())
    }

    fn payload(digest: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"critical": {
            "identity": {"docker-reference": "127.0.0.1:5000/app"},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE}, "optional": null}))
        .unwrap()
    }

    fn sign(key: &SigningKey, payload: &[u8]) -> String {
        let signature: Signature = key.sign(payload);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    #[test]
    fn a_signature_of_the_digest_verifies() {
        let (signing, key) = key_pair();
        let body = payload(DIGEST);
        assert_eq!(check(&key, DIGEST, &body, &sign(&signing, &body)), Ok(()));
    }

    #[test]
    fn another_digest_another_key_or_changed_bytes_do_not() {
        let (signing, key) = key_pair();
        let other = payload(&DIGEST.replace("01", "02"));
        let err = check(&key, DIGEST, &other, &sign(&signing, &other)).unwrap_err();
        assert!(err.contains("not sha256:"), "{err}");

        let stranger = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let body = payload(DIGEST);
        let err = check(&key, DIGEST, &body, &sign(&stranger, &body)).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");

        let mut changed = body.clone();
        changed.push(b' ');
        let err = check(&key, DIGEST, &changed, &sign(&signing, &body)).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        assert!(
            check(&key, DIGEST, &body, "%%%")
                .unwrap_err()
                .contains("base64")
        );
    }

    #[test]
    fn keys_are_read_from_pem_and_errors_name_the_file() {
        let err = CosignKey::from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "k.pub",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("k.pub: config:"), "{err}");
        let (_, key) = key_pair();
        assert!(!format!("{key:?}").contains("VerifyingKey"));
        assert_eq!(
            signature_tag(DIGEST),
            format!("sha256-{}.sig", &DIGEST[7..])
        );
    }
}
