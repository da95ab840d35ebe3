//! Accepting connections with the limits that keep one client from starving the others:
//! a deadline on each request head (which also closes idle connections), on each request
//! body and on each write the client does not read, an optional cap on connections per IP address, the open-file limit raised at start
//! and a warning when the transports' `max_connections` cannot fit in it. Counted in
//! `ServerMetrics`, rendered as `roost_server_…` at `/metrics`.

use crate::config::{Config, ServerConfig};
use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use roost_transport::body_timeout::TimedBody;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Counters of the listener, process-wide (one server per process).
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    /// TCP connections accepted.
    pub accepted: AtomicU64,
    /// TCP connections open now (HTTP and upgraded websockets).
    pub open: AtomicU64,
    /// Connections closed because a request head did not arrive in time (idle included).
    pub header_timeouts: Arc<AtomicU64>,
    /// Request bodies that did not arrive in time.
    pub body_timeouts: Arc<AtomicU64>,
    /// Connections closed because the client read nothing of what was written in time.
    pub write_timeouts: AtomicU64,
    /// Connections refused at `server.max_connections_per_ip`.
    pub per_ip_refused: AtomicU64,
    /// Failed `accept` calls (out of file descriptors, mostly).
    pub accept_errors: AtomicU64,
}

/// The listener's counters.
pub(crate) fn metrics() -> &'static ServerMetrics {
    static METRICS: std::sync::OnceLock<ServerMetrics> = std::sync::OnceLock::new();
    METRICS.get_or_init(ServerMetrics::default)
}

/// Appends the listener's counters in the Prometheus text format (a name ending in `_total`
/// is a counter, any other a gauge).
pub(crate) fn render(out: &mut String) {
    let m = metrics();
    let rows: [(&str, &str, &AtomicU64); 7] = [
        (
            "roost_server_connections_total",
            "TCP connections accepted.",
            &m.accepted,
        ),
        (
            "roost_server_connections_open",
            "TCP connections open (HTTP and upgraded websockets).",
            &m.open,
        ),
        (
            "roost_server_header_timeouts_total",
            "Connections closed at server.header_timeout_secs (idle or slow request head).",
            &m.header_timeouts,
        ),
        (
            "roost_server_body_timeouts_total",
            "Request bodies not received within server.body_timeout_secs.",
            &m.body_timeouts,
        ),
        (
            "roost_server_write_timeouts_total",
            "Connections closed at server.write_timeout_secs (the client stopped reading).",
            &m.write_timeouts,
        ),
        (
            "roost_server_per_ip_refused_total",
            "Connections refused at server.max_connections_per_ip.",
            &m.per_ip_refused,
        ),
        (
            "roost_server_accept_errors_total",
            "Failed accepts (mostly: out of file descriptors).",
            &m.accept_errors,
        ),
    ];
    let rows = rows
        .into_iter()
        .map(|(name, help, value)| (name, help, value.load(Ordering::Relaxed)));
    let query = (
        "roost_query_limit_total",
        "Queries refused at a [query] limit (BadRequest).",
        roost_core::query::QueryLimits::hits(),
    );
    for (name, help, value) in rows.chain([query]) {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        crate::metrics::metric(out, name, kind, help, value);
    }
}

/// File descriptors kept aside for the database, the log and files read at start.
const FD_RESERVE: u64 = 64;

/// Raises the soft open-file limit to the hard one (when `server.raise_fd_limit`), logs the
/// result, and warns when the transports' `max_connections` could exceed it: past the limit
/// `accept` fails and every client is refused, well-behaved ones included.
pub fn prepare_fd_limit(config: &Config) {
    let soft = raise_fd_limit(config.server.raise_fd_limit);
    let Some(soft) = soft else {
        return;
    };
    let mut wanted = 0u64;
    if config.primus.enabled {
        wanted = wanted.saturating_add(config.primus.max_connections as u64);
    }
    if config.socketio.enabled {
        wanted = wanted.saturating_add(config.socketio.max_connections as u64);
    }
    let usable = soft.saturating_sub(FD_RESERVE);
    if wanted > usable {
        tracing::warn!(
            fd_limit = soft,
            max_connections = wanted,
            "primus.max_connections + socketio.max_connections exceed the open-file limit: \
             past about {usable} connections new clients are refused at accept; raise the hard \
             limit (ulimit -Hn, LimitNOFILE=) or lower max_connections"
        );
    }
}

/// The soft `RLIMIT_NOFILE` after raising it (when `raise`); `None` when unlimited.
fn raise_fd_limit(raise: bool) -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    if raise && limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                let after = getrlimit(Resource::Nofile).current;
                tracing::info!(
                    before = %show(before),
                    after = %show(after),
                    "raised the open-file soft limit to the hard limit"
                );
                return after;
            }
            Err(e) => {
                tracing::warn!(error = %e, soft = %show(before), "cannot raise the open-file limit");
            }
        }
    } else {
        tracing::info!(
            soft = %show(before),
            hard = %show(limit.maximum),
            "open-file limit"
        );
    }
    before
}

