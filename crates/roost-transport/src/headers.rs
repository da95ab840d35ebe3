//! Request headers as Feathers sees them: lower-case names, string values (bytes that are
//! not UTF-8 replaced), repeated names joined with `", "` in the order received, as Node's
//! `IncomingMessage.headers` has them. REST builds the map per request ([`header_map`]);
//! the socket transports keep a connection's handshake headers compact
//! ([`handshake_headers`]) and build the same map when it is read.

use axum::http::HeaderMap;
use roost_core::{HandshakeHeaders, Map, Value};

/// A socket connection's handshake headers, kept compact for the connection's life.
pub(crate) fn handshake_headers(headers: &HeaderMap) -> HandshakeHeaders {
    HandshakeHeaders::from_pairs(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes()))),
    )
}

/// `params.headers` of a REST request.
pub(crate) fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                map.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    #[test]
    fn handshake_headers_read_back_as_the_rest_map() {
        let mut headers = HeaderMap::new();
        headers.append("Host", HeaderValue::from_static("127.0.0.1:3030"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.append(
            "Sec-WebSocket-Key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        headers.append(
            HeaderName::from_static("x-latin1"),
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        headers.append("cookie", HeaderValue::from_static("a=1"));
        headers.append("cookie", HeaderValue::from_static("b=2"));
        let compact = handshake_headers(&headers);
        assert_eq!(compact.to_map(), header_map(&headers));
        assert_eq!(
            Value::Object(compact.to_map()),
            serde_json::json!({
                "host": "127.0.0.1:3030",
                "x-forwarded-for": "10.0.0.1, 10.0.0.2",
                "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
                "x-latin1": "caf\u{fffd}",
                "cookie": "a=1, b=2",
            })
        );
        assert_eq!(handshake_headers(&HeaderMap::new()).to_map(), Map::new());
    }
}
