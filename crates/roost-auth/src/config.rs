//! `AuthConfig`: the `authentication` section of a Feathers app (docs/feathers-semantics.md §E1–E2, §E9), plus
//! Roost's own limits for password hashing.
//!
//! Keys are snake_case as everywhere in Roost's config; the Feathers camelCase spellings
//! (`authStrategies`, `jwtOptions`, `expiresIn`, `usernameField`, …) are accepted as aliases so
//! a Feathers `default.json` section can be pasted in.

use serde::{Deserialize, Serialize};

/// Errors found when checking an [`AuthConfig`] at start-up (fail fast, not at first login).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// No secret, or an empty one (Feathers' own message).
    #[error("A 'secret' must be provided in your authentication configuration")]
    MissingSecret,
    /// `jwt_options.algorithm` is not an HMAC algorithm.
    #[error("jwt algorithm `{0}` is not supported (use HS256, HS384 or HS512)")]
    UnsupportedAlgorithm(String),
    /// `jwt_options.expires_in` is not a number of seconds or an `ms` time span.
    #[error("\"expiresIn\" should be a number of seconds or string representing a timespan")]
    InvalidExpiresIn,
    /// The bcrypt cost is outside 4–31.
    #[error("Illegal number of rounds (4-31): {0}")]
    InvalidHashCost(u32),
    /// A concurrency or queue limit is zero.
    #[error("authentication: `{0}` must be at least 1")]
    ZeroLimit(&'static str),
    /// A strategy named in `auth_strategies` or `parse_strategies` is not registered.
    #[error("authentication strategy `{0}` is not registered")]
    UnknownStrategy(String),
}

/// The `authentication` configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The HMAC key of access tokens, used as its raw UTF-8 bytes even when it looks like
    /// base64 (as Feathers does). Required; no default.
    pub secret: String,
    /// The key under which the authenticated entity is put into results and params
    /// (default `user`). `false` or `null` (Feathers' `entity: null`) disables the entity
    /// lookup: results then carry no entity.
    #[serde(deserialize_with = "entity_setting")]
    pub entity: Option<String>,
    /// The path of the entity service (default `users`).
    pub service: String,
    /// The entity's id field used for the token subject and lookups (default: `id`, the
    /// adapters' default id field).
    #[serde(alias = "entityId")]
    pub entity_id: Option<String>,
    /// Strategies allowed when creating a token (default `["jwt", "local"]`).
    #[serde(alias = "authStrategies")]
    pub auth_strategies: Vec<String>,
    /// Strategies whose credentials REST requests carry in a header (default: the same as
    /// `auth_strategies`; only `jwt` parses anything).
    #[serde(alias = "parseStrategies")]
    pub parse_strategies: Option<Vec<String>>,
    /// Token options. Configuring this REPLACES the defaults shallowly: a configured
    /// `jwt_options` without `issuer` issues tokens without `iss`, as Feathers does.
    #[serde(alias = "jwtOptions")]
    pub jwt_options: JwtOptions,
    /// The local (username/password) strategy.
    pub local: LocalConfig,
    /// The JWT strategy's header parsing.
    pub jwt: JwtHeaderConfig,
    /// How many bcrypt hashes or verifications run at once on the blocking pool (default 2).
    pub password_concurrency: usize,
    /// How many more may wait for a slot before new ones are refused with 429
    /// `TooManyRequests` (default 1024).
    pub password_queue: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            secret: String::new(),
            entity: Some("user".to_owned()),
            service: "users".to_owned(),
            entity_id: None,
            auth_strategies: vec!["jwt".to_owned(), "local".to_owned()],
            parse_strategies: None,
            jwt_options: JwtOptions::default(),
            local: LocalConfig::default(),
            jwt: JwtHeaderConfig::default(),
            password_concurrency: 2,
            password_queue: 1024,
        }
    }
}

impl AuthConfig {
    /// The default configuration with `secret`.
    pub fn with_secret(secret: impl Into<String>) -> Self {
        AuthConfig {
            secret: secret.into(),
            ..AuthConfig::default()
        }
    }

