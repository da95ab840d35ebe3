//! Access tokens: HMAC-signed JWTs issued and verified exactly as Feathers' `jsonwebtoken`
//! (npm, 9.x) does it (docs/feathers-semantics.md §E3, §E7; docs/protocol.md §11).
//!
//! Verification follows jsonwebtoken's `verify.js` step by step, because clients and tests
//! see its messages: split into three parts (`jwt malformed`), decode the header leniently
//! (`invalid token`), require a signature (`jwt signature is required`, which is what
//! `alg: none` tokens get), require the configured algorithm (`invalid algorithm`), compare the
//! signature (`invalid signature`), then `nbf`, `exp`, `aud` and `iss`.
//!
//! HMAC comes from the RustCrypto `hmac`/`sha2` crates rather than the `jsonwebtoken` crate:
//! its error kinds and check order differ from the npm package (so the messages would need
//! this same hand-written front end anyway), version 10+ makes every user pick a crypto
//! backend (RSA/EC/EdDSA included), and 11 needs a newer Rust than the workspace's MSRV.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use roost_core::{Error, Map, Value};
use sha2::{Sha256, Sha384, Sha512};

/// Tokens longer than this are refused as `jwt malformed` before any decoding (Feathers has
/// no limit; REST bodies and socket frames are bounded anyway, this bounds the work).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The HMAC algorithms Roost signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA256, Feathers' default.
    HS256,
    /// HMAC-SHA384.
    HS384,
    /// HMAC-SHA512.
    HS512,
}

impl Algorithm {
    /// The algorithm with this JOSE name (`"HS256"`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Algorithm::HS256),
            "HS384" => Some(Algorithm::HS384),
            "HS512" => Some(Algorithm::HS512),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }
}

/// An HMAC key made once from the secret (its inner and outer pads already hashed) and
/// cloned for each token, so signing or verifying hashes only the token itself.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    /// `None` only if the HMAC refused the key, which it never does (HMAC takes keys of
    /// any length); such a key signs everything with an empty tag, which never verifies.
    mac: Option<KeyedMac>,
}

#[derive(Clone)]
enum KeyedMac {
    HS256(Hmac<Sha256>),
    HS384(Hmac<Sha384>),
    HS512(Hmac<Sha512>),
}

