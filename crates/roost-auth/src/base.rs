//! [`Authentication`]: Feathers' `AuthenticationBase` — the configuration, the registered
//! strategies, token signing and verification, and `authenticate(data, params, allowed)` —
//! shared by the authentication service, the hooks and the transports.

use crate::config::{AuthConfig, AuthConfigError};
use crate::events::AuthEvents;
use crate::jwt::{self, Algorithm, SigningKey, TokenPayload, VerifyOptions};
use crate::metrics::AuthMetrics;
use crate::password::PasswordHasher;
use crate::strategy::{AuthStrategy, JwtStrategy, LocalStrategy};
use roost_core::js::is_truthy;
use roost_core::{App, Error, Map, Params, Result, Value, WeakApp};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The authentication core of one app; cheap to clone.
///
/// It holds a [`WeakApp`] (to reach the entity service): the app holds the authentication
/// service holding it, so a strong `App` here would be a reference cycle.
#[derive(Clone)]
pub struct Authentication {
    inner: Arc<Inner>,
}

struct Inner {
    app: WeakApp,
    config: AuthConfig,
    expires_in: Option<f64>,
    verify_options: VerifyOptions,
    /// The HMAC key, made once from the secret.
    key: SigningKey,
    strategies: Vec<(String, Arc<dyn AuthStrategy>)>,
    hasher: PasswordHasher,
    events: AuthEvents,
    metrics: AuthMetrics,
    path: OnceLock<String>,
}

/// Builds an [`Authentication`]: the configuration plus the strategies it may use.
pub struct AuthenticationBuilder {
    app: App,
    config: AuthConfig,
    strategies: Vec<(String, Arc<dyn AuthStrategy>)>,
}

impl AuthenticationBuilder {
    /// Registers (or replaces) the strategy `name`.
    pub fn strategy(mut self, name: &str, strategy: Arc<dyn AuthStrategy>) -> Self {
        self.strategies.retain(|(n, _)| n != name);
        self.strategies.push((name.to_owned(), strategy));
        self
    }

    /// Checks the configuration (secret, algorithm, `expires_in`, cost, limits, that every
    /// allowed strategy is registered) and builds.
    pub fn build(self) -> Result<Authentication, AuthConfigError> {
        let config = self.config;
        config.validate()?;
        for name in config
            .auth_strategies
            .iter()
            .chain(config.parse_strategies())
        {
            if !self.strategies.iter().any(|(n, _)| n == name) {
                return Err(AuthConfigError::UnknownStrategy(name.clone()));
            }
        }
        let algorithm = Algorithm::from_name(&config.jwt_options.algorithm).ok_or_else(|| {
            AuthConfigError::UnsupportedAlgorithm(config.jwt_options.algorithm.clone())
        })?;
        let expires_in = config.jwt_options.expires_in_seconds()?;
        let verify_options = VerifyOptions {
            algorithm,
            audience: config.jwt_options.audience.clone(),
            issuer: config.jwt_options.issuer.clone(),
        };
        let hasher = PasswordHasher::new(
            config.local.hash_size,
            config.password_concurrency,
            config.password_queue,
        );
        Ok(Authentication {
            inner: Arc::new(Inner {
                app: self.app.downgrade(),
                expires_in,
                verify_options,
                key: SigningKey::new(algorithm, config.secret.as_bytes()),
                strategies: self.strategies,
                hasher,
                events: AuthEvents::default(),
                metrics: AuthMetrics::default(),
                path: OnceLock::new(),
                config,
            }),
        })
    }
}

