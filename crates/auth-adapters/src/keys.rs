//! The master key that seals secrets at rest, and the signing keys it seals.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use auth_domain::InfrastructureError;
use auth_domain::ports::{SigningKeyGenerator, StoredSigningKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use time::OffsetDateTime;

const NONCE_BYTES: usize = 24;

/// 32 secret bytes from which every other secret at rest is sealed or derived.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be the base64 of exactly 32 bytes")]
    Malformed,
    #[error("cannot read or write the master key file {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Whether [`MasterKey::load_or_create`] found the key file or made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileOrigin {
    Loaded,
    Created,
}

impl MasterKey {
    /// # Errors
    /// [`MasterKeyError::Malformed`] unless `encoded` is standard base64 of 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD.decode(encoded.trim()).map_err(|_| MasterKeyError::Malformed)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Reads the key from `path`, or makes one there (readable by its owner only) when there is none.
    ///
    /// # Errors
    /// When the file cannot be read or written, or holds something else than a key.
    pub fn load_or_create(path: &Path) -> Result<(Self, KeyFileOrigin), MasterKeyError> {
        let file_error = |source| MasterKeyError::File { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(encoded) => Ok((Self::from_base64(&encoded)?, KeyFileOrigin::Loaded)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(file_error)?;
                }
                let key = Self::generate();
                write_owner_only(path, &STANDARD.encode(key.0.expose_secret())).map_err(file_error)?;
                Ok((key, KeyFileOrigin::Created))
            }
            Err(error) => Err(file_error(error)),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (which must be given again to open it).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(self.0.expose_secret().into());
        let mut nonce = [0; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context })
            .expect("XChaCha20-Poly1305 encrypts any message of practical size");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        sealed
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `context`.
    ///
    /// # Errors
    /// When `sealed` was made with another key or context, or altered.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SealError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let cipher = XChaCha20Poly1305::new(self.0.expose_secret().into());
        cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context }).map_err(|_| SealError)
    }

    /// A secret for one purpose, derived so that no two purposes share key material.
    pub fn derive(&self, purpose: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret()).expect("HMAC accepts 32-byte keys");
        mac.update(b"auth-http derived secret\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl MasterKey {
    /// A key of its own for one purpose, so that data sealed for one purpose cannot be opened as
    /// another's.
    pub fn derive_key(&self, purpose: &str) -> MasterKey {
        let mut bytes = [0; 32];
        bytes.copy_from_slice(&self.derive(purpose));
        MasterKey(SecretBox::new(Box::new(bytes)))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the sealed secret does not open with this master key: wrong key, or altered data")]
pub struct SealError;

#[cfg(unix)]
fn write_owner_only(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_owner_only(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The signing algorithms this build can make keys for and sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// Ed25519 (RFC 8037): the default; small keys, fast and deterministic signatures.
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: for verifiers that know nothing newer.
    Rs256,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown signing algorithm {0:?}: expected EdDSA, ES256 or RS256")]
pub struct UnknownAlgorithm(pub String);

impl std::str::FromStr for SigningAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "EdDSA" => Ok(Self::EdDsa),
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            other => Err(UnknownAlgorithm(other.to_owned())),
        }
    }
}

impl SigningAlgorithm {
    pub const ALL: [Self; 3] = [Self::EdDsa, Self::Es256, Self::Rs256];

    pub fn jose_name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

/// A fresh key pair as stored: the public part in the form the JWK is built from (Ed25519: the
/// 32 raw bytes; P-256: the 65-byte uncompressed point; RSA: the PKCS#1 `RSAPublicKey` DER), and
/// the private part as PKCS#8 DER.
fn new_key_pair(algorithm: SigningAlgorithm) -> (Vec<u8>, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    match algorithm {
        SigningAlgorithm::EdDsa => {
            let signing_key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let private_der =
                signing_key.to_pkcs8_der().expect("an Ed25519 key always encodes as PKCS#8").as_bytes().to_vec();
            (signing_key.verifying_key().to_bytes().to_vec(), private_der)
        }
        SigningAlgorithm::Es256 => {
            let pair =
                aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("the system random source works");
            let private_der = pair.to_pkcs8v1().expect("a P-256 key always encodes as PKCS#8").as_ref().to_vec();
            (pair.public_key().as_ref().to_vec(), private_der)
        }
        SigningAlgorithm::Rs256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("the system random source works");
            let private_der = pair.as_der().expect("an RSA key always encodes as PKCS#8").as_ref().to_vec();
            (pair.public_key().as_ref().to_vec(), private_der)
        }
    }
}

/// Makes a new signing key, sealed with `master_key`, that signs from `activates_at`. RSA key
/// generation takes a while: call it off the async workers.
pub fn generate_signing_key(
    algorithm: SigningAlgorithm,
    master_key: &MasterKey,
    now: OffsetDateTime,
    activates_at: OffsetDateTime,
) -> StoredSigningKey {
    let (public_key, private_der) = new_key_pair(algorithm);
    let kid = key_id(&public_key);
    StoredSigningKey {
        encrypted_private_key: master_key.seal(kid.as_bytes(), &private_der),
        kid,
        algorithm: algorithm.jose_name().to_owned(),
        public_key,
        created_at: now,
        activates_at,
        retired_at: None,
    }
}

/// A key id derived from the public key (a thumbprint prefix): stable, and unique in practice.
fn key_id(public_key: &[u8]) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(public_key)[..12])
}

