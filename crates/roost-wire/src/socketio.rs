//! The Socket.IO v5 packet codec (docs/protocol.md §13): pure functions over the text of one
//! Engine.IO message. Engine.IO puts its own message type `4` in front, so the `40` and
//! `42[…]` seen on the wire are the packets `0` and `2[…]` here.
//!
//! A packet is `<type>[<attachments>-][/<nsp>,][<ack id>][<json>]`, read exactly as
//! `socket.io-parser` 4 reads it: the type is one digit (`0` CONNECT … `6` BINARY_ACK), a
//! namespace starts with `/` and ends at the first `,`, an ack id is the digits that follow,
//! and the rest, when there is any, must be JSON of the shape the type allows (an object
//! for CONNECT, nothing for DISCONNECT, an array naming a non-reserved event for EVENT, an
//! array for ACK). Anything else is [`PacketError`]: Socket.IO closes such a connection, and
//! so do we. Binary packets (types 5 and 6) are parsed far enough to be recognised and then
//! refused by the transport.

use serde_json::Value;

/// The default namespace, the only one Roost serves.
pub const ROOT_NAMESPACE: &str = "/";

/// The namespace DISCONNECT packet of the default namespace (`41` on the wire).
pub const DISCONNECT: &str = "1";

/// Event names Socket.IO reserves: an EVENT naming one of them is malformed.
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Most digits of an ack id (`u64::MAX` has 20; longer runs are refused before parsing).
const MAX_ACK_DIGITS: usize = 20;

/// The packet types of Socket.IO v5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// `0`: connect to a namespace (optional auth object).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event `[name, ...args]`, with an ack id when the sender wants an answer.
    Event,
    /// `3`: the answer to an event the other side sent.
    Ack,
    /// `4`: a refused namespace connect (server to client only).
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
}

impl PacketType {
    fn from_digit(byte: u8) -> Option<PacketType> {
        Some(match byte {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// Whether the packet announces binary attachments.
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// One decoded packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet<'a> {
    /// The type.
    pub kind: PacketType,
    /// The namespace (`/` when the packet names none).
    pub nsp: &'a str,
    /// The ack id, when there is one.
    pub id: Option<u64>,
    /// The JSON payload, when there is one (validated for the type).
    pub data: Option<Value>,
}

/// Why a packet could not be decoded. The connection that sent it is closed as a protocol
/// error.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The message was empty.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type.
    #[error("unknown packet type")]
    UnknownType,
    /// A binary packet without a valid `<n>-` attachment count.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// An ack id too long for a `u64`.
    #[error("ack id out of range")]
    AckIdOutOfRange,
    /// The payload is not JSON.
    #[error("payload is not JSON")]
    NotJson,
    /// The payload is JSON of a shape the packet type does not allow.
    #[error("invalid payload")]
    InvalidPayload,
    /// An EVENT whose payload is valid JSON nested deeper than the parser allows (128
    /// levels); its ack id, when it has one, so the call can be answered with an error.
    #[error("payload nested too deeply")]
    TooDeep(Option<u64>),
}

/// Decodes one packet from the text of an Engine.IO message.
pub fn parse(text: &str) -> Result<Packet<'_>, PacketError> {
    let (kind, nsp, id, i) = head(text)?;
    let data = if i < text.len() {
        let value: Value = serde_json::from_str(&text[i..]).map_err(|e| {
            // Skipping a value needs no recursion: valid JSON that is only too deep is told
            // apart from garbage.
            let deep_event = kind == PacketType::Event
                && e.to_string().starts_with("recursion limit exceeded")
                && serde_json::from_str::<serde::de::IgnoredAny>(&text[i..]).is_ok();
            if deep_event {
                PacketError::TooDeep(id)
            } else {
                PacketError::NotJson
            }
        })?;
        if !payload_fits(kind, &value) {
            return Err(PacketError::InvalidPayload);
        }
        Some(value)
    } else {
        None
    };
    Ok(Packet {
        kind,
        nsp,
        id,
        data,
    })
}

/// The ack id of an EVENT packet that asks for one, read from the packet's head without
/// parsing its payload (for packets refused before they are decoded).
pub fn event_ack_id(text: &str) -> Option<u64> {
    match head(text) {
        Ok((PacketType::Event, _, id, _)) => id,
        _ => None,
    }
}

/// The type, namespace and ack id of a packet, and where its payload starts.
fn head(text: &str) -> Result<(PacketType, &str, Option<u64>, usize), PacketError> {
    let bytes = text.as_bytes();
    let first = *bytes.first().ok_or(PacketError::Empty)?;
    let kind = PacketType::from_digit(first).ok_or(PacketError::UnknownType)?;
    let mut i = 1;
    if kind.is_binary() {
        let dash = text[i..].find('-').ok_or(PacketError::IllegalAttachments)?;
        let count = &text[i..i + dash];
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PacketError::IllegalAttachments);
        }
        i += dash + 1;
    }
    let mut nsp = ROOT_NAMESPACE;
    if bytes.get(i) == Some(&b'/') {
        let end = text[i..].find(',').map_or(text.len(), |comma| i + comma);
        nsp = &text[i..end];
        i = (end + 1).min(text.len());
    }
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut id = None;
    if digits > 0 {
        if digits > MAX_ACK_DIGITS {
            return Err(PacketError::AckIdOutOfRange);
        }
        let parsed = text[i..i + digits]
            .parse()
            .map_err(|_| PacketError::AckIdOutOfRange)?;
        id = Some(parsed);
        i += digits;
    }
    Ok((kind, nsp, id, i))
}

