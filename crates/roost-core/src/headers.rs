//! [`HandshakeHeaders`]: the headers of a real-time connection's handshake, stored compactly.
//! A leaf module: it depends on nothing else in the crate.

use serde_json::{Map, Value};
use std::fmt;

/// The headers of a connection's handshake, kept compactly: every lower-case name and value
/// in one string, and where each ends. `connection.headers` / `params.headers` (a JSON map)
/// is built from them when it is read, so an idle connection does not keep a `serde_json`
/// map of strings (about 1 KiB for five headers) alive.
///
/// Repeated names are kept as they came and joined with `", "` when the map is built, as
/// Node does ([`HandshakeHeaders::to_map`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HandshakeHeaders {
    /// Names and values, one after the other: name₀ value₀ name₁ value₁ …
    text: Box<str>,
    /// Where each name and each value ends in `text`.
    ends: Box<[u32]>,
}

impl HandshakeHeaders {
    /// Headers from `(name, value)` pairs in the order received. Names are lower-cased
    /// (ASCII), as Node reports them.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut text = String::new();
        let mut ends = Vec::new();
        for (name, value) in pairs {
            let start = text.len();
            text.push_str(name.as_ref());
            text[start..].make_ascii_lowercase();
            let name_end = text.len();
            text.push_str(value.as_ref());
            // Handshakes are bounded far below 4 GiB by the HTTP server; a larger one is cut
            // rather than mis-indexed.
            let (Ok(name_end), Ok(value_end)) =
                (u32::try_from(name_end), u32::try_from(text.len()))
            else {
                text.truncate(start);
                tracing::warn!("handshake headers over 4 GiB; the rest are dropped");
                break;
            };
            ends.push(name_end);
            ends.push(value_end);
        }
        HandshakeHeaders {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// The `(name, value)` pairs in the order received (repeated names not joined).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut start = 0usize;
        self.ends.chunks_exact(2).filter_map(move |pair| {
            let (name_end, value_end) = (pair[0] as usize, pair[1] as usize);
            let name = self.text.get(start..name_end)?;
            let value = self.text.get(name_end..value_end)?;
            start = value_end;
            Some((name, value))
        })
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The headers as Feathers sees them: lower-case names, string values, repeated names
    /// joined with `", "` in the order received (Node's `IncomingMessage.headers`).
    pub fn to_map(&self) -> Map<String, Value> {
        // Sized up front: every call on a connection builds this map (`params.headers`).
        let mut map = Map::with_capacity(self.len());
        for (name, value) in self.iter() {
            match map.get_mut(name) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(value);
                }
                _ => {
                    map.insert(name.to_owned(), Value::String(value.to_owned()));
                }
            }
        }
        map
    }
}

impl fmt::Debug for HandshakeHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
