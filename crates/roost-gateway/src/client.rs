//! The HTTP client to the upstream, with the bounded wait of gateway mode: while the
//! upstream refuses connections (restarting, deploying) a call retries every
//! `retry_interval_ms` for at most `unavailable_wait_ms`, then fails with `Unavailable`.
//! Once one call has waited that long, later calls try once and fail at once until the
//! upstream answers again, so an outage never piles up waiting callers.

use crate::config::GatewayConfig;
use crate::metrics::GatewayMetrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use roost_core::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::{timeout, Instant};

/// One request to the upstream.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamRequest {
    pub(crate) method: Method,
    /// Path and query, starting with `/`.
    pub(crate) path_and_query: String,
    pub(crate) headers: Vec<(HeaderName, String)>,
    pub(crate) body: Option<Bytes>,
}

/// The upstream's answer.
#[derive(Debug)]
pub(crate) struct UpstreamAnswer {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// A pooled client for one upstream; cheap to clone.
#[derive(Clone)]
pub(crate) struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    base: Arc<str>,
    config: Arc<GatewayConfig>,
    permits: Arc<Semaphore>,
    down: Arc<AtomicBool>,
    metrics: Arc<GatewayMetrics>,
}

impl Upstream {
    pub(crate) fn new(config: Arc<GatewayConfig>, metrics: Arc<GatewayMetrics>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Upstream {
            client,
            base: Arc::from(config.base_url()),
            permits: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            config,
            down: Arc::new(AtomicBool::new(false)),
            metrics,
        }
    }

    fn unavailable(&self, why: &str) -> Error {
        GatewayMetrics::inc(&self.metrics.unavailable);
        tracing::debug!(upstream = &*self.base, why, "upstream unavailable");
        Error::unavailable("The upstream service is unavailable")
            .with_data(serde_json::json!({ "reason": why }))
    }

    /// Sends `request`, waiting for the upstream as the module docs say.
    pub(crate) async fn send(&self, request: UpstreamRequest) -> Result<UpstreamAnswer, Error> {
        let request_timeout = Duration::from_millis(self.config.request_timeout_ms);
        let wait = Duration::from_millis(self.config.unavailable_wait_ms);
        let retry = Duration::from_millis(self.config.retry_interval_ms);
        let uri: Uri = format!("{}{}", self.base, request.path_and_query)
            .parse()
            .map_err(|_| Error::bad_request("The request path cannot be forwarded"))?;
        let _permit = match timeout(request_timeout, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                GatewayMetrics::inc(&self.metrics.timeouts);
                return Err(self.unavailable("too many calls waiting for the upstream"));
            }
        };
        GatewayMetrics::inc(&self.metrics.forwarded);
        let started = Instant::now();
        loop {
            let mut builder = Request::builder()
                .method(request.method.clone())
                .uri(uri.clone())
                .header("accept", "application/json");
            for (name, value) in &request.headers {
                if let Ok(value) = HeaderValue::from_str(value) {
                    builder = builder.header(name, value);
                }
            }
            if request.body.is_some() {
                builder = builder.header("content-type", "application/json");
            }
            let body = Full::new(request.body.clone().unwrap_or_default());
            let Ok(http_request) = builder.body(body) else {
                return Err(Error::bad_request("The request cannot be forwarded"));
            };
            let response = match timeout(request_timeout, self.client.request(http_request)).await {
                Err(_) => {
                    GatewayMetrics::inc(&self.metrics.timeouts);
                    return Err(self.unavailable("the upstream did not answer in time"));
                }
                Ok(Err(e)) if e.is_connect() => {
                    let known_down = self.down.load(Ordering::Relaxed);
                    if !known_down && started.elapsed() + retry <= wait {
                        GatewayMetrics::inc(&self.metrics.retries);
                        tokio::time::sleep(retry).await;
                        continue;
                    }
                    self.down.store(true, Ordering::Relaxed);
                    return Err(self.unavailable("the upstream refuses connections"));
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "upstream request failed");
                    return Err(self.unavailable("the upstream closed the connection"));
                }
                Ok(Ok(response)) => response,
            };
            self.down.store(false, Ordering::Relaxed);
            let status = response.status().as_u16();
            let limited = Limited::new(response.into_body(), self.config.max_response_bytes);
            let body = match timeout(request_timeout, limited.collect()).await {
                Err(_) => {
                    GatewayMetrics::inc(&self.metrics.timeouts);
                    return Err(self.unavailable("the upstream did not answer in time"));
                }
                Ok(Err(_)) => {
                    GatewayMetrics::inc(&self.metrics.bad_answers);
                    return Err(Error::new(
                        roost_core::ErrorKind::BadGateway,
                        "The upstream answer is too large or was cut off",
                    ));
                }
                Ok(Ok(collected)) => collected.to_bytes(),
            };
            return Ok(UpstreamAnswer { status, body });
        }
    }
}