/// `socket.io-parser`'s `isPayloadValid`.
fn payload_fits(kind: PacketType, value: &Value) -> bool {
    match kind {
        PacketType::Connect => value.is_object(),
        PacketType::Disconnect => false,
        PacketType::ConnectError => value.is_string() || value.is_object(),
        PacketType::Event | PacketType::BinaryEvent => match value.as_array() {
            Some(array) => match array.first() {
                Some(Value::Number(_)) => true,
                Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
                _ => false,
            },
            None => false,
        },
        PacketType::Ack | PacketType::BinaryAck => value.is_array(),
    }
}

/// The namespace prefix of an encoded packet: nothing for `/`, `"/nsp,"` otherwise.
fn push_nsp(out: &mut String, nsp: &str) {
    if nsp != ROOT_NAMESPACE {
        out.push_str(nsp);
        out.push(',');
    }
}

/// `0{"sid":"<sid>"}` (`40{…}` on the wire): the namespace connect succeeded.
pub fn connect(sid: &str) -> String {
    let mut out = String::from("0");
    let mut body = serde_json::Map::new();
    body.insert("sid".to_owned(), Value::String(sid.to_owned()));
    out.push_str(&Value::Object(body).to_string());
    out
}

/// `4[/nsp,]{"message":…[,"data":…]}` (`44…` on the wire): the namespace connect was refused. `data` is sent
/// only when there is some, as `JSON.stringify` drops an undefined `data`.
pub fn connect_error(nsp: &str, message: &str, data: Option<&Value>) -> String {
    let mut out = String::from("4");
    push_nsp(&mut out, nsp);
    let mut body = serde_json::Map::new();
    body.insert("message".to_owned(), Value::String(message.to_owned()));
    if let Some(data) = data {
        body.insert("data".to_owned(), data.clone());
    }
    out.push_str(&Value::Object(body).to_string());
    out
}

/// `2["<name>",<payload>]` (`42[…]` on the wire) with `payload` already serialized: an
/// event.
pub fn event(name: &str, payload: &str) -> String {
    let name = Value::String(name.to_owned()).to_string();
    let mut out = String::with_capacity(name.len() + payload.len() + 4);
    out.push_str("2[");
    out.push_str(&name);
    out.push(',');
    out.push_str(payload);
    out.push(']');
    out
}

