//! The proxy's clocks on an upstream: the wait for its response head, which runs while the
//! request body is still flowing only from the body's last movement (a large upload is never
//! cut short), and the wait between frames of its response body (an upstream that stops
//! sending mid-body does not hold the client forever).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Body as HttpBody;
use tokio::time::{Instant, Sleep};

/// The upstream said nothing for the whole timeout after the request body stopped flowing.
pub struct Silent;

/// When the request body last moved, for the upstream timeout, and whether it has all been
/// passed on (only then may the upstream connection carry another request).
pub struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last body frame passed on.
    last_ms: AtomicU64,
    /// The request body has ended.
    sent: AtomicBool,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// Activity from now, the body not moved yet.
    pub fn new() -> Self {
        Self { start: Instant::now(), last_ms: AtomicU64::new(0), sent: AtomicBool::new(false) }
    }

    /// When the request was handed to the upstream side (its wait's time runs from there).
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Record that the request body has ended (a request without one: at once).
    pub(super) fn body_ended(&self) {
        self.sent.store(true, Ordering::Relaxed);
    }

    /// Whether the whole request body has been passed on.
    pub fn request_sent(&self) -> bool {
        self.sent.load(Ordering::Relaxed)
    }

    pub(super) fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn deadline(&self, timeout: Duration) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + timeout
    }

    /// Wait for `fut` until `timeout` has passed with no request body moving: a large upload
    /// is never cut short while it flows, and a silent upstream never hangs the request. The wait
    /// uses its connection's `timer` when no other wait holds it.
    pub fn wait<'a, F: Future>(&'a self, fut: F, timeout: Duration, timer: &'a ConnectionTimer) -> Wait<'a, F> {
        Wait { activity: self, timeout, armed: false, timer: Timer::for_wait(timer), fut }
    }
}

/// A connection's upstream timer, used by its requests in turn. tokio moves a timer's deadline
/// later with one atomic store, where a timer of each request's own is put into its wheel at
/// the first wait and taken out again when dropped; a deadline left behind only wakes the
/// connection once, later, for nothing.
#[derive(Clone, Default)]
pub struct ConnectionTimer(Arc<TimerSlot>);

#[derive(Default)]
struct TimerSlot {
    /// A wait holds the timer (an HTTP/1 connection carries one request at a time, but
    /// nothing here relies on it: a second wait meanwhile uses a timer of its own).
    busy: AtomicBool,
    sleep: std::sync::Mutex<Option<Pin<Box<Sleep>>>>,
}

/// The timer of one wait: its connection's, held for the wait, or its own.
enum Timer<'a> {
    Held(Hold<'a>),
    Own(Option<Pin<Box<Sleep>>>),
}

/// A connection's timer, held until dropped.
struct Hold<'a>(&'a TimerSlot);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

impl<'a> Timer<'a> {
    fn for_wait(shared: &'a ConnectionTimer) -> Self {
        if shared.0.busy.swap(true, Ordering::Acquire) { Timer::Own(None) } else { Timer::Held(Hold(&shared.0)) }
    }

