//! Primus frames with the `json` parser and the `primus-emitter` plugin (docs/protocol.md §2–§7,
//! §10), as pure functions: [`decode`] one websocket text frame, `encode_*` the frames a
//! server sends.
//!
//! One text frame carries `JSON.stringify(value)`. Primus' own control messages are JSON
//! *strings* (`"primus::ping::1795541829604"`, quotes included); everything else the emitter
//! wraps into a packet:
//!
//! | packet | wire form (key order as the reference writes it) |
//! |---|---|
//! | EVENT | `{"type":0,"data":["<event>",arg…]}`, plus `"id":<n>` when the sender wants an ack |
//! | ACK   | `{"id":<n>,"type":1,"data":[arg…]}` |
//!
//! Decoding has three outcomes: a [`Message`], a frame that the reference silently
//! [`Ignored`] (wrong shapes, reserved names, unknown control messages), and a [`Malformed`]
//! frame (not JSON at all), which the reference ignores as well but which transports count
//! separately.

use serde_json::{Number, Value};
use std::fmt;

/// Prefix of the heartbeat the server sends (`"primus::ping::<ms>"`).
pub const PING_PREFIX: &str = "primus::ping::";
/// Prefix of the client's heartbeat answer (`"primus::pong::<ms>"`).
pub const PONG_PREFIX: &str = "primus::pong::";
/// The client's request for its spark id, and the prefix of the answer.
pub const ID_PREFIX: &str = "primus::id::";
/// What the server sends before it closes a connection on purpose; the client then does not
/// reconnect.
pub const SERVER_CLOSE: &str = "primus::server::close";
/// Every Primus control message starts with this.
pub const PROTOCOL_PREFIX: &str = "primus::";

/// emitter packet type of an event.
pub const TYPE_EVENT: u64 = 0;
/// emitter packet type of an acknowledgement.
pub const TYPE_ACK: u64 = 1;

/// Event names the server side of primus-emitter never delivers (docs/protocol.md §5).
pub const SERVER_RESERVED_EVENTS: [&str; 5] =
    ["data", "end", "error", "heartbeat", "readyStateChange"];

/// Event names a client never delivers to its listeners (docs/protocol.md §5); a server must not
/// use them for events it sends.
pub const CLIENT_RESERVED_EVENTS: [&str; 15] = [
    "open",
    "close",
    "end",
    "data",
    "error",
    "reconnect",
    "reconnected",
    "reconnect scheduled",
    "reconnect timeout",
    "reconnect failed",
    "readyStateChange",
    "online",
    "offline",
    "timeout",
    "destroy",
];

/// Whether the server side of primus-emitter ignores events called `name`.
pub fn is_server_reserved(name: &str) -> bool {
    SERVER_RESERVED_EVENTS.contains(&name)
        || name.starts_with("incoming::")
        || name.starts_with("outgoing::")
}

/// The id of an emitter packet that wants (or answers) an ack: always a JSON number, sent back
/// exactly as it arrived (`2147483648`, even `1.5`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AckId(Number);

impl AckId {
    /// The number as it travels.
    pub fn as_number(&self) -> &Number {
        &self.0
    }

    /// JavaScript truthiness of a number id: `0` means "no ack".
    fn truthy(n: &Number) -> bool {
        n.as_f64().is_some_and(|f| f != 0.0)
    }
}

impl From<u64> for AckId {
    fn from(n: u64) -> Self {
        AckId(Number::from(n))
    }
}

impl fmt::Display for AckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A frame a server acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `"primus::pong::<n>"`: the heartbeat answer; the number is not checked.
    Pong(String),
    /// `"primus::ping::<n>"`: a ping from the peer (servers only count pongs).
    Ping(String),
    /// `"primus::id::"`: the client asks for its spark id.
    IdRequest,
    /// An emitter EVENT: `send(name, ...args[, ack])`.
    Event {
        /// The event name (for Feathers calls, the method name).
        name: String,
        /// The arguments after the name.
        args: Vec<Value>,
        /// Present when the sender wants an answer.
        ack: Option<AckId>,
    },
    /// An emitter ACK answering a packet this side sent.
    Ack {
        /// The id being answered.
        id: AckId,
        /// The answer's arguments.
        args: Vec<Value>,
    },
}

