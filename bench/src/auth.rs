//! Authentication over the socket (docs/protocol.md §11): an optional sign-up (`create users`),
//! one local login that yields a JWT, then each benchmark connection authenticates with the
//! `jwt` strategy (or, when asked, with `local`, paying bcrypt on every connection).

use crate::client::{BenchError, Conn, Target};
use serde_json::{json, Value};

/// The strategy every benchmark connection logs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Strategy {
    /// `{strategy:'jwt', accessToken}` with the token of one local login made up front.
    Jwt,
    /// `{strategy:'local', email, password}` on every connection (a bcrypt check each).
    Local,
}

/// The `--login` / `--signup` flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AuthArgs {
    /// Authenticate every connection as EMAIL:PASSWORD (an existing user).
    #[arg(long, value_name = "EMAIL:PASSWORD", conflicts_with = "signup")]
    login: Option<String>,
    /// Like --login, creating the user first (`create users`; 409 Conflict is fine).
    #[arg(long, value_name = "EMAIL:PASSWORD")]
    signup: Option<String>,
    /// How each connection logs in once the user exists.
    #[arg(long, value_enum, default_value_t = Strategy::Jwt)]
    auth_strategy: Strategy,
}

/// What a connection sends to log in, prepared once.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    request: Value,
}

impl AuthArgs {
    /// Whether connections log in.
    pub(crate) fn is_set(&self) -> bool {
        self.login.is_some() || self.signup.is_some()
    }

    /// `None` without --login/--signup; otherwise signs up when asked, logs in once with
    /// the local strategy and returns what every connection will send.
    pub(crate) async fn prepare(&self, target: &Target) -> Result<Option<Credential>, BenchError> {
        let (pair, signup) = match (&self.login, &self.signup) {
            (Some(pair), _) => (pair, false),
            (None, Some(pair)) => (pair, true),
            (None, None) => return Ok(None),
        };
        let (email, password) = pair
            .split_once(':')
            .ok_or_else(|| BenchError::Usage(format!("'{pair}': expected EMAIL:PASSWORD")))?;
        let mut conn = Conn::open(target, 0).await?;
        if signup {
            let user = json!({"email": email, "password": password});
            match conn.call("create", "users", &[user, json!({})]).await {
                Ok(_) => {}
                Err(BenchError::Call(e)) if e.get("code") == Some(&json!(409)) => {}
                Err(e) => return Err(e),
            }
        }
        let local = json!({"strategy": "local", "email": email, "password": password});
        let result = conn
            .call("create", "authentication", &[local.clone(), json!({})])
            .await?;
        conn.close(false).await;
        let request = match self.auth_strategy {
            Strategy::Local => local,
            Strategy::Jwt => {
                let token = result
                    .get("accessToken")
                    .and_then(Value::as_str)
                    .ok_or_else(|| BenchError::Call(json!("login answered without accessToken")))?;
                json!({"strategy": "jwt", "accessToken": token})
            }
        };
        Ok(Some(Credential { request }))
    }
}

impl Credential {
    /// Logs `conn` in.
    pub(crate) async fn authenticate(&self, conn: &mut Conn) -> Result<(), BenchError> {
        conn.call(
            "create",
            "authentication",
            &[self.request.clone(), json!({})],
        )
        .await
        .map(drop)
    }
}
