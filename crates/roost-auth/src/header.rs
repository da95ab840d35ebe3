//! REST credentials: the JWT strategy's `parse` of the `Authorization` header (docs/feathers-semantics.md
//! §E15–E16). Parsing never fails a request; a bad token fails later, in `authenticate`, and
//! only where a service demands authentication.

use crate::base::Authentication;
use roost_core::{json, Map, Value};

/// The default schemes (`Bearer`, `JWT`).
pub const DEFAULT_SCHEMES: [&str; 2] = ["Bearer", "JWT"];

/// JavaScript's `\s`.
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Parses an `Authorization` header value with the default schemes: `Bearer <t>`,
/// `JWT <t>` (any case, and any scheme word containing one of them, such as `Bearer:`), or a
/// bare token. Returns `{strategy: 'jwt', accessToken}`, or `None` for an empty value or
/// another scheme (`Basic …`).
pub fn parse_authorization_header(value: &str) -> Option<Value> {
    parse_authorization_header_with(value, &DEFAULT_SCHEMES)
}

/// [`parse_authorization_header`] with configured schemes, each matched as a
/// case-insensitive substring of the scheme word (Feathers builds `new RegExp(scheme, 'i')`;
/// a scheme is treated as literal text here).
pub fn parse_authorization_header_with<S: AsRef<str>>(value: &str, schemes: &[S]) -> Option<Value> {
    if value.is_empty() {
        return None;
    }
    // `/(\S+)\s+(\S+)/`: the first word followed by whitespace and a second word.
    let mut words = value.split(is_js_space).filter(|w| !w.is_empty());
    let token = match (words.next(), words.next()) {
        (Some(scheme), Some(token)) => {
            let scheme = scheme.to_ascii_lowercase();
            let known = schemes
                .iter()
                .any(|s| scheme.contains(&s.as_ref().to_ascii_lowercase()));
            if !known {
                return None;
            }
            token
        }
        _ => value,
    };
    Some(json!({"strategy": "jwt", "accessToken": token}))
}

impl Authentication {
    /// What REST puts into `params.authentication` for a request with `headers` (lower-case
    /// names), when `jwt` is among the parse strategies: the configured header parsed with
    /// the configured schemes. A non-string header value is ignored.
    pub fn parse_headers(&self, headers: &Map<String, Value>) -> Option<Value> {
        let config = self.config();
        if !config.parse_strategies().iter().any(|s| s == "jwt") {
            return None;
        }
        let name = config.jwt.header.to_ascii_lowercase();
        let value = headers.get(&name)?.as_str()?;
        parse_authorization_header_with(value, &config.jwt.schemes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(v: &str) -> Option<String> {
        parse_authorization_header(v).map(|v| {
            assert_eq!(v["strategy"], "jwt");
            v["accessToken"].as_str().unwrap().to_owned()
        })
    }

    #[test]
    fn schemes_and_bare_tokens() {
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("JWT abc").as_deref(), Some("abc"));
        assert_eq!(token("Bearer: abc").as_deref(), Some("abc"));
        assert_eq!(token("xBEARERx abc").as_deref(), Some("abc"));
        assert_eq!(token("  Bearer \t abc  more").as_deref(), Some("abc"));
        assert_eq!(token("abc").as_deref(), Some("abc"));
        assert_eq!(token("Bearer").as_deref(), Some("Bearer"));
        assert_eq!(token(" abc ").as_deref(), Some(" abc "));
        assert_eq!(token("Basic dXNlcjpwdw=="), None);
        assert_eq!(token(""), None);
        assert_eq!(token("Bearer\u{a0}abc").as_deref(), Some("abc"));
    }
}
