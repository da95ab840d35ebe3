//! Feathers errors: one wire error type with the exact names, codes and class names of
//! `@feathersjs/errors`, serialised as `{name, message, code, className, data?, errors?}` and
//! never with a stack trace.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The result type of every service, hook and adapter call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! kinds {
    ($( $(#[$doc:meta])* $kind:ident = ($code:expr, $class:expr) ),* $(,)?) => {
        /// The Feathers error classes. Each one has a fixed name, HTTP code and className.
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $( $(#[$doc])* $kind, )*
        }

        impl ErrorKind {
            /// Every kind, in the order of `@feathersjs/errors`.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),*];

            /// The error's `name` on the wire, e.g. `"NotFound"`.
            pub fn name(self) -> &'static str {
                match self { $(ErrorKind::$kind => stringify!($kind),)* }
            }

            /// The HTTP status code, e.g. `404`.
            pub fn code(self) -> u16 {
                match self { $(ErrorKind::$kind => $code,)* }
            }

            /// The `className` on the wire, e.g. `"not-found"`.
            pub fn class_name(self) -> &'static str {
                match self { $(ErrorKind::$kind => $class,)* }
            }
        }
    };
}

kinds! {
    /// 400: the request is malformed (bad query, invalid data).
    BadRequest = (400, "bad-request"),
    /// 401: no or invalid credentials.
    NotAuthenticated = (401, "not-authenticated"),
    /// 402.
    PaymentError = (402, "payment-error"),
    /// 403: authenticated but not allowed.
    Forbidden = (403, "forbidden"),
    /// 404: no such record, path or service.
    NotFound = (404, "not-found"),
    /// 405: the method is not available here.
    MethodNotAllowed = (405, "method-not-allowed"),
    /// 406.
    NotAcceptable = (406, "not-acceptable"),
    /// 408: a deadline passed.
    Timeout = (408, "timeout"),
    /// 409.
    Conflict = (409, "conflict"),
    /// 410.
    Gone = (410, "gone"),
    /// 411.
    LengthRequired = (411, "length-required"),
    /// 422.
    Unprocessable = (422, "unprocessable"),
    /// 429: a rate or size limit was hit.
    TooManyRequests = (429, "too-many-requests"),
    /// 500: an internal failure; the cause is logged, not sent.
    GeneralError = (500, "general-error"),
    /// 501.
    NotImplemented = (501, "not-implemented"),
    /// 502.
    BadGateway = (502, "bad-gateway"),
    /// 503: a backend (database, broker) is unavailable.
    Unavailable = (503, "unavailable"),
}