impl SigningKey {
    /// The key for `algorithm` with `secret`.
    pub fn new(algorithm: Algorithm, secret: &[u8]) -> Self {
        use hmac::digest::KeyInit;
        let mac = match algorithm {
            Algorithm::HS256 => <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                .ok()
                .map(KeyedMac::HS256),
            Algorithm::HS384 => <Hmac<Sha384> as KeyInit>::new_from_slice(secret)
                .ok()
                .map(KeyedMac::HS384),
            Algorithm::HS512 => <Hmac<Sha512> as KeyInit>::new_from_slice(secret)
                .ok()
                .map(KeyedMac::HS512),
        };
        SigningKey { algorithm, mac }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The base64url signature of `input`, as jwa computes it.
    fn sign(&self, input: &[u8]) -> String {
        fn tag<M: Mac + Clone>(mac: &M, input: &[u8]) -> String {
            let mut mac = mac.clone();
            mac.update(input);
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        match &self.mac {
            Some(KeyedMac::HS256(mac)) => tag(mac, input),
            Some(KeyedMac::HS384(mac)) => tag(mac, input),
            Some(KeyedMac::HS512(mac)) => tag(mac, input),
            None => String::new(),
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused, with jsonwebtoken's exact message. Every variant becomes a 401
/// `NotAuthenticated` whose `data` is `{name}` plus `expiredAt`/`date` where jsonwebtoken has
/// them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// An empty token.
    #[error("jwt must be provided")]
    Missing,
    /// Not three dot-separated parts (or longer than [`MAX_TOKEN_LEN`]).
    #[error("jwt malformed")]
    Malformed,
    /// The header is not base64url JSON, or a part has characters outside base64url.
    #[error("invalid token")]
    InvalidToken,
    /// The payload of a `typ: JWT` token is not JSON (jsonwebtoken surfaces the
    /// `JSON.parse` SyntaxError; its V8 text is not reproduced).
    #[error("invalid token")]
    PayloadSyntax,
    /// An empty signature part, as `alg: none` tokens have.
    #[error("jwt signature is required")]
    SignatureRequired,
    /// `alg` is not the configured algorithm.
    #[error("invalid algorithm")]
    InvalidAlgorithm,
    /// The signature does not match.
    #[error("invalid signature")]
    InvalidSignature,
    /// `nbf` is not a number.
    #[error("invalid nbf value")]
    InvalidNbf,
    /// `nbf` is in the future (`NotBeforeError`).
    #[error("jwt not active")]
    NotActive {
        /// `new Date(nbf * 1000)` as JSON (ISO string, or null when out of range).
        date: Option<String>,
    },
    /// `exp` is not a number.
    #[error("invalid exp value")]
    InvalidExp,
    /// `exp` has passed (`TokenExpiredError`).
    #[error("jwt expired")]
    Expired {
        /// `new Date(exp * 1000)` as JSON (ISO string, or null when out of range).
        expired_at: Option<String>,
    },
    /// `aud` does not contain the configured audience.
    #[error("jwt audience invalid. expected: {expected}")]
    AudienceInvalid {
        /// The configured audience.
        expected: String,
    },
    /// `iss` is not the configured issuer.
    #[error("jwt issuer invalid. expected: {expected}")]
    IssuerInvalid {
        /// The configured issuer.
        expected: String,
    },
}

impl JwtError {
    /// The JS error class name (`data.name`).
    pub fn class_name(&self) -> &'static str {
        match self {
            JwtError::Expired { .. } => "TokenExpiredError",
            JwtError::NotActive { .. } => "NotBeforeError",
            JwtError::PayloadSyntax => "SyntaxError",
            _ => "JsonWebTokenError",
        }
    }
}

impl From<JwtError> for Error {
    fn from(e: JwtError) -> Self {
        let mut data = Map::new();
        data.insert("name".into(), e.class_name().into());
        match &e {
            JwtError::Expired { expired_at } => {
                data.insert("expiredAt".into(), expired_at.clone().into());
            }
            JwtError::NotActive { date } => {
                data.insert("date".into(), date.clone().into());
            }
            _ => {}
        }
        Error::not_authenticated(e.to_string()).with_data(Value::Object(data))
    }
}

/// What verification requires besides the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The one accepted algorithm.
    pub algorithm: Algorithm,
    /// The required audience, if any.
    pub audience: Option<String>,
    /// The required issuer, if any.
    pub issuer: Option<String>,
}

/// The verified payload of an access token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPayload(pub Value);

impl TokenPayload {
    /// A claim, when the payload is an object.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// `exp` in seconds since the epoch, when present and numeric.
    pub fn exp(&self) -> Option<f64> {
        self.claim("exp").and_then(Value::as_f64)
    }

    /// `sub`, the entity id as a string.
    pub fn sub(&self) -> Option<&str> {
        self.claim("sub").and_then(Value::as_str)
    }

    /// The payload as JSON.
    pub fn into_value(self) -> Value {
        self.0
    }
}

/// Signs `claims` (already holding `iat`, `exp`, …) into a compact JWT with the header
/// `{"alg": …, "typ": typ}`.
pub fn sign(claims: &Map<String, Value>, algorithm: Algorithm, typ: &str, secret: &[u8]) -> String {
    sign_with(claims, &SigningKey::new(algorithm, secret), typ)
}

/// [`sign`] with a key made once ([`SigningKey`]).
pub fn sign_with(claims: &Map<String, Value>, key: &SigningKey, typ: &str) -> String {
    let mut header = Map::new();
    header.insert("alg".into(), key.algorithm().name().into());
    header.insert("typ".into(), typ.into());
    let header = Value::Object(header).to_string();
    let payload = Value::Object(claims.clone()).to_string();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{signature}")
}

/// Verifies `token` at `now` (seconds since the epoch) with jsonwebtoken's checks, in its
/// order, and returns the payload.
pub fn verify(
    token: &str,
    secret: &[u8],
    options: &VerifyOptions,
    now: u64,
) -> Result<TokenPayload, JwtError> {
    verify_with(
        token,
        &SigningKey::new(options.algorithm, secret),
        options,
        now,
    )
}

/// [`verify`] with a key made once ([`SigningKey`]). A key of another algorithm than
/// `options.algorithm` verifies nothing (`invalid signature`).
pub fn verify_with(
    token: &str,
    key: &SigningKey,
    options: &VerifyOptions,
    now: u64,
) -> Result<TokenPayload, JwtError> {
    if token.is_empty() {
        return Err(JwtError::Missing);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature] = parts[..] else {
        return Err(JwtError::Malformed);
    };
    // jws' JWS_REGEX: non-empty base64url header and payload, base64url or empty signature.
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if header_b64.is_empty()
        || payload_b64.is_empty()
        || !b64url(header_b64)
        || !b64url(payload_b64)
        || !b64url(signature)
    {
        return Err(JwtError::InvalidToken);
    }
    // The header is decoded as latin1 text (`toString('binary')`) before `JSON.parse`.
    let header_text: String = decode_base64_lenient(header_b64)
        .into_iter()
        .map(char::from)
        .collect();
    let header: Value = serde_json::from_str(&header_text).map_err(|_| JwtError::InvalidToken)?;
    if !roost_core::js::is_truthy(&header) {
        return Err(JwtError::InvalidToken);
    }
    let payload_text = String::from_utf8_lossy(&decode_base64_lenient(payload_b64)).into_owned();
    let payload = if header.get("typ").and_then(Value::as_str) == Some("JWT") {
        serde_json::from_str::<Value>(&payload_text).map_err(|_| JwtError::PayloadSyntax)?
    } else {
        match serde_json::from_str::<Value>(&payload_text) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => Value::String(payload_text),
        }
    };
    if signature.is_empty() {
        return Err(JwtError::SignatureRequired);
    }
    if header.get("alg").and_then(Value::as_str) != Some(options.algorithm.name()) {
        return Err(JwtError::InvalidAlgorithm);
    }
    if key.algorithm() != options.algorithm {
        return Err(JwtError::InvalidSignature);
    }
    let signed_len = header_b64.len() + 1 + payload_b64.len();
    let expected = key.sign(&token.as_bytes()[..signed_len]);
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(JwtError::InvalidSignature);
    }
    let now = now as f64;
    if let Some(nbf) = payload.get("nbf") {
        let nbf = nbf.as_f64().ok_or(JwtError::InvalidNbf)?;
        if nbf > now {
            return Err(JwtError::NotActive {
                date: iso_from_millis(nbf * 1000.0),
            });
        }
    }
    if let Some(exp) = payload.get("exp") {
        let exp = exp.as_f64().ok_or(JwtError::InvalidExp)?;
        if now >= exp {
            return Err(JwtError::Expired {
                expired_at: iso_from_millis(exp * 1000.0),
            });
        }
    }
    if let Some(audience) = options.audience.as_deref().filter(|a| !a.is_empty()) {
        let matches = match payload.get("aud") {
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            Some(aud) => aud.as_str() == Some(audience),
            None => false,
        };
        if !matches {
            return Err(JwtError::AudienceInvalid {
                expected: audience.to_owned(),
            });
        }
    }
    if let Some(issuer) = options.issuer.as_deref().filter(|i| !i.is_empty()) {
        if payload.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(JwtError::IssuerInvalid {
                expected: issuer.to_owned(),
            });
        }
    }
    Ok(TokenPayload(payload))
}

