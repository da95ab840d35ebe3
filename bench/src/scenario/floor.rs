//! `floor`: the machine's limit for a burst. The same subscribers as `fanout` (the same
//! client, upgrade and subscriber loop, on the same number of loopback sockets) receive the
//! same kind of frames, but the server is the simplest possible sender inside this process:
//! one thread that accepts the upgrades, then writes each message, encoded once into one
//! websocket frame, to every socket with non-blocking writes. No login, no room, no JSON
//! work per recipient, no task per connection. What it measures (latency from the stamp to
//! the subscriber, the sender thread's CPU per delivery) is what a perfect server would get
//! on this machine beside this generator, so `fanout`'s figures divided by these hold on
//! any machine.

use super::{open_many, stamp_text, Deliveries, Env};
use crate::client::Target;
use crate::procstat::Server;
use crate::stats::{merge, round3};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Parameters of `floor`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FloorArgs {
    /// Subscribers (sockets the sender writes to).
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// Connections in setup at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Messages per second of each step, in order.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    rates: Vec<f64>,
    /// Seconds each step publishes.
    #[arg(long, default_value_t = 5)]
    step_secs: u64,
    /// Seconds a step may take after its last burst for the deliveries to arrive.
    #[arg(long, default_value_t = 5)]
    drain_secs: u64,
    /// Length of each message's text in bytes (the stamp, padded), as `fanout --pad`.
    #[arg(long, default_value_t = 64)]
    pad: usize,
}

impl FloorArgs {
    pub(crate) fn params(&self) -> Value {
        json!({
            "subscribers": self.subscribers,
            "rates": self.rates,
            "step_secs": self.step_secs,
            "drain_secs": self.drain_secs,
            "pad": self.pad,
        })
    }
}

/// One unmasked websocket text frame (server to client) holding `payload`.
pub(crate) fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x81);
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// The event frame Roost sends for a created message in the chat app, with the stamp in its
/// text (same layout, same order of magnitude of bytes).
fn event_payload(step: usize, seq: u64, pad: usize) -> Vec<u8> {
    let text = stamp_text(step, seq, pad);
    format!(
        r#"{{"type":0,"data":["messages created",{{"text":"{text}","roomId":"bench","userId":1,"createdAt":1764000000000,"id":{}}}]}}"#,
        seq + 1
    )
    .into_bytes()
}

/// CPU time this thread has used, in nanoseconds (`/proc/thread-self/schedstat`, first field).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Answers one websocket upgrade (blocking), then makes the socket non-blocking.
fn upgrade(mut stream: TcpStream) -> std::io::Result<TcpStream> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || request.len() > 16 * 1024 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    let key = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .ok_or(ErrorKind::InvalidData)?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes())?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// What the sender thread did in one step.
#[derive(Debug, Default, Clone, Copy)]
struct StepSent {
    sent: u64,
    cpu_ns: u64,
    /// Writes that found a socket's buffer full (retried until they went).
    would_block: u64,
    finished: Option<Instant>,
}

/// Writes `frame` to every socket without blocking; sockets that cannot take all of it are
/// retried (in order) until they have. Returns how many writes found a full buffer.
#[allow(clippy::disallowed_methods)] // the sender's own thread, not the runtime
fn burst(sockets: &mut [TcpStream], frame: &[u8], stop: &AtomicBool) -> u64 {
    let mut would_block = 0;
    let mut pending: Vec<(usize, usize)> = Vec::new();
    for (i, socket) in sockets.iter_mut().enumerate() {
        match socket.write(frame) {
            Ok(n) if n == frame.len() => {}
            Ok(n) => pending.push((i, n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                would_block += 1;
                pending.push((i, 0));
            }
            Err(_) => {}
        }
    }
    while !pending.is_empty() && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_micros(200));
        pending.retain_mut(|(i, sent)| match sockets[*i].write(&frame[*sent..]) {
            Ok(n) => {
                *sent += n;
                *sent < frame.len()
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                would_block += 1;
                true
            }
            Err(_) => false,
        });
    }
    would_block
}

/// The sender: accepts `count` upgrades, then on each `(step, rate, length)` it receives,
/// sends that many bursts a second for `length`, reporting what it did.
#[allow(clippy::disallowed_methods)] // the sender's own thread, not the runtime
fn sender(
    listener: &TcpListener,
    count: usize,
    pad: usize,
    steps: &mpsc::Receiver<(usize, f64, Duration)>,
    done: &mpsc::Sender<StepSent>,
    stop: &AtomicBool,
) {
    let mut sockets = Vec::with_capacity(count);
    while sockets.len() < count && !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => match upgrade(stream) {
                Ok(stream) => sockets.push(stream),
                Err(e) => eprintln!("floor: upgrade failed: {e}"),
            },
            Err(e) => eprintln!("floor: accept failed: {e}"),
        }
    }
    let mut seq = 0u64;
    while let Ok((step, rate, length)) = steps.recv() {
        let mut out = StepSent::default();
        let cpu0 = thread_cpu_ns().unwrap_or(0);
        let started = Instant::now();
        while started.elapsed() < length && !stop.load(Ordering::Relaxed) {
            let due = (started.elapsed().as_secs_f64() * rate) as u64 + 1;
            if out.sent >= due {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            // Encoded once per message, written to every socket.
            let frame = text_frame(&event_payload(step, seq, pad));
            seq += 1;
            out.would_block += burst(&mut sockets, &frame, stop);
            out.sent += 1;
        }
        out.cpu_ns = thread_cpu_ns().unwrap_or(0).saturating_sub(cpu0);
        out.finished = Some(Instant::now());
        if done.send(out).is_err() {
            break;
        }
    }
    // Dropping the sockets closes them.
}

