//! braid's HTTP/1.1 listener: accepts connections (TCP_NODELAY on each), serves each with
//! hyper's HTTP/1 connection (upgrades on, for proxied WebSockets; each message written with
//! one `send`; buffers bounded by [`HTTP1_BUFFER`]) in a task of its own, and at
//! shutdown stops accepting, lets every connection finish the request it is on, closes idle
//! ones, and returns once all have ended.
//!
//! braid's own rather than `axum::serve`: that one wraps every connection in a `select!` that
//! polls a shutdown watch at each wake-up, boxes every request body, and moves each request
//! through a cloned service and a `oneshot`; on a proxied request those cost about as much as
//! the proxy's whole routing. Here a connection looks at one atomic flag per wake-up and is
//! woken only when shutdown begins.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::proxy::bodies::Reply;
use crate::proxy::reverse::Dispatch;

/// The most an HTTP/1 connection's read buffer, and its write buffer, hold (braid's listener's
/// and the proxy's upstream connections): a request head still incomplete when its buffer
/// reaches this is refused (431; hyper checks between reads, so one a little larger may pass),
/// an upstream's response head likewise gives the 502 page, and a body streams through in
/// pieces of at most about this. hyper's default (about 400 KiB) let each connection streaming
/// to a slow reader hold over a megabyte.
pub const HTTP1_BUFFER: usize = 64 * 1024;

/// Connections in progress, and whether shutdown has begun.
#[derive(Default)]
struct Open {
    /// Set once, when shutdown begins.
    closing: AtomicBool,
    /// The open connections, each with its task's waker once it has run.
    table: Mutex<Table>,
    /// Woken when the last connection ends during shutdown.
    all_closed: tokio::sync::Notify,
}

/// Slots of open connections (`None`: the task has not run yet) and the free ones.
#[derive(Default)]
struct Table {
    slots: Vec<Option<Option<Waker>>>,
    free: Vec<usize>,
    open: usize,
}

impl Open {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a connection just accepted.
    fn enter(&self) -> usize {
        let mut t = self.table();
        t.open += 1;
        match t.free.pop() {
            Some(i) => {
                t.slots[i] = Some(None);
                i
            }
            None => {
                t.slots.push(Some(None));
                t.slots.len() - 1
            }
        }
    }

    /// Record `waker` as the one that wakes the task serving the connection at `slot`.
    fn set_waker(&self, slot: usize, waker: &Waker) {
        if let Some(Some(w)) = self.table().slots.get_mut(slot) {
            *w = Some(waker.clone());
        }
    }

    fn leave(&self, slot: usize) {
        let mut t = self.table();
        if let Some(s) = t.slots.get_mut(slot).filter(|s| s.is_some()) {
            *s = None;
            t.free.push(slot);
            t.open -= 1;
        }
        if t.open == 0 && self.closing.load(Ordering::Acquire) {
            self.all_closed.notify_one();
        }
    }

    fn is_empty(&self) -> bool {
        self.table().open == 0
    }

    /// Begin shutdown: every connection whose task has run is woken to see it (the others see
    /// it when they first run).
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        for w in self.table().slots.iter().flatten().flatten() {
            w.wake_by_ref();
        }
    }
}

/// Serve `app` on `listener` until `stop` completes; then stop accepting (the listener is
/// closed), let each connection finish its request in flight, close the idle ones, and return
/// when none is left. (The caller bounds that wait with `server.shutdown_timeout_secs`.)
pub async fn serve(listener: TcpListener, app: Dispatch, stop: impl Future<Output = ()>) {
    let open = Arc::new(Open::default());
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                tokio::spawn(connection(tcp, app.for_peer(peer), open.clone()));
            }
            Err(e) => {
                // The pause after a failed accept gives way to shutdown.
                tokio::select! {
                    biased;
                    () = &mut stop => break,
                    () = accept_failed(e) => {}
                }
            }
        }
    }
    drop(listener);
    open.close();
    while !open.is_empty() {
        let closed = open.all_closed.notified();
        if open.is_empty() {
            break;
        }
        closed.await;
    }
}

/// A failed accept: a connection that was reset before it was taken is passed over; anything
/// else (out of file descriptors, say) is logged and accepting pauses for a moment, never spins.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection; pausing for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What serves one connection's requests (`proxy::reverse::ConnectionDispatch`).
trait Service: HttpService<Incoming, ResBody = Reply, Future: Send> + Send + 'static {}

impl<S: HttpService<Incoming, ResBody = Reply, Future: Send> + Send + 'static> Service for S {}

/// The task that serves one client connection to its end (built before it is spawned, so that
/// its place among the open connections is given back even if it never runs).
fn connection<S: Service>(tcp: TcpStream, app: S, open: Arc<Open>) -> Graceful<S> {
    // An answer (or a proxied chunk) is sent when written, never held back for an earlier
    // one's ACK (nginx's `tcp_nodelay on`).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    // Each response's head and body go to the kernel in one buffer with one `send` (hyper's
    // flattened write buffer), not as pieces with `writev`: braid's answers and proxied
    // responses are mostly small, and `send`'s path through the kernel is the shorter one.
    let conn = http1::Builder::new()
        .writev(false)
        .max_buf_size(HTTP1_BUFFER)
        .serve_connection(TokioIo::new(tcp), app)
        .with_upgrades();
    let slot = open.enter();
    Graceful { conn, open, slot, waker: None, closing: false }
}

pin_project_lite::pin_project! {
    /// A connection that shuts down gracefully (finishing its request in flight) once
    /// shutdown begins.
    struct Graceful<S: Service> {
        #[pin]
        conn: http1::UpgradeableConnection<TokioIo<TcpStream>, S>,
        open: Arc<Open>,
        // Its place among the open connections.
        slot: usize,
        // The waker recorded there.
        waker: Option<Waker>,
        // Whether it was told to shut down.
        closing: bool,
    }

    impl<S: Service> PinnedDrop for Graceful<S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.open.leave(*this.slot);
        }
    }
}

impl<S: Service> Future for Graceful<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // A spawned task is woken through the same waker each time: recorded (under the lock)
        // only when it is not the one recorded already.
        if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            this.open.set_waker(*this.slot, cx.waker());
            *this.waker = Some(cx.waker().clone());
        }
        if !*this.closing && this.open.closing.load(Ordering::Acquire) {
            *this.closing = true;
            this.conn.as_mut().graceful_shutdown();
        }
        this.conn.poll(cx).map(|ended| {
            if let Err(e) = ended {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        })
    }
}
