//! The bodies of proxied messages, each a plain enum rather than a boxed body: the client's
//! upload as the upstream receives it ([`Upload`]: its movement and its end recorded for the
//! upstream timeout and the pool) and what a connection sends back ([`Reply`]: a page of
//! braid's own, or the upstream's streamed response).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;

use super::timeouts::{Activity, Idle};
use super::upstream::Pooled;

/// A request body on its way to the upstream.
pub enum Upload {
    /// None (or one that had ended when the request came): nothing to send or watch.
    Empty,
    /// The client's body, streamed as it comes (nothing is buffered), each frame and the end
    /// recorded in the request's [`Activity`].
    Client { inner: Incoming, activity: Arc<Activity> },
}

impl Upload {
    /// The client's request `body`, watched through `activity`.
    pub fn of(body: Incoming, activity: &Arc<Activity>) -> Self {
        if body.is_end_stream() {
            activity.body_ended();
            return Self::Empty;
        }
        Self::Client { inner: body, activity: activity.clone() }
    }
}

impl HttpBody for Upload {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Self::Client { inner, activity } = &mut *self else { return Poll::Ready(None) };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(Some(Ok(_)))) {
            activity.touch();
        }
        if matches!(polled, Poll::Ready(None)) || inner.is_end_stream() {
            activity.body_ended();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Client { inner, activity } => {
                let end = inner.is_end_stream();
                if end {
                    activity.body_ended();
                }
                end
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Client { inner, .. } => inner.size_hint(),
        }
    }
}

/// The body of a response braid's connection sends.
pub enum Reply {
    /// A page of braid's own (or an empty body after a protocol switch).
    Own(Body),
    /// The upstream's response body, streamed as it comes.
    Upstream(Idle<Pooled>),
}

impl HttpBody for Reply {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut *self {
            Self::Own(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Self::Upstream(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Own(b) => b.is_end_stream(),
            Self::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Own(b) => b.size_hint(),
            Self::Upstream(b) => b.size_hint(),
        }
    }
}
