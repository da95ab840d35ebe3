//! A deadline on reading a request body: a client that sends headers and then stalls or
//! dribbles the body must not hold its connection (and a file descriptor) forever. The
//! server wraps every request body in a [`TimedBody`]; when the deadline passes before the
//! body ends, the next read fails with `BodyTimedOut`, which REST answers with a Feathers
//! `Timeout` (408) and hyper then closes the connection (the body was not read to its end).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The body was not received within the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request body not received within {0:?}")]
pub(crate) struct BodyTimedOut(pub(crate) Duration);

/// Whether `error` (or one of its sources) is a [`BodyTimedOut`].
pub(crate) fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A request body that fails once `timeout` has passed since it was wrapped (when the
/// request's headers were read). The timer is created only when the body is not already
/// there, so small requests cost nothing.
pub struct TimedBody<B> {
    inner: B,
    deadline: Instant,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    timeouts: Arc<AtomicU64>,
    fired: bool,
}

impl<B> TimedBody<B> {
    /// Wraps `inner`; a timeout is counted in `timeouts`.
    pub fn new(inner: B, timeout: Duration, timeouts: Arc<AtomicU64>) -> Self {
        TimedBody {
            inner,
            deadline: Instant::now() + timeout,
            timeout,
            sleep: None,
            timeouts,
            fired: false,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.fired {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.fired = true;
                        this.timeouts.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(timeout = ?this.timeout, "request body timed out");
                        Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_with_the_timeout_and_is_counted() {
        let body = axum::body::Body::new(http_body_util::StreamBody::new(
            futures_util::stream::pending::<Result<Frame<Bytes>, std::io::Error>>(),
        ));
        let counter = Arc::new(AtomicU64::new(0));
        let timed = TimedBody::new(body, Duration::from_secs(5), Arc::clone(&counter));
        let error = timed.collect().await.err().unwrap();
        assert!(is_body_timeout(&*error), "{error}");
        assert_eq!(counter.load(Ordering::Relaxed), 1);
        let whole = TimedBody::new(
            axum::body::Body::from("hello"),
            Duration::from_secs(5),
            Arc::clone(&counter),
        );
        assert_eq!(whole.collect().await.unwrap().to_bytes(), "hello");
        assert_eq!(counter.load(Ordering::Relaxed), 1);
    }
}