    /// The entity id field: `entity_id`, else `id`.
    pub fn entity_id_field(&self) -> &str {
        self.entity_id.as_deref().unwrap_or("id")
    }

    /// The strategies REST header parsing runs (`parse_strategies`, else `auth_strategies`).
    pub fn parse_strategies(&self) -> &[String] {
        self.parse_strategies
            .as_deref()
            .unwrap_or(&self.auth_strategies)
    }

    /// Checks every value that would otherwise fail at the first login.
    pub fn validate(&self) -> Result<(), AuthConfigError> {
        if self.secret.is_empty() {
            return Err(AuthConfigError::MissingSecret);
        }
        crate::jwt::Algorithm::from_name(&self.jwt_options.algorithm).ok_or_else(|| {
            AuthConfigError::UnsupportedAlgorithm(self.jwt_options.algorithm.clone())
        })?;
        self.jwt_options.expires_in_seconds()?;
        if !(4..=31).contains(&self.local.hash_size) {
            return Err(AuthConfigError::InvalidHashCost(self.local.hash_size));
        }
        if self.password_concurrency == 0 {
            return Err(AuthConfigError::ZeroLimit("password_concurrency"));
        }
        if self.password_queue == 0 {
            return Err(AuthConfigError::ZeroLimit("password_queue"));
        }
        Ok(())
    }
}

/// `jwtOptions`: how tokens are signed and what verification demands.
///
/// When the section is configured it REPLACES the defaults shallowly, as in Feathers: a key
/// left out is absent (no `aud`/`iss`/`exp` claim, `typ` `JWT`), not defaulted. Only
/// `algorithm` falls back to `HS256`, jsonwebtoken's own default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtOptions {
    /// Extra JOSE header fields (default `{typ = "access"}`; absent: `typ` is `JWT`).
    #[serde(default)]
    pub header: Option<JwtHeader>,
    /// The `aud` claim set and required (default `https://yourdomain.com`); absent: neither
    /// set nor checked.
    #[serde(default)]
    pub audience: Option<String>,
    /// The `iss` claim set and required (default `feathers`); absent: neither set nor
    /// checked. Generated Feathers apps leave it out.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `HS256` (default), `HS384` or `HS512`. Verification accepts only this algorithm.
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// Token lifetime: an integer number of seconds, or an `ms` time span string (`"1d"`,
    /// `"2 hours"`, `"90s"`; a bare `"3600"` is milliseconds, as in Feathers). Default
    /// `"1d"`; absent: tokens carry no `exp` and never expire.
    #[serde(default, alias = "expiresIn")]
    pub expires_in: Option<ExpiresIn>,
}

fn default_algorithm() -> String {
    "HS256".to_owned()
}

impl Default for JwtOptions {
    fn default() -> Self {
        JwtOptions {
            header: Some(JwtHeader {
                typ: Some("access".to_owned()),
            }),
            audience: Some("https://yourdomain.com".to_owned()),
            issuer: Some("feathers".to_owned()),
            algorithm: default_algorithm(),
            expires_in: Some(ExpiresIn::Span("1d".to_owned())),
        }
    }
}

impl JwtOptions {
    /// The lifetime in seconds (fractional for spans such as `"1500ms"`; may be negative),
    /// or `None` when tokens do not expire.
    pub fn expires_in_seconds(&self) -> Result<Option<f64>, AuthConfigError> {
        match &self.expires_in {
            None => Ok(None),
            Some(ExpiresIn::Seconds(s)) => Ok(Some(*s as f64)),
            Some(ExpiresIn::Span(span)) => parse_ms(span)
                .map(|ms| Some(ms / 1000.0))
                .ok_or(AuthConfigError::InvalidExpiresIn),
        }
    }

    /// The `typ` header of issued tokens: the configured one, else `JWT`.
    pub fn typ(&self) -> &str {
        self.header
            .as_ref()
            .and_then(|h| h.typ.as_deref())
            .unwrap_or("JWT")
    }
}

/// The JOSE header fields Roost adds to the tokens it signs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtHeader {
    /// `typ`; absent means `JWT`.
    pub typ: Option<String>,
}

