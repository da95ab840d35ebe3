//! `[auth]`: the authentication settings of the default app, and its JWT secret.
//!
//! The section is [`roost_auth::AuthConfig`] (every key documented in docs/config.md) with
//! the defaults of the reference chat app (interop/CHAT-APP.md): jwtOptions without an
//! issuer. The file and `ROOST_AUTH__…` variables merge key by key into these defaults, so
//! `ROOST_AUTH__JWT_OPTIONS__EXPIRES_IN=2s` changes only the lifetime.
//!
//! With no `secret` configured, one is generated on first start (48 bytes from the OS random
//! number generator, hex-encoded), kept in `<data_dir>/secret` with mode 0600 and reused on
//! later starts, so tokens survive restarts. The secret itself is never logged.

use roost_auth::AuthConfig;
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The name of the generated secret's file in the data directory.
pub(crate) const SECRET_FILE: &str = "secret";

/// Random bytes in a generated secret.
const SECRET_BYTES: usize = 48;

/// A secret shorter than this (in bytes) is accepted with a warning.
const SHORT_SECRET: usize = 32;

/// `[auth]`: [`AuthConfig`] with the default app's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthSection(pub AuthConfig);

impl Default for AuthSection {
    fn default() -> Self {
        let mut config = AuthConfig::default();
        // Generated Feathers apps (and the reference chat app) issue tokens without `iss`.
        config.jwt_options.issuer = None;
        AuthSection(config)
    }
}

impl AuthSection {
    /// The section with the secret replaced by a placeholder, for printing.
    pub fn redacted(&self) -> AuthSection {
        let mut copy = self.clone();
        if !copy.0.secret.is_empty() {
            copy.0.secret = "<redacted>".to_owned();
        }
        copy
    }
}

/// Checks `[auth]` at start-up; an empty secret is fine (one is generated).
pub(crate) fn validate(config: &AuthConfig) -> Result<(), roost_auth::AuthConfigError> {
    if config.secret.is_empty() {
        let mut with_secret = config.clone();
        with_secret.secret = "checked".to_owned();
        return with_secret.validate();
    }
    config.validate()
}

/// Why the secret could not be found or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The data directory or the secret file could not be read or written.
    #[error("auth secret file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but holds no secret (it is not replaced: tokens signed with the lost
    /// secret would silently stop working).
    #[error("auth secret file {0} is empty; delete it to generate a new secret")]
    Empty(PathBuf),
    /// The OS random number generator failed.
    #[error("cannot generate an auth secret: {0}")]
    Random(String),
}

/// Where the secret in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `[auth] secret` (or `ROOST_AUTH__SECRET`).
    Configured,
    /// Read from this file, written by an earlier start.
    Kept(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
}

/// `config` with its secret: the configured one, else the one kept in
/// `<data_dir>/secret`, else a new one written there. Logs where it came from.
pub fn resolve_secret(
    mut config: AuthConfig,
    data_dir: &Path,
) -> Result<(AuthConfig, SecretSource), SecretError> {
    if !config.secret.is_empty() {
        if config.secret.len() < SHORT_SECRET {
            tracing::warn!(
                bytes = config.secret.len(),
                "auth secret is shorter than {SHORT_SECRET} bytes"
            );
        }
        tracing::info!("auth secret from the configuration");
        return Ok((config, SecretSource::Configured));
    }
    let path = data_dir.join(SECRET_FILE);
    if let Some(secret) = read_secret(&path)? {
        config.secret = secret;
        tracing::info!(path = %path.display(), "auth secret read from the data directory");
        return Ok((config, SecretSource::Kept(path)));
    }
    roost_sql::create_private_dir(data_dir).map_err(|source| SecretError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    let secret = generate_secret()?;
    match write_new(&path, &secret) {
        Ok(()) => {
            config.secret = secret;
            tracing::info!(path = %path.display(), "generated a new auth secret (mode 0600); later starts reuse it");
            Ok((config, SecretSource::Generated(path)))
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match read_secret(&path)? {
            Some(secret) => {
                config.secret = secret;
                Ok((config, SecretSource::Kept(path)))
            }
            None => Err(SecretError::Empty(path)),
        },
        Err(source) => Err(SecretError::Io { path, source }),
    }
}

/// The secret kept in `path`; `None` when there is no such file.
fn read_secret(path: &Path) -> Result<Option<String>, SecretError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SecretError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    warn_if_readable_by_others(path);
    let secret = text.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        return Err(SecretError::Empty(path.to_owned()));
    }
    Ok(Some(secret))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "auth secret file is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// 48 random bytes from the OS, hex-encoded (96 characters).
fn generate_secret() -> Result<String, SecretError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates `path` (failing when it exists) with mode 0600 and writes `secret` to it.
fn write_new(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_generated_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let configured = AuthConfig::with_secret("x".repeat(40));
        let (c, source) = resolve_secret(configured, &data).unwrap();
        assert_eq!(source, SecretSource::Configured);
        assert_eq!(c.secret, "x".repeat(40));
        assert!(!data.exists(), "nothing written for a configured secret");

        let (first, source) = resolve_secret(AuthConfig::default(), &data).unwrap();
        assert_eq!(source, SecretSource::Generated(data.join(SECRET_FILE)));
        assert_eq!(first.secret.len(), 2 * SECRET_BYTES);
        let (second, source) = resolve_secret(AuthConfig::default(), &data).unwrap();
        assert_eq!(source, SecretSource::Kept(data.join(SECRET_FILE)));
        assert_eq!(first.secret, second.secret);

        std::fs::write(data.join(SECRET_FILE), "\n").unwrap();
        assert!(matches!(
            resolve_secret(AuthConfig::default(), &data),
            Err(SecretError::Empty(_))
        ));
    }

    #[test]
    fn defaults_have_no_issuer_and_print_redacted() {
        let section = AuthSection::default();
        assert_eq!(section.0.jwt_options.issuer, None);
        assert_eq!(
            section.0.jwt_options.audience.as_deref(),
            Some("https://yourdomain.com")
        );
        let mut with_secret = section.clone();
        with_secret.0.secret = "s3cret".into();
        assert_eq!(with_secret.redacted().0.secret, "<redacted>");
        assert_eq!(section.redacted().0.secret, "");
    }
}
