//! Fuzz harnesses: one function per decoder that takes bytes from the network. Each takes
//! arbitrary bytes, runs the decoder the way the server does, and checks what must hold for
//! any input (no panic, no unbounded work, round trips where the format has one). They are
//! called by the cargo-fuzz targets in `fuzz/` (`scripts/fuzz.sh`) and, for a bounded number
//! of random and corpus inputs, by this crate's tests in CI.

use roost_core::query::{Query, QueryLimits};
use roost_core::schema::{FieldType, Schema};
use roost_core::service::Paginate;
use roost_sql::compile::{Compiler, SqlBuf};
use roost_sql::{Dialect, IdType, TableDef};
use roost_wire::primus::{self, Decoded};
use roost_wire::qs::{self, QsOptions};
use serde_json::{Map, Value};

/// One harness: arbitrary bytes in, a panic when something that must hold does not.
pub type Harness = fn(&[u8]);

/// The targets, by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`).
pub const TARGETS: [(&str, Harness); 10] = [
    ("primus_frame", primus_frame),
    ("websocket_frames", websocket_frames),
    ("engineio_payload", engineio_payload),
    ("socketio_packet", socketio_packet),
    ("qs", qs_string),
    ("query_json", query_json),
    ("rest_query", rest_query),
    ("cluster_envelope", cluster_envelope),
    ("feathers_sync", feathers_sync),
    ("flatted", flatted),
];

/// A cluster envelope from Redis (native mode): one that decodes re-encodes to bytes that
/// decode to the same envelope.
pub fn cluster_envelope(data: &[u8]) {
    use roost_core::broker::{Envelope, EnvelopeLimits};
    let limits = EnvelopeLimits::default();
    let Ok(envelope) = Envelope::decode(data, &limits) else {
        return;
    };
    if let Ok(bytes) = envelope.encode(&limits) {
        assert_eq!(
            Envelope::decode(&bytes, &limits),
            Ok(envelope),
            "round trip"
        );
    }
}

/// A message on the feathers-sync key, from a Node pod or a Roost node, in either serializer:
/// a Roost message re-encodes (JSON and flatted) to one that decodes the same.
pub fn feathers_sync(data: &[u8]) {
    use roost_core::broker::EnvelopeLimits;
    use roost_redis::feathers_sync::{decode, encode, Serializer, SyncMessage};
    let limits = EnvelopeLimits::default();
    let Ok(SyncMessage::Roost { envelope, sync_seq }) = decode(data, &limits) else {
        return;
    };
    for serializer in [Serializer::Json, Serializer::Flatted] {
        if let Ok(bytes) = encode(&envelope, sync_seq, serializer, &limits) {
            let again = decode(&bytes, &limits).expect("a message Roost writes decodes");
            assert_eq!(
                again,
                SyncMessage::Roost {
                    envelope: envelope.clone(),
                    sync_seq
                },
                "round trip"
            );
        }
    }
}

/// A flatted text: a value that parses stringifies to a text that parses to the same value.
pub fn flatted(data: &[u8]) {
    use roost_redis::flatted::{parse, stringify, FlattedLimits};
    let limits = FlattedLimits::default();
    let Ok(value) = parse(data, &limits) else {
        return;
    };
    let again = parse(stringify(&value).as_bytes(), &limits).expect("what we write parses");
    assert_eq!(again, value, "round trip");
}

/// A Primus websocket text frame (primus-emitter packets inside Primus' JSON envelope):
/// an emitter call that decodes re-encodes to a frame that decodes to the same call.
pub fn primus_frame(data: &[u8]) {
    let Ok(Decoded::Message(message)) = primus::decode(data) else {
        return;
    };
    if let primus::Message::Event {
        name,
        args,
        ack: Some(id),
    } = &message
    {
        let again = primus::decode(&primus::encode_call(name, args, id));
        assert_eq!(again, Ok(Decoded::Message(message.clone())), "round trip");
    }
}

/// A long-polling body (or one websocket text): the Engine.IO packets as the server splits
/// them; every record is decoded, a message's data is a suffix of its record, and a record
/// decodes the same alone as inside the body.
pub fn engineio_payload(data: &[u8]) {
    use roost_wire::engineio::{self, Packet};
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let records: Vec<&str> = body.split(engineio::RECORD_SEPARATOR).collect();
    let packets: Vec<_> = engineio::decode_payload(body).collect();
    assert_eq!(records.len(), packets.len(), "one packet per record");
    for (record, packet) in records.iter().zip(&packets) {
        assert_eq!(engineio::decode(record), *packet, "alone as in the body");
        if let Some(Packet::Message(data)) = packet {
            assert!(record.ends_with(data) && record.len() == data.len() + 1);
        }
    }
}

/// A client's websocket stream (the first byte picks how reads cut the rest): the same
/// messages, then the same error if any, whether the bytes come in one read or in small
/// pieces; text is UTF-8; what the decoder holds stays within the limits; and once the last
/// message is delivered it holds nothing.
pub fn websocket_frames(data: &[u8]) {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = websocket_run(stream, stream.len().max(1));
    let pieces = websocket_run(stream, usize::from(cut % 32) + 1);
    assert_eq!(whole, pieces, "the same however the reads cut the stream");
}