/// `expiresIn`: seconds as a number, or an `ms` time span as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExpiresIn {
    /// A number of seconds.
    Seconds(i64),
    /// A time span such as `"1d"`, parsed like the `ms` npm package.
    Span(String),
}

/// `local`: the username/password strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// The request field holding the username (default `email`; dot paths allowed).
    #[serde(alias = "usernameField")]
    pub username_field: String,
    /// The request field holding the password (default `password`; dot paths allowed).
    #[serde(alias = "passwordField")]
    pub password_field: String,
    /// The entity field queried with the username (default: `username_field`).
    #[serde(alias = "entityUsernameField")]
    pub entity_username_field: Option<String>,
    /// The entity field holding the bcrypt hash (default: `password_field`).
    #[serde(alias = "entityPasswordField")]
    pub entity_password_field: Option<String>,
    /// The bcrypt cost of new hashes, 4–31 (default 10).
    #[serde(alias = "hashSize")]
    pub hash_size: u32,
    /// The one message of every failed login (default `Invalid login`).
    #[serde(alias = "errorMessage")]
    pub error_message: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            username_field: "email".to_owned(),
            password_field: "password".to_owned(),
            entity_username_field: None,
            entity_password_field: None,
            hash_size: 10,
            error_message: "Invalid login".to_owned(),
        }
    }
}

impl LocalConfig {
    /// The entity field queried with the username.
    pub fn entity_username_field(&self) -> &str {
        self.entity_username_field
            .as_deref()
            .unwrap_or(&self.username_field)
    }

    /// The entity field holding the hash.
    pub fn entity_password_field(&self) -> &str {
        self.entity_password_field
            .as_deref()
            .unwrap_or(&self.password_field)
    }
}

/// `jwt`: where REST requests carry the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtHeaderConfig {
    /// The request header (default `Authorization`, matched case-insensitively).
    pub header: String,
    /// Schemes, each matched as a case-insensitive substring of the scheme word (default
    /// `["Bearer", "JWT"]`).
    pub schemes: Vec<String>,
}

impl Default for JwtHeaderConfig {
    fn default() -> Self {
        JwtHeaderConfig {
            header: "Authorization".to_owned(),
            schemes: vec!["Bearer".to_owned(), "JWT".to_owned()],
        }
    }
}

/// `entity = "user"`, `entity = false` or `entity: null`.
fn entity_setting<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        Name(String),
        Off(bool),
    }
    match Option::<Setting>::deserialize(d)? {
        Some(Setting::Name(name)) => Ok(Some(name)),
        Some(Setting::Off(false)) | None => Ok(None),
        Some(Setting::Off(true)) => Err(serde::de::Error::custom(
            "`entity` is a field name, `false` or null",
        )),
    }
}

/// Parses a time span like the `ms` npm package (2.1): `"1d"`, `"2.5 hrs"`, `"-3m"`,
/// `"100"` (milliseconds). Returns milliseconds, or `None` where `ms` returns `undefined`.
pub(crate) fn parse_ms(input: &str) -> Option<f64> {
    if input.chars().count() > 100 {
        return None;
    }
    // `^(-?(?:\d+)?\.?\d+) *(unit)?$`, case-insensitive.
    let bytes = input.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'-') {
        i = 1;
    }
    let digits_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        i += 1;
    }
    let number = &input[digits_start..i];
    if !is_ms_number(number) {
        return None;
    }
    let value: f64 = input[..i].parse().ok()?;
    let rest = input[i..].trim_start_matches(' ');
    let unit = rest.to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" => 1.0,
        "seconds" | "second" | "secs" | "sec" | "s" => 1_000.0,
        "minutes" | "minute" | "mins" | "min" | "m" => 60_000.0,
        "hours" | "hour" | "hrs" | "hr" | "h" => 3_600_000.0,
        "days" | "day" | "d" => 86_400_000.0,
        "weeks" | "week" | "w" => 604_800_000.0,
        "years" | "year" | "yrs" | "yr" | "y" => 31_557_600_000.0,
        _ => return None,
    };
    Some(value * factor)
}

