//! What a real-time connection keeps after a login (docs/feathers-semantics.md §E20–E22, docs/protocol.md §11):
//! `connection.authentication = {strategy: 'jwt', accessToken}`, `connection.user`, and the
//! token's `exp`, when the transport arms the expiry timer. The transport owns the
//! connection; these are the values and rules it applies.

use roost_core::{Map, Params, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The authentication state of one connection after a login.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionAuth {
    /// The access token the connection now carries.
    pub access_token: String,
    /// The entity key (`user`) and the entity from the login result, if any.
    pub entity: Option<(String, Value)>,
    /// The token's `exp` (seconds since the epoch); `None` for tokens that never expire.
    pub exp: Option<f64>,
}

impl ConnectionAuth {
    /// The state a login `result` leaves, or `None` when it holds no access token (then
    /// the connection is left as it was, as Feathers' JWT strategy does).
    pub fn from_login(result: &Value, entity: Option<&str>) -> Option<Self> {
        let access_token = result
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())?
            .to_owned();
        let exp = result
            .pointer("/authentication/payload/exp")
            .and_then(Value::as_f64);
        let entity =
            entity.and_then(|key| result.get(key).map(|value| (key.to_owned(), value.clone())));
        Some(ConnectionAuth {
            access_token,
            entity,
            exp,
        })
    }

    /// `connection.authentication`: `{strategy: 'jwt', accessToken}`.
    pub fn authentication(&self) -> Value {
        // Sized for its two keys: it stays on the connection while it is logged in, and
        // `json!` would leave room for a third (about 110 bytes per connection).
        let mut object = Map::with_capacity(2);
        object.insert("strategy".to_owned(), Value::from("jwt"));
        object.insert(
            "accessToken".to_owned(),
            Value::String(self.access_token.clone()),
        );
        Value::Object(object)
    }

    /// How long until the token expires, from `now`; zero when it already has (the
    /// connection must then be logged out at once). `None` when it never expires.
    pub fn expires_in(&self, now: SystemTime) -> Option<Duration> {
        let exp = self.exp?;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let left = exp - now;
        Some(if left > 0.0 && left.is_finite() {
            Duration::from_secs_f64(left.min(u32::MAX as f64))
        } else if left > 0.0 {
            Duration::from_secs(u64::from(u32::MAX))
        } else {
            Duration::ZERO
        })
    }

    /// Puts the connection's state into the params of a call made on it: what Feathers
    /// does by spreading the connection object into `params`.
    pub fn apply_to(&self, params: &mut Params) {
        params.authentication = Some(self.authentication());
        if let Some((key, value)) = &self.entity {
            crate::strategy::set_entity(params, key, value.clone());
        }
    }
}

/// Whether a logout `result` ends the connection's login: the connection is logged in and
/// the result is for the very token it carries (Feathers' `isValidLogout`). Then the
/// transport clears `authentication` and the user, cancels the expiry timer and the
/// connection leaves all its channels.
pub fn is_valid_logout(connection_token: Option<&str>, result: &Value) -> bool {
    match (
        connection_token,
        result.get("accessToken").and_then(Value::as_str),
    ) {
        (Some(current), Some(token)) => current == token,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_core::json;

    #[test]
    fn login_state_and_expiry() {
        let result = json!({
            "accessToken": "t",
            "authentication": {"strategy": "local", "payload": {"exp": 1000.0}},
            "user": {"id": 1}
        });
        let state = ConnectionAuth::from_login(&result, Some("user")).unwrap();
        assert_eq!(state.exp, Some(1000.0));
        assert_eq!(
            state.authentication(),
            json!({"strategy": "jwt", "accessToken": "t"})
        );
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(state.expires_in(at(400)), Some(Duration::from_secs(600)));
        assert_eq!(state.expires_in(at(2000)), Some(Duration::ZERO));
        let mut params = Params::default();
        state.apply_to(&mut params);
        assert_eq!(params.user, Some(json!({"id": 1})));
        assert!(ConnectionAuth::from_login(&json!({"user": {}}), Some("user")).is_none());
        assert!(is_valid_logout(Some("t"), &result));
        assert!(!is_valid_logout(Some("u"), &result));
        assert!(!is_valid_logout(None, &result));
    }
}
