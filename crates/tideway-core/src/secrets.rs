//! Secrets at rest: credentials Tideway keeps for a tenant (database passwords today)
//! are sealed with AES-256-GCM under one master key before they reach the store.
//!
//! The master key comes from `TIDEWAY_MASTER_KEY` (32 bytes, base64) or from a key file
//! that is generated with mode 0600 on first start. A sealed value reads
//! `tw1:{key id}:{base64(nonce ‖ ciphertext ‖ tag)}`; the key id (the first 8 hex
//! digits of the key's SHA-256) says which key sealed it, so a rotation can tell old
//! values from new ones and a wrong key is reported as such instead of as corruption.
//! Every value is bound to its context (e.g. `source:acme:crm`) as associated data, so
//! a sealed password copied into another tenant's row does not open.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    hkdf,
    rand::{SecureRandom, SystemRandom},
};
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const FORMAT: &str = "tw1";
const KEY_BYTES: usize = 32;

/// The environment variable that carries the master key.
pub const MASTER_KEY_ENV: &str = "TIDEWAY_MASTER_KEY";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the master key is invalid: {0}")]
    InvalidKey(String),
    #[error("cannot read or create the master key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("a stored secret is not in Tideway's sealed format")]
    Malformed,
    #[error(
        "a stored secret was sealed under master key {sealed_with}, but the current key is {current}; start with the key it was sealed under, or rotate"
    )]
    WrongKey {
        sealed_with: String,
        current: String,
    },
    #[error("a stored secret failed authentication: it was altered or moved from another record")]
    Tampered,
    #[error("the system random number generator failed")]
    Random,
}

/// The key that seals and opens stored secrets. Its bytes never leave this type and
/// are not printed by `Debug`.
pub struct MasterKey {
    key: LessSafeKey,
    /// What other keys are derived from (HKDF-SHA256): a key for another purpose,
    /// such as signing MCP request state, must never be the sealing key itself.
    derivation: hkdf::Prk,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

impl MasterKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.len() != KEY_BYTES {
            return Err(SecretError::InvalidKey(format!(
                "it must be {KEY_BYTES} bytes, base64-encoded; it decodes to {}",
                bytes.len()
            )));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| SecretError::InvalidKey("AES-256-GCM refused it".into()))?;
        let digest = Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let derivation =
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"tideway key derivation").extract(bytes);
        Ok(MasterKey {
            key: LessSafeKey::new(unbound),
            derivation,
            id,
        })
    }

    /// A key from its base64 text (standard or URL-safe alphabet, padding optional).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| SecretError::InvalidKey("it is not base64".into()))?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random key and its base64 text (to be written somewhere safe).
    pub fn generate() -> Result<(Self, Zeroizing<String>), SecretError> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| SecretError::Random)?;
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()));
        Ok((Self::from_bytes(bytes.as_ref())?, text))
    }

    /// The key from `TIDEWAY_MASTER_KEY` when set, else from `file`, which is created
    /// (mode 0600, parent directories too) with a new key when it does not exist.
    pub fn resolve(from_env: Option<&str>, file: &Path) -> Result<Self, SecretError> {
        match from_env.filter(|text| !text.trim().is_empty()) {
            Some(text) => Self::parse(text),
            None => Self::load_or_create(file),
        }
    }

    /// The key in `file`, or a new one written there when the file does not exist.
    pub fn load_or_create(file: &Path) -> Result<Self, SecretError> {
        let key_file_error = |reason: String| SecretError::KeyFile {
            path: file.to_path_buf(),
            reason,
        };
        match std::fs::read_to_string(file) {
            Ok(text) => return Self::parse(&text),
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(key_file_error(error.to_string()));
            }
            Err(_) => {}
        }
        let (key, text) = Self::generate()?;
        write_key_file(file, &text).map_err(|error| key_file_error(error.to_string()))?;
        tracing::info!(path = %file.display(), key_id = %key.id, "generated a new master key");
        Ok(key)
    }

    /// A 32-byte key for `purpose`, derived from the master key, so every replica
    /// with the same master key derives the same one. Different purposes give
    /// unrelated keys.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; KEY_BYTES]> {
        let mut derived = Zeroizing::new([0u8; KEY_BYTES]);
        let info = [purpose.as_bytes()];
        // HKDF-SHA256 gives up to 8160 bytes; 32 always fits, so neither step fails.
        if let Ok(okm) = self.derivation.expand(&info, hkdf::HKDF_SHA256) {
            let _ = okm.fill(derived.as_mut());
        }
        derived
    }

    /// The short public id of the key: the first 8 hex digits of its SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for the record named by `context`.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, SecretError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce_bytes)
            .map_err(|_| SecretError::Random)?;
        let mut buffer = Zeroizing::new(plaintext.as_bytes().to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut *buffer,
            )
            .map_err(|_| SecretError::Random)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + buffer.len());
        sealed.extend_from_slice(&nonce_bytes);
        sealed.extend_from_slice(&buffer);
        Ok(format!(
            "{FORMAT}:{}:{}",
            self.id,
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)
        ))
    }

    /// The key id a sealed value names, if it is in the sealed format.
    pub fn sealed_with(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, ':');
        (parts.next() == Some(FORMAT))
            .then(|| parts.next())
            .flatten()
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Zeroizing<String>, SecretError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(FORMAT), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretError::Malformed);
        };
        if key_id != self.id {
            return Err(SecretError::WrongKey {
                sealed_with: key_id.to_string(),
                current: self.id.clone(),
            });
        }
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Malformed)?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| SecretError::Tampered)?;
        let text = std::str::from_utf8(plaintext).map_err(|_| SecretError::Malformed)?;
        Ok(Zeroizing::new(text.to_string()))
    }
}