/// Why a well-formed JSON frame was ignored, as the reference ignores it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// A string starting with `primus::` that is no known control message.
    UnknownProtocol,
    /// Any other JSON string (`"hello"`).
    PlainString,
    /// A JSON value that is no emitter packet (no object, or no `type` 0/1).
    NotAPacket,
    /// `data` is missing or not an array.
    DataNotArray,
    /// A truthy `id` that is not a number (`"id":"5"`), or an ACK without a number id.
    BadAckId,
    /// An EVENT without a string name.
    NoEventName,
    /// An EVENT whose name is reserved on the server.
    ReservedEvent,
}

/// A frame that is not a JSON text at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The frame is not valid JSON (or not UTF-8, or nested deeper than the JSON parser allows).
    #[error("frame is not JSON: {0}")]
    Json(String),
    /// Valid JSON nested deeper than the parser allows (128 levels) in an EVENT: the call
    /// cannot be run, but its ack id (when it has one) is known, so the caller can answer
    /// with an error instead of leaving the client's promise pending.
    #[error("frame is nested too deeply")]
    TooDeep {
        /// The EVENT's ack id, when it asked for one.
        ack: Option<AckId>,
    },
}

/// The top level of a packet, everything below it skipped (serde_json skips values without
/// recursion, so depth costs nothing here).
#[derive(serde::Deserialize)]
struct PacketHead {
    #[serde(rename = "type")]
    kind: Option<Number>,
    id: Option<Value>,
}

/// What one frame decodes to when it is JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A message to act on.
    Message(Message),
    /// A frame the reference ignores without a word.
    Ignored(Ignored),
}

/// Decodes one text frame. Never panics, whatever the bytes.
pub fn decode(frame: &[u8]) -> Result<Decoded, Malformed> {
    let value: Value = match serde_json::from_slice(frame) {
        Ok(value) => value,
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            return Err(too_deep(frame).unwrap_or(Malformed::Json(e.to_string())));
        }
        Err(e) => return Err(Malformed::Json(e.to_string())),
    };
    Ok(match value {
        Value::String(text) => decode_protocol(&text),
        Value::Object(mut packet) => {
            let kind = packet.get("type").and_then(packet_type);
            let Some(kind) = kind else {
                return Ok(Decoded::Ignored(Ignored::NotAPacket));
            };
            let Some(Value::Array(data)) = packet.remove("data") else {
                return Ok(Decoded::Ignored(Ignored::DataNotArray));
            };
            let id = packet.remove("id");
            match kind {
                TYPE_EVENT => decode_event(data, id),
                _ => decode_ack(data, id),
            }
        }
        _ => Decoded::Ignored(Ignored::NotAPacket),
    })
}

/// The ack id of `frame` when it is an EVENT asking for one, read from its top level only:
/// the `data` below is skipped without building anything, so any size or depth costs no
/// more than a scan. For frames refused before they are decoded.
pub fn event_ack_id(frame: &[u8]) -> Option<AckId> {
    match too_deep(frame)? {
        Malformed::TooDeep { ack } => ack,
        Malformed::Json(_) => None,
    }
}

/// A frame too deep for the parser: [`Malformed::TooDeep`] when it is an EVENT (with its ack
/// id), `None` when it is no valid JSON at all.
fn too_deep(frame: &[u8]) -> Option<Malformed> {
    let head: PacketHead = serde_json::from_slice(frame).ok()?;
    let is_event = head
        .kind
        .as_ref()
        .is_some_and(|k| packet_type(&Value::Number(k.clone())) == Some(TYPE_EVENT));
    if !is_event {
        return None;
    }
    Some(Malformed::TooDeep {
        ack: event_ack(head.id).ok().flatten(),
    })
}