/// A resource limit for the log: its number, or `unlimited`.
fn show(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// Open connections per IP address, when capped.
#[derive(Debug)]
struct PerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    /// A slot for `ip`, or `None` at the cap.
    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            per_ip: Arc::clone(self),
            ip,
        })
    }
}

/// One connection counted against its address; released on drop.
#[derive(Debug)]
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self
            .per_ip
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A client's TCP stream with what it holds: its per-IP slot and its place in the open
/// count, both released when the stream is dropped (after an upgrade too: the websocket
/// owns the stream then).
struct Conn {
    stream: TcpStream,
    _slot: Option<IpSlot>,
    /// How long a write may wait for the client to read (`server.write_timeout_secs`).
    write_timeout: Option<Duration>,
    /// Running while a write waits.
    write_wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Conn {
    fn new(stream: TcpStream, slot: Option<IpSlot>, write_timeout: Option<Duration>) -> Conn {
        Conn {
            stream,
            _slot: slot,
            write_timeout,
            write_wait: None,
        }
    }

    /// After a write: progress clears the wait; no progress past the timeout fails the
    /// write (the client stopped reading), which ends the connection.
    fn check_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.write_wait = None;
            return poll;
        }
        let Some(timeout) = self.write_timeout else {
            return poll;
        };
        let wait = self
            .write_wait
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match wait.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.write_wait = None;
                metrics().write_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    "connection closed: the client read nothing within server.write_timeout_secs"
                );
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        metrics().open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.check_write(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.check_write(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.check_write(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The limits the accept loop applies, from `[server]`.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    header_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    per_ip: Option<Arc<PerIp>>,
}

impl Limits {
    /// The limits of `server`.
    pub(crate) fn new(server: &ServerConfig) -> Limits {
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Limits {
            header_timeout: secs(server.header_timeout_secs),
            body_timeout: secs(server.body_timeout_secs),
            write_timeout: secs(server.write_timeout_secs),
            per_ip: (server.max_connections_per_ip > 0).then(|| {
                Arc::new(PerIp {
                    max: server.max_connections_per_ip,
                    open: Mutex::new(HashMap::new()),
                })
            }),
        }
    }
}

/// Serves `router` on `listener` with `limits` until `signal` resolves, then stops accepting,
/// lets each connection finish its request in flight, and returns once all have (upgraded
/// websockets are the transports' to close).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    signal: impl Future<Output = ()> + Send + 'static,
) {
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        signal.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = signal_tx.closed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE/ENFILE: nothing can be accepted until a descriptor is freed. Said
                // once a second at most, so operators see it without a log flood.
                metrics().accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        metrics().accepted.fetch_add(1, Ordering::Relaxed);
        metrics().open.fetch_add(1, Ordering::Relaxed);
        let slot = match &limits.per_ip {
            Some(per_ip) => match per_ip.acquire(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    metrics().per_ip_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "connection refused: server.max_connections_per_ip");
                    tokio::spawn(refuse(Conn::new(stream, None, limits.write_timeout)));
                    continue;
                }
            },
            None => None,
        };
        // Small frames (events, acks, pings) go out as soon as the writer flushes: without
        // TCP_NODELAY, Nagle holds a frame while the previous one is unacknowledged, and the
        // client's delayed ACK turns that into up to 40 ms of latency.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let conn = Conn::new(stream, slot, limits.write_timeout);
        spawn_connection(
            conn,
            router.clone(),
            &limits,
            signal_tx.clone(),
            close_rx.clone(),
        );
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

fn spawn_connection(
    conn: Conn,
    router: Router,
    limits: &Limits,
    signal_tx: tokio::sync::watch::Sender<()>,
    close_rx: tokio::sync::watch::Receiver<()>,
) {
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let request = match body_timeout {
            Some(timeout) => request.map(|body| {
                Body::new(TimedBody::new(
                    body,
                    timeout,
                    Arc::clone(&metrics().body_timeouts),
                ))
            }),
            None => request.map(Body::new),
        };
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    builder.header_read_timeout(limits.header_timeout);
    tokio::spawn(async move {
        let mut connection = std::pin::pin!(builder
            .serve_connection(TokioIo::new(conn), service)
            .with_upgrades());
        let mut signal = std::pin::pin!(signal_tx.closed());
        let mut shutting_down = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        if e.is_timeout() {
                            metrics().header_timeouts.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("connection closed: no request head within server.header_timeout_secs");
                        } else {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                    }
                    break;
                }
                () = &mut signal, if !shutting_down => {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
        drop(close_rx);
    });
}

/// Answers a connection refused at the per-IP cap with `503` and a Feathers `Unavailable`
/// error, then closes it. Reads what the client sent first (briefly), so that closing does
/// not reset the connection before the answer arrives.
async fn refuse(mut conn: Conn) {
    let body = serde_json::json!({
        "name": "Unavailable",
        "message": "Too many connections from this address",
        "code": 503,
        "className": "unavailable",
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = async {
        let mut buf = [0u8; 4096];
        // The request head, when it is already there.
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            tokio::io::AsyncReadExt::read(&mut conn, &mut buf),
        )
        .await;
        conn.write_all(response.as_bytes()).await?;
        conn.shutdown().await?;
        // Drain until the client closes, so the kernel does not answer with a reset.
        while tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}