/// `3<id>[...args]` (`43<id>[…]` on the wire): the answer to event `id`.
pub fn ack(id: u64, args: &[Value]) -> String {
    let mut out = format!("3{id}");
    // A slice of values always serializes.
    out.push_str(&serde_json::to_string(args).unwrap_or_else(|_| "[]".to_owned()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ok(text: &str) -> Packet<'_> {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn decodes_what_socket_io_client_sends() {
        assert_eq!(
            ok("0"),
            Packet {
                kind: PacketType::Connect,
                nsp: "/",
                id: None,
                data: None
            }
        );
        assert_eq!(ok(r#"0{"token":"x"}"#).data, Some(json!({"token": "x"})));
        assert_eq!(ok("0/admin,").nsp, "/admin");
        assert_eq!(ok(r#"0/admin,{"a":1}"#).data, Some(json!({"a": 1})));
        assert_eq!(ok("1").kind, PacketType::Disconnect);
        let call = ok(r#"212["find","messages",{}]"#);
        assert_eq!(call.kind, PacketType::Event);
        assert_eq!(call.id, Some(12));
        assert_eq!(call.data, Some(json!(["find", "messages", {}])));
        assert_eq!(ok(r#"2["typing",1]"#).id, None);
        assert_eq!(ok(r#"2/chat,7["x"]"#).nsp, "/chat");
        assert_eq!(ok(r#"2/chat,7["x"]"#).id, Some(7));
        assert_eq!(ok(r#"31[null,2]"#).kind, PacketType::Ack);
        assert_eq!(
            ok(r#"51-["up",{"_placeholder":true,"num":0}]"#).kind,
            PacketType::BinaryEvent
        );
        assert_eq!(ok(r#"2[5,"x"]"#).data, Some(json!([5, "x"])));
    }

    #[test]
    fn refuses_what_socket_io_parser_refuses() {
        for (text, error) in [
            ("", PacketError::Empty),
            ("7", PacketError::UnknownType),
            ("x", PacketError::UnknownType),
            ("5[\"x\"]", PacketError::IllegalAttachments),
            ("5-[\"x\"]", PacketError::IllegalAttachments),
            ("5a-[\"x\"]", PacketError::IllegalAttachments),
            ("2abc", PacketError::NotJson),
            ("2[\"find\"", PacketError::NotJson),
            ("299999999999999999999[]", PacketError::AckIdOutOfRange),
            ("2{}", PacketError::InvalidPayload),
            ("2[]", PacketError::InvalidPayload),
            ("2[null]", PacketError::InvalidPayload),
            ("2[\"disconnect\"]", PacketError::InvalidPayload),
            ("0[]", PacketError::InvalidPayload),
            ("0\"x\"", PacketError::InvalidPayload),
            ("1{}", PacketError::InvalidPayload),
            ("3{}", PacketError::InvalidPayload),
        ] {
            assert_eq!(parse(text), Err(error), "{text:?}");
        }
        let deep = format!("2{}\"x\"{}", "[".repeat(3000), "]".repeat(3000));
        assert_eq!(parse(&deep), Err(PacketError::TooDeep(None)));
        let deep = format!("23[\"find\",{}1{}]", "[".repeat(3000), "]".repeat(3000));
        assert_eq!(parse(&deep), Err(PacketError::TooDeep(Some(3))));
        let garbage = format!("23{}", "[".repeat(3000));
        assert_eq!(parse(&garbage), Err(PacketError::NotJson));
    }

    #[test]
    fn encodes_like_socket_io() {
        assert_eq!(connect("abc"), r#"0{"sid":"abc"}"#);
        assert_eq!(
            connect_error(
                "/",
                "jwt malformed",
                Some(&json!({"name": "JsonWebTokenError"}))
            ),
            r#"4{"message":"jwt malformed","data":{"name":"JsonWebTokenError"}}"#
        );
        assert_eq!(
            connect_error("/admin", "Invalid namespace", None),
            r#"4/admin,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            event("messages created", r#"{"id":1}"#),
            r#"2["messages created",{"id":1}]"#
        );
        assert_eq!(event("a\"b", "null"), r#"2["a\"b",null]"#);
        assert_eq!(ack(3, &[Value::Null, json!(7)]), "33[null,7]");
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,64}") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_packet_like_text(
            kind in "[0-9]",
            rest in "(/[a-z]{0,3},?)?[0-9]{0,3}-?[\\[\\]{}\",0-9a-z]{0,24}",
        ) {
            let _ = parse(&format!("{kind}{rest}"));
        }

        #[test]
        fn acks_and_events_round_trip(id in any::<u64>(), n in any::<i64>(), s in ".{0,16}") {
            let args = vec![Value::Null, json!({"n": n, "s": s})];
            let text = ack(id, &args);
            let packet = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(packet.kind, PacketType::Ack);
            prop_assert_eq!(packet.id, Some(id));
            prop_assert_eq!(packet.data, Some(Value::Array(args)));
            let text = event("name", &json!(s).to_string());
            let packet = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(packet.data, Some(json!(["name", s])));
        }
    }
}
