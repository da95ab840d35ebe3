//! Engine.IO 4 packets as a client sends them (docs/protocol.md §13.1): one text packet per
//! websocket message, or several in a long-polling `POST` body separated by the record
//! separator `\x1e`. The first character is the packet type; the rest is its data.
//!
//! ```
//! use roost_wire::engineio::{decode, decode_payload, Packet};
//!
//! assert_eq!(decode("42[\"x\"]"), Some(Packet::Message("2[\"x\"]")));
//! assert_eq!(decode("3"), Some(Packet::Pong));
//! assert_eq!(decode("x"), None);
//! let body: Vec<_> = decode_payload("40\u{1e}3\u{1e}1").collect();
//! assert_eq!(body, [Some(Packet::Message("0")), Some(Packet::Pong), Some(Packet::Close)]);
//! ```

/// The separator between packets in a long-polling payload.
pub const RECORD_SEPARATOR: char = '\u{1e}';

/// One packet from a client, borrowed from the text it arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `1`: the client closes the session.
    Close,
    /// `2…`: a ping from the client (the server treats it as a sign of life, like a pong).
    Ping,
    /// `3…`: the answer to the server's ping.
    Pong,
    /// `4…`: a message; its data is one Socket.IO packet.
    Message(&'a str),
    /// `5`: the upgrade to websocket is complete (only valid during an upgrade).
    Upgrade,
    /// `6`: nothing (ends a waiting poll during an upgrade).
    Noop,
    /// `b…`: a base64 binary message (long-polling only; Roost's Socket.IO layer refuses
    /// binary packets).
    Binary,
}

/// The packet in `text`; `None` for an empty text or an unknown type (`0` open is the
/// server's, never the client's).
pub fn decode(text: &str) -> Option<Packet<'_>> {
    let mut chars = text.chars();
    let packet = match chars.next()? {
        '1' => Packet::Close,
        '2' => Packet::Ping,
        '3' => Packet::Pong,
        '4' => Packet::Message(chars.as_str()),
        '5' => Packet::Upgrade,
        '6' => Packet::Noop,
        'b' => Packet::Binary,
        _ => return None,
    };
    Some(packet)
}

/// The packets of a long-polling `POST` body, in order (`None` for each malformed one).
pub fn decode_payload(body: &str) -> impl Iterator<Item = Option<Packet<'_>>> {
    body.split(RECORD_SEPARATOR).map(decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_a_client_sends() {
        assert_eq!(decode("1"), Some(Packet::Close));
        assert_eq!(decode("2probe"), Some(Packet::Ping));
        assert_eq!(decode("3probe"), Some(Packet::Pong));
        assert_eq!(decode("4"), Some(Packet::Message("")));
        assert_eq!(decode("5"), Some(Packet::Upgrade));
        assert_eq!(decode("6"), Some(Packet::Noop));
        assert_eq!(decode("bAQID"), Some(Packet::Binary));
        assert_eq!(decode(""), None);
        assert_eq!(decode("0"), None);
        assert_eq!(decode("é"), None);
    }

    #[test]
    fn a_payload_keeps_order_and_empty_records() {
        let got: Vec<_> = decode_payload("42[1]\u{1e}\u{1e}2").collect();
        assert_eq!(
            got,
            [Some(Packet::Message("2[1]")), None, Some(Packet::Ping)]
        );
    }
}