/// `type` 0 or 1 as a JavaScript number (`0.0` is `0`); anything else is no packet.
fn packet_type(value: &Value) -> Option<u64> {
    let f = value.as_f64()?;
    if f == 0.0 {
        Some(TYPE_EVENT)
    } else if f == 1.0 {
        Some(TYPE_ACK)
    } else {
        None
    }
}

fn decode_protocol(text: &str) -> Decoded {
    let Some(rest) = text.strip_prefix(PROTOCOL_PREFIX) else {
        return Decoded::Ignored(Ignored::PlainString);
    };
    if let Some(n) = rest.strip_prefix("pong::") {
        Decoded::Message(Message::Pong(n.to_owned()))
    } else if let Some(n) = rest.strip_prefix("ping::") {
        Decoded::Message(Message::Ping(n.to_owned()))
    } else if rest.starts_with("id::") {
        Decoded::Message(Message::IdRequest)
    } else {
        Decoded::Ignored(Ignored::UnknownProtocol)
    }
}

/// The ack id of an EVENT: a truthy id must be a number, a falsy one means "no ack".
fn event_ack(id: Option<Value>) -> Result<Option<AckId>, Ignored> {
    match id {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::Number(n)) if AckId::truthy(&n) => Ok(Some(AckId(n))),
        Some(Value::Number(_)) => Ok(None),
        Some(_) => Err(Ignored::BadAckId),
    }
}

fn decode_event(data: Vec<Value>, id: Option<Value>) -> Decoded {
    let ack = match event_ack(id) {
        Ok(ack) => ack,
        Err(why) => return Decoded::Ignored(why),
    };
    let mut args = data.into_iter();
    let Some(Value::String(name)) = args.next() else {
        return Decoded::Ignored(Ignored::NoEventName);
    };
    if is_server_reserved(&name) {
        return Decoded::Ignored(Ignored::ReservedEvent);
    }
    Decoded::Message(Message::Event {
        name,
        args: args.collect(),
        ack,
    })
}

fn decode_ack(data: Vec<Value>, id: Option<Value>) -> Decoded {
    match id {
        Some(Value::Number(n)) => Decoded::Message(Message::Ack {
            id: AckId(n),
            args: data,
        }),
        _ => Decoded::Ignored(Ignored::BadAckId),
    }
}

/// Appends `value` as JSON. Serialising a `Value` into memory cannot fail (keys are strings,
/// numbers are finite); should it ever, `null` keeps the frame valid JSON.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

/// Replaces raw U+2028 and U+2029 with `\u2028` / `\u2029`, as Primus does before it writes
/// (they can only occur inside JSON strings, where the escape means the same).
fn escape_separators(json: Vec<u8>) -> Vec<u8> {
    let is_separator = |w: &[u8]| w[0] == 0xE2 && w[1] == 0x80 && (w[2] == 0xA8 || w[2] == 0xA9);
    // Most frames have no 0xE2 byte at all: one memchr-style scan instead of a window test
    // per byte.
    if !json.contains(&0xE2) || !json.windows(3).any(is_separator) {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 8);
    let mut i = 0;
    while i < json.len() {
        if json.len() - i >= 3 && is_separator(&json[i..i + 3]) {
            out.extend_from_slice(if json[i + 2] == 0xA8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
            i += 3;
        } else {
            out.push(json[i]);
            i += 1;
        }
    }
    out
}

/// An EVENT without ack id carrying one payload: `{"type":0,"data":["<name>",payload]}`
/// (service events, `spark.send(name, data)`).
pub fn encode_event(name: &str, payload: &Value) -> Vec<u8> {
    encode_event_args(name, std::slice::from_ref(payload))
}

/// An EVENT without ack id: `{"type":0,"data":["<name>",args…]}`.
pub fn encode_event_args(name: &str, args: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(b"{\"type\":0,\"data\":[");
    write_json(&mut out, name);
    for arg in args {
        out.push(b',');
        write_json(&mut out, arg);
    }
    out.extend_from_slice(b"]}");
    escape_separators(out)
}

/// An EVENT that wants an ack, as a client sends a Feathers call (docs/protocol.md §6):
/// `{"type":0,"data":["<name>",args…],"id":<n>}`.
pub fn encode_call(name: &str, args: &[Value], id: &AckId) -> Vec<u8> {
    let mut out = encode_event_args(name, args);
    // `encode_event_args` ends with `}`: reopen the object for the id.
    out.pop();
    out.extend_from_slice(b",\"id\":");
    write_json(&mut out, &id.0);
    out.push(b'}');
    out
}

fn encode_ack(id: &AckId, args: &[&Value]) -> Vec<u8> {
    // Room for a small record: an ack of `get` does not regrow the buffer.
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"id\":");
    write_json(&mut out, &id.0);
    out.extend_from_slice(b",\"type\":1,\"data\":[");
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(&mut out, *arg);
    }
    out.extend_from_slice(b"]}");
    escape_separators(out)
}