/// Seconds since the Unix epoch, as `Math.floor(Date.now() / 1000)`.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Authentication {
    /// A builder with the `jwt` and `local` strategies registered.
    pub fn builder(app: &App, config: AuthConfig) -> AuthenticationBuilder {
        AuthenticationBuilder {
            app: app.clone(),
            config,
            strategies: Vec::new(),
        }
        .strategy("jwt", Arc::new(JwtStrategy))
        .strategy("local", Arc::new(LocalStrategy))
    }

    /// [`Authentication::builder`] with the default strategies, built.
    pub fn new(app: &App, config: AuthConfig) -> Result<Self, AuthConfigError> {
        Self::builder(app, config).build()
    }

    /// The app, or a `GeneralError` once it was dropped.
    pub fn app(&self) -> Result<App> {
        self.inner.app.app()
    }

    /// The checked configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// The password hasher (bcrypt on the blocking pool).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// The `login`/`logout` events.
    pub fn events(&self) -> &AuthEvents {
        &self.inner.events
    }

    /// The counters `/metrics` shows: logins, failures, logouts, expiries.
    pub fn metrics(&self) -> &AuthMetrics {
        &self.inner.metrics
    }

    /// The path the service is mounted at, once [`Authentication::mount`] ran.
    pub fn path(&self) -> Option<&str> {
        self.inner.path.get().map(String::as_str)
    }

    pub(crate) fn set_path(&self, path: String) -> bool {
        self.inner.path.set(path).is_ok()
    }

    /// The strategy registered as `name`.
    pub fn strategy(&self, name: &str) -> Option<&Arc<dyn AuthStrategy>> {
        self.inner
            .strategies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// Feathers' `authenticate(authentication, params, ...allowed)`: runs the strategy that
    /// `data.strategy` names if it is registered and in `allowed`, with
    /// `params.authenticated = true`. Errors (401) name what is missing.
    pub async fn authenticate(
        &self,
        data: &Value,
        params: &Params,
        allowed: &[String],
    ) -> Result<Map<String, Value>> {
        let strategy = data.get("strategy").filter(|s| is_truthy(s));
        let name = strategy.and_then(Value::as_str);
        let allowed_here = name.is_some_and(|n| allowed.iter().any(|a| a == n));
        let found = name.and_then(|n| self.strategy(n));
        let (Some(name), Some(found), true) = (name, found, allowed_here) else {
            let info = if strategy.is_none() {
                " (no `strategy` set)"
            } else if !allowed_here {
                " (strategy not allowed in authStrategies)"
            } else {
                ""
            };
            return Err(Error::not_authenticated(format!(
                "Invalid authentication information{info}"
            )));
        };
        let mut params = params.clone();
        params.authenticated = true;
        found.authenticate(name, self, data, &params).await
    }

    /// Signs a new access token: `payload` plus `iat`, `exp`, `aud`, `iss`, `sub` and a fresh
    /// `jti` (uuid v4), in jsonwebtoken's claim order.
    pub fn create_access_token(
        &self,
        payload: Map<String, Value>,
        subject: Option<String>,
    ) -> String {
        self.create_access_token_at(payload, subject, now_secs())
    }

    /// [`Authentication::create_access_token`] at a given time (seconds since the epoch).
    pub fn create_access_token_at(
        &self,
        mut claims: Map<String, Value>,
        subject: Option<String>,
        now: u64,
    ) -> String {
        let options = &self.inner.config.jwt_options;
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .unwrap_or(now as f64);
        if !claims.contains_key("iat") {
            claims.insert("iat".into(), now.into());
        }
        if let Some(expires_in) = self.inner.expires_in {
            claims.insert("exp".into(), number((iat + expires_in).floor()));
        }
        if let Some(aud) = &options.audience {
            claims.insert("aud".into(), aud.clone().into());
        }
        if let Some(iss) = &options.issuer {
            claims.insert("iss".into(), iss.clone().into());
        }
        if let Some(sub) = subject {
            claims.insert("sub".into(), sub.into());
        }
        claims.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
        jwt::sign_with(&claims, &self.inner.key, options.typ())
    }

    /// Verifies an access token now. Failures are 401 `NotAuthenticated` with
    /// jsonwebtoken's message and `data {name[, expiredAt]}`; the payload's
    /// [`TokenPayload::exp`] is when a connection authenticated by it must expire.
    pub fn verify_access_token(&self, token: &str) -> Result<TokenPayload> {
        self.verify_access_token_at(token, now_secs())
    }

    /// [`Authentication::verify_access_token`] at a given time (seconds since the epoch).
    pub fn verify_access_token_at(&self, token: &str, now: u64) -> Result<TokenPayload> {
        jwt::verify_with(token, &self.inner.key, &self.inner.verify_options, now).map_err(|e| {
            tracing::debug!(reason = %e, "access token refused");
            Error::from(e)
        })
    }
}

/// A JSON number from an integral `f64`, as an integer when it fits.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .inner
            .strategies
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        f.debug_struct("Authentication")
            .field("service", &self.inner.config.service)
            .field("strategies", &names)
            .finish_non_exhaustive()
    }
}