    /// Run `f` with the timer (made, the first time, for `deadline`).
    fn with<R>(&mut self, deadline: Instant, f: impl FnOnce(Pin<&mut Sleep>) -> R) -> R {
        let make = || Box::pin(tokio::time::sleep_until(deadline));
        match self {
            Timer::Held(hold) => {
                let mut slot = hold.0.sleep.lock().unwrap_or_else(|p| p.into_inner());
                f(slot.get_or_insert_with(make).as_mut())
            }
            Timer::Own(own) => f(own.get_or_insert_with(make).as_mut()),
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Activity::wait`]: a future of its own rather than an `async fn`, which would hold
    /// `fut` twice (as its argument and pinned) and make every proxied request's future larger.
    pub struct Wait<'a, F> {
        activity: &'a Activity,
        timeout: Duration,
        // Whether the timer has been set for this wait.
        armed: bool,
        timer: Timer<'a>,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Wait<'_, F> {
    type Output = Result<F::Output, Silent>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let (activity, timeout, armed) = (*this.activity, *this.timeout, this.armed);
        let deadline = activity.deadline(timeout);
        this.timer.with(deadline, |mut sleep| {
            // Set only when it would run out later than this wait's deadline (another route's
            // longer timeout): an earlier deadline, left by the connection's previous request,
            // only wakes this wait once to be set again below. Requests one after another on a
            // busy connection so skip resetting the timer each time.
            if !*armed {
                if sleep.deadline() > deadline {
                    sleep.as_mut().reset(deadline);
                }
                *armed = true;
            }
            // The timer ran out: the upstream is silent unless the body moved since it was set.
            while sleep.as_mut().poll(cx).is_ready() {
                let deadline = activity.deadline(timeout);
                if deadline <= Instant::now() {
                    return Poll::Ready(Err(Silent));
                }
                sleep.as_mut().reset(deadline);
            }
            Poll::Pending
        })
    }
}

/// An upstream's response body that ends with an error when no frame has come for `timeout`
/// (the client's connection is then closed, as a proxy's read timeout does). The timer exists
/// only while the body waits: a body that is ready at once costs none.
pub struct Idle<B> {
    inner: B,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether the timer runs from the current wait (a frame since disarms it).
    armed: bool,
}

impl<B> Idle<B> {
    /// `inner`, allowed to be silent for at most `timeout` between frames.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self { inner, timeout, timer: None, armed: false }
    }
}

impl<B> HttpBody for Idle<B>
where
    B: HttpBody<Data = axum::body::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if !this.armed {
                    timer.as_mut().reset(Instant::now() + timeout);
                    this.armed = true;
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::warn!(
                            timeout_secs = timeout.as_secs(),
                            "upstream silent mid-body; the response is cut"
                        );
                        Poll::Ready(Some(Err("the upstream stopped sending its response body".into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(400);

    /// `value`, after `ms` milliseconds.
    async fn after<V>(ms: u64, value: V) -> V {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        value
    }

    /// How long a new request's wait for a silent upstream took (it must end `Silent`).
    async fn silent_wait(timeout: Duration, timer: &ConnectionTimer) -> Duration {
        let activity = Activity::new();
        let start = Instant::now();
        assert!(activity.wait(std::future::pending::<()>(), timeout, timer).await.is_err());
        start.elapsed()
    }

    #[tokio::test]
    async fn an_answer_in_time_is_passed_on() {
        let activity = Activity::new();
        let answer = activity.wait(async { 7 }, T, &ConnectionTimer::default()).await;
        assert!(matches!(answer, Ok(7)));
    }

    #[tokio::test]
    async fn a_silent_upstream_ends_the_wait_after_the_timeout() {
        assert!(silent_wait(T, &ConnectionTimer::default()).await >= T);
    }

    #[tokio::test]
    async fn a_connection_timer_serves_its_waits_in_turn() {
        let timer = ConnectionTimer::default();
        let first = Activity::new();
        assert!(matches!(first.wait(after(50, 1), T, &timer).await, Ok(1)));
        // The timer still holds the first wait's deadline: the second is timed from its own start.
        assert!(silent_wait(T, &timer).await >= T);
        // After it ran out, the timer is set again for the next wait.
        let third = Activity::new();
        assert!(matches!(third.wait(after(100, 3), T, &timer).await, Ok(3)));
        assert!(silent_wait(T, &timer).await >= T);
        // A wait with a longer timeout (another route's) leaves a later deadline behind: the
        // next wait still ends at its own, earlier one.
        let long = Activity::new();
        assert!(matches!(long.wait(after(50, 5), Duration::from_secs(5), &timer).await, Ok(5)));
        let took = silent_wait(T, &timer).await;
        assert!(took >= T && took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_wait_meanwhile_uses_a_timer_of_its_own() {
        let timer = ConnectionTimer::default();
        let held = timer.clone();
        // The first wait holds the connection's timer, in a task of its own.
        let first = tokio::spawn(async move {
            let activity = Activity::new();
            activity.wait(std::future::pending::<()>(), T, &held).await.is_err()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A shorter wait meanwhile, in another task: sharing the timer, it would take the first
        // wait's wake-up with it.
        assert!(silent_wait(Duration::from_millis(100), &timer).await >= Duration::from_millis(100));
        let ended = tokio::time::timeout(Duration::from_secs(3), first).await;
        assert!(matches!(ended, Ok(Ok(true))), "the first wait ended at its own deadline");
    }

    #[tokio::test]
    async fn a_moving_body_puts_the_timeout_off() {
        let activity = Arc::new(Activity::new());
        let toucher = activity.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            toucher.touch();
        });
        // Answers after the first deadline (400 ms), before the one the movement set (700 ms).
        assert!(matches!(activity.wait(after(500, "late"), T, &ConnectionTimer::default()).await, Ok("late")));
    }
}