impl ErrorKind {
    /// The kind with this wire `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The kind for an HTTP status code, if Feathers has a class for it.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Feathers error as clients see it.
///
/// Besides the Feathers classes ([`ErrorKind`]) there is the *plain* error
/// ([`Error::plain`], [`Error::other`], `?` on an `std::io::Error` or a `serde_json::Error`):
/// what a Feathers service sends when it throws `new Error('boom')`. It keeps its message and
/// travels as `{"message": "boom"}` (plus `errors` when set) with status 500, as Feathers 5 on
/// Koa answers over REST and every socket transport (docs/feathers-semantics.md §G5, §G6);
/// the official clients rebuild a plain `Error` with that message. In Rust it is a
/// [`ErrorKind::GeneralError`] whose [`Error::is_plain`] is true.
///
/// ```
/// use roost_core::{json, Error, ErrorKind};
///
/// let e = Error::not_found("No record found for id '7'");
/// assert_eq!(e.code(), 404);
/// assert_eq!(e.to_json()["className"], "not-found");
///
/// let plain = Error::plain("boom");
/// assert_eq!(plain.to_json(), json!({"message": "boom"}));
/// assert_eq!((plain.kind, plain.code()), (ErrorKind::GeneralError, 500));
///
/// fn read_config() -> Result<String, Error> {
///     Ok(std::fs::read_to_string("/nonexistent/roost.toml")?)
/// }
/// assert!(read_config().unwrap_err().is_plain());
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", self.display_name())]
pub struct Error {
    /// The class of the error; decides name, code and className.
    pub kind: ErrorKind,
    /// The human-readable message (`"Error"` when none was given, as in Feathers).
    pub message: String,
    /// Extra data, sent as `data` when present.
    pub data: Option<Value>,
    /// Validation errors, sent as `errors` when present.
    pub errors: Option<Value>,
    /// A plain (non-Feathers) error: sent without `name`, `code` and `className`.
    plain: bool,
}

impl Error {
    /// An error of `kind` with `message`; an empty message becomes `"Error"`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.is_empty() {
            message = "Error".to_owned();
        }
        Error {
            kind,
            message,
            data: None,
            errors: None,
            plain: false,
        }
    }

    /// A plain error, as a Feathers service throwing `new Error(message)` sends it: the
    /// message is kept, the wire JSON is `{"message": …}` and the REST status 500.
    pub fn plain(message: impl Into<String>) -> Self {
        let mut error = Error::new(ErrorKind::GeneralError, message);
        error.plain = true;
        error
    }

    /// A plain error carrying the message (`to_string()`) of any other error.
    pub fn other(error: &(dyn std::error::Error + 'static)) -> Self {
        Error::plain(error.to_string())
    }

    /// Whether this is a plain error ([`Error::plain`]).
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    fn display_name(&self) -> &'static str {
        if self.plain {
            "Error"
        } else {
            self.kind.name()
        }
    }

    /// Attaches `data`. As in Feathers' constructor, an object holding `errors` has that key
    /// hoisted into [`Error::errors`]; arrays and other values stay as they are.
    pub fn with_data(mut self, data: Value) -> Self {
        match data {
            Value::Object(mut map) if map.contains_key("errors") => {
                self.errors = map.remove("errors");
                if !map.is_empty() {
                    self.data = Some(Value::Object(map));
                }
            }
            other => self.data = Some(other),
        }
        self
    }

    /// Attaches `errors`.
    pub fn with_errors(mut self, errors: Value) -> Self {
        self.errors = Some(errors);
        self
    }

    /// The HTTP status code of this error.
    pub fn code(&self) -> u16 {
        self.kind.code()
    }

    /// The Feathers JSON form of this error, as the socket transports send it; a plain
    /// error is `{message, data?, errors?}`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if self.plain {
            map.insert("message".into(), self.message.clone().into());
        } else {
            map.insert("name".into(), self.kind.name().into());
            map.insert("message".into(), self.message.clone().into());
            map.insert("code".into(), self.kind.code().into());
            map.insert("className".into(), self.kind.class_name().into());
        }
        if let Some(data) = &self.data {
            map.insert("data".into(), data.clone());
        }
        if let Some(errors) = &self.errors {
            map.insert("errors".into(), errors.clone());
        }
        Value::Object(map)
    }

    /// The JSON body of a REST error answer: [`Error::to_json`], except that a plain error
    /// is only `{message}` (Feathers' Koa error handler drops its other properties).
    pub fn to_rest_json(&self) -> Value {
        if self.plain {
            serde_json::json!({ "message": self.message })
        } else {
            self.to_json()
        }
    }

    /// Rebuilds an error from its Feathers JSON as the JS clients' `convert()` does: a known
    /// `name` gives that error class; anything else (no `name`, as in a non-Feathers
    /// `{message}` body, or an unknown one) is a plain error with the message, `data` and
    /// `errors` kept. `code` is not looked at, as in `convert()` (so a plain `{message}` body is
    /// answered over REST with 500, as Feathers' Koa error handler answers a plain `Error`).
    pub fn from_json(value: &Value) -> Self {
        let obj = value.as_object();
        let field = |k: &str| obj.and_then(|o| o.get(k));
        let message = field("message").and_then(Value::as_str).unwrap_or_default();
        let mut error = match field("name")
            .and_then(Value::as_str)
            .and_then(ErrorKind::from_name)
        {
            Some(kind) => Error::new(kind, message),
            None => Error::plain(message),
        };
        error.data = field("data").cloned();
        error.errors = field("errors").cloned();
        error
    }
}

macro_rules! constructors {
    ($($fn_name:ident => $kind:ident),* $(,)?) => {
        impl Error {
            $(
                #[doc = concat!("A `", stringify!($kind), "` error with `message`.")]
                pub fn $fn_name(message: impl Into<String>) -> Self {
                    Error::new(ErrorKind::$kind, message)
                }
            )*
        }
    };
}

constructors! {
    bad_request => BadRequest,
    not_authenticated => NotAuthenticated,
    payment_error => PaymentError,
    forbidden => Forbidden,
    not_found => NotFound,
    method_not_allowed => MethodNotAllowed,
    not_acceptable => NotAcceptable,
    timeout => Timeout,
    conflict => Conflict,
    gone => Gone,
    length_required => LengthRequired,
    unprocessable => Unprocessable,
    too_many_requests => TooManyRequests,
    general => GeneralError,
    not_implemented => NotImplemented,
    bad_gateway => BadGateway,
    unavailable => Unavailable,
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.plain {
            return self.to_json().serialize(serializer);
        }
        let len = 4 + usize::from(self.data.is_some()) + usize::from(self.errors.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("name", self.kind.name())?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("code", &self.kind.code())?;
        map.serialize_entry("className", self.kind.class_name())?;
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        if let Some(errors) = &self.errors {
            map.serialize_entry("errors", errors)?;
        }
        map.end()
    }
}

impl From<std::io::Error> for Error {
    /// A plain error with the I/O error's message.
    fn from(error: std::io::Error) -> Self {
        Error::other(&error)
    }
}

impl From<serde_json::Error> for Error {
    /// A plain error with the JSON error's message (Feathers: a `SyntaxError` is plain).
    fn from(error: serde_json::Error) -> Self {
        Error::other(&error)
    }
}