/// `(?:\d+)?\.?\d+`: optional digits, an optional dot, then at least one digit.
fn is_ms_number(s: &str) -> bool {
    match s.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|b| b.is_ascii_digit())
                && !frac.is_empty()
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_spans() {
        assert_eq!(parse_ms("1d"), Some(86_400_000.0));
        assert_eq!(parse_ms("2s"), Some(2_000.0));
        assert_eq!(parse_ms("3600"), Some(3_600.0));
        assert_eq!(parse_ms("2.5 hrs"), Some(9_000_000.0));
        assert_eq!(parse_ms("1.5H"), Some(5_400_000.0));
        assert_eq!(parse_ms(".5s"), Some(500.0));
        assert_eq!(parse_ms("-1s"), Some(-1_000.0));
        assert_eq!(parse_ms("1y"), Some(31_557_600_000.0));
        assert_eq!(parse_ms("10  minutes"), Some(600_000.0));
        for bad in ["", "d", "1.s", "1..2s", "1 fortnight", "--1s", " 1s", "1s "] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
        assert_eq!(parse_ms(&"1".repeat(101)), None);
    }

    #[test]
    fn defaults_match_feathers() {
        let c = AuthConfig::with_secret("s");
        assert_eq!(c.auth_strategies, ["jwt", "local"]);
        assert_eq!(c.parse_strategies(), ["jwt", "local"]);
        assert_eq!(
            c.jwt_options.audience.as_deref(),
            Some("https://yourdomain.com")
        );
        assert_eq!(c.jwt_options.issuer.as_deref(), Some("feathers"));
        assert_eq!(c.jwt_options.expires_in_seconds(), Ok(Some(86_400.0)));
        assert_eq!(c.jwt_options.typ(), "access");
        assert_eq!(c.local.error_message, "Invalid login");
        assert_eq!(c.entity_id_field(), "id");
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn configured_jwt_options_replace_the_defaults() {
        let c: AuthConfig = serde_json::from_value(serde_json::json!({
            "secret": "s",
            "jwtOptions": {"audience": "https://example.com", "expiresIn": 60}
        }))
        .unwrap();
        assert_eq!(c.jwt_options.issuer, None);
        assert_eq!(c.jwt_options.typ(), "JWT");
        assert_eq!(c.jwt_options.algorithm, "HS256");
        assert_eq!(c.jwt_options.expires_in_seconds(), Ok(Some(60.0)));
        let c: AuthConfig = serde_json::from_value(serde_json::json!({
            "secret": "s", "jwt_options": {"header": {"typ": "access"}}
        }))
        .unwrap();
        assert_eq!(c.jwt_options.expires_in_seconds(), Ok(None));
        assert_eq!(c.jwt_options.typ(), "access");
    }

    #[test]
    fn entity_can_be_switched_off() {
        for off in [serde_json::json!(null), serde_json::json!(false)] {
            let c: AuthConfig =
                serde_json::from_value(serde_json::json!({"secret": "s", "entity": off})).unwrap();
            assert_eq!(c.entity, None);
        }
        let c: AuthConfig =
            serde_json::from_value(serde_json::json!({"secret": "s", "entity": "account"}))
                .unwrap();
        assert_eq!(c.entity.as_deref(), Some("account"));
    }

    #[test]
    fn validation_fails_fast() {
        assert_eq!(
            AuthConfig::default().validate(),
            Err(AuthConfigError::MissingSecret)
        );
        let mut c = AuthConfig::with_secret("s");
        c.jwt_options.algorithm = "RS256".into();
        assert!(matches!(
            c.validate(),
            Err(AuthConfigError::UnsupportedAlgorithm(_))
        ));
        let mut c = AuthConfig::with_secret("s");
        c.jwt_options.expires_in = Some(ExpiresIn::Span("soon".into()));
        assert_eq!(c.validate(), Err(AuthConfigError::InvalidExpiresIn));
        let mut c = AuthConfig::with_secret("s");
        c.local.hash_size = 3;
        assert_eq!(c.validate(), Err(AuthConfigError::InvalidHashCost(3)));
    }
}