/// A successful call's ACK: `{"id":N,"type":1,"data":[null,result]}`.
pub fn encode_ack_ok(id: &AckId, result: &Value) -> Vec<u8> {
    encode_ack(id, &[&Value::Null, result])
}

/// A failed call's ACK, error first and alone: `{"id":N,"type":1,"data":[error]}`.
pub fn encode_ack_err(id: &AckId, error: &Value) -> Vec<u8> {
    encode_ack(id, &[error])
}

/// The heartbeat: `"primus::ping::<ms>"` with `Date.now()`.
pub fn encode_ping(unix_ms: u64) -> Vec<u8> {
    format!("\"{PING_PREFIX}{unix_ms}\"").into_bytes()
}

/// `"primus::server::close"`: the server ends the connection on purpose.
pub fn encode_server_close() -> Vec<u8> {
    format!("\"{SERVER_CLOSE}\"").into_bytes()
}

/// The answer to `"primus::id::"`: `"primus::id::<spark id>"`.
pub fn encode_id(spark_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(spark_id.len() + 16);
    write_json(&mut out, &format!("{ID_PREFIX}{spark_id}"));
    escape_separators(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    fn decoded(frame: &str) -> Decoded {
        decode(frame.as_bytes()).unwrap()
    }

    fn event(name: &str, args: Vec<Value>, ack: Option<u64>) -> Decoded {
        Decoded::Message(Message::Event {
            name: name.to_owned(),
            args,
            ack: ack.map(AckId::from),
        })
    }

    #[test]
    fn control_messages() {
        assert_eq!(
            decoded(r#""primus::pong::1795541829604""#),
            Decoded::Message(Message::Pong("1795541829604".into()))
        );
        assert_eq!(
            decoded(r#""primus::ping::12""#),
            Decoded::Message(Message::Ping("12".into()))
        );
        assert_eq!(
            decoded(r#""primus::id::""#),
            Decoded::Message(Message::IdRequest)
        );
        assert_eq!(
            decoded(r#""primus::foo::bar""#),
            Decoded::Ignored(Ignored::UnknownProtocol)
        );
        assert_eq!(
            decoded(r#""hello""#),
            Decoded::Ignored(Ignored::PlainString)
        );
        // Without the JSON quotes it is no JSON at all.
        assert!(decode(b"primus::pong::1").is_err());
    }

    #[test]
    fn feathers_calls_as_captured() {
        assert_eq!(
            decoded(r#"{"type":0,"data":["get","messages",9999,{}],"id":19}"#),
            event(
                "get",
                vec![json!("messages"), json!(9999), json!({})],
                Some(19)
            )
        );
        assert_eq!(
            decoded(r#"{"type":0,"data":["find","messages"]}"#),
            event("find", vec![json!("messages")], None)
        );
        let Decoded::Message(Message::Event { ack: Some(id), .. }) =
            decoded(r#"{"type":0,"data":["x"],"id":2147483648}"#)
        else {
            panic!()
        };
        assert_eq!(id.to_string(), "2147483648");
    }

    #[test]
    fn ack_ids_must_be_numbers_when_truthy() {
        for falsy in ["0", "null", "false", "\"\"", "0.0"] {
            let frame = format!(r#"{{"type":0,"data":["find","m"],"id":{falsy}}}"#);
            assert_eq!(
                decoded(&frame),
                event("find", vec![json!("m")], None),
                "{falsy}"
            );
        }
        for bad in ["\"5\"", "true", "[]", "{}"] {
            let frame = format!(r#"{{"type":0,"data":["find","m"],"id":{bad}}}"#);
            assert_eq!(
                decoded(&frame),
                Decoded::Ignored(Ignored::BadAckId),
                "{bad}"
            );
        }
    }

    #[test]
    fn wrong_shapes_are_ignored() {
        let cases = [
            ("42", Ignored::NotAPacket),
            ("[0,1]", Ignored::NotAPacket),
            ("null", Ignored::NotAPacket),
            (r#"{"data":["find"]}"#, Ignored::NotAPacket),
            (r#"{"type":"0","data":["find"]}"#, Ignored::NotAPacket),
            (r#"{"type":2,"data":["find"]}"#, Ignored::NotAPacket),
            (r#"{"type":0,"data":"find"}"#, Ignored::DataNotArray),
            (r#"{"type":0}"#, Ignored::DataNotArray),
            (r#"{"type":0,"data":[]}"#, Ignored::NoEventName),
            (r#"{"type":0,"data":[7,"m"]}"#, Ignored::NoEventName),
            (r#"{"type":1,"data":[null]}"#, Ignored::BadAckId),
        ];
        for (frame, why) in cases {
            assert_eq!(decoded(frame), Decoded::Ignored(why), "{frame}");
        }
    }

    #[test]
    fn reserved_event_names_are_ignored() {
        for name in [
            "data",
            "end",
            "error",
            "heartbeat",
            "readyStateChange",
            "incoming::ping",
            "outgoing::x",
        ] {
            let frame = format!(r#"{{"type":0,"data":["{name}"],"id":1}}"#);
            assert_eq!(
                decoded(&frame),
                Decoded::Ignored(Ignored::ReservedEvent),
                "{name}"
            );
        }
        // Client-only reserved names reach the server.
        assert!(matches!(
            decoded(r#"{"type":0,"data":["open"]}"#),
            Decoded::Message(Message::Event { .. })
        ));
    }

    #[test]
    fn client_acks_decode() {
        assert_eq!(
            decoded(r#"{"id":3,"type":1,"data":[null,1]}"#),
            Decoded::Message(Message::Ack {
                id: AckId::from(3),
                args: vec![Value::Null, json!(1)]
            })
        );
    }

    #[test]
    fn encoders_match_the_capture() {
        assert_eq!(
            text(encode_event(
                "messages typing",
                &json!({"roomId":"r1","email":"alice@example.com"})
            )),
            r#"{"type":0,"data":["messages typing",{"roomId":"r1","email":"alice@example.com"}]}"#
        );
        assert_eq!(
            text(encode_ack_ok(
                &AckId::from(18),
                &json!({"text":"Hello","id":1})
            )),
            r#"{"id":18,"type":1,"data":[null,{"text":"Hello","id":1}]}"#
        );
        assert_eq!(
            text(encode_ack_ok(&AckId::from(5), &Value::Null)),
            r#"{"id":5,"type":1,"data":[null,null]}"#
        );
        let err = json!({"name":"NotFound","message":"No record found for id '9999'","code":404,"className":"not-found"});
        assert_eq!(
            text(encode_ack_err(&AckId::from(19), &err)),
            r#"{"id":19,"type":1,"data":[{"name":"NotFound","message":"No record found for id '9999'","code":404,"className":"not-found"}]}"#
        );
        assert_eq!(
            text(encode_ping(1795541829604)),
            r#""primus::ping::1795541829604""#
        );
        assert_eq!(text(encode_server_close()), r#""primus::server::close""#);
        assert_eq!(
            text(encode_id("IS-ELP4H5hCxIm5NHh0Rq")),
            r#""primus::id::IS-ELP4H5hCxIm5NHh0Rq""#
        );
        assert_eq!(
            text(encode_event_args("x", &[])),
            r#"{"type":0,"data":["x"]}"#
        );
    }

    #[test]
    fn calls_carry_their_ack_id_last() {
        let frame = encode_call(
            "get",
            &[json!("messages"), json!(9999), json!({})],
            &AckId::from(19),
        );
        assert_eq!(
            text(frame.clone()),
            r#"{"type":0,"data":["get","messages",9999,{}],"id":19}"#
        );
        assert_eq!(
            decode(&frame).unwrap(),
            event(
                "get",
                vec![json!("messages"), json!(9999), json!({})],
                Some(19)
            )
        );
    }

    #[test]
    fn line_separators_are_escaped() {
        let frame = text(encode_event(
            "a\u{2028}b",
            &json!({"t": "x\u{2029}y\u{2028}"}),
        ));
        assert_eq!(
            frame,
            r#"{"type":0,"data":["a\u2028b",{"t":"x\u2029y\u2028"}]}"#
        );
        assert_eq!(
            decoded(&frame),
            event("a\u{2028}b", vec![json!({"t": "x\u{2029}y\u{2028}"})], None)
        );
    }

    #[test]
    fn a_deep_event_keeps_its_ack_id() {
        let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
        let frame = format!(r#"{{"type":0,"data":["find","m",{deep}],"id":7}}"#);
        assert_eq!(
            decode(frame.as_bytes()),
            Err(Malformed::TooDeep {
                ack: Some(AckId::from(7))
            })
        );
        let frame = format!(r#"{{"data":["find","m",{deep}],"id":8,"type":0}}"#);
        assert_eq!(event_ack_id(frame.as_bytes()), Some(AckId::from(8)));
        let frame = format!(r#"{{"type":0,"data":["find","m",{deep}]}}"#);
        assert_eq!(
            decode(frame.as_bytes()),
            Err(Malformed::TooDeep { ack: None })
        );
        // Not an event, or not JSON once the depth is skipped: plain malformed.
        let frame = format!(r#"{{"type":1,"data":[{deep}],"id":7}}"#);
        assert!(matches!(decode(frame.as_bytes()), Err(Malformed::Json(_))));
        let frame = format!(r#"{{"type":0,"data":[{deep},"id":7}}"#);
        assert!(matches!(decode(frame.as_bytes()), Err(Malformed::Json(_))));
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(decode(deep.as_bytes()).is_err());
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(decode(deep.as_bytes()).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".*") {
            let _ = decode(s.as_bytes());
            let _ = decode(format!("{{\"type\":0,\"data\":[{s}]}}").as_bytes());
            let _ = decode(format!("\"primus::{s}\"").as_bytes());
        }

        #[test]
        fn events_round_trip(name in "[a-z ]{1,12}", payload in json_value()) {
            prop_assume!(!is_server_reserved(&name));
            let frame = encode_event(&name, &payload);
            prop_assert!(std::str::from_utf8(&frame).is_ok());
            prop_assert_eq!(decode(&frame).unwrap(), event(&name, vec![payload], None));
        }

        #[test]
        fn acks_are_valid_json(id in 1u64.., result in json_value()) {
            let frame = encode_ack_ok(&AckId::from(id), &result);
            let back: Value = serde_json::from_slice(&frame).unwrap();
            prop_assert_eq!(back, json!({"id": id, "type": 1, "data": [null, result]}));
        }
    }
}