impl<'de> Deserialize<'de> for Error {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if !value.is_object() {
            return Err(de::Error::custom("a Feathers error is a JSON object"));
        }
        Ok(Error::from_json(&value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_has_the_feathers_table_entry() {
        let table = [
            ("BadRequest", 400, "bad-request"),
            ("NotAuthenticated", 401, "not-authenticated"),
            ("PaymentError", 402, "payment-error"),
            ("Forbidden", 403, "forbidden"),
            ("NotFound", 404, "not-found"),
            ("MethodNotAllowed", 405, "method-not-allowed"),
            ("NotAcceptable", 406, "not-acceptable"),
            ("Timeout", 408, "timeout"),
            ("Conflict", 409, "conflict"),
            ("Gone", 410, "gone"),
            ("LengthRequired", 411, "length-required"),
            ("Unprocessable", 422, "unprocessable"),
            ("TooManyRequests", 429, "too-many-requests"),
            ("GeneralError", 500, "general-error"),
            ("NotImplemented", 501, "not-implemented"),
            ("BadGateway", 502, "bad-gateway"),
            ("Unavailable", 503, "unavailable"),
        ];
        assert_eq!(ErrorKind::ALL.len(), table.len());
        for (kind, (name, code, class)) in ErrorKind::ALL.iter().zip(table) {
            assert_eq!(
                (kind.name(), kind.code(), kind.class_name()),
                (name, code, class)
            );
            assert_eq!(ErrorKind::from_name(name), Some(*kind));
            assert_eq!(ErrorKind::from_code(code), Some(*kind));
        }
    }

    #[test]
    fn json_has_data_and_errors_only_when_set_and_never_a_stack() {
        let e = Error::not_found("No record found for id '1'");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"name":"NotFound","message":"No record found for id '1'","code":404,"className":"not-found"}"#
        );
        let e = Error::bad_request("Example BadRequest")
            .with_data(json!({"extra": "some data", "errors": {"text": "text is required"}}));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"name":"BadRequest","message":"Example BadRequest","code":400,"className":"bad-request","data":{"extra":"some data"},"errors":{"text":"text is required"}}"#
        );
        assert_eq!(e.to_json(), serde_json::to_value(&e).unwrap());
    }

    #[test]
    fn default_message_is_error_and_array_data_stays_an_array() {
        let e = Error::general("").with_data(json!([1, 2]));
        assert_eq!(e.message, "Error");
        assert_eq!(e.data, Some(json!([1, 2])));
        assert_eq!(e.errors, None);
    }

    #[test]
    fn a_plain_error_keeps_its_message_and_has_no_feathers_fields() {
        let e = Error::plain("boom").with_errors(json!({"a": 1}));
        assert!(e.is_plain());
        assert_eq!(e.to_json(), json!({"message": "boom", "errors": {"a": 1}}));
        assert_eq!(serde_json::to_value(&e).unwrap(), e.to_json());
        assert_eq!(e.to_rest_json(), json!({"message": "boom"}));
        assert_eq!(e.code(), 500);
        assert_eq!(e.to_string(), "Error: boom");
        assert_eq!(Error::general("boom").to_string(), "GeneralError: boom");
        assert!(!Error::general("boom").is_plain());
        let io: Error = std::io::Error::other("disk on fire").into();
        assert_eq!(io.to_json(), json!({"message": "disk on fire"}));
        let bad: Error = serde_json::from_str::<Value>("{").unwrap_err().into();
        assert!(bad.is_plain() && bad.message.contains("EOF"));
    }

    #[test]
    fn round_trips_through_json() {
        let e = Error::not_authenticated("jwt expired").with_data(
            json!({"name": "TokenExpiredError", "expiredAt": "2026-11-24T16:40:44.000Z"}),
        );
        let back: Error = serde_json::from_value(e.to_json()).unwrap();
        assert_eq!(back, e);
        let by_name = Error::from_json(&json!({"name": "NotFound", "message": "m"}));
        assert_eq!(
            (by_name.kind, by_name.is_plain()),
            (ErrorKind::NotFound, false)
        );
    }

    /// `@feathersjs/errors` 5 `convert()` looks only at `name`: `{message: 'boom'}` and
    /// `{name: 'Weird', code: 409}` become a plain `Error`, which Koa answers with 500
    /// `{message}`.
    #[test]
    fn from_json_without_a_feathers_name_is_a_plain_error_as_in_convert() {
        let plain = Error::from_json(&json!({"message": "boom", "data": {"a": 1}}));
        assert!(plain.is_plain());
        assert_eq!(
            (plain.kind, plain.message.as_str(), plain.code()),
            (ErrorKind::GeneralError, "boom", 500)
        );
        assert_eq!(
            plain.to_json(),
            json!({"message": "boom", "data": {"a": 1}})
        );
        assert_eq!(plain.to_rest_json(), json!({"message": "boom"}));
        let unknown = Error::from_json(&json!({"name": "Weird", "code": 409, "message": "m"}));
        assert!(unknown.is_plain());
        assert_eq!(unknown.to_json(), json!({"message": "m"}));
    }
}