/// What decoding `stream` in reads of `read` bytes yields: messages (kind and bytes), then
/// the error that stopped it.
fn websocket_run(
    stream: &[u8],
    read: usize,
) -> (Vec<(u8, Vec<u8>)>, Option<roost_wire::websocket::Error>) {
    use roost_wire::websocket::{Decoder, Limits, Message};
    const MAX_FRAME: usize = 1024;
    const MAX_MESSAGE: usize = 4096;
    let mut decoder = Decoder::new(Limits {
        max_frame_size: Some(MAX_FRAME),
        max_message_size: Some(MAX_MESSAGE),
    });
    let mut out = Vec::new();
    for piece in stream.chunks(read) {
        let mut piece = piece.to_vec();
        let len = piece.len();
        let mut at = 0;
        loop {
            let (used, message) = match decoder.decode(&mut piece[at..]) {
                Ok(step) => step,
                Err(e) => return (out, Some(e)),
            };
            at += used;
            let Some(message) = message else {
                assert_eq!(at, len, "no message only when the read is used up");
                break;
            };
            out.push(match message {
                Message::Text(text) => (1, text.as_bytes().to_vec()),
                Message::Binary(bytes) => (2, bytes.to_vec()),
                Message::Close(close) => {
                    let mut body = Vec::new();
                    if let Some((code, reason)) = close {
                        assert!(roost_wire::websocket::close_code_allowed(code));
                        body.extend_from_slice(&code.to_be_bytes());
                        body.extend_from_slice(reason.as_bytes());
                    }
                    (8, body)
                }
                Message::Ping(bytes) => {
                    assert!(bytes.len() <= 125);
                    (9, bytes.to_vec())
                }
                Message::Pong(bytes) => {
                    assert!(bytes.len() <= 125);
                    (10, bytes.to_vec())
                }
            });
            if let Some((kind, bytes)) = out.last() {
                if *kind <= 2 {
                    assert!(bytes.len() <= MAX_MESSAGE, "message over the limit");
                }
            }
        }
        // A frame's bytes (header included) and a message's, grown by doubling.
        assert!(
            decoder.held() <= MAX_FRAME + 14 + 2 * MAX_MESSAGE,
            "{}",
            decoder.held()
        );
    }
    if let Err(e) = decoder.decode(&mut []) {
        return (out, Some(e));
    }
    (out, None)
}

/// A Socket.IO v5 packet (the text of one Engine.IO message): an event with an ack id
/// re-encodes (as the server writes acks and events) to text that parses again.
pub fn socketio_packet(data: &[u8]) {
    use roost_transport::socketio::packet;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = packet::parse(text) else {
        return;
    };
    if let (Some(id), Some(Value::Array(args))) = (parsed.id, &parsed.data) {
        let again = packet::ack(id, args);
        let reparsed = packet::parse(&again).expect("an ack the server writes parses");
        assert_eq!(reparsed.id, Some(id));
        assert_eq!(reparsed.data.as_ref(), Some(&Value::Array(args.clone())));
    }
}

/// A REST query string through the `qs` parser with the server's options: every input
/// parses to an object, nested within a bound set by the depth option.
///
/// A key has at most `depth + 2` segments (its name, `depth` bracket groups, the rest as one
/// key). Each segment but the last opens a container, and qs (like us) turns a scalar met by an
/// object at the same place into `[scalar, object]`, which can add one array level at every
/// segment; a repeated leaf adds one more. So no value nests deeper than `2 * (depth + 2)`.
pub fn qs_string(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let options = QsOptions::default();
    match qs::parse(&input, &options) {
        Ok(value) => {
            assert!(value.is_object(), "qs gave {value}");
            assert!(
                depth(&value) <= 2 * (options.depth + 2),
                "too deep: {input}"
            );
        }
        Err(e) => panic!("default qs options never fail, got {e} for {input:?}"),
    }
}

/// A socket call's query (JSON from a frame) through the query language and the SQL
/// compiler of every dialect.
pub fn query_json(data: &[u8]) {
    if let Ok(Value::Object(query)) = serde_json::from_slice::<Value>(data) {
        query_language(&query);
    }
}

/// A REST query string, parsed by `qs`, through the query language and the SQL compiler.
pub fn rest_query(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    if let Ok(Value::Object(query)) = qs::parse(&input, &QsOptions::default()) {
        query_language(&query);
    }
}

fn query_language(query: &Map<String, Value>) {
    let paginate = Paginate {
        default: Some(10),
        max: Some(50),
    };
    let Ok(parsed) = Query::parse(query, Some(&paginate), &QueryLimits::default()) else {
        return;
    };
    let record = serde_json::json!({"id": 1, "name": "a", "age": 3, "tags": ["x"]});
    let _ = parsed.matches(&record);
    let schema: Schema = [("name", FieldType::String), ("age", FieldType::Integer)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let Ok(table) = TableDef::new("people", "id", IdType::Integer, &schema) else {
        return;
    };
    for dialect in [
        Dialect::Sqlite,
        Dialect::Postgres,
        Dialect::MySql { mariadb: false },
        Dialect::MySql { mariadb: true },
    ] {
        let compiler = Compiler {
            table: &table,
            dialect,
        };
        let plan = compiler.plan(&parsed.condition);
        if let Some(expr) = plan.sql() {
            let mut buf = SqlBuf::new(dialect);
            buf.expr(expr);
        }
        if let Some(sort) = &parsed.filters.sort {
            let _ = compiler.order_by(sort);
        }
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