/// Runs the scenario; the results as one JSON object (a table of steps goes to stdout).
pub(crate) async fn run(_env: Arc<Env>, args: &FloorArgs) -> Result<Value, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("floor: bind: {e}"))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| format!("floor: bind: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let (step_tx, step_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let thread = {
        let (stop, count, pad) = (stop.clone(), args.subscribers, args.pad);
        std::thread::Builder::new()
            .name("floor-sender".into())
            .spawn(move || sender(&listener, count, pad, &step_rx, &done_tx, &stop))
            .map_err(|e| format!("floor: thread: {e}"))?
    };
    // The same subscribers as `fanout`, connected to the floor sender: no login, no room.
    let target = Target::new(addr, 1).map_err(|e| e.to_string())?;
    let floor_env = Arc::new(Env {
        target,
        server: Server::new(None),
        credential: None,
    });
    let deliveries = Deliveries::new(args.rates.len());
    let mut fleet = open_many(
        &floor_env,
        1,
        args.subscribers,
        args.concurrency,
        None,
        Some(deliveries.clone()),
    )
    .await;
    if fleet.opened < args.subscribers {
        stop.store(true, Ordering::Relaxed);
        // The sender may still wait in accept: one more connection lets it see the flag.
        let _ = std::net::TcpStream::connect(addr);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "{:>7} {:>6} {:>10} {:>10} {:>11} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
        "msg/s",
        "sent",
        "expected",
        "received",
        "deliv/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "µs/deliv",
        "blocked"
    );
    let mut steps = Vec::new();
    for (step, &rate) in args.rates.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        if step_tx
            .send((step, rate, Duration::from_secs(args.step_secs)))
            .is_err()
        {
            break;
        }
        let sent = loop {
            match done_rx.try_recv() {
                Ok(sent) => break sent,
                Err(mpsc::TryRecvError::Empty) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err("floor: the sender stopped".to_owned())
                }
            }
        };
        let expected = sent.sent * fleet.opened as u64;
        let drain_deadline = Instant::now() + Duration::from_secs(args.drain_secs);
        while Instant::now() < drain_deadline && deliveries.count(step) < expected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let summary = deliveries.steps[step].summary();
        let per_sec = summary.count as f64 / elapsed;
        let us_per_delivery = if summary.count > 0 {
            sent.cpu_ns as f64 / 1000.0 / summary.count as f64
        } else {
            f64::NAN
        };
        let drain = sent
            .finished
            .map_or(f64::NAN, |f| f.elapsed().as_secs_f64());
        println!(
            "{:>7} {:>6} {:>10} {:>10} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.3} {:>8}",
            rate,
            sent.sent,
            expected,
            summary.count,
            per_sec,
            summary.p50_ms,
            summary.p99_ms,
            summary.p999_ms,
            summary.max_ms,
            us_per_delivery,
            sent.would_block
        );
        steps.push(merge([
            json!({
                "rate": rate,
                "sent": sent.sent,
                "expected": expected,
                "received": summary.count,
                "deliveries_per_sec": round3(per_sec),
                "sender_cpu_secs": round3(sent.cpu_ns as f64 / 1e9),
                "sender_us_per_delivery": round3(us_per_delivery),
                "would_block": sent.would_block,
                "drain_secs": round3(drain),
            }),
            summary.to_json("lat"),
        ]));
    }
    drop(step_tx);
    let ends = fleet.stop().await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    let first = steps.first().cloned().unwrap_or_else(|| json!({}));
    Ok(json!({
        "subscribers": fleet.opened,
        "setup_failed": fleet.failed,
        "setup_first_error": fleet.first_error,
        "closed_early": ends.iter().filter(|e| e.closed_by_server).count(),
        "floor_rate": first.get("rate").cloned().unwrap_or(Value::Null),
        "floor_lat_p50_ms": first.get("lat_p50_ms").cloned().unwrap_or(Value::Null),
        "floor_lat_p99_ms": first.get("lat_p99_ms").cloned().unwrap_or(Value::Null),
        "floor_sender_us_per_delivery": first.get("sender_us_per_delivery").cloned().unwrap_or(Value::Null),
        "steps": steps,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length() {
        assert_eq!(text_frame(b"hi"), vec![0x81, 2, b'h', b'i']);
        let mid = text_frame(&[b'x'; 300]);
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
        let big = text_frame(&vec![b'x'; 70_000]);
        assert_eq!(big[1], 127);
        assert_eq!(big.len(), 70_010);
    }

    #[test]
    fn the_payload_carries_a_readable_stamp() {
        let payload = String::from_utf8(event_payload(2, 7, 64)).unwrap();
        assert!(payload.starts_with("{\"type\":0,"));
        assert_eq!(super::super::read_stamp(&payload).map(|s| s.0), Some(2));
    }
}
