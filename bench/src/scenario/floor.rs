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
use crate::client::{Target, Transport};
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

/// `roost-bench floor-sender`: the sender, in a process of its own (10,000 sockets on each
/// side do not fit one process' open-file limit). Prints `port N`, accepts `count` upgrades,
/// then for each line `step rate secs` on stdin sends that many bursts a second for that long
/// and prints one line `sent cpu_ns would_block`. Ends at the end of stdin.
#[allow(clippy::disallowed_methods)] // the sender's own process, no runtime
pub(crate) fn sender_main(count: usize, pad: usize) -> Result<(), String> {
    use std::io::BufRead;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("bind: {e}"))?
        .port();
    println!("port {port}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut sockets = Vec::with_capacity(count);
    let mut failures = 0;
    while sockets.len() < count && failures < count {
        match listener.accept() {
            Ok((stream, _)) => match upgrade(stream) {
                Ok(stream) => sockets.push(stream),
                Err(e) => {
                    failures += 1;
                    eprintln!("floor: upgrade failed: {e}");
                }
            },
            Err(e) => {
                failures += 1;
                eprintln!("floor: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let stop = AtomicBool::new(false);
    let mut seq = 0u64;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut fields = line.split_whitespace();
        let (Some(step), Some(rate), Some(secs)) = (
            fields.next().and_then(|f| f.parse::<usize>().ok()),
            fields.next().and_then(|f| f.parse::<f64>().ok()),
            fields.next().and_then(|f| f.parse::<u64>().ok()),
        ) else {
            return Err(format!("floor-sender: bad command {line:?}"));
        };
        let (mut sent, mut would_block) = (0u64, 0u64);
        let cpu0 = thread_cpu_ns().unwrap_or(0);
        let started = Instant::now();
        let length = Duration::from_secs(secs);
        while started.elapsed() < length {
            let due = (started.elapsed().as_secs_f64() * rate) as u64 + 1;
            if sent >= due {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            // Encoded once per message, written to every socket.
            let frame = text_frame(&event_payload(step, seq, pad));
            seq += 1;
            would_block += burst(&mut sockets, &frame, &stop);
            sent += 1;
        }
        let cpu_ns = thread_cpu_ns().unwrap_or(0).saturating_sub(cpu0);
        println!("{sent} {cpu_ns} {would_block}");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The sender process, its commands and its answers (read by a thread of their own).
struct SenderProcess {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl SenderProcess {
    fn start(count: usize, pad: usize) -> Result<(Self, u16), String> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args([
                "floor-sender",
                "--subscribers",
                &count.to_string(),
                "--pad",
                &pad.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("floor: cannot start the sender: {e}"))?;
        let stdin = child.stdin.take().ok_or("floor: no stdin")?;
        let stdout = child.stdout.take().ok_or("floor: no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = SenderProcess {
            child,
            stdin,
            lines,
        };
        let first = process.recv_blocking(Duration::from_secs(10))?;
        let port = first
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("floor: sender said {first:?}"))?;
        Ok((process, port))
    }

    fn recv_blocking(&mut self, limit: Duration) -> Result<String, String> {
        self.lines
            .recv_timeout(limit)
            .map_err(|e| format!("floor: sender: {e}"))
    }

    async fn recv(&mut self, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.lines.try_recv() {
                Ok(line) => return Ok(line),
                Err(mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(format!("floor: sender: {e}")),
            }
        }
    }
}

impl Drop for SenderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the scenario; the results as one JSON object (a table of steps goes to stdout).
pub(crate) async fn run(_env: Arc<Env>, args: &FloorArgs) -> Result<Value, String> {
    let (mut sender, port) = SenderProcess::start(args.subscribers, args.pad)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The same subscribers as `fanout`, connected to the floor sender: no login, no room.
    let target = Target::new(addr, 1, Transport::Primus).map_err(|e| e.to_string())?;
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
        return Err(format!(
            "floor: only {} of {} subscribers connected ({:?})",
            fleet.opened, args.subscribers, fleet.first_error
        ));
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
        let started = Instant::now();
        writeln!(sender.stdin, "{step} {rate} {}", args.step_secs)
            .and_then(|()| sender.stdin.flush())
            .map_err(|e| format!("floor: sender: {e}"))?;
        let answer = sender
            .recv(Duration::from_secs(args.step_secs + 60))
            .await?;
        let mut fields = answer.split_whitespace().map(|f| f.parse::<u64>().ok());
        let (Some(Some(count)), Some(Some(cpu_ns)), Some(Some(would_block))) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("floor: sender said {answer:?}"));
        };
        let sent = StepSent {
            sent: count,
            cpu_ns,
            would_block,
            finished: Some(Instant::now()),
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
    // The subscribers close first: the sender exiting would close them from its side.
    let ends = fleet.stop().await;
    drop(sender);
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