/// [`SigningKeyGenerator`] for one algorithm, sealing the private parts with the master key.
#[derive(Debug, Clone)]
pub struct SealedKeyGenerator {
    algorithm: SigningAlgorithm,
    master_key: Arc<MasterKey>,
}

impl SealedKeyGenerator {
    pub fn new(algorithm: SigningAlgorithm, master_key: Arc<MasterKey>) -> Self {
        Self { algorithm, master_key }
    }
}

#[async_trait]
impl SigningKeyGenerator for SealedKeyGenerator {
    async fn generate(
        &self,
        created_at: OffsetDateTime,
        activates_at: OffsetDateTime,
    ) -> Result<StoredSigningKey, InfrastructureError> {
        let (algorithm, master_key) = (self.algorithm, self.master_key.clone());
        let key =
            tokio::task::spawn_blocking(move || generate_signing_key(algorithm, &master_key, created_at, activates_at))
                .await
                .map_err(InfrastructureError::unexpected)?;
        tracing::info!(token.kid = %key.kid, token.alg = algorithm.jose_name(), "generated a new signing key");
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_context() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"kid-1", b"private");
        assert_eq!(key.open(b"kid-1", &sealed).unwrap(), b"private");
        assert!(key.open(b"kid-2", &sealed).is_err());
        assert!(MasterKey::generate().open(b"kid-1", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(b"kid-1", &altered).is_err());
    }

    #[test]
    fn the_key_file_is_made_once_then_reused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("nested").join("master.key");
        let (first, origin) = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(origin, KeyFileOrigin::Created);
        let (second, origin) = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(origin, KeyFileOrigin::Loaded);
        assert_eq!(first.derive("x"), second.derive("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_malformed_master_key_is_refused() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64(&STANDARD.encode([7; 32])).is_ok());
    }

    #[test]
    fn a_key_of_every_algorithm_is_sealed_and_named_after_its_public_part() {
        let master_key = MasterKey::generate();
        let now = OffsetDateTime::now_utc();
        for (algorithm, public_length) in [
            (SigningAlgorithm::EdDsa, 32..=32),
            (SigningAlgorithm::Es256, 65..=65),
            (SigningAlgorithm::Rs256, 260..=280),
        ] {
            let key = generate_signing_key(algorithm, &master_key, now, now);
            assert_eq!(key.algorithm, algorithm.jose_name());
            assert!(public_length.contains(&key.public_key.len()), "{algorithm:?}: {}", key.public_key.len());
            assert_eq!(key.kid, key_id(&key.public_key));
            assert!(master_key.open(key.kid.as_bytes(), &key.encrypted_private_key).is_ok());
            assert_eq!(key.algorithm.parse::<SigningAlgorithm>().ok(), Some(algorithm));
        }
    }

    #[test]
    fn derived_secrets_differ_by_purpose() {
        let key = MasterKey::generate();
        assert_ne!(key.derive("refresh"), key.derive("other"));
    }
}