/// Writes a key file readable by its owner only. The file is created exclusively so
/// two processes starting at once cannot both write a different key.
pub fn write_key_file(file: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut handle = options.open(file)?;
    handle.write_all(text.as_bytes())?;
    handle.write_all(b"\n")?;
    handle.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::generate().expect("random").0
    }

    #[test]
    fn derived_keys_depend_on_the_master_key_and_the_purpose() {
        let text = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let one = MasterKey::parse(text).expect("key");
        let same = MasterKey::parse(text).expect("key");
        // Every replica with the same master key derives the same key.
        assert_eq!(
            *one.derive("mcp request state"),
            *same.derive("mcp request state")
        );
        assert_ne!(
            *one.derive("mcp request state"),
            *one.derive("another purpose")
        );
        assert_ne!(
            *one.derive("mcp request state"),
            *key().derive("mcp request state")
        );
        assert_ne!(*one.derive("mcp request state"), [0u8; KEY_BYTES]);
        // Not the master key's own bytes.
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64");
        assert_ne!(one.derive("mcp request state").as_slice(), raw.as_slice());
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = key();
        let sealed = key
            .seal("s3cr3t-pässword", "source:acme:crm")
            .expect("seal");
        assert!(!sealed.contains("s3cr3t"), "{sealed}");
        assert_eq!(MasterKey::sealed_with(&sealed), Some(key.id()));
        assert_eq!(
            key.open(&sealed, "source:acme:crm").expect("open").as_str(),
            "s3cr3t-pässword"
        );
        assert!(matches!(
            key.open(&sealed, "source:globex:crm"),
            Err(SecretError::Tampered)
        ));
        let other = MasterKey::generate().expect("random").0;
        assert!(matches!(
            other.open(&sealed, "source:acme:crm"),
            Err(SecretError::WrongKey { .. })
        ));
        // Two seals of the same text differ (fresh nonce each time).
        assert_ne!(
            sealed,
            key.seal("s3cr3t-pässword", "source:acme:crm")
                .expect("seal")
        );
    }

    #[test]
    fn altered_or_malformed_values_are_refused() {
        let key = key();
        let sealed = key.seal("password", "ctx").expect("seal");
        let (head, body) = sealed.rsplit_once(':').expect("format");
        let mut bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = format!(
            "{head}:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        );
        assert!(matches!(
            key.open(&flipped, "ctx"),
            Err(SecretError::Tampered)
        ));
        for bad in [
            "",
            "password",
            "tw1:",
            "tw1:abc",
            "tw2:x:y",
            &format!("tw1:{}:!!", key.id()),
        ] {
            assert!(key.open(bad, "ctx").is_err(), "{bad:?} opened");
        }
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_read_back() {
        let dir = tempfile_dir();
        let path = dir.join("nested").join("master.key");
        let first = MasterKey::load_or_create(&path).expect("create");
        let again = MasterKey::load_or_create(&path).expect("load");
        assert_eq!(first.id(), again.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The environment variable wins over the file.
        let (env_key, text) = MasterKey::generate().expect("random");
        let resolved = MasterKey::resolve(Some(&text), &path).expect("resolve");
        assert_eq!(resolved.id(), env_key.id());
        assert!(MasterKey::parse("too-short").is_err());
        assert!(MasterKey::parse("AAAA").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tideway-secrets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }
}