/// Decodes the payload of `token` without verifying anything (`jsonwebtoken.decode`), for
/// tokens Roost has just signed itself.
pub fn decode_unverified(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&decode_base64_lenient(payload)).ok()
}

/// Node's `Buffer.from(s, 'base64')`: both alphabets, characters outside them skipped,
/// stops at `=`, a dangling sixth of a byte dropped. Never fails.
fn decode_base64_lenient(input: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in input.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Compares two byte strings without an early exit on the first difference (lengths are
/// public: a base64url HMAC has a fixed length per algorithm).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `new Date(ms).toJSON()`: `YYYY-MM-DDTHH:mm:ss.sssZ` (six-digit signed years outside
/// 0–9999), or `None` (JSON `null`) for an invalid date.
pub(crate) fn iso_from_millis(ms: f64) -> Option<String> {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return None;
    }
    let ms = ms.trunc() as i64;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", -year)
    } else {
        format!("+{year:06}")
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
    ))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_core::json;

    const SECRET: &[u8] = b"roost-test-secret";
    const NOW: u64 = 1_700_000_000;

    fn options() -> VerifyOptions {
        VerifyOptions {
            algorithm: Algorithm::HS256,
            audience: Some("https://yourdomain.com".into()),
            issuer: None,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn token(v: Value) -> String {
        sign(&claims(v), Algorithm::HS256, "access", SECRET)
    }

    #[test]
    fn round_trip_and_header() {
        let t = token(
            json!({"iat": NOW, "exp": NOW + 10, "aud": "https://yourdomain.com", "sub": "1"}),
        );
        let header = t.split('.').next().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).unwrap(),
            br#"{"alg":"HS256","typ":"access"}"#
        );
        let p = verify(&t, SECRET, &options(), NOW).unwrap();
        assert_eq!(p.sub(), Some("1"));
        assert_eq!(p.exp(), Some((NOW + 10) as f64));
    }

    fn err(t: &str) -> JwtError {
        verify(t, SECRET, &options(), NOW).unwrap_err()
    }

    #[test]
    fn messages_follow_jsonwebtoken() {
        assert_eq!(err("").to_string(), "jwt must be provided");
        assert_eq!(err("abc").to_string(), "jwt malformed");
        assert_eq!(err("a.b.c.d").to_string(), "jwt malformed");
        assert_eq!(err("a.b.c").to_string(), "invalid token");
        assert_eq!(err("..").to_string(), "invalid token");
        assert_eq!(err("a+.b.c").to_string(), "invalid token");
        let good = token(json!({"aud": "https://yourdomain.com"}));
        let (input, _) = good.rsplit_once('.').unwrap();
        assert_eq!(
            err(&format!("{input}.")).to_string(),
            "jwt signature is required"
        );
        assert_eq!(
            err(&format!("{input}.AAAA")).to_string(),
            "invalid signature"
        );
        let hs512 = sign(&claims(json!({})), Algorithm::HS512, "access", SECRET);
        assert_eq!(err(&hs512).to_string(), "invalid algorithm");
        let other = sign(&claims(json!({})), Algorithm::HS256, "access", b"other");
        assert_eq!(err(&other).to_string(), "invalid signature");
        assert_eq!(
            err(&token(json!({"aud": "x"}))).to_string(),
            "jwt audience invalid. expected: https://yourdomain.com"
        );
        assert_eq!(
            err(&token(json!({}))).to_string(),
            "jwt audience invalid. expected: https://yourdomain.com"
        );
        assert_eq!(
            err(&token(json!({"exp": "soon"}))).to_string(),
            "invalid exp value"
        );
        assert_eq!(
            err(&token(json!({"nbf": "x"}))).to_string(),
            "invalid nbf value"
        );
        let mut issuer = options();
        issuer.issuer = Some("feathers".into());
        let e = verify(&good, SECRET, &issuer, NOW).unwrap_err();
        assert_eq!(e.to_string(), "jwt issuer invalid. expected: feathers");
    }

    #[test]
    fn expiry_carries_expired_at() {
        let t = token(json!({"exp": 1_600_000_000.5, "aud": "https://yourdomain.com"}));
        let e = err(&t);
        assert_eq!(
            e,
            JwtError::Expired {
                expired_at: Some("2020-09-13T12:26:40.500Z".into())
            }
        );
        let wire = Error::from(e).to_json();
        assert_eq!(wire["code"], 401);
        assert_eq!(wire["message"], "jwt expired");
        assert_eq!(
            wire["data"],
            json!({"name": "TokenExpiredError", "expiredAt": "2020-09-13T12:26:40.500Z"})
        );
        // exp == now is already expired (`>=`).
        let t = token(json!({"exp": NOW, "aud": "https://yourdomain.com"}));
        assert!(matches!(err(&t), JwtError::Expired { .. }));
        let wire = Error::from(JwtError::Malformed).to_json();
        assert_eq!(wire["data"], json!({"name": "JsonWebTokenError"}));
    }

    #[test]
    fn a_key_made_once_signs_and_verifies_like_the_secret() {
        let key = SigningKey::new(Algorithm::HS256, SECRET);
        let claims = claims(json!({"aud": "https://yourdomain.com", "sub": "1"}));
        let t = sign_with(&claims, &key, "access");
        assert_eq!(t, sign(&claims, Algorithm::HS256, "access", SECRET));
        assert_eq!(
            verify_with(&t, &key, &options(), NOW).unwrap().sub(),
            Some("1")
        );
        // The same key twice: nothing of the first token stays in it.
        assert!(verify_with(&t, &key, &options(), NOW).is_ok());
        let other = SigningKey::new(Algorithm::HS256, b"other");
        assert_eq!(
            verify_with(&t, &other, &options(), NOW).unwrap_err(),
            JwtError::InvalidSignature
        );
        let wrong_alg = SigningKey::new(Algorithm::HS512, SECRET);
        assert_eq!(
            verify_with(&t, &wrong_alg, &options(), NOW).unwrap_err(),
            JwtError::InvalidSignature
        );
        assert!(!format!("{key:?}").contains("roost-test-secret"));
    }

    #[test]
    fn alg_none_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"aud":"https://yourdomain.com"}"#);
        assert_eq!(
            err(&format!("{header}.{payload}.")),
            JwtError::SignatureRequired
        );
        assert_eq!(
            err(&format!("{header}.{payload}.abc")),
            JwtError::InvalidAlgorithm
        );
    }

    #[test]
    fn falsy_or_non_json_headers_are_invalid_tokens() {
        for header in ["0", "null", "false", "\"\"", "{", "nope"] {
            let h = URL_SAFE_NO_PAD.encode(header);
            assert_eq!(
                err(&format!("{h}.e30.abc")),
                JwtError::InvalidToken,
                "{header}"
            );
        }
        // A truthy non-object header has no `alg`.
        let h = URL_SAFE_NO_PAD.encode("[1]");
        assert_eq!(err(&format!("{h}.e30.abc")), JwtError::InvalidAlgorithm);
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(err(&format!("{h}.bm9wZQ.abc")), JwtError::PayloadSyntax);
    }

    #[test]
    fn lenient_base64_and_dates() {
        assert_eq!(decode_base64_lenient("aGk"), b"hi");
        assert_eq!(decode_base64_lenient("aGk=xx"), b"hi");
        assert_eq!(decode_base64_lenient("a"), b"");
        assert_eq!(decode_base64_lenient("_-8"), vec![0xff, 0xef]);
        assert_eq!(
            iso_from_millis(0.0).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(
            iso_from_millis(-1.0).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        assert_eq!(
            iso_from_millis(253_402_300_800_000.0).as_deref(),
            Some("+010000-01-01T00:00:00.000Z")
        );
        assert_eq!(
            iso_from_millis(-62_198_755_200_000.0).as_deref(),
            Some("-000001-01-01T00:00:00.000Z")
        );
        assert_eq!(iso_from_millis(9e15), None);
        assert_eq!(iso_from_millis(f64::NAN), None);
    }
}
